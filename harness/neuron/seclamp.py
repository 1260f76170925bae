"""NEURON 9.0.2 reference for tests/fixtures/neuron/seclamp/seclamp.chan.

    bench/.venv/bin/python harness/neuron/seclamp.py

A ball-and-stick cell (hh soma, passive 11-compartment dendrite) whose soma is voltage-clamped
by NEURON's SEClamp (rs 2 megohm): -65 mV for 5 ms, -20 mV for 10 ms, -80 mV for 10 ms, then
off. Fixed step 0.025 ms, 40 ms. Writes seclamp.csv: V at soma(0.5) and dend(1), every step.
"""
from pathlib import Path

from neuron import h

from cells import ballstick, textbook_run

h.load_file("stdrun.hoc")
soma, dend = ballstick()
clamp = h.SEClamp(soma(0.5)); clamp.rs = 2
clamp.dur1 = 5; clamp.amp1 = -65; clamp.dur2 = 10; clamp.amp2 = -20; clamp.dur3 = 10; clamp.amp3 = -80
textbook_run()
t = h.Vector().record(h._ref_t)
rec = [h.Vector().record(x._ref_v) for x in (soma(0.5), dend(1))]
h.dt = 0.025; h.steps_per_ms = 40
h.finitialize(-65)
h.continuerun(40)
out = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "neuron" / "seclamp" / "seclamp.csv"
with open(out, "w") as f:
    f.write("t_ms,soma,dend1\n")
    for k in range(len(t)):
        f.write(f"{t[k]:.17g},{rec[0][k]:.12g},{rec[1][k]:.12g}\n")
print("soma V at 10, 20, 30 ms:", rec[0][400], rec[0][800], rec[0][1200])
