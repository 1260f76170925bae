"""NEURON 9.0.2 reference for tests/fixtures/neuron/geometry.chan: mechanisms that read their
segment's `diam` and `area`.

    bench/.venv/bin/python harness/neuron/geometry.py     (needs a C compiler, for nrnivmodl)

Reads tests/fixtures/neuron/threepoint.swc with Import3d as reconstructions.py does (Ra 100 ohm
cm, d_lambda 0.1, hh in soma and axon), replaces pas in the dendrites by geomleak.mod (a leak
scaled by diam/area), clamps soma(0.5) with 0.3 nA from 5 ms for 40 ms, and runs 60 ms at dt
0.025 ms and 6.3 degC. Writes geometry_diam.csv (section, k, NEURON's seg.diam for every
segment) and geometry_v.csv (V at soma(0.5), dend1(0.5) and dend2(1), every step).
"""
from neuron import h

from cells import run_and_write_v, textbook_run
from nrnmech import load_mods
from reconstructions import HERE, load

load_mods([HERE / "geomleak.mod"], prefix="hhc-geomleak-")
h.load_file("stdrun.hoc")
h.load_file("import3d.hoc")
secs = load("threepoint")
for name, sec in secs.items():
    if name.startswith("dend"):
        sec.uninsert("pas")
        sec.insert("geomleak")
with open(HERE / "geometry_diam.csv", "w") as f:
    f.write("section,k,diam_um\n")
    for name, sec in secs.items():
        for k, seg in enumerate(sec):
            f.write(f"{name},{k},{seg.diam:.17g}\n")
textbook_run()
stim = h.IClamp(secs["soma"](0.5)); stim.delay = 5; stim.dur = 40; stim.amp = 0.3
sites = [secs["soma"](0.5), secs["dend1"](0.5), secs["dend2"](1)]
t, rec = run_and_write_v(sites, ["soma_0.5", "dend1_0.5", "dend2_1"], 60, HERE / "geometry_v.csv")
print("spikes", [round(t[k], 3) for k in range(1, len(t)) if rec[0][k - 1] <= 0 < rec[0][k]])
