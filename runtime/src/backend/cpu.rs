//! The CPU backend: the Cranelift kernel, run over chunks of cells by rayon.

use super::{Backend, BackendError, Population, Slots, StepReport};
use hhc_compiler::backend::jit::CompiledStep;
use hhc_compiler::passes::mathlib::Precision;
use rayon::prelude::*;

pub struct Cpu {
    kernel: CompiledStep,
    spikes: Vec<u64>,
    bad: Vec<i32>,
    pool: rayon::ThreadPool,
    threads: usize,
}

/// About this many cells per rayon task: small enough to balance, large enough to amortise
/// dispatch. The task size is a whole number of the kernel's blocks (see [`Cpu::chunk`]).
const CHUNK: usize = 512;

/// Calls with fewer cell-steps than this run on the calling thread: dispatching them to the pool
/// would cost more than it saves.
const SERIAL_WORK: usize = 8 * CHUNK;

impl Cpu {
    /// Cells per task: the most whole kernel blocks within [`CHUNK`] (at least one block).
    fn chunk(&self) -> usize {
        let block = self.kernel.block_cells().max(1);
        (CHUNK / block).max(1) * block
    }

    pub fn new(kernel: CompiledStep, threads: usize) -> Result<Self, BackendError> {
        let threads = threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .stack_size(super::KERNEL_STACK)
            .build()
            .map_err(|e| BackendError(e.to_string()))?;
        Ok(Cpu {
            kernel,
            pool,
            threads,
            spikes: Vec::new(),
            bad: Vec::new(),
        })
    }
}

/// Raw array bases shared by the tasks of one call; each task touches only its own cells.
#[derive(Clone, Copy)]
struct Bases {
    slots: *const *mut u8,
    spikes: *mut u64,
    bad: *mut i32,
}
// SAFETY: tasks write disjoint cell ranges of these arrays, and the call outlives the tasks.
unsafe impl Send for Bases {}
unsafe impl Sync for Bases {}

impl Backend for Cpu {
    fn describe(&self) -> String {
        let p = match self.kernel.precision() {
            Precision::F64 => "f64",
            Precision::F32 => "f32",
        };
        format!(
            "cpu (cranelift, {p}, {} thread{})",
            self.threads,
            if self.threads == 1 { "" } else { "s" }
        )
    }

    fn step(
        &mut self,
        pop: &mut Population,
        ranges: &[(usize, usize)],
        t0: f64,
        nsteps: u64,
    ) -> Result<StepReport, BackendError> {
        if self.spikes.len() != pop.n {
            self.spikes = vec![0; pop.n];
            self.bad = vec![-1; pop.n];
        }
        let mut pointers: Vec<*mut u8> = match &mut pop.slots {
            Slots::F64(s) => s.iter_mut().map(|a| a.as_mut_ptr().cast()).collect(),
            Slots::F32(s) => s.iter_mut().map(|a| a.as_mut_ptr().cast()).collect(),
        };
        let bases = Bases {
            slots: pointers.as_mut_ptr().cast_const(),
            spikes: self.spikes.as_mut_ptr(),
            bad: self.bad.as_mut_ptr(),
        };
        let chunk = self.chunk();
        let chunks: Vec<(usize, usize)> = ranges
            .iter()
            .flat_map(|&(lo, hi)| {
                (lo..hi)
                    .step_by(chunk)
                    .map(move |a| (a, (a + chunk).min(hi)))
            })
            .collect();
        let kernel = &self.kernel;
        let run = |&(lo, hi): &(usize, usize)| {
            let b = bases;
            // SAFETY: `pointers` holds one live array of `pop.n` elements per slot; the chunks are
            // disjoint and within `pop.n`; `nsteps ≤ 64` by the loop's contract.
            unsafe { kernel.call(b.slots, lo as u64, hi as u64, t0, nsteps, b.spikes, b.bad) }
        };
        // Waking the pool costs tens of microseconds: a call with little work (a recorded cell's
        // single step) runs on the calling thread.
        let work: usize = ranges.iter().map(|&(lo, hi)| hi - lo).sum::<usize>() * nsteps as usize;
        if self.threads == 1 || chunks.len() == 1 || work < SERIAL_WORK {
            chunks.iter().for_each(run);
        } else {
            self.pool.install(|| chunks.par_iter().for_each(run));
        }
        drop(pointers);
        let mut report = StepReport::default();
        for &(lo, hi) in ranges {
            for c in lo..hi {
                if self.spikes[c] != 0 {
                    report.words.push((c, self.spikes[c]));
                }
                let b = self.bad[c];
                if b >= 0
                    && report
                        .first_bad
                        .is_none_or(|(fc, fb)| (b as u32, c) < (fb, fc))
                {
                    report.first_bad = Some((c, b as u32));
                }
            }
        }
        Ok(report)
    }
}
