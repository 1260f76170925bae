"""NEURON 9.0.2 reference for tests/fixtures/neuron/adexp/adexp.chan: PyNN 0.12.3's adaptive
exponential integrate-and-fire (adexp.mod: WATCH, V reset, net_event, a refractory clamp of
1e6 uS, derivimplicit) and current-based synapse (expisyn.mod, whose current is a STATE),
unchanged (fetched by harness/fetch_mod_corpus.sh, never committed), as PyNN builds
EIF_cond_exp_isfa_ista's cell: one 20 x 20 um section with pas (g 3e-5 S/cm2, e -70.6 mV).

    bench/.venv/bin/python harness/neuron/adexp.py     (needs a C compiler, for nrnivmodl)

AdExpIF with GL = g_pas * area (uS) and EL = e_pas; an IClamp of 0.15 nA from 10 ms for
150 ms; ExpISyn (tau 5 ms) fed at 30, 32, 34, 36 ms (weight -0.02 nA: the current is inward
when the weight is negative, PyNN's sign) through one NetCon with delay 1 ms. Fixed step
0.025 ms, 200 ms. Writes v.csv (V and the adaptation w at soma(0.5), every step) and
spikes.csv (the AdExpIF's net_event spikes).
"""
import math
from pathlib import Path

from neuron import h

from cells import run_and_write_v, write_spikes
from nrnmech import load_mods

root = Path(__file__).resolve().parents[2]
fixture = root / "tests" / "fixtures" / "neuron" / "adexp"
nmodl = root / ".tools" / "mod_corpus" / "pynn" / "neuron_nmodl"
load_mods([nmodl / "adexp.mod", nmodl / "expisyn.mod"], prefix="hhc-adexp-")
h.load_file("stdrun.hoc")
h.celsius = 6.3
soma = h.Section(name="soma"); soma.L = 20; soma.diam = 20; soma.nseg = 1; soma.cm = 1
soma.insert("pas"); soma(0.5).pas.g = 3e-5; soma(0.5).pas.e = -70.6
cell = h.AdExpIF(soma(0.5))
cell.GL = 3e-5 * math.pi * 20 * 20 * 1e-2
cell.EL = -70.6
stim = h.IClamp(soma(0.5)); stim.delay = 10; stim.dur = 150; stim.amp = 0.15
syn = h.ExpISyn(soma(0.5)); syn.tau = 5
src = h.NetStim(); src.start = 30; src.interval = 2; src.number = 4; src.noise = 0
nc = h.NetCon(src, syn); nc.delay = 1; nc.weight[0] = -0.02
out = h.NetCon(cell, None); tv = h.Vector(); out.record(tv)
print("GL", cell.GL)
run_and_write_v([soma(0.5), cell._ref_w], ["v", "w"], 200, fixture / "v.csv")
rows = write_spikes([(0, tv)], fixture / "spikes.csv")
print(len(rows), "spikes:", [round(t, 3) for t, _ in rows])
