"""examples/fi_curve.py, the notebook-style example, runs and computes what it says."""
import importlib.util

import numpy as np


def load_example(repo):
    spec = importlib.util.spec_from_file_location("fi_curve", repo / "examples" / "fi_curve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_f_i_example(repo, tmp_path):
    example = load_example(repo)
    amps = np.linspace(0.0, 0.6, 13)
    rates = example.f_i_curve(amps)
    assert rates[0] == 0 and rates[-1] > 100
    counts, run = example.leak_scan(np.array([0.0, 3.0]))
    assert counts[0] > 0 and counts[1] == 0
    assert run.v.shape[1] == len(run.t)
    out = example.main(str(tmp_path / "fi.png"))
    assert out is None or (tmp_path / "fi.png").stat().st_size > 10_000
