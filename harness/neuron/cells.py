"""The cells the NEURON harnesses build, in one place: NEURON's textbook hh (at the harness's
6.3 degC, with exact rates) on a 20 x 20 um soma, and the ball-and-stick of the network and
clamp fixtures. Each harness imports what it needs (`from cells import ...`)."""
from neuron import h, nrn


def hh_soma(name="soma"):
    """A 20 x 20 um soma with hh (gl 0.3 mS/cm2, el -54.387 mV), ena 50 and ek -77 mV."""
    soma = h.Section(name=name)
    soma.L = 20; soma.diam = 20; soma.nseg = 1; soma.cm = 1
    soma.insert("hh")
    for seg in soma:
        seg.hh.gnabar = 0.12; seg.hh.gkbar = 0.036; seg.hh.gl = 0.0003; seg.hh.el = -54.387
        seg.ena = 50; seg.ek = -77
    return soma


def ballstick(suffix="", length=200, diam=1, nseg=11):
    """hh_soma with a passive dendrite (pas 1 mS/cm2, -65 mV) at its end; Ra 100 ohm cm."""
    soma = hh_soma(f"soma{suffix}")
    dend = h.Section(name=f"dend{suffix}")
    dend.L = length; dend.diam = diam; dend.nseg = nseg
    dend.connect(soma(1), 0)
    for s in (soma, dend):
        s.Ra = 100; s.cm = 1
    dend.insert("pas")
    for seg in dend:
        seg.pas.g = 0.001; seg.pas.e = -65
    return soma, dend


def textbook_run():
    """hh at 6.3 degC with its rates computed exactly, as hhc computes them (hh.mod's TABLE
    interpolates in 1 mV steps)."""
    h.celsius = 6.3
    h.usetable_hh = 0


def driven_artificial_cells(cells, excite, inhibit, fixture, label):
    """The IntFire fixtures' network: a NetStim every 3 ms from 2 ms (60 spikes) excites
    `cells[k]` with weight w for each (k, w) of `excite`, another every 7 ms from 5 ms (25)
    inhibits them per `inhibit`, both with delay 1 ms; 200 ms at dt 0.025 ms. Writes every
    spike (cell, time; the NetStims are the last two cells) to tests/fixtures/neuron/<fixture>/
    spikes.csv and returns the rows."""
    from pathlib import Path
    drive = h.NetStim(); drive.start = 2; drive.interval = 3; drive.number = 60; drive.noise = 0
    stop = h.NetStim(); stop.start = 5; stop.interval = 7; stop.number = 25; stop.noise = 0
    keep, spikes = [], []
    for source, targets in ((drive, excite), (stop, inhibit)):
        for k, w in targets:
            nc = h.NetCon(source, cells[k]); nc.delay = 1; nc.weight[0] = w; keep.append(nc)
    for k, src in enumerate(list(cells) + [drive, stop]):
        nc = h.NetCon(src, None); tv = h.Vector(); nc.record(tv)
        keep.append(nc); spikes.append((k, tv))
    h.dt = 0.025; h.steps_per_ms = 40
    h.finitialize(-65)
    h.continuerun(200)
    rows = sorted((t, k) for k, tv in spikes for t in tv)
    out = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "neuron" / fixture
    with open(out / "spikes.csv", "w") as f:
        f.write(f"# NEURON 9.0.2: {label} and NetStim spike times (ms), fixed step dt 0.025\ncell,t_ms\n")
        for t, k in rows:
            f.write(f"{k},{t:.17g}\n")
    print(len(rows), "spikes;", {k: sum(1 for _, j in rows if j == k) for k in range(len(cells) + 2)})
    return rows


def write_spikes(spikes, csv_path):
    """Writes `csv_path`: `cell,t_ms` for every time in each (cell, recorded Vector) of
    `spikes`, in time order, NEURON's full precision. Returns the (time, cell) rows."""
    rows = sorted((t, i) for i, tv in spikes for t in tv)
    with open(csv_path, "w") as f:
        f.write("# NEURON 9.0.2: NetCon spike times (ms), fixed step dt 0.025\ncell,t_ms\n")
        for t, i in rows:
            f.write(f"{i},{t:.17g}\n")
    return rows


def deliver_at_init(events):
    """Makes each (NetCon, spike times) of `events` deliver its events, at each time plus its
    delay, from every finitialize: spike trains the way hhc's spike sources deliver them.
    Returns the handler, which must be kept."""
    def deliver():
        for nc, times in events:
            for t in times:
                nc.event(t + nc.delay)
    return h.FInitializeHandler(deliver)


def run_and_write_v(sites, columns, tstop, csv_path, v_init=-65):
    """Records V at `sites` (segments, or references such as `seg._ref_ina` for other
    quantities), runs from `v_init` mV at dt 0.025 ms to `tstop`, and writes `csv_path`: `t_ms`
    and one column per site (named `columns`), every step. Returns the recorded vectors."""
    t = h.Vector().record(h._ref_t)
    rec = [h.Vector().record(x._ref_v if isinstance(x, nrn.Segment) else x) for x in sites]
    h.dt = 0.025; h.steps_per_ms = 40
    h.finitialize(v_init)
    h.continuerun(tstop)
    with open(csv_path, "w") as f:
        f.write("t_ms," + ",".join(columns) + "\n")
        for k in range(len(t)):
            f.write(f"{t[k]:.17g}," + ",".join(f"{r[k]:.12g}" for r in rec) + "\n")
    return t, rec


def calcium_soma(pool, name="soma"):
    """hh_soma with tests/fixtures/neuron/buffer/cachan.mod's calcium current (cao 2 mM, eca
    by Nernst from the pool) and the calcium mechanism `pool`, and an IClamp of 0.2 nA from
    5 ms for 80 ms: the cell of the calcium fixtures. Returns the soma and the clamp."""
    soma = hh_soma(name)
    soma.insert("cachan")
    soma.insert(pool)
    soma(0.5).cao = 2
    stim = h.IClamp(soma(0.5)); stim.delay = 5; stim.dur = 80; stim.amp = 0.2
    return soma, stim
