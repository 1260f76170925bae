"""NEURON 9.0.2 reference for tests/fixtures/neuron/intervalfire/intervalfire.chan.

    bench/.venv/bin/python harness/neuron/intervalfire.py     (needs a C compiler, for nrnivmodl)

NEURON's demo IntervalFire (invlfire.mod from its wheel: an ARTIFICIAL_CELL that fires every
`invl` ms on its own and moves its pending self-event with net_move when an input arrives),
compiled by nrnivmodl. Three cells (invl 10, 12 and 15 ms, tau 5 ms) are pushed by a NetStim
(start 3 ms, every 7 ms, 10 spikes) with weights 0.2, 0.5 and -0.3 (delay 1 ms), and cell 0
drives cell 1 (weight 0.4, delay 2 ms). Fixed step 0.025 ms, 100 ms. Writes spikes.csv (global
ids in hhc's order: stim 0, cells 1-3).
"""
from pathlib import Path

import neuron
from neuron import h

from nrnmech import load_mods

out = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "neuron" / "intervalfire"
load_mods([Path(neuron.__file__).parent / ".data" / "share" / "nrn" / "demo" / "release" / "invlfire.mod"])
h.load_file("stdrun.hoc")
stim = h.NetStim(); stim.start = 3; stim.interval = 7; stim.number = 10; stim.noise = 0
cells = [h.IntervalFire() for _ in range(3)]
for c, invl in zip(cells, (10, 12, 15)):
    c.tau = 5; c.invl = invl
keep, recs = [], []
for gid, src in [(0, stim)] + [(1 + i, c) for i, c in enumerate(cells)]:
    v = h.Vector(); nc = h.NetCon(src, None); nc.record(v); recs.append((gid, v)); keep.append(nc)
for c, w in zip(cells, (0.2, 0.5, -0.3)):
    nc = h.NetCon(stim, c); nc.weight[0] = w; nc.delay = 1; keep.append(nc)
nc = h.NetCon(cells[0], cells[1]); nc.weight[0] = 0.4; nc.delay = 2; keep.append(nc)
h.dt = 0.025; h.steps_per_ms = 40
h.finitialize(-65)
h.continuerun(100)
rows = sorted((t, gid) for gid, v in recs for t in v)
with open(out / "spikes.csv", "w") as f:
    f.write("# NEURON 9.0.2: spike times (ms), fixed step dt 0.025\ncell,t_ms\n")
    for t, gid in rows:
        f.write(f"{gid},{t:.17g}\n")
print(len(rows), "spikes:", [(g, round(t, 3)) for t, g in rows][:20])
