//! Multi-compartment cells: the discretised tree, and the whole cell's step as one
//! [`CellProgram`].
//!
//! **Discretisation** (NEURON's, as `nrn_area_ri` computes it for sections with 3-D points):
//! - section s with `nseg` compartments of length l = L/nseg, each with its node at the
//!   compartment's centre. Its membrane area is the lateral surface of the frustums of the
//!   section's profile between the compartment's ends (π·d·l for a cylinder), no end caps;
//! - neighbours in a section are joined by the axial resistance of the profile between their
//!   centres, each frustum's exact `4·Ra·l/(π·d1·d2)`;
//! - a child section joins its parent's node nearest to `parent(x)`, a centre or the end:
//!   a child at a centre joins it through half a child compartment; children at the end join
//!   a node of zero area there (NEURON's end node), which joins the parent's last centre
//!   through the parent's last half compartment. `sec(1)` and `sec(0)` name those nodes.
//!
//! Units inside the solver: mV, ms, nA, µS, nF, so C/dt is in µS.
//!
//! **Two ways to step it.** The runtime's chunked solver (`hhc_runtime::cable`) is the CPU's
//! path: each region's mechanisms are one compiled kernel, and the Hines solve is a loop over
//! nodes with a chunk of cells in the vector lanes. A GPU thread instead takes one whole cell,
//! so there the whole step must be one kernel. [`build`] makes that kernel's program: every
//! compartment's mechanisms, instantiated per node from the region's compartment program
//! ([`crate::cell::build_compartment`]), and the Hines elimination unrolled over the tree into
//! parallel assignments. Either backend compiles it, so the CPU's JIT runs it too, which is how
//! the tests hold it to the chunked solver.
//!
//! **Invariants.** Both paths share the tree, the regions, the stimuli and the probes from this
//! module, and take one step in the same order (NEURON's staggered one): the matrix of step n
//! uses the membrane current and conductance at (V_n, states_n); after the solve, the states
//! advance at V_{n+1} and the currents for step n + 1 follow. The solve's operations are the
//! chunked solver's, one for one.

use crate::cell::{MEMBRANE_CONDUCTANCE_SLOT, MEMBRANE_CURRENT_SLOT};
use crate::ir::{BinaryOp, Builtin, CellProgram, ExprArena, ExprId, Slot, SlotKind, Var};
use crate::passes::simplify::Builder;
use crate::passes::symbolic::import;
use crate::sema::model::{region_covers, CellSpec, Model, Section, Stimulus};

/// One cell's compartments, parents before children.
#[derive(Clone, Debug)]
pub struct Tree {
    pub parent: Vec<Option<usize>>,
    /// Axial conductance to the parent, µS.
    pub g_axial: Vec<f64>,
    /// Membrane area, cm².
    pub area: Vec<f64>,
    /// Each node's segment diameter, µm (see [`Section::mean_diam_between`]); an end node takes
    /// its segment's.
    pub diam: Vec<f64>,
    /// (section index, x of the node centre).
    pub place: Vec<(usize, f64)>,
    pub sections: Vec<Section>,
}

/// Where a child section joins its parent: NEURON connects it to the parent's node nearest to
/// the given x, a segment's centre or one of the section's ends.
#[derive(Clone, Copy, PartialEq)]
enum Attachment {
    Start,
    Centre(usize),
    End,
}

impl Attachment {
    fn at(parent: &Section, x: f64) -> Attachment {
        let n = parent.nseg as f64;
        let (first_centre, last_centre) = (0.5 / n, (n - 0.5) / n);
        if x >= 1.0 || (1.0 - x) < (x - last_centre).abs() {
            Attachment::End
        } else if x <= 0.0 || x < (x - first_centre).abs() {
            Attachment::Start
        } else {
            Attachment::Centre(((x * n).floor() as usize).min(parent.nseg - 1))
        }
    }
}

/// Sections in an order where each parent comes before its children.
fn topological(sections: &[Section]) -> Vec<usize> {
    let mut order: Vec<usize> = sections
        .iter()
        .enumerate()
        .filter(|(_, s)| s.parent.is_none())
        .map(|(i, _)| i)
        .collect();
    let mut k = 0;
    while k < order.len() {
        let name = &sections[order[k]].name;
        for (i, s) in sections.iter().enumerate() {
            if s.parent.as_ref().is_some_and(|(p, _)| p == name) && !order.contains(&i) {
                order.push(i);
            }
        }
        k += 1;
    }
    order
}

impl Tree {
    pub fn new(cell: &CellSpec) -> Tree {
        let order = topological(&cell.sections);
        let sections: Vec<Section> = order.iter().map(|&i| cell.sections[i].clone()).collect();
        let index_of = |name: &str| sections.iter().position(|q| q.name == name).unwrap_or(0);
        // How many children join each section at its end, x = 1: they meet at a node of zero
        // area there, NEURON's node at a section's end, whose V is what `sec(1)` reads.
        // Likewise at a root section's start, x = 0 (a child at the start of any other section
        // joins the node that section joins).
        let mut end_children = vec![0usize; sections.len()];
        let mut start_children = vec![0usize; sections.len()];
        for s in &sections {
            if let Some((p, x)) = &s.parent {
                let pi = index_of(p);
                match Attachment::at(&sections[pi], *x) {
                    Attachment::End => end_children[pi] += 1,
                    Attachment::Start if sections[pi].parent.is_none() => start_children[pi] += 1,
                    _ => {}
                }
            }
        }
        let mut t = Tree {
            parent: vec![],
            g_axial: vec![],
            area: vec![],
            diam: vec![],
            place: vec![],
            sections: sections.clone(),
        };
        let mut first = Vec::new(); // first node of each section
        let mut junction: Vec<Option<usize>> = vec![None; sections.len()];
        let mut start_node: Vec<Option<usize>> = vec![None; sections.len()];
        let ra = cell.ra;
        for (si, s) in sections.iter().enumerate() {
            let l = s.length / s.nseg as f64;
            first.push(t.area.len());
            for k in 0..s.nseg {
                let (a, b) = (k as f64 * l, (k + 1) as f64 * l);
                t.area.push(s.area_between(a, b) * 1e-8);
                t.diam.push(s.mean_diam_between(a, b));
                t.place.push((si, (k as f64 + 0.5) / s.nseg as f64));
                if k > 0 {
                    t.parent.push(Some(t.area.len() - 2));
                    t.g_axial
                        .push(1.0 / s.resistance_between(a - l / 2.0, a + l / 2.0, ra));
                } else if let Some((pname, px)) = &s.parent {
                    let pi = index_of(pname);
                    let ps = &sections[pi];
                    let half = s.resistance_between(0.0, l / 2.0, ra);
                    let (node, r) = match (Attachment::at(ps, *px), junction[pi]) {
                        (Attachment::End, Some(j)) => (j, half),
                        (Attachment::End, None) => {
                            let pl = ps.length / ps.nseg as f64;
                            let parent_half =
                                ps.resistance_between(ps.length - pl / 2.0, ps.length, ra);
                            (first[pi] + ps.nseg - 1, parent_half + half)
                        }
                        (Attachment::Start, _) => match (start_node[pi], t.parent[first[pi]]) {
                            (Some(start), _) => (start, half),
                            // The start of a section that has a parent is the node it joins.
                            (None, Some(joined)) => (joined, half),
                            (None, None) => (first[pi], half),
                        },
                        (Attachment::Centre(pk), _) => (first[pi] + pk, half),
                    };
                    t.parent.push(Some(node));
                    t.g_axial.push(1.0 / r.max(1e-12));
                } else {
                    t.parent.push(None);
                    t.g_axial.push(0.0);
                }
            }
            if start_children[si] >= 1 {
                let half = s.resistance_between(0.0, l / 2.0, ra);
                start_node[si] = Some(t.area.len());
                t.area.push(0.0);
                t.diam.push(s.mean_diam_between(0.0, l));
                t.place.push((si, 0.0));
                t.parent.push(Some(first[si]));
                t.g_axial.push(1.0 / half.max(1e-12));
            }
            if end_children[si] >= 1 {
                let half = s.resistance_between(s.length - l / 2.0, s.length, ra);
                junction[si] = Some(t.area.len());
                t.area.push(0.0);
                t.diam.push(s.mean_diam_between(s.length - l, s.length));
                t.place.push((si, 1.0));
                t.parent.push(Some(first[si] + s.nseg - 1));
                t.g_axial.push(1.0 / half.max(1e-12));
            }
        }
        t
    }

    /// The values of node k's geometry slots, as compartment programs name them (see
    /// [`crate::cell::bind_geometry`]): `diam` (µm) and `area` (µm²).
    pub fn geometry_values(&self, k: usize) -> [(String, f64); 2] {
        [
            ("diam".into(), self.diam[k]),
            ("area".into(), self.area[k] * 1e8),
        ]
    }

    pub fn len(&self) -> usize {
        self.area.len()
    }

    pub fn is_empty(&self) -> bool {
        self.area.is_empty()
    }

    /// The node at `section(x)`, as NEURON places a probe or a point process there: the
    /// centre of the compartment that holds x; at x = 1 the section's end node where children
    /// meet (a leaf's end has the last centre's V); at x = 0 the node the section joins.
    pub fn node_at(&self, section: &str, x: f64) -> Option<usize> {
        let si = self.sections.iter().position(|s| s.name == section)?;
        let n = self.sections[si].nseg;
        let first = self.place.iter().position(|&p| p.0 == si)?;
        if x >= 1.0 {
            if let Some(end) = (first..self.len()).find(|&k| self.place[k] == (si, 1.0)) {
                return Some(end);
            }
        }
        if x <= 0.0 {
            if let Some(start) = (first..self.len()).find(|&k| self.place[k] == (si, 0.0)) {
                return Some(start);
            }
            if let Some(joined) = self.parent[first] {
                return Some(joined);
            }
        }
        let k = ((x * n as f64).floor() as usize).min(n - 1);
        Some(first + k)
    }

    /// Node k's name for messages and column headers: `section(x)` of its centre.
    pub fn node_name(&self, k: usize) -> String {
        let (si, x) = self.place[k];
        format!("{}({})", self.sections[si].name, (x * 1e4).round() / 1e4)
    }

    /// The tree matrix's diagonal before the membrane's conductance: `C/(θ·dt)` plus the axial
    /// conductances that meet at each node, µS, for a specific capacitance `cm` (µF/cm²).
    pub fn diagonal(&self, cm: f64, theta_dt: f64) -> Vec<f64> {
        let mut diagonal: Vec<f64> = self.area.iter().map(|a| cm * a * 1e3 / theta_dt).collect();
        for (k, p) in self.parent.iter().enumerate() {
            if let Some(p) = *p {
                diagonal[k] += self.g_axial[k];
                diagonal[p] += self.g_axial[k];
            }
        }
        diagonal
    }
}

/// Compartments that carry the same set of inserts, and so share one compartment program. A node
/// with point processes is a region of its own: its program holds them beside its density
/// mechanisms, their nA turned into the node's µA/cm².
#[derive(Clone, Debug)]
pub struct Region {
    /// Indices into the cell's inserts.
    pub inserts: Vec<usize>,
    /// Indices into the cell's points, all at this region's one node.
    pub points: Vec<usize>,
    /// What turns the points' nA (and µS) into the node's µA/cm² (and mS/cm²): 1/(area·1e3).
    pub point_scale: f64,
    /// Node indices within one cell.
    pub nodes: Vec<usize>,
}

impl Region {
    /// The cell's regions, in order of their first node.
    pub fn all(cell: &CellSpec, tree: &Tree) -> Vec<Region> {
        let mut regions: Vec<Region> = Vec::new();
        for node in 0..tree.len() {
            let sec = &tree.sections[tree.place[node].0].name;
            // An end node has no membrane, so no mechanisms (as in NEURON).
            let membrane = tree.area[node] > 0.0;
            let set: Vec<usize> = cell
                .inserts
                .iter()
                .enumerate()
                .filter(|(_, ins)| {
                    membrane
                        && (ins.regions.is_empty()
                            || ins.regions.iter().any(|r| region_covers(r, sec)))
                })
                .map(|(i, _)| i)
                .collect();
            let points: Vec<usize> = (0..cell.points.len())
                .filter(|&p| tree.node_at(&cell.points[p].section, cell.points[p].x) == Some(node))
                .collect();
            let same =
                |r: &&mut Region| r.inserts == set && r.points.is_empty() && points.is_empty();
            match regions.iter_mut().find(same) {
                Some(r) => r.nodes.push(node),
                None => regions.push(Region {
                    inserts: set,
                    point_scale: 1.0 / (tree.area[node] * 1e3),
                    points,
                    nodes: vec![node],
                }),
            }
        }
        regions
    }

    /// The model of one compartment of this region: its inserts, then its points with their
    /// currents scaled to densities, and no sections, so that
    /// [`crate::cell::build_compartment`] builds its program.
    pub fn model(&self, model: &Model) -> Model {
        let mut sub = model.clone();
        sub.cell.inserts = self
            .inserts
            .iter()
            .map(|&i| model.cell.inserts[i].clone())
            .chain(self.points.iter().map(|&p| {
                let mut ins = model.cell.points[p].insert.clone();
                let m = &mut ins.mechanism;
                for c in &mut m.currents {
                    let mut b = crate::passes::simplify::Builder::new(&mut m.exprs);
                    let f = b.lit(self.point_scale);
                    c.value = b.mul(f, c.value);
                    c.scale *= self.point_scale;
                    if let Some(g) = c.conductance {
                        c.conductance = Some(b.mul(f, g));
                    }
                }
                ins
            }))
            .collect();
        sub.cell.sections.clear();
        sub.cell.points.clear();
        sub
    }

    /// The region's compartment programs, for both cable layouts.
    pub fn programs(&self, model: &Model) -> RegionPrograms {
        let sub = self.model(model);
        let step = crate::cell::build_compartment(&sub);
        let currents =
            (!self.points.is_empty()).then(|| crate::cell::build_compartment_currents(&sub));
        RegionPrograms {
            step,
            at_rest: crate::cell::build_compartment_at_rest(&sub),
            currents,
        }
    }

    /// The values of the compartment program's `along(…)` slots at `x` along a section: (slot
    /// name as the program names it, value).
    pub fn along_values(&self, model: &Model, x: f64) -> Vec<(String, f64)> {
        self.inserts
            .iter()
            .flat_map(|&i| {
                let ins = &model.cell.inserts[i];
                ins.along.iter().map(move |&(pi, from, to)| {
                    let m = &ins.mechanism;
                    (
                        format!("{}.{}", m.name, m.params[pi].name),
                        from + (to - from) * x,
                    )
                })
            })
            .collect()
    }
}

/// A point current (IClamp): `amplitude` nA into `node` during `[from, to)` ms.
#[derive(Clone, Copy, Debug)]
pub struct Injection {
    pub node: usize,
    pub amplitude: f64,
    pub from: f64,
    pub to: f64,
}

impl Injection {
    pub fn all(model: &Model, tree: &Tree) -> Vec<Injection> {
        model
            .stimuli
            .iter()
            .filter_map(|s| match s {
                Stimulus::IClamp {
                    amplitude,
                    delay,
                    duration,
                    section,
                    x,
                } => tree.node_at(section, *x).map(|node| Injection {
                    node,
                    amplitude: *amplitude,
                    from: *delay,
                    to: delay + duration,
                }),
                _ => None,
            })
            .collect()
    }
}

/// The constant stimulus density (µA/cm², inward) every compartment receives.
pub fn stimulus_density(model: &Model) -> f64 {
    model
        .stimuli
        .iter()
        .map(|s| match *s {
            Stimulus::Constant(c) => c,
            _ => 0.0,
        })
        .sum()
}

/// Where V is recorded and where spikes are counted.
#[derive(Clone, Debug)]
pub struct Probes {
    pub nodes: Vec<usize>,
    /// `section(x)` of each probe, as the model wrote it.
    pub names: Vec<String>,
    /// The detector's node: spikes and blow-ups are watched there.
    pub spike_node: usize,
    pub spike_place: String,
}

impl Probes {
    /// The model's probes, else the middle of the root section; the detector, else the first
    /// probe.
    pub fn new(model: &Model, tree: &Tree) -> Probes {
        let (nodes, names): (Vec<usize>, Vec<String>) = if model.probes.is_empty() {
            let root = &tree.sections[0].name;
            (
                vec![tree.node_at(root, 0.5).unwrap_or(0)],
                vec![format!("{root}(0.5)")],
            )
        } else {
            model
                .probes
                .iter()
                .filter_map(|(s, x)| Some((tree.node_at(s, *x)?, format!("{s}({x})"))))
                .unzip()
        };
        let (spike_node, spike_place) = match &model.detector {
            Some((s, x)) => (tree.node_at(s, *x).unwrap_or(nodes[0]), format!("{s}({x})")),
            None => (nodes[0], names[0].clone()),
        };
        Probes {
            nodes,
            names,
            spike_node,
            spike_place,
        }
    }
}

/// The most nodes (compartments and end nodes) [`build`] unrolls. The straight-line step grows
/// with the cell, and the GPU's assembler (ptxas, or the driver's own at load time) slows down
/// much faster than linearly on it: for the HH ball-and-stick, 35 compartments take 1.4 s, 61 take 13 s, 101 take
/// 30 s and 201 take 160 s (and 5 GB) on the development machine. Larger cells run on the CPU's
/// chunked solver, whose kernels do not grow with the cell.
pub const MAX_FUSED_NODES: usize = 128;

/// A whole multi-compartment cell as one program.
pub struct CableProgram {
    pub program: CellProgram,
    /// The slot of V at each probe, in the order of [`Probes::names`].
    pub probe_slots: Vec<u32>,
    pub probes: Probes,
    pub compartments: usize,
}

/// A region's compartment programs ([`crate::cell::build_compartment`]).
pub struct RegionPrograms {
    /// One step of one compartment.
    pub step: CellProgram,
    /// The currents at the initial state, nothing advanced but what BREAKPOINT stores.
    pub at_rest: CellProgram,
    /// Only the current and conductance at the present states, nothing advanced: what a
    /// region with point processes recomputes after they receive events.
    pub currents: Option<CellProgram>,
}

/// What one slot of a compartment program stands for in one node's copy of it.
#[derive(Clone, Copy)]
enum Binding {
    /// The node's V (compartment slot 0).
    V,
    /// A slot of the whole cell.
    Slot(u32),
    /// A constant of the node: an `along(…)` parameter.
    Constant(f64),
}

/// Where everything of the whole cell lives.
struct Layout {
    slots: Vec<Slot>,
    /// Per node: its V, membrane current density and conductance density slots.
    v: Vec<u32>,
    i: Vec<u32>,
    g: Vec<u32>,
    /// Per node: its region.
    region: Vec<usize>,
    /// Per node: what each slot of its region's compartment program stands for.
    bindings: Vec<Vec<Binding>>,
}

impl Layout {
    /// V of every node first, the detector's in slot 0; then per region and node, its copy of
    /// the region's compartment slots (states, current, conductance).
    fn new(
        model: &Model,
        tree: &Tree,
        regions: &[Region],
        programs: &[RegionPrograms],
        spike_node: usize,
    ) -> Layout {
        let nodes = tree.len();
        let mut l = Layout {
            slots: Vec::new(),
            v: vec![0; nodes],
            i: vec![0; nodes],
            g: vec![0; nodes],
            region: vec![0; nodes],
            bindings: vec![Vec::new(); nodes],
        };
        for k in std::iter::once(spike_node).chain((0..nodes).filter(|&k| k != spike_node)) {
            l.v[k] = l.slots.len() as u32;
            l.slots.push(Slot {
                name: format!("v {}", tree.node_name(k)),
                kind: if k == spike_node {
                    SlotKind::V
                } else {
                    SlotKind::Compartment { node: k as u32 }
                },
            });
        }
        for (ri, (region, program)) in regions.iter().zip(programs).enumerate() {
            for &k in &region.nodes {
                l.region[k] = ri;
                let mut along = region.along_values(model, tree.place[k].1);
                along.extend(tree.geometry_values(k));
                let mut bindings = vec![Binding::V];
                for slot in program.step.slots.iter().skip(1) {
                    if let Some((_, x)) = along.iter().find(|(name, _)| *name == slot.name) {
                        bindings.push(Binding::Constant(*x));
                        continue;
                    }
                    let at = l.slots.len() as u32;
                    if slot.name == MEMBRANE_CURRENT_SLOT {
                        l.i[k] = at;
                    } else if slot.name == MEMBRANE_CONDUCTANCE_SLOT {
                        l.g[k] = at;
                    }
                    bindings.push(Binding::Slot(at));
                    l.slots.push(Slot {
                        name: format!("{} {}", slot.name, tree.node_name(k)),
                        kind: match slot.kind {
                            // A point's states are numbered after the cell's inserts.
                            SlotKind::State { mech, state } => SlotKind::State {
                                mech: match region.inserts.get(mech as usize) {
                                    Some(&i) => i as u32,
                                    None => {
                                        (model.cell.inserts.len()
                                            + region.points[mech as usize - region.inserts.len()])
                                            as u32
                                    }
                                },
                                state,
                            },
                            _ => SlotKind::Compartment { node: k as u32 },
                        },
                    });
                }
                l.bindings[k] = bindings;
            }
        }
        l
    }

    /// The expression each of node k's compartment slots reads, with `v` for its V and `other`
    /// for its evolving slots when given (else their slots of the whole cell).
    fn table(
        &self,
        exprs: &mut ExprArena,
        k: usize,
        v: ExprId,
        other: Option<ExprId>,
    ) -> Vec<ExprId> {
        self.bindings[k]
            .iter()
            .map(|b| match (*b, other) {
                (Binding::V, _) => v,
                (Binding::Constant(x), _) => exprs.lit(x),
                (Binding::Slot(_), Some(e)) => e,
                (Binding::Slot(s), None) => exprs.var(Var::Slot(s)),
            })
            .collect()
    }
}

/// Copies `root` of a compartment program into the whole cell's arena; the compartment's slot s
/// reads `table[s]`, `t` reads `t` (the time its mechanisms see), and the other built-ins stay
/// built-ins.
fn instantiate(
    exprs: &mut ExprArena,
    from: &ExprArena,
    root: ExprId,
    table: &[ExprId],
    t: ExprId,
) -> ExprId {
    let builtins =
        [Builtin::V, Builtin::Celsius, Builtin::Dt].map(|x| (x, exprs.var(Var::Builtin(x))));
    import(exprs, from, root, &|var| match var {
        Var::Slot(s) => table[s as usize],
        Var::Builtin(Builtin::T) => t,
        Var::Builtin(x) => builtins
            .iter()
            .find(|(y, _)| *y == x)
            .map_or(table[0], |(_, id)| *id),
        // Compartment programs have folded parameters and ions into literals.
        Var::Param(_)
        | Var::State(_)
        | Var::Ion(..)
        | Var::Arg(_)
        | Var::NetconArg(_)
        | Var::Draw(_)
        | Var::TableArg
        | Var::VectorStart
        | Var::VectorLength => table[0],
    })
}

/// V after one implicit step (θ-method) of the Hines system, per node, with the operations of the
/// chunked solver (`hhc_runtime::cable::HinesWork`) in the same order: each node's row from its
/// membrane current and conductance, elimination from the leaves up (each eliminated diagonal
/// becomes its reciprocal), then substitution back down.
fn hines_step(exprs: &mut ExprArena, model: &Model, tree: &Tree, layout: &Layout) -> Vec<ExprId> {
    let nodes = tree.len();
    let (dt, theta) = (model.dt, model.cable_theta);
    let diagonal = tree.diagonal(model.cell.cm, theta * dt);
    let density = stimulus_density(model);
    let injections = Injection::all(model, tree);
    let t = exprs.var(Var::Builtin(Builtin::T));
    let v: Vec<ExprId> = layout.v.iter().map(|&s| exprs.var(Var::Slot(s))).collect();
    let mut b = Builder::new(exprs);
    let half_dt = b.lit(0.5 * dt);
    let t_mid = b.add(t, half_dt);
    let mut d = Vec::with_capacity(nodes);
    let mut r = Vec::with_capacity(nodes);
    for (k, &diagonal_k) in diagonal.iter().enumerate() {
        // The point currents at the step's midpoint.
        let mut inj = b.lit(0.0);
        for j in injections.iter().filter(|j| j.node == k) {
            let from = b.lit(j.from);
            let to = b.lit(j.to);
            let after = b.binary(BinaryOp::Ge, t_mid, from);
            let before = b.binary(BinaryOp::Lt, t_mid, to);
            let on = b.binary(BinaryOp::And, after, before);
            let amplitude = b.lit(j.amplitude);
            let zero = b.lit(0.0);
            let term = b.select(on, amplitude, zero);
            inj = b.add(inj, term);
        }
        let area = b.lit(tree.area[k] * 1e3);
        let i = b.arena.var(Var::Slot(layout.i[k]));
        let g = b.arena.var(Var::Slot(layout.g[k]));
        let diag = b.lit(diagonal_k);
        let g_area = b.mul(g, area);
        d.push(b.add(diag, g_area));
        let dens = b.lit(density);
        let net = b.sub(i, dens);
        let out = b.mul(net, area);
        r.push(b.sub(inj, out));
    }
    let one = b.lit(1.0);
    for k in (1..nodes).rev() {
        let p = tree.parent[k].unwrap_or(0);
        let ga = b.lit(tree.g_axial[k]);
        let diff = b.sub(v[p], v[k]);
        let flow = b.mul(ga, diff);
        r[k] = b.add(r[k], flow);
        d[k] = b.div(one, d[k]);
        let f = b.mul(ga, d[k]);
        let fga = b.mul(f, ga);
        d[p] = b.sub(d[p], fga);
        let frk = b.mul(f, r[k]);
        let gain = b.sub(frk, flow);
        r[p] = b.add(r[p], gain);
    }
    let inv_theta = b.lit(1.0 / theta);
    let mut v_new = v.clone();
    r[0] = b.div(r[0], d[0]);
    let step0 = b.mul(r[0], inv_theta);
    v_new[0] = b.add(v[0], step0);
    for k in 1..nodes {
        let p = tree.parent[k].unwrap_or(0);
        let ga = b.lit(tree.g_axial[k]);
        let from_parent = b.mul(ga, r[p]);
        let sum = b.add(r[k], from_parent);
        r[k] = b.mul(sum, d[k]);
        let step = b.mul(r[k], inv_theta);
        v_new[k] = b.add(v[k], step);
    }
    v_new
}

/// Builds one step of `model`'s multi-compartment cell as parallel assignments over one cell's
/// slots. Slot 0 is V at the detector, so the kernels' spike test and runaway check watch the
/// chunked solver's node; every other node's V, every compartment's states, and its membrane
/// current and conductance densities follow.
///
/// Returns `Err` with the number of nodes (compartments and end nodes) when there are more
/// than [`MAX_FUSED_NODES`].
pub fn build(model: &Model) -> Result<CableProgram, usize> {
    let cell = &model.cell;
    let tree = Tree::new(cell);
    let nodes = tree.len();
    if nodes > MAX_FUSED_NODES {
        return Err(nodes);
    }
    let probes = Probes::new(model, &tree);
    let regions = Region::all(cell, &tree);
    let programs: Vec<RegionPrograms> = regions.iter().map(|r| r.programs(model)).collect();
    let layout = Layout::new(model, &tree, &regions, &programs, probes.spike_node);
    let program_of = |k: usize| &programs[layout.region[k]];
    let mut exprs = ExprArena::new();

    // 1. V_{n+1} from the Hines solve.
    let v_new = hines_step(&mut exprs, model, &tree, &layout);
    // 2. Each compartment's states at V_{n+1}, then its current and conductance with them: the
    //    next step's, at its midpoint t + 1.5·dt (NEURON's time for BREAKPOINT, as the chunked
    //    solver takes it: an SEClamp's levels switch there).
    let t_next = {
        let t = exprs.var(Var::Builtin(Builtin::T));
        let mut b = Builder::new(&mut exprs);
        let later = b.lit(1.5 * model.dt);
        b.add(t, later)
    };
    let mut updates: Vec<(u32, ExprId)> = (0..nodes).map(|k| (layout.v[k], v_new[k])).collect();
    for (k, &v_next) in v_new.iter().enumerate() {
        let step = &program_of(k).step;
        let table = layout.table(&mut exprs, k, v_next, None);
        for &(s, e) in step.updates.iter().filter(|(s, _)| *s != 0) {
            if let Binding::Slot(target) = layout.bindings[k][s as usize] {
                updates.push((
                    target,
                    instantiate(&mut exprs, &step.exprs, e, &table, t_next),
                ));
            }
        }
    }
    // 3. A spike: V at the detector crosses threshold upward.
    let spike = {
        let k = probes.spike_node;
        let v_now = exprs.var(Var::Slot(layout.v[k]));
        let mut b = Builder::new(&mut exprs);
        let vth = b.lit(cell.v_th);
        let below = b.binary(BinaryOp::Lt, v_now, vth);
        let above = b.binary(BinaryOp::Ge, v_new[k], vth);
        b.binary(BinaryOp::And, below, above)
    };

    // Initial values as the chunked solver sets them: V = v_init; each compartment's states
    // from INITIAL, which sees V = v_init, its `along` parameters and 0 in every other slot;
    // then its current and conductance at those states, at the first step's midpoint.
    let v_init = exprs.lit(cell.v_init);
    let zero = exprs.lit(0.0);
    let t_first = exprs.lit(0.5 * model.dt);
    let mut init: Vec<(u32, ExprId)> = (0..nodes).map(|k| (layout.v[k], v_init)).collect();
    for k in 0..nodes {
        let RegionPrograms { step, at_rest, .. } = program_of(k);
        let before = layout.table(&mut exprs, k, v_init, Some(zero));
        let mut start = before.clone();
        for &(s, e) in step.init.iter().filter(|(s, _)| *s != 0) {
            start[s as usize] = instantiate(&mut exprs, &step.exprs, e, &before, zero);
        }
        // Every value INITIAL sets, states and ASSIGNED alike (TC_iA.mod's `tadj`, which only
        // INITIAL computes and the state update reads), then what the currents at rest add.
        let initialised = |s: u32| step.init.iter().any(|&(i, _)| i == s);
        for &(s, _) in step.init.iter().filter(|(s, _)| *s != 0) {
            if let Binding::Slot(target) = layout.bindings[k][s as usize] {
                init.push((target, start[s as usize]));
            }
        }
        // As the chunked solver runs the at-rest program after INITIAL: its updates of the
        // slots INITIAL set too (what BREAKPOINT stores, a running maximum) take their place.
        let identity =
            |s: u32, e: ExprId| at_rest.exprs.get(e) == &crate::ir::Expr::Var(Var::Slot(s));
        for &(s, e) in at_rest
            .updates
            .iter()
            .filter(|&&(s, e)| !initialised(s) || !identity(s, e))
        {
            if let Binding::Slot(target) = layout.bindings[k][s as usize] {
                let value = instantiate(&mut exprs, &at_rest.exprs, e, &start, t_first);
                init.push((target, value));
            }
        }
    }

    // Each mechanism's current density at the detector (else where it first appears), for
    // naming the culprit of a blow-up.
    let mut mechanism_currents = Vec::new();
    for (mi, ins) in cell.inserts.iter().enumerate() {
        // Indexed like the cell's inserts, as `SlotKind::State::mech` is.
        let covers = |k: &usize| regions[layout.region[*k]].inserts.contains(&mi);
        let mut value = zero;
        if let Some(k) = std::iter::once(probes.spike_node)
            .chain(0..nodes)
            .find(covers)
        {
            let local = regions[layout.region[k]]
                .inserts
                .iter()
                .position(|&i| i == mi);
            let step = &program_of(k).step;
            if let Some(&(_, e)) = local.and_then(|at| step.mechanism_currents.get(at)) {
                let v_now = exprs.var(Var::Slot(layout.v[k]));
                let table = layout.table(&mut exprs, k, v_now, None);
                let t = exprs.var(Var::Builtin(Builtin::T));
                value = instantiate(&mut exprs, &step.exprs, e, &table, t);
            }
        }
        mechanism_currents.push((ins.mechanism.name.clone(), value));
    }

    Ok(CableProgram {
        probe_slots: probes.nodes.iter().map(|&k| layout.v[k]).collect(),
        program: CellProgram {
            name: cell.name.clone(),
            exprs,
            slots: layout.slots,
            init,
            updates,
            spike,
            mechanism_currents,
            dt: model.dt,
        },
        probes,
        compartments: nodes,
    })
}
