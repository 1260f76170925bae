"""NEURON 9.0.2 reference for tests/fixtures/neuron/branched.chan (examples/branched.chan).

    bench/.venv/bin/python harness/neuron/branched.py

The sections are built from branched.swc with hhc's documented SWC conventions (a one-point
soma is a cylinder L = diam = 2r; children of the soma attach at soma(0.5); other sections at
their parent's end; length-weighted mean diameters), so both simulators see the same geometry,
and nseg follows NEURON's d_lambda = 0.1 rule. Writes branched.csv: V every 0.1 ms at soma(0.5),
dend4(1) and axon0(1), with NEURON's soma spike times in the header.
"""
from pathlib import Path

import numpy as np
from neuron import h

HERE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "neuron"
TYPES = {1: "soma", 2: "axon", 3: "dend", 4: "apic"}


def swc_sections(path):
    pts = {}
    order = []
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        i, t, x, y, z, r, p = line.split()
        pts[int(i)] = (int(t), np.array([float(x), float(y), float(z)]), float(r), int(p))
        order.append(int(i))
    children = {i: [] for i in order}
    for i in order:
        if pts[i][3] >= 0:
            children[pts[i][3]].append(i)
    root = order[0]
    count = {}

    def name(t):
        n = TYPES.get(t, f"custom{t}")
        count[n] = count.get(n, 0) + 1
        return f"{n}{count[n] - 1}"

    out = [("soma", None, 0.5, 2 * pts[root][2], 2 * pts[root][2])]
    stack = [(c, "soma", 0.5) for c in children[root]][::-1]
    while stack:
        first, parent, x = stack.pop()
        t = pts[first][0]
        nm = name(t)
        length = weighted = 0.0
        prev, cur = pts[first][3], first
        while True:
            seg = np.linalg.norm(pts[cur][1] - pts[prev][1])
            prev_r = pts[cur][2] if prev == root else pts[prev][2]
            length += seg
            weighted += seg * (pts[cur][2] + prev_r)
            nxt = children[cur]
            if len(nxt) == 1 and pts[nxt[0]][0] == t:
                prev, cur = cur, nxt[0]
                continue
            for c in nxt[::-1]:
                stack.append((c, nm, 1.0))
            break
        out.append((nm, parent, x, length, weighted / length))
    return out


def nseg_d_lambda(length, diam, ra=100.0, cm=1.0, f=0.1):
    """NEURON's d_lambda rule at 100 Hz (odd nseg), as hhc's `d_lambda = 0.1`."""
    lam = 1e5 * np.sqrt(diam / (4 * np.pi * 100 * ra * cm))
    return int((length / (f * lam) + 0.9) / 2) * 2 + 1


def build_cell(sections, suffix=""):
    """One copy of the cell in NEURON: HH soma and axon, passive dendrites; returns its sections."""
    secs = {}
    for nm, parent, x, length, diam in sections:
        s = h.Section(name=nm + suffix)
        s.L, s.diam, s.Ra, s.cm = length, diam, 100, 1
        s.nseg = nseg_d_lambda(length, diam)
        if parent is not None:
            s.connect(secs[parent](x), 0)
        secs[nm] = s
        if nm == "soma" or nm.startswith("axon"):
            s.insert("hh")
            for seg in s:
                seg.hh.gnabar, seg.hh.gkbar, seg.hh.gl, seg.hh.el = 0.12, 0.036, 0.0003, -54.387
                seg.ena, seg.ek = 50, -77
        else:
            s.insert("pas")
            for seg in s:
                seg.pas.g, seg.pas.e = 0.0001, -65
    return secs


def main():
    h.load_file("stdrun.hoc")
    secs = build_cell(swc_sections(HERE / "branched.swc"))
    h.celsius = 6.3
    h.usetable_hh = 0  # exact rates, as hhc computes them (hh.mod TABLE interpolates in 1 mV steps)
    stim = h.IClamp(secs["soma"](0.5))
    stim.delay, stim.dur, stim.amp = 5, 80, 0.3
    t = h.Vector().record(h._ref_t)
    rec = [h.Vector().record(x._ref_v) for x in (secs["soma"](0.5), secs["dend4"](1), secs["axon0"](1))]
    h.dt = 0.025
    h.steps_per_ms = 40
    h.finitialize(-65)
    h.continuerun(100)
    T = np.array(t)
    V = [np.array(r) for r in rec]
    spikes = [T[i] for i in range(1, len(T)) if V[0][i - 1] < 0 <= V[0][i]]
    with open(HERE / "branched.csv", "w") as f:
        f.write("# NEURON 9.0.2, dt 0.025 ms, implicit Euler; spikes (ms): " + " ".join(f"{x:.3f}" for x in spikes) + "\n")
        f.write("t_ms,soma,dend4_1,axon0_1\n")
        for k in range(0, len(T), 4):
            f.write(f"{T[k]:.3f},{V[0][k]:.6g},{V[1][k]:.6g},{V[2][k]:.6g}\n")
    print("NEURON spikes:", [round(s, 3) for s in spikes], {n: s.nseg for n, s in secs.items()})


if __name__ == "__main__":
    main()
