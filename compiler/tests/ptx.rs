//! PTX: golden files, and assembly by `ptxas` for sm_80 and sm_90 when it is installed
//! (`.ci/run` installs it from PyPI and sets `HHC_PTXAS`), of the stdlib's kernels and those of
//! the .mod corpus's density mechanisms and point processes where it is fetched. Also the
//! golden IR of a small whole-cell program, the GPU's form of a morphology.
#![allow(clippy::panic)] // a failed set-up stops the test or bench with its message

use hhc_compiler::passes::mathlib::Precision;
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn mechanism_sources() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in ["stdlib", "examples"] {
        let mut files: Vec<_> = std::fs::read_dir(root().join(dir))
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        files.sort();
        for p in files {
            let src = std::fs::read_to_string(&p).expect("read");
            if src.contains("SUFFIX") {
                out.push((
                    p.file_stem()
                        .and_then(|s| s.to_str())
                        .unwrap_or_default()
                        .to_string(),
                    src,
                ));
            }
        }
    }
    out
}

/// The most expression nodes a corpus mechanism's step may have to be assembled here. The DBBS
/// collection's cdp5 calcium buffers (nonlinear kinetic schemes unrolled into Newton steps,
/// files NEURON 9.0.2 refuses) have up to ten times more, and ptxas takes minutes and 5 GB for
/// each of them: more than this check's share of CI.
const MOST_PTX_NODES: usize = 40_000;

/// Every density mechanism and point process of the downloaded .mod corpus
/// (`harness/fetch_mod_corpus.sh`; none when it is not fetched) that compiles on its own, as
/// NEURON's files, and whose step has at most [`MOST_PTX_NODES`] nodes: (name, mechanism).
fn corpus_mechanisms() -> Vec<(String, hhc_compiler::ir::Mechanism)> {
    let mut files = Vec::new();
    let mut dirs = vec![root().join(".tools/mod_corpus")];
    while let Some(d) = dirs.pop() {
        for p in std::fs::read_dir(&d)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path())
        {
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "mod") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
        .iter()
        .filter_map(|p| {
            let src = String::from_utf8_lossy(&std::fs::read(p).ok()?).into_owned();
            let file = p.file_name()?.to_string_lossy().into_owned();
            let m = hhc_compiler::compile_neuron_mechanism(&src, &file).ok()?;
            let nodes = hhc_compiler::cell::single_mechanism_program(&m).exprs.len();
            if nodes > MOST_PTX_NODES {
                eprintln!("not assembled: {file}, {nodes} nodes");
                return None;
            }
            let folder = p.parent()?.file_name()?.to_string_lossy().into_owned();
            let name = format!("corpus_{folder}_{}", m.name);
            let tables = m.reading_tables().map(|t| (format!("{name}_usetable"), t));
            (!m.artificial).then(|| [Some((name, m)), tables].into_iter().flatten())
        })
        .flatten()
        .collect()
}

/// The tutorial's fused cell program, built without the runtime's loader.
fn tutorial_program() -> hhc_compiler::ir::CellProgram {
    hhc_compiler::cell::build(&tutorial_model())
}

fn tutorial_model() -> hhc_compiler::sema::model::Model {
    model_from(&std::fs::read_to_string(root().join("examples/hh.chan")).expect("hh.chan"))
}

/// A ball-and-stick with an axon: HH soma and axon, a passive dendrite whose leak varies along
/// it, a point current, probes at both ends.
const BALL_AND_STICK: &str = "CELL B {\n  v_init = -65 (mV)\n  Ra = 100 (ohm cm)\n  ION na { e = 50 (mV) }\n  ION k { e = -77 (mV) }\n  SECTION soma { L = 20 (um)  diam = 20 (um) }\n  SECTION dend { parent = soma  L = 400 (um)  diam = 2 (um)  nseg = 9 }\n  SECTION axon { parent = soma(0)  L = 200 (um)  diam = 1 (um)  nseg = 5 }\n  INSERT Na_HH1952 IN soma, axon { }\n  INSERT K_HH1952 IN soma, axon { g_max = 36 (mS/cm2) }\n  INSERT IL IN soma, axon { E = -54.387 (mV)  g_max = 0.3 (mS/cm2) }\n  INSERT IL IN dend { g_max = along(0.1 (mS/cm2), 1 (mS/cm2))  E = -65 (mV) }\n}\nSIMULATE { cell = B  dt = 0.025 (ms)  tstop = 30 (ms)\n  stimulus = iclamp(0.5 (nA), 1 (ms), 100 (ms), soma(0.5))\n  probe = soma(0.5), dend(1), axon(1) }\n";

/// A model from its text, its mechanisms from `stdlib/`.
fn model_from(model_src: &str) -> hhc_compiler::sema::model::Model {
    let (file, _) = hhc_compiler::syntax::parse(model_src);
    let mut resolve = |name: &str| -> Result<Option<hhc_compiler::ir::Mechanism>, ()> {
        let src =
            std::fs::read_to_string(root().join(format!("stdlib/{name}.chan"))).map_err(|_| ())?;
        hhc_compiler::compile_mechanism(&src)
            .map(Some)
            .map_err(|_| ())
    };
    hhc_compiler::sema::model::lower_model(&file.expect("ast"), &mut resolve).expect("model")
}

fn all_ptx() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for prec in [Precision::F64, Precision::F32] {
        let tag = if prec == Precision::F64 { "f64" } else { "f32" };
        for (name, src) in mechanism_sources() {
            let m =
                hhc_compiler::compile_mechanism(&src).unwrap_or_else(|d| panic!("{name}: {d:?}"));
            let program = hhc_compiler::cell::single_mechanism_program(&m);
            out.push((
                format!("{name}_{tag}"),
                hhc_compiler::backend::ptx::emit_program(&program, prec, 80),
            ));
        }
        for (name, m) in corpus_mechanisms() {
            let program = hhc_compiler::cell::single_mechanism_program(&m);
            out.push((
                format!("{name}_{tag}"),
                hhc_compiler::backend::ptx::emit_program(&program, prec, 80),
            ));
        }
        out.push((
            format!("hh_tutorial_{tag}"),
            hhc_compiler::backend::ptx::emit_program(&tutorial_program(), prec, 80),
        ));
        // braincell's coupled step (matrix exponential, floor, ldexp, select) and the
        // compartment form of the same cell (currents out, V left to the cable solver).
        let mut rosenbrock = tutorial_model();
        rosenbrock.method = hhc_compiler::sema::model::StepMethod::ExpRosenbrock;
        out.push((
            format!("hh_exp_rosenbrock_{tag}"),
            hhc_compiler::backend::ptx::emit_program(
                &hhc_compiler::cell::build(&rosenbrock),
                prec,
                80,
            ),
        ));
        // A whole multi-compartment cell, Hines solve included: the GPU's morphology kernel.
        let whole = hhc_compiler::cable::build(&model_from(BALL_AND_STICK)).expect("fits");
        out.push((
            format!("ball_and_stick_whole_cell_{tag}"),
            hhc_compiler::backend::ptx::emit_program(&whole.program, prec, 80),
        ));
        out.push((
            format!("hh_compartment_{tag}"),
            hhc_compiler::backend::ptx::emit_program(
                &hhc_compiler::cell::build_compartment(&tutorial_model()),
                prec,
                80,
            ),
        ));
    }
    out
}

#[test]
fn ptx_is_ascii_and_declares_both_kernels() {
    for (name, ptx) in all_ptx() {
        assert!(ptx.is_ascii(), "{name}");
        assert!(ptx.contains(".visible .entry hhc_step("), "{name}");
        assert!(ptx.contains(".visible .entry hhc_compact("), "{name}");
    }
}

#[test]
fn ptx_golden_tutorial() {
    let ptx = hhc_compiler::backend::ptx::emit_program(&tutorial_program(), Precision::F32, 80);
    insta::assert_snapshot!("ptx_hh_tutorial_f32", ptx);
    let m = hhc_compiler::compile_mechanism(
        &std::fs::read_to_string(root().join("stdlib/IL.chan")).expect("IL"),
    )
    .expect("IL");
    let ptx = hhc_compiler::backend::ptx::emit_program(
        &hhc_compiler::cell::single_mechanism_program(&m),
        Precision::F64,
        80,
    );
    insta::assert_snapshot!("ptx_IL_f64", ptx);
}

/// Three passive compartments (a soma and a two-compartment dendrite, joined at the soma's end
/// node) with a point current: the Hines elimination unrolled, leaves first, then the
/// substitution back down, then each compartment's leak at the new V.
#[test]
fn whole_cell_program_golden() {
    let model = model_from(
        "CELL P {\n  v_init = -65 (mV)\n  Ra = 100 (ohm cm)\n  SECTION soma { L = 20 (um)  diam = 20 (um) }\n  SECTION dend { parent = soma  L = 200 (um)  diam = 2 (um)  nseg = 2 }\n  INSERT IL { g_max = 0.1 (mS/cm2)  E = -65 (mV) }\n}\nSIMULATE { cell = P  dt = 0.025 (ms)\n  stimulus = iclamp(0.1 (nA), 1 (ms), 5 (ms), soma(0.5))\n  probe = soma(0.5), dend(1) }\n",
    );
    let whole = hhc_compiler::cable::build(&model).expect("fits");
    // Three compartments, and the soma's end node (no area, no mechanisms) where the dendrite
    // joins, as in NEURON.
    assert_eq!(whole.compartments, 4);
    insta::assert_snapshot!(
        "ir_whole_cell_passive",
        hhc_compiler::ir::print::print_cell_program(&whole.program)
    );
}

#[test]
fn ptxas_assembles_every_kernel_for_sm80_and_sm90() {
    let Some(ptxas) = std::env::var_os("HHC_PTXAS")
        .map(PathBuf::from)
        .filter(|p| p.exists())
    else {
        eprintln!("skipping: set HHC_PTXAS to a ptxas binary (.ci/run does)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("hhc-ptx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let mut assembled = 0;
    for (name, ptx) in all_ptx() {
        for sm in [80, 90] {
            let path = dir.join(format!("{name}_sm{sm}.ptx"));
            std::fs::write(
                &path,
                ptx.replace(".target sm_80", &format!(".target sm_{sm}")),
            )
            .expect("write");
            let out = Command::new(&ptxas)
                .arg(format!("-arch=sm_{sm}"))
                .arg(&path)
                .arg("-o")
                .arg(dir.join(format!("{name}_sm{sm}.cubin")))
                .output()
                .expect("ptxas runs");
            assert!(
                out.status.success(),
                "ptxas rejected {name} for sm_{sm}:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assembled += 1;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(assembled >= 20, "only {assembled} kernels assembled");
}
