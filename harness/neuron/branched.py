"""The branched cell as explicit cylinders, for bench/cable_peers.py (speed, not fidelity).

NEURON and Arbor are given the same sections as hhc: one cylinder per unbranched run of
branched.swc with its length-weighted mean diameter, children of the soma at soma(0.5), nseg by
the d_lambda = 0.1 rule. The reference traces for hhc's tests come from harness/neuron/reconstructions.py,
which lets NEURON's Import3d read the SWC file itself.
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
        insert_mechanisms(nm, s)
    return secs


def insert_mechanisms(name, sec):
    """The test cells' channels: HH in the soma and axon, a leak in the dendrites."""
    if name == "soma" or name.startswith("axon"):
        sec.insert("hh")
        for seg in sec:
            seg.hh.gnabar, seg.hh.gkbar, seg.hh.gl, seg.hh.el = 0.12, 0.036, 0.0003, -54.387
            seg.ena, seg.ek = 50, -77
    else:
        sec.insert("pas")
        for seg in sec:
            seg.pas.g, seg.pas.e = 0.0001, -65
