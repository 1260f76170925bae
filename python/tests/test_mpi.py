"""hhc from Python under `mpirun`: every process gets one process's result, bit for bit.

Needs the package built with MPI (`HHC_PYTHON_FEATURES=mpi bash python/test.sh`, which
.ci/run does, with HHC_REQUIRE_MPI=1 so that a missing MPI fails instead of skipping)."""
import hashlib
import os
import shutil
import subprocess
import sys

import pytest

import hhc

REQUIRED = os.environ.get("HHC_REQUIRE_MPI") == "1"

SCRIPT = """
import hashlib, sys, hhc
rank, size = hhc.process()
r = hhc.load(sys.argv[1]).run(threads=1)
digest = hashlib.sha256(r.spike_cells.tobytes() + r.spike_times.tobytes() + r.v.tobytes())
with open(f"{sys.argv[2]}/{rank}.txt", "w") as f:  # mpirun interleaves the processes' stdout
    f.write(f"{rank} {size} {len(r.spike_cells)} {r.events_delivered} {digest.hexdigest()}")
"""


def fingerprint(result):
    digest = hashlib.sha256(
        result.spike_cells.tobytes() + result.spike_times.tobytes() + result.v.tobytes()
    )
    return f"{len(result.spike_cells)} {result.events_delivered} {digest.hexdigest()}"


def mpi_ready():
    if not hhc.built_with_mpi or shutil.which("mpirun") is None:
        if REQUIRED:
            pytest.fail("HHC_REQUIRE_MPI=1, but the package is built without MPI or mpirun is missing")
        pytest.skip("the package is built without MPI (HHC_PYTHON_FEATURES=mpi bash python/test.sh)")


def test_outside_mpirun_a_script_is_process_0_of_1():
    assert hhc.process() == (0, 1)


@pytest.mark.parametrize("model", ["ring/ring.chan", "ei/ei_values.chan"])
def test_every_process_of_a_job_gets_one_processs_result(repo, model, tmp_path):
    mpi_ready()
    path = repo / "tests" / "fixtures" / "neuron" / model
    alone = fingerprint(hhc.load(path).run(threads=1))
    assert int(alone.split()[0]) > 10
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    for processes in (2, 3):
        said = tmp_path / str(processes)
        said.mkdir()
        out = subprocess.run(
            ["mpirun", "--oversubscribe", "-np", str(processes), sys.executable, str(script), str(path), str(said)],
            capture_output=True, text=True, env=env, timeout=300,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        lines = [(said / f"{r}.txt").read_text() for r in range(processes)]
        assert [line.split()[:2] for line in lines] == [[str(r), str(processes)] for r in range(processes)]
        for line in lines:
            assert line.split(maxsplit=2)[2] == alone, f"{processes} processes: {line}"
