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
    pub unsafe fn call(&self, slots: *const *mut u8, lo: u64, hi: u64, t0: f64, nsteps: u64, spikes: *mut u64, bad: *mut i32) {
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
    for ty in [ptr, types::I64, types::I64, types::F64, types::I64, ptr, ptr] {
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
    module.define_function(id, &mut ctx).map_err(|e| JitError(format!("{e:?}")))?;
    module.clear_context(&mut ctx);
    module.finalize_definitions().map_err(|e| JitError(e.to_string()))?;
    let code = module.get_finalized_function(id);
    // SAFETY: `code` is the entry of the function just defined with exactly `StepFn`'s signature.
    let func = unsafe { std::mem::transmute::<*const u8, StepFn>(code) };
    Ok(CompiledStep { func, precision, _module: module })
}

/// The host ISA with every feature the CPU has (FMA, AVX2 …), optimising for speed; the
/// Cranelift verifier runs in debug builds.
fn host_isa() -> Result<cranelift_codegen::isa::OwnedTargetIsa, JitError> {
    let mut flags = settings::builder();
    let set = |f: &mut settings::Builder, k: &str, v: &str| f.set(k, v).map_err(|e| JitError(format!("{k}: {e}")));
    set(&mut flags, "opt_level", "speed")?;
    set(&mut flags, "enable_verifier", if cfg!(debug_assertions) { "true" } else { "false" })?;
    let isa_builder = cranelift_native::builder().map_err(|e| JitError(e.to_string()))?;
    isa_builder.finish(settings::Flags::new(flags)).map_err(|e| JitError(e.to_string()))
}

/// Returns the Cranelift IR of the step kernel as text (`hhc compile --emit clif`).
pub fn clif_text(program: &CellProgram, precision: Precision) -> String {
    let prepared = prepare(program, precision);
    let mut func = cranelift_codegen::ir::Function::new();
    for ty in [types::I64, types::I64, types::I64, types::F64, types::I64, types::I64, types::I64] {
        func.signature.params.push(AbiParam::new(ty));
    }
    let mut fctx = FunctionBuilderContext::new();
    {
        let Ok(isa) = host_isa() else { return String::from("; no host ISA") };
        let config = isa.frontend_config();
        let fb = FunctionBuilder::new(&mut func, &mut fctx);
        Translator::new(fb, &prepared, precision, types::I64, config).translate();
    }
    func.display().to_string()
}

struct Translator<'a> {
    fb: FunctionBuilder<'a>,
    p: &'a Prepared,
    ty: Type,
    int: Type,
    ptr: Type,
    values: Vec<Option<Value>>,
    varying: Vec<bool>,
    config: TargetFrontendConfig,
}

impl<'a> Translator<'a> {
    fn new(fb: FunctionBuilder<'a>, p: &'a Prepared, precision: Precision, ptr: Type, config: TargetFrontendConfig) -> Self {
        let (ty, int) = match precision {
            Precision::F64 => (types::F64, types::I64),
            Precision::F32 => (types::F32, types::I32),
        };
        // A node varies when it reads a slot or the time.
        let mut varying = vec![false; p.exprs.len()];
        for (id, e) in p.exprs.iter() {
            varying[id.index()] = match e {
                Expr::Var(Var::Slot(_) | Var::Builtin(Builtin::T)) => true,
                Expr::Var(_) | Expr::Lit(_) => false,
                _ => e.children().any(|c| varying[c.index()]),
            };
        }
        Translator { fb, p, ty, int, ptr, values: vec![None; p.exprs.len()], varying, config }
    }

    fn lit(&mut self, x: f64) -> Value {
        if self.ty == types::F64 {
            self.fb.ins().f64const(x)
        } else {
            self.fb.ins().f32const(x as f32)
        }
    }

    fn translate(mut self) {
        let entry = self.fb.create_block();
        self.fb.append_block_params_for_function_params(entry);
        self.fb.switch_to_block(entry);
        let params = self.fb.block_params(entry).to_vec();
        let (slots_ptr, lo, hi, t0, nsteps, spikes, bad) = (params[0], params[1], params[2], params[3], params[4], params[5], params[6]);
        let roots: Vec<_> = self.p.updates.iter().map(|(_, e)| *e).chain([self.p.spike]).collect();
        let order = self.p.exprs.reachable(&roots);
        // Hoisted, loop-invariant nodes.
        for &id in &order {
            if !self.varying[id.index()] {
                let v = self.emit(id, None);
                self.values[id.index()] = Some(v);
            }
        }
        let mem = MemFlagsData::trusted();
        let bases: Vec<Value> = (0..self.p.slot_count)
            .map(|k| self.fb.ins().load(self.ptr, mem, slots_ptr, (k * 8) as i32))
            .collect();
        let elem = i64::from(self.ty.bytes());
        let cell = self.fb.declare_var(types::I64);
        let step = self.fb.declare_var(types::I64);
        let mask = self.fb.declare_var(types::I64);
        let first_bad = self.fb.declare_var(types::I32);
        let slot_vars: Vec<Variable> = (0..self.p.slot_count).map(|_| self.fb.declare_var(self.ty)).collect();
        self.fb.def_var(cell, lo);

        let cell_head = self.fb.create_block();
        let cell_body = self.fb.create_block();
        let step_head = self.fb.create_block();
        let step_body = self.fb.create_block();
        let cell_end = self.fb.create_block();
        let exit = self.fb.create_block();
        self.fb.ins().jump(cell_head, &[]);

        self.fb.switch_to_block(cell_head);
        let c = self.fb.use_var(cell);
        let more = self.fb.ins().icmp(IntCC::UnsignedLessThan, c, hi);
        self.fb.ins().brif(more, cell_body, &[], exit, &[]);

        self.fb.switch_to_block(cell_body);
        let c = self.fb.use_var(cell);
        let offset = self.fb.ins().imul_imm_s(c, elem);
        let addrs: Vec<Value> = bases.iter().map(|&b| self.fb.ins().iadd(b, offset)).collect();
        for (k, &a) in addrs.iter().enumerate() {
            let x = self.fb.ins().load(self.ty, mem, a, 0);
            self.fb.def_var(slot_vars[k], x);
        }
        let zero = self.fb.ins().iconst(types::I64, 0);
        self.fb.def_var(step, zero);
        self.fb.def_var(mask, zero);
        let none = self.fb.ins().iconst(types::I32, -1);
        self.fb.def_var(first_bad, none);
        self.fb.ins().jump(step_head, &[]);

        self.fb.switch_to_block(step_head);
        let j = self.fb.use_var(step);
        let more = self.fb.ins().icmp(IntCC::UnsignedLessThan, j, nsteps);
        self.fb.ins().brif(more, step_body, &[], cell_end, &[]);

        self.fb.switch_to_block(step_body);
        let j = self.fb.use_var(step);
        let jf = self.fb.ins().fcvt_from_uint(types::F64, j);
        let dt = self.fb.ins().f64const(self.p.dt);
        let t64 = self.fb.ins().fma(jf, dt, t0);
        let t = if self.ty == types::F64 { t64 } else { self.fb.ins().fdemote(types::F32, t64) };
        let slot_values: Vec<Value> = slot_vars.iter().map(|&v| self.fb.use_var(v)).collect();
        for &id in &order {
            if self.varying[id.index()] {
                let v = self.emit(id, Some((&slot_values, t)));
                self.values[id.index()] = Some(v);
            }
        }
        let spike = self.val(self.p.spike);
        let bit = self.fb.ins().uextend(types::I64, spike);
        let shifted = self.fb.ins().ishl(bit, j);
        let m = self.fb.use_var(mask);
        let m = self.fb.ins().bor(m, shifted);
        self.fb.def_var(mask, m);
        // Runaway or NaN V: remember the first step.
        let v_new = self
            .p
            .updates
            .iter()
            .find(|(s, _)| *s == 0)
            .map_or(slot_values[0], |(_, e)| self.val(*e));
        let av = self.fb.ins().fabs(v_new);
        let limit = self.lit(RUNAWAY_MV);
        // `!(|v| <= limit)` is true for NaN as well.
        let fine = self.fb.ins().fcmp(FloatCC::LessThanOrEqual, av, limit);
        let fb_ = self.fb.use_var(first_bad);
        let unset = self.fb.ins().icmp_imm_s(IntCC::SignedLessThan, fb_, 0);
        let is_bad = self.fb.ins().icmp_imm_s(IntCC::Equal, fine, 0);
        let record = self.fb.ins().band(unset, is_bad);
        let j32 = self.fb.ins().ireduce(types::I32, j);
        let nb = self.fb.ins().select(record, j32, fb_);
        self.fb.def_var(first_bad, nb);
        let new_values: Vec<(usize, Value)> = self.p.updates.iter().map(|(s, e)| (*s as usize, self.val(*e))).collect();
        for (s, v) in new_values {
            self.fb.def_var(slot_vars[s], v);
        }
        let j1 = self.fb.ins().iadd_imm_s(j, 1);
        self.fb.def_var(step, j1);
        self.fb.ins().jump(step_head, &[]);

        self.fb.switch_to_block(cell_end);
        for (k, &a) in addrs.iter().enumerate() {
            let x = self.fb.use_var(slot_vars[k]);
            self.fb.ins().store(mem, x, a, 0);
        }
        let c = self.fb.use_var(cell);
        let off8 = self.fb.ins().ishl_imm_u(c, 3);
        let sa = self.fb.ins().iadd(spikes, off8);
        let m = self.fb.use_var(mask);
        self.fb.ins().store(mem, m, sa, 0);
        let off4 = self.fb.ins().ishl_imm_u(c, 2);
        let ba = self.fb.ins().iadd(bad, off4);
        let b = self.fb.use_var(first_bad);
        self.fb.ins().store(mem, b, ba, 0);
        let c1 = self.fb.ins().iadd_imm_s(c, 1);
        self.fb.def_var(cell, c1);
        self.fb.ins().jump(cell_head, &[]);

        self.fb.switch_to_block(exit);
        self.fb.ins().return_(&[]);
        self.fb.seal_all_blocks();
        self.fb.finalize(self.config);
    }

    fn val(&self, id: crate::ir::ExprId) -> Value {
        self.values[id.index()].unwrap_or_else(|| unreachable_value())
    }

    /// One node. Booleans are `i8` values from `fcmp`; numbers are `self.ty`.
    fn emit(&mut self, id: crate::ir::ExprId, inputs: Option<(&[Value], Value)>) -> Value {
        let e = *self.p.exprs.get(id);
        match e {
            Expr::Lit(bits) => self.lit(f64::from_bits(bits)),
            Expr::Var(Var::Slot(s)) => inputs.map_or_else(|| self.lit(0.0), |(slots, _)| slots[s as usize]),
            Expr::Var(Var::Builtin(Builtin::T)) => inputs.map_or_else(|| self.lit(0.0), |(_, t)| t),
            Expr::Var(_) => self.lit(0.0),
            Expr::Unary(op, a) => {
                let a = self.val(a);
                let ins = self.fb.ins();
                match op {
                    UnaryOp::Neg => ins.fneg(a),
                    UnaryOp::Not => ins.icmp_imm_s(IntCC::Equal, a, 0),
                    UnaryOp::Fabs => ins.fabs(a),
                    UnaryOp::Sqrt => ins.sqrt(a),
                    UnaryOp::Floor => ins.floor(a),
                    UnaryOp::Round => ins.nearest(a),
                    // Expanded by `prepare`; never reaches here.
                    UnaryOp::Exp | UnaryOp::Expm1 | UnaryOp::Log | UnaryOp::Log10 | UnaryOp::Tanh | UnaryOp::Exprelr => a,
                }
            }
            Expr::Binary(op, a, b) => {
                let (a, b) = (self.val(a), self.val(b));
                let cmp = |cc| cc;
                match op {
                    BinaryOp::Add => self.fb.ins().fadd(a, b),
                    BinaryOp::Sub => self.fb.ins().fsub(a, b),
                    BinaryOp::Mul => self.fb.ins().fmul(a, b),
                    BinaryOp::Div => self.fb.ins().fdiv(a, b),
                    BinaryOp::Min => self.fb.ins().fmin(a, b),
                    BinaryOp::Max => self.fb.ins().fmax(a, b),
                    BinaryOp::Lt => self.fb.ins().fcmp(cmp(FloatCC::LessThan), a, b),
                    BinaryOp::Le => self.fb.ins().fcmp(FloatCC::LessThanOrEqual, a, b),
                    BinaryOp::Gt => self.fb.ins().fcmp(FloatCC::GreaterThan, a, b),
                    BinaryOp::Ge => self.fb.ins().fcmp(FloatCC::GreaterThanOrEqual, a, b),
                    BinaryOp::Eq => self.fb.ins().fcmp(FloatCC::Equal, a, b),
                    BinaryOp::Ne => self.fb.ins().fcmp(FloatCC::NotEqual, a, b),
                    BinaryOp::And => self.fb.ins().band(a, b),
                    BinaryOp::Or => self.fb.ins().bor(a, b),
                    BinaryOp::Ldexp => self.ldexp(a, b),
                    BinaryOp::Pow => a, // expanded by `prepare`
                }
            }
            Expr::Fma(a, b, c) => {
                let (a, b, c) = (self.val(a), self.val(b), self.val(c));
                self.fb.ins().fma(a, b, c)
            }
            Expr::Select(c, a, b) => {
                let (c, a, b) = (self.val(c), self.val(a), self.val(b));
                self.fb.ins().select(c, a, b)
            }
        }
    }

    /// `x · 2^k` for integer-valued `k` in the normal exponent range, built from bits.
    fn ldexp(&mut self, x: Value, k: Value) -> Value {
        let (bias, shift) = if self.ty == types::F64 { (1023, 52) } else { (127, 23) };
        let ki = self.fb.ins().fcvt_to_sint_sat(self.int, k);
        let biased = self.fb.ins().iadd_imm_s(ki, bias);
        let bits = self.fb.ins().ishl_imm_u(biased, shift);
        let flags = MemFlagsData::new();
        let scale = self.fb.ins().bitcast(self.ty, flags, bits);
        self.fb.ins().fmul(x, scale)
    }
}

fn unreachable_value() -> Value {
    Value::from_u32(0)
}
