#!/usr/bin/env python3
"""Networks over MPI processes: hhc beside NEURON's ParallelContext, and a model of 10^3 ranks.

The network is network_peers.py's ringtest in small (rings of ball-and-stick cells: HH soma,
11-compartment passive dendrite, ExpSyn; NetCon delay 1 ms; a spike source starts each ring),
100 ms at dt 0.025 ms, one thread per process. Both systems run it as 1 and 2 MPI processes:

- strong scaling: the same `--rings` rings on 1 and 2 processes;
- weak scaling: `--rings / 2` rings per process (half the network on 1 process, all on 2).

The tables give the time to step the network (set-up excluded) and the speed-up; the spikes
must agree between hhc's runs and NEURON's. Then `runtime/examples/allgather_cost` measures one
all-gather (as hhc calls it) against message size on 2 processes, and the model of scaling to
10^3 processes prints its inputs and its predictions (see bench/RESULTS.md for the model).

Usage (Open MPI installed; NEURON 9.0.2 in the Python that runs this, for its columns):
    cargo build --release -p hhc --features mpi
    cargo build --release -p hhc-runtime --features mpi --example allgather_cost
    bench/.venv/bin/python bench/mpi_scaling.py [--rings 512] [--ncell 8]
"""
import argparse, json, math, os, re, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HHC = os.path.join(ROOT, "target", "release", "hhc")
ALLGATHER = os.path.join(ROOT, "target", "release", "examples", "allgather_cost")
sys.path.insert(0, HERE)
from network_peers import hhc_model  # noqa: E402

MPIRUN = ["mpirun", "--oversubscribe", "--bind-to", "core"]
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")

NEURON_SRC = r'''
import json, sys, time
from neuron import h
h.nrnmpi_init()
h.load_file("stdrun.hoc")
pc = h.ParallelContext()
rank, nhost = int(pc.id()), int(pc.nhost())
RINGS, NCELL, TSTOP = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
sys.path.insert(0, sys.argv[4])
from cells import ballstick
N = RINGS * NCELL
t0 = time.perf_counter()
keep, syns = [], {}
for gid in range(rank, N, nhost):          # round-robin, as NEURON's ringtest distributes
    soma, dend = ballstick(f"{gid}")
    syn = h.ExpSyn(dend(0.5)); syn.tau = 2; syn.e = 0
    pc.set_gid2node(gid, rank)
    nc = h.NetCon(soma(0.5)._ref_v, None, sec=soma); nc.threshold = 10
    pc.cell(gid, nc)
    keep += [soma, dend, syn, nc]
    syns[gid] = syn
if rank == 0:                               # the spike source, gid N
    stim = h.NetStim(); stim.number = 1; stim.start = 1; stim.noise = 0
    pc.set_gid2node(N, 0)
    pc.cell(N, h.NetCon(stim, None))
    keep.append(stim)
for gid, syn in syns.items():
    r, i = divmod(gid, NCELL)
    pre = r * NCELL + (i - 1) % NCELL
    for src in ([pre, N] if i == 0 else [pre]):
        nc = pc.gid_connect(src, syn); nc.delay = 1; nc.weight[0] = 0.05
        keep.append(nc)
tvec, idvec = h.Vector(), h.Vector()
pc.spike_record(-1, tvec, idvec)
h.celsius = 6.3
h.usetable_hh = 0
h.dt = 0.025; h.steps_per_ms = 40
h.CVode().cache_efficient(1)
pc.set_maxstep(10)
h.stdinit()
t1 = time.perf_counter()
pc.psolve(TSTOP)
t2 = time.perf_counter()
spikes = int(pc.allreduce(len(tvec), 1))
run = pc.allreduce(t2 - t1, 2)
pc.barrier()
if rank == 0:
    print(json.dumps({"setup_s": t1 - t0, "run_s": run, "spikes": spikes}))
pc.done()
h.quit()
'''


def run_hhc(path, processes):
    # Under mpirun on one process too, so that it reports its exchange and filing clocks.
    cmd = MPIRUN + ["-np", str(processes), HHC, "run", path, "--no-record", "--threads", "1"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=ENV).stdout
    run = float(re.search(r"run ([0-9.]+) s\)", out).group(1))
    mpi = re.search(r"([0-9.]+) ms exchanging spikes .*, ([0-9.]+) ms reading, sorting and filing", out)
    clocks = (float(mpi.group(1)) * 1e-3, float(mpi.group(2)) * 1e-3) if mpi else (0.0, 0.0)
    return run, int(re.search(r"spikes: (\d+)", out).group(1)), clocks


def run_neuron(rings, ncell, tstop, processes):
    harness = os.path.join(ROOT, "harness", "neuron")
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(NEURON_SRC)
    cmd = ([] if processes == 1 else MPIRUN + ["-np", str(processes)]) + [
        sys.executable, f.name, str(rings), str(ncell), str(tstop), harness]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=ENV).stdout
        return json.loads(out.strip().splitlines()[-1])
    except (subprocess.CalledProcessError, IndexError, json.JSONDecodeError) as e:
        print(f"NEURON on {processes} process(es) did not run: {getattr(e, 'stderr', e)}"[:400])
        return None
    finally:
        os.unlink(f.name)


def allgather_costs():
    out = subprocess.run(MPIRUN + ["-np", "2", ALLGATHER], capture_output=True, text=True,
                         check=True, env=ENV).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def fit(costs):
    """Latency alpha (s) and seconds per byte beta of T(m) = alpha + beta * m, m the bytes of
    all processes together (least squares on sizes up to 24 kB, where the model is meant)."""
    pts = [(c["bytes"] * c["processes"], c["median_s"]) for c in costs if c["bytes"] <= 24_000]
    n = len(pts)
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    beta = sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)
    return my - beta * mx, beta


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rings", type=int, default=512)
    ap.add_argument("--ncell", type=int, default=8)
    ap.add_argument("--tstop", type=float, default=100)
    a = ap.parse_args()
    steps = int(round(a.tstop / 0.025))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for kind, rings, processes in [("strong", a.rings, 1), ("strong", a.rings, 2),
                                       ("weak", a.rings // 2, 1), ("weak", a.rings, 2)]:
            sub = os.path.join(folder, f"{kind}{rings}")
            os.makedirs(sub, exist_ok=True)
            path = hhc_model(sub, rings, a.ncell, a.tstop)
            h_run, h_spikes, clocks = run_hhc(path, processes)
            nrn = run_neuron(rings, a.ncell, a.tstop, processes)
            rows.append((kind, rings, processes, h_run, h_spikes, nrn, clocks))
        # The model's inputs from hhc alone, 10 times longer, so that the clocks of the
        # exchange and the filing read milliseconds, not their noise.
        sub = os.path.join(folder, "model")
        os.makedirs(sub, exist_ok=True)
        path = hhc_model(sub, a.rings, a.ncell, 10 * a.tstop)
        inputs = [(p,) + run_hhc(path, p) for p in (1, 2)]
    print(f"ringtest, {a.ncell} cells per ring (12 compartments each), {steps} steps of 0.025 ms, "
          "one thread per process")
    print("| scaling | cells | processes | hhc run (s) | hhc speed-up | NEURON run (s) | NEURON speed-up | NEURON ÷ hhc | spikes hhc / NEURON |")
    print("|---|---|---|---|---|---|---|---|---|")
    base = {}
    for kind, rings, processes, h_run, h_spikes, nrn, _ in rows:
        n_run = nrn["run_s"] if nrn else float("nan")
        if processes == 1:
            base[kind] = (h_run, n_run)
        hb, nb = base[kind]
        # Strong: t1 / tP; weak: efficiency t1 / tP with P times the work.
        spikes = f"{h_spikes} / {nrn['spikes'] if nrn else '–'}"
        print(f"| {kind} | {rings * a.ncell} | {processes} | {h_run:.3f} | {hb / h_run:.2f} | "
              f"{n_run:.3f} | {nb / n_run:.2f} | {n_run / h_run:.2f} | {spikes} |")
        if nrn:
            # Both count the spike source's spike.
            assert h_spikes == nrn["spikes"], "hhc and NEURON spike counts differ"
    costs = allgather_costs()
    print()
    print("one all-gather on 2 processes (shared memory), median of many calls:")
    print("| bytes per process | seconds |")
    print("|---|---|")
    for c in costs:
        print(f"| {c['bytes']} | {c['median_s']:.3e} |")
    alpha, beta = fit(costs)
    # Compute per cell-step, from the long run on one process.
    (_, run1, spikes1, clocks1), (_, run2, spikes2, clocks2) = inputs
    n_cells, model_ms = a.rings * a.ncell, 10 * a.tstop
    cell_step = run1 / (n_cells * model_ms / 0.025)
    spikes_per_cell_ms = (spikes1 - 1) / (n_cells * model_ms)
    # Filing: each process reads every spike of the network (cost per spike `read`), and sorts
    # and files those with targets in it (`own`, per spike; 1/P of them in the ringtest). From
    # the strong runs: f1 = S (read + own), f2 = S (read + own / 2).
    spikes = max(spikes1, 1)
    f1, f2 = clocks1[1], clocks2[1]
    own = max(2 * (f1 - f2) / spikes, 0.0)
    read = max(f1 / spikes - own, 0.0)
    print()
    print(f"model inputs: {n_cells} cells, {model_ms:.0f} ms, {spikes1} spikes")
    for p, run, spikes_p, clocks in inputs:
        print(f"hhc on {p} process(es): run {run:.3f} s; process 0 spent {clocks[0]:.4f} s in "
              f"all-gathers and {clocks[1]:.4f} s reading, sorting and filing the spikes")
    print(f"model inputs: compute {cell_step:.3e} s per cell-step (12 compartments), "
          f"{spikes_per_cell_ms:.4f} spikes per cell per ms, all-gather alpha {alpha:.2e} s "
          f"+ beta {beta:.2e} s/byte (shared memory, 2 processes); per spike, reading "
          f"{read:.2e} s in every process and sorting and filing {own:.2e} s where its targets are")
    print()
    # The prediction for 10^6 ringtest cells, 1 s of model time, epochs of 1 ms.
    n, t_model, epoch_ms = 1_000_000, 1000.0, 1.0
    epochs = t_model / epoch_ms
    print(f"prediction: {n} cells, {t_model:.0f} ms, an exchange every {epoch_ms} ms "
          "(24 bytes a spike; latency grows as log2 P, volume as the spikes of all P)")
    print("| processes | compute (s) | exchange (s) | filing (s) | total (s) | speed-up | efficiency |")
    print("|---|---|---|---|---|---|---|")
    t_1 = None
    for p in [1, 2, 8, 64, 256, 1024]:
        compute = cell_step * n / p * t_model / 0.025
        bytes_all = spikes_per_cell_ms * n * epoch_ms * 24
        exchange = 0.0 if p == 1 else epochs * (alpha * math.ceil(math.log2(p)) + beta * bytes_all)
        # Every process reads every spike of the network, whatever P; it files 1/P of them.
        filing = (read + own / p) * spikes_per_cell_ms * n * t_model
        total = compute + exchange + filing
        t_1 = t_1 or total
        print(f"| {p} | {compute:.3f} | {exchange:.3f} | {filing:.3f} | {total:.3f} | "
              f"{t_1 / total:.1f} | {t_1 / total / p:.2f} |")


if __name__ == "__main__":
    main()
