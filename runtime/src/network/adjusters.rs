//! Weight adjusters: a point process whose POINTER is a connection's weight (PyNN's STDP and
//! Tsodyks–Markram rules), one instance per connection, run just before the synapse's event.

use super::*;

/// [`Event::point`] of an event for a weight adjuster, whose [`Event::values`] is then the
/// adjuster's instance.
pub(super) const ADJUSTER_POINT: u32 = u32::MAX;

/// How much earlier than its synapse's event a connection's adjuster gets the presynaptic
/// spike: PyNN gives the adjuster's NetCon the connection's delay less 1e-9 ms, so that the
/// weight is updated before the synapse uses it.
pub(super) const ADJUSTER_LEAD: f64 = 1e-9;

/// The weight adjusters of a population's incoming connections (PyNN's STDP and
/// Tsodyks–Markram mechanisms, whose `POINTER wsyn` is the connection's weight): one instance
/// per connection, run by the interpreter when an event reaches it. A presynaptic spike
/// reaches it `ADJUSTER_LEAD` before the synapse (with the connection's weight as given), and
/// the target cell's spikes reach every adjuster of its connections at once (weight −1), as
/// PyNN wires them with `dendritic_delay_fraction = 0`. Its POINTER state is the connection's
/// weight: copied in before each event, and back after it, where the synapse reads it.
pub(super) struct Adjusters {
    /// Per adjuster of the cell type (its `adjusters`, in order).
    pub(super) programs: Vec<AdjusterProgram>,
    pub(super) instances: Vec<AdjusterInstance>,
    /// Every instance's states, one instance after another.
    pub(super) states: Vec<f64>,
    /// Per cell of the population (in this process), its connections' instances that get its
    /// spikes.
    pub(super) of_cell: std::collections::HashMap<u32, Vec<u32>>,
    /// Per instance, the random draws its NET_RECEIVE has made.
    pub(super) draws_made: Vec<u64>,
}

pub(super) struct AdjusterProgram {
    pub(super) program: ArtificialProgram,
    /// The state that is the POINTER (the connection's weight).
    pub(super) pointer: usize,
    /// NET_RECEIVE's state updates.
    pub(super) reaction: interp::Prepared,
}

#[derive(Clone, Copy)]
pub(super) struct AdjusterInstance {
    pub(super) program: u32,
    /// Where its connection's values (the weight first) start.
    pub(super) values: u32,
    /// Where its states start in [`Adjusters::states`].
    pub(super) states: u32,
    /// Its connection's place in the network's list, which keys its random draws.
    pub(super) connection: u64,
}

impl Adjusters {
    pub(super) fn new(
        adjusters: &[hhc_compiler::sema::model::PointSpec],
        model: &Model,
    ) -> Adjusters {
        let programs = adjusters
            .iter()
            .map(|a| {
                let program = build_artificial(&a.insert, model.celsius, model.dt);
                let m = &a.insert.mechanism;
                let pointer = (m.pointers.first())
                    .and_then(|(name, _)| m.states.iter().position(|s| &s.name == name))
                    .expect("a weight adjuster's POINTER is a state");
                let roots: Vec<_> = program.updates.iter().map(|u| u.1).collect();
                let reaction = interp::Prepared::new(&program.exprs, &roots);
                AdjusterProgram {
                    program,
                    pointer,
                    reaction,
                }
            })
            .collect();
        Adjusters {
            programs,
            instances: Vec::new(),
            states: Vec::new(),
            of_cell: std::collections::HashMap::new(),
            draws_made: Vec::new(),
        }
    }

    /// The first adjuster whose NET_RECEIVE's INITIAL draws random numbers, which hhc does not
    /// draw there yet.
    pub(super) fn initial_draws(&self) -> Option<&str> {
        self.programs.iter().find_map(|p| {
            let roots: Vec<_> = p.program.state_init.iter().map(|u| u.1).collect();
            (p.program.exprs.draws_in(&roots)).then_some(p.program.name.as_str())
        })
    }

    /// A new instance of adjuster `program` for the connection to `cell` whose values start
    /// at `values` (its weight first): its INITIAL and NET_RECEIVE's INITIAL at t = 0, its
    /// POINTER the weight; it gets the cell's spikes when `sees_post`. Returns the instance.
    pub(super) fn add(
        &mut self,
        cell: u32,
        program: u32,
        values: u32,
        weight: f64,
        sees_post: bool,
        connection: u64,
    ) -> u32 {
        let p = &self.programs[program as usize];
        let start = self.states.len();
        let init = interp::eval(&p.program.exprs, &p.program.init, &|_| 0.0);
        self.states.extend(init);
        let roots: Vec<_> = p.program.state_init.iter().map(|u| u.1).collect();
        let states = &self.states[start..];
        let set = interp::eval(&p.program.exprs, &roots, &|var| match var {
            Var::State(s) => states[s as usize],
            Var::Arg(0) => weight,
            _ => 0.0,
        });
        for (&(s, _), x) in p.program.state_init.iter().zip(set) {
            self.states[start + s as usize] = x;
        }
        self.states[start + p.pointer] = weight;
        let id = self.instances.len() as u32;
        self.instances.push(AdjusterInstance {
            program,
            values,
            states: start as u32,
            connection,
        });
        self.draws_made.push(0);
        if sees_post {
            self.of_cell.entry(cell).or_default().push(id);
        }
        id
    }

    /// The cell's spike at `t` reaches the adjusters of its connections at once, with weight
    /// −1 (PyNN's postsynaptic NetCon), as self-events of its chunk.
    pub(super) fn tell_spike(&self, own: &mut SelfEvents, cell: u32, t: f64) {
        let Some(list) = self.of_cell.get(&cell) else {
            return;
        };
        for &instance in list {
            let e = Event {
                te: t,
                seq: 0,
                cell,
                point: ADJUSTER_POINT,
                weight: -1.0,
                flag: 0.0,
                values: instance,
            };
            own.send(&e, 0.0, 0.0, false);
        }
    }

    /// Runs instance `e.values`'s NET_RECEIVE for event `e`.
    ///
    /// # Safety
    /// `states` and `values` point to [`Self::states`] and the population's connection
    /// values, and the instance (and its connection) belong to the calling task's cells.
    pub(super) unsafe fn deliver(
        &self,
        e: &Event,
        states: *mut f64,
        values: *mut f64,
        draws_made: *mut u64,
        scratch: &mut (Vec<f64>, Vec<f64>, Vec<f64>),
    ) {
        let instance = self.instances[e.values as usize];
        let p = &self.programs[instance.program as usize];
        if !p.program.draws.is_empty() {
            let key = adjuster_draw_key(instance.connection);
            // SAFETY: the instance's counter, as its states.
            let made = unsafe { &mut *draws_made.add(e.values as usize) };
            draw_values(&p.program.draws, key, made, &mut scratch.2);
        }
        let drawn = &scratch.2;
        unsafe {
            let own = states.add(instance.states as usize);
            let weight = values.add(instance.values as usize);
            *own.add(p.pointer) = *weight;
            let flag = p.program.args;
            p.reaction.eval_into(
                &p.program.exprs,
                &|var| match var {
                    Var::State(s) => *own.add(s as usize),
                    Var::Arg(k) if k as usize == flag => e.flag,
                    Var::Arg(0) => e.weight,
                    Var::Builtin(hhc_compiler::ir::Builtin::T) => e.te,
                    Var::Draw(k) => drawn[k as usize],
                    _ => 0.0,
                },
                &mut scratch.0,
                &mut scratch.1,
            );
            for (&(s, _), &x) in p.program.updates.iter().zip(&scratch.1) {
                *own.add(s as usize) = x;
            }
            *weight = *own.add(p.pointer);
        }
    }
}
