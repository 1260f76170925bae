"""NEURON 9.0.2 reference for tests/fixtures/neuron/nmda/nmda.chan: hippounit 1.4.1's
NMDA_CA1_pyr_SC.mod (unchanged, fetched by harness/fetch_mod_corpus.sh, never committed): a
double-exponential NMDA synapse with a magnesium block whose current is in part a calcium
current (`USEION ca READ eca WRITE ica`, in nA), and a RANGE name (`caf`) it never declares.

    bench/.venv/bin/python harness/neuron/nmda.py     (needs a C compiler, for nrnivmodl)

An hh soma (cells.py, 6.3 degC) with the synapse at soma(0.5), fed at 5, 7, 9, 30 and 31 ms
(weight 0.004 uS, delay 1 ms). NEURON's TABLE for mgblock is off (`usetable_... = 0`): hhc
computes functions exactly. Fixed step 0.025 ms, 60 ms. Writes v.csv: V, the synapse's state B and
its nonspecific current i at soma(0.5), every step.
"""
from pathlib import Path

from neuron import h

from cells import hh_soma, run_and_write_v, textbook_run
from nrnmech import load_mods

root = Path(__file__).resolve().parents[2]
fixture = root / "tests" / "fixtures" / "neuron" / "nmda"
load_mods([root / ".tools" / "mod_corpus" / "hippounit" / "tests_default_NMDAr" /
           "NMDA_CA1_pyr_SC.mod"], prefix="hhc-nmda-")
h.load_file("stdrun.hoc")
textbook_run()
h.usetable_NMDA_CA1_pyr_SC = 0
soma = hh_soma()
syn = h.NMDA_CA1_pyr_SC(soma(0.5))
keep = []
for t in (5, 7, 9, 30, 31):
    s = h.NetStim(); s.start = t; s.number = 1; s.noise = 0
    nc = h.NetCon(s, syn); nc.delay = 1; nc.weight[0] = 0.004
    keep.append((s, nc))
run_and_write_v([soma(0.5), syn._ref_B, syn._ref_i], ["v", "B", "i"], 60, fixture / "v.csv")
print("written", fixture / "v.csv")
