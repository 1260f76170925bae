"""NEURON 9.0.2 reference for tests/fixtures/neuron/watch/watch.chan.

    bench/.venv/bin/python harness/neuron/watch.py     (needs a C compiler, for nrnivmodl)

Compiles tests/fixtures/neuron/watch/Izh.mod (Izhikevich's model as a point process: WATCH,
net_event, V reset from NET_RECEIVE) and builds three one-compartment cells (56.419 x 56.419 um,
cm 1 uF/cm2, so 100 pF), each with an Izh and an ExpSyn (tau 2 ms, e 0 mV). Cells 0 and 1 have
nothing else; cell 2 has pas (1e-5 S/cm2, -60 mV) and Iin = 100 pA. A VecStim-like train (one
NetStim per time) excites cell 0 (weight 0.02 uS, delay 1 ms); the Izh of cell 0 excites cell 1
and that of cell 1 cell 2 (0.05 uS, 2 ms). Fixed step 0.025 ms, v_init -60 mV, 150 ms. Writes
spikes.csv (cell, time; the train is cell 3) and v.csv (V of the three somas, every step).
"""
from pathlib import Path

from neuron import h

from cells import run_and_write_v, write_spikes
from nrnmech import load_mods

fixture = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "neuron" / "watch"
load_mods([fixture / "Izh.mod"], prefix="hhc-izh-")
h.load_file("stdrun.hoc")
TRAIN = (5, 8, 11, 14, 17, 60, 62, 64, 66, 68, 70)


class Cell:
    def __init__(self, i, driven):
        self.soma = h.Section(name=f"soma{i}")
        self.soma.L = self.soma.diam = 56.419; self.soma.cm = 1
        self.izh = h.Izh(self.soma(0.5))
        self.syn = h.ExpSyn(self.soma(0.5)); self.syn.tau = 2; self.syn.e = 0
        if driven:
            self.soma.insert("pas")
            self.soma(0.5).pas.g = 1e-5; self.soma(0.5).pas.e = -60
            self.izh.Iin = 100


cells = [Cell(0, False), Cell(1, False), Cell(2, True)]
keep, spikes = [], []
for i, c in enumerate(cells):
    nc = h.NetCon(c.izh, cells[i + 1].syn if i < 2 else None)
    nc.delay = 2; nc.weight[0] = 0.05
    tv = h.Vector(); nc.record(tv)
    keep.append(nc); spikes.append((i, tv))
train = h.Vector()
for ts in TRAIN:
    s = h.NetStim(); s.number = 1; s.start = ts; s.noise = 0
    nc = h.NetCon(s, cells[0].syn); nc.delay = 1; nc.weight[0] = 0.02
    tv = h.Vector(); nc.record(tv); spikes.append((3, tv))
    keep.append((s, nc))
run_and_write_v([c.soma(0.5) for c in cells], ["chain0_soma", "chain1_soma", "last0_soma"],
                150, fixture / "v.csv", v_init=-60)
rows = write_spikes(spikes, fixture / "spikes.csv")
print(len(rows), "spikes:", [(i, round(tt, 3)) for tt, i in rows if i < 3])
