//! The engine's entry point, as every front uses it: a model and a request in, traces and
//! spikes out, the same shape for point cells and morphologies.

use hhc_runtime::simulation::{Request, SetupError, Simulation};
use hhc_tests::repo;

fn simulate(rel: &str, request: &Request) -> hhc_runtime::simulation::Outcome {
    let mut s = Simulation::from_file(&repo().join(rel), request).unwrap_or_else(|e| panic!("{e}"));
    s.run(None, None).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_tutorial_through_the_entry_point() {
    let r = simulate("examples/hh.chan", &Request::default());
    assert_eq!(r.steps_done, 10_000);
    assert_eq!(r.traces.len(), 1);
    assert_eq!(r.traces[0].name, "cell0");
    assert_eq!(r.traces[0].values.len(), 10_001);
    assert_eq!(r.total_spikes, 8);
    assert_eq!(r.spikes.len(), 8);
    // The same run, shortened by the request: the first spikes, in the same steps.
    let short = simulate(
        "examples/hh.chan",
        &Request {
            tstop: Some(20.0),
            ..Request::default()
        },
    );
    assert_eq!(short.steps_done, 2000);
    assert_eq!(short.spikes[..], r.spikes[..short.spikes.len()]);
    assert_eq!(short.traces[0].values[..], r.traces[0].values[..2001]);
}

#[test]
fn morphologies_give_the_same_outcome_from_both_cpu_layouts() {
    // The chunked solver's outcome, after checking that the fused layout's is the same.
    let both = |model: &str| {
        let chunked = simulate(model, &Request::default());
        let fused = simulate(
            model,
            &Request {
                fused_cable: true,
                ..Request::default()
            },
        );
        assert_eq!(chunked.spikes, fused.spikes, "{model}");
        assert_eq!(chunked.traces.len(), fused.traces.len(), "{model}");
        for (a, b) in chunked.traces.iter().zip(&fused.traces) {
            assert_eq!(a.values, b.values, "{model}: {}", a.name);
        }
        chunked
    };
    let chunked = both("tests/fixtures/neuron/ballstick.chan");
    let names: Vec<&str> = chunked.traces.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["soma(0.5)", "dend(0.5)", "dend(1)"]);
    assert_eq!(chunked.detector, "soma(0.5)");
    assert_eq!(chunked.total_spikes, 2);
    // Also where mechanisms read each compartment's diam and area, which both layouts bind.
    assert_eq!(both("tests/fixtures/neuron/geometry.chan").total_spikes, 3);
    // And where a point process's current reads `t` (an SEClamp switching its levels at the
    // steps' midpoints): the fused kernel once read the step's start, a step late, 25 mV off.
    both("tests/fixtures/neuron/seclamp/seclamp.chan");
    // And where BREAKPOINT stores a value (VClamp's command) that the state update reads.
    both("tests/fixtures/neuron/vclamp/vclamp_amplifier.chan");
}

#[test]
fn requests_that_contradict_the_model_are_usage_errors() {
    let setup = |r: Request| Simulation::from_file(&repo().join("examples/fi_curve.chan"), &r);
    let usage = |r: Request| matches!(setup(r), Err(SetupError::Usage(_)));
    assert!(usage(Request {
        dt: Some(0.03),
        ..Request::default()
    }));
    assert!(usage(Request {
        count: Some(10),
        ..Request::default()
    }));
    assert!(usage(Request {
        threads: Some(0),
        ..Request::default()
    }));
    assert!(setup(Request {
        count: Some(10),
        record: false,
        ..Request::default()
    })
    .is_ok());
    assert!(matches!(
        Simulation::from_file(&repo().join("no/such.chan"), &Request::default()),
        Err(SetupError::Failed(_))
    ));
}

/// States traced beside V on point cells: each recorded step is the program's step from the
/// previous recorded values (the interpreter, stepping once from them, lands on them).
#[test]
fn a_point_cells_states_are_recorded_as_they_step() {
    let states = ["Na_HH1952.m", "Na_HH1952.h", "K_HH1952.n"];
    let request = Request {
        record_states: states.iter().map(|s| s.to_string()).collect(),
        tstop: Some(20.0),
        ..Request::default()
    };
    let r = simulate("examples/hh.chan", &request);
    let names: Vec<&str> = r.traces.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "cell0",
            "cell0 Na_HH1952.m",
            "cell0 Na_HH1952.h",
            "cell0 K_HH1952.n"
        ]
    );
    // V is the same with or without the states beside it.
    let plain = simulate(
        "examples/hh.chan",
        &Request {
            tstop: Some(20.0),
            ..Request::default()
        },
    );
    assert_eq!(plain.traces[0].values, r.traces[0].values);
    let model = hhc_tests::load("examples/hh.chan");
    let program = hhc_compiler::cell::build(&model);
    let slots: Vec<&str> = program.slots.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(slots, ["v", "Na_HH1952.m", "Na_HH1952.h", "K_HH1952.n"]);
    for k in 0..2000 {
        let mut cell: Vec<f64> = r.traces.iter().map(|t| t.values[k]).collect();
        hhc_compiler::ir::interp::run_cell(&program, &mut cell, k as f64 * model.dt, 1);
        for (j, trace) in r.traces.iter().enumerate() {
            let (a, b) = (trace.values[k + 1], cell[j]);
            assert!(
                (a - b).abs() <= 1e-12 * b.abs().max(1.0),
                "step {k}, {}: recorded {a}, stepped {b}",
                trace.name
            );
        }
    }
    let unknown = Simulation::from_file(
        &repo().join("examples/hh.chan"),
        &Request {
            record_states: vec!["Na_HH1952.q".into()],
            ..Request::default()
        },
    );
    assert!(matches!(unknown, Err(SetupError::Usage(m)) if m.contains("Na_HH1952.m")));
}

/// Currents traced at a morphology's probe, against NEURON 9.0.2 recording the same segment's
/// `ina`, `ik` and `il_hh` (harness/neuron/currents.py): what each step's solve used, in
/// mA/cm², at every step of 20 ms through a current pulse that fires the cell, with `m` and
/// V beside them.
#[test]
fn currents_at_a_probe_are_neurons() {
    let names = ["hh.ina", "hh.ik", "hh.il", "hh.m"];
    let r = simulate(
        "tests/fixtures/neuron/currents/currents.chan",
        &Request {
            record_states: names.iter().map(|s| s.to_string()).collect(),
            ..Request::default()
        },
    );
    let traced: Vec<&str> = r.traces.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        traced,
        [
            "soma(0.5)",
            "soma(0.5) hh.ina",
            "soma(0.5) hh.ik",
            "soma(0.5) hh.il",
            "soma(0.5) hh.m"
        ]
    );
    let rows = hhc_tests::read_csv(&repo().join("tests/fixtures/neuron/currents/currents.csv"));
    assert_eq!(rows.len(), 801);
    // The cell fires: ina reaches mA/cm², so the tolerances are relative to real currents.
    let peak = rows.iter().map(|row| row[2].abs()).fold(0.0, f64::max);
    assert!(peak > 0.1, "ina peaks at {peak} mA/cm2");
    for (j, (trace, tolerance)) in r
        .traces
        .iter()
        .zip([1e-8, 1e-10, 1e-10, 1e-10, 1e-10])
        .enumerate()
    {
        assert_eq!(trace.values.len(), rows.len());
        let worst = rows
            .iter()
            .zip(&trace.values)
            .map(|(row, x)| (row[j + 1] - x).abs())
            .fold(0.0, f64::max);
        assert!(
            worst < tolerance,
            "{}: differs from NEURON's by {worst}",
            trace.name
        );
    }
}

/// A point cell's traced current is the one its step used: Na_HH1952's `ina` at each
/// recorded step is g·m³·h·(V − E) with V from the step before and the gates after it (the
/// point-cell order: gates advance at V_n, then the currents move V), in mA/cm².
#[test]
fn a_point_cells_currents_are_those_its_steps_used() {
    let names = ["Na_HH1952.ina", "Na_HH1952.m", "Na_HH1952.h"];
    let r = simulate(
        "examples/hh.chan",
        &Request {
            record_states: names.iter().map(|s| s.to_string()).collect(),
            tstop: Some(20.0),
            ..Request::default()
        },
    );
    let model = hhc_tests::load("examples/hh.chan");
    let na = model
        .cell
        .inserts
        .iter()
        .find(|i| i.mechanism.name == "Na_HH1952")
        .expect("Na_HH1952");
    let param = |name: &str| na.params[na.mechanism.param_index(name).expect(name)];
    let e_na = model
        .cell
        .ions
        .iter()
        .find(|i| i.name == "na")
        .and_then(|i| i.e)
        .expect("E_na");
    let (v, ina, m, h) = (
        &r.traces[0].values,
        &r.traces[1].values,
        &r.traces[2].values,
        &r.traces[3].values,
    );
    let g = param("g_max");
    // mS/cm2 times mV is µA/cm2; the trace is in mA/cm2.
    let expected = |k: usize, vk: f64| g * m[k].powi(3) * h[k] * (vk - e_na) * 1e-3;
    assert!((ina[0] - expected(0, v[0])).abs() < 1e-15);
    let mut largest: f64 = 0.0;
    for k in 1..v.len() {
        let want = expected(k, v[k - 1]);
        largest = largest.max(want.abs());
        assert!(
            (ina[k] - want).abs() <= 1e-12 * want.abs().max(1e-6),
            "step {k}: traced {}, expected {want}",
            ina[k]
        );
    }
    assert!(
        largest > 0.1,
        "the cell fires: ina reaches {largest} mA/cm2"
    );
}

/// States traced at a morphology's probes: hh's `m` at the soma of a ball-and-stick cell
/// follows its exact update from one recorded step to the next (at the step's new V, the
/// cable solver's order), V is the same as without it, and a state asked for where its
/// mechanism is not inserted is refused with the states that are there.
#[test]
fn a_morphologys_states_are_recorded_at_its_probes() {
    let model = "tests/fixtures/neuron/alphasynapse/alphasynapse.chan";
    let with_state = |rel: &str| {
        Simulation::from_file(
            &repo().join(rel),
            &Request {
                record_states: vec!["hh_classic.m".into()],
                ..Request::default()
            },
        )
    };
    // The model's second probe is on the passive dendrite: refused before the run.
    let refused = with_state(model);
    assert!(
        matches!(&refused, Err(SetupError::Usage(m)) if m.contains("dend(0.8)") && m.contains("hint")),
        "{:?}",
        refused.err()
    );
    let dir = std::env::temp_dir().join(format!("hhc-states-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let text = std::fs::read_to_string(repo().join(model)).expect("model");
    std::fs::write(
        dir.join("soma.chan"),
        text.replace("probe = soma(0.5), dend(0.8)", "probe = soma(0.5)"),
    )
    .expect("write");
    std::fs::copy(
        repo().join("tests/fixtures/neuron/alphasynapse/hh_classic.chan"),
        dir.join("hh_classic.chan"),
    )
    .expect("copy");
    let path = dir.join("soma.chan");
    let r = with_state(path.to_str().expect("utf-8"))
        .expect("set up")
        .run(None, None)
        .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = r.traces.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["soma(0.5)", "soma(0.5) hh_classic.m"]);
    let plain = Simulation::from_file(&path, &Request::default())
        .expect("set up")
        .run(None, None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plain.traces[0].values, r.traces[0].values);
    let (v, m) = (&r.traces[0].values, &r.traces[1].values);
    let vtrap = |x: f64, y: f64| {
        if (x / y).abs() < 1e-6 {
            y * (1.0 - x / y / 2.0)
        } else {
            x / ((x / y).exp() - 1.0)
        }
    };
    let dt = 0.025;
    for k in 0..v.len() - 1 {
        let vn = v[k + 1];
        let (a, b) = (
            0.1 * vtrap(-(vn + 40.0), 10.0),
            4.0 * (-(vn + 65.0) / 18.0).exp(),
        );
        let (inf, tau) = (a / (a + b), 1.0 / (a + b));
        let want = inf + (m[k] - inf) * (-dt / tau).exp();
        assert!(
            (m[k + 1] - want).abs() < 1e-9,
            "step {k}: m = {} , the update gives {want}",
            m[k + 1]
        );
    }
    assert!(
        m.iter().copied().fold(0.0, f64::max) > 0.9,
        "m opens at the spike"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
