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
    for f in files:
        source = f.relative_to(corpus).parts[0]
        status, first = check(f)
        rows[source][status] += 1
        if status != "ok":
            blockers[re.sub(r"`[^`]*`", "`…`", first.removeprefix("error: "))] += 1
    print("| source | files | compile | refused, naming the construct | failed |")
    print("|---|---|---|---|---|")
    total = collections.Counter()
    for source in sorted(rows):
        c = rows[source]
        total.update(c)
        n = sum(c.values())
        print(f"| {source} | {n} | {c['ok']} | {c['refused']} | {c['failed']} |")
    n = sum(total.values())
    print(f"| **all** | {n} | {total['ok']} ({100 * total['ok'] / n:.0f} %) | {total['refused']}"
          f" | {total['failed']} |")
    print()
    print("| what blocks a file (its first diagnostic) | files |")
    print("|---|---|")
    for what, count in blockers.most_common():
        print(f"| {what} | {count} |")


if __name__ == "__main__":
    main()
