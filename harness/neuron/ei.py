"""NEURON 9.0.2 reference for tests/fixtures/neuron/ei/ei.chan.

    bench/.venv/bin/python harness/neuron/ei.py

A random excitatory/inhibitory network of 100 one-compartment HH cells (80 E, 20 I) with Exp2Syn
synapses, for 300 ms. The E cells get an IClamp; every connection has its own weight and delay
(1 to 5 ms). The connections are drawn here (seed 1) and written as CSV files `pre,post,weight,
delay` that hhc's model reads, so both simulators build the same network. Writes spikes.csv (every
spike: global cell id, time) and v.csv (V of E cell 0 and I cell 0, every step).
"""
from pathlib import Path

import numpy as np
from neuron import h

from cells import hh_soma, textbook_run

h.load_file("stdrun.hoc")
NE, NI, P = 80, 20, 0.1
rng = np.random.default_rng(1)
out = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "neuron" / "ei"


class Cell:
    def __init__(self, name):
        self.soma = hh_soma(name)
        self.esyn = h.Exp2Syn(self.soma(0.5)); self.esyn.tau1 = 0.5; self.esyn.tau2 = 3; self.esyn.e = 0
        self.isyn = h.Exp2Syn(self.soma(0.5)); self.isyn.tau1 = 1; self.isyn.tau2 = 8; self.isyn.e = -80


textbook_run()
E = [Cell(f"e{i}") for i in range(NE)]
I = [Cell(f"i{i}") for i in range(NI)]
stims = []
for c in E:
    s = h.IClamp(c.soma(0.5)); s.delay = 5; s.dur = 290; s.amp = 0.12
    stims.append(s)
netcons = []
for name, pre, post, syn, w in [("ee", E, E, "esyn", 0.002), ("ei", E, I, "esyn", 0.004),
                                ("ie", I, E, "isyn", 0.01), ("ii", I, I, "isyn", 0.005)]:
    with open(out / f"{name}.csv", "w") as f:
        f.write("pre,post,weight,delay\n")
        for j in range(len(post)):
            for i in range(len(pre)):
                if pre is post and i == j or rng.random() >= P:
                    continue
                weight = round(w * rng.uniform(0.5, 1.5), 6)
                delay = round(rng.uniform(1, 5), 4)
                f.write(f"{i},{j},{weight},{delay}\n")
                nc = h.NetCon(pre[i].soma(0.5)._ref_v, getattr(post[j], syn), sec=pre[i].soma)
                nc.threshold = 10; nc.weight[0] = weight; nc.delay = delay
                netcons.append(nc)
recs = []
for gid, c in enumerate(E + I):
    tv = h.Vector(); nc = h.NetCon(c.soma(0.5)._ref_v, None, sec=c.soma); nc.threshold = 10
    nc.record(tv); recs.append((gid, tv, nc))
t = h.Vector().record(h._ref_t)
vs = [h.Vector().record(c.soma(0.5)._ref_v) for c in (E[0], I[0])]
h.dt = 0.025; h.steps_per_ms = 40
h.finitialize(-65)
h.continuerun(300)
rows = sorted((tt, gid) for gid, tv, _ in recs for tt in tv)
with open(out / "spikes.csv", "w") as f:
    f.write("# NEURON 9.0.2: spike times (ms), fixed step dt 0.025\ncell,t_ms\n")
    for tt, gid in rows:
        f.write(f"{gid},{tt:.17g}\n")
with open(out / "v.csv", "w") as f:
    f.write("t_ms,e0,i0\n")
    for k in range(len(t)):
        f.write(f"{t[k]:.17g},{vs[0][k]:.12g},{vs[1][k]:.12g}\n")
print(len(netcons), "connections,", len(rows), "spikes:",
      sum(1 for _, g in rows if g < NE), "E,", sum(1 for _, g in rows if g >= NE), "I")
