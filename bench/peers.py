#!/usr/bin/env python3
"""hhc beside NEURON, Arbor, Brian2, braincell and a hand-written C ceiling.

The same model everywhere: N uncoupled textbook HH cells (gNa 120, gK 36, gL 0.3 mS/cm2,
EL -54.387 mV, 6.3 degC), 10 uA/cm2, dt 0.01 ms, float64, one thread unless noted. Each system
runs in its own process and reports its setup time (build, compile, initialise) and its run time;
the table gives compartment-steps per second of run time and the ratio of hhc's rate to each.

Usage: bench/setup.sh && bench/.venv/bin/python bench/peers.py [--n 10000 100000] [--tstop 100]
"""
import argparse, json, os, re, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HHC = os.path.join(ROOT, "target", "release", "hhc")
AREA_CM2 = 1e-6          # a 100 um^2 single compartment: 10 uA/cm2 is 0.01 nA
DIAM_UM = (100 / 3.141592653589793) ** 0.5

NEURON_SRC = r'''
import json, sys, time
t0 = time.perf_counter()
from neuron import h
N, TSTOP = int(sys.argv[1]), float(sys.argv[2])
h.load_file("stdrun.hoc")
secs, stims = [], []
for i in range(N):
    s = h.Section(name=f"c{i}")
    s.L = s.diam = DIAM
    s.insert("hh")
    for seg in s:
        seg.hh.el = -54.387
    st = h.IClamp(s(0.5)); st.delay = 0; st.dur = 1e9; st.amp = 0.01
    secs.append(s); stims.append(st)
apc = h.APCount(secs[0](0.5)); apc.thresh = 20
h.celsius = 6.3; h.dt = 0.01; h.steps_per_ms = 100
h.CVode().cache_efficient(1)
h.finitialize(-65)
t1 = time.perf_counter()
h.continuerun(TSTOP)
t2 = time.perf_counter()
print(json.dumps({"setup_s": t1 - t0, "run_s": t2 - t1, "steps": int(round(TSTOP / 0.01)), "spikes_cell0": int(apc.n)}))
'''

ARBOR_SRC = r'''
import json, sys, time
t0 = time.perf_counter()
import arbor as A
U = A.units
N, TSTOP = int(sys.argv[1]), float(sys.argv[2])
class Recipe(A.recipe):
    def __init__(self, n):
        A.recipe.__init__(self)
        self.n = n
        self.props = A.neuron_cable_properties()
        self.props.set_property(Vm=-65 * U.mV, tempK=(6.3 + 273.15) * U.Kelvin, cm=0.01 * U.F / U.m2)
        tree = A.segment_tree()
        r = DIAM / 2
        tree.append(A.mnpos, A.mpoint(-DIAM / 2, 0, 0, r), A.mpoint(DIAM / 2, 0, 0, r), tag=1)
        decor = (A.decor()
                 .paint("(all)", A.density("hh", {"el": -54.387}))
                 .place("(location 0 0.5)", A.i_clamp(0.01 * U.nA))
                 .place("(location 0 0.5)", A.threshold_detector(20 * U.mV), "det"))
        self.cell = A.cable_cell(A.morphology(tree), decor, A.label_dict(), A.cv_policy_single())
    def num_cells(self): return self.n
    def cell_kind(self, gid): return A.cell_kind.cable
    def cell_description(self, gid): return self.cell
    def global_properties(self, kind): return self.props
rec = Recipe(N)
ctx = A.context(threads=1)
hints = {A.cell_kind.cable: A.partition_hint(cpu_group_size=N)}
dd = A.partition_load_balance(rec, ctx, hints)
sim = A.simulation(rec, ctx, dd)
sim.record(A.spike_recording.all)
t1 = time.perf_counter()
sim.run(TSTOP * U.ms, 0.01 * U.ms)
t2 = time.perf_counter()
spikes = sim.spikes()
print(json.dumps({"setup_s": t1 - t0, "run_s": t2 - t1, "steps": int(round(TSTOP / 0.01)), "spikes_cell0": int(sum(1 for s in spikes if s[0][0] == 0))}))
'''

BRIAN2_SRC = r'''
import json, sys, time, tempfile
t0 = time.perf_counter()
from brian2 import *
N, TSTOP, OUTDIR = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
set_device("cpp_standalone", directory=OUTDIR, build_on_run=False)
prefs.devices.cpp_standalone.openmp_threads = 0
defaultclock.dt = 0.01 * ms
eqs = """
dv/dt = (gl*(El - v) - gNa*m**3*h*(v - ENa) - gK*n**4*(v - EK) + I)/Cm : volt
dm/dt = alpham*(1 - m) - betam*m : 1
dh/dt = alphah*(1 - h) - betah*h : 1
dn/dt = alphan*(1 - n) - betan*n : 1
alpham = 1/exprel(-(v + 40*mV)/(10*mV))/ms : Hz
betam = 4*exp(-(v + 65*mV)/(18*mV))/ms : Hz
alphah = 0.07*exp(-(v + 65*mV)/(20*mV))/ms : Hz
betah = 1/(exp(-(v + 35*mV)/(10*mV)) + 1)/ms : Hz
alphan = 0.1/exprel(-(v + 55*mV)/(10*mV))/ms : Hz
betan = 0.125*exp(-(v + 65*mV)/(80*mV))/ms : Hz
"""
ns = dict(gl=0.3*msiemens/cm**2, gNa=120*msiemens/cm**2, gK=36*msiemens/cm**2, El=-54.387*mV, ENa=50*mV, EK=-77*mV,
          Cm=1*ufarad/cm**2, I=10*uA/cm**2)
G = NeuronGroup(N, eqs, method="exponential_euler", threshold="v > 20*mV", refractory="v > 20*mV", namespace=ns)
G.v = -65*mV; G.m = 0.0529; G.h = 0.5961; G.n = 0.3177
sm = SpikeMonitor(G[:1])
run(TSTOP * ms)
device.build(directory=OUTDIR, compile=True, run=True)
t2 = time.perf_counter()
run_s = device._last_run_time
print(json.dumps({"setup_s": t2 - t0 - run_s, "run_s": run_s, "steps": int(round(TSTOP / 0.01)), "spikes_cell0": int(sm.num_spikes)}))
'''

BRAINCELL_SRC = r'''
import json, sys, time
t0 = time.perf_counter()
import brainstate
brainstate.environ.set(precision=64)
import brainunit as u, braincell, jax
N, STEPS = int(sys.argv[1]), int(sys.argv[2])
class HH(braincell.SingleCompartment):
    def __init__(self, size):
        super().__init__(size, V_th=20. * u.mV, solver="exp_euler")
        self.na = braincell.ion.SodiumFixed(size, E=50. * u.mV)
        self.na.add(INa=braincell.channel.Na_HH1952(size, g_max=120. * (u.mS / u.cm ** 2)))
        self.k = braincell.ion.PotassiumFixed(size, E=-77. * u.mV)
        self.k.add(IK=braincell.channel.K_HH1952(size, g_max=36. * (u.mS / u.cm ** 2)))
        self.IL = braincell.channel.IL(size, E=-54.387 * u.mV, g_max=0.3 * (u.mS / u.cm ** 2))
neuron = HH(N)
neuron.init_state()
I = 10. * u.uA / u.cm ** 2
def step(t):
    with brainstate.environ.context(t=t):
        neuron.update(I)
    return neuron.spike.value[0]
@brainstate.transform.jit
def run(times):
    return brainstate.transform.for_loop(step, times)
with brainstate.environ.context(dt=0.01 * u.ms):
    times = u.math.arange(0. * u.ms, STEPS * 0.01 * u.ms, brainstate.environ.get_dt())
    jax.block_until_ready(run(times[:2]))      # compile
    t1 = time.perf_counter()
    spk = jax.block_until_ready(run(times))
    t2 = time.perf_counter()
print(json.dumps({"setup_s": t1 - t0, "run_s": t2 - t1, "steps": STEPS, "spikes_cell0": int(spk.sum())}))
'''


def run_py(src, *args, timeout=3600):
    src = src.replace("DIAM", repr(DIAM_UM))
    env = dict(os.environ, OMP_NUM_THREADS="1", XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", src, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)
    wall = time.perf_counter() - t0
    line = next((l for l in reversed(p.stdout.splitlines()) if l.startswith("{")), None)
    if p.returncode != 0 or line is None:
        return {"error": (p.stderr or p.stdout).strip().splitlines()[-1:] or ["failed"]}
    r = json.loads(line)
    r["wall_s"] = wall
    return r


def run_hhc(n, tstop, threads=1, precision="f64", isa=None):
    cmd = [HHC, "run", os.path.join(HERE, "classic_pop.chan"), "--n", str(n), "--tstop", str(tstop),
           "--threads", str(threads), "--precision", precision, "--no-record"]
    env = dict(os.environ, HHC_BATCH_ISA=isa) if isa else None
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    m = re.search(r"run ([0-9.]+) s", p.stdout)
    if p.returncode != 0 or not m:
        return {"error": [p.stderr.strip()[-200:]]}
    run_s = float(m.group(1))
    return {"setup_s": wall - run_s, "run_s": run_s, "steps": int(round(tstop / 0.01)), "wall_s": wall,
            "spikes_total": int(re.search(r"spikes: (\d+)", p.stdout).group(1))}


# The stronger ceiling (bench/ceiling_strong.c) on both vector paths hhc has.
STRONG_AVX512 = ["-march=native", "-mprefer-vector-width=512"]
STRONG_AVX2 = ["-march=native", "-mno-avx512f", "-mavx2", "-mfma"]


def run_ceiling(n, tstop, source="ceiling.c", flags=("-march=native",)):
    exe = os.path.join(tempfile.gettempdir(), "hhc_" + source.replace(".c", "") + "_" + str(abs(hash(tuple(flags)))))
    t0 = time.perf_counter()
    subprocess.run(["gcc", "-O3", *flags, "-ffast-math", "-o", exe, os.path.join(HERE, source), "-lm"], check=True)
    build = time.perf_counter() - t0
    steps = int(round(tstop / 0.01))
    p = subprocess.run([exe, str(n), str(steps), "10"], capture_output=True, text=True)
    m = re.search(r"run: ([0-9.]+) s", p.stdout)
    return {"setup_s": build, "run_s": float(m.group(1)), "steps": steps, "spikes_total": int(re.search(r"spikes: (\d+)", p.stdout).group(1))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="+", default=[10000, 100000])
    ap.add_argument("--tstop", type=float, default=100.0)
    ap.add_argument("--braincell-steps", type=int, default=1000, help="braincell is timed on fewer steps and scaled")
    ap.add_argument("--skip", nargs="*", default=[])
    args = ap.parse_args()
    rows = []
    for n in args.n:
        results = {}
        results["hhc f64 1 thread"] = run_hhc(n, args.tstop)
        results["hhc f32 1 thread"] = run_hhc(n, args.tstop, precision="f32")
        results["hhc f64 2 threads"] = run_hhc(n, args.tstop, threads=2)
        results["C ceiling (gcc -O3 -march=native -ffast-math)"] = run_ceiling(n, args.tstop)
        results["strong C ceiling, AVX-512 (ceiling_strong.c)"] = run_ceiling(n, args.tstop, "ceiling_strong.c", STRONG_AVX512)
        results["hhc f64 1 thread, AVX2 (HHC_BATCH_ISA=avx2)"] = run_hhc(n, args.tstop, isa="avx2")
        results["strong C ceiling, AVX2 (-mavx2 -mfma)"] = run_ceiling(n, args.tstop, "ceiling_strong.c", STRONG_AVX2)
        if "neuron" not in args.skip:
            results["NEURON 9.0.2"] = run_py(NEURON_SRC, n, args.tstop)
        if "arbor" not in args.skip:
            results["Arbor 0.12.2"] = run_py(ARBOR_SRC, n, args.tstop)
        if "brian2" not in args.skip:
            with tempfile.TemporaryDirectory() as d:
                results["Brian2 C++ standalone"] = run_py(BRIAN2_SRC, n, args.tstop, d)
        if "braincell" not in args.skip:
            results["braincell 0.2.0 (exp_euler, jit)"] = run_py(BRAINCELL_SRC, n, args.braincell_steps)
        base = results["hhc f64 1 thread"]
        base_rate = n * base["steps"] / base["run_s"] if "run_s" in base else float("nan")
        print(f"\nN = {n}, {args.tstop} ms at dt 0.01 ms, float64 unless noted")
        print(f"{'system':48} {'setup s':>9} {'run s':>9} {'steps/s':>10} {'hhc f64 / it':>13}")
        for name, r in results.items():
            if "error" in r:
                print(f"{name:48} error: {r['error']}")
                continue
            rate = n * r["steps"] / r["run_s"]
            print(f"{name:48} {r['setup_s']:9.3f} {r['run_s']:9.3f} {rate:10.3e} {base_rate / rate:13.2f}")
            rows.append((n, name, r))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
