"""NEURON 9.0.2 references for NEURON-dialect .mod idioms, compiled by NEURON's own nrnivmodl.

    bench/.venv/bin/python harness/neuron/mod_dialect.py     (needs a C compiler, for nrnivmodl)

tests/fixtures/neuron/nainst.mod: a sodium current whose activation `minf` is computed by
`rates(v)` in the DERIVATIVE block and read in BREAKPOINT (a value NEURON keeps between blocks,
and holds constant in its dI/dv). One section (L = diam = 20 um, nseg 1) with nainst, pas and a
0.1 nA clamp from 2 to 40 ms; dt 0.025 ms, implicit Euler, 50 ms. Writes nainst.csv: V every
0.1 ms, with NEURON's spike times in the header.

tests/fixtures/neuron/linstate.mod and nlstate.mod: potassium-like currents whose gate is the
solution of a LINEAR and of a NONLINEAR block, SOLVEd in INITIAL and in BREAKPOINT. Each in the
same cell beside nainst (linstate.csv, nlstate.csv).

tests/fixtures/neuron/stored.mod: a current whose gates read, in the DERIVATIVE block, the v
and t BREAKPOINT stored, and t itself (nrn_state's, the step's end). In the same cell beside
nainst (stored.csv).
"""
from pathlib import Path

import numpy as np

from nrnmech import load_mods

HERE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "neuron"


def main():
    from neuron import h

    load_mods([HERE / f"{name}.mod" for name in ["nainst", "linstate", "nlstate", "stored"]])
    run(h, "nainst", None)
    run(h, "linstate", "linstate")
    run(h, "nlstate", "nlstate")
    run(h, "stored", "stored")


def run(h, name, extra):
    h.load_file("stdrun.hoc")
    soma = h.Section(name="soma")
    soma.L = soma.diam = 20
    soma.nseg = 1
    soma.cm = 1
    soma.insert("nainst")
    soma.insert("pas")
    if extra:
        soma.insert(extra)
    for seg in soma:
        seg.nainst.gbar = 0.12
        seg.pas.g, seg.pas.e = 0.0005, -65
        seg.ena = 50
    stim = h.IClamp(soma(0.5))
    stim.delay, stim.dur, stim.amp = 2, 38, 0.1
    t = h.Vector().record(h._ref_t)
    v = h.Vector().record(soma(0.5)._ref_v)
    h.dt = 0.025
    h.steps_per_ms = 40
    h.finitialize(-65)
    h.continuerun(50)
    T, V = np.array(t), np.array(v)
    spikes = [T[i] for i in range(1, len(T)) if V[i - 1] < 0 <= V[i]]
    with open(HERE / f"{name}.csv", "w") as f:
        f.write("# NEURON 9.0.2 (nrnivmodl), dt 0.025 ms, implicit Euler; spikes (ms): "
                + " ".join(f"{x:.3f}" for x in spikes) + "\n")
        f.write("t_ms,soma_0.5\n")
        for k in range(0, len(T), 4):
            f.write(f"{T[k]:.3f},{V[k]:.12g}\n")
    print(name, "NEURON spikes:", [round(x, 3) for x in spikes], "V range", V.min(), V.max())


if __name__ == "__main__":
    main()
