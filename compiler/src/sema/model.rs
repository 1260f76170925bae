//! Model files: cells composed of mechanisms, and what to simulate.
//!
//! Every value is converted to hhc's internal units (mV, ms, µF/cm², µA/cm², mM, °C) here, with
//! the same unit checks as mechanism files.

use super::units::{Unit, UnitTable};
use super::{number_value, Diags};
use crate::diagnostic::{closest, Diagnostic};
use crate::ir::Mechanism;
use crate::span::Span;
use crate::syntax::ast::{self, CellItem, Item, Setting, Value};

#[derive(Clone, Debug, PartialEq)]
pub struct IonSpec {
    pub name: String,
    pub e: Option<f64>,
    pub ci: Option<f64>,
    pub co: Option<f64>,
}

/// True when region `region` (from `INSERT X IN region`) covers section `section`: the same
/// name, or an SWC type name and its numbered sections (`dend` covers `dend0`, `dend1`, …).
pub fn region_covers(region: &str, section: &str) -> bool {
    section == region
        || section
            .strip_prefix(region)
            .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()))
}

/// The most compartments one cell may have.
pub const MAX_COMPARTMENTS: usize = 1_000_000;

/// The tree must have one root, reach every section from it, cover every region, and stay within
/// [`MAX_COMPARTMENTS`].
fn check_morphology(cx: &mut Ctx, cell: &CellSpec, span: Span) {
    if cell.sections.is_empty() {
        return;
    }
    let here = |cx: &mut Ctx, msg: String, hint: String| {
        cx.err(Diagnostic::error(msg, span, "in this model").with_hint(hint));
    };
    let roots = cell.sections.iter().filter(|s| s.parent.is_none()).count();
    if roots > 1 {
        here(
            cx,
            "more than one section has no parent".into(),
            "give every section but the root a `parent = …`".into(),
        );
    }
    if roots == 0 {
        here(
            cx,
            "every section has a parent, so the sections form a cycle".into(),
            "leave the root section (the soma) without `parent`".into(),
        );
    }
    if roots == 1 {
        // Every section must hang from the root: a parent chain that loops never reaches it.
        let mut reached: Vec<&str> = cell
            .sections
            .iter()
            .filter(|s| s.parent.is_none())
            .map(|s| s.name.as_str())
            .collect();
        let mut grew = true;
        while grew {
            grew = false;
            for s in &cell.sections {
                let attached = s
                    .parent
                    .as_ref()
                    .is_some_and(|(p, _)| reached.contains(&p.as_str()));
                if attached && !reached.contains(&s.name.as_str()) {
                    reached.push(&s.name);
                    grew = true;
                }
            }
        }
        for s in &cell.sections {
            let known_parent = s
                .parent
                .as_ref()
                .is_some_and(|(p, _)| cell.sections.iter().any(|q| &q.name == p));
            if known_parent && !reached.contains(&s.name.as_str()) {
                here(
                    cx,
                    format!("section `{}` does not connect to the root: its parents form a cycle", s.name),
                    "follow the `parent = …` chain from this section; it must end at the section without a parent".into(),
                );
            }
        }
    }
    for ins in &cell.inserts {
        for r in &ins.regions {
            if !cell.sections.iter().any(|s| region_covers(r, &s.name)) {
                let hint = match closest(r, cell.sections.iter().map(|s| s.name.as_str())) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => "name a SECTION, or an SWC type (soma, axon, dend, apic)".into(),
                };
                here(
                    cx,
                    format!(
                        "`INSERT {} IN {r}`: no section is called `{r}`",
                        ins.mechanism.name
                    ),
                    hint,
                );
            }
        }
    }
    let total: usize = cell
        .sections
        .iter()
        .map(|s| s.nseg)
        .fold(0, usize::saturating_add);
    if total > MAX_COMPARTMENTS {
        here(
            cx,
            format!(
                "the cell has {total} compartments, more than hhc's limit of {MAX_COMPARTMENTS}"
            ),
            "use fewer segments: a smaller nseg, a larger dx or d_lambda".into(),
        );
    }
}

/// One unbranched cable of a morphology, in µm.
#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    pub name: String,
    /// The parent section and the point along it (0..1) where this one attaches.
    pub parent: Option<(String, f64)>,
    pub length: f64,
    pub diam: f64,
    /// Number of compartments, fixed by `nseg`, `dx` or the d_lambda rule.
    pub nseg: usize,
    /// The 3-D points of a reconstructed section as (arc length from its start, diameter), µm;
    /// empty for a cylinder of `length` and `diam`. Areas and axial resistances integrate over
    /// the frustums between them, as NEURON does for pt3d sections.
    pub points: Vec<(f64, f64)>,
}

impl Section {
    /// A section along 3-D points given as (arc length, diameter), µm: its length is the last
    /// arc length, its `diam` the length-weighted mean (for messages and the d_lambda rule).
    pub fn along(name: String, parent: Option<(String, f64)>, profile: Vec<(f64, f64)>) -> Section {
        let length = profile.last().map_or(0.0, |p| p.0);
        let diam = profile
            .windows(2)
            .map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0)
            .sum::<f64>()
            / length.max(f64::MIN_POSITIVE);
        Section {
            name,
            parent,
            length,
            diam,
            nseg: 1,
            points: profile,
        }
    }

    /// (arc length, diameter) along the section: its points, or a cylinder's two ends.
    pub fn profile(&self) -> Vec<(f64, f64)> {
        if self.points.len() >= 2 {
            self.points.clone()
        } else {
            vec![(0.0, self.diam), (self.length, self.diam)]
        }
    }

    /// The frustums of the profile clipped to arc lengths `[a, b]` (µm): (length, d1, d2).
    fn pieces(&self, a: f64, b: f64) -> Vec<(f64, f64, f64)> {
        let p = self.profile();
        let diam_at = |x: f64, (x1, d1): (f64, f64), (x2, d2): (f64, f64)| {
            if x2 > x1 {
                d1 + (d2 - d1) * (x - x1) / (x2 - x1)
            } else {
                d2
            }
        };
        // A repeated point (zero length) adds nothing, as an annulus between two diameters would
        // be a surface that no cable carries.
        p.windows(2)
            .filter_map(|w| {
                let (lo, hi) = (w[0].0.max(a), w[1].0.min(b));
                (hi > lo).then(|| (hi - lo, diam_at(lo, w[0], w[1]), diam_at(hi, w[0], w[1])))
            })
            .collect()
    }

    /// The mean diameter between arc lengths `a` and `b`, µm, weighted by length: a segment's
    /// `diam` as mechanisms read it (the section's `diam` for a cylinder).
    pub fn mean_diam_between(&self, a: f64, b: f64) -> f64 {
        let pieces = self.pieces(a, b);
        let length: f64 = pieces.iter().map(|p| p.0).sum();
        if length <= 0.0 {
            return self.diam;
        }
        pieces
            .iter()
            .map(|&(l, d1, d2)| l * (d1 + d2) / 2.0)
            .sum::<f64>()
            / length
    }

    /// Membrane area between arc lengths `a` and `b`, µm²: the lateral surfaces of the frustums.
    pub fn area_between(&self, a: f64, b: f64) -> f64 {
        self.pieces(a, b)
            .iter()
            .map(|&(l, d1, d2)| {
                let (r1, r2) = (d1 / 2.0, d2 / 2.0);
                std::f64::consts::PI * (r1 + r2) * (l * l + (r1 - r2) * (r1 - r2)).sqrt()
            })
            .sum()
    }

    /// Axial resistance between arc lengths `a` and `b` for resistivity `ra` (Ω·cm), MΩ: each
    /// frustum's exact 4·Ra·l/(π·d1·d2).
    pub fn resistance_between(&self, a: f64, b: f64, ra: f64) -> f64 {
        self.pieces(a, b)
            .iter()
            .map(|&(l, d1, d2)| 4.0 * ra * l / (std::f64::consts::PI * d1 * d2) * 1e-2)
            .sum()
    }

    /// The section's AC length constant at 100 Hz, µm, as NEURON's `lambda_f(100)`: for 3-D
    /// points, L over the sum of each piece's length divided by its own λ.
    fn lambda_100(&self, ra: f64, cm: f64) -> f64 {
        let scale = 1e5 / (4.0 * std::f64::consts::PI * 100.0 * ra * cm).sqrt();
        let p = self.profile();
        let electrotonic: f64 = p
            .windows(2)
            .map(|w| (w[1].0 - w[0].0) / ((w[0].1 + w[1].1) / 2.0).sqrt())
            .sum();
        if electrotonic > 0.0 {
            scale * self.length / electrotonic
        } else {
            scale * self.diam.sqrt()
        }
    }
}

#[derive(Clone, Debug)]
pub struct Insert {
    pub mechanism: Mechanism,
    /// Sections it is inserted into; empty means every section (and the single compartment).
    pub regions: Vec<String>,
    pub params: Vec<f64>,
    /// Initial values given in the model, replacing INITIAL for those states.
    pub state_init: Vec<Option<f64>>,
    /// Parameters that vary along each section, `p = along(from, to)`: (parameter, value at
    /// x = 0, value at x = 1), linear in between. Morphologies only.
    pub along: Vec<(usize, f64, f64)>,
    /// Parameters with a value per cell of the population (a POPULATION's `values = NAME`
    /// table): (parameter, value of cell 0, 1, …).
    pub per_cell: Vec<(usize, Vec<f64>)>,
    /// The Vector played into each cell of an ARTIFICIAL_CELL population that reads one
    /// (VecStim's times, from the POPULATION's `times` or `file`; see
    /// [`crate::ir::Mechanism::plays_vector`]).
    pub vector: Option<super::network::SpikeTrains>,
}

#[derive(Clone, Debug)]
pub struct CellSpec {
    pub name: String,
    pub v_th: f64,
    pub v_init: f64,
    pub cm: f64,
    pub ions: Vec<IonSpec>,
    pub inserts: Vec<Insert>,
    /// Axial resistivity, Ω·cm.
    pub ra: f64,
    /// Empty for a single-compartment cell.
    pub sections: Vec<Section>,
    /// Point processes placed on every cell of this type (`POINT syn = ExpSyn AT dend(0.5)`).
    pub points: Vec<PointSpec>,
    /// Weight adjusters (a POINT of a mechanism with a POINTER): not placed on the membrane,
    /// but copied, with their values, to each connection that names them (CONNECT's
    /// `adjuster`).
    pub adjusters: Vec<PointSpec>,
}

impl CellSpec {
    /// A cell type with nothing in it and the model language's defaults: V_th 0 mV, v_init
    /// -65 mV, cm 1 µF/cm², Ra 35.4 Ω·cm (NEURON's).
    pub fn empty(name: &str) -> CellSpec {
        CellSpec {
            name: name.into(),
            v_th: 0.0,
            v_init: -65.0,
            cm: 1.0,
            ions: vec![],
            inserts: vec![],
            ra: 35.4,
            sections: vec![],
            points: vec![],
            adjusters: vec![],
        }
    }
}

/// A point process on a cell: its name on the cell, the mechanism with its values, and where.
#[derive(Clone, Debug)]
pub struct PointSpec {
    pub name: String,
    pub insert: Insert,
    pub section: String,
    pub x: f64,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Stimulus {
    /// The same density into every cell, µA/cm².
    Constant(f64),
    /// Cell i of n gets `from + (to − from)·i/(n−1)`.
    Sweep { from: f64, to: f64 },
    /// `amplitude` during `[delay, delay + duration)`.
    Pulse {
        amplitude: f64,
        delay: f64,
        duration: f64,
    },
    /// A point current in nA at `section(x)` during `[delay, delay + duration)`; morphologies only.
    IClamp {
        amplitude: f64,
        delay: f64,
        duration: f64,
        section: String,
        x: f64,
    },
}

/// How a cell's V and states advance together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum StepMethod {
    /// SPEC's step: each state by its exact cnexp update at V_n, then V by exponential Euler.
    #[default]
    ExpEuler,
    /// braincell's `exp_euler`: one coupled exponential-Rosenbrock step over V and every
    /// non-kinetic state, `y ← y + dt·φ₁(dt·J)·f(y)` with the exact Jacobian J.
    ExpRosenbrock,
}

#[derive(Clone, Debug)]
pub struct Model {
    pub cell: CellSpec,
    pub count: u64,
    pub dt: f64,
    pub tstop: f64,
    pub celsius: f64,
    pub stimuli: Vec<Stimulus>,
    pub method: StepMethod,
    /// Where V is recorded on a morphology: (section, x).
    pub probes: Vec<(String, f64)>,
    /// Where spikes are detected on a morphology (`detector = sec(x)`); else the first probe.
    pub detector: Option<(String, f64)>,
    /// The cable solver's θ: 1 for implicit Euler (default), ½ for Crank–Nicolson.
    pub cable_theta: f64,
    pub record: Vec<u64>,
    /// States traced beside V at each probe of a morphology (`CaDynamics.cai`), set by a
    /// front's request; empty from a model file.
    pub record_states: Vec<String>,
    /// A NETWORK: several populations and their connections. Then `cell` and `count` are those
    /// of the first population of cells, and each population carries its own model.
    pub network: Option<super::network::Network>,
    /// When these cells are a block of a larger population ([`Model::cells_in`]): the block's
    /// first cell in it and the whole population's count, which a swept stimulus spans.
    pub block: Option<(u64, u64)>,
    /// The warnings of the files it was built from, rendered (a `.mod` file's units that
    /// disagree with its numbers): a front shows them before the run. Filled by the loader.
    pub warnings: String,
}

impl Model {
    /// The model of cells `cells` of this population alone, for a process that steps only
    /// those: the count, each per-cell value column and the recorded cells (renumbered from the
    /// range's start, in the model's order) narrowed to the range.
    pub fn cells_in(&self, cells: std::ops::Range<u64>) -> Model {
        let mut m = self.clone();
        m.count = cells.end - cells.start;
        let (first, total) = self.block.unwrap_or((0, self.count));
        m.block = Some((first + cells.start, total));
        let (lo, hi) = (cells.start as usize, cells.end as usize);
        let narrow = |ins: &mut Insert| {
            for (_, column) in ins.per_cell.iter_mut() {
                *column = column
                    .get(lo..hi.min(column.len()))
                    .unwrap_or_default()
                    .to_vec();
            }
        };
        m.cell.inserts.iter_mut().for_each(narrow);
        m.cell
            .points
            .iter_mut()
            .map(|p| &mut p.insert)
            .for_each(narrow);
        m.record = self
            .record
            .iter()
            .filter(|c| cells.contains(c))
            .map(|c| c - cells.start)
            .collect();
        m
    }
}

/// Looks a mechanism up by SUFFIX. `Err(())` means it was found but failed to compile (its own
/// diagnostics were reported by the resolver); `Ok(None)` means it was not found.
pub type Resolver<'r> = dyn FnMut(&str) -> Result<Option<Mechanism>, ()> + 'r;

/// Reads a file named by the model (an SWC morphology), relative to the model's folder.
pub type FileReader<'r> = dyn FnMut(&str) -> Result<String, String> + 'r;

pub(super) struct Ctx {
    pub(super) units: UnitTable,
    pub(super) diags: Diags,
    /// Every mechanism an INSERT could name, for suggestions.
    mechanism_names: Vec<String>,
    /// The process of several whose part of a network is built (its cells' connections).
    share: Option<super::network::Share>,
}

impl Ctx {
    pub(super) fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// A single number in `want` units (bare numbers are taken as already in them).
    pub(super) fn quantity(&mut self, s: &Setting, want: &str) -> Option<f64> {
        match s.values.as_slice() {
            [v] => self.value_in(v, want),
            _ => {
                self.err(
                    Diagnostic::error(
                        format!("`{}` takes one value", s.name.name),
                        s.span,
                        "several values given",
                    )
                    .with_hint(format!("write `{} = <number> ({want})`", s.name.name)),
                );
                None
            }
        }
    }

    /// A number converted to `want` (bare numbers are taken as already in it).
    pub(super) fn value_in(&mut self, v: &Value, want: &str) -> Option<f64> {
        let target = self.units.parse(want).ok();
        self.value_in_unit(v, target)
    }

    pub(super) fn value_in_unit(&mut self, v: &Value, target: Option<Unit>) -> Option<f64> {
        match (v, target) {
            (
                Value::Number {
                    number,
                    unit: Some(unit),
                },
                Some(t),
            ) => {
                let x = number_value(number, &mut self.diags);
                match self.units.parse(&unit.text) {
                    // hhc keeps every temperature in degC; a value in kelvin is an absolute one.
                    Ok(u)
                        if u.same_dimension(&t)
                            && t.dims == Unit::KELVIN_DIMS
                            && matches!(unit.text.as_str(), "K" | "kelvin" | "degK") =>
                    {
                        Some(x - 273.15)
                    }
                    Ok(u) if u.same_dimension(&t) => Some(x * u.factor_to(&t)),
                    Ok(u) => {
                        self.err(
                            Diagnostic::error(
                                format!("expected a value in {t}, found {u}"),
                                unit.span,
                                format!("this is in {u}"),
                            )
                            .with_hint(format!("write the value in a unit compatible with {t}")),
                        );
                        None
                    }
                    Err(msg) => {
                        self.err(
                            Diagnostic::error(msg, unit.span, "in this unit")
                                .with_hint("write units such as (mV) or (mS/cm2)"),
                        );
                        None
                    }
                }
            }
            (Value::Number { number, .. }, _) => Some(number_value(number, &mut self.diags)),
            (other, _) => {
                self.err(
                    Diagnostic::error("expected a number", other.span(), "not a number")
                        .with_hint("write `<number> (unit)`"),
                );
                None
            }
        }
    }

    /// A mechanism that no file and no stdlib entry provides: `what` it was meant to be, by
    /// which `name_kind`, and the file extension to suggest.
    fn mechanism_not_found(&mut self, id: &ast::Ident, what: &str, name_kind: &str, ext: &str) {
        let hint = match closest(&id.name, self.mechanism_names.iter().map(String::as_str)) {
            Some(c) => format!("did you mean `{c}`? (`hhc list` shows the built-in mechanisms)"),
            None => format!(
                "put `{}.{ext}` next to the model, or pick a name from `hhc list`",
                id.name
            ),
        };
        self.err(
            Diagnostic::error(
                format!("unknown {what} `{}`", id.name),
                id.span,
                format!("no mechanism with this {name_kind}"),
            )
            .with_hint(hint),
        );
    }

    /// A mechanism whose own file failed to compile (its diagnostics are reported already).
    fn mechanism_has_errors(&mut self, id: &ast::Ident, what: &str, label: &str) {
        self.err(
            Diagnostic::error(format!("{what} `{}` has errors", id.name), id.span, label)
                .with_hint("fix the errors reported in the mechanism file"),
        );
    }

    pub(super) fn unknown_setting(&mut self, s: &Setting, known: &[&str], where_: &str) {
        let hint = match closest(&s.name.name, known.iter().copied()) {
            Some(c) => format!("did you mean `{c}`?"),
            None => format!("{where_} accepts: {}", known.join(", ")),
        };
        self.err(
            Diagnostic::error(
                format!("unknown setting `{}` in {where_}", s.name.name),
                s.name.span,
                "not recognised",
            )
            .with_hint(hint),
        );
    }
}

pub fn lower_model(file: &ast::File, resolve: &mut Resolver<'_>) -> Result<Model, Vec<Diagnostic>> {
    lower_model_with_files(file, resolve, &mut |name| {
        Err(format!("cannot read `{name}` here"))
    })
}

/// [`lower_model`], with a way to read the files a model names (`swc = NAME` reads NAME.swc).
pub fn lower_model_with_files(
    file: &ast::File,
    resolve: &mut Resolver<'_>,
    files: &mut FileReader<'_>,
) -> Result<Model, Vec<Diagnostic>> {
    lower_model_with_names(file, resolve, files, &[])
}

/// [`lower_model_with_files`], with the names of the mechanisms the resolver can find, so that
/// a misspelt INSERT gets a "did you mean".
pub fn lower_model_with_names(
    file: &ast::File,
    resolve: &mut Resolver<'_>,
    files: &mut FileReader<'_>,
    mechanism_names: &[String],
) -> Result<Model, Vec<Diagnostic>> {
    lower_model_shared(file, resolve, files, mechanism_names, None)
}

/// [`lower_model_with_names`] for one process of several ([`Share`](super::network::Share)):
/// a NETWORK holds only the connections to that process's cells (and to artificial cells),
/// so that building it costs each process its share.
pub fn lower_model_shared(
    file: &ast::File,
    resolve: &mut Resolver<'_>,
    files: &mut FileReader<'_>,
    mechanism_names: &[String],
    share: Option<super::network::Share>,
) -> Result<Model, Vec<Diagnostic>> {
    let mut cx = Ctx {
        units: UnitTable::default(),
        diags: Diags::default(),
        mechanism_names: mechanism_names.to_vec(),
        share,
    };
    let mut cells: Vec<(&ast::CellDef, Option<CellSpec>)> = Vec::new();
    let mut simulate: Option<&ast::SimulateDef> = None;
    let mut network: Option<&ast::NetworkDef> = None;
    for item in &file.items {
        match item {
            Item::Network(n) => {
                if network.is_some() {
                    cx.err(
                        Diagnostic::error("more than one NETWORK block", n.span, "second NETWORK")
                            .with_hint("put every population and connection in one NETWORK"),
                    );
                }
                network = Some(n);
            }
            Item::Cell(c) => {
                if let Some((prev, _)) = cells.iter().find(|(p, _)| p.name.name == c.name.name) {
                    let prev_span = prev.name.span;
                    cx.err(
                        Diagnostic::error(
                            format!("cell `{}` is defined twice", c.name.name),
                            c.name.span,
                            "second definition",
                        )
                        .with_label(prev_span, "first defined here")
                        .with_hint("rename one of the cells"),
                    );
                    continue;
                }
                let spec = lower_cell(&mut cx, c, resolve, files);
                cells.push((c, spec));
            }
            Item::Simulate(s) => {
                if simulate.is_some() {
                    cx.err(
                        Diagnostic::error(
                            "more than one SIMULATE block",
                            s.span,
                            "second SIMULATE",
                        )
                        .with_hint("a model file runs one simulation"),
                    );
                }
                simulate = Some(s);
            }
            Item::Title(_) | Item::UnitsToggle { .. } => {}
            _ => cx.err(
                Diagnostic::error(
                    "a model file holds only CELL, NETWORK and SIMULATE blocks",
                    item_span(item),
                    "mechanism block in a model file",
                )
                .with_hint("put each mechanism in its own .chan file named after its SUFFIX"),
            ),
        }
    }
    let Some(sim) = simulate else {
        let span = cells.first().map_or(Span::new(0, 0), |(c, _)| c.name.span);
        cx.err(
            Diagnostic::error(
                "model has no SIMULATE block",
                span,
                "nothing says what to run",
            )
            .with_hint("add `SIMULATE { cell = NAME  dt = 0.025 (ms)  tstop = 100 (ms) }`"),
        );
        return Err(cx.diags.into_vec());
    };
    let mut cell_name: Option<&ast::Ident> = None;
    let (mut count, mut dt, mut tstop, mut celsius) = (1u64, 0.025, 100.0, 36.0);
    let mut stimuli = Vec::new();
    let mut stimulus_spans = Vec::new();
    let mut record = Vec::new();
    let mut record_spans = Vec::new();
    let (mut count_span, mut time_span) = (None, None);
    const KNOWN: &[&str] = &[
        "cell", "count", "dt", "tstop", "stimulus", "celsius", "record", "method", "probe",
        "cable", "detector",
    ];
    let mut cable_theta = 1.0;
    let mut probes: Vec<(String, f64, Span)> = Vec::new();
    let mut detector: Option<(String, f64, Span)> = None;
    let mut method = StepMethod::default();
    for s in &sim.settings {
        match s.name.name.as_str() {
            "cell" => match s.values.as_slice() {
                [Value::Name(n)] => cell_name = Some(n),
                _ => cx.err(
                    Diagnostic::error("`cell` names a CELL block", s.span, "expected a cell name")
                        .with_hint("write `cell = NAME`"),
                ),
            },
            "count" => {
                if let Some(n) = cx.quantity(s, "1") {
                    if n < 1.0 || n != n.trunc() || n > 1e10 {
                        cx.err(
                            Diagnostic::error(
                                format!("count must be a positive whole number, not {n}"),
                                s.span,
                                "invalid population size",
                            )
                            .with_hint("write e.g. `count = 1000`"),
                        );
                    } else {
                        count = n as u64;
                        count_span = Some(s.span);
                    }
                }
            }
            "dt" | "tstop" => {
                if let Some(x) = cx.quantity(s, "ms") {
                    if x <= 0.0 || !x.is_finite() {
                        cx.err(
                            Diagnostic::error(
                                format!("`{}` must be positive, not {x} ms", s.name.name),
                                s.span,
                                "must be > 0",
                            )
                            .with_hint(if s.name.name == "dt" {
                                "a typical step is 0.025 ms"
                            } else {
                                "give the run's length in ms"
                            }),
                        );
                    } else if s.name.name == "dt" {
                        dt = x;
                        time_span = time_span.or(Some(s.span));
                    } else {
                        tstop = x;
                        time_span = Some(s.span);
                    }
                }
            }
            "method" => match s.values.as_slice() {
                [Value::Name(n)] if n.name == "exp_euler" || n.name == "cnexp" => {
                    method = StepMethod::ExpEuler
                }
                [Value::Name(n)] if n.name == "exp_rosenbrock" => {
                    method = StepMethod::ExpRosenbrock
                }
                _ => cx.err(
                    Diagnostic::error("unknown step method", s.span, "not a method hhc knows")
                        .with_hint(
                            "write `method = exp_euler` (the default) or `method = exp_rosenbrock`",
                        ),
                ),
            },
            "cable" => match s.values.as_slice() {
                [Value::Name(n)] if n.name == "implicit_euler" => cable_theta = 1.0,
                [Value::Name(n)] if n.name == "crank_nicolson" => cable_theta = 0.5,
                _ => cx.err(
                    Diagnostic::error("unknown cable solver", s.span, "not a solver hhc knows")
                        .with_hint(
                        "write `cable = implicit_euler` (the default) or `cable = crank_nicolson`",
                    ),
                ),
            },
            "probe" => {
                for v in &s.values {
                    if let Some((sec, x)) = location(&mut cx, v) {
                        probes.push((sec, x, v.span()));
                    }
                }
            }
            "detector" => match s.values.as_slice() {
                [v] => {
                    if let Some((sec, x)) = location(&mut cx, v) {
                        detector = Some((sec, x, v.span()));
                    }
                }
                _ => cx.err(
                    Diagnostic::error(
                        "`detector` is one location",
                        s.span,
                        "spikes are detected at one place",
                    )
                    .with_hint("write `detector = soma(0.5)`"),
                ),
            },
            "celsius" => {
                if let Some(x) = cx.quantity(s, "degC") {
                    celsius = x;
                }
            }
            "stimulus" => {
                for v in &s.values {
                    if let Some(st) = lower_stimulus(&mut cx, v) {
                        stimuli.push(st);
                        stimulus_spans.push(v.span());
                    }
                }
            }
            "record" => {
                for v in &s.values {
                    if let Some(x) = cx.value_in(v, "1") {
                        if x < 0.0 || x != x.trunc() {
                            cx.err(
                                Diagnostic::error(
                                    "record takes cell indices",
                                    v.span(),
                                    "not a cell index",
                                )
                                .with_hint("write e.g. `record = 0, 10`"),
                            );
                        } else {
                            record.push(x as u64);
                            record_spans.push(v.span());
                        }
                    }
                }
            }
            _ => cx.unknown_setting(s, KNOWN, "SIMULATE"),
        }
    }
    if let Some(net) = network {
        return lower_network_model(
            &mut cx,
            net,
            &cells,
            resolve,
            sim,
            NetworkRun {
                run: super::network::RunSettings {
                    dt,
                    tstop,
                    celsius,
                    method,
                    cable_theta,
                },
                time_span,
                per_population: [
                    ("cell", cell_name.map(|n| n.span)),
                    ("count", count_span),
                    ("record", record_spans.first().copied()),
                    ("stimulus", stimulus_spans.first().copied()),
                    ("probe", probes.first().map(|p| p.2)),
                    ("detector", detector.as_ref().map(|d| d.2)),
                ],
            },
            files,
        );
    }
    let cell = match cell_name {
        None if cells.len() == 1 => cells.pop().and_then(|(_, c)| c),
        None => {
            cx.err(
                Diagnostic::error(
                    "SIMULATE does not say which cell to run",
                    sim.span,
                    "no `cell = …`",
                )
                .with_hint("add `cell = NAME`"),
            );
            None
        }
        Some(n) => match cells.iter_mut().find(|(c, _)| c.name.name == n.name) {
            Some((_, spec)) => spec.take(),
            None => {
                let hint = match closest(&n.name, cells.iter().map(|(c, _)| c.name.name.as_str())) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => "define it with `CELL NAME { … }`".into(),
                };
                cx.err(
                    Diagnostic::error(format!("unknown cell `{}`", n.name), n.span, "no such CELL")
                        .with_hint(hint),
                );
                None
            }
        },
    };
    if cx.diags.has_errors() {
        return Err(cx.diags.into_vec());
    }
    let Some(cell) = cell else {
        return Err(cx.diags.into_vec());
    };
    if let Err(why) = whole_steps(dt, tstop) {
        cx.err(
            Diagnostic::error(why.message, time_span.unwrap_or(sim.span), "here")
                .with_hint(why.hint),
        );
    }
    for (&c, &span) in record.iter().zip(&record_spans) {
        if c >= count {
            let mut d = Diagnostic::error(
                format!(
                    "`record` names cell {c}, but the population has {count} cell{}",
                    if count == 1 { "" } else { "s" }
                ),
                span,
                "no such cell",
            )
            .with_hint(format!(
                "cells are numbered 0 to {}; raise `count` or record fewer cells",
                count - 1
            ));
            if let Some(cs) = count_span {
                d = d.with_label(cs, "the population's size");
            }
            cx.err(d);
        }
    }
    if record.is_empty() {
        record.push(0);
    }
    // Locations must name sections of a morphology.
    let iclamp_at = stimuli.iter().filter_map(|s| match s {
        Stimulus::IClamp { section, x, .. } => Some((section.clone(), *x, sim.span)),
        _ => None,
    });
    for (sec, _, span) in probes
        .iter()
        .cloned()
        .chain(detector.clone())
        .chain(iclamp_at)
    {
        if !cell.sections.iter().any(|s| s.name == sec) {
            let hint = if cell.sections.is_empty() {
                "probes, detectors and iclamp need a morphology: add SECTION blocks to the CELL"
                    .to_string()
            } else {
                match closest(&sec, cell.sections.iter().map(|s| s.name.as_str())) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => "name a SECTION of the cell".into(),
                }
            };
            cx.err(
                Diagnostic::error(
                    format!("no section `{sec}` in cell `{}`", cell.name),
                    span,
                    "unknown section",
                )
                .with_hint(hint),
            );
        }
    }
    // A morphology takes point currents and a constant density; a density that varies in time
    // or per cell is a single-compartment cell's.
    if !cell.sections.is_empty() {
        for (st, span) in stimuli.iter().zip(&stimulus_spans) {
            let shape = match st {
                Stimulus::Pulse { .. } => "pulse",
                Stimulus::Sweep { .. } => "sweep",
                _ => continue,
            };
            cx.err(
                Diagnostic::error(
                    format!("`{shape}(…)` is a current density for a single-compartment cell"),
                    *span,
                    "not available on a morphology",
                )
                .with_hint("inject a point current: `iclamp(AMPLITUDE (nA), DELAY (ms), DURATION (ms), soma(0.5))`"),
            );
        }
    }
    if cell.sections.is_empty() && cell.inserts.iter().any(|i| !i.along.is_empty()) {
        cx.err(
            Diagnostic::error("`along(…)` needs a morphology", sim.span, "in this model")
                .with_hint(
                    "a single-compartment cell has one value per parameter; add SECTION blocks",
                ),
        );
    }
    check_morphology(&mut cx, &cell, sim.span);
    // A weight adjuster changes a connection's weight, and a model without a NETWORK has none.
    for a in &cell.adjusters {
        cx.err(
            Diagnostic::error(
                format!(
                    "weight adjuster `{}` serves no connection: this model has no NETWORK",
                    a.name
                ),
                a.span,
                "adjusts nothing",
            )
            .with_hint(format!(
                "a POINT whose mechanism has a POINTER is a weight adjuster; use the cell in a NETWORK and name it in a CONNECT: `adjuster = {}`",
                a.name
            )),
        );
    }
    // A gap junction site's POINTER to its partner's V points nowhere without a NETWORK.
    for point in &cell.points {
        if let Some((pointer, _)) = point.insert.mechanism.pointers.first() {
            cx.err(
                Diagnostic::error(
                    format!(
                        "POINTER `{pointer}` of point `{}` points nowhere: this model has no NETWORK",
                        point.name
                    ),
                    point.span,
                    "no GAP joins it",
                )
                .with_hint(format!(
                    "{} is a gap junction site that reads its partner's V through the POINTER: use the cell in a NETWORK and join the point with a GAP",
                    point.insert.mechanism.name
                )),
            );
        }
    }
    if cx.diags.has_errors() {
        return Err(cx.diags.into_vec());
    }
    Ok(Model {
        cell,
        count,
        dt,
        tstop,
        celsius,
        stimuli,
        method,
        probes: probes.into_iter().map(|(s, x, _)| (s, x)).collect(),
        detector: detector.map(|(s, x, _)| (s, x)),
        cable_theta,
        record,
        record_states: Vec::new(),
        network: None,
        block: None,
        warnings: String::new(),
    })
}

/// What SIMULATE said, for a model with a NETWORK.
struct NetworkRun {
    run: super::network::RunSettings,
    time_span: Option<Span>,
    /// Settings that belong to a POPULATION, and where SIMULATE gave them.
    per_population: [(&'static str, Option<Span>); 6],
}

fn lower_network_model(
    cx: &mut Ctx,
    net: &ast::NetworkDef,
    cells: &[(&ast::CellDef, Option<CellSpec>)],
    resolve: &mut Resolver<'_>,
    sim: &ast::SimulateDef,
    given: NetworkRun,
    files: &mut FileReader<'_>,
) -> Result<Model, Vec<Diagnostic>> {
    for (name, span) in given.per_population {
        if let Some(span) = span {
            cx.err(
                Diagnostic::error(
                    format!("`{name}` belongs to a POPULATION in a model with a NETWORK"),
                    span,
                    "in SIMULATE",
                )
                .with_hint(format!("move it into the population it is for: `POPULATION name = CELL {{ {name} = … }}`")),
            );
        }
    }
    let run = given.run;
    if let Err(why) = whole_steps(run.dt, run.tstop) {
        cx.err(
            Diagnostic::error(why.message, given.time_span.unwrap_or(sim.span), "here")
                .with_hint(why.hint),
        );
    }
    let share = cx.share;
    let network = super::network::lower_network(cx, net, cells, resolve, &run, files, share);
    if cx.diags.has_errors() {
        return Err(std::mem::take(&mut cx.diags).into_vec());
    }
    let Some(network) = network else {
        return Err(std::mem::take(&mut cx.diags).into_vec());
    };
    let first = network.populations.iter().find_map(|p| match &p.kind {
        super::network::PopulationKind::Cells(m) => Some((**m).clone()),
        _ => None,
    });
    // A network of artificial cells and spike sources alone has no cell to describe: the
    // model's own cell is an empty one, and its populations say what runs.
    let mut model = first.unwrap_or_else(|| Model {
        cell: CellSpec::empty("network"),
        count: 0,
        dt: run.dt,
        tstop: run.tstop,
        celsius: run.celsius,
        stimuli: vec![],
        method: run.method,
        probes: vec![],
        detector: None,
        cable_theta: run.cable_theta,
        record_states: Vec::new(),
        record: vec![],
        network: None,
        block: None,
        warnings: String::new(),
    });
    model.network = Some(network);
    Ok(model)
}

/// Why a run's length is not a whole number of steps: a message and a hint.
#[derive(Debug, Clone, PartialEq)]
pub struct StepCountError {
    pub message: String,
    pub hint: String,
}

/// The number of steps of a run, `tstop / dt`, which must be a whole number: hhc steps with a
/// fixed dt and stops exactly at tstop, never before or after it.
pub fn whole_steps(dt: f64, tstop: f64) -> Result<u64, StepCountError> {
    let fmt = |x: f64| format!("{}", (x * 1e9).round() / 1e9);
    if dt > tstop {
        return Err(StepCountError {
            message: format!(
                "dt = {} ms is longer than tstop = {} ms",
                fmt(dt),
                fmt(tstop)
            ),
            hint: format!(
                "the run would not take one whole step; use a dt of at most {} ms",
                fmt(tstop)
            ),
        });
    }
    let n = tstop / dt;
    let whole = n.round();
    if (n - whole).abs() > 1e-6 * whole.max(1.0) {
        let (below, above) = (n.floor() * dt, n.ceil() * dt);
        return Err(StepCountError {
            message: format!(
                "tstop = {} ms is not a whole number of steps of dt = {} ms ({n:.3} steps)",
                fmt(tstop),
                fmt(dt)
            ),
            hint: format!(
                "use tstop = {} ms or {} ms, or a dt that divides {} ms",
                fmt(below),
                fmt(above),
                fmt(tstop)
            ),
        });
    }
    if whole > 1e15 {
        return Err(StepCountError {
            message: format!("tstop / dt = {n:.3e} steps is too many"),
            hint: "use a larger dt or a shorter tstop".into(),
        });
    }
    Ok(whole as u64)
}

pub(super) fn lower_stimulus(cx: &mut Ctx, v: &Value) -> Option<Stimulus> {
    match v {
        Value::Number { .. } => cx.value_in(v, "uA/cm2").map(Stimulus::Constant),
        Value::Call { name, args, span } => match (name.name.as_str(), args.as_slice()) {
            ("sweep", [from, to]) => Some(Stimulus::Sweep {
                from: cx.value_in(from, "uA/cm2")?,
                to: cx.value_in(to, "uA/cm2")?,
            }),
            ("pulse", [a, d, l]) => Some(Stimulus::Pulse {
                amplitude: cx.value_in(a, "uA/cm2")?,
                delay: cx.value_in(d, "ms")?,
                duration: cx.value_in(l, "ms")?,
            }),
            ("iclamp", [a, d, l, at]) => {
                let (section, x) = location(cx, at)?;
                Some(Stimulus::IClamp {
                    amplitude: cx.value_in(a, "nA")?,
                    delay: cx.value_in(d, "ms")?,
                    duration: cx.value_in(l, "ms")?,
                    section,
                    x,
                })
            }
            _ => {
                cx.err(
                    Diagnostic::error(format!("unknown stimulus `{}` with {} arguments", name.name, args.len()), *span, "not a stimulus shape")
                        .with_hint("use a constant `5 (uA/cm2)`, `sweep(FROM, TO)` or `pulse(AMPLITUDE, DELAY, DURATION)`"),
                );
                None
            }
        },
        Value::Name(n) => {
            cx.err(Diagnostic::error("expected a stimulus", n.span, "a name is not a stimulus").with_hint("use a constant `5 (uA/cm2)`, `sweep(FROM, TO)` or `pulse(AMPLITUDE, DELAY, DURATION)`"));
            None
        }
    }
}

/// `soma(0.5)`: a section and a point along it, 0..1.
pub(super) fn location(cx: &mut Ctx, v: &Value) -> Option<(String, f64)> {
    match v {
        Value::Call { name, args, .. } if args.len() == 1 => {
            let x = cx.value_in(&args[0], "1")?;
            if !(0.0..=1.0).contains(&x) {
                cx.err(
                    Diagnostic::error(
                        format!("location {x} is outside 0..1"),
                        args[0].span(),
                        "not a point on the section",
                    )
                    .with_hint("0 is the section's start, 1 its end"),
                );
                return None;
            }
            Some((name.name.clone(), x))
        }
        Value::Name(n) => Some((n.name.clone(), 0.5)),
        other => {
            cx.err(
                Diagnostic::error("expected a location", other.span(), "not a location")
                    .with_hint("write a section and a point along it, e.g. `soma(0.5)`"),
            );
            None
        }
    }
}

/// How sections without an explicit `nseg` are cut: at most `dx` long, or NEURON's d_lambda rule.
#[derive(Clone, Copy, Default)]
struct SegmentRule {
    dx: Option<f64>,
    d_lambda: Option<f64>,
}

impl SegmentRule {
    fn nseg(&self, sec: &Section, ra: f64, cm: f64) -> usize {
        match (self.dx, self.d_lambda) {
            (Some(d), _) if d > 0.0 => (sec.length / d).ceil().clamp(1.0, 1e9) as usize,
            (_, Some(f)) if f > 0.0 => {
                // NEURON's d_lambda rule: the AC length constant at 100 Hz, odd nseg.
                let lambda_100 = sec.lambda_100(ra, cm);
                (((sec.length / (f * lambda_100) + 0.9) / 2.0).floor() * 2.0 + 1.0).min(1e9)
                    as usize
            }
            _ => 1,
        }
    }
}

fn lower_section(
    cx: &mut Ctx,
    name: &ast::Ident,
    settings: &[Setting],
    ra: f64,
    cm: f64,
    cell_rule: &SegmentRule,
) -> Option<Section> {
    let mut sec = Section {
        name: name.name.clone(),
        parent: None,
        length: 0.0,
        diam: 0.0,
        nseg: 1,
        points: vec![],
    };
    let (mut nseg, mut dx, mut d_lambda) = (None, None, None);
    const KNOWN: &[&str] = &["parent", "L", "diam", "nseg", "dx", "d_lambda"];
    for s in settings {
        match s.name.name.as_str() {
            "parent" => {
                sec.parent = s.values.first().and_then(|v| match v {
                    Value::Name(n) => Some((n.name.clone(), 1.0)),
                    other => location(cx, other),
                })
            }
            "L" => sec.length = cx.quantity(s, "um")?,
            "diam" => sec.diam = cx.quantity(s, "um")?,
            "nseg" => nseg = cx.quantity(s, "1"),
            "dx" => dx = cx.quantity(s, "um"),
            "d_lambda" => d_lambda = cx.quantity(s, "1"),
            _ => cx.unknown_setting(s, KNOWN, "SECTION"),
        }
    }
    if !(sec.length > 0.0 && sec.diam > 0.0) {
        cx.err(
            Diagnostic::error(
                format!("section `{}` needs a positive L and diam", name.name),
                name.span,
                "incomplete section",
            )
            .with_hint("write e.g. `SECTION dend { L = 200 (um)  diam = 2 (um) }`"),
        );
        return None;
    }
    // The section's own rule wins over the cell's, whichever of dx and d_lambda each names.
    let rule = if dx.is_some() || d_lambda.is_some() {
        SegmentRule { dx, d_lambda }
    } else {
        *cell_rule
    };
    sec.nseg = match nseg {
        Some(n) if n >= 1.0 && n == n.trunc() && n <= MAX_COMPARTMENTS as f64 => n as usize,
        Some(n) => {
            cx.err(
                Diagnostic::error(
                    format!("nseg must be a whole number from 1 to {MAX_COMPARTMENTS}, not {n}"),
                    name.span,
                    "in this section",
                )
                .with_hint("write e.g. `nseg = 11`"),
            );
            return None;
        }
        None => rule.nseg(&sec, ra, cm),
    };
    Some(sec)
}

fn lower_cell(
    cx: &mut Ctx,
    c: &ast::CellDef,
    resolve: &mut Resolver<'_>,
    files: &mut FileReader<'_>,
) -> Option<CellSpec> {
    let mut spec = CellSpec::empty(&c.name.name);
    const KNOWN: &[&str] = &["V_th", "v_init", "cm", "Ra", "swc", "asc", "dx", "d_lambda"];
    let mut ok = true;
    let mut morphology_read = false;
    // Discretisation rules for sections without their own nseg, read first: they may follow
    // the SECTION blocks in the text. Ra and cm too, since d_lambda needs them.
    let mut rule = SegmentRule::default();
    for item in &c.items {
        if let CellItem::Setting(s) = item {
            match s.name.name.as_str() {
                "dx" => rule.dx = cx.quantity(s, "um"),
                "d_lambda" => rule.d_lambda = cx.quantity(s, "1"),
                "Ra" => spec.ra = cx.quantity(s, "ohm cm").unwrap_or(spec.ra),
                "cm" => spec.cm = cx.quantity(s, "uF/cm2").unwrap_or(spec.cm),
                _ => {}
            }
        }
    }
    for item in &c.items {
        match item {
            CellItem::Point {
                name,
                mechanism,
                at,
                settings,
            } => {
                if let Some(prev) =
                    (spec.points.iter().chain(&spec.adjusters)).find(|p| p.name == name.name)
                {
                    let prev_span = prev.span;
                    cx.err(
                        Diagnostic::error(
                            format!("point `{}` is placed twice", name.name),
                            name.span,
                            "second POINT",
                        )
                        .with_label(prev_span, "first placed here")
                        .with_hint("give each point process on a cell its own name"),
                    );
                    ok = false;
                    continue;
                }
                let Some((section, x)) = location(cx, at) else {
                    ok = false;
                    continue;
                };
                match resolve(&mechanism.name) {
                    Ok(Some(m)) if m.artificial => {
                        ok = false;
                        cx.err(
                            Diagnostic::error(
                                format!("`{}` is an ARTIFICIAL_CELL, a cell of its own", mechanism.name),
                                mechanism.span,
                                "not placed on a cell",
                            )
                            .with_hint(format!("make a population of it in the NETWORK: `POPULATION name = {} {{ count = 1 }}`", mechanism.name)),
                        );
                    }
                    Ok(Some(m)) if m.point_process => {
                        ok &= initial_draws_run(cx, &m, mechanism.span);
                        let insert = lower_insert(cx, m, settings);
                        if !insert.along.is_empty() {
                            ok = false;
                            cx.err(
                                Diagnostic::error(
                                    format!("point `{}` sits at one place, so a value `along(…)` a section has no meaning", name.name),
                                    name.span,
                                    "a point process",
                                )
                                .with_hint("give the parameter one value, or a value per cell with the POPULATION's `values = NAME`"),
                            );
                        }
                        let point = PointSpec {
                            name: name.name.clone(),
                            insert,
                            section,
                            x,
                            span: name.span,
                        };
                        // A weight adjuster has a POINTER and NET_RECEIVE; a gap junction
                        // site's POINTER (no NET_RECEIVE) is its partner's V, on the membrane.
                        let m = &point.insert.mechanism;
                        if m.pointers.is_empty() || m.net_receive.is_none() {
                            spec.points.push(point);
                        } else {
                            spec.adjusters.push(point);
                        }
                    }
                    Ok(Some(_)) => {
                        ok = false;
                        cx.err(
                            Diagnostic::error(
                                format!(
                                    "`{}` is a density mechanism, not a point process",
                                    mechanism.name
                                ),
                                mechanism.span,
                                "a SUFFIX mechanism",
                            )
                            .with_hint(format!(
                                "insert it into a region: `INSERT {} IN {section}`",
                                mechanism.name
                            )),
                        );
                    }
                    Ok(None) => {
                        ok = false;
                        cx.mechanism_not_found(
                            mechanism,
                            "point process",
                            "POINT_PROCESS name",
                            "mod",
                        );
                    }
                    Err(()) => {
                        ok = false;
                        cx.mechanism_has_errors(mechanism, "point process", "placed here");
                    }
                }
            }
            CellItem::Setting(s)
                if matches!(s.name.name.as_str(), "dx" | "d_lambda" | "Ra" | "cm") => {}
            CellItem::Setting(s) if matches!(s.name.name.as_str(), "swc" | "asc") => {
                let ext = s.name.name.as_str();
                let Some(Value::Name(n)) = s.values.first() else {
                    cx.err(
                        Diagnostic::error(
                            format!("`{ext}` names a file"),
                            s.span,
                            "expected a name",
                        )
                        .with_hint(format!(
                            "write `{ext} = NAME` to read NAME.{ext} next to the model"
                        )),
                    );
                    continue;
                };
                if morphology_read {
                    cx.err(
                        Diagnostic::error(
                            "the cell already has a morphology",
                            s.span,
                            "a second one",
                        )
                        .with_hint(
                            "a CELL reads one morphology file, `swc = NAME` or `asc = NAME`",
                        ),
                    );
                    continue;
                }
                morphology_read = true;
                let file = format!("{}.{ext}", n.name);
                let read = if ext == "swc" {
                    super::swc::sections
                } else {
                    super::asc::sections
                };
                match files(&file).and_then(|text| read(&text)) {
                    Ok(sections) => {
                        for mut sec in sections {
                            sec.nseg = rule.nseg(&sec, spec.ra, spec.cm);
                            spec.sections.push(sec);
                        }
                    }
                    Err(msg) => cx.err(
                        Diagnostic::error(format!("{file}: {msg}"), n.span, "morphology read here")
                            .with_hint(if ext == "swc" {
                                "hhc reads NAME.swc next to the model; its lines are `id type x y z radius parent`, parent -1 for the root"
                            } else {
                                "hhc reads NAME.asc (Neurolucida 3 text) next to the model: a soma contour `(\"CellBody\" (CellBody) (x y z d) …)` and trees `( (Dendrite) (x y z d) … ( … | … ) )`"
                            }),
                    ),
                }
            }
            CellItem::Setting(s) => {
                let target = match s.name.name.as_str() {
                    "V_th" => Some((&mut spec.v_th, "mV")),
                    "v_init" => Some((&mut spec.v_init, "mV")),
                    "cm" => Some((&mut spec.cm, "uF/cm2")),
                    "Ra" => Some((&mut spec.ra, "ohm cm")),
                    _ => None,
                };
                match target {
                    Some((slot, unit)) => {
                        if let Some(x) = cx.quantity(s, unit) {
                            *slot = x;
                        }
                    }
                    None => cx.unknown_setting(s, KNOWN, "CELL"),
                }
            }
            CellItem::Ion { name, settings } => {
                if spec.ions.iter().any(|i| i.name == name.name) {
                    cx.err(
                        Diagnostic::error(
                            format!("ion `{}` is configured twice", name.name),
                            name.span,
                            "second ION block",
                        )
                        .with_hint("merge the two ION blocks"),
                    );
                    continue;
                }
                let mut ion = IonSpec {
                    name: name.name.clone(),
                    e: None,
                    ci: None,
                    co: None,
                };
                let ci_name = format!("{}i", name.name);
                let co_name = format!("{}o", name.name);
                for s in settings {
                    let n = s.name.name.as_str();
                    if n == "e" {
                        ion.e = cx.quantity(s, "mV");
                    } else if n == ci_name {
                        ion.ci = cx.quantity(s, "mM");
                    } else if n == co_name {
                        ion.co = cx.quantity(s, "mM");
                    } else {
                        cx.unknown_setting(s, &["e", &ci_name, &co_name], "ION");
                    }
                }
                spec.ions.push(ion);
            }
            CellItem::Section { name, .. } if spec.sections.iter().any(|s| s.name == name.name) => {
                cx.err(
                    Diagnostic::error(
                        format!("section `{}` is defined twice", name.name),
                        name.span,
                        "second SECTION",
                    )
                    .with_hint("give each section its own name"),
                );
            }
            CellItem::Section { name, settings } => {
                let (ra, cm) = (spec.ra, spec.cm);
                if let Some(s) = lower_section(cx, name, settings, ra, cm, &rule) {
                    spec.sections.push(s);
                }
            }
            CellItem::Insert {
                mechanism,
                regions,
                settings,
            } => {
                let overlaps = |i: &Insert| {
                    i.mechanism.name == mechanism.name
                        && (regions.is_empty()
                            || i.regions.is_empty()
                            || regions.iter().any(|r| i.regions.contains(&r.name)))
                };
                if spec.inserts.iter().any(overlaps) {
                    cx.err(
                        Diagnostic::error(
                            format!("`{}` is inserted twice", mechanism.name),
                            mechanism.span,
                            "second INSERT",
                        )
                        .with_hint("insert each mechanism once"),
                    );
                    continue;
                }
                match resolve(&mechanism.name) {
                    Ok(Some(m)) if m.point_process => {
                        ok = false;
                        cx.err(
                            Diagnostic::error(
                                format!(
                                    "`{}` is a point process; it is placed, not inserted",
                                    mechanism.name
                                ),
                                mechanism.span,
                                "a POINT_PROCESS",
                            )
                            .with_hint(format!(
                                "place it at a location: `POINT name = {} AT soma(0.5) {{ … }}`",
                                mechanism.name
                            )),
                        );
                    }
                    Ok(Some(m)) => {
                        initial_draws_run(cx, &m, mechanism.span);
                        let mut ins = lower_insert(cx, m, settings);
                        ins.regions = regions.iter().map(|r| r.name.clone()).collect();
                        spec.inserts.push(ins);
                    }
                    Ok(None) => {
                        ok = false;
                        cx.mechanism_not_found(mechanism, "mechanism", "SUFFIX", "chan");
                    }
                    Err(()) => {
                        ok = false;
                        cx.mechanism_has_errors(mechanism, "mechanism", "inserted here");
                    }
                }
            }
        }
    }
    // Each ion a mechanism uses must be given a reversal potential, concentrations or a pool.
    // Every `parent = NAME` names a section of this cell (the blocks may come in any order).
    for item in &c.items {
        let CellItem::Section { settings, .. } = item else {
            continue;
        };
        for value in settings
            .iter()
            .filter(|s| s.name.name == "parent")
            .flat_map(|s| s.values.first())
        {
            let parent = match value {
                Value::Name(n) => n,
                Value::Call { name, .. } => name,
                _ => continue,
            };
            if !spec.sections.iter().any(|s| s.name == parent.name) {
                ok = false;
                let hint =
                    match closest(&parent.name, spec.sections.iter().map(|s| s.name.as_str())) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => "define the parent with its own SECTION block".into(),
                    };
                cx.err(
                    Diagnostic::error(
                        format!("no section `{}` in cell `{}`", parent.name, c.name.name),
                        parent.span,
                        "unknown parent",
                    )
                    .with_hint(hint),
                );
            }
        }
    }
    for p in &spec.points {
        if spec.sections.is_empty() {
            ok = false;
            cx.err(
                Diagnostic::error(
                    format!("point `{}` needs a section to sit on", p.name),
                    p.span,
                    "this cell has no sections",
                )
                .with_hint("a point process's current (nA) needs a membrane area: give the cell `SECTION soma { L = … (um)  diam = … (um) }`"),
            );
        } else if !spec.sections.iter().any(|s| s.name == p.section) {
            ok = false;
            let hint = match closest(&p.section, spec.sections.iter().map(|s| s.name.as_str())) {
                Some(c) => format!("did you mean `{c}`?"),
                None => "name a SECTION of the cell".into(),
            };
            cx.err(
                Diagnostic::error(
                    format!("no section `{}` in cell `{}`", p.section, c.name.name),
                    p.span,
                    "placed on an unknown section",
                )
                .with_hint(hint),
            );
        }
    }
    // `diam` and `area` are a compartment's: a cell without sections has none to give.
    if spec.sections.is_empty() {
        for item in &c.items {
            let (CellItem::Insert { mechanism, .. } | CellItem::Point { mechanism, .. }) = item
            else {
                continue;
            };
            let found = spec
                .inserts
                .iter()
                .chain(spec.points.iter().map(|p| &p.insert))
                .find(|i| i.mechanism.name == mechanism.name);
            let Some(ins) = found else { continue };
            let what = [
                (crate::ir::Builtin::Diam, "diam"),
                (crate::ir::Builtin::Area, "area"),
            ]
            .into_iter()
            .find(|(b, _)| ins.mechanism.reads(*b));
            if let Some((_, what)) = what {
                ok = false;
                cx.err(
                    Diagnostic::error(
                        format!("`{}` reads its compartment's {what}, and cell `{}` has no sections", mechanism.name, c.name.name),
                        mechanism.span,
                        format!("reads {what}"),
                    )
                    .with_hint("give the cell its geometry: `SECTION soma { L = 20 (um)  diam = 20 (um) }`"),
                );
            }
        }
    }
    // A cell whose point process calls net_event spikes when it does (NEURON's NetCon from the
    // point process); a threshold would be a second, silently unused definition.
    let emitting = spec
        .points
        .iter()
        .find(|p| p.insert.mechanism.calls_net_event());
    if let Some(p) = emitting {
        let v_th = c.items.iter().find_map(|i| match i {
            CellItem::Setting(s) if s.name.name == "V_th" => Some(s.name.span),
            _ => None,
        });
        if let Some(at) = v_th {
            ok = false;
            cx.err(
                Diagnostic::error(
                    format!("cell `{}` spikes when its point `{}` calls net_event, so V_th is not used", c.name.name, p.name),
                    at,
                    "a threshold too",
                )
                .with_label(p.span, "spikes come from here")
                .with_hint("remove V_th; the point process decides when the cell spikes (its WATCH or its own test)"),
            );
        }
    }
    // (Missing concentrations take braincell's defaults; see `cell::default_ion`.)
    for ins in &spec.inserts {
        for ion in &ins.mechanism.ions {
            let configured = spec.ions.iter().find(|i| i.name == ion.name);
            let needs_e = ion.reads.contains(&crate::ir::IonField::E);
            let pooled = spec.inserts.iter().any(|other| {
                other
                    .mechanism
                    .ions
                    .iter()
                    .any(|i| i.name == ion.name && i.writes_concentration())
            });
            if needs_e
                && !pooled
                && configured.is_none_or(|i| i.e.is_none() && i.ci.is_none() && i.co.is_none())
            {
                ok = false;
                cx.err(
                    Diagnostic::error(format!("`{}` reads the reversal potential of ion `{}`, which the cell does not set", ins.mechanism.name, ion.name), c.name.span, "in this cell")
                        .with_hint(format!("add `ION {n} {{ e = … (mV) }}` or `ION {n} {{ {n}i = … (mM)  {n}o = … (mM) }}`, or insert a pool that WRITEs {n}i{neuron}", n = ion.name, neuron = match ion.name.as_str() {
                            // NEURON's defaults, which a .mod file's model relies on unsaid.
                            _ if ins.mechanism.neuron_file.is_none() => "",
                            "na" => "; NEURON's default is `ION na { e = 50 (mV) }`",
                            "k" => "; NEURON's default is `ION k { e = -77 (mV) }`",
                            "ca" => "; NEURON's default is `ION ca { e = 132.458 (mV) }`",
                            _ => "",
                        })),
                );
            }
        }
    }
    ok.then_some(spec)
}

pub(super) fn lower_insert(cx: &mut Ctx, m: Mechanism, settings: &[Setting]) -> Insert {
    let mut params: Vec<f64> = m.params.iter().map(|p| p.default).collect();
    let mut state_init = vec![None; m.states.len()];
    let mut along = Vec::new();
    for s in settings {
        let [value] = s.values.as_slice() else {
            cx.err(
                Diagnostic::error(
                    format!("`{}` takes one value", s.name.name),
                    s.span,
                    "several values",
                )
                .with_hint("write `name = value (unit)`"),
            );
            continue;
        };
        if let (Some(i), Value::Call { name, args, .. }) = (m.param_index(&s.name.name), value) {
            let unit = m.params[i]
                .unit
                .as_ref()
                .and_then(|u| cx.units.parse(u).ok());
            match (name.name.as_str(), args.as_slice()) {
                ("along", [a, b]) => {
                    if let (Some(x), Some(y)) = (cx.value_in_unit(a, unit), cx.value_in_unit(b, unit)) {
                        if check_parameter_value(cx, &m, i, x, a.span())
                            && check_parameter_value(cx, &m, i, y, b.span())
                        {
                            params[i] = x;
                            along.push((i, x, y));
                        }
                    }
                }
                _ => cx.err(
                    Diagnostic::error(format!("unknown profile `{}`", name.name), name.span, "not a parameter profile")
                        .with_hint("write a value, or `along(AT_START, AT_END)` for a linear change along each section"),
                ),
            }
        } else if let Some(i) = m.param_index(&s.name.name) {
            let unit = m.params[i]
                .unit
                .as_ref()
                .and_then(|u| cx.units.parse(u).ok());
            if let Some(x) = cx.value_in_unit(value, unit) {
                if check_parameter_value(cx, &m, i, x, value.span()) {
                    params[i] = x;
                }
            }
        } else if let Some(i) = m.state_index(&s.name.name) {
            let unit = m.states[i]
                .unit
                .as_ref()
                .and_then(|u| cx.units.parse(u).ok());
            if let Some(x) = cx.value_in_unit(value, unit) {
                state_init[i] = Some(x);
            }
        } else {
            let names: Vec<&str> = m
                .params
                .iter()
                .map(|p| p.name.as_str())
                .chain(m.states.iter().map(|s| s.name.as_str()))
                .collect();
            // `amp[3]` of an array with elements `amp[0]` … `amp[2]`: say how many there are.
            let elements = s.name.name.split_once('[').map(|(base, _)| {
                let prefix = format!("{base}[");
                (
                    base,
                    names.iter().filter(|n| n.starts_with(&prefix)).count(),
                )
            });
            let hint = match (elements, closest(&s.name.name, names.iter().copied())) {
                (Some((base, count)), _) if count > 0 => format!(
                    "`{base}` has {count} elements, `{base}[0]` to `{base}[{}]`",
                    count - 1
                ),
                (_, Some(c)) => format!("did you mean `{c}`?"),
                _ => format!("`{}` has: {}", m.name, names.join(", ")),
            };
            cx.err(
                Diagnostic::error(
                    format!("`{}` has no PARAMETER or STATE `{}`", m.name, s.name.name),
                    s.name.span,
                    "unknown name",
                )
                .with_hint(hint),
            );
        }
    }
    let insert = Insert {
        regions: vec![],
        mechanism: m,
        params,
        state_init,
        along,
        per_cell: vec![],
        vector: None,
    };
    if let Some(s) = settings.iter().find(|s| {
        let pi = insert.mechanism.param_index(&s.name.name);
        pi.is_some_and(|pi| insert.along.iter().any(|a| a.0 == pi))
    }) {
        if let Some(problem) = varying_table_problem(&insert, "varies along each section") {
            cx.err(
                Diagnostic::error(problem.message, s.span, problem.label).with_hint(problem.hint),
            );
        }
    }
    insert
}

/// A mechanism on a cell (a density mechanism, or a point process placed on it) may not draw
/// random numbers in INITIAL: its INITIAL runs in the cell's compiled kernel, which draws
/// none. (An ARTIFICIAL_CELL's INITIAL and every NET_RECEIVE draw.) Reports and returns false
/// when it does.
fn initial_draws_run(cx: &mut Ctx, m: &Mechanism, span: Span) -> bool {
    if !m.initial_draws() {
        return true;
    }
    cx.err(
        Diagnostic::error(
            format!("`{}` draws random numbers in INITIAL, which hhc does not run on a cell yet", m.name),
            span,
            "draws in INITIAL",
        )
        .with_hint("hhc draws random numbers in NET_RECEIVE and in an ARTIFICIAL_CELL's INITIAL; give the initial value as a parameter (per cell from a CSV column: `values = NAME`)"),
    );
    false
}

/// Why `ins` cannot read its TABLEs: `usetable` is on (or set per cell) and a parameter a table
/// reads has more than one value (`how` it varies: along the sections, or per cell).
pub(super) fn varying_table_problem(ins: &Insert, how: &str) -> Option<ValueProblem> {
    let m = &ins.mechanism;
    let use_table = m.param_index(crate::sema::mechanism::USETABLE)?;
    let varies =
        |pi: usize| ins.along.iter().any(|a| a.0 == pi) || ins.per_cell.iter().any(|c| c.0 == pi);
    if ins.params[use_table] == 0.0 && !varies(use_table) {
        return None;
    }
    let pi = m
        .params_read_by_tables()
        .into_iter()
        .find(|&pi| varies(pi))?;
    Some(ValueProblem {
        message: format!(
            "`{}` reads its TABLEs (`usetable`), and `{}`, which a table reads, {how}",
            m.name, m.params[pi].name
        ),
        label: "one value per table",
        hint: format!(
            "a TABLE holds one value of `{}` for every instance, as NEURON's GLOBAL does: give it one value, or leave `usetable` at 0 and hhc computes the rates exactly",
            m.params[pi].name
        ),
    })
}

/// A value a model gives parameter `i` of `m` (in the parameter's unit) lies within its
/// declared `<lo, hi>`, and a conductance is not negative. Reports and returns false otherwise.
pub(super) fn check_parameter_value(
    cx: &mut Ctx,
    m: &Mechanism,
    i: usize,
    x: f64,
    span: Span,
) -> bool {
    match parameter_value_problem(&cx.units, m, i, x) {
        Some(problem) => {
            cx.err(Diagnostic::error(problem.message, span, problem.label).with_hint(problem.hint));
            false
        }
        None => true,
    }
}

/// Why a value cannot be given to a parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueProblem {
    pub message: String,
    pub label: &'static str,
    pub hint: String,
}

/// What is wrong with giving parameter `i` of `m` the value `x` (in the parameter's unit): a
/// value outside its declared `<lo, hi>`, or a negative conductance. Every front (model files,
/// Python) checks overrides with this.
pub fn parameter_value_problem(
    units: &UnitTable,
    m: &Mechanism,
    i: usize,
    x: f64,
) -> Option<ValueProblem> {
    let p = &m.params[i];
    if let (true, Some(exact)) = (
        p.name == crate::sema::mechanism::USETABLE && x != 0.0,
        m.exact_tables.first(),
    ) {
        return Some(ValueProblem {
            message: format!(
                "`{}` cannot read its TABLE in `{}`: the function reads `{}`, which changes during a run",
                m.name, exact.function, exact.reads
            ),
            label: "no table",
            hint: format!(
                "a table computed ahead would hold one value of `{}` (NEURON's holds whichever instance built it); leave `usetable` at 0 and hhc computes `{}` exactly",
                exact.reads, exact.function
            ),
        });
    }
    let unit = p.unit.as_deref().unwrap_or("");
    let shown = if unit.is_empty() {
        format!("{x}")
    } else {
        format!("{x} {unit}")
    };
    if let Some((lo, hi)) = p.limits {
        if !(lo..=hi).contains(&x) {
            return Some(ValueProblem {
                message: format!(
                    "`{}` = {shown} lies outside its limits <{lo}, {hi}>",
                    p.name
                ),
                label: "out of range",
                hint: format!(
                    "`{}` declares `{} <{lo}, {hi}>`; give a value in that range",
                    m.name, p.name
                ),
            });
        }
    }
    let is_conductance = |u: &str| {
        let (Ok(u), Ok(s_per_area), Ok(siemens)) =
            (units.parse(u), units.parse("S/cm2"), units.parse("S"))
        else {
            return false;
        };
        u.same_dimension(&s_per_area) || u.same_dimension(&siemens)
    };
    if x < 0.0 && is_conductance(unit) {
        return Some(ValueProblem {
            message: format!("`{}` = {shown} is a negative conductance", p.name),
            label: "negative",
            hint: "a conductance is 0 or more; a current that flows the other way comes from the reversal potential".into(),
        });
    }
    if !x.is_finite() {
        return Some(ValueProblem {
            message: format!("`{}` = {shown} is not a finite number", p.name),
            label: "not finite",
            hint: "give a finite value".into(),
        });
    }
    None
}

fn item_span(item: &Item) -> Span {
    match item {
        Item::Neuron { span, .. } => *span,
        Item::Initial(b) | Item::Breakpoint(b) => b.span,
        Item::Derivative { name, .. } | Item::Kinetic { name, .. } => name.span,
        Item::Function(c) | Item::Procedure(c) => c.name.span,
        Item::Parameter(d)
        | Item::State(d)
        | Item::Assigned(d)
        | Item::FileLocal(d)
        | Item::Constant(d) => d.first().map_or(Span::new(0, 0), |d| d.name.span),
        _ => Span::new(0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::whole_steps;

    #[test]
    fn a_run_is_a_whole_number_of_steps() {
        assert_eq!(whole_steps(0.025, 100.0), Ok(4000));
        assert_eq!(whole_steps(0.1, 0.3), Ok(3));
        assert_eq!(whole_steps(0.01, 100.0), Ok(10000));
        let e = whole_steps(0.03, 100.0).unwrap_err();
        assert!(e.message.contains("3333.333 steps"), "{}", e.message);
        assert!(e.hint.contains("99.99 ms or 100.02 ms"), "{}", e.hint);
        assert!(whole_steps(10.0, 1.0)
            .unwrap_err()
            .message
            .contains("longer than tstop"));
        assert!(whole_steps(200.0, 100.0).is_err());
    }
}
