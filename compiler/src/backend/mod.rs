//! Code generators. Both compile a [`CellProgram`] to the same kernel,
//! with the same logical arguments, and share [`STEP_KERNEL`], [`prepare`] and the literal
//! formatting of [`crate::ir::print::fmt_f64`]. They differ only in target overrides: how a
//! primitive is spelled, and how a cell index is found (a loop on the CPU, a thread on the GPU).
//!
//! ## The kernel ABI
//!
//! ```text
//! step(slots: *const *mut T,   // one array per slot (v, each state, per-cell inputs), length n
//!      lo: u64, hi: u64,       // cells [lo, hi)  (GPU: lo + thread index, bounded by hi)
//!      t0: f64,                // time at the start of the first step, ms
//!      nsteps: u64,            // steps to take, at most 64
//!      spikes: *mut u64,       // per cell: bit j set when the cell spiked in step j
//!      bad: *mut i32)          // per cell: first step with a non-finite or runaway V, else -1
//! ```
//!
//! A call steps its cells `nsteps` times in blocks that stay in L1 (CPU) or registers (GPU).

pub mod jit;
pub mod ptx;

use crate::ir::{Builtin, CellProgram, Expr, ExprArena, ExprId, Var};
use crate::passes::mathlib::{lower_math_with, MathMode, Precision};

/// The name of the fused step kernel in every backend.
pub const STEP_KERNEL: &str = "hhc_step";

/// |V| above this many mV counts as a runaway.
pub const RUNAWAY_MV: f64 = 1e4;

/// The most steps one kernel call may take (one bit per step in the spike word).
pub const MAX_STEPS_PER_CALL: u64 = 64;

/// A cell program ready for a backend: special functions expanded for `precision`.
pub struct Prepared {
    pub exprs: ExprArena,
    /// New value of each updated slot: `(slot, expr)`.
    pub updates: Vec<(u32, ExprId)>,
    pub spike: ExprId,
    pub slot_count: usize,
    pub dt: f64,
    /// Per node: whether it reads a slot or the time (directly or through a child). Nodes that
    /// do not vary are computed once per kernel call, outside the loops.
    pub varying: Vec<bool>,
}

pub fn prepare(p: &CellProgram, precision: Precision) -> Prepared {
    prepare_with(p, precision, MathMode::Portable)
}

/// [`prepare`] with a choice of how special functions are provided.
pub fn prepare_with(p: &CellProgram, precision: Precision, mode: MathMode) -> Prepared {
    let mut exprs = p.exprs.clone();
    let mut roots: Vec<ExprId> = p.updates.iter().map(|(_, e)| *e).collect();
    roots.push(p.spike);
    let lowered = lower_math_with(&mut exprs, &roots, precision, mode);
    let updates = p
        .updates
        .iter()
        .zip(&lowered)
        .map(|((s, _), e)| (*s, *e))
        .collect();
    let mut varying = vec![false; exprs.len()];
    for (id, e) in exprs.iter() {
        varying[id.index()] = match e {
            Expr::Var(Var::Slot(_) | Var::Builtin(Builtin::T)) => true,
            Expr::Var(_) | Expr::Lit(_) => false,
            _ => e.children().any(|c| varying[c.index()]),
        };
    }
    Prepared {
        exprs,
        updates,
        spike: lowered[lowered.len() - 1],
        slot_count: p.slots.len(),
        dt: p.dt,
        varying,
    }
}
