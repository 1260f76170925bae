//! The stepping loop, written once for every backend.

use crate::backend::{Backend, BackendError, Population, Slots};
use hhc_compiler::backend::MAX_STEPS_PER_CALL;
use hhc_compiler::ir::{interp, CellProgram, SlotKind, Var};
use hhc_compiler::passes::mathlib::Precision;
use hhc_compiler::sema::model::{Model, Stimulus};

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
    pub progress: bool,
    /// Steps per kernel call, 1 to 64 (64: the fused multi-step kernel).
    pub steps_per_call: u64,
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
    },
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Backend(e) => write!(f, "backend error: {}", e.0),
            RunError::BlowUp { cell, step, t, v, place, mechanism } => write!(
                f,
                "numerical blow-up in cell {cell} at step {step} (t = {t:.4} ms): V = {v} mV{}; the largest contribution comes from mechanism `{mechanism}`\n  hint: reduce dt, or check the mechanism's rates and units",
                place.as_ref().map_or(String::new(), |p| format!(" at {p}"))
            ),
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
    for (k, slot) in program.slots.iter().enumerate() {
        if let SlotKind::PerCell { .. } = slot.kind {
            let (from, to) = model.stimuli.iter().find_map(|s| match *s {
                Stimulus::Sweep { from, to } => Some((from, to)),
                _ => None,
            })?;
            let n = pop.n;
            let values: Vec<f64> = (0..n)
                .map(|i| {
                    if n > 1 {
                        from + (to - from) * i as f64 / (n - 1) as f64
                    } else {
                        from
                    }
                })
                .collect();
            for (i, x) in values.iter().enumerate() {
                pop.slots.set(k, i, *x);
            }
            swept = Some(values);
        }
    }
    swept
}

pub fn run(
    program: &CellProgram,
    model: &Model,
    backend: &mut dyn Backend,
    opts: &RunOptions,
) -> Result<RunResult, RunError> {
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
    let bar = progress_bar(opts);
    let mut done = 0u64;
    while done < opts.steps {
        let k = (opts.steps - done).min(opts.steps_per_call.clamp(1, MAX_STEPS_PER_CALL));
        let t0 = done as f64 * program.dt;
        // Recorded cells: one step per call, V read after each.
        let mut words: Vec<(usize, u64)> = Vec::new();
        let mut first_bad: Option<(usize, u64)> = None;
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
                    .map_err(RunError::Backend)?;
                backend
                    .read_cells(&mut pop, &record, record_slots)
                    .map_err(RunError::Backend)?;
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
                .map_err(RunError::Backend)?;
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
                .map_err(RunError::Backend)?;
            return Err(RunError::BlowUp {
                cell,
                step,
                t: (step + 1) as f64 * program.dt,
                v: pop.slots.get(0, cell),
                place: program.slots[0].name.strip_prefix("v ").map(str::to_owned),
                mechanism: culprit(program, &pop, cell),
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
        if let Some(b) = &bar {
            b.set_position(done);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    spikes.sort_unstable_by_key(|&(c, s)| (s, c));
    Ok(RunResult {
        traces,
        spikes,
        spike_counts: counts,
        total_spikes: total,
        stimulus_per_cell,
    })
}

fn progress_bar(opts: &RunOptions) -> Option<indicatif::ProgressBar> {
    // About 1e8 compartment-steps take a second or more.
    if !opts.progress || (opts.n as f64) * (opts.steps as f64) < 1e8 {
        return None;
    }
    let bar = indicatif::ProgressBar::new(opts.steps);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} steps ({eta} left)",
    ) {
        bar.set_style(style);
    }
    Some(bar)
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
        .max_by(|a, b| {
            let key = |x: f64| {
                if x.is_finite() {
                    x.abs()
                } else {
                    f64::INFINITY
                }
            };
            key(a.1).total_cmp(&key(b.1))
        })
        .map_or("?".into(), |(n, _)| n.clone())
}
