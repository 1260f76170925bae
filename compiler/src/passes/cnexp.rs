//! The exact exponential-Euler solve of `METHOD cnexp`.
//!
//! For each `x' = f` the right-hand side must be linear in `x`: with `b = ∂f/∂x` free of `x`
//! (checked symbolically: `∂b/∂x` folds to 0) and `a = f|ₓ₌₀`, the four cases are
//!
//! * gating form `f = (x∞ − x)/τ`:      `x ← x∞ + (x − x∞)·exp(−dt/τ)`
//! * general linear `f = a + b·x`:        `x ← −a/b + (x + a/b)·exp(b·dt)`
//! * homogeneous (`a = 0`):               `x ← x·exp(b·dt)` (the general form folds to it)
//! * no dependence on `x` (`b = 0`):      `x ← x + a·dt`
//!
//! Every right-hand side reads the states at the start of the step (parallel assignment).
//! An equation not linear in its own state is an error; it is never linearised silently.

use super::simplify::Builder;
// A value NEURON's cnexp takes as a constant of the step (`frozen`, see sema) stays whole:
// neither differentiated (its derivative is 0) nor evaluated at x = 0.
use super::symbolic::{
    depends_on_outside_frozen as depends_on, pdiff, substitute_outside_frozen as substitute,
};
use crate::diagnostic::Diagnostic;
use crate::ir::{BinaryOp, Builtin, Expr, ExprId, Mechanism, UnaryOp, Var};

pub fn cnexp(m: &mut Mechanism) -> Result<(), Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let mut advance = Vec::new();
    let derivatives = m.derivatives.clone();
    for (state, f, span) in derivatives {
        let x = Var::State(state);
        let arena = &mut m.exprs;
        let xe = arena.var(x);
        let dt = arena.var(Var::Builtin(Builtin::Dt));
        if let Some((inf, tau)) = gating_form(arena, f, x) {
            let mut b = Builder::new(arena);
            let ndt = b.neg(dt);
            let r = b.div(ndt, tau);
            let decay = b.unary(UnaryOp::Exp, r);
            let diff = b.sub(xe, inf);
            let scaled = b.mul(diff, decay);
            advance.push((state, b.add(inf, scaled)));
            continue;
        }
        let slope = pdiff(arena, f, x);
        let curvature = pdiff(arena, slope, x);
        if arena.get(curvature).as_lit() != Some(0.0) || depends_on(arena, slope, x) {
            let name = &m.states[state as usize].name;
            errors.push(
                Diagnostic::error(
                    format!("`{name}' = …` is not linear in `{name}`; METHOD cnexp cannot solve it exactly"),
                    span,
                    format!("this right-hand side is not of the form a + b·{name}"),
                )
                .with_hint("rewrite it in the form (inf - x)/tau, or solve it with METHOD derivimplicit (backward Euler by Newton, as NEURON does); hhc never linearises silently"),
            );
            continue;
        }
        let zero = arena.lit(0.0);
        let a = substitute(arena, f, &|v| (v == x).then_some(zero));
        let mut b = Builder::new(arena);
        let new = if b.is_zero(slope) {
            let step = b.mul(a, dt);
            b.add(xe, step)
        } else {
            let a_over_b = b.div(a, slope);
            let bdt = b.mul(slope, dt);
            let growth = b.unary(UnaryOp::Exp, bdt);
            let shifted = b.add(xe, a_over_b);
            let scaled = b.mul(shifted, growth);
            b.sub(scaled, a_over_b)
        };
        advance.push((state, new));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    finish(m, advance);
    Ok(())
}

/// Sets `m.advance` to `advance` (each equation's state after the step) and the states the
/// block sets by assignment: from the states at the step's start, and the new values of those
/// whose equations came first. Every DERIVATIVE method ends here.
pub(crate) fn finish(m: &mut Mechanism, mut advance: Vec<(u32, ExprId)>) {
    for a in &m.assigned {
        // A SOLVEd PROCEDURE that sets the state itself runs after BREAKPOINT: its value stands.
        if advance.iter().any(|u| u.0 == a.state) {
            continue;
        }
        let new_of = |s: u32| advance.iter().find(|u| u.0 == s).map(|u| u.1);
        let arena = &mut m.exprs;
        let replaced: Vec<(Var, ExprId)> = a
            .after
            .iter()
            .filter_map(|&s| new_of(s).map(|e| (Var::State(s), e)))
            .collect();
        let value = substitute(arena, a.value, &|v| {
            replaced.iter().find(|(x, _)| *x == v).map(|(_, e)| *e)
        });
        advance.push((a.state, value));
    }
    m.advance = advance;
}

/// Recognises `(P − x)/Q` and `(P − x)·R` with `P`, `Q`, `R` free of `x`; returns `(P, τ)`.
fn gating_form(arena: &mut crate::ir::ExprArena, f: ExprId, x: Var) -> Option<(ExprId, ExprId)> {
    let xe = arena.var(x);
    let (num, tau) = match *arena.get(f) {
        Expr::Binary(BinaryOp::Div, n, q) => (n, q),
        Expr::Binary(BinaryOp::Mul, r, n) | Expr::Binary(BinaryOp::Mul, n, r) if matches!(arena.get(n), Expr::Binary(BinaryOp::Sub, _, s) if *s == xe) =>
        {
            let one = arena.lit(1.0);
            let tau = Builder::new(arena).div(one, r);
            (n, tau)
        }
        _ => return None,
    };
    match *arena.get(num) {
        Expr::Binary(BinaryOp::Sub, p, s)
            if s == xe && !depends_on(arena, p, x) && !depends_on(arena, tau, x) =>
        {
            Some((p, tau))
        }
        _ => None,
    }
}
