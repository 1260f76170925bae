//! ARTIFICIAL_CELL populations: no membrane, only NET_RECEIVE at each event's own time.

use super::*;

/// A population of ARTIFICIAL_CELLs: no membrane, so nothing steps; each event runs
/// NET_RECEIVE at its own time, which may send self-events (`net_send`) and spikes
/// (`net_event`). Events are delivered by NEURON's rule, at the first step whose `t + dt/2`
/// reaches them, in time order, including self-events that fall due while delivering.
pub(super) struct ArtificialPopulation {
    pub(super) first: u64,
    pub(super) program: ArtificialProgram,
    /// `states[s][cell]`.
    pub(super) states: Vec<Vec<f64>>,
    pub(super) queue: std::collections::BinaryHeap<std::cmp::Reverse<Timed>>,
    /// Per cell, the random draws made so far: the counter of its draws.
    pub(super) draws_made: Vec<u64>,
    pub(super) seq: u64,
    /// Per cell: how many times `net_move` has moved its self-event, and the flag of the last
    /// self-event it sent.
    pub(super) moves: Vec<u64>,
    pub(super) last_flag: Vec<f64>,
    /// Per cell, the weight and connection values its last self-event carries (those of the
    /// event that sent it), which a `net_move` keeps.
    pub(super) last_carried: Vec<(f64, u32)>,
    /// The values each connection keeps (NET_RECEIVE's arguments, the weight first),
    /// connection after connection, and where those of each cell's connections start, for
    /// `FOR_NETCONS`, in the order the connections were made.
    pub(super) connection_values: Vec<f64>,
    pub(super) netcons: std::collections::HashMap<u32, Vec<u32>>,
    /// Per cell, where its played Vector starts in the program's played table and its length
    /// (VecStim's times; empty when the mechanism plays none).
    pub(super) vectors: Vec<(f64, f64)>,
}

/// The value of a played Vector's [`Var::VectorStart`] or [`Var::VectorLength`] for cell `c`.
fn vector_var(vectors: &[(f64, f64)], c: usize, var: Var) -> Option<f64> {
    match var {
        Var::VectorStart => Some(vectors.get(c).map_or(0.0, |v| v.0)),
        Var::VectorLength => Some(vectors.get(c).map_or(0.0, |v| v.1)),
        _ => None,
    }
}

/// An event waiting at an artificial cell.
#[derive(Clone, Copy, Debug)]
pub(super) struct Timed {
    pub(super) te: f64,
    pub(super) seq: u64,
    pub(super) cell: u32,
    pub(super) weight: f64,
    pub(super) flag: f64,
    /// For a self-event, the cell's move count when it was sent: a `net_move` since then
    /// has replaced it. `None` for an event from a connection.
    pub(super) moved: Option<u64>,
    /// Where the connection's values start in the population's `connection_values`, or
    /// [`NO_VALUES`]; a self-event carries its sender's.
    pub(super) values: u32,
}

impl PartialEq for Timed {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Timed {}
impl PartialOrd for Timed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.te.total_cmp(&other.te).then(self.seq.cmp(&other.seq))
    }
}

impl ArtificialPopulation {
    pub(super) fn new(
        insert: &hhc_compiler::sema::model::Insert,
        model: &Model,
        first: u64,
        count: u64,
    ) -> ArtificialPopulation {
        let mut program = build_artificial(insert, model.celsius, model.dt);
        let n = count as usize;
        // The Vectors played into the cells, one after the other in one table.
        let mut played = Vec::new();
        let vectors = match &insert.vector {
            None => Vec::new(),
            Some(trains) => (0..n)
                .map(|c| {
                    let times = trains.of(c);
                    let start = match trains {
                        SpikeTrains::Same(_) if c > 0 => 0,
                        _ => {
                            played.extend_from_slice(times);
                            played.len() - times.len()
                        }
                    };
                    (start as f64, times.len() as f64)
                })
                .collect(),
        };
        program.exprs.set_played(&played);
        let mut pop = ArtificialPopulation {
            first,
            states: vec![vec![0.0; n]; program.states],
            queue: std::collections::BinaryHeap::new(),
            draws_made: vec![0; n],
            seq: 0,
            moves: vec![0; n],
            last_flag: vec![0.0; n],
            last_carried: vec![(0.0, NO_VALUES); n],
            connection_values: Vec::new(),
            netcons: std::collections::HashMap::new(),
            vectors,
            program,
        };
        // INITIAL at t = 0, with its net_sends.
        let p = &pop.program;
        let mut roots = p.init.clone();
        for e in &p.initial_sends {
            roots.extend([e.condition, e.delay, e.flag]);
        }
        for c in 0..n {
            let draws = pop.draw(c);
            let p = &pop.program;
            let vectors = &pop.vectors;
            let values = interp::eval(&p.exprs, &roots, &|var| match var {
                Var::Draw(k) => draws[k as usize],
                _ => vector_var(vectors, c, var).unwrap_or(0.0),
            });
            for (s, &x) in values[..p.states].iter().enumerate() {
                pop.states[s][c] = x;
            }
            let sends: Vec<(f64, f64, f64)> = values[p.states..]
                .chunks(3)
                .map(|v| (v[0], v[1], v[2]))
                .collect();
            for (condition, delay, flag) in sends {
                if condition != 0.0 {
                    pop.schedule_self(c, delay, flag, (0.0, NO_VALUES));
                }
            }
        }
        pop
    }

    /// Where the values of a new connection to cell `cell` start, or [`NO_VALUES`] when its
    /// NET_RECEIVE keeps none: the weight, the other arguments 0, then as NET_RECEIVE's
    /// INITIAL sets them (reading the cell's initial states).
    pub(super) fn connection_values(&mut self, cell: usize, weight: f64) -> u32 {
        let p = &self.program;
        if !p.keeps_connection_values() {
            return NO_VALUES;
        }
        let start = self.connection_values.len();
        let mut own = vec![0.0; p.args];
        own[0] = weight;
        let roots: Vec<_> = p.arg_init.iter().map(|a| a.1).collect();
        // NET_RECEIVE's INITIAL draws from the cell's own stream, as its other blocks do.
        let draws = match p.exprs.draws_in(&roots) {
            true => self.draw(cell),
            false => Vec::new(),
        };
        let (p, states, vectors) = (&self.program, &self.states, &self.vectors);
        let values = interp::eval(&p.exprs, &roots, &|var| match var {
            Var::State(s) => states[s as usize][cell],
            Var::Arg(k) if (k as usize) < own.len() => own[k as usize],
            Var::Draw(k) => draws[k as usize],
            _ => vector_var(vectors, cell, var).unwrap_or(0.0),
        });
        for (&(k, _), x) in p.arg_init.iter().zip(values) {
            own[k as usize] = x;
        }
        self.connection_values.extend(own);
        if !p.for_netcons.is_empty() {
            let list = self.netcons.entry(cell as u32).or_default();
            list.push(start as u32);
        }
        start as u32
    }

    /// Fresh values for every draw of the program, for cell `c`: counter-based, keyed by the
    /// stream, the cell's global id and how many it has drawn.
    pub(super) fn draw(&mut self, c: usize) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.program.draws.len());
        let gid = self.first + c as u64;
        draw_values(&self.program.draws, gid, &mut self.draws_made[c], &mut out);
        out
    }

    /// An event from a connection, whose values start at `values`.
    pub(super) fn schedule(&mut self, c: usize, te: f64, weight: f64, values: u32) {
        self.seq += 1;
        self.queue.push(std::cmp::Reverse(Timed {
            te,
            seq: self.seq,
            cell: c as u32,
            weight,
            flag: 0.0,
            moved: None,
            values,
        }));
    }

    /// A self-event (`net_send`), which a later `net_move` may replace; it carries the weight
    /// and connection values of the event that sent it, as NEURON's reuses its weight vector.
    pub(super) fn schedule_self(
        &mut self,
        c: usize,
        te: f64,
        flag: f64,
        (weight, values): (f64, u32),
    ) {
        self.seq += 1;
        self.last_flag[c] = flag;
        self.last_carried[c] = (weight, values);
        self.queue.push(std::cmp::Reverse(Timed {
            te,
            seq: self.seq,
            cell: c as u32,
            weight,
            flag,
            moved: Some(self.moves[c]),
            values,
        }));
    }

    /// Delivers every event due in steps `from..to`; returns the spikes (global id, time) and
    /// the events delivered.
    pub(super) fn advance(
        &mut self,
        from: u64,
        to: u64,
        times: &[f64],
        dt: f64,
    ) -> (Vec<(u64, f64)>, u64) {
        let mut spikes = Vec::new();
        let mut delivered = 0;
        let p = &self.program;
        let mut roots: Vec<_> = p.updates.iter().map(|u| u.1).collect();
        for e in &p.sends {
            roots.extend([e.condition, e.delay, e.flag]);
        }
        roots.extend(&p.emits);
        for e in &p.moves {
            roots.extend([e.condition, e.delay]);
        }
        roots.extend(p.arg_updates.iter().map(|u| u.1));
        roots.extend(p.for_netcons.iter().map(|l| l.condition));
        let loops: Vec<interp::Prepared> = p
            .for_netcons
            .iter()
            .map(|l| {
                let roots: Vec<_> = l.updates.iter().map(|u| u.1).collect();
                interp::Prepared::new(&p.exprs, &roots)
            })
            .collect();
        let (n_updates, n_sends, n_emits) = (p.updates.len(), p.sends.len(), p.emits.len());
        let n_moves = p.moves.len();
        for step in from..to {
            let due = times[step as usize] + 0.5 * dt;
            while let Some(&std::cmp::Reverse(e)) = self.queue.peek() {
                if e.te > due {
                    break;
                }
                self.queue.pop();
                let c = e.cell as usize;
                if e.moved.is_some_and(|m| m != self.moves[c]) {
                    continue; // replaced by a net_move
                }
                delivered += 1;
                let draws = self.draw(c);
                let p = &self.program;
                let (states, vectors) = (&self.states, &self.vectors);
                let own = (e.values != NO_VALUES).then_some(e.values as usize);
                let read = |var: Var, visited: Option<usize>, kept: &[f64]| match var {
                    Var::State(s) => states[s as usize][c],
                    Var::Arg(k) if k as usize == p.args => e.flag,
                    Var::Arg(k) => match own {
                        Some(at) => kept[at + k as usize],
                        None if k == 0 => e.weight,
                        None => 0.0,
                    },
                    Var::NetconArg(k) => visited.map_or(0.0, |at| kept[at + k as usize]),
                    Var::Builtin(hhc_compiler::ir::Builtin::T) => e.te,
                    Var::Draw(k) => draws[k as usize],
                    _ => vector_var(vectors, c, var).unwrap_or(0.0),
                };
                let values = interp::eval(&p.exprs, &roots, &|var| {
                    read(var, None, &self.connection_values)
                });
                let after_moves = n_updates + 3 * n_sends + n_emits + 2 * n_moves;
                let (arguments, looped) = values[after_moves..].split_at(p.arg_updates.len());
                // FOR_NETCONS: every connection to the cell, reading the states before the
                // event, one loop after the other; the event's own connection then takes
                // `arguments`.
                let (mut scratch, mut out) = (Vec::new(), Vec::new());
                for ((l, prepared), _) in p
                    .for_netcons
                    .iter()
                    .zip(&loops)
                    .zip(looped)
                    .filter(|(_, &c)| c != 0.0)
                {
                    let connections = self.netcons.get(&(c as u32)).map_or(&[][..], Vec::as_slice);
                    for &start in connections {
                        let at = start as usize;
                        let kept = &self.connection_values;
                        let var = |var| read(var, Some(at), kept);
                        prepared.eval_into(&p.exprs, &var, &mut scratch, &mut out);
                        for (u, &x) in l.updates.iter().zip(&out) {
                            self.connection_values[at + u.0 as usize] = x;
                        }
                    }
                }
                if let Some(at) = own {
                    for (u, &x) in p.arg_updates.iter().zip(arguments) {
                        self.connection_values[at + u.0 as usize] = x;
                    }
                }
                for (&(s, _), &x) in p.updates.iter().zip(&values[..n_updates]) {
                    self.states[s as usize][c] = x;
                }
                let sends: Vec<(f64, f64, f64)> = values[n_updates..n_updates + 3 * n_sends]
                    .chunks(3)
                    .map(|v| (v[0], v[1], v[2]))
                    .collect();
                let emits_at = n_updates + 3 * n_sends;
                if values[emits_at..emits_at + n_emits]
                    .iter()
                    .any(|&x| x != 0.0)
                {
                    spikes.push((self.first + c as u64, e.te));
                }
                let moves: Vec<(f64, f64)> = values[emits_at + n_emits..after_moves]
                    .chunks(2)
                    .map(|v| (v[0], v[1]))
                    .collect();
                for (condition, delay, flag) in sends {
                    if condition != 0.0 {
                        self.schedule_self(c, e.te + delay, flag, (e.weight, e.values));
                    }
                }
                for (condition, delay) in moves {
                    if condition != 0.0 {
                        // The outstanding self-event goes to the new time with its flag.
                        self.moves[c] += 1;
                        let (flag, carried) = (self.last_flag[c], self.last_carried[c]);
                        self.schedule_self(c, e.te + delay, flag, carried);
                    }
                }
            }
        }
        (spikes, delivered)
    }
}
