//! TABLE: NEURON's table of a FUNCTION's value, or of the variables a PROCEDURE sets, over a
//! range of its one argument, read by linear interpolation.
//!
//! hhc computes such a function exactly, as NEURON does with `usetable_<suffix> = 0`. A
//! mechanism with a TABLE also gets the PARAMETER `usetable` (0 or 1, default 0): set to 1, the
//! call reads NEURON's table instead, entry for entry as nocmodl's C does. The table's points
//! are `x_0 = FROM`, `x_{i+1} = x_i + dx` with `dx = (TO − FROM)/WITH` (accumulated, as the C
//! loop does), and a call at `x` reads, with `ξ = (x − FROM)·(1/dx)`: entry 0 for `ξ ≤ 0`,
//! entry WITH for `ξ ≥ WITH`, otherwise `T[i] + (ξ − i)·(T[i+1] − T[i])` with `i = ⌊ξ⌋`; NaN
//! for NaN. A PROCEDURE's variables that the TABLE does not list keep their values, as NEURON
//! leaves them.
//!
//! The table's function is lowered once with its argument as [`Var::TableArg`]; the exact call
//! substitutes the argument, and the table ([`ir::Table::Tabulated`]) is computed when the
//! model is built, once its parameters and `celsius` are known. A function that reads anything
//! else (a state, a concentration, `v` other than its argument) has no table ahead of the run;
//! NEURON's would hold the values of whichever instance built it. hhc then computes it exactly
//! and refuses `usetable = 1` ([`ir::Mechanism::exact_tables`]).

use super::{Env, Lowerer, Val};
use crate::diagnostic::Diagnostic;
use crate::ir::{self, BinaryOp, Builtin, Expr, ExprId, Var};
use crate::passes::simplify::Builder;
use crate::passes::symbolic;
use crate::syntax::ast::{self, StmtKind};

/// A call of a tabulated function under way: its TABLE statement, its argument's value `x`,
/// and the environment before its body ran.
pub(super) struct TableCall<'s> {
    pub stmt: &'s ast::Stmt,
    pub x: ExprId,
    pub before: Env,
}

/// The name of the parameter that turns a mechanism's tables on.
pub const USETABLE: &str = "usetable";

impl<'a> Lowerer<'a> {
    /// The TABLE statement of callable `c`, when it has one and is tabulated: a call of one
    /// argument, in a file that does not name anything `usetable` itself.
    pub(super) fn table_of(&self, c: &'a ast::Callable) -> Option<&'a ast::Stmt> {
        let stmt = c
            .body
            .stmts
            .iter()
            .find(|s| matches!(s.kind, StmtKind::Table { .. }))?;
        (c.args.len() == 1 && !self.names.contains_key(USETABLE)).then_some(stmt)
    }

    /// The `usetable` parameter, added at the first TABLE.
    fn usetable_param(&mut self, stmt: &ast::Stmt) -> u32 {
        if let Some(i) = self.m.param_index(USETABLE) {
            return i as u32;
        }
        self.m.params.push(ir::Param {
            name: USETABLE.into(),
            default: 0.0,
            unit: None,
            limits: Some((0.0, 1.0)),
            span: stmt.span,
        });
        self.m.params.len() as u32 - 1
    }

    /// After callable `c` ran with its argument bound to [`Var::TableArg`] (see
    /// [`TableCall`]): each value the call set becomes the exact one at the argument, or, with
    /// `usetable`, the table's.
    pub(super) fn tabulate_call(
        &mut self,
        c: &ast::Callable,
        call: TableCall<'_>,
        env: &mut Env,
        result: &mut Val,
        is_function: bool,
    ) {
        let TableCall { stmt, x, before } = call;
        let before = &before;
        let StmtKind::Table {
            names,
            from,
            to,
            with,
            ..
        } = &stmt.kind
        else {
            return;
        };
        let use_table = self.usetable_param(stmt);
        // Every value the body set, and what the TABLE lists.
        let mut assigned = std::collections::BTreeSet::new();
        self.names_assigned_in(&c.body, &mut Default::default(), &mut assigned);
        let changed: Vec<String> = env
            .iter()
            .filter(|(k, v)| assigned.contains(*k) || before.get(*k).map(|b| b.0) != Some(v.0))
            .map(|(k, _)| k.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        // Each output's name (none: the FUNCTION's value) and body (filled in below for it).
        let mut outputs: Vec<(Option<String>, Option<ExprId>)> = Vec::new();
        if is_function {
            if let Some(n) = names.first() {
                self.err(
                    Diagnostic::error(
                        format!("the TABLE of FUNCTION `{}` lists `{}`", c.name.name, n.name),
                        n.span,
                        "a FUNCTION's table holds its value",
                    )
                    .with_hint("write `TABLE DEPEND … FROM … TO … WITH …` without names"),
                );
                return;
            }
            outputs.push((None, None));
        }
        for n in names {
            if !changed.contains(&n.name) {
                self.err(
                    Diagnostic::error(
                        format!(
                            "TABLE lists `{}`, which `{}` does not set",
                            n.name, c.name.name
                        ),
                        n.span,
                        "not set",
                    )
                    .with_hint("list the variables the PROCEDURE assigns"),
                );
                return;
            }
            outputs.push((Some(n.name.clone()), Some(env[&n.name].0)));
        }
        let exact = |arena: &mut ir::ExprArena, e: ExprId| {
            symbolic::substitute(arena, e, &|v| (v == Var::TableArg).then_some(x))
        };
        for k in &changed {
            let e = exact(&mut self.m.exprs, env[k].0);
            if let Some(v) = env.get_mut(k) {
                v.0 = e;
            }
        }
        let exact_result = exact(&mut self.m.exprs, result.0);
        let table_body = std::mem::replace(&mut result.0, exact_result);
        let (lo, hi) = (self.expr(from, env).0, self.expr(to, env).0);
        for o in &mut outputs {
            o.1.get_or_insert(table_body);
        }
        let mut bodies: Vec<ExprId> = outputs.iter().filter_map(|o| o.1).collect();
        bodies.extend([lo, hi]);
        if let Some(var) = self.read_during_run(&bodies) {
            self.m.exact_tables.push(ir::ExactTable {
                function: c.name.name.clone(),
                reads: var,
            });
            return;
        }
        let intervals = self.expr(with, env).0;
        let intervals = match self.m.exprs.get(intervals).as_lit() {
            Some(n) if n >= 1.0 && n.fract() == 0.0 && n <= 1e6 => n as u32,
            _ => {
                self.err(
                    Diagnostic::error(
                        "a TABLE's WITH must be a whole number of intervals",
                        with.span,
                        "not a count",
                    )
                    .with_hint("write WITH as a whole number from 1 to 1000000, such as 200"),
                );
                return;
            }
        };
        let mut b = Builder {
            span: stmt.span,
            arena: &mut self.m.exprs,
        };
        let use_it = {
            let p = b.arena.var(Var::Param(use_table));
            let zero = b.lit(0.0);
            b.binary(BinaryOp::Ne, p, zero)
        };
        // `_dx = (_tmax - _tmin)/WITH; _mfac = 1./_dx;` and `_xi = _mfac*(_lv - _tmin)`.
        let n = b.lit(f64::from(intervals));
        let span = b.sub(hi, lo);
        let dx = b.div(span, n);
        let one = b.lit(1.0);
        let mfac = b.div(one, dx);
        let shifted = b.sub(x, lo);
        let xi = b.mul(mfac, shifted);
        let i = b.unary(ir::UnaryOp::Floor, xi);
        let theta = b.sub(xi, i);
        let next = b.add(i, one);
        let (zero, last) = (b.lit(0.0), n);
        let below = b.binary(BinaryOp::Le, xi, zero);
        let above = b.binary(BinaryOp::Ge, xi, last);
        let tabulated = |b: &mut Builder, body: ExprId, exact: ExprId| {
            let t = b.arena.add_table(ir::Table::Tabulated {
                body,
                from: lo,
                to: hi,
                intervals,
            });
            let (e0, e1) = (b.table_entry(t, i), b.table_entry(t, next));
            let (first, end) = (b.table_entry(t, zero), b.table_entry(t, last));
            let step = b.sub(e1, e0);
            let part = b.mul(theta, step);
            let inside = b.add(e0, part);
            let upper = b.select(above, end, inside);
            let read = b.select(below, first, upper);
            b.select(use_it, read, exact)
        };
        for (name, body) in &outputs {
            let body = body.unwrap_or(table_body);
            match name {
                None => result.0 = tabulated(&mut b, body, exact_result),
                Some(name) => {
                    let exact = env[name].0;
                    let value = tabulated(&mut b, body, exact);
                    if let Some(v) = env.get_mut(name) {
                        v.0 = value;
                    }
                }
            }
        }
        // What the PROCEDURE sets beside its TABLE keeps its value when the table is read.
        for k in changed
            .iter()
            .filter(|k| !names.iter().any(|n| &n.name == *k))
        {
            if let (Some(old), Some(new)) = (before.get(k), env.get(k).copied()) {
                let kept = b.select(use_it, old.0, new.0);
                if let Some(v) = env.get_mut(k) {
                    v.0 = kept;
                }
            }
        }
    }

    /// The first variable `bodies` read that changes during a run (so that no table can hold
    /// it): anything but the argument, the parameters, `celsius` and `dt`.
    fn read_during_run(&self, bodies: &[ExprId]) -> Option<String> {
        let arena = &self.m.exprs;
        arena
            .reachable(bodies)
            .into_iter()
            .find_map(|id| match *arena.get(id) {
                Expr::Var(
                    Var::TableArg | Var::Param(_) | Var::Builtin(Builtin::Celsius | Builtin::Dt),
                ) => None,
                Expr::Var(v) => Some(ir::print::mechanism_var_name(&self.m, v)),
                _ => None,
            })
    }
}
