"""NEURON 9.0.2 reference for tests/fixtures/neuron/hay/hay_{soma,axon}.chan: the channels of
Hay et al. 2011's L5 pyramidal cell as BluePyOpt ships them (examples/l5pc/mechanisms in its
source archive, fetched by harness/fetch_mod_corpus.sh, never committed), at the densities of
BluePyOpt's release parameters (examples/l5pc/l5pc_analysis.py).

    bash harness/fetch_mod_corpus.sh
    /path/to/neuron-venv/bin/python harness/neuron/hay_channels.py   (needs a C compiler)

Two 20 x 20 um one-segment somas, pas (3e-5 S/cm2, -75 mV), cm 1 uF/cm2, ena 50 mV, ek -85 mV,
34 degC, v_init -65 mV, fixed step 0.025 ms, 300 ms, a step of current from 20 to 220 ms:
- soma: the somatic set (NaTs2_t, SKv3_1, SK_E2, Ca_HVA, Ca_LVAst, CaDynamics_E2, Ih) and the
  apical Im, 0.25 nA;
- axon: the axonal set (NaTa_t, Nap_Et2, K_Tst, K_Pst, SKv3_1, SK_E2, Ca_HVA, Ca_LVAst,
  CaDynamics_E2), 0.25 nA.
Writes hay.csv: t, then V and cai of each soma, every step.
"""
from pathlib import Path

from neuron import h

from nrnmech import load_mods

repo = Path(__file__).resolve().parents[2]
mods = repo / ".tools" / "mod_corpus" / "bluepyopt" / "l5pc_mechanisms"
load_mods(sorted(mods.glob("*.mod")), prefix="hhc-hay-")
h.load_file("stdrun.hoc")
h.celsius = 34

SOMATIC = [("NaTs2_t", {"gNaTs2_tbar": 0.983955}), ("SKv3_1", {"gSKv3_1bar": 0.303472}),
           ("SK_E2", {"gSK_E2bar": 0.008407}), ("Ca_HVA", {"gCa_HVAbar": 0.000994}),
           ("Ca_LVAst", {"gCa_LVAstbar": 0.000333}),
           ("CaDynamics_E2", {"gamma": 0.000609, "decay": 210.485284}),
           ("Ih", {"gIhbar": 8e-5}), ("Im", {"gImbar": 0.000143})]
AXONAL = [("NaTa_t", {"gNaTa_tbar": 3.137968}), ("Nap_Et2", {"gNap_Et2bar": 0.006827}),
          ("K_Tst", {"gK_Tstbar": 0.089259}), ("K_Pst", {"gK_Pstbar": 0.973538}),
          ("SKv3_1", {"gSKv3_1bar": 1.021945}), ("SK_E2", {"gSK_E2bar": 0.007104}),
          ("Ca_HVA", {"gCa_HVAbar": 0.000990}), ("Ca_LVAst", {"gCa_LVAstbar": 0.008752}),
          ("CaDynamics_E2", {"gamma": 0.002910, "decay": 287.198731})]


def soma(name, mechanisms, amp):
    s = h.Section(name=name)
    s.L = 20; s.diam = 20; s.nseg = 1; s.cm = 1
    s.insert("pas")
    s(0.5).pas.g = 3e-5; s(0.5).pas.e = -75
    for m, values in mechanisms:
        s.insert(m)
        for k, x in values.items():
            setattr(s(0.5), f"{k}_{m}", x)
    s(0.5).ena = 50; s(0.5).ek = -85
    stim = h.IClamp(s(0.5)); stim.delay = 20; stim.dur = 200; stim.amp = amp
    return s, stim


cells = [soma("soma", SOMATIC, 0.25), soma("axon", AXONAL, 0.25)]
t = h.Vector().record(h._ref_t)
rec = []
for s, _ in cells:
    rec.append(h.Vector().record(s(0.5)._ref_v))
    rec.append(h.Vector().record(s(0.5)._ref_cai))
counters = []
for s, _ in cells:
    nc = h.NetCon(s(0.5)._ref_v, None, sec=s); nc.threshold = 0
    tv = h.Vector(); nc.record(tv); counters.append((nc, tv))
h.dt = 0.025; h.steps_per_ms = 40
h.finitialize(-65)
h.continuerun(300)
with open(repo / "tests" / "fixtures" / "neuron" / "hay" / "hay.csv", "w") as f:
    f.write("t_ms,soma_v,soma_cai,axon_v,axon_cai\n")
    for k in range(len(t)):
        f.write(f"{t[k]:.17g}," + ",".join(f"{r[k]:.12g}" for r in rec) + "\n")
print("spikes:", [len(tv) for _, tv in counters])
