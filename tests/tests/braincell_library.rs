//! Every stdlib channel against braincell 0.2.0.
//!
//! `harness/braincell/reference.py` ran each channel X in braincell, inside the tutorial's
//! spiking core (Na_HH1952, K_HH1952, IL, plus a CalciumDetailed pool where X needs calcium), and
//! stored V every 10th step in `tests/fixtures/braincell/X.csv` next to the same cell as an hhc
//! model, `cell_X.chan`. This test runs those models and compares.
//!
//! Tolerances, and why: braincell's `exp_euler` advances V, every gate and the pool together by
//! one coupled exponential-Rosenbrock step; hhc advances each state by its exact cnexp update at
//! V_n and then V (SPEC). Both are first order, and their local errors differ by O(dt²) per step,
//! so spike times drift apart by a fraction of a step per spike.
//! - the spike count must be equal, and every spike time within 0.1 ms (10 steps);
//! - away from spikes (more than 1 ms from any braincell spike), V within 1 mV.

use hhc_compiler::passes::mathlib::Precision;
use hhc_compiler::sema::model::StepMethod;
use hhc_tests::*;

const SPIKE_TOLERANCE_MS: f64 = 0.1;
const V_TOLERANCE_MV: f64 = 1.0;
const SPIKE_WINDOW_MS: f64 = 1.0;

/// Channels where the two integrators part by more than the tolerances above at dt = 0.01 ms,
/// with the bounds they are held to instead: (name, spike ms, V mV or None, why).
/// Each was rerun at dt = 0.001 ms in both simulators, where the spike times agree within
/// 0.005 ms, so the translation is right and the difference is the time step. Under
/// `method = exp_rosenbrock` they match braincell like every other channel (test below).
const INTEGRATOR_LIMITED: &[(&str, f64, Option<f64>, &str)] = &[
    (
        "Na_ZH2019_IO",
        0.25,
        None,
        "m_tau = 0.001 ms: m follows V within the step, which braincell's coupled step sees and a \
         per-state step does not; hhc's spikes come later by up to 0.18 ms over 7 spikes",
    ),
    (
        "Na_TM1991",
        SPIKE_TOLERANCE_MS,
        Some(2.0),
        "a slow plateau after the single spike is sensitive to the step; V differs by 1.7 mV",
    ),
];

struct Reference {
    spikes: Vec<f64>,
    /// (t_ms, V_mV), every 10th step from t = 0.
    trace: Vec<(f64, f64)>,
}

fn read_reference(path: &std::path::Path) -> Reference {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header = lines.next().expect("header");
    let spikes = header_spike_times(header);
    let trace = lines
        .skip(1)
        .map(|l| {
            let (t, v) = l.split_once(',').expect("t,V");
            (t.parse().expect("t"), v.parse().expect("V"))
        })
        .collect();
    Reference { spikes, trace }
}

struct Outcome {
    name: String,
    spikes: usize,
    max_spike_shift: f64,
    max_dv: f64,
    problems: Vec<String>,
}

fn compare(name: &str) -> Outcome {
    compare_with(name, StepMethod::ExpEuler)
}

fn compare_with(name: &str, method: StepMethod) -> Outcome {
    let dir = repo().join("tests/fixtures/braincell");
    let reference = read_reference(&dir.join(format!("{name}.csv")));
    let model = match hhc_runtime::load::load_model(&dir.join(format!("cell_{name}.chan"))) {
        Ok(m) => m,
        Err(r) => {
            return Outcome {
                name: name.to_string(),
                spikes: reference.spikes.len(),
                max_spike_shift: f64::NAN,
                max_dv: f64::NAN,
                problems: vec![format!(
                    "does not load: {}",
                    r.text.lines().next().unwrap_or("")
                )],
            }
        }
    };
    let mut model = model;
    model.method = method;
    let (_, r) = run(&model, Precision::F64, 1);
    let dt = model.dt;
    let spikes: Vec<f64> = r.spikes.iter().map(|&(_, k)| (k + 1) as f64 * dt).collect();
    let (spike_tolerance, v_tolerance) =
        INTEGRATOR_LIMITED.iter().find(|(n, ..)| *n == name).map_or(
            (SPIKE_TOLERANCE_MS, Some(V_TOLERANCE_MV)),
            |&(_, s, v, _)| (s, v),
        );
    let mut problems = Vec::new();
    if spikes.len() != reference.spikes.len() {
        problems.push(format!(
            "{} spikes, braincell {}: hhc {spikes:.2?} vs {:.2?}",
            spikes.len(),
            reference.spikes.len(),
            reference.spikes
        ));
    }
    let mut max_spike_shift: f64 = 0.0;
    for (a, b) in spikes.iter().zip(&reference.spikes) {
        max_spike_shift = max_spike_shift.max((a - b).abs());
    }
    if max_spike_shift > spike_tolerance + 1e-9 {
        problems.push(format!("a spike moved by {max_spike_shift:.3} ms"));
    }
    let trace = &r.traces[0];
    let mut max_dv: f64 = 0.0;
    for &(t, v) in &reference.trace {
        if reference
            .spikes
            .iter()
            .any(|s| (s - t).abs() <= SPIKE_WINDOW_MS)
        {
            continue;
        }
        let k = (t / dt).round() as usize;
        max_dv = max_dv.max((trace[k] - v).abs());
    }
    if v_tolerance.is_some_and(|tol| max_dv > tol) {
        problems.push(format!(
            "V away from spikes differs by up to {max_dv:.3} mV"
        ));
    }
    Outcome {
        name: name.to_string(),
        spikes: reference.spikes.len(),
        max_spike_shift,
        max_dv,
        problems,
    }
}

fn fixture_names() -> Vec<String> {
    let dir = repo().join("tests/fixtures/braincell");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/braincell")
        .filter_map(Result::ok)
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            n.strip_prefix("cell_")
                .and_then(|n| n.strip_suffix(".chan"))
                .map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

#[test]
fn every_stdlib_channel_matches_braincell() {
    let names = fixture_names();
    assert!(
        names.len() >= 112,
        "only {} braincell fixtures",
        names.len()
    );
    for (n, ..) in INTEGRATOR_LIMITED {
        assert!(
            names.iter().any(|x| x == n),
            "{n} is listed but has no fixture"
        );
    }
    let outcomes: Vec<Outcome> = names.iter().map(|n| compare(n)).collect();
    let mut report = String::new();
    for o in &outcomes {
        report.push_str(&format!(
            "{:<28} {:>2} spikes  max shift {:.3} ms  max |dV| {:.4} mV{}\n",
            o.name,
            o.spikes,
            o.max_spike_shift,
            o.max_dv,
            if o.problems.is_empty() {
                String::new()
            } else {
                format!("  FAIL: {}", o.problems.join("; "))
            }
        ));
    }
    eprintln!("{report}");
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.problems.is_empty()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} channels differ from braincell:\n{report}",
        failed.len(),
        outcomes.len()
    );
}

/// The fixtures cover the library: every stdlib channel that braincell ships has one. The pool
/// has none of its own, and NEURON's and Arbor's `hh` and `pas` are checked against NEURON
/// (tests/cable.rs).
#[test]
fn every_stdlib_channel_has_a_braincell_fixture() {
    let names = fixture_names();
    let stdlib = repo().join("stdlib");
    // NEURON's synapses and the gap junction's site are checked against NEURON with the
    // networks (tests/network.rs).
    let pools = [
        "CalciumDetailed",
        "hh",
        "pas",
        "ExpSyn",
        "Exp2Syn",
        "IClamp",
        "SEClamp",
        "VClamp",
        "NetStim",
        "IntFire1",
        "AlphaSynapse",
        "IntFire2",
        "IntFire4",
        "Gap",
    ];
    let mut missing = Vec::new();
    for e in std::fs::read_dir(&stdlib)
        .expect("stdlib")
        .filter_map(Result::ok)
    {
        let n = e.file_name().to_string_lossy().to_string();
        let Some(stem) = n.strip_suffix(".chan") else {
            continue;
        };
        if !pools.contains(&stem) && !names.iter().any(|x| x == stem) {
            missing.push(stem.to_string());
        }
    }
    missing.sort();
    assert!(missing.is_empty(), "no braincell fixture for {missing:?}");
}

/// With `method = exp_rosenbrock` hhc takes braincell's own coupled step, so every channel
/// reproduces braincell's trace: identical spike steps, and V within 1e-3 mV at every stored
/// sample, spikes included (the fixtures keep 6 significant digits).
#[test]
fn exp_rosenbrock_reproduces_braincell_for_every_channel() {
    let mut report = String::new();
    let mut failed = 0;
    for name in fixture_names() {
        let dir = repo().join("tests/fixtures/braincell");
        let reference = read_reference(&dir.join(format!("{name}.csv")));
        let mut model = load(&format!("tests/fixtures/braincell/cell_{name}.chan"));
        model.method = StepMethod::ExpRosenbrock;
        let (_, r) = run(&model, Precision::F64, 1);
        let spikes: Vec<f64> = r
            .spikes
            .iter()
            .map(|&(_, k)| (k + 1) as f64 * model.dt)
            .collect();
        let same_spikes = spikes.len() == reference.spikes.len()
            && spikes
                .iter()
                .zip(&reference.spikes)
                .all(|(a, b)| (a - b).abs() < 1e-6);
        let max_dv = reference
            .trace
            .iter()
            .map(|&(t, v)| (r.traces[0][(t / model.dt).round() as usize] - v).abs())
            .fold(0.0, f64::max);
        let ok = same_spikes && max_dv <= 1e-3;
        if !ok {
            failed += 1;
        }
        report.push_str(&format!(
            "{name:<28} spikes {}  max |dV| {max_dv:.2e} mV{}\n",
            spikes.len(),
            if ok { "" } else { "  FAIL" }
        ));
    }
    eprintln!("{report}");
    assert_eq!(
        failed, 0,
        "{failed} channels differ from braincell under exp_rosenbrock:\n{report}"
    );
}
