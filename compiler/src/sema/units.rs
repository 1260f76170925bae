//! Units as dimensions with a scale.
//!
//! A [`Unit`] is a vector of exponents over the SI base dimensions (m, kg, s, A, mol, K) plus a
//! scale to SI. `mS/cm2 · mV` and `uA/cm2` have equal dimensions and scale, so no factor is
//! needed; `S/cm2 · mV` against `uA/cm2` needs 1000, and the compiler inserts it. Temperature
//! offsets (degC) are ignored: a degC is a kelvin-sized step, as in NEURON's modlunit.
//!
//! Bare numbers carry no unit (`None` in sema); they take whatever dimension the context needs.

use std::collections::HashMap;
use std::fmt;

const N_DIMS: usize = 6;
const DIM_NAMES: [&str; N_DIMS] = ["m", "kg", "s", "A", "mol", "K"];

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Unit {
    pub dims: [i8; N_DIMS],
    pub scale: f64,
    /// How the unit was written, for messages; empty for derived units.
    pub text: &'static str,
}

#[allow(clippy::should_implement_trait)] // dimension algebra, named after the operation
impl Unit {
    /// The dimensions of a temperature.
    pub const KELVIN_DIMS: [i8; N_DIMS] = [0, 0, 0, 0, 0, 1];

    pub const ONE: Unit = Unit {
        dims: [0; N_DIMS],
        scale: 1.0,
        text: "1",
    };

    const fn base(i: usize, scale: f64) -> Unit {
        let mut dims = [0; N_DIMS];
        dims[i] = 1;
        Unit {
            dims,
            scale,
            text: "",
        }
    }

    pub fn mul(self, o: Unit) -> Unit {
        let mut dims = self.dims;
        for (d, e) in dims.iter_mut().zip(o.dims) {
            *d = d.saturating_add(e);
        }
        Unit {
            dims,
            scale: self.scale * o.scale,
            text: compose(self.text, "·", o.text),
        }
    }

    pub fn div(self, o: Unit) -> Unit {
        Unit {
            text: compose(self.text, "/", o.text),
            ..self.mul(o.powi(-1))
        }
    }

    pub fn powi(self, n: i32) -> Unit {
        let mut dims = self.dims;
        for d in &mut dims {
            *d = (i32::from(*d) * n).clamp(-100, 100) as i8;
        }
        let text = match n {
            _ if self.text.is_empty() => "",
            1 => self.text,
            -1 => compose("1", "/", self.text),
            _ if self.text.contains(['/', '·']) => leak(&format!("({})^{n}", self.text)),
            _ => leak(&format!("{}^{n}", self.text)),
        };
        Unit {
            dims,
            scale: self.scale.powi(n),
            text,
        }
    }

    pub fn same_dimension(&self, o: &Unit) -> bool {
        self.dims == o.dims
    }

    pub fn is_dimensionless(&self) -> bool {
        self.dims == [0; N_DIMS]
    }

    /// The factor that converts a value in `self` to a value in `to`.
    pub fn factor_to(&self, to: &Unit) -> f64 {
        self.scale / to.scale
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.text.is_empty() {
            return f.write_str(self.text);
        }
        let mut parts = Vec::new();
        if (self.scale - 1.0).abs() > 1e-12 {
            parts.push(format!("{:e}", self.scale));
        }
        for (name, e) in DIM_NAMES.iter().zip(self.dims) {
            match e {
                0 => {}
                1 => parts.push((*name).to_string()),
                _ => parts.push(format!("{name}^{e}")),
            }
        }
        if parts.is_empty() {
            f.write_str("1")
        } else {
            f.write_str(&parts.join("·"))
        }
    }
}

/// Named units known to the compiler, with SI prefixes applied on lookup.
pub struct UnitTable {
    named: HashMap<String, Unit>,
}

const PREFIXES: &[(&str, f64)] = &[
    ("femto", 1e-15),
    ("pico", 1e-12),
    ("nano", 1e-9),
    ("micro", 1e-6),
    ("milli", 1e-3),
    ("centi", 1e-2),
    ("deci", 1e-1),
    ("kilo", 1e3),
    ("mega", 1e6),
    ("meg", 1e6),
    ("f", 1e-15),
    ("p", 1e-12),
    ("n", 1e-9),
    ("u", 1e-6),
    ("µ", 1e-6),
    ("m", 1e-3),
    ("c", 1e-2),
    ("d", 1e-1),
    ("k", 1e3),
    ("M", 1e6),
];

impl Default for UnitTable {
    fn default() -> Self {
        let m = Unit::base(0, 1.0);
        let kg = Unit::base(1, 1.0);
        let s = Unit::base(2, 1.0);
        let a = Unit::base(3, 1.0);
        let mol = Unit::base(4, 1.0);
        let k = Unit::base(5, 1.0);
        let volt = kg.mul(m.powi(2)).mul(s.powi(-3)).mul(a.powi(-1));
        let ohm = volt.div(a);
        let liter = Unit {
            scale: 1e-3,
            ..m.powi(3)
        };
        let coulomb = a.mul(s);
        let joule = kg.mul(m.powi(2)).mul(s.powi(-2));
        let mut named = HashMap::new();
        let mut add = |names: &[&str], u: Unit| {
            for n in names {
                named.insert((*n).to_string(), u);
            }
        };
        add(&["1", "", "degree", "radian"], Unit::ONE);
        add(&["m", "meter", "metre"], m);
        add(&["micron", "microns"], Unit { scale: 1e-6, ..m });
        add(&["angstrom"], Unit { scale: 1e-10, ..m });
        add(&["g", "gram"], Unit { scale: 1e-3, ..kg });
        add(&["s", "sec", "second"], s);
        add(&["A", "amp", "ampere"], a);
        add(&["mol", "mole"], mol);
        add(&["K", "kelvin", "degC", "degK", "celsius"], k);
        add(&["V", "volt"], volt);
        add(&["ohm", "Ohm"], ohm);
        add(&["S", "siemens", "mho"], ohm.powi(-1));
        add(&["F", "farad"], coulomb.div(volt));
        add(&["C", "coulomb", "coul"], coulomb);
        add(&["J", "joule"], joule);
        add(&["W", "watt"], joule.div(s));
        add(&["L", "l", "liter", "litre"], liter);
        add(&["M", "molar"], mol.div(liter));
        add(&["Hz", "hz", "hertz"], s.powi(-1));
        add(&["min", "minute"], Unit { scale: 60.0, ..s });
        add(&["hr", "hour"], Unit { scale: 3600.0, ..s });
        add(
            &["pi", "PI"],
            Unit {
                scale: std::f64::consts::PI,
                ..Unit::ONE
            },
        );
        add(
            &["faraday"],
            Unit {
                scale: 96485.33212331,
                ..coulomb.div(mol)
            },
        );
        add(
            &["R", "k-mole"],
            Unit {
                scale: 8.31446261815324,
                ..joule.div(k).div(mol)
            },
        );
        // Boltzmann's constant, as NEURON's nrnunits.lib defines `k` (cachan1.mod's
        // `k = (k) (joule/degC)`); not the prefix kilo alone.
        add(
            &["k", "boltzmann"],
            Unit {
                scale: 1.380649e-23,
                ..joule.div(k)
            },
        );
        add(
            &["e", "electron"],
            Unit {
                scale: 1.602176634e-19,
                ..coulomb
            },
        );
        add(
            &["um2"],
            Unit {
                scale: 1e-12,
                ..m.powi(2)
            },
        );
        UnitTable { named }
    }
}

impl UnitTable {
    /// Adds an alias such as `(mV) = (millivolt)` from a UNITS block.
    pub fn define(&mut self, name: &str, unit: Unit) {
        self.named.insert(name.to_string(), unit);
    }

    fn atom(&self, word: &str) -> Option<Unit> {
        self.singular_atom(word).or_else(|| {
            // NEURON's units database takes plurals: `millivolts`, `milliamps`, `microns`.
            word.strip_suffix('s')
                .filter(|w| w.len() > 2)
                .and_then(|w| self.singular_atom(w))
        })
    }

    fn singular_atom(&self, word: &str) -> Option<Unit> {
        if let Some(u) = self.named.get(word) {
            return Some(*u);
        }
        for (p, f) in PREFIXES {
            if let Some(rest) = word.strip_prefix(p) {
                if let Some(u) = self.named.get(rest) {
                    return Some(Unit {
                        scale: u.scale * f,
                        ..*u
                    });
                }
            }
        }
        None
    }

    /// Parses unit text such as `mA/cm2`, `/ms`, `1/mV-ms`, `m/s2`, `k-mole`, `S/cm^2`.
    ///
    /// `-`, a space and `*` multiply; `/` divides by everything after it up to a `*`, since
    /// juxtaposition binds tighter (`/mV-ms` is 1/(mV·ms), as in NEURON's units); a trailing
    /// integer on a word is its power (`cm2`); a number written onto a word scales it
    /// (`.001coul`).
    pub fn parse(&self, text: &str) -> Result<Unit, String> {
        let text = text.trim();
        if let Some(u) = self.atom(text) {
            return Ok(Unit {
                text: leak(text),
                ..u
            });
        }
        let mut result = Unit::ONE;
        let mut divide = false;
        let mut word = String::new();
        let chars: Vec<char> = text.chars().chain(std::iter::once('\0')).collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c.is_alphanumeric() || c == '_' || c == '.' || c == 'µ' {
                word.push(c);
            } else if (c == '+' || c == '-')
                && !word.is_empty()
                && word.parse::<f64>().is_ok()
                && chars.get(i + 1).is_some_and(char::is_ascii_digit)
            {
                // NEURON's units write a power of ten so: `(1+8 um5/ms)` is 1e8 um5/ms, and
                // `(1-10 um2/ms)` 1e-10 um2/ms.
                let mut exponent = String::from(if c == '-' { "-" } else { "" });
                while chars.get(i + 1).is_some_and(char::is_ascii_digit) {
                    i += 1;
                    exponent.push(chars[i]);
                }
                let factor: f64 = format!("{word}e{exponent}")
                    .parse()
                    .map_err(|_| format!("unexpected power of ten `{word}+{exponent}` in unit"))?;
                let u = Unit {
                    scale: factor,
                    ..Unit::ONE
                };
                result = if divide { result.div(u) } else { result.mul(u) };
                word.clear();
            } else if c == '^' {
                // `cm^2`: fold the exponent into the word.
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '-') {
                    word.push(chars[i]);
                    i += 1;
                }
                continue;
            } else {
                if !word.is_empty() {
                    let u = self.word(&word)?;
                    result = if divide { result.div(u) } else { result.mul(u) };
                    word.clear();
                }
                // Juxtaposition (`-`, a space) binds tighter than `/`, as in NEURON's units:
                // `/mV-ms` is 1/(mV·ms). `*` ends a denominator.
                match c {
                    '/' => divide = true,
                    '*' => divide = false,
                    '-' | ' ' | '\0' => {}
                    _ => return Err(format!("unexpected `{c}` in unit")),
                }
            }
            i += 1;
        }
        Ok(Unit {
            text: leak(text),
            ..result
        })
    }

    fn word(&self, word: &str) -> Result<Unit, String> {
        if let Ok(n) = word.parse::<f64>() {
            return Ok(Unit {
                scale: n,
                ..Unit::ONE
            });
        }
        // A factor written onto a unit, as NEURON allows: `.001coul`, `1e-3mV`.
        let split = word.find(char::is_alphabetic).unwrap_or(0);
        if split > 0 {
            if let Ok(factor) = word[..split].parse::<f64>() {
                let u = self.word(&word[split..])?;
                return Ok(Unit {
                    scale: u.scale * factor,
                    ..u
                });
            }
        }
        if let Some(u) = self.atom(word) {
            return Ok(u);
        }
        let digits = word.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
        if digits.len() < word.len() && !digits.is_empty() {
            if let (Some(u), Ok(p)) = (self.atom(digits), word[digits.len()..].parse::<i32>()) {
                return Ok(u.powi(p));
            }
        }
        Err(format!("unknown unit `{word}`"))
    }
}

/// The text of a product or quotient of two written units (`ms/mV`), so that messages show units
/// as the file wrote them; empty (SI base units are shown) when either side has no text.
fn compose(a: &str, op: &str, b: &str) -> &'static str {
    if a.is_empty() || b.is_empty() {
        return "";
    }
    let wrap = |t: &str| {
        if t.contains(['/', '·']) {
            format!("({t})")
        } else {
            t.to_string()
        }
    };
    match (a, op) {
        ("1", "·") => leak(b),
        (_, "·") if b == "1" => leak(a),
        ("1", _) => leak(&format!("1/{}", wrap(b))),
        _ => leak(&format!("{}{op}{}", wrap(a), wrap(b))),
    }
}

/// What the lowering knows of a value's unit.
///
/// NMODL files often leave units out: of gates and q10 factors, which are dimensionless, but also
/// of slopes and time constants that are not. So a name declared without a unit is [`Dim::Bare`]:
/// dimensionless where it multiplies (a gate times a conductance is a conductance), but never the
/// cause of an error, and a quantity divided by it loses its unit. A bare literal is
/// [`Dim::Free`]: it takes the unit its context needs, so a hand-written conversion factor such as
/// `1e-3 * g * (v - e)` is never scaled twice.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Dim {
    Free,
    Bare,
    Known(Unit),
}

impl Dim {
    /// A declared name: its unit, or bare when it was declared without one.
    pub fn declared(unit: Option<Unit>) -> Dim {
        unit.map_or(Dim::Bare, Dim::Known)
    }

    pub fn known(self) -> Option<Unit> {
        match self {
            Dim::Known(u) => Some(u),
            _ => None,
        }
    }

    /// `a + b`, `a - b`, and the branches of a select: the known unit, where one is.
    pub fn sum(self, o: Dim) -> Dim {
        match (self, o) {
            (Dim::Known(u), _) | (_, Dim::Known(u)) => Dim::Known(u),
            (Dim::Bare, _) | (_, Dim::Bare) => Dim::Bare,
            _ => Dim::Free,
        }
    }

    pub fn product(self, o: Dim) -> Dim {
        match (self, o) {
            (Dim::Known(a), Dim::Known(b)) => Dim::Known(a.mul(b)),
            (Dim::Known(u), Dim::Bare) | (Dim::Bare, Dim::Known(u)) => Dim::Known(u),
            (Dim::Bare, Dim::Bare) => Dim::Bare,
            _ => Dim::Free,
        }
    }

    pub fn quotient(self, o: Dim) -> Dim {
        match (self, o) {
            (Dim::Known(a), Dim::Known(b)) => Dim::Known(a.div(b)),
            (Dim::Bare, Dim::Known(b)) => Dim::Known(Unit::ONE.div(b)),
            (Dim::Bare, Dim::Bare) => Dim::Bare,
            // A divisor declared without a unit is often a slope or a time constant whose unit
            // was left out: the quotient's unit is unknown.
            _ => Dim::Free,
        }
    }

    /// `self ^ n` for a literal exponent `n` (`None` when the exponent is not a literal).
    pub fn power(self, n: Option<f64>) -> Dim {
        match (self, n) {
            (Dim::Known(u), Some(n)) if n == n.trunc() && n.abs() < 16.0 => {
                Dim::Known(u.powi(n as i32))
            }
            (Dim::Known(u), _) if u.is_dimensionless() => Dim::Known(u),
            (Dim::Bare, _) => Dim::Bare,
            _ => Dim::Free,
        }
    }
}

/// Unit texts live for the whole compile; interning them keeps `Unit` `Copy`.
fn leak(s: &str) -> &'static str {
    use std::sync::{Mutex, OnceLock};
    static POOL: OnceLock<Mutex<HashMap<String, &'static str>>> = OnceLock::new();
    let pool = POOL.get_or_init(Default::default);
    let mut pool = match pool.lock() {
        Ok(p) => p,
        Err(p) => p.into_inner(),
    };
    if let Some(s) = pool.get(s) {
        return s;
    }
    let leaked: &'static str = Box::leak(s.to_string().into_boxed_str());
    pool.insert(s.to_string(), leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(t: &str) -> Unit {
        UnitTable::default().parse(t).unwrap()
    }

    #[test]
    fn conductance_times_voltage_is_current_density() {
        let i = u("mS/cm2").mul(u("mV"));
        assert!(i.same_dimension(&u("uA/cm2")));
        assert!((i.factor_to(&u("uA/cm2")) - 1.0).abs() < 1e-12);
        let j = u("S/cm2").mul(u("mV"));
        assert!((j.factor_to(&u("uA/cm2")) - 1000.0).abs() < 1e-9);
        assert!((j.factor_to(&u("mA/cm2")) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_power_of_ten_written_with_a_sign() {
        // NEURON's capmpr.mod: `c1 (1+8 um5/ms)`, as the unit parser receives it.
        let scaled = u("1+8um5/ms");
        assert!(scaled.same_dimension(&u("um5/ms")));
        assert!((scaled.factor_to(&u("um5/ms")) - 1e8).abs() < 1e-4);
        assert!((u("/1+3ms").factor_to(&u("/ms")) - 1e-3).abs() < 1e-18);
        // NEURON's `PI = (pi) (1)`.
        assert_eq!(u("pi").scale, std::f64::consts::PI);
        assert!(u("pi").is_dimensionless());
        // And a negative one: `c2 (1-10 um2/ms)`.
        let small = u("1-10um2/ms");
        assert!(small.same_dimension(&u("um2/ms")));
        assert!((small.factor_to(&u("um2/ms")) / 1e-10 - 1.0).abs() < 1e-12);
    }

    #[test]
    fn rates_and_times() {
        assert!(u("/ms").same_dimension(&u("1/ms")));
        assert!(u("/ms").mul(u("ms")).is_dimensionless());
        assert!((u("ms").factor_to(&u("s")) - 1e-3).abs() < 1e-18);
    }

    #[test]
    fn capacitance_and_concentration() {
        // uA/cm2 / (uF/cm2) = V/s = mV/ms
        let dvdt = u("uA/cm2").div(u("uF/cm2"));
        assert!(dvdt.same_dimension(&u("mV/ms")));
        assert!((dvdt.factor_to(&u("mV/ms")) - 1.0).abs() < 1e-12);
        assert!(u("mM").same_dimension(&u("mol/L")));
        assert!((u("mM").factor_to(&u("mol/m3")) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn mismatch_is_visible() {
        assert!(!u("mV").same_dimension(&u("mS/cm2")));
        assert!(UnitTable::default().parse("furlong").is_err());
    }

    #[test]
    fn derived_units_keep_their_written_names() {
        assert_eq!(u("ms").div(u("mV")).to_string(), "ms/mV");
        assert_eq!(u("S").mul(u("mV")).to_string(), "S·mV");
        assert_eq!(u("mS/cm2").mul(u("mV")).to_string(), "(mS/cm2)·mV");
        assert_eq!(Unit::ONE.div(u("ms")).to_string(), "1/ms");
    }

    #[test]
    fn bare_names_are_dimensionless_factors_but_unknown_divisors() {
        let g = Dim::Known(u("mS/cm2"));
        // gbar * m * (v - e): a gate declared without a unit keeps the conductance's unit.
        let i = g.product(Dim::Bare).product(Dim::Known(u("mV")));
        assert!(i.known().is_some_and(|x| x.same_dimension(&u("uA/cm2"))));
        // A literal factor may be a hand-written conversion: the unit is unknown.
        assert_eq!(g.product(Dim::Free), Dim::Free);
        // (v - vhalf)/k with k declared without a unit: unknown, not an error in exp.
        assert_eq!(Dim::Known(u("mV")).quotient(Dim::Bare), Dim::Free);
        // (minf - m)/tau with tau in ms is per ms.
        let rate = Dim::Bare.quotient(Dim::Known(u("ms")));
        assert!(rate.known().is_some_and(|x| x.same_dimension(&u("/ms"))));
        assert_eq!(Dim::Bare.sum(Dim::Free), Dim::Bare);
        assert_eq!(Dim::Bare.power(Some(4.0)), Dim::Bare);
    }

    #[test]
    fn a_denominator_runs_to_the_end_as_in_neurons_units() {
        let rate = u("/mV-ms");
        assert!(rate.same_dimension(&u("mV").mul(u("ms")).powi(-1)));
        assert!((rate.factor_to(&u("mV").mul(u("ms")).powi(-1)) - 1.0).abs() < 1e-12);
        assert!(u("mM2")
            .div(u("mM2").mul(u("ms")))
            .same_dimension(&u("/ms")));
        assert!(u("mA/cm2").same_dimension(&u("A/m2")));
        assert!((u(".001coul").factor_to(&u("coul")) - 1e-3).abs() < 1e-15);
    }

    #[test]
    fn neurons_unit_names_and_plurals() {
        assert!((u("millivolts").factor_to(&u("mV")) - 1.0).abs() < 1e-12);
        assert!((u("milliamps").factor_to(&u("mA")) - 1.0).abs() < 1e-12);
        assert!((u("microns").factor_to(&u("um")) - 1.0).abs() < 1e-12);
        assert!((u("megohm").factor_to(&u("ohm")) - 1e6).abs() < 1e-3);
        assert!((u("kilohertz").factor_to(&u("Hz")) - 1e3).abs() < 1e-9);
        assert!(u("coul").same_dimension(&u("coulomb")));
        assert!(UnitTable::default().parse("furlongs").is_err());
    }

    #[test]
    fn powers_and_prefixed_words() {
        assert!(u("cm^2").same_dimension(&u("cm2")));
        assert!((u("um").factor_to(&u("m")) - 1e-6).abs() < 1e-18);
        assert!(u("degC").same_dimension(&u("K")));
        assert!(u("faraday").mul(u("mol")).same_dimension(&u("coulomb")));
    }

    /// `k` alone is Boltzmann's constant, as in NEURON's units (cachan1.mod's `(k)`), not the
    /// prefix kilo of nothing (which made it 1000 and cachan1's rates flat); `e/k` is 11604.5
    /// kelvin per volt. A prefix spelled out alone is its number (`(milli/liter)`).
    #[test]
    fn k_alone_is_boltzmanns_constant_and_a_spelled_prefix_a_number() {
        let per_volt = u("e").div(u("k")).factor_to(&u("K/V"));
        assert!((per_volt - 11604.518).abs() < 1e-3, "{per_volt}");
        assert!((u("milli/liter").factor_to(&u("mM")) - 1.0).abs() < 1e-12);
    }
}
