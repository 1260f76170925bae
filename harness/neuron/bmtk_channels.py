"""NEURON 9.0.2 reference for tests/fixtures/neuron/bmtk/allen_{a,b}.chan.

    bash harness/fetch_mod_corpus.sh
    bench/.venv/bin/python harness/neuron/bmtk_channels.py

Compiles bmtk's Allen .mod files (.tools/mod_corpus/bmtk, from bmtk's PyPI wheel) with nrnivmodl
in a temporary folder, builds the two somas of the fixtures (20 x 20 um, one segment; cell A:
NaTs, K_T, K_P, Kv3_1, Im, Ih and pas with a 0.3 nA step;
cell B: NaV, NaTa, Kd, Kv2like, Kv3_1, Im_v2, Ih and pas with a 0.4 nA step), 34 degC, fixed
step 0.025 ms, 300 ms. Writes allen.csv: V of both somas, every step.
"""
from pathlib import Path

from neuron import h

from nrnmech import load_mods

repo = Path(__file__).resolve().parents[2]
mods = repo / ".tools" / "mod_corpus" / "bmtk" / "mechanisms_modfiles"
load_mods([f for f in mods.glob("*.mod") if f.name != "vecevent.mod"], prefix="hhc-bmtk-")
h.load_file("stdrun.hoc")


def soma(name, mechanisms, amp):
    s = h.Section(name=name)
    s.L = 20; s.diam = 20; s.nseg = 1; s.cm = 1
    for m, values in mechanisms:
        s.insert(m)
        for k, x in values.items():
            setattr(s(0.5), f"{k}_{m}", x)
    stim = h.IClamp(s(0.5)); stim.delay = 20; stim.dur = 200; stim.amp = amp
    return s, stim


a, stim_a = soma("a", [("pas", {"g": 5e-5, "e": -85}), ("NaTs", {"gbar": 1.0}),
                       ("K_T", {"gbar": 0.01}), ("K_P", {"gbar": 0.002}),
                       ("Kv3_1", {"gbar": 0.5}), ("Im", {"gbar": 0.002}),
                       ("Ih", {"gbar": 5e-5})], 0.3)
b, stim_b = soma("b", [("pas", {"g": 5e-5, "e": -85}), ("NaV", {"gbar": 0.05}),
                       ("NaTa", {"gbar": 0.05}), ("Kd", {"gbar": 0.005}),
                       ("Kv2like", {"gbar": 0.05}), ("Kv3_1", {"gbar": 0.3}),
                       ("Im_v2", {"gbar": 0.002}), ("Ih", {"gbar": 1e-5})], 0.4)
for s in (a, b):
    s.ena = 53; s.ek = -107
h.celsius = 34
t = h.Vector().record(h._ref_t)
rec = [h.Vector().record(s(0.5)._ref_v) for s in (a, b)]
h.dt = 0.025; h.steps_per_ms = 40
h.finitialize(-80)
h.continuerun(300)
out = repo / "tests" / "fixtures" / "neuron" / "bmtk" / "allen.csv"
with open(out, "w") as f:
    f.write("t_ms,allen_a,allen_b\n")
    for k in range(len(t)):
        f.write(f"{t[k]:.17g},{rec[0][k]:.12g},{rec[1][k]:.12g}\n")
for name, r in zip("ab", rec):
    ts = [t[k] for k in range(1, len(t)) if r[k - 1] <= 0 < r[k]]
    print(f"cell {name}: {len(ts)} spikes", [round(x, 3) for x in ts])
