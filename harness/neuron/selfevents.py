"""NEURON 9.0.2 reference for tests/fixtures/neuron/selfevents/selfevents.chan.

    bench/.venv/bin/python harness/neuron/selfevents.py

Compiles tests/fixtures/neuron/selfevents/PulseSyn.mod with nrnivmodl (in a temporary folder),
then builds a ring of 5 ball-and-stick cells (hh soma, passive dendrite, a PulseSyn at
dend(0.5), tau 3 ms, dur 1 ms); cell i's NetCon (threshold 10 mV, delay 1.5 ms, weight
0.02 uS) drives cell i+1, and two NetStims (one spike each) at 1 and 31 ms drives cell 0 (delay
1 ms). Fixed step 0.025 ms, 60 ms. Writes spikes.csv (cell, time; the source is cell 5) and
v.csv (V at soma(0.5) and dend(0.5) of cells 0 and 2, every step).
"""
from pathlib import Path

from neuron import h

from cells import ballstick, run_and_write_v, textbook_run, write_spikes
from nrnmech import load_mods

fixture = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "neuron" / "selfevents"
load_mods([fixture / "PulseSyn.mod"], prefix="hhc-pulsesyn-")
h.load_file("stdrun.hoc")
N = 5


class BallStick:
    def __init__(self, i):
        self.soma, self.dend = ballstick(str(i))
        self.syn = h.PulseSyn(self.dend(0.5)); self.syn.tau = 3; self.syn.dur = 1


textbook_run()
cells = [BallStick(i) for i in range(N)]
netcons, spikes = [], []
for i, c in enumerate(cells):
    nc = h.NetCon(c.soma(0.5)._ref_v, cells[(i + 1) % N].syn, sec=c.soma)
    nc.threshold = 10; nc.delay = 1.5; nc.weight[0] = 0.02
    tv = h.Vector(); nc.record(tv)
    netcons.append(nc); spikes.append((i, tv))
stims = []
for ts in (1, 31):
    s = h.NetStim(); s.number = 1; s.start = ts; s.noise = 0
    nc = h.NetCon(s, cells[0].syn); nc.delay = 1; nc.weight[0] = 0.02
    tv = h.Vector(); nc.record(tv); spikes.append((N, tv))
    stims.append((s, nc))
sites = [x for c in (cells[0], cells[2]) for x in (c.soma(0.5), c.dend(0.5))]
run_and_write_v(sites, ["ring0_soma", "ring0_dend", "ring2_soma", "ring2_dend"], 60,
                fixture / "v.csv")
rows = write_spikes(spikes, fixture / "spikes.csv")
print(len(rows), "spikes:", [(i, round(tt, 3)) for tt, i in rows])
