"""NEURON 9.0.2 reference for tests/fixtures/neuron/arrays/arrays.chan.

    bench/.venv/bin/python harness/neuron/arrays.py     (needs a C compiler, for nrnivmodl)

Compiles tests/fixtures/neuron/arrays/chainarr.mod (arrays, a LOCAL array and FROM loops) and
inserts it (gbar 0.02 S/cm2) beside hh in the 20 x 20 um soma of cells.py at 6.3 degC, with an
IClamp of 0.15 nA from 5 ms for 80 ms. Writes v.csv: V and chainarr's s[3] at soma(0.5), every
step of 100 ms (dt 0.025 ms).
"""
from pathlib import Path

from neuron import h

from cells import hh_soma, run_and_write_v, textbook_run
from nrnmech import load_mods

fixture = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "neuron" / "arrays"
load_mods([fixture / "chainarr.mod"], prefix="hhc-arrays-")
h.load_file("stdrun.hoc")
textbook_run()
soma = hh_soma()
soma.insert("chainarr")
soma(0.5).chainarr.gbar = 0.02
stim = h.IClamp(soma(0.5)); stim.delay = 5; stim.dur = 80; stim.amp = 0.15
at = soma(0.5)
t, rec = run_and_write_v([at, at.chainarr._ref_s[3]], ["v", "s3"], 100, fixture / "v.csv")
spikes = [t[k] for k in range(1, len(t)) if rec[0][k - 1] <= 0 < rec[0][k]]
print(len(spikes), "spikes", [round(x, 3) for x in spikes], "max s3", max(rec[1]))
