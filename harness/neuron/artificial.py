"""NEURON 9.0.2 reference for tests/fixtures/neuron/artificial/artificial.chan.

    bench/.venv/bin/python harness/neuron/artificial.py

Artificial cells with cells: a NetStim (start 2 ms, every 4 ms, 15 spikes, no noise) drives 5
IntFire1 cells (tau 10 ms, refrac 5 ms) with weights 0.3 to 0.7 (delay 1 ms); the IntFire1 cells
excite a ball-and-stick cell's ExpSyn (weight 0.02 uS, delays 1.5 to 3.5 ms), whose spikes feed
back onto the IntFire1 cells (weight 0.5, delay 2 ms). A second NetStim, started by the first
IntFire1 cell's spikes (weight 1, delay 1 ms), fires 3 spikes 2 ms apart, each ending an
IntFire1 refractory period early or not. Fixed step 0.025 ms, 100 ms. Writes spikes.csv (global
ids in hhc's order: stim 0, ifs 1-5, cell 6, stim2 7) and connection files.
"""
from pathlib import Path

from neuron import h

from cells import ballstick, textbook_run

h.load_file("stdrun.hoc")
out = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "neuron" / "artificial"

soma, dend = ballstick()
syn = h.ExpSyn(dend(0.5)); syn.tau = 2; syn.e = 0
textbook_run()

stim = h.NetStim(); stim.start = 2; stim.interval = 4; stim.number = 15; stim.noise = 0
stim2 = h.NetStim(); stim2.start = -1; stim2.interval = 2; stim2.number = 3; stim2.noise = 0
ifs = [h.IntFire1() for _ in range(5)]
for f in ifs:
    f.tau = 10; f.refrac = 5
keep, recs = [], []
for gid, src in [(0, stim), (7, stim2)] + [(1 + i, f) for i, f in enumerate(ifs)]:
    v = h.Vector(); nc = h.NetCon(src, None); nc.record(v); recs.append((gid, v)); keep.append(nc)
v = h.Vector(); nc = h.NetCon(soma(0.5)._ref_v, None, sec=soma); nc.threshold = 10; nc.record(v)
recs.append((6, v)); keep.append(nc)
stim_ifs, ifs_cell, cell_ifs = [], [], []
for i, f in enumerate(ifs):
    nc = h.NetCon(stim, f); nc.weight[0] = 0.3 + 0.1 * i; nc.delay = 1; keep.append(nc)
    stim_ifs.append((0, i, 0.3 + 0.1 * i, 1))
    nc = h.NetCon(f, syn); nc.weight[0] = 0.02; nc.delay = 1.5 + 0.5 * i; keep.append(nc)
    ifs_cell.append((i, 0, 0.02, 1.5 + 0.5 * i))
    nc = h.NetCon(soma(0.5)._ref_v, f, sec=soma); nc.threshold = 10; nc.weight[0] = 0.5; nc.delay = 2
    keep.append(nc)
    cell_ifs.append((0, i, 0.5, 2))
nc = h.NetCon(ifs[0], stim2); nc.weight[0] = 1; nc.delay = 1; keep.append(nc)
for f in ifs:
    nc = h.NetCon(stim2, f); nc.weight[0] = 0.2; nc.delay = 1; keep.append(nc)
for name, rows in [("stim_ifs", stim_ifs), ("ifs_cell", ifs_cell), ("cell_ifs", cell_ifs)]:
    with open(out / f"{name}.csv", "w") as fh:
        fh.write("pre,post,weight,delay\n")
        for a, b, w, d in rows:
            fh.write(f"{a},{b},{w:.6g},{d:.6g}\n")
h.dt = 0.025; h.steps_per_ms = 40
h.finitialize(-65)
h.continuerun(100)
rows = sorted((t, gid) for gid, v in recs for t in v)
with open(out / "spikes.csv", "w") as fh:
    fh.write("# NEURON 9.0.2: spike times (ms), fixed step dt 0.025\ncell,t_ms\n")
    for t, gid in rows:
        fh.write(f"{gid},{t:.17g}\n")
print(len(rows), "spikes:", [(g, round(t, 4)) for t, g in rows][:30])
