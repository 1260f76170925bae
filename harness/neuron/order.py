"""NEURON 9.0.2 reference for tests/fixtures/neuron/order/order.chan: which concentration a
mechanism's state update reads. NEURON runs the state updates in its `memb_order_`: every
mechanism that WRITEs a concentration (the pool, cad.mod) before the others, whatever the file
names, so the calcium-activated K current (akca.mod, SUFFIX kca, named to sort first) reads the
cai the pool advanced in the same step.

    /path/to/neuron-venv/bin/python harness/neuron/order.py     (needs a C compiler)

A 20 x 20 um soma: pas (1e-4 S/cm2, -70 mV), kca (0.0005 S/cm2), cad, cachan (0.0002 S/cm2) and
NEURON's hh with exact rates, ek -80 mV, 6.3 degC, 0.5 nA from 5 to 155 ms, fixed step
0.025 ms, 200 ms. Writes v.csv: t, V and kca's n at soma(0.5), every step.
"""
from pathlib import Path

from neuron import h

from cells import run_and_write_v, textbook_run
from nrnmech import load_mods

fixture = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "neuron" / "order"
load_mods(sorted(fixture.glob("*.mod")), prefix="hhc-order-")
h.load_file("stdrun.hoc")
textbook_run()
soma = h.Section(name="soma")
soma.L = 20; soma.diam = 20
for m in ("pas", "kca", "cad", "cachan", "hh"):
    soma.insert(m)
seg = soma(0.5)
seg.pas.g = 1e-4; seg.pas.e = -70; seg.kca.gbar = 0.0005; seg.cachan.gbar = 0.0002; seg.ek = -80
stim = h.IClamp(seg); stim.delay = 5; stim.dur = 150; stim.amp = 0.5
counter = h.NetCon(seg._ref_v, None, sec=soma); counter.threshold = 0
times = h.Vector(); counter.record(times)
run_and_write_v([seg, seg.kca._ref_n], ["v", "n"], 200, fixture / "v.csv")
print(len(times), "spikes")
