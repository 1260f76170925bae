#!/usr/bin/env python3
"""How many real .mod files hhc compiles, per source: the compatibility table of the README.

    bash harness/fetch_mod_corpus.sh          # the corpus, from PyPI (never committed)
    cargo build --release -p hhc
    python3 harness/mod_compat.py [CORPUS]    # default .tools/mod_corpus

Runs `hhc check` on every .mod file of the corpus, each alone, and prints a Markdown table:
per source (the corpus's first folder), the files, those that compile, those refused with a
diagnostic that names what hhc does not support, and those that failed (a parser error on
valid NMODL, a crash, a hang). Then the first diagnostic of each refused file, counted: the
constructs that block the most files. Names in backticks are replaced by `…`, so that one
construct counts once.
"""
import collections
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
HHC = ROOT / "target" / "release" / "hhc"

# The corpus's files that NEURON 9.0.2's own nrnivmodl (from PyPI) does not compile either,
# found by `harness/neuron/nrnivmodl_each.py` on each file alone (2026-12-08): they are not
# counted against hhc in the last table.
NEURON_REFUSES = {
    "gif.mod",  # its VERBATIM prototypes are not C++
    "SonataReports.mod", "SonataReportHelper.mod",  # a library's header that is not installed
    "pattern.mod",  # C for NEURON's older thread data
    "netstim2.mod", "quantal_stp.mod", "stochastic_synapse.mod",  # C NEURON 9 no longer takes
    "stochastic_tsodyksmarkram.mod",
    # "alfa" / "r" used as both a variable and a FUNCTION
    "glia__dbbs_mod_collection__Na__granule_cell.mod",
    "glia__dbbs_mod_collection__Na__granule_cell_FHF.mod",
    "glia__dbbs_mod_collection__HCN1__golgi.mod",
    # `cao` of USEION declared again in CONSTANT
    "glia__dbbs_mod_collection__cdp5__0.mod", "glia__dbbs_mod_collection__cdp5__CAM.mod",
    "glia__dbbs_mod_collection__cdp5__CAM_GoC.mod", "glia__dbbs_mod_collection__cdp5__CR.mod",
}


def kind(path):
    """'density' (SUFFIX) or 'point' (POINT_PROCESS, ARTIFICIAL_CELL)."""
    text = re.sub(r"(?ms)^\s*COMMENT\b.*?^\s*ENDCOMMENT\b", "", path.read_text(errors="replace"))
    return "point" if re.search(r"\b(POINT_PROCESS|ARTIFICIAL_CELL)\b", text) else "density"


def check(path):
    """('ok' | 'refused' | 'failed', first diagnostic line)."""
    try:
        out = subprocess.run([str(HHC), "check", str(path)], capture_output=True, text=True,
                             timeout=60)
    except subprocess.TimeoutExpired:
        return "failed", "timed out"
    text = out.stdout + out.stderr
    if out.returncode == 0:
        return "ok", ""
    first = next((l for l in text.splitlines() if l.startswith("error")), text.strip()[:80])
    # A panic, or a parser error on valid NMODL, is a failure; any other error names what
    # hhc does not run.
    if out.returncode not in (0, 1) or "panicked" in text or first.startswith("error: unexpected"):
        return "failed", first
    return "refused", first


def main():
    corpus = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / ".tools" / "mod_corpus"
    files = sorted(corpus.rglob("*.mod"))
    if not files:
        sys.exit(f"no .mod files under {corpus}: run harness/fetch_mod_corpus.sh")
    rows = collections.defaultdict(collections.Counter)
    blockers = collections.Counter()
    # Of the files NEURON compiles: per kind, (files, hhc compiles).
    by_kind = collections.defaultdict(lambda: [0, 0])
    for f in files:
        source = f.relative_to(corpus).parts[0]
        status, first = check(f)
        rows[source][status] += 1
        if f.name in NEURON_REFUSES:
            rows[source]["neuron refuses"] += 1
        else:
            by_kind[kind(f)][0] += 1
            by_kind[kind(f)][1] += status == "ok"
        if status != "ok":
            blockers[re.sub(r"`[^`]*`", "`…`", first.removeprefix("error: "))] += 1
    print("| source | files | compile | refused, naming the construct | failed | NEURON 9.0.2 refuses too |")
    print("|---|---|---|---|---|---|")
    total = collections.Counter()
    for source in sorted(rows):
        c = rows[source]
        total.update(c)
        n = c["ok"] + c["refused"] + c["failed"]
        print(f"| {source} | {n} | {c['ok']} | {c['refused']} | {c['failed']} | {c['neuron refuses']} |")
    n = total["ok"] + total["refused"] + total["failed"]
    print(f"| **all** | {n} | {total['ok']} ({100 * total['ok'] / n:.0f} %) | {total['refused']}"
          f" | {total['failed']} | {total['neuron refuses']} |")
    print()
    print("| of the files NEURON 9.0.2 compiles | files | hhc compiles |")
    print("|---|---|---|")
    for k, label in [("density", "density mechanisms (SUFFIX)"),
                     ("point", "point processes and artificial cells")]:
        files_k, ok_k = by_kind[k]
        print(f"| {label} | {files_k} | {ok_k} ({100 * ok_k / max(files_k, 1):.0f} %) |")
    print()
    print("| what blocks a file (its first diagnostic) | files |")
    print("|---|---|")
    for what, count in blockers.most_common():
        print(f"| {what} | {count} |")


if __name__ == "__main__":
    main()
