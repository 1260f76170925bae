//! NEURON idioms from real `.mod` files, run: each against an equivalent written the modern way.

use hhc_compiler::passes::mathlib::Precision;
use hhc_tests::{load, repo, run};

/// Each mechanism of `mods` (its SUFFIX, its source) written into one temporary folder, and the
/// model `model(suffix)` (a point cell inserting it) run there: each one's V trace and spikes.
fn run_each(
    tag: &str,
    mods: &[(&str, &str)],
    model: impl Fn(&str) -> String,
) -> Vec<(Vec<f64>, u64)> {
    let dir = std::env::temp_dir().join(format!("hhc-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (name, source) in mods {
        std::fs::write(dir.join(format!("{name}.mod")), source).expect("write mod");
    }
    let out = mods
        .iter()
        .map(|(name, _)| {
            let path = dir.join(format!("model_{name}.chan"));
            std::fs::write(&path, model(name)).expect("write model");
            let (_, r) = run(&load(path.to_str().expect("utf-8")), Precision::F64, 1);
            (r.traces[0].clone(), r.total_spikes)
        })
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    out
}

/// Runs `model` (whose fixture `v.csv` beside it holds NEURON's t, V and then `states`, every
/// step) with `states` traced, and checks each column against NEURON's within its tolerance
/// (V's first). Returns the run and NEURON's rows.
fn traced_against_neuron(
    model: &std::path::Path,
    states: &[&str],
    tolerances: &[f64],
) -> (hhc_runtime::simulation::Outcome, Vec<Vec<f64>>) {
    let absolute: Vec<(f64, bool)> = tolerances.iter().map(|&t| (t, false)).collect();
    hhc_tests::traced_against_neuron_csv(model, &model.with_file_name("v.csv"), states, &absolute)
}

/// The largest |a − b| between two traces.
fn max_difference(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// A state advanced by a SOLVEd PROCEDURE (`m = m + (1 - exp(-dt/tau))*(minf - m)`, the style
/// of many older ModelDB files), with a `v = v + 1e-4` guard in its rates procedure, runs as
/// the same gate written as a DERIVATIVE under METHOD cnexp: the update is the same formula.
#[test]
fn a_solved_procedure_advances_states_as_written() {
    let procedure = std::fs::read_to_string(repo().join("tests/fixtures/leakgate_procedure.mod"))
        .expect("fixture");
    let derivative = procedure
        .replace("SUFFIX leakgate_procedure", "SUFFIX leakgate_cnexp")
        .replace("SOLVE states ", "SOLVE states METHOD cnexp ")
        .replace("PROCEDURE states() {", "DERIVATIVE states {")
        .replace(
            "m = m + (1 - exp(-dt/tau))*(minf - m)",
            "m' = (minf - m)/tau",
        );
    assert_ne!(procedure, derivative);
    let runs = run_each(
        "dialect",
        &[
            ("leakgate_procedure", &procedure),
            ("leakgate_cnexp", &derivative),
        ],
        |m| {
            format!("CELL C {{ ION na {{ e = 50 (mV) }} ION k {{ e = -77 (mV) }} INSERT Na_HH1952 INSERT K_HH1952 INSERT {m} }}\nSIMULATE {{ cell = C  dt = 0.025 (ms)  tstop = 50 (ms)  stimulus = 10 (uA/cm2) }}\n")
        },
    );
    assert!(
        runs.iter().all(|r| r.1 == 5),
        "spikes {:?}",
        runs.iter().map(|r| r.1).collect::<Vec<_>>()
    );
    let worst = max_difference(&runs[0].0, &runs[1].0);
    assert!(worst < 1e-9, "procedure and cnexp differ by {worst} mV");
}

/// A file-scope LOCAL used as a cache (`if (s_celsius != celsius) { s_celsius = celsius  Q = … }`,
/// from NEURON's own nacaex.mod) computes the cached value, as NEURON's static variables that
/// start at 0 do.
#[test]
fn a_file_scope_local_cache_is_filled_on_first_use() {
    let cached = "NEURON { SUFFIX leakq NONSPECIFIC_CURRENT i }\nPARAMETER { g = 0.0003 (mho/cm2) e = -54.4 (mV) }\nASSIGNED { v (mV) i (mA/cm2) celsius (degC) }\nLOCAL s_celsius, Q\nBREAKPOINT {\n  if (s_celsius*1(degC) != celsius) {\n    s_celsius = celsius\n    Q = 3^((celsius - 6.3)/10 (degC))\n  }\n  i = g*Q*(v - e)\n}\n";
    let direct = "NEURON { SUFFIX leakq NONSPECIFIC_CURRENT i }\nPARAMETER { g = 0.0003 (mho/cm2) e = -54.4 (mV) }\nASSIGNED { v (mV) i (mA/cm2) celsius (degC) }\nBREAKPOINT { i = g*3^((celsius - 6.3)/10 (degC))*(v - e) }\n";
    let dir = std::env::temp_dir().join(format!("hhc-cache-{}", std::process::id()));
    let traces: Vec<Vec<f64>> = [("cached", cached), ("direct", direct)]
        .iter()
        .map(|(name, src)| {
            let d = dir.join(name);
            std::fs::create_dir_all(&d).expect("temp dir");
            std::fs::write(d.join("leakq.mod"), src).expect("write");
            std::fs::write(
                d.join("model.chan"),
                "CELL C { v_init = -70 (mV) INSERT leakq }\nSIMULATE { cell = C  dt = 0.025 (ms)  tstop = 5 (ms)  celsius = 16.3 (degC) }\n",
            )
            .expect("write");
            let model = load(d.join("model.chan").to_str().expect("utf-8"));
            run(&model, Precision::F64, 1).1.traces[0].clone()
        })
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(traces[0].last() != traces[0].first(), "V relaxes toward e");
    assert_eq!(traces[0], traces[1]);
}

/// A name in a reaction that is not a STATE is a constant concentration (NEURON's release.mod
/// has `~ GenVes <-> Ves (kt, kt)` with GenVes a PARAMETER): it enters the flux and has no
/// equation. Written instead as an influx `~ o << (k*src)` and a decay into an unread state,
/// the same scheme gives the same trace.
#[test]
fn a_parameter_in_a_reaction_is_a_constant_source() {
    let mechanism = |name: &str, scheme: &str| {
        format!(
            "NEURON {{ SUFFIX {name} NONSPECIFIC_CURRENT i }}\nPARAMETER {{ src = 0.8  k = 0.5 (/ms)  g = 0.002 (S/cm2)  e = -90 (mV) }}\nASSIGNED {{ v (mV)  i (mA/cm2) }}\nSTATE {{ o  sink }}\nINITIAL {{ o = 0  sink = 0 }}\nBREAKPOINT {{ SOLVE kin METHOD sparse  i = g*o*(v - e) }}\nKINETIC kin {{ {scheme} }}\n"
        )
    };
    let param = mechanism("srcparam", "~ src <-> o (k, k)  ~ sink <-> sink (0, 0)");
    let flux = mechanism("srcflux", "~ o << (k*src)  ~ o <-> sink (k, 0)");
    let runs = run_each(
        "reaction",
        &[("srcparam", &param), ("srcflux", &flux)],
        |m| {
            format!("CELL C {{ ION na {{ e = 50 (mV) }} ION k {{ e = -77 (mV) }} INSERT Na_HH1952 INSERT K_HH1952 INSERT {m} }}\nSIMULATE {{ cell = C  dt = 0.025 (ms)  tstop = 30 (ms)  stimulus = 10 (uA/cm2) }}\n")
        },
    );
    let worst = max_difference(&runs[0].0, &runs[1].0);
    // The current pulls V towards -90 mV as o rises towards src: the two runs see it alike.
    assert!(worst < 1e-9, "the two schemes differ by {worst} mV");
}

/// A calcium pool written the ModelDB way (`STATE { ca }`, `cai = ca` after the equation and in
/// INITIAL, `USEION ca READ ica, cai WRITE cai`) runs as the same pool with `cai` as its STATE:
/// NEURON runs the block with the equation replaced by its update, so `cai` takes the new `ca`.
/// The pool's cai drives the Ca-activated K current, so V shows it.
#[test]
fn a_modeldb_style_calcium_pool_runs_as_a_state_pool() {
    let modeldb =
        std::fs::read_to_string(repo().join("tests/fixtures/capool_modeldb.mod")).expect("fixture");
    let modern = modeldb
        .replace("SUFFIX capool_modeldb", "SUFFIX capool_state")
        .replace("RANGE ca, taur", "RANGE taur")
        .replace("READ ica, cai WRITE cai", "READ ica WRITE cai")
        .replace("    cai            (mM)\n", "")
        .replace("ca             (mM) <1e-5>", "cai (mM)")
        .replace("    ca = cainf\n    cai = ca\n", "    cai = cainf\n")
        .replace(
            "ca' = drive_channel + (cainf - ca) / taur\n    cai = ca",
            "cai' = drive_channel + (cainf - cai) / taur",
        );
    assert_ne!(modern, modeldb);
    let runs = run_each(
        "capool",
        &[("capool_modeldb", &modeldb), ("capool_state", &modern)],
        |pool| {
            format!("CELL C {{ ION na {{ e = 50 (mV) }} ION k {{ e = -77 (mV) }} ION ca {{ cao = 2 (mM) }}\n INSERT Na_HH1952 INSERT K_HH1952 INSERT IL {{ E = -54.387 (mV)  g_max = 0.03 (mS/cm2) }}\n INSERT {pool} INSERT CaT_HM1992 {{ g_max = 2 (mS/cm2) }} INSERT AHP_De1994 {{ g_max = 10 (mS/cm2)  beta = 0.03 }} }}\nSIMULATE {{ cell = C  dt = 0.01 (ms)  tstop = 200 (ms)  stimulus = 10 (uA/cm2) }}\n")
        },
    );
    assert!(
        runs.iter().all(|r| r.1 > 3),
        "spikes {:?}",
        runs.iter().map(|r| r.1).collect::<Vec<_>>()
    );
    let worst = max_difference(&runs[0].0, &runs[1].0);
    assert!(worst < 1e-5, "V differs by up to {worst} mV");
}

/// `printf(…)` in a block (LFPy's ExpSynI warns so) is accepted and prints nothing: the
/// mechanism is the same as without it.
#[test]
fn printf_is_accepted_and_changes_nothing() {
    let plain = "NEURON { SUFFIX leak NONSPECIFIC_CURRENT i }\nPARAMETER { g = 0.001 (S/cm2) e = -65 (mV) }\nASSIGNED { v (mV) i (mA/cm2) }\nBREAKPOINT { i = g*(v - e) }\n";
    let printing = plain.replace(
        "BREAKPOINT { i",
        "BREAKPOINT { printf(\"v = %g at %g\\n\", v, t) i",
    );
    assert_ne!(plain, printing);
    let ir = |src: &str| {
        hhc_compiler::compile_mechanism(src)
            .map(|m| hhc_compiler::ir::print::print_mechanism(&m))
            .unwrap_or_else(|d| panic!("{:?}", d.iter().map(|d| &d.message).collect::<Vec<_>>()))
    };
    assert_eq!(ir(plain), ir(&printing));
}

/// `sin` and `cos` (LFPy's SinSyn drives a cell with `sin(2*PI*freq*t)`): a sinusoidal current
/// into a passive cell, the JIT's trace against the interpreter stepping the same program
/// (NEURON's C `sin`, through std's), and the response oscillates at the drive's period.
#[test]
fn a_sinusoidal_current_runs_as_the_interpreter_steps_it() {
    let dir = std::env::temp_dir().join(format!("hhc-sin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(
        dir.join("sindrive.mod"),
        "NEURON { SUFFIX sindrive NONSPECIFIC_CURRENT i RANGE amp, freq }\nPARAMETER { amp = 0.002 (mA/cm2) freq = 50 (/s) }\nASSIGNED { v (mV) i (mA/cm2) }\nBREAKPOINT { i = -amp*(sin(2*PI*freq*t*(0.001)) + 0.5*cos(4*PI*freq*t*(0.001))) }\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("model.chan"),
        "CELL C { v_init = -65 (mV) INSERT IL { E = -65 (mV)  g_max = 0.1 (mS/cm2) } INSERT sindrive }\nSIMULATE { cell = C  dt = 0.025 (ms)  tstop = 100 (ms) }\n",
    )
    .expect("write");
    let model = load(dir.join("model.chan").to_str().expect("utf-8"));
    let (program, r) = run(&model, Precision::F64, 1);
    let trace = &r.traces[0];
    let mut cell = vec![model.cell.v_init];
    for k in 0..4000 {
        hhc_compiler::ir::interp::run_cell(&program, &mut cell, k as f64 * model.dt, 1);
        let (a, b) = (trace[k + 1], cell[0]);
        assert!(
            (a - b).abs() <= 1e-9,
            "step {k}: JIT {a} mV, interpreter {b} mV"
        );
    }
    // Driven at 50 Hz: V a period (20 ms) apart agrees once the start has decayed.
    let at = |ms: f64| trace[(ms / model.dt).round() as usize];
    assert!((at(83.0) - at(63.0)).abs() < 0.05 * (at(63.0) - at(73.0)).abs().max(1e-3));
    assert!((at(63.0) - at(73.0)).abs() > 1.0, "V swings with the drive");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A LINEAR block solved in INITIAL (the initial equilibrium of a kinetic scheme, as bmtk's
/// Allen NaV.mod sets it) gives the states the scheme's steady state: the same cell with
/// `SOLVE kin STEADYSTATE sparse` instead runs the same trace, within what NEURON's one
/// backward-Euler step of 1e9 ms (a `.mod` file's steady state) leaves of the exact one
/// (5e-7 mV here).
#[test]
fn a_linear_block_sets_the_initial_equilibrium() {
    let linear = std::fs::read_to_string(repo().join("tests/fixtures/kinetic_linear_init.mod"))
        .expect("fixture");
    let steady = linear
        .replace("SUFFIX nalin", "SUFFIX nass")
        .replace("SOLVE seqinitial", "SOLVE kin STEADYSTATE sparse");
    let closed = linear
        .replace("SUFFIX nalin", "SUFFIX naclosed")
        .replace("SOLVE seqinitial", "C = 1  O = 0  I = 0");
    assert_ne!(linear, steady);
    let runs = run_each(
        "linear",
        &[("nalin", &linear), ("nass", &steady), ("naclosed", &closed)],
        |m| {
            format!("CELL C {{ v_init = -60 (mV) ION na {{ e = 50 (mV) }} ION k {{ e = -77 (mV) }} INSERT K_HH1952 INSERT IL {{ E = -60 (mV) g_max = 0.3 (mS/cm2) }} INSERT {m} }}\nSIMULATE {{ cell = C  dt = 0.025 (ms)  tstop = 30 (ms)  stimulus = pulse(20 (uA/cm2), 5 (ms), 1 (ms)) }}\n")
        },
    );
    // Where the channel starts matters: all closed, the trace is another.
    assert!((runs[0].0[40] - runs[2].0[40]).abs() > 0.1);
    let worst = max_difference(&runs[0].0, &runs[1].0);
    assert!(worst < 1e-5, "V differs by up to {worst} mV");
}

/// `VERBATIM return 0; ENDVERBATIM` closing a PROCEDURE (NEURON's vclmp.mod and many ModelDB
/// files) changes nothing: the mechanism is the same as without it.
#[test]
fn a_closing_return_zero_in_verbatim_is_accepted() {
    let plain = "NEURON { SUFFIX leak NONSPECIFIC_CURRENT i }\nPARAMETER { g = 0.001 (S/cm2) e = -65 (mV) }\nASSIGNED { v (mV) i (mA/cm2) gg (S/cm2) }\nBREAKPOINT { set() i = gg*(v - e) }\nPROCEDURE set() {\n    gg = g\n}\n";
    let verbatim = plain.replace(
        "    gg = g\n}",
        "    gg = g\n    VERBATIM\n    return 0;\n    ENDVERBATIM\n}",
    );
    assert_ne!(plain, verbatim);
    let ir = |src: &str| {
        hhc_compiler::compile_mechanism(src)
            .map(|m| hhc_compiler::ir::print::print_mechanism(&m))
            .unwrap_or_else(|d| panic!("{:?}", d.iter().map(|d| &d.message).collect::<Vec<_>>()))
    };
    assert_eq!(ir(plain), ir(&verbatim));
    // Before other statements it would skip them: refused.
    let early = plain.replace(
        "    gg = g\n}",
        "    VERBATIM\n    return 0;\n    ENDVERBATIM\n    gg = g\n}",
    );
    assert!(hhc_compiler::compile_mechanism(&early)
        .is_err_and(|d| d.iter().any(|d| d.message.contains("return 0;"))));
}

/// An ASSIGNED value that only INITIAL computes (`rates(v)` there, none in DERIVATIVE) holds
/// its initial value for the whole run, as NEURON's stored ASSIGNED values do: the gate runs as
/// the same gate whose DERIVATIVE computes the rates at the fixed v_init every step.
#[test]
fn an_assigned_value_set_only_in_initial_holds_it() {
    let held = "NEURON { SUFFIX heldgate USEION k READ ek WRITE ik RANGE gbar }\nPARAMETER { gbar = 0.01 (S/cm2) }\nASSIGNED { v (mV) ek (mV) ik (mA/cm2) minf mtau (ms) }\nSTATE { m }\nINITIAL { rates(v) m = 0 }\nBREAKPOINT { SOLVE states METHOD cnexp ik = gbar*m*(v - ek) }\nDERIVATIVE states { m' = (minf - m)/mtau }\nPROCEDURE rates(vm (mV)) {\n    UNITSOFF\n    minf = 1/(1 + exp(-(vm + 40)/5))\n    mtau = 2 + 10*exp(-(vm + 60)*(vm + 60)/400)\n    UNITSON\n}\n";
    let fixed = held.replace("SUFFIX heldgate", "SUFFIX fixedgate").replace(
        "DERIVATIVE states { m'",
        "DERIVATIVE states { rates(-65) m'",
    );
    assert_ne!(held, fixed);
    let runs = run_each("held", &[("heldgate", held), ("fixedgate", &fixed)], |m| {
        format!("CELL C {{ v_init = -65 (mV) ION na {{ e = 50 (mV) }} ION k {{ e = -77 (mV) }} INSERT Na_HH1952 INSERT K_HH1952 INSERT IL {{ E = -54.387 (mV) g_max = 0.03 (mS/cm2) }} INSERT {m} }}\nSIMULATE {{ cell = C  dt = 0.01 (ms)  tstop = 50 (ms)  stimulus = 10 (uA/cm2) }}\n")
    });
    assert!(runs.iter().all(|r| r.1 > 0));
    let worst = max_difference(&runs[0].0, &runs[1].0);
    assert!(worst < 1e-5, "V differs by up to {worst} mV");
}

/// `while` loops (IntFire2's Newton iteration, IntFire4's bisection) run unrolled: a Newton
/// loop for the cube root of a v-dependent quantity gives the same current as `pow`; a loop
/// that has not ended after the last pass gives NaN, which stops the run, never a silently
/// truncated value.
#[test]
fn while_loops_run_to_their_end_or_say_they_did_not() {
    let newton = "NEURON { SUFFIX cbrtleak NONSPECIFIC_CURRENT i }\nPARAMETER { g = 0.0001 (S/cm2) }\nASSIGNED { v (mV) i (mA/cm2) }\nUNITSOFF\nBREAKPOINT { i = g*(root(v + 100) - 4)*(v + 65) }\nFUNCTION root(a) {\n    LOCAL x, dx\n    x = a\n    dx = 1\n    while (fabs(dx) > 1e-13*x) {\n        dx = (x*x*x - a)/(3*x*x)\n        x = x - dx\n    }\n    root = x\n}\nUNITSON\n";
    let closed = "NEURON { SUFFIX cbrtpow NONSPECIFIC_CURRENT i }\nPARAMETER { g = 0.0001 (S/cm2) }\nASSIGNED { v (mV) i (mA/cm2) }\nUNITSOFF\nBREAKPOINT { i = g*(pow(v + 100, 1/3) - 4)*(v + 65) }\nUNITSON\n";
    let endless = newton
        .replace("SUFFIX cbrtleak", "SUFFIX cbrtendless")
        .replace("fabs(dx) > 1e-13*x", "x > -1");
    let model = |m: &str| {
        format!("CELL C {{ ION na {{ e = 50 (mV) }} ION k {{ e = -77 (mV) }} INSERT Na_HH1952 INSERT K_HH1952 INSERT IL INSERT {m} }}\nSIMULATE {{ cell = C  dt = 0.025 (ms)  tstop = 40 (ms)  stimulus = 10 (uA/cm2) }}\n")
    };
    let runs = run_each("while", &[("cbrtleak", newton), ("cbrtpow", closed)], model);
    assert!(runs.iter().all(|r| r.1 > 0));
    let worst = max_difference(&runs[0].0, &runs[1].0);
    assert!(worst < 1e-9, "V differs by up to {worst} mV");
    let dir = std::env::temp_dir().join(format!("hhc-endless-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("cbrtendless.mod"), &endless).expect("write");
    std::fs::write(dir.join("model.chan"), model("cbrtendless")).expect("write");
    let stopped = hhc_runtime::simulation::Simulation::from_file(
        &dir.join("model.chan"),
        &hhc_runtime::simulation::Request::default(),
    )
    .expect("set up")
    .run(None, None);
    assert!(stopped.is_err_and(|s| s.error.to_string().contains("blow-up")));
    let _ = std::fs::remove_dir_all(&dir);
}

/// NEURON's other DERIVATIVE methods, as NEURON runs them, against NEURON 9.0.2 running the same
/// files (harness/neuron/methods.py): forward Euler (a Ca gate), fourth-order Runge–Kutta (a
/// two-state K scheme) and derivimplicit, backward Euler by Newton (a nonlinear K gate).
/// NEURON's Newton stops at its own tolerance, so V agrees within 1e-5 mV, not to the last bit.
#[test]
fn euler_runge_and_derivimplicit_run_as_in_neuron() {
    let dir = "tests/fixtures/neuron/methods";
    let text = std::fs::read_to_string(repo().join(dir).join("methods.csv")).expect("fixture");
    let neuron: Vec<f64> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).expect("v").parse().expect("number"))
        .collect();
    let mut s = hhc_runtime::simulation::Simulation::from_file(
        &repo().join(dir).join("methods.chan"),
        &hhc_runtime::simulation::Request::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let r = s.run(None, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.total_spikes, 8);
    assert_eq!(neuron.len(), r.traces[0].values.len());
    let worst = neuron
        .iter()
        .zip(&r.traces[0].values)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-5, "V differs from NEURON's by up to {worst} mV");
}

/// A `derivimplicit` step that Newton's method has not solved after its steps (a stiff cubic
/// decay at dt = 0.025 ms) stops the run with the blow-up error instead of running on with an
/// unconverged state.
#[test]
fn an_unconverged_derivimplicit_step_stops_the_run() {
    let stiff = "NEURON { SUFFIX stiffcubic NONSPECIFIC_CURRENT i }\nPARAMETER { g = 0.0001 (S/cm2) }\nASSIGNED { v (mV) i (mA/cm2) }\nSTATE { s }\nINITIAL { s = 1 }\nBREAKPOINT { SOLVE states METHOD derivimplicit i = g*s*(v + 65) }\nUNITSOFF\nDERIVATIVE states { s' = -1e6*s*s*s }\nUNITSON\n";
    let dir = std::env::temp_dir().join(format!("hhc-stiff-{}", std::process::id()));
    stops_with_a_blow_up(&dir, "stiffcubic", stiff);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes mechanism `name` (its `source`) into `dir` beside a point cell that inserts it with
/// IL, and checks that the run stops with the blow-up error.
fn stops_with_a_blow_up(dir: &std::path::Path, name: &str, source: &str) {
    std::fs::create_dir_all(dir).expect("temp dir");
    std::fs::write(dir.join(format!("{name}.mod")), source).expect("write");
    std::fs::write(
        dir.join("model.chan"),
        format!("CELL C {{ INSERT IL INSERT {name} }}\nSIMULATE {{ cell = C  dt = 0.025 (ms)  tstop = 5 (ms) }}\n"),
    )
    .expect("write");
    let stopped = hhc_runtime::simulation::Simulation::from_file(
        &dir.join("model.chan"),
        &hhc_runtime::simulation::Request::default(),
    )
    .expect("set up")
    .run(None, None);
    assert!(
        stopped
            .as_ref()
            .is_err_and(|s| s.error.to_string().contains("blow-up")),
        "{name}: {:?}",
        stopped.map(|r| r.steps_done)
    );
}

/// A written concentration that BREAKPOINT sets each step (neurodamus's TTXDynamicsSwitch:
/// `ttxo = ttxo_level`, an ASSIGNED in `WRITE ttxo`) takes that value for the next step, and a
/// mechanism that reads it sees it: set to the INITIAL value, nothing changes; set to another,
/// the traced concentration is that value from the first step on and V follows it; set in
/// BREAKPOINT alone, it starts at the ion's value (NEURON 9.0.2 records the same: INITIAL's, or
/// the ion's, at t = 0, then BREAKPOINT's).
#[test]
fn a_concentration_set_in_breakpoint_holds_each_step() {
    let switch = |name: &str, initial: &str, each_step: &str| {
        format!("NEURON {{ SUFFIX {name} USEION ttx WRITE ttxo VALENCE 1 }}\nASSIGNED {{ ttxo (mM) }}\nINITIAL {{ ttxo = {initial} }}\nBREAKPOINT {{ {each_step} }}\n")
    };
    let reader = "NEURON { SUFFIX ttxleak USEION ttx READ ttxo VALENCE 1 NONSPECIFIC_CURRENT i }\nPARAMETER { g = 0.002 (S/cm2)  e = -90 (mV) }\nASSIGNED { v (mV)  i (mA/cm2)  ttxo (mM) }\nBREAKPOINT { i = g*ttxo/(ttxo + 0.001 (mM))*(v - e) }\n";
    let dir = std::env::temp_dir().join(format!("hhc-ttx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("ttxleak.mod"), reader).expect("write");
    let variants = [
        ("held", switch("held", "0.001", "ttxo = 0.001")),
        ("initial", switch("initial", "0.001", "")),
        ("raised", switch("raised", "0.001", "ttxo = 0.003")),
        // No INITIAL: the ion's starting value (1 mM for an ion hhc does not know), then
        // BREAKPOINT's from the first step, as NEURON 9.0.2 records it.
        (
            "bponly",
            "NEURON { SUFFIX bponly USEION ttx WRITE ttxo VALENCE 1 }\nASSIGNED { ttxo (mM) }\nBREAKPOINT { ttxo = 0.002 }\n".to_string(),
        ),
    ];
    let mut runs = Vec::new();
    for (name, source) in &variants {
        std::fs::write(dir.join(format!("{name}.mod")), source).expect("write");
        let model = dir.join(format!("{name}.chan"));
        std::fs::write(
            &model,
            format!("CELL C {{ v_init = -65 (mV) INSERT {name} INSERT ttxleak }}\nSIMULATE {{ cell = C  dt = 0.025 (ms)  tstop = 5 (ms) }}\n"),
        )
        .expect("write");
        let request = hhc_runtime::simulation::Request {
            record_states: vec![format!("{name}.ttxo")],
            ..Default::default()
        };
        let r = hhc_runtime::simulation::Simulation::from_file(&model, &request)
            .unwrap_or_else(|e| panic!("{e}"))
            .run(None, None)
            .unwrap_or_else(|e| panic!("{e}"));
        runs.push(r);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let (held, initial, raised, bponly) = (&runs[0], &runs[1], &runs[2], &runs[3]);
    let ttyo = &bponly.traces[1].values;
    assert_eq!(ttyo[0], 1.0);
    assert!(ttyo[1..].iter().all(|&x| x == 0.002), "{:?}", &ttyo[..4]);
    assert_eq!(held.traces[0].values, initial.traces[0].values);
    assert!(held.traces[1].values.iter().all(|&x| x == 0.001));
    let ttxo = &raised.traces[1].values;
    assert_eq!(ttxo[0], 0.001);
    assert!(ttxo[1..].iter().all(|&x| x == 0.003), "{:?}", &ttxo[..4]);
    let worst = max_difference(&raised.traces[0].values, &held.traces[0].values);
    assert!(
        worst > 1e-3,
        "the reader's current follows ttxo: V moves by {worst} mV"
    );
}

/// Arrays and FROM loops (tests/fixtures/neuron/arrays/chainarr.mod: a DEFINEd size, STATE,
/// ASSIGNED and LOCAL arrays, loops in a PROCEDURE and around KINETIC reactions), expanded into
/// their elements when the file is read: against NEURON 9.0.2 running the same file
/// (harness/neuron/arrays.py), V and the open state `s[3]` at every step; and bit for bit the
/// same scheme written with one name per element.
#[test]
fn arrays_and_from_loops_run_as_in_neuron() {
    let fixture = repo().join("tests/fixtures/neuron/arrays");
    let (r, rows) = traced_against_neuron(
        &fixture.join("arrays.chan"),
        &["chainarr.s[3]"],
        &[1e-8, 1e-9],
    );
    assert_eq!(r.traces[1].name, "soma(0.5) chainarr.s[3]");
    assert!(rows.iter().any(|row| row[2] > 0.05), "the channel opens");
    assert_eq!(r.total_spikes, 6);

    let arrays = std::fs::read_to_string(fixture.join("chainarr.mod")).expect("mod");
    let scalars = "NEURON { SUFFIX chainsc USEION k READ ek WRITE ik RANGE gbar }\nUNITS { (mV) = (millivolt) (mA) = (milliamp) (S) = (siemens) }\nPARAMETER { gbar = 0.02 (S/cm2)  kf0 = 0.4 (/ms) }\nASSIGNED { v (mV) ek (mV) ik (mA/cm2) kb0 (/ms) kb1 (/ms) kb2 (/ms) }\nSTATE { s0 s1 s2 s3 }\nINITIAL { rates(v)  s0 = 1  s1 = 0  s2 = 0  s3 = 0 }\nBREAKPOINT { SOLVE kin METHOD sparse  ik = gbar*s3*(v - ek) }\nPROCEDURE rates(v (mV)) {\n    kb0 = 0.5*exp(-(v + 40)/(20 (mV)))*(1 (/ms))\n    kb1 = 1*exp(-(v + 40)/(20 (mV)))*(1 (/ms))\n    kb2 = 1.5*exp(-(v + 40)/(20 (mV)))*(1 (/ms))\n}\nKINETIC kin {\n    rates(v)\n    ~ s0 <-> s1 (kf0, kb0)\n    ~ s1 <-> s2 (kf0, kb1)\n    ~ s2 <-> s3 (kf0, kb2)\n}\n";
    let runs = run_each(
        "arrays",
        &[("chainarr", &arrays), ("chainsc", scalars)],
        |m| {
            format!("CELL C {{ ION na {{ e = 50 (mV) }} ION k {{ e = -77 (mV) }} INSERT Na_HH1952 INSERT K_HH1952 INSERT {m} }}\nSIMULATE {{ cell = C  dt = 0.025 (ms)  tstop = 50 (ms)  stimulus = 10 (uA/cm2) }}\n")
        },
    );
    assert_eq!(runs[0], runs[1]);
    assert!(runs[0].1 > 0, "the cell fires");
}

/// A nonlinear KINETIC scheme (tests/fixtures/neuron/buffer/cabuf.mod: a calcium pool with a
/// mobile buffer, `~ cai + B <-> CaB`, filled through `~ cai << (…ica…)` by cachan.mod's current
/// in a firing hh soma), against NEURON 9.0.2 running the same files
/// (harness/neuron/buffer.py): each step is NEURON's Newton iteration with its stopping rule
/// (the states clamped at 0, until a step moves them by at most 1e-6 in all), and the pool
/// integrates the calcium current the step's solve used (NEURON's nrn_cur before nrn_state),
/// whose eca follows the pool by Nernst. cai, with the buffer nearly exhausted, and B within
/// 1e-11 mM, V within 1e-8 mV, at every step.
#[test]
fn a_nonlinear_kinetic_buffer_runs_as_in_neuron() {
    let fixture = repo().join("tests/fixtures/neuron/buffer");
    let (r, rows) = traced_against_neuron(
        &fixture.join("buffer.chan"),
        &["cabuf.cai", "cabuf.B"],
        &[1e-8, 1e-11, 1e-11],
    );
    // The buffer is nearly used up at the peak, where the scheme is far from linear.
    let least_b = rows.iter().map(|row| row[3]).fold(f64::INFINITY, f64::min);
    assert!(least_b < 0.01 * 0.02, "B falls to {least_b} mM");
    assert_eq!(r.total_spikes, 7);
}

/// COMPARTMENT makes a KINETIC scheme's equations amounts, `volume·x' = Σ flux`, and CONSERVE a
/// sum of amounts; `f_flux` and `b_flux` are the last reaction's fluxes. A scheme written that
/// way (c in a compartment of 4, m and o in one of 2, conserved, and an extra influx into o of
/// a tenth of the m–o reaction's net flux read through f_flux − b_flux) gives the trace of the
/// same scheme written with each state's fluxes over its volume as `<<` terms; without the extra
/// influx the trace differs.
#[test]
fn compartments_and_fluxes_scale_a_kinetic_scheme() {
    let mechanism = |name: &str, scheme: &str| {
        format!(
            "NEURON {{ SUFFIX {name} NONSPECIFIC_CURRENT i }}\nPARAMETER {{ kf = 0.3 (/ms)  kb = 0.1 (/ms)  g = 0.002 (S/cm2)  e = -90 (mV) }}\nASSIGNED {{ v (mV)  i (mA/cm2) }}\nSTATE {{ c  m  o }}\nINITIAL {{ c = 0.5  m = 0.25  o = 0 }}\nBREAKPOINT {{ SOLVE kin METHOD sparse  i = g*o*(v - e) }}\nKINETIC kin {{\n{scheme}\n}}\n"
        )
    };
    let compartments = mechanism(
        "compartments",
        "    COMPARTMENT 4 {c}\n    COMPARTMENT 2 {m o}\n    ~ c <-> m (kf*exp(v/50 (mV)), kb)\n    ~ m <-> o (kf, kb)\n    ~ o << (0.1*(f_flux - b_flux))",
    );
    let fluxes = |name: &str, extra: &str| {
        mechanism(
            name,
            &format!("    ~ c << ((kb*m - kf*exp(v/50 (mV))*c)/4)\n    ~ m << ((kf*exp(v/50 (mV))*c - kb*m - (kf*m - kb*o))/2)\n    ~ o << (((kf*m - kb*o){extra})/2)"),
        )
    };
    let spelled = fluxes("fluxes", " + 0.1*(kf*m - kb*o)");
    let without = fluxes("noextra", "");
    let runs = run_each(
        "compartment",
        &[
            ("compartments", &compartments),
            ("fluxes", &spelled),
            ("noextra", &without),
        ],
        |m| {
            format!("CELL C {{ ION na {{ e = 50 (mV) }} ION k {{ e = -77 (mV) }} INSERT Na_HH1952 INSERT K_HH1952 INSERT {m} }}\nSIMULATE {{ cell = C  dt = 0.025 (ms)  tstop = 30 (ms)  stimulus = 10 (uA/cm2) }}\n")
        },
    );
    let worst = max_difference(&runs[0].0, &runs[1].0);
    assert!(worst < 1e-9, "the two spellings differ by {worst} mV");
    assert!(runs[0].1 > 0, "the cell fires");
    let moved = max_difference(&runs[0].0, &runs[2].0);
    assert!(
        moved > 1e-3,
        "the influx through f_flux moves V by only {moved} mV"
    );
    // CONSERVE over states of one compartment counts amounts: 2·(m + o) = 0.5 (and the
    // compartment halves the rates).
    let amounts = mechanism(
        "amounts",
        "    COMPARTMENT 2 {m o}\n    ~ m <-> o (kf*exp(v/50 (mV)), kb)\n    CONSERVE m + o = 0.5",
    );
    let plain = mechanism(
        "plain",
        "    ~ m <-> o (kf*exp(v/50 (mV))/2, kb/2)\n    CONSERVE m + o = 0.25",
    );
    let runs = run_each(
        "conserve",
        &[("amounts", &amounts), ("plain", &plain)],
        |m| {
            format!("CELL C {{ ION na {{ e = 50 (mV) }} ION k {{ e = -77 (mV) }} INSERT Na_HH1952 INSERT K_HH1952 INSERT {m} }}\nSIMULATE {{ cell = C  dt = 0.025 (ms)  tstop = 30 (ms)  stimulus = 10 (uA/cm2) }}\n")
        },
    );
    let worst = max_difference(&runs[0].0, &runs[1].0);
    assert!(worst < 1e-9, "conserved amounts differ by {worst} mV");
}

/// What a KINETIC block assigns is kept as NEURON keeps it: scopmath's `sparse` calls the
/// block once more at the new states, so after each step `x = f_flux − b_flux` is the
/// reaction's net flux at the states the step reached; before the first step it holds what
/// INITIAL set (0), since no state update runs at initialisation. A state INITIAL leaves
/// alone starts at its PARAMETER `<name>0` (NMODL's implicit initial value) where there is one.
#[test]
fn a_kinetic_block_keeps_its_assignments_at_the_new_states() {
    let dir = std::env::temp_dir().join(format!("hhc-kinheld-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(
        dir.join("held.mod"),
        "NEURON { SUFFIX held NONSPECIFIC_CURRENT i }\nPARAMETER { k = 0.1 (/ms)  a0 = 0.75 }\nASSIGNED { v (mV) i (mA/cm2) x (/ms) }\nSTATE { a b }\nINITIAL { b = 0.25  x = 0 }\nBREAKPOINT { SOLVE kin METHOD sparse  i = 1e-6*x }\nKINETIC kin {\n    ~ a <-> b (k, k)\n    x = f_flux - b_flux\n}\n",
    )
    .expect("write mod");
    let model = dir.join("held.chan");
    std::fs::write(
        &model,
        "CELL C { v_init = -65 (mV) SECTION soma { L = 10 (um) diam = 10 (um) } INSERT held { } }\nSIMULATE { cell = C dt = 0.025 (ms) tstop = 1 (ms) probe = soma(0.5) }\n",
    )
    .expect("write model");
    let request = hhc_runtime::simulation::Request {
        record_states: vec!["held.x".into(), "held.a".into(), "held.b".into()],
        ..Default::default()
    };
    let r = hhc_runtime::simulation::Simulation::from_file(&model, &request)
        .unwrap_or_else(|e| panic!("{e}"))
        .run(None, None)
        .unwrap_or_else(|e| panic!("{e}"));
    // Trace 0 is V.
    let (x, a, b) = (
        &r.traces[1].values,
        &r.traces[2].values,
        &r.traces[3].values,
    );
    assert_eq!(x.len(), 41);
    assert_eq!((x[0], a[0], b[0]), (0.0, 0.75, 0.25));
    for n in 1..x.len() {
        let flux = 0.1 * (a[n] - b[n]);
        assert!(
            (x[n] - flux).abs() < 1e-15,
            "step {n}: x {} vs {flux}",
            x[n]
        );
    }
    // The scheme relaxes towards a = b.
    assert!(a[40] < 0.75 && a[40] > b[40] && b[40] > 0.25);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A FUNCTION that calls itself (PyNN's gammastim.mod recurses once) is inlined to a depth of
/// 8, as `while` loops are unrolled: `fact(4)` scales a leak exactly as 24 does; a call that
/// goes deeper for the v of the moment (`fact(|v|)` near −65 mV) gives NaN, which stops the
/// run with the blow-up error; and one that is always too deep (`fact(20)`) is an error
/// before the run.
#[test]
fn a_recursive_function_is_inlined_to_a_fixed_depth() {
    let leak = |name: &str, factor: &str| {
        format!("NEURON {{ SUFFIX {name} NONSPECIFIC_CURRENT i }}\nPARAMETER {{ g = 0.0001 (S/cm2)  e = -70 (mV) }}\nASSIGNED {{ v (mV) i (mA/cm2) }}\nBREAKPOINT {{ i = g*(v - e)*{factor}/24 }}\nFUNCTION fact(n) {{\n    if (n <= 1) {{ fact = 1 }} else {{ fact = n*fact(n - 1) }}\n}}\n")
    };
    let recursive = leak("factleak", "fact(4)");
    let plain = leak("plainleak", "24");
    let runs = run_each(
        "recursion",
        &[("factleak", &recursive), ("plainleak", &plain)],
        |m| {
            format!("CELL C {{ ION na {{ e = 50 (mV) }} ION k {{ e = -77 (mV) }} INSERT Na_HH1952 INSERT K_HH1952 INSERT {m} }}\nSIMULATE {{ cell = C  dt = 0.025 (ms)  tstop = 30 (ms)  stimulus = 10 (uA/cm2) }}\n")
        },
    );
    assert_eq!(runs[0].0, runs[1].0, "fact(4) is not 24");
    assert!(runs[0].1 > 0, "the cell fires");
    let dir = std::env::temp_dir().join(format!("hhc-deep-{}", std::process::id()));
    stops_with_a_blow_up(
        &dir,
        "deepleak",
        &leak("deepleak", "fact(fabs(v/(1 (mV))))"),
    );
    std::fs::write(dir.join("deepleak.mod"), leak("deepleak", "fact(20)")).expect("write");
    let refused = hhc_runtime::simulation::Simulation::from_file(
        &dir.join("model.chan"),
        &hhc_runtime::simulation::Request::default(),
    );
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("never returns")),
        "fact(20) was accepted"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// NEURON runs the state updates in its `memb_order_`: every mechanism that WRITEs a
/// concentration first, then the others, so a calcium-activated K current reads the cai its
/// pool advanced in the same step even when its file (akca.mod, SUFFIX kca) sorts before the
/// pool's (cad.mod). A firing soma with hh, a calcium current, the pool and kca, against NEURON
/// 9.0.2 running the same files (harness/neuron/order.py): V within 1e-8 mV and kca's n within
/// 1e-11 at every step, 13 spikes. Reading the step's start instead parts V by 0.13 mV.
#[test]
fn a_concentration_reader_follows_its_pool_as_in_neuron() {
    let model = repo().join("tests/fixtures/neuron/order/order.chan");
    let (r, _) = traced_against_neuron(&model, &["kca.n"], &[1e-8, 1e-11]);
    assert_eq!(r.total_spikes, 13);
}

/// A `.mod` file's ion left unset in the model is an error whose hint gives NEURON's default,
/// which the NEURON model the file comes from relied on without saying; hhc's own mechanisms'
/// hint does not.
#[test]
fn an_unset_ion_of_a_mod_file_is_refused_with_neurons_default() {
    let kleak = [(
        "kleak.mod",
        "NEURON { SUFFIX kleak USEION k READ ek WRITE ik RANGE g }\nPARAMETER { g = 0.001 (S/cm2) }\nASSIGNED { v (mV) ek (mV) ik (mA/cm2) }\nBREAKPOINT { ik = g*(v - ek) }\n",
    )];
    let source = "CELL c {\n    SECTION soma { L = 20 (um)  diam = 20 (um) }\n    INSERT kleak { }\n}\nSIMULATE { cell = c  dt = 0.025 (ms)  tstop = 1 (ms) }\n";
    let err = hhc_tests::load_beside(&kleak, "unset.chan", source).expect_err("refused");
    let own = source.replace("kleak", "K_HH1952");
    let own_err = hhc_tests::load_beside(&kleak, "own.chan", &own).expect_err("refused");
    assert!(
        err.contains(
            "`kleak` reads the reversal potential of ion `k`, which the cell does not set"
        ),
        "{err}"
    );
    assert!(
        err.contains("NEURON's default is `ION k { e = -77 (mV) }`"),
        "{err}"
    );
    assert!(
        own_err.contains("reversal potential of ion `k`"),
        "{own_err}"
    );
    assert!(!own_err.contains("NEURON's default"), "{own_err}");
}

/// A gate whose TABLE'd rates read `vhalf` (a PARAMETER: a table holds it) and, in a second
/// file, `cai` (which changes during a run: no table can hold it).
const TABLED_GATE: &str = "NEURON { SUFFIX tgate USEION k READ ek WRITE ik RANGE g, vhalf }
PARAMETER { g = 0.001 (S/cm2)  vhalf = -40 (mV) }
ASSIGNED { v (mV) ek (mV) ik (mA/cm2) minf mtau (ms) }
STATE { m }
INITIAL { rates(v)  m = minf }
BREAKPOINT { SOLVE states METHOD cnexp  ik = g*m*(v - ek) }
DERIVATIVE states { rates(v)  m' = (minf - m)/mtau }
PROCEDURE rates(v (mV)) {
    TABLE minf, mtau DEPEND vhalf FROM -100 TO 100 WITH 200
    minf = 1/(1 + exp(-(v - vhalf)/5))
    mtau = 1 + 4/(1 + exp((v + 30)/10))
}
";

/// Loads a cell with `mechanism` (one of `files`) inserted with `settings`: one cell, or with
/// `values` (a CSV's text) a population of two whose parameters come from it per cell.
fn load_with(
    files: &[(&str, &str)],
    mechanism: &str,
    settings: &str,
    values: Option<&str>,
) -> Result<(), String> {
    let cell = format!(
        "CELL c {{\n    ION k {{ e = -77 (mV) }}\n    SECTION soma {{ L = 20 (um)  diam = 20 (um) }}\n    INSERT {mechanism} {{ {settings} }}\n}}\n"
    );
    let mut files = files.to_vec();
    let source = match values {
        None => format!("{cell}SIMULATE {{ cell = c  dt = 0.025 (ms)  tstop = 1 (ms) }}\n"),
        Some(column) => {
            files.push(("each.csv", column));
            format!("{cell}NETWORK {{\n    POPULATION p = c {{ count = 2  values = each }}\n}}\nSIMULATE {{ dt = 0.025 (ms)  tstop = 1 (ms) }}\n")
        }
    };
    hhc_tests::load_beside(&files, "tables.chan", &source).map(|_| ())
}

/// `usetable = 1` reads a TABLE's values where its function reads parameters, and is refused
/// with why where a table cannot be computed ahead: the function reads a concentration, or a
/// parameter it reads varies along the cell. hhc's default computes the rates exactly.
#[test]
fn usetable_is_refused_where_no_table_can_hold_the_function() {
    let reads_cai = TABLED_GATE
        .replace(
            "SUFFIX tgate USEION k",
            "SUFFIX cgate USEION ca READ cai USEION k",
        )
        .replace("(v - vhalf)/5", "(v - vhalf - 1e3*cai)/5");
    let files = [
        ("tgate.mod", TABLED_GATE),
        ("cgate.mod", reads_cai.as_str()),
    ];
    let per_cell = "tgate.vhalf\n-40\n-35\n";
    let outcomes = [
        load_with(&files, "tgate", "", None),
        load_with(&files, "tgate", "usetable = 1", None),
        load_with(&files, "cgate", "", None),
        load_with(&files, "cgate", "usetable = 1", None),
        load_with(
            &files,
            "tgate",
            "usetable = 1  vhalf = along(-40, -30)",
            None,
        ),
        load_with(&files, "tgate", "vhalf = along(-40, -30)", None),
        load_with(&files, "tgate", "usetable = 2", None),
        load_with(&files, "tgate", "usetable = 1", Some(per_cell)),
        load_with(&files, "tgate", "", Some(per_cell)),
    ];
    for ok in [0, 1, 2, 5, 8] {
        assert!(outcomes[ok].is_ok(), "{ok}: {:?}", outcomes[ok]);
    }
    let refusals = [
        (3, "`cgate` cannot read its TABLE in `rates`: the function reads `cai`"),
        (4, "`tgate` reads its TABLEs (`usetable`), and `vhalf`, which a table reads, varies along each section"),
        (6, "lies outside its limits <0, 1>"),
        (7, "`tgate` reads its TABLEs (`usetable`), and `vhalf`, which a table reads, is set per cell"),
    ];
    for (k, why) in refusals {
        let err = outcomes[k].clone().expect_err("refused");
        assert!(err.contains(why), "{k}: {err}");
    }
}

/// A TABLE that nocmodl would refuse is refused with a span: a FUNCTION's table that lists
/// names, a PROCEDURE's that lists a name it does not set, WITH that is not a count.
#[test]
fn a_malformed_table_is_refused_by_name() {
    let cases = [
        (
            TABLED_GATE.replace("TABLE minf, mtau DEPEND", "TABLE minf, mtau, tadj DEPEND"),
            "TABLE lists `tadj`, which `rates` does not set",
        ),
        (
            TABLED_GATE.replace("WITH 200", "WITH 200.5"),
            "a TABLE's WITH must be a whole number of intervals",
        ),
        (
            TABLED_GATE.replace(" WITH 200", ""),
            "a TABLE gives its range as `FROM low TO high WITH intervals`",
        ),
        (
            TABLED_GATE.replace(
                "PROCEDURE rates(v (mV)) {",
                "FUNCTION f(v (mV)) {\n    TABLE minf FROM -1 TO 1 WITH 2\n    f = v\n}\nPROCEDURE rates(v (mV)) {\n    LOCAL z\n    z = f(v)",
            ),
            "the TABLE of FUNCTION `f` lists `minf`",
        ),
    ];
    for (src, want) in cases {
        let diags = hhc_compiler::compile_neuron_mechanism(&src, "tgate.mod").expect_err("refused");
        let text = hhc_compiler::diagnostic::render_to_string("tgate.mod", &src, &diags);
        assert!(text.contains(want), "{want}:\n{text}");
        // Once, though INITIAL and DERIVATIVE both call `rates`.
        assert_eq!(text.matches(want).count(), 1, "{text}");
        assert!(text.contains("tgate.mod:"), "a span: {text}");
    }
}

/// A spike generator in the style of NEURON 7's netstim.mod: its intervals drawn by `erand()`,
/// which reads a hoc Random through a POINTER when one is attached (VERBATIM C) and otherwise
/// `exprand(1)`. `{IDIOM}` is replaced by the C idiom or by plain NMODL.
const RANDOM_TRAIN: &str = "NEURON { ARTIFICIAL_CELL Train RANGE interval, noise{POINTER} }
PARAMETER { interval = 5 (ms)  noise = 0.5 }
ASSIGNED { event (ms){HANDLE} }
INITIAL { net_send(1, 1) }
{DECLARATIONS}
FUNCTION erand() {
{IDIOM}
}
PROCEDURE noiseFromRandom() {
{ATTACH}
}
NET_RECEIVE (w) {
    if (flag == 1) {
        net_event(t)
        event = (1 - noise) * interval + noise * interval * erand()
        net_send(event, 1)
    }
}
";

/// The netstim.mod idiom, as PyNN's and many ModelDB files write it.
const C_IDIOM: [(&str, &str); 5] = [
    ("{POINTER}", "\n    POINTER donotuse"),
    ("{HANDLE}", "\n    donotuse"),
    (
        "{DECLARATIONS}",
        "VERBATIM\n#include <stdlib.h>\ndouble nrn_random_pick(void* r);\nvoid* nrn_random_arg(int argpos);\nENDVERBATIM",
    ),
    (
        "{IDIOM}",
        "VERBATIM\n    double value;\n    if (_p_donotuse) {\n        /* a hoc Random, negexp(1) */\n        value = nrn_random_pick(_p_donotuse);\n        return value;\n    } else {\n        if (_nt != nrn_threads) {\n            hoc_execerror(\"multithread random\", \" only via hoc Random\");\n        }\nENDVERBATIM\n    value = exprand(1)\nVERBATIM\n    }\nENDVERBATIM\n    erand = value",
    ),
    (
        "{ATTACH}",
        "VERBATIM\n {\n    void** pv = (void**)(&_p_donotuse);\n    if (ifarg(1)) {\n        *pv = nrn_random_arg(1);\n    } else {\n        *pv = (void*)0;\n    }\n }\nENDVERBATIM",
    ),
];

fn random_train(replacements: &[(&str, &str)]) -> String {
    let mut s = RANDOM_TRAIN.to_string();
    for (from, to) in replacements {
        s = s.replace(from, to);
    }
    s
}

fn train_spikes(mod_source: &str, tag: &str) -> Vec<(u64, f64)> {
    let model = "NETWORK { POPULATION g = Train { count = 20  interval = 5 (ms)  noise = 0.5 } }
SIMULATE { dt = 0.025 (ms)  tstop = 200 (ms) }";
    let model = hhc_tests::load_beside(&[("Train.mod", mod_source)], tag, model)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut s = hhc_runtime::simulation::Simulation::new(
        model,
        &hhc_runtime::simulation::Request::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let r = s.run(None, None).unwrap_or_else(|e| panic!("{e}"));
    r.network.expect("a network").spikes
}

/// The hoc-Random idiom of NEURON 7's netstim.mod runs as in NEURON when no Random is
/// attached: the NMODL between its VERBATIM blocks, here `exprand(1)`. The same generator
/// written as plain NMODL gives the same spikes, to the bit.
#[test]
fn the_hoc_random_idiom_runs_the_branch_for_no_random() {
    let with_c = train_spikes(&random_train(&C_IDIOM), "idiom.chan");
    let plain = train_spikes(
        &random_train(&[
            ("{POINTER}", ""),
            ("{HANDLE}", ""),
            ("{DECLARATIONS}", ""),
            ("{IDIOM}", "    erand = exprand(1)"),
            ("{ATTACH}", ""),
        ]),
        "plain.chan",
    );
    // 20 trains of about 40 spikes, with random intervals (not all 5 ms apart).
    assert!(plain.len() > 600, "{} spikes", plain.len());
    let mut by_cell = plain.clone();
    by_cell.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let intervals: std::collections::BTreeSet<i64> = by_cell
        .windows(2)
        .filter(|w| w[0].0 == w[1].0)
        .map(|w| ((w[1].1 - w[0].1) * 1e6).round() as i64)
        .collect();
    assert!(
        intervals.len() > 100,
        "intervals are drawn: {}",
        intervals.len()
    );
    assert_eq!(with_c, plain);
}

/// C around the idiom that hhc cannot place or run is refused by name, with a span.
#[test]
fn c_beside_the_random_idiom_is_refused_by_name() {
    let idiom = C_IDIOM[3].1;
    let cases = [
        (
            idiom.replace("VERBATIM\n    }\nENDVERBATIM\n", ""),
            "no VERBATIM `}` in the same block closes it",
        ),
        (
            idiom.replace("if (_p_donotuse)", "if (!_p_donotuse)"),
            "VERBATIM C code is not supported",
        ),
        (
            format!("{idiom}\nVERBATIM\n}}\nENDVERBATIM"),
            "this VERBATIM `}` closes no `if (_p_…)",
        ),
    ];
    for (body, want) in cases {
        let mut parts = C_IDIOM.to_vec();
        parts[3].1 = &body;
        let src = random_train(&parts);
        let diags = hhc_compiler::compile_neuron_mechanism(&src, "train.mod").expect_err("refused");
        let text = hhc_compiler::diagnostic::render_to_string("train.mod", &src, &diags);
        assert!(text.contains(want), "{want}:\n{text}");
        assert!(text.contains("train.mod:"), "a span: {text}");
    }
    // The handle must be a POINTER, as NEURON's C needs.
    let mut parts = C_IDIOM.to_vec();
    parts[0].1 = "";
    let src = random_train(&parts);
    let diags = hhc_compiler::compile_neuron_mechanism(&src, "train.mod").expect_err("refused");
    let text = hhc_compiler::diagnostic::render_to_string("train.mod", &src, &diags);
    assert!(
        text.contains("VERBATIM reads `_p_donotuse`, but `donotuse` is not a POINTER"),
        "{text}"
    );
    // A #define would change NEURON's C: refused.
    let mut parts = C_IDIOM.to_vec();
    parts[2].1 = "VERBATIM\n#define interval 3\nENDVERBATIM";
    let src = random_train(&parts);
    let diags = hhc_compiler::compile_neuron_mechanism(&src, "train.mod").expect_err("refused");
    let text = hhc_compiler::diagnostic::render_to_string("train.mod", &src, &diags);
    assert!(text.contains("VERBATIM C code is not supported"), "{text}");
}

/// The current of mechanism `m` (its first) at `v`, with each parameter at its default, in
/// hhc's unit (µA/cm² for a density mechanism).
fn current_at(m: &hhc_compiler::ir::Mechanism, v: f64) -> f64 {
    at_defaults(m, m.currents[0].value, v)
}

/// Expression `e` of mechanism `m` with each parameter at its default, at `v`, 6.3 °C and dt
/// 0.025 ms (0 for anything else).
fn at_defaults(m: &hhc_compiler::ir::Mechanism, e: hhc_compiler::ir::ExprId, v: f64) -> f64 {
    use hhc_compiler::ir::{Builtin, Var};
    hhc_compiler::ir::interp::eval(&m.exprs, &[e], &|var| match var {
        Var::Param(k) => m.params[k as usize].default,
        Var::Builtin(Builtin::V) => v,
        Var::Builtin(Builtin::Celsius) => 6.3,
        Var::Builtin(Builtin::Dt) => 0.025,
        _ => 0.0,
    })[0]
}

/// A `.mod` file's units document its numbers: NEURON's translator runs the numbers as
/// written, whatever the declared units say, and so does hhc, with a warning at each
/// disagreement. A conductance in mS/cm² times mV assigned to a current declared in mA/cm² is
/// 1000 times the physical current in NEURON, and in hhc; a current declared in µA/cm² is read
/// in NEURON's mA/cm²; a slope declared dimensionless in `exp` runs. The same file as a `.chan`
/// is converted where the dimensions agree, and refused where they do not.
#[test]
fn a_mod_files_units_document_its_numbers_as_in_neuron() {
    let scaled = "NEURON { SUFFIX sc NONSPECIFIC_CURRENT i RANGE g, e }\nUNITS { (mA) = (milliamp) (mV) = (millivolt) (mS) = (millisiemens) }\nPARAMETER { g = 1 (mS/cm2)  e = -80 (mV) }\nASSIGNED { v (mV)  i (mA/cm2) }\nBREAKPOINT { i = g*(v - e) }\n";
    let neuron = hhc_compiler::compile_neuron_mechanism(scaled, "sc.mod").expect("compiles");
    let hhc = hhc_compiler::compile_mechanism(scaled).expect("compiles");
    // 1 mS/cm² × 20 mV: NEURON's 20 "mA/cm²" (20000 µA/cm²); physically 20 µA/cm².
    assert_eq!(current_at(&neuron, -60.0), 20000.0);
    assert_eq!(current_at(&hhc, -60.0), 20.0);
    assert!(hhc.warnings.is_empty());
    let [w] = neuron.warnings.as_slice() else {
        panic!("{:?}", neuron.warnings);
    };
    assert!(!w.is_error());
    assert!(w.message.contains("is not converted"), "{}", w.message);
    assert!(
        w.hint
            .as_deref()
            .is_some_and(|h| h.contains("multiply it by 0.001")),
        "{:?}",
        w.hint
    );

    let micro = scaled
        .replace("i (mA/cm2)", "i (uA/cm2)")
        .replace("(mS/cm2)", "(S/cm2)");
    let neuron = hhc_compiler::compile_neuron_mechanism(&micro, "sc.mod").expect("compiles");
    assert_eq!(current_at(&neuron, -60.0), 20000.0, "NEURON reads mA/cm2");
    assert!(neuron
        .warnings
        .iter()
        .any(|w| w.message.contains("NEURON's mA/cm2")));

    let slope = "NEURON { SUFFIX sl NONSPECIFIC_CURRENT i RANGE g, e, k, tau }\nPARAMETER { g = 0.001 (S/cm2)  e = -80 (mV)  k = 5 (1)  tau = 2 (/ms) }\nSTATE { m }\nASSIGNED { v (mV)  i (mA/cm2) }\nINITIAL { m = 1/(1 + exp(-(v + 40)/k)) }\nBREAKPOINT { SOLVE s METHOD cnexp\n i = g*m*(v - e) }\nDERIVATIVE s { m' = (1/(1 + exp(-(v + 40)/k)) - m)/tau }\nUNITS { (bogus) = (1) }\nASSIGNED { unknown (deg) }\n";
    let neuron = hhc_compiler::compile_neuron_mechanism(slope, "sl.mod").expect("compiles");
    let messages: Vec<&str> = neuron.warnings.iter().map(|w| w.message.as_str()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("`exp` needs a dimensionless argument")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("`m'` needs units of")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("unknown unit `deg`")),
        "{messages:?}"
    );
    let errors = hhc_compiler::compile_mechanism(slope).expect_err("a .chan refuses it");
    assert!(errors[0].is_error() && errors[0].message.contains("unknown unit `deg`"));
    let known = slope.replace("ASSIGNED { unknown (deg) }\n", "");
    let errors = hhc_compiler::compile_mechanism(&known).expect_err("a .chan refuses it");
    assert!(errors.iter().all(|e| e.is_error()));
    assert!(
        errors.iter().any(|e| e.message.contains("`exp` needs")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.message.contains("`m'` needs")),
        "{errors:?}"
    );
}

/// The initial value of state `name` of mechanism `m`, each parameter at its default, at
/// `v = -65` mV and 6.3 °C.
fn initial_of(m: &hhc_compiler::ir::Mechanism, name: &str) -> f64 {
    let k = m
        .states
        .iter()
        .position(|s| s.name == name)
        .expect("a state");
    at_defaults(m, m.init[k], -65.0)
}

/// A LINEAR block whose first equation does not name the first state (the DBBS collection's
/// Nav1_1.mod sets its Markov scheme's equilibrium so), with rates that INITIAL and the
/// KINETIC block compute and BREAKPOINT reads (kept per instance, known values in the LINEAR
/// block, not unknowns): the elimination takes the next row for the pivot. Before, the rates
/// counted as unknowns and the file was refused; with them known, the pivot was 0 and V NaN.
#[test]
fn a_linear_block_with_kept_rates_and_a_zero_pivot_is_solved() {
    let src = "NEURON { SUFFIX lz NONSPECIFIC_CURRENT i RANGE g, e }\nPARAMETER { g = 0.001 (S/cm2)  e = -80 (mV) }\nSTATE { a b }\nASSIGNED { v (mV)  i (mA/cm2)  kf (/ms)  kb (/ms)  flip (/ms) }\nINITIAL { rates(v)\n SOLVE eq }\nBREAKPOINT { SOLVE kin METHOD sparse\n flip = kf*a - kb*b\n i = g*b*(v - e) }\nKINETIC kin { rates(v)\n ~ a <-> b (kf, kb)\n CONSERVE a + b = 1 }\nLINEAR eq {\n ~ b*kb = a*kf\n ~ a + b = 1\n}\nPROCEDURE rates(v (mV)) { kf = 0.1*exp(v/20)  kb = 0.2 }\n";
    let m = hhc_compiler::compile_neuron_mechanism(src, "lz.mod").expect("compiles");
    let kf = 0.1 * (-65.0f64 / 20.0).exp();
    let (a, b) = (initial_of(&m, "a"), initial_of(&m, "b"));
    assert!((b - kf / (kf + 0.2)).abs() < 1e-15, "b = {b}");
    assert!((a - 0.2 / (kf + 0.2)).abs() < 1e-15, "a = {a}");
}

/// A value BREAKPOINT reads before it assigns it (the DBBS collection's Cav2_3.mod keeps the
/// running maximum of its conductance, `if (g > gmax) { gmax = g }`) holds BREAKPOINT's last
/// value from step to step, as NEURON's ASSIGNED variables do. Before, it was refused ("read
/// before it is assigned"). Traced, it is the running maximum of the conductance at each step.
#[test]
fn a_value_breakpoint_reads_then_sets_holds_from_step_to_step() {
    let dir = std::env::temp_dir().join(format!("hhc-runmax-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(
        dir.join("runmax.mod"),
        "NEURON { SUFFIX runmax NONSPECIFIC_CURRENT i RANGE gbar, g, gmax }\nPARAMETER { gbar = 0.0005 (S/cm2)  e = -90 (mV) }\nSTATE { m }\nASSIGNED { v (mV)  i (mA/cm2)  g (S/cm2)  gmax (S/cm2) }\nINITIAL { m = 1/(1 + exp(-(v + 50)/5))\n g = gbar*m\n gmax = g }\nBREAKPOINT { SOLVE states METHOD cnexp\n g = gbar*m\n if (g > gmax) { gmax = g }\n i = g*(v - e) }\nDERIVATIVE states { m' = (1/(1 + exp(-(v + 50)/5)) - m)/2 }\n",
    )
    .expect("write mod");
    std::fs::write(
        dir.join("cell.chan"),
        "CELL C {\n    SECTION soma { L = 20 (um)  diam = 20 (um) }\n    INSERT hh\n    INSERT runmax\n    ION na { e = 50 (mV) }\n    ION k { e = -77 (mV) }\n}\nSIMULATE { cell = C  dt = 0.025 (ms)  tstop = 40 (ms)  celsius = 6.3 (degC)  stimulus = iclamp(0.2 (nA), 5 (ms), 20 (ms), soma(0.5)) }\n",
    )
    .expect("write model");
    let request = hhc_runtime::simulation::Request {
        record_states: vec!["runmax.m".into(), "runmax.gmax".into()],
        ..Default::default()
    };
    let r = hhc_tests::simulate_file(&dir.join("cell.chan"), &request);
    let _ = std::fs::remove_dir_all(&dir);
    let (m, gmax) = (&r.traces[1].values, &r.traces[2].values);
    assert!(r.total_spikes > 0, "the cell fires, so m rises and falls");
    let mut running = f64::NEG_INFINITY;
    for k in 0..m.len() {
        running = running.max(0.0005 * m[k]);
        assert_eq!(gmax[k], running, "step {k}");
    }
    assert!(
        gmax[m.len() - 1] > 0.0005 * m[m.len() - 1],
        "the maximum outlives the peak"
    );
}

/// NEURON's steady state of a linear kinetic scheme with CONSERVE (`SOLVE kin STEADYSTATE
/// sparse`) is one backward-Euler step of 1e9 ms from INITIAL's values, which is off the exact
/// equilibrium by about 1/(1e9 ms · the slowest rate). A `.mod` file gets NEURON's; a `.chan`
/// the exact one. With rates of 1e-6 and 2e-6 /ms they differ by 1e-4.
#[test]
fn a_linear_steady_state_in_a_mod_file_is_neurons_long_step() {
    let src = "NEURON { SUFFIX ss NONSPECIFIC_CURRENT i RANGE g, e, kf, kb }\nPARAMETER { g = 0.001 (S/cm2)  e = -80 (mV)  kf = 1e-6 (/ms)  kb = 2e-6 (/ms) }\nSTATE { a b }\nASSIGNED { v (mV)  i (mA/cm2) }\nINITIAL { a = 1  b = 0\n SOLVE kin STEADYSTATE sparse }\nBREAKPOINT { SOLVE kin METHOD sparse\n i = g*b*(v - e) }\nKINETIC kin { ~ a <-> b (kf, kb)\n CONSERVE a + b = 1 }\n";
    let neuron = hhc_compiler::compile_neuron_mechanism(src, "ss.mod").expect("compiles");
    let exact = hhc_compiler::compile_mechanism(src).expect("compiles");
    let (kf, kb, dt) = (1e-6, 2e-6, 1e9);
    let step = (1.0 + dt * kb) / (1.0 + dt * (kf + kb));
    let a = initial_of(&neuron, "a");
    assert!((a - step).abs() < 1e-12, "a = {a}, NEURON's step {step}");
    let a = initial_of(&exact, "a");
    assert!((a - kb / (kf + kb)).abs() < 1e-12, "a = {a}");
    assert!((step - kb / (kf + kb)).abs() > 1e-4);
}

/// `TABLE inf, tau …` of array names tabulates every element (the DBBS collection's
/// Cav2_3.mod; before, "TABLE lists `inf`, which `mhn` does not set"). Read exactly, as hhc
/// reads a TABLE by default, the file runs bit for bit as without the TABLE line.
#[test]
fn a_table_of_arrays_lists_every_element() {
    let with_table = "NEURON { SUFFIX tarr NONSPECIFIC_CURRENT i RANGE g }\nPARAMETER { g = 0.001 (S/cm2)  e = -80 (mV) }\nSTATE { m h }\nASSIGNED { v (mV)  i (mA/cm2)  inf[2]  tau[2] (ms) }\nINITIAL { mhn(v)\n m = inf[0]  h = inf[1] }\nBREAKPOINT { SOLVE states METHOD cnexp\n i = g*m*h*(v - e) }\nDERIVATIVE states { mhn(v)\n m' = (inf[0] - m)/tau[0]\n h' = (inf[1] - h)/tau[1] }\nPROCEDURE mhn(v (mV)) {\n TABLE inf, tau DEPEND celsius FROM -100 TO 100 WITH 200\n FROM i = 0 TO 1 { tau[i] = 1 + 4*i\n inf[i] = 1/(1 + exp((v + 40 - 20*i)/(5 - 10*i))) }\n}\n";
    let without = with_table.replace(
        " TABLE inf, tau DEPEND celsius FROM -100 TO 100 WITH 200\n",
        "",
    );
    assert_ne!(with_table, without);
    let traces = run_each(
        "table-arrays",
        &[
            ("tarr", with_table),
            (
                "tarr_plain",
                &without.replace("SUFFIX tarr ", "SUFFIX tarr_plain "),
            ),
        ],
        |name| {
            format!("CELL C {{\n    SECTION soma {{ L = 20 (um)  diam = 20 (um) }}\n    INSERT hh\n    INSERT {name}\n    ION na {{ e = 50 (mV) }}\n    ION k {{ e = -77 (mV) }}\n}}\nSIMULATE {{ cell = C  dt = 0.025 (ms)  tstop = 30 (ms)  celsius = 6.3 (degC)  stimulus = iclamp(0.2 (nA), 5 (ms), 20 (ms), soma(0.5)) }}\n")
        },
    );
    assert!(traces[0].1 > 0);
    assert_eq!(traces[0], traces[1]);
}
