"""hhc from Python against the same references as the Rust tests: braincell's tutorial,
braincell's channels, NEURON's networks; and a sweep from a numpy array."""
import csv

import numpy as np
import pytest

import hhc

# A 20 x 20 um soma with textbook hh and an IClamp from 5 ms (hh_classic.chan is beside the
# ring fixture).
SOMA = """
CELL Soma {
    v_init = -65 (mV)
    ION na { e = 50 (mV) }
    ION k { e = -77 (mV) }
    SECTION soma { L = 20 (um)  diam = 20 (um) }
    INSERT hh_classic { }
    POINT stim = IClamp AT soma(0.5) { del = 5 (ms)  dur = 200 (ms)  amp = 0.1 (nA) }
}
SIMULATE { cell = Soma  dt = 0.025 (ms)  tstop = 205 (ms)  celsius = 6.3 (degC)  probe = soma(0.5) }
"""

# braincell's tutorial spikes (steps), as in tests/tests/numerics.rs.
BRAINCELL_SPIKE_STEPS = [387, 1644, 2993, 4349, 5706, 7062, 8419, 9775]


def read_rows(path):
    with open(path) as f:
        return [
            [float(x) for x in row]
            for row in csv.reader(line for line in f if not line.startswith(("#", "t_ms", "cell")))
        ]


def test_the_tutorial_spikes_eight_times_as_braincell_does(repo):
    result = hhc.load(repo / "examples" / "hh.chan").run(threads=1)
    assert result.total_spikes == 8
    steps = np.rint(result.spike_times / result.dt).astype(int) - 1
    assert np.all(np.abs(steps - BRAINCELL_SPIKE_STEPS) <= 1), steps
    assert result.v.shape == (1, len(result.t))
    assert result.t[0] == 0 and result.t[-1] == pytest.approx(100.0)
    # The trace and the spikes agree: V is high at every spike time.
    for s in steps:
        assert result.v[0, s + 1] > 0


@pytest.mark.parametrize("channel", ["AHP_De1994", "CaHT_HM1992", "Kv1p1_MA2020_GoC"])
def test_braincell_channels_match_braincell(repo, channel):
    fixtures = repo / "tests" / "fixtures" / "braincell"
    header = (fixtures / f"{channel}.csv").read_text().splitlines()[0]
    want = [float(x) for x in header.split("):")[1].split()]
    rows = read_rows(fixtures / f"{channel}.csv")
    result = hhc.load(fixtures / f"cell_{channel}.chan").run(threads=1)
    assert len(result.spike_times) == len(want)
    assert np.max(np.abs(result.spike_times - want), initial=0) <= 0.1 + 1e-9
    v = result.v[0]
    for t, vr in rows:
        if any(abs(s - t) <= 1.0 for s in want):
            continue
        assert abs(v[int(round(t / result.dt))] - vr) <= 1.0, (channel, t)


def test_a_ring_network_spikes_as_in_neuron(repo):
    fixture = repo / "tests" / "fixtures" / "neuron" / "ring"
    result = hhc.load(fixture / "ring.chan").run()
    neuron = read_rows(fixture / "ring.csv")
    assert len(neuron) == 41
    assert list(result.spike_cells) == [int(c) for c, _ in neuron]
    assert np.max(np.abs(result.spike_times - [t for _, t in neuron])) < 1e-9
    assert [p[0] for p in result.populations] == ["ring", "kick"]
    v = np.array(read_rows(fixture / "ring_v.csv"))[:, 1:].T
    assert result.trace_names[0] == "ring[0] soma(0.5)"
    assert np.max(np.abs(result.v - v)) < 1e-6
    assert result.events_delivered > 0


def test_an_f_i_curve_from_a_numpy_array(repo):
    """Each cell gets its own IClamp amplitude; the counts rise with it, and each cell spikes
    exactly as a run of that cell alone does."""
    model = hhc.from_source(SOMA, directory=repo / "tests" / "fixtures" / "neuron" / "ring")
    amps = np.linspace(0.0, 0.5, 41)
    model.set_per_cell("stim", "amp", amps)
    assert model.count == 41
    counts = model.run(record=False).spike_counts
    assert counts.shape == (41,)
    assert counts[0] == 0 and counts[-1] > 10
    assert np.all(np.diff(counts.astype(int)) >= -1), counts  # rising, up to HH's bistability
    for k in (7, 23, 40):
        alone = hhc.from_source(SOMA, directory=repo / "tests" / "fixtures" / "neuron" / "ring")
        alone.set("stim", "amp", amps[k])
        assert alone.run(record=False).spike_counts[0] == counts[k]


def test_a_parameter_sweep_on_point_cells(repo):
    """10^3 leak conductances at once on the tutorial's point cell: the same counts as one cell
    at a time."""
    model = hhc.load(repo / "examples" / "hh.chan")
    names = {(p[1], p[2]) for p in model.parameters()}
    assert ("IL", "g_max") in names
    g = np.linspace(0.0, 5.0, 1000)  # mS/cm2: from none to enough to silence the cell
    model.set_per_cell("IL", "g_max", g)
    result = model.run(record=False, tstop=50.0)
    assert result.spike_counts.shape == (1000,)
    for k in (0, 150, 190, 999):
        one = hhc.load(repo / "examples" / "hh.chan")
        one.set("IL", "g_max", g[k])
        assert one.run(record=False, tstop=50.0).spike_counts[0] == result.spike_counts[k]
    assert result.spike_counts[0] == 4 and result.spike_counts[999] == 0


def test_same_results_on_one_thread_and_on_all(repo):
    model = hhc.load(repo / "tests" / "fixtures" / "neuron" / "selfevents" / "selfevents.chan")
    a, b = model.run(threads=1), model.run()
    assert np.array_equal(a.v, b.v)
    assert np.array_equal(a.spike_times, b.spike_times)


def test_states_recorded_beside_v(repo):
    model = hhc.load(repo / "examples" / "hh.chan")
    plain = model.run(tstop=20.0)
    result = model.run(tstop=20.0, states=["Na_HH1952.m", "K_HH1952.n"])
    assert list(result.states) == ["Na_HH1952.m", "K_HH1952.n"]
    assert result.trace_names == ["cell0"]
    assert np.array_equal(result.v, plain.v)
    m = result.states["Na_HH1952.m"]
    assert m.shape == result.v.shape
    assert m[0, 0] == 0.0  # hh.chan gives m = 0 initially
    assert 0.0 <= m.min() and m.max() <= 1.0 and m.max() > 0.9  # it opens at each spike
    with pytest.raises(hhc.UsageError, match="Na_HH1952.h"):
        model.run(states=["Na_HH1952.q"])


def test_currents_beside_states_match_neuron(repo):
    fixture = repo / "tests" / "fixtures" / "neuron" / "currents"
    model = hhc.load(fixture / "currents.chan")
    result = model.run(states=["hh.m"], currents=["hh.ina", "hh.ik"])
    assert list(result.states) == ["hh.m"] and list(result.currents) == ["hh.ina", "hh.ik"]
    neuron = np.loadtxt(fixture / "currents.csv", delimiter=",", skiprows=1)
    assert np.abs(result.v[0] - neuron[:, 1]).max() < 1e-8
    assert np.abs(result.currents["hh.ina"][0] - neuron[:, 2]).max() < 1e-10
    assert np.abs(result.currents["hh.ik"][0] - neuron[:, 3]).max() < 1e-10
    assert np.abs(result.states["hh.m"][0] - neuron[:, 5]).max() < 1e-10
    assert np.abs(neuron[:, 2]).max() > 0.1  # the cell fires
    with pytest.raises(hhc.UsageError, match="hh.ina"):
        model.run(currents=["hh.inb"])
    with pytest.raises(hhc.UsageError, match="records none"):
        model.run(record=False, currents=["hh.ina"])


def test_states_at_a_morphologys_probe(repo):
    model = hhc.from_source(SOMA, directory=repo / "tests" / "fixtures" / "neuron" / "ring")
    model.set("stim", "amp", 0.2)
    result = model.run(tstop=60.0, states=["hh_classic.m", "hh_classic.h"])
    assert result.trace_names == ["soma(0.5)"]
    assert set(result.states) == {"hh_classic.m", "hh_classic.h"}
    m, h = result.states["hh_classic.m"][0], result.states["hh_classic.h"][0]
    assert m.shape == result.t.shape
    # At each spike m opens as h closes.
    peak = int(np.argmax(result.v[0]))
    assert m[peak] > 0.9 and h[peak] < 0.5
    with pytest.raises(hhc.HhcError, match="no state"):
        model.run(states=["IL.q"])


# A gate whose rates a TABLE holds (NEURON's default reads it; hhc's computes them exactly).
TABLED_GATE = """NEURON { SUFFIX tgate NONSPECIFIC_CURRENT i }
PARAMETER { g = 0.001 (S/cm2) }
ASSIGNED { v (mV) i (mA/cm2) minf }
STATE { m }
INITIAL { rates(v)  m = minf }
BREAKPOINT { SOLVE s METHOD cnexp  i = g*m*(v + 70) }
DERIVATIVE s { rates(v)  m' = (minf - m)/5 }
PROCEDURE rates(v (mV)) {
    TABLE minf FROM -100 TO 100 WITH 20
    minf = 1/(1 + exp(-(v + 40)/5))
}
"""


def test_a_table_is_read_only_when_asked(tmp_path):
    (tmp_path / "tgate.mod").write_text(TABLED_GATE)
    runs = {}
    for use in (0, 1):
        model = tmp_path / f"use{use}.chan"
        model.write_text(
            "CELL c {\n    INSERT tgate { usetable = %d }\n}\n"
            "SIMULATE { cell = c  dt = 0.025 (ms)  tstop = 20 (ms)  stimulus = 3 (uA/cm2) }\n" % use
        )
        runs[use] = hhc.load(model).run(threads=1)
    assert runs[0].tables == {"tgate": False}
    assert runs[1].tables == {"tgate": True}
    # 10 mV between the table's points: its straight lines part from the curve.
    apart = np.abs(runs[0].v - runs[1].v).max()
    assert 1e-6 < apart < 5, apart
