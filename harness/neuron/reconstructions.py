"""NEURON 9.0.2 references for reconstructed cells (SWC and Neurolucida ASC), read by NEURON's
own Import3d.

    bench/.venv/bin/python harness/neuron/reconstructions.py

For each cell below, NEURON reads tests/fixtures/neuron/NAME.swc with Import3d_SWC_read, or
NAME.asc with Import3d_Neurolucida3 (the way a NEURON user loads a reconstruction), so areas and axial resistances come from NEURON's
3-D frustum integration, not from hhc's conventions. The model is tests/fixtures/neuron/NAME.chan:
HH (exact rates) in soma and axon, pas in the dendrites, Ra 100 ohm cm, cm 1 uF/cm2, nseg by
NEURON's d_lambda = 0.1 rule (lambda_f over the 3-D points), a 0.3 nA clamp at soma(0.5) from 5
to 85 ms, dt 0.025 ms, implicit Euler, 100 ms at 6.3 degC. Writes, next to the SWC:

- NAME_geometry.csv: section, k, area_um2, ri_MOhm for every segment k < nseg (NEURON's
  seg.area() and seg.ri()), and k = nseg for ri(1), the section's last half segment (not for
  the fetched cells);
- NAME.csv: V every 0.1 ms at the probes, with NEURON's soma spike times in the header.
"""
from pathlib import Path

import numpy as np
from branched import insert_mechanisms
from neuron import h

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "tests" / "fixtures" / "neuron"
# Reconstructions fetched from PyPI by harness/fetch_morphologies.sh, never committed.
FETCHED = {"l5pc": ROOT / ".tools" / "morphologies" / "C060114A7.asc"}
# Clamp amplitude (nA) where it is not 0.3.
AMPLITUDE = {"l5pc": 1.5}
CELLS = {
    "branched": [("soma", 0.5), ("dend4", 1.0), ("axon0", 1.0)],
    "threepoint": [("soma", 0.5), ("dend1", 0.5), ("dend2", 1.0), ("axon0", 1.0)],
    "onepoint": [("soma", 0.5), ("dend0", 0.5), ("axon0", 1.0)],
    "outline": [("soma", 0.5), ("dend3", 1.0), ("axon0", 1.0)],
    "chainsoma": [("soma", 0.5), ("soma", 0.0), ("dend0", 1.0), ("axon0", 1.0)],
    "l5pc": [("soma", 0.5), ("apic0", 1.0), ("axon0", 1.0)],
}


def hhc_name(sec):
    """NEURON's `dend[4]` is hhc's `dend4`; the soma is `soma`."""
    base, k = sec.name().rstrip("]").split("[")
    return "soma" if base == "soma" else f"{base}{k}"


def load(name):
    for sec in list(h.allsec()):
        h.delete_section(sec=sec)
    swc = HERE / f"{name}.swc"
    if name in FETCHED:
        reader = h.Import3d_Neurolucida3()
        reader.quiet = 1
        reader.input(str(FETCHED[name]))
    elif swc.exists():
        reader = h.Import3d_SWC_read()
        reader.input(str(swc))
    else:
        reader = h.Import3d_Neurolucida3()
        reader.quiet = 1
        reader.input(str(HERE / f"{name}.asc"))
    h.Import3d_GUI(reader, False).instantiate(None)
    secs = {hhc_name(s): s for s in h.allsec()}
    for nm, s in secs.items():
        s.Ra, s.cm = 100, 1
        s.nseg = int((s.L / (0.1 * h.lambda_f(100, sec=s)) + 0.9) / 2) * 2 + 1
        insert_mechanisms(nm, s)
    return secs


def main():
    h.load_file("stdrun.hoc")
    h.load_file("import3d.hoc")
    for name, probes in CELLS.items():
        if name in FETCHED and not FETCHED[name].exists():
            print(name, "skipped:", FETCHED[name], "is missing; run harness/fetch_morphologies.sh")
            continue
        secs = load(name)
        with open(HERE / f"{name}_geometry.csv", "w") if name not in FETCHED else open("/dev/null", "w") as f:
            f.write("section,k,area_um2,ri_MOhm\n")
            for nm, s in secs.items():
                for k, seg in enumerate(s):
                    f.write(f"{nm},{k},{seg.area():.17g},{seg.ri():.17g}\n")
                f.write(f"{nm},{s.nseg},0,{s(1).ri():.17g}\n")
        h.celsius = 6.3
        h.usetable_hh = 0  # exact rates, as hhc computes them
        stim = h.IClamp(secs["soma"](0.5))
        stim.delay, stim.dur, stim.amp = 5, 80, AMPLITUDE.get(name, 0.3)
        t = h.Vector().record(h._ref_t)
        rec = [h.Vector().record(secs[s](x)._ref_v) for s, x in probes]
        h.dt = 0.025
        h.steps_per_ms = 40
        h.finitialize(-65)
        h.continuerun(100)
        T = np.array(t)
        V = [np.array(r) for r in rec]
        spikes = [T[i] for i in range(1, len(T)) if V[0][i - 1] < 0 <= V[0][i]]
        with open(HERE / f"{name}.csv", "w") as f:
            f.write("# NEURON 9.0.2 (Import3d), dt 0.025 ms, implicit Euler; spikes (ms): "
                    + " ".join(f"{x:.3f}" for x in spikes) + "\n")
            f.write("t_ms," + ",".join(f"{s}_{x:g}" for s, x in probes) + "\n")
            for k in range(0, len(T), 4):
                f.write(f"{T[k]:.3f}," + ",".join(f"{v[k]:.12g}" for v in V) + "\n")
        print(name, "NEURON spikes:", [round(x, 3) for x in spikes], {n: s.nseg for n, s in secs.items()})
        del stim


if __name__ == "__main__":
    main()
