#!/usr/bin/env python3
"""Network speed: hhc beside NEURON and Arbor on a ringtest-style network.

NEURON's ringtest (github neuronsimulator/ringtest) in small: `--rings` rings of `--ncell`
ball-and-stick cells (an HH soma, a passive dendrite of 11 compartments, an ExpSyn at dend(0.5));
cell i of a ring excites cell i+1 through a NetCon (threshold 10 mV, delay 1 ms, weight 0.05 uS),
and a spike source at 1 ms starts cell 0 of every ring. Both systems build the same network
(hhc from a generated model and connection list), run 100 ms at dt 0.025 ms in float64 on one
thread, and must give the same spikes. The table gives each system's time to step the network
(setup and compilation excluded), compartment-steps per second, and NEURON's time divided by
hhc's. NEURON runs twice: with hh's rates computed exactly (`usetable_hh = 0`, as hhc computes
them, so the spikes are the same) and with its default rate tables (faster, slightly different
spikes). hhc's `--threads 2` runs too. Arbor builds the same cells (one CV for the soma, 11 for the
dendrite) and connections, with the first cells' kick as an event at 2 ms; its spike count is
shown, not required to match (its step differs from NEURON's).

Usage: bench/setup.sh && bench/.venv/bin/python bench/network_peers.py [--rings 256] [--ncell 8]
"""
import argparse, json, os, re, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HHC = os.path.join(ROOT, "target", "release", "hhc")

NEURON_SRC = r'''
import json, sys, time
t0 = time.perf_counter()
from neuron import h
h.load_file("stdrun.hoc")
RINGS, NCELL, TSTOP = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
sys.path.insert(0, sys.argv[5])
from cells import ballstick
cells, keep = [], []
for r in range(RINGS):
    ring = []
    for i in range(NCELL):
        soma, dend = ballstick(f"{r}_{i}")
        syn = h.ExpSyn(dend(0.5)); syn.tau = 2; syn.e = 0
        ring.append((soma, dend, syn))
    cells.append(ring)
spikes = h.Vector(); ids = h.Vector()
for r, ring in enumerate(cells):
    for i, (soma, dend, syn) in enumerate(ring):
        nc = h.NetCon(soma(0.5)._ref_v, ring[(i + 1) % NCELL][2], sec=soma)
        nc.threshold = 10; nc.delay = 1; nc.weight[0] = 0.05
        nc.record(spikes, ids, r * NCELL + i)
        keep.append(nc)
stim = h.NetStim(); stim.number = 1; stim.start = 1; stim.noise = 0
for ring in cells:
    nc = h.NetCon(stim, ring[0][2]); nc.delay = 1; nc.weight[0] = 0.05
    keep.append(nc)
h.celsius = 6.3
h.usetable_hh = int(sys.argv[4])
h.dt = 0.025; h.steps_per_ms = 40
h.CVode().cache_efficient(1)
h.finitialize(-65)
t1 = time.perf_counter()
h.continuerun(TSTOP)
t2 = time.perf_counter()
print(json.dumps({"setup_s": t1 - t0, "run_s": t2 - t1, "spikes": len(spikes),
                  "compartments": sum(s.nseg for s in h.allsec())}))
'''

ARBOR_SRC = r'''
import json, sys, time
t0 = time.perf_counter()
import arbor as A
U = A.units
RINGS, NCELL, TSTOP, THREADS = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
tree = A.segment_tree()
soma = tree.append(A.mnpos, A.mpoint(0, 0, 0, 10), A.mpoint(20, 0, 0, 10), tag=1)
tree.append(soma, A.mpoint(20, 0, 0, 0.5), A.mpoint(220, 0, 0, 0.5), tag=3)
labels = A.label_dict({"soma": "(tag 1)", "dend": "(tag 3)",
                       "center": "(on-components 0.5 (region \"soma\"))",
                       "dmid": "(on-components 0.5 (region \"dend\"))"})
decor = (A.decor()
         .set_property(Vm=-65 * U.mV, cm=0.01 * U.F / U.m2, rL=100 * U.Ohm * U.cm, tempK=(6.3 + 273.15) * U.Kelvin)
         .set_ion("na", rev_pot=50 * U.mV)
         .set_ion("k", rev_pot=-77 * U.mV)
         .paint('"soma"', A.density("hh", {"gnabar": 0.12, "gkbar": 0.036, "gl": 0.0003, "el": -54.387}))
         .paint('"dend"', A.density("pas/e=-65", {"g": 0.001}))
         .place('"dmid"', A.synapse("expsyn", {"tau": 2, "e": 0}), "syn")
         .place('"center"', A.threshold_detector(10 * U.mV), "det"))
policy = A.cv_policy('(join (fixed-per-branch 1 (region "soma")) (fixed-per-branch 11 (region "dend")))')
cell = A.cable_cell(A.morphology(tree), decor, labels, policy)


class Rings(A.recipe):
    def __init__(self):
        A.recipe.__init__(self)
        self.props = A.neuron_cable_properties()

    def num_cells(self):
        return RINGS * NCELL

    def cell_kind(self, gid):
        return A.cell_kind.cable

    def cell_description(self, gid):
        return cell

    def global_properties(self, kind):
        return self.props

    def connections_on(self, gid):
        r, i = divmod(gid, NCELL)
        src = r * NCELL + (i - 1) % NCELL
        return [A.connection((src, "det"), "syn", 0.05, 1 * U.ms)]

    def event_generators(self, gid):
        if gid % NCELL:
            return []
        return [A.event_generator("syn", 0.05, A.explicit_schedule([2 * U.ms]))]


ctx = A.context(threads=THREADS)
sim = A.simulation(Rings(), ctx)
sim.record(A.spike_recording.all)
t1 = time.perf_counter()
sim.run(TSTOP * U.ms, 0.025 * U.ms)
t2 = time.perf_counter()
print(json.dumps({"setup_s": t1 - t0, "run_s": t2 - t1, "spikes": len(sim.spikes())}))
'''


def hhc_model(folder, rings, ncell, tstop):
    with open(os.path.join(HERE, "hh_classic.chan")) as f:
        open(os.path.join(folder, "hh_classic.chan"), "w").write(f.read())
    with open(os.path.join(folder, "ring_links.csv"), "w") as f:
        f.write("pre,post,weight,delay\n")
        for r in range(rings):
            for i in range(ncell):
                f.write(f"{r * ncell + i},{r * ncell + (i + 1) % ncell},0.05,1\n")
    with open(os.path.join(folder, "kick_links.csv"), "w") as f:
        f.write("pre,post,weight,delay\n")
        for r in range(rings):
            f.write(f"0,{r * ncell},0.05,1\n")
    model = f"""
CELL BallStick {{
    v_init = -65 (mV)
    V_th = 10 (mV)
    Ra = 100 (ohm cm)
    ION na {{ e = 50 (mV) }}
    ION k {{ e = -77 (mV) }}
    SECTION soma {{ L = 20 (um)  diam = 20 (um) }}
    SECTION dend {{ parent = soma  L = 200 (um)  diam = 1 (um)  nseg = 11 }}
    INSERT hh_classic IN soma {{ }}
    INSERT IL IN dend {{ E = -65 (mV)  g_max = 1 (mS/cm2) }}
    POINT syn = ExpSyn AT dend(0.5) {{ tau = 2 (ms)  e = 0 (mV) }}
}}
NETWORK {{
    POPULATION ring = BallStick {{ count = {rings * ncell} }}
    POPULATION kick = spikes {{ times = 1 (ms) }}
    CONNECT ring -> ring AT syn {{ file = ring_links }}
    CONNECT kick -> ring AT syn {{ file = kick_links }}
}}
SIMULATE {{ dt = 0.025 (ms)  tstop = {tstop} (ms)  celsius = 6.3 (degC) }}
"""
    path = os.path.join(folder, "rings.chan")
    open(path, "w").write(model)
    return path


def run_hhc(path, threads):
    out = subprocess.run([HHC, "run", path, "--no-record", "--threads", str(threads)],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"run ([0-9.]+) s\)", out)
    spikes = int(re.search(r"spikes: (\d+)", out).group(1))
    return float(m.group(1)), spikes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rings", type=int, default=256)
    ap.add_argument("--ncell", type=int, default=8)
    ap.add_argument("--tstop", type=float, default=100)
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-p", "hhc"], cwd=ROOT, check=True)
    n = a.rings * a.ncell
    steps = int(round(a.tstop / 0.025))
    comps = n * 12
    with tempfile.TemporaryDirectory() as folder:
        path = hhc_model(folder, a.rings, a.ncell, a.tstop)
        def neuron(tables):
            harness = os.path.join(ROOT, "harness", "neuron")
            out = subprocess.run([sys.executable, "-c", NEURON_SRC, str(a.rings), str(a.ncell), str(a.tstop), str(tables), harness],
                                 capture_output=True, text=True, check=True).stdout
            return json.loads(out.strip().splitlines()[-1])
        nrn = neuron(0)
        nrn_tables = neuron(1)
        arbor = None
        try:
            out = subprocess.run([sys.executable, "-c", ARBOR_SRC, str(a.rings), str(a.ncell), str(a.tstop), "1"],
                                 capture_output=True, text=True, check=True).stdout
            arbor = json.loads(out.strip().splitlines()[-1])
        except subprocess.CalledProcessError as e:
            print("Arbor did not run:", e.stderr.strip().splitlines()[-1:])
        h1, s1 = run_hhc(path, 1)
        h2, s2 = run_hhc(path, 2)
    nrn_spikes = nrn["spikes"] + 1  # hhc counts the spike source's spike too
    print(f"{n} cells ({a.rings} rings of {a.ncell}), {comps} compartments, {steps} steps; "
          f"spikes: NEURON {nrn['spikes']} (+1 source), hhc {s1 - 1} (+1 source)")
    assert s1 == nrn_spikes and s2 == nrn_spikes, "the spike counts differ"
    print("| system | run (s) | compartment-steps/s | NEURON ÷ it | it ÷ hhc (1 thread) |")
    print("|---|---|---|---|---|")
    for name, t in [("NEURON 9.0.2, 1 thread (exact rates, as hhc)", nrn["run_s"]),
                    (f"NEURON 9.0.2, 1 thread (hh's rate tables; {nrn_tables['spikes']} spikes)", nrn_tables["run_s"]),
                    ("hhc, 1 thread", h1), ("hhc, 2 threads", h2)] + (
                    [(f"Arbor 0.12.2, 1 thread ({arbor['spikes']} spikes)", arbor["run_s"])] if arbor else []):
        print(f"| {name} | {t:.3f} | {comps * steps / t:.3e} | {nrn['run_s'] / t:.2f} | {t / h1:.2f} |")


if __name__ == "__main__":
    main()
