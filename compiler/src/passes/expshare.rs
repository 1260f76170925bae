//! Exp-family sharing: exponentials affine in one variable, computed from one shared `exp`.
//!
//! HH rate functions are full of `exp(s·v + c)` with slopes in small integer ratios:
//! `exp(−(v+65)/20)` and `exp(−(v+65)/80)`, or three terms with slope −1/10 and different offsets.
//! For each group whose slopes are positive integer multiples `n ≤ 8` of the smallest one, the
//! member with that slope, `B = exp(s₀·v + c₀)`, is computed once and every other member becomes
//! `exp(s·v + c) = B^n · exp(c − n·c₀)`, the last factor a constant folded at compile time.
//!
//! Accuracy: B^n carries n times B's error plus one rounding per multiplication, and the
//! arguments `s·v + c` are themselves rounded (an argument error δ becomes a relative error δ in
//! the result, so |s·v + c| ulp of the argument matter in both forms). Measured against the
//! unshared computation: ≤ 40 ulp (9e-15 relative) for |v| ≤ 150 mV, checked in the tests (39
//! with powers up to 8, 33 with powers up to 4: the arguments' rounding dominates). Where a
//! shared term feeds `exp(x) − 1` near `x = 0` (the `vtrap` form), the cancellation magnifies
//! the term's error as it would magnify any exp's, by `1/|x|`. Powers up to 8 remove one of the
//! classic HH cell's seven exponentials (`/10` from `/80`, three squarings). A
//! group of one is left alone. Near overflow a power of B can
//! saturate slightly before the direct exp would; HH voltages are nowhere near.

use super::simplify::Builder;
use super::symbolic::pdiff;
use super::symbolic::{rebuild_node, substitute};
use crate::ir::{Expr, ExprArena, ExprId, UnaryOp, Var};
use std::collections::HashMap;

const MAX_POWER: i32 = 8;

/// One rewritten exponential: `original` is now computed as `replacement`.
#[derive(Debug, Clone, Copy)]
pub struct Shared {
    pub original: ExprId,
    pub replacement: ExprId,
    pub power: i32,
}

/// Rewrites the DAG under `roots`; returns the new roots and what was shared.
pub fn share_exponentials(
    arena: &mut ExprArena,
    roots: &[ExprId],
    var: Var,
) -> (Vec<ExprId>, Vec<Shared>) {
    // 1. Exponentials whose argument is `s·var + c` with literal s ≠ 0 and c.
    let mut affine: Vec<(ExprId, f64, f64)> = Vec::new();
    for id in arena.reachable(roots) {
        let Expr::Unary(UnaryOp::Exp, arg) = *arena.get(id) else {
            continue;
        };
        let only_var = arena.reachable(&[arg]).iter().all(|&n| match arena.get(n) {
            Expr::Var(v) => *v == var,
            _ => true,
        });
        if !only_var {
            continue;
        }
        let slope = pdiff(arena, arg, var);
        let zero = arena.lit(0.0);
        let offset = substitute(arena, arg, &|v| (v == var).then_some(zero));
        if let (Some(s), Some(c)) = (arena.get(slope).as_lit(), arena.get(offset).as_lit()) {
            if s != 0.0 && s.is_finite() && c.is_finite() {
                affine.push((id, s, c));
            }
        }
    }
    // 2. Groups: smallest |slope| first; join a base when the ratio is a whole n in 1..=MAX_POWER.
    affine.sort_by(|a, b| a.1.abs().total_cmp(&b.1.abs()).then(a.0.cmp(&b.0)));
    let mut groups: Vec<Vec<(ExprId, f64, f64, i32)>> = Vec::new();
    for (id, s, c) in affine {
        let joined = groups.iter_mut().find_map(|g| {
            let (_, s0, _, _) = g[0];
            let ratio = s / s0;
            let n = ratio.round();
            ((ratio - n).abs() < 1e-9 && (1.0..=f64::from(MAX_POWER)).contains(&n))
                .then_some((g, n as i32))
        });
        match joined {
            Some((g, n)) => g.push((id, s, c, n)),
            None => groups.push(vec![(id, s, c, 1)]),
        }
    }
    // 3. Replacements.
    let mut repl: HashMap<ExprId, ExprId> = HashMap::new();
    let mut shared = Vec::new();
    for g in groups.iter().filter(|g| g.len() > 1) {
        let (base, _, c0, _) = g[0];
        for &(id, _, c, n) in &g[1..] {
            let mut b = Builder::new(arena);
            let power = b.powi(base, n);
            let k = b.lit((c - f64::from(n) * c0).exp());
            let r = b.mul(k, power);
            repl.insert(id, r);
            shared.push(Shared {
                original: id,
                replacement: r,
                power: n,
            });
        }
    }
    if repl.is_empty() {
        return (roots.to_vec(), shared);
    }
    (replace_nodes(arena, roots, &repl), shared)
}

/// Rebuilds the DAG under `roots` with the nodes in `repl` replaced.
fn replace_nodes(
    arena: &mut ExprArena,
    roots: &[ExprId],
    repl: &HashMap<ExprId, ExprId>,
) -> Vec<ExprId> {
    let mut memo: HashMap<ExprId, ExprId> = HashMap::new();
    for id in arena.reachable(roots) {
        if let Some(&r) = repl.get(&id) {
            memo.insert(id, r);
            continue;
        }
        let node = *arena.get(id);
        let span = arena.span(id);
        let new = match node {
            Expr::Lit(_) | Expr::Var(_) => id,
            _ => rebuild_node(&mut Builder { arena, span }, node, |x| {
                memo.get(&x).copied().unwrap_or(x)
            }),
        };
        memo.insert(id, new);
    }
    roots
        .iter()
        .map(|r| memo.get(r).copied().unwrap_or(*r))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{interp, Builtin};
    use crate::passes::mathlib::{lower_math, Precision};

    #[test]
    fn hh_rate_exponentials_share_within_forty_ulp() {
        let mut arena = ExprArena::new();
        let v = Var::Builtin(Builtin::V);
        let ve = arena.var(v);
        let mut b = Builder::new(&mut arena);
        let mut roots = Vec::new();
        // exp(-(v+65)/18), exp(-(v+65)/20), exp(-(v+65)/80), exp(-(v+35)/10), exp(-(v+40)/10), exp(-(v+55)/10)
        for (off, k) in [
            (65.0, 18.0),
            (65.0, 20.0),
            (65.0, 80.0),
            (35.0, 10.0),
            (40.0, 10.0),
            (55.0, 10.0),
        ] {
            let o = b.lit(off);
            let s = b.add(ve, o);
            let n = b.neg(s);
            let kk = b.lit(k);
            let arg = b.div(n, kk);
            roots.push(b.unary(UnaryOp::Exp, arg));
        }
        let (new_roots, shared) = share_exponentials(&mut arena, &roots, v);
        // /20 (n = 4) and the three /10 (n = 8) from /80.
        assert_eq!(shared.len(), 4, "{shared:?}");
        let count_exp = |arena: &ExprArena, r: &[ExprId]| {
            arena
                .reachable(r)
                .iter()
                .filter(|&&n| matches!(arena.get(n), Expr::Unary(UnaryOp::Exp, _)))
                .count()
        };
        assert_eq!(count_exp(&arena, &roots), 6);
        assert_eq!(count_exp(&arena, &new_roots), 2);
        let exact = lower_math(&mut arena, &roots, Precision::F64);
        let fast = lower_math(&mut arena, &new_roots, Precision::F64);
        let mut worst = 0u64;
        for i in 0..20_000 {
            let x = -150.0 + 300.0 * f64::from(i) / 20_000.0;
            let a = interp::eval(&arena, &exact, &|_| x);
            let b = interp::eval(&arena, &fast, &|_| x);
            for (p, q) in a.iter().zip(&b) {
                let want = (q.to_bits() as i64 - p.to_bits() as i64).unsigned_abs();
                worst = worst.max(want);
            }
        }
        // exp's condition number is |x| (up to 18.5 here): half an ulp of rounding in either
        // argument (`x·(1/k)` or the shared base's) moves the result by up to ~9 ulp, and the
        // powers add a few more.
        assert!(worst <= 40, "worst {worst} ulp");
    }

    #[test]
    fn lone_and_unrelated_exponentials_are_untouched() {
        let mut arena = ExprArena::new();
        let v = Var::Builtin(Builtin::V);
        let ve = arena.var(v);
        let mut b = Builder::new(&mut arena);
        let k7 = b.lit(7.0);
        let k3 = b.lit(3.0);
        let a1 = b.div(ve, k7);
        let a2 = b.div(ve, k3);
        let e1 = b.unary(UnaryOp::Exp, a1);
        let e2 = b.unary(UnaryOp::Exp, a2);
        let (roots, shared) = share_exponentials(&mut arena, &[e1, e2], v);
        assert!(shared.is_empty());
        assert_eq!(roots, vec![e1, e2]);
    }
}
