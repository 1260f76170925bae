#!/usr/bin/env python3
"""Multi-compartment speed: hhc beside NEURON and Arbor on the branched cell.

The model is `examples/branched.chan` (`examples/branched.swc`): an HH soma and axon, passive
dendrites, and 7 sections cut by d_lambda = 0.1 into 35 compartments. Each system runs 1000
copies for 100 ms at dt 0.025 ms, float64, with 0.3 nA into each soma. All three build the same
sections, using hhc's documented SWC conventions (harness/neuron/branched.py, which is imported
here). Each runs in its own process, on 1 and then 2 threads, and reports setup and run time.
The table gives each system's time to step the cells (the issue's measure: a peer's time divided
by hhc's), its compartment-steps per second, and hhc's rate divided by each peer's. Arbor's
d_lambda policy cuts the same sections into more CVs than NEURON and hhc, so the two ratios differ.
hhc also runs its whole-cell kernel (`--fused-cable`, the GPU's layout: one cell per lane) in
f64 and f32, so the two CPU layouts are compared in the same run.

Usage: bench/setup.sh && bench/.venv/bin/python bench/cable_peers.py [--n 1000] [--tstop 100]
"""
import argparse, json, os, re, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HHC = os.path.join(ROOT, "target", "release", "hhc")

COMMON = r'''
import json, sys, time, importlib.util
t0 = time.perf_counter()
import numpy as np
N, TSTOP, THREADS = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
_spec = importlib.util.spec_from_file_location("branched", ROOT + "/harness/neuron/branched.py")
branched = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(branched)
SECTIONS = branched.swc_sections(ROOT + "/examples/branched.swc")
nseg = branched.nseg_d_lambda
'''

NEURON_SRC = COMMON + r'''
from neuron import h
h.load_file("stdrun.hoc")
keep = []
for i in range(N):
    secs = branched.build_cell(SECTIONS, f"_{i}")
    st = h.IClamp(secs["soma"](0.5)); st.delay, st.dur, st.amp = 5, 80, 0.3
    keep.append((secs, st))
h.celsius = 6.3
h.usetable_hh = 0
h.dt = 0.025; h.steps_per_ms = 40
pc = h.ParallelContext(); pc.nthread(THREADS)
h.CVode().cache_efficient(1)
h.finitialize(-65)
t1 = time.perf_counter()
h.continuerun(TSTOP)
t2 = time.perf_counter()
comps = sum(s.nseg for s in h.allsec())
print(json.dumps({"setup_s": t1 - t0, "run_s": t2 - t1, "steps": int(round(TSTOP / 0.025)), "compartments": comps}))
'''

ARBOR_SRC = COMMON + r'''
import arbor as A
U = A.units
# Soma as two half cylinders, so that children attach at its centre, as in hhc and NEURON.
tree = A.segment_tree()
seg_end = {}
branch_of = {}
for nm, parent, x, length, diam in SECTIONS:
    r = diam / 2
    if parent is None:
        a = tree.append(A.mnpos, A.mpoint(0, 0, 0, r), A.mpoint(length / 2, 0, 0, r), tag=1)
        b = tree.append(a, A.mpoint(length / 2, 0, 0, r), A.mpoint(length, 0, 0, r), tag=1)
        seg_end[nm] = (a, b)
    else:
        pa, pb = seg_end[parent]
        at = pa if x == 0.5 else pb
        tag = 2 if nm.startswith("axon") else 3
        s = tree.append(at, A.mpoint(0, 0, 0, r), A.mpoint(length, 0, 0, r), tag=tag)
        seg_end[nm] = (s, s)
morph = A.morphology(tree)
decor = (A.decor()
         .set_property(Vm=-65 * U.mV, cm=0.01 * U.F / U.m2, rL=100 * U.Ohm * U.cm, tempK=(6.3 + 273.15) * U.Kelvin)
         .paint('(tag 1)', A.density("hh", {"el": -54.387}))
         .paint('(tag 2)', A.density("hh", {"el": -54.387}))
         .paint('(tag 3)', A.density("pas/e=-65", {"g": 0.0001}))
         .place('(location 0 0.5)', A.i_clamp(5 * U.ms, 80 * U.ms, 0.3 * U.nA))
         .place('(location 0 0.5)', A.threshold_detector(0 * U.mV), "det"))
# About NEURON's d_lambda count: no CV longer than the axon's (310 um / 11 nodes).
cell = A.cable_cell(morph, decor, A.label_dict(), A.cv_policy_max_extent(310 / 11 * U.um))
n_cv = A.cv_data(cell).num_cv
class Recipe(A.recipe):
    def __init__(self, n):
        A.recipe.__init__(self); self.n = n
        self.props = A.neuron_cable_properties()
        self.props.set_ion("na", int_con=10 * U.mM, ext_con=140 * U.mM, rev_pot=50 * U.mV)
        self.props.set_ion("k", int_con=54.4 * U.mM, ext_con=2.5 * U.mM, rev_pot=-77 * U.mV)
    def num_cells(self): return self.n
    def cell_kind(self, gid): return A.cell_kind.cable
    def cell_description(self, gid): return cell
    def global_properties(self, kind): return self.props
rec = Recipe(N)
ctx = A.context(threads=THREADS)
hints = {A.cell_kind.cable: A.partition_hint(cpu_group_size=max(1, N // THREADS))}
sim = A.simulation(rec, ctx, A.partition_load_balance(rec, ctx, hints))
t1 = time.perf_counter()
sim.run(TSTOP * U.ms, 0.025 * U.ms)
t2 = time.perf_counter()
print(json.dumps({"setup_s": t1 - t0, "run_s": t2 - t1, "steps": int(round(TSTOP / 0.025)), "compartments": N * n_cv}))
'''


def run_py(src, n, tstop, threads):
    code = "ROOT = %r\n" % ROOT + src
    out = subprocess.run([sys.executable, "-c", code, str(n), str(tstop), str(threads)], capture_output=True, text=True)
    line = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if not line:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(line[-1])


def run_hhc(n, tstop, threads, extra=()):
    t0 = time.perf_counter()
    out = subprocess.run([HHC, "run", os.path.join(ROOT, "examples", "branched.chan"), "--n", str(n), "--tstop", str(tstop),
                          "--no-record", "--threads", str(threads), *extra], capture_output=True, text=True, check=True)
    total = time.perf_counter() - t0
    comps = int(re.search(r"(\d+) compartments per cell", out.stdout).group(1))
    run_s = float(re.search(r"run ([\d.]+) s\)", out.stdout).group(1))
    steps = int(round(tstop / 0.025))
    return {"setup_s": total - run_s, "run_s": run_s, "steps": steps, "compartments": n * comps}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--tstop", type=float, default=100.0)
    ap.add_argument("--skip", nargs="*", default=[])
    ap.add_argument("--skip-whole-cell", action="store_true", help="leave out hhc's whole-cell kernel rows")
    a = ap.parse_args()
    rows = []
    for threads in (1, 2):
        for name, fn in [("hhc", lambda: run_hhc(a.n, a.tstop, threads)),
                         # The GPU's layout on the CPU: each cell's whole cable one kernel.
                         ("hhc whole-cell", lambda: run_hhc(a.n, a.tstop, threads, ["--fused-cable"])),
                         ("hhc whole-cell f32", lambda: run_hhc(a.n, a.tstop, threads, ["--fused-cable", "--precision", "f32"])),
                         ("NEURON 9.0.2", lambda: run_py(NEURON_SRC, a.n, a.tstop, threads)),
                         ("Arbor 0.12.2", lambda: run_py(ARBOR_SRC, a.n, a.tstop, threads))]:
            if name.split()[0].lower() in [s.lower() for s in a.skip] or (a.skip_whole_cell and "whole-cell" in name):
                continue
            try:
                r = fn()
            except Exception as e:  # a peer that fails is reported, not fatal
                print(f"{name} ({threads} thr): failed: {e}", file=sys.stderr)
                continue
            rate = r["compartments"] * r["steps"] / r["run_s"]
            rows.append((name, threads, r["compartments"], rate, r["setup_s"], r["run_s"]))
            print(f"{name:14s} {threads} thr  {r['compartments']:7d} comps  {rate:.3e} comp-steps/s  setup {r['setup_s']:.2f} s  run {r['run_s']:.2f} s", flush=True)
    # The measure is the time to step the n cells (each system discretises the same
    # morphology its own way); compartment-steps/s is given beside it.
    print("\n| system | threads | compartments | compartment-steps/s | run s | system time ÷ hhc time | hhc rate ÷ system rate | setup s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, thr, comps, rate, setup, run_s in rows:
        hhc = [r for r in rows if r[0] == "hhc" and r[1] == thr]
        rate_ratio = hhc[0][3] / rate if hhc else float("nan")
        time_ratio = run_s / hhc[0][5] if hhc else float("nan")
        print(f"| {name} | {thr} | {comps} | {rate:.3e} | {run_s:.2f} | {time_ratio:.2f} | {rate_ratio:.2f} | {setup:.2f} |")

if __name__ == "__main__":
    main()
