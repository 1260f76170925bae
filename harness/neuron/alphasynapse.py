"""NEURON 9.0.2 reference for tests/fixtures/neuron/alphasynapse/alphasynapse.chan.

    bench/.venv/bin/python harness/neuron/alphasynapse.py

A ball-and-stick cell (hh soma, passive 11-compartment dendrite) with NEURON's AlphaSynapse at
dend(0.8) (onset 5 ms, tau 1 ms, gmax 0.02 uS, e 0) and at soma(0.5) (onset 15 ms, tau 3 ms,
gmax 0.01 uS, e -80 mV). Fixed step 0.025 ms, 40 ms. Writes alphasynapse.csv: V at soma(0.5)
and dend(0.8), every step.
"""
from pathlib import Path

from neuron import h

from cells import ballstick, run_and_write_v, textbook_run

h.load_file("stdrun.hoc")
soma, dend = ballstick()
excite = h.AlphaSynapse(dend(0.8)); excite.onset = 5; excite.tau = 1; excite.gmax = 0.02
inhibit = h.AlphaSynapse(soma(0.5)); inhibit.onset = 15; inhibit.tau = 3; inhibit.gmax = 0.01
inhibit.e = -80
textbook_run()
out = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "neuron" / "alphasynapse"
t, rec = run_and_write_v([soma(0.5), dend(0.8)], ["soma", "dend08"], 40, out / "alphasynapse.csv")
print("soma V max", max(rec[0]), "at 20 ms:", rec[0][800])
