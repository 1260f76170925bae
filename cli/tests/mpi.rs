//! `mpirun -np K hhc run net.chan` (the `mpi` feature): the job writes what one process
//! writes, byte for byte, for K = 2 and 3 (an uneven split), and stops together.
//!
//! Run with Open MPI installed: `cargo test --release -p hhc --features mpi --test mpi`.
//! `.ci/run` does. Without `mpirun` on the PATH these tests fail rather than pass unseen.
#![cfg(feature = "mpi")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `hhc run` as `processes` MPI processes (1: without mpirun), in `dir`.
fn hhc_run(processes: usize, dir: &Path, args: &[&str]) -> Output {
    let hhc = env!("CARGO_BIN_EXE_hhc");
    let mut c = if processes == 1 {
        Command::new(hhc)
    } else {
        let mut c = Command::new("mpirun");
        // Tests run as root in CI's containers, on fewer cores than processes, and a
        // process of two threads must not be bound to one core.
        c.env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
            .args(["--oversubscribe", "--bind-to", "none"])
            .args(["-np", &processes.to_string(), hhc]);
        c
    };
    c.arg("run")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("mpirun (Open MPI's openmpi-bin) is installed")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hhc-mpi-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// The spike list and the traces' CSV of `model` (in `dir`) as `processes` processes.
fn outputs(
    processes: usize,
    dir: &Path,
    model: &str,
    threads: &str,
    more: &[&str],
) -> (Vec<u8>, Vec<u8>) {
    let out = scratch(&format!("{model}-{processes}-{threads}"));
    let (spikes, csv) = (out.join("spikes.csv"), out.join("v.csv"));
    let mut args = vec![
        model,
        "--spikes",
        spikes.to_str().expect("path"),
        "--csv",
        csv.to_str().expect("path"),
        "--threads",
        threads,
    ];
    args.extend_from_slice(more);
    let o = hhc_run(processes, dir, &args);
    assert!(o.status.success(), "{processes} processes: {}", text(&o));
    if processes > 1 {
        assert!(
            text(&o).contains(&format!("{processes} MPI processes")),
            "{}",
            text(&o)
        );
        // Process 0 alone prints the summary.
        assert_eq!(text(&o).matches("spikes:").count(), 1, "{}", text(&o));
    }
    let read = |p: &Path| std::fs::read(p).expect("output written");
    let written = (read(&spikes), read(&csv));
    let _ = std::fs::remove_dir_all(&out);
    written
}

fn same_files_for_every_split(dir: &Path, model: &str) {
    same_files_for_every_split_with(dir, model, &[]);
}

fn same_files_for_every_split_with(dir: &Path, model: &str, more: &[&str]) {
    let alone = outputs(1, dir, model, "1", more);
    assert!(alone.0.len() > 100, "{model} spikes");
    for (processes, threads) in [(2, "1"), (3, "1"), (2, "2")] {
        let split = outputs(processes, dir, model, threads, more);
        assert!(
            split == alone,
            "{model}: {processes} processes of {threads} threads differ from one process"
        );
    }
}

#[test]
fn a_ring_and_an_ei_network_write_the_same_files_on_two_and_three_processes() {
    let dir = root().join("tests/fixtures/neuron");
    same_files_for_every_split(&dir.join("ring"), "ring.chan");
    same_files_for_every_split(&dir.join("ei"), "ei_values.chan");
    same_files_for_every_split(&root().join("examples"), "ei_network.chan");
}

/// Gap junctions join cells that different processes step: the partners' V is exchanged at
/// every step, so the split changes no bit.
#[test]
fn gap_junction_networks_write_the_same_files_on_two_and_three_processes() {
    same_files_for_every_split(&root().join("tests/fixtures/neuron/gap"), "gap.chan");
    same_files_for_every_split(&root().join("examples"), "gap_network.chan");
}

/// A population of branched cells (a SIMULATE count, no NETWORK) is split in blocks too.
#[test]
fn a_population_of_branched_cells_writes_the_same_files_on_two_and_three_processes() {
    same_files_for_every_split_with(&root().join("examples"), "branched.chan", &["--n", "7"]);
}

#[test]
fn a_blow_up_in_one_process_ends_the_job_with_its_message() {
    let dir = scratch("blow-up");
    let ring =
        std::fs::read_to_string(root().join("tests/fixtures/neuron/ring/ring.chan")).expect("ring");
    let ring = ring.replace("record = 0, 3 }", "record = 0, 3  values = bad }");
    std::fs::write(dir.join("ring.chan"), ring).expect("model");
    std::fs::copy(
        root().join("tests/fixtures/neuron/ring/hh_classic.chan"),
        dir.join("hh_classic.chan"),
    )
    .expect("channel");
    // Cell 5 (process 1's of 2, process 2's of 3) blows up when the ring's wave reaches it.
    std::fs::write(dir.join("bad.csv"), "syn.e\n0\n0\n0\n0\n0\n1e12\n0\n0\n").expect("values");
    let spikes = dir.join("s.csv");
    let args = ["ring.chan", "--spikes", spikes.to_str().expect("path")];
    let alone = hhc_run(1, &dir, &args);
    let kept = std::fs::read(&spikes).expect("partial spikes");
    assert_eq!(alone.status.code(), Some(1));
    for processes in [2, 3] {
        let o = hhc_run(processes, &dir, &args);
        assert!(!o.status.success());
        let said = text(&o);
        assert_eq!(
            said.matches("numerical blow-up in cell 5 at step 565")
                .count(),
            1,
            "{said}"
        );
        assert_eq!(std::fs::read(&spikes).expect("partial spikes"), kept);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Point cells are independent: each process runs a block, and the job writes one
/// process's files (the swept stimulus of fi_curve spans the whole population).
#[test]
fn point_cells_write_the_same_files_on_two_and_three_processes() {
    same_files_for_every_split(&root().join("examples"), "fi_curve.chan");
}

#[test]
fn whole_cell_kernels_are_refused_by_every_process_at_once() {
    let o = hhc_run(2, &root(), &["examples/branched.chan", "--fused-cable"]);
    assert!(!o.status.success());
    let said = text(&o);
    assert_eq!(said.matches("not whole-cell kernels").count(), 1, "{said}");
}

#[test]
fn an_unwritable_output_stops_every_process_before_the_run() {
    let o = hhc_run(
        3,
        &root(),
        &[
            "tests/fixtures/neuron/ring/ring.chan",
            "--spikes",
            "/nonexistent/dir/s.csv",
        ],
    );
    assert!(!o.status.success());
    let said = text(&o);
    assert!(said.contains("--spikes: cannot create"), "{said}");
    assert!(!said.contains("spikes:  "), "{said}");
}

/// A process that dies (here: killed) ends the whole job soon, with an error, instead of
/// leaving the others waiting in an all-gather.
#[test]
fn a_process_that_dies_ends_the_job_without_a_hang() {
    let hhc = env!("CARGO_BIN_EXE_hhc");
    let mut job = Command::new("mpirun")
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .args([
            "--oversubscribe",
            "-np",
            "2",
            hhc,
            "run",
            "examples/ei_network.chan",
        ])
        .args(["--tstop", "1000000", "--no-record", "--threads", "1"])
        .current_dir(root())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("mpirun starts");
    // Process 1: a child of mpirun with the rank 1 its launcher gave it.
    let started = std::time::Instant::now();
    let child_of_job = |e: &std::fs::DirEntry| -> Option<u32> {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        let ppid: u32 = stat
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        let env = std::fs::read(e.path().join("environ")).ok()?;
        let rank_1 = String::from_utf8_lossy(&env)
            .split('\0')
            .any(|v| v == "OMPI_COMM_WORLD_RANK=1");
        (ppid == job.id() && rank_1).then_some(pid)
    };
    let victim = loop {
        let found = std::fs::read_dir("/proc")
            .ok()
            .and_then(|dir| dir.flatten().find_map(|e| child_of_job(&e)));
        if let Some(pid) = found {
            break pid;
        }
        assert!(started.elapsed().as_secs() < 60, "process 1 never started");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    // Let it run into the stepping loop, then kill it.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let killed = Command::new("kill")
        .args(["-9", &victim.to_string()])
        .status();
    assert!(killed.is_ok_and(|s| s.success()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = job.try_wait().expect("wait") {
            break status;
        }
        let late = std::time::Instant::now() > deadline;
        if late {
            let _ = job.kill();
        }
        assert!(
            !late,
            "the job did not end within 60 s of process 1's death"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(!status.success());
    // Open MPI names the process that died.
    let mut said = String::new();
    if let Some(mut err) = job.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut err, &mut said);
    }
    assert!(said.contains("rank 1"), "{said}");
}
