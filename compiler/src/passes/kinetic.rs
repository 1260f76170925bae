//! KINETIC schemes: linear reaction systems solved by backward Euler, and their steady state.
//!
//! Sema turns `~ A <-> B (kf, kb)` reactions into one right-hand side per state, `x' = f(x)`,
//! and CONSERVE into a conservation row. For first-order (linear) schemes `f = M·x + c`, with
//! `M` and `c` functions of v, parameters and ions only; this pass derives them symbolically
//! (`M = ∂f/∂x`, `c = f|ₓ₌₀`) and rejects a scheme that is not linear.
//!
//! * Advance (`SOLVE kin METHOD sparse`): backward Euler, `(I − dt·M)·x' = x + dt·c`, which is
//!   what NEURON's sparse solver and braincell's linearised backward Euler compute for a linear
//!   scheme. The conserved state's row is replaced by `Σ x' = total`.
//! * Steady state (`SOLVE kin STEADYSTATE sparse` in INITIAL): `M·x = −c`, with the same row.
//!
//! The systems are solved by Gaussian elimination unrolled into the expression DAG, without
//! pivoting: `I − dt·M` of a Markov generator is a column-diagonally-dominant M-matrix, for which
//! elimination without pivoting is stable. Zero entries fold away, so chain schemes stay sparse.

use super::simplify::Builder;
use super::symbolic::{depends_on, pdiff, substitute};
use crate::diagnostic::Diagnostic;
use crate::ir::{Builtin, ExprArena, ExprId, Var};

pub use crate::ir::KineticScheme as Scheme;

/// The linear form `f = M·x + c` of a scheme, in the order of `scheme.rhs`.
fn linear_form(
    arena: &mut ExprArena,
    scheme: &Scheme,
) -> Result<(Vec<Vec<ExprId>>, Vec<ExprId>), Diagnostic> {
    let states: Vec<Var> = scheme.rhs.iter().map(|&(s, _)| Var::State(s)).collect();
    let mut m = Vec::new();
    let mut c = Vec::new();
    for &(_, f) in &scheme.rhs {
        let mut row = Vec::new();
        for &x in &states {
            let d = pdiff(arena, f, x);
            if states.iter().any(|&y| depends_on(arena, d, y)) {
                return Err(Diagnostic::error(
                    "this kinetic scheme is not linear in its states",
                    scheme.span,
                    "a reaction here has two reactants or a state-dependent rate",
                )
                .with_hint("hhc solves first-order schemes (one state on each side of `~`)"));
            }
            row.push(d);
        }
        m.push(row);
        let zero = arena.lit(0.0);
        c.push(substitute(arena, f, &|v| {
            states.contains(&v).then_some(zero)
        }));
    }
    Ok((m, c))
}

/// Replaces the conserved state's row of `a·x = b` with `Σ x = total`.
fn conservation_row(
    arena: &mut ExprArena,
    scheme: &Scheme,
    a: &mut [Vec<ExprId>],
    b: &mut [ExprId],
) {
    let Some((members, total)) = &scheme.conserve else {
        return;
    };
    let Some(&last) = members.last() else { return };
    let Some(row) = scheme.rhs.iter().position(|&(s, _)| s == last) else {
        return;
    };
    for (j, &(s, _)) in scheme.rhs.iter().enumerate() {
        a[row][j] = arena.lit(if members.contains(&s) { 1.0 } else { 0.0 });
    }
    b[row] = *total;
}

/// Solves `a·x = b` by Gaussian elimination without pivoting, as expressions.
#[allow(clippy::needless_range_loop)] // rows i and k of `a` are read together
pub(crate) fn solve(
    arena: &mut ExprArena,
    mut a: Vec<Vec<ExprId>>,
    mut b: Vec<ExprId>,
) -> Vec<ExprId> {
    let n = b.len();
    let mut bld = Builder::new(arena);
    for k in 0..n {
        for i in k + 1..n {
            if bld.arena.get(a[i][k]).as_lit() == Some(0.0) {
                continue;
            }
            let factor = bld.div(a[i][k], a[k][k]);
            for j in k..n {
                let t = bld.mul(factor, a[k][j]);
                a[i][j] = bld.sub(a[i][j], t);
            }
            let t = bld.mul(factor, b[k]);
            b[i] = bld.sub(b[i], t);
        }
    }
    let mut x = vec![bld.lit(0.0); n];
    for i in (0..n).rev() {
        let mut acc = b[i];
        for j in i + 1..n {
            let t = bld.mul(a[i][j], x[j]);
            acc = bld.sub(acc, t);
        }
        x[i] = bld.div(acc, a[i][i]);
    }
    x
}

/// One backward-Euler step of the scheme: each state's value after `dt`.
pub fn backward_euler(
    arena: &mut ExprArena,
    scheme: &Scheme,
) -> Result<Vec<(u32, ExprId)>, Diagnostic> {
    let (m, c) = linear_form(arena, scheme)?;
    let n = scheme.rhs.len();
    let dt = arena.var(Var::Builtin(Builtin::Dt));
    let mut a = vec![vec![arena.lit(0.0); n]; n];
    let mut b = Vec::with_capacity(n);
    {
        let mut bld = Builder::new(arena);
        for i in 0..n {
            for j in 0..n {
                let t = bld.mul(dt, m[i][j]);
                let id = bld.lit(if i == j { 1.0 } else { 0.0 });
                a[i][j] = bld.sub(id, t);
            }
            let x = bld.arena.var(Var::State(scheme.rhs[i].0));
            let t = bld.mul(dt, c[i]);
            b.push(bld.add(x, t));
        }
    }
    conservation_row(arena, scheme, &mut a, &mut b);
    let x = solve(arena, a, b);
    Ok(scheme.rhs.iter().map(|&(s, _)| s).zip(x).collect())
}

/// The solution of the equations `residual_i = 0`, linear in the states `unknowns` (a LINEAR
/// block): `A·x = −r(0)` with `A = ∂r/∂x`, by Gaussian elimination. An equation whose
/// coefficients depend on the unknowns is an error at its span.
pub fn solve_linear_system(
    arena: &mut ExprArena,
    residuals: &[(ExprId, crate::span::Span)],
    unknowns: &[u32],
) -> Result<Vec<ExprId>, Diagnostic> {
    let vars: Vec<Var> = unknowns.iter().map(|&s| Var::State(s)).collect();
    let mut a = Vec::new();
    let mut b = Vec::new();
    for &(r, span) in residuals {
        let mut row = Vec::new();
        for &x in &vars {
            let d = pdiff(arena, r, x);
            if vars.iter().any(|&y| depends_on(arena, d, y)) {
                return Err(Diagnostic::error(
                    "this equation is not linear in the states",
                    span,
                    "a product of states, or a state inside a function",
                )
                .with_hint("a LINEAR block holds equations linear in its states; NONLINEAR ones are not solved yet"));
            }
            row.push(d);
        }
        a.push(row);
        let zero = arena.lit(0.0);
        let at_zero = substitute(arena, r, &|v| vars.contains(&v).then_some(zero));
        b.push(Builder::new(arena).neg(at_zero));
    }
    Ok(solve(arena, a, b))
}

/// The scheme's steady state, which needs CONSERVE to be unique.
pub fn steady_state(
    arena: &mut ExprArena,
    scheme: &Scheme,
) -> Result<Vec<(u32, ExprId)>, Diagnostic> {
    if scheme.conserve.is_none() {
        return Err(Diagnostic::error(
            "a STEADYSTATE solve needs CONSERVE",
            scheme.span,
            "this scheme has no conservation law",
        )
        .with_hint("add `CONSERVE a + b + … = 1` to the KINETIC block"));
    }
    let (m, c) = linear_form(arena, scheme)?;
    let mut b: Vec<ExprId> = c.iter().map(|&ci| Builder::new(arena).neg(ci)).collect();
    let mut a = m;
    conservation_row(arena, scheme, &mut a, &mut b);
    let x = solve(arena, a, b);
    Ok(scheme.rhs.iter().map(|&(s, _)| s).zip(x).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::interp;
    use crate::span::Span;

    /// C <-> O with constant rates: backward Euler and the steady state against closed forms.
    #[test]
    fn two_state_scheme() {
        let mut arena = ExprArena::new();
        let (kf, kb, dt) = (0.3, 0.7, 0.1);
        let c = arena.var(Var::State(0));
        let o = arena.var(Var::State(1));
        let mut b = Builder::new(&mut arena);
        let (f, r) = (b.lit(kf), b.lit(kb));
        let fwd = b.mul(f, c);
        let bwd = b.mul(r, o);
        let net = b.sub(fwd, bwd);
        let dc = b.neg(net);
        let one = b.lit(1.0);
        let scheme = Scheme {
            rhs: vec![(0, dc), (1, net)],
            conserve: Some((vec![0, 1], one)),
            span: Span::default(),
        };
        let (c0, o0) = (0.9, 0.1);
        let var = |v: Var| match v {
            Var::State(0) => c0,
            Var::State(1) => o0,
            Var::Builtin(Builtin::Dt) => dt,
            _ => f64::NAN,
        };
        let step = backward_euler(&mut arena, &scheme).expect("linear");
        let got = interp::eval(&arena, &[step[0].1, step[1].1], &var);
        // Backward Euler: o' = (o + dt·kf·c)/(1 + dt·kb) with c = 1 − o' (conservation).
        let o1 = (o0 + dt * kf) / (1.0 + dt * (kf + kb));
        assert!((got[1] - o1).abs() < 1e-15, "{} vs {o1}", got[1]);
        assert!((got[0] + got[1] - 1.0).abs() < 1e-15);
        let ss = steady_state(&mut arena, &scheme).expect("linear");
        let got = interp::eval(&arena, &[ss[0].1, ss[1].1], &var);
        assert!((got[1] - kf / (kf + kb)).abs() < 1e-15, "{}", got[1]);
    }

    #[test]
    fn second_order_schemes_are_rejected() {
        let mut arena = ExprArena::new();
        let a = arena.var(Var::State(0));
        let bb = arena.var(Var::State(1));
        let f = Builder::new(&mut arena).mul(a, bb);
        let scheme = Scheme {
            rhs: vec![(0, f), (1, f)],
            conserve: None,
            span: Span::default(),
        };
        assert!(backward_euler(&mut arena, &scheme).is_err());
    }
}
