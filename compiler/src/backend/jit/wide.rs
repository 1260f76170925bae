//! Wide phases: AVX2 or AVX-512 machine code for the vector part of a staged kernel's phases.
//!
//! Cranelift's vectors hold 128 bits, so its code steps two f64 (four f32) cells per
//! instruction. Between the array routines a phase is a straight-line DAG of arithmetic,
//! comparisons and selects, and that is simple enough to encode by hand: with 256-bit AVX2
//! instructions (VEX), four f64 (eight f32) cells per instruction; with 512-bit AVX-512 ones
//! (EVEX), eight f64 (sixteen f32). The ISA follows the array routines the kernel calls
//! ([`Isa::of_routines`]), so `HHC_BATCH_ISA=avx2` gives the AVX2 code on an AVX-512 machine.
//!
//! **In:** one phase of a [`StagePlan`] (its imports, computed nodes and stores), the prepared
//! program, the ISA and the constant table's layout. **Out:** a function `phase(&WideArgs)`
//! that runs the phase over cells `[begin, end)`, a whole number of groups, and returns;
//! Cranelift calls it in place of its own vector loop and keeps the scalar rest.
//!
//! The code is one loop over groups of cells. Its body is the phase's nodes in order, allocated
//! to the sixteen vector registers by furthest next use (Belady). Nothing lives across groups:
//! slots and rows are read as memory operands where they are used, literals and loop-invariant
//! values come from a table of one-vector splats that the Cranelift kernel fills, and a value
//! that must leave its register is spilled to the frame. The last phase also writes the new
//! slots and tests the spike and runaway masks; a group with either calls [`note_flags`].
//!
//! **AVX-512.** The same nodes, with EVEX encodings of the same operations. A boolean is a
//! lane mask in a vector register, as in AVX2 (a comparison sets `k1` and `vpmovm2q` widens
//! it; a select narrows its mask to `k1` with `vpmovq2m` for `vblendmpd`), except a comparison
//! used only as selects' conditions, which stays in `k3` or `k4` while one is free. The lane
//! tests read `k1` and `k2` with `kmovb`/`kmovw`. Memory operands keep 32-bit displacements,
//! so EVEX's scaled 8-bit displacement never applies. In f64 a group is two vectors
//! ([`pairs`]): each node is encoded once, recorded, and issued for both, the second vector in
//! `zmm16`–`zmm31` (`k5`, `k6`) with its own spill slots. With AVX-512 in f64 the exp2 table
//! reads of an inline `exp` are encoded too (`vpermpd` on the eight-entry tables).
//!
//! **Invariants.** Every instruction is the IEEE operation Cranelift emits for the same node
//! (`vaddpd` for `fadd`, `vfmadd231pd` for `fma`, `vroundpd`/`vrndscalepd` for `floor`/`nearest`
//! …), so the results are bit-identical to the Cranelift phase; the tests compare the two on
//! every stdlib mechanism, with each ISA. A node this encoder lacks (`pow`; the exp2 tables
//! in AVX2 or f32) leaves its phase to Cranelift. General registers: `r15` the arguments, `r14`
//! the cell's byte offset, `r13` the scratch column, `r12` the end, `rbx` the constant table,
//! `rbp` the frame, `rax`/`r11` temporaries, and seven slot bases in `rcx rdx rsi rdi r8 r9
//! r10`; further slots load their base into `r11` at each use.

use super::super::Prepared;
use super::stages::StagePlan;
use crate::ir::{BinaryOp, Builtin, Expr, ExprId, UnaryOp, Var};
use crate::passes::mathlib::Precision;

/// The arguments of a wide phase, laid out for the machine code (offsets in the field docs).
#[repr(C)]
pub struct WideArgs {
    /// +0: the slot base pointers.
    pub slots: *const *mut u8,
    /// +8: the first cell.
    pub begin: u64,
    /// +16: one past the last cell; `end − begin` is a multiple of the lanes.
    pub end: u64,
    /// +24: the scratch rows at cell `begin`.
    pub column: *mut u8,
    /// +32: the constant table, one vector (32 or 64 bytes) per entry.
    pub consts: *const u8,
    /// +40: the step within the call (spike bit and first-bad step).
    pub step: u64,
    /// +48, +56: the spike words and first-bad steps, indexed by cell.
    pub spikes: *mut u64,
    pub bad: *mut i32,
}

pub const WIDE_ARGS_BYTES: u32 = 64;

/// One entry of the constant table: one value in every lane of a vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Const {
    /// A literal or loop-invariant node (a boolean one as a lane mask).
    Node(ExprId),
    /// The time of the step, written before each step's phases.
    Time,
    /// Raw lane bits: masks for `neg`, `abs` and `not`, and the runaway limit.
    Bits(u64),
    /// The eight entries of an exp2 table, one per lane (AVX-512 f64 only): the scales
    /// ([`crate::ir::exp2::EXP2_SCALE_BITS`]) or their tails.
    Exp2Table { tail: bool },
}

/// The constant table shared by every wide phase of a kernel: one vector of each value.
#[derive(Debug)]
pub struct ConstTable {
    pub entries: Vec<Const>,
    /// Bytes per entry: [`Isa::vector_bytes`].
    pub entry_bytes: i32,
}

impl Default for ConstTable {
    fn default() -> Self {
        ConstTable {
            entries: Vec::new(),
            entry_bytes: 32,
        }
    }
}

impl ConstTable {
    fn index(&mut self, c: Const) -> i32 {
        let k = match self.entries.iter().position(|&e| e == c) {
            Some(k) => k,
            None => {
                self.entries.push(c);
                self.entries.len() - 1
            }
        };
        k as i32 * self.entry_bytes
    }
}

/// Machine code for the wide phases of one kernel, in executable memory.
pub struct WideCode {
    _map: memmap2::Mmap,
    /// Per phase: its entry, or `None` where Cranelift keeps the whole phase.
    pub entries: Vec<Option<usize>>,
}

/// Whether this CPU runs wide phases, and whether they are wanted (`HHC_WIDE=off` declines them,
/// for comparisons).
pub fn available() -> bool {
    let off = std::env::var("HHC_WIDE").is_ok_and(|v| v == "off");
    !off && host_has_avx2_fma()
}

#[cfg(target_arch = "x86_64")]
fn host_has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

#[cfg(not(target_arch = "x86_64"))]
fn host_has_avx2_fma() -> bool {
    false
}

/// The vector instructions a wide phase is encoded in: AVX2 (256-bit `ymm`, VEX) or AVX-512
/// (512-bit `zmm`, EVEX), the same as the array routines the kernel calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    Avx2,
    Avx512,
}

impl Isa {
    /// The wide ISA that goes with array routines of `isa` ([`super::batched::Routines::isa`]).
    pub fn of_routines(isa: &str) -> Isa {
        if isa == "avx512" {
            Isa::Avx512
        } else {
            Isa::Avx2
        }
    }

    /// The wide phases a kernel gets with array routines `routines` where the CPU runs wide
    /// phases at all: AVX-512 with the AVX-512 routines, else AVX2. (f32 stayed on AVX2 until
    /// its AVX-512 phases kept select conditions in opmask registers; since then they run
    /// 8–80 % faster: the classic HH population 2.9e8 → 3.3e8, the calcium cell 4.1e7 →
    /// 7.4e7.)
    pub fn for_kernel(routines: Option<&str>) -> Option<Isa> {
        if !available() {
            return None;
        }
        Some(match routines.map(Isa::of_routines) {
            Some(Isa::Avx512) => Isa::Avx512,
            _ => Isa::Avx2,
        })
    }

    /// Bytes of one vector register, and of one constant-table entry.
    pub fn vector_bytes(self) -> i32 {
        match self {
            Isa::Avx2 => 32,
            Isa::Avx512 => 64,
        }
    }
}

/// Lanes per group of a wide phase: one vector, or two in [`pairs`] mode.
pub fn lanes(precision: Precision, isa: Isa) -> i64 {
    let f64_lanes = i64::from(isa.vector_bytes() / 8);
    let vectors = if pairs(precision, isa) { 2 } else { 1 };
    vectors
        * match precision {
            Precision::F64 => f64_lanes,
            Precision::F32 => 2 * f64_lanes,
        }
}

/// Whether a group is two vectors of cells, each instruction issued for both (AVX-512, f64):
/// the second copy runs in `zmm16`–`zmm31`, so the two independent chains of a step overlap
/// in the core, where one vector's chain of dependent exponentials, divisions and selects
/// would leave it waiting. `HHC_WIDE_PAIRS=off` issues one vector at a time (comparisons).
pub fn pairs(precision: Precision, isa: Isa) -> bool {
    isa == Isa::Avx512
        && precision == Precision::F64
        && std::env::var("HHC_WIDE_PAIRS").map_or(true, |v| v != "off")
}

/// Encodes every phase the encoder supports; the others are `None`. `consts` gathers the
/// table entries the code reads.
pub fn compile(
    p: &Prepared,
    plan: &StagePlan,
    precision: Precision,
    isa: Isa,
    row_bytes: i64,
    consts: &mut ConstTable,
) -> Option<WideCode> {
    if !cfg!(target_arch = "x86_64") {
        return None;
    }
    consts.entry_bytes = isa.vector_bytes();
    let mut code = Vec::new();
    let mut offsets = Vec::new();
    for phase in 0..plan.phases() {
        if !supported(p, plan, phase, precision, isa) {
            offsets.push(None);
            continue;
        }
        while code.len() % 64 != 0 {
            code.push(0xCC);
        }
        offsets.push(Some(code.len()));
        let mut e = PhaseEncoder::new(p, plan, phase, precision, isa, row_bytes, consts);
        e.encode();
        code.extend_from_slice(&e.asm.code);
    }
    if offsets.iter().all(Option::is_none) {
        return None;
    }
    // HHC_DUMP_WIDE=FILE writes the raw machine code, for a disassembler (tuning).
    if let Some(path) = std::env::var_os("HHC_DUMP_WIDE") {
        let _ = std::fs::write(path, &code);
    }
    let mut map = memmap2::MmapMut::map_anon(code.len()).ok()?;
    map.copy_from_slice(&code);
    let map = map.make_exec().ok()?;
    let base = map.as_ptr() as usize;
    Some(WideCode {
        entries: offsets.into_iter().map(|o| o.map(|o| base + o)).collect(),
        _map: map,
    })
}

/// Whether every node of `phase` has an encoding here. The exp2 table reads of an inline
/// `exp` have one with AVX-512 in f64, where the eight-entry tables fill one register.
pub fn supported(
    p: &Prepared,
    plan: &StagePlan,
    phase: usize,
    precision: Precision,
    isa: Isa,
) -> bool {
    let tables = isa == Isa::Avx512 && precision == Precision::F64;
    let last = phase + 1 == plan.phases();
    // The last phase loads slot-valued updates before storing any slot; keep that small.
    if last {
        let slot_valued = p
            .updates
            .iter()
            .filter(|(_, e)| matches!(p.exprs.get(*e), Expr::Var(Var::Slot(_))))
            .count();
        if slot_valued > 8 {
            return false;
        }
    }
    let why = std::env::var_os("HHC_WIDE_WHY").is_some();
    plan.computed[phase]
        .iter()
        .all(|&id| match *p.exprs.get(id) {
            Expr::Unary(op, _) => matches!(
                op,
                UnaryOp::Neg
                    | UnaryOp::Not
                    | UnaryOp::Fabs
                    | UnaryOp::Sqrt
                    | UnaryOp::Floor
                    | UnaryOp::Round
            ) || (tables && matches!(op, UnaryOp::Exp2Scale | UnaryOp::Exp2Tail)),
            Expr::Binary(op, ..) => op != BinaryOp::Pow,
            Expr::Fma(..) | Expr::Select(..) => true,
            // A TABLE's reads are Cranelift's, lane by lane.
            Expr::Lit(_) | Expr::Var(_) | Expr::TableEntry(..) => false,
        } || {
            if why {
                eprintln!("wide: phase {phase} keeps {:?}", p.exprs.get(id));
            }
            false
        })
}

/// Records spikes and runaways of one group: bit `l` of `masks` for lane `l`'s spike, bit
/// `shift + l` for its runaway, as the Cranelift kernel's rare path does.
///
/// # Safety
/// `spikes` and `bad` must be valid for cells `cell .. cell + shift` where a bit is set.
pub unsafe extern "sysv64" fn note_flags(
    spikes: *mut u64,
    bad: *mut i32,
    cell: u64,
    step: u64,
    masks: u64,
    shift: u64,
) {
    for lane in 0..shift {
        let c = (cell + lane) as usize;
        if masks >> lane & 1 == 1 {
            // SAFETY: the caller's contract covers the lanes with a bit set.
            unsafe { *spikes.add(c) |= 1 << step };
        }
        if masks >> (shift + lane) & 1 == 1 {
            // SAFETY: as above.
            unsafe {
                let first = bad.add(c);
                if *first < 0 {
                    *first = step as i32;
                }
            }
        }
    }
}

// General registers.
const RAX: u8 = 0;
const RCX: u8 = 1;
const RDX: u8 = 2;
const RBX: u8 = 3;
const RSP: u8 = 4;
const RBP: u8 = 5;
const RSI: u8 = 6;
const RDI: u8 = 7;
const R8: u8 = 8;
const R9: u8 = 9;
const R10: u8 = 10;
const R11: u8 = 11;
const R12: u8 = 12;
const R13: u8 = 13;
const R14: u8 = 14;
const R15: u8 = 15;
const SLOT_BASE_REGS: [u8; 7] = [RCX, RDX, RSI, RDI, R8, R9, R10];

/// A register or memory operand: `[base + index + disp]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rm {
    Reg(u8),
    Mem {
        base: u8,
        index: Option<u8>,
        disp: i32,
    },
}

/// Opcode maps and prefixes of the VEX encoding.
const MAP_0F: u8 = 1;
const MAP_0F38: u8 = 2;
const MAP_0F3A: u8 = 3;
const PP_NONE: u8 = 0;
const PP_66: u8 = 1;
const PP_F3: u8 = 2;

// Opmask registers (AVX-512): k1 and k2 serve comparisons, blends and the lane tests.
const K1: u8 = 1;
const K2: u8 = 2;

#[derive(Default)]
struct Asm {
    code: Vec<u8>,
    /// While a node is recorded for [`PhaseEncoder::replay`]: each EVEX instruction's fields,
    /// where it starts, and where its ModRM bytes end (an immediate may follow).
    evex_log: Option<Vec<(usize, usize, Evex)>>,
}

/// The fields of an EVEX instruction as [`Asm::evex`] takes them.
#[derive(Clone, Copy)]
struct Evex {
    map: u8,
    pp: u8,
    w: bool,
    opcode: u8,
    reg: u8,
    vvvv: u8,
    rm: Rm,
    mask: u8,
}

impl Asm {
    fn byte(&mut self, b: u8) {
        self.code.push(b);
    }

    fn imm32(&mut self, x: i32) {
        self.code.extend_from_slice(&x.to_le_bytes());
    }

    fn extensions(rm: Rm) -> (u8, u8) {
        match rm {
            // A register's fifth bit (zmm16–31) is EVEX's X; VEX never names one.
            Rm::Reg(r) => (r >> 4, r >> 3),
            Rm::Mem { base, index, .. } => (index.map_or(0, |i| i >> 3), base >> 3),
        }
    }

    /// ModRM (+ SIB + disp32) for `reg` and `rm`; memory always takes a 32-bit displacement.
    fn modrm(&mut self, reg: u8, rm: Rm) {
        let reg = (reg & 7) << 3;
        match rm {
            Rm::Reg(r) => self.byte(0xC0 | reg | (r & 7)),
            Rm::Mem { base, index, disp } => {
                match index {
                    Some(i) => {
                        self.byte(0x80 | reg | 4);
                        self.byte(((i & 7) << 3) | (base & 7));
                    }
                    None if base & 7 == 4 => {
                        self.byte(0x80 | reg | 4);
                        self.byte(0x24);
                    }
                    None => self.byte(0x80 | reg | (base & 7)),
                }
                self.imm32(disp);
            }
        }
    }

    /// A 256-bit VEX instruction: `reg` (destination or source), `vvvv` (first source, 0 when
    /// unused) and `rm`.
    #[allow(clippy::too_many_arguments)] // the fields of the encoding
    fn vex(&mut self, map: u8, pp: u8, w: bool, opcode: u8, reg: u8, vvvv: u8, rm: Rm) {
        let (x, b) = Self::extensions(rm);
        self.byte(0xC4);
        self.byte(((!(reg >> 3) & 1) << 7) | ((!x & 1) << 6) | ((!b & 1) << 5) | map);
        self.byte((u8::from(w) << 7) | ((!vvvv & 15) << 3) | (1 << 2) | pp);
        self.byte(opcode);
        self.modrm(reg, rm);
    }

    /// A 512-bit EVEX instruction (registers 0–31): as [`Self::vex`], with opmask `mask`
    /// (0 for none) merging into `reg`.
    #[allow(clippy::too_many_arguments)] // the fields of the encoding
    fn evex(&mut self, map: u8, pp: u8, w: bool, opcode: u8, reg: u8, vvvv: u8, rm: Rm, mask: u8) {
        let start = self.code.len();
        let (x, b) = Self::extensions(rm);
        self.byte(0x62);
        // R X B R' 0 0 m m, the register extensions inverted.
        let r_hi = (!(reg >> 4) & 1) << 4;
        self.byte(((!(reg >> 3) & 1) << 7) | ((!x & 1) << 6) | ((!b & 1) << 5) | r_hi | map);
        self.byte((u8::from(w) << 7) | ((!vvvv & 15) << 3) | (1 << 2) | pp);
        // z = 0, L'L = 10 (512 bits), b = 0, V' (inverted), aaa = the opmask.
        self.byte((0b10 << 5) | ((!(vvvv >> 4) & 1) << 3) | (mask & 7));
        self.byte(opcode);
        self.modrm(reg, rm);
        if let Some(log) = self.evex_log.as_mut() {
            let fields = Evex {
                map,
                pp,
                w,
                opcode,
                reg,
                vvvv,
                rm,
                mask,
            };
            log.push((start, self.code.len(), fields));
        }
    }

    /// A VEX instruction with L = 0 (the opmask moves).
    fn vex_l0(&mut self, pp: u8, opcode: u8, reg: u8, rm: Rm) {
        let (x, b) = Self::extensions(rm);
        self.byte(0xC4);
        self.byte(((!(reg >> 3) & 1) << 7) | ((!x & 1) << 6) | ((!b & 1) << 5) | MAP_0F);
        self.byte((15 << 3) | pp);
        self.byte(opcode);
        self.modrm(reg, rm);
    }

    /// A general-register instruction with an optional REX prefix.
    fn rex_op(&mut self, w: bool, reg: u8, rm: Rm, opcode: &[u8]) {
        let (x, b) = Self::extensions(rm);
        let rex = 0x40 | (u8::from(w) << 3) | (((reg >> 3) & 1) << 2) | (x << 1) | b;
        if rex != 0x40 {
            self.byte(rex);
        }
        self.code.extend_from_slice(opcode);
        self.modrm(reg, rm);
    }

    fn push(&mut self, r: u8) {
        if r >= 8 {
            self.byte(0x41);
        }
        self.byte(0x50 + (r & 7));
    }

    fn pop(&mut self, r: u8) {
        if r >= 8 {
            self.byte(0x41);
        }
        self.byte(0x58 + (r & 7));
    }

    fn load64(&mut self, dst: u8, base: u8, disp: i32) {
        self.rex_op(
            true,
            dst,
            Rm::Mem {
                base,
                index: None,
                disp,
            },
            &[0x8B],
        );
    }

    fn mov64(&mut self, dst: u8, src: u8) {
        self.rex_op(true, dst, Rm::Reg(src), &[0x8B]);
    }

    /// `op r64, imm32` with `ext` the ModRM extension (0 add, 4 and, 5 sub).
    fn alu_imm(&mut self, ext: u8, r: u8, imm: i32) {
        self.rex_op(true, ext, Rm::Reg(r), &[0x81]);
        self.imm32(imm);
    }

    /// `shl` (ext 4) or `shr` (ext 5) of a 64-bit register.
    fn shift64(&mut self, ext: u8, r: u8, by: u8) {
        self.rex_op(true, ext, Rm::Reg(r), &[0xC1]);
        self.byte(by);
    }

    /// A rel32 jump (`0x80 | cc` for `jcc`, `None` for `jmp`) to be patched; returns the site.
    fn jump(&mut self, cc: Option<u8>) -> usize {
        match cc {
            Some(cc) => {
                self.byte(0x0F);
                self.byte(0x80 | cc);
            }
            None => self.byte(0xE9),
        }
        self.imm32(0);
        self.code.len()
    }

    fn patch(&mut self, site: usize, target: usize) {
        let rel = target as i64 - site as i64;
        self.code[site - 4..site].copy_from_slice(&(rel as i32).to_le_bytes());
    }
}

const CC_B: u8 = 0x2;
const CC_AE: u8 = 0x3;
const CC_E: u8 = 0x4;

/// Where a value is when it is not in a register.
#[derive(Clone, Copy)]
enum Home {
    /// A slot, read at the cell's offset.
    Slot(u32),
    /// Memory at a fixed address: a row, a constant or a spill.
    Fixed(Rm),
    /// Computed and not yet spilled.
    None,
}

struct PhaseEncoder<'a> {
    p: &'a Prepared,
    plan: &'a StagePlan,
    phase: usize,
    last: bool,
    /// `pd` forms (f64) or `ps` forms (f32).
    f64: bool,
    isa: Isa,
    /// Two vectors of cells per group (see [`pairs`]).
    pairs: bool,
    row_bytes: i64,
    consts: &'a mut ConstTable,
    asm: Asm,
    /// Per slot: the register holding its base, if it has one.
    slot_base: Vec<Option<u8>>,
    /// Per node: the register holding it.
    reg_of: Vec<Option<u8>>,
    /// Per register: the node it holds.
    holds: [Option<ExprId>; 16],
    /// Per node: its spill's offset from `rsp`.
    spill: Vec<Option<i32>>,
    spills: i32,
    /// Per node: the positions of its uses in the phase, and how many are past.
    uses: Vec<Vec<usize>>,
    used: Vec<usize>,
    /// Per node: imported from a row or computed in this phase.
    row_import: Vec<Option<u32>>,
    /// Per node (AVX-512): a comparison whose every use is a select's condition, which can
    /// live in an opmask register instead of a vector of lane masks.
    mask_only: Vec<bool>,
    /// Per node: the opmask register holding it; per opmask register: its node (see
    /// [`RESIDENT_MASKS`]).
    kreg_of: Vec<Option<u8>>,
    kholds: [Option<ExprId>; 5],
}

/// The opmask registers that hold select conditions (the first vector's, in pairs mode; the
/// second's are two above: `k5`, `k6`). `k1` and `k2` serve within one node (a vector mask's
/// comparison or select, the last phase's flags), shared by the two vectors, which issue a
/// node's instructions one after the other.
const RESIDENT_MASKS: [u8; 2] = [3, 4];

const NEVER: usize = usize::MAX;

impl<'a> PhaseEncoder<'a> {
    fn new(
        p: &'a Prepared,
        plan: &'a StagePlan,
        phase: usize,
        precision: Precision,
        isa: Isa,
        row_bytes: i64,
        consts: &'a mut ConstTable,
    ) -> Self {
        let n = p.exprs.len();
        let last = phase + 1 == plan.phases();
        let mut uses = vec![Vec::new(); n];
        let computed = &plan.computed[phase];
        for (pos, &id) in computed.iter().enumerate() {
            for child in children(p.exprs.get(id)) {
                uses[child.index()].push(pos);
            }
        }
        let end = computed.len();
        let mut outputs: Vec<ExprId> = plan.stores[phase].iter().map(|(id, _)| *id).collect();
        if last {
            outputs.extend(p.updates.iter().map(|(_, e)| *e));
            outputs.push(p.spike);
        }
        for id in outputs {
            uses[id.index()].push(end);
        }
        let mut row_import = vec![None; n];
        for &id in &plan.imports[phase] {
            if !matches!(p.exprs.get(id), Expr::Var(_)) {
                row_import[id.index()] = plan.row[id.index()];
            }
        }
        // The most used slots get a base register.
        let mut slot_uses = vec![0usize; p.slot_count];
        for &id in &plan.imports[phase] {
            if let Expr::Var(Var::Slot(s)) = *p.exprs.get(id) {
                slot_uses[s as usize] += uses[id.index()].len();
            }
        }
        if last {
            for (s, _) in &p.updates {
                slot_uses[*s as usize] += 1;
            }
            slot_uses[0] += 1;
        }
        let mut by_use: Vec<usize> = (0..p.slot_count).filter(|&s| slot_uses[s] > 0).collect();
        by_use.sort_by_key(|&s| std::cmp::Reverse(slot_uses[s]));
        let mut slot_base = vec![None; p.slot_count];
        for (&s, &r) in by_use.iter().zip(&SLOT_BASE_REGS) {
            slot_base[s] = Some(r);
        }
        // Comparisons used only as selects' conditions (not stored, not an output).
        let mut mask_only = vec![false; n];
        if isa == Isa::Avx512 {
            for &id in computed {
                if matches!(p.exprs.get(id), Expr::Binary(op, ..) if op.is_comparison()) {
                    mask_only[id.index()] = true;
                }
            }
            for &id in computed {
                match *p.exprs.get(id) {
                    // A select's condition may stay mask-only; its arms may not.
                    Expr::Select(_, a, b) => {
                        mask_only[a.index()] = false;
                        mask_only[b.index()] = false;
                    }
                    e => {
                        for k in children(&e) {
                            mask_only[k.index()] = false;
                        }
                    }
                }
            }
            for (i, u) in uses.iter().enumerate() {
                if u.contains(&end) {
                    mask_only[i] = false;
                }
            }
        }
        PhaseEncoder {
            p,
            plan,
            phase,
            last,
            f64: precision == Precision::F64,
            isa,
            pairs: pairs(precision, isa),
            row_bytes,
            consts,
            asm: Asm::default(),
            slot_base,
            reg_of: vec![None; n],
            holds: [None; 16],
            spill: vec![None; n],
            spills: 0,
            uses,
            used: vec![0; n],
            row_import,
            mask_only,
            kreg_of: vec![None; n],
            kholds: [None; 5],
        }
    }

    fn elem_shift(&self) -> u8 {
        if self.f64 {
            3
        } else {
            2
        }
    }

    /// The `pp` of the 0F-map arithmetic: 66 for `pd`, none for `ps`.
    fn pp(&self) -> u8 {
        if self.f64 {
            PP_66
        } else {
            PP_NONE
        }
    }

    /// A vector instruction of the phase's ISA: VEX on `ymm`, or EVEX on `zmm`, where W
    /// selects `pd` over `ps` (`w`). VEX ignores W in the 0F and 0F3A maps this encoder uses,
    /// but not in 0F38, where it tells `vfmadd231pd` from `vfmadd231ps`.
    #[allow(clippy::too_many_arguments)] // the fields of the encoding
    fn vop(&mut self, map: u8, pp: u8, w: bool, opcode: u8, reg: u8, vvvv: u8, rm: Rm) {
        match self.isa {
            Isa::Avx2 => self
                .asm
                .vex(map, pp, w && map == MAP_0F38, opcode, reg, vvvv, rm),
            Isa::Avx512 => self.asm.evex(map, pp, w, opcode, reg, vvvv, rm, 0),
        }
    }

    /// Bytes of a vector (a group of cells' values).
    fn vbytes(&self) -> i32 {
        self.isa.vector_bytes()
    }

    fn encode(&mut self) {
        let vbytes = self.vbytes();
        let a = &mut self.asm;
        // Prologue: save the callee-saved registers, align a frame for the spills.
        a.push(RBP);
        a.mov64(RBP, RSP);
        for r in [RBX, R12, R13, R14, R15] {
            a.push(r);
        }
        a.alu_imm(5, RSP, 0);
        let frame_patch = a.code.len() - 4;
        a.alu_imm(4, RSP, -vbytes);
        a.mov64(R15, RDI);
        a.load64(R14, R15, 8);
        a.load64(R12, R15, 16);
        a.load64(R13, R15, 24);
        a.load64(RBX, R15, 32);
        let shift = self.elem_shift();
        self.asm.shift64(4, R14, shift);
        self.asm.shift64(4, R12, shift);
        self.load_slot_bases();
        // if begin == end: return
        self.asm.rex_op(true, R14, Rm::Reg(R12), &[0x3B]);
        let skip = self.asm.jump(Some(CC_AE));
        let top = self.asm.code.len();

        let computed = &self.plan.computed[self.phase];
        for (pos, &id) in computed.iter().enumerate() {
            self.twice(|e| e.node(pos, id));
        }
        self.twice(|e| {
            for &(id, row) in &e.plan.stores[e.phase] {
                let r = e.in_register(id, &[]);
                let at = e.row_operand(row);
                e.vstore(at, r);
            }
        });
        if self.last {
            self.finish_cells();
        }
        // Next group.
        let group = vbytes * self.copies();
        self.asm.alu_imm(0, R14, group);
        self.asm.alu_imm(0, R13, group);
        self.asm.rex_op(true, R14, Rm::Reg(R12), &[0x3B]);
        let back = self.asm.jump(Some(CC_B));
        self.asm.patch(back, top);
        let done = self.asm.code.len();
        self.asm.patch(skip, done);
        // Epilogue.
        let a = &mut self.asm;
        a.byte(0xC5);
        a.byte(0xF8);
        a.byte(0x77); // vzeroupper
        a.rex_op(
            true,
            RSP,
            Rm::Mem {
                base: RBP,
                index: None,
                disp: -40,
            },
            &[0x8D],
        );
        for r in [R15, R14, R13, R12, RBX, RBP] {
            a.pop(r);
        }
        a.byte(0xC3);
        let frame = (self.spills * vbytes * self.copies() + vbytes).to_le_bytes();
        self.asm.code[frame_patch..frame_patch + 4].copy_from_slice(&frame);
    }

    /// Vectors of cells per group.
    fn copies(&self) -> i32 {
        if self.pairs {
            2
        } else {
            1
        }
    }

    /// Emits what `emit` encodes for the group's vector, or in [`pairs`] mode records it once
    /// (its register choices and spills are made once) and issues it for each vector.
    fn twice(&mut self, emit: impl FnOnce(&mut Self)) {
        if !self.pairs {
            emit(self);
            return;
        }
        let outer = std::mem::take(&mut self.asm);
        self.asm.evex_log = Some(Vec::new());
        emit(self);
        let recorded = std::mem::replace(&mut self.asm, outer);
        self.replay(&recorded, 0);
        self.replay(&recorded, 1);
    }

    /// Issues `recorded` for vector `copy` of the group: its vector registers moved up by 16
    /// for the second, its slot and row operands one vector further on, its spills in slots
    /// of their own (the two vectors' spills alternate). Other bytes (general-register loads,
    /// immediates) are copied as they are.
    fn replay(&mut self, recorded: &Asm, copy: u8) {
        let vbytes = self.vbytes();
        let mut at = 0;
        for &(start, end, f) in recorded.evex_log.iter().flatten() {
            self.asm.code.extend_from_slice(&recorded.code[at..start]);
            at = end;
            let (reg_kind, vvvv_kind, rm_kind) = evex_fields(f.map, f.pp, f.opcode);
            let up = |r: u8, kind: Field| match kind {
                Field::Vector => r + 16 * copy,
                Field::Mask if r >= RESIDENT_MASKS[0] => r + 2 * copy,
                _ => r,
            };
            let rm = match f.rm {
                Rm::Reg(r) => Rm::Reg(up(r, rm_kind)),
                Rm::Mem { base, index, disp } => {
                    let disp = if base == RSP {
                        2 * disp + i32::from(copy) * vbytes
                    } else if base == R13 || index == Some(R14) {
                        disp + i32::from(copy) * vbytes
                    } else {
                        disp
                    };
                    Rm::Mem { base, index, disp }
                }
            };
            self.asm.evex(
                f.map,
                f.pp,
                f.w,
                f.opcode,
                up(f.reg, reg_kind),
                up(f.vvvv, vvvv_kind),
                rm,
                up(f.mask, Field::Mask),
            );
        }
        self.asm.code.extend_from_slice(&recorded.code[at..]);
    }

    fn load_slot_bases(&mut self) {
        self.asm.load64(R11, R15, 0);
        for (s, r) in self.slot_base.clone().into_iter().enumerate() {
            if let Some(r) = r {
                self.asm.load64(r, R11, (s * 8) as i32);
            }
        }
    }

    /// The slot's element for the current cell; a slot without a base register loads its base
    /// into `r11` first (so the operand must be used by the next instruction).
    fn slot_operand(&mut self, s: u32) -> Rm {
        if self.slot_base[s as usize].is_none() {
            self.asm.load64(R11, R15, 0);
            self.asm.load64(R11, R11, (s * 8) as i32);
        }
        self.slot_address(s)
    }

    /// The slot's element for the current cell, based on `r11` where the slot has no base
    /// register (see [`Self::slot_operand`]).
    fn slot_address(&self, s: u32) -> Rm {
        Rm::Mem {
            base: self.slot_base[s as usize].unwrap_or(R11),
            index: Some(R14),
            disp: 0,
        }
    }

    fn row_operand(&self, row: u32) -> Rm {
        Rm::Mem {
            base: R13,
            index: None,
            disp: (i64::from(row) * self.row_bytes) as i32,
        }
    }

    fn const_operand(&mut self, c: Const) -> Rm {
        Rm::Mem {
            base: RBX,
            index: None,
            disp: self.consts.index(c),
        }
    }

    fn home(&mut self, id: ExprId) -> Home {
        let i = id.index();
        if let Some(off) = self.spill[i] {
            return Home::Fixed(Rm::Mem {
                base: RSP,
                index: None,
                disp: off,
            });
        }
        if let Some(row) = self.row_import[i] {
            return Home::Fixed(self.row_operand(row));
        }
        match *self.p.exprs.get(id) {
            Expr::Var(Var::Slot(s)) => Home::Slot(s),
            Expr::Var(Var::Builtin(Builtin::T)) => Home::Fixed(self.const_operand(Const::Time)),
            Expr::Var(_) => Home::Fixed(self.const_operand(Const::Bits(0))),
            _ if !self.p.varying[i] => Home::Fixed(self.const_operand(Const::Node(id))),
            _ => Home::None,
        }
    }

    /// `id` as the last (register-or-memory) operand of the next instruction.
    fn operand(&mut self, id: ExprId) -> Rm {
        let rm = self.register_or_memory(id);
        self.refresh(id, rm)
    }

    fn next_use(&self, id: ExprId) -> usize {
        let i = id.index();
        self.uses[i].get(self.used[i]).copied().unwrap_or(NEVER)
    }

    /// A free register, evicting the value used furthest ahead (spilling it if it has no
    /// home) when none is free; never one of `pinned`.
    fn allocate(&mut self, pinned: &[u8]) -> u8 {
        if let Some(r) =
            (0..16u8).find(|&r| self.holds[r as usize].is_none() && !pinned.contains(&r))
        {
            return r;
        }
        let victim = (0..16u8)
            .filter(|r| !pinned.contains(r))
            .max_by_key(|&r| self.holds[r as usize].map_or(NEVER, |id| self.next_use(id)))
            .unwrap_or_else(|| unreachable!("at most four registers are pinned"));
        let Some(id) = self.holds[victim as usize] else {
            unreachable!("no register was free")
        };
        if matches!(self.home(id), Home::None) {
            let off = self.spills * self.vbytes();
            self.spills += 1;
            self.spill[id.index()] = Some(off);
            self.vstore(
                Rm::Mem {
                    base: RSP,
                    index: None,
                    disp: off,
                },
                victim,
            );
        }
        self.reg_of[id.index()] = None;
        self.holds[victim as usize] = None;
        victim
    }

    fn bind(&mut self, id: ExprId, r: u8) {
        self.holds[r as usize] = Some(id);
        self.reg_of[id.index()] = Some(r);
    }

    /// `id` in a register, loading it if needed.
    fn in_register(&mut self, id: ExprId, pinned: &[u8]) -> u8 {
        if let Some(r) = self.reg_of[id.index()] {
            return r;
        }
        let r = self.allocate(pinned);
        let src = self.operand(id);
        self.vload(r, src);
        self.bind(id, r);
        r
    }

    fn vload(&mut self, dst: u8, src: Rm) {
        let (pp, f64) = (self.pp(), self.f64);
        match src {
            Rm::Reg(s) => self.vop(MAP_0F, pp, f64, 0x28, dst, 0, Rm::Reg(s)),
            mem => self.vop(MAP_0F, pp, f64, 0x10, dst, 0, mem),
        }
    }

    fn vstore(&mut self, dst: Rm, src: u8) {
        let (pp, f64) = (self.pp(), self.f64);
        self.vop(MAP_0F, pp, f64, 0x11, src, 0, dst);
    }

    /// Marks the uses at `pos` as past and frees the registers of values with none left.
    fn retire(&mut self, ids: &[ExprId], pos: usize) {
        for &id in ids {
            let i = id.index();
            while self.uses[i].get(self.used[i]).is_some_and(|&u| u <= pos) {
                self.used[i] += 1;
            }
        }
        for &id in ids {
            if self.next_use(id) == NEVER {
                if let Some(r) = self.reg_of[id.index()].take() {
                    self.holds[r as usize] = None;
                }
                if let Some(k) = self.kreg_of[id.index()].take() {
                    self.kholds[k as usize] = None;
                }
            }
        }
    }

    /// Emits node `id` at position `pos`.
    fn node(&mut self, pos: usize, id: ExprId) {
        let e = *self.p.exprs.get(id);
        let pp = self.pp();
        let f64 = self.f64;
        let kids = children(&e);
        let d = match e {
            Expr::Unary(op @ (UnaryOp::Exp2Scale | UnaryOp::Exp2Tail), k) => {
                self.exp2_table(pos, &kids, op == UnaryOp::Exp2Tail, k)
            }
            Expr::Unary(op, a) => {
                let (opcode, mask) = match op {
                    UnaryOp::Neg => (0x57, Some(sign_mask(f64))),
                    UnaryOp::Fabs => (0x54, Some(!sign_mask(f64))),
                    UnaryOp::Not => (0x57, Some(u64::MAX)),
                    UnaryOp::Sqrt => (0x51, None),
                    _ => (0, None), // floor, round
                };
                match mask {
                    Some(bits) => {
                        let ra = self.in_register(a, &[]);
                        self.retire(&kids, pos);
                        let d = self.allocate(&[ra]);
                        let m = self.const_operand(Const::Bits(bits));
                        self.vop(MAP_0F, pp, f64, opcode, d, ra, m);
                        d
                    }
                    None => {
                        let src = self.register_or_memory(a);
                        let pinned = pinned_of(src);
                        self.retire(&kids, pos);
                        let d = self.allocate(&pinned);
                        let src = self.refresh(a, src);
                        if opcode == 0x51 {
                            self.vop(MAP_0F, pp, f64, 0x51, d, 0, src);
                        } else {
                            // vroundpd/ps, or vrndscalepd/ps (same opcodes and rounding bits).
                            let (opc, imm) = match op {
                                UnaryOp::Floor => (if f64 { 0x09 } else { 0x08 }, 0x09),
                                _ => (if f64 { 0x09 } else { 0x08 }, 0x08),
                            };
                            self.vop(MAP_0F3A, PP_66, f64, opc, d, 0, src);
                            self.asm.byte(imm);
                        }
                        d
                    }
                }
            }
            Expr::Binary(BinaryOp::Ldexp, x, k) => self.ldexp(pos, &kids, x, k),
            Expr::Binary(op @ (BinaryOp::Min | BinaryOp::Max), a, b) => {
                self.min_max(pos, &kids, op == BinaryOp::Max, a, b)
            }
            Expr::Binary(op, a, b) => {
                let (opcode, predicate, commutes) = match op {
                    BinaryOp::Add => (0x58, None, true),
                    BinaryOp::Mul => (0x59, None, true),
                    BinaryOp::Sub => (0x5C, None, false),
                    BinaryOp::Div => (0x5E, None, false),
                    BinaryOp::And => (0x54, None, true),
                    BinaryOp::Or => (0x56, None, true),
                    BinaryOp::Lt => (0xC2, Some(0x01), false),
                    BinaryOp::Le => (0xC2, Some(0x02), false),
                    BinaryOp::Gt => (0xC2, Some(0x0E), false),
                    BinaryOp::Ge => (0xC2, Some(0x0D), false),
                    BinaryOp::Eq => (0xC2, Some(0x00), false),
                    BinaryOp::Ne => (0xC2, Some(0x04), false),
                    BinaryOp::Pow => unreachable!("unsupported phases stay in Cranelift"),
                    BinaryOp::Min | BinaryOp::Max | BinaryOp::Ldexp => {
                        unreachable!("encoded by `min_max` and `ldexp`")
                    }
                };
                // The first source must be a register; a commuting op takes whichever is.
                let (a, b) = if commutes
                    && self.reg_of[a.index()].is_none()
                    && self.reg_of[b.index()].is_some()
                {
                    (b, a)
                } else {
                    (a, b)
                };
                let ra = self.in_register(a, &[]);
                let src = self.register_or_memory(b);
                let mut pinned = pinned_of(src);
                pinned.push(ra);
                self.retire(&kids, pos);
                // A select's condition stays in an opmask register when one is free.
                if let (Some(imm), true) = (predicate, self.mask_only[id.index()]) {
                    let free = RESIDENT_MASKS
                        .into_iter()
                        .find(|&k| self.kholds[k as usize].is_none());
                    if let Some(k) = free {
                        let src = self.refresh(b, src);
                        self.asm.evex(MAP_0F, pp, f64, 0xC2, k, ra, src, 0);
                        self.asm.byte(imm);
                        self.kholds[k as usize] = Some(id);
                        self.kreg_of[id.index()] = Some(k);
                        return;
                    }
                }
                let d = self.allocate(&pinned);
                let src = self.refresh(b, src);
                match (predicate, self.isa) {
                    (Some(imm), Isa::Avx512) => {
                        // The comparison sets k1; a lane mask is all ones where it holds.
                        self.asm.evex(MAP_0F, pp, f64, 0xC2, K1, ra, src, 0);
                        self.asm.byte(imm);
                        self.asm
                            .evex(MAP_0F38, PP_F3, f64, 0x38, d, 0, Rm::Reg(K1), 0);
                    }
                    _ => {
                        self.vop(MAP_0F, pp, f64, opcode, d, ra, src);
                        if let Some(imm) = predicate {
                            self.asm.byte(imm);
                        }
                    }
                }
                d
            }
            Expr::Fma(a, b, c) => {
                // d = c, then d = a·b + d (vfmadd231).
                let ra = self.in_register(a, &[]);
                let src = self.register_or_memory(b);
                let mut pinned = pinned_of(src);
                pinned.push(ra);
                let c_reg = self.reg_of[c.index()];
                self.retire(&kids, pos);
                let d = match c_reg {
                    Some(r) if self.holds[r as usize].is_none() => r,
                    _ => {
                        let d = self.allocate(&pinned);
                        let from = self.operand(c);
                        self.vload(d, from);
                        d
                    }
                };
                let src = self.refresh(b, src);
                self.vop(MAP_0F38, PP_66, f64, 0xB8, d, ra, src);
                d
            }
            Expr::Select(c, a, b) if self.kreg_of[c.index()].is_some() => {
                // The condition is in an opmask register: a where it is set, b elsewhere.
                let k = self.kreg_of[c.index()].unwrap_or(K1);
                let rb = self.in_register(b, &[]);
                let src = self.register_or_memory(a);
                let mut pinned = pinned_of(src);
                pinned.push(rb);
                self.retire(&kids, pos);
                let d = self.allocate(&pinned);
                let src = self.refresh(a, src);
                self.asm.evex(MAP_0F38, PP_66, f64, 0x65, d, rb, src, k);
                d
            }
            Expr::Select(c, a, b) => {
                // blendv(d, b, a, mask c): a where the mask's sign is set, b elsewhere.
                let rc = self.in_register(c, &[]);
                let rb = self.in_register(b, &[rc]);
                let src = self.register_or_memory(a);
                let mut pinned = pinned_of(src);
                pinned.extend([rc, rb]);
                self.retire(&kids, pos);
                let d = self.allocate(&pinned);
                let src = self.refresh(a, src);
                match self.isa {
                    Isa::Avx2 => {
                        let opc = if f64 { 0x4B } else { 0x4A };
                        self.asm.vex(MAP_0F3A, PP_66, false, opc, d, rb, src);
                        self.asm.byte(rc << 4);
                    }
                    Isa::Avx512 => {
                        // k1 from the mask's sign bits, then a where it is set, b elsewhere.
                        self.asm
                            .evex(MAP_0F38, PP_F3, f64, 0x39, K1, 0, Rm::Reg(rc), 0);
                        self.asm.evex(MAP_0F38, PP_66, f64, 0x65, d, rb, src, K1);
                    }
                }
                d
            }
            Expr::Lit(_) | Expr::Var(_) => unreachable!("imports and constants are not computed"),
            Expr::TableEntry(..) => unreachable!("`supported` leaves a TABLE to Cranelift"),
        };
        self.bind(id, d);
        if self.next_use(id) == NEVER {
            self.reg_of[id.index()] = None;
            self.holds[d as usize] = None;
        }
    }

    /// `x·2^k` for integer-valued `k`, as Cranelift computes it: `k + 1.5·2^52` (2^23 for
    /// f32) puts k in the low bits, an integer add turns them into the biased exponent, a
    /// shift moves it into place, and one multiply scales x.
    fn ldexp(&mut self, pos: usize, kids: &[ExprId], x: ExprId, k: ExprId) -> u8 {
        let (pp, f64) = (self.pp(), self.f64);
        let (magic, offset) = if f64 {
            let magic_bits: i64 = 0x4338_0000_0000_0000;
            (
                6_755_399_441_055_744f64.to_bits(),
                1023i64.wrapping_sub(magic_bits) as u64,
            )
        } else {
            let magic_bits: i32 = 0x4B40_0000;
            let off = 127i32.wrapping_sub(magic_bits) as u32;
            (
                u64::from(12_582_912f32.to_bits()) * 0x1_0000_0001,
                u64::from(off) * 0x1_0000_0001,
            )
        };
        let rx = self.in_register(x, &[]);
        let rk = self.in_register(k, &[rx]);
        self.retire(kids, pos);
        let d = self.allocate(&[rx, rk]);
        let magic = self.const_operand(Const::Bits(magic));
        self.vop(MAP_0F, pp, f64, 0x58, d, rk, magic); // vaddpd/ps d, k, magic
        let offset = self.const_operand(Const::Bits(offset));
        // vpaddq (D4) or vpaddd (FE), EVEX.W1 for quadwords.
        let add = if f64 { 0xD4 } else { 0xFE };
        self.vop(MAP_0F, PP_66, f64, add, d, d, offset);
        // vpsllq (73 /6) or vpslld (72 /6) by the mantissa's width; the destination is vvvv.
        let (opc, bits) = if f64 { (0x73, 52) } else { (0x72, 23) };
        self.vop(MAP_0F, PP_66, f64, opc, 6, d, Rm::Reg(d));
        self.asm.byte(bits);
        self.vop(MAP_0F, pp, f64, 0x59, d, rx, Rm::Reg(d)); // vmulpd/ps d, x, d
        d
    }

    /// `Exp2Scale(k)` or `Exp2Tail(k)` for integer-valued `k` (AVX-512, f64), as
    /// [`crate::ir::exp2`] computes them: `k + 1.5·2^52` puts k's low bits in the lane, whose
    /// low three index the eight-entry table (`vpermpd` reads only those), and the scale adds
    /// the rest, shifted into the exponent, to the entry's bits (`vpsllq`, `vpaddq`).
    fn exp2_table(&mut self, pos: usize, kids: &[ExprId], tail: bool, k: ExprId) -> u8 {
        let rk = self.in_register(k, &[]);
        self.retire(kids, pos);
        let d = self.allocate(&[rk]);
        let magic = self.const_operand(Const::Bits(crate::ir::exp2::ROUND_MAGIC.to_bits()));
        self.vop(MAP_0F, PP_66, true, 0x58, d, rk, magic); // vaddpd d, k, magic
        let table = self.const_operand(Const::Exp2Table { tail });
        if tail {
            // vpermpd d, d (index), table
            self.asm.evex(MAP_0F38, PP_66, true, 0x16, d, d, table, 0);
            return d;
        }
        let t = self.allocate(&[rk, d]);
        self.asm.evex(MAP_0F38, PP_66, true, 0x16, t, d, table, 0); // t = table[d]
                                                                    // vpsllq d, d, SCALE_SHIFT (73 /6; the destination is vvvv), then vpaddq d, t, d.
        self.vop(MAP_0F, PP_66, true, 0x73, 6, d, Rm::Reg(d));
        self.asm.byte(crate::ir::exp2::SCALE_SHIFT as u8);
        self.vop(MAP_0F, PP_66, true, 0xD4, d, t, Rm::Reg(d));
        d
    }

    /// Cranelift's `fmin`/`fmax` on vectors: the x86 minimum or maximum both ways round,
    /// combined so that −0 < +0 and a NaN in either gives a NaN (with its payload cleared).
    /// max: t = max(a, b), x = t ^ max(b, a), o = t | x, s = o − x, r = s where o is no NaN.
    /// min: t = min(a, b) | min(b, a), m = unord(t, t), r = (t | m) with the NaN's payload
    /// cleared.
    fn min_max(&mut self, pos: usize, kids: &[ExprId], max: bool, a: ExprId, b: ExprId) -> u8 {
        let (pp, f64) = (self.pp(), self.f64);
        let ra = self.in_register(a, &[]);
        let rb = self.in_register(b, &[ra]);
        self.retire(kids, pos);
        let t = self.allocate(&[ra, rb]);
        let u = self.allocate(&[ra, rb, t]);
        let op = if max { 0x5F } else { 0x5D };
        self.vop(MAP_0F, pp, f64, op, t, ra, Rm::Reg(rb)); // t = op(a, b)
        self.vop(MAP_0F, pp, f64, op, u, rb, Rm::Reg(ra)); // u = op(b, a)
        let (result, mask) = if max {
            self.vop(MAP_0F, pp, f64, 0x57, u, t, Rm::Reg(u)); // x = t ^ u
            self.vop(MAP_0F, pp, f64, 0x56, t, t, Rm::Reg(u)); // o = t | x
            self.vop(MAP_0F, pp, f64, 0x5C, u, t, Rm::Reg(u)); // s = o − x
            self.unordered(t, t); // t = unord(o, o)
            (u, t)
        } else {
            self.vop(MAP_0F, pp, f64, 0x56, t, t, Rm::Reg(u)); // t = t | u
            self.unordered(u, t); // u = unord(t, t)
            self.vop(MAP_0F, pp, f64, 0x56, t, t, Rm::Reg(u)); // t = t | m
            (t, u)
        };
        // mask >>= 13 (f64) or 10 (f32): ~mask keeps a NaN's sign, exponent and quiet bit.
        let (opc, bits) = if f64 { (0x73, 13) } else { (0x72, 10) };
        self.vop(MAP_0F, PP_66, f64, opc, 2, mask, Rm::Reg(mask));
        self.asm.byte(bits);
        self.vop(MAP_0F, pp, f64, 0x55, result, mask, Rm::Reg(result)); // ~mask & result
        result
    }

    /// `d` = all ones in the lanes where `x` is a NaN (`x` unordered with itself).
    fn unordered(&mut self, d: u8, x: u8) {
        let (pp, f64) = (self.pp(), self.f64);
        match self.isa {
            Isa::Avx2 => {
                self.asm.vex(MAP_0F, pp, false, 0xC2, d, x, Rm::Reg(x));
                self.asm.byte(0x03);
            }
            Isa::Avx512 => {
                self.asm.evex(MAP_0F, pp, f64, 0xC2, K1, x, Rm::Reg(x), 0);
                self.asm.byte(0x03);
                self.asm
                    .evex(MAP_0F38, PP_F3, f64, 0x38, d, 0, Rm::Reg(K1), 0);
            }
        }
    }

    /// `id` as a last operand, without loading it; a slot operand's base is loaded again by
    /// [`Self::refresh`] just before its use.
    fn register_or_memory(&mut self, id: ExprId) -> Rm {
        match self.reg_of[id.index()] {
            Some(r) => Rm::Reg(r),
            None => match self.home(id) {
                Home::Slot(s) => self.slot_address(s),
                Home::Fixed(rm) => rm,
                Home::None => unreachable!("a computed value is in a register or spilled"),
            },
        }
    }

    /// The operand of `id` right before its instruction: loads `r11` for a slot without a
    /// base register.
    fn refresh(&mut self, id: ExprId, rm: Rm) -> Rm {
        match (rm, self.home(id)) {
            (
                Rm::Mem {
                    base: R11,
                    index: Some(R14),
                    ..
                },
                Home::Slot(s),
            ) => self.slot_operand(s),
            _ => rm,
        }
    }

    /// The last phase's end: runaway test, new slots, spike and runaway bits.
    fn finish_cells(&mut self) {
        let pp = self.pp();
        let f64 = self.f64;
        // trouble = !(|v| <= limit): true for NaN as well.
        let limit = if self.f64 {
            super::super::RUNAWAY_MV.to_bits()
        } else {
            u64::from((super::super::RUNAWAY_MV as f32).to_bits()) * 0x1_0000_0001
        };
        let limit = self.const_operand(Const::Bits(limit));
        let abs = self.const_operand(Const::Bits(!sign_mask(self.f64)));
        // The spike and runaway lanes' masks: AVX2 moves them to eax and r11d; AVX-512 leaves
        // them in k1 and k2 (per vector of the group).
        let flags = |e: &mut Self| {
            let spike = e.in_register(e.p.spike, &[]);
            let v_new = e.p.updates.iter().find(|(s, _)| *s == 0).map(|(_, x)| *x);
            let v = match v_new {
                Some(x) => e.in_register(x, &[spike]),
                None => {
                    let r = e.allocate(&[spike]);
                    let at = e.slot_operand(0);
                    e.vload(r, at);
                    r
                }
            };
            let trouble = e.allocate(&[spike, v]);
            e.vop(MAP_0F, pp, f64, 0x54, trouble, v, abs);
            match e.isa {
                Isa::Avx2 => {
                    e.asm.vex(MAP_0F, pp, false, 0xC2, trouble, trouble, limit);
                    e.asm.byte(0x06);
                    e.asm.vex(MAP_0F, pp, false, 0x50, RAX, 0, Rm::Reg(spike));
                    e.asm.vex(MAP_0F, pp, false, 0x50, R11, 0, Rm::Reg(trouble));
                }
                Isa::Avx512 => {
                    e.asm.evex(MAP_0F, pp, f64, 0xC2, K2, trouble, limit, 0);
                    e.asm.byte(0x06);
                    e.asm
                        .evex(MAP_0F38, PP_F3, f64, 0x39, K1, 0, Rm::Reg(spike), 0);
                }
            }
        };
        // kmovb (8 f64 lanes) or kmovw (16 f32 lanes) into a general register.
        let kpp = if f64 { PP_66 } else { PP_NONE };
        let vector_lanes: u8 = match (self.isa, f64) {
            (Isa::Avx2, _) => 8,
            (Isa::Avx512, true) => 8,
            (Isa::Avx512, false) => 16,
        };
        // eax = spike lanes | runaway lanes << lane_shift, the lanes of the group's vectors in
        // turn.
        let lane_shift = vector_lanes * self.copies() as u8;
        if self.pairs {
            let mut first = true;
            let outer = std::mem::take(&mut self.asm);
            self.asm.evex_log = Some(Vec::new());
            flags(self);
            let recorded = std::mem::replace(&mut self.asm, outer);
            for copy in 0..2u8 {
                self.replay(&recorded, copy);
                let at = copy * vector_lanes;
                for (k, shift) in [(K1, at), (K2, lane_shift + at)] {
                    self.asm.vex_l0(kpp, 0x93, R11, Rm::Reg(k));
                    if shift > 0 {
                        self.asm.rex_op(false, 4, Rm::Reg(R11), &[0xC1]);
                        self.asm.byte(shift);
                    }
                    // mov eax, r11d the first time, then or eax, r11d.
                    let op = if std::mem::take(&mut first) {
                        0x8B
                    } else {
                        0x0B
                    };
                    self.asm.rex_op(false, RAX, Rm::Reg(R11), &[op]);
                }
            }
        } else {
            flags(self);
            if self.isa == Isa::Avx512 {
                self.asm.vex_l0(kpp, 0x93, RAX, Rm::Reg(K1));
                self.asm.vex_l0(kpp, 0x93, R11, Rm::Reg(K2));
            }
            self.asm.rex_op(false, 4, Rm::Reg(R11), &[0xC1]);
            self.asm.byte(lane_shift);
            self.asm.rex_op(false, RAX, Rm::Reg(R11), &[0x0B]);
        }
        // Slot-valued updates are read before any slot is written.
        self.twice(|e| {
            let mut held = Vec::new();
            for &(_, x) in &e.p.updates {
                if matches!(e.home(x), Home::Slot(_)) {
                    let r = e.in_register(x, &held);
                    held.push(r);
                }
            }
            for &(s, x) in &e.p.updates {
                let r = e.in_register(x, &held);
                let at = e.slot_operand(s);
                e.vstore(at, r);
            }
        });
        // Rare: some lane spiked or ran away.
        self.asm.rex_op(false, RAX, Rm::Reg(RAX), &[0x85]); // test eax, eax
        let skip = self.asm.jump(Some(CC_E));
        self.asm.load64(RDI, R15, 48);
        self.asm.load64(RSI, R15, 56);
        self.asm.mov64(RDX, R14);
        let shift = self.elem_shift();
        self.asm.shift64(5, RDX, shift);
        self.asm.load64(RCX, R15, 40);
        self.asm.rex_op(false, R8, Rm::Reg(RAX), &[0x8B]); // mov r8d, eax
        self.asm.rex_op(true, 0, Rm::Reg(R9), &[0xC7]); // mov r9, lane_shift
        self.asm.imm32(i32::from(lane_shift));
        let helper = note_flags as *const () as u64;
        self.asm.byte(0x48);
        self.asm.byte(0xB8); // mov rax, imm64
        self.asm.code.extend_from_slice(&helper.to_le_bytes());
        self.asm.rex_op(false, 2, Rm::Reg(RAX), &[0xFF]); // call rax
        self.load_slot_bases();
        let here = self.asm.code.len();
        self.asm.patch(skip, here);
    }
}

/// What a field of an EVEX instruction names.
#[derive(Clone, Copy)]
enum Field {
    Vector,
    Mask,
    /// An opcode extension (the shifts' `/6`, `/2`) or an unused vvvv.
    Other,
}

/// What the reg, vvvv and rm fields of an EVEX instruction the wide phases emit name:
/// comparisons and `vpmovq2m` write an opmask, `vpmovm2q` reads one.
fn evex_fields(map: u8, pp: u8, opcode: u8) -> (Field, Field, Field) {
    use Field::{Mask, Other, Vector};
    match (map, pp, opcode) {
        (MAP_0F, _, 0xC2) => (Mask, Vector, Vector),
        (MAP_0F38, PP_F3, 0x38) => (Vector, Other, Mask),
        (MAP_0F38, PP_F3, 0x39) => (Mask, Other, Vector),
        (MAP_0F, PP_66, 0x72 | 0x73) => (Other, Vector, Vector),
        (MAP_0F, _, 0x10 | 0x11 | 0x28 | 0x51) | (MAP_0F3A, _, 0x08 | 0x09) => {
            (Vector, Other, Vector)
        }
        _ => (Vector, Vector, Vector),
    }
}

fn sign_mask(f64: bool) -> u64 {
    if f64 {
        1 << 63
    } else {
        0x8000_0000_8000_0000
    }
}

fn pinned_of(rm: Rm) -> Vec<u8> {
    match rm {
        Rm::Reg(r) => vec![r],
        Rm::Mem { .. } => Vec::new(),
    }
}

fn children(e: &Expr) -> Vec<ExprId> {
    match *e {
        Expr::Unary(_, a) | Expr::TableEntry(_, a) => vec![a],
        Expr::Binary(_, a, b) => vec![a, b],
        Expr::Fma(a, b, c) | Expr::Select(a, b, c) => vec![a, b, c],
        Expr::Lit(_) | Expr::Var(_) => Vec::new(),
    }
}
