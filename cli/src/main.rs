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
use hhc_runtime::distributed::{self, Exchange};
use hhc_runtime::load::{self, read_source, Report};
use hhc_runtime::record;
use hhc_runtime::sim::{RunError, Stopped};
use hhc_runtime::simulation::{Request, SetupError, Simulation, Target};
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
    /// States and currents to trace beside V, comma-separated (`hh.m,hh.ina`): at each recorded
    /// point cell, or at each probe of a morphology (where the mechanism must be inserted).
    /// States in their own units; currents as each step used them, in mA/cm² (nA for a point
    /// process). Written to --csv as `<name>@<place>` columns; not plotted.
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    trace: Vec<String>,
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
    let how = if m.artificial {
        format!(
            "POPULATION name = {} {{ count = 1  name = value (unit) }}",
            m.name
        )
    } else if m.point_process {
        format!(
            "POINT name = {} AT soma(0.5) {{ name = value (unit) }}",
            m.name
        )
    } else {
        format!("INSERT {} {{ name = value (unit) }}", m.name)
    };
    println!("  PARAMETER ({how}):");
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
    if let Some(r) = &m.net_receive {
        let args: Vec<String> = r
            .args
            .iter()
            .map(|(name, unit)| match unit {
                Some(u) => format!("{name} ({u})"),
                None => name.clone(),
            })
            .collect();
        println!(
            "  NET_RECEIVE ({}): a CONNECT's `weight` is its first argument{}",
            args.join(", "),
            if r.sends.is_empty() && r.emits.is_empty() {
                String::new()
            } else {
                "; it sends self-events or spikes".to_string()
            }
        );
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
        FileKind::Model => load::load_model(path).map(|m| eprint!("{}", m.warnings)),
        // A `.mod` file as NEURON's, whose units are documentation: their mismatches warn.
        FileKind::Mechanism => match load::compile_mechanism_file(&name, &src) {
            Ok(m) => {
                eprint!("{}", render_to_string(&name, &src, &m.warnings));
                Ok(())
            }
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
        (Emit::Ir, FileKind::Mechanism) => match load::compile_mechanism_file(&name, &src) {
            Ok(m) => {
                eprint!("{}", render_to_string(&name, &src, &m.warnings));
                hhc_compiler::ir::print::print_mechanism(&m)
            }
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
                        eprintln!(
                            "error: {}",
                            hhc_runtime::simulation::too_many_to_fuse(nodes)
                        );
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
            match load::compile_mechanism_file(&name, &src) {
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

/// A flag raised by Ctrl-C or SIGTERM (a batch system's time limit): the run stops at its next
/// kernel call and writes what it computed. A second one exits at once. `say` prints that.
fn interrupt_flag(say: bool) -> Option<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let seen = flag.clone();
    ctrlc::set_handler(move || {
        if seen.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        if say {
            eprintln!(
                "\nhhc: interrupted; writing what was computed (Ctrl-C again to quit at once)"
            );
        }
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

/// The engine's request for `hhc run`'s flags.
fn request(a: &RunArgs, model_count: u64) -> Result<Request, String> {
    if a.no_record && !a.trace.is_empty() {
        return Err("--trace records states beside the traces of the recorded cells, and --no-record records none\n  hint: drop one of the two".into());
    }
    if a.no_record && a.csv.is_some() {
        return Err("--csv writes the traces of the recorded cells, and --no-record records none\n  hint: drop one of the two".into());
    }
    Ok(Request {
        count: a.n,
        tstop: a.tstop,
        dt: a.dt,
        method: a.method.map(|m| match m {
            MethodArg::ExpEuler => StepMethod::ExpEuler,
            MethodArg::ExpRosenbrock => StepMethod::ExpRosenbrock,
        }),
        target: match a.backend {
            BackendKind::Cpu => Target::Cpu,
            BackendKind::Gpu => Target::Gpu,
        },
        precision: a.precision.into(),
        threads: a.threads,
        record: !a.no_record,
        record_cell_zero: a.csv.is_some(),
        // Every spike for the outputs that list them, and for populations small enough that
        // the list costs nothing; counts only otherwise.
        keep_spikes: a.spikes.is_some() || a.plot.is_some() || a.n.unwrap_or(model_count) <= 10_000,
        fused_cable: a.fused_cable,
        steps_per_call: a.steps_per_call,
        record_states: a.trace.clone(),
        exchange: None,
    })
}

/// Why `hhc run` stops before stepping: what to print on stderr, and the exit code.
struct Refusal {
    code: u8,
    text: String,
}

impl Refusal {
    fn error(code: u8, message: &str) -> Refusal {
        Refusal {
            code,
            text: format!("error: {message}\n"),
        }
    }
}

/// The processes of this run: one, or those of an MPI job when hhc is built with the `mpi`
/// feature and an MPI launcher started it. An hhc without MPI started as several processes
/// refuses, rather than run the whole model in each of them.
fn processes() -> Result<Option<Arc<dyn Exchange>>, Refusal> {
    #[cfg(feature = "mpi")]
    if let Some(mpi) = hhc_runtime::mpi::Mpi::from_launcher() {
        return Ok(Some(Arc::new(mpi)));
    }
    match distributed::launched_processes() {
        Some(k) if k > 1 && cfg!(not(feature = "mpi")) => Err(Refusal::error(
            1,
            &format!("an MPI launcher started {k} processes, and this hhc was built without MPI, so each would run the whole model\n  hint: build it with `cargo build --release -p hhc --features mpi` (Open MPI's libopenmpi-dev and libclang-dev installed)"),
        )),
        _ => Ok(None),
    }
}

/// The model loaded, the run set up and (by the process that writes them) the outputs
/// created: every stage that can refuse before stepping.
fn prepare(
    path: &Path,
    a: &RunArgs,
    exchange: Option<Arc<dyn Exchange>>,
    writes_outputs: bool,
) -> Result<Simulation, Refusal> {
    let share = exchange.as_deref().map(distributed::share_of);
    let model = load::load_model_shared(path, share).map_err(|r| Refusal {
        code: 1,
        text: r.text,
    })?;
    if writes_outputs {
        eprint!("{}", model.warnings);
    }
    let mut request = request(a, model.count).map_err(|m| Refusal::error(2, &m))?;
    if exchange.is_some() && request.threads.is_none() {
        // The cores are shared by the processes on this machine.
        let here = distributed::processes_on_this_machine();
        request.threads = Some((hhc_runtime::simulation::default_threads() / here).max(1));
    }
    request.exchange = exchange;
    let simulation = Simulation::new(model, &request).map_err(|e| match e {
        SetupError::Usage(m) => Refusal::error(2, &m),
        SetupError::Failed(m) => Refusal::error(1, &m),
    })?;
    if writes_outputs {
        create_outputs(a).map_err(|m| Refusal::error(1, &m))?;
    }
    Ok(simulation)
}

/// [`prepare`] in every process of a job: all go on, or all stop with the first refusal (in
/// rank order), which process 0 prints.
fn prepare_everywhere(
    path: &Path,
    a: &RunArgs,
    exchange: Option<Arc<dyn Exchange>>,
    primary: bool,
) -> Result<Simulation, Refusal> {
    let Some(ex) = exchange.clone() else {
        return prepare(path, a, None, true);
    };
    let mine = prepare(path, a, exchange, primary);
    let said = mine
        .as_ref()
        .map(|_| ())
        .map_err(|r| format!("{}\t{}", r.code, r.text));
    match distributed::agree(ex.as_ref(), said) {
        Ok(()) => mine,
        Err((rank, said)) => {
            let (code, text) = said.split_once('\t').unwrap_or(("1", &said));
            let from = if rank == 0 {
                String::new()
            } else {
                format!("(in MPI process {rank}) ")
            };
            Err(Refusal {
                code: code.parse().unwrap_or(1),
                text: format!("{from}{text}"),
            })
        }
    }
}

fn run(path: &Path, a: &RunArgs) -> ExitCode {
    let started = Instant::now();
    let exchange = match processes() {
        Ok(e) => e,
        Err(r) => {
            eprint!("{}", r.text);
            return ExitCode::from(r.code);
        }
    };
    // In an MPI job, process 0 prints, reports and writes the outputs; the others step their
    // cells, exchange spikes, and end with the same exit code.
    let primary = exchange.as_ref().is_none_or(|e| e.rank() == 0);
    let code = match prepare_everywhere(path, a, exchange.clone(), primary) {
        Err(r) => {
            if primary {
                eprint!("{}", r.text);
            }
            ExitCode::from(r.code)
        }
        Ok(simulation) if primary => {
            run_and_report(simulation, path, a, started, exchange.is_some())
        }
        Ok(mut simulation) => match simulation.run(interrupt_flag(false), None) {
            Ok(_) => ExitCode::SUCCESS,
            Err(Stopped {
                error: RunError::Interrupted { .. },
                ..
            }) => ExitCode::from(130),
            Err(_) => ExitCode::from(1),
        },
    };
    // Every process waits until process 0 has printed and written everything: a launcher
    // ends the whole job as soon as one process exits with an error.
    if let Some(ex) = &exchange {
        ex.all_gather(&[]);
    }
    code
}

/// Runs the simulation with its header, progress and outputs (process 0's part of a job).
fn run_and_report(
    mut simulation: Simulation,
    path: &Path,
    a: &RunArgs,
    started: Instant,
    under_mpi: bool,
) -> ExitCode {
    let compiled = started.elapsed().as_secs_f64();
    // The header, before the run: what is about to run and for how long.
    let s = simulation.summary().clone();
    let morphology = s.sections > 0;
    if let Some(net) = &simulation.model().network {
        use hhc_compiler::sema::network::{PopulationKind, SpikeTrains};
        let parts: Vec<String> = net
            .populations
            .iter()
            .map(|p| match &p.kind {
                PopulationKind::Cells(m) => {
                    let comps: usize = m.cell.sections.iter().map(|s| s.nseg).sum();
                    let plural = if comps == 1 { "" } else { "s" };
                    format!(
                        "{} = {} × {} ({comps} compartment{plural})",
                        p.name, p.count, m.cell.name
                    )
                }
                PopulationKind::Artificial(ins) => {
                    let played = match &ins.vector {
                        Some(ts) => {
                            let n = ts.total(p.count);
                            format!(" (playing {n} spike{})", if n == 1 { "" } else { "s" })
                        }
                        None => String::new(),
                    };
                    format!("{} = {} × {}{played}", p.name, p.count, ins.mechanism.name)
                }
                PopulationKind::Spikes(ts) => {
                    let sources = if p.count == 1 { "" } else { "s" };
                    match ts {
                        SpikeTrains::Same(t) => format!(
                            "{} = {} spike source{sources} ({} spike{} each)",
                            p.name,
                            p.count,
                            t.len(),
                            if t.len() == 1 { "" } else { "s" }
                        ),
                        SpikeTrains::PerCell(_) => format!(
                            "{} = {} spike source{sources} ({} spikes from a file)",
                            p.name,
                            p.count,
                            ts.total(p.count)
                        ),
                    }
                }
            })
            .collect();
        println!(
            "network: {} ({})",
            path.display(),
            net.connections_summary()
        );
        println!("populations: {}", parts.join(", "));
    } else if morphology {
        println!(
            "model: {} ({} sections, {} compartments per cell)",
            s.cell, s.sections, s.compartments
        );
    } else {
        println!(
            "model: {} (cell {}, {} mechanism{})",
            path.display(),
            s.cell,
            s.mechanisms,
            if s.mechanisms == 1 { "" } else { "s" }
        );
    }
    let (read, exact): (Vec<_>, Vec<_>) = s.tables.iter().partition(|t| t.1);
    let names = |list: &[&(String, bool)]| {
        list.iter()
            .map(|t| t.0.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !exact.is_empty() {
        println!(
            "tables: {} computed exactly (NEURON reads its TABLE by default: `usetable = 1` does too)",
            names(&exact)
        );
    }
    if !read.is_empty() {
        println!(
            "tables: {} read from NEURON's TABLE (usetable = 1)",
            names(&read)
        );
    }
    println!("backend: {}", s.backend);
    println!(
        "cells: {}, steps: {} x dt {} ms = {} ms",
        s.cells,
        s.steps,
        s.dt,
        record::fmt_time(s.steps as f64 * s.dt)
    );
    let (reporter, bar) = progress::reporter(simulation.work_per_step(), s.steps);
    let t_run = Instant::now();
    let outcome = simulation.run(interrupt_flag(true), reporter);
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
        }) => return report_stop(&error, 0, s.dt, false),
    };
    let run_time = t_run.elapsed().as_secs_f64() - result.compile_seconds;
    let compile_time = compiled + result.compile_seconds;
    let done_ms = result.steps_done as f64 * s.dt;
    let names: Vec<String> = result.traces.iter().map(|t| t.name.clone()).collect();
    let values: Vec<Vec<f64>> = result.traces.iter().map(|t| t.values.clone()).collect();
    // Spike times of the first recorded cell (cell 0 on a morphology, at its detector).
    let first_cell = if morphology {
        Some(0)
    } else {
        names
            .first()
            .and_then(|n| n.trim_start_matches("cell").parse().ok())
    };
    let first_cell = if result.network.is_some() {
        None
    } else {
        first_cell
    };
    if let (Some(net), Some(trace)) = (&result.network, names.first()) {
        // The first recorded cell of a network: its name is `population[i] probe`.
        let cell = trace.split(' ').next().unwrap_or_default();
        let gid = net.populations.iter().find_map(|(name, first, _)| {
            let i: u64 = cell
                .strip_prefix(name.as_str())?
                .strip_prefix('[')?
                .strip_suffix(']')?
                .parse()
                .ok()?;
            Some(first + i)
        });
        if let Some(gid) = gid {
            let times: Vec<String> = net
                .spikes
                .iter()
                .filter(|(c, _)| *c == gid)
                .take(12)
                .map(|&(_, t)| record::fmt_time(t))
                .collect();
            println!("{cell} (cell {gid}) spike times (ms): {}", times.join(", "));
        }
    }
    if let Some(c0) = first_cell {
        let times: Vec<String> = result
            .spikes
            .iter()
            .filter(|(c, _)| *c == c0)
            .take(if morphology { usize::MAX } else { 12 })
            .map(|&(_, k)| record::fmt_time((k + 1) as f64 * s.dt))
            .collect();
        if morphology {
            println!(
                "cell 0 spike times at {} (ms): {}",
                result.detector,
                times.join(", ")
            );
        } else if !times.is_empty() {
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
    // Traced states and currents sit beside each place's V as `place name`.
    let traced: Vec<Option<(&str, &str)>> = names
        .iter()
        .map(|n| {
            a.trace.iter().find_map(|q| {
                n.strip_suffix(q.as_str())?
                    .strip_suffix(' ')
                    .map(|place| (place, q.as_str()))
            })
        })
        .collect();
    let headers: Vec<String> = names
        .iter()
        .zip(&traced)
        .enumerate()
        .map(|(k, (name, t))| match t {
            Some((place, q)) => format!("{q}@{place}"),
            None if k == 0 => "V_mV".to_string(),
            None => format!("V_mV_{name}"),
        })
        .collect();
    if let Some(p) = &a.csv {
        if let Err(e) = record::write_columns_csv(p, s.dt, &headers, &values) {
            eprintln!("error: cannot write {}: {e}", p.display());
            return ExitCode::from(1);
        }
    }
    if let Some(net) = &result.network {
        let ranges: Vec<String> = net
            .populations
            .iter()
            .map(|(name, first, count)| format!("{name} {first}–{}", first + count - 1))
            .collect();
        println!(
            "populations (global cell ids): {}; {} events delivered",
            ranges.join(", "),
            net.events_delivered
        );
        if under_mpi {
            println!(
                "MPI (process 0): {:.3} ms exchanging spikes (waits for the others included), {:.3} ms reading, sorting and filing them",
                net.exchange_seconds * 1e3,
                net.filing_seconds * 1e3
            );
        }
    }
    if let Some(p) = &a.spikes {
        let written = match &result.network {
            Some(net) => record::write_spike_times_csv(p, &net.spikes),
            None => record::write_spikes_csv(p, s.dt, &result.spikes),
        };
        if let Err(e) = written {
            eprintln!("error: cannot write {}: {e}", p.display());
            return ExitCode::from(1);
        }
    }
    if let Some(p) = &a.plot {
        let fi = result.stimulus_per_cell.as_ref().map(|stim| {
            stim.iter()
                .zip(&result.spike_counts)
                .map(|(&x, &c)| (x, f64::from(c) / (done_ms.max(s.dt) * 1e-3)))
                .collect()
        });
        // V only: traced states and currents are in other units.
        let voltages: Vec<usize> = (0..names.len()).filter(|&k| traced[k].is_none()).collect();
        let legend: Vec<String> = voltages
            .iter()
            .map(|&k| match names[k].strip_prefix("cell") {
                Some(c) if !morphology => format!("cell {c}"),
                _ => names[k].clone(),
            })
            .collect();
        let v_traces: Vec<Vec<f64>> = voltages.iter().map(|&k| values[k].clone()).collect();
        let mut states: Vec<plot::Quantity> = Vec::new();
        for (k, t) in traced.iter().enumerate() {
            let Some((place, quantity)) = t else { continue };
            let at = match states.iter().position(|q| q.name == *quantity) {
                Some(at) => at,
                None => {
                    states.push(plot::Quantity {
                        name: quantity.to_string(),
                        traces: Vec::new(),
                    });
                    states.len() - 1
                }
            };
            let place = match place.strip_prefix("cell") {
                Some(c) if !morphology => format!("cell {c}"),
                _ => place.to_string(),
            };
            states[at].traces.push((place, values[k].clone()));
        }
        if states.len() > plot::MAX_STATE_PANELS {
            eprintln!(
                "note: the plot shows the first {} traced quantities of {}; the CSV holds them all",
                plot::MAX_STATE_PANELS,
                states.len()
            );
        }
        let title = match &result.network {
            Some(net) => format!(
                "network of {} cells",
                net.populations.iter().map(|p| p.2).sum::<u64>()
            ),
            None => s.cell.clone(),
        };
        let data = plot::PlotData {
            title: &title,
            dt: s.dt,
            labels: &legend,
            traces: &v_traces,
            spikes: &result.spikes,
            n: s.cells,
            tstop: done_ms,
            fi,
            populations: result
                .network
                .as_ref()
                .map_or(&[][..], |n| n.populations.as_slice()),
            states: &states,
        };
        if let Err(e) = plot::plot(p, &data) {
            eprintln!("error: cannot plot to {}: {e}", p.display());
            return ExitCode::from(1);
        }
    }
    let rate =
        s.cells as f64 * s.compartments as f64 * result.steps_done as f64 / run_time.max(1e-9);
    println!(
        "wall: {:.3} s (compile {compile_time:.3} s, run {run_time:.3} s), {rate:.3e} compartment-steps/s",
        started.elapsed().as_secs_f64(),
    );
    if let Some(p) = &a.csv {
        if !a.trace.is_empty() {
            println!("csv: {} (t_ms, {})", p.display(), headers.join(", "));
        } else if morphology {
            println!(
                "csv: {} (t_ms, then V at {})",
                p.display(),
                names.join(", ")
            );
        } else {
            println!("csv: {}", p.display());
        }
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
        Some(error) => report_stop(&error, result.steps_done, s.dt, true),
    }
}
