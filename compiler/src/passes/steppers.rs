//! NEURON's other methods for a DERIVATIVE block, as NEURON defines them, for files that ask
//! for them (`SOLVE states METHOD euler | derivimplicit | runge`). `cnexp` stays the exact
//! exponential solve ([`super::cnexp`]).
//!
//! * `euler`: forward Euler, `x ← x + dt·f(x)`.
//! * `derivimplicit`: backward Euler, `x' = x + dt·f(x')` for all the block's states together,
//!   solved by Newton's method with the exact Jacobian `I − dt·∂f/∂x`. A system linear in its
//!   states takes one Newton step, which is exact; a nonlinear one takes
//!   [`NEWTON_STEPS`] from the state at the step's start (quadratic convergence: far past
//!   machine precision for the small dt a fixed-step run uses). A step that has not converged
//!   then (residual above 1e-9·(1 + |x|)) gives NaN, which stops the run: never a silently
//!   unconverged state.
//! * `runge`: the classic fourth-order Runge–Kutta step, V held at its value for the step.
//!
//! Every right-hand side reads the other states of the same moment; v is the step's.

use super::simplify::Builder;
use super::symbolic::{depends_on, pdiff, substitute};
use crate::ir::{Builtin, ExprArena, ExprId, Mechanism, Var};

/// Newton steps of `derivimplicit` on a nonlinear system.
pub const NEWTON_STEPS: usize = 6;

/// The block's right-hand sides at the states `at` (state → expression).
fn rhs_at(arena: &mut ExprArena, f: &[(u32, ExprId)], at: &[(u32, ExprId)]) -> Vec<ExprId> {
    f.iter()
        .map(|&(_, e)| {
            substitute(arena, e, &|v| match v {
                Var::State(s) => at.iter().find(|a| a.0 == s).map(|a| a.1),
                _ => None,
            })
        })
        .collect()
}

fn equations(m: &Mechanism) -> Vec<(u32, ExprId)> {
    m.derivatives.iter().map(|&(s, f, _)| (s, f)).collect()
}

/// `SOLVE … METHOD euler`.
pub fn euler(m: &mut Mechanism) {
    let f = equations(m);
    let arena = &mut m.exprs;
    let dt = arena.var(Var::Builtin(Builtin::Dt));
    let advance = f
        .iter()
        .map(|&(s, e)| {
            let x = arena.var(Var::State(s));
            let mut b = Builder::new(arena);
            let step = b.mul(dt, e);
            (s, b.add(x, step))
        })
        .collect();
    super::cnexp::finish(m, advance);
}

/// `SOLVE … METHOD derivimplicit`.
pub fn derivimplicit(m: &mut Mechanism) {
    let f = equations(m);
    let states: Vec<Var> = f.iter().map(|&(s, _)| Var::State(s)).collect();
    let arena = &mut m.exprs;
    let dt = arena.var(Var::Builtin(Builtin::Dt));
    let linear = f.iter().all(|&(_, e)| {
        states.iter().all(|&x| {
            let d = pdiff(arena, e, x);
            !states.iter().any(|&y| depends_on(arena, d, y))
        })
    });
    let steps = if linear { 1 } else { NEWTON_STEPS };
    let old: Vec<ExprId> = f.iter().map(|&(s, _)| arena.var(Var::State(s))).collect();
    let mut y: Vec<(u32, ExprId)> = f.iter().map(|&(s, _)| s).zip(old.iter().copied()).collect();
    for _ in 0..steps {
        // r(y) = y − x − dt·f(y);  J = I − dt·∂f/∂y;  y ← y − J⁻¹·r(y)
        let fy = rhs_at(arena, &f, &y);
        let mut jac = Vec::new();
        for &(_, e) in &f {
            let mut row = Vec::new();
            for &x in &states {
                let d = pdiff(arena, e, x);
                row.push(d);
            }
            jac.push(row);
        }
        let mut a = Vec::new();
        for (i, row) in jac.iter().enumerate() {
            let mut out = Vec::new();
            for (j, &d) in row.iter().enumerate() {
                let d = substitute(arena, d, &|v| match v {
                    Var::State(s) => y.iter().find(|a| a.0 == s).map(|a| a.1),
                    _ => None,
                });
                let mut b = Builder::new(arena);
                let scaled = b.mul(dt, d);
                let identity = b.lit(if i == j { 1.0 } else { 0.0 });
                out.push(b.sub(identity, scaled));
            }
            a.push(out);
        }
        let minus_r: Vec<ExprId> = (0..f.len())
            .map(|i| {
                let mut b = Builder::new(arena);
                let step = b.mul(dt, fy[i]);
                let moved = b.sub(y[i].1, old[i]);
                b.sub(step, moved)
            })
            .collect();
        let delta = super::kinetic::solve(arena, a, minus_r);
        for (i, d) in delta.into_iter().enumerate() {
            y[i].1 = Builder::new(arena).add(y[i].1, d);
        }
    }
    if !linear {
        // Not converged (a step too large for the system's stiffness): NaN, which stops the run
        // with the blow-up error, rather than a state off its backward-Euler value.
        let fy = rhs_at(arena, &f, &y);
        let mut failed = None;
        for i in 0..f.len() {
            let mut b = Builder::new(arena);
            let step = b.mul(dt, fy[i]);
            let moved = b.sub(y[i].1, old[i]);
            let r = b.sub(moved, step);
            let size = b.unary(crate::ir::UnaryOp::Fabs, r);
            let scale = b.unary(crate::ir::UnaryOp::Fabs, y[i].1);
            let one = b.lit(1.0);
            let scale = b.add(one, scale);
            let tol = b.lit(CONVERGED);
            let bound = b.mul(tol, scale);
            let off = b.binary(crate::ir::BinaryOp::Lt, bound, size);
            failed = Some(match failed {
                Some(before) => b.binary(crate::ir::BinaryOp::Or, before, off),
                None => off,
            });
        }
        if let Some(failed) = failed {
            let nan = arena.lit(f64::NAN);
            for entry in y.iter_mut() {
                entry.1 = Builder::new(arena).select(failed, nan, entry.1);
            }
        }
    }
    super::cnexp::finish(m, y);
}

/// The residual of a converged `derivimplicit` step, relative to 1 + |x|.
const CONVERGED: f64 = 1e-9;

/// `SOLVE … METHOD runge`.
pub fn runge(m: &mut Mechanism) {
    let f = equations(m);
    let arena = &mut m.exprs;
    let dt = arena.var(Var::Builtin(Builtin::Dt));
    let x: Vec<(u32, ExprId)> = f
        .iter()
        .map(|&(s, _)| (s, arena.var(Var::State(s))))
        .collect();
    let shifted = |arena: &mut ExprArena, k: &[ExprId], h: f64| -> Vec<(u32, ExprId)> {
        x.iter()
            .zip(k)
            .map(|(&(s, xe), &ki)| {
                let mut b = Builder::new(arena);
                let c = b.lit(h);
                let hdt = b.mul(c, dt);
                let step = b.mul(hdt, ki);
                (s, b.add(xe, step))
            })
            .collect()
    };
    let k1 = rhs_at(arena, &f, &x);
    let at2 = shifted(arena, &k1, 0.5);
    let k2 = rhs_at(arena, &f, &at2);
    let at3 = shifted(arena, &k2, 0.5);
    let k3 = rhs_at(arena, &f, &at3);
    let at4 = shifted(arena, &k3, 1.0);
    let k4 = rhs_at(arena, &f, &at4);
    let advance = (0..f.len())
        .map(|i| {
            let mut b = Builder::new(arena);
            let two = b.lit(2.0);
            let k2x = b.mul(two, k2[i]);
            let k3x = b.mul(two, k3[i]);
            let s1 = b.add(k1[i], k2x);
            let s2 = b.add(k3x, k4[i]);
            let sum = b.add(s1, s2);
            let sixth = b.lit(1.0 / 6.0);
            let w = b.mul(sixth, dt);
            let step = b.mul(w, sum);
            (x[i].0, b.add(x[i].1, step))
        })
        .collect();
    super::cnexp::finish(m, advance);
}
