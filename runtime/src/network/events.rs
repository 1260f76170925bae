//! Events: the connections' events filed into their target chunk's ring of lists between
//! epochs, and the self-events (`net_send`, WATCH) each chunk keeps in its own queue.

use super::*;

/// An event on its way to a point process, as NET_RECEIVE sees it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Event {
    pub(super) te: f64,
    /// The order it was sent in, to break ties in `te` as NEURON's queue does: a self-event's
    /// from [`SELF_EVENT_SEQ`]; a connection's event goes first at an equal time (0).
    pub(super) seq: u64,
    pub(super) cell: u32,
    pub(super) point: u32,
    pub(super) weight: f64,
    /// 0 from a connection; a self-event's (`net_send(delay, flag)`) own.
    pub(super) flag: f64,
    /// Where the connection's own values (its arguments after the weight) start in the target
    /// population's `connection_values`, or [`NO_VALUES`]. A self-event keeps its sender's, as
    /// NEURON's net_send reuses the event's weight vector.
    pub(super) values: u32,
}

/// A connection's event as its target's chunk keeps it until it is delivered: 24 bytes, since
/// a volley of spikes puts millions of them in flight at once. Its place in the order sent is
/// its place in the chunk's list (a list is appended to in the order sent, and sorted stably
/// by time), and its step follows from `te`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Arrival {
    pub(super) te: f64,
    pub(super) weight: f64,
    /// The cell within its chunk and the point process: [`PointCodes::code`].
    pub(super) target: u32,
    /// As [`Event::values`]; a weight adjuster's instance for an adjuster's event.
    pub(super) values: u32,
}

/// How an [`Arrival`] names its target within a chunk of at most 64 cells: the cell shifted
/// past the bits of the cell type's point processes, whose code one past the last is a
/// weight adjuster's ([`ADJUSTER_POINT`]).
#[derive(Clone, Copy, Debug)]
pub(super) struct PointCodes {
    bits: u32,
    points: u32,
}

impl PointCodes {
    /// For a cell type with `points` point processes; `None` when a chunk's codes would not
    /// fit in 32 bits.
    pub(super) fn new(points: usize, chunk_cells: usize) -> Option<PointCodes> {
        let bits = (points + 1).next_power_of_two().trailing_zeros();
        let fits = (chunk_cells as u64)
            .checked_shl(bits)
            .is_some_and(|c| c <= 1 << 32);
        fits.then_some(PointCodes {
            bits,
            points: points as u32,
        })
    }

    pub(super) fn code(self, local_cell: u32, point: u32) -> u32 {
        let point = if point == ADJUSTER_POINT {
            self.points
        } else {
            point
        };
        (local_cell << self.bits) | point
    }

    /// The event `a` carries to the chunk whose first cell is `first`.
    pub(super) fn event(self, a: &Arrival, first: u32) -> Event {
        let point = a.target & ((1 << self.bits) - 1);
        Event {
            te: a.te,
            seq: 0,
            cell: first + (a.target >> self.bits),
            point: if point == self.points {
                ADJUSTER_POINT
            } else {
                point
            },
            weight: a.weight,
            flag: 0.0,
            values: a.values,
        }
    }
}

/// [`Event::values`] of an event that has no connection's values.
pub(super) const NO_VALUES: u32 = u32::MAX;

/// A self-event waiting in its chunk's queue, earliest first (then in the order sent).
#[derive(Clone, Copy, Debug)]
pub(super) struct SelfEvent(pub(super) Event);

impl PartialEq for SelfEvent {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for SelfEvent {}
impl PartialOrd for SelfEvent {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for SelfEvent {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Reversed, so that the standard max-heap pops the earliest.
        (other.0.te.total_cmp(&self.0.te)).then(other.0.seq.cmp(&self.0.seq))
    }
}

/// Self-events are numbered from here in each chunk, so that a connection's event (numbered
/// from 0 as sent) goes first at an equal time, and the order is the same on any thread count.
pub(super) const SELF_EVENT_SEQ: u64 = 1 << 62;

/// A chunk's self-events: sent by its cells' point processes (`net_send`), delivered by the
/// same rule as a connection's events, in the same step if they fall due in it.
#[derive(Default)]
pub(super) struct SelfEvents {
    pub(super) queue: std::collections::BinaryHeap<SelfEvent>,
    pub(super) sent: u64,
    /// The active WATCHes of the chunk's point processes, by (cell, point).
    pub(super) watching: std::collections::BTreeMap<(u32, u32), Vec<ActiveWatch>>,
    /// Per (cell, point), the self-event it sent last while that is still to come, and its
    /// flag: what `net_move` moves (NEURON's `_tqitem`).
    pub(super) movable: std::collections::HashMap<(u32, u32), (u64, f64)>,
    /// Self-events that `net_move` replaced, by `seq`: skipped when they come up.
    pub(super) moved: std::collections::HashSet<u64>,
}

/// A WATCH that is active: which of its point process's statements, the flag of the event it
/// sends, and whether its condition held at the last check (NEURON's `flag_`).
#[derive(Clone, Copy, Debug)]
pub(super) struct ActiveWatch {
    pub(super) index: usize,
    pub(super) flag: f64,
    pub(super) above: bool,
}

/// What one event's NET_RECEIVE asks for besides its state updates, and the scratch space of
/// the evaluations (kept by the chunk's task, so that an event allocates nothing).
#[derive(Default)]
pub(super) struct Reaction {
    pub(super) values: Vec<f64>,
    pub(super) out: Vec<f64>,
    /// (delay, flag) of each `net_send`.
    pub(super) sends: Vec<(f64, f64)>,
    /// A `net_event`: the cell spikes at the event's time.
    pub(super) spikes: bool,
    /// The delay of each `net_move` that ran (to the event's time plus it).
    pub(super) moves: Vec<f64>,
    /// The WATCH statements it ran, which replace the active ones; `None` when it ran none.
    pub(super) watches: Option<Vec<ActiveWatch>>,
    /// Scratch for FOR_NETCONS loops.
    pub(super) loop_values: Vec<f64>,
    /// This event's random draws, one per [`Var::Draw`].
    pub(super) drawn: Vec<f64>,
    pub(super) loop_out: Vec<f64>,
}

impl SelfEvents {
    /// Sends `from`'s point process an event `delay` ms after `from` with `flag`. A `net_send`
    /// of a point process that calls net_move is `movable` (NEURON's `_tqitem`); a WATCH's
    /// event is not.
    pub(super) fn send(&mut self, from: &Event, delay: f64, flag: f64, movable: bool) {
        self.sent += 1;
        let seq = SELF_EVENT_SEQ + self.sent;
        self.queue.push(SelfEvent(Event {
            te: from.te + delay,
            seq,
            flag,
            ..*from
        }));
        if movable {
            self.movable.insert((from.cell, from.point), (seq, flag));
        }
    }

    /// `net_move`: the self-event `from`'s point process sent last goes to `from.te + delay`
    /// with its flag. False when it has none still to come (NEURON stops with an error).
    pub(super) fn move_last(&mut self, from: &Event, delay: f64) -> bool {
        let Some((seq, flag)) = self.movable.remove(&(from.cell, from.point)) else {
            return false;
        };
        self.moved.insert(seq);
        self.send(from, delay, flag, true);
        true
    }

    /// The earliest self-event due by `due`, if it comes before `next` (a connection's event).
    pub(super) fn pop_before(&mut self, due: f64, next: Option<&Event>) -> Option<Event> {
        loop {
            let first = self.queue.peek()?.0;
            if !self.moved.is_empty() && self.moved.remove(&first.seq) {
                self.queue.pop();
                continue;
            }
            let sooner = next.is_none_or(|e| (first.te, first.seq) < (e.te, e.seq));
            if !(first.te <= due && sooner) {
                return None;
            }
            self.queue.pop();
            let key = (first.cell, first.point);
            if !self.movable.is_empty() && self.movable.get(&key).is_some_and(|m| m.0 == first.seq)
            {
                self.movable.remove(&key);
            }
            return Some(first);
        }
    }
}

/// The first step (from `earliest`) that delivers an event at `te`: te <= t + dt/2. Past the
/// run's last step: `times.len()`.
pub(super) fn delivery_step(te: f64, times: &[f64], dt: f64, earliest: u64) -> u64 {
    let due = |k: usize| times[k] + 0.5 * dt >= te;
    // Near te/dt − ½, then to the exact first step.
    let mut k = ((te / dt - 0.5).ceil().max(0.0) as usize).min(times.len());
    while k > 0 && due(k - 1) {
        k -= 1;
    }
    while k < times.len() && !due(k) {
        k += 1;
    }
    (k as u64).max(earliest)
}

/// A connection as its spikes' sender files them: the target's population and cell (within
/// what this process steps), point, weight and delay, and where its own values start.
#[derive(Clone, Copy)]
pub(super) struct Outgoing {
    pub(super) population: usize,
    pub(super) cell: u32,
    pub(super) point: u32,
    pub(super) weight: f64,
    pub(super) delay: f64,
    pub(super) values: u32,
    /// The connection's weight adjuster instance, or [`NO_ADJUSTER`].
    pub(super) adjuster: u32,
    /// Its place in the network's list of connections.
    pub(super) connection: u64,
}

/// A connection to a cell as a filing worker reads it: where its event goes (population, chunk
/// within the worker's share, and the [`PointCodes`] code within the chunk) and what it
/// carries.
#[derive(Clone, Copy)]
pub(super) struct ToCell {
    pub(super) delay: f64,
    pub(super) weight: f64,
    pub(super) population: u32,
    pub(super) chunk: u32,
    pub(super) target: u32,
    pub(super) values: u32,
    /// The adjuster's code within the chunk, or [`NO_ADJUSTER`].
    pub(super) adjuster_target: u32,
    pub(super) adjuster: u32,
}

/// When an event is delivered: NEURON's step times, and the steps of the run; no event is
/// filed before step `earliest`.
pub(super) struct Delivery<'a> {
    pub(super) times: &'a [f64],
    pub(super) dt: f64,
    pub(super) steps: u64,
    pub(super) earliest: u64,
}

/// The connections as their spikes' senders file them. Events to cells are filed by several
/// workers at once, each into its own share of every population's chunks, from its own table
/// by sender (CSR). A chunk's list receives its events in the order sent whichever worker
/// files it, so ties break as in NEURON's queue on any thread count. Events to artificial
/// cells are filed by the caller, in order.
pub(super) struct Filing {
    /// Per worker: its connections to cells, by sender.
    pub(super) workers: Vec<BySender<ToCell>>,
    /// Per worker and population: the chunks it files into.
    pub(super) shares: Vec<Vec<std::ops::Range<usize>>>,
    /// The connections to artificial cells, by sender.
    pub(super) artificial: BySender<Outgoing>,
    /// Per sender, its connections to cells here.
    pub(super) to_cells: Vec<u32>,
}

/// Rows grouped by sender: sender `g`'s are `rows[start[g]..start[g + 1]]`.
pub(super) struct BySender<T> {
    pub(super) start: Vec<u32>,
    pub(super) rows: Vec<T>,
}

impl<T> BySender<T> {
    /// From (sender, row) pairs sorted by sender, for senders `0..senders`.
    pub(super) fn new(pairs: Vec<(u64, T)>, senders: usize) -> BySender<T> {
        let mut start = vec![0u32; senders + 1];
        for &(pre, _) in &pairs {
            start[pre as usize + 1] += 1;
        }
        for k in 0..senders {
            start[k + 1] += start[k];
        }
        let rows = pairs.into_iter().map(|(_, row)| row).collect();
        BySender { start, rows }
    }

    pub(super) fn of(&self, gid: u64) -> &[T] {
        let g = gid as usize;
        &self.rows[self.start[g] as usize..self.start[g + 1] as usize]
    }
}

/// A worker's share of one population's event rings.
pub(super) struct RingShare<'a> {
    pub(super) rings: &'a mut [Vec<Vec<Arrival>>],
}

impl Filing {
    /// From the connections to this process's cells and artificial cells, sorted by sender,
    /// for `workers` workers (at most 8: filing is memory-bound).
    pub(super) fn new(
        targets: &[(u64, Outgoing)],
        senders: usize,
        populations: &[Option<CellPopulation>],
        workers: usize,
    ) -> Filing {
        let workers = workers.clamp(1, 8);
        let shares: Vec<Vec<std::ops::Range<usize>>> = (0..workers)
            .map(|w| {
                (populations.iter())
                    .map(|p| {
                        let chunks = p.as_ref().map_or(0, |p| p.chunks);
                        chunks * w / workers..chunks * (w + 1) / workers
                    })
                    .collect()
            })
            .collect();
        let chunk_cells: Vec<usize> = (populations.iter())
            .map(|p| p.as_ref().map_or(1, |p| p.chunk_cells))
            .collect();
        let mut per_worker: Vec<Vec<(u64, ToCell)>> = vec![Vec::new(); workers];
        let mut to_artificial = Vec::new();
        let mut to_cells = vec![0u32; senders];
        for &(pre, t) in targets {
            if let Some(Some(pop)) = populations.get(t.population) {
                to_cells[pre as usize] += 1;
                let chunk = t.cell as usize / chunk_cells[t.population];
                let worker = (0..workers)
                    .find(|&w| shares[w][t.population].contains(&chunk))
                    .unwrap_or(0);
                let local = (t.cell as usize - chunk * chunk_cells[t.population]) as u32;
                let row = ToCell {
                    delay: t.delay,
                    weight: t.weight,
                    population: t.population as u32,
                    chunk: (chunk - shares[worker][t.population].start) as u32,
                    target: pop.codes.code(local, t.point),
                    values: t.values,
                    adjuster_target: match t.adjuster {
                        NO_ADJUSTER => NO_ADJUSTER,
                        _ => pop.codes.code(local, ADJUSTER_POINT),
                    },
                    adjuster: t.adjuster,
                };
                per_worker[worker].push((pre, row));
            } else {
                to_artificial.push((pre, t));
            }
        }
        Filing {
            workers: (per_worker.into_iter())
                .map(|pairs| BySender::new(pairs, senders))
                .collect(),
            shares,
            artificial: BySender::new(to_artificial, senders),
            to_cells,
        }
    }

    pub(super) fn has_targets(&self, gid: u64) -> bool {
        self.to_cells[gid as usize] > 0 || !self.artificial.of(gid).is_empty()
    }

    /// Files the events of `sent` (sender, time its events leave), in that order: each
    /// worker its share of the events to cells, at once; then the events to artificial cells.
    pub(super) fn file(
        &self,
        populations: &mut [Option<CellPopulation>],
        artificial: &mut [Option<ArtificialPopulation>],
        sent: &[(u64, f64)],
        rules: &Delivery<'_>,
    ) {
        // Most one-step epochs send nothing, and handing nothing to the workers costs.
        if sent.is_empty() {
            return;
        }
        // Every population's ring has the same lists.
        let (slot_steps, ring_len) = (populations.iter().flatten())
            .map(|p| (p.slot_steps, p.ring))
            .next()
            .unwrap_or((1, 1));
        // Each worker's share of every population's rings, by population (none for one this
        // process does not step).
        let mut shares: Vec<Vec<Option<RingShare<'_>>>> = (0..self.workers.len())
            .map(|_| (0..populations.len()).map(|_| None).collect())
            .collect();
        for (k, pop) in populations.iter_mut().enumerate() {
            let Some(pop) = pop.as_mut() else { continue };
            let mut rest: &mut [Vec<Vec<Arrival>>] = &mut pop.pending;
            for (w, share) in self.shares.iter().enumerate() {
                let (mine, later) = std::mem::take(&mut rest).split_at_mut(share[k].len());
                rest = later;
                shares[w][k] = Some(RingShare { rings: mine });
            }
        }
        shares
            .into_par_iter()
            .zip(&self.workers)
            .for_each(|(mut shares, connections)| {
                for &(gid, stamp) in sent {
                    // A sender's connections mostly share a few delays, in runs.
                    let mut last = (f64::NAN, 0.0, 0);
                    for t in connections.of(gid) {
                        if t.delay.to_bits() != last.0.to_bits() {
                            let te = stamp + t.delay;
                            let step = delivery_step(te, rules.times, rules.dt, rules.earliest);
                            last = (t.delay, te, step);
                        }
                        let (_, te, step) = last;
                        if step >= rules.steps {
                            continue;
                        }
                        let Some(share) = shares[t.population as usize].as_mut() else {
                            continue;
                        };
                        let ring = &mut share.rings[t.chunk as usize];
                        if t.adjuster != NO_ADJUSTER {
                            // The adjuster first, just before the synapse.
                            let te = te - ADJUSTER_LEAD;
                            let step = delivery_step(te, rules.times, rules.dt, rules.earliest);
                            ring[(step / slot_steps) as usize % ring_len].push(Arrival {
                                te,
                                weight: t.weight,
                                target: t.adjuster_target,
                                values: t.adjuster,
                            });
                        }
                        ring[(step / slot_steps) as usize % ring_len].push(Arrival {
                            te,
                            weight: t.weight,
                            target: t.target,
                            values: t.values,
                        });
                    }
                }
            });
        for &(gid, stamp) in sent {
            for t in self.artificial.of(gid) {
                if let Some(a) = artificial.get_mut(t.population).and_then(Option::as_mut) {
                    a.schedule(t.cell as usize, stamp + t.delay, t.weight, t.values);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_arrival_names_its_cell_and_point_within_the_chunk() {
        let codes = PointCodes::new(5, 64).expect("five points fit");
        for local in [0u32, 1, 37, 63] {
            for point in [0u32, 4, ADJUSTER_POINT] {
                let a = Arrival {
                    te: 1.5,
                    weight: 0.25,
                    target: codes.code(local, point),
                    values: 7,
                };
                let e = codes.event(&a, 640);
                assert_eq!((e.cell, e.point), (640 + local, point));
                assert_eq!((e.te, e.weight, e.values, e.flag), (1.5, 0.25, 7, 0.0));
            }
        }
    }

    #[test]
    fn point_codes_refuse_what_32_bits_cannot_name() {
        assert!(PointCodes::new((1 << 26) - 1, 64).is_some());
        assert!(PointCodes::new(1 << 26, 64).is_none());
        assert!(PointCodes::new(1 << 26, 32).is_some());
    }
}
