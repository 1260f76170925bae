//! The untyped, spanned syntax tree of a `.chan` file.
//!
//! One [`File`] holds either mechanism blocks (NMODL) or model blocks (`CELL`, `SIMULATE`); the
//! semantic stage decides which kind it is. Nothing here is checked beyond the grammar.

use crate::span::Span;
use crate::syntax::verbatim::Verbatim;

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Title(String),
    Units(Vec<UnitDef>),
    Neuron {
        stmts: Vec<NeuronStmt>,
        span: Span,
    },
    Parameter(Vec<VarDecl>),
    Constant(Vec<VarDecl>),
    Assigned(Vec<VarDecl>),
    /// A file-scope `LOCAL`: variables every block shares, 0 until a block assigns them.
    FileLocal(Vec<VarDecl>),
    State(Vec<VarDecl>),
    Independent(Span),
    Initial(Block),
    Breakpoint(Block),
    Derivative {
        name: Ident,
        body: Block,
    },
    Kinetic {
        name: Ident,
        body: Block,
    },
    /// LINEAR and NONLINEAR blocks (`keyword` is which). LINEAR is solved where INITIAL
    /// SOLVEs it; NONLINEAR is rejected.
    Algebraic {
        keyword: Ident,
        name: Ident,
        body: Block,
    },
    Function(Callable),
    Procedure(Callable),
    FunctionTable {
        name: Ident,
        span: Span,
    },
    NetReceive {
        args: Vec<Arg>,
        body: Block,
        span: Span,
    },
    /// A VERBATIM block at file scope, and what its C is ([`Verbatim`]).
    Verbatim(Span, Verbatim),
    /// Blocks of NMODL that hhc parses but does not run: `CONSTRUCTOR`, `DESTRUCTOR` (C code
    /// run when NEURON makes or frees an instance) and `BEFORE`/`AFTER` `INITIAL|BREAKPOINT|
    /// SOLVE|STEP`. `keyword` spans the whole heading (`AFTER SOLVE`).
    Hook {
        keyword: Ident,
        body: Block,
    },
    UnitsToggle {
        on: bool,
        span: Span,
    },
    Cell(CellDef),
    Simulate(SimulateDef),
    Network(NetworkDef),
}

/// `(mA) = (milliamp)` or `FARADAY = (faraday) (coulomb)` or `R = 8.314 (J/degC)`.
#[derive(Clone, Debug, PartialEq)]
pub enum UnitDef {
    Alias {
        name: Unit,
        definition: Unit,
    },
    Constant {
        name: Ident,
        value: Option<Number>,
        units: Vec<Unit>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Unit {
    pub text: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Number {
    pub text: String,
    pub negative: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NeuronStmt {
    Suffix(Ident),
    PointProcess(Ident),
    /// `ARTIFICIAL_CELL name`: a point process with no membrane, driven by events alone.
    ArtificialCell(Ident),
    /// `RANDOM r`: a random stream the mechanism draws from (NEURON 9).
    Random(Vec<Ident>),
    UseIon {
        ion: Ident,
        read: Vec<Ident>,
        write: Vec<Ident>,
        valence: Option<Number>,
    },
    NonspecificCurrent(Vec<Ident>),
    ElectrodeCurrent(Vec<Ident>),
    Range(Vec<Ident>),
    Global(Vec<Ident>),
    Pointer(Vec<Ident>),
    Threadsafe,
}

#[derive(Clone, Debug, PartialEq)]
pub struct VarDecl {
    pub name: Ident,
    pub value: Option<Number>,
    pub unit: Option<Unit>,
    pub limits: Option<(Number, Number)>,
    /// `name[N]` declares an array of N elements: N as written (a number or a DEFINEd name),
    /// and where. `sema::arrays` expands it into the elements `name[0]` … `name[N-1]`.
    pub array: Option<(String, Span)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Ident,
    pub unit: Option<Unit>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Callable {
    pub name: Ident,
    pub args: Vec<Arg>,
    pub unit: Option<Unit>,
    pub body: Block,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    Assign {
        target: Ident,
        value: Expr,
    },
    Derivative {
        state: Ident,
        value: Expr,
    },
    If {
        cond: Expr,
        then: Block,
        otherwise: Option<Block>,
    },
    Call(Expr),
    Local(Vec<Ident>),
    Solve {
        block: Ident,
        method: Option<Ident>,
    },
    Table {
        names: Vec<Ident>,
        depend: Vec<Ident>,
        from: Expr,
        to: Expr,
        with: Expr,
    },
    Reaction {
        lhs: Vec<Species>,
        rhs: Vec<Species>,
        rates: Vec<Expr>,
    },
    Conserve {
        lhs: Vec<Species>,
        rhs: Expr,
    },
    UnitsToggle {
        on: bool,
    },
    /// A VERBATIM block among statements, and what its C is.
    Verbatim(Verbatim),
    /// NMODL that hhc parses and refuses with a diagnostic naming it: `~ a = b` (an equation
    /// of a LINEAR/NONLINEAR block), `COMPARTMENT`, `LONGITUDINAL_DIFFUSION` and `FROM i = a
    /// TO b { … }` loops. `what` names the construct.
    Unsupported {
        what: &'static str,
        keyword: Span,
    },
    /// `printf("…", x)`: NEURON prints; hhc runs no C and prints nothing.
    Print,
    /// `INITIAL { … }` inside NET_RECEIVE: run once per connection at initialisation, it sets
    /// the connection's own values (the weight arguments after the first).
    Initial(Block),
    /// `x[i] = value` (and `x[i]' = value` when `derivative`): an element of an array, its
    /// index an expression that `sema::arrays` must be able to evaluate.
    AssignElement {
        target: Ident,
        index: Expr,
        value: Expr,
        derivative: bool,
    },
    /// `FROM i = a TO b BY c { … }`: unrolled by `sema::arrays` when a, b and c are known.
    From {
        var: Ident,
        from: Expr,
        to: Expr,
        by: Option<Expr>,
        body: Block,
    },
    /// `COMPARTMENT volume {states}` in KINETIC: those states' equations are in amounts,
    /// `volume·x' = Σ flux`. With an index (`COMPARTMENT i, vol[i] {ca}`) the volume is per
    /// element of an array, which `sema::arrays` expands.
    Compartment {
        index: Option<Ident>,
        volume: Expr,
        states: Vec<Ident>,
    },
    /// `LOCAL a, x[N]` with at least one array: expanded by `sema::arrays`.
    LocalArrays(Vec<(Ident, Option<(String, Span)>)>),
    /// `while (cond) { … }`: run by unrolling (see the sema's `MAX_WHILE_ITERATIONS`).
    While {
        cond: Expr,
        body: Block,
    },
    /// `~ lhs = rhs`: an equation of a LINEAR (or NONLINEAR) block.
    Equation {
        lhs: Expr,
        rhs: Expr,
    },
    /// `WATCH (a > b) flag, …` in NET_RECEIVE: each condition (a comparison) and the flag of
    /// the event it sends itself when the condition becomes true.
    Watch(Vec<(Expr, Expr)>),
    /// `FOR_NETCONS (w1, A1, …) { … }` in NET_RECEIVE: the body runs once for every connection
    /// to this point process, its arguments naming that connection's values.
    ForNetcons {
        args: Vec<Arg>,
        body: Block,
    },
    Block(Block),
    /// A statement the parser could not read; the error is already reported.
    Error,
}

/// A term of a reaction: `2 ca[i]` is a coefficient, a name and (for an array element, until
/// `sema::arrays` resolves it) an index.
#[derive(Clone, Debug, PartialEq)]
pub struct Species {
    pub coef: Option<Number>,
    pub name: Ident,
    pub index: Option<Expr>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Number(String),
    Name(String),
    Call {
        name: Ident,
        args: Vec<Expr>,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `x[i]`: an element of an array (parsed; hhc has no arrays yet).
    Index {
        name: Ident,
        index: Box<Expr>,
    },
    /// `(expr (unit))`: a literal with an explicit unit.
    WithUnit {
        value: Box<Expr>,
        unit: Unit,
    },
    Error,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

// ---- model files -------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
pub struct CellDef {
    pub name: Ident,
    pub items: Vec<CellItem>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum CellItem {
    Setting(Setting),
    Ion {
        name: Ident,
        settings: Vec<Setting>,
    },
    Insert {
        mechanism: Ident,
        /// `INSERT X IN soma, dend { … }`: the sections it goes into; empty means everywhere.
        regions: Vec<Ident>,
        settings: Vec<Setting>,
    },
    /// `SECTION dend { parent = soma  L = 200 (um)  diam = 2 (um)  nseg = 21 }`.
    Section {
        name: Ident,
        settings: Vec<Setting>,
    },
    /// `POINT syn = ExpSyn AT dend(0.5) { tau = 2 (ms) }`: a point process on every cell.
    Point {
        name: Ident,
        mechanism: Ident,
        at: Value,
        settings: Vec<Setting>,
    },
}

/// `NETWORK { POPULATION … CONNECT … }`.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkDef {
    pub items: Vec<NetworkItem>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NetworkItem {
    /// `POPULATION exc = Pyramidal { count = 80 }`.
    Population {
        name: Ident,
        cell: Ident,
        settings: Vec<Setting>,
        span: Span,
    },
    /// `CONNECT exc -> inh AT esyn { rule = probability(0.1)  weight = … delay = … }`; the
    /// target is `None` for a population of artificial cells (`CONNECT a -> stim { … }`).
    Connect {
        pre: Ident,
        post: Ident,
        target: Option<Ident>,
        settings: Vec<Setting>,
        span: Span,
    },
    /// `GAP a <-> b AT site { rule = probability(0.1)  weight = 0.5 (nS) }`: gap junctions
    /// between point `site` of cells of `a` and the same point of cells of `b`.
    Gap {
        a: Ident,
        b: Ident,
        site: Ident,
        settings: Vec<Setting>,
        span: Span,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct SimulateDef {
    pub settings: Vec<Setting>,
    pub span: Span,
}

/// `name = value, value …` in a model file.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    pub name: Ident,
    pub values: Vec<Value>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Number {
        number: Number,
        unit: Option<Unit>,
    },
    Name(Ident),
    Call {
        name: Ident,
        args: Vec<Value>,
        span: Span,
    },
}

impl Value {
    pub fn span(&self) -> Span {
        match self {
            Value::Number { number, unit } => unit
                .as_ref()
                .map_or(number.span, |u| number.span.to(u.span)),
            Value::Name(i) => i.span,
            Value::Call { span, .. } => *span,
        }
    }
}
