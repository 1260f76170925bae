//! Networks against NEURON 9.0.2: the same cells, synapses and connections built in NEURON by
//! `harness/neuron/*.py`, whose spike times and voltages are committed fixtures.

use hhc_runtime::simulation::{Outcome, Request, SetupError, Simulation};
use hhc_tests::repo;

fn simulate(rel: &str, request: &Request) -> Outcome {
    let mut s = Simulation::from_file(&repo().join(rel), request).unwrap_or_else(|e| panic!("{e}"));
    s.run(None, None).unwrap_or_else(|e| panic!("{e}"))
}

/// Rows of a fixture CSV after its header lines, as numbers.
fn rows(rel: &str) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("cell") && !l.starts_with("t_ms"))
        .map(|l| l.split(',').map(|x| x.parse().unwrap_or(f64::NAN)).collect())
        .collect()
}

#[test]
fn a_ring_of_expsyn_cells_spikes_as_in_neuron() {
    let r = simulate("tests/fixtures/neuron/ring/ring.chan", &Request::default());
    let net = r.network.as_ref().expect("a network outcome");
    let neuron: Vec<(u64, f64)> = rows("tests/fixtures/neuron/ring/ring.csv")
        .iter()
        .map(|row| (row[0] as u64, row[1]))
        .collect();
    assert_eq!(neuron.len(), 41, "the fixture has every lap's spikes");
    assert_eq!(net.spikes.len(), neuron.len(), "hhc {:?}", net.spikes);
    for (&(c, t), &(nc, nt)) in net.spikes.iter().zip(&neuron) {
        // The same cell, in the same step: NEURON's times accumulate dt/2 twice a step, and
        // hhc's are those same sums.
        assert_eq!(c, nc, "at t = {t}");
        assert!((t - nt).abs() < 1e-9, "cell {c}: hhc {t} ms, NEURON {nt} ms");
    }
    // V of cells 0 and 3 at soma(0.5) and dend(0.5), every step.
    let v = rows("tests/fixtures/neuron/ring/ring_v.csv");
    assert_eq!(r.traces.len(), 4);
    assert_eq!(r.traces[0].name, "ring[0] soma(0.5)");
    let mut worst: f64 = 0.0;
    for (k, row) in v.iter().enumerate() {
        for (j, trace) in r.traces.iter().enumerate() {
            worst = worst.max((trace.values[k] - row[j + 1]).abs());
        }
    }
    assert!(worst < 1e-6, "V differs from NEURON's by up to {worst} mV");
    // Each spike sends one event, 1 ms later; those due by the last step's delivery are in.
    let due = neuron.iter().filter(|&&(_, t)| t + 1.0 <= 99.975 + 0.0125).count();
    assert_eq!(net.events_delivered, due as u64);
}

#[test]
fn a_network_gives_the_same_results_on_any_thread_count() {
    let one = simulate(
        "tests/fixtures/neuron/ring/ring.chan",
        &Request {
            threads: Some(1),
            ..Request::default()
        },
    );
    let all = simulate("tests/fixtures/neuron/ring/ring.chan", &Request::default());
    assert_eq!(one.network.as_ref().map(|n| &n.spikes), all.network.as_ref().map(|n| &n.spikes));
    for (a, b) in one.traces.iter().zip(&all.traces) {
        assert_eq!(a.values, b.values, "{}", a.name);
    }
}

#[test]
fn a_network_refuses_a_population_size_override() {
    let e = Simulation::from_file(
        &repo().join("tests/fixtures/neuron/ring/ring.chan"),
        &Request {
            count: Some(10),
            ..Request::default()
        },
    );
    assert!(matches!(e, Err(SetupError::Usage(m)) if m.contains("POPULATION")));
}
