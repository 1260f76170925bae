//! The Cranelift backend: a [`CellProgram`] to native code, in process.
//!
//! `compile` is a short sequence of steps:
//! 1. expand special functions into primitives ([`super::prepare`]). Where the CPU has AVX2 or
//!    AVX-512, `exp` and `expm1` stay operations for the array routines of [`batched`];
//! 2. find which nodes vary per cell or per step; the rest is hoisted into the entry block,
//!    except literals, which are emitted at each use so that they stay constant-pool operands
//!    instead of occupying registers across the loops;
//! 3. cut the step into phases at the varying `exp`/`expm1` ([`stages`]): the routines run
//!    between phases over a whole block of cells, on scratch rows in the kernel's stack frame
//!    (aligned to a cache line by hand: Cranelift does not realign the frame);
//! 4. emit the loops: blocks of cells that fit in L1, steps, phases, then groups of cells
//!    (vectors, then a scalar rest). Groups within a phase are independent, so the core overlaps
//!    them. Spikes and runaways leave the hot path through one rarely taken branch per group.
//!    Where the CPU has AVX2 (or AVX-512), a phase's vector groups are one call to its [`wide`] machine code
//!    (four f64 cells per instruction instead of Cranelift's two), with the same bits;
//! 5. verify (debug builds), finalise, and hand back a typed function pointer.
//!
//! Cranelift runs with `opt_level = none`: the IR arrives already simplified and deduplicated,
//! and its egraph would only hoist the literals back out of the loop.

pub mod batched;
pub mod stages;
pub mod wide;

use super::{prepare_with, Prepared, MAX_STEPS_PER_CALL, RUNAWAY_MV, STEP_KERNEL};
use crate::ir::{BinaryOp, Builtin, CellProgram, Expr, UnaryOp, Var};
use crate::passes::mathlib::MathMode;
use crate::passes::mathlib::Precision;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    types, AbiParam, InstBuilder, MemFlagsData, Signature, StackSlotData, StackSlotKind, Type,
    Value,
};
use cranelift_codegen::isa::TargetFrontendConfig;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Linkage, Module};
use stages::{ArrayOp, StagePlan};

/// The signature of the compiled step kernel (see the ABI in [`super`]).
pub type StepFn = unsafe extern "C" fn(*const *mut u8, u64, u64, f64, u64, *mut u64, *mut i32);

/// A compiled step kernel and the code memory that holds it.
pub struct CompiledStep {
    func: StepFn,
    precision: Precision,
    block_cells: usize,
    wide_count: usize,
    phase_count: usize,
    // Keep the code alive; never touched after finalisation.
    _module: JITModule,
    /// The TABLE entries the code reads by address.
    _tables: Vec<Box<[u64]>>,
    _wide: Option<wide::WideCode>,
}

// SAFETY: the module's code memory is immutable after `finalize_definitions`, and the kernel is a
// pure function of its arguments; calling it from several threads on disjoint cells is sound.
unsafe impl Send for CompiledStep {}
unsafe impl Sync for CompiledStep {}

impl CompiledStep {
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Cells the kernel keeps in cache together. A call over a multiple of this avoids a
    /// partial block, which costs a whole block's routine calls for fewer cells.
    pub fn block_cells(&self) -> usize {
        self.block_cells
    }

    /// Phases that run as [`wide`] machine code, and phases in all.
    pub fn wide_phases(&self) -> (usize, usize) {
        (self.wide_count, self.phase_count)
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
    compile_with(program, precision, array_routines())
}

/// [`compile`] with a choice of array routines: `None` computes everything inline.
pub fn compile_with(
    program: &CellProgram,
    precision: Precision,
    routines: Option<batched::Routines>,
) -> Result<CompiledStep, JitError> {
    compile_configured(program, precision, routines, true)
}

/// [`compile_with`] with a choice of wide phases: with `wide`, the staged kernel's phases run
/// as AVX2 or AVX-512 machine code ([`wide`], [`wide::Isa::for_kernel`]) where the CPU has
/// it; without, as Cranelift code.
pub fn compile_configured(
    program: &CellProgram,
    precision: Precision,
    routines: Option<batched::Routines>,
    wide: bool,
) -> Result<CompiledStep, JitError> {
    let isa = wide
        .then(|| wide::Isa::for_kernel(routines.map(|r| r.isa)))
        .flatten();
    compile_with_wide_isa(program, precision, routines, isa)
}

/// [`compile_configured`] with the wide phases' ISA named (`None`: Cranelift phases), for
/// tests that compare each encoding with Cranelift's.
pub fn compile_with_wide_isa(
    program: &CellProgram,
    precision: Precision,
    routines: Option<batched::Routines>,
    wide: Option<wide::Isa>,
) -> Result<CompiledStep, JitError> {
    compile_with_wide_plan(program, precision, routines, wide, wide_inline_requested())
}

/// [`compile_with_wide_isa`] with the choice of `inline_exp`: AVX-512 f64 wide phases that
/// compute `exp` inline in one phase where they can (see [`plan_kernel`]), rather than
/// staged around the array routines.
pub fn compile_with_wide_plan(
    program: &CellProgram,
    precision: Precision,
    routines: Option<batched::Routines>,
    wide: Option<wide::Isa>,
    inline_exp: bool,
) -> Result<CompiledStep, JitError> {
    let kernel = plan_kernel(program, precision, routines, wide, inline_exp);
    let isa = host_isa(kernel.order.len() > MAX_BACKTRACKING_NODES)?;
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
    let (block_cells, wide_code) = {
        let config = module.isa().frontend_config();
        let fb = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        Translator::new(fb, &kernel, precision, ptr, config).translate()
    };
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
        block_cells: block_cells as usize,
        wide_count: wide_code
            .as_ref()
            .map_or(0, |c| c.entries.iter().flatten().count()),
        phase_count: kernel.stages.phases(),
        _module: module,
        _tables: kernel.tables,
        _wide: wide_code,
    })
}

/// Above this many expression nodes, a kernel's registers are allocated in a single pass.
/// regalloc2's backtracking allocator grows much faster than linearly on long straight-line
/// code (a whole 161-compartment cell took 70 s to compile; single pass, 0.4 s), and above
/// about 3000 nodes its code is no faster. The 35-compartment branched cell (1761 nodes) runs
/// 10 % faster with backtracking.
const MAX_BACKTRACKING_NODES: usize = 3000;

/// The host ISA with every feature the CPU has (FMA, AVX2 …); no mid-end optimisation (see the
/// module doc); the Cranelift verifier runs in debug builds. `single_pass` picks the fast
/// register allocator for very long kernels.
fn host_isa(single_pass: bool) -> Result<cranelift_codegen::isa::OwnedTargetIsa, JitError> {
    let mut flags = settings::builder();
    let set = |f: &mut settings::Builder, k: &str, v: &str| {
        f.set(k, v).map_err(|e| JitError(format!("{k}: {e}")))
    };
    set(&mut flags, "opt_level", "none")?;
    if single_pass {
        set(&mut flags, "regalloc_algorithm", "single_pass")?;
    }
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
    let routines = array_routines();
    let wide = wide::Isa::for_kernel(routines.map(|r| r.isa));
    let kernel = plan_kernel(program, precision, routines, wide, wide_inline_requested());
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
        let Ok(isa) = host_isa(false) else {
            return String::from("; no host ISA");
        };
        let config = isa.frontend_config();
        let fb = FunctionBuilder::new(&mut func, &mut fctx);
        Translator::new(fb, &kernel, precision, types::I64, config).translate();
    }
    func.display().to_string()
}

/// The array routines the kernel calls, or `None` for a fully inline kernel: when the CPU has
/// no wide vectors, or `HHC_ARRAY_ROUTINES=off` (for comparisons).
pub fn array_routines() -> Option<batched::Routines> {
    let off = std::env::var("HHC_ARRAY_ROUTINES").is_ok_and(|v| v == "off");
    let routines = batched::routines();
    (!off && routines.isa != "baseline").then_some(routines)
}

/// Scratch rows beyond which a kernel stays inline: the rows live in the kernel's stack frame
/// (at least 8 cells each), and a thread's stack is a few MiB.
const MAX_SCRATCH_ROWS: u32 = 4096;

/// What the translator works from: the prepared program, the nodes it computes in arena order,
/// their phases, and the routines the phases call (`None`: one inline phase).
struct KernelPlan {
    prepared: Prepared,
    order: Vec<crate::ir::ExprId>,
    stages: StagePlan,
    routines: Option<batched::Routines>,
    /// The ISA of the staged phases' [`wide`] machine code, where they can have it.
    wide: Option<wide::Isa>,
    /// Each table of the prepared arena ([`Expr::TableEntry`]), one entry per 8 bytes: an f64's
    /// bits, or an f32's in the low half. The code reads them at their addresses, so the
    /// compiled step keeps them.
    tables: Vec<Box<[u64]>>,
}

/// The tables of `p`'s arena in the kernel's precision (see [`KernelPlan::tables`]).
fn kernel_tables(p: &Prepared, precision: Precision) -> Vec<Box<[u64]>> {
    (0..p.exprs.table_count())
        .map(|t| {
            (p.exprs.table_values(crate::ir::TableId(t as u32)).iter())
                .map(|&x| match precision {
                    Precision::F64 => x.to_bits(),
                    Precision::F32 => u64::from((x as f32).to_bits()),
                })
                .collect()
        })
        .collect()
}

/// `program` staged around `routines`, or inline when there are none or the staged kernel
/// would need more than [`MAX_SCRATCH_ROWS`].
fn plan_kernel(
    program: &CellProgram,
    precision: Precision,
    routines: Option<batched::Routines>,
    wide: Option<wide::Isa>,
    inline_exp: bool,
) -> KernelPlan {
    let staged = |mode, ops: fn(&Expr) -> Option<stages::ArrayOp>| {
        let prepared = prepare_with(program, precision, mode);
        let order = prepared.exprs.reachable(&roots(&prepared));
        let stages = stages::plan(&prepared, &order, ops);
        KernelPlan {
            tables: kernel_tables(&prepared, precision),
            prepared,
            order,
            stages,
            routines,
            wide,
        }
    };
    // With AVX-512 in f64 the wide phases can compute `exp` inline (the routines' formula,
    // operation for operation, so the same bits), and a step they encode whole is then one
    // phase, whose divisions can overlap its exponentials. Not the default: with two vectors
    // per group the classic HH population ran at 1.23e8 compartment-steps/s inline against
    // 1.30e8 staged, the calcium cell at 4.0e7 against 3.8e7 (this machine's AVX-512 Xeon,
    // one thread; bench/RESULTS.md).
    if inline_exp
        && routines.is_some()
        && wide == Some(wide::Isa::Avx512)
        && precision == Precision::F64
    {
        let kernel = staged(MathMode::Portable, |_| None);
        let whole = (0..kernel.stages.phases()).all(|k| {
            wide::supported(
                &kernel.prepared,
                &kernel.stages,
                k,
                precision,
                wide::Isa::Avx512,
            )
        });
        if kernel.stages.rows <= MAX_SCRATCH_ROWS && whole {
            return kernel;
        }
    }
    if routines.is_some() {
        let kernel = staged(MathMode::ArrayExp, stages::batched_ops);
        if kernel.stages.rows <= MAX_SCRATCH_ROWS {
            return kernel;
        }
    }
    KernelPlan {
        routines: None,
        wide: None,
        ..staged(MathMode::Portable, |_| None)
    }
}

/// `HHC_WIDE_INLINE=on`: AVX-512 f64 wide phases compute `exp` inline where they can encode
/// a whole step (for comparisons; see [`plan_kernel`]).
fn wide_inline_requested() -> bool {
    std::env::var("HHC_WIDE_INLINE").is_ok_and(|v| v == "on")
}

/// The kernel's outputs: every update, then the spike test.
fn roots(p: &Prepared) -> Vec<crate::ir::ExprId> {
    p.updates.iter().map(|(_, e)| *e).chain([p.spike]).collect()
}

/// Vectors stepped together in one group. A step is one long dependency chain (gates, then
/// currents, then V); a second independent chain in the same group helps the core overlap them.
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
    precision: Precision,
    /// The float type of `precision`.
    scalar: Type,
    ptr: Type,
    values: Vec<Option<Value>>,
    config: TargetFrontendConfig,
    /// Per table argument `k`: its biased bits and each lane's byte offset into the exp2
    /// tables, shared by the `Exp2Scale` and `Exp2Tail` of one `exp`.
    table_index: std::collections::HashMap<Value, (Value, Vec<Value>)>,
    /// The exp2 tables' addresses (scale, tail), defined once in the entry block.
    table_bases: Option<(Value, Value)>,
    /// The nodes the kernel computes, in arena order (children before parents).
    order: &'a [crate::ir::ExprId],
    /// The step's phases around array routine calls (one phase without routines).
    plan: &'a StagePlan,
    routines: Option<batched::Routines>,
    /// The scratch rows' base address, when the plan has rows.
    scratch: Option<Value>,
    /// The ISA to encode wide phases in (none: Cranelift's), and what encoding them gave.
    wide: Option<wide::Isa>,
    wide_code: Option<wide::WideCode>,
    /// The wide phases' constant table: its layout, and its address in the frame.
    wide_consts: wide::ConstTable,
    wide_consts_base: Option<Value>,
    /// The wide phases' argument block in the frame.
    wide_args: Option<Value>,
    /// The kernel's TABLE entries ([`KernelPlan::tables`]).
    tables: &'a [Box<[u64]>],
    /// Per table index (and the last entry it is clamped to): each lane's byte offset, shared
    /// by the tables read at it.
    entry_offsets: std::collections::HashMap<(Value, i64), Vec<Value>>,
}

impl<'a> Translator<'a> {
    fn new(
        fb: FunctionBuilder<'a>,
        kernel: &'a KernelPlan,
        precision: Precision,
        ptr: Type,
        config: TargetFrontendConfig,
    ) -> Self {
        let p = &kernel.prepared;
        let scalar = match precision {
            Precision::F64 => types::F64,
            Precision::F32 => types::F32,
        };
        Translator {
            fb,
            p,
            precision,
            scalar,
            ptr,
            values: vec![None; p.exprs.len()],
            config,
            table_index: std::collections::HashMap::new(),
            table_bases: None,
            order: &kernel.order,
            plan: &kernel.stages,
            routines: kernel.routines,
            scratch: None,
            wide: kernel.wide,
            wide_code: None,
            wide_consts: wide::ConstTable::default(),
            wide_consts_base: None,
            wide_args: None,
            tables: &kernel.tables,
            entry_offsets: std::collections::HashMap::new(),
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
        if w.lanes == 1 {
            return if self.scalar == types::F64 {
                self.fb.ins().f64const(x)
            } else {
                self.fb.ins().f32const(x as f32)
            };
        }
        // A vector constant lives in the constant pool, so a use can be a memory operand.
        let bytes: Vec<u8> = if self.scalar == types::F64 {
            (0..w.lanes).flat_map(|_| x.to_le_bytes()).collect()
        } else {
            (0..w.lanes)
                .flat_map(|_| (x as f32).to_le_bytes())
                .collect()
        };
        let handle = self.fb.func.dfg.constants.insert(bytes.into());
        self.fb.ins().vconst(w.float, handle)
    }

    /// Emits the kernel; returns its cells per block and its wide phases' code.
    fn translate(mut self) -> (i64, Option<wide::WideCode>) {
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
        let scale_table = crate::ir::exp2::EXP2_SCALE_BITS.as_ptr() as i64;
        let tail_table = crate::ir::exp2::EXP2_TAIL_BITS.as_ptr() as i64;
        self.table_bases = Some((
            self.fb.ins().iconst(self.ptr, scale_table),
            self.fb.ins().iconst(self.ptr, tail_table),
        ));
        let bases: Vec<Value> = (0..self.p.slot_count)
            .map(|k| {
                self.fb
                    .ins()
                    .load(self.ptr, mem, args.slots, (k * 8) as i32)
            })
            .collect();
        let vw = self.vector_width();
        let sw = self.scalar_width();
        let vector_hoisted = self.hoist(vw);
        let scalar_hoisted = self.hoist(sw);
        let budget = if self.plan.rows > 0 {
            32 * 1024
        } else {
            16 * 1024
        };
        let block_cells = cells_per_block(
            self.p.slot_count + self.plan.rows as usize,
            self.scalar.bytes(),
            budget,
        );
        if self.plan.rows > 0 {
            let bytes = self.plan.rows * block_cells as u32 * self.scalar.bytes();
            self.scratch = Some(self.line_aligned_stack_buffer(bytes));
        }
        if self.wide.is_some() {
            self.prepare_wide(block_cells, &scalar_hoisted, &args);
        }

        // for block_start in (lo..hi).step_by(block_cells)
        let block_start = self.fb.declare_var(types::I64);
        let block_end = self.fb.declare_var(types::I64);
        let step = self.fb.declare_var(types::I64);
        let cell = self.fb.declare_var(types::I64);
        self.fb.def_var(block_start, args.lo);
        let block_head = self.fb.create_block();
        let block_init = self.fb.create_block();
        let init_head = self.fb.create_block();
        let init_body = self.fb.create_block();
        let step_head = self.fb.create_block();
        let step_body = self.fb.create_block();
        let step_next = self.fb.create_block();
        let exit = self.fb.create_block();
        self.fb.ins().jump(block_head, &[]);

        self.fb.switch_to_block(block_head);
        let b0 = self.fb.use_var(block_start);
        let more = self.fb.ins().icmp(IntCC::UnsignedLessThan, b0, args.hi);
        self.fb.ins().brif(more, block_init, &[], exit, &[]);

        // Clear the block's spike words and first-bad steps.
        self.fb.switch_to_block(block_init);
        let b0 = self.fb.use_var(block_start);
        let b1 = self.fb.ins().iadd_imm_s(b0, block_cells);
        let b1 = self.fb.ins().umin(b1, args.hi);
        self.fb.def_var(block_end, b1);
        self.fb.def_var(cell, b0);
        // Four cells per iteration with vector stores, then one at a time.
        let init_wide_head = self.fb.create_block();
        let init_wide_body = self.fb.create_block();
        self.fb.ins().jump(init_wide_head, &[]);
        self.fb.switch_to_block(init_wide_head);
        let c = self.fb.use_var(cell);
        let c4 = self.fb.ins().iadd_imm_s(c, 4);
        let b1 = self.fb.use_var(block_end);
        let fits = self.fb.ins().icmp(IntCC::UnsignedLessThanOrEqual, c4, b1);
        self.fb
            .ins()
            .brif(fits, init_wide_body, &[], init_head, &[]);
        self.fb.switch_to_block(init_wide_body);
        let c = self.fb.use_var(cell);
        let (sa, ba) = self.cell_words(&args, c);
        let zero = self.fb.ins().iconst(types::I64, 0);
        let zeros = self.fb.ins().splat(types::I64X2, zero);
        self.fb.ins().store(mem, zeros, sa, 0);
        self.fb.ins().store(mem, zeros, sa, 16);
        let none = self.fb.ins().iconst(types::I32, -1);
        let nones = self.fb.ins().splat(types::I32X4, none);
        self.fb.ins().store(mem, nones, ba, 0);
        let c4 = self.fb.ins().iadd_imm_s(c, 4);
        self.fb.def_var(cell, c4);
        self.fb.ins().jump(init_wide_head, &[]);
        self.fb.switch_to_block(init_head);
        let c = self.fb.use_var(cell);
        let b1 = self.fb.use_var(block_end);
        let more = self.fb.ins().icmp(IntCC::UnsignedLessThan, c, b1);
        let zero = self.fb.ins().iconst(types::I64, 0);
        self.fb.def_var(step, zero);
        self.fb.ins().brif(more, init_body, &[], step_head, &[]);
        self.fb.switch_to_block(init_body);
        let c = self.fb.use_var(cell);
        let (sa, ba) = self.cell_words(&args, c);
        let zero = self.fb.ins().iconst(types::I64, 0);
        self.fb.ins().store(mem, zero, sa, 0);
        let none = self.fb.ins().iconst(types::I32, -1);
        self.fb.ins().store(mem, none, ba, 0);
        let c1 = self.fb.ins().iadd_imm_s(c, 1);
        self.fb.def_var(cell, c1);
        self.fb.ins().jump(init_head, &[]);

        // for step in 0..nsteps: each phase over every cell of the block (by vectors, then the
        // scalar rest), then the array routines between phases.
        self.fb.switch_to_block(step_head);
        let j = self.fb.use_var(step);
        let more = self.fb.ins().icmp(IntCC::UnsignedLessThan, j, args.nsteps);
        let next_block = self.fb.create_block();
        self.fb.ins().brif(more, step_body, &[], next_block, &[]);

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
        if self.wide_code.is_some() {
            self.fill_wide_const(wide::Const::Time, t);
        }
        let step_ctx = StepContext {
            step: j,
            t,
            block_start: self.fb.use_var(block_start),
            block_end: self.fb.use_var(block_end),
            block_cells,
        };
        for phase in 0..self.plan.phases() {
            let after_vector = self.fb.create_block();
            let after_scalar = self.fb.create_block();
            self.fb.def_var(cell, step_ctx.block_start);
            let wide_entry = self.wide_code.as_ref().and_then(|code| code.entries[phase]);
            match wide_entry {
                Some(entry) => {
                    let end = self.wide_call(entry, &step_ctx);
                    self.fb.def_var(cell, end);
                    self.fb.ins().jump(after_vector, &[]);
                }
                None => self.group_loop(
                    vw,
                    phase,
                    &args,
                    &bases,
                    &vector_hoisted,
                    cell,
                    &step_ctx,
                    after_vector,
                ),
            }
            self.fb.switch_to_block(after_vector);
            self.group_loop(
                sw,
                phase,
                &args,
                &bases,
                &scalar_hoisted,
                cell,
                &step_ctx,
                after_scalar,
            );
            self.fb.switch_to_block(after_scalar);
            if phase + 1 < self.plan.phases() {
                self.array_calls(phase, &step_ctx);
            }
        }
        self.fb.ins().jump(step_next, &[]);
        self.fb.switch_to_block(step_next);
        let j = self.fb.use_var(step);
        let j1 = self.fb.ins().iadd_imm_s(j, 1);
        self.fb.def_var(step, j1);
        self.fb.ins().jump(step_head, &[]);

        self.fb.switch_to_block(next_block);
        let b1 = self.fb.use_var(block_end);
        self.fb.def_var(block_start, b1);
        self.fb.ins().jump(block_head, &[]);

        self.fb.switch_to_block(exit);
        self.fb.ins().return_(&[]);
        self.fb.seal_all_blocks();
        self.fb.finalize(self.config);
        (block_cells, self.wide_code)
    }

    /// Encodes the wide phases and lays out their constant table and argument block in the
    /// frame, filling every constant but the time and every argument fixed for the call.
    fn prepare_wide(
        &mut self,
        block_cells: i64,
        scalar_hoisted: &[Option<Value>],
        args: &KernelArgs,
    ) {
        let row_bytes = block_cells * i64::from(self.scalar.bytes());
        let Some(code) = wide::compile(
            self.p,
            self.plan,
            self.precision,
            self.wide_isa(),
            row_bytes,
            &mut self.wide_consts,
        ) else {
            return;
        };
        self.wide_code = Some(code);
        let bytes =
            self.wide_consts.entries.len().max(1) as u32 * self.wide_consts.entry_bytes as u32;
        let consts = self.line_aligned_stack_buffer(bytes);
        self.wide_consts_base = Some(consts);
        let args_slot = self.fb.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            wide::WIDE_ARGS_BYTES,
            3,
        ));
        let block = self.fb.ins().stack_addr(self.ptr, args_slot, 0);
        self.wide_args = Some(block);
        let column = match self.scratch {
            Some(s) => s,
            None => self.fb.ins().iconst(self.ptr, 0),
        };
        let mem = MemFlagsData::trusted();
        for (offset, v) in [
            (0, args.slots),
            (24, column),
            (32, consts),
            (48, args.spikes),
            (56, args.bad),
        ] {
            self.fb.ins().store(mem, v, block, offset);
        }
        let sw = self.scalar_width();
        for entry in self.wide_consts.entries.clone() {
            let value = match entry {
                wide::Const::Time => continue,
                wide::Const::Exp2Table { tail } => {
                    self.fill_exp2_table(entry, tail);
                    continue;
                }
                wide::Const::Bits(bits) => self.fb.ins().iconst(types::I64, bits as i64),
                wide::Const::Node(id) => {
                    let e = *self.p.exprs.get(id);
                    let v = match (scalar_hoisted[id.index()], e) {
                        (Some(v), _) => v,
                        (None, Expr::Lit(bits)) => self.lit(sw, f64::from_bits(bits)),
                        (None, _) => unreachable!("a constant is a literal or hoisted"),
                    };
                    if e.is_boolean() {
                        // A scalar boolean as a lane mask.
                        let int = sw.int;
                        let ones = self.fb.ins().iconst(int, -1);
                        let zero = self.fb.ins().iconst(int, 0);
                        self.fb.ins().select(v, ones, zero)
                    } else {
                        v
                    }
                }
            };
            self.fill_wide_const(entry, value);
        }
    }

    /// The wide phases' instructions.
    fn wide_isa(&self) -> wide::Isa {
        self.wide.unwrap_or(wide::Isa::Avx2)
    }

    /// Writes the exp2 table's eight entries into the lanes of table entry `entry` (one
    /// 64-byte vector: the wide phases read it only with AVX-512, in f64).
    fn fill_exp2_table(&mut self, entry: wide::Const, tail: bool) {
        let Some((base, k)) = self.wide_const_at(entry) else {
            return;
        };
        let bits = match tail {
            false => &crate::ir::exp2::EXP2_SCALE_BITS,
            true => &crate::ir::exp2::EXP2_TAIL_BITS,
        };
        let bytes = self.wide_consts.entry_bytes as usize;
        debug_assert_eq!(bytes, 64, "an exp2 table fills a 512-bit entry");
        let mem = MemFlagsData::trusted();
        for (lane, &b) in bits.iter().enumerate() {
            let v = self.fb.ins().iconst(types::I64, b as i64);
            self.fb
                .ins()
                .store(mem, v, base, (k * bytes + lane * 8) as i32);
        }
    }

    /// The constant table's address and the index of `entry` in it, once it is laid out.
    fn wide_const_at(&self, entry: wide::Const) -> Option<(Value, usize)> {
        let base = self.wide_consts_base?;
        let k = self.wide_consts.entries.iter().position(|&e| e == entry)?;
        Some((base, k))
    }

    /// Writes `value` into every lane of table entry `entry`: 16-byte splats.
    fn fill_wide_const(&mut self, entry: wide::Const, value: Value) {
        let Some((base, k)) = self.wide_const_at(entry) else {
            return;
        };
        let mem = MemFlagsData::trusted();
        let ty = self.fb.func.dfg.value_type(value);
        let splat = self
            .fb
            .ins()
            .splat(ty.by(16 / ty.bytes()).expect("a 16-byte vector"), value);
        let bytes = self.wide_consts.entry_bytes as usize;
        for part in 0..bytes / 16 {
            self.fb
                .ins()
                .store(mem, splat, base, (k * bytes + part * 16) as i32);
        }
    }

    /// Calls wide phase `entry` over the block's whole groups; returns the first cell it left.
    /// The argument block's other fields are set once, in [`Self::prepare_wide`].
    fn wide_call(&mut self, entry: usize, ctx: &StepContext) -> Value {
        let Some(block) = self.wide_args else {
            unreachable!("prepare_wide lays out the frame before any call")
        };
        let mem = MemFlagsData::trusted();
        let lanes = wide::lanes(self.precision, self.wide_isa());
        let len = self.fb.ins().isub(ctx.block_end, ctx.block_start);
        let whole = self.fb.ins().band_imm_s(len, !(lanes - 1));
        let end = self.fb.ins().iadd(ctx.block_start, whole);
        for (offset, v) in [(8, ctx.block_start), (16, end), (40, ctx.step)] {
            self.fb.ins().store(mem, v, block, offset);
        }
        let mut sig = Signature::new(cranelift_codegen::isa::CallConv::SystemV);
        sig.params.push(AbiParam::new(self.ptr));
        let sig = self.fb.import_signature(sig);
        let callee = self.fb.ins().iconst(self.ptr, entry as i64);
        self.fb.ins().call_indirect(sig, callee, &[block]);
        end
    }

    /// The address of a fresh `bytes`-byte buffer in the frame, aligned to a 64-byte cache line.
    ///
    /// A stack slot's `align_shift` is honoured relative to the frame, but Cranelift does not
    /// realign the frame itself, which the ABI aligns to 16 bytes only (wasmtime issue 6716). So
    /// the slot's line offset follows the caller's stack. Rows and a constant table that
    /// straddle lines split the staged kernel's 32- and 64-byte accesses, and the classic-HH
    /// population ran 12–20 % slower at half of the caller's stack depths (an unrelated change
    /// to the binary moved it there). The buffer takes one line more and its address is rounded
    /// up.
    fn line_aligned_stack_buffer(&mut self, bytes: u32) -> Value {
        const LINE: i64 = 64;
        let slot = self.fb.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            bytes + LINE as u32,
            4,
        ));
        let raw = self.fb.ins().stack_addr(self.ptr, slot, 0);
        let up = self.fb.ins().iadd_imm_s(raw, LINE - 1);
        self.fb.ins().band_imm_s(up, -LINE)
    }

    /// Emits the loop-invariant nodes (other than literals) for width `w` in the current block.
    fn hoist(&mut self, w: Width) -> Vec<Option<Value>> {
        self.values.iter_mut().for_each(|v| *v = None);
        for &id in self.order {
            if !self.p.varying[id.index()] && !is_lit(&self.p.exprs, id) {
                let v = self.emit(w, id);
                self.values[id.index()] = Some(v);
            }
        }
        self.values.clone()
    }

    /// Addresses of cell `c`'s spike word and first-bad step.
    fn cell_words(&mut self, args: &KernelArgs, c: Value) -> (Value, Value) {
        let off8 = self.fb.ins().ishl_imm_u(c, 3);
        let sa = self.fb.ins().iadd(args.spikes, off8);
        let off4 = self.fb.ins().ishl_imm_u(c, 2);
        let ba = self.fb.ins().iadd(args.bad, off4);
        (sa, ba)
    }

    /// One step for the cells from `cell` while a whole group of `w.lanes · w.copies` fits below
    /// the block's end, then jumps to `done`. Every group is independent of the next, so the
    /// core overlaps one group's exponentials with the previous group's tail.
    #[allow(clippy::too_many_arguments)] // the loop's context, one argument each
    fn group_loop(
        &mut self,
        w: Width,
        phase: usize,
        args: &KernelArgs,
        bases: &[Value],
        hoisted: &[Option<Value>],
        cell: Variable,
        ctx: &StepContext,
        done: cranelift_codegen::ir::Block,
    ) {
        let mem = MemFlagsData::trusted();
        let copies = usize::from(w.copies);
        let lanes = usize::from(w.lanes);
        let group = (lanes * copies) as i64;
        let elem = i64::from(self.scalar.bytes());
        let last_phase = phase + 1 == self.plan.phases();

        let head = self.fb.create_block();
        let body = self.fb.create_block();
        let next = self.fb.create_block();
        self.fb.ins().jump(head, &[]);

        self.fb.switch_to_block(head);
        let c = self.fb.use_var(cell);
        let last = self.fb.ins().iadd_imm_s(c, group);
        let more = self
            .fb
            .ins()
            .icmp(IntCC::UnsignedLessThanOrEqual, last, ctx.block_end);
        self.fb.ins().brif(more, body, &[], done, &[]);

        self.fb.switch_to_block(body);
        let c = self.fb.use_var(cell);
        let offset = self.fb.ins().imul_imm_s(c, elem);
        let addrs: Vec<Value> = bases
            .iter()
            .map(|&b| self.fb.ins().iadd(b, offset))
            .collect();
        // This group's column in the scratch rows.
        let column = self.scratch.map(|base| {
            let in_block = self.fb.ins().isub(c, ctx.block_start);
            let bytes = self.fb.ins().imul_imm_s(in_block, elem);
            self.fb.ins().iadd(base, bytes)
        });
        let row_bytes = ctx.block_cells * elem;
        let copy_bytes = (lanes as i64 * elem) as i32;
        let t = if w.lanes == 1 {
            ctx.t
        } else {
            self.fb.ins().splat(w.float, ctx.t)
        };
        // Each copy's share of the phase, one copy after the other.
        let plan = self.plan;
        let mut per_copy: Vec<Vec<Option<Value>>> = Vec::with_capacity(copies);
        for q in 0..copies {
            self.values.clone_from_slice(hoisted);
            let at = copy_bytes * q as i32;
            for &id in &plan.imports[phase] {
                let v = match (*self.p.exprs.get(id), self.plan.row[id.index()], column) {
                    (Expr::Var(Var::Slot(s)), _, _) => {
                        self.fb.ins().load(w.float, mem, addrs[s as usize], at)
                    }
                    (Expr::Var(Var::Builtin(Builtin::T)), _, _) => t,
                    (Expr::Var(_), _, _) => self.lit(w, 0.0),
                    (_, Some(row), Some(col)) => {
                        let off = (i64::from(row) * row_bytes) as i32 + at;
                        self.fb.ins().load(w.float, mem, col, off)
                    }
                    _ => unreachable!("an imported value is a slot, the time or a row"),
                };
                self.values[id.index()] = Some(v);
            }
            for &id in &plan.computed[phase] {
                let v = self.emit(w, id);
                self.values[id.index()] = Some(v);
            }
            if let Some(col) = column {
                for &(id, row) in &plan.stores[phase] {
                    let v = self.operand(w, id);
                    let off = (i64::from(row) * row_bytes) as i32 + at;
                    self.fb.ins().store(mem, v, col, off);
                }
            }
            per_copy.push(std::mem::take(&mut self.values));
            self.values = vec![None; self.p.exprs.len()];
        }
        if !last_phase {
            self.fb.ins().jump(next, &[]);
            self.fb.switch_to_block(next);
            let c1 = self.fb.ins().iadd_imm_s(c, group);
            self.fb.def_var(cell, c1);
            self.fb.ins().jump(head, &[]);
            return;
        }
        // Store the new slots; gather spike and trouble flags across the copies.
        let limit = self.lit(w, RUNAWAY_MV);
        let mut any_spike: Option<Value> = None;
        let mut any_trouble: Option<Value> = None;
        let mut flags = Vec::with_capacity(copies);
        for (q, values) in per_copy.into_iter().enumerate() {
            self.values = values;
            let news: Vec<(usize, Value)> = self
                .p
                .updates
                .iter()
                .map(|(s, e)| (*s as usize, self.operand(w, *e)))
                .collect();
            for (s, v) in news {
                self.fb.ins().store(mem, v, addrs[s], copy_bytes * q as i32);
            }
            let spike = self.operand(w, self.p.spike);
            let v_new = match self.p.updates.iter().find(|(s, _)| *s == 0) {
                Some((_, e)) => self.operand(w, *e),
                None => self
                    .fb
                    .ins()
                    .load(w.float, mem, addrs[0], copy_bytes * q as i32),
            };
            let av = self.fb.ins().fabs(v_new);
            // `|v| > limit` or unordered: true for NaN as well.
            let trouble = self
                .fb
                .ins()
                .fcmp(FloatCC::UnorderedOrGreaterThan, av, limit);
            let (s_any, t_any) = if w.lanes == 1 {
                (spike, trouble)
            } else {
                let s = self.fb.ins().vany_true(spike);
                let t = self.fb.ins().vany_true(trouble);
                (s, t)
            };
            any_spike = Some(match any_spike {
                Some(a) => self.fb.ins().bor(a, s_any),
                None => s_any,
            });
            any_trouble = Some(match any_trouble {
                Some(a) => self.fb.ins().bor(a, t_any),
                None => t_any,
            });
            flags.push((spike, trouble));
        }
        let (Some(s_any), Some(t_any)) = (any_spike, any_trouble) else {
            unreachable!("a group has at least one copy")
        };
        let either = self.fb.ins().bor(s_any, t_any);
        let rare = self.fb.create_block();
        self.fb.ins().brif(either, rare, &[], next, &[]);

        // Rare: some lane spiked or went bad; record it lane by lane.
        self.fb.switch_to_block(rare);
        let bit = self.fb.ins().iconst(types::I64, 1);
        let bit = self.fb.ins().ishl(bit, ctx.step);
        let j32 = self.fb.ins().ireduce(types::I32, ctx.step);
        for (q, (spike, trouble)) in flags.into_iter().enumerate() {
            for l in 0..lanes {
                let (spk, bad) = if w.lanes == 1 {
                    (spike, trouble)
                } else {
                    let s = self.fb.ins().extractlane(spike, l as u8);
                    let b = self.fb.ins().extractlane(trouble, l as u8);
                    (
                        self.fb.ins().icmp_imm_s(IntCC::NotEqual, s, 0),
                        self.fb.ins().icmp_imm_s(IntCC::NotEqual, b, 0),
                    )
                };
                let idx = self.fb.ins().iadd_imm_s(c, (q * lanes + l) as i64);
                let (sa, ba) = self.cell_words(args, idx);
                let word = self.fb.ins().load(types::I64, mem, sa, 0);
                let zero = self.fb.ins().iconst(types::I64, 0);
                let set = self.fb.ins().select(spk, bit, zero);
                let word = self.fb.ins().bor(word, set);
                self.fb.ins().store(mem, word, sa, 0);
                let first = self.fb.ins().load(types::I32, mem, ba, 0);
                let unset = self.fb.ins().icmp_imm_s(IntCC::SignedLessThan, first, 0);
                let record = self.fb.ins().band(unset, bad);
                let first = self.fb.ins().select(record, j32, first);
                self.fb.ins().store(mem, first, ba, 0);
            }
        }
        self.fb.ins().jump(next, &[]);

        self.fb.switch_to_block(next);
        let c1 = self.fb.ins().iadd_imm_s(c, group);
        self.fb.def_var(cell, c1);
        self.fb.ins().jump(head, &[]);
    }

    /// The value of node `id` as an operand. A literal is emitted afresh at each use, so that
    /// the instruction selector can read it from the constant pool instead of keeping it in a
    /// register (or a spill slot) across the loop.
    fn operand(&mut self, w: Width, id: crate::ir::ExprId) -> Value {
        if let Some(v) = self.values[id.index()] {
            return v;
        }
        match *self.p.exprs.get(id) {
            Expr::Lit(bits) => self.lit(w, f64::from_bits(bits)),
            _ => unreachable_value(),
        }
    }

    /// One node. Scalar booleans are `i8` from `fcmp`; vector booleans are lane masks. Slots
    /// and the time are imports of the phase (see [`stages`]); elsewhere (hoisting) a variable
    /// is a loop-invariant input, zero here.
    fn emit(&mut self, w: Width, id: crate::ir::ExprId) -> Value {
        let e = *self.p.exprs.get(id);
        let vector = w.lanes > 1;
        match e {
            Expr::Lit(bits) => self.lit(w, f64::from_bits(bits)),
            Expr::Var(_) => self.lit(w, 0.0),
            Expr::Unary(op @ (UnaryOp::Exp | UnaryOp::Expm1), a) => {
                // Loop-invariant (the varying ones are array calls between phases).
                let a = self.operand(w, a);
                self.scalar_exp(w, op, a)
            }
            Expr::Unary(op @ (UnaryOp::Exp2Scale | UnaryOp::Exp2Tail), k) => {
                let k = self.operand(w, k);
                self.exp2_table(w, op, k)
            }
            Expr::Unary(op, a) => {
                let a = self.operand(w, a);
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
                    | UnaryOp::Sin
                    | UnaryOp::Cos
                    | UnaryOp::Frozen
                    | UnaryOp::Exprelr
                    | UnaryOp::Exp2Scale
                    | UnaryOp::Exp2Tail => a,
                }
            }
            Expr::Binary(op, a, b) => {
                let (a, b) = (self.operand(w, a), self.operand(w, b));
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
                let (a, b, c) = (self.operand(w, a), self.operand(w, b), self.operand(w, c));
                self.fb.ins().fma(a, b, c)
            }
            Expr::Select(c, a, b) => {
                let (c, a, b) = (self.operand(w, c), self.operand(w, a), self.operand(w, b));
                if vector {
                    let mask = self.fb.ins().bitcast(w.float, MemFlagsData::new(), c);
                    self.fb.ins().bitselect(mask, a, b)
                } else {
                    self.fb.ins().select(c, a, b)
                }
            }
            Expr::TableEntry(t, index) => {
                let index = self.operand(w, index);
                self.table_entry(w, t, index)
            }
        }
    }

    /// Entry `⌊index⌋` of table `t`, clamped to the table (NaN reads entry 0: the saturating
    /// conversion gives 0), read lane by lane: Cranelift has no gather.
    fn table_entry(&mut self, w: Width, t: crate::ir::TableId, index: Value) -> Value {
        let table = &self.tables[t.0 as usize];
        let (address, last) = (table.as_ptr() as i64, table.len() as i64 - 1);
        let mem = MemFlagsData::trusted();
        let base = self.fb.ins().iconst(self.ptr, address);
        // The tables a TABLE fills (one per variable it lists) are read at the same index.
        let offsets = match self.entry_offsets.get(&(index, last)) {
            Some(found) => found.clone(),
            None => {
                let offsets: Vec<Value> = (0..w.lanes)
                    .map(|l| {
                        let x = if w.lanes == 1 {
                            index
                        } else {
                            self.fb.ins().extractlane(index, l)
                        };
                        let fb = &mut self.fb;
                        let k = fb.ins().fcvt_to_sint_sat(types::I64, x);
                        let zero = fb.ins().iconst(types::I64, 0);
                        let below = fb.ins().icmp_imm_s(IntCC::SignedLessThan, k, 0);
                        let k = fb.ins().select(below, zero, k);
                        let top = fb.ins().iconst(types::I64, last);
                        let above = fb.ins().icmp_imm_s(IntCC::SignedGreaterThan, k, last);
                        let k = fb.ins().select(above, top, k);
                        fb.ins().ishl_imm_u(k, 3)
                    })
                    .collect();
                self.entry_offsets.insert((index, last), offsets.clone());
                offsets
            }
        };
        let read: Vec<Value> = (offsets.iter())
            .map(|&offset| {
                let addr = self.fb.ins().iadd(base, offset);
                self.fb.ins().load(self.scalar, mem, addr, 0)
            })
            .collect();
        if w.lanes == 1 {
            return read[0];
        }
        let mut v = self.fb.ins().scalar_to_vector(w.float, read[0]);
        for (l, &x) in read.iter().enumerate().skip(1) {
            v = self.fb.ins().insertlane(v, x, l as u8);
        }
        v
    }

    /// The routine calls between `phase` and the next, over the block's cells.
    fn array_calls(&mut self, phase: usize, ctx: &StepContext) {
        let (Some(routines), Some(scratch)) = (self.routines, self.scratch) else {
            return;
        };
        let call_conv = self.config.default_call_conv;
        let len = self.fb.ins().isub(ctx.block_end, ctx.block_start);
        let row_bytes = ctx.block_cells * i64::from(self.scalar.bytes());
        for &call in &self.plan.calls[phase] {
            let f64 = self.scalar == types::F64;
            let address = match call.op {
                ArrayOp::Exp if f64 => routines.exp as usize,
                ArrayOp::Expm1 if f64 => routines.expm1 as usize,
                ArrayOp::Exp => routines.exp_f32 as usize,
                ArrayOp::Expm1 => routines.expm1_f32 as usize,
            };
            let mut sig = Signature::new(call_conv);
            for _ in 0..2 {
                sig.params.push(AbiParam::new(self.ptr));
            }
            for _ in 0..3 {
                sig.params.push(AbiParam::new(types::I64));
            }
            let sig = self.fb.import_signature(sig);
            let callee = self.fb.ins().iconst(self.ptr, address as i64);
            let mut call_args: Vec<Value> = [call.input, call.output]
                .iter()
                .map(|&row| {
                    self.fb
                        .ins()
                        .iadd_imm_s(scratch, i64::from(row) * row_bytes)
                })
                .collect();
            call_args.push(self.fb.ins().iconst(types::I64, i64::from(call.count)));
            call_args.push(self.fb.ins().iconst(types::I64, ctx.block_cells));
            call_args.push(len);
            self.fb.ins().call_indirect(sig, callee, &call_args);
        }
    }

    /// A loop-invariant `exp` or `expm1`: one scalar call, splat across the lanes.
    fn scalar_exp(&mut self, w: Width, op: UnaryOp, a: Value) -> Value {
        let mut sig = Signature::new(self.config.default_call_conv);
        sig.params.push(AbiParam::new(self.scalar));
        sig.returns.push(AbiParam::new(self.scalar));
        let sig = self.fb.import_signature(sig);
        let address = match (op == UnaryOp::Exp, self.scalar == types::F64) {
            (true, true) => batched::exp_scalar as *const () as usize,
            (false, true) => batched::expm1_scalar as *const () as usize,
            (true, false) => batched::exp_f32_scalar as *const () as usize,
            (false, false) => batched::expm1_f32_scalar as *const () as usize,
        };
        let callee = self.fb.ins().iconst(self.ptr, address as i64);
        let x = if w.lanes == 1 {
            a
        } else {
            self.fb.ins().extractlane(a, 0)
        };
        let call = self.fb.ins().call_indirect(sig, callee, &[x]);
        let y = self.fb.inst_results(call)[0];
        if w.lanes == 1 {
            y
        } else {
            self.fb.ins().splat(w.float, y)
        }
    }

    /// `Exp2Scale(k)` or `Exp2Tail(k)` (f64 only; see [`crate::ir::exp2`]). The index is the low
    /// three bits of `k + 1.5·2^52`. Cranelift has no gather, so a vector reads its entries lane by
    /// lane: integer work that runs beside the floating-point pipes.
    fn exp2_table(&mut self, w: Width, op: UnaryOp, k: Value) -> Value {
        use crate::ir::exp2;
        debug_assert!(self.scalar == types::F64, "the exp2 table is f64 only");
        let mem = MemFlagsData::trusted();
        let (ki, offsets) = match self.table_index.get(&k) {
            Some(found) => found.clone(),
            None => {
                let magic = self.lit(w, exp2::ROUND_MAGIC);
                let biased = self.fb.ins().fadd(k, magic);
                let ki = self.fb.ins().bitcast(w.int, MemFlagsData::new(), biased);
                let offsets: Vec<Value> = (0..w.lanes)
                    .map(|l| {
                        let bits = if w.lanes == 1 {
                            ki
                        } else {
                            self.fb.ins().extractlane(ki, l)
                        };
                        let j = self.fb.ins().band_imm_u(bits, exp2::INDEX_MASK as i64);
                        self.fb.ins().ishl_imm_u(j, 3)
                    })
                    .collect();
                self.table_index.insert(k, (ki, offsets.clone()));
                (ki, offsets)
            }
        };
        let Some((scale_table, tail_table)) = self.table_bases else {
            unreachable!("translate defines the table bases first")
        };
        let (base, entry_type) = match op {
            UnaryOp::Exp2Scale => (scale_table, types::I64),
            _ => (tail_table, types::F64),
        };
        let read: Vec<Value> = offsets
            .iter()
            .map(|&offset| {
                let addr = self.fb.ins().iadd(base, offset);
                self.fb.ins().load(entry_type, mem, addr, 0)
            })
            .collect();
        let entries = if w.lanes == 1 {
            read[0]
        } else {
            let vector_type = if entry_type == types::I64 {
                types::I64X2
            } else {
                types::F64X2
            };
            let v = self.fb.ins().scalar_to_vector(vector_type, read[0]);
            self.fb.ins().insertlane(v, read[1], 1)
        };
        if op == UnaryOp::Exp2Tail {
            return entries;
        }
        let top = self.fb.ins().ishl_imm_u(ki, i64::from(exp2::SCALE_SHIFT));
        let bits = self.fb.ins().iadd(entries, top);
        self.fb.ins().bitcast(w.float, MemFlagsData::new(), bits)
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

/// What one step of a block shares: the step index, its time, and the block's bounds.
struct StepContext {
    step: Value,
    t: Value,
    block_start: Value,
    block_end: Value,
    /// Cells per block: the stride of the scratch rows.
    block_cells: i64,
}

/// Cells per cache block: `rows` values per cell (slots and scratch rows) fit in `budget`
/// bytes, in whole groups of 16 cells. A staged kernel takes 32 KiB (one routine call then covers
/// more cells; measured best of 8–64 KiB on the dev machine), an inline one 16 KiB.
fn cells_per_block(rows: usize, elem_bytes: u32, budget: i64) -> i64 {
    let bytes = (rows.max(1) * elem_bytes as usize) as i64;
    // A multiple of 16: two AVX-512 vectors of f64 (a wide group in pairs mode).
    ((budget / bytes) / 16 * 16).clamp(16, 1024)
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

fn is_lit(exprs: &crate::ir::ExprArena, id: crate::ir::ExprId) -> bool {
    matches!(exprs.get(id), Expr::Lit(_))
}

fn unreachable_value() -> Value {
    Value::from_u32(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{interp, ExprArena, Slot, SlotKind};
    use crate::span::Span;

    /// A program whose slots 1 and 2 become `exp(v)` and `expm1(v)`; V stays put.
    fn exp_program() -> CellProgram {
        exp_program_of(|_, v| v)
    }

    /// As [`exp_program`], of the argument `arg(arena, v)`.
    fn exp_program_of(
        arg: impl FnOnce(&mut ExprArena, crate::ir::ExprId) -> crate::ir::ExprId,
    ) -> CellProgram {
        let mut exprs = ExprArena::new();
        let v = exprs.var(Var::Slot(0));
        let x = arg(&mut exprs, v);
        let e = exprs.add(Expr::Unary(UnaryOp::Exp, x), Span::default());
        let em1 = exprs.add(Expr::Unary(UnaryOp::Expm1, x), Span::default());
        let never = exprs.add(Expr::Binary(BinaryOp::Lt, v, v), Span::default());
        let slot = |name: &str, kind| Slot {
            name: name.into(),
            kind,
        };
        CellProgram {
            name: "exp".into(),
            exprs,
            slots: vec![
                slot("v", SlotKind::V),
                slot("e", SlotKind::State { mech: 0, state: 0 }),
                slot("em1", SlotKind::State { mech: 0, state: 1 }),
            ],
            init: Vec::new(),
            updates: vec![(1, e), (2, em1)],
            spike: never,
            mechanism_currents: Vec::new(),
            dt: 0.01,
        }
    }

    /// The table-driven exp reads its entries lane by lane: every lane of the vector loop and
    /// the scalar rest must give the interpreter's bits for the same lowered formula.
    #[test]
    fn jit_exp_and_expm1_match_the_lowered_formula_bit_for_bit_in_every_lane() {
        let program = exp_program();
        let kernel = compile(&program, Precision::F64).expect("jit");
        let prepared = crate::backend::prepare(&program, Precision::F64);
        let roots = roots(&prepared);
        // 4·k + 3 cells: whole vector groups and a scalar rest; arguments over the whole range.
        let n = 4003;
        let mut v: Vec<f64> = (0..n)
            .map(|i| -750.0 + 1500.0 * (i as f64 / (n - 1) as f64).powi(3))
            .collect();
        v[7] = 0.0;
        v[8] = 1e-300;
        v[9] = -3e-9;
        v[10] = f64::NAN;
        let (e, em1) = run(&kernel, &v);
        for i in 0..n {
            let want = interp::eval(&prepared.exprs, &roots, &|var| match var {
                Var::Slot(0) => v[i],
                _ => 0.0,
            });
            for (got, want) in [e[i], em1[i]].into_iter().zip(want) {
                assert!(
                    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                    "cell {i}, v = {}: jit {got:e}, interpreter {want:e}",
                    v[i]
                );
            }
        }
        assert!(e[7] == 1.0 && em1[7] == 0.0 && em1[9] == (-3e-9f64).exp_m1());
        assert!(e[10].is_nan() && em1[10].is_nan());
        assert!(e[n - 1].is_infinite() && e[0] == 0.0);
    }

    /// Runs `kernel` one step over `v` (as the kernel's float type); returns exp and expm1.
    fn run(kernel: &CompiledStep, v: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let n = v.len();
        let mut spikes = vec![0u64; n];
        let mut bad = vec![0i32; n];
        macro_rules! step {
            ($t:ty) => {{
                let mut a: Vec<$t> = v.iter().map(|&x| x as $t).collect();
                let mut e: Vec<$t> = vec![0.0; n];
                let mut m: Vec<$t> = vec![0.0; n];
                let slots =
                    [a.as_mut_ptr(), e.as_mut_ptr(), m.as_mut_ptr()].map(|p| p.cast::<u8>());
                // SAFETY: three live arrays of n elements of the kernel's type; one step.
                unsafe {
                    kernel.call(
                        slots.as_ptr(),
                        0,
                        n as u64,
                        0.0,
                        1,
                        spikes.as_mut_ptr(),
                        bad.as_mut_ptr(),
                    );
                }
                assert_eq!(spikes.iter().sum::<u64>(), 0, "the program never spikes");
                (
                    e.iter().map(|&x| f64::from(x)).collect(),
                    m.iter().map(|&x| f64::from(x)).collect(),
                )
            }};
        }
        match kernel.precision() {
            Precision::F64 => step!(f64),
            Precision::F32 => step!(f32),
        }
    }

    /// The exp of a literal folds to the portable formula's bits whether or not the kernel is
    /// staged (libm's `exp` differs from the formula in the last bit here and there).
    #[test]
    fn a_literal_exp_folds_to_the_portable_formula_in_staged_and_inline_kernels() {
        let x = (1..5000)
            .map(|i| f64::from(i) * 0.012_345)
            .find(|&x| batched::exp(x) != x.exp())
            .expect("the formula is not correctly rounded everywhere");
        let program = exp_program_of(|a, _| a.lit(x));
        let inline = run(
            &compile_with(&program, Precision::F64, None).expect("jit"),
            &[0.0; 9],
        );
        for set in batched::available()
            .into_iter()
            .filter(|s| s.isa != "baseline")
        {
            let kernel = compile_with(&program, Precision::F64, Some(set)).expect("jit");
            let staged = run(&kernel, &[0.0; 9]);
            assert_eq!(staged, inline, "{}", set.isa);
        }
        assert_eq!(inline.0[8].to_bits(), batched::exp(x).to_bits(), "exp({x})");
        assert_eq!(
            inline.1[8].to_bits(),
            batched::expm1(x).to_bits(),
            "expm1({x})"
        );
    }

    /// exp and expm1 by every instruction set's array routines give the inline kernel's bits,
    /// in f64 and f32, over the whole range, the limits, zeros and NaN.
    #[test]
    fn array_routines_match_the_inline_kernel_bit_for_bit_over_the_whole_range() {
        let program = exp_program();
        let n = 6007;
        let mut v: Vec<f64> = (0..n)
            .map(|i| -760.0 + 1520.0 * (i as f64 / (n - 1) as f64).powi(3))
            .collect();
        v.extend([
            0.0, -0.0, 1e-30, -3e-9, 88.37, 88.38, -87.33, -87.34, -40.0, 709.43, 709.44,
        ]);
        v.extend([
            -708.39,
            -708.4,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.35,
            -0.35,
        ]);
        let sets: Vec<_> = batched::available()
            .into_iter()
            .filter(|s| s.isa != "baseline")
            .collect();
        for precision in [Precision::F64, Precision::F32] {
            let inline = run(&compile_with(&program, precision, None).expect("jit"), &v);
            // Not bits of nonsense: within f32 accuracy of libm where exp is a normal f32.
            for (i, &x) in v.iter().enumerate().filter(|(_, x)| x.abs() < 80.0) {
                let x = match precision {
                    Precision::F64 => x,
                    Precision::F32 => f64::from(x as f32),
                };
                let rel = (inline.0[i] / x.exp() - 1.0).abs();
                assert!(
                    rel < 1e-6,
                    "inline {precision:?} exp({x}) = {} (rel {rel:e})",
                    inline.0[i]
                );
            }
            for &set in &sets {
                let staged = run(
                    &compile_with(&program, precision, Some(set)).expect("jit"),
                    &v,
                );
                for (what, got, want) in [
                    ("exp", &staged.0, &inline.0),
                    ("expm1", &staged.1, &inline.1),
                ] {
                    for i in 0..v.len() {
                        assert!(
                            got[i].to_bits() == want[i].to_bits()
                                || (got[i].is_nan() && want[i].is_nan()),
                            "{what} {precision:?} {}: x = {:e}: staged {:e}, inline {:e}",
                            set.isa,
                            v[i],
                            got[i],
                            want[i]
                        );
                    }
                }
            }
        }
    }
}
