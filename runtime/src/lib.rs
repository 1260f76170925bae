//! # hhc-runtime: the engine that steps populations of cells on CPU or GPU
//!
//! **One entry point.** [`simulation::Simulation`] takes a model (a file, or a lowered
//! [`Model`](hhc_compiler::sema::model::Model)) and a [`simulation::Request`] (overrides of its
//! SIMULATE values, the backend, the precision, what to record), checks them, compiles the cell,
//! and runs it to an [`simulation::Outcome`]: named V traces and (cell, step) spikes, the same
//! shape for point cells and morphologies. A run can be interrupted (a flag), reports progress
//! (a callback), and a run that stops keeps what it computed ([`sim::Stopped`]). The command
//! line (`cli/`), the tests and the benches are fronts over it; this crate prints nothing and
//! draws nothing.
//!
//! **In:** [`load::load_model`] parses a model file, finds each inserted mechanism by SUFFIX
//! (next to the model first, then the embedded `stdlib/`), and the compiler fuses the cell into
//! one [`CellProgram`](hhc_compiler::ir::CellProgram).

//! **Step order** (one step of every cell; SPEC's numerics):
//! 1. states advance by their exact cnexp update at `V_n`;
//! 2. currents and analytic conductances are evaluated with the new states;
//! 3. V advances by exponential Euler;
//! 4. a spike is an upward crossing of `V_th` within the step.
//!
//! All four happen inside one fused kernel that steps cells up to 64 times per call: on the CPU a
//! block of cells that fits in L1, on the GPU one cell per thread in registers.
//! The stepping loop ([`sim::run`]) is written once, generic over a [`backend::Backend`].
//!
//! A cell with a morphology steps in NEURON's staggered order instead ([`cable`]): a Hines solve
//! for V on the tree, then every compartment's states at the new V. On the CPU, a chunk of cells
//! sits in the vector lanes and each node's work is one loop over them; the stepping loop is the
//! network engine's ([`network::run`]), which [`cable::run`] calls with one population and no
//! connections. On the GPU, the whole cell is one program and [`cable::run_whole_cells`] hands
//! it to [`sim::run`]. So there are two loops: point cells' and morphologies' (with networks).
//!
//! **Networks** ([`network`]): populations of cells on the cable solver, point processes on
//! them (NET_RECEIVE), and spikes delivered as events after their delay, in epochs of the
//! shortest delay, with NEURON's fixed-step rules for detection and delivery.
//!
//! **Several processes** ([`distributed`]): an MPI job (the `mpi` feature, module `mpi`) shares a
//! network's cells, each process stepping a block of every population, and the processes
//! swap their spikes once per epoch. The engine sees only the [`distributed::Exchange`] trait,
//! so the same loop runs alone, under MPI, or (in the tests) as threads.
//!
//! **Invariants.** Results are bit-identical whatever the thread or process count or chunking,
//! because every cell is computed by the same instructions independently. A NaN or runaway V stops the
//! run with the cell, the step and the mechanism named.

pub mod backend;
pub mod cable;
pub mod distributed;
pub mod load;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod network;
pub mod record;
pub mod sim;
pub mod simulation;
