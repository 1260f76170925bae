//! Fusing a model's cell into one [`CellProgram`]: every mechanism, the V update and the spike
//! check as parallel assignments over per-cell slots.
//!
//! One step, as SPEC prescribes:
//! 1. every state advances by its exact cnexp update at `V_n`;
//! 2. the currents and their analytic conductance `g = Σ dI/dv` are evaluated with the new states;
//! 3. V advances by exponential Euler, exact for `dV/dt = (I_stim − I(V_n) − g·(V − V_n))/c_m`:
//!    `V ← V_n + (I_stim − I)·dt/c_m · φ₁(−g·dt/c_m)`, `φ₁(z) = expm1(z)/z` (1 at `z = 0`), one
//!    division per step (dividing by `exprelr(z)` took two);
//! 4. a spike is `V_n < V_th ≤ V_{n+1}`.
//!
//! Parameters, reversal potentials, temperature and dt are constants of the run and are folded
//! into the program; only the slots vary per cell.

use crate::ir::{
    BinaryOp, Builtin, CellProgram, ExprArena, ExprId, IonField, Slot, SlotKind, UnaryOp, Var,
};
use crate::passes::simplify::Builder;
use crate::sema::model::{Model, StepMethod, Stimulus};

/// Gas constant (J/(K·mol)) and Faraday constant (C/mol), CODATA 2018, as braincell uses.
pub const GAS_CONSTANT: f64 = 8.314_462_618_153_24;
pub const FARADAY: f64 = 96_485.332_123_310_01;

/// `φ₁(z) = expm1(z)/z`, exactly 1 at `z = 0`: exponential Euler's step factor.
fn phi1(b: &mut Builder<'_>, z: ExprId) -> ExprId {
    let em1 = b.unary(UnaryOp::Expm1, z);
    let q = b.div(em1, z);
    let zero = b.lit(0.0);
    let at_zero = b.binary(BinaryOp::Eq, z, zero);
    let one = b.lit(1.0);
    b.select(at_zero, one, q)
}

/// Nernst potential in mV.
pub fn nernst(valence: i32, ci: f64, co: f64, celsius: f64) -> f64 {
    nernst_slope(valence, celsius) * (co / ci).ln()
}

fn default_valence(ion: &str) -> i32 {
    match ion {
        "ca" => 2,
        "cl" => -1,
        _ => 1,
    }
}

/// braincell 0.2.0's defaults for an ion the model leaves unset: the reversal potential of its
/// `*Fixed` ion, then the inner and outer concentrations (mM) of its ion family.
pub fn default_ion(ion: &str) -> (f64, f64, f64) {
    match ion {
        "na" => (50.0, 10.0, 140.0),
        "k" => (-95.0, 54.4, 2.5),
        "ca" => (120.0, 5e-5, 2.0),
        _ => (0.0, 1.0, 1.0),
    }
}

/// What each ion field means inside one phase of a step, as expressions of the program.
#[derive(Clone, Default)]
struct IonEnv {
    fields: std::collections::HashMap<String, IonExprs>,
}

#[derive(Clone, Copy)]
struct IonExprs {
    e: ExprId,
    ci: ExprId,
    co: ExprId,
    /// Total current of the ion in µA/cm², summed over the cell's mechanisms.
    i: ExprId,
}

/// Where the cell's ions come from: fixed values, or a pool's state slot.
struct IonSource {
    name: String,
    valence: i32,
    /// Fixed reversal potential, when the model gives one.
    e: Option<f64>,
    ci: Concentration,
    co: Concentration,
}

#[derive(Clone, Copy)]
enum Concentration {
    Fixed(f64),
    /// A concentration pool's state: (mechanism, state).
    Pool(usize, usize),
}

impl IonSource {
    fn collect(model: &Model) -> Vec<IonSource> {
        let cell = &model.cell;
        let mut names: Vec<(String, Option<i32>)> = Vec::new();
        for ins in &cell.inserts {
            for ion in &ins.mechanism.ions {
                match names.iter_mut().find(|(n, _)| *n == ion.name) {
                    Some((_, v)) => *v = v.or(ion.valence),
                    None => names.push((ion.name.clone(), ion.valence)),
                }
            }
        }
        names
            .into_iter()
            .map(|(name, valence)| {
                let spec = cell.ions.iter().find(|i| i.name == name);
                let (e0, ci0, co0) = default_ion(&name);
                let pool = |field: IonField, word: String| {
                    cell.inserts.iter().enumerate().find_map(|(mi, ins)| {
                        let m = &ins.mechanism;
                        let writes = m
                            .ions
                            .iter()
                            .any(|i| i.name == name && i.writes.contains(&field));
                        writes
                            .then(|| m.state_index(&word).map(|si| Concentration::Pool(mi, si)))
                            .flatten()
                    })
                };
                let ci = pool(IonField::Ci, format!("{name}i"))
                    .unwrap_or(Concentration::Fixed(spec.and_then(|s| s.ci).unwrap_or(ci0)));
                let co = pool(IonField::Co, format!("{name}o"))
                    .unwrap_or(Concentration::Fixed(spec.and_then(|s| s.co).unwrap_or(co0)));
                let given_concentrations = spec.is_some_and(|s| s.ci.is_some() || s.co.is_some());
                let dynamic =
                    matches!(ci, Concentration::Pool(..)) || matches!(co, Concentration::Pool(..));
                let e = match spec.and_then(|s| s.e) {
                    Some(e) => Some(e),
                    None if given_concentrations || dynamic => None,
                    None => Some(e0),
                };
                IonSource {
                    valence: valence.unwrap_or_else(|| default_valence(&name)),
                    name,
                    e,
                    ci,
                    co,
                }
            })
            .collect()
    }

    /// The ion fields given the pools' current values (`states[mech][state]`); currents are 0
    /// until [`with_currents`] fills them in.
    fn env(
        sources: &[IonSource],
        exprs: &mut ExprArena,
        states: &[Vec<ExprId>],
        celsius: f64,
    ) -> IonEnv {
        let mut env = IonEnv::default();
        for src in sources {
            let conc = |c: Concentration, exprs: &mut ExprArena| match c {
                Concentration::Fixed(x) => exprs.lit(x),
                Concentration::Pool(mi, si) => states[mi][si],
            };
            let ci = conc(src.ci, exprs);
            let co = conc(src.co, exprs);
            let e = match (src.e, src.ci, src.co) {
                (Some(e), ..) => exprs.lit(e),
                (None, Concentration::Fixed(a), Concentration::Fixed(b)) => {
                    exprs.lit(nernst(src.valence, a, b, celsius))
                }
                (None, ..) => {
                    let mut b = Builder::new(exprs);
                    let ratio = b.div(co, ci);
                    let ln = b.unary(UnaryOp::Log, ratio);
                    let k = b.lit(nernst_slope(src.valence, celsius));
                    b.mul(k, ln)
                }
            };
            let i = exprs.lit(0.0);
            env.fields
                .insert(src.name.clone(), IonExprs { e, ci, co, i });
        }
        env
    }
}

/// The order NEURON runs the state updates (and INITIAL blocks) of `cell`'s mechanisms in: its
/// `memb_order_`. Mechanisms register in order, NEURON's and hhc's own (which have no `.mod`
/// file) first, in the order inserted, then the `.mod` files' by file name, as `nrnivmodl`
/// takes them (bytewise, as in the C locale). Then `nrn_writes_conc` moves each mechanism that
/// WRITEs a concentration to the front as it registers, so those come first in the reverse of
/// their registration order, and every other mechanism follows in registration order.
fn state_update_order(cell: &crate::sema::model::CellSpec) -> Vec<usize> {
    let registered = |a: &usize, b: &usize| {
        let file = |k: usize| cell.inserts[k].mechanism.neuron_file.as_deref();
        match (file(*a), file(*b)) {
            (Some(x), Some(y)) => x.as_bytes().cmp(y.as_bytes()),
            (x, y) => x.is_some().cmp(&y.is_some()),
        }
    };
    let writes = |k: &usize| {
        (cell.inserts[*k].mechanism.ions.iter()).any(crate::ir::IonUse::writes_concentration)
    };
    let (mut writers, mut others): (Vec<usize>, Vec<usize>) =
        (0..cell.inserts.len()).partition(writes);
    writers.sort_by(|a, b| registered(b, a));
    others.sort_by(registered);
    writers.extend(others);
    writers
}

/// RT/(zF) in mV.
fn nernst_slope(valence: i32, celsius: f64) -> f64 {
    1e3 * GAS_CONSTANT * (celsius + 273.15) / (f64::from(valence) * FARADAY)
}

/// The compartment program's slot of the membrane current density (µA/cm²), and of its
/// conductance dI/dv (mS/cm²); see [`build_compartment`].
pub const MEMBRANE_CURRENT_SLOT: &str = "i_membrane";
pub const MEMBRANE_CONDUCTANCE_SLOT: &str = "g_membrane";

/// The name of the compartment slot that holds insert `mi`'s parameter `pi` when it has a
/// value per cell.
pub fn per_cell_slot_name(mi: usize, m: &crate::ir::Mechanism, pi: usize) -> String {
    format!("{}.{}#{mi}", m.name, m.params[pi].name)
}

/// Adds current `c` of mechanism `m` (its value `i`) to its ion's total, if it has an ion.
fn add_ion_current(
    exprs: &mut ExprArena,
    totals: &mut std::collections::HashMap<String, ExprId>,
    m: &crate::ir::Mechanism,
    c: &crate::ir::Current,
    i: ExprId,
) {
    if let Some(k) = c.ion {
        let zero = exprs.lit(0.0);
        let sum = totals
            .entry(m.ions[k as usize].name.clone())
            .or_insert(zero);
        *sum = Builder::new(exprs).add(*sum, i);
    }
}

/// The slot tracing current `c` of insert `mi`, when the model asks for it by name
/// (`Na_HH1952.ina` in `record_states`) and it traces as a current
/// ([`crate::ir::Mechanism::traced_currents`]).
fn traced_current(model: &Model, mi: usize, c: &crate::ir::Current) -> Option<Slot> {
    let m = &model.cell.inserts[mi].mechanism;
    let name = format!("{}.{}", m.name, c.name);
    let is_traced_current = m.traced_currents().any(|t| t.name == c.name);
    let traced = is_traced_current && model.record_states.contains(&name);
    traced.then_some(Slot {
        name,
        kind: SlotKind::Current { mech: mi as u32 },
    })
}

/// A current `c` of `m` as the step computed it (µA/cm²; a point process's nA, or on a
/// morphology its compartment's µA/cm², see [`crate::ir::Current::scale`]) in NEURON's unit
/// (mA/cm², nA for a point process).
fn in_neuron_unit(
    exprs: &mut ExprArena,
    m: &crate::ir::Mechanism,
    c: &crate::ir::Current,
    i: ExprId,
) -> ExprId {
    let k = if m.point_process { 1.0 / c.scale } else { 1e-3 };
    if k == 1.0 {
        return i;
    }
    let k = exprs.lit(k);
    Builder::new(exprs).mul(i, k)
}

/// Builds the fused step of `model`'s cell with `dt` from the model.
pub fn build(model: &Model) -> CellProgram {
    build_program(model, false, Advance::Step)
}

/// The same step for one compartment of a morphology: states advance and the membrane current
/// density (µA/cm², slot `i_membrane`) and its conductance dI/dv (mS/cm², slot `g_membrane`)
/// are written out, while V is left to the cable solver. `model.cell.inserts` are the
/// mechanisms of the compartment's region.
pub fn build_compartment(model: &Model) -> CellProgram {
    build_program(model, true, Advance::Step)
}

/// [`build_compartment`] at the initial state: the current and conductance there, and the
/// values BREAKPOINT stores, with nothing stepped (a state update's assignments keep
/// INITIAL's values). The mechanisms read the run's `dt` (VClamp's amplifier time constants
/// are in steps), so this is not a step of length 0.
pub fn build_compartment_at_rest(model: &Model) -> CellProgram {
    build_program(model, true, Advance::AtRest)
}

/// [`build_compartment`] without the states' advance: the current and conductance at the
/// present states and V. The network engine recomputes them so after an event changes a
/// synapse's state.
pub fn build_compartment_currents(model: &Model) -> CellProgram {
    build_program(model, true, Advance::None)
}

/// Which state updates a program makes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Advance {
    /// A whole step.
    Step,
    /// Only the values BREAKPOINT stores: the currents at the initial state.
    AtRest,
    /// None: the currents at the present states.
    None,
}

fn build_program(model: &Model, compartment: bool, advance: Advance) -> CellProgram {
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
    // Parameters that vary along a morphology (`along(…)`) are per-compartment slots.
    let mut param_slots: Vec<Vec<Option<u32>>> = Vec::new();
    for (mi, ins) in cell.inserts.iter().enumerate() {
        let mut row = vec![None; ins.mechanism.params.len()];
        if compartment {
            for &(pi, _, _) in &ins.along {
                let name = format!("{}.{}", ins.mechanism.name, ins.mechanism.params[pi].name);
                slots.push(Slot {
                    name: name.clone(),
                    kind: SlotKind::PerCell { name },
                });
                row[pi] = Some((slots.len() - 1) as u32);
            }
        }
        for (pi, _) in &ins.per_cell {
            let name = per_cell_slot_name(mi, &ins.mechanism, *pi);
            slots.push(Slot {
                name: name.clone(),
                kind: SlotKind::PerCell { name },
            });
            row[*pi] = Some((slots.len() - 1) as u32);
        }
        param_slots.push(row);
    }
    let v = exprs.var(Var::Slot(0));
    let t = exprs.var(Var::Builtin(Builtin::T));

    let mut old_states: Vec<Vec<ExprId>> = Vec::new();
    for ids in &state_slot {
        old_states.push(ids.iter().map(|&s| exprs.var(Var::Slot(s))).collect());
    }
    // Ions at the start of the step, with each ion's total current for the pools that read it.
    let sources = IonSource::collect(model);
    let mut start_env = IonSource::env(&sources, &mut exprs, &old_states, model.celsius);
    let mut mechanism_currents = Vec::new();
    let mut ion_totals = std::collections::HashMap::new();
    for (mi, ins) in cell.inserts.iter().enumerate() {
        let mut total = exprs.lit(0.0);
        for c in &ins.mechanism.currents {
            let i = import_expr(
                &mut exprs,
                model,
                &param_slots,
                mi,
                c.value,
                &old_states[mi],
                v,
                &start_env,
            );
            total = Builder::new(&mut exprs).add(total, i);
            add_ion_current(&mut exprs, &mut ion_totals, &ins.mechanism, c, i);
        }
        mechanism_currents.push((ins.mechanism.name.clone(), total));
    }
    // On a morphology the kernel runs after the solve, at V_{n+1}; the ion currents that the
    // pools integrate are those the solve used, at V_n (NEURON's nrn_cur before nrn_state), so
    // each compartment keeps them in a slot from the kernel's previous run.
    let mut ion_names: Vec<String> = ion_totals.keys().cloned().collect();
    ion_names.sort();
    let ion_slots: Vec<(String, u32)> = if compartment {
        ion_names
            .iter()
            .map(|name| {
                let slot = format!("ion {name}.i");
                slots.push(Slot {
                    name: slot.clone(),
                    kind: SlotKind::PerCell { name: slot },
                });
                (name.clone(), (slots.len() - 1) as u32)
            })
            .collect()
    } else {
        Vec::new()
    };
    for (name, total) in &ion_totals {
        if let Some(f) = start_env.fields.get_mut(name) {
            f.i = match ion_slots.iter().find(|(n, _)| n == name) {
                Some(&(_, slot)) => exprs.var(Var::Slot(slot)),
                None => *total,
            };
        }
    }
    // A compartment program runs at the next step's midpoint (the time its currents see, as
    // NEURON's BREAKPOINT); its state update is the last step's end, half a step before, as
    // NEURON's nrn_state sees it (a DERIVATIVE block or SOLVEd PROCEDURE that reads t).
    let state_update_time = compartment.then(|| {
        let mut b = Builder::new(&mut exprs);
        let half = b.lit(0.5 * model.dt);
        b.sub(t, half)
    });
    // 1. States advance at V_n, mechanism by mechanism in NEURON's order (see
    //    [`state_update_order`]): a `.mod` mechanism reads the concentrations that those
    //    before it advanced in this step, as NEURON's nrn_state calls do; hhc's own
    //    mechanisms read the step's start, as braincell does.
    let mut updates = Vec::new();
    let mut new_states: Vec<Vec<ExprId>> = old_states.clone();
    let pools = sources.iter().any(|s| {
        matches!(s.ci, Concentration::Pool(..)) || matches!(s.co, Concentration::Pool(..))
    });
    for mi in state_update_order(cell)
        .into_iter()
        .filter(|_| advance != Advance::None)
    {
        let ins = &cell.inserts[mi];
        let so_far;
        let ions = if pools && ins.mechanism.neuron_file.is_some() {
            let mut env = IonSource::env(&sources, &mut exprs, &new_states, model.celsius);
            for (name, f) in &mut env.fields {
                f.i = start_env.fields[name].i;
            }
            so_far = env;
            &so_far
        } else {
            &start_env
        };
        for &(s, e) in &ins.mechanism.advance {
            // At rest nothing steps: a state keeps INITIAL's value, and only what BREAKPOINT
            // stores is computed.
            if advance == Advance::AtRest && !ins.mechanism.set_by_breakpoint(s) {
                continue;
            }
            let mut new = import_expr(
                &mut exprs,
                model,
                &param_slots,
                mi,
                e,
                &old_states[mi],
                v,
                ions,
            );
            // (A value BREAKPOINT sets and the advance recomputes keeps BREAKPOINT's time.)
            if let Some(t_end) = state_update_time.filter(|_| !ins.mechanism.set_by_breakpoint(s)) {
                new = crate::passes::symbolic::substitute(&mut exprs, new, &|var| {
                    (var == Var::Builtin(Builtin::T)).then_some(t_end)
                });
            }
            new_states[mi][s as usize] = new;
            updates.push((state_slot[mi][s as usize], new));
        }
    }
    // 2. Currents with the new states (and new concentrations), at V_n.
    let mut new_env = IonSource::env(&sources, &mut exprs, &new_states, model.celsius);
    for (name, f) in &mut new_env.fields {
        f.i = start_env.fields[name].i;
    }
    // A mechanism's expression as the currents see it: the new states, V_n, the new ions.
    let at_currents = |exprs: &mut ExprArena, mi: usize, e: ExprId| {
        import_expr(
            exprs,
            model,
            &param_slots,
            mi,
            e,
            &new_states[mi],
            v,
            &new_env,
        )
    };
    let mut b_i = exprs.lit(0.0);
    let mut b_g = exprs.lit(0.0);
    // Each ion's total current with the new states, for the kept slots.
    let mut new_ion_totals: std::collections::HashMap<String, ExprId> = Default::default();
    // (slot, value, insert, current) of each traced current.
    let mut traced: Vec<(Slot, ExprId, usize, usize)> = Vec::new();
    for (mi, ins) in cell.inserts.iter().enumerate() {
        for (ci, c) in ins.mechanism.currents.iter().enumerate() {
            let i = at_currents(&mut exprs, mi, c.value);
            if let Some(slot) = traced_current(model, mi, c) {
                let scaled = in_neuron_unit(&mut exprs, &ins.mechanism, c, i);
                traced.push((slot, scaled, mi, ci));
            }
            add_ion_current(&mut exprs, &mut new_ion_totals, &ins.mechanism, c, i);
            let g = match c.conductance {
                Some(g) => at_currents(&mut exprs, mi, g),
                None => exprs.lit(0.0),
            };
            let mut b = Builder::new(&mut exprs);
            b_i = b.add(b_i, i);
            b_g = b.add(b_g, g);
        }
    }
    // What BREAKPOINT stores for the next state update, with the currents' states, v and t
    // (a state update's own assignment of it comes before, so this one stands).
    for (mi, ins) in cell.inserts.iter().enumerate() {
        for &(s, e) in &ins.mechanism.stored {
            let value = at_currents(&mut exprs, mi, e);
            let slot = state_slot[mi][s as usize];
            match updates.iter_mut().find(|(target, _)| *target == slot) {
                Some(update) => update.1 = value,
                None => updates.push((slot, value)),
            }
        }
    }
    // Stimulus at the start of the step.
    let mut b = Builder::new(&mut exprs);
    let mut stim = b.lit(0.0);
    for s in &model.stimuli {
        let term = match *s {
            Stimulus::Constant(c) => b.lit(c),
            Stimulus::Sweep { .. } => b.arena.var(Var::Slot(sweep_slot.unwrap_or(0))),
            // Point currents are injected by the cable solver, not as a density.
            Stimulus::IClamp { .. } => b.lit(0.0),
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
    let drive = b.mul(net, dt_cm);
    let step_factor = phi1(&mut b, z);
    let dv = b.mul(drive, step_factor);
    let mut v_new = b.add(v, dv);
    if model.method == StepMethod::ExpRosenbrock && !compartment {
        let coupled = rosenbrock_updates(
            &mut exprs,
            model,
            &param_slots,
            &sources,
            &state_slot,
            &old_states,
            &new_states,
            stim,
            v,
        );
        for (slot, e) in coupled {
            if slot == 0 {
                v_new = e;
            } else if let Some(u) = updates.iter_mut().find(|(s, _)| *s == slot) {
                u.1 = e;
            }
        }
    }
    if compartment {
        for (name, value) in [
            (MEMBRANE_CURRENT_SLOT, b_i),
            (MEMBRANE_CONDUCTANCE_SLOT, b_g),
        ] {
            slots.push(Slot {
                name: name.into(),
                kind: SlotKind::PerCell { name: name.into() },
            });
            updates.push(((slots.len() - 1) as u32, value));
        }
        v_new = v;
    }
    for &(ref name, slot) in &ion_slots {
        let total = new_ion_totals.get(name).copied();
        updates.push((slot, total.unwrap_or_else(|| exprs.lit(0.0))));
    }
    // Traced currents: what this step used.
    let traced_from = slots.len();
    for (slot, value, _, _) in &traced {
        slots.push(slot.clone());
        updates.push(((slots.len() - 1) as u32, *value));
    }
    let mut b = Builder::new(&mut exprs);
    updates.insert(0, (0, v_new));
    let vth = b.lit(cell.v_th);
    let below = b.binary(BinaryOp::Lt, v, vth);
    let above = b.binary(BinaryOp::Ge, v_new, vth);
    let spike = b.binary(BinaryOp::And, below, above);
    // Initial values: pools first (a value in INSERT, then for hhc's own pools the ION block's,
    // then INITIAL), then every other state, seeing the pools' initial concentrations.
    let v0 = exprs.lit(cell.v_init);
    let zeros: Vec<Vec<ExprId>> = cell
        .inserts
        .iter()
        .map(|ins| vec![exprs.lit(0.0); ins.mechanism.states.len()])
        .collect();
    // Before INITIAL runs, a pool holds the ion's starting concentration (the ION block's, else
    // NEURON's default), as NEURON's ion initialises cai before the mechanisms' INITIAL.
    let mut ion_start = zeros.clone();
    for src in &sources {
        let spec = cell.ions.iter().find(|i| i.name == src.name);
        let (_, ci0, co0) = default_ion(&src.name);
        for (conc, start) in [
            (src.ci, spec.and_then(|i| i.ci).unwrap_or(ci0)),
            (src.co, spec.and_then(|i| i.co).unwrap_or(co0)),
        ] {
            if let Concentration::Pool(mi, si) = conc {
                ion_start[mi][si] = exprs.lit(start);
            }
        }
    }
    let fixed_env = IonSource::env(&sources, &mut exprs, &ion_start, model.celsius);
    let mut init_states = zeros.clone();
    for src in &sources {
        for (conc, given) in [
            (
                src.ci,
                cell.ions
                    .iter()
                    .find(|i| i.name == src.name)
                    .and_then(|i| i.ci),
            ),
            (
                src.co,
                cell.ions
                    .iter()
                    .find(|i| i.name == src.name)
                    .and_then(|i| i.co),
            ),
        ] {
            if let Concentration::Pool(mi, si) = conc {
                let ins = &cell.inserts[mi];
                // A .mod file's INITIAL runs after NEURON set the ion's starting concentration
                // (the ION block's), so what it assigns wins (bmtk's CaDynamics: `cai =
                // minCai`); one that assigns nothing keeps the ion's. hhc's own pools start at
                // the ION block's value, as braincell's do.
                let given = given.filter(|_| ins.mechanism.neuron_file.is_none());
                init_states[mi][si] = match (ins.state_init[si], given) {
                    (Some(x), _) | (None, Some(x)) => exprs.lit(x),
                    (None, None) => {
                        let e = ins.mechanism.init[si];
                        import_expr(
                            &mut exprs,
                            model,
                            &param_slots,
                            mi,
                            e,
                            &zeros[mi],
                            v0,
                            &fixed_env,
                        )
                    }
                };
            }
        }
    }
    let init_env = IonSource::env(&sources, &mut exprs, &init_states, model.celsius);
    let mut init = vec![(0u32, v0)];
    let mut init_values = zeros.clone();
    for (mi, ins) in cell.inserts.iter().enumerate() {
        // A pool's own INITIAL runs before it has set the concentration (capmpr.mod's steady
        // state starts from the ion's cai); every other mechanism's sees the pool's result.
        let is_pool_mechanism = sources.iter().any(|src| {
            [src.ci, src.co]
                .iter()
                .any(|c| matches!(*c, Concentration::Pool(m, _) if m == mi))
        });
        let env = if is_pool_mechanism {
            &fixed_env
        } else {
            &init_env
        };
        for (si, e) in ins.mechanism.init.iter().enumerate() {
            let is_pool = sources.iter().any(|src| {
                [src.ci, src.co]
                    .iter()
                    .any(|c| matches!(*c, Concentration::Pool(m, s) if m == mi && s == si))
            });
            let value = match ins.state_init[si] {
                _ if is_pool => init_states[mi][si],
                Some(x) => exprs.lit(x),
                None => import_expr(&mut exprs, model, &param_slots, mi, *e, &zeros[mi], v0, env),
            };
            init_values[mi][si] = value;
            // What BREAKPOINT stores starts at INITIAL's value; on a morphology the at-rest
            // program then sets BREAKPOINT's value at the initial state (as NEURON's
            // finitialize runs BREAKPOINT after INITIAL), which may read INITIAL's (a running
            // maximum). A point cell, which has no such program, keeps INITIAL's.
            init.push((state_slot[mi][si], value));
        }
    }
    // The kept ion currents start at their values in the initial state.
    if !ion_slots.is_empty() {
        let env = IonSource::env(&sources, &mut exprs, &init_values, model.celsius);
        let mut totals: std::collections::HashMap<String, ExprId> = Default::default();
        for (mi, ins) in cell.inserts.iter().enumerate() {
            for c in ins.mechanism.currents.iter().filter(|c| c.ion.is_some()) {
                let i = import_expr(
                    &mut exprs,
                    model,
                    &param_slots,
                    mi,
                    c.value,
                    &init_values[mi],
                    v0,
                    &env,
                );
                add_ion_current(&mut exprs, &mut totals, &ins.mechanism, c, i);
            }
        }
        for &(ref name, slot) in &ion_slots {
            let total = totals.get(name).copied();
            init.push((slot, total.unwrap_or_else(|| exprs.lit(0.0))));
        }
    }
    // A traced current starts at its value in the initial state.
    if !traced.is_empty() {
        let env = IonSource::env(&sources, &mut exprs, &init_values, model.celsius);
        for (k, &(_, _, mi, ci)) in traced.iter().enumerate() {
            let m = &cell.inserts[mi].mechanism;
            let i = import_expr(
                &mut exprs,
                model,
                &param_slots,
                mi,
                m.currents[ci].value,
                &init_values[mi],
                v0,
                &env,
            );
            let value = in_neuron_unit(&mut exprs, m, &m.currents[ci], i);
            init.push(((traced_from + k) as u32, value));
        }
    }
    {
        let mut roots: Vec<&mut ExprId> = updates
            .iter_mut()
            .map(|u| &mut u.1)
            .chain(init.iter_mut().map(|u| &mut u.1))
            .chain(mechanism_currents.iter_mut().map(|c| &mut c.1))
            .collect();
        // A point cell has no geometry (the model refuses such a mechanism there).
        bind_geometry(&mut exprs, &mut roots, &mut |exprs, b| {
            if !compartment {
                return exprs.lit(f64::NAN);
            }
            let name = geometry_slot_name(b);
            let k = slots
                .iter()
                .position(|s| s.name == name)
                .unwrap_or_else(|| {
                    slots.push(Slot {
                        name: name.into(),
                        kind: SlotKind::PerCell { name: name.into() },
                    });
                    slots.len() - 1
                });
            exprs.var(Var::Slot(k as u32))
        });
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

/// The matrix exponential in [`rosenbrock_updates`] is `T(B/2^s)^(2^s)`, with `T` the Taylor
/// polynomial of degree [`EXPM_DEGREE`]. The cell picks `s` at run time from ‖B‖∞ so that
/// ‖B/2^s‖ ≤ [`EXPM_THETA`], where the truncation error is below 4e-14. The kernel computes
/// [`EXPM_MAX_SQUARINGS`] squarings and keeps the first `s`, so it reaches ‖B‖ up to about 1e5.
/// That covers gates with τ = 1e-7 ms at dt = 0.01 ms (Cav1p2's m at rest).
const EXPM_DEGREE: u32 = 8;
const EXPM_THETA: f64 = 0.125;
const EXPM_MAX_SQUARINGS: u32 = 20;

/// braincell's coupled exponential step, `y ← y + dt·φ₁(dt·J)·f(y)`, over V and every state
/// that is not in a KINETIC scheme (those advance first, by backward Euler, and are held fixed).
/// `dt·φ₁(dt·J)·f` is the last column of `exp([[dt·J, dt·f], [0, 0]])`, computed by scaling
/// and squaring with the Jacobian J derived symbolically. Returns (slot, new value) pairs.
#[allow(clippy::too_many_arguments)]
fn rosenbrock_updates(
    exprs: &mut ExprArena,
    model: &Model,
    param_slots: &[Vec<Option<u32>>],
    sources: &[IonSource],
    state_slot: &[Vec<u32>],
    old_states: &[Vec<ExprId>],
    new_states: &[Vec<ExprId>],
    stim: ExprId,
    v: ExprId,
) -> Vec<(u32, ExprId)> {
    let cell = &model.cell;
    // Kinetic states enter as placeholders, so that J does not differentiate their update.
    const PLACEHOLDER: u32 = 1 << 30;
    let mut y_states = old_states.to_vec();
    let mut placeholders: Vec<(Var, ExprId)> = Vec::new();
    let mut coupled: Vec<(u32, usize, u32)> = Vec::new(); // (slot, mechanism, state)
    for (mi, ins) in cell.inserts.iter().enumerate() {
        if matches!(
            ins.mechanism.method,
            Some(crate::ir::Method::Sparse | crate::ir::Method::Procedure)
        ) {
            for (si, &slot) in state_slot[mi].iter().enumerate() {
                let p = Var::Slot(PLACEHOLDER + slot);
                y_states[mi][si] = exprs.var(p);
                placeholders.push((p, new_states[mi][si]));
            }
        } else {
            for &(s, _, _) in &ins.mechanism.derivatives {
                coupled.push((state_slot[mi][s as usize], mi, s));
            }
        }
    }
    // f(y): ion totals first, then V' and each state's derivative.
    let mut env = IonSource::env(sources, exprs, &y_states, model.celsius);
    let mut i_all = exprs.lit(0.0);
    let mut totals: std::collections::HashMap<String, ExprId> = std::collections::HashMap::new();
    for (mi, ins) in cell.inserts.iter().enumerate() {
        for c in &ins.mechanism.currents {
            let i = import_expr(
                exprs,
                model,
                param_slots,
                mi,
                c.value,
                &y_states[mi],
                v,
                &env,
            );
            i_all = Builder::new(exprs).add(i_all, i);
            if let Some(k) = c.ion {
                let zero = exprs.lit(0.0);
                let sum = totals
                    .entry(ins.mechanism.ions[k as usize].name.clone())
                    .or_insert(zero);
                *sum = Builder::new(exprs).add(*sum, i);
            }
        }
    }
    for (name, total) in totals {
        if let Some(f) = env.fields.get_mut(&name) {
            f.i = total;
        }
    }
    let mut f = Vec::new();
    let mut vars = vec![Var::Slot(0)];
    {
        let mut b = Builder::new(exprs);
        let net = b.sub(stim, i_all);
        let inv_cm = b.lit(1.0 / cell.cm);
        f.push(b.mul(net, inv_cm));
    }
    for &(slot, mi, s) in &coupled {
        let m = &cell.inserts[mi].mechanism;
        let rhs = m.derivatives.iter().find(|d| d.0 == s).map(|d| d.1);
        if let Some(rhs) = rhs {
            f.push(import_expr(
                exprs,
                model,
                param_slots,
                mi,
                rhs,
                &y_states[mi],
                v,
                &env,
            ));
            vars.push(Var::Slot(slot));
        }
    }
    let n = vars.len();
    // B = dt·[[J, f], [0, 0]].
    let zero = exprs.lit(0.0);
    let mut bm = vec![vec![zero; n + 1]; n + 1];
    for i in 0..n {
        for j in 0..n {
            let d = crate::passes::symbolic::pdiff(exprs, f[i], vars[j]);
            let mut b = Builder::new(exprs);
            let k = b.lit(model.dt);
            bm[i][j] = b.mul(k, d);
        }
        let mut b = Builder::new(exprs);
        let k = b.lit(model.dt);
        bm[i][n] = b.mul(k, f[i]);
    }
    let mut b = Builder::new(exprs);
    // s = clamp(⌈log2(‖B‖∞/θ)⌉, 0, max), then B ← B·2^−s.
    let mut norm = b.lit(0.0);
    for row in &bm {
        let mut sum = b.lit(0.0);
        for &x in row {
            let ax = b.unary(UnaryOp::Fabs, x);
            sum = b.add(sum, ax);
        }
        norm = b.binary(BinaryOp::Max, norm, sum);
    }
    let squarings = {
        // log2(‖B‖/θ) = ln‖B‖/ln 2 − log2 θ
        let inv_ln2 = b.lit(1.0 / std::f64::consts::LN_2);
        let ln = b.unary(UnaryOp::Log, norm);
        let log2 = b.mul(ln, inv_ln2);
        let offset = b.lit(-EXPM_THETA.log2());
        let x = b.add(log2, offset);
        let negx = b.neg(x);
        let fl = b.unary(UnaryOp::Floor, negx);
        let ceil = b.neg(fl);
        let lo = b.lit(0.0);
        let hi = b.lit(f64::from(EXPM_MAX_SQUARINGS));
        let c = b.binary(BinaryOp::Max, ceil, lo);
        b.binary(BinaryOp::Min, c, hi)
    };
    let neg_s = b.neg(squarings);
    let one = b.lit(1.0);
    let shrink = b.binary(BinaryOp::Ldexp, one, neg_s);
    for row in bm.iter_mut() {
        for x in row.iter_mut() {
            *x = b.mul(*x, shrink);
        }
    }
    let matmul = |b: &mut Builder<'_>, x: &[Vec<ExprId>], y: &[Vec<ExprId>]| {
        let size = x.len();
        let mut out = vec![vec![b.lit(0.0); size]; size];
        for (i, row) in out.iter_mut().enumerate() {
            for (j, cell) in row.iter_mut().enumerate() {
                let mut acc = b.lit(0.0);
                for k in 0..size {
                    let t = b.mul(x[i][k], y[k][j]);
                    acc = b.add(acc, t);
                }
                *cell = acc;
            }
        }
        out
    };
    // Taylor by Horner: T = I + X·(I + X·(… )/(m−1))/m … , then square s times.
    let identity = |b: &mut Builder<'_>| {
        (0..=n)
            .map(|i| {
                (0..=n)
                    .map(|j| b.lit(if i == j { 1.0 } else { 0.0 }))
                    .collect()
            })
            .collect::<Vec<Vec<ExprId>>>()
    };
    let mut t = identity(&mut b);
    for k in (1..=EXPM_DEGREE).rev() {
        let xt = matmul(&mut b, &bm, &t);
        let inv = b.lit(1.0 / f64::from(k));
        let id = identity(&mut b);
        for i in 0..=n {
            for j in 0..=n {
                let scaled = b.mul(xt[i][j], inv);
                t[i][j] = b.add(id[i][j], scaled);
            }
        }
    }
    for k in 0..EXPM_MAX_SQUARINGS {
        let squared = matmul(&mut b, &t, &t);
        let kth = b.lit(f64::from(k));
        let take = b.binary(BinaryOp::Lt, kth, squarings);
        for i in 0..=n {
            for j in 0..=n {
                t[i][j] = b.select(take, squared[i][j], t[i][j]);
            }
        }
    }
    let mut out = Vec::with_capacity(n);
    for (i, var) in vars.iter().enumerate() {
        let Var::Slot(slot) = *var else { continue };
        let y = b.arena.var(*var);
        out.push((slot, b.add(y, t[i][n])));
    }
    // Kinetic placeholders become the kinetic states' new values.
    let map = |var: Var| {
        placeholders
            .iter()
            .find(|(p, _)| *p == var)
            .map(|(_, e)| *e)
    };
    out.into_iter()
        .map(|(slot, e)| (slot, crate::passes::symbolic::substitute(exprs, e, &map)))
        .collect()
}

/// Imports a mechanism expression into the program, binding parameters, ions and built-ins.
#[allow(clippy::too_many_arguments)]
fn import_expr(
    exprs: &mut ExprArena,
    model: &Model,
    param_slots: &[Vec<Option<u32>>],
    mi: usize,
    root: ExprId,
    states: &[ExprId],
    v_expr: ExprId,
    ions: &IonEnv,
) -> ExprId {
    let ins = &model.cell.inserts[mi];
    let m = &ins.mechanism;
    // Two passes: first collect the variables' replacements (which may need new literals), then import.
    let mut repl: std::collections::HashMap<Var, ExprId> = std::collections::HashMap::new();
    for id in m.exprs.reachable(&[root]) {
        if let crate::ir::Expr::Var(var) = *m.exprs.get(id) {
            let e = match var {
                Var::Param(i) => match param_slots
                    .get(mi)
                    .and_then(|p| p.get(i as usize).copied().flatten())
                {
                    Some(slot) => exprs.var(Var::Slot(slot)),
                    None => exprs.lit(ins.params[i as usize]),
                },
                Var::State(i) => states[i as usize],
                Var::Ion(k, f) => {
                    let ion = &m.ions[k as usize];
                    match (ions.fields.get(&ion.name), f) {
                        (Some(x), IonField::E) => x.e,
                        (Some(x), IonField::Ci) => x.ci,
                        (Some(x), IonField::Co) => x.co,
                        (Some(x), IonField::I) => {
                            let scale = exprs.lit(ion.current_scale);
                            Builder::new(exprs).mul(scale, x.i)
                        }
                        (None, _) => exprs.lit(0.0),
                    }
                }
                Var::Builtin(Builtin::V) => v_expr,
                Var::Builtin(Builtin::Celsius) => exprs.lit(model.celsius),
                Var::Builtin(Builtin::Dt) => exprs.lit(model.dt),
                // Bound per compartment by `bind_geometry`.
                Var::Builtin(b @ (Builtin::T | Builtin::Diam | Builtin::Area)) => {
                    exprs.var(Var::Builtin(b))
                }
                Var::Slot(s) => exprs.var(Var::Slot(s)),
                Var::Arg(a) => exprs.var(Var::Arg(a)),
                Var::NetconArg(a) => exprs.var(Var::NetconArg(a)),
                Var::Draw(d) => exprs.var(Var::Draw(d)),
                Var::TableArg => exprs.var(Var::TableArg),
                // Only ARTIFICIAL_CELLs read a played Vector, and they are never on a cell.
                Var::VectorStart | Var::VectorLength => exprs.lit(f64::NAN),
            };
            repl.insert(var, e);
        }
    }
    crate::passes::symbolic::import(exprs, &m.exprs, root, &|var| repl[&var])
}

/// The compartment's diameter and area where a mechanism reads them (`Builtin::Diam`,
/// `Builtin::Area`): each becomes what `bind` gives for it (its slot, `diam` in µm or `area` in
/// µm², which the cable layouts fill per compartment; NaN where there is none, never 0).
/// `roots` are rewritten in place.
pub(crate) fn bind_geometry(
    exprs: &mut ExprArena,
    roots: &mut [&mut ExprId],
    bind: &mut dyn FnMut(&mut ExprArena, Builtin) -> ExprId,
) {
    let read: Vec<Builtin> = [Builtin::Diam, Builtin::Area]
        .into_iter()
        .filter(|&b| exprs.reads(Var::Builtin(b)))
        .collect();
    let bound: Vec<(Builtin, ExprId)> = read.into_iter().map(|b| (b, bind(exprs, b))).collect();
    if bound.is_empty() {
        return;
    }
    for root in roots.iter_mut() {
        **root = crate::passes::symbolic::substitute(exprs, **root, &|v| match v {
            Var::Builtin(b) => bound.iter().find(|x| x.0 == b).map(|x| x.1),
            _ => None,
        });
    }
}

/// The compartment slot that holds `b` (`Builtin::Diam` or `Builtin::Area`).
pub fn geometry_slot_name(b: Builtin) -> &'static str {
    match b {
        Builtin::Area => "area",
        _ => "diam",
    }
}

/// A point process's NET_RECEIVE as parallel assignments to the slots of its compartment
/// program: each state's value after an event, reading the slots before it, the weights
/// ([`Var::Arg`]) and `t` (the event's time). Parameters are folded, as in the program.
#[derive(Clone, Debug)]
pub struct ReceiveProgram {
    pub exprs: ExprArena,
    pub updates: Vec<(u32, ExprId)>,
    /// The weight arguments; `flag` is [`Var::Arg`]`(args)`.
    pub args: usize,
    /// NET_RECEIVE's `net_send(delay, flag)`s: self-events at the event's time plus `delay`,
    /// reading the slots before the event, as `updates` do.
    pub sends: Vec<crate::ir::SelfEvent>,
    /// INITIAL's `net_send`s, reading the slots after INITIAL (at t = 0).
    pub initial_sends: Vec<crate::ir::SelfEvent>,
    /// NET_RECEIVE's `net_event(t)`s: the conditions under which the event makes the cell spike.
    pub emits: Vec<ExprId>,
    /// NET_RECEIVE's `WATCH`es; each `value` reads the slots when it is checked.
    pub watches: Vec<crate::ir::Watch>,
    /// The weight arguments NET_RECEIVE changes, kept per connection (see
    /// [`crate::ir::NetReceive::arg_updates`]), and their values from NET_RECEIVE's INITIAL.
    pub arg_updates: Vec<(u32, ExprId)>,
    pub arg_init: Vec<(u32, ExprId)>,
    /// NET_RECEIVE's `FOR_NETCONS` loops (see [`crate::ir::ForNetcons`]).
    pub for_netcons: Vec<crate::ir::ForNetcons>,
    /// NET_RECEIVE's `net_move`s: the self-event it sent last moves to the event's time plus
    /// `delay`, keeping its flag (the `flag` field is unused).
    pub moves: Vec<crate::ir::SelfEvent>,
    /// What each [`Var::Draw`] draws (`scop_random`, `exprand`, RANDOM streams): fresh values
    /// for every event.
    pub draws: Vec<crate::ir::Draw>,
}

impl ReceiveProgram {
    /// Whether each connection to this point process keeps values of its own (see
    /// [`crate::ir::NetReceive::keeps_connection_values`]).
    pub fn keeps_connection_values(&self) -> bool {
        self.args > 1 || !self.arg_updates.is_empty() || !self.for_netcons.is_empty()
    }
}

/// [`ReceiveProgram`] of insert `mi` of `model` (a compartment's model, as
/// [`build_compartment`] takes it), for its compartment `program`; `None` without NET_RECEIVE.
pub fn build_receive(model: &Model, mi: usize, program: &CellProgram) -> Option<ReceiveProgram> {
    let ins = model.cell.inserts.get(mi)?;
    let m = &ins.mechanism;
    let receive = m.net_receive.as_ref()?;
    let mut exprs = ExprArena::new();
    let state_slots: Vec<u32> = (0..m.states.len())
        .map(|si| {
            let own = SlotKind::State {
                mech: mi as u32,
                state: si as u32,
            };
            program
                .slots
                .iter()
                .position(|s| s.kind == own)
                .unwrap_or(0) as u32
        })
        .collect();
    let mut states_of: Vec<Vec<ExprId>> = Vec::new();
    for (k, other) in model.cell.inserts.iter().enumerate() {
        states_of.push(if k == mi {
            state_slots
                .iter()
                .map(|&s| exprs.var(Var::Slot(s)))
                .collect()
        } else {
            vec![exprs.lit(0.0); other.mechanism.states.len()]
        });
    }
    let states = states_of[mi].clone();
    let v = exprs.var(Var::Slot(0));
    let sources = IonSource::collect(model);
    let ions = IonSource::env(&sources, &mut exprs, &states_of, model.celsius);
    // Parameters that are slots of the program (a value per cell, or along a section) are read
    // from them; the rest are folded, as in the program.
    let param_slots: Vec<Vec<Option<u32>>> = model
        .cell
        .inserts
        .iter()
        .enumerate()
        .map(|(k, ins)| {
            (0..ins.mechanism.params.len())
                .map(|pi| {
                    let per_cell = per_cell_slot_name(k, &ins.mechanism, pi);
                    let along = format!("{}.{}", ins.mechanism.name, ins.mechanism.params[pi].name);
                    let is_along = ins.along.iter().any(|a| a.0 == pi);
                    program
                        .slots
                        .iter()
                        .position(|s| s.name == per_cell || (is_along && s.name == along))
                        .map(|i| i as u32)
                })
                .collect()
        })
        .collect();
    let mut updates: Vec<(u32, ExprId)> = receive
        .updates
        .iter()
        .map(|&(st, e)| {
            let value = import_expr(&mut exprs, model, &param_slots, mi, e, &states, v, &ions);
            (state_slots[st as usize], value)
        })
        .collect();
    // Slot 0 is the node's V, which NEURON's NET_RECEIVE writes back.
    if let Some(e) = receive.v {
        let value = import_expr(&mut exprs, model, &param_slots, mi, e, &states, v, &ions);
        updates.push((0, value));
    }
    let mut send = |e: &crate::ir::SelfEvent| {
        let mut import =
            |root| import_expr(&mut exprs, model, &param_slots, mi, root, &states, v, &ions);
        crate::ir::SelfEvent {
            condition: import(e.condition),
            delay: import(e.delay),
            flag: import(e.flag),
        }
    };
    let mut sends: Vec<crate::ir::SelfEvent> = receive.sends.iter().map(&mut send).collect();
    let mut moves: Vec<crate::ir::SelfEvent> = receive.moves.iter().map(&mut send).collect();
    let mut initial_sends: Vec<crate::ir::SelfEvent> =
        m.initial_sends.iter().map(&mut send).collect();
    let mut import =
        |root| import_expr(&mut exprs, model, &param_slots, mi, root, &states, v, &ions);
    let mut emits: Vec<ExprId> = receive.emits.iter().map(|&e| import(e)).collect();
    let mut arg_updates: Vec<(u32, ExprId)> = receive
        .arg_updates
        .iter()
        .map(|&(k, e)| (k, import(e)))
        .collect();
    let mut arg_init: Vec<(u32, ExprId)> = receive
        .arg_init
        .iter()
        .map(|&(k, e)| (k, import(e)))
        .collect();
    let mut for_netcons: Vec<crate::ir::ForNetcons> = receive
        .for_netcons
        .iter()
        .map(|l| crate::ir::ForNetcons {
            condition: import(l.condition),
            updates: l.updates.iter().map(|&(k, e)| (k, import(e))).collect(),
        })
        .collect();
    let mut watches: Vec<crate::ir::Watch> = receive
        .watches
        .iter()
        .map(|w| crate::ir::Watch {
            condition: import(w.condition),
            value: import(w.value),
            value_now: import(w.value_now),
            flag: import(w.flag),
        })
        .collect();
    // NET_RECEIVE reads the compartment's diam and area from the program's slots.
    {
        let mut roots: Vec<&mut ExprId> = updates
            .iter_mut()
            .chain(arg_updates.iter_mut())
            .chain(arg_init.iter_mut())
            .map(|u| &mut u.1)
            .collect();
        for l in for_netcons.iter_mut() {
            roots.push(&mut l.condition);
            roots.extend(l.updates.iter_mut().map(|u| &mut u.1));
        }
        for e in sends
            .iter_mut()
            .chain(initial_sends.iter_mut())
            .chain(moves.iter_mut())
        {
            roots.extend([&mut e.condition, &mut e.delay, &mut e.flag]);
        }
        roots.extend(emits.iter_mut());
        for w in watches.iter_mut() {
            roots.extend([
                &mut w.condition,
                &mut w.value,
                &mut w.value_now,
                &mut w.flag,
            ]);
        }
        // The program's slot, or NaN where its mechanisms do not read it.
        bind_geometry(&mut exprs, &mut roots, &mut |exprs, b| {
            let name = geometry_slot_name(b);
            match program.slots.iter().position(|s| s.name == name) {
                Some(k) => exprs.var(Var::Slot(k as u32)),
                None => exprs.lit(f64::NAN),
            }
        });
    }
    Some(ReceiveProgram {
        exprs,
        updates,
        args: receive.args.len(),
        sends,
        initial_sends,
        emits,
        watches,
        arg_updates,
        arg_init,
        for_netcons,
        moves,
        draws: m.draws.clone(),
    })
}

/// An ARTIFICIAL_CELL's blocks with its parameter values folded in: what the network engine
/// evaluates at initialisation and at each event. States are [`Var::State`], the event's weight
/// and flag [`Var::Arg`], its time `t`, and random draws [`Var::Draw`].
#[derive(Clone, Debug)]
pub struct ArtificialProgram {
    pub name: String,
    pub exprs: ExprArena,
    /// Initial value of each state.
    pub init: Vec<ExprId>,
    pub initial_sends: Vec<crate::ir::SelfEvent>,
    /// NET_RECEIVE's state updates, self-events and spike conditions; `flag` is argument
    /// `args`.
    pub updates: Vec<(u32, ExprId)>,
    pub sends: Vec<crate::ir::SelfEvent>,
    pub emits: Vec<ExprId>,
    /// `net_move`s: the outstanding self-event moves to `t + delay`.
    pub moves: Vec<crate::ir::SelfEvent>,
    pub args: usize,
    /// The arguments NET_RECEIVE changes, kept per connection, their values from NET_RECEIVE's
    /// INITIAL, and its `FOR_NETCONS` loops (as in [`ReceiveProgram`]).
    pub arg_updates: Vec<(u32, ExprId)>,
    pub arg_init: Vec<(u32, ExprId)>,
    pub for_netcons: Vec<crate::ir::ForNetcons>,
    /// The states NET_RECEIVE's own INITIAL sets (a weight adjuster's, once per instance).
    pub state_init: Vec<(u32, ExprId)>,
    pub draws: Vec<crate::ir::Draw>,
    pub states: usize,
}

impl ArtificialProgram {
    /// Whether each connection to a cell keeps values of its own (see
    /// [`crate::ir::NetReceive::keeps_connection_values`]).
    pub fn keeps_connection_values(&self) -> bool {
        self.args > 1 || !self.arg_updates.is_empty() || !self.for_netcons.is_empty()
    }
}

/// [`ArtificialProgram`] of `insert`'s mechanism at `celsius` and `dt`.
pub fn build_artificial(
    insert: &crate::sema::model::Insert,
    celsius: f64,
    dt: f64,
) -> ArtificialProgram {
    let m = &insert.mechanism;
    let receive = m.net_receive.as_ref();
    let mut roots: Vec<ExprId> = m.init.clone();
    for e in &m.initial_sends {
        roots.extend([e.condition, e.delay, e.flag]);
    }
    if let Some(r) = receive {
        roots.extend(r.updates.iter().map(|u| u.1));
        for e in r.sends.iter().chain(&r.moves) {
            roots.extend([e.condition, e.delay, e.flag]);
        }
        roots.extend(&r.emits);
        roots.extend(r.arg_updates.iter().chain(&r.arg_init).map(|u| u.1));
        roots.extend(r.state_init.iter().map(|u| u.1));
        for l in &r.for_netcons {
            roots.push(l.condition);
            roots.extend(l.updates.iter().map(|u| u.1));
        }
    }
    let mut exprs = ExprArena::new();
    let mut repl: std::collections::HashMap<Var, ExprId> = std::collections::HashMap::new();
    for id in m.exprs.reachable(&roots) {
        if let crate::ir::Expr::Var(var) = *m.exprs.get(id) {
            let e = match var {
                Var::Param(i) => exprs.lit(insert.params[i as usize]),
                Var::Builtin(Builtin::Celsius) => exprs.lit(celsius),
                Var::Builtin(Builtin::Dt) => exprs.lit(dt),
                // No membrane: v and the ions read 0.
                Var::Builtin(Builtin::V) | Var::Ion(..) => exprs.lit(0.0),
                other => exprs.var(other),
            };
            repl.insert(var, e);
        }
    }
    let mut import =
        |root: ExprId| crate::passes::symbolic::import(&mut exprs, &m.exprs, root, &|v| repl[&v]);
    let mut send = |e: &crate::ir::SelfEvent| crate::ir::SelfEvent {
        condition: import(e.condition),
        delay: import(e.delay),
        flag: import(e.flag),
    };
    let initial_sends = m.initial_sends.iter().map(&mut send).collect();
    let (sends, moves, emits, args) = match receive {
        Some(r) => (
            r.sends.iter().map(&mut send).collect(),
            r.moves.iter().map(&mut send).collect(),
            r.emits.clone(),
            r.args.len(),
        ),
        None => (Vec::new(), Vec::new(), Vec::new(), 0),
    };
    let emits = emits.into_iter().map(&mut import).collect();
    let updates = receive
        .map(|r| r.updates.iter().map(|&(s, e)| (s, import(e))).collect())
        .unwrap_or_default();
    let mut arguments = |list: &[(u32, ExprId)]| -> Vec<(u32, ExprId)> {
        list.iter().map(|&(k, e)| (k, import(e))).collect()
    };
    let (arg_updates, arg_init, state_init) = receive
        .map(|r| {
            (
                arguments(&r.arg_updates),
                arguments(&r.arg_init),
                arguments(&r.state_init),
            )
        })
        .unwrap_or_default();
    let for_netcons = receive
        .map(|r| {
            r.for_netcons
                .iter()
                .map(|l| crate::ir::ForNetcons {
                    condition: import(l.condition),
                    updates: l.updates.iter().map(|&(k, e)| (k, import(e))).collect(),
                })
                .collect()
        })
        .unwrap_or_default();
    // INITIAL, with a value from the model file where it gives one.
    let imported: Vec<ExprId> = m.init.iter().map(|&e| import(e)).collect();
    let init = imported
        .into_iter()
        .zip(&insert.state_init)
        .map(|(e, given)| given.map_or(e, |x| exprs.lit(x)))
        .collect();
    ArtificialProgram {
        name: m.name.clone(),
        exprs,
        init,
        initial_sends,
        updates,
        sends,
        emits,
        moves,
        args,
        arg_updates,
        arg_init,
        for_netcons,
        state_init,
        draws: m.draws.clone(),
        states: m.states.len(),
    }
}

/// A cell holding only `m`, with its defaults, for emitting one mechanism's kernel
/// (`hhc compile X.chan --emit clif|ptx`). Ions get e = 0 mV.
pub fn single_mechanism_program(m: &crate::ir::Mechanism) -> CellProgram {
    use crate::sema::model::{CellSpec, Insert, IonSpec};
    let cell = CellSpec {
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
            regions: vec![],
            mechanism: m.clone(),
            params: m.params.iter().map(|p| p.default).collect(),
            state_init: vec![None; m.states.len()],
            along: vec![],
            per_cell: vec![],
            vector: None,
        }],
        ..CellSpec::empty(&m.name)
    };
    let model = Model {
        cell,
        count: 1,
        dt: 0.025,
        tstop: 1.0,
        celsius: 36.0,
        stimuli: vec![],
        method: Default::default(),
        probes: vec![],
        detector: None,
        cable_theta: 1.0,
        record_states: Vec::new(),
        record: vec![0],
        network: None,
        block: None,
        warnings: String::new(),
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
