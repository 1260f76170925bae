#!/usr/bin/env bash
# Fetches NEURON 9.0.2's own .mod files for the tests from its PyPI wheel (never committed):
# the built-ins (expsyn.mod, exp2syn.mod, hh.mod, netstim.mod, stim.mod, …) and the demo's.
# Puts them in .tools/neuron_mods/. Needs pip and network access to PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=.tools/neuron_mods
[ -f "$OUT/expsyn.mod" ] && exit 0
mkdir -p "$OUT"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
python3 -m pip download --quiet --no-deps --only-binary :all: -d "$TMP" neuron==9.0.2
python3 - "$TMP" "$OUT" <<'PY'
import pathlib, sys, zipfile
tmp, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(tmp.glob("neuron-*.whl"))
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.endswith(".mod") and ("/share/modfile/" in name or "/demo/release/" in name):
            (out / pathlib.Path(name).name).write_bytes(z.read(name))
print("fetched", len(list(out.glob("*.mod"))), "NEURON .mod files into", out)
PY
