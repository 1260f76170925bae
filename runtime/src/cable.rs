//! Multi-compartment cells: a morphology discretised into compartments, mechanisms advanced per
//! compartment by the JIT, and V by a Hines solve on the tree.
//!
//! The tree, its regions, stimuli and probes come from [`hhc_compiler::cable`], which documents
//! the discretisation (NEURON's convention) and builds the same step as one program for the GPU.
//! Units inside the solver: mV, ms, nA, µS, nF, so C/dt is in µS.
//!
//! Each step:
//! 1. every compartment's states advance by cnexp at V_n, and the kernel returns the membrane
//!    current density i(V_n) with the new states, and its conductance g = di/dv
//!    (`cell::build_compartment`);
//! 2. V solves `C/(θ·dt)·(V* − V) = −I − G·(V* − V) + axial(V*) + I_inj` on the tree by Hines
//!    elimination, in O(n) per cell. Then `V ← V + (V* − V)/θ`. θ = 1 is implicit Euler (the
//!    default), and θ = ½ is Crank–Nicolson;
//! 3. a spike is V rising above V_th at the `detector`, else at the first `probe`, else at the
//!    middle of the root section (NEURON's `PreSyn` rule, see [`crate::network`]).
//!
//! A node with point processes has its own region, whose program holds them beside its density
//! mechanisms. The next step's currents are computed at its midpoint time, NEURON's time for
//! BREAKPOINT.
//!
//! Cells are independent, so the population is cut into chunks of about a thousand
//! compartments, and each task takes its chunk through a block of up to 64 steps (all three
//! parts) while it stays in cache; the loop that does so is the network engine's
//! ([`crate::network`]), which [`run`] calls with one population. Within a chunk, every region's slots are node-major
//! (`node · cells + cell`), and V lives in its region's slot 0: the Hines solve reads each node's
//! current and conductance densities and updates its V in place, row by row, with the chunk's
//! cells as the lanes of one vector loop per node; a region's kernel then reads and writes the
//! same rows. Nothing is copied between the solve and the kernels. The solve is compiled once per
//! instruction set (AVX-512, AVX2, baseline) with the same arithmetic, so the bits do not depend
//! on the CPU, the chunking or the thread count.
//!
//! [`run_whole_cells`] is the other layout: each cell's whole step as one program
//! ([`hhc_compiler::cable::build`]), run by the point-cell loop on any [`Backend`]: a GPU thread,
//! or a CPU vector lane per cell. In f64 on the CPU it gives this solver's results to the bit
//! (for mechanisms that do not read `t`: its kernel sees the step's start time).

use crate::backend::{Backend, BackendError};
use crate::sim::{self, RunError, Stopped};
use hhc_compiler::backend::jit;
use hhc_compiler::cable::{CableProgram, Probes, Region, Tree};
use hhc_compiler::ir::interp;
use hhc_compiler::passes::mathlib::Precision;
use hhc_compiler::sema::model::Model;

/// One slot's values for every compartment of a region, placed so that the slots of a region
/// fall into different sets of the L1 cache. Arrays of the same size from the allocator start
/// at the same offset within a page (large ones are page-aligned mappings), so the rows of one
/// chunk in a dozen slots would share the same few sets and evict each other: a network's cells
/// with two synapses (twelve slots) stepped 45 % slower than without them, almost all of it
/// that, before slot k was moved to byte `576·k` mod 4096 of its page (nine lines apart: a
/// chunk's row, 64 cells, is eight).
pub(crate) struct SlotArray {
    buffer: Vec<f64>,
    start: usize,
    len: usize,
}

impl SlotArray {
    /// Bytes between the placements of slots k and k + 1, modulo a page.
    const SKEW: usize = 576;
    const PAGE: usize = 4096;

    pub(crate) fn zeros(len: usize, k: usize) -> SlotArray {
        let buffer = vec![0.0; len + Self::PAGE / 8];
        let at = buffer.as_ptr() as usize % Self::PAGE;
        let want = k * Self::SKEW % Self::PAGE;
        let start = (want + Self::PAGE - at) % Self::PAGE / 8;
        SlotArray { buffer, start, len }
    }
}

impl std::ops::Deref for SlotArray {
    type Target = [f64];
    fn deref(&self) -> &[f64] {
        &self.buffer[self.start..self.start + self.len]
    }
}

impl std::ops::DerefMut for SlotArray {
    fn deref_mut(&mut self) -> &mut [f64] {
        &mut self.buffer[self.start..self.start + self.len]
    }
}

/// A region's compiled kernels and its compartments' slots.
pub(crate) struct RegionKernels {
    kernel: jit::CompiledStep,
    /// The currents at the initial state, nothing advanced (`cell::build_compartment_at_rest`).
    initial: jit::CompiledStep,
    /// For a node with point processes: its current and conductance at the present states, to
    /// recompute after events.
    pub(crate) currents: Option<jit::CompiledStep>,
    /// The node's point processes: (index into the cell's points, its NET_RECEIVE over this
    /// region's slots).
    pub(crate) points: Vec<(usize, Option<hhc_compiler::cell::ReceiveProgram>)>,
    /// The region model's insert index of its first point (its points follow its inserts).
    pub(crate) first_point_insert: usize,
    /// Node indices (within one cell) of this region's compartments.
    pub(crate) nodes: Vec<usize>,
    /// Slot arrays for every cell's compartments of this region, cell-major.
    pub(crate) slots: Vec<SlotArray>,
    /// The program's name of each slot (`CaDynamics.cai`).
    pub(crate) slot_names: Vec<String>,
    i_slot: usize,
    g_slot: usize,
    /// The kernel's per-compartment outputs (unused by the cable solver, which checks V).
    spike_words: Vec<u64>,
    bad: Vec<i32>,
}

pub struct CableOptions {
    pub n: usize,
    pub steps: u64,
    /// 1 for implicit Euler, 0.5 for Crank–Nicolson.
    pub theta: f64,
    /// Cells whose probes are recorded.
    pub record: Vec<usize>,
    /// Raised to stop the run early (see [`sim::RunOptions::interrupt`]).
    pub interrupt: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Told how far the run is as it advances.
    pub progress: Option<sim::ProgressFn>,
    /// The processes that share the cells (an MPI job); one when `None`.
    pub exchange: Option<std::sync::Arc<dyn crate::distributed::Exchange>>,
}

pub struct CableResult {
    /// (cell, step) of every spike.
    pub spikes: Vec<(usize, u64)>,
    /// For each recorded cell, for each probe, V at t = 0, dt, …
    pub traces: Vec<Vec<Vec<f64>>>,
    pub probes: Vec<String>,
    /// Where spikes are detected: the detector, else the first probe, as `sec(x)`.
    pub detector: String,
    pub compartments: usize,
    /// Seconds this call spent compiling kernels.
    pub compile_seconds: f64,
}

/// The names of a recorded cell's traces, in their order: each probe's V (`soma(0.5)`), then
/// each of `states` there (`soma(0.5) CaDynamics.cai`).
pub(crate) fn trace_columns(model: &Model, tree: &Tree, states: &[String]) -> Vec<String> {
    Probes::new(model, tree)
        .names
        .iter()
        .flat_map(|p| {
            std::iter::once(p.clone()).chain(states.iter().map(move |s| format!("{p} {s}")))
        })
        .collect()
}

/// Where a cell's spikes come from, for messages: its detector's place (`soma(0.5)`), or the
/// point process that makes it spike (`` `izh` (net_event) ``).
pub(crate) fn spike_source(model: &Model, tree: &Tree) -> String {
    let emitting = model
        .cell
        .points
        .iter()
        .find(|p| p.insert.mechanism.calls_net_event());
    match emitting {
        Some(p) => format!("`{}` (net_event)", p.name),
        None => Probes::new(model, tree).spike_place,
    }
}

/// Runs `opts.n` copies of `model`'s cell on the chunked solver: the network engine's loop
/// ([`crate::network`]) with one population and no connections, so morphologies and networks
/// step the same way.
pub fn run(model: &Model, opts: &CableOptions) -> Result<CableResult, Stopped<CableResult>> {
    use hhc_compiler::sema::network::{Network, Population, PopulationKind};
    let mut one = model.clone();
    one.count = opts.n as u64;
    one.cable_theta = opts.theta;
    one.record = opts.record.iter().map(|&c| c as u64).collect();
    one.network = None;
    let network = Network {
        gaps: Vec::new(),
        populations: vec![Population {
            name: model.cell.name.clone(),
            first: 0,
            count: opts.n as u64,
            kind: PopulationKind::Cells(Box::new(one)),
        }],
        connections: Vec::new(),
        built_for: None,
    };
    let tree = Tree::new(&model.cell);
    let probes = trace_columns(model, &tree, &model.record_states);
    let dt = model.dt;
    let convert = |r: crate::network::NetworkResult| CableResult {
        spikes: r
            .spikes
            .iter()
            .map(|&(c, t)| (c as usize, ((t / dt).round() as u64).saturating_sub(1)))
            .collect(),
        traces: r
            .traces
            .chunks(probes.len().max(1))
            .map(|per_probe| per_probe.iter().map(|(_, v)| v.clone()).collect())
            .collect(),
        probes: probes.clone(),
        detector: spike_source(model, &tree),
        compartments: tree.len(),
        compile_seconds: r.compile_seconds,
    };
    let network_options = crate::network::NetworkOptions {
        steps: opts.steps,
        interrupt: opts.interrupt.clone(),
        progress: opts.progress.clone(),
        exchange: opts.exchange.clone(),
    };
    crate::network::run(model, &network, &network_options)
        .map(convert)
        .map_err(|s| Stopped {
            error: s.error,
            partial: s.partial.map(|p| Box::new(convert(*p))),
        })
}

/// Runs `whole` (see [`hhc_compiler::cable::build`]) for `opts.n` cells on `backend`, each
/// cell's whole step one kernel iteration: a lane on the CPU, a thread on the GPU. Returns what
/// [`run`] returns; θ comes from the model the program was built from, not from `opts`.
pub fn run_whole_cells(
    model: &Model,
    whole: &CableProgram,
    backend: &mut dyn Backend,
    opts: &CableOptions,
    precision: Precision,
    steps_per_call: u64,
) -> Result<CableResult, Stopped<CableResult>> {
    let probes = whole.probe_slots.len();
    let as_cable = |r: sim::RunResult| CableResult {
        spikes: r.spikes,
        traces: r.traces.chunks(probes.max(1)).map(<[_]>::to_vec).collect(),
        probes: whole.probes.names.clone(),
        detector: whole.probes.spike_place.clone(),
        compartments: whole.compartments,
        compile_seconds: 0.0,
    };
    let r = sim::run(
        &whole.program,
        model,
        backend,
        &sim::RunOptions {
            n: opts.n,
            steps: opts.steps,
            precision,
            record: opts.record.clone(),
            record_slots: whole.probe_slots.iter().map(|&s| s as usize).collect(),
            keep_spikes: true,
            progress: opts.progress.clone(),
            steps_per_call,
            interrupt: opts.interrupt.clone(),
        },
    )
    .map_err(|s| Stopped {
        error: s.error,
        partial: s.partial.map(|p| Box::new(as_cable(*p))),
    })?;
    Ok(as_cable(r))
}

/// Compiles every region of `model`'s cell and lays out its slots for `n` cells in chunks of
/// `chunk_cells`, with every state at its initial value.
pub(crate) fn build_regions(
    model: &Model,
    tree: &Tree,
    n: usize,
    chunk_cells: usize,
) -> Result<Vec<RegionKernels>, RunError> {
    let cell = &model.cell;
    let mut regions = Vec::new();
    for region in Region::all(cell, tree) {
        let hhc_compiler::cable::RegionPrograms {
            step: program,
            at_rest,
            currents,
        } = region.programs(model);
        let compile =
            |p| jit::compile(p, Precision::F64).map_err(|e| RunError::Backend(BackendError(e.0)));
        let kernel = compile(&program)?;
        let initial = compile(&at_rest)?;
        let currents = currents.as_ref().map(compile).transpose()?;
        let sub = region.model(model);
        let points = region
            .points
            .iter()
            .enumerate()
            .map(|(k, &p)| {
                let mi = region.inserts.len() + k;
                (p, hhc_compiler::cell::build_receive(&sub, mi, &program))
            })
            .collect();
        let region_nodes = region.nodes.clone();
        let count = n * region_nodes.len();
        let mut slots: Vec<SlotArray> = (0..program.slots.len())
            .map(|k| SlotArray::zeros(count, k))
            .collect();
        // Slot 0 is V, which the Hines solve updates in place.
        slots[0].fill(cell.v_init);
        // Parameters that vary along sections (linear in x between the two given values), and
        // the compartments' diameters and areas where a mechanism reads them.
        let varying = sub
            .cell
            .inserts
            .iter()
            .any(|ins| !ins.along.is_empty() || !ins.per_cell.is_empty())
            || program
                .slots
                .iter()
                .any(|s| matches!(s.name.as_str(), "diam" | "area"));
        for (j, &node) in region_nodes.iter().enumerate() {
            let along = region.along_values(model, tree.place[node].1);
            for (name, x) in along.into_iter().chain(tree.geometry_values(node)) {
                if let Some(k) = program.slots.iter().position(|s| s.name == name) {
                    for c in 0..n {
                        slots[k][compartment(c, j, region_nodes.len(), n, chunk_cells)] = x;
                    }
                }
            }
        }
        // Parameters with a value per cell (a population's table).
        for (mi, ins) in sub.cell.inserts.iter().enumerate() {
            for (pi, values) in &ins.per_cell {
                let name = hhc_compiler::cell::per_cell_slot_name(mi, &ins.mechanism, *pi);
                let Some(k) = program.slots.iter().position(|s| s.name == name) else {
                    continue;
                };
                for j in 0..region_nodes.len() {
                    for c in 0..n {
                        let x = values.get(c).copied().unwrap_or(ins.params[*pi]);
                        slots[k][compartment(c, j, region_nodes.len(), n, chunk_cells)] = x;
                    }
                }
            }
        }
        // Initial values, per compartment: they may read those parameters.
        let roots: Vec<_> = program.init.iter().map(|(_, e)| *e).collect();
        for j in 0..if varying { count } else { count.min(1) } {
            let values = interp::eval(&program.exprs, &roots, &|var| match var {
                hhc_compiler::ir::Var::Slot(k) => slots[k as usize][j],
                _ => f64::NAN,
            });
            for ((slot, _), x) in program.init.iter().zip(values) {
                if varying {
                    slots[*slot as usize][j] = x;
                } else {
                    slots[*slot as usize].fill(x);
                }
            }
        }
        let find = |name: &str| {
            program
                .slots
                .iter()
                .position(|s| s.name == name)
                .unwrap_or(0)
        };
        let (i_slot, g_slot) = (
            find(hhc_compiler::cell::MEMBRANE_CURRENT_SLOT),
            find(hhc_compiler::cell::MEMBRANE_CONDUCTANCE_SLOT),
        );
        regions.push(RegionKernels {
            kernel,
            initial,
            currents,
            points,
            first_point_insert: region.inserts.len(),
            spike_words: vec![0; count],
            bad: vec![-1; count],
            nodes: region_nodes,
            slots,
            slot_names: program.slots.iter().map(|s| s.name.clone()).collect(),
            i_slot,
            g_slot,
        });
    }
    Ok(regions)
}

/// Cells per chunk for a tree of `nodes`: about a thousand compartments, enough to amortise a
/// task, few enough that a chunk's slots, V, I and G stay in cache from the solve to the
/// kernels, and that the tasks balance over the threads. A multiple of 8 where it can be, so
/// that every row is whole vectors (8 f64 on AVX-512) with no scalar rest.
pub(crate) fn chunk_cells_for(nodes: usize) -> usize {
    match 1024 / nodes {
        fit @ 8.. => (fit / 8 * 8).min(64),
        fit => fit.max(1),
    }
}

/// Steps a task takes its chunk of cells through before results are gathered (at most; a
/// network's epoch may be shorter).
pub(crate) const STEPS_PER_BLOCK: u64 = 64;

/// The slot arrays' base pointers, shared by the threads that run disjoint ranges of cells.
pub(crate) struct SlotPointers(Vec<*mut u8>);
// SAFETY: the pointers are only dereferenced by the kernel, on disjoint index ranges.
unsafe impl Sync for SlotPointers {}

impl SlotPointers {
    fn base(&self) -> *const *mut u8 {
        self.0.as_ptr()
    }
}

impl SendPtr {
    pub(crate) fn new(p: *mut u8) -> SendPtr {
        SendPtr(p)
    }

    pub(crate) fn get(&self) -> *mut u8 {
        self.0
    }
}

/// An output array's base pointer, shared the same way.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr(*mut u8);
// SAFETY: as for SlotPointers.
unsafe impl Sync for SendPtr {}
unsafe impl Send for SendPtr {}

/// What turns a region's current and conductance densities into the solve's nA and µS.
pub(crate) struct MembraneCurrents {
    /// Per node: membrane area × 1e3, which turns µA/cm² into nA (and mS/cm² into µS).
    pub(crate) density_to_current: Vec<f64>,
    /// A constant stimulus density (µA/cm²), inward.
    pub(crate) density: f64,
}

/// A region's kernels and raw pointers to its arrays, shared by the tasks of one step; each task
/// reads and writes only its own cells' entries.
pub(crate) struct RegionView<'a> {
    kernel: &'a jit::CompiledStep,
    initial: &'a jit::CompiledStep,
    currents: Option<&'a jit::CompiledStep>,
    nodes: &'a [usize],
    slots: SlotPointers,
    spike_words: SendPtr,
    bad: SendPtr,
    i_slot: usize,
    g_slot: usize,
}

impl<'a> RegionView<'a> {
    pub(crate) fn new(r: &'a mut RegionKernels) -> RegionView<'a> {
        RegionView {
            slots: SlotPointers(r.slots.iter_mut().map(|a| a.as_mut_ptr().cast()).collect()),
            spike_words: SendPtr(r.spike_words.as_mut_ptr().cast()),
            bad: SendPtr(r.bad.as_mut_ptr().cast()),
            kernel: &r.kernel,
            initial: &r.initial,
            currents: r.currents.as_ref(),
            nodes: &r.nodes,
            i_slot: r.i_slot,
            g_slot: r.g_slot,
        }
    }

    /// Runs the region's kernel over `cells`: states advance at the V in slot 0 (unless
    /// `initial`), and the membrane current and conductance densities land in their slots.
    pub(crate) fn advance(&self, cells: std::ops::Range<usize>, t: f64, initial: bool) {
        let per = self.nodes.len();
        let kernel = if initial { self.initial } else { self.kernel };
        // SAFETY: every slot array holds n·per values, and this task owns the cells' entries.
        unsafe {
            kernel.call(
                self.slots.base(),
                (cells.start * per) as u64,
                (cells.end * per) as u64,
                t,
                1,
                self.spike_words.get().cast(),
                self.bad.get().cast(),
            );
        }
    }
}

impl RegionKernels {
    /// Where point `point` of the cell (an index into its points) keeps parameter `pi` of its
    /// mechanism `m` when the parameter has a value per cell: the slot's index.
    pub(crate) fn point_param_slot(
        &self,
        point: usize,
        m: &hhc_compiler::ir::Mechanism,
        pi: usize,
    ) -> Option<usize> {
        let k = self.points.iter().position(|(p, _)| *p == point)?;
        let name = hhc_compiler::cell::per_cell_slot_name(self.first_point_insert + k, m, pi);
        self.slot_names.iter().position(|s| *s == name)
    }
}

impl RegionView<'_> {
    /// Recomputes the current and conductance of compartments `range` (indices into the slot
    /// arrays) at their present states, for a region with point processes.
    pub(crate) fn recompute(&self, range: std::ops::Range<usize>, t: f64) {
        let Some(kernel) = self.currents else { return };
        // SAFETY: as for `advance`; the range is the calling task's.
        unsafe {
            kernel.call(
                self.slots.base(),
                range.start as u64,
                range.end as u64,
                t,
                1,
                self.spike_words.get().cast(),
                self.bad.get().cast(),
            );
        }
    }

    /// Slot array `k`.
    pub(crate) fn slot(&self, k: usize) -> *mut f64 {
        self.slots.0[k].cast()
    }
}

/// Where a chunk's rows live: node k's V, current density and conductance density for the
/// chunk's cells, in the slot arrays of the region that holds k (node-major within the chunk,
/// so each is one contiguous row of `cells`).
pub(crate) struct ChunkRows {
    cells: usize,
    v: Vec<*mut f64>,
    i: Vec<*const f64>,
    g: Vec<*const f64>,
}

// SAFETY: the pointers are dereferenced only by the task that steps the chunk's cells (see
// `v`); a chunk's task may keep its rows from one epoch to the next on another thread.
unsafe impl Send for ChunkRows {}

impl ChunkRows {
    pub(crate) fn new(
        views: &[RegionView<'_>],
        nodes: usize,
        cells: std::ops::Range<usize>,
    ) -> ChunkRows {
        let mut rows = ChunkRows {
            cells: 0,
            v: Vec::new(),
            i: Vec::new(),
            g: Vec::new(),
        };
        rows.refill(views, nodes, cells);
        rows
    }

    /// Points the rows at `cells` of `views`, keeping the lists' memory.
    pub(crate) fn refill(
        &mut self,
        views: &[RegionView<'_>],
        nodes: usize,
        cells: std::ops::Range<usize>,
    ) {
        let cc = cells.len();
        let rows = self;
        rows.cells = cc;
        rows.v.clear();
        rows.v.resize(nodes, std::ptr::null_mut());
        rows.i.clear();
        rows.i.resize(nodes, std::ptr::null());
        rows.g.clear();
        rows.g.resize(nodes, std::ptr::null());
        for r in views {
            let slot = |k: usize| r.slots.0[k].cast::<f64>();
            for (j, &node) in r.nodes.iter().enumerate() {
                let at = row_start(cells.start, j, r.nodes.len(), cc);
                // SAFETY: the region's arrays hold n·per values; `at + cc` is within them.
                unsafe {
                    rows.v[node] = slot(0).add(at);
                    rows.i[node] = slot(r.i_slot).add(at).cast_const();
                    rows.g[node] = slot(r.g_slot).add(at).cast_const();
                }
            }
        }
        debug_assert!(
            rows.v.iter().all(|p| !p.is_null()),
            "every node is in a region"
        );
    }

    /// Node k's V for the chunk's cells.
    ///
    /// # Safety
    /// The rows belong to the calling task, and no `&mut` to the same row is alive.
    pub(crate) unsafe fn v(&self, k: usize) -> &[f64] {
        unsafe { std::slice::from_raw_parts(self.v[k], self.cells) }
    }

    /// # Safety
    /// As for [`Self::v`], and no other reference to the row is alive.
    #[allow(clippy::mut_from_ref)] // the rows are raw pointers into the regions' arrays
    unsafe fn v_mut(&self, k: usize) -> &mut [f64] {
        unsafe { std::slice::from_raw_parts_mut(self.v[k], self.cells) }
    }

    /// Node k's current and conductance densities. Safety as for [`Self::v`].
    unsafe fn i_g(&self, k: usize) -> (&[f64], &[f64]) {
        unsafe {
            (
                std::slice::from_raw_parts(self.i[k], self.cells),
                std::slice::from_raw_parts(self.g[k], self.cells),
            )
        }
    }
}

/// The parts of the tree matrix that do not change during a run.
pub(crate) struct TreeMatrix {
    /// Parent of each node (node 0, the root, has none; its entry is unused).
    parent: Vec<usize>,
    /// Axial conductance to the parent, µS.
    g_axial: Vec<f64>,
    /// C/(θ·dt) plus the axial conductances that meet at the node, µS.
    diagonal: Vec<f64>,
    theta: f64,
}

impl TreeMatrix {
    pub(crate) fn new(tree: &Tree, cm: f64, theta_dt: f64, theta: f64) -> TreeMatrix {
        TreeMatrix {
            parent: tree
                .parent
                .iter()
                .map(|p| p.unwrap_or(usize::MAX))
                .collect(),
            g_axial: tree.g_axial.clone(),
            diagonal: tree.diagonal(cm, theta_dt),
            theta,
        }
    }
}

/// Where compartment `j` (of `per` in a region) of cell `c` lives in the region's slot arrays:
/// each chunk of `chunk_cells` cells (the last may be shorter) is node-major, like V.
pub(crate) fn compartment(c: usize, j: usize, per: usize, n: usize, chunk_cells: usize) -> usize {
    let first = c / chunk_cells * chunk_cells;
    let cells = chunk_cells.min(n - first);
    row_start(first, j, per, cells) + (c - first)
}

/// Where row `j` (of `per` in a region) of the chunk of `cells` cells from cell `first` begins.
pub(crate) fn row_start(first: usize, j: usize, per: usize, cells: usize) -> usize {
    first * per + j * cells
}

/// Eliminates node k into its parent p, for every cell: `vp`, `vk` are V_n; `dp`, `rp`, `dk`,
/// `rk` the diagonals and right-hand sides. Separate slices as arguments, so the compiler knows
/// they do not overlap and vectorises the loop.
#[inline(always)]
fn eliminate(
    ga: f64,
    vp: &[f64],
    vk: &[f64],
    dp: &mut [f64],
    rp: &mut [f64],
    dk: &mut [f64],
    rk: &mut [f64],
) {
    let n = vk.len();
    let (vp, dp, rp, dk, rk) = (
        &vp[..n],
        &mut dp[..n],
        &mut rp[..n],
        &mut dk[..n],
        &mut rk[..n],
    );
    for c in 0..n {
        let flow = ga * (vp[c] - vk[c]);
        let rhs_k = rk[c] + flow;
        rk[c] = rhs_k;
        let inv = 1.0 / dk[c];
        dk[c] = inv;
        let f = ga * inv;
        dp[c] -= f * ga;
        rp[c] += f * rhs_k - flow;
    }
}

/// Node k's ΔV from its parent's (`rp`, already substituted), for every cell; V advances by
/// ΔV/θ.
#[inline(always)]
fn substitute(ga: f64, inv_theta: f64, rp: &[f64], dk: &[f64], rk: &mut [f64], vk: &mut [f64]) {
    let n = rk.len();
    let (rp, dk, vk) = (&rp[..n], &dk[..n], &mut vk[..n]);
    for c in 0..n {
        let dv = (rk[c] + ga * rp[c]) * dk[c];
        rk[c] = dv; // parents come first, so their rhs already holds their ΔV
        vk[c] += dv * inv_theta;
    }
}

/// Node k's row of the system before elimination, for every cell: the diagonal
/// `C/(θ·dt) + g·area` and the right-hand side `I_inj − (i − i_stim)·area`, from the region's
/// densities `i`, `g`.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // one row's inputs and outputs, each a slice or constant
fn load(
    diagonal: f64,
    injected: f64,
    area: f64,
    density: f64,
    g: &[f64],
    i: &[f64],
    dk: &mut [f64],
    rk: &mut [f64],
) {
    let n = dk.len();
    let (g, i, rk) = (&g[..n], &i[..n], &mut rk[..n]);
    for c in 0..n {
        dk[c] = diagonal + g[c] * area;
        rk[c] = injected - (i[c] - density) * area;
    }
}

/// [`HinesWork::solve_rows`] compiled for one instruction set. The body is plain Rust, so the
/// arithmetic, and every bit of the results, is the same in each copy; only the vector width
/// differs (the crate itself is built for baseline x86-64, whose vectors hold 2 f64).
pub(crate) type SolveRows =
    unsafe fn(&mut HinesWork, &TreeMatrix, &ChunkRows, &MembraneCurrents, &[f64]);

// SAFETY (the three copies): `solve_for_this_cpu` hands out a copy only on a CPU with its
// features, and the caller's rows are its own (see `HinesWork::solve_rows`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
unsafe fn solve_avx512(
    w: &mut HinesWork,
    m: &TreeMatrix,
    r: &ChunkRows,
    c: &MembraneCurrents,
    inj: &[f64],
) {
    unsafe { w.solve_rows(m, r, c, inj) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn solve_avx2(
    w: &mut HinesWork,
    m: &TreeMatrix,
    r: &ChunkRows,
    c: &MembraneCurrents,
    inj: &[f64],
) {
    unsafe { w.solve_rows(m, r, c, inj) }
}

unsafe fn solve_baseline(
    w: &mut HinesWork,
    m: &TreeMatrix,
    r: &ChunkRows,
    c: &MembraneCurrents,
    inj: &[f64],
) {
    unsafe { w.solve_rows(m, r, c, inj) }
}

/// The widest copy of the solve this CPU runs, narrowed as the exp routines are by
/// `HHC_BATCH_ISA`.
pub(crate) fn solve_for_this_cpu() -> SolveRows {
    match jit::batched::routines().isa {
        #[cfg(target_arch = "x86_64")]
        "avx512" => solve_avx512,
        #[cfg(target_arch = "x86_64")]
        "avx2" => solve_avx2,
        _ => solve_baseline,
    }
}

/// The work arrays of a chunk's Hines solve, node-major like the chunk: the diagonal and the
/// right-hand side of every node for every cell.
pub(crate) struct HinesWork {
    d: Vec<f64>,
    rhs: Vec<f64>,
    solve_rows: SolveRows,
}

impl HinesWork {
    pub(crate) fn new(nodes: usize, cells: usize, solve_rows: SolveRows) -> HinesWork {
        HinesWork {
            d: vec![0.0; nodes * cells],
            rhs: vec![0.0; nodes * cells],
            solve_rows,
        }
    }

    /// The implicit step of a chunk's cells on their common tree, in place on the V rows.
    /// Every row is node-major (one node, every cell of the chunk); unknowns are ΔV = V* − V_n,
    /// and the axial currents at V_n are on the right. Hines elimination from the leaves up,
    /// then back down; node 0 is the root and every other node's parent has a smaller index.
    ///
    /// A cell's elimination is one long chain of divisions, but the cells are independent: each
    /// node's work is one loop over the chunk's cells, which the compiler vectorises and the core
    /// overlaps. Every cell gets exactly the operations of a lone solve, in the same order.
    pub(crate) fn solve(
        &mut self,
        m: &TreeMatrix,
        rows: &ChunkRows,
        c: &MembraneCurrents,
        inj: &[f64],
    ) {
        // SAFETY: `self.solve_rows` came from `solve_for_this_cpu`; the rows are this task's
        // and no other reference to them is alive during the solve.
        unsafe { (self.solve_rows)(self, m, rows, c, inj) }
    }

    /// [`Self::solve`]'s body, inlined into each instruction set's copy.
    ///
    /// # Safety
    /// As for [`ChunkRows::v_mut`], for every row.
    #[inline(always)]
    unsafe fn solve_rows(
        &mut self,
        m: &TreeMatrix,
        rows: &ChunkRows,
        c: &MembraneCurrents,
        inj: &[f64],
    ) {
        let (nodes, cells) = (inj.len(), rows.cells);
        let (d, rhs) = (&mut self.d[..nodes * cells], &mut self.rhs[..nodes * cells]);
        let row = |k: usize| k * cells..(k + 1) * cells;
        for k in 0..nodes {
            let (dk, rk) = (&mut d[row(k)], &mut rhs[row(k)]);
            let (i, g) = unsafe { rows.i_g(k) };
            let area = c.density_to_current[k];
            load(m.diagonal[k], inj[k], area, c.density, g, i, dk, rk);
        }
        // From the leaves up: a node's axial current at V_n joins its right-hand side (its
        // children, which come later, have already added theirs), then the node is eliminated
        // into its parent. One division per node: d becomes its reciprocal.
        for k in (1..nodes).rev() {
            let (p, ga) = (m.parent[k], m.g_axial[k]);
            let (d_lo, d_hi) = d.split_at_mut(k * cells);
            let (r_lo, r_hi) = rhs.split_at_mut(k * cells);
            let (dp, rp) = (&mut d_lo[row(p)], &mut r_lo[row(p)]);
            let (dk, rk) = (&mut d_hi[..cells], &mut r_hi[..cells]);
            let (vp, vk) = unsafe { (rows.v(p), rows.v(k)) };
            eliminate(ga, vp, vk, dp, rp, dk, rk);
        }
        let inv_theta = 1.0 / m.theta;
        let v0 = unsafe { rows.v_mut(0) };
        for ((r0, &d0), v0) in rhs[row(0)].iter_mut().zip(&d[row(0)]).zip(v0) {
            *r0 /= d0;
            *v0 += *r0 * inv_theta;
        }
        for k in 1..nodes {
            let (p, ga) = (m.parent[k], m.g_axial[k]);
            let (r_lo, r_hi) = rhs.split_at_mut(k * cells);
            let (rp, rk) = (&r_lo[row(p)], &mut r_hi[..cells]);
            let vk = unsafe { rows.v_mut(k) };
            substitute(ga, inv_theta, rp, &d[row(k)], rk, vk);
        }
    }
}
