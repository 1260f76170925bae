//! Helpers for the end-to-end tests: run a model through the real loader, compiler and runtime.

use hhc_compiler::ir::CellProgram;
use hhc_compiler::passes::mathlib::Precision;
use hhc_compiler::sema::model::Model;
use hhc_runtime::sim::RunResult;
use hhc_runtime::simulation::{Request, Simulation};
use std::path::{Path, PathBuf};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every file under `dir` (recursively) whose name ends in `.ext`, sorted; none when `dir` is
/// missing.
pub fn files_under(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for p in std::fs::read_dir(&d)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path())
        {
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// Loads the model `source` (named `name` in messages) from a fresh folder holding `files`
/// (name, text), such as the `.mod` files it inserts; the folder is removed after. The model,
/// or the loader's report as text.
pub fn load_beside(files: &[(&str, &str)], name: &str, source: &str) -> Result<Model, String> {
    static FOLDERS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let k = FOLDERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("hhc-beside-{}-{k}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (file, text) in files {
        std::fs::write(dir.join(file), text).expect("write a file beside the model");
    }
    let loaded = hhc_runtime::load::load_model_source(name, source, &dir).map_err(|e| e.text);
    let _ = std::fs::remove_dir_all(&dir);
    loaded
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

/// [`run`], with the kernel called for `steps_per_call` steps at a time. The run goes through
/// the engine's entry point ([`Simulation`]), as every front's does; the program is the one it
/// builds, for tests that read its slots.
pub fn run_calls_of(
    model: &Model,
    precision: Precision,
    threads: usize,
    steps_per_call: u64,
) -> (CellProgram, RunResult) {
    let request = Request {
        precision,
        threads: Some(threads.min(hhc_runtime::simulation::default_threads())),
        keep_spikes: true,
        steps_per_call,
        ..Request::default()
    };
    let mut simulation =
        Simulation::new(model.clone(), &request).unwrap_or_else(|e| panic!("set-up failed: {e}"));
    let outcome = simulation
        .run(None, None)
        .unwrap_or_else(|e| panic!("run failed: {e}"));
    // Traces in the model's `record` order (the outcome names each `cellK`).
    let traces = model
        .record
        .iter()
        .map(|c| {
            let name = format!("cell{c}");
            let trace = outcome.traces.iter().find(|t| t.name == name);
            trace.map(|t| t.values.clone()).unwrap_or_default()
        })
        .collect();
    let result = RunResult {
        traces,
        spikes: outcome.spikes,
        spike_counts: outcome.spike_counts,
        total_spikes: outcome.total_spikes,
        stimulus_per_cell: outcome.stimulus_per_cell,
        steps_done: outcome.steps_done,
    };
    (hhc_compiler::cell::build(model), result)
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
    // `#` lines are comments (the harnesses' spike files begin with one); then a header.
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
        .map(|l| {
            l.split(',')
                .map(|x| x.trim().parse().unwrap_or(f64::NAN))
                .collect()
        })
        .collect()
}

/// Runs `model` with `states` traced and checks V, then each state, against NEURON's columns
/// in `csv` (t, V, then the states, every step): within each column's tolerance, absolute or
/// (`true`) relative to NEURON's value. Returns the run and NEURON's rows.
/// Runs the model file at `path` to its end with `request`; panics with the diagnostic on
/// any error.
pub fn simulate_file(path: &Path, request: &Request) -> hhc_runtime::simulation::Outcome {
    Simulation::from_file(path, request)
        .unwrap_or_else(|e| panic!("{e}"))
        .run(None, None)
        .unwrap_or_else(|e| panic!("{e}"))
}

pub fn traced_against_neuron_csv(
    model: &Path,
    csv: &Path,
    states: &[&str],
    tolerances: &[(f64, bool)],
) -> (hhc_runtime::simulation::Outcome, Vec<Vec<f64>>) {
    let request = Request {
        record_states: states.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let r = simulate_file(model, &request);
    let rows = read_csv(csv);
    assert_eq!(rows.len(), r.traces[0].values.len());
    for (j, &(tolerance, relative)) in tolerances.iter().enumerate() {
        let worst = rows
            .iter()
            .zip(&r.traces[j].values)
            .map(|(row, x)| {
                let d = (row[j + 1] - x).abs();
                if relative {
                    d / row[j + 1].abs()
                } else {
                    d
                }
            })
            .fold(0.0, f64::max);
        assert!(
            worst < tolerance,
            "{}: {} differs from NEURON's by {worst}",
            model.display(),
            r.traces[j].name
        );
    }
    (r, rows)
}

/// K processes of one run as K threads of this test: an [`Exchange`] whose all-gather meets at
/// a barrier, so that the engine's several-process path runs without MPI.
pub struct InProcess {
    rank: usize,
    processes: usize,
    shared: std::sync::Arc<(std::sync::Mutex<Vec<Vec<u8>>>, std::sync::Barrier)>,
}

impl InProcess {
    /// The `processes` members of one job, rank 0 first.
    pub fn job(processes: usize) -> Vec<InProcess> {
        let shared = std::sync::Arc::new((
            std::sync::Mutex::new(vec![Vec::new(); processes]),
            std::sync::Barrier::new(processes),
        ));
        (0..processes)
            .map(|rank| InProcess {
                rank,
                processes,
                shared: shared.clone(),
            })
            .collect()
    }
}

impl hhc_runtime::distributed::Exchange for InProcess {
    fn rank(&self) -> usize {
        self.rank
    }
    fn processes(&self) -> usize {
        self.processes
    }
    fn all_gather(&self, mine: &[u8]) -> Vec<Vec<u8>> {
        let (slots, barrier) = &*self.shared;
        slots.lock().expect("slots")[self.rank] = mine.to_vec();
        barrier.wait();
        let all = slots.lock().expect("slots").clone();
        // Nobody writes the next round before everyone has read this one.
        barrier.wait();
        all
    }
}
