"""NEURON 9.0.2 reference for tests/fixtures/neuron/capmpr and cadifpmp: NEURON's own calcium
pump examples, capmpr.mod (a pump in a well-stirred shell, a nonlinear KINETIC scheme whose
initial state is a STEADYSTATE solve) and cabpump.mod (cadifpmp: radial diffusion in 10 annuli
with the pump, written with arrays, FROM loops and COMPARTMENT), unchanged from NEURON's wheel.

    bench/.venv/bin/python harness/neuron/pumps.py     (needs a C compiler, for nrnivmodl)

Needs harness/fetch_mod_corpus.sh's .tools/mod_corpus/neuron/ (the two files are never
committed). Each pump goes beside hh and tests/fixtures/neuron/buffer/cachan.mod's calcium
current (eca by Nernst from the pool, cao 2 mM) in its own 20 x 20 um soma at 6.3 degC, with an
IClamp of 0.2 nA from 5 ms for 80 ms. Writes <fixture>/v.csv: V, cai and a pump state at
soma(0.5), every step of 100 ms (dt 0.025 ms).
"""
from pathlib import Path

from neuron import h

from cells import calcium_soma, run_and_write_v, textbook_run
from nrnmech import load_mods

root = Path(__file__).resolve().parents[2]
corpus = root / ".tools" / "mod_corpus" / "neuron"
fixtures = root / "tests" / "fixtures" / "neuron"
load_mods([fixtures / "buffer" / "cachan.mod", corpus / "capmpr.mod", corpus / "cabpump.mod"],
          prefix="hhc-pumps-")
h.load_file("stdrun.hoc")
textbook_run()
somas = []
for pump in ("capmpr", "cadifpmp"):
    soma, stim = calcium_soma(pump, f"soma_{pump}")
    somas.append((pump, soma, stim))
# Both cells run together; each fixture keeps its own columns.
sites, columns = [], []
for pump, soma, _ in somas:
    at = soma(0.5)
    state = at.capmpr._ref_pump if pump == "capmpr" else at.cadifpmp._ref_pumpca
    sites += [at, at._ref_cai, state]
    columns += [f"{pump}_v", f"{pump}_cai", f"{pump}_pump"]
t, rec = run_and_write_v(sites, columns, 100, Path("/dev/null"))
for k, (pump, _, _) in enumerate(somas):
    with open(fixtures / pump / "v.csv", "w") as f:
        f.write("t_ms,v,cai,pump\n")
        for i in range(len(t)):
            f.write(f"{t[i]:.17g}," + ",".join(f"{rec[3 * k + j][i]:.12g}" for j in range(3)) + "\n")
    v = rec[3 * k]
    spikes = sum(1 for i in range(1, len(t)) if v[i - 1] <= 0 < v[i])
    print(pump, spikes, "spikes; cai from", rec[3 * k + 1][0], "to max", max(rec[3 * k + 1]),
          "mM; pump state from", rec[3 * k + 2][0], "to", rec[3 * k + 2][len(t) - 1])
