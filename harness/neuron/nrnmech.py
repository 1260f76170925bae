"""Compiles .mod files with NEURON's nrnivmodl (which needs a C compiler) in a temporary folder,
removed at exit, and loads the library into the running NEURON: what every harness that runs a
.mod file of a fixture, or of the downloaded corpus, does first."""
import atexit
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def load_mods(paths, prefix="hhc-mods-"):
    """Copies `paths` (.mod files) into a fresh folder, runs nrnivmodl there and loads the
    result. Returns the folder."""
    from neuron import h

    build = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, build, True)
    for p in paths:
        shutil.copy(p, build)
    nrnivmodl = Path(sys.executable).parent / "nrnivmodl"
    subprocess.run([str(nrnivmodl)], cwd=build, check=True, capture_output=True)
    h.nrn_load_dll(str(build / "x86_64" / "libnrnmech.so"))
    return build
