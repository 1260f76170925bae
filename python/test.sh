#!/usr/bin/env bash
# The Python package's tests: builds hhc into a virtual environment (python/.venv, with maturin,
# numpy and pytest from PyPI) and runs pytest. The engine's crates are compiled into the root's
# target folder, shared with `cargo test`.
set -euo pipefail
cd "$(dirname "$0")"
VENV="$PWD/.venv"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet "maturin>=1.7,<2" "numpy>=1.21" pytest
export CARGO_TARGET_DIR="$PWD/../target"
# HHC_PYTHON_FEATURES=mpi builds the package for MPI jobs (tests/test_mpi.py then runs them).
FEATURES=()
if [ -n "${HHC_PYTHON_FEATURES:-}" ]; then
    FEATURES=(--features "$HHC_PYTHON_FEATURES")
fi
VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" "$VENV/bin/maturin" develop --release --quiet "${FEATURES[@]}"
"$VENV/bin/python" -m pytest -q tests "$@"
