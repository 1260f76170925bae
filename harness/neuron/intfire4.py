"""NEURON 9.0.2 reference for tests/fixtures/neuron/intfire4/intfire4.chan.

    bench/.venv/bin/python harness/neuron/intfire4.py

Six IntFire4 cells (NEURON's defaults: taue 5, taui1 10, taui2 20, taum 50 ms; cell 5 with
taue 3, taui1 8, taui2 15, taum 30 ms): five driven by a NetStim every 3 ms (weights 0.2, 0.3,
0.5, 0.8 and 0.5), and an inhibitory NetStim every 7 ms (weight -0.6) onto cells 1, 3 and 5;
cell 0 gets only inhibition. Fixed step 0.025 ms, 200 ms. Writes spikes.csv: every spike (cell, time), the NetStims are cells 6 and 7.
"""
from pathlib import Path

from neuron import h

h.load_file("stdrun.hoc")
cells = []
for k in range(6):
    c = h.IntFire4()
    if k == 5:
        c.taue = 3; c.taui1 = 8; c.taui2 = 15; c.taum = 30
    cells.append(c)
drive = h.NetStim(); drive.start = 2; drive.interval = 3; drive.number = 60; drive.noise = 0
inhibit = h.NetStim(); inhibit.start = 5; inhibit.interval = 7; inhibit.number = 25
inhibit.noise = 0
ncs, spikes = [], []
for k, w in ((1, 0.2), (2, 0.3), (3, 0.5), (4, 0.8), (5, 0.5)):
    nc = h.NetCon(drive, cells[k]); nc.delay = 1; nc.weight[0] = w; ncs.append(nc)
for k in (0, 1, 3, 5):
    nc = h.NetCon(inhibit, cells[k]); nc.delay = 1; nc.weight[0] = -0.6; ncs.append(nc)
for k, src in enumerate(cells + [drive, inhibit]):
    nc = h.NetCon(src, None); tv = h.Vector(); nc.record(tv)
    ncs.append(nc); spikes.append((k, tv))
h.dt = 0.025; h.steps_per_ms = 40
h.finitialize(-65)
h.continuerun(200)
rows = sorted((t, k) for k, tv in spikes for t in tv)
out = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "neuron" / "intfire4"
with open(out / "spikes.csv", "w") as f:
    f.write("# NEURON 9.0.2: IntFire4 and NetStim spike times (ms), fixed step dt 0.025\ncell,t_ms\n")
    for t, k in rows:
        f.write(f"{k},{t:.17g}\n")
print(len(rows), "spikes;", {k: sum(1 for _, j in rows if j == k) for k in range(8)})
