//! Array routines the CPU kernel calls for its costliest operations, `exp` and `expm1`.
//!
//! Cranelift's vectors are 128 bits wide, so a JIT-compiled `exp` runs two lanes at a time.
//! These routines are compiled ahead of time by rustc, once per instruction set (AVX-512,
//! AVX2 + FMA, and a baseline), and the JIT picks the widest the CPU has. The kernel stages a
//! block of cells: it writes every argument of one kind into a scratch row, calls the routine
//! once per row, and reads the results back (see [`super`]).
//!
//! Each routine computes, operation for operation, the formula that
//! [`crate::passes::mathlib`] lowers the function to (the table-driven reduction of
//! [`crate::ir::exp2`] with its degree-8 series and the same selects for overflow and
//! underflow), so the result is bit-identical to the interpreter's and the PTX's. The tests below
//! hold the two to the same bits over the whole range.

use crate::ir::exp2::{EXP2_SCALE_BITS, EXP2_TAIL_BITS, INDEX_MASK, ROUND_MAGIC, SCALE_SHIFT};
use crate::passes::mathlib::{EXPM1_FLOOR, EXP_LIMITS_F64, LN2_SPLIT_F64};

/// `ln2/8` split as in `mathlib::reduce`: a high part whose product with `k` is exact.
const LN2_HI_8: f64 = LN2_SPLIT_F64.0 / 8.0;
const LN2_LO_8: f64 = LN2_SPLIT_F64.1 / 8.0;
const LOG2E_8: f64 = 8.0 * std::f64::consts::LOG2_E;
/// `1/n!` for the series of `exp(r) − 1` (`mathlib::table_reduce`).
const C2: f64 = 1.0 / 2.0;
const C3: f64 = 1.0 / 6.0;
const C4: f64 = 1.0 / 24.0;
const C5: f64 = 1.0 / 120.0;
const C6: f64 = 1.0 / 720.0;
const C7: f64 = 1.0 / 5040.0;
const C8: f64 = 1.0 / 40320.0;
/// `exp` overflows above and underflows below these (`mathlib::clamp_domain`).
const EXP_HI: f64 = EXP_LIMITS_F64.0;
const EXP_LO: f64 = EXP_LIMITS_F64.1;
const EXPM1_LO: f64 = EXPM1_FLOOR;

/// `s` and `rel` with `exp(x) ≈ s·(1 + rel)` (`mathlib::table_reduce`).
#[inline(always)]
fn table_reduce(x: f64) -> (f64, f64) {
    let k = (LOG2E_8 * x).round_ties_even();
    let nk = -k;
    let r1 = nk.mul_add(LN2_HI_8, x);
    let r = nk.mul_add(LN2_LO_8, r1);
    let p01 = r.mul_add(C3, C2);
    let p23 = r.mul_add(C5, C4);
    let p45 = r.mul_add(C7, C6);
    let r2 = r * r;
    let r4 = r2 * r2;
    let low = r2.mul_add(p23, p01);
    let high = r2.mul_add(C8, p45);
    let q = r4.mul_add(high, low);
    let em1 = r2.mul_add(q, r);
    let ki = (k + ROUND_MAGIC).to_bits();
    let j = (ki & INDEX_MASK) as usize;
    let s = f64::from_bits(EXP2_SCALE_BITS[j].wrapping_add(ki << SCALE_SHIFT));
    let tail = f64::from_bits(EXP2_TAIL_BITS[j]);
    (s, tail + em1)
}

/// The lowered f64 `exp`, one element.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    let (s, rel) = table_reduce(x);
    let scaled = s.mul_add(rel, s);
    let s = if x < EXP_LO { 0.0 } else { scaled };
    if x > EXP_HI {
        f64::INFINITY
    } else {
        s
    }
}

/// The lowered f64 `expm1`, one element.
#[inline(always)]
pub fn expm1(x: f64) -> f64 {
    let (s, rel) = table_reduce(x);
    let result = s.mul_add(rel, s - 1.0);
    let s = if x > EXP_HI { f64::INFINITY } else { result };
    if x < EXPM1_LO {
        -1.0
    } else {
        s
    }
}

/// f32 constants of the lowered f32 formula (`mathlib::exp`): literals rounded to f32.
mod f32_consts {
    use crate::passes::mathlib::{EXP_LIMITS_F32, LN2_SPLIT_F32};
    pub const LOG2E: f32 = std::f64::consts::LOG2_E as f32;
    pub const LN2_HI: f32 = LN2_SPLIT_F32.0 as f32;
    pub const LN2_LO: f32 = LN2_SPLIT_F32.1 as f32;
    pub const HI: f32 = EXP_LIMITS_F32.0 as f32;
    pub const LO: f32 = EXP_LIMITS_F32.1 as f32;
    pub const EXPM1_LO: f32 = crate::passes::mathlib::EXPM1_FLOOR as f32;
    /// `1/k!` for k = 0..=7, each rounded from f64 as the JIT rounds literals.
    pub const INV_FACT: [f32; 8] = [
        1.0,
        1.0,
        0.5,
        (1.0f64 / 6.0) as f32,
        (1.0f64 / 24.0) as f32,
        (1.0f64 / 120.0) as f32,
        (1.0f64 / 720.0) as f32,
        (1.0f64 / 5040.0) as f32,
    ];
}

/// `k = round(x·log2 e)` and `r = x − k·ln2` in f32 (`mathlib::reduce` with n = 1).
#[inline(always)]
fn reduce_f32(x: f32) -> (f32, f32) {
    use f32_consts::*;
    let k = (LOG2E * x).round_ties_even();
    let nk = -k;
    let r1 = nk.mul_add(LN2_HI, x);
    (k, nk.mul_add(LN2_LO, r1))
}

/// `x·2^k` as the JIT's `ldexp` builds it: `k + 1.5·2^23`, rebias, shift into the exponent.
#[inline(always)]
fn ldexp_f32(x: f32, k: f32) -> f32 {
    let bits = (k + 12_582_912.0).to_bits() as i32;
    let biased = bits.wrapping_add(127i32.wrapping_sub(0x4B40_0000));
    x * f32::from_bits((biased << 23) as u32)
}

/// The lowered f32 `exp`: Estrin's scheme for the degree-7 Taylor series, then `ldexp`.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    use f32_consts::*;
    let (k, r) = reduce_f32(x);
    let c = INV_FACT;
    let p = r * r;
    let low = c[3].mul_add(r, c[2]).mul_add(p, c[1].mul_add(r, c[0]));
    let high = c[7].mul_add(r, c[6]).mul_add(p, c[5].mul_add(r, c[4]));
    let poly = high.mul_add(p * p, low);
    let scaled = ldexp_f32(poly, k);
    let s = if x < LO { 0.0 } else { scaled };
    if x > HI {
        f32::INFINITY
    } else {
        s
    }
}

/// The lowered f32 `expm1`: `2^k·expm1(r) + (2^k − 1)`, the series from `r²/2` on by Estrin.
#[inline(always)]
pub fn expm1_f32(x: f32) -> f32 {
    use f32_consts::*;
    let (k, r) = reduce_f32(x);
    let c = INV_FACT;
    let p = r * r;
    let low = c[3].mul_add(r, c[2]);
    let mid = c[5].mul_add(r, c[4]);
    let high = c[7].mul_add(r, c[6]);
    let q = high.mul_add(p * p, mid.mul_add(p, low));
    let em1r = (r * r).mul_add(q, r);
    let result = ldexp_f32(em1r, k) + (ldexp_f32(1.0, k) - 1.0);
    let s = if x > HI { f32::INFINITY } else { result };
    if x < EXPM1_LO {
        -1.0
    } else {
        s
    }
}

/// An array routine over `rows` rows `stride` elements apart: `out[r][i] = f(a[r][i])` for
/// `i < len`.
pub type UnaryRoutine =
    unsafe extern "C" fn(a: *const u8, out: *mut u8, rows: u64, stride: u64, len: u64);
/// `exp` of one value, for the kernel's loop-invariant arguments.
pub extern "C" fn exp_scalar(x: f64) -> f64 {
    exp(x)
}

/// `expm1` of one value, for the kernel's loop-invariant arguments.
pub extern "C" fn expm1_scalar(x: f64) -> f64 {
    expm1(x)
}

/// [`exp_scalar`] in f32.
pub extern "C" fn exp_f32_scalar(x: f32) -> f32 {
    exp_f32(x)
}

/// [`expm1_scalar`] in f32.
pub extern "C" fn expm1_f32_scalar(x: f32) -> f32 {
    expm1_f32(x)
}

/// The routines for one float type, for the widest instruction set this CPU has.
#[derive(Clone, Copy)]
pub struct Routines {
    pub exp: UnaryRoutine,
    pub expm1: UnaryRoutine,
    pub exp_f32: UnaryRoutine,
    pub expm1_f32: UnaryRoutine,
    /// "avx512", "avx2" or "baseline", for reports.
    pub isa: &'static str,
}

/// Explicit vector versions of [`exp`] and [`expm1`] (rustc does not vectorise the table reads
/// by itself). Same operations in the same order: `round` to nearest even, fused multiply-adds,
/// table entries read by the low three bits of `k + 1.5·2^52` (permutes, not gathers), and blends for the limits.
#[cfg(target_arch = "x86_64")]
mod simd {
    use super::*;
    use std::arch::x86_64::*;

    /// Rounding mode for `roundscale`/`round`: to nearest even, exceptions suppressed.
    const NEAREST: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

    /// `table[j mod 8]` per lane: the table is one register, read with one permute (a gather
    /// is several times slower on AMD cores).
    #[target_feature(enable = "avx512f,avx512dq")]
    fn lookup8(table: &[u64; 8], j: __m512i) -> __m512d {
        // SAFETY: the load reads the table's 8 entries.
        let entries = unsafe { _mm512_loadu_pd(table.as_ptr().cast()) };
        _mm512_permutexvar_pd(j, entries)
    }

    #[target_feature(enable = "avx512f,avx512dq")]
    unsafe fn reduce8(x: __m512d) -> (__m512d, __m512d) {
        let set = _mm512_set1_pd;
        let k = _mm512_roundscale_pd::<NEAREST>(_mm512_mul_pd(set(LOG2E_8), x));
        let nk = _mm512_xor_pd(k, set(-0.0));
        let r1 = _mm512_fmadd_pd(nk, set(LN2_HI_8), x);
        let r = _mm512_fmadd_pd(nk, set(LN2_LO_8), r1);
        let p01 = _mm512_fmadd_pd(r, set(C3), set(C2));
        let p23 = _mm512_fmadd_pd(r, set(C5), set(C4));
        let p45 = _mm512_fmadd_pd(r, set(C7), set(C6));
        let r2 = _mm512_mul_pd(r, r);
        let r4 = _mm512_mul_pd(r2, r2);
        let low = _mm512_fmadd_pd(r2, p23, p01);
        let high = _mm512_fmadd_pd(r2, set(C8), p45);
        let q = _mm512_fmadd_pd(r4, high, low);
        let em1 = _mm512_fmadd_pd(r2, q, r);
        // The permute reads only the low three bits of each index.
        let ki = _mm512_castpd_si512(_mm512_add_pd(k, set(ROUND_MAGIC)));
        let entry = _mm512_castpd_si512(lookup8(&EXP2_SCALE_BITS, ki));
        let tail = lookup8(&EXP2_TAIL_BITS, ki);
        let s = _mm512_castsi512_pd(_mm512_add_epi64(
            entry,
            _mm512_slli_epi64::<{ SCALE_SHIFT }>(ki),
        ));
        (s, _mm512_add_pd(tail, em1))
    }

    #[target_feature(enable = "avx512f,avx512dq")]
    pub unsafe fn exp8(x: __m512d) -> __m512d {
        // SAFETY: same features.
        let (s, rel) = unsafe { reduce8(x) };
        let scaled = _mm512_fmadd_pd(s, rel, s);
        let under = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(x, _mm512_set1_pd(EXP_LO));
        let over = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(x, _mm512_set1_pd(EXP_HI));
        let s = _mm512_mask_blend_pd(under, scaled, _mm512_setzero_pd());
        _mm512_mask_blend_pd(over, s, _mm512_set1_pd(f64::INFINITY))
    }

    #[target_feature(enable = "avx512f,avx512dq")]
    pub unsafe fn expm18(x: __m512d) -> __m512d {
        // SAFETY: same features.
        let (s, rel) = unsafe { reduce8(x) };
        let result = _mm512_fmadd_pd(s, rel, _mm512_sub_pd(s, _mm512_set1_pd(1.0)));
        let over = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(x, _mm512_set1_pd(EXP_HI));
        let under = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(x, _mm512_set1_pd(EXPM1_LO));
        let s = _mm512_mask_blend_pd(over, result, _mm512_set1_pd(f64::INFINITY));
        _mm512_mask_blend_pd(under, s, _mm512_set1_pd(-1.0))
    }

    /// The two exp2 tables for AVX2, each as two registers of eight dwords: the entries' low
    /// 32-bit halves and their high halves. Built once per row, outside the row's loop.
    #[derive(Clone, Copy)]
    pub struct Tables4 {
        scale: (__m256i, __m256i),
        tail: (__m256i, __m256i),
    }

    impl Tables4 {
        #[target_feature(enable = "avx2,fma")]
        pub fn load() -> Self {
            Tables4 {
                scale: halves(&EXP2_SCALE_BITS),
                tail: halves(&EXP2_TAIL_BITS),
            }
        }
    }

    /// `(low halves, high halves)` of a table's eight entries, in entry order.
    #[target_feature(enable = "avx2,fma")]
    fn halves(table: &[u64; 8]) -> (__m256i, __m256i) {
        // SAFETY: the loads read the table's 8 entries.
        let (a, b) = unsafe {
            (
                _mm256_castsi256_ps(_mm256_loadu_si256(table.as_ptr().cast())),
                _mm256_castsi256_ps(_mm256_loadu_si256(table.as_ptr().add(4).cast())),
            )
        };
        // Per 128-bit lane, the even (odd) dwords of a then b: [l0 l1 l4 l5 | l2 l3 l6 l7];
        // then the middle qwords swap.
        let even = _mm256_castps_si256(_mm256_shuffle_ps::<0b10_00_10_00>(a, b));
        let odd = _mm256_castps_si256(_mm256_shuffle_ps::<0b11_01_11_01>(a, b));
        (
            _mm256_permute4x64_epi64::<0b11_01_10_00>(even),
            _mm256_permute4x64_epi64::<0b11_01_10_00>(odd),
        )
    }

    /// `table[j]` per lane, `j` in the low three bits of both dwords of the lane's `index`:
    /// one 32-bit permute reads the low halves, one the high halves, and a blend joins them.
    #[target_feature(enable = "avx2,fma")]
    fn lookup4((low, high): (__m256i, __m256i), index: __m256i) -> __m256i {
        let lo = _mm256_permutevar8x32_epi32(low, index);
        let hi = _mm256_permutevar8x32_epi32(high, index);
        _mm256_blend_epi32::<0b1010_1010>(lo, hi)
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn reduce4(x: __m256d, tables: &Tables4) -> (__m256d, __m256d) {
        let set = _mm256_set1_pd;
        let k = _mm256_round_pd::<NEAREST>(_mm256_mul_pd(set(LOG2E_8), x));
        let nk = _mm256_xor_pd(k, set(-0.0));
        let r1 = _mm256_fmadd_pd(nk, set(LN2_HI_8), x);
        let r = _mm256_fmadd_pd(nk, set(LN2_LO_8), r1);
        let p01 = _mm256_fmadd_pd(r, set(C3), set(C2));
        let p23 = _mm256_fmadd_pd(r, set(C5), set(C4));
        let p45 = _mm256_fmadd_pd(r, set(C7), set(C6));
        let r2 = _mm256_mul_pd(r, r);
        let r4 = _mm256_mul_pd(r2, r2);
        let low = _mm256_fmadd_pd(r2, p23, p01);
        let high = _mm256_fmadd_pd(r2, set(C8), p45);
        let q = _mm256_fmadd_pd(r4, high, low);
        let em1 = _mm256_fmadd_pd(r2, q, r);
        let ki = _mm256_castpd_si256(_mm256_add_pd(k, set(ROUND_MAGIC)));
        // The low dword of each lane holds j = k mod 8 in its low three bits (all the permute
        // reads); copy it into the high dword.
        let index = _mm256_shuffle_epi32::<0b10_10_00_00>(ki);
        let entry = lookup4(tables.scale, index);
        let tail = _mm256_castsi256_pd(lookup4(tables.tail, index));
        let s = _mm256_castsi256_pd(_mm256_add_epi64(
            entry,
            _mm256_slli_epi64::<{ SCALE_SHIFT as i32 }>(ki),
        ));
        (s, _mm256_add_pd(tail, em1))
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn exp4(x: __m256d, tables: &Tables4) -> __m256d {
        // SAFETY: same features.
        let (s, rel) = unsafe { reduce4(x, tables) };
        let scaled = _mm256_fmadd_pd(s, rel, s);
        let under = _mm256_cmp_pd::<_CMP_LT_OQ>(x, _mm256_set1_pd(EXP_LO));
        let over = _mm256_cmp_pd::<_CMP_GT_OQ>(x, _mm256_set1_pd(EXP_HI));
        let s = _mm256_blendv_pd(scaled, _mm256_setzero_pd(), under);
        _mm256_blendv_pd(s, _mm256_set1_pd(f64::INFINITY), over)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn expm14(x: __m256d, tables: &Tables4) -> __m256d {
        // SAFETY: same features.
        let (s, rel) = unsafe { reduce4(x, tables) };
        let result = _mm256_fmadd_pd(s, rel, _mm256_sub_pd(s, _mm256_set1_pd(1.0)));
        let over = _mm256_cmp_pd::<_CMP_GT_OQ>(x, _mm256_set1_pd(EXP_HI));
        let under = _mm256_cmp_pd::<_CMP_LT_OQ>(x, _mm256_set1_pd(EXPM1_LO));
        let s = _mm256_blendv_pd(result, _mm256_set1_pd(f64::INFINITY), over);
        _mm256_blendv_pd(s, _mm256_set1_pd(-1.0), under)
    }

    /// `exp` (or `expm1` when `!is_exp`) of `a` into `out`, 8 at a time; returns how many.
    #[inline(always)]
    pub fn rows8(a: &[f64], out: &mut [f64], is_exp: bool) -> usize {
        let whole = a.len().min(out.len()) / 8 * 8;
        for i in (0..whole).step_by(8) {
            // SAFETY: i + 8 ≤ whole; called only from the avx512 routines (features checked).
            unsafe {
                let x = _mm512_loadu_pd(a.as_ptr().add(i));
                let y = if is_exp { exp8(x) } else { expm18(x) };
                _mm512_storeu_pd(out.as_mut_ptr().add(i), y);
            }
        }
        whole
    }

    /// As [`rows8`], 4 at a time with AVX2.
    #[inline(always)]
    pub fn rows4(a: &[f64], out: &mut [f64], is_exp: bool) -> usize {
        let whole = a.len().min(out.len()) / 4 * 4;
        // SAFETY: called only from the avx2 routines (features checked).
        let tables = unsafe { Tables4::load() };
        for i in (0..whole).step_by(4) {
            // SAFETY: i + 4 ≤ whole; called only from the avx2 routines (features checked).
            unsafe {
                let x = _mm256_loadu_pd(a.as_ptr().add(i));
                let y = if is_exp {
                    exp4(x, &tables)
                } else {
                    expm14(x, &tables)
                };
                _mm256_storeu_pd(out.as_mut_ptr().add(i), y);
            }
        }
        whole
    }
}

/// Defines one instruction set's routines; the loop bodies are the scalar functions above,
/// which rustc vectorises for the enabled features.
macro_rules! routines_for {
    ($module:ident, $isa:literal, $vector_loop:path $(, #[$feature:meta])?) => {
        mod $module {
            $(#[$feature])?
            unsafe fn unary(a: *const f64, out: *mut f64, n: usize, vector: bool) {
                // SAFETY: the caller passes arrays of at least `n` elements.
                let (a, out) = unsafe {
                    (
                        std::slice::from_raw_parts(a, n),
                        std::slice::from_raw_parts_mut(out, n),
                    )
                };
                let whole = $vector_loop(a, out, vector);
                for (o, &x) in out[whole..].iter_mut().zip(&a[whole..]) {
                    *o = if vector { super::exp(x) } else { super::expm1(x) };
                }
            }
            /// f32: no table, so rustc vectorises the scalar formula itself.
            $(#[$feature])?
            unsafe fn unary_f32(a: *const f32, out: *mut f32, n: usize, is_exp: bool) {
                // SAFETY: the caller passes arrays of at least `n` elements.
                let (a, out) = unsafe {
                    (
                        std::slice::from_raw_parts(a, n),
                        std::slice::from_raw_parts_mut(out, n),
                    )
                };
                if is_exp {
                    for (o, &x) in out.iter_mut().zip(a) {
                        *o = super::exp_f32(x);
                    }
                } else {
                    for (o, &x) in out.iter_mut().zip(a) {
                        *o = super::expm1_f32(x);
                    }
                }
            }
            /// Calls `each(offset)` for the first element of every row.
            fn for_rows(rows: u64, stride: u64, mut each: impl FnMut(usize)) {
                for r in 0..rows as usize {
                    each(r * stride as usize);
                }
            }
            // SAFETY (both): the kernel passes `rows` scratch rows of `stride ≥ len`
            // elements of the routine's type, and `super::routines` hands these out only on a
            // CPU with the features.
            pub unsafe extern "C" fn exp(a: *const u8, out: *mut u8, rows: u64, stride: u64, len: u64) {
                let (a, out) = (a.cast::<f64>(), out.cast::<f64>());
                for_rows(rows, stride, |o| unsafe { unary(a.add(o), out.add(o), len as usize, true) })
            }
            pub unsafe extern "C" fn expm1(a: *const u8, out: *mut u8, rows: u64, stride: u64, len: u64) {
                let (a, out) = (a.cast::<f64>(), out.cast::<f64>());
                for_rows(rows, stride, |o| unsafe { unary(a.add(o), out.add(o), len as usize, false) })
            }
            pub unsafe extern "C" fn exp_f32(a: *const u8, out: *mut u8, rows: u64, stride: u64, len: u64) {
                let (a, out) = (a.cast::<f32>(), out.cast::<f32>());
                for_rows(rows, stride, |o| unsafe { unary_f32(a.add(o), out.add(o), len as usize, true) })
            }
            pub unsafe extern "C" fn expm1_f32(a: *const u8, out: *mut u8, rows: u64, stride: u64, len: u64) {
                let (a, out) = (a.cast::<f32>(), out.cast::<f32>());
                for_rows(rows, stride, |o| unsafe { unary_f32(a.add(o), out.add(o), len as usize, false) })
            }
            pub const ROUTINES: super::Routines = super::Routines {
                exp,
                expm1,
                exp_f32,
                expm1_f32,
                isa: $isa,
            };
        }
    };
}

#[cfg(target_arch = "x86_64")]
routines_for!(avx512, "avx512", super::simd::rows8, #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]);
#[cfg(target_arch = "x86_64")]
routines_for!(avx2, "avx2", super::simd::rows4, #[target_feature(enable = "avx2,fma")]);
routines_for!(baseline, "baseline", super::no_vector_rows);

/// The baseline has no vector loop: every element goes through the scalar rest.
fn no_vector_rows(_: &[f64], _: &mut [f64], _: bool) -> usize {
    0
}

/// Every routine set this CPU can run, widest first.
pub fn available() -> Vec<Routines> {
    let mut sets = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        use std::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx512dq") && has!("avx512vl") && has!("avx2") && has!("fma") {
            sets.push(avx512::ROUTINES);
        }
        if has!("avx2") && has!("fma") {
            sets.push(avx2::ROUTINES);
        }
    }
    sets.push(baseline::ROUTINES);
    sets
}

/// The widest routines this CPU runs; `HHC_BATCH_ISA=avx2|baseline` chooses a narrower set.
pub fn routines() -> Routines {
    let sets = available();
    let wanted = std::env::var("HHC_BATCH_ISA").ok();
    wanted
        .and_then(|w| sets.iter().find(|s| s.isa == w).copied())
        .unwrap_or(sets[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{interp, ExprArena, UnaryOp, Var};
    use crate::passes::mathlib::{lower_math, Precision};

    fn lowered(op: UnaryOp) -> (ExprArena, crate::ir::ExprId) {
        let mut a = ExprArena::new();
        let x = a.var(Var::Slot(0));
        let e = a.add(crate::ir::Expr::Unary(op, x), crate::span::Span::default());
        let roots = lower_math(&mut a, &[e], Precision::F64);
        (a, roots[0])
    }

    fn arguments() -> Vec<f64> {
        let n = 20_011;
        let mut xs: Vec<f64> = (0..n)
            .map(|i| -760.0 + 1520.0 * (i as f64 / (n - 1) as f64).powi(3))
            .collect();
        xs.extend([
            0.0, -0.0, 1e-300, -3e-9, 5e-324, 709.43, 709.44, -708.39, -708.4, -40.0,
        ]);
        xs.extend([
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.35,
            -0.35,
            1e-6,
            -1e-6,
        ]);
        xs
    }

    /// Every instruction set's `exp` and `expm1` give the interpreter's bits for the lowered
    /// formula, element by element, including the rest after the last full vector.
    #[test]
    fn every_instruction_set_matches_the_lowered_formula_bit_for_bit() {
        let xs = arguments();
        for (op, pick) in [
            (
                UnaryOp::Exp,
                (|r: &Routines| r.exp) as fn(&Routines) -> UnaryRoutine,
            ),
            (UnaryOp::Expm1, |r: &Routines| r.expm1),
        ] {
            let (arena, root) = lowered(op);
            for set in available() {
                let mut out = vec![0.0f64; xs.len()];
                // SAFETY: two arrays of xs.len() f64; `available` checked the features.
                unsafe {
                    pick(&set)(
                        xs.as_ptr().cast(),
                        out.as_mut_ptr().cast(),
                        1,
                        0,
                        xs.len() as u64,
                    )
                };
                for (&x, &got) in xs.iter().zip(&out) {
                    let want = interp::eval(&arena, &[root], &|_| x)[0];
                    assert!(
                        got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                        "{op:?} on {}: {x:e} gives {got:e}, the lowered formula {want:e}",
                        set.isa
                    );
                }
            }
        }
    }
}
