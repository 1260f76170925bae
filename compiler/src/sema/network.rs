//! NETWORK blocks: populations of cells, and the connections between them expanded into one
//! explicit list.
//!
//! ```text
//! NETWORK {
//!     POPULATION exc = Pyramidal { count = 80  stimulus = iclamp(…) }
//!     POPULATION drive = spikes { times = 5 (ms), 25 (ms) }
//!     CONNECT exc -> exc AT esyn { rule = probability(0.1)  seed = 7  weight = 0.002 (uS)  delay = 2 (ms) }
//!     CONNECT drive -> exc AT esyn { rule = all_to_all  weight = 0.01 (uS)  delay = 1 (ms) }
//!     CONNECT exc -> inh AT esyn { file = conns }     : conns.csv: pre,post,weight,delay
//! }
//! ```
//!
//! Cells are numbered globally in population order: population k's cell i is `first_k + i`.
//! Every random rule draws from a counter-based generator keyed by (seed, post, pre), so a
//! network is the same whatever the order in which it is built or the number of threads.

use super::model::{
    location, lower_insert, lower_stimulus, CellSpec, Ctx, FileReader, Insert, Model, Resolver,
    StepMethod, Stimulus,
};
use crate::diagnostic::{closest, Diagnostic};
use crate::span::Span;
use crate::syntax::ast::{self, NetworkItem, Setting, Value};

#[derive(Clone, Debug)]
pub struct Network {
    pub populations: Vec<Population>,
    /// Every connection, sorted by presynaptic cell; built for one process of several
    /// ([`Share`]), those to that process's cells and to the artificial cells.
    pub connections: Vec<Connection>,
    /// The process this network was built for, when it holds only its connections.
    pub built_for: Option<Share>,
    /// Gap junctions (electrical synapses), each joining two cells' sites.
    pub gaps: Vec<GapJunction>,
}

/// A gap junction of conductance `g` (µS) between point `site_a` of cell `a` and point
/// `site_b` of cell `b` (global ids): a current `g·(V_a − V_b)` leaves `a` at its site and
/// enters `b` at its own.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GapJunction {
    pub a: u64,
    pub b: u64,
    pub site_a: u32,
    pub site_b: u32,
    pub g: f64,
}

/// What a CONNECT or GAP makes: synapses fed by spikes, or gap junctions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Synapse,
    Gap,
}

/// One process of several that share a network's cells: of a population of n cells, process
/// r of K steps the block [`owned_cells`]`(n, r, K)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    pub rank: usize,
    pub processes: usize,
}

/// The cells of a population of `count` that process `rank` of `processes` steps:
/// `⌊count·rank/processes⌋ … ⌊count·(rank+1)/processes⌋ − 1`, so that every population is
/// spread evenly.
pub fn owned_cells(count: u64, rank: usize, processes: usize) -> std::ops::Range<u64> {
    let share = |r: usize| (u128::from(count) * r as u128 / processes.max(1) as u128) as u64;
    share(rank)..share(rank + 1)
}

#[derive(Clone, Debug)]
pub struct Population {
    pub name: String,
    /// The global id of its first cell.
    pub first: u64,
    pub count: u64,
    pub kind: PopulationKind,
}

#[derive(Clone, Debug)]
pub enum PopulationKind {
    /// Cells of one CELL type: the model of this population alone (its cell, count, stimuli,
    /// probes, detector and recorded cells, with the run's dt, tstop and celsius).
    Cells(Box<Model>),
    /// Spike sources, like NEURON's VecStim or Arbor's spike source.
    Spikes(SpikeTrains),
    /// ARTIFICIAL_CELLs (NetStim, IntFire1, …): the mechanism with its parameter values. They
    /// have no membrane; events alone change their states.
    Artificial(Box<Insert>),
}

/// When a spike source's cells fire (ms, each list sorted).
#[derive(Clone, Debug)]
pub enum SpikeTrains {
    /// Every cell at these times (`times = …`).
    Same(Vec<f64>),
    /// Each cell its own train (`file = NAME`).
    PerCell(Vec<Vec<f64>>),
}

impl SpikeTrains {
    /// The times of cell `i` of the population.
    pub fn of(&self, i: usize) -> &[f64] {
        match self {
            SpikeTrains::Same(t) => t,
            SpikeTrains::PerCell(t) => t.get(i).map_or(&[], Vec::as_slice),
        }
    }

    /// The spikes of a population of `count` cells.
    pub fn total(&self, count: u64) -> usize {
        match self {
            SpikeTrains::Same(t) => t.len() * count as usize,
            SpikeTrains::PerCell(t) => t.iter().map(Vec::len).sum(),
        }
    }
}

/// One connection: a spike of cell `pre` reaches point process `point` of cell `post`
/// `delay` ms later, with `weight` (in the unit of the target's first NET_RECEIVE argument).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Connection {
    pub pre: u64,
    pub post: u64,
    /// Index into the post cell's `points`.
    pub point: u32,
    pub weight: f64,
    pub delay: f64,
    /// Index into the post cell's `adjusters`, or [`NO_ADJUSTER`]: the weight adjuster that
    /// keeps this connection's weight; with [`ADJUSTER_SEES_POST`] set when it also gets the
    /// post cell's spikes (see [`Connection::adjuster`]).
    pub adjuster: u32,
}

/// [`Connection::adjuster`] of a connection whose weight nothing adjusts.
pub const NO_ADJUSTER: u32 = u32::MAX;

/// The bit of [`Connection::adjuster`] that says the adjuster gets the post cell's spikes.
pub const ADJUSTER_SEES_POST: u32 = 1 << 31;

impl Connection {
    /// The connection's weight adjuster (an index into the post cell's `adjusters`), and
    /// whether it gets the post cell's spikes too.
    pub fn adjuster(&self) -> Option<(u32, bool)> {
        (self.adjuster != NO_ADJUSTER).then_some((
            self.adjuster & !ADJUSTER_SEES_POST,
            self.adjuster & ADJUSTER_SEES_POST != 0,
        ))
    }
}

impl Network {
    /// The total number of cells.
    pub fn cells(&self) -> u64 {
        self.populations.last().map_or(0, |p| p.first + p.count)
    }

    /// The population holding global cell `gid`, and the cell's index in it.
    pub fn locate(&self, gid: u64) -> Option<(usize, u64)> {
        let k = self
            .populations
            .partition_point(|p| p.first + p.count <= gid);
        self.populations
            .get(k)
            .filter(|p| gid >= p.first)
            .map(|p| (k, gid - p.first))
    }

    /// "N connections", or for one process's part "N connections to process r's cells", and
    /// ", M gap junctions" when there are any.
    pub fn connections_summary(&self) -> String {
        let n = self.connections.len();
        let gaps = match self.gaps.len() {
            0 => String::new(),
            1 => ", 1 gap junction".into(),
            g => format!(", {g} gap junctions"),
        };
        match self.built_for {
            Some(s) => format!("{n} connections to process {}'s cells{gaps}", s.rank),
            None => format!("{n} connections{gaps}"),
        }
    }

    /// The shortest connection delay, ms.
    pub fn min_delay(&self) -> Option<f64> {
        self.connections.iter().map(|c| c.delay).reduce(f64::min)
    }
}

/// The most connections a network holds: every one is kept in memory (40 bytes each).
pub const MAX_CONNECTIONS: f64 = 2e8;

/// Whether a CONNECT's (expected) number of connections fits; an error with its span if not.
fn within_budget(cx: &mut Ctx, expected: f64, span: Span) -> bool {
    if expected <= MAX_CONNECTIONS {
        return true;
    }
    cx.err(
        Diagnostic::error(
            format!("this CONNECT makes about {expected:.3e} connections; hhc holds at most {MAX_CONNECTIONS:.0e}"),
            span,
            "too many connections",
        )
        .with_hint("lower the probability, the in-degree or the population sizes"),
    );
    false
}

/// The run's settings every population shares.
pub(super) struct RunSettings {
    pub dt: f64,
    pub tstop: f64,
    pub celsius: f64,
    pub method: StepMethod,
    pub cable_theta: f64,
}

/// A counter-based random number in [0, 1): the same for the same (seed, a, b) however many
/// are drawn and in whatever order (splitmix64's finaliser over the three words).
pub fn uniform(seed: u64, a: u64, b: u64) -> f64 {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let golden = 0x9e37_79b9_7f4a_7c15u64;
    let z =
        mix(mix(mix(seed.wrapping_add(golden)) ^ a.wrapping_add(golden)) ^ b.wrapping_add(golden));
    (z >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

pub(super) fn lower_network(
    cx: &mut Ctx,
    def: &ast::NetworkDef,
    cells: &[(&ast::CellDef, Option<CellSpec>)],
    resolve: &mut Resolver<'_>,
    run: &RunSettings,
    files: &mut FileReader<'_>,
    share: Option<Share>,
) -> Option<Network> {
    let mut populations: Vec<Population> = Vec::new();
    let mut population_spans: Vec<Span> = Vec::new();
    // Populations with errors of their own: a CONNECT naming one says nothing more.
    let mut failed: Vec<String> = Vec::new();
    let mut ok = true;
    for item in &def.items {
        let NetworkItem::Population {
            name,
            cell,
            settings,
            span,
        } = item
        else {
            continue;
        };
        if let Some(k) = populations.iter().position(|p| p.name == name.name) {
            cx.err(
                Diagnostic::error(
                    format!("population `{}` is defined twice", name.name),
                    name.span,
                    "second definition",
                )
                .with_label(population_spans[k], "first defined here")
                .with_hint("rename one of the populations"),
            );
            ok = false;
            continue;
        }
        let first = populations.last().map_or(0, |p| p.first + p.count);
        let population = if cell.name == "spikes" {
            lower_spike_source(cx, name, settings, *span, first, files)
        } else {
            match cells.iter().find(|(c, _)| c.name.name == cell.name) {
                Some((_, Some(spec))) => {
                    lower_cell_population(cx, name, spec, settings, *span, first, run, files)
                }
                // The cell's own errors are reported already.
                Some((_, None)) => None,
                None if resolve(&cell.name).is_ok_and(|m| m.is_some_and(|m| m.artificial)) => {
                    lower_artificial_population(
                        cx, name, resolve, cell, settings, first, *span, files,
                    )
                }
                None => {
                    let hint = match closest(&cell.name, cells.iter().map(|(c, _)| c.name.name.as_str())) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => "define it with `CELL NAME { … }`, or write `spikes { times = … }` (or `spikes { file = NAME }`, a train per cell) for a spike source, NEURON's VecStim".into(),
                    };
                    cx.err(
                        Diagnostic::error(
                            format!("unknown cell `{}`", cell.name),
                            cell.span,
                            "no such CELL",
                        )
                        .with_hint(hint),
                    );
                    None
                }
            }
        };
        match population {
            Some(p) => {
                populations.push(p);
                population_spans.push(name.span);
            }
            None => {
                ok = false;
                failed.push(name.name.clone());
            }
        }
    }
    if populations.is_empty() && ok {
        cx.err(
            Diagnostic::error("the NETWORK has no populations", def.span, "no POPULATION")
                .with_hint("add `POPULATION name = CELL { count = 100 }`"),
        );
        return None;
    }
    let mut connections = Vec::new();
    for item in &def.items {
        let NetworkItem::Connect {
            pre,
            post,
            target,
            settings,
            span,
        } = item
        else {
            continue;
        };
        if failed.contains(&pre.name) || failed.contains(&post.name) {
            continue;
        }
        match lower_connect(
            cx,
            &populations,
            pre,
            post,
            target.as_ref(),
            settings,
            *span,
            run,
            files,
            share,
            Link::Synapse,
        ) {
            Some(mut c) => connections.append(&mut c),
            None => ok = false,
        }
    }
    connections.sort_by_key(|c| c.pre);
    // A weight adjuster that no connection names would adjust nothing: say so. (A process of
    // several holds only its own cells' connections, so it cannot tell.)
    if ok && share.is_none_or(|s| s.processes == 1) {
        ok &= every_adjuster_is_named(cx, &populations, &connections);
    }
    let mut gaps = Vec::new();
    for item in &def.items {
        let NetworkItem::Gap {
            a,
            b,
            site,
            settings,
            span,
        } = item
        else {
            continue;
        };
        if failed.contains(&a.name) || failed.contains(&b.name) {
            continue;
        }
        let site_a = gap_site_of(cx, &populations, a, site);
        let site_b = match a.name == b.name {
            true => site_a,
            false => gap_site_of(cx, &populations, b, site),
        };
        let (Some(site_a), Some(_)) = (site_a, site_b) else {
            ok = false;
            continue;
        };
        match lower_connect(
            cx,
            &populations,
            a,
            b,
            Some(site),
            settings,
            *span,
            run,
            files,
            // Every process holds every junction: a site's partners may be any process's
            // cells, and each site's `g` is the sum over all of its junctions.
            None,
            Link::Gap,
        ) {
            Some(c) => gaps.extend(c.into_iter().map(|c| GapJunction {
                a: c.pre,
                b: c.post,
                site_a,
                site_b: c.point,
                g: c.weight,
            })),
            None => ok = false,
        }
    }
    if ok {
        ok &= every_pointer_site_is_joined(cx, &populations, def);
    }
    set_gap_sites(&mut populations, &gaps);
    ok.then_some(Network {
        populations,
        connections,
        built_for: share,
        gaps,
    })
}

/// Whether every point whose mechanism has a POINTER to its partner's V (a gap junction site,
/// NEURON's gap.mod) is joined by a GAP: NEURON stops a run whose POINTER points nowhere, and
/// hhc would otherwise read 0 mV.
fn every_pointer_site_is_joined(
    cx: &mut Ctx,
    populations: &[Population],
    def: &ast::NetworkDef,
) -> bool {
    let mut ok = true;
    for p in populations {
        let PopulationKind::Cells(model) = &p.kind else {
            continue;
        };
        for point in &model.cell.points {
            let Some((pointer, _)) = point.insert.mechanism.pointers.first() else {
                continue;
            };
            let joined = def.items.iter().any(|item| {
                matches!(item, NetworkItem::Gap { a, b, site, .. }
                    if (a.name == p.name || b.name == p.name) && site.name == point.name)
            });
            if !joined {
                ok = false;
                cx.err(
                    Diagnostic::error(
                        format!(
                            "POINTER `{pointer}` of point `{}` on the cells of `{}` points nowhere",
                            point.name, p.name
                        ),
                        point.span,
                        "no GAP joins it",
                    )
                    .with_hint(format!(
                        "its mechanism, {}, reads its partner's V through the POINTER: join it with `GAP {} <-> … AT {} {{ … }}`",
                        point.insert.mechanism.name, p.name, point.name
                    )),
                );
            }
        }
    }
    ok
}

/// Whether every weight adjuster placed on a population's cells serves some connection to them.
fn every_adjuster_is_named(
    cx: &mut Ctx,
    populations: &[Population],
    connections: &[Connection],
) -> bool {
    let mut ok = true;
    for p in populations {
        let PopulationKind::Cells(model) = &p.kind else {
            continue;
        };
        for (k, a) in model.cell.adjusters.iter().enumerate() {
            let named = connections.iter().any(|c| {
                (p.first..p.first + p.count).contains(&c.post)
                    && c.adjuster().is_some_and(|(j, _)| j == k as u32)
            });
            if !named {
                ok = false;
                cx.err(
                    Diagnostic::error(
                        format!(
                            "weight adjuster `{}` on the cells of `{}` serves no connection",
                            a.name, p.name
                        ),
                        a.span,
                        "adjusts nothing",
                    )
                    .with_hint(format!(
                        "name it in a CONNECT to `{}`: `adjuster = {}` (a POINT whose mechanism has a POINTER is a weight adjuster, not a point of the membrane)",
                        p.name, a.name
                    )),
                );
            }
        }
    }
    ok
}

/// The index of the weight adjuster a CONNECT's `adjuster = NAME` names on its target cells.
fn adjuster_of(cx: &mut Ctx, post: &PopulationKind, s: &Setting) -> Option<u32> {
    let PopulationKind::Cells(model) = post else {
        cx.err(
            Diagnostic::error(
                "a weight adjuster serves a connection to a cell's synapse",
                s.span,
                "not a population of cells",
            )
            .with_hint("connect to a point process on a cell, and place the adjuster on that cell"),
        );
        return None;
    };
    let adjusters = &model.cell.adjusters;
    let name = match s.values.as_slice() {
        [Value::Name(n)] => n,
        _ => {
            cx.err(
                Diagnostic::error("`adjuster` names a POINT of the target cell", s.span, "expected a name")
                    .with_hint("write `adjuster = NAME`, NAME a POINT whose mechanism has a POINTER to the weight (PyNN's StdwaSA, TsodyksMarkramWA)"),
            );
            return None;
        }
    };
    match adjusters.iter().position(|a| a.name == name.name) {
        Some(k) => Some(k as u32),
        None => {
            let is_point = model.cell.points.iter().any(|p| p.name == name.name);
            let hint = match (is_point, closest(&name.name, adjusters.iter().map(|a| a.name.as_str()))) {
                (true, _) => format!("`{}` is a point process of the membrane; an adjuster's mechanism has a POINTER to the weight (PyNN's StdwaSA, TsodyksMarkramWA)", name.name),
                (false, Some(c)) => format!("did you mean `{c}`?"),
                (false, None) => format!("place it on cell `{}`: `POINT {} = StdwaSA AT soma(0.5) {{ … }}` (a mechanism with POINTER wsyn)", model.cell.name, name.name),
            };
            cx.err(
                Diagnostic::error(
                    format!(
                        "cell `{}` has no weight adjuster `{}`",
                        model.cell.name, name.name
                    ),
                    name.span,
                    "no such adjuster",
                )
                .with_hint(hint),
            );
            None
        }
    }
}

/// Where a gap junction's site's conductance and partner voltage live: the indices of its
/// mechanism's parameters `g` and `vgap`.
#[derive(Clone, Copy, Debug)]
pub struct GapSite {
    pub g: usize,
    pub vgap: usize,
}

/// Whether `m` can be a gap junction's site: a point process with no events whose current is
/// `g·(v − vgap)` of its parameters `g` (a conductance) and `vgap` (a voltage), as the stdlib's
/// `Gap` and PyNN's gap.mod are. The engine sums a site's junctions into one conductance and
/// one conductance-weighted partner voltage, which is exact for that current only, so it is
/// checked at sample values.
pub fn gap_site(m: &crate::ir::Mechanism) -> Result<GapSite, String> {
    use crate::ir::{Builtin, Var};
    if !m.point_process || m.artificial {
        return Err("it is not a point process on a membrane".into());
    }
    if m.net_receive.is_some() {
        return Err("it receives events (NET_RECEIVE)".into());
    }
    let param = |name: &str| m.params.iter().position(|p| p.name == name);
    // The partner's V: the site's POINTER (NEURON's gap.mod), else its RANGE `vgap`.
    let partner = m.pointers.first().map_or("vgap", |(name, _)| name.as_str());
    let (Some(g), Some(vgap)) = (param("g"), param(partner)) else {
        return Err(format!("it has no parameters `g` and `{partner}`"));
    };
    let units = crate::sema::units::UnitTable::default();
    let is = |k: usize, want: &str| {
        let (Some(u), Ok(w)) = (m.params[k].unit.as_deref(), units.parse(want)) else {
            return false;
        };
        units.parse(u).is_ok_and(|u| u.dims == w.dims)
    };
    if !is(g, "uS") || !is(vgap, "mV") {
        return Err(format!(
            "its `g` is not a conductance or its `{partner}` not a voltage"
        ));
    }
    // g in µS per unit of the site's own (a site in pS carries 1e-6 nA per pS·mV).
    let g_scale = m.params[g]
        .unit
        .as_deref()
        .and_then(|u| units.parse(u).ok())
        .zip(units.parse("uS").ok())
        .map_or(1.0, |(u, us)| u.scale / us.scale);
    let [current] = m.currents.as_slice() else {
        return Err(format!("it has {} currents, not one", m.currents.len()));
    };
    if current.ion.is_some() {
        return Err(format!(
            "its current `{}` is carried by an ion",
            current.name
        ));
    }
    for (gv, v, vg) in [
        (0.002, -64.0, -70.5),
        (1.5, 20.0, -3.25),
        (0.37, -80.0, 12.0),
    ] {
        let i = crate::ir::interp::eval(&m.exprs, &[current.value], &|var| match var {
            Var::Param(k) if k as usize == g => gv,
            Var::Param(k) if k as usize == vgap => vg,
            Var::Param(k) => m.params[k as usize].default,
            Var::Builtin(Builtin::V) => v,
            Var::Builtin(Builtin::Celsius) => 6.3,
            Var::Builtin(Builtin::Dt) => 0.025,
            _ => 0.0,
        })[0];
        let want = gv * g_scale * (v - vg) * current.scale;
        // NaN fails too.
        let close = (i - want).abs() <= 1e-12 * want.abs().max(1e-12);
        if !close {
            return Err(format!(
                "its current is not g·(v − {partner}) (at g = {gv}, v = {v}, {partner} = {vg}: {i} nA, not {want})"
            ));
        }
    }
    Ok(GapSite { g, vgap })
}

/// The index of point `site` on the cells of population `name`, which a GAP joins.
fn gap_site_of(
    cx: &mut Ctx,
    populations: &[Population],
    name: &ast::Ident,
    site: &ast::Ident,
) -> Option<u32> {
    let (_, p) = find_population(cx, populations, name)?;
    let PopulationKind::Cells(model) = &p.kind else {
        cx.err(
            Diagnostic::error(
                format!("`{}` has no membrane for a gap junction", name.name),
                name.span,
                "not a population of cells",
            )
            .with_hint("gap junctions join cells with sections; spike sources and artificial cells have none"),
        );
        return None;
    };
    let points = &model.cell.points;
    match points.iter().position(|p| p.name == site.name) {
        Some(k) => {
            let insert = &points[k].insert;
            let m = &insert.mechanism;
            let gap = match gap_site(m) {
                Ok(gap) => gap,
                Err(why) => {
                    cx.err(
                        Diagnostic::error(
                            format!("{} is not a gap junction: {why}", m.name),
                            site.span,
                            "not a gap junction site",
                        )
                        .with_hint("place the stdlib's `Gap` (i = g·(v − vgap)) on both cells: `POINT gj = Gap AT soma(0.5)`"),
                    );
                    return None;
                }
            };
            let set = insert.params[gap.g] != m.params[gap.g].default
                || insert
                    .per_cell
                    .iter()
                    .any(|(pi, _)| *pi == gap.g || *pi == gap.vgap);
            if set {
                cx.err(
                    Diagnostic::error(
                        format!(
                            "point `{}` of cell `{}` is a gap junction site, whose conductance its junctions set",
                            site.name, model.cell.name
                        ),
                        site.span,
                        "its `g` is set too",
                    )
                    .with_hint("give each GAP its conductance as `weight`, and leave the site's `g` (and `vgap`) unset, in the POINT and in `values` tables"),
                );
                return None;
            }
            Some(k as u32)
        }
        None => {
            cx.err(
                Diagnostic::error(
                    format!("cell `{}` has no point process `{}`", model.cell.name, site.name),
                    site.span,
                    "no such POINT",
                )
                .with_hint(format!(
                    "a gap junction needs its site on both cells: `POINT {} = Gap AT soma(0.5)` in cell `{}`",
                    site.name, model.cell.name
                )),
            );
            None
        }
    }
}

/// Gives every gap junction site its junctions: `g` per cell, the sum of its junctions'
/// conductances, and `vgap` per cell, their conductance-weighted mean of the partners' initial
/// V (the engine writes it anew before every step).
fn set_gap_sites(populations: &mut [Population], gaps: &[GapJunction]) {
    let locate = |populations: &[Population], gid: u64| {
        let k = populations.partition_point(|p| p.first + p.count <= gid);
        (k, (gid - populations[k].first) as usize)
    };
    let v_init = |populations: &[Population], k: usize| match &populations[k].kind {
        PopulationKind::Cells(m) => m.cell.v_init,
        _ => 0.0,
    };
    // Per (population, point): per cell, Σg and Σg·V_partner.
    let mut sums: std::collections::BTreeMap<(usize, u32), (Vec<f64>, Vec<f64>)> =
        Default::default();
    for j in gaps {
        let (ka, ca) = locate(populations, j.a);
        let (kb, cb) = locate(populations, j.b);
        for (k, c, point, partner) in [(ka, ca, j.site_a, kb), (kb, cb, j.site_b, ka)] {
            let n = populations[k].count as usize;
            let v = v_init(populations, partner);
            let (g, gv) = sums
                .entry((k, point))
                .or_insert_with(|| (vec![0.0; n], vec![0.0; n]));
            g[c] += j.g;
            gv[c] += j.g * v;
        }
    }
    for ((k, point), (g, gv)) in sums {
        let PopulationKind::Cells(model) = &mut populations[k].kind else {
            continue;
        };
        let v_init = model.cell.v_init;
        let p = &mut model.cell.points[point as usize];
        let Ok(site) = gap_site(&p.insert.mechanism) else {
            continue;
        };
        let vgap: Vec<f64> = g
            .iter()
            .zip(&gv)
            .map(|(&g, &gv)| if g > 0.0 { gv / g } else { v_init })
            .collect();
        p.insert.per_cell.push((site.g, g));
        p.insert.per_cell.push((site.vgap, vgap));
    }
}

fn find_population<'p>(
    cx: &mut Ctx,
    populations: &'p [Population],
    name: &ast::Ident,
) -> Option<(usize, &'p Population)> {
    let found = populations
        .iter()
        .enumerate()
        .find(|(_, p)| p.name == name.name);
    if found.is_none() {
        let hint = match closest(&name.name, populations.iter().map(|p| p.name.as_str())) {
            Some(c) => format!("did you mean `{c}`?"),
            None => {
                "define it with `POPULATION NAME = CELL { count = … }` before the CONNECT".into()
            }
        };
        cx.err(
            Diagnostic::error(
                format!("unknown population `{}`", name.name),
                name.span,
                "no such POPULATION",
            )
            .with_hint(hint),
        );
    }
    found
}

fn count_setting(cx: &mut Ctx, s: &Setting) -> Option<u64> {
    let n = cx.quantity(s, "1")?;
    if n < 1.0 || n != n.trunc() || n > 1e9 {
        cx.err(
            Diagnostic::error(
                format!("count must be a positive whole number, not {n}"),
                s.span,
                "invalid population size",
            )
            .with_hint("write e.g. `count = 100`"),
        );
        return None;
    }
    Some(n as u64)
}

fn lower_spike_source(
    cx: &mut Ctx,
    name: &ast::Ident,
    settings: &[Setting],
    span: Span,
    first: u64,
    files: &mut FileReader<'_>,
) -> Option<Population> {
    let mut given = TrainSettings::default();
    let mut ok = true;
    for s in settings {
        match given.read(cx, s, files) {
            Some(read) => ok &= read,
            None => {
                ok = false;
                cx.unknown_setting(s, &["count", "times", "file"], "a spike source")
            }
        }
    }
    if !ok {
        return None;
    }
    let (count, trains) = given.finish(cx, span, "a spike source")?;
    Some(Population {
        name: name.name.clone(),
        first,
        count,
        kind: PopulationKind::Spikes(trains),
    })
}

/// The settings that give a population's cells their spike times (a spike source's, or the
/// Vectors played into a VecStim's): `count`, `times = …` for every cell, or `file = NAME` for
/// each its own.
#[derive(Default)]
struct TrainSettings {
    count: Option<(u64, Span)>,
    times: Vec<f64>,
    trains: Option<Vec<Vec<f64>>>,
}

impl TrainSettings {
    /// Reads `s` when it is one of these settings: `Some(false)` after an error, `None` when
    /// it is another setting.
    fn read(&mut self, cx: &mut Ctx, s: &Setting, files: &mut FileReader<'_>) -> Option<bool> {
        let mut ok = true;
        match s.name.name.as_str() {
            "count" => match count_setting(cx, s) {
                Some(n) => self.count = Some((n, s.span)),
                None => ok = false,
            },
            "file" => match s.values.as_slice() {
                [Value::Name(n)] => match read_spike_trains(cx, &n.name, s.span, files) {
                    Some(t) => self.trains = Some(t),
                    None => ok = false,
                },
                _ => {
                    ok = false;
                    cx.err(
                        Diagnostic::error("`file` names a CSV file", s.span, "expected a name")
                            .with_hint("write `file = NAME` to read NAME.csv next to the model: `cell,t_ms` rows"),
                    );
                }
            },
            "times" => {
                for v in &s.values {
                    match cx.value_in(v, "ms") {
                        Some(t) if t >= 0.0 && t.is_finite() => self.times.push(t),
                        Some(t) => {
                            ok = false;
                            cx.err(
                                Diagnostic::error(
                                    format!("spike time {t} ms is before the run"),
                                    v.span(),
                                    "negative",
                                )
                                .with_hint("spike times run from 0 ms"),
                            );
                        }
                        None => ok = false,
                    }
                }
            }
            _ => return None,
        }
        Some(ok)
    }

    /// The population's size and trains, once every setting is read; `what` names the
    /// population in errors ("a spike source").
    fn finish(mut self, cx: &mut Ctx, span: Span, what: &str) -> Option<(u64, SpikeTrains)> {
        // Times past tstop stay: a request may lengthen the run, and the engine sends only
        // what falls before its end.
        self.times.sort_by(f64::total_cmp);
        match (self.trains, self.times.is_empty()) {
            (None, true) => {
                cx.err(
                    Diagnostic::error(format!("{what} needs its spike times"), span, "no `times`")
                        .with_hint("write `times = 5 (ms), 20 (ms)`, or `file = NAME` for a train per cell from NAME.csv"),
                );
                None
            }
            (Some(_), false) => {
                cx.err(
                    Diagnostic::error(format!("{what} has `times` and a `file`"), span, "both")
                        .with_hint(
                            "give every cell the same `times`, or each its own train in the file",
                        ),
                );
                None
            }
            (None, false) => {
                let n = self.count.map_or(1, |c| c.0);
                Some((n, SpikeTrains::Same(self.times)))
            }
            (Some(mut t), true) => {
                let cells = t.len() as u64;
                let n = match self.count {
                    Some((n, at)) if n < cells => {
                        cx.err(
                            Diagnostic::error(
                                format!(
                                    "the file gives spikes to cell {}, and `count` is {n}",
                                    cells - 1
                                ),
                                at,
                                "too few cells",
                            )
                            .with_hint(
                                "raise `count`, or leave it out: the file's largest cell index sets it",
                            ),
                        );
                        return None;
                    }
                    Some((n, _)) => n,
                    None => cells,
                };
                t.resize(n as usize, Vec::new());
                Some((n, SpikeTrains::PerCell(t)))
            }
        }
    }
}

/// `NAME.csv` beside the model, named by a setting at `at`: its name and text, or `None` after
/// an error saying why it cannot be read.
fn read_csv(
    cx: &mut Ctx,
    name: &str,
    at: Span,
    files: &mut FileReader<'_>,
) -> Option<(String, String)> {
    let path = format!("{name}.csv");
    match files(&path) {
        Ok(text) => Some((path, text)),
        Err(why) => {
            cx.err(
                Diagnostic::error(format!("cannot read `{path}`: {why}"), at, "named here")
                    .with_hint("put the CSV file next to the model"),
            );
            None
        }
    }
}

/// The trains of `NAME.csv`: `cell,t_ms` rows (`--spikes`'s columns, with cell indices within
/// the population), a header line and `#` comments skipped; each cell's times sorted.
/// `None` after an error naming the line.
fn read_spike_trains(
    cx: &mut Ctx,
    file: &str,
    at: Span,
    files: &mut FileReader<'_>,
) -> Option<Vec<Vec<f64>>> {
    let (path, text) = read_csv(cx, file, at, files)?;
    let mut trains: Vec<Vec<f64>> = Vec::new();
    for (k, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || (k == 0 && line.starts_with("cell")) {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let parsed = match fields.as_slice() {
            [c, t] => c.parse::<u64>().ok().zip(t.parse::<f64>().ok()),
            _ => None,
        };
        let why = match parsed {
            None => Some("expected `cell,t_ms`: a cell index and a time in ms".to_string()),
            Some((_, t)) if !(t.is_finite() && t >= 0.0) => {
                Some(format!("spike time {t} ms is not a time of the run"))
            }
            Some((c, _)) if c >= 100_000_000 => Some(format!("cell index {c} is too large")),
            Some(_) => None,
        };
        if let Some(why) = why {
            cx.err(
                Diagnostic::error(format!("{path} line {}: {why}", k + 1), at, "read from here")
                    .with_hint("each line is `cell,t_ms`: the cell's index within the population (from 0) and a time from 0 ms"),
            );
            return None;
        }
        let (c, t) = parsed.expect("checked above");
        if trains.len() <= c as usize {
            trains.resize(c as usize + 1, Vec::new());
        }
        trains[c as usize].push(t);
    }
    if trains.is_empty() {
        cx.err(
            Diagnostic::error(format!("{path} holds no spikes"), at, "read from here")
                .with_hint("each line is `cell,t_ms`"),
        );
        return None;
    }
    for t in &mut trains {
        t.sort_by(f64::total_cmp);
    }
    Some(trains)
}

#[allow(clippy::too_many_arguments)]
fn lower_artificial_population(
    cx: &mut Ctx,
    name: &ast::Ident,
    resolve: &mut Resolver<'_>,
    mechanism: &ast::Ident,
    settings: &[Setting],
    first: u64,
    span: Span,
    files: &mut FileReader<'_>,
) -> Option<Population> {
    let Ok(Some(m)) = resolve(&mechanism.name) else {
        return None;
    };
    if m.method.is_some() || !m.currents.is_empty() {
        cx.err(
            Diagnostic::error(
                format!("{} has equations that run every step", m.name),
                mechanism.span,
                "an artificial cell with a SOLVE or a current",
            )
            .with_hint("hhc runs ARTIFICIAL_CELLs by their events alone (INITIAL and NET_RECEIVE); write the state's solution between events, as IntFire1 does"),
        );
        return None;
    }
    // A VecStim's cells play the Vectors of `times` or `file`, as hoc's play() would give them.
    let plays = m.plays_vector.is_some();
    let mut count = 1;
    let mut given = TrainSettings::default();
    let mut ok = true;
    let mut values = Vec::new();
    for s in settings {
        let name = s.name.name.as_str();
        if name == "count" || (plays && matches!(name, "times" | "file")) {
            ok &= given.read(cx, s, files) == Some(true);
        } else if m.param_index(name).is_some() {
            values.push(s.clone());
        } else {
            ok = false;
            let own: &[&str] = if plays { &["times", "file"] } else { &[] };
            let known: Vec<&str> = ["count"]
                .iter()
                .chain(own)
                .copied()
                .chain(m.params.iter().map(|p| p.name.as_str()))
                .collect();
            cx.unknown_setting(s, &known, &format!("a population of {}", m.name));
        }
    }
    let mut vector = None;
    if ok && plays {
        match given.finish(cx, span, &format!("a population of {}", m.name)) {
            Some((n, trains)) => (count, vector) = (n, Some(trains)),
            None => ok = false,
        }
    } else if let Some((n, _)) = given.count {
        count = n;
    }
    let errors_before = cx.diags.has_errors();
    let mut insert = lower_insert(cx, m, &values);
    insert.vector = vector;
    ok &= errors_before || !cx.diags.has_errors();
    ok.then(|| Population {
        name: name.name.clone(),
        first,
        count,
        kind: PopulationKind::Artificial(Box::new(insert)),
    })
}

#[allow(clippy::too_many_arguments)]
fn lower_cell_population(
    cx: &mut Ctx,
    name: &ast::Ident,
    cell: &CellSpec,
    settings: &[Setting],
    span: Span,
    first: u64,
    run: &RunSettings,
    files: &mut FileReader<'_>,
) -> Option<Population> {
    const KNOWN: &[&str] = &["count", "stimulus", "probe", "detector", "record", "values"];
    let mut table: Option<(String, Span)> = None;
    let mut count = 1;
    let mut ok = true;
    let mut stimuli = Vec::new();
    let mut probes = Vec::new();
    let mut detector = None;
    let mut record = Vec::new();
    let mut located = Vec::new();
    for s in settings {
        match s.name.name.as_str() {
            "count" => match count_setting(cx, s) {
                Some(n) => count = n,
                None => ok = false,
            },
            "values" => match s.values.as_slice() {
                [Value::Name(n)] => table = Some((n.name.clone(), s.span)),
                _ => {
                    ok = false;
                    cx.err(
                        Diagnostic::error("`values` names a CSV file", s.span, "expected a name")
                            .with_hint("write `values = NAME` to read NAME.csv: a header of `point.param` or `MECHANISM.param` columns, then one row per cell"),
                    );
                }
            },
            "stimulus" => {
                for v in &s.values {
                    match lower_stimulus(cx, v) {
                        Some(st @ Stimulus::IClamp { .. }) => {
                            if let Stimulus::IClamp { section, .. } = &st {
                                located.push((section.clone(), v.span()));
                            }
                            stimuli.push(st);
                        }
                        Some(Stimulus::Constant(c)) => stimuli.push(Stimulus::Constant(c)),
                        Some(_) => {
                            ok = false;
                            cx.err(
                                Diagnostic::error("a population takes `iclamp(…)` or a constant density", v.span(), "not available in a network")
                                    .with_hint("write `stimulus = iclamp(0.5 (nA), 5 (ms), 100 (ms), soma(0.5))`"),
                            );
                        }
                        None => ok = false,
                    }
                }
            }
            "probe" => {
                for v in &s.values {
                    match location(cx, v) {
                        Some((sec, x)) => {
                            located.push((sec.clone(), v.span()));
                            probes.push((sec, x));
                        }
                        None => ok = false,
                    }
                }
            }
            "detector" => match s.values.as_slice() {
                [v] => match location(cx, v) {
                    Some((sec, x)) => {
                        located.push((sec.clone(), v.span()));
                        detector = Some((sec, x));
                    }
                    None => ok = false,
                },
                _ => {
                    ok = false;
                    cx.err(
                        Diagnostic::error(
                            "`detector` is one location",
                            s.span,
                            "spikes are detected at one place",
                        )
                        .with_hint("write `detector = soma(0.5)`"),
                    );
                }
            },
            "record" => {
                for v in &s.values {
                    match cx.value_in(v, "1") {
                        Some(x) if x >= 0.0 && x == x.trunc() => record.push((x as u64, v.span())),
                        Some(_) => {
                            ok = false;
                            cx.err(
                                Diagnostic::error(
                                    "record takes cell indices",
                                    v.span(),
                                    "not a cell index",
                                )
                                .with_hint(
                                    "write e.g. `record = 0, 10` (indices within the population)",
                                ),
                            );
                        }
                        None => ok = false,
                    }
                }
            }
            _ => {
                ok = false;
                cx.unknown_setting(s, KNOWN, "POPULATION")
            }
        }
    }
    if cell.sections.is_empty() {
        ok = false;
        cx.err(
            Diagnostic::error(
                format!("cell `{}` has no sections, so it cannot join a network", cell.name),
                span,
                "in this population",
            )
            .with_hint("hhc's networks step cells as NEURON does, on sections: give the cell `SECTION soma { L = … (um)  diam = … (um) }`"),
        );
    }
    for (sec, at) in &located {
        if !cell.sections.is_empty() && !cell.sections.iter().any(|s| &s.name == sec) {
            ok = false;
            let hint = match closest(sec, cell.sections.iter().map(|s| s.name.as_str())) {
                Some(c) => format!("did you mean `{c}`?"),
                None => "name a SECTION of the cell".into(),
            };
            cx.err(
                Diagnostic::error(
                    format!("no section `{sec}` in cell `{}`", cell.name),
                    *at,
                    "unknown section",
                )
                .with_hint(hint),
            );
        }
    }
    for &(c, at) in &record {
        if c >= count {
            ok = false;
            cx.err(
                Diagnostic::error(
                    format!(
                        "`record` names cell {c}, but population `{}` has {count}",
                        name.name
                    ),
                    at,
                    "no such cell",
                )
                .with_hint(format!(
                    "cells of a population are numbered 0 to {}",
                    count - 1
                )),
            );
        }
    }
    let mut cell = cell.clone();
    if let Some((file, at)) = table {
        ok &= read_values(cx, &mut cell, &file, at, count, files);
    }
    let model = Model {
        cell,
        count,
        dt: run.dt,
        tstop: run.tstop,
        celsius: run.celsius,
        stimuli,
        method: run.method,
        probes,
        detector,
        cable_theta: run.cable_theta,
        record_states: Vec::new(),
        record: record.into_iter().map(|(c, _)| c).collect(),
        network: None,
        block: None,
        warnings: String::new(),
    };
    ok.then(|| Population {
        name: name.name.clone(),
        first,
        count,
        kind: PopulationKind::Cells(Box::new(model)),
    })
}

/// Reads `file`.csv, a table of values per cell: a header of columns `point.param` (a POINT of
/// the cell) or `MECHANISM.param` (every INSERT of that mechanism), then one row per cell of the
/// population, in the parameters' declared units. Reports and returns false on any error.
fn read_values(
    cx: &mut Ctx,
    cell: &mut CellSpec,
    file: &str,
    at: Span,
    count: u64,
    files: &mut FileReader<'_>,
) -> bool {
    let Some((path, text)) = read_csv(cx, file, at, files) else {
        return false;
    };
    let bad = |cx: &mut Ctx, line: usize, why: String| {
        cx.err(
            Diagnostic::error(format!("{path} line {line}: {why}"), at, "read from here")
                .with_hint("the first line names the columns (`syn.tau`, `IL.g_max`, …), and each further line gives one cell's values, cell 0 first"),
        );
        false
    };
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((header_line, header)) = lines.next() else {
        return bad(cx, 1, "the file is empty".into());
    };
    // Each column: where its values go (a point, or inserts) and which parameter.
    enum Target {
        Point(usize),
        Inserts(Vec<usize>),
    }
    let mut columns: Vec<(Target, usize, String)> = Vec::new();
    for name in header.split(',').map(str::trim) {
        let Some((owner, param)) = name.split_once('.') else {
            return bad(
                cx,
                header_line + 1,
                format!("column `{name}` is not `point.param` or `MECHANISM.param`"),
            );
        };
        let (target, m) = if let Some(p) = cell.points.iter().position(|p| p.name == owner) {
            (Target::Point(p), &cell.points[p].insert.mechanism)
        } else {
            let inserts: Vec<usize> = (0..cell.inserts.len())
                .filter(|&i| cell.inserts[i].mechanism.name == owner)
                .collect();
            match inserts.first() {
                Some(&i) => (Target::Inserts(inserts.clone()), &cell.inserts[i].mechanism),
                None => {
                    let known = cell
                        .points
                        .iter()
                        .map(|p| p.name.as_str())
                        .chain(cell.inserts.iter().map(|i| i.mechanism.name.as_str()));
                    let hint = closest(owner, known)
                        .map_or(String::new(), |c| format!(" (did you mean `{c}`?)"));
                    return bad(
                        cx,
                        header_line + 1,
                        format!(
                            "cell `{}` has no point or mechanism `{owner}`{hint}",
                            cell.name
                        ),
                    );
                }
            }
        };
        let Some(pi) = m.param_index(param) else {
            let hint = closest(param, m.params.iter().map(|p| p.name.as_str()))
                .map_or(String::new(), |c| format!(" (did you mean `{c}`?)"));
            return bad(
                cx,
                header_line + 1,
                format!("{} has no parameter `{param}`{hint}", m.name),
            );
        };
        columns.push((target, pi, name.to_string()));
    }
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); columns.len()];
    let mut rows = 0u64;
    for (line, text) in lines {
        let fields: Vec<&str> = text.split(',').map(str::trim).collect();
        if fields.len() != columns.len() {
            return bad(
                cx,
                line + 1,
                format!("expected {} values, found {}", columns.len(), fields.len()),
            );
        }
        for (k, f) in fields.iter().enumerate() {
            match f.parse::<f64>() {
                Ok(x) if x.is_finite() => values[k].push(x),
                _ => {
                    return bad(
                        cx,
                        line + 1,
                        format!("`{f}` is not a number ({})", columns[k].2),
                    )
                }
            }
        }
        rows += 1;
    }
    if rows != count {
        return bad(
            cx,
            text.lines().count(),
            format!("the table has {rows} rows, and the population {count} cells"),
        );
    }
    for ((target, pi, _), column) in columns.into_iter().zip(values) {
        let inserts: Vec<&mut Insert> = match target {
            Target::Point(p) => vec![&mut cell.points[p].insert],
            Target::Inserts(list) => cell
                .inserts
                .iter_mut()
                .enumerate()
                .filter(|(i, _)| list.contains(i))
                .map(|(_, ins)| ins)
                .collect(),
        };
        for ins in inserts {
            for (c, &x) in column.iter().enumerate() {
                if !super::model::check_parameter_value(cx, &ins.mechanism, pi, x, at) {
                    let _ = c;
                    return false;
                }
            }
            ins.per_cell.push((pi, column.clone()));
            if let Some(problem) = super::model::varying_table_problem(ins, "is set per cell") {
                cx.err(
                    Diagnostic::error(problem.message, at, problem.label).with_hint(problem.hint),
                );
                return false;
            }
        }
    }
    true
}

/// How a CONNECT picks its pairs.
enum Rule {
    AllToAll,
    OneToOne,
    Probability(f64),
    InDegree(u64),
    List(Vec<(u64, u64)>),
    File(String, Span),
}

#[allow(clippy::too_many_arguments)]
fn lower_connect(
    cx: &mut Ctx,
    populations: &[Population],
    pre: &ast::Ident,
    post: &ast::Ident,
    target: Option<&ast::Ident>,
    settings: &[Setting],
    span: Span,
    run: &RunSettings,
    files: &mut FileReader<'_>,
    share: Option<Share>,
    link: Link,
) -> Option<Vec<Connection>> {
    let pre_pop = find_population(cx, populations, pre);
    let post_pop = find_population(cx, populations, post);
    let (Some((pre_k, pre_pop)), Some((post_k, post_pop))) = (pre_pop, post_pop) else {
        return None;
    };
    let (point, mechanism) = match (&post_pop.kind, target) {
        (PopulationKind::Cells(post_model), Some(target)) => {
            let points = &post_model.cell.points;
            let Some(point) = points.iter().position(|p| p.name == target.name) else {
                let adjuster = post_model
                    .cell
                    .adjusters
                    .iter()
                    .find(|a| a.name == target.name);
                if let Some(a) = adjuster {
                    cx.err(
                        Diagnostic::error(
                            format!(
                                "`{}` on cell `{}` is a weight adjuster, not a synapse: its mechanism `{}` has a POINTER",
                                target.name, post_model.cell.name, a.insert.mechanism.name
                            ),
                            target.span,
                            "connections end at synapses",
                        )
                        .with_hint(format!(
                            "connect to the synapse whose weight it adjusts and name it there: `CONNECT {} -> {} AT syn {{ … adjuster = {} }}`",
                            pre.name, post.name, target.name
                        )),
                    );
                    return None;
                }
                let hint = match closest(&target.name, points.iter().map(|p| p.name.as_str())) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => format!(
                        "place a synapse on cell `{}`: `POINT {} = ExpSyn AT soma(0.5) {{ … }}`",
                        post_model.cell.name, target.name
                    ),
                };
                cx.err(
                    Diagnostic::error(
                        format!(
                            "cell `{}` has no point process `{}`",
                            post_model.cell.name, target.name
                        ),
                        target.span,
                        "no such POINT",
                    )
                    .with_hint(hint),
                );
                return None;
            };
            (point, &points[point].insert.mechanism)
        }
        (PopulationKind::Cells(post_model), None) => {
            cx.err(
                Diagnostic::error(
                    format!("CONNECT to `{}` does not say which synapse", post.name),
                    span,
                    "no `AT point`",
                )
                .with_hint(match post_model.cell.points.first() {
                    Some(p) => format!(
                        "write `CONNECT {} -> {} AT {} {{ … }}`",
                        pre.name, post.name, p.name
                    ),
                    None => format!(
                        "place a synapse on cell `{}` with POINT, and connect AT it",
                        post_model.cell.name
                    ),
                }),
            );
            return None;
        }
        (PopulationKind::Artificial(insert), None) => (0, &insert.mechanism),
        (PopulationKind::Artificial(insert), Some(target)) => {
            cx.err(
                Diagnostic::error(
                    format!(
                        "`{}` is a population of {} cells, which receive events themselves",
                        post.name, insert.mechanism.name
                    ),
                    target.span,
                    "no points on an artificial cell",
                )
                .with_hint(format!(
                    "write `CONNECT {} -> {} {{ … }}` without AT",
                    pre.name, post.name
                )),
            );
            return None;
        }
        (PopulationKind::Spikes(_), _) => {
            cx.err(
                Diagnostic::error(
                    format!(
                        "`{}` is a spike source; it sends spikes but receives none",
                        post.name
                    ),
                    post.span,
                    "not a population of cells",
                )
                .with_hint("connect to a population of cells"),
            );
            return None;
        }
    };
    let weight_unit = match link {
        Link::Gap => match gap_site(mechanism) {
            Ok(site) => mechanism.params[site.g].unit.clone(),
            Err(why) => {
                cx.err(
                    Diagnostic::error(
                        format!("{} is not a gap junction: {why}", mechanism.name),
                        target.map_or(post.span, |t| t.span),
                        "not a gap junction site",
                    )
                    .with_hint("place the stdlib's `Gap` (i = g·(v − vgap)) on both cells: `POINT gj = Gap AT soma(0.5)`"),
                );
                return None;
            }
        },
        Link::Synapse => {
            let Some(receive) = &mechanism.net_receive else {
                cx.err(
                    Diagnostic::error(
                        format!(
                            "{} has no NET_RECEIVE block, so it cannot receive spikes",
                            mechanism.name
                        ),
                        target.map_or(post.span, |t| t.span),
                        "not a synapse",
                    )
                    .with_hint(
                        "connect to a point process with NET_RECEIVE, such as ExpSyn or Exp2Syn",
                    ),
                );
                return None;
            };
            receive.args.first().and_then(|(_, u)| u.clone())
        }
    };
    let weight_want = weight_unit.clone().unwrap_or_else(|| "1".into());
    let mut rule = None;
    let (mut weight, mut delay, mut seed) = (None, None, 0u64);
    let (mut pre_list, mut post_list) = (None, None);
    let mut autapses = false;
    let mut ok = true;
    const KNOWN: &[&str] = &[
        "rule",
        "weight",
        "delay",
        "seed",
        "pre",
        "post",
        "file",
        "autapses",
        "adjuster",
        "post_spikes",
    ];
    let mut adjuster = NO_ADJUSTER;
    let mut post_spikes = None;
    const KNOWN_GAP: &[&str] = &["rule", "weight", "seed", "pre", "post", "file"];
    for s in settings {
        match s.name.name.as_str() {
            "delay" | "autapses" | "adjuster" | "post_spikes" if link == Link::Gap => {
                ok = false;
                cx.unknown_setting(s, KNOWN_GAP, "GAP");
            }
            "adjuster" => match adjuster_of(cx, &post_pop.kind, s) {
                Some(k) => adjuster = k,
                None => ok = false,
            },
            "post_spikes" => match s.values.as_slice() {
                [Value::Name(n)] if n.name == "true" || n.name == "yes" => {
                    post_spikes = Some(s.span)
                }
                [Value::Name(n)] if n.name == "false" || n.name == "no" => {}
                _ => {
                    ok = false;
                    cx.err(
                        Diagnostic::error("`post_spikes` is true or false", s.span, "not a choice")
                            .with_hint("write `post_spikes = true` to give the adjuster the target cell's spikes (weight -1), as PyNN's STDP mechanisms get them"),
                    );
                }
            },
            "rule" => match s.values.as_slice() {
                [Value::Name(n)] if n.name == "all_to_all" => rule = Some(Rule::AllToAll),
                [Value::Name(n)] if n.name == "one_to_one" => rule = Some(Rule::OneToOne),
                [Value::Call { name, .. }] if name.name == "indegree" && link == Link::Gap => {
                    ok = false;
                    cx.err(
                        Diagnostic::error("a GAP has no in-degree rule", name.span, "for CONNECT only")
                            .with_hint("a gap junction joins both cells alike: use `rule = probability(P)`, `all_to_all`, `one_to_one`, `pre = …  post = …` or `file = NAME`"),
                    );
                }
                [Value::Call { name, args, .. }]
                    if name.name == "probability" && args.len() == 1 =>
                {
                    match cx.value_in(&args[0], "1") {
                        Some(p) if (0.0..=1.0).contains(&p) => rule = Some(Rule::Probability(p)),
                        Some(p) => {
                            ok = false;
                            cx.err(
                                Diagnostic::error(
                                    format!("a probability lies in 0..1, not {p}"),
                                    args[0].span(),
                                    "out of range",
                                )
                                .with_hint("write e.g. `rule = probability(0.1)`"),
                            );
                        }
                        None => ok = false,
                    }
                }
                [Value::Call { name, args, .. }] if name.name == "indegree" && args.len() == 1 => {
                    match cx.value_in(&args[0], "1") {
                        Some(k) if k >= 0.0 && k == k.trunc() => {
                            rule = Some(Rule::InDegree(k as u64))
                        }
                        _ => {
                            ok = false;
                            cx.err(
                                Diagnostic::error(
                                    "`indegree` takes a whole number of inputs per cell",
                                    args[0].span(),
                                    "not a count",
                                )
                                .with_hint("write e.g. `rule = indegree(10)`"),
                            );
                        }
                    }
                }
                _ => {
                    ok = false;
                    cx.err(
                        Diagnostic::error("unknown connection rule", s.span, "not a rule hhc knows")
                            .with_hint("write `rule = all_to_all`, `one_to_one`, `probability(P)` or `indegree(K)`; or give `pre = …  post = …`, or `file = NAME` for NAME.csv"),
                    );
                }
            },
            "weight" => {
                weight = cx.quantity(s, &weight_want);
                ok &= weight.is_some();
            }
            "delay" => {
                delay = cx.quantity(s, "ms").map(|d| (d, s.span));
                ok &= delay.is_some();
            }
            "seed" => match cx.quantity(s, "1") {
                Some(x) if x >= 0.0 && x == x.trunc() => seed = x as u64,
                _ => {
                    ok = false;
                    cx.err(
                        Diagnostic::error("`seed` is a whole number", s.span, "not a seed")
                            .with_hint("write e.g. `seed = 42`"),
                    );
                }
            },
            "autapses" => match s.values.as_slice() {
                [Value::Name(n)] if n.name == "true" || n.name == "yes" => autapses = true,
                [Value::Name(n)] if n.name == "false" || n.name == "no" => autapses = false,
                _ => {
                    ok = false;
                    cx.err(
                        Diagnostic::error("`autapses` is true or false", s.span, "not a choice")
                            .with_hint("write `autapses = true` to let a cell connect to itself"),
                    );
                }
            },
            "pre" | "post" => {
                let mut list = Vec::new();
                for v in &s.values {
                    match cx.value_in(v, "1") {
                        Some(x) if x >= 0.0 && x == x.trunc() => list.push((x as u64, v.span())),
                        _ => {
                            ok = false;
                            cx.err(
                                Diagnostic::error(
                                    "expected a cell index",
                                    v.span(),
                                    "not an index",
                                )
                                .with_hint("indices count from 0 within the population"),
                            );
                        }
                    }
                }
                if s.name.name == "pre" {
                    pre_list = Some(list);
                } else {
                    post_list = Some(list);
                }
            }
            "file" => match s.values.as_slice() {
                [Value::Name(n)] => rule = Some(Rule::File(n.name.clone(), s.span)),
                _ => {
                    ok = false;
                    cx.err(
                        Diagnostic::error("`file` names a CSV file", s.span, "expected a name")
                            .with_hint("write `file = NAME` to read NAME.csv next to the model"),
                    );
                }
            },
            _ => {
                ok = false;
                match link {
                    Link::Synapse => cx.unknown_setting(s, KNOWN, "CONNECT"),
                    Link::Gap => cx.unknown_setting(s, KNOWN_GAP, "GAP"),
                }
            }
        }
    }
    // Explicit pairs.
    match (pre_list, post_list) {
        (Some(a), Some(b)) => {
            let n = a.len().max(b.len());
            if a.len() != b.len() && a.len() != 1 && b.len() != 1 {
                ok = false;
                cx.err(
                    Diagnostic::error(
                        format!("`pre` lists {} cells and `post` {}", a.len(), b.len()),
                        span,
                        "the lists pair up one to one",
                    )
                    .with_hint("give both lists the same length, or one index on one side"),
                );
            }
            for (list, pop, side) in [(&a, pre_pop, "pre"), (&b, post_pop, "post")] {
                for &(i, at) in list {
                    if i >= pop.count {
                        ok = false;
                        cx.err(
                            Diagnostic::error(
                                format!(
                                    "`{side}` names cell {i}, but population `{}` has {}",
                                    pop.name, pop.count
                                ),
                                at,
                                "no such cell",
                            )
                            .with_hint(format!(
                                "cells of `{}` are numbered 0 to {}",
                                pop.name,
                                pop.count - 1
                            )),
                        );
                    }
                }
            }
            let pairs_up = !a.is_empty()
                && !b.is_empty()
                && (a.len() == b.len() || a.len() == 1 || b.len() == 1);
            if pairs_up {
                let pick = |l: &Vec<(u64, Span)>, k: usize| l[if l.len() == 1 { 0 } else { k }].0;
                rule = Some(Rule::List(
                    (0..n).map(|k| (pick(&a, k), pick(&b, k))).collect(),
                ));
            }
        }
        (None, None) => {}
        _ => {
            ok = false;
            cx.err(
                Diagnostic::error(
                    "`pre` and `post` come together",
                    span,
                    "one list is missing",
                )
                .with_hint(
                    "give the presynaptic cells in `pre = …` and their targets in `post = …`",
                ),
            );
        }
    }
    let Some(rule) = rule else {
        if ok {
            cx.err(
                Diagnostic::error("CONNECT does not say which cells connect", span, "no rule")
                    .with_hint("add `rule = all_to_all`, `one_to_one`, `probability(P)` or `indegree(K)`; or `pre = …  post = …`; or `file = NAME`"),
            );
        }
        return None;
    };
    let from_file = matches!(rule, Rule::File(..));
    match (post_spikes, adjuster) {
        (Some(at), NO_ADJUSTER) if ok => {
            cx.err(
                Diagnostic::error("`post_spikes` without an adjuster", at, "nothing gets them")
                    .with_hint("name the weight adjuster that gets the target cell's spikes: `adjuster = NAME  post_spikes = true`"),
            );
            return None;
        }
        (Some(_), _) => adjuster |= ADJUSTER_SEES_POST,
        (None, _) => {}
    }
    if link == Link::Gap {
        if weight.is_none() && !from_file && ok {
            cx.err(
                Diagnostic::error("GAP needs a weight", span, "no `weight`").with_hint(format!(
                    "add the junction's conductance, `weight = 0.001 ({})`",
                    weight_unit.as_deref().unwrap_or("uS")
                )),
            );
            return None;
        }
        if matches!(rule, Rule::OneToOne) && pre_k == post_k {
            cx.err(
                Diagnostic::error("one_to_one would join every cell to itself", span, "same population")
                    .with_hint("a gap junction joins two cells: use `rule = probability(P)`, `all_to_all` or lists"),
            );
            return None;
        }
        if let Some(w) = weight.filter(|w| !(*w >= 0.0 && w.is_finite())) {
            cx.err(
                Diagnostic::error(
                    format!("a junction's conductance is at least 0, not {w}"),
                    span,
                    "negative conductance",
                )
                .with_hint("give `weight` the junction's conductance"),
            );
            return None;
        }
    } else if !from_file {
        if weight.is_none() && ok {
            ok = false;
            cx.err(
                Diagnostic::error("CONNECT needs a weight", span, "no `weight`").with_hint(
                    format!(
                        "add `weight = 0.01 ({})`",
                        weight_unit.as_deref().unwrap_or("1")
                    ),
                ),
            );
        }
        if delay.is_none() && ok {
            ok = false;
            cx.err(
                Diagnostic::error("CONNECT needs a delay", span, "no `delay`")
                    .with_hint("add `delay = 1 (ms)`; spikes take at least one step to arrive"),
            );
        }
    }
    let check_delay = |cx: &mut Ctx, d: f64, at: Span, what: &str| -> bool {
        if d < 0.0 {
            cx.err(
                Diagnostic::error(
                    format!("{what}delay {d} ms is negative"),
                    at,
                    "before the spike",
                )
                .with_hint("a spike reaches its target after a delay of at least dt"),
            );
            return false;
        }
        if d.is_nan() || d < run.dt || !d.is_finite() {
            cx.err(
                Diagnostic::error(
                    format!("{what}delay {d} ms is shorter than the step, dt = {} ms", run.dt),
                    at,
                    "too short",
                )
                .with_hint("a spike is seen at the end of a step, so a delay is at least dt (NEURON's rule too); lengthen the delay or shorten dt"),
            );
            return false;
        }
        true
    };
    if let Some((d, at)) = delay {
        ok &= check_delay(cx, d, at, "");
    }
    if !ok {
        return None;
    }
    let (weight, delay) = (weight.unwrap_or(0.0), delay.map_or(0.0, |d| d.0));
    let same = pre_k == post_k;
    let connect = |i: u64, j: u64| Connection {
        pre: pre_pop.first + i,
        post: post_pop.first + j,
        point: point as u32,
        weight,
        delay,
        adjuster,
    };
    let mut out = Vec::new();
    // A gap junction joins two cells once: within one population, the pairs i < j.
    let allowed = |i: u64, j: u64| match link {
        Link::Synapse => autapses || !same || i != j,
        Link::Gap => !same || i < j,
    };
    // The target cells whose inputs this process builds: its own block of a population of
    // cells (every process runs the artificial cells), all of them when it runs alone. The
    // rules draw each target's inputs from keys of its own, so a block's are the same.
    let posts = match (share, &post_pop.kind) {
        (Some(s), PopulationKind::Cells(_)) => owned_cells(post_pop.count, s.rank, s.processes),
        _ => 0..post_pop.count,
    };
    match rule {
        Rule::AllToAll => {
            if !within_budget(cx, (pre_pop.count as f64) * (post_pop.count as f64), span) {
                return None;
            }
            for j in posts.clone() {
                for i in 0..pre_pop.count {
                    if allowed(i, j) {
                        out.push(connect(i, j));
                    }
                }
            }
        }
        Rule::OneToOne => {
            if pre_pop.count != post_pop.count {
                cx.err(
                    Diagnostic::error(
                        format!(
                            "one_to_one pairs `{}` ({} cells) with `{}` ({} cells)",
                            pre_pop.name, pre_pop.count, post_pop.name, post_pop.count
                        ),
                        span,
                        "the populations differ in size",
                    )
                    .with_hint("one_to_one connects cell i to cell i; use populations of one size"),
                );
                return None;
            }
            if !within_budget(cx, pre_pop.count as f64, span) {
                return None;
            }
            out.extend(posts.clone().map(|i| connect(i, i)));
        }
        Rule::Probability(p) => {
            if !within_budget(
                cx,
                p * (pre_pop.count as f64) * (post_pop.count as f64),
                span,
            ) {
                return None;
            }
            // Each pair independently with probability p: per target, the gaps between chosen
            // sources are geometric, so the work is the number of connections, and the draws
            // are keyed by (seed, target, draw).
            let log_q = (-p).ln_1p();
            for j in posts.clone() {
                if p <= 0.0 {
                    break;
                }
                let mut i: u64 = 0;
                let mut draw = 0u64;
                loop {
                    let u = uniform(seed, post_pop.first + j, draw);
                    draw += 1;
                    let gap = ((-u).ln_1p() / log_q).floor();
                    if gap.is_nan() || gap >= (pre_pop.count - i) as f64 {
                        break;
                    }
                    i += gap as u64;
                    if allowed(i, j) {
                        out.push(connect(i, j));
                    }
                    i += 1;
                    if i >= pre_pop.count {
                        break;
                    }
                }
            }
        }
        Rule::InDegree(k) => {
            let candidates = pre_pop.count - u64::from(same && !autapses);
            if k > candidates {
                cx.err(
                    Diagnostic::error(format!("indegree({k}) asks for more inputs than `{}` can give ({candidates})", pre_pop.name), span, "too many inputs")
                        .with_hint("lower the in-degree, or let cells connect to themselves with `autapses = true`"),
                );
                return None;
            }
            if !within_budget(cx, (k as f64) * (post_pop.count as f64), span) {
                return None;
            }
            for j in posts.clone() {
                if 2 * k <= candidates {
                    // Few of many: draw sources, keyed by (seed, target, draw), until k distinct.
                    let mut chosen = std::collections::BTreeSet::new();
                    let mut draw = 0u64;
                    while (chosen.len() as u64) < k {
                        let u = uniform(seed, post_pop.first + j, draw);
                        draw += 1;
                        let i = ((u * pre_pop.count as f64) as u64).min(pre_pop.count - 1);
                        if allowed(i, j) && chosen.insert(i) {
                            out.push(connect(i, j));
                        }
                    }
                } else {
                    // Most of them: a partial Fisher–Yates shuffle of the candidates.
                    let mut pool: Vec<u64> =
                        (0..pre_pop.count).filter(|&i| allowed(i, j)).collect();
                    for d in 0..k as usize {
                        let r = uniform(seed, post_pop.first + j, d as u64);
                        let pick =
                            d + ((r * (pool.len() - d) as f64) as usize).min(pool.len() - d - 1);
                        pool.swap(d, pick);
                        out.push(connect(pool[d], j));
                    }
                }
            }
        }
        Rule::List(pairs) if link == Link::Gap && same && pairs.iter().any(|(i, j)| i == j) => {
            let i = pairs.iter().find(|(i, j)| i == j).map_or(0, |p| p.0);
            cx.err(
                Diagnostic::error(
                    format!("cell {i} is joined to itself"),
                    span,
                    "a junction needs two cells",
                )
                .with_hint("pair each cell with another in `pre = …  post = …`"),
            );
            return None;
        }
        Rule::List(pairs) => out.extend(
            (pairs.into_iter())
                .filter(|(_, j)| posts.contains(j))
                .map(|(i, j)| connect(i, j)),
        ),
        Rule::File(name, at) => {
            let (file, text) = read_csv(cx, &name, at, files)?;
            // A header (`pre,…`) may come first, after comments.
            let mut header_allowed = true;
            for (line_no, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                if std::mem::replace(&mut header_allowed, false) && line.starts_with("pre") {
                    continue;
                }
                let fields: Vec<&str> = line.split(',').map(str::trim).collect();
                let bad = |cx: &mut Ctx, why: String| {
                    let hint = match link {
                        Link::Synapse => "each line is `pre,post,weight,delay`: two cell indices within their populations, the weight in the synapse's unit, the delay in ms",
                        Link::Gap => "each line is `pre,post,weight`: two cell indices within their populations and the junction's conductance in the site's unit",
                    };
                    cx.err(
                        Diagnostic::error(
                            format!("{file} line {}: {why}", line_no + 1),
                            at,
                            "read from here",
                        )
                        .with_hint(hint),
                    );
                };
                let parsed = match (fields.as_slice(), link) {
                    ([a, b, w, d], Link::Synapse) => (
                        a.parse::<u64>(),
                        b.parse::<u64>(),
                        w.parse::<f64>(),
                        d.parse::<f64>(),
                    ),
                    ([a, b, w], Link::Gap) => (
                        a.parse::<u64>(),
                        b.parse::<u64>(),
                        w.parse::<f64>(),
                        Ok(run.dt),
                    ),
                    _ => {
                        let want = if link == Link::Gap { 3 } else { 4 };
                        bad(
                            cx,
                            format!("expected {want} fields, found {}", fields.len()),
                        );
                        return None;
                    }
                };
                let (Ok(i), Ok(j), Ok(w), Ok(d)) = parsed else {
                    bad(cx, format!("cannot read `{line}`"));
                    return None;
                };
                if i >= pre_pop.count || j >= post_pop.count {
                    bad(
                        cx,
                        format!(
                            "cell {} is not in `{}` ({} cells)",
                            if i >= pre_pop.count { i } else { j },
                            if i >= pre_pop.count {
                                &pre_pop.name
                            } else {
                                &post_pop.name
                            },
                            if i >= pre_pop.count {
                                pre_pop.count
                            } else {
                                post_pop.count
                            }
                        ),
                    );
                    return None;
                }
                if !w.is_finite() {
                    bad(cx, format!("weight {w} is not a number"));
                    return None;
                }
                if link == Link::Gap && (w < 0.0 || (same && i == j)) {
                    bad(
                        cx,
                        match w < 0.0 {
                            true => format!("a junction's conductance is at least 0, not {w}"),
                            false => format!("cell {i} is joined to itself"),
                        },
                    );
                    return None;
                }
                if !check_delay(cx, d, at, &format!("{file} line {}: ", line_no + 1)) {
                    return None;
                }
                // Every line is read and checked by every process, so all report alike.
                if !posts.contains(&j) {
                    continue;
                }
                out.push(Connection {
                    pre: pre_pop.first + i,
                    post: post_pop.first + j,
                    point: point as u32,
                    weight: w,
                    delay: d,
                    adjuster,
                });
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::uniform;

    #[test]
    fn uniform_is_in_range_and_spread() {
        let xs: Vec<f64> = (0..10_000).map(|i| uniform(7, i, 3)).collect();
        assert!(xs.iter().all(|&x| (0.0..1.0).contains(&x)));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
        assert_ne!(uniform(7, 1, 2), uniform(8, 1, 2));
        assert_ne!(uniform(7, 1, 2), uniform(7, 2, 1));
    }
}
