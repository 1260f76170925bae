"""Whether NEURON's own nrnivmodl compiles each .mod file, alone, in a temporary folder: the
other side of the corpus test's table (`cargo test -p hhc-tests --test mod_corpus -- --nocapture`
prints which files hhc refuses). Prints `ok` or `FAIL` with the first error line per file.

Usage (NEURON 9.0.2 from PyPI, which needs a C++ compiler for nrnivmodl):
    python harness/neuron/nrnivmodl_each.py .tools/mod_corpus/pynn/neuron_nmodl/*.mod
"""
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def compiles(mod):
    """(True, "") when nrnivmodl builds `mod` alone, else (False, its first error line)."""
    build = Path(tempfile.mkdtemp(prefix="hhc-nrnivmodl-"))
    try:
        shutil.copy(mod, build)
        nrnivmodl = Path(sys.executable).parent / "nrnivmodl"
        p = subprocess.run([str(nrnivmodl)], cwd=build, capture_output=True, text=True)
        if p.returncode == 0:
            return True, ""
        lines = (p.stdout + p.stderr).splitlines()
        # A compiler's or nocmodl's own message first, not NEURON's note about errors.
        errors = [l for l in lines if "error:" in l.lower() or "error at" in l.lower()]
        first = errors[0] if errors else (lines[-1] if lines else "")
        return False, first.strip()
    finally:
        shutil.rmtree(build, ignore_errors=True)


def main(paths):
    refused = 0
    for path in paths:
        ok, why = compiles(path)
        refused += not ok
        print(f"{'ok  ' if ok else 'FAIL'}  {path}" + ("" if ok else f": {why[:160]}"))
    print(f"{len(paths) - refused} of {len(paths)} compile with NEURON's nrnivmodl")


if __name__ == "__main__":
    main(sys.argv[1:])
