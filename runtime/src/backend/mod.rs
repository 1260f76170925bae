//! Where kernels run. The stepping loop is written once against [`Backend`].

pub mod cpu;
pub mod gpu;

use hhc_compiler::passes::mathlib::Precision;

/// Per-cell state of a population: one array per program slot, in the kernel's float type.
pub enum Slots {
    F64(Vec<Vec<f64>>),
    F32(Vec<Vec<f32>>),
}

impl Slots {
    pub fn new(precision: Precision, slot_count: usize, n: usize) -> Self {
        match precision {
            Precision::F64 => Slots::F64(vec![vec![0.0; n]; slot_count]),
            Precision::F32 => Slots::F32(vec![vec![0.0; n]; slot_count]),
        }
    }
    pub fn get(&self, slot: usize, cell: usize) -> f64 {
        match self {
            Slots::F64(s) => s[slot][cell],
            Slots::F32(s) => f64::from(s[slot][cell]),
        }
    }
    pub fn set(&mut self, slot: usize, cell: usize, x: f64) {
        match self {
            Slots::F64(s) => s[slot][cell] = x,
            Slots::F32(s) => s[slot][cell] = x as f32,
        }
    }
    pub fn fill(&mut self, slot: usize, x: f64) {
        match self {
            Slots::F64(s) => s[slot].fill(x),
            Slots::F32(s) => s[slot].fill(x as f32),
        }
    }
}

/// The population the loop advances, and what the kernels report back.
pub struct Population {
    pub n: usize,
    pub slots: Slots,
    /// Bit j: the cell spiked in step j of the last call.
    pub spikes: Vec<u64>,
    /// First step of the last call with a bad V, or -1.
    pub bad: Vec<i32>,
}

#[derive(Debug)]
pub struct BackendError(pub String);

pub trait Backend {
    /// A short description for the summary, e.g. "cpu (cranelift, f64, 2 threads)".
    fn describe(&self) -> String;
    /// Advances cells in `ranges` by `nsteps ≤ 64` steps from time `t0`, writing their spike
    /// words and bad-step markers into `pop`.
    fn step(&mut self, pop: &mut Population, ranges: &[(usize, usize)], t0: f64, nsteps: u64) -> Result<(), BackendError>;
    /// Makes `pop` current after `step` (a GPU copies back here). The CPU has nothing to do.
    fn sync(&mut self, _pop: &mut Population) -> Result<(), BackendError> {
        Ok(())
    }
}
