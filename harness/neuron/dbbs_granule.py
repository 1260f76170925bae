"""NEURON 9.0.2 reference for tests/fixtures/neuron/dbbs/granule.chan: a cerebellar granule
cell's soma built from the DBBS lab's channels as dbbs-mod-collection ships them (fetched by
harness/fetch_mod_corpus.sh, never committed), unchanged, at their files' default densities.

    bash harness/fetch_mod_corpus.sh
    /path/to/neuron-venv/bin/python harness/neuron/dbbs_granule.py   (needs a C compiler)

One segment, L = diam = 5.8 um, cm 1 uF/cm2; Leak, Nav1.6, Kv3.4, Kv4.3, Kir2.3, Kv1.1, HCN1
(whose files declare units NEURON's own table does not know, `(deg)` and `(mv)`, and slopes
declared `(1)`: hhc warns and runs the numbers as NEURON does); ena 87.39, ek -84.69, eh
-34.4 mV; 32 degC; v_init -70 mV; fixed step 0.025 ms, 300 ms; IClamp 0.01 nA from 50 to
250 ms. Writes granule.csv: t and V, every step.
"""
from pathlib import Path

from neuron import h

from nrnmech import load_mods

repo = Path(__file__).resolve().parents[2]
mods = repo / ".tools" / "mod_corpus" / "dbbs-mod-collection" / "dbbs_mod_collection_mod"
CHANNELS = ["Leak__0", "Nav1_6__0", "Kv3_4__0", "Kv4_3__0", "Kir2_3__0", "Kv1_1__0", "HCN1__0"]
names = [f"glia__dbbs_mod_collection__{c}" for c in CHANNELS]
load_mods(sorted(mods / f"{n}.mod" for n in names), prefix="hhc-dbbs-")
h.load_file("stdrun.hoc")
h.celsius = 32

s = h.Section(name="soma")
s.L = 5.8; s.diam = 5.8; s.nseg = 1; s.cm = 1
for n in names:
    s.insert(n)
s(0.5).ena = 87.39; s(0.5).ek = -84.69; s(0.5).eh = -34.4
stim = h.IClamp(s(0.5)); stim.delay = 50; stim.dur = 200; stim.amp = 0.01
t = h.Vector().record(h._ref_t)
v = h.Vector().record(s(0.5)._ref_v)
nc = h.NetCon(s(0.5)._ref_v, None, sec=s); nc.threshold = 0
spikes = h.Vector(); nc.record(spikes)
h.dt = 0.025; h.steps_per_ms = 40
h.finitialize(-70)
h.continuerun(300)
with open(repo / "tests" / "fixtures" / "neuron" / "dbbs" / "granule.csv", "w") as f:
    f.write("# NEURON 9.0.2, harness/neuron/dbbs_granule.py\n")
    f.write("t_ms,soma_v\n")
    for k in range(len(t)):
        f.write(f"{t[k]:.17g},{v[k]:.12g}\n")
print("spikes:", len(spikes), list(spikes))
