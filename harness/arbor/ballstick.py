"""Arbor 0.12.2 reference for tests/fixtures/neuron/ballstick.chan.

    bench/.venv/bin/python harness/arbor/ballstick.py

The same ball-and-stick in Arbor: a 20 x 20 um soma cylinder (1 CV) and a 500 x 2 um dendrite
(51 CVs), Ra 100 ohm cm, cm 1 uF/cm2, textbook hh at 6.3 degC in the soma, pas (1 mS/cm2,
-65 mV) in the dendrite, 0.5 nA into soma(0.5) from 5 to 45 ms, dt 0.025 ms. Writes
tests/fixtures/arbor/ballstick.csv: V every 0.1 ms at soma(0.5), dend(0.5) and dend(1), with the
soma's spike times (0 mV threshold crossings) in the header.
"""
from pathlib import Path

import arbor as A
import numpy as np

U = A.units
OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "arbor" / "ballstick.csv"

tree = A.segment_tree()
soma = tree.append(A.mnpos, A.mpoint(0, 0, 0, 10), A.mpoint(20, 0, 0, 10), tag=1)
tree.append(soma, A.mpoint(20, 0, 0, 1), A.mpoint(520, 0, 0, 1), tag=3)
labels = A.label_dict({"soma": "(tag 1)", "dend": "(tag 3)",
                       "center": "(on-components 0.5 (region \"soma\"))", "dmid": "(on-components 0.5 (region \"dend\"))",
                       "dend_end": "(on-components 1 (region \"dend\"))"})
decor = (A.decor()
         .set_property(Vm=-65 * U.mV, cm=0.01 * U.F / U.m2, rL=100 * U.Ohm * U.cm, tempK=(6.3 + 273.15) * U.Kelvin)
         .set_ion("na", rev_pot=50 * U.mV)
         .set_ion("k", rev_pot=-77 * U.mV)
         .paint('"soma"', A.density("hh", {"gnabar": 0.12, "gkbar": 0.036, "gl": 0.0003, "el": -54.387}))
         .paint('"dend"', A.density("pas/e=-65", {"g": 0.001}))
         .place('"center"', A.i_clamp(5 * U.ms, 40 * U.ms, 0.5 * U.nA))
         .place('"center"', A.threshold_detector(0 * U.mV), "det"))
policy = A.cv_policy('(join (fixed-per-branch 1 (region "soma")) (fixed-per-branch 51 (region "dend")))')
cell = A.cable_cell(A.morphology(tree), decor, labels, policy)


class Recipe(A.recipe):
    def __init__(self):
        A.recipe.__init__(self)
        self.props = A.neuron_cable_properties()

    def num_cells(self):
        return 1

    def cell_kind(self, gid):
        return A.cell_kind.cable

    def cell_description(self, gid):
        return cell

    def global_properties(self, kind):
        return self.props

    def probes(self, gid):
        return [A.cable_probe_membrane_voltage('"center"', "vs"),
                A.cable_probe_membrane_voltage('"dmid"', "vd"),
                A.cable_probe_membrane_voltage('"dend_end"', "ve")]


rec = Recipe()
sim = A.simulation(rec)
sim.record(A.spike_recording.all)
handles = [sim.sample((0, tag), A.regular_schedule(0.025 * U.ms)) for tag in ("vs", "vd", "ve")]
sim.run(50 * U.ms, 0.025 * U.ms)
traces = []
for hd in handles:
    data, meta = sim.samples(hd)[0]
    traces.append(data)
T = traces[0][:, 0]
V = [t[:, 1] for t in traces]
spikes = [T[i] for i in range(1, len(T)) if V[0][i - 1] < 0 <= V[0][i]]
with open(OUT, "w") as f:
    f.write("# Arbor 0.12.2, dt 0.025 ms; spikes (ms): " + " ".join(f"{x:.3f}" for x in spikes) + "\n")
    f.write("t_ms,soma,dend05,dend1\n")
    for k in range(0, len(T), 4):
        f.write(f"{T[k]:.3f},{V[0][k]:.6g},{V[1][k]:.6g},{V[2][k]:.6g}\n")
print("Arbor spikes:", [round(float(s), 3) for s in spikes], "detector:", [round(s[1], 3) for s in sim.spikes()])
