"""NEURON 9.0.2 reference for tests/fixtures/neuron/ballstick.chan.

    bench/.venv/bin/python harness/neuron/ballstick.py

Writes tests/fixtures/neuron/ballstick.csv: t, V at soma(0.5), dend(0.5), dend(1), every 4th
step (0.1 ms), with NEURON's spike times (first sample >= 0 mV) in the header.
"""
from pathlib import Path

import numpy as np
from neuron import h

h.load_file("stdrun.hoc")
soma = h.Section(name="soma"); soma.L = 20; soma.diam = 20; soma.nseg = 1
dend = h.Section(name="dend"); dend.L = 500; dend.diam = 2; dend.nseg = 51
dend.connect(soma(1), 0)
for s in (soma, dend):
    s.Ra = 100; s.cm = 1
soma.insert("hh")
for seg in soma:
    seg.hh.gnabar = 0.12; seg.hh.gkbar = 0.036; seg.hh.gl = 0.0003; seg.hh.el = -54.387
    seg.ena = 50; seg.ek = -77
dend.insert("pas")
for seg in dend:
    seg.pas.g = 0.001; seg.pas.e = -65
h.celsius = 6.3
h.usetable_hh = 0  # exact rates, as hhc computes them (hh.mod TABLE interpolates in 1 mV steps)
stim = h.IClamp(soma(0.5)); stim.delay = 5; stim.dur = 40; stim.amp = 0.5
t = h.Vector().record(h._ref_t)
rec = [h.Vector().record(x._ref_v) for x in (soma(0.5), dend(0.5), dend(1))]
h.dt = 0.025; h.steps_per_ms = 40
h.finitialize(-65)
h.continuerun(50)
T = np.array(t); V = [np.array(r) for r in rec]
spikes = [T[i] for i in range(1, len(T)) if V[0][i - 1] < 0 <= V[0][i]]
out = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "neuron" / "ballstick.csv"
with open(out, "w") as f:
    f.write("# NEURON 9.0.2, dt 0.025 ms, implicit Euler; spikes (ms): " + " ".join(f"{x:.3f}" for x in spikes) + "\n")
    f.write("t_ms,soma,dend05,dend1\n")
    for k in range(0, len(T), 4):
        f.write(f"{T[k]:.3f},{V[0][k]:.6g},{V[1][k]:.6g},{V[2][k]:.6g}\n")
print("NEURON spikes:", spikes)
