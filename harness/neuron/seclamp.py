"""NEURON 9.0.2 reference for tests/fixtures/neuron/seclamp/seclamp.chan.

    bench/.venv/bin/python harness/neuron/seclamp.py

A ball-and-stick cell (hh soma, passive 11-compartment dendrite) whose soma is voltage-clamped
by NEURON's SEClamp (rs 2 megohm): -65 mV for 5 ms, -20 mV for 10 ms, -80 mV for 10 ms, then
off. Fixed step 0.025 ms, 40 ms. Writes seclamp.csv: V at soma(0.5) and dend(1), every step.
"""
from pathlib import Path

from neuron import h

from cells import ballstick, run_and_write_v, textbook_run

h.load_file("stdrun.hoc")
soma, dend = ballstick()
clamp = h.SEClamp(soma(0.5)); clamp.rs = 2
clamp.dur1 = 5; clamp.amp1 = -65; clamp.dur2 = 10; clamp.amp2 = -20; clamp.dur3 = 10; clamp.amp3 = -80
textbook_run()
out = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "neuron" / "seclamp" / "seclamp.csv"
t, rec = run_and_write_v([soma(0.5), dend(1)], ["soma", "dend1"], 40, out)
print("soma V at 10, 20, 30 ms:", rec[0][400], rec[0][800], rec[0][1200])
