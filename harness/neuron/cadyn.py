"""NEURON 9.0.2 reference for tests/fixtures/neuron/cadyn/cadyn.chan: dendrotweaks 0.5.2's
CaDyn.mod (unchanged, fetched by harness/fetch_mod_corpus.sh, never committed), a calcium shell
with a Michaelis-Menten pump whose cnexp equation reads a value the block computed from cai
(`drive_pump`), which NEURON's cnexp takes as a constant of the step.

    bench/.venv/bin/python harness/neuron/cadyn.py     (needs a C compiler, for nrnivmodl)

hh and tests/fixtures/neuron/buffer/cachan.mod's calcium current (eca by Nernst from the
shell, cao 2 mM) with CaDyn (kt 0.004 mM/ms, kd 5e-4 mM, taur 80 ms: an explicit pump step of 0.2 of the
state, stable; with its default kt of 1 mM/ms NEURON's step goes negative at once, and
hhc's too, which then stops with the blow-up error) in the 20 x 20 um soma of cells.py at
6.3 degC, an IClamp of 0.2 nA from 5 ms for 80 ms. Writes v.csv: V and cai at soma(0.5),
every step of 100 ms (dt 0.025 ms).
"""
from pathlib import Path

from neuron import h

from cells import calcium_soma, run_and_write_v, textbook_run
from nrnmech import load_mods

root = Path(__file__).resolve().parents[2]
fixtures = root / "tests" / "fixtures" / "neuron"
load_mods([fixtures / "buffer" / "cachan.mod",
           root / ".tools" / "mod_corpus" / "dendrotweaks" / "biophys_default_mod" / "CaDyn.mod"],
          prefix="hhc-cadyn-")
h.load_file("stdrun.hoc")
textbook_run()
soma, stim = calcium_soma("CaDyn")
soma(0.5).CaDyn.taur = 80
soma(0.5).CaDyn.kt = 0.004
t, rec = run_and_write_v([soma(0.5), soma(0.5)._ref_cai], ["v", "cai"], 100,
                         fixtures / "cadyn" / "v.csv")
print("cai from", rec[1][0], "to max", max(rec[1]))
