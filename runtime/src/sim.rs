//! The stepping loop, written once for every backend.

use crate::backend::{Backend, BackendError, Population, Slots};
use hhc_compiler::backend::MAX_STEPS_PER_CALL;
use hhc_compiler::ir::{interp, CellProgram, SlotKind, Var};
use hhc_compiler::passes::mathlib::Precision;
use hhc_compiler::sema::model::{Model, Stimulus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub struct RunOptions {
    pub n: usize,
    pub steps: u64,
    pub precision: Precision,
    /// Cells whose V is recorded every step.
    pub record: Vec<usize>,
    /// The slots recorded for each of those cells: `[0]` (V) for a point cell, V at every probe
    /// for a whole multi-compartment cell.
    pub record_slots: Vec<usize>,
    /// Keep every spike (cell, step); otherwise only counts.
    pub keep_spikes: bool,
    /// Told how far the run is as it advances.
    pub progress: Option<ProgressFn>,
    /// Steps per kernel call, 1 to 64 (64: the fused multi-step kernel).
    pub steps_per_call: u64,
    /// Set (by a Ctrl-C handler, say) to stop the run between kernel calls; the run then
    /// returns what it computed so far.
    pub interrupt: Option<Arc<AtomicBool>>,
}

pub struct RunResult {
    /// `traces[r·m + p][k]`: recorded slot p (of m) of recorded cell r after k steps (k = 0 is
    /// the initial state).
    pub traces: Vec<Vec<f64>>,
    pub spikes: Vec<(usize, u64)>,
    pub spike_counts: Vec<u32>,
    pub total_spikes: u64,
    /// Per-cell swept stimulus, when the model sweeps one.
    pub stimulus_per_cell: Option<Vec<f64>>,
    /// Steps taken: `RunOptions::steps` for a run that reached tstop, fewer for the partial
    /// result of a run that stopped.
    pub steps_done: u64,
}

/// A run that stopped before tstop: why, and what it had computed by then (`None` when it
/// stopped before the first step).
#[derive(Debug)]
pub struct Stopped<R> {
    pub error: RunError,
    pub partial: Option<Box<R>>,
}

impl<R> From<RunError> for Stopped<R> {
    fn from(error: RunError) -> Self {
        Stopped {
            error,
            partial: None,
        }
    }
}

impl<R> std::fmt::Display for Stopped<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

/// Called as a run advances with (steps done, steps in all); a front draws a bar from it.
pub type ProgressFn = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// Tells `progress`, if any, that `done` of `total` steps are taken.
pub fn report(progress: Option<&ProgressFn>, done: u64, total: u64) {
    if let Some(p) = progress {
        p(done, total);
    }
}

/// Whether `flag` has been raised.
pub fn is_raised(flag: Option<&Arc<AtomicBool>>) -> bool {
    flag.is_some_and(|f| f.load(Ordering::Relaxed))
}

#[derive(Debug)]
pub enum RunError {
    Backend(BackendError),
    BlowUp {
        cell: usize,
        step: u64,
        t: f64,
        v: f64,
        /// Where on a multi-compartment cell V was watched (`soma(0.5)`), if anywhere.
        place: Option<String>,
        mechanism: String,
        /// Whether `mechanism`'s current was seen to diverge before any other (and before V);
        /// otherwise it is only the largest current once everything had run away.
        diverged_first: bool,
    },
    /// The interrupt flag was raised (Ctrl-C) after `steps` steps.
    Interrupted {
        steps: u64,
        t: f64,
    },
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Backend(e) => write!(f, "backend error: {}", e.0),
            RunError::BlowUp {
                cell,
                step,
                t,
                v,
                place,
                mechanism,
                diverged_first,
            } => {
                let place = place.as_ref().map_or(String::new(), |p| format!(" at {p}"));
                write!(f, "numerical blow-up in cell {cell} at step {step} (t = {t:.4} ms): V = {v} mV{place}; ")?;
                if *diverged_first {
                    write!(f, "mechanism `{mechanism}`'s current diverged first\n  hint: check `{mechanism}`'s parameters (a negative conductance?), rates and units, or reduce dt")
                } else {
                    write!(f, "V ran away before any mechanism's current did, and the largest contribution is now mechanism `{mechanism}`'s\n  hint: check the stimulus and the mechanisms' rates and units, or reduce dt")
                }
            }
            RunError::Interrupted { steps, t } => {
                write!(f, "interrupted after {steps} steps (t = {t} ms)")
            }
        }
    }
}

/// Sets every slot to its initial value (the same for every cell but per-cell inputs).
pub fn initialise(program: &CellProgram, model: &Model, pop: &mut Population) -> Option<Vec<f64>> {
    for (slot, e) in &program.init {
        let x = interp::eval(&program.exprs, &[*e], &|_| f64::NAN)[0];
        pop.slots.fill(*slot as usize, x);
    }
    let mut swept = None;
    let n = pop.n;
    for (k, source) in per_cell_sources(program, model).into_iter().enumerate() {
        match source {
            Some(PerCell::Sweep { from, to }) => {
                // A block of a larger population takes its cells' share of the whole sweep.
                let (first, total) = model
                    .block
                    .map_or((0, n), |(f, t)| (f as usize, t as usize));
                let values: Vec<f64> = (0..n)
                    .map(|i| sweep_value(from, to, first + i, total))
                    .collect();
                for (i, x) in values.iter().enumerate() {
                    pop.slots.set(k, i, *x);
                }
                swept = Some(values);
            }
            Some(PerCell::Values(values)) => {
                for (i, x) in values.iter().take(n).enumerate() {
                    pop.slots.set(k, i, *x);
                }
            }
            None => {}
        }
    }
    swept
}

/// Where a per-cell slot's values come from.
#[derive(Clone, Copy)]
enum PerCell<'m> {
    /// The swept stimulus: cell i of n gets its share of `from..to`.
    Sweep { from: f64, to: f64 },
    /// A parameter with a value per cell (the insert's `per_cell` table).
    Values(&'m [f64]),
}

/// For each slot of `program`, where its per-cell values come from (`None` for other slots).
fn per_cell_sources<'m>(program: &CellProgram, model: &'m Model) -> Vec<Option<PerCell<'m>>> {
    let sweep = model.stimuli.iter().find_map(|s| match *s {
        Stimulus::Sweep { from, to } => Some(PerCell::Sweep { from, to }),
        _ => None,
    });
    let mut tables = std::collections::HashMap::new();
    for (mi, ins) in model.cell.inserts.iter().enumerate() {
        for (pi, values) in &ins.per_cell {
            let name = hhc_compiler::cell::per_cell_slot_name(mi, &ins.mechanism, *pi);
            tables.insert(name, PerCell::Values(values.as_slice()));
        }
    }
    program
        .slots
        .iter()
        .map(|slot| match &slot.kind {
            SlotKind::PerCell { name } => tables.get(name).copied().or(sweep),
            _ => None,
        })
        .collect()
}

pub fn run(
    program: &CellProgram,
    model: &Model,
    backend: &mut dyn Backend,
    opts: &RunOptions,
) -> Result<RunResult, Stopped<RunResult>> {
    let n = opts.n;
    let mut pop = Population {
        n,
        slots: Slots::new(opts.precision, program.slots.len(), n),
    };
    let stimulus_per_cell = initialise(program, model, &mut pop);
    backend.upload(&pop).map_err(RunError::Backend)?;
    let mut record: Vec<usize> = opts.record.iter().copied().filter(|&c| c < n).collect();
    record.sort_unstable();
    record.dedup();
    let record_slots = &opts.record_slots;
    let mut traces: Vec<Vec<f64>> = record
        .iter()
        .flat_map(|&c| record_slots.iter().map(move |&s| (c, s)))
        .map(|(c, s)| vec![pop.slots.get(s, c)])
        .collect();
    for t in &mut traces {
        t.reserve(opts.steps as usize);
    }
    // The unrecorded cells, as ranges between recorded ones.
    let mut bulk = Vec::new();
    let mut start = 0;
    for &c in &record {
        if c > start {
            bulk.push((start, c));
        }
        start = c + 1;
    }
    if start < n {
        bulk.push((start, n));
    }
    let mut spikes = Vec::new();
    let mut counts = vec![0u32; n];
    let mut total = 0u64;
    let mut done = 0u64;
    // What was computed by `done` steps, for a run that stops early.
    let partial = |traces: &[Vec<f64>], spikes: &[(usize, u64)], counts: &[u32], done: u64| {
        let mut spikes = spikes.to_vec();
        spikes.sort_unstable_by_key(|&(c, s)| (s, c));
        RunResult {
            traces: traces
                .iter()
                .map(|t| t[..=(done as usize).min(t.len() - 1)].to_vec())
                .collect(),
            total_spikes: spikes.len() as u64,
            spikes,
            spike_counts: counts.to_vec(),
            stimulus_per_cell: stimulus_per_cell.clone(),
            steps_done: done,
        }
    };
    while done < opts.steps {
        if is_raised(opts.interrupt.as_ref()) {
            return Err(Stopped {
                error: RunError::Interrupted {
                    steps: done,
                    t: done as f64 * program.dt,
                },
                partial: Some(Box::new(partial(&traces, &spikes, &counts, done))),
            });
        }
        let k = (opts.steps - done).min(opts.steps_per_call.clamp(1, MAX_STEPS_PER_CALL));
        let t0 = done as f64 * program.dt;
        // Recorded cells: one step per call, V read after each.
        let mut words: Vec<(usize, u64)> = Vec::new();
        let mut first_bad: Option<(usize, u64)> = None;
        let stop = |error: RunError, traces: &[Vec<f64>], spikes: &[(usize, u64)]| Stopped {
            error,
            partial: Some(Box::new(partial(traces, spikes, &counts, done))),
        };
        let note_bad = |fb: &mut Option<(usize, u64)>, c: usize, j: u64| {
            if fb.is_none_or(|(fc, fj)| (j, c) < (fj, fc)) {
                *fb = Some((c, j));
            }
        };
        if !record.is_empty() {
            let ranges: Vec<(usize, usize)> = record.iter().map(|&c| (c, c + 1)).collect();
            let mut recorded_words = vec![0u64; record.len()];
            for j in 0..k {
                let rep = backend
                    .step(&mut pop, &ranges, t0 + j as f64 * program.dt, 1)
                    .map_err(|e| stop(RunError::Backend(e), &traces, &spikes))?;
                backend
                    .read_cells(&mut pop, &record, record_slots)
                    .map_err(|e| stop(RunError::Backend(e), &traces, &spikes))?;
                for (r, &c) in record.iter().enumerate() {
                    for (p, &s) in record_slots.iter().enumerate() {
                        traces[r * record_slots.len() + p].push(pop.slots.get(s, c));
                    }
                    if rep.words.iter().any(|&(wc, w)| wc == c && w & 1 == 1) {
                        recorded_words[r] |= 1 << j;
                    }
                }
                if let Some((c, _)) = rep.first_bad {
                    note_bad(&mut first_bad, c, j);
                }
            }
            words.extend(
                record
                    .iter()
                    .zip(&recorded_words)
                    .filter(|(_, w)| **w != 0)
                    .map(|(&c, &w)| (c, w)),
            );
        }
        if !bulk.is_empty() {
            let rep = backend
                .step(&mut pop, &bulk, t0, k)
                .map_err(|e| stop(RunError::Backend(e), &traces, &spikes))?;
            words.extend(rep.words);
            if let Some((c, j)) = rep.first_bad {
                note_bad(&mut first_bad, c, u64::from(j));
            }
        }
        if let Some((cell, j)) = first_bad {
            let step = done + j;
            let all: Vec<usize> = (0..n).collect();
            let every_slot: Vec<usize> = (0..program.slots.len()).collect();
            backend
                .read_cells(&mut pop, &all, &every_slot)
                .map_err(|e| stop(RunError::Backend(e), &traces, &spikes))?;
            let start = initial_values(program, model, n, cell);
            let first = first_to_diverge(program, start, step);
            let diverged_first = first.is_some();
            let mechanism = first.unwrap_or_else(|| culprit(program, &pop, cell));
            let error = RunError::BlowUp {
                cell,
                step,
                t: (step + 1) as f64 * program.dt,
                v: pop.slots.get(0, cell),
                place: program.slots[0].name.strip_prefix("v ").map(str::to_owned),
                mechanism,
                diverged_first,
            };
            // The partial result ends with the last good step: every cell's spikes and the
            // recorded traces up to it.
            let mut spikes_before = spikes.clone();
            let mut counts_before = counts.clone();
            for &(c, w) in &words {
                let mut w = w & ((1u64 << j) - 1);
                while w != 0 {
                    spikes_before.push((c, done + u64::from(w.trailing_zeros())));
                    counts_before[c] += 1;
                    w &= w - 1;
                }
            }
            return Err(Stopped {
                error,
                partial: Some(Box::new(partial(
                    &traces,
                    &spikes_before,
                    &counts_before,
                    step,
                ))),
            });
        }
        for (c, word) in words {
            let mut w = word;
            while w != 0 {
                let j = u64::from(w.trailing_zeros());
                w &= w - 1;
                total += 1;
                counts[c] += 1;
                if opts.keep_spikes {
                    spikes.push((c, done + j));
                }
            }
        }
        done += k;
        report(opts.progress.as_ref(), done, opts.steps);
    }
    spikes.sort_unstable_by_key(|&(c, s)| (s, c));
    Ok(RunResult {
        traces,
        spikes,
        spike_counts: counts,
        total_spikes: total,
        stimulus_per_cell,
        steps_done: opts.steps,
    })
}

/// Every slot's initial value for one cell of `n`, as [`initialise`] sets it.
fn initial_values(program: &CellProgram, model: &Model, n: usize, cell: usize) -> Vec<f64> {
    let mut pop = Population {
        n: 1,
        slots: Slots::new(Precision::F64, program.slots.len(), 1),
    };
    initialise(program, model, &mut pop);
    per_cell_sources(program, model)
        .into_iter()
        .enumerate()
        .map(|(k, source)| match source {
            Some(PerCell::Sweep { from, to }) => sweep_value(from, to, cell, n),
            Some(PerCell::Values(values)) => values.get(cell).copied().unwrap_or(f64::NAN),
            None => pop.slots.get(k, 0),
        })
        .collect()
}

/// Cell `i` of `n`'s share of a swept stimulus.
fn sweep_value(from: f64, to: f64, i: usize, n: usize) -> f64 {
    if n > 1 {
        from + (to - from) * i as f64 / (n - 1) as f64
    } else {
        from
    }
}

/// |x|, and infinity for a NaN: the size of a current when ranking which one ran away.
fn magnitude(x: f64) -> f64 {
    if x.is_finite() {
        x.abs()
    } else {
        f64::INFINITY
    }
}

/// A current density no membrane carries: a mechanism past it has diverged (µA/cm²).
const DIVERGED_CURRENT: f64 = 1e5;

/// Steps one cell again from its initial values, in the interpreter, up to the step that blew
/// up, and names the first mechanism whose current went non-finite or past
/// [`DIVERGED_CURRENT`]: the cause, where the currents at the end of the run show only which
/// mechanism is largest once everything has run away. `None` when the replay is too long to be
/// worth it, or when no current diverged before V did.
fn first_to_diverge(program: &CellProgram, mut slots: Vec<f64>, last_step: u64) -> Option<String> {
    const MAX_REPLAY_STEPS: u64 = 2_000_000;
    if last_step > MAX_REPLAY_STEPS || program.mechanism_currents.is_empty() {
        return None;
    }
    let roots: Vec<_> = program.mechanism_currents.iter().map(|(_, e)| *e).collect();
    for k in 0..=last_step {
        let currents = interp::eval(&program.exprs, &roots, &|v| match v {
            Var::Slot(s) => slots[s as usize],
            _ => 0.0,
        });
        let diverged = program
            .mechanism_currents
            .iter()
            .zip(&currents)
            .filter(|(_, i)| magnitude(**i) > DIVERGED_CURRENT)
            .max_by(|a, b| magnitude(*a.1).total_cmp(&magnitude(*b.1)));
        if let Some(((name, _), _)) = diverged {
            return Some(name.clone());
        }
        let v = slots[0];
        if !v.is_finite() || v.abs() > hhc_compiler::backend::RUNAWAY_MV {
            return None;
        }
        interp::run_cell(program, &mut slots, k as f64 * program.dt, 1);
    }
    None
}

/// The mechanism to blame: one whose state went non-finite, else the largest current.
fn culprit(program: &CellProgram, pop: &Population, cell: usize) -> String {
    for (k, slot) in program.slots.iter().enumerate() {
        if let SlotKind::State { mech, .. } = slot.kind {
            if !pop.slots.get(k, cell).is_finite() {
                return program
                    .mechanism_currents
                    .get(mech as usize)
                    .map_or("?".into(), |(n, _)| n.clone());
            }
        }
    }
    // With V already non-finite every current is NaN; rank them at the initial V instead, which
    // still shows the mechanism whose state has run away.
    let v_now = pop.slots.get(0, cell);
    let v_ref = if v_now.is_finite() {
        v_now
    } else {
        program
            .init
            .iter()
            .find(|(s, _)| *s == 0)
            .map_or(-65.0, |(_, e)| {
                interp::eval(&program.exprs, &[*e], &|_| f64::NAN)[0]
            })
    };
    let read = |v: Var| match v {
        Var::Slot(0) => v_ref,
        Var::Slot(s) => pop.slots.get(s as usize, cell),
        _ => 0.0,
    };
    program
        .mechanism_currents
        .iter()
        .map(|(name, e)| (name, interp::eval(&program.exprs, &[*e], &read)[0]))
        .max_by(|a, b| magnitude(a.1).total_cmp(&magnitude(b.1)))
        .map_or("?".into(), |(n, _)| n.clone())
}
