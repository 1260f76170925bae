"""Every density mechanism and point process of the downloaded .mod corpus that both NEURON
9.0.2 and hhc compile, alone in one section, run in NEURON: the references of `cargo test -p
hhc-tests --test mod_corpus every_mechanism`, which runs the same files unchanged in hhc.

    bench/.venv/bin/python harness/neuron/corpus_each.py [--usetable] [FILE.mod ...]

(NEURON 9.0.2 from PyPI, whose nrnivmodl needs a C++ compiler; the corpus from
harness/fetch_mod_corpus.sh; hhc built, `cargo build --release -p hhc`. With no files, every
SUFFIX and POINT_PROCESS file of .tools/mod_corpus.)

The protocol, which tests/fixtures/neuron/corpus/cell.chan is on hhc's side: one section,
L = diam = 20 um, cm 1 uF/cm2, `pas` (g 1e-4 S/cm2, e -65 mV) and the mechanism at its file's
defaults (a TABLE's rates computed exactly, `usetable_<suffix> = 0`, as hhc computes them); the
ions it uses at NEURON's defaults (given to hhc as ION blocks: E, or the concentrations when it
reads or writes one, E then following Nernst); 34 degC, V from -65 mV. An SEClamp (rs 1
megohm) holds -90, -30 and +10 mV for 25 ms each, then lets go; an IClamp gives 0.1 nA from 85
to 105 ms; dt 0.025 ms, implicit Euler, 120 ms. The clamp sweeps every gate through its range
whatever the mechanism's conductance; the free part checks the current it gives. A point
process sits at the soma (tests/fixtures/neuron/corpus/point.chan); one with NET_RECEIVE gets
TRAIN, 14 spikes, through one connection (delay 1 ms, a weight by the unit of NET_RECEIVE's
first argument: 0.002 uS, 0.05 nA, or 1).

Writes tests/fixtures/neuron/corpus/<the file's path in the corpus>.csv: a comment naming the
file, `# SUFFIX name` or `# POINT_PROCESS name`, the ION lines (`# ION ...`, which the test
puts in the model's IONS line), `# WEIGHT ...` for a point process with NET_RECEIVE, then
`t_ms,v,<Mech.state>...` every 0.5 ms (every 20th step): V and every scalar STATE (an ion's
concentration by its ion name, as hhc records it). A file that NEURON or hhc refuses is listed,
with why, and gets no fixture.

With --usetable, only the mechanisms with a TABLE, at NEURON's default `usetable_<suffix> = 1`
(rates read from NEURON's table): tests/fixtures/neuron/corpus_usetable/<path>.csv, with the
line `# USETABLE 1`, for hhc's `usetable = 1`.
"""
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / ".tools" / "mod_corpus"
FIXTURES = ROOT / "tests" / "fixtures" / "neuron" / "corpus"
USETABLE_FIXTURES = ROOT / "tests" / "fixtures" / "neuron" / "corpus_usetable"
HHC = ROOT / "target" / "release" / "hhc"
EVERY = 20  # steps between rows
# The spike train a point process with NET_RECEIVE gets (ms; each reaches it 1 ms later), as in
# point.chan.
TRAIN = [5, 10, 12, 14, 30, 31, 32, 55, 57, 80, 90, 91, 92, 93]


def without_comments(text):
    text = re.sub(r"(?ms)^\s*COMMENT\b.*?^\s*ENDCOMMENT\b", "", text)
    text = re.sub(r"(?ms)VERBATIM.*?ENDVERBATIM", "", text)
    return re.sub(r"[:?][^\n]*", "", text)


def block(text, name):
    m = re.search(r"\b" + name + r"\s*\{", text)
    if not m:
        return ""
    depth, i = 1, m.end()
    while depth and i < len(text):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return text[m.end():i - 1]


def suffix_of(text):
    m = re.search(r"\bSUFFIX\s+(\w+)", block(text, "NEURON"))
    return m.group(1) if m else None


def point_process_of(text):
    m = re.search(r"\bPOINT_PROCESS\s+(\w+)", block(text, "NEURON"))
    return m.group(1) if m else None


# A connection's weight by the unit of NET_RECEIVE's first argument: a few synapses' worth.
WEIGHTS = {"uS": 0.002, "umho": 0.002, "nS": 2, "nA": 0.05}


def weight_of(text):
    """The weight the train's connection carries, as hhc writes it (`0.002 (uS)`), or None
    for a point process without NET_RECEIVE."""
    m = re.search(r"\bNET_RECEIVE\s*\(\s*\w+\s*(?:\(([^)]*)\))?", text)
    if not m:
        return None
    unit = (m.group(1) or "1").strip()
    value = WEIGHTS.get(unit, 1)
    return f"{value!r} ({unit})" if unit != "1" else repr(value)


def scalar_states(text):
    """The STATE block's scalar names, in order (units, tolerances and arrays left out)."""
    body = block(text, "STATE")
    body = re.sub(r"\([^)]*\)", " ", body)
    body = re.sub(r"<[^>]*>", " ", body)
    body = re.sub(r"\bFROM\b.*?\bTO\b\s*\S+", " ", body)
    body = re.sub(r"\w+\s*\[[^\]]*\]", " ", body)
    names = []
    for m in re.finditer(r"[A-Za-z_]\w*", body):
        if m.group(0) not in names:
            names.append(m.group(0))
    return names


# NEURON's defaults for its ions (nrn's ion registration): inside and outside concentration
# (mM), reversal potential (mV). Any other ion: 1 mM, 1 mM, 0 mV.
ION_DEFAULTS = {"na": (10, 140, 50), "k": (54.4, 2.5, -77), "ca": (5e-5, 2, 132.4579341637009)}


def ions(text):
    """{ion: whether the mechanism reads or writes a concentration of it}, for its USEIONs."""
    used = {}
    for m in re.finditer(r"USEION\s+(\w+)([^\n]*)", block(text, "NEURON")):
        ion, rest = m.group(1), m.group(2)
        used[ion] = used.get(ion, False) or bool(re.search(rf"\b{ion}[io]\b", rest))
    return used


def ion_names(text):
    """Names that USEION lines make an ion's (`cai`, `ko`, `eca`, ...)."""
    return {n for ion in ions(text) for n in (ion + "i", ion + "o", "e" + ion, "i" + ion)}


def ion_settings(text):
    """Each ion's values, as the lines of hhc's ION blocks and as NEURON's (name, value)s: the
    concentrations when the mechanism reads or writes one (E then follows Nernst in both), else
    E alone, at NEURON's defaults."""
    hhc, neuron = [], []
    for ion, concentrations in ions(text).items():
        inside, outside, e = ION_DEFAULTS.get(ion, (1, 1, 0))
        if concentrations:
            hhc.append(f"ION {ion} {{ {ion}i = {inside!r} (mM)  {ion}o = {outside!r} (mM) }}")
            neuron += [(ion + "i", inside), (ion + "o", outside)]
        else:
            hhc.append(f"ION {ion} {{ e = {e!r} (mV) }}")
            neuron.append(("e" + ion, e))
    return hhc, neuron


def included_by(mod):
    """The files `mod` may INCLUDE: the rest of its folder's non-.mod files."""
    return [f for f in mod.parent.iterdir() if f.is_file() and f.suffix != ".mod"]


def first_error(output):
    """A tool's first line that mentions an error, else its last line."""
    lines = output.strip().splitlines()
    errors = [l for l in lines if "error" in l.lower()]
    return (errors or lines[-1:] or ["failed"])[0].strip()


def hhc_refuses(mod):
    """hhc's first error on the cell with `mod` inserted, or None when it compiles."""
    build = Path(tempfile.mkdtemp(prefix="hhc-corpus-"))
    try:
        for f in [mod, *included_by(mod)]:
            shutil.copy(f, build)
        text = without_comments(mod.read_text(errors="replace"))
        (build / "cell.chan").write_text(model_for(text))
        p = subprocess.run([str(HHC), "check", "cell.chan"], cwd=build, capture_output=True,
                           text=True)
        if p.returncode == 0:
            return None
        lines = [l for l in (p.stdout + p.stderr).splitlines() if l.startswith("error")]
        return lines[0] if lines else "exit %d" % p.returncode
    finally:
        shutil.rmtree(build, ignore_errors=True)


def model_for(text):
    """hhc's model of the protocol for the mechanism `text` (comments removed): cell.chan with
    a density mechanism inserted, point.chan with a point process placed, the ION lines in and
    the weight, as the test builds it."""
    ions = "".join(f"    {line}\n" for line in ion_settings(text)[0])
    suffix, point = suffix_of(text), point_process_of(text)
    model = (FIXTURES / ("cell.chan" if suffix else "point.chan")).read_text()
    model = model.replace("MECHANISM", suffix or point).replace("    IONS\n", ions)
    weight = weight_of(text)
    if weight is None:
        return re.sub(r"(?m)^    CONNECT .*\n", "", model)
    return model.replace("WEIGHT", weight)


def run_in_neuron(mod, out, usetable):
    """In a fresh process (each library of mechanisms loads once): compiles `mod` with
    nrnivmodl, runs the protocol (reading TABLEs with `usetable`), writes `out`. Returns None,
    or NEURON's first error."""
    p = subprocess.run([sys.executable, __file__, "--one", str(mod), str(out), str(int(usetable))],
                       capture_output=True, text=True)
    return None if p.returncode == 0 else first_error(p.stdout + p.stderr)


def built_in(h, suffix, point):
    """Whether NEURON has the mechanism without loading a library (its own hh, ExpSyn, ...)."""
    if point:
        return hasattr(h, point)
    probe = h.Section(name="probe")
    try:
        probe.insert(suffix)
        return True
    except ValueError:
        return False
    finally:
        h.delete_section(sec=probe)


def one(mod, out, usetable):
    from neuron import h

    text = without_comments(mod.read_text(errors="replace"))
    suffix, point = suffix_of(text), point_process_of(text)
    own = mod.relative_to(CORPUS).parts[0] == "neuron"
    if not (own and built_in(h, suffix, point)):  # NEURON's hh, ExpSyn, ... are built in
        from nrnmech import load_mods

        try:
            load_mods([mod, *included_by(mod)], prefix="hhc-corpus-nrn-")
        except subprocess.CalledProcessError as e:
            sys.exit("nrnivmodl: " + first_error((e.stdout + e.stderr).decode(errors="replace")))
    h.load_file("stdrun.hoc")
    soma = h.Section(name="soma")
    soma.L = soma.diam = 20
    soma.nseg = 1
    soma.cm = 1
    soma.insert("pas")
    seg = soma(0.5)
    seg.pas.g, seg.pas.e = 1e-4, -65
    clamp = h.SEClamp(seg)
    clamp.rs = 1
    clamp.dur1, clamp.amp1 = 25, -90
    clamp.dur2, clamp.amp2 = 25, -30
    clamp.dur3, clamp.amp3 = 25, 10
    stim = h.IClamp(seg)
    stim.delay, stim.dur, stim.amp = 85, 20, 0.1
    if suffix:
        soma.insert(suffix)
        mechanism = getattr(seg, suffix)
    else:
        mechanism = getattr(h, point)(seg)
    weight = weight_of(text)
    if weight is not None:
        from cells import deliver_at_init

        train = h.NetCon(None, mechanism)
        train.delay, train.weight[0] = 1, float(weight.split()[0])
        handler = deliver_at_init([(train, TRAIN)])  # noqa: F841 (kept while running)
    hhc_ions, neuron_ions = ion_settings(text)
    ion_names_used = set(ions(text))
    for name, value in neuron_ions:
        setattr(seg, name, value)
        # A concentration (`noi`), not a reversal potential that ends so (`eno`).
        if name.endswith(("i", "o")) and name[:-1] in ion_names_used:
            setattr(h, name + "0_" + name[:-1] + "_ion", value)
    ion_vars = ion_names(text)
    columns, vectors = ["v"], [h.Vector().record(seg._ref_v)]
    for s in scalar_states(text):
        ref = getattr(seg if s in ion_vars else mechanism, "_ref_" + s)
        columns.append(f"{suffix or point}.{s}")
        vectors.append(h.Vector().record(ref))
    t = h.Vector().record(h._ref_t)
    if re.search(r"\bTABLE\b", text):  # 0: rates computed exactly, as hhc's default
        setattr(h, "usetable_" + (suffix or point), usetable)
    h.celsius = 34
    h.dt = 0.025
    h.steps_per_ms = 40
    h.finitialize(-65)
    h.continuerun(120)
    rows = list(zip(t, *vectors))[::EVERY]
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w") as f:
        f.write(f"# {mod.relative_to(CORPUS)}: NEURON 9.0.2 (nrnivmodl), the protocol of "
                "harness/neuron/corpus_each.py\n")
        f.write(f"# SUFFIX {suffix}\n" if suffix else f"# POINT_PROCESS {point}\n")
        for line in hhc_ions:
            f.write(f"# {line}\n")
        if weight is not None:
            f.write(f"# WEIGHT {weight}\n")
        if usetable:
            f.write("# USETABLE 1\n")
        f.write(",".join(["t_ms"] + columns) + "\n")
        for row in rows:
            f.write(",".join(f"{x:.12g}" for x in row) + "\n")


def main(paths, usetable):
    if not HHC.exists():
        sys.exit(f"build hhc first: cargo build --release -p hhc ({HHC} is missing)")
    mods = [Path(p).resolve() for p in paths] or sorted(CORPUS.rglob("*.mod"))
    folder = USETABLE_FIXTURES if usetable else FIXTURES
    written, refused = 0, []
    for mod in mods:
        text = without_comments(mod.read_text(errors="replace"))
        if not (suffix_of(text) or point_process_of(text)):
            continue
        if usetable and not re.search(r"\bTABLE\b", text):
            continue
        rel = mod.relative_to(CORPUS)
        why = hhc_refuses(mod)
        if why is None:
            why = run_in_neuron(mod, folder / rel.with_suffix(".csv"), usetable)
            if why is None:
                written += 1
                print(f"ok    {rel}")
                continue
            why = "NEURON: " + why
        else:
            why = "hhc: " + why
        refused.append(mod)
        print(f"skip  {rel}: {why[:160]}")
    print(f"{written} fixtures written; {len(refused)} mechanisms left out")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        one(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
    else:
        args = sys.argv[1:]
        main([a for a in args if a != "--usetable"], "--usetable" in args)
