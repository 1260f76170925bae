//! Small pure symbolic helpers over the DAG: partial derivatives and substitution.

use super::simplify::Builder;
use crate::ir::{BinaryOp, Expr, ExprArena, ExprId, Table, UnaryOp, Var};
use std::collections::HashMap;

/// ∂e/∂var, simplified on construction.
pub fn pdiff(arena: &mut ExprArena, e: ExprId, var: Var) -> ExprId {
    let mut memo = HashMap::new();
    for id in arena.reachable(&[e]) {
        let d = pdiff_node(arena, id, var, &memo);
        memo.insert(id, d);
    }
    memo[&e]
}

fn pdiff_node(
    arena: &mut ExprArena,
    id: ExprId,
    var: Var,
    memo: &HashMap<ExprId, ExprId>,
) -> ExprId {
    let node = *arena.get(id);
    let mut b = Builder::new(arena);
    let d = |x: ExprId| memo[&x];
    match node {
        Expr::Lit(_) => b.lit(0.0),
        Expr::Var(v) => b.lit(if v == var { 1.0 } else { 0.0 }),
        Expr::Unary(op, a) => {
            let da = d(a);
            if b.is_zero(da) {
                return b.lit(0.0);
            }
            let outer = match op {
                UnaryOp::Neg => return b.neg(da),
                UnaryOp::Not
                | UnaryOp::Floor
                | UnaryOp::Round
                | UnaryOp::Frozen
                | UnaryOp::Exp2Scale
                | UnaryOp::Exp2Tail => return b.lit(0.0),
                UnaryOp::Exp | UnaryOp::Expm1 => b.unary(UnaryOp::Exp, a),
                UnaryOp::Log => {
                    let one = b.lit(1.0);
                    b.div(one, a)
                }
                UnaryOp::Log10 => {
                    let k = b.lit(std::f64::consts::LN_10);
                    let den = b.mul(k, a);
                    let one = b.lit(1.0);
                    b.div(one, den)
                }
                UnaryOp::Sqrt => {
                    let s = b.unary(UnaryOp::Sqrt, a);
                    let half = b.lit(0.5);
                    b.div(half, s)
                }
                UnaryOp::Fabs => {
                    let zero = b.lit(0.0);
                    let neg = b.binary(BinaryOp::Lt, a, zero);
                    let m1 = b.lit(-1.0);
                    let p1 = b.lit(1.0);
                    b.select(neg, m1, p1)
                }
                UnaryOp::Sin => b.unary(UnaryOp::Cos, a),
                UnaryOp::Cos => {
                    let s = b.unary(UnaryOp::Sin, a);
                    b.neg(s)
                }
                UnaryOp::Tanh => {
                    let t = b.unary(UnaryOp::Tanh, a);
                    let t2 = b.mul(t, t);
                    let one = b.lit(1.0);
                    b.sub(one, t2)
                }
                UnaryOp::Exprelr => {
                    // d/dx x/(e^x−1) = (expm1(x) − x·e^x)/expm1(x)², → −1/2 as x → 0.
                    let em1 = b.unary(UnaryOp::Expm1, a);
                    let ex = b.unary(UnaryOp::Exp, a);
                    let xex = b.mul(a, ex);
                    let num = b.sub(em1, xex);
                    let den = b.mul(em1, em1);
                    let full = b.div(num, den);
                    let small = b.lit(1e-4);
                    let ax = b.unary(UnaryOp::Fabs, a);
                    let is_small = b.binary(BinaryOp::Lt, ax, small);
                    let sixth = b.lit(1.0 / 6.0);
                    let lin = b.mul(sixth, a);
                    let mhalf = b.lit(-0.5);
                    let series = b.add(mhalf, lin);
                    b.select(is_small, series, full)
                }
            };
            b.mul(outer, da)
        }
        Expr::Binary(op, x, y) => {
            let (dx, dy) = (d(x), d(y));
            match op {
                BinaryOp::Add => b.add(dx, dy),
                BinaryOp::Sub => b.sub(dx, dy),
                BinaryOp::Mul => {
                    let l = b.mul(dx, y);
                    let r = b.mul(x, dy);
                    b.add(l, r)
                }
                BinaryOp::Div => {
                    // d(x/y) = dx/y − (x/y)·dy/y
                    let l = b.div(dx, y);
                    let q = b.div(x, y);
                    let qd = b.mul(q, dy);
                    let r = b.div(qd, y);
                    b.sub(l, r)
                }
                BinaryOp::Pow => {
                    if b.is_zero(dy) {
                        let one = b.lit(1.0);
                        let ym1 = b.sub(y, one);
                        let p = b.binary(BinaryOp::Pow, x, ym1);
                        let yp = b.mul(y, p);
                        b.mul(yp, dx)
                    } else {
                        // d(x^y) = x^y·(dy·ln x + y·dx/x)
                        let p = b.binary(BinaryOp::Pow, x, y);
                        let ln = b.unary(UnaryOp::Log, x);
                        let t1 = b.mul(dy, ln);
                        let ydx = b.mul(y, dx);
                        let t2 = b.div(ydx, x);
                        let s = b.add(t1, t2);
                        b.mul(p, s)
                    }
                }
                BinaryOp::Min | BinaryOp::Max => {
                    let cmp = if op == BinaryOp::Min {
                        BinaryOp::Le
                    } else {
                        BinaryOp::Ge
                    };
                    let c = b.binary(cmp, x, y);
                    b.select(c, dx, dy)
                }
                BinaryOp::Ldexp => b.binary(BinaryOp::Ldexp, dx, y),
                _ => b.lit(0.0),
            }
        }
        Expr::Fma(x, y, z) => {
            let l = b.mul(d(x), y);
            let r = b.mul(x, d(y));
            let s = b.add(l, r);
            b.add(s, d(z))
        }
        Expr::Select(c, x, y) => b.select(c, d(x), d(y)),
        // A table is read at `⌊index⌋`: piecewise constant. (An interpolation between two
        // entries gets its slope from the weight `index − ⌊index⌋`.)
        Expr::TableEntry(..) => b.lit(0.0),
    }
}

/// Rebuilds one non-variable node with its children mapped by `m`, folding as it goes.
pub fn rebuild_node(b: &mut Builder<'_>, node: Expr, m: impl Fn(ExprId) -> ExprId) -> ExprId {
    match node {
        Expr::Lit(bits) => b.lit(f64::from_bits(bits)),
        Expr::Var(v) => b.arena.var(v),
        Expr::Unary(op, a) => b.unary(op, m(a)),
        Expr::Binary(op, x, y) => b.binary(op, m(x), m(y)),
        Expr::Fma(x, y, z) => b.fma(m(x), m(y), m(z)),
        Expr::Select(c, x, y) => b.select(m(c), m(x), m(y)),
        Expr::TableEntry(t, i) => b.table_entry(t, m(i)),
    }
}

/// `e` with every `Var` for which `map` returns `Some` replaced, re-simplified.
pub fn substitute(arena: &mut ExprArena, e: ExprId, map: &dyn Fn(Var) -> Option<ExprId>) -> ExprId {
    let mut memo: HashMap<ExprId, ExprId> = HashMap::new();
    for id in arena.reachable(&[e]) {
        let node = *arena.get(id);
        let span = arena.span(id);
        let new = match node {
            Expr::Var(v) => map(v).unwrap_or(id),
            _ => rebuild_node(&mut Builder { arena, span }, node, |x| memo[&x]),
        };
        memo.insert(id, new);
    }
    memo[&e]
}

/// The nodes under `e` in children-first order, not entering `frozen(…)` (whose value is a
/// constant of its step: NEURON's cnexp reads a value computed before the equation so).
fn reachable_outside_frozen(arena: &ExprArena, e: ExprId) -> Vec<ExprId> {
    let mut seen = std::collections::HashSet::new();
    let mut order = Vec::new();
    let mut stack = vec![(e, false)];
    while let Some((id, expanded)) = stack.pop() {
        if expanded {
            order.push(id);
            continue;
        }
        if !seen.insert(id) {
            continue;
        }
        stack.push((id, true));
        let node = arena.get(id);
        if !matches!(node, Expr::Unary(crate::ir::UnaryOp::Frozen, _)) {
            for c in node.children() {
                if !seen.contains(&c) {
                    stack.push((c, false));
                }
            }
        }
    }
    order
}

/// [`substitute`], leaving every `frozen(…)` whole.
pub fn substitute_outside_frozen(
    arena: &mut ExprArena,
    e: ExprId,
    map: &dyn Fn(Var) -> Option<ExprId>,
) -> ExprId {
    let mut memo: HashMap<ExprId, ExprId> = HashMap::new();
    for id in reachable_outside_frozen(arena, e) {
        let node = *arena.get(id);
        let span = arena.span(id);
        let new = match node {
            Expr::Var(v) => map(v).unwrap_or(id),
            Expr::Unary(crate::ir::UnaryOp::Frozen, _) => id,
            _ => rebuild_node(&mut Builder { arena, span }, node, |x| memo[&x]),
        };
        memo.insert(id, new);
    }
    memo[&e]
}

/// [`depends_on`], not looking inside `frozen(…)`.
pub fn depends_on_outside_frozen(arena: &ExprArena, e: ExprId, var: Var) -> bool {
    reachable_outside_frozen(arena, e)
        .into_iter()
        .any(|id| *arena.get(id) == Expr::Var(var))
}

/// Copies the DAG under `root` from `src` into `dst`, replacing every variable by `map_var(v)`
/// and folding on the way (parameters that became literals fold away). A table comes along;
/// a [`Table::Tabulated`] one whose body, imported, reads nothing but its argument is computed
/// here, at each of its points (a model's TABLE, once its parameters and `celsius` are known).
/// `map_var` is not asked for [`Var::TableArg`], which stays itself.
pub fn import(
    dst: &mut ExprArena,
    src: &ExprArena,
    root: ExprId,
    map_var: &dyn Fn(Var) -> ExprId,
) -> ExprId {
    let mut memo: HashMap<ExprId, ExprId> = HashMap::new();
    for id in src.reachable(&[root]) {
        let new = match *src.get(id) {
            Expr::Var(Var::TableArg) => dst.var(Var::TableArg),
            Expr::Var(v) => map_var(v),
            Expr::TableEntry(t, index) => {
                let table = match src.table(t) {
                    Table::Values(values) => Table::Values(values.clone()),
                    Table::Played => Table::Played,
                    Table::Tabulated {
                        body,
                        from,
                        to,
                        intervals,
                    } => tabulate(dst, memo[body], memo[from], memo[to], *intervals),
                };
                let t = dst.add_table(table);
                let mut b = Builder {
                    arena: dst,
                    span: src.span(id),
                };
                b.table_entry(t, memo[&index])
            }
            node => rebuild_node(
                &mut Builder {
                    arena: dst,
                    span: src.span(id),
                },
                node,
                |x| memo[&x],
            ),
        };
        memo.insert(id, new);
    }
    memo[&root]
}

/// A TABLE's entries (see [`Table::Tabulated`]), when its body reads nothing but its argument
/// and its range is two numbers; otherwise the table stays to be computed where it is imported
/// next.
pub fn tabulate(
    arena: &ExprArena,
    body: ExprId,
    from: ExprId,
    to: ExprId,
    intervals: u32,
) -> Table {
    let closed = arena
        .reachable(&[body])
        .into_iter()
        .all(|id| match arena.get(id) {
            Expr::Var(v) => *v == Var::TableArg,
            _ => true,
        });
    let (Some(lo), Some(hi), true) = (arena.get(from).as_lit(), arena.get(to).as_lit(), closed)
    else {
        return Table::Tabulated {
            body,
            from,
            to,
            intervals,
        };
    };
    let values: Vec<f64> = crate::ir::table_points(lo, hi, intervals)
        .into_iter()
        .map(|x| crate::ir::interp::eval(arena, &[body], &|_| x)[0])
        .collect();
    Table::Values(values.into())
}

/// Whether `e` reads `var` at all.
pub fn depends_on(arena: &ExprArena, e: ExprId, var: Var) -> bool {
    arena
        .reachable(&[e])
        .into_iter()
        .any(|id| *arena.get(id) == Expr::Var(var))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{interp, Builtin};

    #[test]
    fn derivative_matches_finite_difference() {
        let mut arena = ExprArena::new();
        let v = arena.var(Var::Builtin(Builtin::V));
        let mut b = Builder::new(&mut arena);
        // f = exprelr(-(v+40)/10) * exp(v/20) + v^3 / (1 + v^2)
        let c40 = b.lit(40.0);
        let s = b.add(v, c40);
        let ns = b.neg(s);
        let c10 = b.lit(10.0);
        let arg = b.div(ns, c10);
        let er = b.unary(UnaryOp::Exprelr, arg);
        let c20 = b.lit(20.0);
        let v20 = b.div(v, c20);
        let ex = b.unary(UnaryOp::Exp, v20);
        let t1 = b.mul(er, ex);
        let c3 = b.lit(3.0);
        let v3 = b.binary(BinaryOp::Pow, v, c3);
        let c2 = b.lit(2.0);
        let v2 = b.binary(BinaryOp::Pow, v, c2);
        let one = b.lit(1.0);
        let den = b.add(one, v2);
        let t2 = b.div(v3, den);
        let f = b.add(t1, t2);
        let df = pdiff(&mut arena, f, Var::Builtin(Builtin::V));
        for &x in &[-65.0, -40.0, -39.99, 0.3, 12.0] {
            let at = |x: f64| interp::eval(&arena, &[f], &|_| x)[0];
            let h = 1e-6;
            let fd = (at(x + h) - at(x - h)) / (2.0 * h);
            let an = interp::eval(&arena, &[df], &|_| x)[0];
            assert!(
                (fd - an).abs() < 1e-6 * (1.0 + an.abs()),
                "x={x}: fd {fd} vs {an}"
            );
        }
    }
}
