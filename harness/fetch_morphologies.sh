#!/usr/bin/env bash
# Fetches real reconstructions for the tests from PyPI (never committed): BluePyOpt's source
# distribution ships the L5 pyramidal cell C060114A7.asc (Neurolucida, with a soma outline).
# Puts them in .tools/morphologies/. Needs pip and network access to PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=.tools/morphologies
[ -f "$OUT/C060114A7.asc" ] && exit 0
mkdir -p "$OUT"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
python3 -m pip download --quiet --no-deps --no-binary :all: -d "$TMP" bluepyopt==1.14.26
tar -xzf "$TMP"/bluepyopt-1.14.26.tar.gz -C "$TMP" bluepyopt-1.14.26/examples/l5pc/morphology/C060114A7.asc
cp "$TMP"/bluepyopt-1.14.26/examples/l5pc/morphology/C060114A7.asc "$OUT/"
echo "fetched $OUT/C060114A7.asc"
