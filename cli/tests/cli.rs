//! The command-line contract of SPEC: exit codes, outputs, and messages.

use std::path::PathBuf;
use std::process::{Command, Output};

fn hhc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hhc"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("hhc runs")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hhc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("tmp");
    d.join(name)
}

#[test]
fn tutorial_run_prints_eight_spikes_and_writes_files() {
    let (csv, spikes, png) = (tmp("a.csv"), tmp("b.csv"), tmp("hh.png"));
    let o = hhc(&[
        "run",
        "examples/hh.chan",
        "--csv",
        csv.to_str().unwrap(),
        "--spikes",
        spikes.to_str().unwrap(),
        "--plot",
        png.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.lines().any(|l| l == "spikes: 8"), "{out}");
    let csv = std::fs::read_to_string(csv).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "t_ms,V_mV");
    assert_eq!(rows.len(), 10_002, "header + 10001 rows");
    assert_eq!(rows[1], "0,-69.19375633335684");
    let spikes = std::fs::read_to_string(spikes).unwrap();
    let times: Vec<f64> = spikes
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    let want = [3.88, 16.45, 29.94, 43.50, 57.07, 70.63, 84.20, 97.76];
    assert_eq!(times.len(), 8);
    for (t, w) in times.iter().zip(want) {
        assert!((t - w).abs() <= 0.0100001, "spike at {t}, expected {w}");
    }
    let png = std::fs::read(png).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000);
}

#[test]
fn svg_plots_and_population_overrides() {
    let svg = tmp("pop.svg");
    let o = hhc(&[
        "run",
        "examples/hh.chan",
        "--n",
        "50",
        "--tstop",
        "20",
        "--dt",
        "0.02",
        "--threads",
        "2",
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("cells: 50, steps: 1000"));
    assert!(std::fs::read_to_string(svg).unwrap().contains("<svg"));
}

#[test]
fn check_exit_codes() {
    let o = hhc(&[
        "check",
        "stdlib/Na_HH1952.chan",
        "stdlib/K_HH1952.chan",
        "stdlib/IL.chan",
        "examples/hh.chan",
        "tests/fixtures/classic_hh.mod",
        "tests/fixtures/neuron_idioms.mod",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let bad = tmp("bad.chan");
    std::fs::write(
        &bad,
        "NEURON { SUFFIX x }\nPARAMETER { g = 1 (mS/cm2) }\nBREAKPOINT { q = g + }\n",
    )
    .unwrap();
    let o = hhc(&["check", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("bad.chan:3:"), "{}", text(&o));
    assert_eq!(hhc(&["check"]).status.code(), Some(2));
    assert_eq!(hhc(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        hhc(&["run", "examples/hh.chan", "--precision", "f16"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn binary_garbage_and_missing_files_are_errors() {
    let garbage = tmp("garbage.chan");
    std::fs::write(&garbage, [0xffu8, 0xfe, 0x00, 0x13, 0x80, b'(', 0xc3]).unwrap();
    let o = hhc(&["check", garbage.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("garbage.chan:1:1"), "{}", text(&o));
    assert_eq!(hhc(&["check", "no/such/file.chan"]).status.code(), Some(1));
    let deep = tmp("deep.chan");
    std::fs::write(
        &deep,
        format!(
            "NEURON {{ SUFFIX x }}\nFUNCTION f() {{ f = {} }}\n",
            "(".repeat(10_000)
        ),
    )
    .unwrap();
    let o = hhc(&["check", deep.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!text(&o).contains("panicked"));
}

#[test]
fn impossible_population_is_refused_cleanly() {
    let o = hhc(&[
        "run",
        "examples/hh.chan",
        "--n",
        "100000000000",
        "--tstop",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("GiB"), "{}", text(&o));
}

#[test]
fn gpu_without_driver_exits_one() {
    if hhc_runtime::backend::gpu::driver_present() {
        eprintln!("skipping: this machine has a GPU driver");
        return;
    }
    let o = hhc(&["run", "examples/hh.chan", "--backend", "gpu"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("GPU"), "{}", text(&o));
    assert!(!text(&o).contains("panicked"));
}

#[test]
fn blow_up_names_cell_step_and_mechanism() {
    let dir = tmp("blow");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("runaway.chan"),
        "NEURON { SUFFIX runaway NONSPECIFIC_CURRENT i }\nPARAMETER { g = 1 (mS/cm2) }\nSTATE { x }\nASSIGNED { v (mV) i (uA/cm2) }\n\
         INITIAL { x = 1 }\nBREAKPOINT { SOLVE s METHOD cnexp i = -g * x * (v + 100) }\nDERIVATIVE s { x' = x / (1 (ms)) }\n",
    )
    .unwrap();
    std::fs::write(dir.join("model.chan"), "CELL c { INSERT runaway INSERT IL }\nSIMULATE { cell = c dt = 10 (ms) tstop = 10000 (ms) }\n").unwrap();
    let o = hhc(&["run", dir.join("model.chan").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("cell 0") && t.contains("step") && t.contains("runaway"),
        "{t}"
    );
}

#[test]
fn compile_emits_every_stage() {
    for (file, emit, needle) in [
        ("stdlib/IL.chan", "ast", "Neuron"),
        ("stdlib/Na_HH1952.chan", "ir", "mechanism Na_HH1952"),
        ("examples/hh.chan", "ir", "spike :="),
        ("examples/hh.chan", "clif", "function"),
        ("examples/hh.chan", "ptx", ".entry hhc_step"),
        ("stdlib/K_HH1952.chan", "ptx", ".entry hhc_step"),
    ] {
        let o = hhc(&["compile", file, "--emit", emit]);
        assert!(o.status.success(), "{file} {emit}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains(needle),
            "{file} {emit}"
        );
    }
    let out = tmp("k.ptx");
    let o = hhc(&[
        "compile",
        "examples/hh.chan",
        "--emit",
        "ptx",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    assert!(std::fs::read_to_string(out)
        .unwrap()
        .contains("hhc_compact"));
}

/// A morphology runs three ways: the CPU's chunked solver, its whole-cell kernel on the CPU
/// (`--fused-cable`) and on the GPU. The f64 spike lists and traces are the same file, bit for
/// bit; without a driver the GPU run says so and exits 1. f32 needs the whole-cell kernel.
#[test]
fn morphology_backends_agree() {
    let run = |tag: &str, extra: &[&str]| {
        let (csv, spikes) = (
            tmp(&format!("{tag}.csv")),
            tmp(&format!("{tag}_spikes.csv")),
        );
        let mut args = vec![
            "run",
            "examples/branched.chan",
            "--n",
            "3",
            "--tstop",
            "30",
            "--csv",
            csv.to_str().unwrap(),
            "--spikes",
            spikes.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = hhc(&args);
        let files = o.status.success().then(|| {
            (
                std::fs::read_to_string(&csv).unwrap(),
                std::fs::read_to_string(&spikes).unwrap(),
            )
        });
        (o, files)
    };
    let (o, chunked) = run("chunked", &[]);
    assert!(chunked.is_some(), "{}", text(&o));
    let chunked = chunked.unwrap_or_default();
    assert!(text(&o).contains("chunked cable solver"), "{}", text(&o));
    assert_eq!(
        chunked.1.lines().count(),
        1 + 3 * 2,
        "3 cells, 2 spikes each in 30 ms"
    );
    let (o, fused) = run("fused", &["--fused-cable"]);
    assert!(text(&o).contains("one kernel per cell"), "{}", text(&o));
    assert_eq!(fused.as_ref(), Some(&chunked), "{}", text(&o));
    let (o, gpu) = run("gpu", &["--backend", "gpu"]);
    if hhc_runtime::backend::gpu::driver_present() {
        assert_eq!(gpu.as_ref(), Some(&chunked), "{}", text(&o));
    } else {
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains("GPU"), "{}", text(&o));
    }
    let (o, _) = run("f32", &["--precision", "f32"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("--fused-cable"), "{}", text(&o));
    let (o, f32_fused) = run("f32_fused", &["--precision", "f32", "--fused-cable"]);
    assert!(f32_fused.is_some(), "{}", text(&o));
    let f32_spikes = f32_fused.unwrap_or_default().1;
    assert_eq!(f32_spikes, chunked.1, "f32 spikes at the same steps");
    let o = hhc(&["compile", "examples/branched.chan", "--emit", "ir"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("g_membrane axon0(") && text(&o).contains("v soma(0.5) :="),
        "the whole cell's program"
    );
}

/// A cell too large for one whole-cell kernel is refused by `--fused-cable` (and so by the GPU)
/// with a hint, and runs on the default chunked solver.
#[test]
fn large_cell_is_refused_by_the_whole_cell_kernel_only() {
    let path = tmp("large.chan");
    std::fs::write(
        &path,
        "CELL L {\n  SECTION soma { L = 20 (um)  diam = 20 (um) }\n  SECTION dend { parent = soma  L = 2000 (um)  diam = 2 (um)  nseg = 200 }\n  INSERT IL\n}\nSIMULATE { cell = L  tstop = 1 (ms)  stimulus = iclamp(0.1 (nA), 0 (ms), 1 (ms), soma(0.5)) }\n",
    )
    .unwrap();
    let o = hhc(&["run", path.to_str().unwrap(), "--fused-cable"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("202 nodes") && text(&o).contains("hint"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("panicked"));
    let o = hhc(&["run", path.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
}

/// Writes `files` (name, text) into a fresh folder and returns it.
fn folder(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = tmp(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (f, text) in files {
        std::fs::write(dir.join(f), text).unwrap();
    }
    dir
}

fn path_str(p: &std::path::Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

#[test]
fn run_set_ups_that_would_mislead_are_usage_errors() {
    let cases: &[(&[&str], &str)] = &[
        (&["--dt", "10", "--tstop", "1"], "longer than tstop"),
        (&["--dt", "0.03"], "not a whole number of steps"),
        (
            &["--no-record", "--csv", "x.csv"],
            "--no-record records none",
        ),
        (&["--threads", "0"], "--threads"),
        (&["--threads", "100000"], "more threads than cores"),
        (&["--n", "0"], "--n"),
    ];
    for (flags, said) in cases {
        let mut args = vec!["run", "examples/hh.chan"];
        args.extend_from_slice(flags);
        let o = hhc(&args);
        assert_eq!(o.status.code(), Some(2), "{flags:?}: {}", text(&o));
        assert!(text(&o).contains(said), "{flags:?}: {}", text(&o));
        assert!(!text(&o).contains("wall:"), "{flags:?} ran: {}", text(&o));
    }
    let o = hhc(&["run", "examples/fi_curve.chan", "--n", "10"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("records cell 100"), "{}", text(&o));
}

#[test]
fn outputs_are_created_before_the_run() {
    let o = hhc(&[
        "run",
        "examples/hh.chan",
        "--spikes",
        path_str(&tmp("spikes-first.csv")),
        "--csv",
        "no/such/folder/trace.csv",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("--csv: cannot create no/such/folder/trace.csv"),
        "{}",
        text(&o)
    );
    assert!(
        !text(&o).contains("wall:"),
        "ran before checking: {}",
        text(&o)
    );
    let o = hhc(&[
        "run",
        "examples/hh.chan",
        "--plot",
        path_str(&tmp("plot.pdf")),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains(".png or an .svg"), "{}", text(&o));
}

/// A leak with a negative conductance in its mechanism's defaults (a model file's override
/// would be refused) runs away; the first current to diverge is the leak's, not Na's.
const ANTILEAK: &str = "NEURON { SUFFIX antileak NONSPECIFIC_CURRENT i RANGE g, E }\nPARAMETER { g = -50 (mS/cm2) E = -54.387 (mV) }\nASSIGNED { v (mV) i (uA/cm2) }\nBREAKPOINT { i = g * (v - E) }\n";

#[test]
fn a_blow_up_blames_the_first_current_to_diverge_and_keeps_the_steps_before_it() {
    let model = "CELL HH {\n ION na { e = 50 (mV) }\n ION k { e = -77 (mV) }\n INSERT Na_HH1952\n INSERT K_HH1952\n INSERT antileak\n}\nSIMULATE { cell = HH dt = 0.01 (ms) tstop = 100 (ms) }\n";
    let dir = folder(
        "antileak",
        &[("antileak.chan", ANTILEAK), ("m.chan", model)],
    );
    let csv = dir.join("v.csv");
    let spikes = dir.join("s.csv");
    let o = hhc(&[
        "run",
        path_str(&dir.join("m.chan")),
        "--csv",
        path_str(&csv),
        "--spikes",
        path_str(&spikes),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("mechanism `antileak`'s current diverged first"),
        "{t}"
    );
    let step: usize = t
        .split("at step ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|x| x.parse().ok())
        .expect("the step is named");
    let rows = std::fs::read_to_string(&csv).unwrap();
    // The header, then t = 0 … step·dt: every step before the one that blew up.
    assert_eq!(rows.lines().count(), step + 2, "{rows}");
    assert!(rows.lines().skip(1).all(|l| l
        .split(',')
        .all(|x| x.parse::<f64>().is_ok_and(f64::is_finite))));
    assert!(t.contains(&format!("hold the {step} steps")), "{t}");
    assert!(std::fs::read_to_string(&spikes)
        .unwrap()
        .starts_with("cell,t_ms"));
}

#[test]
fn parameter_limits_hold_for_overrides() {
    let mech = "NEURON { SUFFIX lim NONSPECIFIC_CURRENT i RANGE g, q }\nPARAMETER { g = 1 (mS/cm2) q = 2 <1, 5> }\nASSIGNED { v (mV) i (uA/cm2) }\nBREAKPOINT { i = q * g * (v + 65) }\n";
    let model = "CELL C { INSERT lim { q = 7 } }\nSIMULATE { cell = C }\n";
    let dir = folder("limits", &[("lim.chan", mech), ("m.chan", model)]);
    let o = hhc(&["check", path_str(&dir.join("m.chan"))]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("`q` = 7 lies outside its limits <1, 5>"),
        "{}",
        text(&o)
    );
    std::fs::write(dir.join("m.chan"), model.replace("q = 7", "q = 5")).unwrap();
    let o = hhc(&["check", path_str(&dir.join("m.chan"))]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn impossible_swc_points_name_their_line() {
    let swc = "# id type x y z r parent\n1 1 0 0 0 10 -1\n2 3 10 0 0 1 1\n3 3 110 0 0 -0.5 2\n";
    let model = "CELL C { swc = cell  INSERT IL }\nSIMULATE { cell = C }\n";
    let dir = folder("swc", &[("cell.swc", swc), ("m.chan", model)]);
    let o = hhc(&["check", path_str(&dir.join("m.chan"))]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("cell.swc: line 4: point 3 has radius -0.5"),
        "{}",
        text(&o)
    );
}

#[test]
fn the_header_comes_before_the_run() {
    let o = hhc(&["run", "examples/hh.chan"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let at = |s: &str| out.find(s).expect(s);
    assert!(at("model:") < at("backend:") && at("backend:") < at("cells:"));
    assert!(at("cells:") < at("spike times") && at("spike times") < at("wall:"));
}

#[test]
fn list_shows_the_library_and_one_mechanism() {
    let o = hhc(&["list"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.lines().any(|l| l.starts_with("Na_HH1952 ")), "{out}");
    let o = hhc(&["list", "IL"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("g_max") && out.contains("mS/cm2"), "{out}");
    let o = hhc(&["list", "Na_HH1953"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("did you mean `Na_HH1952`?"),
        "{}",
        text(&o)
    );
    let model = "CELL HH { INSERT Na_HH1953 }\nSIMULATE { cell = HH }\n";
    let dir = folder("misspelt", &[("m.chan", model)]);
    let o = hhc(&["check", path_str(&dir.join("m.chan"))]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("did you mean `Na_HH1952`?"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_network_run_writes_global_cell_ids_and_a_raster() {
    let (spikes, png) = (tmp("ring_spikes.csv"), tmp("ring.png"));
    let o = hhc(&[
        "run",
        "tests/fixtures/neuron/ring/ring.chan",
        "--spikes",
        spikes.to_str().unwrap(),
        "--plot",
        png.to_str().unwrap(),
    ]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("populations (global cell ids): ring 0–7, kick 8–8"),
        "{out}"
    );
    assert!(
        out.contains("ring[0] (cell 0) spike times (ms): 3.425, 22.825"),
        "{out}"
    );
    assert!(out.contains("spikes: 41"), "{out}");
    let written = std::fs::read_to_string(&spikes).expect("spike list");
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines[0], "cell,t_ms");
    assert_eq!(lines[1], "8,1", "the spike source fires first");
    assert_eq!(lines[2], "0,3.425");
    assert_eq!(lines.len(), 42);
    assert!(std::fs::metadata(&png).expect("plot").len() > 10_000);
    // A network sizes its own populations.
    let o = hhc(&["run", "tests/fixtures/neuron/ring/ring.chan", "--n", "5"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // And stays on the CPU for now, saying so.
    let o = hhc(&[
        "run",
        "tests/fixtures/neuron/ring/ring.chan",
        "--fused-cable",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("networks run on the CPU"), "{}", text(&o));
}

/// `--trace` puts states and currents beside V in the CSV (`hh.ina@soma(0.5)`), as each step
/// used them: hh's ina at the soma is NEURON's recording of `soma(0.5)._ref_ina` within 1e-10
/// mA/cm² (tests/fixtures/neuron/currents). An unknown name is a usage error that lists what
/// can be traced.
#[test]
fn trace_writes_states_and_currents_beside_v() {
    let csv = tmp("trace.csv");
    let o = hhc(&[
        "run",
        "tests/fixtures/neuron/currents/currents.chan",
        "--trace",
        "hh.ina,hh.m",
        "--csv",
        path_str(&csv),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let written = std::fs::read_to_string(&csv).expect("csv");
    let mut lines = written.lines();
    assert_eq!(
        lines.next(),
        Some("t_ms,V_mV,hh.ina@soma(0.5),hh.m@soma(0.5)")
    );
    let neuron =
        std::fs::read_to_string(root().join("tests/fixtures/neuron/currents/currents.csv"))
            .expect("fixture");
    let mut compared = 0;
    for (ours, theirs) in lines.zip(neuron.lines().skip(1)) {
        let a: Vec<f64> = ours
            .split(',')
            .map(|x| x.parse().expect("number"))
            .collect();
        let b: Vec<f64> = theirs
            .split(',')
            .map(|x| x.parse().expect("number"))
            .collect();
        assert!(
            (a[2] - b[2]).abs() < 1e-10,
            "ina {} vs NEURON {}",
            a[2],
            b[2]
        );
        assert!((a[3] - b[5]).abs() < 1e-10, "m {} vs NEURON {}", a[3], b[5]);
        compared += 1;
    }
    assert_eq!(compared, 801);
    let o = hhc(&["run", "examples/hh.chan", "--trace", "Na_HH1952.q"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("Na_HH1952.ina"), "{}", text(&o));
    // Nothing to trace beside when nothing is recorded.
    let o = hhc(&[
        "run",
        "examples/hh.chan",
        "--trace",
        "Na_HH1952.m",
        "--no-record",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--no-record"), "{}", text(&o));
}

/// A NEURON folder names files as it likes: `INSERT leaky` finds the file whose NEURON block
/// says `SUFFIX leaky` (here `channels.mod`), also when the model is given by its bare name
/// from inside its folder, and a misspelt name is offered the declared one.
#[test]
fn a_mechanism_is_found_by_its_suffix_in_any_file_of_the_folder() {
    let dir = folder(
        "suffix",
        &[
            (
                "channels.mod",
                "NEURON { SUFFIX leaky NONSPECIFIC_CURRENT i }\nPARAMETER { g = 0.001 (S/cm2) e = -70 (mV) }\nASSIGNED { v (mV) i (mA/cm2) }\nBREAKPOINT { i = g*(v - e) }\n",
            ),
            (
                "cell.chan",
                "CELL C { v_init = -65 (mV) SECTION soma { L = 10 (um) diam = 10 (um) } INSERT leaky { } }\nSIMULATE { cell = C dt = 0.025 (ms) tstop = 5 (ms) probe = soma(0.5) }\n",
            ),
            (
                "typo.chan",
                "CELL C { SECTION soma { L = 10 (um) diam = 10 (um) } INSERT leakey { } }\nSIMULATE { cell = C dt = 0.025 (ms) tstop = 5 (ms) }\n",
            ),
        ],
    );
    let o = Command::new(env!("CARGO_BIN_EXE_hhc"))
        .args(["run", "cell.chan"])
        .current_dir(&dir)
        .output()
        .expect("hhc runs");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("spikes: 0"), "{}", text(&o));
    let o = hhc(&["check", path_str(&dir.join("typo.chan"))]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("did you mean `leaky`?"), "{}", text(&o));
}

/// Started by an MPI launcher, an hhc built without MPI would run the whole model in every
/// process, each writing the same files: it refuses, and says how to build it with MPI.
#[cfg(not(feature = "mpi"))]
#[test]
fn an_hhc_without_mpi_refuses_to_run_as_several_processes() {
    let o = Command::new(env!("CARGO_BIN_EXE_hhc"))
        .args(["run", "tests/fixtures/neuron/ring/ring.chan"])
        .env("OMPI_COMM_WORLD_SIZE", "2")
        .current_dir(root())
        .output()
        .expect("hhc runs");
    assert_eq!(o.status.code(), Some(1));
    let said = text(&o);
    assert!(said.contains("built without MPI"), "{said}");
    assert!(said.contains("--features mpi"), "{said}");
    assert!(!said.contains("spikes:"), "{said}");
}

/// A mechanism with a TABLE says in the header how its rates are computed: exactly (hhc's
/// default) or from NEURON's table (`usetable = 1`, NEURON's default), so that a user who
/// compares with NEURON knows which.
#[test]
fn the_header_says_how_tables_are_read() {
    let gate = "NEURON { SUFFIX tgate NONSPECIFIC_CURRENT i }\nPARAMETER { g = 0.001 (S/cm2) }\nASSIGNED { v (mV) i (mA/cm2) minf }\nSTATE { m }\nINITIAL { rates(v)  m = minf }\nBREAKPOINT { SOLVE s METHOD cnexp  i = g*m*(v + 70) }\nDERIVATIVE s { rates(v)  m' = (minf - m)/5 }\nPROCEDURE rates(v (mV)) {\n    TABLE minf FROM -100 TO 100 WITH 200\n    minf = 1/(1 + exp(-(v + 40)/5))\n}\n";
    let model = |settings: &str| {
        format!("CELL c {{\n    INSERT tgate {{ {settings} }}\n}}\nSIMULATE {{ cell = c  dt = 0.025 (ms)  tstop = 1 (ms) }}\n")
    };
    let dir = folder(
        "tables",
        &[
            ("tgate.mod", gate),
            ("exact.chan", &model("")),
            ("table.chan", &model("usetable = 1")),
        ],
    );
    let exact = hhc(&["run", path_str(&dir.join("exact.chan"))]);
    let table = hhc(&["run", path_str(&dir.join("table.chan"))]);
    let plain = hhc(&["run", "examples/hh.chan"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(exact.status.success(), "{}", text(&exact));
    assert!(
        text(&exact).contains("tables: tgate computed exactly (NEURON reads its TABLE by default"),
        "{}",
        text(&exact)
    );
    assert!(
        text(&table).contains("tables: tgate read from NEURON's TABLE (usetable = 1)"),
        "{}",
        text(&table)
    );
    assert!(!text(&plain).contains("tables:"), "{}", text(&plain));
}

/// A `.mod` VecStim's population says what it plays, and fires it.
#[test]
fn a_vecstim_population_says_what_it_plays() {
    let model = tmp("played.chan");
    std::fs::copy(
        root().join("tests/fixtures/played/Played.mod"),
        model.with_file_name("Played.mod"),
    )
    .expect("mechanism");
    std::fs::write(
        &model,
        "CELL C {\n    SECTION soma { L = 20 (um)  diam = 20 (um) }\n    INSERT IL\n    POINT syn = ExpSyn AT soma(0.5) { tau = 2 (ms) }\n}\n\
         NETWORK {\n    POPULATION c = C { count = 3 }\n    POPULATION kick = Played { times = 1 (ms), 2 (ms)  count = 3 }\n    \
         CONNECT kick -> c AT syn { rule = one_to_one  weight = 0.001 (uS)  delay = 1 (ms) }\n}\n\
         SIMULATE { dt = 0.025 (ms)  tstop = 5 (ms) }\n",
    )
    .expect("model");
    let spikes = tmp("played_spikes.csv");
    let o = hhc(&[
        "run",
        model.to_str().unwrap(),
        "--spikes",
        spikes.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("kick = 3 × Played (playing 6 spikes)"),
        "{}",
        text(&o)
    );
    let written = std::fs::read_to_string(&spikes).expect("spikes");
    let kicks: Vec<&str> = written
        .lines()
        .filter(|l| l.starts_with(['3', '4', '5']))
        .collect();
    assert_eq!(kicks.len(), 6, "{written}");
}
