//! The IR: hash-consed expression DAGs in an arena, and mechanisms built from them.
//!
//! An [`ExprArena`] stores every expression once; building the same node twice returns the same
//! [`ExprId`], so common subexpressions are shared by construction. Spans live in a side vector
//! beside the nodes, never in them.
//!
//! Lowering executes each NMODL block symbolically, so there are no statements, locals or calls
//! left: an `if`/`else` becomes [`Expr::Select`], a call is inlined, a LOCAL is the expression it
//! was last given. A kernel is therefore a list of *parallel* assignments `target := expr` in which
//! every read sees the value at kernel entry. That form suits symbolic analysis (derivatives,
//! cnexp) and branch-free code generation for SIMD lanes and GPU threads alike.
//!
//! The one read of memory other than a slot is a TABLE's entry ([`Expr::TableEntry`]): the arena
//! keeps its tables beside the nodes. In a mechanism a table may still be a function
//! ([`Table::Tabulated`]), which importing it into a cell program computes once the model has
//! given its parameters values; a kernel reads values only.

pub mod exp2;
pub mod interp;
pub mod print;
pub mod validate;

use crate::span::Span;
use std::collections::HashMap;

/// A handle to an expression in an [`ExprArena`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExprId(pub u32);

impl ExprId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Built-in per-compartment or global values a mechanism may read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Builtin {
    V,
    Celsius,
    Dt,
    T,
    /// The compartment's diameter (µm) and membrane area (µm²), NEURON's `diam` and `area`:
    /// a mechanism that declares them reads its segment's. Cell programs bind them per
    /// compartment; no kernel sees them.
    Diam,
    Area,
}

/// A field of an ion species as seen by one compartment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IonField {
    /// Reversal potential, mV.
    E,
    /// Current density, µA/cm².
    I,
    /// Inner concentration, mM.
    Ci,
    /// Outer concentration, mM.
    Co,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Var {
    Param(u32),
    State(u32),
    Ion(u32, IonField),
    Builtin(Builtin),
    /// A storage slot of a fused cell program (see [`CellProgram`]).
    Slot(u32),
    /// An argument of the block being run: NET_RECEIVE's weights, in declaration order, then
    /// NEURON's `flag`.
    Arg(u32),
    /// An argument of the connection a `FOR_NETCONS` loop visits, in NET_RECEIVE's order (see
    /// [`ForNetcons`]).
    NetconArg(u32),
    /// A fresh random draw ([`Mechanism::draws`] says from which stream and how): a new value
    /// each time the block runs.
    Draw(u32),
    /// The argument of a TABLE's function, in the body of a [`Table::Tabulated`].
    TableArg,
    /// Where the instance's played Vector starts in the [`Table::Played`] table, and how many
    /// entries it has (an ARTIFICIAL_CELL's; see [`Mechanism::plays_vector`]).
    VectorStart,
    VectorLength,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Not,
    Exp,
    Expm1,
    Log,
    Log10,
    Sqrt,
    Fabs,
    Tanh,
    Sin,
    Cos,
    Exprelr,
    Floor,
    /// Round to nearest, ties to even.
    Round,
    /// `x` itself, with derivative 0: braincell's stop_gradient. It only changes the analytic
    /// conductance and the exp_rosenbrock Jacobian; `prepare` removes it before code generation.
    Frozen,
    /// `T_j · 2^q` for integer-valued `k = 64·q + j`: the table scale of the f64 `exp` (see
    /// [`exp2`]). Only `passes::mathlib` makes it, only for f64.
    Exp2Scale,
    /// The relative correction of the entry `Exp2Scale` reads (see [`exp2`]).
    Exp2Tail,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Min,
    Max,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
    /// `x · 2^k` for an integer-valued `k`; the primitive behind the inline exp.
    Ldexp,
}

impl BinaryOp {
    /// The infix symbol, or `None` for operators printed as calls (`pow`, `min`, `max`, `ldexp`).
    pub fn infix(self) -> Option<&'static str> {
        Some(match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::And => "&&",
            BinaryOp::Or => "||",
            BinaryOp::Pow | BinaryOp::Min | BinaryOp::Max | BinaryOp::Ldexp => return None,
        })
    }

    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Eq | BinaryOp::Ne
        )
    }
    pub fn is_logic(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Expr {
    /// A literal, stored as its bit pattern so nodes can be hashed.
    Lit(u64),
    Var(Var),
    Unary(UnaryOp, ExprId),
    Binary(BinaryOp, ExprId, ExprId),
    /// `a·b + c` with one rounding.
    Fma(ExprId, ExprId, ExprId),
    /// `cond ? a : b`; both arms are evaluated, so both must be safe to compute.
    Select(ExprId, ExprId, ExprId),
    /// Entry `⌊index⌋` of the arena's table `table` ([`ExprArena::table`]), the index clamped
    /// to the table (a NaN index reads entry 0): NEURON's TABLE interpolation reads two.
    TableEntry(TableId, ExprId),
}

/// A handle to a table of an [`ExprArena`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableId(pub u32);

/// The entries a [`Expr::TableEntry`] reads.
#[derive(Clone, Debug, PartialEq)]
pub enum Table {
    /// The values, as a kernel reads them.
    Values(std::sync::Arc<[f64]>),
    /// A TABLE statement's function before the model gives its parameters values: `body`
    /// (which reads the argument as [`Var::TableArg`]) at `intervals + 1` points from `from`
    /// to `to` ([`table_points`]). Importing it where these read nothing but the argument
    /// computes the values ([`crate::passes::symbolic::import`]); a cell program holds values
    /// only.
    Tabulated {
        body: ExprId,
        from: ExprId,
        to: ExprId,
        intervals: u32,
    },
    /// The Vectors played into an ARTIFICIAL_CELL population's instances (VecStim's times),
    /// read at [`Var::VectorStart`] + index: values the engine gives each population, one NaN
    /// until then.
    Played,
}

/// A TABLE's points, as nocmodl's C makes them: `dx = (to − from)/intervals`, and `x` from
/// `from` on, adding `dx` at each step.
pub fn table_points(from: f64, to: f64, intervals: u32) -> Vec<f64> {
    let dx = (to - from) / f64::from(intervals);
    let mut x = from;
    (0..=intervals)
        .map(|_| {
            let at = x;
            x += dx;
            at
        })
        .collect()
}

/// The entry an [`Expr::TableEntry`] whose index is `x` reads in a table of `len` entries:
/// `⌊x⌋` clamped to the table, 0 for NaN. (Truncation towards zero, then the clamp, is the
/// same: the backends convert with saturation and clamp.)
pub fn table_index(x: f64, len: usize) -> usize {
    if x.is_nan() || x <= 0.0 {
        0
    } else {
        (x.floor().min(len as f64 - 1.0) as usize).min(len.saturating_sub(1))
    }
}

impl Table {
    fn same(&self, other: &Table) -> bool {
        let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        match (self, other) {
            (Table::Values(a), Table::Values(b)) => bits(a) == bits(b),
            (
                Table::Tabulated {
                    body,
                    from,
                    to,
                    intervals,
                },
                Table::Tabulated {
                    body: b,
                    from: f,
                    to: t,
                    intervals: n,
                },
            ) => (body, from, to, intervals) == (b, f, t, n),
            (Table::Played, Table::Played) => true,
            _ => false,
        }
    }
}

impl Expr {
    pub fn lit(value: f64) -> Expr {
        // One zero: -0.0 and 0.0 hash apart but behave alike in every kernel we emit.
        Expr::Lit(if value == 0.0 { 0 } else { value.to_bits() })
    }

    pub fn as_lit(&self) -> Option<f64> {
        match self {
            Expr::Lit(bits) => Some(f64::from_bits(*bits)),
            _ => None,
        }
    }

    /// Children in evaluation order.
    pub fn children(&self) -> impl Iterator<Item = ExprId> {
        let (a, b, c) = match *self {
            Expr::Lit(_) | Expr::Var(_) => (None, None, None),
            Expr::Unary(_, x) | Expr::TableEntry(_, x) => (Some(x), None, None),
            Expr::Binary(_, x, y) => (Some(x), Some(y), None),
            Expr::Fma(x, y, z) | Expr::Select(x, y, z) => (Some(x), Some(y), Some(z)),
        };
        a.into_iter().chain(b).chain(c)
    }

    /// True for comparisons and logic: values that are booleans, not numbers.
    pub fn is_boolean(&self) -> bool {
        match self {
            Expr::Unary(UnaryOp::Not, _) => true,
            Expr::Binary(op, ..) => op.is_comparison() || op.is_logic(),
            _ => false,
        }
    }
}

/// The expression store. Children always precede parents, so an index order is a topological one.
#[derive(Clone, Debug, Default)]
pub struct ExprArena {
    nodes: Vec<Expr>,
    spans: Vec<Span>,
    index: HashMap<Expr, ExprId>,
    tables: Vec<Table>,
}

impl ExprArena {
    pub fn new() -> Self {
        Self::default()
    }

    /// Interns `e`, returning the existing handle when an equal node exists.
    pub fn add(&mut self, e: Expr, span: Span) -> ExprId {
        if let Some(&id) = self.index.get(&e) {
            return id;
        }
        let id = ExprId(u32::try_from(self.nodes.len()).unwrap_or(u32::MAX));
        self.nodes.push(e);
        self.spans.push(span);
        self.index.insert(e, id);
        id
    }

    pub fn lit(&mut self, v: f64) -> ExprId {
        self.add(Expr::lit(v), Span::default())
    }

    pub fn var(&mut self, v: Var) -> ExprId {
        self.add(Expr::Var(v), Span::default())
    }

    pub fn get(&self, id: ExprId) -> &Expr {
        &self.nodes[id.index()]
    }

    /// Adds `table`, returning the existing handle when an equal table exists.
    pub fn add_table(&mut self, table: Table) -> TableId {
        if let Some(k) = self.tables.iter().position(|t| t.same(&table)) {
            return TableId(k as u32);
        }
        self.tables.push(table);
        TableId(self.tables.len() as u32 - 1)
    }

    pub fn table_count(&self) -> usize {
        self.tables.len()
    }

    pub fn table(&self, id: TableId) -> &Table {
        &self.tables[id.0 as usize]
    }

    /// The values a kernel reads for table `id`. A [`Table::Tabulated`] one, which a model's
    /// checks keep out of every kernel, reads one NaN: never memory outside a table.
    pub fn table_values(&self, id: TableId) -> &[f64] {
        match self.table(id) {
            Table::Values(v) => v,
            Table::Tabulated { .. } | Table::Played => &[f64::NAN],
        }
    }

    /// Gives the [`Table::Played`] table its values (followed by one NaN, so that a table of
    /// no Vectors still has an entry to read).
    pub fn set_played(&mut self, values: &[f64]) {
        for t in &mut self.tables {
            if *t == Table::Played {
                let mut v = values.to_vec();
                v.push(f64::NAN);
                *t = Table::Values(v.into());
            }
        }
    }

    pub fn span(&self, id: ExprId) -> Span {
        self.spans[id.index()]
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the arena holds a node reading `var` (reachable from a root or not).
    pub fn reads(&self, var: Var) -> bool {
        self.index.contains_key(&Expr::Var(var))
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (ExprId, &Expr)> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, e)| (ExprId(i as u32), e))
    }

    /// Every node reachable from `roots`, children before parents. A table entry reaches the
    /// body and range of a [`Table::Tabulated`] too (made before it, so they come first).
    /// Whether any of `roots` reads a random draw ([`Var::Draw`]).
    pub fn draws_in(&self, roots: &[ExprId]) -> bool {
        (self.reachable(roots).iter()).any(|&e| matches!(self.get(e), Expr::Var(Var::Draw(_))))
    }

    pub fn reachable(&self, roots: &[ExprId]) -> Vec<ExprId> {
        self.reachable_entering_tables(roots, true)
    }

    /// [`Self::reachable`] without entering the tables (for printing each table once).
    pub fn reachable_outside_tables(&self, roots: &[ExprId]) -> Vec<ExprId> {
        self.reachable_entering_tables(roots, false)
    }

    fn reachable_entering_tables(&self, roots: &[ExprId], tables: bool) -> Vec<ExprId> {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack: Vec<ExprId> = roots.to_vec();
        while let Some(id) = stack.pop() {
            if std::mem::replace(&mut seen[id.index()], true) {
                continue;
            }
            let node = self.get(id);
            if let (Expr::TableEntry(t, _), true) = (*node, tables) {
                if let Table::Tabulated { body, from, to, .. } = self.table(t) {
                    stack.extend([*body, *from, *to]);
                }
            }
            stack.extend(node.children());
        }
        (0..self.nodes.len())
            .filter(|&i| seen[i])
            .map(|i| ExprId(i as u32))
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: String,
    pub default: f64,
    pub unit: Option<String>,
    /// NMODL's `<lo, hi>`: the range a model file may set it in.
    pub limits: Option<(f64, f64)>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StateVar {
    pub name: String,
    pub unit: Option<String>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct IonUse {
    pub name: String,
    pub valence: Option<i32>,
    pub reads: Vec<IonField>,
    pub writes: Vec<IonField>,
    /// Converts µA/cm² into the unit in which this mechanism reads `i<ion>` (1e-3 for mA/cm²).
    pub current_scale: f64,
}

impl IonUse {
    /// True for a concentration pool of this ion: it WRITEs the inner or outer concentration.
    pub fn writes_concentration(&self) -> bool {
        self.writes
            .iter()
            .any(|f| matches!(f, IonField::Ci | IonField::Co))
    }
}

/// A current this mechanism adds to its compartment, in µA/cm² (nA for a point process; NMODL
/// sign: outward positive).
#[derive(Clone, Debug, PartialEq)]
pub struct Current {
    /// The ion it is carried by, or `None` for a NONSPECIFIC_CURRENT.
    pub ion: Option<u32>,
    pub name: String,
    pub value: ExprId,
    /// dI/dv in mS/cm², filled in by `passes::conductance`.
    pub conductance: Option<ExprId>,
    /// What `value` was multiplied by after lowering: 1, or a point process's nA → µA/cm² of
    /// its compartment (see `cable::Region::model`). A traced current divides it out.
    pub scale: f64,
}

/// How the states of a mechanism advance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Each state by its exact exponential update (`passes::cnexp`).
    Cnexp,
    /// NEURON's `euler`, `derivimplicit` and `runge` (`passes::steppers`).
    Euler,
    Implicit,
    Runge,
    /// A KINETIC scheme by backward Euler (`passes::kinetic`).
    Sparse,
    /// A SOLVEd PROCEDURE (NEURON's old style): its assignments to states are their new values
    /// after one step, taken as written.
    Procedure,
}

/// A KINETIC scheme: each state's right-hand side, and the conservation law if any.
#[derive(Clone, Debug)]
pub struct KineticScheme {
    pub rhs: Vec<(u32, ExprId)>,
    /// States whose sum is conserved, and the total. The last listed state takes the row.
    pub conserve: Option<(Vec<u32>, ExprId)>,
    pub span: Span,
}

/// What a point process does when an event arrives (NMODL's `NET_RECEIVE (w, …) { … }`).
///
/// `updates` are parallel assignments to states, in terms of the states before the event, the
/// parameters, [`Var::Arg`] (the connection's weights, then `flag`) and `t` (the event's time).
#[derive(Clone, Debug)]
pub struct NetReceive {
    /// The weight arguments: name and declared unit. `flag` is argument `args.len()`.
    pub args: Vec<(String, Option<String>)>,
    pub updates: Vec<(u32, ExprId)>,
    /// `net_send(delay, flag)` calls: self-events, each taken when its condition holds.
    pub sends: Vec<SelfEvent>,
    /// `net_event(t)` calls: the conditions under which the event makes the cell spike.
    pub emits: Vec<ExprId>,
    /// `net_move(tt)` calls: the outstanding self-event moves to `t + delay`, keeping its flag
    /// (the `flag` field is unused).
    pub moves: Vec<SelfEvent>,
    /// `WATCH` statements, in the order written.
    pub watches: Vec<Watch>,
    /// The membrane potential after the event, when NET_RECEIVE assigns `v` (NEURON writes the
    /// block's `v` back to its node: Izhikevich's reset).
    pub v: Option<ExprId>,
    /// Weight arguments the block changes (`y`, `z`, `u` of Tsodyks–Markram's tmgsyn.mod):
    /// kept per connection, as NEURON keeps each NetCon's weight vector. (argument, value
    /// after the event)
    pub arg_updates: Vec<(u32, ExprId)>,
    /// NET_RECEIVE's own `INITIAL { … }`: the arguments' values it sets, once per connection at
    /// initialisation (t = 0), from the connection's weight and the others' 0.
    pub arg_init: Vec<(u32, ExprId)>,
    /// `FOR_NETCONS (…) { … }` loops, in the order written.
    pub for_netcons: Vec<ForNetcons>,
    /// States NET_RECEIVE's own INITIAL sets: allowed only in a weight adjuster (a mechanism
    /// with a POINTER), which has one connection per instance, so that they are the instance's
    /// (PyNN's Tsodyks–Markram adjuster sets `t_last = t`).
    pub state_init: Vec<(u32, ExprId)>,
    pub span: Span,
}

impl NetReceive {
    /// Whether each connection keeps values of its own: arguments after the weight, a weight
    /// the block changes (NEURON's NetCon weight vector is the connection's), or a
    /// `FOR_NETCONS` loop that changes them.
    pub fn keeps_connection_values(&self) -> bool {
        self.args.len() > 1 || !self.arg_updates.is_empty() || !self.for_netcons.is_empty()
    }
}

/// `FOR_NETCONS (w1, A1, …) { … }` in NET_RECEIVE: when `condition` (the path of `if`s leading
/// to it) holds, every connection to the point process, the event's own included, takes
/// `updates` (argument, value), in terms of its own arguments ([`Var::NetconArg`]) and of the
/// block's values where the loop stands. The event's own connection's values after the loop
/// are also in [`NetReceive::arg_updates`], which the engine writes last.
#[derive(Clone, Debug)]
pub struct ForNetcons {
    pub condition: ExprId,
    pub updates: Vec<(u32, ExprId)>,
}

/// A `WATCH (a > b) flag`: while active, the point process sends itself an event with `flag`
/// (and no weight) at the end of each step in which `value` has become positive.
///
/// NEURON's rule: the NET_RECEIVE call that runs one or more WATCH statements replaces the set
/// of active watches by those it ran; a call that runs none leaves the set as it was. A watch
/// that is true when it is activated fires only after it has been false.
#[derive(Clone, Copy, Debug)]
pub struct Watch {
    /// When the statement runs: the path of `if`s leading to it.
    pub condition: ExprId,
    /// `a - b` for `a > b` (`b - a` for `<`), in terms of the states, parameters and `v` as
    /// they are when it is checked.
    pub value: ExprId,
    /// The same at activation: the states as NET_RECEIVE has set them so far.
    pub value_now: ExprId,
    pub flag: ExprId,
}

/// A `net_send(delay, flag)`: an event to the instance itself `delay` ms later, with `flag`,
/// when `condition` (the path of `if`s leading to the call) holds.
#[derive(Clone, Copy, Debug)]
pub struct SelfEvent {
    pub condition: ExprId,
    pub delay: ExprId,
    pub flag: ExprId,
}

/// How a [`Var::Draw`] draws: from RANDOM stream `stream`, with this distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Draw {
    /// `random_negexp(r)`: exponential with mean 1.
    NegExp { stream: u32 },
    /// `random_uniform(r)`: uniform in [0, 1).
    Uniform { stream: u32 },
    /// `random_normal(r)`: normal with mean 0 and standard deviation 1.
    Normal { stream: u32 },
}

/// One mechanism, lowered and checked: a density mechanism (SUFFIX), or a point process
/// (POINT_PROCESS) whose currents are in nA.
#[derive(Clone, Debug)]
pub struct Mechanism {
    pub name: String,
    /// A POINT_PROCESS: placed at a location, its currents are in nA (not µA/cm²) and its
    /// conductances in µS.
    pub point_process: bool,
    /// NET_RECEIVE, for a point process that receives events.
    pub net_receive: Option<NetReceive>,
    /// An ARTIFICIAL_CELL: a point process with no membrane, whose states change only in
    /// INITIAL and NET_RECEIVE.
    pub artificial: bool,
    /// `net_send` calls in INITIAL.
    pub initial_sends: Vec<SelfEvent>,
    /// The RANDOM streams' names, and what each [`Var::Draw`] draws.
    pub random_streams: Vec<String>,
    pub draws: Vec<Draw>,
    pub title: Option<String>,
    pub exprs: ExprArena,
    pub params: Vec<Param>,
    pub states: Vec<StateVar>,
    pub ions: Vec<IonUse>,
    /// Initial value of each state (INITIAL), in state order.
    pub init: Vec<ExprId>,
    /// `x' = f` for each state that has one, before solving.
    pub derivatives: Vec<(u32, ExprId, Span)>,
    pub method: Option<Method>,
    /// The scheme SOLVEd with METHOD sparse, when the mechanism has one.
    pub kinetic: Option<KineticScheme>,
    /// New value of each state after one step, filled by `passes::cnexp`; states without an
    /// equation keep their value.
    pub advance: Vec<(u32, ExprId)>,
    /// States a DERIVATIVE block sets by assignment (a WRITEd concentration kept the ModelDB
    /// way, `cai = ca`): the value from the states at the step's start, except that the states
    /// whose equations come before the assignment (`after`) are their new values, as NEURON runs
    /// the block with each equation replaced by its update. `passes::cnexp` adds them to
    /// `advance`.
    pub assigned: Vec<AssignedState>,
    /// ASSIGNED values BREAKPOINT stores for the state update to read, kept per instance as
    /// states: each one's value, computed with the currents (at their v and t), as NEURON's
    /// nrn_cur leaves it for nrn_state (VClamp's command level, read when the amplifier's
    /// state is kept after the step).
    pub stored: Vec<(u32, ExprId)>,
    pub currents: Vec<Current>,
    /// The `.mod` file it was read from, when it was: NEURON registers a folder's mechanisms in
    /// the order of their file names and runs their state updates in that order, each reading
    /// the concentrations that those before it have advanced (see [`crate::cell`]).
    pub neuron_file: Option<String>,
    /// `POINTER` variables: a weight adjuster's reference to its connection's weight (see
    /// [`NetReceive::state_init`]); their values are states of the instance, copied from the
    /// connection's weight before each event and back after it.
    pub pointers: Vec<(String, Span)>,
    /// TABLEs computed exactly whatever `usetable` says, because their function reads a value
    /// that changes during a run (see `sema::mechanism::table`).
    pub exact_tables: Vec<ExactTable>,
    /// An ARTIFICIAL_CELL that reads a Vector played into each instance (VecStim's
    /// `element()`, through [`Table::Played`]): where, when it does. Its population gives the
    /// Vectors (`times` or `file`), as hoc's `play()` would before the run.
    pub plays_vector: Option<Span>,
    /// A NONLINEAR block the mechanism SOLVEs (by NEURON's Newton iteration, whose tolerances
    /// are finer than f32 holds): its name.
    pub newton: Option<String>,
    /// What lowering warned of (a `.mod` file's units that disagree with its numbers; see
    /// [`crate::sema::Dialect::Neuron`]), to be shown against the file's source.
    pub warnings: Vec<crate::diagnostic::Diagnostic>,
}

/// A TABLE no table can hold ahead of the run: its FUNCTION or PROCEDURE, and what it reads.
#[derive(Clone, Debug, PartialEq)]
pub struct ExactTable {
    pub function: String,
    pub reads: String,
}

/// A state set by assignment in a DERIVATIVE block; see [`Mechanism::assigned`].
#[derive(Clone, Debug)]
pub struct AssignedState {
    pub state: u32,
    pub value: ExprId,
    pub after: Vec<u32>,
    /// Set by BREAKPOINT, which NEURON also runs at initialisation (its fcurrent); otherwise
    /// by the state update, which does not run before the first step.
    pub by_breakpoint: bool,
}

impl Mechanism {
    /// Whether state `s` is a value the state update assigns (not a state with an equation,
    /// and not set by BREAKPOINT): it keeps INITIAL's value until the first step.
    pub fn set_by_state_update(&self, s: u32) -> bool {
        self.assigned
            .iter()
            .any(|a| a.state == s && !a.by_breakpoint)
            && !self.derivatives.iter().any(|d| d.0 == s)
    }

    /// Whether state `s` is a value BREAKPOINT stores each step (a written concentration held
    /// at a level), not a state the step advances.
    pub fn set_by_breakpoint(&self, s: u32) -> bool {
        self.assigned
            .iter()
            .any(|a| a.state == s && a.by_breakpoint)
            && !self.derivatives.iter().any(|d| d.0 == s)
    }
}

impl Mechanism {
    /// Whether any of the mechanism's expressions reads built-in `b` (its compartment's
    /// `diam`, say).
    pub fn reads(&self, b: Builtin) -> bool {
        self.exprs.reads(Var::Builtin(b))
    }

    /// The currents a trace names as currents: all but one that is also a STATE (PyNN's
    /// ExpISyn: `STATE { i }`, `NONSPECIFIC_CURRENT i`), which traces as the state, after the
    /// step's update, as NEURON records the variable.
    pub fn traced_currents(&self) -> impl Iterator<Item = &Current> {
        self.currents
            .iter()
            .filter(|c| self.state_index(&c.name).is_none())
    }

    /// The same mechanism reading its TABLEs by default (`usetable = 1`), when it has any: for
    /// comparing the two ways everywhere the defaults are used.
    pub fn reading_tables(&self) -> Option<Mechanism> {
        let i = self.param_index("usetable")?;
        let mut m = self.clone();
        m.params[i].default = 1.0;
        Some(m)
    }

    /// The parameters that the TABLEs still to be computed read (their function or range):
    /// each must have one value for all the mechanism's instances for a table to hold it.
    pub fn params_read_by_tables(&self) -> Vec<usize> {
        let roots: Vec<ExprId> = (0..self.exprs.table_count())
            .filter_map(|t| match *self.exprs.table(TableId(t as u32)) {
                Table::Tabulated { body, from, to, .. } => Some([body, from, to]),
                Table::Values(_) | Table::Played => None,
            })
            .flatten()
            .collect();
        let mut read: Vec<usize> = (self.exprs.reachable(&roots).into_iter())
            .filter_map(|id| match *self.exprs.get(id) {
                Expr::Var(Var::Param(i)) => Some(i as usize),
                _ => None,
            })
            .collect();
        read.sort_unstable();
        read.dedup();
        read
    }

    /// Whether NET_RECEIVE makes the cell spike (`net_event`).
    pub fn calls_net_event(&self) -> bool {
        self.net_receive
            .as_ref()
            .is_some_and(|r| !r.emits.is_empty())
    }

    /// Whether INITIAL draws random numbers (`scop_random`, `exprand`, `normrand`, RANDOM
    /// streams), in a state's value or in a `net_send`.
    pub fn initial_draws(&self) -> bool {
        let mut roots = self.init.clone();
        let sends = self.initial_sends.iter();
        roots.extend(sends.flat_map(|s| [s.condition, s.delay, s.flag]));
        self.exprs.draws_in(&roots)
    }

    pub fn param_index(&self, name: &str) -> Option<usize> {
        self.params.iter().position(|p| p.name == name)
    }
    pub fn state_index(&self, name: &str) -> Option<usize> {
        self.states.iter().position(|s| s.name == name)
    }
    pub fn ion_index(&self, name: &str) -> Option<usize> {
        self.ions.iter().position(|i| i.name == name)
    }
}

/// What a slot of a fused cell program holds.
#[derive(Clone, Debug, PartialEq)]
pub enum SlotKind {
    V,
    /// A state of the mechanism at `mech` (index into the cell's mechanisms).
    State {
        mech: u32,
        state: u32,
    },
    /// A value that differs per cell but does not evolve (a swept stimulus, say).
    PerCell {
        name: String,
    },
    /// A per-compartment value of a multi-compartment cell other than a mechanism state: V away
    /// from the detector, and the membrane current and conductance densities.
    Compartment {
        node: u32,
    },
    /// A current traced at a user's request (`Na_HH1952.ina`): what the step used, in NEURON's
    /// unit (mA/cm² for a density mechanism, nA for a point process). Nothing reads it.
    Current {
        mech: u32,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Slot {
    pub name: String,
    pub kind: SlotKind,
}

/// One time step of a whole cell type, every mechanism fused, as parallel assignments.
///
/// Slots are per-cell arrays. `updates` gives each evolving slot its value after one step, in
/// terms of slot values at the start of the step and `Builtin::T` (the step's start time).
/// `spike` is true when V crosses threshold upward during the step. `init` gives each evolving
/// slot its initial value.
#[derive(Clone, Debug)]
pub struct CellProgram {
    pub name: String,
    pub exprs: ExprArena,
    pub slots: Vec<Slot>,
    pub init: Vec<(u32, ExprId)>,
    pub updates: Vec<(u32, ExprId)>,
    pub spike: ExprId,
    /// Per-mechanism total current (µA/cm²) at the start of a step, for diagnosing blow-ups.
    pub mechanism_currents: Vec<(String, ExprId)>,
    pub dt: f64,
}
