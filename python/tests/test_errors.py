"""Errors are exceptions with hhc's diagnostic, never a crash; Ctrl-C stops a run and keeps
what it computed."""
import os
import signal
import threading

import numpy as np
import pytest

import hhc


def test_a_model_with_errors_raises_its_diagnostic():
    with pytest.raises(hhc.ModelError) as e:
        hhc.from_source("CELL C { INSERT NoSuchChannel }\nSIMULATE { cell = C }\n", name="bad.chan")
    text = str(e.value)
    assert "bad.chan:1:" in text and "NoSuchChannel" in text and "hint" in text


def test_a_syntax_error_points_at_its_line():
    with pytest.raises(hhc.ModelError) as e:
        hhc.from_source("CELL C {\n  INSERT IL {\n}\nSIMULATE { cell = C }\n", name="broken.chan")
    assert "broken.chan:" in str(e.value)


def test_a_missing_file_is_a_model_error(tmp_path):
    with pytest.raises(hhc.ModelError) as e:
        hhc.load(tmp_path / "nowhere.chan")
    assert "nowhere.chan" in str(e.value)


def test_unknown_names_and_bad_values_are_usage_errors(repo):
    model = hhc.load(repo / "examples" / "hh.chan")
    with pytest.raises(hhc.UsageError, match="no mechanism or point `Leak`"):
        model.set("Leak", "g_max", 1.0)
    with pytest.raises(hhc.UsageError, match="no parameter `gmax`"):
        model.set("IL", "gmax", 1.0)
    with pytest.raises(hhc.UsageError, match="negative conductance"):
        model.set("IL", "g_max", -1.0)
    with pytest.raises(hhc.UsageError, match=r"cell 2"):
        model.set_per_cell("IL", "g_max", np.array([0.1, 0.2, -0.3]))
    with pytest.raises(hhc.UsageError, match="dt"):
        model.run(dt=-1.0)
    with pytest.raises(hhc.UsageError, match="backend"):
        model.run(backend="tpu")
    with pytest.raises(hhc.UsageError):
        model.run(threads=100000)
    # The failed calls changed nothing.
    assert model.run().total_spikes == 8


def test_limits_declared_in_a_mechanism_are_enforced(repo):
    model = hhc.load(repo / "tests" / "fixtures" / "neuron" / "ring" / "ring.chan")
    with pytest.raises(hhc.UsageError, match="limits"):
        model.set("syn", "tau", -1.0, population="ring")
    with pytest.raises(hhc.UsageError, match="population"):
        model.set_per_cell("syn", "tau", np.ones(8))
    with pytest.raises(hhc.UsageError, match="8 cells"):
        model.set_per_cell("syn", "tau", np.ones(3), population="ring")


def test_ctrl_c_stops_a_run_and_keeps_what_it_computed(repo):
    model = hhc.load(repo / "examples" / "hh.chan")
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(hhc.Interrupted) as e:
        model.run(n=200_000, tstop=10_000.0, threads=1)
    timer.cancel()
    partial = e.value.result
    assert 0 < partial.steps_done < 1_000_000
    assert isinstance(e.value, KeyboardInterrupt)
    # The interpreter is fine afterwards.
    assert model.run(tstop=10.0).steps_done == 1000


def test_a_mod_files_unit_disagreements_are_warnings(tmp_path):
    # NEURON runs a .mod file's numbers as written; hhc too, and warns where the units disagree.
    (tmp_path / "kslope.mod").write_text(
        "NEURON { SUFFIX kslope NONSPECIFIC_CURRENT i RANGE g, e, k }\n"
        "PARAMETER { g = 0.001 (S/cm2)  e = -80 (mV)  k = 5 (1) }\n"
        "ASSIGNED { v (mV)  i (mA/cm2) }\n"
        "BREAKPOINT { i = g*(v - e)/(1 + exp(-(v + 40)/k)) }\n"
    )
    source = "CELL C { INSERT kslope }\nSIMULATE { cell = C  tstop = 1 (ms) }\n"
    with pytest.warns(UserWarning, match="needs a dimensionless argument"):
        model = hhc.from_source(source, directory=tmp_path, name="m.chan")
    assert "kslope.mod:4:" in model.warnings
    result = model.run()
    assert result.v.shape[1] == len(result.t) and np.isfinite(result.v).all()
