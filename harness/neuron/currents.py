"""NEURON 9.0.2 reference for tests/fixtures/neuron/currents/currents.chan.

    bench/.venv/bin/python harness/neuron/currents.py

The ball-and-stick of cells.py (hh soma at 6.3 degC with exact rates, pas dendrite) with an
IClamp of 0.2 nA from 2 ms for 10 ms at soma(0.5). Records V, ina, ik, il (mA/cm2) and m of hh
at soma(0.5) every step of 20 ms (dt 0.025 ms) and writes currents.csv.
"""
from pathlib import Path

from neuron import h

from cells import ballstick, run_and_write_v, textbook_run

h.load_file("stdrun.hoc")
textbook_run()
soma, dend = ballstick()
stim = h.IClamp(soma(0.5)); stim.delay = 2; stim.dur = 10; stim.amp = 0.2
at = soma(0.5)
quantities = [at._ref_v, at._ref_ina, at._ref_ik, at._ref_il_hh, at._ref_m_hh]
out = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "neuron" / "currents" / "currents.csv"
run_and_write_v(quantities, ["v", "ina", "ik", "il", "m"], 20, out)
