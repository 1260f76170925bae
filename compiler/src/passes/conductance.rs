//! The conductance dI/dv of each current, for the V update and the cable solver: analytic for
//! hhc's own mechanisms; NEURON's difference quotient for a `.mod` file's current that is not
//! linear in v.

use super::simplify::Builder;
use super::symbolic::{depends_on_outside_frozen, pdiff, substitute_outside_frozen};
use crate::ir::{Builtin, Mechanism, Var};

/// The step NEURON's `nrn_cur` takes in v to difference a mechanism's currents, mV.
pub const NEURON_DV: f64 = 0.001;

pub fn conductance(m: &mut Mechanism) {
    for i in 0..m.currents.len() {
        let g = pdiff(&mut m.exprs, m.currents[i].value, Var::Builtin(Builtin::V));
        m.currents[i].conductance = Some(g);
    }
}

/// NEURON's dI/dv for a `.mod` file's currents: `nrn_cur` evaluates BREAKPOINT at v + 0.001
/// mV and at v and takes `(I(v + 0.001) − I(v)) / 0.001`. For a current linear in v (`g·(v −
/// e)`) that is the exact slope up to rounding, which [`conductance`] keeps; for one that is
/// not (a GHK current, `exp(v)` in a driving force, rates computed in BREAKPOINT) the quotient
/// differs from the slope by about 0.0005 mV · d²I/dv², which moves V by up to 1e-5 mV in a
/// clamp: hhc takes NEURON's quotient there, so that a `.mod` file runs as in NEURON.
pub fn neuron_difference_quotient(m: &mut Mechanism) {
    let v = Var::Builtin(Builtin::V);
    for i in 0..m.currents.len() {
        let current = m.currents[i].value;
        let slope = m.currents[i].conductance.expect("conductance() ran");
        if !depends_on_outside_frozen(&m.exprs, slope, v) {
            continue;
        }
        let at_v = m.exprs.var(v);
        let dv = m.exprs.lit(NEURON_DV);
        let shifted_v = Builder::new(&mut m.exprs).add(at_v, dv);
        let shifted =
            substitute_outside_frozen(&mut m.exprs, current, &|x| (x == v).then_some(shifted_v));
        let mut b = Builder::new(&mut m.exprs);
        let rise = b.sub(shifted, current);
        m.currents[i].conductance = Some(b.div(rise, dv));
    }
}

#[cfg(test)]
mod tests {
    use crate::ir::{interp, Builtin, Var};

    const MOD: &str = "NEURON { SUFFIX two NONSPECIFIC_CURRENT ia, ib RANGE g }
PARAMETER { g = 0.001 (S/cm2) }
ASSIGNED { v (mV) ia (mA/cm2) ib (mA/cm2) }
UNITSOFF
BREAKPOINT {
    ia = g*(v + 70)
    ib = g*exp(v/10)
}
UNITSON
";

    /// A `.mod` file's current linear in v keeps the exact slope; one that is not gets
    /// NEURON's `(I(v + 0.001) − I(v)) / 0.001`, to the bit; hhc's own file keeps the slope.
    #[test]
    fn a_mod_files_nonlinear_current_gets_neurons_difference_quotient() {
        let neuron = crate::compile_neuron_mechanism(MOD, "two.mod").expect("compiles");
        let own = crate::compile_mechanism(MOD).expect("compiles");
        let eval = |m: &crate::ir::Mechanism, roots: &[crate::ir::ExprId], v: f64| {
            interp::eval(&m.exprs, roots, &|x: Var| match x {
                Var::Builtin(Builtin::V) => v,
                _ => 0.001,
            })
        };
        let conductances = |m: &crate::ir::Mechanism| -> Vec<crate::ir::ExprId> {
            m.currents.iter().map(|c| c.conductance.unwrap()).collect()
        };
        let v = -20.0;
        let (quotient, slope) = (
            eval(&neuron, &conductances(&neuron), v),
            eval(&own, &conductances(&own), v),
        );
        let currents: Vec<_> = neuron.currents.iter().map(|c| c.value).collect();
        let (at_v, above) = (
            eval(&neuron, &currents, v),
            eval(&neuron, &currents, v + 0.001),
        );
        assert_eq!(quotient[0], slope[0], "linear: the exact slope");
        assert_eq!(quotient[1], (above[1] - at_v[1]) / 0.001);
        assert!(
            (quotient[1] - slope[1]).abs() > 1e-6 * slope[1].abs(),
            "{quotient:?} {slope:?}"
        );
        assert!(
            (quotient[1] - slope[1]).abs() < 1e-3 * slope[1].abs(),
            "{quotient:?} {slope:?}"
        );
    }
}
