//! The Cranelift backend: a [`CellProgram`](crate::ir::CellProgram) to native code, in process.
//!
//! `compile` is a short sequence of steps:
//! 1. expand special functions into primitives ([`super::prepare`]);
//! 2. find which nodes vary per cell or per step; the rest is hoisted into the entry block;
//! 3. emit two loops (cells, then steps) whose body is one walk over the DAG in arena order;
//! 4. verify (debug builds), finalise, and hand back a typed function pointer.

use super::{prepare, Prepared, MAX_STEPS_PER_CALL, RUNAWAY_MV, STEP_KERNEL};
use crate::ir::{BinaryOp, Builtin, CellProgram, Expr, UnaryOp, Var};
use crate::passes::mathlib::Precision;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, AbiParam, InstBuilder, MemFlagsData, Type, Value};
use cranelift_codegen::isa::TargetFrontendConfig;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Linkage, Module};

/// The signature of the compiled step kernel (see the ABI in [`super`]).
pub type StepFn = unsafe extern "C" fn(*const *mut u8, u64, u64, f64, u64, *mut u64, *mut i32);

/// A compiled step kernel and the code memory that holds it.
pub struct CompiledStep {
    func: StepFn,
    precision: Precision,
    // Keeps the code alive; never touched after finalisation.
    _module: JITModule,
}

// SAFETY: the module's code memory is immutable after `finalize_definitions`, and the kernel is a
// pure function of its arguments; calling it from several threads on disjoint cells is sound.
unsafe impl Send for CompiledStep {}
unsafe impl Sync for CompiledStep {}

impl CompiledStep {
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Steps cells `[lo, hi)` by `nsteps` steps from time `t0`.
    ///
    /// # Safety
    /// `slots` must point to `slot_count` pointers, each to an array of at least `hi` elements of
    /// the kernel's float type; `spikes` and `bad` must have at least `hi` elements; no other
    /// thread may touch cells `[lo, hi)` of these arrays during the call; `nsteps ≤ 64`.
    #[allow(clippy::too_many_arguments)] // the kernel ABI, one argument each
    pub unsafe fn call(
        &self,
        slots: *const *mut u8,
        lo: u64,
        hi: u64,
        t0: f64,
        nsteps: u64,
        spikes: *mut u64,
        bad: *mut i32,
    ) {
        debug_assert!(nsteps <= MAX_STEPS_PER_CALL);
        // SAFETY: forwarded from the caller's contract.
        unsafe { (self.func)(slots, lo, hi, t0, nsteps, spikes, bad) }
    }
}

#[derive(Debug)]
pub struct JitError(pub String);

/// Compiles the fused step of `program` for the host CPU.
pub fn compile(program: &CellProgram, precision: Precision) -> Result<CompiledStep, JitError> {
    let prepared = prepare(program, precision);
    let isa = host_isa()?;
    let mut module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));

    let mut ctx = module.make_context();
    let ptr = module.target_config().pointer_type();
    for ty in [
        ptr,
        types::I64,
        types::I64,
        types::F64,
        types::I64,
        ptr,
        ptr,
    ] {
        ctx.func.signature.params.push(AbiParam::new(ty));
    }
    let mut fctx = FunctionBuilderContext::new();
    {
        let config = module.isa().frontend_config();
        let fb = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        Translator::new(fb, &prepared, precision, ptr, config).translate();
    }
    let id = module
        .declare_function(STEP_KERNEL, Linkage::Export, &ctx.func.signature)
        .map_err(|e| JitError(e.to_string()))?;
    // HHC_DUMP_VCODE=1 prints the machine code Cranelift chose (for tuning).
    let dump = std::env::var_os("HHC_DUMP_VCODE").is_some();
    ctx.set_disasm(dump);
    module
        .define_function(id, &mut ctx)
        .map_err(|e| JitError(format!("{e:?}")))?;
    if let Some(code) = ctx
        .compiled_code()
        .filter(|_| dump)
        .and_then(|c| c.vcode.clone())
    {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("{code}");
        }
    }
    module.clear_context(&mut ctx);
    module
        .finalize_definitions()
        .map_err(|e| JitError(e.to_string()))?;
    let code = module.get_finalized_function(id);
    // SAFETY: `code` is the entry of the function just defined with exactly `StepFn`'s signature.
    let func = unsafe { std::mem::transmute::<*const u8, StepFn>(code) };
    Ok(CompiledStep {
        func,
        precision,
        _module: module,
    })
}

/// The host ISA with every feature the CPU has (FMA, AVX2 …), optimising for speed; the
/// Cranelift verifier runs in debug builds.
fn host_isa() -> Result<cranelift_codegen::isa::OwnedTargetIsa, JitError> {
    let mut flags = settings::builder();
    let set = |f: &mut settings::Builder, k: &str, v: &str| {
        f.set(k, v).map_err(|e| JitError(format!("{k}: {e}")))
    };
    set(&mut flags, "opt_level", "speed")?;
    set(
        &mut flags,
        "enable_verifier",
        if cfg!(debug_assertions) {
            "true"
        } else {
            "false"
        },
    )?;
    let isa_builder = cranelift_native::builder().map_err(|e| JitError(e.to_string()))?;
    isa_builder
        .finish(settings::Flags::new(flags))
        .map_err(|e| JitError(e.to_string()))
}

/// Returns the Cranelift IR of the step kernel as text (`hhc compile --emit clif`).
pub fn clif_text(program: &CellProgram, precision: Precision) -> String {
    let prepared = prepare(program, precision);
    let mut func = cranelift_codegen::ir::Function::new();
    for ty in [
        types::I64,
        types::I64,
        types::I64,
        types::F64,
        types::I64,
        types::I64,
        types::I64,
    ] {
        func.signature.params.push(AbiParam::new(ty));
    }
    let mut fctx = FunctionBuilderContext::new();
    {
        let Ok(isa) = host_isa() else {
            return String::from("; no host ISA");
        };
        let config = isa.frontend_config();
        let fb = FunctionBuilder::new(&mut func, &mut fctx);
        Translator::new(fb, &prepared, precision, types::I64, config).translate();
    }
    func.display().to_string()
}

/// Vectors stepped together in the vector loop. A step is one long dependency chain (gates, then
/// currents, then V), so a second independent chain keeps the core busy while the first waits.
const VECTORS_IN_FLIGHT: u8 = 2;

/// One lane configuration: scalar, or a 128-bit vector of cells.
#[derive(Clone, Copy)]
struct Width {
    /// Float type of a value: F64, F32, F64X2 or F32X4.
    float: Type,
    /// Integer type of the same shape, for bit tricks and masks.
    int: Type,
    lanes: u8,
    /// Independent groups of lanes stepped together, so their dependency chains overlap.
    copies: u8,
}

struct Translator<'a> {
    fb: FunctionBuilder<'a>,
    p: &'a Prepared,
    scalar: Type,
    ptr: Type,
    values: Vec<Option<Value>>,
    config: TargetFrontendConfig,
}

impl<'a> Translator<'a> {
    fn new(
        fb: FunctionBuilder<'a>,
        p: &'a Prepared,
        precision: Precision,
        ptr: Type,
        config: TargetFrontendConfig,
    ) -> Self {
        let scalar = match precision {
            Precision::F64 => types::F64,
            Precision::F32 => types::F32,
        };
        Translator {
            fb,
            p,
            scalar,
            ptr,
            values: vec![None; p.exprs.len()],
            config,
        }
    }

    fn scalar_width(&self) -> Width {
        if self.scalar == types::F64 {
            Width {
                float: types::F64,
                int: types::I64,
                lanes: 1,
                copies: 1,
            }
        } else {
            Width {
                float: types::F32,
                int: types::I32,
                lanes: 1,
                copies: 1,
            }
        }
    }

    fn vector_width(&self) -> Width {
        if self.scalar == types::F64 {
            Width {
                float: types::F64X2,
                int: types::I64X2,
                lanes: 2,
                copies: VECTORS_IN_FLIGHT,
            }
        } else {
            Width {
                float: types::F32X4,
                int: types::I32X4,
                lanes: 4,
                copies: VECTORS_IN_FLIGHT,
            }
        }
    }

    fn lit(&mut self, w: Width, x: f64) -> Value {
        let s = if self.scalar == types::F64 {
            self.fb.ins().f64const(x)
        } else {
            self.fb.ins().f32const(x as f32)
        };
        if w.lanes == 1 {
            s
        } else {
            self.fb.ins().splat(w.float, s)
        }
    }

    fn translate(mut self) {
        let entry = self.fb.create_block();
        self.fb.append_block_params_for_function_params(entry);
        self.fb.switch_to_block(entry);
        let params = self.fb.block_params(entry).to_vec();
        let args = KernelArgs {
            slots: params[0],
            lo: params[1],
            hi: params[2],
            t0: params[3],
            nsteps: params[4],
            spikes: params[5],
            bad: params[6],
        };
        let mem = MemFlagsData::trusted();
        let bases: Vec<Value> = (0..self.p.slot_count)
            .map(|k| {
                self.fb
                    .ins()
                    .load(self.ptr, mem, args.slots, (k * 8) as i32)
            })
            .collect();
        let cell = self.fb.declare_var(types::I64);
        self.fb.def_var(cell, args.lo);
        let exit = self.fb.create_block();
        // Vector loop over whole groups of lanes, then a scalar loop over the rest. Both walk
        // the same DAG with lane-wise IEEE operations, so every cell gets the same bits.
        let vw = self.vector_width();
        let sw = self.scalar_width();
        let after_vector = self.fb.create_block();
        self.cell_loop(vw, &args, &bases, cell, after_vector);
        self.fb.switch_to_block(after_vector);
        self.cell_loop(sw, &args, &bases, cell, exit);
        self.fb.switch_to_block(exit);
        self.fb.ins().return_(&[]);
        self.fb.seal_all_blocks();
        self.fb.finalize(self.config);
    }

    /// Steps cells from `cell` while a whole group of `w.lanes · w.copies` fits below `hi`, then
    /// jumps to `done`.
    fn cell_loop(
        &mut self,
        w: Width,
        args: &KernelArgs,
        bases: &[Value],
        cell: Variable,
        done: cranelift_codegen::ir::Block,
    ) {
        let mem = MemFlagsData::trusted();
        let roots: Vec<_> = self
            .p
            .updates
            .iter()
            .map(|(_, e)| *e)
            .chain([self.p.spike])
            .collect();
        let order = self.p.exprs.reachable(&roots);
        // Hoisted, loop-invariant nodes for this width, shared by every copy.
        self.values.iter_mut().for_each(|v| *v = None);
        for &id in &order {
            if !self.p.varying[id.index()] {
                let v = self.emit(w, id, None);
                self.values[id.index()] = Some(v);
            }
        }
        let hoisted = self.values.clone();
        let copies = usize::from(w.copies);
        let lanes = usize::from(w.lanes);
        let group = (lanes * copies) as i64;
        let elem = i64::from(self.scalar.bytes());
        let step = self.fb.declare_var(types::I64);
        let masks: Vec<Variable> = (0..lanes * copies)
            .map(|_| self.fb.declare_var(types::I64))
            .collect();
        let first_bad: Vec<Variable> = (0..lanes * copies)
            .map(|_| self.fb.declare_var(types::I32))
            .collect();
        // Slot variables interleaved by copy, so the copies' chains are elaborated side by side.
        let slot_vars: Vec<Vec<Variable>> = {
            let mut per_copy = vec![Vec::new(); copies];
            for _ in 0..self.p.slot_count {
                for v in per_copy.iter_mut() {
                    v.push(self.fb.declare_var(w.float));
                }
            }
            per_copy
        };

        let head = self.fb.create_block();
        let body = self.fb.create_block();
        let step_head = self.fb.create_block();
        let step_body = self.fb.create_block();
        let cell_end = self.fb.create_block();
        self.fb.ins().jump(head, &[]);

        self.fb.switch_to_block(head);
        let c = self.fb.use_var(cell);
        let last = self.fb.ins().iadd_imm_s(c, group);
        let more = self
            .fb
            .ins()
            .icmp(IntCC::UnsignedLessThanOrEqual, last, args.hi);
        self.fb.ins().brif(more, body, &[], done, &[]);

        self.fb.switch_to_block(body);
        let c = self.fb.use_var(cell);
        let offset = self.fb.ins().imul_imm_s(c, elem);
        let addrs: Vec<Value> = bases
            .iter()
            .map(|&b| self.fb.ins().iadd(b, offset))
            .collect();
        let copy_bytes = (lanes as i64 * elem) as i32;
        for (k, &a) in addrs.iter().enumerate() {
            for (q, vars) in slot_vars.iter().enumerate() {
                let x = self.fb.ins().load(w.float, mem, a, copy_bytes * q as i32);
                self.fb.def_var(vars[k], x);
            }
        }
        let zero = self.fb.ins().iconst(types::I64, 0);
        self.fb.def_var(step, zero);
        let none = self.fb.ins().iconst(types::I32, -1);
        for l in 0..lanes * copies {
            self.fb.def_var(masks[l], zero);
            self.fb.def_var(first_bad[l], none);
        }
        self.fb.ins().jump(step_head, &[]);

        self.fb.switch_to_block(step_head);
        let j = self.fb.use_var(step);
        let more = self.fb.ins().icmp(IntCC::UnsignedLessThan, j, args.nsteps);
        self.fb.ins().brif(more, step_body, &[], cell_end, &[]);

        self.fb.switch_to_block(step_body);
        let j = self.fb.use_var(step);
        let jf = self.fb.ins().fcvt_from_uint(types::F64, j);
        let dt = self.fb.ins().f64const(self.p.dt);
        let t64 = self.fb.ins().fma(jf, dt, args.t0);
        let t = if self.scalar == types::F64 {
            t64
        } else {
            self.fb.ins().fdemote(types::F32, t64)
        };
        let t = if w.lanes == 1 {
            t
        } else {
            self.fb.ins().splat(w.float, t)
        };
        let limit = self.lit(w, RUNAWAY_MV);
        let j32 = self.fb.ins().ireduce(types::I32, j);
        let mut new_values: Vec<Vec<(usize, Value)>> = Vec::new();
        let mut copy_values: Vec<Vec<Option<Value>>> = Vec::new();
        for vars in &slot_vars {
            let slot_values: Vec<Value> = vars.iter().map(|&v| self.fb.use_var(v)).collect();
            self.values.clone_from(&hoisted);
            for &id in &order {
                if self.p.varying[id.index()] {
                    let v = self.emit(w, id, Some((&slot_values, t)));
                    self.values[id.index()] = Some(v);
                }
            }
            copy_values.push(std::mem::take(&mut self.values));
            self.values = vec![None; self.p.exprs.len()];
        }
        for (q, vars) in slot_vars.iter().enumerate() {
            self.values = std::mem::take(&mut copy_values[q]);
            let spike = self.val(self.p.spike);
            let v_new = match self.p.updates.iter().find(|(s, _)| *s == 0) {
                Some((_, e)) => self.val(*e),
                None => self.fb.use_var(vars[0]),
            };
            let av = self.fb.ins().fabs(v_new);
            // `!(|v| <= limit)` is true for NaN as well.
            let fine = self.fb.ins().fcmp(FloatCC::LessThanOrEqual, av, limit);
            for l in 0..lanes {
                let (spk, ok) = if w.lanes == 1 {
                    (spike, fine)
                } else {
                    let s = self.fb.ins().extractlane(spike, l as u8);
                    let f = self.fb.ins().extractlane(fine, l as u8);
                    (
                        self.fb.ins().icmp_imm_s(IntCC::NotEqual, s, 0),
                        self.fb.ins().icmp_imm_s(IntCC::NotEqual, f, 0),
                    )
                };
                let idx = q * lanes + l;
                let bit = self.fb.ins().uextend(types::I64, spk);
                let shifted = self.fb.ins().ishl(bit, j);
                let m = self.fb.use_var(masks[idx]);
                let m = self.fb.ins().bor(m, shifted);
                self.fb.def_var(masks[idx], m);
                let fb_ = self.fb.use_var(first_bad[idx]);
                let unset = self.fb.ins().icmp_imm_s(IntCC::SignedLessThan, fb_, 0);
                let is_bad = self.fb.ins().icmp_imm_s(IntCC::Equal, ok, 0);
                let record = self.fb.ins().band(unset, is_bad);
                let nb = self.fb.ins().select(record, j32, fb_);
                self.fb.def_var(first_bad[idx], nb);
            }
            new_values.push(
                self.p
                    .updates
                    .iter()
                    .map(|(s, e)| (*s as usize, self.val(*e)))
                    .collect(),
            );
        }
        for (vars, news) in slot_vars.iter().zip(new_values) {
            for (s, v) in news {
                self.fb.def_var(vars[s], v);
            }
        }
        let j1 = self.fb.ins().iadd_imm_s(j, 1);
        self.fb.def_var(step, j1);
        self.fb.ins().jump(step_head, &[]);

        self.fb.switch_to_block(cell_end);
        for (k, &a) in addrs.iter().enumerate() {
            for (q, vars) in slot_vars.iter().enumerate() {
                let x = self.fb.use_var(vars[k]);
                self.fb.ins().store(mem, x, a, copy_bytes * q as i32);
            }
        }
        let c = self.fb.use_var(cell);
        let off8 = self.fb.ins().ishl_imm_u(c, 3);
        let sa = self.fb.ins().iadd(args.spikes, off8);
        let off4 = self.fb.ins().ishl_imm_u(c, 2);
        let ba = self.fb.ins().iadd(args.bad, off4);
        for l in 0..lanes * copies {
            let m = self.fb.use_var(masks[l]);
            self.fb.ins().store(mem, m, sa, (8 * l) as i32);
            let b = self.fb.use_var(first_bad[l]);
            self.fb.ins().store(mem, b, ba, (4 * l) as i32);
        }
        let c1 = self.fb.ins().iadd_imm_s(c, group);
        self.fb.def_var(cell, c1);
        self.fb.ins().jump(head, &[]);
    }

    fn val(&self, id: crate::ir::ExprId) -> Value {
        self.values[id.index()].unwrap_or_else(unreachable_value)
    }

    /// One node. Scalar booleans are `i8` from `fcmp`; vector booleans are lane masks.
    fn emit(
        &mut self,
        w: Width,
        id: crate::ir::ExprId,
        inputs: Option<(&[Value], Value)>,
    ) -> Value {
        let e = *self.p.exprs.get(id);
        let vector = w.lanes > 1;
        match e {
            Expr::Lit(bits) => self.lit(w, f64::from_bits(bits)),
            Expr::Var(Var::Slot(s)) => {
                inputs.map_or_else(|| self.lit(w, 0.0), |(slots, _)| slots[s as usize])
            }
            Expr::Var(Var::Builtin(Builtin::T)) => {
                inputs.map_or_else(|| self.lit(w, 0.0), |(_, t)| t)
            }
            Expr::Var(_) => self.lit(w, 0.0),
            Expr::Unary(op, a) => {
                let a = self.val(a);
                let ins = self.fb.ins();
                match op {
                    UnaryOp::Neg => ins.fneg(a),
                    UnaryOp::Not if vector => ins.bnot(a),
                    UnaryOp::Not => ins.icmp_imm_s(IntCC::Equal, a, 0),
                    UnaryOp::Fabs => ins.fabs(a),
                    UnaryOp::Sqrt => ins.sqrt(a),
                    UnaryOp::Floor => ins.floor(a),
                    UnaryOp::Round => ins.nearest(a),
                    // Expanded by `prepare`; never reaches here.
                    UnaryOp::Exp
                    | UnaryOp::Expm1
                    | UnaryOp::Log
                    | UnaryOp::Log10
                    | UnaryOp::Tanh
                    | UnaryOp::Frozen
                    | UnaryOp::Exprelr => a,
                }
            }
            Expr::Binary(op, a, b) => {
                let (a, b) = (self.val(a), self.val(b));
                let ins = self.fb.ins();
                match op {
                    BinaryOp::Add => ins.fadd(a, b),
                    BinaryOp::Sub => ins.fsub(a, b),
                    BinaryOp::Mul => ins.fmul(a, b),
                    BinaryOp::Div => ins.fdiv(a, b),
                    BinaryOp::Min => ins.fmin(a, b),
                    BinaryOp::Max => ins.fmax(a, b),
                    BinaryOp::Lt => ins.fcmp(FloatCC::LessThan, a, b),
                    BinaryOp::Le => ins.fcmp(FloatCC::LessThanOrEqual, a, b),
                    BinaryOp::Gt => ins.fcmp(FloatCC::GreaterThan, a, b),
                    BinaryOp::Ge => ins.fcmp(FloatCC::GreaterThanOrEqual, a, b),
                    BinaryOp::Eq => ins.fcmp(FloatCC::Equal, a, b),
                    BinaryOp::Ne => ins.fcmp(FloatCC::NotEqual, a, b),
                    BinaryOp::And => ins.band(a, b),
                    BinaryOp::Or => ins.bor(a, b),
                    BinaryOp::Ldexp => self.ldexp(w, a, b),
                    BinaryOp::Pow => a, // expanded by `prepare`
                }
            }
            Expr::Fma(a, b, c) => {
                let (a, b, c) = (self.val(a), self.val(b), self.val(c));
                self.fb.ins().fma(a, b, c)
            }
            Expr::Select(c, a, b) => {
                let (c, a, b) = (self.val(c), self.val(a), self.val(b));
                if vector {
                    let mask = self.fb.ins().bitcast(w.float, MemFlagsData::new(), c);
                    self.fb.ins().bitselect(mask, a, b)
                } else {
                    self.fb.ins().select(c, a, b)
                }
            }
        }
    }

    /// `x · 2^k` for integer-valued `k` in the normal exponent range. Adding 1.5·2^52 (f32:
    /// 1.5·2^23) puts `k` in the low bits; adding the bias and shifting builds `2^k`'s bits.
    fn ldexp(&mut self, w: Width, x: Value, k: Value) -> Value {
        let (magic, magic_bits, bias, shift): (f64, i64, i64, i64) = if self.scalar == types::F64 {
            (6_755_399_441_055_744.0, 0x4338_0000_0000_0000, 1023, 52)
        } else {
            (12_582_912.0, 0x4B40_0000, 127, 23)
        };
        let m = self.lit(w, magic);
        let t = self.fb.ins().fadd(k, m);
        let bits = self.fb.ins().bitcast(w.int, MemFlagsData::new(), t);
        let lane_int = w.int.lane_type();
        let offset = self
            .fb
            .ins()
            .iconst(lane_int, bias.wrapping_sub(magic_bits));
        let offset = if w.lanes == 1 {
            offset
        } else {
            self.fb.ins().splat(w.int, offset)
        };
        let biased = self.fb.ins().iadd(bits, offset);
        let shifted = self.fb.ins().ishl_imm_u(biased, shift);
        let scale = self.fb.ins().bitcast(w.float, MemFlagsData::new(), shifted);
        self.fb.ins().fmul(x, scale)
    }
}

struct KernelArgs {
    slots: Value,
    lo: Value,
    hi: Value,
    t0: Value,
    nsteps: Value,
    spikes: Value,
    bad: Value,
}

fn unreachable_value() -> Value {
    Value::from_u32(0)
}
