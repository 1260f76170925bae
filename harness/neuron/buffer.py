"""NEURON 9.0.2 reference for tests/fixtures/neuron/buffer/buffer.chan: a nonlinear KINETIC
scheme (a calcium buffer), which NEURON's sparse solver runs by Newton's method.

    bench/.venv/bin/python harness/neuron/buffer.py     (needs a C compiler, for nrnivmodl)

Compiles tests/fixtures/neuron/buffer/cachan.mod and cabuf.mod and inserts them beside hh in
the 20 x 20 um soma of cells.py at 6.3 degC (cao 2 mM; eca by Nernst from the pool), with an
IClamp of 0.2 nA from 5 ms for 80 ms.
Writes v.csv: V, cabuf's cai and B at soma(0.5), every step of 100 ms (dt 0.025 ms).
"""
from pathlib import Path

from neuron import h

from cells import calcium_soma, run_and_write_v, textbook_run
from nrnmech import load_mods

fixture = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "neuron" / "buffer"
load_mods([fixture / "cachan.mod", fixture / "cabuf.mod"], prefix="hhc-buffer-")
h.load_file("stdrun.hoc")
textbook_run()
soma, stim = calcium_soma("cabuf")
at = soma(0.5)
t, rec = run_and_write_v([at, at._ref_cai, at.cabuf._ref_B], ["v", "cai", "B"], 100,
                         fixture / "v.csv")
spikes = [t[k] for k in range(1, len(t)) if rec[0][k - 1] <= 0 < rec[0][k]]
print(len(spikes), "spikes; cai peaks at", max(rec[1]), "mM; B falls to", min(rec[2]))
