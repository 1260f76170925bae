#!/usr/bin/env bash
# Installs the peer simulators into bench/.venv (Python 3.12 from pyenv; braincell needs >= 3.12).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON312:-}
for cand in "$HOME/.pyenv/versions/3.12.1/bin/python3.12" $(ls -d "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3 2>/dev/null) python3.12; do
    [ -n "$PY" ] && break
    "$cand" -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null && PY=$cand
done
[ -n "$PY" ] || { echo "need Python >= 3.12 (pyenv install 3.12)"; exit 1; }
[ -d .venv ] || "$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q "numpy<2.4" neuron==9.0.2 arbor==0.12.2 brian2 \
    braincell==0.2.0 brainstate==0.6.0 brainunit==0.6.0
.venv/bin/python -c "import neuron, arbor, brian2, braincell; print('peers installed:', neuron.__version__, arbor.__version__, brian2.__version__, braincell.__version__)"
