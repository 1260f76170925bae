"""Turn a traced JAX function into NMODL statements.

The channel translator traces braincell's rate and current methods with `jax.make_jaxpr`, with
every parameter, ion field and gate as an input, so the jaxpr is the exact arithmetic braincell
runs. This module prints such a jaxpr as NMODL: one expression, plus LOCAL assignments for
values used more than once and for `where` (NMODL has if/else, not a conditional expression).
"""
import re

import jax
import numpy as np
from jax.extend.core import Literal

PREC = {"atom": 100, "call": 100, "^": 4, "unary": 3, "*": 2, "/": 2, "+": 1, "-": 1, "cmp": 0, "&&": -1, "||": -2}


def num(x):
    x = float(np.asarray(x).reshape(-1)[0]) if np.ndim(x) else float(x)
    if x == int(x) and abs(x) < 1e15:
        s = str(int(x))
    else:
        s = repr(x)
    return (s if x >= 0 else f"({s})"), PREC["atom"]


class Printer:
    """Prints jaxpr equations into `self.stmts` (LOCAL assignments) and returns expressions."""

    def __init__(self, prefix):
        self.stmts = []
        self.locals = []
        self.prefix = prefix
        self.count = 0

    def fresh(self):
        self.count += 1
        name = f"{self.prefix}{self.count}"
        self.locals.append(name)
        return name

    def bind(self, expr, force=False):
        """Makes `expr` a LOCAL when it is not already atomic."""
        text, prec = expr
        if prec == PREC["atom"] and not force:
            return expr
        name = self.fresh()
        self.stmts.append(f"{name} = {text}")
        return name, PREC["atom"]

    def run(self, closed, args):
        jaxpr = closed.jaxpr if hasattr(closed, "jaxpr") else closed
        consts = closed.consts if hasattr(closed, "consts") else []
        env = {}
        uses = {}
        for eqn in jaxpr.eqns:
            if not any(True for _ in eqn.outvars):
                continue
            for v in eqn.invars:
                if not isinstance(v, Literal):
                    uses[v] = uses.get(v, 0) + 1
        for v in jaxpr.outvars:
            if not isinstance(v, Literal):
                uses[v] = uses.get(v, 0) + 1
        for v, c in zip(jaxpr.constvars, consts):
            env[v] = num(c)
        for v, a in zip(jaxpr.invars, args):
            env[v] = self.bind(a) if uses.get(v, 0) > 1 and not is_bool(v) else a

        def read(v):
            if isinstance(v, Literal):
                return num(v.val)
            return env[v]

        # Only the equations the outputs need: tracing may record dead work (a reset's solve).
        needed = {v for v in jaxpr.outvars if not isinstance(v, Literal)}
        live = []
        for eqn in reversed(jaxpr.eqns):
            if any(v in needed for v in eqn.outvars):
                live.append(eqn)
                needed.update(v for v in eqn.invars if not isinstance(v, Literal))
        live.reverse()
        for eqn in live:
            ins = [read(v) for v in eqn.invars]
            outs = self.eqn(eqn, ins)
            for v, o in zip(eqn.outvars, outs):
                if uses.get(v, 0) > 1 and not is_bool(v):
                    o = self.bind(o)
                env[v] = o
        return [read(v) for v in jaxpr.outvars]

    def eqn(self, eqn, ins):
        p = eqn.primitive.name
        params = eqn.params
        sub = params.get("jaxpr") or params.get("call_jaxpr") or params.get("fun_jaxpr")
        if p == "pjit" and params.get("name") == "exprel":
            # brainunit's exprel(x) = expm1(x)/x with its Taylor branch near 0; hhc has exprelr = 1/exprel.
            return [(f"1 / exprelr({ins[0][0]})", PREC["/"])]
        if sub is not None and p not in ("cond", "while", "scan"):
            return self.run(sub, ins)
        if p == "stop_gradient":
            # braincell's freeze_gradient: hhc's frozen(x) is x with derivative 0.
            return [(f"frozen({ins[0][0]})", PREC["call"])]
        if p in ("convert_element_type", "broadcast_in_dim", "reshape", "squeeze",
                 "copy", "copy_p", "reduce_precision", "optimization_barrier"):
            return ins[: len(eqn.outvars)] if p == "optimization_barrier" else [ins[0]]
        binops = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
        if p in binops:
            return [infix(ins[0], binops[p], ins[1])]
        cmps = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}
        if p in cmps:
            return [(f"{wrap(ins[0], 1)} {cmps[p]} {wrap(ins[1], 1)}", PREC["cmp"])]
        if p in ("and", "or"):
            op = "&&" if p == "and" else "||"
            return [(f"({ins[0][0]}) {op} ({ins[1][0]})", PREC[op])]
        if p == "not":
            return [(f"!({ins[0][0]})", PREC["unary"])]
        if p == "neg":
            return [(f"-{wrap(ins[0], PREC['unary'])}", PREC["unary"])]
        funcs = {"exp": "exp", "expm1": "expm1", "log": "log", "sqrt": "sqrt", "abs": "fabs",
                 "tanh": "tanh", "floor": "floor"}
        if p in funcs:
            return [(f"{funcs[p]}({ins[0][0]})", PREC["call"])]
        if p == "log1p":
            return [(f"log(1 + {ins[0][0]})", PREC["call"])]
        if p == "rsqrt":
            return [(f"1 / sqrt({ins[0][0]})", PREC["/"])]
        if p == "logistic":
            return [(f"1 / (1 + exp(-{wrap(ins[0], PREC['unary'])}))", PREC["/"])]
        if p == "exp2":
            return [(f"pow(2, {ins[0][0]})", PREC["call"])]
        if p == "pow":
            return [(f"pow({ins[0][0]}, {ins[1][0]})", PREC["call"])]
        if p == "integer_pow":
            y = params["y"]
            base = wrap(ins[0], PREC["^"] + 1)
            return [(f"{base}^{y}" if y >= 0 else f"{base}^({y})", PREC["^"])]
        if p == "square":
            return [(f"{wrap(ins[0], PREC['^'] + 1)}^2", PREC["^"])]
        if p in ("max", "min"):
            return [(f"{p}({ins[0][0]}, {ins[1][0]})", PREC["call"])]
        if p == "clamp":
            lo, x, hi = ins
            return [(f"min(max({x[0]}, {lo[0]}), {hi[0]})", PREC["call"])]
        if p == "sign":
            x = self.bind(ins[0])
            return [(f"(({x[0]} > 0) - ({x[0]} < 0))", PREC["atom"])]
        if p == "select_n":
            pred, *cases = ins
            if len(cases) != 2:
                raise NotImplementedError("select_n with more than two cases")
            # brainunit's exprel(x): where(|x| <= eps, Taylor series, expm1(x) / x).
            m = re.fullmatch(r"expm1\((\w+)\) / (\w+)", cases[0][0])
            if m and m.group(1) == m.group(2):
                return [(f"1 / exprelr({m.group(1)})", PREC["/"])]
            name = self.fresh()
            cond = pred[0]
            if eqn.invars[0].aval.dtype != np.bool_:
                cond = f"{wrap(pred, 1)} != 0"
            self.stmts.append(f"if ({cond}) {{ {name} = {cases[1][0]} }} else {{ {name} = {cases[0][0]} }}")
            return [(name, PREC["atom"])]
        raise NotImplementedError(f"jaxpr primitive `{p}`")


def is_bool(v):
    return getattr(v.aval, "dtype", None) == np.bool_


def wrap(e, prec):
    text, p = e
    return text if p >= prec else f"({text})"


def infix(a, op, b):
    prec = PREC[op]
    if op in "*/" and b[0] == "1":  # unit conversions by 1 (mM / mM, ms / ms)
        return a
    if op == "/" and a[0] == "1" and b[0].startswith("1 / exprelr(") and b[1] == PREC["/"]:
        return (b[0][4:], PREC["call"])
    if op == "/" and b[0].startswith("1 / exprelr(") and b[1] == PREC["/"]:
        return (f"{wrap(a, PREC['*'])} * {b[0][4:]}", PREC["*"])
    if op == "*" and b[0].startswith("1 / exprelr(") and b[1] == PREC["/"]:
        return (f"{wrap(a, prec)} / {b[0][4:]}", prec)
    left = wrap(a, prec)
    # Left-associative: the right operand needs parentheses at equal precedence for - and /.
    right = wrap(b, prec + 1 if op in "-/" else prec)
    if op in "+*" and b[1] == prec:
        right = b[0]
    return (f"{left} {op} {right}", prec)
