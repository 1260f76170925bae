//! The engine's one entry point: build a [`Simulation`] from a model and a [`Request`], run it,
//! read what it computed as an [`Outcome`] of traces and spikes.
//!
//! Every front (the command line, tests, benches, and later Python) goes through here, so a
//! model is set up one way: the request's overrides applied and checked (a usage error is
//! [`SetupError::Usage`]), the memory it needs checked, the cell compiled for the chosen
//! backend. Point cells step in [`sim::run`]; morphologies in the chunked cable solver
//! ([`cable::run`]) or as whole-cell programs through [`sim::run`]. The outcome has the same
//! shape for both.

use crate::backend::{cpu::Cpu, gpu, Backend};
use crate::cable::{self, CableOptions, CableResult};
use crate::distributed::Exchange;
use crate::sim::{self, ProgressFn, RunError, RunResult, Stopped};
use hhc_compiler::cable::CableProgram;
use hhc_compiler::ir::CellProgram;
use hhc_compiler::passes::mathlib::Precision;
use hhc_compiler::sema::model::{whole_steps, Model, StepMethod};
use hhc_compiler::sema::network::PopulationKind;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Where cells are stepped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Cpu,
    Gpu,
}

/// What to run, beyond the model: overrides of its SIMULATE values and how to step it.
#[derive(Clone, Debug)]
pub struct Request {
    /// Population size (SIMULATE's `count`).
    pub count: Option<u64>,
    /// Length of the run and time step, ms.
    pub tstop: Option<f64>,
    pub dt: Option<f64>,
    pub method: Option<StepMethod>,
    pub target: Target,
    pub precision: Precision,
    /// CPU threads, 1 to the number of cores; every core when `None`.
    pub threads: Option<usize>,
    /// Trace the model's `record` cells (or a morphology's probes); `false` traces nothing.
    pub record: bool,
    /// Trace cell 0 as well, first (a CSV's first column is cell 0's V).
    pub record_cell_zero: bool,
    /// Keep every spike, not only the counts.
    pub keep_spikes: bool,
    /// Morphologies on the CPU: one kernel per whole cell instead of the chunked solver.
    pub fused_cable: bool,
    /// Steps a kernel call takes, 1 to 64.
    pub steps_per_call: u64,
    /// States traced beside V in each recorded cell, by slot name (`Na_HH1952.m`); point
    /// cells only.
    pub record_states: Vec<String>,
    /// The processes that share a network's cells (an MPI job); one process when `None`.
    pub exchange: Option<Arc<dyn Exchange>>,
}

impl Default for Request {
    fn default() -> Self {
        Request {
            count: None,
            tstop: None,
            dt: None,
            method: None,
            target: Target::Cpu,
            precision: Precision::F64,
            threads: None,
            record: true,
            record_cell_zero: false,
            keep_spikes: true,
            fused_cable: false,
            steps_per_call: 64,
            record_states: Vec::new(),
            exchange: None,
        }
    }
}

/// Why a simulation could not be set up.
#[derive(Debug, Clone, PartialEq)]
pub enum SetupError {
    /// The request contradicts itself or the model (a front's usage error).
    Usage(String),
    /// It cannot run here: no memory, no GPU, code generation failed.
    Failed(String),
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetupError::Usage(m) | SetupError::Failed(m) => f.write_str(m),
        }
    }
}

/// What a front prints before a run.
#[derive(Clone, Debug)]
pub struct Summary {
    pub cell: String,
    pub mechanisms: usize,
    /// Sections and compartments per cell (0 and 1 for a point cell).
    pub sections: usize,
    pub compartments: usize,
    pub backend: String,
    pub cells: usize,
    pub steps: u64,
    pub dt: f64,
    /// The mechanisms with a TABLE, by name, and whether they read it (`usetable = 1`, as
    /// NEURON does by default) or compute the function exactly (hhc's default).
    pub tables: Vec<(String, bool)>,
}

/// The mechanisms of `model` (its cell's and its populations' inserts and points) that have a
/// TABLE: name, and whether any instance reads it.
fn tables_of(model: &Model) -> Vec<(String, bool)> {
    let mut inserts: Vec<&hhc_compiler::sema::model::Insert> = Vec::new();
    let mut cells = vec![&model.cell];
    for p in model.network.iter().flat_map(|n| &n.populations) {
        match &p.kind {
            PopulationKind::Cells(m) => cells.push(&m.cell),
            PopulationKind::Artificial(ins) => inserts.push(ins),
            PopulationKind::Spikes(_) => {}
        }
    }
    for c in cells {
        inserts.extend(&c.inserts);
        inserts.extend(c.points.iter().map(|p| &p.insert));
    }
    let mut tables: Vec<(String, bool)> = Vec::new();
    for ins in inserts {
        let m = &ins.mechanism;
        let Some(i) = m.param_index(hhc_compiler::sema::mechanism::USETABLE) else {
            continue;
        };
        let reads = ins.params[i] != 0.0 || ins.per_cell.iter().any(|c| c.0 == i);
        match tables.iter_mut().find(|t| t.0 == m.name) {
            Some(t) => t.1 |= reads,
            None => tables.push((m.name.clone(), reads)),
        }
    }
    tables
}

/// One recorded trace: V (mV) at t = 0, dt, 2·dt, …
#[derive(Clone, Debug)]
pub struct Trace {
    /// `cell3` for a point cell, `soma(0.5)` for a probe on a morphology.
    pub name: String,
    pub values: Vec<f64>,
}

/// What a run computed.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub dt: f64,
    /// Steps taken: all of them, or those before a run stopped.
    pub steps_done: u64,
    pub traces: Vec<Trace>,
    /// (cell, step) of each spike, in time order; a spike of step k is at (k + 1)·dt.
    pub spikes: Vec<(usize, u64)>,
    pub spike_counts: Vec<u32>,
    pub total_spikes: u64,
    /// Each cell's swept stimulus, when the model sweeps one.
    pub stimulus_per_cell: Option<Vec<f64>>,
    /// Where spikes are counted on a morphology (`soma(0.5)`); empty for point cells.
    pub detector: String,
    /// Seconds spent compiling kernels during the run (the chunked solver compiles there).
    pub compile_seconds: f64,
    /// A network's spikes and populations, when the model has a NETWORK.
    pub network: Option<NetworkOutcome>,
}

/// What a network run adds: global cell ids, spike times and the events delivered.
#[derive(Clone, Debug)]
pub struct NetworkOutcome {
    /// Each population: name, global id of its first cell, number of cells.
    pub populations: Vec<(String, u64, u64)>,
    /// (global cell id, time in ms) of every spike, spike sources included, in time order.
    pub spikes: Vec<(u64, f64)>,
    pub events_delivered: u64,
    /// Seconds process 0 spent exchanging spikes with the other processes (waits included),
    /// and reading, sorting and filing every process's spikes.
    pub exchange_seconds: f64,
    pub filing_seconds: f64,
}

enum Engine {
    Point {
        program: CellProgram,
        backend: Box<dyn Backend>,
        /// V's slot, then each state the request traces.
        record_slots: Vec<usize>,
    },
    WholeCells {
        whole: CableProgram,
        backend: Box<dyn Backend>,
    },
    Chunked {
        threads: usize,
    },
    Network {
        threads: usize,
    },
}

/// A model set up to run: compiled, with its backend.
pub struct Simulation {
    model: Model,
    steps: u64,
    n: usize,
    request: Request,
    engine: Engine,
    summary: Summary,
}

/// `MemAvailable` from /proc/meminfo, where the system has one.
fn available_memory_bytes() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

fn check_memory(needed: f64, what: &str, hint: &str) -> Result<(), SetupError> {
    if let Some(avail) = available_memory_bytes() {
        if needed > 0.9 * avail {
            return Err(SetupError::Failed(format!(
                "{what} need about {:.1} GiB, but only {:.1} GiB of memory is available\n  hint: {hint}",
                needed / f64::from(1u32 << 30),
                avail / f64::from(1u32 << 30)
            )));
        }
    }
    Ok(())
}

/// The program compiled for the chosen backend: PTX loaded on the GPU, or the JIT's kernel on
/// `threads` CPU threads.
fn make_backend(
    program: &CellProgram,
    target: Target,
    precision: Precision,
    threads: usize,
) -> Result<Box<dyn Backend>, SetupError> {
    if target == Target::Gpu {
        let ptx = hhc_compiler::backend::ptx::emit_program(program, precision, 80);
        let gpu = gpu::Gpu::new(&ptx, precision)
            .map_err(|e| SetupError::Failed(format!("--backend gpu: {}", e.0)))?;
        return Ok(Box::new(gpu));
    }
    let kernel = hhc_compiler::backend::jit::compile(program, precision)
        .map_err(|e| SetupError::Failed(format!("code generation failed: {}", e.0)))?;
    Ok(Box::new(
        Cpu::new(kernel, threads).map_err(|e| SetupError::Failed(e.0))?,
    ))
}

/// The refusal of a cell too large for one whole-cell kernel.
pub fn too_many_to_fuse(nodes: usize) -> SetupError {
    SetupError::Failed(format!(
        "the cell has {nodes} nodes (its compartments, and the end nodes where sections meet); one whole-cell kernel (the GPU's, or --fused-cable) unrolls at most {}\n  hint: use fewer segments (a smaller nseg, a larger dx or d_lambda), or the CPU's default solver",
        hhc_compiler::cable::MAX_FUSED_NODES
    ))
}

/// The model with the request's overrides, checked; and its step count.
fn apply(mut model: Model, r: &Request) -> Result<(Model, u64), SetupError> {
    let usage = |m: String| SetupError::Usage(m);
    for (what, v) in [("tstop", r.tstop), ("dt", r.dt)] {
        if let Some(x) = v {
            if !(x > 0.0 && x.is_finite()) {
                return Err(usage(format!(
                    "{what} must be a positive number of ms, not {x}"
                )));
            }
        }
    }
    if let (Some(_), Some(_)) = (r.count, &model.network) {
        return Err(usage("--n sets the size of a single population; a network's populations give their own `count`\n  hint: change `count` in the POPULATION".into()));
    }
    if let Some(n) = r.count {
        if n == 0 {
            return Err(usage("the population needs at least 1 cell".into()));
        }
        model.count = n;
    }
    model.tstop = r.tstop.unwrap_or(model.tstop);
    model.dt = r.dt.unwrap_or(model.dt);
    model.method = r.method.unwrap_or(model.method);
    let steps = whole_steps(model.dt, model.tstop)
        .map_err(|e| usage(format!("{}\n  hint: {}", e.message, e.hint)))?;
    if r.record && model.cell.sections.is_empty() {
        if let Some(&c) = model.record.iter().find(|&&c| c >= model.count) {
            return Err(usage(format!(
                "the model records cell {c}, but the population has {} cell{}\n  hint: raise --n above {c}, or change `record` in the model",
                model.count,
                if model.count == 1 { "" } else { "s" }
            )));
        }
    }
    let cores = default_threads();
    if let Some(t) = r.threads {
        if t == 0 || t > cores {
            return Err(usage(format!(
                "--threads {t}: this machine has {cores} core{}, and more threads than cores only slow a run\n  hint: use --threads 1 to {cores}",
                if cores == 1 { "" } else { "s" }
            )));
        }
    }
    if !(1..=64).contains(&r.steps_per_call) {
        return Err(usage("steps per call must be 1 to 64".into()));
    }
    Ok((model, steps))
}

/// Every state asked for is at every probe of every population of cells: a mechanism with it
/// is inserted (or placed) at the probe's node. Checked before a run, with the states there.
/// The currents a model's cell can trace, named as `record_states` takes them
/// (`Na_HH1952.ina`).
fn current_names(model: &Model) -> Vec<String> {
    model
        .cell
        .inserts
        .iter()
        .chain(model.cell.points.iter().map(|p| &p.insert))
        .flat_map(|ins| {
            let m = &ins.mechanism;
            m.currents
                .iter()
                .map(move |c| format!("{}.{}", m.name, c.name))
        })
        .collect()
}

fn check_probe_states(model: &Model, states: &[String]) -> Result<(), SetupError> {
    use hhc_compiler::cable::{Probes, Region, Tree};
    if states.is_empty() {
        return Ok(());
    }
    let models: Vec<&Model> = match &model.network {
        Some(net) => net
            .populations
            .iter()
            .filter_map(|p| match &p.kind {
                hhc_compiler::sema::network::PopulationKind::Cells(m) => Some(&**m),
                _ => None,
            })
            .collect(),
        None => vec![model],
    };
    for m in models {
        let tree = Tree::new(&m.cell);
        let regions = Region::all(&m.cell, &tree);
        let probes = Probes::new(m, &tree);
        for (&node, place) in probes.nodes.iter().zip(&probes.names) {
            let Some(region) = regions.iter().find(|r| r.nodes.contains(&node)) else {
                continue;
            };
            let mut there: Vec<String> = region
                .inserts
                .iter()
                .map(|&i| &m.cell.inserts[i].mechanism)
                .chain(
                    region
                        .points
                        .iter()
                        .map(|&p| &m.cell.points[p].insert.mechanism),
                )
                .flat_map(|mech| {
                    let states = mech.states.iter().map(|s| &s.name);
                    let currents = mech.currents.iter().map(|c| &c.name);
                    states
                        .chain(currents)
                        .map(move |x| format!("{}.{}", mech.name, x))
                })
                .collect();
            // Two points of one mechanism (an excitatory and an inhibitory Exp2Syn) name
            // the same states: each once.
            let mut seen = std::collections::HashSet::new();
            there.retain(|name| seen.insert(name.clone()));
            if let Some(missing) = states.iter().find(|s| !there.contains(s)) {
                let hint = if there.is_empty() {
                    "no mechanism with states or currents is inserted there".to_string()
                } else {
                    format!("the states and currents there are {}", there.join(", "))
                };
                return Err(SetupError::Usage(format!(
                    "no state or current `{missing}` at probe {place} of cell `{}`\n  hint: {hint}; trace one with probes where its mechanism is inserted",
                    m.cell.name
                )));
            }
        }
    }
    Ok(())
}

/// Threads when none are asked for: every core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |x| x.get())
}

impl Simulation {
    /// Loads a model file (mechanisms found by SUFFIX beside it, then in the stdlib) and sets
    /// it up. A model with errors gives its rendered diagnostics as [`SetupError::Failed`].
    pub fn from_file(path: &std::path::Path, request: &Request) -> Result<Simulation, SetupError> {
        let model = crate::load::load_model(path).map_err(|r| SetupError::Failed(r.text))?;
        Simulation::new(model, request)
    }

    /// Sets up `model` as `request` asks: overrides applied and checked, the cell compiled.
    pub fn new(model: Model, request: &Request) -> Result<Simulation, SetupError> {
        if !request.record && !request.record_states.is_empty() {
            return Err(SetupError::Usage(format!(
                "`{}` would be traced beside the recorded cells' V, and this run records none\n  hint: record cells, or trace nothing",
                request.record_states.join("`, `")
            )));
        }
        let (mut model, steps) = apply(model, request)?;
        let processes = request.exchange.as_ref().map_or(1, |e| e.processes());
        if processes > 1 && (request.fused_cable || request.target == Target::Gpu) {
            return Err(SetupError::Usage(format!(
                "{processes} processes share cells on the CPU (point cells, the chunked cable solver, networks), not whole-cell kernels on the GPU or with --fused-cable\n  hint: run it as one process (without mpirun), or drop --backend gpu and --fused-cable"
            )));
        }
        if request.target == Target::Gpu {
            if let Some(reason) = gpu::unavailable_reason() {
                return Err(SetupError::Failed(format!("--backend gpu: {reason}")));
            }
        }
        let n = usize::try_from(model.count).unwrap_or(usize::MAX);
        let threads = request.threads.unwrap_or_else(default_threads);
        let precision = request.precision;
        if precision != Precision::F64 {
            let newton = (model.cell.inserts.iter())
                .chain(model.cell.points.iter().map(|p| &p.insert))
                .find_map(|i| Some((&i.mechanism.name, i.mechanism.newton.as_ref()?)));
            if let Some((mechanism, block)) = newton {
                return Err(SetupError::Usage(format!("`{mechanism}` solves NONLINEAR `{block}` by NEURON's Newton iteration, which stops when the residuals are within 1e-8: finer than f32 holds\n  hint: drop --precision f32")));
            }
        }
        let mut summary = Summary {
            cell: model.cell.name.clone(),
            mechanisms: model.cell.inserts.len(),
            sections: model.cell.sections.len(),
            compartments: model
                .cell
                .sections
                .iter()
                .map(|s| s.nseg)
                .sum::<usize>()
                .max(1),
            backend: String::new(),
            cells: n,
            steps,
            dt: model.dt,
            tables: tables_of(&model),
        };
        if model.network.is_some() || !model.cell.sections.is_empty() {
            model.record_states.clone_from(&request.record_states);
            check_probe_states(&model, &request.record_states)?;
        }
        let engine = if let Some(net) = &model.network {
            if request.target == Target::Gpu || request.fused_cable {
                return Err(SetupError::Failed("networks run on the CPU's chunked cable solver for now\n  hint: drop --backend gpu and --fused-cable".into()));
            }
            summary.cells = net.cells() as usize;
            let compartments: f64 = net
                .populations
                .iter()
                .map(|p| match &p.kind {
                    hhc_compiler::sema::network::PopulationKind::Cells(m) => {
                        p.count as f64
                            * m.cell.sections.iter().map(|s| s.nseg).sum::<usize>().max(1) as f64
                    }
                    hhc_compiler::sema::network::PopulationKind::Spikes(_)
                    | hhc_compiler::sema::network::PopulationKind::Artificial(_) => 0.0,
                })
                .sum();
            check_memory(
                compartments * 160.0 + net.connections.len() as f64 * 64.0,
                &format!(
                    "{} cells and {} connections",
                    net.cells(),
                    net.connections.len()
                ),
                "lower the populations' counts or the connections",
            )?;
            let connections = net.connections_summary();
            summary.backend = format!(
                "cpu (cranelift, f64, {threads} thread{}), chunked cable solver, {connections}",
                if threads == 1 { "" } else { "s" },
            );

            Engine::Network { threads }
        } else if model.cell.sections.is_empty() {
            // Traced currents are slots of the program.
            model.record_states.clone_from(&request.record_states);
            let program = hhc_compiler::cell::build(&model);
            let elem = if precision == Precision::F64 {
                8.0
            } else {
                4.0
            };
            check_memory(
                n as f64 * (program.slots.len() as f64 * elem + 16.0),
                &format!("{n} cells"),
                "lower --n, or use --precision f32",
            )?;
            let mut record_slots = vec![0];
            for name in &request.record_states {
                use hhc_compiler::ir::SlotKind;
                let traced = |s: &hhc_compiler::ir::Slot| {
                    matches!(s.kind, SlotKind::State { .. } | SlotKind::Current { .. })
                };
                let Some(k) = program
                    .slots
                    .iter()
                    .position(|s| &s.name == name && traced(s))
                else {
                    let states: Vec<&str> = program
                        .slots
                        .iter()
                        .filter(|s| matches!(s.kind, SlotKind::State { .. }))
                        .map(|s| s.name.as_str())
                        .collect();
                    return Err(SetupError::Usage(format!(
                        "no state or current `{name}` to record\n  hint: the cell's states are {}; its currents are {}",
                        states.join(", "),
                        current_names(&model).join(", ")
                    )));
                };
                record_slots.push(k);
            }
            let backend = make_backend(&program, request.target, precision, threads)?;
            summary.backend = backend.describe();
            if !request.record {
                model.record.clear();
            } else if request.record_cell_zero && !model.record.contains(&0) {
                model.record.insert(0, 0);
            }
            Engine::Point {
                program,
                backend,
                record_slots,
            }
        } else {
            if !request.record_states.is_empty()
                && (request.fused_cable || request.target == Target::Gpu)
            {
                return Err(SetupError::Usage("states are traced on the CPU's chunked cable solver\n  hint: drop --backend gpu and --fused-cable".into()));
            }
            let whole_cells = request.fused_cable || request.target == Target::Gpu;
            if !whole_cells && precision != Precision::F64 {
                return Err(SetupError::Failed("the CPU's chunked cable solver runs in f64\n  hint: drop --precision f32, or add --fused-cable (one kernel per cell, f32 allowed)".into()));
            }
            // About 20 f64 per compartment (V, i, g, states, the Hines scratch).
            check_memory(
                summary.compartments as f64 * n as f64 * 160.0,
                &format!("{n} cells of {} compartments", summary.compartments),
                "lower --n, or use fewer segments",
            )?;
            let per_cell = model
                .cell
                .inserts
                .iter()
                .chain(model.cell.points.iter().map(|p| &p.insert))
                .any(|i| !i.per_cell.is_empty());
            if whole_cells && per_cell {
                return Err(SetupError::Usage("values per cell on a morphology run on the CPU's chunked cable solver\n  hint: drop --backend gpu and --fused-cable".into()));
            }
            if whole_cells {
                let whole = hhc_compiler::cable::build(&model).map_err(too_many_to_fuse)?;
                let backend = make_backend(&whole.program, request.target, precision, threads)?;
                summary.backend = format!("{}, one kernel per cell", backend.describe());
                Engine::WholeCells { whole, backend }
            } else {
                summary.backend = format!(
                    "cpu (cranelift, f64, {threads} thread{}), chunked cable solver",
                    if threads == 1 { "" } else { "s" }
                );

                Engine::Chunked { threads }
            }
        };
        if processes > 1 {
            summary.backend += &format!(
                "; {processes} MPI processes, each stepping a block of every population's cells"
            );
        }
        Ok(Simulation {
            model,
            steps,
            n,
            request: request.clone(),
            engine,
            summary,
        })
    }

    /// What is about to run.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// The model as it will run (overrides applied).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Compartment-steps per step, for progress estimates.
    pub fn work_per_step(&self) -> f64 {
        self.n as f64 * self.summary.compartments as f64
    }

    /// Runs from the initial state to tstop. `interrupt` stops it early between kernel calls;
    /// `progress` is told how far it is. A run that stops keeps what it computed.
    pub fn run(
        &mut self,
        interrupt: Option<Arc<AtomicBool>>,
        progress: Option<ProgressFn>,
    ) -> Result<Outcome, Stopped<Outcome>> {
        let (model, n, steps, r) = (&self.model, self.n, self.steps, &self.request);
        let cable_options = || CableOptions {
            n,
            steps,
            theta: model.cable_theta,
            record: if r.record { vec![0] } else { vec![] },
            interrupt: interrupt.clone(),
            progress: progress.clone(),
            exchange: r.exchange.clone(),
        };
        match &mut self.engine {
            Engine::Point {
                program,
                backend,
                record_slots,
            } => {
                // In an MPI job, this process's block of the cells (they are independent).
                let job = r.exchange.as_ref().filter(|e| e.processes() > 1);
                let (block, offset) = match job {
                    Some(ex) => {
                        let cells =
                            crate::distributed::owned(model.count, ex.rank(), ex.processes());
                        (
                            std::borrow::Cow::Owned(model.cells_in(cells.clone())),
                            cells.start,
                        )
                    }
                    None => (std::borrow::Cow::Borrowed(model), 0),
                };
                let record: Vec<usize> = block
                    .record
                    .iter()
                    .filter_map(|&c| usize::try_from(c).ok())
                    .collect();
                let opts = sim::RunOptions {
                    n: block.count as usize,
                    steps,
                    precision: r.precision,
                    record: record.clone(),
                    record_slots: record_slots.clone(),
                    keep_spikes: r.keep_spikes,
                    progress: progress.clone(),
                    steps_per_call: r.steps_per_call,
                    interrupt: interrupt.clone(),
                };
                let mut cells = record;
                cells.sort_unstable();
                cells.dedup();
                let names: Vec<String> = record_slots
                    .iter()
                    .map(|&k| program.slots[k].name.clone())
                    .collect();
                // Cells named and spikes numbered within the whole population.
                let outcome = |mut res: RunResult| {
                    for (c, _) in res.spikes.iter_mut() {
                        *c += offset as usize;
                    }
                    let global: Vec<usize> = cells.iter().map(|c| c + offset as usize).collect();
                    point_outcome(res, &global, &names, model.dt)
                };
                let result = sim::run(program, &block, backend.as_mut(), &opts)
                    .map(outcome)
                    .map_err(|s| {
                        let mut error = s.error;
                        if let RunError::BlowUp { cell, .. } = &mut error {
                            *cell += offset as usize;
                        }
                        Stopped {
                            error,
                            partial: s.partial.map(|p| Box::new(outcome(*p))),
                        }
                    });
                match job {
                    Some(ex) => gather_point_outcomes(ex.as_ref(), result, model.dt),
                    None => result,
                }
            }
            Engine::WholeCells { whole, backend } => {
                let result = cable::run_whole_cells(
                    model,
                    whole,
                    backend.as_mut(),
                    &cable_options(),
                    r.precision,
                    r.steps_per_call,
                );
                cable_outcome(result, n, model.dt, steps)
            }
            Engine::Chunked { threads } => {
                let pool = thread_pool(*threads)?;
                let result = pool.install(|| cable::run(model, &cable_options()));
                cable_outcome(result, n, model.dt, steps)
            }
            Engine::Network { threads } => {
                let Some(net) = &model.network else {
                    return Err(Stopped::from(RunError::Backend(
                        crate::backend::BackendError("no network".into()),
                    )));
                };
                let pool = thread_pool(*threads)?;
                let opts = crate::network::NetworkOptions {
                    steps,
                    interrupt: interrupt.clone(),
                    progress: progress.clone(),
                    exchange: r.exchange.clone(),
                };
                let result = pool.install(|| crate::network::run(model, net, &opts));
                let convert = |r: crate::network::NetworkResult| network_outcome(r, net, model.dt);
                result.map(convert).map_err(|s| Stopped {
                    error: s.error,
                    partial: s.partial.map(|p| Box::new(convert(*p))),
                })
            }
        }
    }
}

/// The pool the chunked solver's tasks run in.
fn thread_pool<R>(threads: usize) -> Result<rayon::ThreadPool, Stopped<R>> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .stack_size(crate::backend::KERNEL_STACK)
        .build()
        .map_err(|e| {
            Stopped::from(RunError::Backend(crate::backend::BackendError(format!(
                "cannot start {threads} threads: {e}"
            ))))
        })
}

/// A network's result as an outcome: cell spikes as (global id, step), and every spike with its
/// time in [`NetworkOutcome`].
fn network_outcome(
    r: crate::network::NetworkResult,
    net: &hhc_compiler::sema::network::Network,
    dt: f64,
) -> Outcome {
    let cells = net.cells() as usize;
    let mut spike_counts = vec![0u32; cells];
    for &(gid, _) in &r.spikes {
        if let Some(c) = spike_counts.get_mut(gid as usize) {
            *c += 1;
        }
    }
    let spikes = r
        .spikes
        .iter()
        .map(|&(gid, t)| (gid as usize, ((t / dt).round() as u64).saturating_sub(1)))
        .collect();
    Outcome {
        dt,
        steps_done: r.steps_done,
        traces: r
            .traces
            .into_iter()
            .map(|(name, values)| Trace { name, values })
            .collect(),
        spikes,
        spike_counts,
        total_spikes: r.spikes.len() as u64,
        stimulus_per_cell: None,
        detector: String::new(),
        compile_seconds: r.compile_seconds,
        network: Some(NetworkOutcome {
            populations: net
                .populations
                .iter()
                .map(|p| (p.name.clone(), p.first, p.count))
                .collect(),
            spikes: r.spikes,
            events_delivered: r.events_delivered,
            exchange_seconds: r.exchange_seconds,
            filing_seconds: r.filing_seconds,
        }),
    }
}

/// Every process's point-cell outcome as one, the same in every process: cells in rank order
/// (each process ran a block), spikes in step order, and a run that stopped in any process
/// stopped for all at the fewest steps done, with the first process's error (in rank order).
fn gather_point_outcomes(
    exchange: &dyn crate::distributed::Exchange,
    mine: Result<Outcome, Stopped<Outcome>>,
    dt: f64,
) -> Result<Outcome, Stopped<Outcome>> {
    use crate::distributed::{Reader, Writer};
    let mut w = Writer::default();
    let (error, outcome) = match &mine {
        Ok(o) => (None, Some(o)),
        Err(s) => (Some(&s.error), s.partial.as_deref()),
    };
    match error {
        None => w.u64(0),
        Some(RunError::Interrupted { .. }) => w.u64(1),
        Some(RunError::Backend(e)) => {
            w.u64(2);
            w.text(&e.0);
        }
        Some(RunError::BlowUp {
            cell,
            step,
            t,
            v,
            place,
            mechanism,
            diverged_first,
        }) => {
            w.u64(3);
            for x in [*cell as u64, *step, u64::from(*diverged_first)] {
                w.u64(x);
            }
            w.f64(*t);
            w.f64(*v);
            w.text(place.as_deref().unwrap_or_default());
            w.text(mechanism);
        }
    }
    w.u64(u64::from(outcome.is_some()));
    if let Some(o) = outcome {
        w.u64(o.steps_done);
        w.u64(o.total_spikes);
        w.u64(o.spikes.len() as u64);
        for &(c, step) in &o.spikes {
            w.u64(c as u64);
            w.u64(step);
        }
        w.f64s(
            &o.spike_counts
                .iter()
                .map(|&c| f64::from(c))
                .collect::<Vec<_>>(),
        );
        w.u64(u64::from(o.stimulus_per_cell.is_some()));
        w.f64s(o.stimulus_per_cell.as_deref().unwrap_or_default());
        w.u64(o.traces.len() as u64);
        for t in &o.traces {
            w.text(&t.name);
            w.f64s(&t.values);
        }
    }
    // The first failure: by rank for a back-end error, else the earliest blow-up (by step,
    // then cell), as one process stops at its first.
    let (mut first_error, mut interrupted, mut complete) = (None::<RunError>, false, true);
    let mut all = Outcome {
        dt,
        steps_done: u64::MAX,
        traces: Vec::new(),
        spikes: Vec::new(),
        spike_counts: Vec::new(),
        total_spikes: 0,
        stimulus_per_cell: None,
        detector: String::new(),
        compile_seconds: outcome.map_or(0.0, |o| o.compile_seconds),
        network: None,
    };
    for bytes in exchange.all_gather(&w.bytes) {
        let mut r = Reader::new(&bytes);
        match r.u64() {
            0 => {}
            1 => interrupted = true,
            2 => {
                let message = r.text();
                if !matches!(first_error, Some(RunError::Backend(_))) {
                    first_error = Some(RunError::Backend(crate::backend::BackendError(message)));
                }
            }
            _ => {
                let (cell, step, diverged_first) = (r.u64() as usize, r.u64(), r.u64() == 1);
                let (t, v, place, mechanism) = (r.f64(), r.f64(), r.text(), r.text());
                let sooner = match &first_error {
                    None => true,
                    Some(RunError::BlowUp {
                        cell: c, step: s, ..
                    }) => (step, cell) < (*s, *c),
                    Some(_) => false,
                };
                if sooner {
                    first_error = Some(RunError::BlowUp {
                        cell,
                        step,
                        t,
                        v,
                        place: (!place.is_empty()).then_some(place),
                        mechanism,
                        diverged_first,
                    });
                }
            }
        }
        if r.u64() == 0 {
            complete = false;
            continue;
        }
        all.steps_done = all.steps_done.min(r.u64());
        all.total_spikes += r.u64();
        for _ in 0..r.u64() {
            let (c, step) = (r.u64() as usize, r.u64());
            all.spikes.push((c, step));
        }
        all.spike_counts
            .extend(r.f64s().into_iter().map(|c| c as u32));
        let swept = r.u64() == 1;
        let stimulus = r.f64s();
        if swept {
            all.stimulus_per_cell
                .get_or_insert_with(Vec::new)
                .extend(stimulus);
        }
        for _ in 0..r.u64() {
            let name = r.text();
            all.traces.push(Trace {
                name,
                values: r.f64s(),
            });
        }
    }
    all.spikes.sort_unstable_by_key(|&(c, s)| (s, c));
    if first_error.is_none() && !interrupted {
        return Ok(all);
    }
    // Every process's results up to the fewest steps any of them did.
    let done = all.steps_done;
    all.spikes.retain(|&(_, s)| s < done);
    for t in all.traces.iter_mut() {
        t.values.truncate(done as usize + 1);
    }
    Err(Stopped {
        error: first_error.unwrap_or(RunError::Interrupted {
            steps: done,
            t: done as f64 * dt,
        }),
        partial: complete.then(|| Box::new(all)),
    })
}

/// A point-cell result as an outcome: per recorded cell, V named `cellK`, then each recorded
/// state named `cellK Na_HH1952.m` (`slots` holds V's slot name first).
fn point_outcome(r: RunResult, cells: &[usize], slots: &[String], dt: f64) -> Outcome {
    let names = cells.iter().flat_map(|c| {
        slots.iter().enumerate().map(move |(k, s)| match k {
            0 => format!("cell{c}"),
            _ => format!("cell{c} {s}"),
        })
    });
    Outcome {
        dt,
        steps_done: r.steps_done,
        traces: names
            .zip(r.traces)
            .map(|(name, values)| Trace { name, values })
            .collect(),
        spikes: r.spikes,
        spike_counts: r.spike_counts,
        total_spikes: r.total_spikes,
        stimulus_per_cell: r.stimulus_per_cell,
        detector: String::new(),
        compile_seconds: 0.0,
        network: None,
    }
}

/// A morphology's result as an outcome: cell 0's V at each probe.
fn cable_outcome(
    result: Result<CableResult, Stopped<CableResult>>,
    n: usize,
    dt: f64,
    steps: u64,
) -> Result<Outcome, Stopped<Outcome>> {
    let convert = |c: CableResult, complete: bool| {
        let traces: Vec<Trace> = c
            .traces
            .first()
            .map(|per_probe| {
                c.probes
                    .iter()
                    .zip(per_probe)
                    .map(|(name, values)| Trace {
                        name: name.clone(),
                        values: values.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let steps_done = match traces.first() {
            Some(t) => t.values.len().saturating_sub(1) as u64,
            None if complete => steps,
            None => 0,
        };
        let mut spike_counts = vec![0u32; n];
        for &(cell, _) in &c.spikes {
            spike_counts[cell] += 1;
        }
        Outcome {
            dt,
            steps_done,
            traces,
            total_spikes: c.spikes.len() as u64,
            spikes: c.spikes,
            spike_counts,
            stimulus_per_cell: None,
            detector: c.detector,
            compile_seconds: c.compile_seconds,
            network: None,
        }
    };
    match result {
        Ok(c) => Ok(convert(c, true)),
        Err(s) => Err(Stopped {
            error: s.error,
            partial: s.partial.map(|p| Box::new(convert(*p, false))),
        }),
    }
}
