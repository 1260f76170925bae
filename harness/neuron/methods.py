"""NEURON 9.0.2 reference for tests/fixtures/neuron/methods/methods.chan.

    bench/.venv/bin/python harness/neuron/methods.py

Compiles the fixture's cachan_euler.mod (METHOD euler), kchan_runge.mod (METHOD runge) and
kchan_implicit.mod (METHOD derivimplicit, a nonlinear gate) with nrnivmodl in a temporary
folder, and runs a 20 x 20 um soma with textbook hh (6.3 degC, exact rates), those three, eca
120 mV and a 0.5 nA step from 5 to 105 ms. Fixed step 0.025 ms, 120 ms. Writes methods.csv:
V at soma(0.5), every step.
"""
from pathlib import Path

from neuron import h

from cells import hh_soma, textbook_run
from nrnmech import load_mods

fixture = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "neuron" / "methods"
load_mods([fixture / n for n in ("cachan_euler.mod", "kchan_runge.mod", "kchan_implicit.mod")],
          prefix="hhc-methods-")
h.load_file("stdrun.hoc")
soma = hh_soma()
for m in ("cachan_euler", "kchan_runge", "kchan_implicit"):
    soma.insert(m)
soma.eca = 120
stim = h.IClamp(soma(0.5)); stim.delay = 5; stim.dur = 100; stim.amp = 0.5
textbook_run()
t = h.Vector().record(h._ref_t)
v = h.Vector().record(soma(0.5)._ref_v)
h.dt = 0.025; h.steps_per_ms = 40
h.finitialize(-65)
h.continuerun(120)
with open(fixture / "methods.csv", "w") as f:
    f.write("t_ms,v\n")
    for k in range(len(t)):
        f.write(f"{t[k]:.17g},{v[k]:.12g}\n")
spikes = [t[k] for k in range(1, len(t)) if v[k - 1] <= 0 < v[k]]
print(len(spikes), "spikes", [round(s, 3) for s in spikes])
