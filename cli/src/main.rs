//! `hhc`: check, compile, list and run `.chan` models. See SPEC's command line.
//!
//! The command line is a front over the engine (`hhc_runtime`): it parses flags, prints the
//! summary, and draws progress and plots. It is the only user of clap, plotters and indicatif.
#![allow(clippy::print_stdout)]

mod plot;
mod progress;

use clap::{Parser, Subcommand, ValueEnum};
use hhc_compiler::diagnostic::{render_to_string, Diagnostic};
use hhc_compiler::passes::mathlib::Precision;
use hhc_compiler::sema::model::StepMethod;
use hhc_compiler::sema::{self, FileKind};
use hhc_runtime::backend::{cpu::Cpu, gpu, Backend};
use hhc_runtime::load::{self, read_source, Report};
use hhc_runtime::sim::{RunError, Stopped};
use hhc_runtime::{record, sim};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "hhc",
    version,
    about = "Compile and simulate ion channels written in .chan (NMODL)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check mechanism and model files; exit 0 when all are good.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print or write one stage of the compiler.
    Compile {
        file: PathBuf,
        #[arg(long, value_enum, default_value = "ir")]
        emit: Emit,
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "f64")]
        precision: Prec,
    },
    /// List the built-in mechanisms, or one mechanism's parameters, states and ions.
    List {
        /// A mechanism's SUFFIX (a built-in one, or a .chan/.mod file's path).
        mechanism: Option<String>,
    },
    /// Run a model.
    Run {
        model: PathBuf,
        #[command(flatten)]
        args: RunArgs,
    },
}

/// The flags of `hhc run`.
#[derive(clap::Args)]
struct RunArgs {
    /// Population size, cells (overrides SIMULATE's `count`).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    n: Option<u64>,
    /// Length of the run, ms (overrides SIMULATE's `tstop`); a whole number of steps of dt.
    #[arg(long, value_name = "MS")]
    tstop: Option<f64>,
    /// Time step, ms (overrides SIMULATE's `dt`).
    #[arg(long, value_name = "MS")]
    dt: Option<f64>,
    /// Where the cells run: the CPU (Cranelift JIT) or an NVIDIA GPU (PTX, loaded at run time).
    #[arg(long, value_enum, default_value = "cpu")]
    backend: BackendKind,
    /// Float type of the cells' state.
    #[arg(long, value_enum, default_value = "f64")]
    precision: Prec,
    /// CPU threads, 1 to the number of cores (default: every core).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    threads: Option<usize>,
    /// Step method (overrides SIMULATE's `method`): SPEC's per-state step, or braincell's
    /// coupled exponential-Rosenbrock step.
    #[arg(long, value_enum)]
    method: Option<MethodArg>,
    /// Write t (ms) and V (mV) of the recorded cells, one row per step, to PATH.csv.
    #[arg(long, value_name = "PATH")]
    csv: Option<PathBuf>,
    /// Write every spike as `cell,t_ms` to PATH.csv.
    #[arg(long, value_name = "PATH")]
    spikes: Option<PathBuf>,
    /// Plot V (mV) against t (ms), a spike raster and an f–I curve to PATH.png or PATH.svg.
    #[arg(long, value_name = "PATH")]
    plot: Option<PathBuf>,
    /// Record no trace (for timing large populations).
    #[arg(long)]
    no_record: bool,
    /// Morphologies: step each cell's whole cable, Hines solve included, as one kernel, one cell
    /// per lane: the layout the GPU uses (and implied by `--backend gpu`). The CPU's default
    /// solver steps a chunk of cells per node instead.
    #[arg(long)]
    fused_cable: bool,
    /// Steps each kernel call takes with a cell held in registers (1 to 64).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=64))]
    steps_per_call: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum MethodArg {
    ExpEuler,
    ExpRosenbrock,
}

#[derive(Clone, Copy, ValueEnum)]
enum Emit {
    Ast,
    Ir,
    Clif,
    Ptx,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Prec {
    F64,
    F32,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum BackendKind {
    Cpu,
    Gpu,
}

impl From<Prec> for Precision {
    fn from(p: Prec) -> Self {
        match p {
            Prec::F64 => Precision::F64,
            Prec::F32 => Precision::F32,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // hhc must never panic at the user: a bug becomes exit 1 with a message.
    std::panic::set_hook(Box::new(|info| {
        // A reader that went away (`hhc run … | head`) is not an error of hhc's.
        if info.to_string().contains("failed printing to stdout") {
            std::process::exit(0);
        }
        eprintln!(
            "internal error in hhc: {info}\nplease report this with the input that caused it"
        );
    }));
    // Lowering recurses once per level of an expression; a generous stack (reserved, not
    // committed) keeps pathological inputs such as 10^5-term sums from overflowing.
    let worker = std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(move || std::panic::catch_unwind(|| dispatch(cli)));
    match worker.map(std::thread::JoinHandle::join) {
        Ok(Ok(Ok(code))) => code,
        _ => ExitCode::from(1),
    }
}

fn dispatch(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Check { files } => check(&files),
        Command::Compile {
            file,
            emit,
            output,
            precision,
        } => compile(&file, emit, output.as_deref(), precision.into()),
        Command::Run { model, args } => run(&model, &args),
        Command::List { mechanism } => list(mechanism.as_deref()),
    }
}

fn check(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for f in files {
        match check_one(f) {
            Ok(()) => {}
            Err(report) => {
                eprint!("{}", report.text);
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        println!(
            "ok: {} file{} checked",
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        );
        ExitCode::SUCCESS
    }
}

/// `hhc list`: the stdlib, a line per mechanism; `hhc list NAME`: what a model can set in it.
fn list(mechanism: Option<&str>) -> ExitCode {
    let Some(name) = mechanism else {
        for (name, src) in load::stdlib() {
            let (ions, title) = match hhc_compiler::compile_mechanism(src) {
                Ok(m) => (
                    m.ions
                        .iter()
                        .map(|i| i.name.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    m.title.unwrap_or_default(),
                ),
                Err(_) => (String::new(), "(does not compile)".into()),
            };
            let title = title
                .split_once(':')
                .map_or(title.as_str(), |(_, t)| t)
                .trim()
                .to_string();
            println!("{name:<28} {ions:<8} {title}");
        }
        println!(
            "\n{} mechanisms; `hhc list NAME` shows one's parameters",
            load::stdlib().len()
        );
        return ExitCode::SUCCESS;
    };
    let path = Path::new(name);
    let found = if path.is_file() {
        read_source(path).map(|src| (name.to_string(), src)).ok()
    } else {
        load::find_mechanism(name, Path::new("."))
    };
    let Some((file, src)) = found else {
        let names = load::mechanism_names(Path::new("."));
        let hint = hhc_compiler::diagnostic::closest(name, names.iter().map(String::as_str))
            .map_or(String::new(), |c| format!("\n  hint: did you mean `{c}`?"));
        eprintln!("error: no mechanism `{name}`{hint}");
        return ExitCode::from(1);
    };
    let m = match hhc_compiler::compile_mechanism(&src) {
        Ok(m) => m,
        Err(d) => {
            eprint!("{}", render_to_string(&file, &src, &d));
            return ExitCode::from(1);
        }
    };
    println!("{} ({file})", m.name);
    if let Some(t) = &m.title {
        println!("  {t}");
    }
    for ion in &m.ions {
        let word = |f: &hhc_compiler::ir::IonField| {
            use hhc_compiler::ir::IonField as F;
            let n = &ion.name;
            match f {
                F::E => format!("e{n}"),
                F::I => format!("i{n}"),
                F::Ci => format!("{n}i"),
                F::Co => format!("{n}o"),
            }
        };
        let words = |fs: &[hhc_compiler::ir::IonField]| {
            let w: Vec<String> = fs.iter().map(word).collect();
            if w.is_empty() {
                "nothing".into()
            } else {
                w.join(", ")
            }
        };
        println!(
            "  USEION {}: READ {}; WRITE {}",
            ion.name,
            words(&ion.reads),
            words(&ion.writes)
        );
    }
    println!("  PARAMETER (INSERT {} {{ name = value (unit) }}):", m.name);
    for p in &m.params {
        let limits = p
            .limits
            .map_or(String::new(), |(lo, hi)| format!("  <{lo}, {hi}>"));
        println!(
            "    {:<14} = {} {}{limits}",
            p.name,
            p.default,
            p.unit.as_deref().unwrap_or("")
        );
    }
    if !m.states.is_empty() {
        println!("  STATE (an INSERT may set the initial value):");
        for st in &m.states {
            println!("    {} {}", st.name, st.unit.as_deref().unwrap_or(""));
        }
    }
    ExitCode::SUCCESS
}

fn check_one(path: &Path) -> Result<(), Report> {
    let src = read_source(path).map_err(|text| Report { text })?;
    let (ast, diags) = hhc_compiler::syntax::parse(&src);
    let name = path.display().to_string();
    let mut report = Report::default();
    let Some(ast) = ast.filter(|_| !diags.iter().any(Diagnostic::is_error)) else {
        report.add(&name, &src, &diags);
        return Err(report);
    };
    match sema::file_kind(&ast) {
        FileKind::Model => load::load_model(path).map(|_| ()),
        FileKind::Mechanism => match hhc_compiler::compile_mechanism(&src) {
            Ok(_) => Ok(()),
            Err(d) => {
                report.add(&name, &src, &d);
                Err(report)
            }
        },
    }
}

fn compile(path: &Path, emit: Emit, output: Option<&Path>, precision: Precision) -> ExitCode {
    let src = match read_source(path) {
        Ok(s) => s,
        Err(t) => {
            eprint!("{t}");
            return ExitCode::from(1);
        }
    };
    let name = path.display().to_string();
    let (ast, diags) = hhc_compiler::syntax::parse(&src);
    let Some(ast) = ast.filter(|_| !diags.iter().any(Diagnostic::is_error)) else {
        eprint!("{}", render_to_string(&name, &src, &diags));
        return ExitCode::from(1);
    };
    let text = match (emit, sema::file_kind(&ast)) {
        (Emit::Ast, _) => format!("{ast:#?}\n"),
        (Emit::Ir, FileKind::Mechanism) => match hhc_compiler::compile_mechanism(&src) {
            Ok(m) => hhc_compiler::ir::print::print_mechanism(&m),
            Err(d) => {
                eprint!("{}", render_to_string(&name, &src, &d));
                return ExitCode::from(1);
            }
        },
        (_, FileKind::Model) => {
            let model = match load::load_model(path) {
                Ok(m) => m,
                Err(r) => {
                    eprint!("{}", r.text);
                    return ExitCode::from(1);
                }
            };
            let program = if model.cell.sections.is_empty() {
                hhc_compiler::cell::build(&model)
            } else {
                match hhc_compiler::cable::build(&model) {
                    Ok(whole) => whole.program,
                    Err(nodes) => {
                        eprintln!("error: {}", too_many_to_fuse(nodes));
                        return ExitCode::from(1);
                    }
                }
            };
            match emit {
                Emit::Ir => hhc_compiler::ir::print::print_cell_program(&program),
                Emit::Clif => hhc_compiler::backend::jit::clif_text(&program, precision),
                Emit::Ptx => hhc_compiler::backend::ptx::emit_program(&program, precision, 80),
                Emit::Ast => String::new(), // handled by the first arm
            }
        }
        (Emit::Clif | Emit::Ptx, FileKind::Mechanism) => {
            match hhc_compiler::compile_mechanism(&src) {
                Ok(m) => {
                    let program = hhc_compiler::cell::single_mechanism_program(&m);
                    if matches!(emit, Emit::Clif) {
                        hhc_compiler::backend::jit::clif_text(&program, precision)
                    } else {
                        hhc_compiler::backend::ptx::emit_program(&program, precision, 80)
                    }
                }
                Err(d) => {
                    eprint!("{}", render_to_string(&name, &src, &d));
                    return ExitCode::from(1);
                }
            }
        }
    };
    match output {
        Some(o) => {
            if let Err(e) = std::fs::write(o, text) {
                eprintln!("error: cannot write {}: {e}", o.display());
                return ExitCode::from(1);
            }
        }
        None => print!("{text}"),
    }
    ExitCode::SUCCESS
}

/// `MemAvailable` from /proc/meminfo, where the system has one.
fn available_memory_bytes() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

/// The model with `hhc run`'s flags applied, and its step count; `Err` is a usage error.
fn apply_run_flags(model: &mut sema::model::Model, a: &RunArgs) -> Result<u64, String> {
    for (flag, v) in [("--tstop", a.tstop), ("--dt", a.dt)] {
        if let Some(x) = v {
            if !(x > 0.0 && x.is_finite()) {
                return Err(format!("{flag} must be a positive number of ms, not {x}"));
            }
        }
    }
    if let Some(n) = a.n {
        model.count = n;
    }
    if let Some(x) = a.tstop {
        model.tstop = x;
    }
    if let Some(x) = a.dt {
        model.dt = x;
    }
    match a.method {
        Some(MethodArg::ExpEuler) => model.method = StepMethod::ExpEuler,
        Some(MethodArg::ExpRosenbrock) => model.method = StepMethod::ExpRosenbrock,
        None => {}
    }
    let steps = sema::model::whole_steps(model.dt, model.tstop)
        .map_err(|e| format!("{}\n  hint: {}", e.message, e.hint))?;
    if a.no_record && a.csv.is_some() {
        return Err("--csv writes the traces of the recorded cells, and --no-record records none\n  hint: drop one of the two".into());
    }
    if !a.no_record && model.cell.sections.is_empty() {
        if let Some(&c) = model.record.iter().find(|&&c| c >= model.count) {
            return Err(format!(
                "the model records cell {c}, but the population has {} cell{}\n  hint: raise --n above {c}, or change `record` in the model",
                model.count,
                if model.count == 1 { "" } else { "s" }
            ));
        }
    }
    if let Some(t) = a.threads {
        let cores = std::thread::available_parallelism().map_or(1, |x| x.get());
        if t > cores {
            return Err(format!("--threads {t}: this machine has {cores} core{}, and more threads than cores only slow a run\n  hint: use --threads {cores} or fewer", if cores == 1 { "" } else { "s" }));
        }
    }
    Ok(steps)
}

/// Creates (empties) every output file before the run, so that a mistyped path fails in a
/// second rather than after an hour of stepping.
fn create_outputs(a: &RunArgs) -> Result<(), String> {
    if let Some(p) = &a.plot {
        let ext = p
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if !matches!(ext.as_deref(), Some("png" | "svg")) {
            return Err(format!(
                "--plot {}: the plot is a .png or an .svg file",
                p.display()
            ));
        }
    }
    for (flag, path) in [
        ("--csv", &a.csv),
        ("--spikes", &a.spikes),
        ("--plot", &a.plot),
    ] {
        if let Some(p) = path {
            std::fs::File::create(p)
                .map_err(|e| format!("{flag}: cannot create {}: {e}", p.display()))?;
        }
    }
    Ok(())
}

/// A flag raised by Ctrl-C: the run stops at its next kernel call and writes what it computed.
/// A second Ctrl-C exits at once.
fn interrupt_flag() -> Option<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let seen = flag.clone();
    ctrlc::set_handler(move || {
        if seen.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nhhc: interrupted; writing what was computed (Ctrl-C again to quit at once)");
    })
    .ok()?;
    Some(flag)
}

/// How a run that stopped early ends: its error, and the exit code (130 for Ctrl-C).
fn report_stop(error: &RunError, steps_done: u64, dt: f64, wrote_outputs: bool) -> ExitCode {
    eprintln!("error: {error}");
    if wrote_outputs {
        eprintln!(
            "  the output files hold the {steps_done} steps (t = 0 to {} ms) computed before it",
            record::fmt_time(steps_done as f64 * dt)
        );
    }
    match error {
        RunError::Interrupted { .. } => ExitCode::from(130),
        _ => ExitCode::from(1),
    }
}

fn run(path: &Path, a: &RunArgs) -> ExitCode {
    let started = Instant::now();
    let mut model = match load::load_model(path) {
        Ok(m) => m,
        Err(r) => {
            eprint!("{}", r.text);
            return ExitCode::from(1);
        }
    };
    let steps = match apply_run_flags(&mut model, a) {
        Ok(s) => s,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    if a.backend == BackendKind::Gpu {
        if let Some(reason) = gpu::unavailable_reason() {
            eprintln!("error: --backend gpu: {reason}");
            return ExitCode::from(1);
        }
    }
    if let Err(message) = create_outputs(a) {
        eprintln!("error: {message}");
        return ExitCode::from(1);
    }
    let n = usize::try_from(model.count).unwrap_or(usize::MAX);
    if !model.cell.sections.is_empty() {
        return run_morphology(&model, a, n, steps, started);
    }
    let program = hhc_compiler::cell::build(&model);
    // Refuse populations that cannot fit, instead of aborting on a failed allocation.
    let elem = if Precision::from(a.precision) == Precision::F64 {
        8
    } else {
        4
    };
    let needed = (n as f64) * (program.slots.len() as f64 * elem as f64 + 16.0);
    if let Some(avail) = available_memory_bytes() {
        if needed > 0.9 * avail {
            eprintln!(
                "error: {n} cells need about {:.1} GiB, but only {:.1} GiB of memory is available\n  hint: lower --n, or use --precision f32",
                needed / f64::from(1u32 << 30),
                avail / f64::from(1u32 << 30)
            );
            return ExitCode::from(1);
        }
    }
    let threads = a.threads.unwrap_or_else(default_threads);
    let mut backend = match make_backend(&program, a.backend, a.precision.into(), threads) {
        Ok(b) => b,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(1);
        }
    };
    let compiled = started.elapsed();
    if a.no_record {
        model.record.clear();
    } else if a.csv.is_some() && !model.record.contains(&0) {
        // SPEC: the CSV's first columns are t_ms,V_mV for cell 0.
        model.record.insert(0, 0);
    }
    let record: Vec<usize> = model
        .record
        .iter()
        .filter_map(|&c| usize::try_from(c).ok())
        .collect();
    // The header, before the run: what is about to run and for how long.
    println!(
        "model: {} (cell {}, {} mechanism{})",
        path.display(),
        model.cell.name,
        model.cell.inserts.len(),
        if model.cell.inserts.len() == 1 {
            ""
        } else {
            "s"
        }
    );
    println!("backend: {}", backend.describe());
    println!(
        "cells: {n}, steps: {steps} x dt {} ms = {} ms",
        model.dt,
        record::fmt_time(steps as f64 * model.dt)
    );
    let (reporter, bar) = progress::reporter(n as f64, steps);
    let opts = sim::RunOptions {
        n,
        steps,
        precision: a.precision.into(),
        record: record.clone(),
        record_slots: vec![0],
        keep_spikes: a.spikes.is_some() || a.plot.is_some() || n <= 10_000,
        progress: reporter.clone(),
        steps_per_call: a.steps_per_call,
        interrupt: interrupt_flag(),
    };
    let t_run = Instant::now();
    let outcome = sim::run(&program, &model, backend.as_mut(), &opts);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let (result, stopped) = match outcome {
        Ok(r) => (r, None),
        Err(Stopped {
            error,
            partial: Some(p),
        }) => (*p, Some(error)),
        Err(Stopped {
            error,
            partial: None,
        }) => return report_stop(&error, 0, model.dt, false),
    };
    let run_time = t_run.elapsed().as_secs_f64();
    let mut recorded: Vec<usize> = record.clone();
    recorded.sort_unstable();
    recorded.dedup();
    if let Some(p) = &a.csv {
        if let Err(e) = record::write_trace_csv(p, model.dt, &recorded, &result.traces) {
            eprintln!("error: cannot write {}: {e}", p.display());
            return ExitCode::from(1);
        }
    }
    if let Some(p) = &a.spikes {
        if let Err(e) = record::write_spikes_csv(p, model.dt, &result.spikes) {
            eprintln!("error: cannot write {}: {e}", p.display());
            return ExitCode::from(1);
        }
    }
    let done_ms = result.steps_done as f64 * model.dt;
    if let Some(p) = &a.plot {
        let fi = result.stimulus_per_cell.as_ref().map(|stim| {
            stim.iter()
                .zip(&result.spike_counts)
                .map(|(&s, &c)| (s, f64::from(c) / (done_ms.max(model.dt) * 1e-3)))
                .collect()
        });
        let data = plot::PlotData {
            title: &model.cell.name,
            dt: model.dt,
            cells: &recorded,
            traces: &result.traces,
            spikes: &result.spikes,
            n,
            tstop: done_ms,
            fi,
            labels: None,
        };
        if let Err(e) = plot::plot(p, &data) {
            eprintln!("error: cannot plot to {}: {e}", p.display());
            return ExitCode::from(1);
        }
    }
    if let Some(&c0) = recorded.first() {
        let times: Vec<String> = result
            .spikes
            .iter()
            .filter(|(c, _)| *c == c0)
            .take(12)
            .map(|&(_, s)| record::fmt_time((s + 1) as f64 * model.dt))
            .collect();
        if !times.is_empty() {
            println!(
                "cell {c0} spike times (ms): {}{}",
                times.join(", "),
                if result.spike_counts[c0] > 12 {
                    ", …"
                } else {
                    ""
                }
            );
        }
    }
    let rate = n as f64 * result.steps_done as f64 / run_time.max(1e-9);
    println!(
        "wall: {:.3} s (compile {:.3} s, run {:.3} s), {:.3e} compartment-steps/s",
        started.elapsed().as_secs_f64(),
        compiled.as_secs_f64(),
        run_time,
        rate
    );
    if let Some(p) = &a.csv {
        println!("csv: {}", p.display());
    }
    if let Some(p) = &a.spikes {
        println!("spike list: {}", p.display());
    }
    if let Some(p) = &a.plot {
        println!("plot: {}", p.display());
    }
    println!("spikes: {}", result.total_spikes);
    match stopped {
        None => ExitCode::SUCCESS,
        Some(error) => report_stop(&error, result.steps_done, model.dt, true),
    }
}

/// Threads when `--threads` is not given: every core.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |x| x.get())
}

/// The program compiled for the chosen backend: PTX loaded on the GPU, or the JIT's kernel on
/// `threads` CPU threads. `Err` is the message to print.
fn make_backend(
    program: &hhc_compiler::ir::CellProgram,
    kind: BackendKind,
    precision: Precision,
    threads: usize,
) -> Result<Box<dyn Backend>, String> {
    if kind == BackendKind::Gpu {
        let ptx = hhc_compiler::backend::ptx::emit_program(program, precision, 80);
        let gpu = gpu::Gpu::new(&ptx, precision).map_err(|e| format!("--backend gpu: {}", e.0))?;
        return Ok(Box::new(gpu));
    }
    let kernel = hhc_compiler::backend::jit::compile(program, precision)
        .map_err(|e| format!("code generation failed: {}", e.0))?;
    Ok(Box::new(Cpu::new(kernel, threads).map_err(|e| e.0)?))
}

fn too_many_to_fuse(nodes: usize) -> String {
    format!(
        "the cell has {nodes} nodes (its compartments, and the end nodes where sections meet); one whole-cell kernel (the GPU's, or --fused-cable) unrolls at most {}\n  hint: use fewer segments (a smaller nseg, a larger dx or d_lambda), or the CPU's default solver",
        hhc_compiler::cable::MAX_FUSED_NODES
    )
}

/// `hhc run` for a cell with a morphology: the cable solver, V at every probe.
fn run_morphology(
    model: &sema::model::Model,
    a: &RunArgs,
    n: usize,
    steps: u64,
    started: Instant,
) -> ExitCode {
    let precision = Precision::from(a.precision);
    let whole_cells = a.fused_cable || a.backend == BackendKind::Gpu;
    if !whole_cells && precision != Precision::F64 {
        eprintln!("error: the CPU's chunked cable solver runs in f64\n  hint: drop --precision f32, or add --fused-cable (one kernel per cell, f32 allowed)");
        return ExitCode::from(1);
    }
    // About 20 f64 per compartment (V, i, g, states, the Hines scratch): refuse what cannot fit.
    let per_cell: usize = model.cell.sections.iter().map(|s| s.nseg).sum();
    let compartments = per_cell as f64 * n as f64;
    let needed = compartments * 20.0 * 8.0;
    if let Some(avail) = available_memory_bytes() {
        if needed > 0.9 * avail {
            eprintln!(
                "error: {n} cells of {per_cell} compartments need about {:.1} GiB, but only {:.1} GiB of memory is available\n  hint: lower --n, or use fewer segments",
                needed / f64::from(1u32 << 30),
                avail / f64::from(1u32 << 30)
            );
            return ExitCode::from(1);
        }
    }
    let (reporter, bar) = progress::reporter(compartments, steps);
    let opts = hhc_runtime::cable::CableOptions {
        n,
        steps,
        theta: model.cable_theta,
        record: if a.no_record { vec![] } else { vec![0] },
        interrupt: interrupt_flag(),
        progress: reporter,
    };
    let threads = a.threads.unwrap_or_else(default_threads);
    let header = |backend_line: &str| {
        println!(
            "model: {} ({} sections, {per_cell} compartments per cell)",
            model.cell.name,
            model.cell.sections.len(),
        );
        println!("backend: {backend_line}");
        println!(
            "cells: {n}, steps: {steps} x dt {} ms = {} ms",
            model.dt,
            record::fmt_time(steps as f64 * model.dt)
        );
    };
    let compiling = Instant::now();
    let mut compile_seconds = 0.0;
    let outcome = if whole_cells {
        let whole = match hhc_compiler::cable::build(model) {
            Ok(w) => w,
            Err(nodes) => {
                eprintln!("error: {}", too_many_to_fuse(nodes));
                return ExitCode::from(1);
            }
        };
        let mut backend = match make_backend(&whole.program, a.backend, precision, threads) {
            Ok(b) => b,
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::from(1);
            }
        };
        header(&format!("{}, one kernel per cell", backend.describe()));
        compile_seconds = compiling.elapsed().as_secs_f64();
        hhc_runtime::cable::run_whole_cells(
            model,
            &whole,
            backend.as_mut(),
            &opts,
            precision,
            a.steps_per_call,
        )
    } else {
        header(&format!(
            "cpu (cranelift, f64, {threads} thread{}), chunked cable solver",
            if threads == 1 { "" } else { "s" }
        ));
        match rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .build()
        {
            Ok(pool) => pool.install(|| hhc_runtime::cable::run(model, &opts)),
            Err(e) => {
                eprintln!("error: cannot start {threads} threads: {e}");
                return ExitCode::from(1);
            }
        }
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let (r, stopped) = match outcome {
        Ok(r) => (r, None),
        Err(Stopped {
            error,
            partial: Some(p),
        }) => (*p, Some(error)),
        Err(Stopped {
            error,
            partial: None,
        }) => return report_stop(&error, 0, model.dt, false),
    };
    let steps_done = r
        .traces
        .first()
        .and_then(|t| t.first())
        .map_or(if stopped.is_some() { 0 } else { steps }, |t| {
            t.len().saturating_sub(1) as u64
        });
    let run_seconds = compiling.elapsed().as_secs_f64() - compile_seconds - r.compile_seconds;
    compile_seconds += r.compile_seconds;
    let wall = started.elapsed().as_secs_f64();
    let times: Vec<String> = r
        .spikes
        .iter()
        .filter(|s| s.0 == 0)
        .map(|s| record::fmt_time((s.1 + 1) as f64 * model.dt))
        .collect();
    println!(
        "cell 0 spike times at {} (ms): {}",
        r.probes[0],
        times.join(", ")
    );
    if let (Some(path), Some(traces)) = (&a.csv, r.traces.first()) {
        if let Err(e) = record::write_traces_csv(path, model.dt, &r.probes[1..], traces) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(1);
        }
        println!(
            "csv: {} (t_ms, then V at {})",
            path.display(),
            r.probes.join(", ")
        );
    }
    if let Some(path) = &a.spikes {
        if let Err(e) = record::write_spikes_csv(path, model.dt, &r.spikes) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    if let (Some(path), Some(traces)) = (&a.plot, r.traces.first()) {
        let probes: Vec<usize> = (0..traces.len()).collect();
        let title = model.cell.name.clone();
        let data = plot::PlotData {
            title: &title,
            dt: model.dt,
            cells: &probes,
            labels: Some(&r.probes),
            traces,
            spikes: &r.spikes,
            n,
            tstop: steps_done as f64 * model.dt,
            fi: None,
        };
        if let Err(e) = plot::plot(path, &data) {
            eprintln!("error: cannot plot {}: {e}", path.display());
            return ExitCode::from(1);
        }
        println!("plot: {}", path.display());
    }
    let rate = (n as f64) * (r.compartments as f64) * (steps_done as f64) / wall.max(1e-9);
    println!(
        "wall: {wall:.3} s (compile {compile_seconds:.3} s, run {run_seconds:.3} s), {rate:.3e} compartment-steps/s"
    );
    println!("spikes: {}", r.spikes.len());
    match stopped {
        None => ExitCode::SUCCESS,
        Some(error) => report_stop(&error, steps_done, model.dt, true),
    }
}
