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
                    "the steady state of a nonlinear kinetic scheme is not supported yet",
                    scheme.span,
                    "a reaction here has two reactants or a state-dependent rate",
                )
                .with_hint("give the states their initial values in INITIAL; during the run the scheme advances by Newton's method, as in NEURON"));
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
        // A pivot that is structurally 0 (a LINEAR block whose k-th equation does not name
        // its k-th state) takes the first row below whose coefficient is not; a system that
        // needs no swap is eliminated as before, bit for bit.
        if bld.arena.get(a[k][k]).as_lit() == Some(0.0) {
            if let Some(i) = (k + 1..n).find(|&i| bld.arena.get(a[i][k]).as_lit() != Some(0.0)) {
                a.swap(k, i);
                b.swap(k, i);
            }
        }
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

/// One backward-Euler step of the scheme: each state's value after `dt`. A linear scheme in
/// one solve; a nonlinear one (a buffer `~ ca + B <-> CaB`) by NEURON's Newton iteration (see
/// [`newton_step`]).
pub fn backward_euler(
    arena: &mut ExprArena,
    scheme: &Scheme,
) -> Result<Vec<(u32, ExprId)>, Diagnostic> {
    let Ok((m, c)) = linear_form(arena, scheme) else {
        return Ok(newton_step(arena, scheme));
    };
    let dt = arena.var(Var::Builtin(Builtin::Dt));
    let start: Vec<ExprId> = scheme
        .rhs
        .iter()
        .map(|&(s, _)| arena.var(Var::State(s)))
        .collect();
    Ok(linear_step(arena, scheme, m, c, dt, &start))
}

/// NEURON's steady state of a linear scheme (`SOLVE kin STEADYSTATE sparse`: scopmath's
/// `_ss_sparse` with `linflag`): one backward-Euler step of [`STEADY_STATE_DT`] from the states
/// `start` (their values in INITIAL so far), the conserved state's row replaced by CONSERVE.
/// It differs from the exact steady state ([`steady_state`]) by about 1/(10⁹ ms · the slowest
/// rate): 3e-6 in a calcium-activated channel whose rates scale with cai.
pub fn steady_state_linear_step(
    arena: &mut ExprArena,
    scheme: &Scheme,
    start: &[ExprId],
) -> Result<Vec<(u32, ExprId)>, Diagnostic> {
    let (m, c) = linear_form(arena, scheme)?;
    let dt = arena.lit(STEADY_STATE_DT);
    Ok(linear_step(arena, scheme, m, c, dt, start))
}

/// `(I − dt·M)·y = x + dt·c`, the conserved state's row replaced, solved: each state's `y`.
fn linear_step(
    arena: &mut ExprArena,
    scheme: &Scheme,
    m: Vec<Vec<ExprId>>,
    c: Vec<ExprId>,
    dt: ExprId,
    start: &[ExprId],
) -> Vec<(u32, ExprId)> {
    let n = scheme.rhs.len();
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
            let t = bld.mul(dt, c[i]);
            b.push(bld.add(start[i], t));
        }
    }
    conservation_row(arena, scheme, &mut a, &mut b);
    let x = solve(arena, a, b);
    scheme.rhs.iter().map(|&(s, _)| s).zip(x).collect()
}

/// NEURON's `sparse` on a nonlinear scheme, unrolled: from the states at the step's start,
/// Newton steps on `y − x − dt·f(y) = 0` (the conserved state's row `Σ y = total`), each state
/// clamped at 0 after each step, until the sum of the step's |Δ| is at most [`CONVERGE`];
/// at most [`MAX_NEWTON_STEPS`], after which an unconverged step gives NaN (NEURON stops the
/// run with an error). The stopping rule decides the result within its tolerance, so it is
/// NEURON's, not a tighter one.
fn newton_step(arena: &mut ExprArena, scheme: &Scheme) -> Vec<(u32, ExprId)> {
    let old: Vec<ExprId> = scheme
        .rhs
        .iter()
        .map(|&(s, _)| arena.var(Var::State(s)))
        .collect();
    let dt = arena.var(Var::Builtin(Builtin::Dt));
    let (y, failed) = newton(arena, scheme, &old, dt, Newton::Converge);
    with_failure(arena, scheme, y, failed)
}

/// The states `y`, or NaN where `failed` holds.
fn with_failure(
    arena: &mut ExprArena,
    scheme: &Scheme,
    y: Vec<ExprId>,
    failed: ExprId,
) -> Vec<(u32, ExprId)> {
    let nan = arena.lit(f64::NAN);
    scheme
        .rhs
        .iter()
        .zip(y)
        .map(|(&(s, _), value)| (s, Builder::new(arena).select(failed, nan, value)))
        .collect()
}

/// How [`newton`] iterates: scopmath's `sparse` with `linflag` set (one step, no clamp) or not
/// (clamped steps until converged).
#[derive(Clone, Copy, PartialEq)]
enum Newton {
    Once,
    Converge,
}

/// Newton steps of one backward-Euler step of `dt` from the states `old` (expressions), as
/// scopmath's `sparse` takes them. Returns the states and whether the iteration failed to
/// converge (always false for [`Newton::Once`]).
fn newton(
    arena: &mut ExprArena,
    scheme: &Scheme,
    old: &[ExprId],
    dt: ExprId,
    mode: Newton,
) -> (Vec<ExprId>, ExprId) {
    let states: Vec<Var> = scheme.rhs.iter().map(|&(s, _)| Var::State(s)).collect();
    let n = states.len();
    // The Jacobian ∂f/∂y, symbolically, once.
    let jacobian: Vec<Vec<ExprId>> = scheme
        .rhs
        .iter()
        .map(|&(_, f)| states.iter().map(|&x| pdiff(arena, f, x)).collect())
        .collect();
    let conserved = scheme.conserve.as_ref().and_then(|(members, total)| {
        let last = *members.last()?;
        let row = scheme.rhs.iter().position(|&(s, _)| s == last)?;
        Some((row, members.clone(), *total))
    });
    let mut y = old.to_vec();
    // Whether the steps so far have not converged: `None` before the first, which always runs.
    let mut active: Option<ExprId> = None;
    let steps = match mode {
        Newton::Once => 1,
        Newton::Converge => MAX_NEWTON_STEPS,
    };
    for _ in 0..steps {
        let at = |arena: &mut ExprArena, e: ExprId, y: &[ExprId]| {
            substitute(arena, e, &|v| {
                states.iter().position(|&x| x == v).map(|i| y[i])
            })
        };
        let mut a = vec![vec![arena.lit(0.0); n]; n];
        let mut b = Vec::with_capacity(n);
        for i in 0..n {
            for j in 0..n {
                let d = at(arena, jacobian[i][j], &y);
                let mut bld = Builder::new(arena);
                let scaled = bld.mul(dt, d);
                let id = bld.lit(if i == j { 1.0 } else { 0.0 });
                a[i][j] = bld.sub(id, scaled);
            }
            let f = at(arena, scheme.rhs[i].1, &y);
            let mut bld = Builder::new(arena);
            let step = bld.mul(dt, f);
            let moved = bld.sub(y[i], old[i]);
            b.push(bld.sub(step, moved));
        }
        if let Some((row, members, total)) = &conserved {
            let mut sum = arena.lit(0.0);
            for (j, &(s, _)) in scheme.rhs.iter().enumerate() {
                let inside = members.contains(&s);
                a[*row][j] = arena.lit(if inside { 1.0 } else { 0.0 });
                if inside {
                    sum = Builder::new(arena).add(sum, y[j]);
                }
            }
            b[*row] = Builder::new(arena).sub(*total, sum);
        }
        let delta = solve(arena, a, b);
        let mut bld = Builder::new(arena);
        let mut err = bld.lit(0.0);
        let zero = bld.lit(0.0);
        for i in 0..n {
            let moved = bld.add(y[i], delta[i]);
            let next = if mode == Newton::Once {
                moved
            } else {
                let negative = bld.binary(crate::ir::BinaryOp::Lt, moved, zero);
                bld.select(negative, zero, moved)
            };
            y[i] = match active {
                Some(going) => bld.select(going, next, y[i]),
                None => next,
            };
            let size = bld.unary(crate::ir::UnaryOp::Fabs, delta[i]);
            err = bld.add(err, size);
        }
        let tol = bld.lit(CONVERGE);
        let more = bld.binary(crate::ir::BinaryOp::Lt, tol, err);
        active = Some(match active {
            Some(going) => bld.binary(crate::ir::BinaryOp::And, going, more),
            None => more,
        });
    }
    let failed = match mode {
        Newton::Once => arena.lit(0.0),
        Newton::Converge => active.expect("at least one Newton step"),
    };
    (y, failed)
}

/// NEURON's steady state of a scheme that is nonlinear or has no CONSERVE
/// (`SOLVE kin STEADYSTATE sparse`, scopmath's `_ss_sparse`): backward-Euler steps of
/// [`STEADY_STATE_DT`] from the states `start` (their values in INITIAL so far). Up to
/// [`STEADY_STATE_TRIES`] times, one unclamped Newton step; once every state is at least
/// −1e-6 (else those below are set to 0 and it tries again), a full clamped step converged by
/// Newton's method from there. NaN where no try passes or Newton fails, as NEURON stops then.
pub fn steady_state_sparse(
    arena: &mut ExprArena,
    scheme: &Scheme,
    start: &[ExprId],
) -> Vec<(u32, ExprId)> {
    let dt = arena.lit(STEADY_STATE_DT);
    let mut y = start.to_vec();
    // The states of the first try that passed, and whether one has.
    let mut chosen: Option<(Vec<ExprId>, ExprId)> = None;
    for _ in 0..STEADY_STATE_TRIES {
        let (z, _) = newton(arena, scheme, &y, dt, Newton::Once);
        let mut bld = Builder::new(arena);
        let floor = bld.lit(-1e-6);
        let zero = bld.lit(0.0);
        let mut passed: Option<ExprId> = None;
        let mut clamped = Vec::with_capacity(z.len());
        for &zi in &z {
            let low = bld.binary(crate::ir::BinaryOp::Lt, zi, floor);
            let ok = bld.unary(crate::ir::UnaryOp::Not, low);
            passed = Some(match passed {
                Some(p) => bld.binary(crate::ir::BinaryOp::And, p, ok),
                None => ok,
            });
            clamped.push(bld.select(low, zero, zi));
        }
        let passed = passed.expect("a scheme has states");
        chosen = Some(match chosen {
            None => (clamped.clone(), passed),
            Some((before, found)) => {
                let picked = before
                    .iter()
                    .zip(&clamped)
                    .map(|(&b, &c)| bld.select(found, b, c))
                    .collect();
                (picked, bld.binary(crate::ir::BinaryOp::Or, found, passed))
            }
        });
        y = clamped;
    }
    let (from, found) = chosen.expect("at least one try");
    let (w, unconverged) = newton(arena, scheme, &from, dt, Newton::Converge);
    let mut bld = Builder::new(arena);
    let none = bld.unary(crate::ir::UnaryOp::Not, found);
    let failed = bld.binary(crate::ir::BinaryOp::Or, none, unconverged);
    with_failure(arena, scheme, w, failed)
}

/// scopmath's `_ss_sparse`: the step it takes for a steady state, and how often it tries.
const STEADY_STATE_DT: f64 = 1e9;
const STEADY_STATE_TRIES: usize = 7;

/// NEURON's convergence test for a nonlinear scheme's Newton steps: the sum of |Δ| of a step
/// (scopmath's `CONVERGE`).
const CONVERGE: f64 = 1e-6;

/// NEURON's `sparse` fails after 21 steps without converging (scopmath's `MAXSTEPS` is 20).
const MAX_NEWTON_STEPS: usize = 21;

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
                .with_hint("a LINEAR block holds equations linear in its states; write these in a NONLINEAR block (solved by Newton's method)"));
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

/// The solution of the equations `residual_i = 0` in the states `unknowns` (a NONLINEAR
/// block), from `start` (their values before), by NEURON's `newton` (scopmath), unrolled: its
/// iteration stops within a tolerance, so hhc takes the same steps to land where NEURON does.
/// Each step solves `J·Δ = −r`, with `J` by central differences (each state moved by 2 % of
/// its value, at least [`NEWTON_STEP`], and moved back by the same arithmetic), made anew
/// only while the last step's largest relative change exceeded [`NEWTON_MAX_CHANGE`]; the
/// iteration stops after the first step whose largest relative change is at most
/// [`NEWTON_CONVERGE`] (over the states farther than [`NEWTON_ZERO`] from 0) and whose
/// residuals, at the new values, are all within [`NEWTON_ZERO`] of 0. A system still
/// unconverged after [`NEWTON_MAX_ITERATIONS`] steps gives NaN (NEURON stops the run with an
/// error). (NEURON's residuals are `rhs − lhs`, the negation of these, which changes no bit
/// of a step.)
pub fn solve_nonlinear_system(
    arena: &mut ExprArena,
    residuals: &[ExprId],
    unknowns: &[u32],
    start: &[ExprId],
) -> Vec<ExprId> {
    use crate::ir::{BinaryOp, UnaryOp};
    let vars: Vec<Var> = unknowns.iter().map(|&s| Var::State(s)).collect();
    let n = vars.len();
    let f = |arena: &mut ExprArena, y: &[ExprId]| -> Vec<ExprId> {
        residuals
            .iter()
            .map(|&r| {
                substitute(arena, r, &|v| {
                    vars.iter().position(|&x| x == v).map(|i| y[i])
                })
            })
            .collect()
    };
    let mut y = start.to_vec();
    // The Jacobian and right-hand side of the last step, and its largest relative change;
    // `None` before the first step, which always makes the Jacobian.
    let mut last: Option<(Vec<Vec<ExprId>>, Vec<ExprId>, ExprId)> = None;
    // Whether the steps so far have not converged: `None` before the first, which always runs.
    let mut active: Option<ExprId> = None;
    for _ in 0..NEWTON_MAX_ITERATIONS {
        // The Jacobian by central differences, column after column, each state moved back.
        let mut moved = y.clone();
        let mut numeric = vec![vec![arena.lit(0.0); n]; n];
        for j in 0..n {
            let mut b = Builder::new(arena);
            let fraction = b.lit(0.02);
            let least = b.lit(NEWTON_STEP);
            let share = b.mul(fraction, moved[j]);
            let share = b.unary(UnaryOp::Fabs, share);
            let h = b.binary(BinaryOp::Max, share, least);
            let two = b.lit(2.0);
            let twice = b.mul(two, h);
            let up = b.add(moved[j], h);
            let down = b.sub(up, twice);
            let back = b.add(down, h);
            moved[j] = up;
            let high = f(arena, &moved);
            moved[j] = down;
            let low = f(arena, &moved);
            moved[j] = back;
            for i in 0..n {
                let mut b = Builder::new(arena);
                let rise = b.sub(high[i], low[i]);
                numeric[i][j] = b.div(rise, twice);
            }
        }
        let at_moved = f(arena, &moved);
        let fresh_rhs: Vec<ExprId> = at_moved
            .iter()
            .map(|&x| Builder::new(arena).neg(x))
            .collect();
        // Made anew, or the last step's while its change was small.
        let (a, rhs, x) = match &last {
            None => (numeric, fresh_rhs, moved),
            Some((old_a, old_rhs, change)) => {
                let mut b = Builder::new(arena);
                let limit = b.lit(NEWTON_MAX_CHANGE);
                let anew = b.binary(BinaryOp::Gt, *change, limit);
                let a = (numeric.iter().zip(old_a))
                    .map(|(new, old)| {
                        (new.iter().zip(old))
                            .map(|(&p, &q)| b.select(anew, p, q))
                            .collect()
                    })
                    .collect();
                let rhs = (fresh_rhs.iter().zip(old_rhs))
                    .map(|(&p, &q)| b.select(anew, p, q))
                    .collect();
                let x = (moved.iter().zip(&y))
                    .map(|(&p, &q)| b.select(anew, p, q))
                    .collect();
                (a, rhs, x)
            }
        };
        let delta = solve(arena, a.clone(), rhs);
        let mut b = Builder::new(arena);
        let (zero, tiny) = (b.lit(0.0), b.lit(NEWTON_ZERO));
        let mut change = zero;
        let mut next = Vec::with_capacity(n);
        for (&xi, &di) in x.iter().zip(&delta) {
            let size = b.unary(UnaryOp::Fabs, xi);
            let counted = b.binary(BinaryOp::Gt, size, tiny);
            let ratio = b.div(di, xi);
            let relative = b.unary(UnaryOp::Fabs, ratio);
            let bigger = b.binary(BinaryOp::Gt, relative, change);
            let counts = b.binary(BinaryOp::And, counted, bigger);
            change = b.select(counts, relative, change);
            next.push(b.add(xi, di));
        }
        let at_next = f(arena, &next);
        let mut b = Builder::new(arena);
        let mut deviation = b.lit(0.0);
        let mut next_rhs = Vec::with_capacity(n);
        for &r in &at_next {
            let value = b.neg(r);
            next_rhs.push(value);
            let size = b.unary(UnaryOp::Fabs, value);
            let bigger = b.binary(BinaryOp::Gt, size, deviation);
            deviation = b.select(bigger, size, deviation);
        }
        let (converge, tiny) = (b.lit(NEWTON_CONVERGE), b.lit(NEWTON_ZERO));
        let small_change = b.binary(BinaryOp::Le, change, converge);
        let small_deviation = b.binary(BinaryOp::Le, deviation, tiny);
        let done = b.binary(BinaryOp::And, small_change, small_deviation);
        let more = b.unary(UnaryOp::Not, done);
        for (yi, ni) in y.iter_mut().zip(next) {
            *yi = match active {
                Some(going) => b.select(going, ni, *yi),
                None => ni,
            };
        }
        active = Some(match active {
            Some(going) => b.binary(BinaryOp::And, going, more),
            None => more,
        });
        last = Some((a, next_rhs, change));
    }
    let failed = active.expect("at least one Newton step");
    let nan = arena.lit(f64::NAN);
    y.into_iter()
        .map(|v| Builder::new(arena).select(failed, nan, v))
        .collect()
}

/// NEURON's `newton` (scopmath's errcodes): the relative change and the residual size that
/// end its iteration, the change above which it makes the Jacobian anew, the least
/// difference step, and its limit on steps.
const NEWTON_CONVERGE: f64 = 1e-6;
const NEWTON_ZERO: f64 = 1e-8;
const NEWTON_MAX_CHANGE: f64 = 0.05;
const NEWTON_STEP: f64 = 1e-6;
const NEWTON_MAX_ITERATIONS: usize = 50;

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

    /// A + B -> 0 at rate k from a = b = 1: backward Euler is a₁ = a₀ − dt·k·a₁², whose root
    /// Newton's steps reach (NEURON stops once a step moves the states by at most 1e-6 in all,
    /// by then well inside 1e-9); the states never go negative.
    #[test]
    fn second_order_schemes_take_newton_steps() {
        let mut arena = ExprArena::new();
        let a = arena.var(Var::State(0));
        let bb = arena.var(Var::State(1));
        let mut b = Builder::new(&mut arena);
        let k = b.lit(0.5);
        let ab = b.mul(a, bb);
        let rate = b.mul(k, ab);
        let f = b.neg(rate);
        let scheme = Scheme {
            rhs: vec![(0, f), (1, f)],
            conserve: None,
            span: Span::default(),
        };
        let step = backward_euler(&mut arena, &scheme).expect("Newton");
        for dt in [1.0, 0.1, 100.0] {
            let var = |v: Var| match v {
                Var::State(_) => 1.0,
                Var::Builtin(Builtin::Dt) => dt,
                _ => f64::NAN,
            };
            let got = interp::eval(&arena, &[step[0].1, step[1].1], &var);
            let kdt: f64 = 0.5 * dt;
            let exact = (-1.0 + (1.0 + 4.0 * kdt).sqrt()) / (2.0 * kdt);
            assert!(
                (got[0] - exact).abs() < 1e-9,
                "dt {dt}: {} vs {exact}",
                got[0]
            );
            assert!((got[0] - got[1]).abs() < 1e-15);
        }
    }

    /// A buffer `ca + B <-> CaB` (kf 2, kb 1) with B + CaB conserved at 1 and nothing
    /// conserving ca: NEURON's steady state (backward Euler of 1e9 from the INITIAL values)
    /// keeps the amount of calcium, free plus bound, and puts the reaction at equilibrium:
    /// kf·ca·B = kb·CaB with ca + CaB = ca₀ + CaB₀.
    #[test]
    fn a_nonlinear_steady_state_keeps_what_nothing_else_moves() {
        let mut arena = ExprArena::new();
        let ca = arena.var(Var::State(0));
        let buf = arena.var(Var::State(1));
        let bound = arena.var(Var::State(2));
        let mut b = Builder::new(&mut arena);
        let (kf, kb) = (b.lit(2.0), b.lit(1.0));
        let cab = b.mul(ca, buf);
        let fwd = b.mul(kf, cab);
        let bwd = b.mul(kb, bound);
        let net = b.sub(fwd, bwd);
        let loss = b.neg(net);
        let one = b.lit(1.0);
        let scheme = Scheme {
            rhs: vec![(0, loss), (1, loss), (2, net)],
            conserve: Some((vec![1, 2], one)),
            span: Span::default(),
        };
        let (ca0, b0, cab0) = (0.5, 1.0, 0.0);
        let start = [arena.lit(ca0), arena.lit(b0), arena.lit(cab0)];
        let ss = steady_state_sparse(&mut arena, &scheme, &start);
        let got = interp::eval(&arena, &[ss[0].1, ss[1].1, ss[2].1], &|_| f64::NAN);
        // ca + CaB = 0.5 and 2·ca·(1 − CaB) = CaB: 2c² + 0·c − … solved for c = ca.
        // With CaB = 0.5 − c: 2c(0.5 + c) = 0.5 − c, so 2c² + 2c − 0.5 = 0.
        let c = (-2.0 + (4.0f64 + 4.0).sqrt()) / 4.0;
        assert!((got[0] - c).abs() < 1e-8, "ca {} vs {c}", got[0]);
        assert!((got[2] - (0.5 - c)).abs() < 1e-8, "CaB {}", got[2]);
        assert!(
            (got[1] + got[2] - 1.0).abs() < 1e-12,
            "B + CaB {}",
            got[1] + got[2]
        );
    }
}
