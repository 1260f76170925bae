"""Models built from Python objects give the same text's results as the model files."""
import numpy as np
import pytest

import hhc
from hhc import build


def ring_cell():
    cell = build.Cell("BallStick", v_init=-65, V_th=10, cm=1, Ra=100)
    cell.ion("na", e=50).ion("k", e=-77)
    cell.section("soma", L=20, diam=20)
    cell.section("dend", parent="soma", L=200, diam=1, nseg=11)
    cell.insert("hh_classic", sections=["soma"])
    cell.insert("IL", sections=["dend"], E=(-65, "mV"), g_max=(1, "mS/cm2"))
    cell.point("syn", "ExpSyn", at=("dend", 0.5), tau=(2, "ms"), e=0)
    return cell


def test_the_ring_built_in_python_matches_the_ring_file(repo):
    fixture = repo / "tests" / "fixtures" / "neuron" / "ring"
    net = build.Network()
    net.population("ring", ring_cell(), count=8, probe=[("soma", 0.5), ("dend", 0.5)], record=[0, 3])
    net.spikes("kick", times=[1])
    net.connect("kick", "ring", at="syn", pre_cells=[0], post_cells=[0], weight=(0.05, "uS"), delay=1)
    net.connect("ring", "ring", at="syn", pre_cells=range(8), post_cells=[1, 2, 3, 4, 5, 6, 7, 0],
                weight=(0.05, "uS"), delay=1)
    text = build.source([ring_cell()], net, dt=0.025, tstop=100, celsius=6.3)
    assert "POINT syn = ExpSyn AT dend(0.5)" in text
    built = build.model([ring_cell()], net, directory=fixture, dt=0.025, tstop=100, celsius=6.3)
    ours = built.run()
    theirs = hhc.load(fixture / "ring.chan").run()
    assert ours.total_spikes == theirs.total_spikes == 41
    assert np.array_equal(ours.spike_times, theirs.spike_times)
    assert np.array_equal(ours.v, theirs.v)


def test_a_point_cell_built_in_python_matches_the_tutorial(repo):
    cell = build.Cell("HH", V_th=20, v_init=-69.19375633335684)
    cell.ion("na", e=50).ion("k", e=-77)
    cell.insert("Na_HH1952", m=0, h=0).insert("K_HH1952", n=0)
    cell.insert("IL", E=-54.387, g_max=0.03)
    model = build.model(cell, dt=0.01, tstop=100, stimulus="5 (uA/cm2)", celsius=36)
    ours = model.run()
    theirs = hhc.load(repo / "examples" / "hh.chan").run()
    assert ours.total_spikes == 8
    assert np.array_equal(ours.v, theirs.v)


def test_artificial_cells_and_rules_from_python(repo):
    cell = ring_cell()
    net = build.Network()
    net.population("exc", cell, count=20)
    net.artificial("drive", "NetStim", count=1, start=(5, "ms"), interval=(10, "ms"), number=5)
    net.connect("drive", "exc", at="syn", rule="all_to_all", weight=(0.05, "uS"), delay=1)
    net.connect("exc", "exc", at="syn", rule="probability(0.2)", seed=3, weight=(0.001, "uS"),
                delay=2)
    model = build.model(cell, net, directory=repo / "tests" / "fixtures" / "neuron" / "ring",
                        dt=0.025, tstop=60, celsius=6.3)
    result = model.run()
    # Every cell fires at each of the 5 NetStim events; the NetStim's own 5 spikes too.
    drive = [p for p in result.populations if p[0] == "drive"][0]
    assert np.sum(result.spike_cells == drive[1]) == 5
    assert np.all(result.spike_counts[:20] >= 5)


def test_the_gap_junction_example_built_in_python_matches_its_file(repo):
    cell = build.Cell("Interneuron", v_init=-65, V_th=0)
    cell.ion("na", e=50).ion("k", e=-77)
    cell.section("soma", L=15, diam=15)
    cell.insert("hh_classic", sections=["soma"])
    cell.point("gj", "Gap", at=("soma", 0.5))
    net = build.Network()
    net.population("driven", cell, count=8, record=[0],
                   stimulus="iclamp(0.3 (nA), 10 (ms), 180 (ms), soma(0.5))")
    net.population("coupled", cell, count=32, record=[0, 1])
    net.gap("driven", "coupled", at="gj", rule="probability(0.25)", seed=1, weight=(0.001, "uS"))
    net.gap("coupled", "coupled", at="gj", rule="probability(0.15)", seed=2, weight=(0.001, "uS"))
    text = build.source([cell], net, dt=0.025, tstop=200, celsius=6.3)
    assert "GAP driven <-> coupled AT gj { rule = probability(0.25)  seed = 1" in text
    examples = repo / "examples"
    ours = build.model([cell], net, directory=examples, dt=0.025, tstop=200, celsius=6.3).run()
    theirs = hhc.load(examples / "gap_network.chan").run()
    # The undriven cells fire only through their junctions.
    assert ours.total_spikes == theirs.total_spikes > 0
    coupled = [p for p in ours.populations if p[0] == "coupled"][0]
    assert np.sum(ours.spike_cells >= coupled[1]) > 0
    assert np.array_equal(ours.spike_times, theirs.spike_times)
    assert np.array_equal(ours.v, theirs.v)


def test_a_bad_name_is_refused_before_any_text_is_made():
    with pytest.raises(ValueError, match="not a name"):
        build.Cell("two words")


def test_a_built_model_with_an_error_raises_its_diagnostic():
    cell = build.Cell("C").insert("NoSuchChannel")
    with pytest.raises(hhc.ModelError, match="NoSuchChannel"):
        build.model(cell, dt=0.025, tstop=10)


def test_a_vecstim_from_python_plays_the_times_of_a_spike_source(repo, tmp_path):
    fixture = repo / "tests" / "fixtures" / "neuron" / "ring"
    for f in fixture.iterdir():
        if f.suffix in (".chan", ".mod"):
            (tmp_path / f.name).write_text(f.read_text())
    played = repo / "tests" / "fixtures" / "played" / "Played.mod"
    (tmp_path / "Played.mod").write_text(played.read_text())
    (tmp_path / "kicks.csv").write_text("cell,t_ms\n0,1\n0,30\n")

    def ring(kick):
        net = build.Network()
        net.population("ring", ring_cell(), count=8, record=[0, 3])
        kick(net)
        net.connect("kick", "ring", at="syn", pre_cells=[0], post_cells=[0], weight=(0.05, "uS"), delay=1)
        net.connect("ring", "ring", at="syn", pre_cells=range(8), post_cells=[1, 2, 3, 4, 5, 6, 7, 0],
                    weight=(0.05, "uS"), delay=1)
        return build.model([ring_cell()], net, directory=tmp_path, dt=0.025, tstop=60, celsius=6.3).run()

    source = ring(lambda net: net.spikes("kick", times=[1, 30]))
    for played in (lambda net: net.artificial("kick", "Played", times=[1, 30]),
                   lambda net: net.artificial("kick", "Played", file="kicks")):
        ours = ring(played)
        assert ours.total_spikes == source.total_spikes > 8
        assert np.array_equal(ours.spike_cells, source.spike_cells)
        assert np.array_equal(ours.spike_times, source.spike_times)
        assert np.array_equal(ours.v, source.v)
    with pytest.raises(hhc.ModelError, match="needs its spike times"):
        ring(lambda net: net.artificial("kick", "Played"))
