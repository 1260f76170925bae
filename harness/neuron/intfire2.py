"""NEURON 9.0.2 reference for tests/fixtures/neuron/intfire2/intfire2.chan.

    bench/.venv/bin/python harness/neuron/intfire2.py

Six IntFire2 cells (taus 20 ms, taum 10 ms): two with bias ib 1.2 and 1.5, which fire on
their own, and four driven by a NetStim every 3 ms (weights 0.3, 0.5, 0.8 and 0.5 with ib
-0.2), and an inhibitory NetStim every 7 ms (weight -0.4) onto cells 1, 3 and 5. Fixed step
0.025 ms, 200 ms. Writes spikes.csv: every spike (cell, time), the NetStims are cells 6 and 7.
"""
from pathlib import Path

from neuron import h

h.load_file("stdrun.hoc")
cells = []
for ib in (1.2, 1.5, 0, 0, 0, -0.2):
    c = h.IntFire2(); c.taus = 20; c.taum = 10; c.ib = ib
    cells.append(c)
drive = h.NetStim(); drive.start = 2; drive.interval = 3; drive.number = 60; drive.noise = 0
inhibit = h.NetStim(); inhibit.start = 5; inhibit.interval = 7; inhibit.number = 25
inhibit.noise = 0
ncs, spikes = [], []
for k, w in ((2, 0.3), (3, 0.5), (4, 0.8), (5, 0.5)):
    nc = h.NetCon(drive, cells[k]); nc.delay = 1; nc.weight[0] = w; ncs.append(nc)
for k in (1, 3, 5):
    nc = h.NetCon(inhibit, cells[k]); nc.delay = 1; nc.weight[0] = -0.4; ncs.append(nc)
for k, src in enumerate(cells + [drive, inhibit]):
    nc = h.NetCon(src, None); tv = h.Vector(); nc.record(tv)
    ncs.append(nc); spikes.append((k, tv))
h.dt = 0.025; h.steps_per_ms = 40
h.finitialize(-65)
h.continuerun(200)
rows = sorted((t, k) for k, tv in spikes for t in tv)
out = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "neuron" / "intfire2"
with open(out / "spikes.csv", "w") as f:
    f.write("# NEURON 9.0.2: IntFire2 and NetStim spike times (ms), fixed step dt 0.025\ncell,t_ms\n")
    for t, k in rows:
        f.write(f"{k},{t:.17g}\n")
print(len(rows), "spikes;", {k: sum(1 for _, j in rows if j == k) for k in range(8)})
