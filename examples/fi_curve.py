"""An f-I curve and a conductance scan from Python, notebook style: each cell of one population
gets its own value from a numpy array, one run computes them all, and matplotlib plots them.

    python/.venv/bin/python examples/fi_curve.py [out.png]

(`bash python/test.sh` makes that environment; `pip install matplotlib` into it for the plot.)
"""
import sys
from pathlib import Path

import numpy as np

import hhc

HERE = Path(__file__).resolve().parent

# A 20 x 20 um soma with NEURON's textbook hh and an IClamp: the model language, as text.
SOMA = """
CELL Soma {
    v_init = -65 (mV)
    ION na { e = 50 (mV) }
    ION k { e = -77 (mV) }
    SECTION soma { L = 20 (um)  diam = 20 (um) }
    INSERT hh_classic { }
    POINT stim = IClamp AT soma(0.5) { del = 10 (ms)  dur = 500 (ms)  amp = 0 (nA) }
}
SIMULATE { cell = Soma  dt = 0.025 (ms)  tstop = 510 (ms)  celsius = 6.3 (degC) }
"""


def f_i_curve(amps):
    """Firing rate (Hz) over the 500 ms pulse for each IClamp amplitude (nA)."""
    model = hhc.from_source(SOMA, directory=HERE)
    model.set_per_cell("stim", "amp", amps)
    result = model.run(record=False)
    return result.spike_counts / 0.5


def leak_scan(g_max):
    """The tutorial cell (examples/hh.chan) with each leak conductance (mS/cm2): spike counts,
    and the run (traces of the model's recorded cell)."""
    model = hhc.load(HERE / "hh.chan")
    model.set_per_cell("IL", "g_max", g_max)
    result = model.run()
    return result.spike_counts, result


def main(out="fi_curve_python.png"):
    amps = np.linspace(0.0, 0.6, 121)
    rates = f_i_curve(amps)
    g = np.linspace(0.0, 3.0, 301)
    counts, run = leak_scan(g)
    print(f"f-I: rheobase between {amps[np.argmax(rates > 0) - 1]:.3f} and"
          f" {amps[np.argmax(rates > 0)]:.3f} nA; {rates.max():.0f} Hz at {amps[-1]} nA")
    print(f"leak scan: {counts[0]} spikes at g_max = 0, none from"
          f" {g[np.argmax(counts == 0)]:.2f} mS/cm2 on")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        return None
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(14, 4), constrained_layout=True)
    a.plot(amps, rates, ".-")
    a.set(xlabel="IClamp amplitude (nA)", ylabel="rate (Hz)", title="f-I curve, hh soma")
    b.plot(g, counts, ".-")
    b.set(xlabel="leak g_max (mS/cm2)", ylabel="spikes in 100 ms", title="tutorial cell, leak scan")
    c.plot(run.t, run.v[0], lw=0.8)
    c.set(xlabel="t (ms)", ylabel="V (mV)", title=f"{run.trace_names[0]}, g_max = {g[0]}")
    fig.savefig(out, dpi=110)
    print(f"plot: {out}")
    return out


if __name__ == "__main__":
    main(*sys.argv[1:])
