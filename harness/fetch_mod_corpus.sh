#!/usr/bin/env bash
# Fetches real .mod files from PyPI packages for the .mod coverage report (never committed):
# NEURON 9.0.2's wheel (via fetch_neuron_mods.sh), hnn-core, bmtk, LFPy, neurodamus, PyNN (its
# NEURON mechanisms; its Arbor ones are another dialect), dendrotweaks, hippounit, BluePyOpt
# (its source archive's examples: Hay et al. 2011's L5 pyramidal cell channels, a thalamocortical
# cell's, stochastic K) and the DBBS lab's collection (cerebellar cells' channels and synapses:
# granule, Golgi, Purkinje, stellate cells).
# Puts them in .tools/mod_corpus/<package>/ (names made unique by their folder in the package).
# Needs pip and network access to PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=.tools/mod_corpus
# The corpus's version: raise it when the sources change, so an old fetch is redone.
VERSION=4
[ "$(head -c 2 "$OUT/.complete" 2>/dev/null)" = "v$VERSION" ] && exit 0
rm -rf "$OUT"
bash harness/fetch_neuron_mods.sh
mkdir -p "$OUT/neuron"
cp .tools/neuron_mods/*.mod "$OUT/neuron/"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for spec in hnn-core==0.6.1 bmtk==1.2.0 LFPy==2.3.7 neurodamus==4.2.9 PyNN==0.12.3 \
    dendrotweaks==0.5.2 hippounit==1.4.1 dbbs-mod-collection==2.2.3; do
    python3 -m pip download --quiet --no-deps -d "$TMP/${spec%%==*}" "$spec"
done
# Its wheel leaves the examples out; the source archive has them.
python3 -m pip download --quiet --no-deps --no-binary :all: -d "$TMP/bluepyopt" bluepyopt==1.14.26
python3 - "$TMP" "$OUT" "$VERSION" <<'PY'
import pathlib, sys, tarfile, zipfile
tmp, out, version = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
for pkg in sorted(p for p in tmp.iterdir() if p.is_dir()):
    dest = out / pkg.name.lower()
    dest.mkdir(parents=True, exist_ok=True)
    for archive in pkg.iterdir():
        if archive.suffix == ".whl":
            z = zipfile.ZipFile(archive)
            members = [(n, lambda n=n: z.read(n)) for n in z.namelist()]
        else:
            t = tarfile.open(archive)
            members = [(m.name, lambda m=m: t.extractfile(m).read()) for m in t.getmembers() if m.isfile()]
        for name, read in members:
            if not name.endswith(".mod"):
                continue
            # Not NEURON's dialect: PyNN's Arbor mechanisms, dendrotweaks' Jinja template.
            if "/arbor/" in name or "default_templates" in name:
                continue
            parts = pathlib.PurePosixPath(name).parts
            # Keep the file's own name (hhc finds a mechanism by it) in a folder per origin.
            folder = dest / "_".join(parts[-3:-1]).replace(".", "_")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / parts[-1]).write_bytes(read())
total = len(list(out.rglob("*.mod")))
(out / ".complete").write_text(f"v{version} {total}")
print("fetched", total, ".mod files into", out)
PY
