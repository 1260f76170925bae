//! Helpers for the end-to-end tests: run a model through the real loader, compiler and runtime.

use hhc_compiler::ir::CellProgram;
use hhc_compiler::passes::mathlib::Precision;
use hhc_compiler::sema::model::Model;
use hhc_runtime::backend::cpu::Cpu;
use hhc_runtime::sim::{self, RunOptions, RunResult};
use std::path::{Path, PathBuf};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `../shared/reference` beside the checkout, where the reference traces live.
pub fn reference_dir() -> PathBuf {
    repo().join("../shared/reference")
}

/// Loads a model written by a test: `text` goes to a temporary folder of its own (`name`), so
/// that the loader finds stdlib mechanisms exactly as for a user's file.
pub fn load_text(text: &str, name: &str) -> Model {
    let dir = std::env::temp_dir().join(format!("hhc-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("model.chan");
    std::fs::write(&path, text).expect("write model");
    hhc_runtime::load::load_model(&path).unwrap_or_else(|r| panic!("{}", r.text))
}

pub fn load(rel: &str) -> Model {
    match hhc_runtime::load::load_model(&repo().join(rel)) {
        Ok(m) => m,
        Err(r) => panic!("{rel} failed to load:\n{}", r.text),
    }
}

pub fn run(model: &Model, precision: Precision, threads: usize) -> (CellProgram, RunResult) {
    run_calls_of(model, precision, threads, 64)
}

/// [`run`], with the kernel called for `steps_per_call` steps at a time.
pub fn run_calls_of(
    model: &Model,
    precision: Precision,
    threads: usize,
    steps_per_call: u64,
) -> (CellProgram, RunResult) {
    let program = hhc_compiler::cell::build(model);
    let kernel = hhc_compiler::backend::jit::compile(&program, precision).expect("jit");
    let mut cpu = Cpu::new(kernel, threads).expect("cpu");
    let opts = RunOptions {
        n: model.count as usize,
        steps: hhc_compiler::sema::model::whole_steps(model.dt, model.tstop)
            .unwrap_or_else(|e| panic!("{}", e.message)),
        precision,
        record: model.record.iter().map(|&c| c as usize).collect(),
        record_slots: vec![0],
        keep_spikes: true,
        progress: None,
        steps_per_call,
        interrupt: None,
    };
    let r =
        sim::run(&program, model, &mut cpu, &opts).unwrap_or_else(|e| panic!("run failed: {e}"));
    (program, r)
}

/// The spike times (ms) in a reference fixture's first line, `# … spikes (…): t1 t2 …`.
pub fn header_spike_times(header: &str) -> Vec<f64> {
    header
        .split_once("):")
        .map(|(_, s)| {
            s.split_whitespace()
                .map(|x| x.parse().expect("spike time"))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads a CSV of numbers with a header line.
pub fn read_csv(path: &Path) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(1)
        .map(|l| {
            l.split(',')
                .map(|x| x.trim().parse().unwrap_or(f64::NAN))
                .collect()
        })
        .collect()
}
