"""NEURON 9.0.2 reference for tests/fixtures/neuron/depif/depif.chan: artificial cells that
keep values per connection (tests/fixtures/neuron/depif/DepIF.mod, compiled by nrnivmodl):
depressing inputs kept in NET_RECEIVE's arguments and set by its INITIAL, self-events that
carry the connection's weight, and FOR_NETCONS when a cell fires.

    /path/to/neuron-venv/bin/python harness/neuron/depif.py     (needs a C compiler, for nrnivmodl)

Two DepIF cells; NetStim `fast` (every 4 ms from 2 ms, 40 spikes) and `slow` (every 7 ms from
3 ms, 20 spikes) reach cell 0 with weights 1.2 and 0.9 (delay 1 ms) and cell 1 with 0.7 (delay
1 ms) and 1.5 (delay 2 ms). Fixed step 0.025 ms, 200 ms. Writes spikes.csv: every spike (cell,
time), the DepIF cells 0 and 1, the NetStims 2 and 3.
"""
from pathlib import Path

from neuron import h

from cells import write_spikes
from nrnmech import load_mods

fixture = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "neuron" / "depif"
load_mods([fixture / "DepIF.mod"], prefix="hhc-depif-")
h.load_file("stdrun.hoc")
cells = [h.DepIF() for _ in range(2)]
fast = h.NetStim(); fast.start = 2; fast.interval = 4; fast.number = 40; fast.noise = 0
slow = h.NetStim(); slow.start = 3; slow.interval = 7; slow.number = 20; slow.noise = 0
keep = []
for source, target, w, delay in ((fast, 0, 1.2, 1), (slow, 0, 0.9, 1), (fast, 1, 0.7, 1),
                                 (slow, 1, 1.5, 2)):
    nc = h.NetCon(source, cells[target]); nc.weight[0] = w; nc.delay = delay
    keep.append(nc)
spikes = []
for k, src in enumerate(cells + [fast, slow]):
    nc = h.NetCon(src, None); tv = h.Vector(); nc.record(tv)
    keep.append(nc); spikes.append((k, tv))
h.dt = 0.025; h.steps_per_ms = 40
h.finitialize(-65)
h.continuerun(200)
rows = write_spikes(spikes, fixture / "spikes.csv")
print(len(rows), "spikes;", {k: sum(1 for _, j in rows if j == k) for k in range(4)})
