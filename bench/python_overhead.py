"""What driving hhc from Python costs: the same run from the command line and from Python,
alternated, and the time to build a 10^4-cell parameter sweep from a numpy array.

    python/.venv/bin/python bench/python_overhead.py [--n 100000] [--tstop 20] [--rounds 3]

Needs the package in that environment (`bash python/test.sh` builds it) and the CLI
(`cargo build --release -p hhc`). Prints compartment-steps/s of each round and the ratio of the
medians; the goal is Python within 5 % of the CLI, and a sweep built in under 50 ms.
"""
import argparse
import re
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np

import hhc

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "examples" / "hh.chan"


def cli(n, tstop, threads):
    out = subprocess.run(
        [str(REPO / "target" / "release" / "hhc"), "run", str(MODEL), "--n", str(n),
         "--tstop", str(tstop), "--no-record", "--threads", str(threads)],
        check=True, capture_output=True, text=True,
    ).stdout
    run_s = float(re.search(r"run ([0-9.]+) s\)", out).group(1))
    return n * round(tstop / 0.01) / run_s


def python(model, n, tstop, threads):
    start = time.perf_counter()
    model.run(n=n, tstop=tstop, threads=threads, record=False)
    return n * round(tstop / 0.01) / (time.perf_counter() - start)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--tstop", type=float, default=20.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    model = hhc.load(MODEL)
    c, py = [], []
    for k in range(a.rounds):
        c.append(cli(a.n, a.tstop, a.threads))
        py.append(python(model, a.n, a.tstop, a.threads))
        print(f"round {k}: cli {c[-1]:.3e}  python {py[-1]:.3e} compartment-steps/s")
    print(f"python / cli (medians): {statistics.median(py) / statistics.median(c):.3f}"
          " (Python's time includes compiling the kernel; the CLI's 'run' excludes it)")
    sweep = hhc.load(MODEL)
    g = np.linspace(0.0, 5.0, 10_000)
    start = time.perf_counter()
    sweep.set_per_cell("IL", "g_max", g)
    built = time.perf_counter() - start
    start = time.perf_counter()
    sweep.run(tstop=0.01, record=False)
    first = time.perf_counter() - start
    print(f"10^4-cell sweep: set_per_cell {built * 1e3:.2f} ms; compiled and one step run in"
          f" {first * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
