"""NEURON 9.0.2 reference for tests/fixtures/neuron/netmove/netmove.chan: net_move in a point
process on a cell (tests/fixtures/neuron/netmove/Postpone.mod).

    bench/.venv/bin/python harness/neuron/netmove.py     (needs a C compiler, for nrnivmodl)

An hh soma (cells.py, 6.3 degC) with a Postpone at soma(0.5) (gstep 0.02 uS): it opens itself
every 10 ms from a self-event, and each input moves the pending opening to 10 ms after it.
Inputs from a VecStim-free source: four NetStims of one spike each (5, 12, 13, 39 ms), weight
0.005 uS, delay 1 ms. Fixed step 0.025 ms, 80 ms. Writes v.csv: V and g at soma(0.5).
"""
from pathlib import Path

from neuron import h

from cells import hh_soma, run_and_write_v, textbook_run
from nrnmech import load_mods

fixture = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "neuron" / "netmove"
load_mods([fixture / "Postpone.mod"], prefix="hhc-netmove-")
h.load_file("stdrun.hoc")
textbook_run()
soma = hh_soma()
syn = h.Postpone(soma(0.5)); syn.gstep = 0.02
keep = []
for t in (5, 12, 13, 39):
    s = h.NetStim(); s.start = t; s.number = 1; s.noise = 0
    nc = h.NetCon(s, syn); nc.delay = 1; nc.weight[0] = 0.005
    keep.append((s, nc))
run_and_write_v([soma(0.5), syn._ref_g], ["v", "g"], 80, fixture / "v.csv")
print("written", fixture / "v.csv")
