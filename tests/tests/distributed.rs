//! A network over several processes gives what one process gives, bit for bit: the spikes,
//! the traces, the events delivered, and the error that stops a run. The processes here are
//! threads that meet in an all-gather ([`InProcess`]); `cli/tests/mpi.rs` runs the same
//! networks under `mpirun`.

use hhc_runtime::distributed::{share_of, Exchange};
use hhc_runtime::load::{load_model_shared, load_model_source, load_model_source_shared};
use hhc_runtime::sim::{RunError, Stopped};
use hhc_runtime::simulation::{Outcome, Request, Simulation};
use hhc_tests::{repo, InProcess};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Runs `model` as `processes` processes of `threads` threads each (a flag per process, which
/// `interrupt` raises before the run in that process): every process's outcome, rank 0 first.
/// Each process loads the model for itself, with only its own cells' connections, as
/// `hhc run` under mpirun does.
fn run_as(
    model: &Path,
    processes: usize,
    threads: usize,
    interrupt: Option<usize>,
) -> Vec<Result<Outcome, Stopped<Outcome>>> {
    let job = InProcess::job(processes);
    std::thread::scope(|scope| {
        let members: Vec<_> = job
            .into_iter()
            .map(|member| {
                scope.spawn(move || {
                    let raised = interrupt == Some(member.rank());
                    let share = Some(share_of(&member));
                    let request = Request {
                        threads: Some(threads),
                        exchange: Some(Arc::new(member) as Arc<dyn Exchange>),
                        ..Request::default()
                    };
                    let loaded =
                        load_model_shared(model, share).unwrap_or_else(|r| panic!("{}", r.text));
                    let mut s = Simulation::new(loaded, &request).unwrap_or_else(|e| panic!("{e}"));
                    s.run(Some(Arc::new(AtomicBool::new(raised))), None)
                })
            })
            .collect();
        members
            .into_iter()
            .map(|m| m.join().expect("a process panicked"))
            .collect()
    })
}

/// Spikes (cell, time), traces (name, bits of every value) and events delivered.
type Fingerprint = (Vec<(u64, u64)>, Vec<(String, Vec<u64>)>, u64);

fn fingerprint(o: &Outcome) -> Fingerprint {
    let net = o.network.as_ref().expect("a network");
    (
        net.spikes.iter().map(|&(c, t)| (c, t.to_bits())).collect(),
        o.traces
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    t.values.iter().map(|v| v.to_bits()).collect(),
                )
            })
            .collect(),
        net.events_delivered,
    )
}

fn same_in_every_split(rel: &str, splits: &[usize]) {
    let model = repo().join(rel);
    let alone = run_as(&model, 1, 1, None);
    let alone = fingerprint(alone[0].as_ref().unwrap_or_else(|e| panic!("{}", e.error)));
    assert!(!alone.0.is_empty(), "{rel} spikes");
    let records = std::fs::read_to_string(&model).is_ok_and(|t| t.contains("record ="));
    assert_eq!(
        !alone.1.is_empty(),
        records,
        "{rel} traces its recorded cells"
    );
    for &processes in splits {
        for (rank, outcome) in run_as(&model, processes, 1, None).iter().enumerate() {
            let outcome = outcome.as_ref().unwrap_or_else(|e| panic!("{}", e.error));
            let got = fingerprint(outcome);
            assert_eq!(
                got.0.len(),
                alone.0.len(),
                "{rel}: process {rank} of {processes}"
            );
            assert!(got == alone, "{rel}: process {rank} of {processes} differs");
        }
    }
}

#[test]
fn a_ring_of_ball_and_stick_cells_splits_over_any_number_of_processes() {
    // 9 processes for 8 cells: one steps none of them.
    same_in_every_split("tests/fixtures/neuron/ring/ring.chan", &[2, 3, 9]);
}

#[test]
fn the_random_ei_network_with_values_per_cell_splits_exactly() {
    same_in_every_split("tests/fixtures/neuron/ei/ei_values.chan", &[2, 3]);
}

/// Gap junctions between cells of different processes: the sites' V crosses every step.
#[test]
fn gap_junction_networks_split_exactly() {
    same_in_every_split("tests/fixtures/neuron/gap/gap.chan", &[2, 3, 9]);
    same_in_every_split("examples/gap_network.chan", &[2, 3]);
}

/// Random draws per event (unreliable synapses, noisy NetStims) are keyed by the cell and the
/// point, not by which process steps them.
#[test]
fn random_draws_per_event_split_exactly() {
    same_in_every_split("tests/fixtures/draws/unreliable.chan", &[2, 3, 5]);
}

#[test]
fn artificial_cells_self_events_and_watch_split_exactly() {
    for rel in [
        "tests/fixtures/neuron/artificial/artificial.chan",
        "tests/fixtures/neuron/selfevents/selfevents.chan",
        "tests/fixtures/neuron/watch/watch.chan",
        "tests/fixtures/neuron/netmove/netmove.chan",
    ] {
        same_in_every_split(rel, &[2, 3]);
    }
}

#[test]
fn threads_and_processes_together_give_one_processs_spikes() {
    let model = repo().join("examples/ei_network.chan");
    let alone = run_as(&model, 1, 1, None);
    let alone = fingerprint(alone[0].as_ref().unwrap_or_else(|e| panic!("{}", e.error)));
    for outcome in run_as(&model, 2, 2, None) {
        let got = fingerprint(outcome.as_ref().unwrap_or_else(|e| panic!("{}", e.error)));
        assert!(got == alone, "2 processes of 2 threads differ from 1 of 1");
    }
}

/// A blow-up in a cell that one process steps stops every process, with the same message
/// and the same partial results as one process.
#[test]
fn a_failure_in_one_process_stops_every_process_with_its_message() {
    let dir = std::env::temp_dir().join(format!("hhc-distributed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ring =
        std::fs::read_to_string(repo().join("tests/fixtures/neuron/ring/ring.chan")).expect("ring");
    let ring = ring.replace("record = 0, 3 }", "record = 0, 3  values = bad }");
    std::fs::write(dir.join("ring.chan"), ring).expect("model");
    std::fs::copy(
        repo().join("tests/fixtures/neuron/ring/hh_classic.chan"),
        dir.join("hh_classic.chan"),
    )
    .expect("channel");
    // Cell 5's synapse reverses at 1e12 mV: it blows up when the ring's wave reaches it.
    std::fs::write(dir.join("bad.csv"), "syn.e\n0\n0\n0\n0\n0\n1e12\n0\n0\n").expect("values");
    let stopped = |r: &Result<Outcome, Stopped<Outcome>>| match r {
        Ok(_) => panic!("the run should stop"),
        Err(s) => (
            s.error.to_string(),
            s.partial.as_ref().map(|p| fingerprint(p)),
        ),
    };
    let alone = stopped(&run_as(&dir.join("ring.chan"), 1, 1, None)[0]);
    assert!(
        alone.0.contains("numerical blow-up in cell 5"),
        "{}",
        alone.0
    );
    assert!(alone.1.as_ref().is_some_and(|p| !p.0.is_empty()));
    for processes in [2, 3] {
        for r in run_as(&dir.join("ring.chan"), processes, 1, None) {
            assert!(
                stopped(&r) == alone,
                "{processes} processes: {}",
                stopped(&r).0
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// An interrupt (Ctrl-C, SIGTERM) in one process stops all of them after the same epoch, each
/// with what the job computed until then.
#[test]
fn an_interrupt_in_one_process_stops_every_process_at_the_same_step() {
    let model = repo().join("tests/fixtures/neuron/ring/ring.chan");
    let outcomes = run_as(&model, 3, 1, Some(2));
    let mut seen = Vec::new();
    for r in &outcomes {
        let Err(Stopped {
            error: RunError::Interrupted { steps, .. },
            partial: Some(p),
        }) = r
        else {
            panic!("every process stops as interrupted");
        };
        assert_eq!(p.steps_done, *steps);
        assert!(p.traces.iter().all(|t| t.values.len() as u64 == steps + 1));
        seen.push(fingerprint(p));
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]));
}

/// Every connection rule builds, in each process, exactly the connections to that process's
/// cells (and all those to artificial cells): the processes' parts together are the whole.
#[test]
fn each_process_builds_exactly_its_cells_connections_by_every_rule() {
    let dir = std::env::temp_dir().join(format!("hhc-shares-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let csv = "pre,post,weight,delay\n0,1,0.01,1\n3,6,0.02,2\n5,0,0.03,1.5\n";
    std::fs::write(dir.join("pairs.csv"), csv).expect("csv");
    let source = r#"
CELL Soma {
    SECTION soma { L = 20 (um)  diam = 20 (um) }
    INSERT pas { }
    POINT syn = ExpSyn AT soma(0.5) { }
}
NETWORK {
    POPULATION a = Soma { count = 7 }
    POPULATION b = Soma { count = 7 }
    POPULATION gate = IntFire1 { count = 2 }
    CONNECT a -> a AT syn { rule = all_to_all  weight = 0.01 (uS)  delay = 1 (ms) }
    CONNECT a -> b AT syn { rule = one_to_one  weight = 0.01 (uS)  delay = 1 (ms) }
    CONNECT b -> a AT syn { rule = probability(0.4)  seed = 3  weight = 0.01 (uS)  delay = 2 (ms) }
    CONNECT b -> b AT syn { rule = indegree(2)  seed = 4  weight = 0.01 (uS)  delay = 1 (ms) }
    CONNECT a -> b AT syn { rule = indegree(5)  seed = 5  weight = 0.01 (uS)  delay = 1 (ms) }
    CONNECT a -> b AT syn { pre = 0, 2, 4  post = 6, 5, 1  weight = 0.01 (uS)  delay = 3 (ms) }
    CONNECT a -> a AT syn { file = pairs }
    CONNECT a -> gate { rule = all_to_all  weight = 0.5  delay = 1 (ms) }
}
SIMULATE { dt = 0.025 (ms)  tstop = 5 (ms) }
"#;
    let key = |c: &hhc_compiler::sema::network::Connection| {
        (
            c.pre,
            c.post,
            c.point,
            c.weight.to_bits(),
            c.delay.to_bits(),
        )
    };
    let whole =
        load_model_source("net.chan", source, &dir).unwrap_or_else(|r| panic!("{}", r.text));
    let whole = whole.network.expect("network");
    assert!(whole.built_for.is_none());
    let mut all: Vec<_> = whole.connections.iter().map(key).collect();
    all.sort_unstable();
    // Cells 0–6 are a, 7–13 b, 14–15 the artificial gates.
    let to_gates = all.iter().filter(|k| k.1 >= 14).count();
    assert_eq!(to_gates, 14, "7 cells to 2 artificial cells");
    for processes in [2, 3, 5] {
        let mut joined = Vec::new();
        for rank in 0..processes {
            let share = hhc_compiler::sema::network::Share { rank, processes };
            let part = load_model_source_shared("net.chan", source, &dir, Some(share))
                .unwrap_or_else(|r| panic!("{}", r.text))
                .network
                .expect("network");
            assert_eq!(part.built_for, Some(share));
            assert!(part.connections.windows(2).all(|w| w[0].pre <= w[1].pre));
            let mine = hhc_runtime::distributed::owned(7, rank, processes);
            for c in part.connections.iter().filter(|c| c.post < 14) {
                assert!(
                    mine.contains(&(c.post % 7)),
                    "{c:?} is not process {rank}'s"
                );
            }
            // Every process has all the connections to artificial cells.
            let gates = part.connections.iter().filter(|c| c.post >= 14).count();
            assert_eq!(gates, to_gates);
            joined.extend(part.connections.iter().filter(|c| c.post < 14).map(key));
        }
        joined.extend(all.iter().filter(|k| k.1 >= 14).copied());
        joined.sort_unstable();
        assert!(
            joined == all,
            "{processes} processes' parts differ from the whole network"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Point cells split in blocks give one process's outcome: spikes, counts, traces and the
/// swept stimulus, bit for bit.
#[test]
fn point_cells_split_exactly_with_a_sweep_across_the_whole_population() {
    let model = repo().join("examples/fi_curve.chan");
    let key = |o: &Outcome| {
        (
            o.spikes.clone(),
            o.spike_counts.clone(),
            (o.traces.iter())
                .map(|t| {
                    (
                        t.name.clone(),
                        t.values.iter().map(|v| v.to_bits()).collect(),
                    )
                })
                .collect::<Vec<(String, Vec<u64>)>>(),
            (o.stimulus_per_cell.iter().flatten())
                .map(|x| x.to_bits())
                .collect::<Vec<u64>>(),
        )
    };
    let alone = run_as(&model, 1, 1, None);
    let alone = key(alone[0].as_ref().unwrap_or_else(|e| panic!("{}", e.error)));
    assert!(alone.3.len() > 100 && !alone.2.is_empty() && !alone.0.is_empty());
    for processes in [2, 3] {
        for outcome in run_as(&model, processes, 1, None) {
            let got = key(outcome.as_ref().unwrap_or_else(|e| panic!("{}", e.error)));
            assert!(got == alone, "{processes} processes differ from one");
        }
    }
}
