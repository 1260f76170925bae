//! The PTX backend: a [`CellProgram`] to PTX text, one thread per cell.
//!
//! The same [`prepare`](super::prepare)d DAG as the Cranelift backend, walked in the same
//! order, with the same hoisting of loop-invariant nodes. Target overrides:
//! * the cell index is `lo + ctaid.x·ntid.x + tid.x` instead of a loop;
//! * every operation is spelled with an explicit rounding mode (`add.rn`, `div.rn`, `fma.rn`), so
//!   ptxas cannot contract `a·b + c` behind our back and results match the CPU;
//! * `ldexp` builds `2^k` from bits with `cvt.rni` (which saturates), `shl` and `mov.b64`.
//!
//! Each thread keeps its cell's slots in registers for `nsteps` steps (the fused multi-step
//! kernel), loading and storing them once. Loads and stores are coalesced: slot arrays are
//! structure-of-arrays and consecutive threads take consecutive cells.
//!
//! A second, fixed kernel, [`COMPACT_KERNEL`], gathers the non-zero spike words and the first
//! bad step into small buffers, so the host copies back only what happened.

use super::{prepare_with, MAX_STEPS_PER_CALL, RUNAWAY_MV, STEP_KERNEL};
use crate::ir::{BinaryOp, Builtin, CellProgram, Expr, UnaryOp, Var};
use crate::passes::mathlib::MathMode;
use crate::passes::mathlib::Precision;
use std::fmt::Write;

pub const COMPACT_KERNEL: &str = "hhc_compact";

struct Ty {
    f: &'static str,
    bits: &'static str,
    int: &'static str,
    bias: i64,
    shift: u32,
    size: u64,
}

const F64: Ty = Ty {
    f: "f64",
    bits: "b64",
    int: "s64",
    bias: 1023,
    shift: 52,
    size: 8,
};
const F32: Ty = Ty {
    f: "f32",
    bits: "b32",
    int: "s32",
    bias: 127,
    shift: 23,
    size: 4,
};

fn lit(ty: &Ty, x: f64) -> String {
    if ty.size == 8 {
        format!("0d{:016X}", x.to_bits())
    } else {
        format!("0f{:08X}", (x as f32).to_bits())
    }
}

/// PTX for the fused step kernel and the compaction kernel, for `sm_{sm}`.
///
/// f64 kernels use the portable math of [`crate::passes::mathlib`] and match the CPU bit for bit.
/// f32 kernels use the GPU's fast paths, as CUDA's `--use_fast_math` does: `exp` is
/// `ex2.approx.ftz` on `x·log2 e` split into a rounded product and its fma-exact error (so the
/// rounding of the product costs nothing: about 2 ulp), `log` is `lg2.approx`, division is
/// `div.full` (2 ulp). f32 results agree with the CPU's f32 within a few ulp per step.
pub fn emit_program(program: &CellProgram, precision: Precision, sm: u32) -> String {
    let fast = precision == Precision::F32;
    let mode = if fast {
        MathMode::NativeExpLog
    } else {
        MathMode::Portable
    };
    let p = prepare_with(program, precision, mode);
    let ty = match precision {
        Precision::F64 => F64,
        Precision::F32 => F32,
    };
    let roots: Vec<_> = p.updates.iter().map(|(_, e)| *e).chain([p.spike]).collect();
    let order = p.exprs.reachable(&roots);
    let reg = |id: crate::ir::ExprId| {
        if p.exprs.get(id).is_boolean() {
            format!("%p{}", id.0)
        } else {
            format!("%x{}", id.0)
        }
    };
    let mut body = String::new();
    let mut hoisted = String::new();
    for &id in &order {
        let out = if p.varying[id.index()] {
            &mut body
        } else {
            &mut hoisted
        };
        let r = reg(id);
        let f = ty.f;
        let line = match *p.exprs.get(id) {
            Expr::Lit(b) => format!("mov.{f} {r}, {};", lit(&ty, f64::from_bits(b))),
            Expr::Var(Var::Slot(s)) => format!("mov.{f} {r}, %s{s};"),
            Expr::Var(Var::Builtin(Builtin::T)) => format!("mov.{f} {r}, %t;"),
            Expr::Var(_) => format!("mov.{f} {r}, {};", lit(&ty, 0.0)),
            Expr::Unary(op, a) => {
                let a = reg(a);
                match op {
                    UnaryOp::Neg => format!("neg.{f} {r}, {a};"),
                    UnaryOp::Not => format!("not.pred {r}, {a};"),
                    UnaryOp::Fabs => format!("abs.{f} {r}, {a};"),
                    UnaryOp::Sqrt => format!("sqrt.rn.{f} {r}, {a};"),
                    UnaryOp::Floor => format!("cvt.rmi.{f}.{f} {r}, {a};"),
                    UnaryOp::Round => format!("cvt.rni.{f}.{f} {r}, {a};"),
                    // f32 fast math: exp(x) = 2^hi · (1 + lo·ln2), hi + lo = x·log2 e exactly; inf·1 stays inf.
                    UnaryOp::Exp => {
                        let i = id.0;
                        format!(
                            "mul.rn.f32 %y{i}, {a}, 0f3FB8AA3B;\n\tneg.f32 %z{i}, %y{i};\n\tfma.rn.f32 %z{i}, {a}, 0f3FB8AA3B, %z{i};\n\tex2.approx.ftz.f32 %y{i}, %y{i};\n\tfma.rn.f32 %z{i}, %z{i}, 0f3F317218, 0f3F800000;\n\tmul.rn.f32 {r}, %y{i}, %z{i};"
                        )
                    }
                    UnaryOp::Log => {
                        format!("lg2.approx.ftz.f32 {r}, {a};\n\tmul.rn.f32 {r}, {r}, 0f3F317218;")
                    }
                    // f64 only: the entry at the low three bits of `k + 1.5·2^52` (see `ir::exp2`).
                    UnaryOp::Exp2Scale | UnaryOp::Exp2Tail => {
                        let i = id.0;
                        let index = format!(
                            "add.rn.f64 %y{i}, {a}, {};\n\tmov.b64 %k{i}, %y{i};\n\tand.b64 %e0, %k{i}, {mask};\n\tshl.b64 %e0, %e0, 3;",
                            lit(&F64, crate::ir::exp2::ROUND_MAGIC),
                            mask = crate::ir::exp2::INDEX_MASK
                        );
                        if op == UnaryOp::Exp2Scale {
                            format!(
                                "{index}\n\tmov.u64 %e1, {EXP2_SCALE_TABLE};\n\tadd.u64 %e1, %e1, %e0;\n\tld.global.nc.u64 %e2, [%e1];\n\tshl.b64 %e0, %k{i}, {};\n\tadd.u64 %e2, %e2, %e0;\n\tmov.b64 {r}, %e2;",
                                crate::ir::exp2::SCALE_SHIFT
                            )
                        } else {
                            format!("{index}\n\tmov.u64 %e1, {EXP2_TAIL_TABLE};\n\tadd.u64 %e1, %e1, %e0;\n\tld.global.nc.f64 {r}, [%e1];")
                        }
                    }
                    // Expanded by `prepare`.
                    _ => format!("mov.{f} {r}, {a};"),
                }
            }
            Expr::Binary(op, a, b) => {
                let (a, b) = (reg(a), reg(b));
                match op {
                    BinaryOp::Add => format!("add.rn.{f} {r}, {a}, {b};"),
                    BinaryOp::Sub => format!("sub.rn.{f} {r}, {a}, {b};"),
                    BinaryOp::Mul => format!("mul.rn.{f} {r}, {a}, {b};"),
                    BinaryOp::Div if fast => format!("div.full.f32 {r}, {a}, {b};"),
                    BinaryOp::Div => format!("div.rn.{f} {r}, {a}, {b};"),
                    // PTX min/max return the non-NaN operand; the IR's propagate NaN.
                    BinaryOp::Min | BinaryOp::Max => {
                        let (i, op) = (id.0, if op == BinaryOp::Min { "min" } else { "max" });
                        format!("{op}.{f} {r}, {a}, {b};\n\tsetp.nan.{f} %p{i}, {a}, {b};\n\t@%p{i} add.rn.{f} {r}, {a}, {b};")
                    }
                    BinaryOp::Lt => format!("setp.lt.{f} {r}, {a}, {b};"),
                    BinaryOp::Le => format!("setp.le.{f} {r}, {a}, {b};"),
                    BinaryOp::Gt => format!("setp.gt.{f} {r}, {a}, {b};"),
                    BinaryOp::Ge => format!("setp.ge.{f} {r}, {a}, {b};"),
                    BinaryOp::Eq => format!("setp.eq.{f} {r}, {a}, {b};"),
                    BinaryOp::Ne => format!("setp.neu.{f} {r}, {a}, {b};"),
                    BinaryOp::And => format!("and.pred {r}, {a}, {b};"),
                    BinaryOp::Or => format!("or.pred {r}, {a}, {b};"),
                    BinaryOp::Ldexp => {
                        let (i, int) = (id.0, ty.int);
                        format!(
                            "cvt.rni.{int}.{f} %k{i}, {b};\n\tadd.{int} %k{i}, %k{i}, {};\n\tshl.{} %k{i}, %k{i}, {};\n\tmov.{} %y{i}, %k{i};\n\tmul.rn.{f} {r}, {a}, %y{i};",
                            ty.bias, ty.bits, ty.shift, ty.bits
                        )
                    }
                    BinaryOp::Pow => format!("mov.{f} {r}, {a};"),
                }
            }
            Expr::Fma(a, b, c) => format!("fma.rn.{f} {r}, {}, {}, {};", reg(a), reg(b), reg(c)),
            Expr::Select(c, a, b) => format!("selp.{f} {r}, {}, {}, {};", reg(a), reg(b), reg(c)),
            // The conversion saturates and takes NaN to 0; then the clamp to the table.
            Expr::TableEntry(t, index) => {
                let last = p.exprs.table_values(t).len() - 1;
                format!(
                    "cvt.rzi.s64.{f} %e0, {};\n\tmax.s64 %e0, %e0, 0;\n\tmin.s64 %e0, %e0, {last};\n\tmov.u64 %e1, {TABLE_PREFIX}{};\n\tmad.lo.u64 %e1, %e0, {}, %e1;\n\tld.global.nc.{f} {r}, [%e1];",
                    reg(index),
                    t.0,
                    ty.size
                )
            }
        };
        let _ = writeln!(out, "\t{line}");
    }
    let n_nodes = p.exprs.len();
    let n_slots = p.slot_count;
    let f = ty.f;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "// hhc: fused step kernel for cell `{}`, {} slots, dt = {} ms",
        program.name,
        n_slots,
        crate::ir::print::fmt_f64(p.dt)
    );
    let _ = writeln!(s, "// ABI: (slots, lo, hi, t0, nsteps <= {MAX_STEPS_PER_CALL}, spikes, bad), as the Cranelift kernel.");
    let _ = writeln!(s, ".version 8.0\n.target sm_{sm}\n.address_size 64\n");
    if ty.size == 8 {
        s.push_str(&exp2_tables());
    }
    s.push_str(&kernel_tables(&p.exprs, &ty));
    let _ = writeln!(s, ".visible .entry {STEP_KERNEL}(\n\t.param .u64 p_slots,\n\t.param .u64 p_lo,\n\t.param .u64 p_hi,\n\t.param .f64 p_t0,\n\t.param .u64 p_nsteps,\n\t.param .u64 p_spikes,\n\t.param .u64 p_bad\n)\n{{");
    let _ = writeln!(s, "\t.reg .{f} %x<{n_nodes}>;\n\t.reg .pred %p<{n_nodes}>;\n\t.reg .{} %k<{n_nodes}>;\n\t.reg .{f} %y<{n_nodes}>;\n\t.reg .{f} %z<{n_nodes}>;", ty.int);
    let _ = writeln!(
        s,
        "\t.reg .{f} %s<{}>;\n\t.reg .{f} %t, %vabs, %vlim;\n\t.reg .u64 %base<{}>, %addr<{}>;",
        n_slots.max(1),
        n_slots.max(1),
        n_slots.max(1)
    );
    let _ = writeln!(s, "\t.reg .u64 %e0, %e1, %e2;");
    let _ = writeln!(s, "\t.reg .u64 %cell, %lo, %hi, %nsteps, %j, %mask, %bit, %tmp, %slots, %spikes, %bad;\n\t.reg .u32 %rtid, %rntid, %rctaid, %j32;\n\t.reg .s32 %firstbad;\n\t.reg .f64 %t0, %jf, %t64;\n\t.reg .pred %more, %spk, %fine, %unset, %record, %p_done;");
    let _ = writeln!(s, "\tld.param.u64 %slots, [p_slots];\n\tld.param.u64 %lo, [p_lo];\n\tld.param.u64 %hi, [p_hi];\n\tld.param.f64 %t0, [p_t0];\n\tld.param.u64 %nsteps, [p_nsteps];\n\tld.param.u64 %spikes, [p_spikes];\n\tld.param.u64 %bad, [p_bad];");
    let _ = writeln!(s, "\tmov.u32 %rtid, %tid.x;\n\tmov.u32 %rntid, %ntid.x;\n\tmov.u32 %rctaid, %ctaid.x;\n\tmul.wide.u32 %cell, %rctaid, %rntid;\n\tcvt.u64.u32 %tmp, %rtid;\n\tadd.u64 %cell, %cell, %tmp;\n\tadd.u64 %cell, %cell, %lo;");
    let _ = writeln!(
        s,
        "\tsetp.ge.u64 %p_done, %cell, %hi;\n\t@%p_done bra DONE;"
    );
    let _ = writeln!(s, "\tcvta.to.global.u64 %slots, %slots;\n\tcvta.to.global.u64 %spikes, %spikes;\n\tcvta.to.global.u64 %bad, %bad;");
    for k in 0..n_slots {
        let _ = writeln!(s, "\tld.global.u64 %base{k}, [%slots+{}];\n\tcvta.to.global.u64 %base{k}, %base{k};\n\tmad.lo.u64 %addr{k}, %cell, {}, %base{k};\n\tld.global.{f} %s{k}, [%addr{k}];", 8 * k, ty.size);
    }
    let _ = writeln!(
        s,
        "\t// loop-invariant nodes, hoisted\n{hoisted}\tmov.{f} %vlim, {};",
        lit(&ty, RUNAWAY_MV)
    );
    let _ = writeln!(
        s,
        "\tmov.u64 %j, 0;\n\tmov.u64 %mask, 0;\n\tmov.s32 %firstbad, -1;"
    );
    let _ = writeln!(
        s,
        "STEP:\n\tsetp.ge.u64 %p_done, %j, %nsteps;\n\t@%p_done bra STORE;"
    );
    let _ = writeln!(
        s,
        "\tcvt.rn.f64.u64 %jf, %j;\n\tfma.rn.f64 %t64, %jf, {}, %t0;",
        lit(&F64, p.dt)
    );
    if ty.size == 8 {
        let _ = writeln!(s, "\tmov.f64 %t, %t64;");
    } else {
        let _ = writeln!(s, "\tcvt.rn.f32.f64 %t, %t64;");
    }
    s.push_str(&body);
    let spike = reg(p.spike);
    let _ = writeln!(s, "\tselp.u64 %bit, 1, 0, {spike};\n\tcvt.u32.u64 %j32, %j;\n\tshl.b64 %bit, %bit, %j32;\n\tor.b64 %mask, %mask, %bit;");
    let v_new = p
        .updates
        .iter()
        .find(|(s, _)| *s == 0)
        .map_or("%s0".to_string(), |(_, e)| reg(*e));
    let _ = writeln!(s, "\tabs.{f} %vabs, {v_new};\n\tsetp.le.{f} %fine, %vabs, %vlim;\n\tsetp.lt.s32 %unset, %firstbad, 0;\n\tnot.pred %fine, %fine;\n\tand.pred %record, %unset, %fine;\n\t@%record cvt.u32.u64 %j32, %j;\n\t@%record mov.b32 %firstbad, %j32;");
    for (slot, e) in &p.updates {
        let _ = writeln!(s, "\tmov.{f} %s{slot}, {};", reg(*e));
    }
    let _ = writeln!(s, "\tadd.u64 %j, %j, 1;\n\tbra STEP;\nSTORE:");
    for k in 0..n_slots {
        let _ = writeln!(s, "\tst.global.{f} [%addr{k}], %s{k};");
    }
    let _ = writeln!(s, "\tmad.lo.u64 %tmp, %cell, 8, %spikes;\n\tst.global.u64 [%tmp], %mask;\n\tmad.lo.u64 %tmp, %cell, 4, %bad;\n\tst.global.s32 [%tmp], %firstbad;\nDONE:\n\tret;\n}}\n");
    s.push_str(&compact_kernel());
    s
}

/// A TABLE's entries are the global `hhc_table<k>` for the arena's table `k`.
const TABLE_PREFIX: &str = "hhc_table";

/// The arena's TABLE entries as module-scope globals, in the kernel's precision.
fn kernel_tables(exprs: &crate::ir::ExprArena, ty: &Ty) -> String {
    let mut s = String::new();
    for t in 0..exprs.table_count() {
        let values = exprs.table_values(crate::ir::TableId(t as u32));
        let list: Vec<String> = values.iter().map(|&x| lit(ty, x)).collect();
        let _ = writeln!(
            s,
            ".global .align 8 .{} {TABLE_PREFIX}{t}[{}] = {{{}}};\n",
            ty.f,
            values.len(),
            list.join(", ")
        );
    }
    s
}

const EXP2_SCALE_TABLE: &str = "hhc_exp2_scale";
const EXP2_TAIL_TABLE: &str = "hhc_exp2_tail";

/// The f64 exp tables of [`crate::ir::exp2`] as module-scope globals.
fn exp2_tables() -> String {
    let list = |bits: &[u64], prefix: &str| {
        bits.iter()
            .map(|b| format!("{prefix}{b:016X}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        ".global .align 8 .u64 {EXP2_SCALE_TABLE}[{n}] = {{{}}};\n.global .align 8 .f64 {EXP2_TAIL_TABLE}[{n}] = {{{}}};\n\n",
        list(&crate::ir::exp2::EXP2_SCALE_BITS.0, "0x"),
        list(&crate::ir::exp2::EXP2_TAIL_BITS.0, "0d"),
        n = crate::ir::exp2::EXP2_SCALE_BITS.len()
    )
}

/// Gathers `(cell, word)` for every non-zero spike word of cells `[lo, hi)` into `out`, counting
/// them in `counter[0]`, and keeps in `counter[1]` the minimum of `(bad_step << 32) | cell`.
fn compact_kernel() -> String {
    format!(
        r".visible .entry {COMPACT_KERNEL}(
	.param .u64 p_words,
	.param .u64 p_bad,
	.param .u64 p_lo,
	.param .u64 p_hi,
	.param .u64 p_out,
	.param .u64 p_counter
)
{{
	.reg .u64 %cell, %lo, %hi, %words, %bad, %out, %counter, %w, %tmp, %idx, %key, %b64;
	.reg .u32 %rtid, %rntid, %rctaid;
	.reg .s32 %b;
	.reg .pred %p, %zero, %nobad;
	ld.param.u64 %words, [p_words];
	ld.param.u64 %bad, [p_bad];
	ld.param.u64 %lo, [p_lo];
	ld.param.u64 %hi, [p_hi];
	ld.param.u64 %out, [p_out];
	ld.param.u64 %counter, [p_counter];
	cvta.to.global.u64 %words, %words;
	cvta.to.global.u64 %bad, %bad;
	cvta.to.global.u64 %out, %out;
	cvta.to.global.u64 %counter, %counter;
	mov.u32 %rtid, %tid.x;
	mov.u32 %rntid, %ntid.x;
	mov.u32 %rctaid, %ctaid.x;
	mul.wide.u32 %cell, %rctaid, %rntid;
	cvt.u64.u32 %tmp, %rtid;
	add.u64 %cell, %cell, %tmp;
	add.u64 %cell, %cell, %lo;
	setp.ge.u64 %p, %cell, %hi;
	@%p bra END;
	mad.lo.u64 %tmp, %cell, 8, %words;
	ld.global.u64 %w, [%tmp];
	setp.eq.u64 %zero, %w, 0;
	@%zero bra BAD;
	atom.global.add.u64 %idx, [%counter], 1;
	mad.lo.u64 %tmp, %idx, 16, %out;
	st.global.u64 [%tmp], %cell;
	st.global.u64 [%tmp+8], %w;
BAD:
	mad.lo.u64 %tmp, %cell, 4, %bad;
	ld.global.s32 %b, [%tmp];
	setp.lt.s32 %nobad, %b, 0;
	@%nobad bra END;
	cvt.u64.s32 %b64, %b;
	shl.b64 %key, %b64, 32;
	or.b64 %key, %key, %cell;
	atom.global.min.u64 %tmp, [%counter+8], %key;
END:
	ret;
}}
"
    )
}
