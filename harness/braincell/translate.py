"""Translate braincell 0.2.0's HH-type channels into hhc `.chan` files.

    bench/.venv/bin/python harness/braincell/translate.py [--out stdlib] [NAMES...]

Each rate method (`f_<gate>_inf/_tau` or `_alpha/_beta`), each gate's temperature factor and the
current are traced with `jax.make_jaxpr`, with every constructor parameter, ion field and gate as
an input. The jaxpr is exactly what braincell computes, so the printed NMODL is too: no formula
is copied by hand. Parameters keep braincell's names and defaults; temperatures are written in
degC and voltages in mV. Currents take NMODL's sign (outward positive), the opposite of
braincell's. Plain ohmic channels get the readable form `i = g_max * gates * (v - e)`.
"""
import argparse
import inspect
import re
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import brainunit as u  # noqa: E402
import braincell  # noqa: E402
import braincell.channel as ch  # noqa: E402
from braincell._base_ion import IonInfo  # noqa: E402
from braincell.channel._base import HH, Markov, _OhmicCurrent, GhkHH  # noqa: E402
from braincell.ion import Calcium, NonSpecific, Potassium, Sodium  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from jaxpr_nmodl import Printer, num  # noqa: E402

ION_SYMBOL = {Sodium: "na", Potassium: "k", Calcium: "ca", NonSpecific: None}
VALENCE = {"na": 1, "k": 1, "ca": 2, None: 1}
ION_DEFAULTS = {"na": (10.0, 140.0, 50.0), "k": (54.4, 2.5, -95.0), "ca": (5e-5, 2.0, 120.0), None: (1.0, 1.0, 0.0)}

# Canonical unit per dimension: (NMODL text, brainunit unit).
CANONICAL = [
    ("mS/cm2", u.mS / u.cm**2),
    ("mV", u.mV),
    ("ms", u.ms),
    ("/ms", 1 / u.ms),
    ("mM", u.mM),
    ("cm/s", u.cm / u.second),
    ("um", u.um),
    ("degC", u.kelvin),
    ("/mM-ms", u.mM**-1 * u.ms**-1),
    ("/mM", 1 / u.mM),
    ("mM/ms", u.mM / u.ms),
    ("uA/cm2", u.uA / u.cm**2),
    ("/mV", 1 / u.mV),
    ("/mV-ms", u.mV**-1 * u.ms**-1),
    ("mV/ms", u.mV / u.ms),
    ("/s", 1 / u.second),
]


def canonical_unit(q):
    for text, unit in CANONICAL:
        if u.get_dim(q) == u.get_dim(unit):
            return text, unit
    raise NotImplementedError(f"no canonical unit for {q}")


class Param:
    def __init__(self, name, default):
        self.name = name
        if isinstance(default, u.Quantity):
            self.text, self.unit = canonical_unit(default)
            mag = np.asarray(default.to_decimal(self.unit), dtype=float)
            self.kelvin = self.text == "degC"
            self.value = float(mag.reshape(-1)[0]) - (273.15 if self.kelvin else 0.0)
        else:
            self.text, self.unit, self.kelvin = None, None, False
            self.value = float(default)

    def rebuild(self, x):
        if self.kelvin:
            return (x + 273.15) * u.kelvin
        if self.unit is not None:
            return x * self.unit
        return x


def constructor_params(cls):
    out = []
    for name, p in inspect.signature(cls.__init__).parameters.items():
        if name in ("self", "size", "name") or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        d = p.default
        if isinstance(d, bool) or d is inspect.Parameter.empty or d is None:
            continue
        if isinstance(d, (u.Quantity, float, int)):
            out.append(Param(name, d))
    return out


def root_ions(cls):
    rt = cls.root_type
    args = getattr(rt, "__args__", None)
    kinds = list(args) if args else [rt]
    ions = []
    for k in kinds:
        for base, sym in ION_SYMBOL.items():
            if isinstance(k, type) and issubclass(k, base):
                ions.append(sym)
                break
        else:
            if not (isinstance(k, type) and issubclass(k, braincell.HHTypedNeuron)):
                raise NotImplementedError(f"root type {k}")
    return ions


def ion_names(sym):
    if sym is None:
        return ("ci_no", "co_no", "e_no")
    return (f"{sym}i", f"{sym}o", f"e{sym}")


class Channel:
    def __init__(self, cls):
        self.cls = cls
        self.name = cls.__name__
        self.params = constructor_params(cls)
        self.ions = root_ions(cls)
        self.gates = list(cls._resolved_gates) if issubclass(cls, HH) else []
        self.forms = dict(cls._gate_forms) if issubclass(cls, HH) else {}
        self.markov = issubclass(cls, Markov)
        # The states a current may read: HH gates, or a Markov scheme's independent states
        # (braincell rebuilds the dependent one as conserve minus the others).
        if self.markov:
            self.state_inputs = list(cls._resolved_state_names)
            self.state_inputs.remove(cls.dependent_state)
        else:
            self.state_inputs = [g.name for g in self.gates]
        # Inputs, in order: v, params, ion fields (ci, co, e per ion), state values.
        self.input_names = ["v"] + [p.name for p in self.params]
        for sym in self.ions:
            self.input_names += list(ion_names(sym))
        self.input_names += self.state_inputs

    def defaults(self):
        vals = [-65.0] + [p.value for p in self.params]
        for sym in self.ions:
            ci, co, e = ION_DEFAULTS[sym]
            vals += [ci, co, e]
        vals += [0.5 / max(1, len(self.state_inputs)) for _ in self.state_inputs]
        return [jnp.asarray(x, dtype=jnp.float64) for x in vals]

    def instance(self, args):
        v, rest = args[0], list(args[1:])
        kwargs = {p.name: p.rebuild(rest.pop(0)) for p in self.params}
        inst = self.cls(1, **kwargs)
        ions = []
        for sym in self.ions:
            ci, co, e = rest.pop(0), rest.pop(0), rest.pop(0)
            ions.append(IonInfo(Ci=ci * u.mM, Co=co * u.mM, E=e * u.mV, valence=VALENCE[sym]))
        V = v * u.mV
        gates = rest
        return inst, V, ions, gates

    def trace(self, body, prefix):
        """Traces `body(inst, V, ions, gates) -> float` and prints it as (stmts, locals, expr)."""

        def f(*args):
            inst, V, ions, gates = self.instance(args)
            out = body(inst, V, ions, gates)
            return jnp.asarray(out, dtype=jnp.float64).reshape(())

        closed = jax.make_jaxpr(f)(*self.defaults())
        pr = Printer(prefix)
        (expr,) = pr.run(closed, [(n, 100) for n in self.input_names])
        return [tidy(x) for x in pr.stmts], pr.locals, tidy(expr[0])

    def rate(self, gate, kind):
        name = f"f_{gate.name}_{kind}"
        want = {"alpha": 1 / u.ms, "beta": 1 / u.ms, "tau": u.ms, "inf": None}[kind]

        def body(inst, V, ions, gates):
            r = inst._call_rate(name, V, *ions)
            if isinstance(r, u.Quantity):
                r = r.to_decimal(want) if want is not None else r.to_decimal()
            return r

        return self.trace(body, f"{gate.name}_{kind}_")

    def phi(self, gate):
        def body(inst, V, ions, gates):
            p = inst.gate_phi(gate)
            return u.get_magnitude(p) if isinstance(p, u.Quantity) else p

        return self.trace(body, f"phi_{gate.name}_")

    def current(self, component=None):
        def body(inst, V, ions, gates):
            inst.init_state(V, *ions)
            for name, x in zip(self.state_inputs, gates):
                getattr(inst, name).value = x
            if component is None:
                i = inst.current(V, *ions)
            else:
                i = inst.current_components(V, *ions)[component]
            return i.to_decimal(u.uA / u.cm**2)

        return self.trace(body, "c")

    def transition_rate(self, rate):
        def body(inst, V, ions, gates):
            r = inst._transition_rate(rate, V, *ions)
            return u.get_magnitude(r) if isinstance(r, u.Quantity) else r

        return self.trace(body, f"{rate}_")

    def is_plain_ohmic(self):
        c = self.cls
        return (
            issubclass(c, _OhmicCurrent)
            and c.current is _OhmicCurrent.current
            and c.reversal_potential is _OhmicCurrent.reversal_potential
            and c.conductance_factor is HH.conductance_factor
            and any(p.name == "g_max" for p in self.params)
        )


def tidy(text):
    """Undoes the kelvin round trip of degC parameters: `T + 273.15 - 296.15)` is `T - 23)`."""
    text = re.sub(r"(\w+) \+ 273\.15 - \((\w+) \+ 273\.15\)(?=\))", r"\1 - \2", text)
    return re.sub(
        r"(\w+) \+ 273\.15 - ([\d.]+)(?=\))",
        lambda m: f"{m.group(1)} - {fmt_value(round(float(m.group(2)) - 273.15, 10))}",
        text,
    )


def fmt_value(x):
    s = repr(float(x))
    if s.endswith(".0"):
        s = s[:-2]
    return s


def doc_summary(cls):
    doc = inspect.getdoc(cls) or ""
    first = doc.strip().split("\n\n")[0].replace("\n", " ")
    ref = re.search(r"\.\. \[1\]\s+(.*?)(?:\n\s*\n|\n\s*\.\. |\Z)", doc, re.S)
    ref = " ".join(ref.group(1).split()) if ref else None
    return first, ref


def body_lines(stmts, locs, indent="    "):
    out = []
    if locs:
        for chunk in range(0, len(locs), 8):
            out.append(indent + "LOCAL " + ", ".join(locs[chunk : chunk + 8]))
    out += [indent + s for s in stmts]
    return out


def translate(cls):
    c = Channel(cls)
    name = c.name
    first, ref = doc_summary(cls)
    lines = []
    lines.append(f"TITLE {name}: {first[:200]}")
    lines.append("")
    lines.append("COMMENT")
    lines.append(f"braincell 0.2.0, braincell.channel.{name}, translated by harness/braincell/translate.py:")
    lines.append("every rate, temperature factor and current below is braincell's own arithmetic,")
    lines.append("traced with JAX. Currents use NMODL's sign (outward positive), braincell's opposite.")
    lines.append("Temperatures are in degC; braincell's are in kelvin (temp = T_kelvin - 273.15).")
    if ref:
        lines += textwrap.wrap("[1] " + ref, 96)
    lines.append("ENDCOMMENT")
    lines.append("")

    # Currents: (NMODL variable, ion or None, component)
    comps = getattr(cls, "current_owner_types", None)
    currents = []
    if comps and hasattr(cls, "current_components"):
        for key, typ in comps.items():
            sym = ION_SYMBOL[[b for b in ION_SYMBOL if issubclass(typ, b)][0]]
            currents.append((f"i{sym}" if sym else "i", sym, key))
    elif c.ions:
        sym = c.ions[0]
        currents.append((f"i{sym}" if sym else "i", sym, None))
    else:
        currents.append(("i", None, None))

    # Trace everything first, then find which ion fields are read.
    rates = {}
    for g in c.gates:
        kinds = ("inf", "tau") if c.forms[g.name] == "inf_tau" else ("alpha", "beta")
        for k in kinds:
            rates[(g.name, k)] = c.rate(g, k)
    phis = {g.name: c.phi(g) for g in c.gates}
    transitions = []  # (src, dst, forward, backward)
    if c.markov:
        for t in cls._resolved_pairs:
            transitions.append((t.src, t.dst, t.forward, t.backward))
            for r in (t.forward, t.backward):
                if r is not None and ("rate", r) not in rates:
                    rates[("rate", r)] = c.transition_rate(r)
    plain = c.is_plain_ohmic() and len(currents) == 1
    traced_currents = {}
    if not plain:
        for var, sym, comp in currents:
            traced_currents[var] = c.current(comp)

    def uses(word):
        texts = []
        for stmts, _, e in list(rates.values()) + list(phis.values()) + list(traced_currents.values()):
            texts += stmts + [e]
        return any(re.search(rf"\b{re.escape(word)}\b", t) for t in texts)

    ion_reads = {}
    for sym in c.ions:
        if sym is None:
            if any(uses(w) for w in ion_names(None)):
                raise NotImplementedError("reads a nonspecific ion's fields")
            continue
        ci, co, e = ion_names(sym)
        reads = [w for w in (e, ci, co) if uses(w)]
        if plain and sym == currents[0][1] and e not in reads:
            reads.insert(0, e)
        ion_reads[sym] = reads

    lines.append("NEURON {")
    lines.append(f"    SUFFIX {name}")
    written = {sym for _, sym, _ in currents}
    for sym in c.ions:
        if sym is None:
            continue
        rd = ion_reads.get(sym, [])
        parts = [f"USEION {sym}"]
        if rd:
            parts.append("READ " + ", ".join(rd))
        if sym in written:
            parts.append(f"WRITE i{sym}")
        if len(parts) > 1:
            lines.append("    " + " ".join(parts))
    if any(sym is None for _, sym, _ in currents):
        lines.append("    NONSPECIFIC_CURRENT i")
    if c.params:
        lines.append("    RANGE " + ", ".join(p.name for p in c.params))
    lines.append("}")
    lines.append("")
    lines.append("PARAMETER {")
    width = max([len(p.name) for p in c.params] + [1])
    for p in c.params:
        unit = f" ({p.text})" if p.text else ""
        lines.append(f"    {p.name.ljust(width)} = {fmt_value(p.value)}{unit}")
    lines.append("}")
    lines.append("")
    if c.gates:
        lines.append("STATE { " + " ".join(g.name for g in c.gates) + " }")
        lines.append("")
    if c.markov:
        lines.append("STATE { " + " ".join(cls._resolved_state_names) + " }")
        lines.append("")
    lines.append("ASSIGNED {")
    lines.append("    v (mV)")
    for sym, rd in ion_reads.items():
        for w in rd:
            lines.append(f"    {w} ({'mV' if w.startswith('e') else 'mM'})")
    for var, _, _ in currents:
        lines.append(f"    {var} (uA/cm2)")
    lines.append("}")
    lines.append("")

    # BREAKPOINT
    if not plain:
        lines.append("UNITSOFF")
    lines.append("BREAKPOINT {")
    if c.gates:
        lines.append("    SOLVE states METHOD cnexp")
    if c.markov:
        lines.append("    SOLVE scheme METHOD sparse")
    if plain:
        var, sym, _ = currents[0]
        factor = []
        for g in c.gates:
            gv = f"min(max({g.name}, 0), 1)" if g.clip else g.name
            factor.append(gv if g.power == 1 else f"{gv}^{g.power}")
        e = f"e{sym}" if sym else "E"
        lines.append(f"    {var} = g_max * {' * '.join(factor + [f'(v - {e})'])}")
    else:
        for var, (stmts, locs, expr) in traced_currents.items():
            lines += body_lines(stmts, locs)
            lines.append(f"    {var} = -({expr})")
    lines.append("}")
    if not plain:
        lines.append("UNITSON")
    lines.append("")

    if c.markov:
        conserve = cls.conserve
        if isinstance(conserve, str) or callable(conserve):
            raise NotImplementedError("a conserve value that is not a literal")
        lines.append("INITIAL {")
        lines.append("    SOLVE scheme STEADYSTATE sparse" if cls.reset_to_steady_state else "    : braincell starts the scheme with every independent state at 0")
        if not cls.reset_to_steady_state:
            for n in c.state_inputs:
                lines.append(f"    {n} = 0")
            lines.append(f"    {cls.dependent_state} = {fmt_value(conserve)}")
        lines.append("}")
        lines.append("")
        lines.append("KINETIC scheme {")
        for src, dst, fwd, bwd in transitions:
            if bwd is None:
                lines.append(f"    ~ {src} -> {dst} ({fwd}(v))")
            else:
                lines.append(f"    ~ {src} <-> {dst} ({fwd}(v), {bwd}(v))")
        order = list(c.state_inputs) + [cls.dependent_state]
        lines.append(f"    CONSERVE {' + '.join(order)} = {fmt_value(conserve)}")
        lines.append("}")
        lines.append("")
        lines.append("UNITSOFF")
        for (_, rname), (stmts, locs, expr) in rates.items():
            lines.append(f"FUNCTION {rname}(v (mV)) (/ms) {{")
            lines += body_lines(stmts, locs)
            lines.append(f"    {rname} = {expr}")
            lines.append("}")
            lines.append("")
        lines.append("UNITSON")
    if c.gates:
        lines.append("INITIAL {")
        for g in c.gates:
            if c.forms[g.name] == "inf_tau":
                lines.append(f"    {g.name} = {g.name}_inf(v)")
            else:
                lines.append(f"    {g.name} = {g.name}_alpha(v) / ({g.name}_alpha(v) + {g.name}_beta(v))")
        lines.append("}")
        lines.append("")
        lines.append("DERIVATIVE states {")
        for g in c.gates:
            stmts, locs, phi = phis[g.name]
            if stmts:
                raise NotImplementedError("phi with statements")
            pre = "" if phi == "1" else f"{phi} * " if re.fullmatch(r"[\w.()]+", phi) else f"({phi}) * "
            n = g.name
            if c.forms[n] == "inf_tau":
                lines.append(f"    {n}' = {pre}({n}_inf(v) - {n}) / {n}_tau(v)")
            else:
                lines.append(f"    {n}' = {pre}({n}_alpha(v) * (1 - {n}) - {n}_beta(v) * {n})")
        lines.append("}")
        lines.append("")
        lines.append("UNITSOFF")
        for (gname, kind), (stmts, locs, expr) in rates.items():
            unit = {"inf": "", "tau": " (ms)", "alpha": " (/ms)", "beta": " (/ms)"}[kind]
            lines.append(f"FUNCTION {gname}_{kind}(v (mV)){unit} {{")
            lines += body_lines(stmts, locs)
            lines.append(f"    {gname}_{kind} = {expr}")
            lines.append("}")
            lines.append("")
        lines.append("UNITSON")
    return "\n".join(lines).rstrip() + "\n"


def hh_type_classes():
    out = []
    for n in ch.__all__:
        c = getattr(ch, n)
        if not isinstance(c, type) or n in ("HH", "OhmicHH", "GhkHH", "LeakageChannel"):
            continue
        if issubclass(c, HH) and (c._resolved_gates or issubclass(c, _OhmicCurrent)) and c.__module__ != "braincell.channel._base":
            out.append(c)
        elif issubclass(c, Markov) and c._resolved_pairs:
            out.append(c)
        elif issubclass(c, ch.LeakageChannel) and c is not ch.LeakageChannel:
            out.append(c)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "stdlib"))
    ap.add_argument("names", nargs="*")
    ap.add_argument("--skip", nargs="*", default=["Na_HH1952", "K_HH1952", "IL"])
    a = ap.parse_args()
    classes = [c for c in hh_type_classes() if (not a.names or c.__name__ in a.names)]
    ok, failed = 0, []
    for c in classes:
        if c.__name__ in a.skip and not a.names:
            continue
        try:
            text = translate(c)
        except Exception as e:  # report and go on: one odd class must not stop the library
            failed.append((c.__name__, f"{type(e).__name__}: {e}"))
            continue
        Path(a.out, f"{c.__name__}.chan").write_text(text)
        ok += 1
    print(f"translated {ok} classes into {a.out}")
    for n, e in failed:
        print(f"  FAILED {n}: {e[:300]}")


if __name__ == "__main__":
    main()
