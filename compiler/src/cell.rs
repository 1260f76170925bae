//! Fusing a model's cell into one [`CellProgram`]: every mechanism, the V update and the spike
//! check as parallel assignments over per-cell slots.
//!
//! One step, as SPEC prescribes:
//! 1. every state advances by its exact cnexp update at `V_n`;
//! 2. the currents and their analytic conductance `g = Σ dI/dv` are evaluated with the new states;
//! 3. V advances by exponential Euler, exact for `dV/dt = (I_stim − I(V_n) − g·(V − V_n))/c_m`:
//!    `V ← V_n + (I_stim − I)·dt/c_m · φ₁(−g·dt/c_m)`, `φ₁(z) = expm1(z)/z = 1/exprelr(z)`;
//! 4. a spike is `V_n < V_th ≤ V_{n+1}`.
//!
//! Parameters, reversal potentials, temperature and dt are constants of the run and are folded
//! into the program; only the slots vary per cell.

use crate::ir::{
    BinaryOp, Builtin, CellProgram, ExprArena, ExprId, IonField, Slot, SlotKind, UnaryOp, Var,
};
use crate::passes::simplify::Builder;
use crate::sema::model::{Model, Stimulus};

/// Gas constant (J/(K·mol)) and Faraday constant (C/mol), CODATA 2018, as braincell uses.
pub const GAS_CONSTANT: f64 = 8.314_462_618_153_24;
pub const FARADAY: f64 = 96_485.332_123_310_01;

/// Nernst potential in mV.
pub fn nernst(valence: i32, ci: f64, co: f64, celsius: f64) -> f64 {
    1e3 * GAS_CONSTANT * (celsius + 273.15) / (f64::from(valence) * FARADAY) * (co / ci).ln()
}

fn default_valence(ion: &str) -> i32 {
    match ion {
        "ca" => 2,
        "cl" => -1,
        _ => 1,
    }
}

/// Builds the fused step of `model`'s cell with `dt` from the model.
pub fn build(model: &Model) -> CellProgram {
    let cell = &model.cell;
    let mut exprs = ExprArena::new();
    let mut slots = vec![Slot {
        name: "v".into(),
        kind: SlotKind::V,
    }];
    let mut state_slot: Vec<Vec<u32>> = Vec::new();
    for (mi, ins) in cell.inserts.iter().enumerate() {
        let mut ids = Vec::new();
        for (si, s) in ins.mechanism.states.iter().enumerate() {
            ids.push(slots.len() as u32);
            slots.push(Slot {
                name: format!("{}.{}", ins.mechanism.name, s.name),
                kind: SlotKind::State {
                    mech: mi as u32,
                    state: si as u32,
                },
            });
        }
        state_slot.push(ids);
    }
    let sweep_slot = model
        .stimuli
        .iter()
        .any(|s| matches!(s, Stimulus::Sweep { .. }))
        .then(|| {
            slots.push(Slot {
                name: "stimulus".into(),
                kind: SlotKind::PerCell {
                    name: "stimulus".into(),
                },
            });
            (slots.len() - 1) as u32
        });
    let v = exprs.var(Var::Slot(0));
    let t = exprs.var(Var::Builtin(Builtin::T));

    let mut old_states: Vec<Vec<ExprId>> = Vec::new();
    for ids in &state_slot {
        old_states.push(ids.iter().map(|&s| exprs.var(Var::Slot(s))).collect());
    }
    let mut updates = Vec::new();
    let mut new_states: Vec<Vec<ExprId>> = old_states.clone();
    for (mi, ins) in cell.inserts.iter().enumerate() {
        for &(s, e) in &ins.mechanism.advance {
            let new = import_expr(&mut exprs, model, mi, e, &old_states[mi], v);
            new_states[mi][s as usize] = new;
            updates.push((state_slot[mi][s as usize], new));
        }
    }
    // Currents with the new states, at V_n.
    let mut b_i = exprs.lit(0.0);
    let mut b_g = exprs.lit(0.0);
    let mut mechanism_currents = Vec::new();
    for (mi, ins) in cell.inserts.iter().enumerate() {
        for c in &ins.mechanism.currents {
            let i = import_expr(&mut exprs, model, mi, c.value, &new_states[mi], v);
            let g = match c.conductance {
                Some(g) => import_expr(&mut exprs, model, mi, g, &new_states[mi], v),
                None => exprs.lit(0.0),
            };
            let mut b = Builder::new(&mut exprs);
            b_i = b.add(b_i, i);
            b_g = b.add(b_g, g);
        }
        let at_start = {
            let mut total = exprs.lit(0.0);
            for c in &ins.mechanism.currents {
                let i = import_expr(&mut exprs, model, mi, c.value, &old_states[mi], v);
                total = Builder::new(&mut exprs).add(total, i);
            }
            total
        };
        mechanism_currents.push((ins.mechanism.name.clone(), at_start));
    }
    // Stimulus at the start of the step.
    let mut b = Builder::new(&mut exprs);
    let mut stim = b.lit(0.0);
    for s in &model.stimuli {
        let term = match *s {
            Stimulus::Constant(c) => b.lit(c),
            Stimulus::Sweep { .. } => b.arena.var(Var::Slot(sweep_slot.unwrap_or(0))),
            Stimulus::Pulse {
                amplitude,
                delay,
                duration,
            } => {
                // Compare at mid-step so that float error in t never shifts the edges.
                let half = b.lit(0.5 * model.dt);
                let tm = b.add(t, half);
                let d0 = b.lit(delay);
                let d1 = b.lit(delay + duration);
                let after = b.binary(BinaryOp::Ge, tm, d0);
                let before = b.binary(BinaryOp::Lt, tm, d1);
                let on = b.binary(BinaryOp::And, after, before);
                let a = b.lit(amplitude);
                let zero = b.lit(0.0);
                b.select(on, a, zero)
            }
        };
        stim = b.add(stim, term);
    }
    // V update.
    let dt_cm = b.lit(model.dt / cell.cm);
    let net = b.sub(stim, b_i);
    let gdt = b.mul(b_g, dt_cm);
    let z = b.neg(gdt);
    let relr = b.unary(UnaryOp::Exprelr, z);
    let drive = b.mul(net, dt_cm);
    let dv = b.div(drive, relr);
    let v_new = b.add(v, dv);
    updates.insert(0, (0, v_new));
    let vth = b.lit(cell.v_th);
    let below = b.binary(BinaryOp::Lt, v, vth);
    let above = b.binary(BinaryOp::Ge, v_new, vth);
    let spike = b.binary(BinaryOp::And, below, above);
    // Initial values.
    let v0 = exprs.lit(cell.v_init);
    let mut init = vec![(0u32, v0)];
    for (mi, ins) in cell.inserts.iter().enumerate() {
        let zeros: Vec<ExprId> = vec![exprs.lit(0.0); ins.mechanism.states.len()];
        for (si, e) in ins.mechanism.init.iter().enumerate() {
            let value = match ins.state_init[si] {
                Some(x) => exprs.lit(x),
                None => import_expr(&mut exprs, model, mi, *e, &zeros, v0),
            };
            init.push((state_slot[mi][si], value));
        }
    }
    // Exponentials affine in V with related slopes share one exp (see `passes::expshare`).
    let mut roots: Vec<ExprId> = updates.iter().map(|(_, e)| *e).collect();
    roots.push(spike);
    let (shared_roots, _) =
        crate::passes::expshare::share_exponentials(&mut exprs, &roots, Var::Slot(0));
    let updates = updates
        .iter()
        .zip(&shared_roots)
        .map(|((s, _), e)| (*s, *e))
        .collect();
    let spike = shared_roots[shared_roots.len() - 1];
    CellProgram {
        name: cell.name.clone(),
        exprs,
        slots,
        init,
        updates,
        spike,
        mechanism_currents,
        dt: model.dt,
    }
}

/// Imports a mechanism expression into the program, binding parameters, ions and built-ins.
fn import_expr(
    exprs: &mut ExprArena,
    model: &Model,
    mi: usize,
    root: ExprId,
    states: &[ExprId],
    v_expr: ExprId,
) -> ExprId {
    let cell = &model.cell;
    let ins = &cell.inserts[mi];
    let m = &ins.mechanism;
    // Two passes: first collect the variables' replacements (which may need new literals), then import.
    let mut repl: std::collections::HashMap<Var, ExprId> = std::collections::HashMap::new();
    for id in m.exprs.reachable(&[root]) {
        if let crate::ir::Expr::Var(var) = *m.exprs.get(id) {
            let e = match var {
                Var::Param(i) => exprs.lit(ins.params[i as usize]),
                Var::State(i) => states[i as usize],
                Var::Ion(k, f) => {
                    let ion = &m.ions[k as usize];
                    let spec = cell.ions.iter().find(|i| i.name == ion.name);
                    let x = match f {
                        IonField::E => spec
                            .and_then(|s| {
                                s.e.or_else(|| {
                                    Some(nernst(
                                        ion.valence.unwrap_or(default_valence(&ion.name)),
                                        s.ci?,
                                        s.co?,
                                        model.celsius,
                                    ))
                                })
                            })
                            .unwrap_or(0.0),
                        IonField::Ci => spec.and_then(|s| s.ci).unwrap_or(0.0),
                        IonField::Co => spec.and_then(|s| s.co).unwrap_or(0.0),
                        IonField::I => 0.0,
                    };
                    exprs.lit(x)
                }
                Var::Builtin(Builtin::V) => v_expr,
                Var::Builtin(Builtin::Celsius) => exprs.lit(model.celsius),
                Var::Builtin(Builtin::Dt) => exprs.lit(model.dt),
                Var::Builtin(Builtin::T) => exprs.var(Var::Builtin(Builtin::T)),
                Var::Slot(s) => exprs.var(Var::Slot(s)),
            };
            repl.insert(var, e);
        }
    }
    crate::passes::symbolic::import(exprs, &m.exprs, root, &|var| repl[&var])
}

/// A cell holding only `m`, with its defaults, for emitting one mechanism's kernel
/// (`hhc compile X.chan --emit clif|ptx`). Ions get e = 0 mV.
pub fn single_mechanism_program(m: &crate::ir::Mechanism) -> CellProgram {
    use crate::sema::model::{CellSpec, Insert, IonSpec};
    let cell = CellSpec {
        name: m.name.clone(),
        v_th: 0.0,
        v_init: -65.0,
        cm: 1.0,
        ions: m
            .ions
            .iter()
            .map(|i| IonSpec {
                name: i.name.clone(),
                e: Some(0.0),
                ci: None,
                co: None,
            })
            .collect(),
        inserts: vec![Insert {
            mechanism: m.clone(),
            params: m.params.iter().map(|p| p.default).collect(),
            state_init: vec![None; m.states.len()],
        }],
    };
    let model = Model {
        cell,
        count: 1,
        dt: 0.025,
        tstop: 1.0,
        celsius: 36.0,
        stimuli: vec![],
        record: vec![0],
    };
    build(&model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nernst_matches_textbook() {
        // K+ at 37 °C, 140 mM in / 5 mM out: about −89 mV.
        let e = nernst(1, 140.0, 5.0, 37.0);
        assert!((e + 89.0).abs() < 0.5, "{e}");
    }
}
