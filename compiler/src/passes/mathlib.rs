//! Inline special functions, expanded into IR primitives shared by every backend.
//!
//! Cranelift has no libm and PTX has no f64 transcendentals, so `exp`, `expm1`, `exprelr`, `log`,
//! `log10`, `pow` and `tanh` are rewritten here into `+ − × ÷`, `fma`, `round`, `ldexp`, reads of
//! an 8-entry table ([`crate::ir::exp2`]), comparisons and selects. The interpreter evaluates the same expansion, so the ulp tests run
//! through it, and the JIT and the PTX compute the same formulas.
//!
//! * `exp`, f64: `x = k·ln2/8 + r`, `|r| ≤ ln2/16`, with ln2 split in a high and a low part;
//!   `exp(x) = 2^(k/8)·(1 + tail + (exp(r) − 1))` with `2^(k/8)` a table entry scaled by an
//!   integer add and `exp(r) − 1` a degree-8 polynomial by Estrin's scheme (a shallow tree of
//!   multiply-adds; a series over `|r| ≤ ln2/2` needs twice the terms). f32: Cody–Waite reduction `x = k·ln2 + r`, `|r| ≤ ln2/2`, Taylor
//!   degree 7 by Estrin's scheme with fma, and `2^k` by one `ldexp` whose integer is built from
//!   bits. Either way `k` must stay within the normal exponent range. Within 2 ulp on [−708.39, 709.43] (f32: [−87.33, 88.37]); +inf
//!   above (IEEE overflow is at 709.78, so the last 0.35 of the range saturates early); 0 below
//!   (results under the smallest normal number flush to zero, as under CUDA's and x86's
//!   flush-to-zero modes). NaN propagates.
//! * `expm1`: the same reduction. f64: `s·rel + (s − 1)`, exact `s − 1` near 0; f32:
//!   `2^k·expm1(r) + (2^k − 1)`. Accurate near 0.
//! * `log`: `x = 2^e·m`, `m ∈ [√½, √2)`, `log m = 2·atanh(s)`, `s = (m−1)/(m+1)`, odd series to s^21.
//! * `pow(a, b)` = `exp(b·log a)` unless `b` is a small integer literal (then multiplications).
//! * `tanh(x)` = `−expm1(−2|x|)/(expm1(−2|x|) + 2)` with the sign of x.
//! * `sin`, `cos`: `x = k·π/2 + r`, `|r| ≤ π/4`, with π/2 in three parts (Cody–Waite, exact
//!   products for |k| < 2^20), then fdlibm's kernel polynomials for sin r and cos r, chosen
//!   and signed by k mod 4. Within 2 ulp for |x| ≤ 10^5 (the tests); precision falls off
//!   beyond, as the reduction loses bits.
//!
//! Measured accuracy against Rust's std (see the tests): ≤ 2 ulp for exp, expm1 and log over their
//! whole f64 range.

// Constants keep every digit of their source (fdlibm's split ln2, thresholds).
#![allow(clippy::excessive_precision)]

use super::simplify::Builder;
use crate::ir::{BinaryOp, Expr, ExprArena, ExprId, UnaryOp};
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    F64,
    F32,
}

/// How special functions are provided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MathMode {
    /// Everything expanded into portable primitives: ≤ 2 ulp, identical on every backend.
    Portable,
    /// `exp` and `log` stay as calls for a target with fast hardware approximations (PTX f32:
    /// `ex2.approx`, `lg2.approx`); `expm1`, `exprelr`, `pow` and `tanh` are built on them.
    NativeExpLog,
    /// As `Portable`, except that `exp` and `expm1` stay operations: the CPU kernel hands
    /// them to array routines that compute the portable formula bit for bit
    /// ([`crate::backend::jit::batched`]).
    ArrayExp,
}

/// Rewrites every special function reachable from `roots`; returns the new roots.
pub fn lower_math(arena: &mut ExprArena, roots: &[ExprId], precision: Precision) -> Vec<ExprId> {
    lower_math_with(arena, roots, precision, MathMode::Portable)
}

/// [`lower_math`] with a choice of [`MathMode`].
pub fn lower_math_with(
    arena: &mut ExprArena,
    roots: &[ExprId],
    precision: Precision,
    mode: MathMode,
) -> Vec<ExprId> {
    let native = mode == MathMode::NativeExpLog;
    let array = mode == MathMode::ArrayExp;
    let mut memo: HashMap<ExprId, ExprId> = HashMap::new();
    for id in arena.reachable(roots) {
        let node = *arena.get(id);
        let m = |x: ExprId| memo[&x];
        let mut b = Builder {
            span: arena.span(id),
            arena,
        };
        let new = match node {
            Expr::Lit(_) | Expr::Var(_) => id,
            Expr::Unary(op, a) => {
                let a = m(a);
                match op {
                    UnaryOp::Exp if native => b.unary(UnaryOp::Exp, a),
                    UnaryOp::Log if native => b.unary(UnaryOp::Log, a),
                    UnaryOp::Expm1 if native => native_expm1(&mut b, a),
                    UnaryOp::Exprelr if native => {
                        let em1 = native_expm1(&mut b, a);
                        exprelr_from(&mut b, a, em1)
                    }
                    UnaryOp::Exp | UnaryOp::Expm1 if array && !is_lit(&b, a) => b.unary(op, a),
                    UnaryOp::Exprelr if array && !is_lit(&b, a) => {
                        let em1 = b.unary(UnaryOp::Expm1, a);
                        exprelr_from(&mut b, a, em1)
                    }
                    UnaryOp::Exp => exp(&mut b, a, precision),
                    UnaryOp::Expm1 => expm1(&mut b, a, precision),
                    UnaryOp::Exprelr => {
                        let em1 = expm1(&mut b, a, precision);
                        exprelr_from(&mut b, a, em1)
                    }
                    UnaryOp::Log => log(&mut b, a),
                    UnaryOp::Log10 => {
                        let l = log(&mut b, a);
                        let k = b.lit(std::f64::consts::LOG10_E);
                        b.mul(k, l)
                    }
                    UnaryOp::Tanh => tanh(&mut b, a, precision),
                    UnaryOp::Sin => sin_cos(&mut b, a, precision, false),
                    UnaryOp::Cos => sin_cos(&mut b, a, precision, true),
                    UnaryOp::Frozen => a,
                    _ => b.unary(op, a),
                }
            }
            Expr::Binary(BinaryOp::Pow, x, y) if native => {
                let (x, y) = (m(x), m(y));
                let l = b.unary(UnaryOp::Log, x);
                let p = b.mul(y, l);
                b.unary(UnaryOp::Exp, p)
            }
            Expr::Binary(BinaryOp::Pow, x, y) => {
                let (x, y) = (m(x), m(y));
                let l = log(&mut b, x);
                let p = b.mul(y, l);
                if array && !is_lit(&b, p) {
                    b.unary(UnaryOp::Exp, p)
                } else {
                    exp(&mut b, p, precision)
                }
            }
            Expr::Binary(BinaryOp::Div, x, y) => {
                let (x, y) = (m(x), m(y));
                if let Some(inv) = reciprocal_of_literal(b.arena, y) {
                    let inv = b.lit(inv);
                    b.mul(inv, x)
                } else if let Expr::Binary(BinaryOp::Div, c, z) = *b.arena.get(y) {
                    // `x / (c/z)` = `x·z / c`: NMODL's `(inf − x)/tau` with `tau = 1/(q·s)`
                    // costs no division at all.
                    match reciprocal_of_literal(b.arena, c) {
                        Some(inv) => {
                            let xz = b.mul(x, z);
                            let inv = b.lit(inv);
                            b.mul(inv, xz)
                        }
                        None => b.div(x, y),
                    }
                } else {
                    b.div(x, y)
                }
            }
            Expr::Binary(op, x, y) => b.binary(op, m(x), m(y)),
            Expr::Fma(x, y, z) => b.fma(m(x), m(y), m(z)),
            Expr::Select(c, x, y) => b.select(m(c), m(x), m(y)),
            Expr::TableEntry(t, i) => b.table_entry(t, m(i)),
        };
        memo.insert(id, new);
    }
    roots.iter().map(|r| memo[r]).collect()
}

/// Whether `x` is a literal. `ArrayExp` expands the exp of a literal as `Portable` does, so that
/// it folds to the portable formula's bits rather than to libm's.
fn is_lit(b: &Builder<'_>, x: ExprId) -> bool {
    b.arena.get(x).as_lit().is_some()
}

/// `1/c` when `y` is a literal `c` whose reciprocal is a normal number. Division by it becomes
/// a multiplication: exact when `c` is a power of two, within 1 ulp of `x/c` otherwise, and a
/// fraction of a division's cost.
fn reciprocal_of_literal(arena: &ExprArena, y: ExprId) -> Option<f64> {
    let Expr::Lit(bits) = *arena.get(y) else {
        return None;
    };
    let inv = 1.0 / f64::from_bits(bits);
    (inv.is_normal() && (inv as f32).is_normal()).then_some(inv)
}

/// `x / expm1(x)`, exactly 1 at 0.
fn exprelr_from(b: &mut Builder<'_>, x: ExprId, em1: ExprId) -> ExprId {
    let q = b.div(x, em1);
    let zero = b.lit(0.0);
    let is_zero = b.binary(BinaryOp::Eq, x, zero);
    let one = b.lit(1.0);
    b.select(is_zero, one, q)
}

/// Estrin's scheme for `c[0] + c[1]·x + …`, with fma: shorter dependency chains than Horner.
fn estrin(b: &mut Builder<'_>, x: ExprId, coeffs: &[f64]) -> ExprId {
    let mut terms: Vec<ExprId> = coeffs
        .chunks(2)
        .map(|pair| {
            let c0 = b.lit(pair[0]);
            match pair.get(1) {
                Some(&c1) => {
                    let c1 = b.lit(c1);
                    b.fma(c1, x, c0)
                }
                None => c0,
            }
        })
        .collect();
    let mut power = b.mul(x, x);
    while terms.len() > 1 {
        terms = terms
            .chunks(2)
            .map(|pair| match pair {
                [lo, hi] => b.fma(*hi, power, *lo),
                [lo] => *lo,
                _ => b.lit(0.0), // chunks(2) yields one or two items
            })
            .collect();
        power = b.mul(power, power);
    }
    terms[0]
}

fn inv_factorials(n: usize) -> Vec<f64> {
    let mut out = vec![1.0];
    let mut f = 1.0;
    for k in 1..=n {
        f *= k as f64;
        out.push(1.0 / f);
    }
    out
}

struct Reduced {
    k: ExprId,
    r: ExprId,
}

/// ln2 split in a high part with trailing zero bits (so `k·hi` is exact) and the rest (fdlibm's).
pub(crate) const LN2_SPLIT_F64: (f64, f64) = (
    6.931_471_803_691_238_164_9e-1,
    1.908_214_929_270_587_700_02e-10,
);
pub(crate) const LN2_SPLIT_F32: (f64, f64) = (0.693_145_751_953_125, 1.428_606_765_330_187_045e-6);

/// `x = k·ln2/n + r` with `k` an integer and `|r| ≤ ln2/(2n)`, for `n` a power of two (so the
/// scaled constants are exact).
fn reduce(b: &mut Builder<'_>, x: ExprId, n: f64, (ln2_hi, ln2_lo): (f64, f64)) -> Reduced {
    let log2e = b.lit(n * std::f64::consts::LOG2_E);
    let kx = b.mul(log2e, x);
    let k = b.unary(UnaryOp::Round, kx);
    let nk = b.neg(k);
    let hi = b.lit(ln2_hi / n);
    let lo = b.lit(ln2_lo / n);
    let r1 = b.fma(nk, hi, x);
    let r = b.fma(nk, lo, r1);
    Reduced { k, r }
}

/// `p·2^k` for `k` in the normal exponent range (the callers clamp), one `ldexp`.
fn scale(b: &mut Builder<'_>, p: ExprId, k: ExprId) -> ExprId {
    b.binary(BinaryOp::Ldexp, p, k)
}

/// The overflow and underflow limits of `exp`. Between them `k = round(x·log2 e)` stays within
/// [−1022, 1023] (f32: [−126, 127]); outside them the selects replace whatever the reduction made
/// of `x`, so no clamp is needed. NaN fails both comparisons and flows through the arithmetic.
/// f64 `exp`'s overflow and underflow limits (see [`clamp_domain`]).
pub(crate) const EXP_LIMITS_F64: (f64, f64) = (709.43, -708.39);
/// f32 `exp`'s limits.
pub(crate) const EXP_LIMITS_F32: (f64, f64) = (88.37, -87.33);
/// Below this `expm1` is −1 to the last bit.
pub(crate) const EXPM1_FLOOR: f64 = -40.0;

fn clamp_domain(_b: &mut Builder<'_>, x: ExprId, p: Precision) -> (ExprId, f64, f64) {
    match p {
        Precision::F64 => (x, EXP_LIMITS_F64.0, EXP_LIMITS_F64.1),
        Precision::F32 => (x, EXP_LIMITS_F32.0, EXP_LIMITS_F32.1),
    }
}

/// f64 `exp(x) = 2^(k/8) · exp(r)` with `k = round(8·x/ln2)`, `|r| ≤ ln2/16`.
///
/// `2^(k/8)` is a table entry scaled by a power of two plus its tail ([`crate::ir::exp2`]), and
/// `exp(r) − 1` a degree-8 series (truncation below 2^-59 relative), evaluated by Estrin's
/// scheme. Returns the scale `s`, and `tail + (exp(r) − 1)`, so that `exp(x) ≈ s·(1 + that)`.
/// Eight entries keep the table in registers for the array routines; half the multiply-adds of
/// a series over `|r| ≤ ln2/2`.
fn table_reduce(b: &mut Builder<'_>, x: ExprId) -> (ExprId, ExprId) {
    let Reduced { k, r } = reduce(b, x, 8.0, LN2_SPLIT_F64);
    // exp(r) − 1 = r + r²·q, q = Σ r^(n−2)/n! for n = 2..8:
    // q = (c2 + c3·r) + r²·(c4 + c5·r) + r⁴·((c6 + c7·r) + r²·c8)
    let c = inv_factorials(8);
    let lit = |b: &mut Builder<'_>, n: usize| b.lit(c[n]);
    let (c2, c3, c4, c5, c6, c7, c8) = (
        lit(b, 2),
        lit(b, 3),
        lit(b, 4),
        lit(b, 5),
        lit(b, 6),
        lit(b, 7),
        lit(b, 8),
    );
    let p01 = b.fma(r, c3, c2);
    let p23 = b.fma(r, c5, c4);
    let p45 = b.fma(r, c7, c6);
    let r2 = b.mul(r, r);
    let r4 = b.mul(r2, r2);
    let low = b.fma(r2, p23, p01);
    let high = b.fma(r2, c8, p45);
    let q = b.fma(r4, high, low);
    let em1 = b.fma(r2, q, r);
    let s = b.unary(UnaryOp::Exp2Scale, k);
    let tail = b.unary(UnaryOp::Exp2Tail, k);
    let rel = b.add(tail, em1);
    (s, rel)
}

fn exp(b: &mut Builder<'_>, x: ExprId, p: Precision) -> ExprId {
    let (xc, hi, lo) = clamp_domain(b, x, p);
    if p == Precision::F64 {
        let (s, rel) = table_reduce(b, xc);
        let scaled = b.fma(s, rel, s);
        return exp_specials(b, x, scaled, hi, lo);
    }
    // f32: Taylor degree 7 over |r| ≤ ln2/2.
    let Reduced { k, r } = reduce(b, xc, 1.0, LN2_SPLIT_F32);
    let poly = estrin(b, r, &inv_factorials(7));
    let scaled = scale(b, poly, k);
    exp_specials(b, x, scaled, hi, lo)
}

/// `+inf` above `hi` and `0` below `lo`, where the reduction's power of two leaves the normal
/// range. NaN fails both comparisons and flows through the arithmetic.
fn exp_specials(b: &mut Builder<'_>, x: ExprId, scaled: ExprId, hi: f64, lo: f64) -> ExprId {
    let hi_l = b.lit(hi);
    let lo_l = b.lit(lo);
    let over = b.binary(BinaryOp::Gt, x, hi_l);
    let under = b.binary(BinaryOp::Lt, x, lo_l);
    let inf = b.lit(f64::INFINITY);
    let zero = b.lit(0.0);
    let s = b.select(under, zero, scaled);
    b.select(over, inf, s)
}

fn expm1(b: &mut Builder<'_>, x: ExprId, p: Precision) -> ExprId {
    let (xc, hi, _) = clamp_domain(b, x, p);
    if p == Precision::F64 {
        // s·(1 + rel) − 1 = s·rel + (s − 1); s − 1 is exact for s in [1/2, 2] (|x| ≲ 0.7),
        // where cancellation would otherwise cost digits, and s = 1, rel = exp(r) − 1 at k = 0.
        let (s, rel) = table_reduce(b, xc);
        let one = b.lit(1.0);
        let s_m1 = b.sub(s, one);
        let result = b.fma(s, rel, s_m1);
        return expm1_specials(b, x, result, hi);
    }
    // f32: expm1(r) = r + r²·(1/2! + r/3! + …) to degree 7.
    let Reduced { k, r } = reduce(b, xc, 1.0, LN2_SPLIT_F32);
    let tail: Vec<f64> = inv_factorials(7)[2..].to_vec();
    let q = estrin(b, r, &tail);
    let r2 = b.mul(r, r);
    let em1r = b.fma(r2, q, r);
    let scaled = scale(b, em1r, k);
    let one = b.lit(1.0);
    let two_k = scale(b, one, k);
    let two_k_m1 = b.sub(two_k, one);
    let result = b.add(scaled, two_k_m1);
    expm1_specials(b, x, result, hi)
}

/// `+inf` above `hi`; `−1` below −40, where expm1 is −1 to the last bit.
fn expm1_specials(b: &mut Builder<'_>, x: ExprId, result: ExprId, hi: f64) -> ExprId {
    let hi_l = b.lit(hi);
    let over = b.binary(BinaryOp::Gt, x, hi_l);
    let inf = b.lit(f64::INFINITY);
    let s = b.select(over, inf, result);
    // Below the clamp expm1 is −1 to the last bit.
    let lo_l = b.lit(EXPM1_FLOOR);
    let under = b.binary(BinaryOp::Lt, x, lo_l);
    let m1 = b.lit(-1.0);
    b.select(under, m1, s)
}

/// `expm1` on a native `exp`: a degree-6 series where `exp(x) − 1` would cancel (|x| < 0.35;
/// truncation below 2^-26 relative, f32's half ulp), `exp(x) − 1` elsewhere.
fn native_expm1(b: &mut Builder<'_>, x: ExprId) -> ExprId {
    let e = b.unary(UnaryOp::Exp, x);
    let one = b.lit(1.0);
    let far = b.sub(e, one);
    let tail: Vec<f64> = inv_factorials(7)[2..].to_vec();
    let q = estrin(b, x, &tail);
    let x2 = b.mul(x, x);
    let near = b.fma(x2, q, x);
    let ax = b.unary(UnaryOp::Fabs, x);
    let cut = b.lit(0.35);
    let small = b.binary(BinaryOp::Lt, ax, cut);
    b.select(small, near, far)
}

/// Where `cond` holds, replaces `m` by `m_scaled` and adds `de` to the exponent `e`.
fn rescale_if(
    b: &mut Builder<'_>,
    cond: ExprId,
    m: ExprId,
    m_scaled: ExprId,
    e: ExprId,
    de: f64,
) -> (ExprId, ExprId) {
    let d = b.lit(de);
    let e_new = b.add(e, d);
    (b.select(cond, m_scaled, m), b.select(cond, e_new, e))
}

fn log(b: &mut Builder<'_>, x: ExprId) -> ExprId {
    // Split x = 2^e · m without bit access: a binary search over the exponent range with exact
    // power-of-two scalings brings m into [1/2, 2), then one more step into [√½, √2).
    let mut e = b.lit(0.0);
    let mut m = x;
    for shift in [512.0, 256.0, 128.0, 64.0, 32.0, 16.0, 8.0, 4.0, 2.0, 1.0] {
        let big = b.lit(2f64.powf(shift));
        let is_big = b.binary(BinaryOp::Ge, m, big);
        let neg_shift = b.lit(-shift);
        let down = b.binary(BinaryOp::Ldexp, m, neg_shift);
        (m, e) = rescale_if(b, is_big, m, down, e, shift);
        let small = b.lit(2f64.powf(-shift));
        let is_small = b.binary(BinaryOp::Lt, m, small);
        let pos_shift = b.lit(shift);
        let up = b.binary(BinaryOp::Ldexp, m, pos_shift);
        (m, e) = rescale_if(b, is_small, m, up, e, -shift);
    }
    let sqrt2 = b.lit(std::f64::consts::SQRT_2);
    let too_big = b.binary(BinaryOp::Ge, m, sqrt2);
    let half = b.lit(0.5);
    let mh = b.mul(m, half);
    (m, e) = rescale_if(b, too_big, m, mh, e, 1.0);
    let rt_half = b.lit(std::f64::consts::FRAC_1_SQRT_2);
    let too_small = b.binary(BinaryOp::Lt, m, rt_half);
    let two = b.lit(2.0);
    let m2 = b.mul(m, two);
    (m, e) = rescale_if(b, too_small, m, m2, e, -1.0);
    let one = b.lit(1.0);
    // log m = 2·(s + s³/3 + s⁵/5 + …), s = (m − 1)/(m + 1)
    let num = b.sub(m, one);
    let den = b.add(m, one);
    let s = b.div(num, den);
    let s2 = b.mul(s, s);
    let coeffs: Vec<f64> = (0..11).map(|i| 2.0 / (2 * i + 1) as f64).collect();
    // log m = 2s + s·s²·(2/3 + 2s²/5 + …): the leading term stays separate for accuracy.
    let tail = estrin(b, s2, &coeffs[1..]);
    let s3 = b.mul(s, s2);
    let two_s = b.add(s, s);
    let log_m = b.fma(s3, tail, two_s);
    let ln2_hi = b.lit(6.931_471_803_691_238_164_9e-1);
    let ln2_lo = b.lit(1.908_214_929_270_587_700_02e-10);
    let low = b.fma(e, ln2_lo, log_m);
    let result = b.fma(e, ln2_hi, low);
    // Edge cases: log(0) = −inf, log(x<0) = NaN, log(inf) = inf.
    let zero = b.lit(0.0);
    let is_zero = b.binary(BinaryOp::Eq, x, zero);
    let is_neg = b.binary(BinaryOp::Lt, x, zero);
    let inf = b.lit(f64::INFINITY);
    let is_inf = b.binary(BinaryOp::Eq, x, inf);
    let ninf = b.lit(f64::NEG_INFINITY);
    let nan = b.lit(f64::NAN);
    let r = b.select(is_inf, inf, result);
    let r = b.select(is_neg, nan, r);
    b.select(is_zero, ninf, r)
}

/// `sin(x)` or, with `cosine`, `cos(x)`; see the module's notes.
fn sin_cos(b: &mut Builder<'_>, x: ExprId, p: Precision, cosine: bool) -> ExprId {
    // π/2 = P1 + P2 + P3: fdlibm's split for f64, Cephes's (exact in f32) for f32.
    let (p1, p2, p3) = match p {
        Precision::F64 => (
            1.57079632673412561417e+00,
            6.07710050630396597660e-11,
            2.02226624879595063154e-21,
        ),
        Precision::F32 => (1.5703125, 4.837512969970703125e-4, 7.54978995489188216e-8),
    };
    let two_over_pi = b.lit(std::f64::consts::FRAC_2_PI);
    let scaled = b.mul(x, two_over_pi);
    let k = b.unary(UnaryOp::Round, scaled);
    let mut r = x;
    for part in [p1, p2, p3] {
        let c = b.lit(part);
        let kc = b.mul(k, c);
        r = b.sub(r, kc);
    }
    let z = b.mul(r, r);
    // fdlibm's __kernel_sin and __kernel_cos coefficients.
    let s_poly = estrin(
        b,
        z,
        &[
            -1.66666666666666324348e-01,
            8.33333333332248946124e-03,
            -1.98412698298579493134e-04,
            2.75573137070700676789e-06,
            -2.50507602534068634195e-08,
            1.58969099521155010221e-10,
        ],
    );
    let rz = b.mul(r, z);
    let rzs = b.mul(rz, s_poly);
    let sin_r = b.add(r, rzs);
    let c_poly = estrin(
        b,
        z,
        &[
            4.16666666666666019037e-02,
            -1.38888888888741095749e-03,
            2.48015872894767294178e-05,
            -2.75573143513906633035e-07,
            2.08757232129817482790e-09,
            -1.13596475577881948265e-11,
        ],
    );
    let half = b.lit(0.5);
    let hz = b.mul(half, z);
    let one = b.lit(1.0);
    let w = b.sub(one, hz);
    let zz = b.mul(z, z);
    let tail = b.mul(zz, c_poly);
    let cos_r = b.add(w, tail);
    // The quadrant q = k mod 4 (cos is sin a quadrant on).
    let quarter = b.lit(0.25);
    let kq = b.mul(k, quarter);
    let fl = b.unary(UnaryOp::Floor, kq);
    let four = b.lit(4.0);
    let f4 = b.mul(fl, four);
    let mut q = b.sub(k, f4);
    if cosine {
        let one = b.lit(1.0);
        let q1 = b.add(q, one);
        let eq4 = b.lit(3.5);
        let wrap = b.binary(BinaryOp::Lt, eq4, q1);
        let zero = b.lit(0.0);
        q = b.select(wrap, zero, q1);
    }
    let neg_sin = b.neg(sin_r);
    let neg_cos = b.neg(cos_r);
    let (h1, h2, h3) = (b.lit(0.5), b.lit(1.5), b.lit(2.5));
    let lt1 = b.binary(BinaryOp::Lt, q, h1);
    let lt2 = b.binary(BinaryOp::Lt, q, h2);
    let lt3 = b.binary(BinaryOp::Lt, q, h3);
    let upper = b.select(lt3, neg_sin, neg_cos);
    let middle = b.select(lt2, cos_r, upper);
    b.select(lt1, sin_r, middle)
}

fn tanh(b: &mut Builder<'_>, x: ExprId, p: Precision) -> ExprId {
    let ax = b.unary(UnaryOp::Fabs, x);
    let m2 = b.lit(-2.0);
    let arg = b.mul(m2, ax);
    let e = expm1(b, arg, p);
    let two = b.lit(2.0);
    let den = b.add(e, two);
    let ne = b.neg(e);
    let t = b.div(ne, den);
    let zero = b.lit(0.0);
    let neg = b.binary(BinaryOp::Lt, x, zero);
    let nt = b.neg(t);
    b.select(neg, nt, t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{interp, Builtin, Var};

    fn ulps(a: f64, b: f64) -> u64 {
        if a == b || (a.is_nan() && b.is_nan()) {
            return 0;
        }
        if a.is_sign_negative() != b.is_sign_negative() {
            return u64::MAX;
        }
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    fn lowered(op: UnaryOp) -> (ExprArena, ExprId) {
        let mut arena = ExprArena::new();
        let x = arena.var(Var::Builtin(Builtin::V));
        let e = Builder::new(&mut arena).unary(op, x);
        let r = lower_math(&mut arena, &[e], Precision::F64)[0];
        (arena, r)
    }

    fn max_ulps(op: UnaryOp, reference: fn(f64) -> f64, xs: impl Iterator<Item = f64>) -> u64 {
        let (arena, r) = lowered(op);
        xs.map(|x| {
            let got = interp::eval(&arena, &[r], &|_| x)[0];
            let want = reference(x);
            let u = ulps(got, want);
            assert!(
                u <= 2,
                "{op:?}({x:e}) = {got:e}, std says {want:e} ({u} ulp)"
            );
            u
        })
        .max()
        .unwrap_or(0)
    }

    fn sweep(lo: f64, hi: f64, n: usize) -> impl Iterator<Item = f64> {
        (0..=n).map(move |i| lo + (hi - lo) * i as f64 / n as f64)
    }

    #[test]
    fn exp_within_two_ulp_on_whole_range() {
        max_ulps(UnaryOp::Exp, f64::exp, sweep(-708.39, 709.43, 200_000));
        max_ulps(UnaryOp::Exp, f64::exp, sweep(-1.0, 1.0, 20_001));
        let (arena, r) = lowered(UnaryOp::Exp);
        let at = |x: f64| interp::eval(&arena, &[r], &|_| x)[0];
        assert_eq!(at(710.0), f64::INFINITY);
        assert_eq!(at(709.5), f64::INFINITY, "saturates early, as documented");
        assert_eq!(at(-800.0), 0.0);
        assert_eq!(at(-720.0), 0.0, "subnormal results flush to zero");
        assert!(at(f64::NAN).is_nan());
    }

    #[test]
    fn expm1_within_two_ulp_and_exact_near_zero() {
        max_ulps(UnaryOp::Expm1, f64::exp_m1, sweep(-50.0, 709.43, 100_000));
        max_ulps(UnaryOp::Expm1, f64::exp_m1, sweep(-1e-3, 1e-3, 10_001));
        max_ulps(
            UnaryOp::Expm1,
            f64::exp_m1,
            [1e-300, -1e-20, 1e-10].into_iter(),
        );
    }

    #[test]
    fn sin_and_cos_within_two_ulp() {
        for (op, reference) in [
            (UnaryOp::Sin, f64::sin as fn(f64) -> f64),
            (UnaryOp::Cos, f64::cos),
        ] {
            max_ulps(op, reference, sweep(-7.0, 7.0, 20_000));
            max_ulps(op, reference, sweep(-1e5, 1e5, 20_000));
            let (arena, r) = lowered(op);
            let at = |x: f64| interp::eval(&arena, &[r], &|_| x)[0];
            assert!(at(f64::INFINITY).is_nan() && at(f64::NAN).is_nan());
        }
        let (arena, r) = lowered(UnaryOp::Sin);
        assert_eq!(interp::eval(&arena, &[r], &|_| 0.0)[0], 0.0);
    }

    #[test]
    fn log_within_two_ulp() {
        max_ulps(
            UnaryOp::Log,
            f64::ln,
            (0..20_000).map(|i| 10f64.powf(-300.0 + 0.03 * i as f64)),
        );
        max_ulps(UnaryOp::Log, f64::ln, sweep(0.5, 2.0, 10_000));
        let (arena, r) = lowered(UnaryOp::Log);
        let at = |x: f64| interp::eval(&arena, &[r], &|_| x)[0];
        assert_eq!(at(0.0), f64::NEG_INFINITY);
        assert!(at(-1.0).is_nan());
    }

    #[test]
    fn exprelr_is_one_at_zero() {
        let (arena, r) = lowered(UnaryOp::Exprelr);
        let at = |x: f64| interp::eval(&arena, &[r], &|_| x)[0];
        assert_eq!(at(0.0), 1.0);
        for x in [-1e-9f64, 1e-9, 0.5, -3.0, 20.0] {
            let want = x / x.exp_m1();
            assert!(ulps(at(x), want) <= 3, "{x}: {} vs {want}", at(x));
        }
    }
}
