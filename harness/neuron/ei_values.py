"""NEURON 9.0.2 reference for tests/fixtures/neuron/ei/ei_values.chan.

    bench/.venv/bin/python harness/neuron/ei_values.py

The network of ei.py (its connection files, ee.csv, ei.csv, ie.csv, ii.csv, are read back), with
a value per E cell: the IClamp's amplitude (0.09 + 0.0006 i nA) and the excitatory synapse's
decay (2.5 + 0.01 i ms) of E cell i. Writes exc_values.csv (the table hhc's model reads) and
spikes_values.csv (every spike: global cell id, time).
"""
import csv
from pathlib import Path

from neuron import h

from cells import hh_soma, textbook_run

h.load_file("stdrun.hoc")
NE, NI = 80, 20
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
with open(out / "exc_values.csv", "w") as f:
    f.write("drive.amp,esyn.tau2\n")
    for i, c in enumerate(E):
        amp, tau2 = round(0.09 + 0.0006 * i, 6), round(2.5 + 0.01 * i, 6)
        f.write(f"{amp},{tau2}\n")
        s = h.IClamp(c.soma(0.5)); s.delay = 5; s.dur = 290; s.amp = amp
        c.esyn.tau2 = tau2
        stims.append(s)
netcons = []
for name, pre, post, syn in [("ee", E, E, "esyn"), ("ei", E, I, "esyn"), ("ie", I, E, "isyn"), ("ii", I, I, "isyn")]:
    with open(out / f"{name}.csv") as f:
        for row in csv.DictReader(f):
            nc = h.NetCon(pre[int(row["pre"])].soma(0.5)._ref_v, getattr(post[int(row["post"])], syn),
                          sec=pre[int(row["pre"])].soma)
            nc.threshold = 10; nc.weight[0] = float(row["weight"]); nc.delay = float(row["delay"])
            netcons.append(nc)
recs = []
for gid, c in enumerate(E + I):
    tv = h.Vector(); nc = h.NetCon(c.soma(0.5)._ref_v, None, sec=c.soma); nc.threshold = 10
    nc.record(tv); recs.append((gid, tv, nc))
h.dt = 0.025; h.steps_per_ms = 40
h.finitialize(-65)
h.continuerun(300)
rows = sorted((tt, gid) for gid, tv, _ in recs for tt in tv)
with open(out / "spikes_values.csv", "w") as f:
    f.write("# NEURON 9.0.2: spike times (ms), fixed step dt 0.025\ncell,t_ms\n")
    for tt, gid in rows:
        f.write(f"{gid},{tt:.17g}\n")
print(len(netcons), "connections,", len(rows), "spikes")
