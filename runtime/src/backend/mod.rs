//! Where kernels run. The stepping loop is written once against [`Backend`].

pub mod cpu;
pub mod gpu;

use hhc_compiler::passes::mathlib::Precision;

/// The stack of a thread that runs kernels. A cell's fused step keeps its intermediate values
/// in its frame, and a large kinetic scheme needs megabytes of it (the DBBS collection's
/// cdp5CAM.mod, a calcium buffer unrolled into Newton steps: 3.3 MB), where rayon's default
/// thread stack is 2 MB. Reserved, not committed: only what a kernel touches is backed.
pub const KERNEL_STACK: usize = 256 << 20;

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
}

/// What one `step` call produced: the non-zero spike words (bit j: a spike in step j of the
/// call) and the first cell to go bad, with its step within the call.
#[derive(Debug, Default)]
pub struct StepReport {
    pub words: Vec<(usize, u64)>,
    pub first_bad: Option<(usize, u32)>,
}

#[derive(Debug)]
pub struct BackendError(pub String);

pub trait Backend {
    /// A short description for the summary, e.g. "cpu (cranelift, f64, 2 threads)".
    fn describe(&self) -> String;
    /// Makes the backend's copy of the population equal to `pop` (a GPU uploads here).
    fn upload(&mut self, _pop: &Population) -> Result<(), BackendError> {
        Ok(())
    }
    /// Advances the cells in `ranges` by `nsteps ≤ 64` steps from time `t0`.
    fn step(
        &mut self,
        pop: &mut Population,
        ranges: &[(usize, usize)],
        t0: f64,
        nsteps: u64,
    ) -> Result<StepReport, BackendError>;
    /// Makes `pop`'s `slots` current for `cells` (a GPU copies them back here).
    fn read_cells(
        &mut self,
        _pop: &mut Population,
        _cells: &[usize],
        _slots: &[usize],
    ) -> Result<(), BackendError> {
        Ok(())
    }
}
