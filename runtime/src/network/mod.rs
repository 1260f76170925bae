//! Networks: populations of cells on the cable solver, point processes on them, and spikes
//! delivered as events after their connection's delay, with NEURON's fixed-step rules.
//!
//! **Time.** `t` advances as NEURON's does, by two half steps per step (`t += dt/2` twice), so
//! that every comparison below sees NEURON's floating-point times.
//!
//! **One step of a cell population** (`nrn_fixed_step`):
//! 1. events whose time `te` satisfies `te <= t + dt/2` are delivered: each runs its target's
//!    NET_RECEIVE with the connection's weight, and the target's current is recomputed;
//! 2. the tree's implicit solve, with each point process's current (nA) and conductance (µS)
//!    at its node beside the compartments' densities;
//! 3. states advance at the new V (compartments, then point processes), and the currents for the
//!    next step follow;
//! 4. a spike is the detector's V rising above V_th (strictly, NEURON's `PreSyn`), recorded at
//!    the step's end time t; each connection from the cell then carries an event for
//!    `(t + 1e-10) + delay`, NEURON's stamp (a spike source's events are at `t + delay`);
//! 5. the active WATCH conditions of the point processes are checked at the same moment; one
//!    that has become true sends its point process an event for t, delivered by step 1 next.
//!
//! A NET_RECEIVE may write V (NEURON copies `v` back to the node) and may make its cell spike
//! (`net_event(t)`, at the event's time, with no threshold stamp); such a cell has no
//! threshold detector.
//!
//! **Epochs.** A spike can reach no cell sooner than the shortest delay, so the populations
//! advance independently for `floor(min_delay/dt)` steps at a time (each chunk of cells in its
//! own task, in parallel), and the spikes of an epoch are turned into events between epochs, as
//! NEURON's ParallelContext and Arbor do. Every event is known before the epoch that delivers
//! it, so the results do not depend on the thread count.
//!
//! **Filing.** Between epochs the spikes' events go straight to their target's chunk, into a
//! ring of lists by the epoch that delivers them (or a few epochs per list, when delays are
//! long beside the shortest); a chunk's task sorts its list stably by time, delivers the
//! epoch's events step by step and keeps the rest. Up to eight workers file at once, each into
//! its own share of the chunks. A list is appended to in the order the events were sent (the
//! epoch's spikes in order, each sender's connections in order), whichever worker files it,
//! so the stable sort breaks ties in time as NEURON's queue does, on any thread count, and an
//! event needs no number of its own: it is 24 bytes (time, weight, target, values).

use crate::cable::{self, ChunkRows, HinesWork, MembraneCurrents, RegionView, TreeMatrix};
use crate::distributed::{self, Alone, Exchange, Reader, Writer};
use crate::sim::{self, RunError, Stopped};
use hhc_compiler::cable::{stimulus_density, Injection, Probes, Tree};
use hhc_compiler::cell::{build_artificial, ArtificialProgram, ReceiveProgram};
use hhc_compiler::ir::Draw;
use hhc_compiler::ir::{interp, Var};
use hhc_compiler::sema::model::Model;
use hhc_compiler::sema::network::uniform;
use hhc_compiler::sema::network::{
    Network, PopulationKind, SpikeTrains, ADJUSTER_SEES_POST, NO_ADJUSTER,
};
use rayon::prelude::*;

mod adjusters;
mod artificial;
mod events;
mod gap;
use adjusters::*;
use artificial::*;
use events::*;
use gap::*;

/// What a network run produced.
#[derive(Clone, Debug, Default)]
pub struct NetworkResult {
    /// (global cell id, time in ms) of every spike, in time order.
    pub spikes: Vec<(u64, f64)>,
    /// Traces of the recorded cells: a name (`population[i] sec(x)`) and V at t = 0, dt, …
    pub traces: Vec<(String, Vec<f64>)>,
    pub steps_done: u64,
    pub compile_seconds: f64,
    /// Events delivered to point processes.
    pub events_delivered: u64,
    /// Seconds this process spent in the exchanges of spikes (waiting for the others
    /// included), and sorting every process's spikes and filing the events of its own cells.
    pub exchange_seconds: f64,
    pub filing_seconds: f64,
}

pub struct NetworkOptions {
    pub steps: u64,
    pub interrupt: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    pub progress: Option<sim::ProgressFn>,
    /// The processes that share the run, each stepping its own cells; one when `None`.
    pub exchange: Option<std::sync::Arc<dyn Exchange>>,
}

/// Where a point process of the cell lives: its region (its node's compartment program), and its
/// NET_RECEIVE over that region's slots.
struct PointTarget {
    region: usize,
    receive: Option<ReceiveProgram>,
    /// What NET_RECEIVE evaluates: its updates, each `net_send`'s condition, delay and flag,
    /// each `net_event`'s condition, each WATCH's condition, value and flag, the changed
    /// arguments, each `net_move`'s condition and delay, then each FOR_NETCONS's condition.
    reaction: interp::Prepared,
    /// Per FOR_NETCONS loop, the values it gives a connection's arguments.
    for_netcons: Vec<interp::Prepared>,
    /// Each WATCH's value, as checked after a step.
    watch_values: interp::Prepared,
    /// The same when each is a slot minus a constant or the reverse (`v > vpeak`): (slot,
    /// constant, whether the slot comes first), no interpreter after every step.
    watch_differences: Option<Vec<(u32, f64, bool)>>,
    /// NET_RECEIVE as `state += w·a` per state, when it has that form (ExpSyn, Exp2Syn): no
    /// interpreter on the event path, and the same arithmetic.
    linear: Option<Vec<(u32, f64)>>,
}

/// One population of cells and everything its steps need.
struct CellPopulation {
    first: u64,
    /// Where its cells start within the population (a process of several steps a block).
    offset: u64,
    /// Each recorded cell's place in the population's `record` list.
    record_positions: Vec<usize>,
    n: usize,
    nodes: usize,
    chunk_cells: usize,
    regions: Vec<cable::RegionKernels>,
    /// Per point process of the cell.
    points: Vec<PointTarget>,
    /// Each point process's mechanism.
    point_mechanisms: Vec<hhc_compiler::ir::Mechanism>,
    /// The weight adjusters of connections to this population's cells.
    adjusters: Adjusters,
    matrix: TreeMatrix,
    currents: MembraneCurrents,
    injections: Vec<Injection>,
    probe_nodes: Vec<usize>,
    /// Per probe, the states and currents traced beside its V.
    probe_states: Vec<Vec<Traced>>,
    spike_node: usize,
    /// The cell spikes when a point process calls `net_event`, not at a threshold.
    spikes_from_points: bool,
    /// Where spikes are detected, for messages (`soma(0.5)`).
    spike_place: String,
    v_th: f64,
    /// NEURON's threshold flag per cell: V was above threshold at the last check.
    above: Vec<bool>,
    record: Vec<usize>,
    traces: Vec<Vec<Vec<f64>>>,
    /// Events by the chunk of their target and the steps that deliver them: per chunk a ring of
    /// `ring` lists, each for `slot_steps` steps (a whole number of epochs), appended to in the
    /// order filed. The lists keep their memory from one use to the next.
    pending: Vec<Vec<Vec<Arrival>>>,
    /// How an [`Arrival`] names its cell and point process within a chunk.
    codes: PointCodes,
    slot_steps: u64,
    ring: usize,
    chunks: usize,
    /// Per chunk, its point processes' self-events.
    self_events: Vec<SelfEvents>,
    /// Per chunk, the work arrays its task reuses from epoch to epoch.
    scratch: Vec<ChunkScratch>,
    /// Each step's injected currents per node, for the steps of an epoch (reused).
    injected: Vec<f64>,
    /// The values each connection to a point process keeps (NET_RECEIVE's arguments after
    /// the weight), connection after connection; written only by the chunk of the target.
    connection_values: Vec<f64>,
    /// Where each connection's values start, by (cell, point), for the point processes whose
    /// NET_RECEIVE loops over its connections (`FOR_NETCONS`), in the order they were made.
    netcons: std::collections::HashMap<(u32, u32), Vec<u32>>,
}

/// Gap junction sites per task when their `vgap` is computed in parallel.
const GAP_SITES_PER_TASK: usize = 32768;

/// The compartment-steps below which an epoch's chunks run on one thread. A task handed to
/// another thread costs some microseconds, about the time of this many compartment-steps.
const PARALLEL_EPOCH_WORK: u64 = 8192;

/// What a chunk's task keeps from one epoch to the next: its work arrays, which a network of
/// one-step epochs (gap junctions) would otherwise allocate at every step.
#[derive(Default)]
struct ChunkScratch {
    hines: Option<HinesWork>,
    rows: Option<ChunkRows>,
    /// Per region, the compartments whose synapses received events this step, and whether
    /// each cell of the chunk is among them.
    dirty: Vec<Vec<usize>>,
    marked: Vec<Vec<bool>>,
    reaction: Reaction,
    watch_events: Vec<Event>,
    /// The traced currents a step's solve uses.
    used: Vec<f64>,
    adjuster: (Vec<f64>, Vec<f64>, Vec<f64>),
    /// Per (cell, point) of the chunk whose NET_RECEIVE draws random numbers: the draws made.
    draws_made: std::collections::HashMap<(u32, u32), u64>,
}

/// A state or current traced at a probe: where its values live.
struct Traced {
    region: usize,
    slot: usize,
    /// The node's row in the region, and the region's rows per cell.
    row: usize,
    rows: usize,
    /// A current: sampled when the step's solve uses it, as NEURON records one at the step's
    /// end (a state is sampled after it advances).
    current: bool,
}

/// What one chunk did during an epoch.
#[derive(Default)]
struct ChunkOutcome {
    /// (cell, step) of each spike: V crossed threshold during `step`.
    spikes: Vec<(usize, u64)>,
    /// (cell, time) of each spike a point process made (`net_event`).
    emitted: Vec<(usize, f64)>,
    bad: Option<(u64, usize, f64)>,
    /// (step, cell, delay) of a `net_send` into the past, which NEURON refuses too.
    backwards: Option<(u64, usize, f64)>,
    /// (step, cell) of a `net_move` with no self-event to move, which NEURON refuses too.
    unmovable: Option<(u64, usize)>,
    traces: Vec<(usize, Vec<Vec<f64>>)>,
    delivered: u64,
}

impl CellPopulation {
    /// Where the values of a connection to point `point` of cell `cell` start, or
    /// [`NO_VALUES`] when its NET_RECEIVE keeps none: its arguments, the weight first and
    /// the others 0, then as NET_RECEIVE's INITIAL sets them (at t = 0, reading the point's
    /// initial state).
    fn connection_values(&mut self, cell: usize, point: usize, weight: f64) -> u32 {
        let Some(target) = self.points.get(point) else {
            return NO_VALUES;
        };
        let Some(r) = target
            .receive
            .as_ref()
            .filter(|r| r.keeps_connection_values())
        else {
            return NO_VALUES;
        };
        let start = self.connection_values.len();
        let mut own = vec![0.0; r.args];
        own[0] = weight;
        let roots: Vec<_> = r.arg_init.iter().map(|a| a.1).collect();
        let at = cable::compartment(cell, 0, 1, self.n, self.chunk_cells);
        let region = &self.regions[target.region];
        let values = interp::eval(&r.exprs, &roots, &|var| match var {
            Var::Slot(k) => region.slots[k as usize][at],
            Var::Arg(k) if (k as usize) < own.len() => own[k as usize],
            _ => 0.0,
        });
        for (&(k, _), x) in r.arg_init.iter().zip(values) {
            own[k as usize] = x;
        }
        self.connection_values.extend(own);
        if !r.for_netcons.is_empty() {
            let list = self.netcons.entry((cell as u32, point as u32)).or_default();
            list.push(start as u32);
        }
        start as u32
    }

    fn new(model: &Model, first: u64) -> Result<CellPopulation, RunError> {
        let cell = &model.cell;
        let tree = Tree::new(cell);
        let nodes = tree.len();
        let n = model.count as usize;
        let chunk_cells = cable::chunk_cells_for(nodes);
        let mut regions = cable::build_regions(model, &tree, n, chunk_cells)?;
        // The compartments' currents at the initial state, for the first step's matrix.
        for r in regions.iter_mut() {
            RegionView::new(r).advance(0..n, 0.5 * model.dt, true);
        }
        let mut points: Vec<Option<PointTarget>> = (0..cell.points.len()).map(|_| None).collect();
        for (ri, r) in regions.iter().enumerate() {
            for (p, receive) in &r.points {
                let empty = hhc_compiler::ir::ExprArena::new();
                let arena = receive.as_ref().map_or(&empty, |r| &r.exprs);
                let roots = receive.as_ref().map_or(Vec::new(), |r| {
                    let mut roots: Vec<_> = r.updates.iter().map(|u| u.1).collect();
                    for e in &r.sends {
                        roots.extend([e.condition, e.delay, e.flag]);
                    }
                    roots.extend(&r.emits);
                    for w in &r.watches {
                        roots.extend([w.condition, w.value_now, w.flag]);
                    }
                    roots.extend(r.arg_updates.iter().map(|u| u.1));
                    for e in &r.moves {
                        roots.extend([e.condition, e.delay]);
                    }
                    roots.extend(r.for_netcons.iter().map(|l| l.condition));
                    roots
                });
                let for_netcons = receive.as_ref().map_or(Vec::new(), |r| {
                    r.for_netcons
                        .iter()
                        .map(|l| {
                            let roots: Vec<_> = l.updates.iter().map(|u| u.1).collect();
                            interp::Prepared::new(&r.exprs, &roots)
                        })
                        .collect()
                });
                points[*p] = Some(PointTarget {
                    region: ri,
                    linear: receive
                        .as_ref()
                        .filter(|r| {
                            r.sends.is_empty()
                                && r.moves.is_empty()
                                && r.emits.is_empty()
                                && r.watches.is_empty()
                                && !r.keeps_connection_values()
                        })
                        .and_then(linear_in_weight),
                    watch_values: interp::Prepared::new(
                        arena,
                        &receive.as_ref().map_or(Vec::new(), |r| {
                            r.watches.iter().map(|w| w.value).collect::<Vec<_>>()
                        }),
                    ),
                    reaction: interp::Prepared::new(arena, &roots),
                    for_netcons,
                    watch_differences: receive.as_ref().and_then(slot_differences),
                    receive: receive.clone(),
                });
            }
        }
        let Some(points) = points.into_iter().collect::<Option<Vec<_>>>() else {
            return Err(RunError::Backend(crate::backend::BackendError(format!(
                "a point process of cell `{}` sits on no compartment: place it at a point with membrane, e.g. sec(0.5)",
                cell.name
            ))));
        };
        let Probes {
            nodes: probe_nodes,
            spike_node,
            spike_place,
            names: probe_names,
            ..
        } = Probes::new(model, &tree);
        let currents: std::collections::HashSet<String> = cell
            .inserts
            .iter()
            .chain(cell.points.iter().map(|p| &p.insert))
            .flat_map(|ins| {
                let m = &ins.mechanism;
                m.traced_currents()
                    .map(move |c| format!("{}.{}", m.name, c.name))
            })
            .collect();
        let mut probe_states = Vec::new();
        for (&p, place) in probe_nodes.iter().zip(&probe_names) {
            let mut here = Vec::new();
            for state in &model.record_states {
                let found = regions.iter().enumerate().find_map(|(ri, r)| {
                    let j = r.nodes.iter().position(|&x| x == p)?;
                    let k = r.slot_names.iter().position(|s| s == state)?;
                    Some(Traced {
                        region: ri,
                        slot: k,
                        row: j,
                        rows: r.nodes.len(),
                        current: currents.contains(state),
                    })
                });
                let Some(found) = found else {
                    let mut known: Vec<String> = regions
                        .iter()
                        .filter(|r| r.nodes.contains(&p))
                        .flat_map(|r| r.slot_names.iter().filter(|s| s.contains('.')).cloned())
                        .collect();
                    let mut seen = std::collections::HashSet::new();
                    known.retain(|name| seen.insert(name.clone()));
                    let there = if known.is_empty() {
                        "no mechanism with states or currents is inserted there".to_string()
                    } else {
                        format!("the states and currents there are {}", known.join(", "))
                    };
                    return Err(RunError::Backend(crate::backend::BackendError(format!(
                        "no state or current `{state}` at probe {place} of cell `{}`\n  hint: {there}; trace one with probes where its mechanism is inserted",
                        cell.name
                    ))));
                };
                here.push(found);
            }
            probe_states.push(here);
        }
        let record: Vec<usize> = model.record.iter().map(|&c| c as usize).collect();
        // Each recorded cell's columns at t = 0: per probe, V, then its states.
        let traces = record
            .iter()
            .map(|&c| {
                let mut columns = Vec::new();
                for states in &probe_states {
                    columns.push(vec![cell.v_init]);
                    for x in states {
                        let at = cable::compartment(c, x.row, x.rows, n, chunk_cells);
                        columns.push(vec![regions[x.region].slots[x.slot][at]]);
                    }
                }
                columns
            })
            .collect();
        let chunks = n.div_ceil(chunk_cells);
        let self_events = initial_self_events(&mut regions, &points, n, chunk_cells, chunks);
        let spikes_from_points = points
            .iter()
            .any(|p| p.receive.as_ref().is_some_and(|r| !r.emits.is_empty()));
        // Draws are made for NET_RECEIVE's own statements; elsewhere they would read 0.
        let drawing = |what: &str, name: &str| {
            RunError::Backend(crate::backend::BackendError(format!(
                "`{name}` draws random numbers in {what}, which hhc does not draw there yet\n  hint: draw in NET_RECEIVE's own statements"
            )))
        };
        for (p, mech) in points.iter().zip(&cell.points) {
            let Some(r) = &p.receive else { continue };
            let name = &mech.insert.mechanism.name;
            let init: Vec<_> = r.arg_init.iter().map(|u| u.1).collect();
            if r.exprs.draws_in(&init) {
                return Err(drawing("NET_RECEIVE's INITIAL", name));
            }
            let watched: Vec<_> = r.watches.iter().map(|w| w.value_now).collect();
            if r.exprs.draws_in(&watched) {
                return Err(drawing("a WATCH condition", name));
            }
        }
        let adjusters = Adjusters::new(&cell.adjusters, model);
        if let Some(name) = adjusters.initial_draws() {
            return Err(drawing("NET_RECEIVE's INITIAL", name));
        }
        let codes = PointCodes::new(points.len(), chunk_cells).ok_or_else(|| {
            RunError::Backend(crate::backend::BackendError(format!(
                "a cell with {} point processes is more than a network's events can name",
                points.len()
            )))
        })?;
        Ok(CellPopulation {
            first,
            offset: 0,
            codes,
            record_positions: (0..model.record.len()).collect(),
            n,
            nodes,
            chunk_cells,
            regions,
            points,
            point_mechanisms: cell
                .points
                .iter()
                .map(|p| p.insert.mechanism.clone())
                .collect(),
            adjusters,
            matrix: TreeMatrix::new(
                &tree,
                cell.cm,
                model.cable_theta * model.dt,
                model.cable_theta,
            ),
            currents: MembraneCurrents {
                density_to_current: tree.area.iter().map(|a| a * 1e3).collect(),
                density: stimulus_density(model),
            },
            injections: Injection::all(model, &tree),
            traces,
            probe_nodes,
            probe_states,
            spike_node,
            spikes_from_points,
            spike_place,
            v_th: cell.v_th,
            above: vec![cell.v_init > cell.v_th; n],
            record,
            pending: Vec::new(),
            connection_values: Vec::new(),
            netcons: std::collections::HashMap::new(),
            slot_steps: 1,
            ring: 1,
            chunks,
            self_events,
            scratch: (0..chunks).map(|_| ChunkScratch::default()).collect(),
            injected: Vec::new(),
        })
    }

    /// Runs the chunk tasks through steps `from..to` of the epoch, delivering this population's
    /// pending events for those steps. `times[k]` is NEURON's t at the start of step k.
    fn advance(&mut self, from: u64, to: u64, times: &[f64], dt: f64) -> Vec<ChunkOutcome> {
        let n = self.n;
        let chunk_cells = self.chunk_cells;
        // This epoch's events, per chunk and step, taken from the ring (and given back, empty,
        // at the end).
        let slot = (from / self.slot_steps) as usize % self.ring;
        let by_chunk: Vec<Vec<Arrival>> = (self.pending.iter_mut())
            .map(|ring| std::mem::take(&mut ring[slot]))
            .collect();
        let nodes = self.nodes;
        self.injected.clear();
        self.injected.resize((to - from) as usize * nodes, 0.0);
        for (step, inj) in (from..to).zip(self.injected.chunks_mut(nodes)) {
            let tm = (step as f64 + 0.5) * dt;
            for j in &self.injections {
                if tm >= j.from && tm < j.to {
                    inj[j.node] += j.amplitude;
                }
            }
        }
        let inj = &self.injected;
        let views: Vec<RegionView<'_>> = self.regions.iter_mut().map(RegionView::new).collect();
        let values = cable::SendPtr::new(self.connection_values.as_mut_ptr().cast());
        let values = &values;
        let adjuster_states = cable::SendPtr::new(self.adjusters.states.as_mut_ptr().cast());
        let adjuster_states = &adjuster_states;
        let adjuster_draws = cable::SendPtr::new(self.adjusters.draws_made.as_mut_ptr().cast());
        let adjuster_draws = &adjuster_draws;
        let adjusters = &self.adjusters;
        let netcons = &self.netcons;
        let codes = self.codes;
        let pop_first = self.first;
        let targets = &self.points;
        let regions_n = views.len();
        let (matrix, currents, record) = (&self.matrix, &self.currents, &self.record);
        let (spike_node, v_th, probe_nodes, nodes) =
            (self.spike_node, self.v_th, &self.probe_nodes, self.nodes);
        let spikes_from_points = self.spikes_from_points;
        let probe_states = &self.probe_states;
        let columns = probe_nodes.len() + probe_states.iter().map(Vec::len).sum::<usize>();
        let solve_rows = cable::solve_for_this_cpu();
        // An epoch with little work (a one-step epoch of a small network with gap junctions)
        // runs its chunks on this thread: handing them to others costs more than it saves.
        let work = (n * nodes) as u64 * (to - from);
        let per_chunk = (chunk_cells * nodes) as u64 * (to - from);
        // Enough chunks per task to pay for handing it over, and no more than gives every
        // thread one (a one-step epoch of 250 chunks with 128 per task stayed on one thread).
        let per_task = match work < PARALLEL_EPOCH_WORK {
            true => usize::MAX,
            false => (PARALLEL_EPOCH_WORK.div_ceil(per_chunk.max(1)) as usize)
                .min(
                    self.above
                        .len()
                        .div_ceil(chunk_cells * rayon::current_num_threads()),
                )
                .max(1),
        };
        let outcomes: Vec<(ChunkOutcome, Vec<Arrival>)> = self
            .above
            .par_chunks_mut(chunk_cells)
            .zip(self.self_events.par_iter_mut())
            .zip(self.scratch.par_iter_mut())
            .zip(by_chunk.into_par_iter())
            .with_min_len(per_task)
            .enumerate()
            .map(|(ci, (((above, own), kept), mut delivered))| {
                let cells = ci * chunk_cells..((ci + 1) * chunk_cells).min(n);
                let (first, cc) = (cells.start, cells.len());
                let rows = match kept.rows.as_mut() {
                    Some(rows) => {
                        rows.refill(&views, nodes, cells.clone());
                        rows
                    }
                    None => kept
                        .rows
                        .insert(ChunkRows::new(&views, nodes, cells.clone())),
                };
                let rows = &*rows;
                let scratch = kept
                    .hines
                    .get_or_insert_with(|| HinesWork::new(nodes, cc, solve_rows));
                let mut out = ChunkOutcome::default();
                let recorded: Vec<(usize, usize)> = record
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| cells.contains(c))
                    .map(|(ri, &c)| (ri, c - first))
                    .collect();
                out.traces = recorded
                    .iter()
                    .map(|&(ri, _)| (ri, vec![Vec::new(); columns]))
                    .collect();
                let ChunkScratch {
                    dirty,
                    marked,
                    reaction,
                    watch_events,
                    used,
                    adjuster: adjuster_scratch,
                    draws_made,
                    ..
                } = kept;
                dirty.resize(regions_n, Vec::new());
                marked.resize(regions_n, Vec::new());
                for t in targets {
                    marked[t.region].resize(cc, false);
                }
                // The epoch's events in time order (positive, so its bits order as its value),
                // then in the order they were sent: the list's order, which a stable sort
                // keeps.
                if !delivered.is_sorted_by_key(|e| e.te.to_bits()) {
                    delivered.sort_by_key(|e| e.te.to_bits());
                }
                let mut later = &delivered[..];
                for (b, step) in (from..to).enumerate() {
                    // 1. Events due now: te <= t + dt/2 (and those of earlier steps, which
                    //    filing put no sooner than this epoch).
                    let due = times[step as usize] + 0.5 * dt;
                    let now = later.partition_point(|e| e.te <= due);
                    let (events, rest) = later.split_at(now);
                    later = rest;
                    // The connections' events merged with the self-events due now, including
                    // those that the deliveries send for this step.
                    let mut next = events.first().map(|a| codes.event(a, first as u32));
                    let mut i = 0;
                    loop {
                        let e = match own.pop_before(due, next.as_ref()) {
                            Some(e) => e,
                            None => match next {
                                Some(e) => {
                                    i += 1;
                                    next = events.get(i).map(|a| codes.event(a, first as u32));
                                    e
                                }
                                None => break,
                            },
                        };
                        if e.point == ADJUSTER_POINT {
                            // SAFETY: the instance serves a connection to this task's cell.
                            unsafe {
                                adjusters.deliver(
                                    &e,
                                    adjuster_states.get().cast(),
                                    values.get().cast(),
                                    adjuster_draws.get().cast(),
                                    adjuster_scratch,
                                )
                            };
                            out.delivered += 1;
                            continue;
                        }
                        let target = &targets[e.point as usize];
                        let r = target.region;
                        // A point's region has one node, so cell c's compartment is entry c.
                        let at = cable::compartment(e.cell as usize, 0, 1, n, chunk_cells);
                        let connections = match target.for_netcons.is_empty() {
                            true => &[][..],
                            false => {
                                (netcons.get(&(e.cell, e.point))).map_or(&[][..], Vec::as_slice)
                            }
                        };
                        let values = (values, connections);
                        if let Some(rp) = target.receive.as_ref().filter(|r| !r.draws.is_empty()) {
                            let made = draws_made.entry((e.cell, e.point)).or_insert(0);
                            let key = point_draw_key(pop_first + u64::from(e.cell), e.point);
                            draw_values(&rp.draws, key, made, &mut reaction.drawn);
                        }
                        receive(&views[r], target, at, &e, values, reaction);
                        for &(delay, flag) in &reaction.sends {
                            if delay < 0.0 {
                                out.backwards.get_or_insert((step, e.cell as usize, delay));
                            }
                            let movable =
                                target.receive.as_ref().is_some_and(|r| !r.moves.is_empty());
                            own.send(&e, delay.max(0.0), flag, movable);
                        }
                        for &delay in &reaction.moves {
                            if delay < 0.0 {
                                out.backwards.get_or_insert((step, e.cell as usize, delay));
                            }
                            if !own.move_last(&e, delay.max(0.0)) {
                                out.unmovable.get_or_insert((step, e.cell as usize));
                            }
                        }
                        if reaction.spikes {
                            out.emitted.push((e.cell as usize, e.te));
                            adjusters.tell_spike(own, e.cell, e.te);
                        }
                        if let Some(active) = reaction.watches.take() {
                            own.watching.insert((e.cell, e.point), active);
                        }
                        if !std::mem::replace(&mut marked[r][e.cell as usize - first], true) {
                            dirty[r].push(at);
                        }
                        out.delivered += 1;
                    }
                    // Their currents again, with the new states: one by one when few, else
                    // the chunk's whole row.
                    for (r, list) in dirty.iter_mut().enumerate() {
                        if list.is_empty() {
                            continue;
                        }
                        // NEURON evaluates BREAKPOINT at the step's midpoint.
                        let t = times[step as usize] + 0.5 * dt;
                        if list.len() * 4 >= cc {
                            views[r].recompute(first..first + cc, t);
                        } else {
                            for &at in list.iter() {
                                views[r].recompute(at..at + 1, t);
                            }
                        }
                        for &at in list.iter() {
                            marked[r][at - first] = false;
                        }
                        list.clear();
                    }
                    // 2. The implicit solve.
                    // The traced currents this solve uses.
                    used.clear();
                    for &(_, local) in &recorded {
                        for x in probe_states.iter().flatten().filter(|x| x.current) {
                            let at =
                                cable::compartment(first + local, x.row, x.rows, n, chunk_cells);
                            // SAFETY: compartment `at` belongs to this task's cells.
                            used.push(unsafe { *views[x.region].slot(x.slot).add(at) });
                        }
                    }
                    scratch.solve(matrix, rows, currents, &inj[b * nodes..(b + 1) * nodes]);
                    // 3. States at the new V; the currents of the next step, at its midpoint
                    //    (NEURON's time for BREAKPOINT: IClamp's on and off steps).
                    let t_next = times[step as usize + 1] + 0.5 * dt;
                    for r in &views {
                        r.advance(cells.clone(), t_next, false);
                    }
                    // 4. Threshold detection at the step's end.
                    // SAFETY: the rows are this task's, and nothing writes them now.
                    let v_spike_row = unsafe { rows.v(spike_node) };
                    // Most steps no cell crosses and none runs away: one branch-free pass
                    // (which the compiler vectorises) says so, and another keeps the flags.
                    let limit = hhc_compiler::backend::RUNAWAY_MV;
                    let notable = (v_spike_row.iter().zip(above.iter())).fold(
                        false,
                        |any, (&vn, &was_above)| {
                            // A NaN is not within the limit either.
                            let within = vn.abs() <= limit;
                            any | ((vn > v_th) & !was_above) | !within
                        },
                    );
                    if !notable {
                        for (was_above, &vn) in above.iter_mut().zip(v_spike_row) {
                            *was_above = vn > v_th;
                        }
                    } else {
                        for (k, was_above) in above.iter_mut().enumerate() {
                            let vn = v_spike_row[k];
                            let within = vn.abs() <= limit;
                            if !within {
                                out.bad.get_or_insert((step, first + k, vn));
                            }
                            if vn > v_th {
                                if !*was_above && !spikes_from_points {
                                    out.spikes.push((first + k, step));
                                    let t = times[step as usize + 1] + THRESHOLD_TIME_EPSILON;
                                    adjusters.tell_spike(own, (first + k) as u32, t);
                                }
                                *was_above = true;
                            } else {
                                *was_above = false;
                            }
                        }
                    }
                    // 5. The active WATCHes, at the step's end: a condition that has become
                    //    true sends its point process an event now (NEURON's WatchCondition,
                    //    checked beside the thresholds).
                    let t_end = times[step as usize + 1];
                    for (&(cell, point), active) in own.watching.iter_mut() {
                        let target = &targets[point as usize];
                        let view = &views[target.region];
                        let at = cable::compartment(cell as usize, 0, 1, n, chunk_cells);
                        let receive = target.receive.as_ref().expect("a watch has NET_RECEIVE");
                        // SAFETY: compartment `at` belongs to this task's cells.
                        if let Some(differences) = &target.watch_differences {
                            reaction.out.clear();
                            reaction
                                .out
                                .extend(differences.iter().map(|&(k, c, first)| {
                                    let x = unsafe { *view.slot(k as usize).add(at) };
                                    if first {
                                        x - c
                                    } else {
                                        c - x
                                    }
                                }));
                        } else {
                            target.watch_values.eval_into(
                                &receive.exprs,
                                &|var| match var {
                                    Var::Slot(k) => unsafe { *view.slot(k as usize).add(at) },
                                    Var::Builtin(hhc_compiler::ir::Builtin::T) => t_end,
                                    _ => 0.0,
                                },
                                &mut reaction.values,
                                &mut reaction.out,
                            );
                        }
                        for w in active.iter_mut() {
                            if reaction.out[w.index] > 0.0 {
                                if !w.above {
                                    w.above = true;
                                    let now = Event {
                                        te: t_end,
                                        seq: 0,
                                        cell,
                                        point,
                                        weight: 0.0,
                                        flag: w.flag,
                                        values: NO_VALUES,
                                    };
                                    watch_events.push(now);
                                }
                            } else {
                                w.above = false;
                            }
                        }
                    }
                    for e in watch_events.drain(..) {
                        own.send(&e, 0.0, e.flag, false);
                    }
                    let mut used_values = used.iter();
                    for ((_, per_column), &(_, local)) in out.traces.iter_mut().zip(&recorded) {
                        let mut column = per_column.iter_mut();
                        for (&p, states) in probe_nodes.iter().zip(probe_states) {
                            if let Some(trace) = column.next() {
                                trace.push(unsafe { rows.v(p) }[local]);
                            }
                            for x in states {
                                let value = if x.current {
                                    used_values.next().copied().unwrap_or(f64::NAN)
                                } else {
                                    let at = cable::compartment(
                                        first + local,
                                        x.row,
                                        x.rows,
                                        n,
                                        chunk_cells,
                                    );
                                    // SAFETY: compartment `at` belongs to this task's cells.
                                    unsafe { *views[x.region].slot(x.slot).add(at) }
                                };
                                if let Some(trace) = column.next() {
                                    trace.push(value);
                                }
                            }
                        }
                    }
                    if out.bad.is_some() || out.backwards.is_some() || out.unmovable.is_some() {
                        break;
                    }
                }
                // What falls due in later epochs of the same list stays in it.
                let consumed = delivered.len() - later.len();
                delivered.drain(..consumed);
                (out, delivered)
            })
            .collect();
        let mut results = Vec::with_capacity(outcomes.len());
        for ((out, delivered), ring) in outcomes.into_iter().zip(self.pending.iter_mut()) {
            ring[slot] = delivered;
            results.push(out);
        }
        results
    }
}

/// Runs `target`'s NET_RECEIVE for event `e` on compartment `at` of its region; `sends` gets
/// the (delay, flag) of each `net_send` it makes. `values` are the population's connection
/// values and where those of each connection to this point start (for FOR_NETCONS).
/// Whose draws a point process's NET_RECEIVE makes: cell `gid`'s point `point` (apart from an
/// ARTIFICIAL_CELL's, keyed by its gid alone, and a weight adjuster's).
fn point_draw_key(gid: u64, point: u32) -> u64 {
    gid | (u64::from(point) + 1) << 40
}

/// A weight adjuster's draws, keyed by its connection (its place in the network's list).
fn adjuster_draw_key(connection: u64) -> u64 {
    connection | 1 << 62
}

/// Fresh values for every draw of `draws`, into `out`: counter-based, keyed by the stream,
/// `key` (whose draws) and `made`, the count of draws made so far, which advances. Thread
/// counts and process counts do not change them.
fn draw_values(draws: &[Draw], key: u64, made: &mut u64, out: &mut Vec<f64>) {
    out.clear();
    for d in draws {
        let (stream, kind) = match *d {
            Draw::NegExp { stream } => (stream, 0),
            Draw::Uniform { stream } => (stream, 1),
            Draw::Normal { stream } => (stream, 2),
        };
        let mut next = || {
            *made += 1;
            uniform(0x5eed_0000 + u64::from(stream), key, *made)
        };
        out.push(match kind {
            0 => -(-next()).ln_1p(),
            1 => next(),
            _ => {
                let (u1, u2) = (next(), next());
                (-2.0 * (-u1).ln_1p()).sqrt() * (std::f64::consts::TAU * u2).cos()
            }
        });
    }
}

fn receive(
    view: &RegionView<'_>,
    target: &PointTarget,
    at: usize,
    e: &Event,
    (values, connections): (&cable::SendPtr, &[u32]),
    reaction: &mut Reaction,
) {
    reaction.sends.clear();
    reaction.moves.clear();
    reaction.spikes = false;
    reaction.watches = None;
    if let Some(linear) = &target.linear {
        // A connection with values here has a weight adjuster, which keeps its weight there.
        // SAFETY: the values belong to the event's target cell, whose chunk is the calling
        // task's.
        let weight = match e.values {
            NO_VALUES => e.weight,
            k => unsafe { *values.get().cast::<f64>().add(k as usize) },
        };
        for &(slot, a) in linear {
            // SAFETY: compartment `at` belongs to the calling task.
            unsafe { *view.slot(slot as usize).add(at) += weight * a };
        }
        return;
    }
    let Some(r) = &target.receive else { return };
    // The connection's own values (NET_RECEIVE's arguments after the weight), if any.
    // SAFETY: they belong to the event's target cell, whose chunk is the calling task's.
    let base = values.get().cast::<f64>();
    let own = (e.values != NO_VALUES).then(|| unsafe { base.add(e.values as usize) });
    // What NET_RECEIVE reads: the slots before the event, the event's weights and flag, and
    // (in a FOR_NETCONS loop) the values of the connection `visited`.
    // SAFETY: as above; `visited` is one of the target's connections.
    let drawn = &reaction.drawn;
    let read = |var: Var, visited: Option<*mut f64>| match var {
        Var::Slot(k) => unsafe { *view.slot(k as usize).add(at) },
        Var::Draw(k) => drawn[k as usize],
        Var::NetconArg(k) => visited.map_or(0.0, |p| unsafe { *p.add(k as usize) }),
        Var::Arg(k) if k as usize == r.args => e.flag,
        Var::Arg(k) => match own {
            Some(p) => unsafe { *p.add(k as usize) },
            None if k == 0 => e.weight,
            None => 0.0,
        },
        Var::Builtin(hhc_compiler::ir::Builtin::T) => e.te,
        _ => 0.0,
    };
    target.reaction.eval_into(
        &r.exprs,
        &|var| read(var, None),
        &mut reaction.values,
        &mut reaction.out,
    );
    let values = std::mem::take(&mut reaction.out);
    let (updated, rest) = values.split_at(r.updates.len());
    let (sent, rest) = rest.split_at(3 * r.sends.len());
    let (emitted, rest) = rest.split_at(r.emits.len());
    let (watched, rest) = rest.split_at(3 * r.watches.len());
    let (arguments, rest) = rest.split_at(r.arg_updates.len());
    let (moved, looped) = rest.split_at(2 * r.moves.len());
    for v in moved.chunks(2) {
        if v[0] != 0.0 {
            reaction.moves.push(v[1]);
        }
    }
    // FOR_NETCONS: every connection to the point takes the loop's values, reading the slots
    // as they were before the event; the event's own connection then takes `arguments`.
    for ((l, prepared), _) in r
        .for_netcons
        .iter()
        .zip(&target.for_netcons)
        .zip(looped)
        .filter(|(_, &c)| c != 0.0)
    {
        for &start in connections {
            // SAFETY: the connections of the event's target, as `own` above.
            let visited = unsafe { base.add(start as usize) };
            prepared.eval_into(
                &r.exprs,
                &|var| read(var, Some(visited)),
                &mut reaction.loop_values,
                &mut reaction.loop_out,
            );
            for (&(k, _), &x) in l.updates.iter().zip(&reaction.loop_out) {
                unsafe { *visited.add(k as usize) = x };
            }
        }
    }
    for ((slot, _), &x) in r.updates.iter().zip(updated) {
        unsafe { *view.slot(*slot as usize).add(at) = x };
    }
    if let Some(p) = own {
        for (&(k, _), &x) in r.arg_updates.iter().zip(arguments) {
            unsafe { *p.add(k as usize) = x };
        }
    }
    for v in sent.chunks(3) {
        if v[0] != 0.0 {
            reaction.sends.push((v[1], v[2]));
        }
    }
    reaction.spikes = emitted.iter().any(|&c| c != 0.0);
    let ran: Vec<ActiveWatch> = watched
        .chunks(3)
        .enumerate()
        .filter(|(_, w)| w[0] != 0.0)
        .map(|(index, w)| ActiveWatch {
            index,
            flag: w[2],
            above: w[1] > 0.0,
        })
        .collect();
    if !ran.is_empty() {
        reaction.watches = Some(ran);
    }
    reaction.out = values;
}

/// The self-events that the point processes' INITIAL blocks send (`net_send(delay, flag)` at
/// t = 0, reading the states INITIAL set), filed by chunk. Their weight is 0: NEURON gives such
/// an event no connection's weights.
fn initial_self_events(
    regions: &mut [cable::RegionKernels],
    points: &[PointTarget],
    n: usize,
    chunk_cells: usize,
    chunks: usize,
) -> Vec<SelfEvents> {
    let mut out: Vec<SelfEvents> = (0..chunks).map(|_| SelfEvents::default()).collect();
    let views: Vec<RegionView<'_>> = regions.iter_mut().map(RegionView::new).collect();
    for (p, target) in points.iter().enumerate() {
        let Some(r) = target
            .receive
            .as_ref()
            .filter(|r| !r.initial_sends.is_empty())
        else {
            continue;
        };
        let mut roots = Vec::new();
        for e in &r.initial_sends {
            roots.extend([e.condition, e.delay, e.flag]);
        }
        let view = &views[target.region];
        for cell in 0..n {
            let at = cable::compartment(cell, 0, 1, n, chunk_cells);
            // SAFETY: nothing else touches the regions during set-up.
            let values = interp::eval(&r.exprs, &roots, &|var| match var {
                Var::Slot(k) => unsafe { *view.slot(k as usize).add(at) },
                _ => 0.0,
            });
            let origin = Event {
                te: 0.0,
                seq: 0,
                cell: cell as u32,
                point: p as u32,
                weight: 0.0,
                flag: 0.0,
                values: NO_VALUES,
            };
            for v in values.chunks(3) {
                if v[0] != 0.0 {
                    out[cell / chunk_cells].send(&origin, v[1].max(0.0), v[2], !r.moves.is_empty());
                }
            }
        }
    }
    out
}

/// What NEURON adds to the time of a threshold crossing before it adds a connection's delay.
pub const THRESHOLD_TIME_EPSILON: f64 = 1e-10;

/// `state += w·a` for each update of `r`, when every update has exactly that form (`a` free of
/// states, weights and t), so that adding `w·a` gives the interpreter's bits.
fn linear_in_weight(r: &ReceiveProgram) -> Option<Vec<(u32, f64)>> {
    use hhc_compiler::ir::{BinaryOp, Expr};
    let is = |id, var| *r.exprs.get(id) == Expr::Var(var);
    let mut out = Vec::new();
    for &(slot, e) in &r.updates {
        let Expr::Binary(BinaryOp::Add, x, y) = *r.exprs.get(e) else {
            return None;
        };
        let rest = if is(x, Var::Slot(slot)) {
            y
        } else if is(y, Var::Slot(slot)) {
            x
        } else {
            return None;
        };
        let a = if is(rest, Var::Arg(0)) {
            1.0
        } else {
            let Expr::Binary(BinaryOp::Mul, p, q) = *r.exprs.get(rest) else {
                return None;
            };
            let c = if is(p, Var::Arg(0)) {
                q
            } else if is(q, Var::Arg(0)) {
                p
            } else {
                return None;
            };
            let free = r
                .exprs
                .reachable(&[c])
                .iter()
                .all(|&n| !matches!(r.exprs.get(n), Expr::Var(_)));
            if !free {
                return None;
            }
            interp::eval(&r.exprs, &[c], &|_| f64::NAN)[0]
        };
        out.push((slot, a));
    }
    Some(out)
}

/// Each WATCH value of `r` as (slot, constant, slot first) when it is `slot - constant` or
/// `constant - slot`, which gives the interpreter's bits.
fn slot_differences(r: &ReceiveProgram) -> Option<Vec<(u32, f64, bool)>> {
    use hhc_compiler::ir::{BinaryOp, Expr};
    r.watches
        .iter()
        .map(|w| {
            let Expr::Binary(BinaryOp::Sub, a, b) = *r.exprs.get(w.value) else {
                return None;
            };
            match (r.exprs.get(a), r.exprs.get(b)) {
                (Expr::Var(Var::Slot(k)), c) => Some((*k, c.as_lit()?, true)),
                (c, Expr::Var(Var::Slot(k))) => Some((*k, c.as_lit()?, false)),
                _ => None,
            }
        })
        .collect()
}

/// NEURON's times: t at the start of each step, by two half steps at a time.
pub fn neuron_times(dt: f64, steps: u64) -> Vec<f64> {
    let mut t = 0.0f64;
    let mut times = Vec::with_capacity(steps as usize + 1);
    times.push(t);
    for _ in 0..steps {
        t += 0.5 * dt;
        t += 0.5 * dt;
        times.push(t);
    }
    times
}

/// Runs `network` for `opts.steps` steps of `model.dt`.
pub fn run(
    model: &Model,
    network: &Network,
    opts: &NetworkOptions,
) -> Result<NetworkResult, Stopped<NetworkResult>> {
    let started = std::time::Instant::now();
    let exchange: &dyn Exchange = opts.exchange.as_deref().unwrap_or(&Alone);
    let (rank, processes) = (exchange.rank(), exchange.processes());
    let dt = model.dt;
    let mut populations: Vec<Option<CellPopulation>> = Vec::new();
    let mut artificial: Vec<Option<ArtificialPopulation>> = Vec::new();
    // Per population, the cells this process steps (all of them when it runs alone).
    let mut owned = Vec::new();
    let mut names = Vec::new();
    let mut set_up: Result<(), String> = Ok(());
    for p in &network.populations {
        let cells = distributed::owned(p.count, rank, processes);
        populations.push(match &p.kind {
            PopulationKind::Cells(m) if !cells.is_empty() && set_up.is_ok() => {
                // The run's dt, tstop and method (a request may override the file's), with the
                // population's own cell, stimuli and recording.
                let mut m = m.cells_in(cells.clone());
                (m.dt, m.tstop, m.method, m.celsius) =
                    (model.dt, model.tstop, model.method, model.celsius);
                m.record_states.clone_from(&model.record_states);
                match CellPopulation::new(&m, p.first + cells.start) {
                    Ok(mut pop) => {
                        pop.offset = cells.start;
                        if let PopulationKind::Cells(full) = &p.kind {
                            pop.record_positions = (full.record.iter().enumerate())
                                .filter(|(_, c)| cells.contains(c))
                                .map(|(i, _)| i)
                                .collect();
                        }
                        Some(pop)
                    }
                    Err(e) => {
                        set_up = Err(e.to_string());
                        None
                    }
                }
            }
            _ => None,
        });
        artificial.push(match &p.kind {
            PopulationKind::Artificial(insert) => {
                Some(ArtificialPopulation::new(insert, model, p.first, p.count))
            }
            _ => None,
        });
        owned.push(cells);
        names.push(p.name.clone());
    }
    // A network built with one process's connections runs as that process only.
    if let Some(built) = network.built_for {
        if set_up.is_ok() && built != distributed::share_of(exchange) {
            set_up = Err(format!(
                "this network holds the connections of process {} of {}, and runs as process {rank} of {processes}\n  hint: load the model for the process that runs it (load_model_shared)",
                built.rank, built.processes
            ));
        }
    }
    // Every process goes on, or all stop with the first one's reason.
    if let Err((_, reason)) = distributed::agree(exchange, set_up) {
        return Err(Stopped::from(RunError::Backend(
            crate::backend::BackendError(reason),
        )));
    }
    let steps = opts.steps;
    // An event names its step in 32 bits.
    if steps > u64::from(u32::MAX) {
        return Err(Stopped::from(RunError::Backend(crate::backend::BackendError(format!(
            "{steps} steps are more than a network run takes ({})\n  hint: a larger dt or a shorter tstop",
            u32::MAX
        )))));
    }
    let times = neuron_times(dt, steps + 1);
    // Epochs of the shortest delay, and at most a block of steps, so that a run reports its
    // progress and can be stopped between blocks.
    // The shortest delay of the whole network: every process's own, compared.
    let mut shortest = Writer::default();
    shortest.f64(network.min_delay().unwrap_or(f64::INFINITY));
    let min_delay = (exchange.all_gather(&shortest.bytes).iter())
        .map(|b| Reader::new(b).f64())
        .fold(f64::INFINITY, f64::min);
    // Gap junctions couple their cells at every step: epochs of one step.
    let mut gaps = match GapCoupling::new(network, &populations, &owned, (rank, processes)) {
        Ok(g) => g,
        Err(reason) => {
            return Err(Stopped::from(RunError::Backend(
                crate::backend::BackendError(reason),
            )))
        }
    };
    let epoch = Some(min_delay)
        .filter(|d| d.is_finite())
        .map_or(steps.max(1), |d| ((d / dt).floor() as u64).max(1))
        .min(cable::STEPS_PER_BLOCK)
        .min(if gaps.is_empty() { u64::MAX } else { 1 });
    let max_delay = network
        .connections
        .iter()
        .map(|c| c.delay)
        .fold(0.0, f64::max);
    // Events fall due from the next epoch to the longest delay (and a step) after this one's
    // end: the ring covers that, and the list being delivered. A list holds several epochs
    // when the ring would otherwise pass 32 lists per chunk (a short min delay beside a long
    // max delay), which keeps the lists' memory small.
    let horizon = (max_delay / dt).ceil() as u64 + 2 * epoch + 3;
    let slot_steps = epoch * horizon.div_ceil(epoch).div_ceil(32).max(1);
    let ring = horizon.div_ceil(slot_steps) as usize + 1;
    for pop in populations.iter_mut().flatten() {
        (pop.slot_steps, pop.ring) = (slot_steps, ring);
        pop.pending = vec![vec![Vec::new(); ring]; pop.chunks];
    }
    // Each connection's target resolved once: (population, cell, point, weight, delay), and
    // where each cell's outgoing connections start (the list is sorted by `pre`). Only the
    // targets this process runs are kept: its own cells' and the artificial cells'.
    let steps_here: Vec<bool> = populations.iter().map(Option::is_some).collect();
    let artificial_here: Vec<bool> = artificial.iter().map(Option::is_some).collect();
    let kept: Vec<(u64, Outgoing)> = network
        .connections
        .par_iter()
        .enumerate()
        .filter_map(|(index, c)| {
            let (k, local) = network.locate(c.post)?;
            let cell = if artificial_here[k] {
                local
            } else if steps_here[k] && owned[k].contains(&local) {
                local - owned[k].start
            } else {
                return None;
            };
            let target = Outgoing {
                population: k,
                cell: cell as u32,
                point: c.point,
                weight: c.weight,
                delay: c.delay,
                values: NO_VALUES,
                // The adjuster of the cell type (and whether it sees the cell's spikes), until
                // its instance is made below.
                adjuster: c.adjuster,
                connection: index as u64,
            };
            Some((c.pre, target))
        })
        .collect();
    let mut targets: Vec<(u64, Outgoing)> = kept;
    // Connections whose NET_RECEIVE keeps values of its own get them, initialised.
    for (_, t) in targets.iter_mut() {
        if let Some(pop) = populations.get_mut(t.population).and_then(Option::as_mut) {
            t.values = pop.connection_values(t.cell as usize, t.point as usize, t.weight);
            // A weight adjuster keeps the connection's weight in its values.
            if t.adjuster != NO_ADJUSTER {
                if t.values == NO_VALUES {
                    t.values = pop.connection_values.len() as u32;
                    pop.connection_values.push(t.weight);
                }
                let (program, sees_post) = (
                    t.adjuster & !ADJUSTER_SEES_POST,
                    t.adjuster & ADJUSTER_SEES_POST != 0,
                );
                t.adjuster =
                    pop.adjusters
                        .add(t.cell, program, t.values, t.weight, sees_post, t.connection);
            }
        } else if let Some(a) = artificial.get_mut(t.population).and_then(Option::as_mut) {
            t.values = a.connection_values(t.cell as usize, t.weight);
        }
    }
    let filing = Filing::new(
        &targets,
        network.cells() as usize,
        &populations,
        rayon::current_num_threads(),
    );
    drop(targets);
    // Set-up ends here: kernels compiled, every population at its initial state, and the
    // connection tables built.
    let compile_seconds = started.elapsed().as_secs_f64();

    let mut spikes: Vec<(u64, f64)> = Vec::new();
    let file = |populations: &mut Vec<Option<CellPopulation>>,
                artificial: &mut Vec<Option<ArtificialPopulation>>,
                sent: &[(u64, f64)],
                earliest: u64| {
        let rules = Delivery {
            times: &times,
            dt,
            steps,
            earliest,
        };
        filing.file(populations, artificial, sent, &rules);
    };
    // Spike sources fire at their given times; each epoch first sends those before its end.
    let mut source_spikes: Vec<(f64, u64)> = Vec::new();
    for p in &network.populations {
        if let PopulationKind::Spikes(ts) = &p.kind {
            for i in 0..p.count {
                source_spikes.extend(ts.of(i as usize).iter().map(|&t| (t, p.first + i)));
            }
        }
    }
    source_spikes.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut next_source = 0;
    let mut tally = Tally::default();
    let mut step0 = 0u64;
    // What was computed until `done`: every process's traces and deliveries gathered (every
    // process calls it at the same point of the run), the traces cut at `done`.
    let partial = |populations: &[Option<CellPopulation>],
                   spikes: &[(u64, f64)],
                   done: u64,
                   tally: &Tally| {
        let mut s = spikes.to_vec();
        s.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        let (mut traces, delivered) = gather_traces(
            exchange,
            populations,
            &names,
            model,
            network,
            tally.delivered,
        );
        // A run that stops keeps whole epochs: a chunk that stopped within one has traced
        // further than the others, and further than the spikes sent.
        for (_, values) in traces.iter_mut() {
            values.truncate(done as usize + 1);
        }
        NetworkResult {
            spikes: s,
            traces,
            steps_done: done,
            compile_seconds,
            events_delivered: delivered + tally.delivered_artificial,
            exchange_seconds: tally.exchange_seconds,
            filing_seconds: tally.filing_seconds,
        }
    };
    // Whether some process was interrupted, as the last exchange told (with several).
    let mut interrupted_somewhere = false;
    while step0 < steps {
        sim::report(opts.progress.as_ref(), step0, steps);
        let interrupted = if processes == 1 {
            sim::is_raised(opts.interrupt.as_ref())
        } else {
            interrupted_somewhere
        };
        if interrupted {
            return Err(Stopped {
                error: RunError::Interrupted {
                    steps: step0,
                    t: step0 as f64 * dt,
                },
                partial: Some(Box::new(partial(&populations, &spikes, step0, &tally))),
            });
        }
        let end = (step0 + epoch).min(steps);
        // Spike sources of this epoch: their events land at or after its end (delay >= epoch).
        let first_source = next_source;
        while let Some(&(t, gid)) = source_spikes.get(next_source) {
            if t >= times[end as usize] {
                break;
            }
            spikes.push((gid, t));
            next_source += 1;
        }
        let sent: Vec<(u64, f64)> = source_spikes[first_source..next_source]
            .iter()
            .map(|&(t, gid)| (gid, t))
            .collect();
        file(&mut populations, &mut artificial, &sent, step0);
        // This process's cells' spikes of the epoch: (t, gid, the time their events leave).
        let mut cell_spikes: Vec<(f64, u64, f64)> = Vec::new();
        let mut failure: Option<Failure> = None;
        gaps.couple(&mut populations, times[step0 as usize] + 0.5 * dt, exchange);
        for pop in populations.iter_mut().flatten() {
            let outcomes = pop.advance(step0, end, &times, dt);
            for o in outcomes {
                tally.delivered += o.delivered;
                let first = pop.first;
                let mut fail = |kind: u64, step: u64, c: usize, message: &dyn Fn(u64) -> String| {
                    let gid = first + c as u64;
                    let message = message(gid);
                    Failure::keep_first(
                        &mut failure,
                        Failure {
                            kind,
                            step,
                            gid,
                            message,
                        },
                    );
                };
                if let Some((s, c, d)) = o.backwards {
                    fail(1, s, c, &|gid| {
                        format!(
                        "a point process of cell {gid} sent itself an event into the past at step {s} (t = {:.4} ms): net_send(delay = {d} ms, …)\n  hint: a self-event's delay must be >= 0, as in NEURON",
                        s as f64 * dt
                    )
                    });
                }
                if let Some((s, c)) = o.unmovable {
                    fail(2, s, c, &|gid| {
                        format!(
                        "a point process of cell {gid} called net_move at step {s} (t = {:.4} ms) with no self-event of its own still to come\n  hint: net_move moves the event the point process sent last (net_send), as in NEURON, which stops here too",
                        s as f64 * dt
                    )
                    });
                }
                if let Some((s, c, v)) = o.bad {
                    fail(3, s, c, &|gid| {
                        format!(
                        "numerical blow-up in cell {gid} at step {s} (t = {:.4} ms): V = {v} mV at {}\n  hint: reduce dt, or check the mechanisms' parameters, rates and units",
                        (s + 1) as f64 * dt,
                        pop.spike_place
                    )
                    });
                }
                // NEURON's PreSyn stamps the events of a threshold crossing at t + 1e-10 ms,
                // so an event whose delay is a whole number of half steps lands one step later
                // than the bare sum would say; a point process's net_event(t) sends at t.
                cell_spikes.extend(o.spikes.iter().map(|&(c, s)| {
                    let t = times[s as usize + 1];
                    (t, pop.first + c as u64, t + THRESHOLD_TIME_EPSILON)
                }));
                cell_spikes.extend(o.emitted.iter().map(|&(c, t)| (t, pop.first + c as u64, t)));
                for (ri, per_probe) in o.traces {
                    for (trace, values) in pop.traces[ri].iter_mut().zip(per_probe) {
                        trace.extend(values);
                    }
                }
            }
        }
        // Every process's spikes and first failure of the epoch.
        let mut report = Writer::default();
        report.u64(u64::from(sim::is_raised(opts.interrupt.as_ref())));
        Failure::write(&failure, &mut report);
        report.u64(cell_spikes.len() as u64);
        for &(t, gid, stamp) in &cell_spikes {
            report.f64(t);
            report.u64(gid);
            report.f64(stamp);
        }
        let mut epoch_spikes: Vec<(f64, u64, f64)> = Vec::new();
        let mut first_failure: Option<Failure> = None;
        let clock = std::time::Instant::now();
        let gathered = exchange.all_gather(&report.bytes);
        tally.exchange_seconds += clock.elapsed().as_secs_f64();
        let clock = std::time::Instant::now();
        for bytes in gathered {
            let mut r = Reader::new(&bytes);
            interrupted_somewhere |= r.u64() != 0;
            if let Some(f) = Failure::read(&mut r) {
                Failure::keep_first(&mut first_failure, f);
            }
            for _ in 0..r.u64() {
                let (t, gid, stamp) = (r.f64(), r.u64(), r.f64());
                epoch_spikes.push((t, gid, stamp));
            }
        }
        tally.filing_seconds += clock.elapsed().as_secs_f64();
        if let Some(f) = first_failure {
            return Err(Stopped {
                error: RunError::Backend(crate::backend::BackendError(f.message)),
                partial: Some(Box::new(partial(&populations, &spikes, step0, &tally))),
            });
        }
        // The artificial cells' events of this epoch, and their spikes.
        for a in artificial.iter_mut().flatten() {
            let (s, d) = a.advance(step0, end, &times, dt);
            tally.delivered_artificial += d;
            epoch_spikes.extend(s.into_iter().map(|(gid, t)| (t, gid, t)));
        }
        // Every spike is kept; those with targets here, in time order (then by cell), send
        // their events. (With many processes most spikes have no target in this one, and
        // sorting only the others keeps the cost of a spike here near that of reading it.)
        let clock = std::time::Instant::now();
        spikes.extend(epoch_spikes.iter().map(|&(t, gid, _)| (gid, t)));
        epoch_spikes.retain(|&(_, gid, _)| filing.has_targets(gid));
        epoch_spikes.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let sent: Vec<(u64, f64)> = epoch_spikes
            .iter()
            .map(|&(_, g, stamp)| (g, stamp))
            .collect();
        file(&mut populations, &mut artificial, &sent, end);
        tally.filing_seconds += clock.elapsed().as_secs_f64();
        step0 = end;
    }
    sim::report(opts.progress.as_ref(), steps, steps);
    Ok(partial(&populations, &spikes, steps, &tally))
}

/// What a run counts as it goes: events delivered to this process's cells and to the
/// artificial cells (which every process runs alike, so they count once), and the seconds spent
/// exchanging spikes and filing them.
#[derive(Default)]
struct Tally {
    delivered: u64,
    delivered_artificial: u64,
    exchange_seconds: f64,
    filing_seconds: f64,
}

/// The first reason a process must stop in an epoch: by kind (an event into the past, then an
/// impossible net_move, then a blow-up, the order in which a run checks them), then the
/// earliest step, then the lowest cell; the same choice in one process as in several.
struct Failure {
    kind: u64,
    step: u64,
    gid: u64,
    message: String,
}

impl Failure {
    fn keep_first(first: &mut Option<Failure>, f: Failure) {
        if first
            .as_ref()
            .is_none_or(|g| (f.kind, f.step, f.gid) < (g.kind, g.step, g.gid))
        {
            *first = Some(f);
        }
    }

    fn write(f: &Option<Failure>, w: &mut Writer) {
        match f {
            None => w.u64(0),
            Some(f) => {
                w.u64(f.kind);
                w.u64(f.step);
                w.u64(f.gid);
                w.text(&f.message);
            }
        }
    }

    fn read(r: &mut Reader) -> Option<Failure> {
        match r.u64() {
            0 => None,
            kind => Some(Failure {
                kind,
                step: r.u64(),
                gid: r.u64(),
                message: r.text(),
            }),
        }
    }
}

/// Every process's recorded traces, named `population[i] probe` in the order of the model's
/// `record` lists, and the sum of every process's `delivered`.
fn gather_traces(
    exchange: &dyn Exchange,
    populations: &[Option<CellPopulation>],
    names: &[String],
    model: &Model,
    network: &Network,
    delivered: u64,
) -> (Vec<(String, Vec<f64>)>, u64) {
    // (population, place in its `record` list) → that cell's columns.
    let mut recorded = std::collections::HashMap::new();
    let own = populations
        .iter()
        .enumerate()
        .filter_map(|(k, p)| Some((k, p.as_ref()?)));
    let own = own.flat_map(|(k, pop)| {
        (pop.record_positions.iter().zip(&pop.traces)).map(move |(&at, columns)| ((k, at), columns))
    });
    if exchange.processes() == 1 {
        // Alone: its own traces, with no round trip through bytes.
        recorded.extend(own.map(|(key, columns)| (key, columns.clone())));
        return (assemble_traces(recorded, names, model, network), delivered);
    }
    let mut w = Writer::default();
    w.u64(delivered);
    for ((k, position), columns) in own {
        w.u64(k as u64);
        w.u64(position as u64);
        w.u64(columns.len() as u64);
        for column in columns {
            w.f64s(column);
        }
    }
    let mut delivered = 0;
    for bytes in exchange.all_gather(&w.bytes) {
        let mut r = Reader::new(&bytes);
        delivered += r.u64();
        while !r.is_empty() {
            let (k, position, columns) = (r.u64(), r.u64(), r.u64());
            let columns: Vec<Vec<f64>> = (0..columns).map(|_| r.f64s()).collect();
            recorded.insert((k as usize, position as usize), columns);
        }
    }
    (assemble_traces(recorded, names, model, network), delivered)
}

/// The recorded traces, named `population[i] probe`, in the order of the model's `record`
/// lists.
fn assemble_traces(
    mut recorded: std::collections::HashMap<(usize, usize), Vec<Vec<f64>>>,
    names: &[String],
    model: &Model,
    network: &Network,
) -> Vec<(String, Vec<f64>)> {
    let mut out = Vec::new();
    for (k, (name, p)) in names.iter().zip(&network.populations).enumerate() {
        let PopulationKind::Cells(m) = &p.kind else {
            continue;
        };
        let tree = Tree::new(&m.cell);
        let columns = cable::trace_columns(m, &tree, &model.record_states);
        for (position, &c) in m.record.iter().enumerate() {
            let Some(traces) = recorded.remove(&(k, position)) else {
                continue;
            };
            for (column, trace) in columns.iter().zip(traces) {
                out.push((format!("{name}[{c}] {column}"), trace));
            }
        }
    }
    out
}
