"""NEURON 9.0.2 reference for tests/fixtures/neuron/ring/ring.chan.

    bench/.venv/bin/python harness/neuron/ring.py

A ring of 8 ball-and-stick cells (hh soma, passive dendrite, an ExpSyn at dend(0.5)); cell i's
NetCon (threshold 10 mV at soma(0.5), delay 1 ms, weight 0.05 uS) drives cell i+1, and a NetStim
firing once at 1 ms starts cell 0. Fixed step, dt 0.025 ms, 100 ms. Writes ring.csv (every
spike: cell, time; the NetStim is cell 8) and ring_v.csv (V at soma(0.5) and dend(0.5) of cells
0 and 3, every step).
"""
from pathlib import Path

from neuron import h

from cells import ballstick, textbook_run

h.load_file("stdrun.hoc")
N = 8


class BallStick:
    def __init__(self, i):
        self.soma, self.dend = ballstick(str(i))
        self.syn = h.ExpSyn(self.dend(0.5)); self.syn.tau = 2; self.syn.e = 0


textbook_run()
cells = [BallStick(i) for i in range(N)]
netcons, spikes = [], []
for i, c in enumerate(cells):
    nc = h.NetCon(c.soma(0.5)._ref_v, cells[(i + 1) % N].syn, sec=c.soma)
    nc.threshold = 10; nc.delay = 1; nc.weight[0] = 0.05
    tv = h.Vector(); nc.record(tv)
    netcons.append(nc); spikes.append((i, tv))
stim = h.NetStim(); stim.number = 1; stim.start = 1; stim.noise = 0
kick = h.NetCon(stim, cells[0].syn); kick.delay = 1; kick.weight[0] = 0.05
kv = h.Vector(); kick.record(kv); spikes.append((N, kv))
t = h.Vector().record(h._ref_t)
rec = [h.Vector().record(x._ref_v) for c in (cells[0], cells[3]) for x in (c.soma(0.5), c.dend(0.5))]
h.dt = 0.025; h.steps_per_ms = 40
h.finitialize(-65)
h.continuerun(100)
out = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "neuron" / "ring"
rows = sorted((tt, i) for i, tv in spikes for tt in tv)
with open(out / "ring.csv", "w") as f:
    f.write("# NEURON 9.0.2: NetCon spike times (ms), fixed step dt 0.025\ncell,t_ms\n")
    for tt, i in rows:
        f.write(f"{i},{tt:.17g}\n")
with open(out / "ring_v.csv", "w") as f:
    f.write("t_ms,ring0_soma,ring0_dend,ring3_soma,ring3_dend\n")
    for k in range(len(t)):
        f.write(f"{t[k]:.17g}," + ",".join(f"{r[k]:.12g}" for r in rec) + "\n")
print(len(rows), "spikes; cell 0 at", [round(tt, 3) for tt, i in rows if i == 0])
