//! Lowering of one mechanism file to [`ir::Mechanism`] by symbolic execution.
//!
//! Each block runs over an environment `name → (expression, unit)`. Assignments rebind names,
//! calls execute their callee's body with arguments bound (so every call is inlined), and an
//! `if`/`else` runs both branches and merges differing bindings into `select`s. What a block
//! leaves in the environment becomes the kernel: INITIAL gives state initial values, a
//! DERIVATIVE block gives `x' = f`, BREAKPOINT gives the currents.

use super::units::{Dim, Unit, UnitTable};
use super::{number_value, Diags};
use crate::diagnostic::{closest, Diagnostic};
use crate::ir::{self, Builtin, Expr, ExprId, IonField, IonUse, Mechanism, Var};
use crate::passes::simplify::Builder;
use crate::span::Span;
use crate::syntax::ast::{self, Block, ExprKind, Item, NeuronStmt, StmtKind};
use std::collections::HashMap;

mod events;
mod table;
mod verbatim;

pub use table::USETABLE;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Name {
    /// A RANDOM stream (NEURON 9): passed to `random_negexp(r)` and its kin, never read.
    Random(u32),
    Param(u32),
    Constant(f64),
    State(u32),
    Assigned,
    Ion(u32, IonField),
    Builtin(Builtin),
}

type Val = (ExprId, Dim);

#[derive(Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Initial,
    Breakpoint,
    Derivative,
    Kinetic,
    /// A PROCEDURE that BREAKPOINT SOLVEs: it assigns the states' new values.
    StateUpdate,
    /// NET_RECEIVE: an event's effect on the states.
    NetReceive,
    /// A LINEAR block: its `~ a = b` equations in the states, solved together.
    Linear,
}

struct Lowerer<'a> {
    file: &'a ast::File,
    units: UnitTable,
    diags: Diags,
    m: Mechanism,
    names: HashMap<String, (Name, Span)>,
    declared_units: HashMap<String, Unit>,
    /// Where each declared unit is written, for messages about the declaration.
    unit_spans: HashMap<String, Span>,
    /// The states INITIAL gives a value.
    initialised_states: Vec<bool>,
    /// File-scope LOCALs: like ASSIGNED, but 0 where a block reads one before assigning it
    /// (NEURON's static variables start at 0; the usual use is a cache such as
    /// `if (s_celsius != celsius) { s_celsius = celsius  Q = … }`).
    file_locals: std::collections::HashSet<String>,
    functions: HashMap<String, &'a ast::Callable>,
    procedures: HashMap<String, &'a ast::Callable>,
    /// Functions and procedures declared between UNITSOFF and UNITSON.
    units_off_callables: std::collections::HashSet<String>,
    /// The other blocks written between UNITSOFF and UNITSON, by where their body starts.
    units_off_blocks: std::collections::HashSet<u32>,
    call_stack: Vec<String>,
    units_on: bool,
    dialect: Dialect,
    kind: BlockKind,
    derivatives: Vec<(u32, ExprId, Span)>,
    /// While a KINETIC block runs: each state's right-hand side so far, and CONSERVE.
    kinetic_rhs: Vec<(u32, ExprId)>,
    kinetic_conserve: Option<(Vec<u32>, ExprId)>,
    /// The COMPARTMENT volume of each state that has one in the KINETIC block being run.
    kinetic_volumes: Vec<(u32, ExprId)>,
    pending_range: Vec<ast::Ident>,
    /// ASSIGNED values INITIAL leaves behind that depend only on run constants; later blocks may
    /// read them, as NEURON's persistent ASSIGNED variables allow.
    initial_assigned: HashMap<String, Val>,
    /// PARAMETERs INITIAL changes (Exp2Syn's `tau1 = 0.9999*tau2` guard): later blocks read the
    /// changed value, as in NEURON, where INITIAL writes the instance's own copy.
    initial_params: HashMap<String, Val>,
    /// The conditions of the `if`s around the statement being run (else-branches negated).
    path: Vec<ExprId>,
    /// ELECTRODE_CURRENTs: injected, so positive depolarises (the opposite of a membrane
    /// current's sign).
    electrode_currents: std::collections::HashSet<String>,
    /// `net_send` and `net_event` calls of the block being run.
    sends: Vec<ir::SelfEvent>,
    emits: Vec<ExprId>,
    /// `net_move` calls of the block being run.
    moves: Vec<ir::SelfEvent>,
    /// `WATCH` statements of NET_RECEIVE.
    watches: Vec<ir::Watch>,
    /// NET_RECEIVE's arguments (name, declared unit), while it runs, and its `FOR_NETCONS`
    /// loops.
    net_receive_args: Vec<(String, Option<Unit>)>,
    for_netcons: Vec<ir::ForNetcons>,
    /// Names kept as states of the instance without being declared STATEs: WRITEd
    /// concentrations that are assigned (`cai = ca`, the ModelDB way), and held ASSIGNED values.
    kept_states: std::collections::HashSet<u32>,
    /// For each of those a DERIVATIVE block assigns: how many equations came before its last
    /// assignment.
    assigned_after: HashMap<u32, usize>,
    /// The residuals `lhs − rhs` of the LINEAR block being run.
    linear_residuals: Vec<(ExprId, Span)>,
    /// ASSIGNED names kept per instance, like states (see [`lower_mechanism`]).
    held: std::collections::BTreeSet<String>,
    /// ASSIGNED names a block read before assigning them.
    read_early: std::collections::BTreeSet<String>,
    /// Those BREAKPOINT read before assigning them.
    read_early_in_breakpoint: std::collections::BTreeSet<String>,
    /// ASSIGNED names BREAKPOINT stores from v or t for the state update, kept per instance
    /// (see [`lower_mechanism`] and [`ir::Mechanism::stored`]), and their states.
    stored: std::collections::BTreeSet<String>,
    stored_states: std::collections::HashSet<u32>,
    /// Names of that kind found by this lowering.
    stored_found: std::collections::BTreeSet<String>,
    /// What BREAKPOINT leaves in its ASSIGNED variables, for the state update of the same step
    /// (NEURON's nrn_state reads what nrn_cur stored).
    breakpoint_values: Env,
    /// Whether the KINETIC block being run is INITIAL's steady-state SOLVE.
    kinetic_in_initial: bool,
    /// Whether the DERIVATIVE block being run is solved by cnexp.
    cnexp_block: bool,
    /// Names a block other than INITIAL assigns (BREAKPOINT, DERIVATIVE, KINETIC, NET_RECEIVE,
    /// or what they call): INITIAL's value of one is not a constant of the run.
    assigned_after_initial: std::collections::BTreeSet<String>,
    /// Names BREAKPOINT (or what it calls) assigns.
    assigned_in_breakpoint: std::collections::BTreeSet<String>,
}

/// How deep a FUNCTION that calls itself is inlined; a deeper call's value is NaN.
const MAX_RECURSION_DEPTH: usize = 8;

/// How many passes a `while` loop is unrolled into: enough for NEURON's Newton and bisection
/// loops (IntFire2's ends within 11, IntFire4's bisection within about 50).
const MAX_WHILE_ITERATIONS: usize = 100;

const BUILTIN_FNS: &[(&str, usize)] = &[
    ("exp", 1),
    ("expm1", 1),
    ("log", 1),
    ("log10", 1),
    ("sqrt", 1),
    ("fabs", 1),
    ("tanh", 1),
    ("sin", 1),
    ("cos", 1),
    ("exprelr", 1),
    ("floor", 1),
    ("frozen", 1),
    ("pow", 2),
    ("min", 2),
    ("max", 2),
    ("fmin", 2),
    ("fmax", 2),
];

pub fn lower_mechanism(file: &ast::File) -> Result<Mechanism, Vec<Diagnostic>> {
    lower_mechanism_as(file, Dialect::Hhc)
}

/// Which language a mechanism file speaks, for its units: hhc's `.chan`, where units are
/// checked and converted, or NEURON's `.mod`, where they document the numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// A unit mismatch is an error, and a quantity in another unit of the same dimension is
    /// converted (`g (mS/cm2) * (v - e)` assigned to a current in mA/cm²).
    Hhc,
    /// NEURON's translator runs a `.mod` file's numbers as written: its units are checked only
    /// by `modlunit`, which users seldom run, so real files disagree with their own units. hhc
    /// checks them as for `.chan` files, but a mismatch is a warning with its span, and nothing
    /// is converted, so the numbers are NEURON's: an unknown unit is no unit, a current is in
    /// NEURON's mA/cm² (nA for a point process) whatever its declaration says.
    Neuron,
}

/// [`lower_mechanism`] in `dialect`; the warnings of a file that lowers travel in
/// [`Mechanism::warnings`].
pub fn lower_mechanism_as(
    file: &ast::File,
    dialect: Dialect,
) -> Result<Mechanism, Vec<Diagnostic>> {
    let (expanded, errors) = super::arrays::expand(file);
    if !errors.is_empty() {
        return Err(errors);
    }
    let file = &expanded;
    // ASSIGNED values read before a block assigns them hold what an earlier block (INITIAL,
    // or the last DERIVATIVE) left, and the state update reads what BREAKPOINT stored, as
    // NEURON's stored ASSIGNED values do: lower again with them kept per instance. If keeping
    // them does not help, the first errors are the ones to show.
    let mut kept = Kept::default();
    let mut first_errors: Vec<Diagnostic> = Vec::new();
    for _ in 0..3 {
        match lower_with_held(file, &kept, dialect) {
            Ok(m) => return Ok(m),
            Err((diags, more)) => {
                // A lowering that only found values to keep reports no error.
                if first_errors.is_empty() && diags.iter().any(Diagnostic::is_error) {
                    first_errors = diags;
                }
                let grown = Kept {
                    held: kept.held.union(&more.held).cloned().collect(),
                    stored: kept.stored.union(&more.stored).cloned().collect(),
                };
                if grown == kept {
                    break;
                }
                kept = grown;
            }
        }
    }
    if first_errors.is_empty() {
        first_errors.push(Diagnostic::error(
            "internal compiler error: an ASSIGNED value BREAKPOINT stores could not be kept",
            Span::new(0, 0),
            "please report this",
        ));
    }
    Err(first_errors)
}

/// ASSIGNED names kept per instance: `held` (read before a block assigns them) and `stored`
/// (BREAKPOINT stores them from v or t; the state update reads them).
#[derive(Clone, Default, PartialEq)]
struct Kept {
    held: std::collections::BTreeSet<String>,
    stored: std::collections::BTreeSet<String>,
}

/// One lowering, with the ASSIGNED names `kept` kept per instance. On failure, the diagnostics
/// and the ASSIGNED names that could be kept instead of refused.
fn lower_with_held(
    file: &ast::File,
    kept: &Kept,
    dialect: Dialect,
) -> Result<Mechanism, (Vec<Diagnostic>, Kept)> {
    let mut l = Lowerer {
        file,
        dialect,
        units: UnitTable::default(),
        diags: Diags::default(),
        m: Mechanism {
            name: String::new(),
            point_process: false,
            net_receive: None,
            artificial: false,
            initial_sends: vec![],
            random_streams: vec![],
            draws: vec![],
            title: None,
            exprs: ir::ExprArena::new(),
            params: vec![],
            states: vec![],
            ions: vec![],
            init: vec![],
            derivatives: vec![],
            method: None,
            kinetic: None,
            advance: vec![],
            assigned: vec![],
            stored: vec![],
            currents: vec![],
            neuron_file: None,
            pointers: Vec::new(),
            exact_tables: Vec::new(),
            plays_vector: None,
            newton: None,
            warnings: Vec::new(),
        },
        names: HashMap::new(),
        declared_units: HashMap::new(),
        unit_spans: HashMap::new(),
        initialised_states: vec![],
        file_locals: std::collections::HashSet::new(),
        functions: HashMap::new(),
        procedures: HashMap::new(),
        units_off_callables: std::collections::HashSet::new(),
        units_off_blocks: std::collections::HashSet::new(),
        call_stack: vec![],
        units_on: true,
        kind: BlockKind::Initial,
        derivatives: vec![],
        kinetic_rhs: vec![],
        kinetic_conserve: None,
        kinetic_volumes: vec![],
        pending_range: vec![],
        initial_assigned: HashMap::new(),
        initial_params: HashMap::new(),
        path: vec![],
        electrode_currents: std::collections::HashSet::new(),
        sends: vec![],
        emits: vec![],
        moves: vec![],
        watches: vec![],
        net_receive_args: vec![],
        for_netcons: vec![],
        kept_states: std::collections::HashSet::new(),
        assigned_after: HashMap::new(),
        linear_residuals: vec![],
        held: kept.held.clone(),
        read_early: std::collections::BTreeSet::new(),
        read_early_in_breakpoint: std::collections::BTreeSet::new(),
        stored: kept.stored.clone(),
        stored_states: std::collections::HashSet::new(),
        stored_found: std::collections::BTreeSet::new(),
        breakpoint_values: Env::new(),
        kinetic_in_initial: false,
        cnexp_block: false,
        assigned_after_initial: std::collections::BTreeSet::new(),
        assigned_in_breakpoint: std::collections::BTreeSet::new(),
    };
    l.declare_builtins();
    l.collect();
    if l.diags.has_errors() {
        return Err((l.diags.into_vec(), Default::default()));
    }
    l.lower_blocks();
    if l.diags.has_errors() || !l.stored_found.is_empty() {
        let mut stored = std::mem::take(&mut l.stored_found);
        stored.extend(l.kept_by_breakpoint());
        let more = Kept {
            held: l.holdable(&l.read_early),
            stored,
        };
        return Err((l.diags.into_vec(), more));
    }
    l.check_states_move();
    l.check_pointer_events();
    if l.diags.has_errors() {
        return Err((l.diags.into_vec(), Default::default()));
    }
    l.m.warnings = l.diags.into_vec();
    Ok(l.m)
}

impl<'a> Lowerer<'a> {
    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// A unit mismatch: an error in hhc's dialect; in NEURON's, a warning that the numbers
    /// run as written, as NEURON runs them (see [`Dialect::Neuron`]).
    fn unit_err(&mut self, d: Diagnostic) {
        match self.dialect {
            Dialect::Hhc => self.err(d),
            Dialect::Neuron => {
                let hint = d.hint.clone().unwrap_or_default();
                let mut w = Diagnostic {
                    severity: crate::diagnostic::Severity::Warning,
                    ..d
                };
                w.hint = Some(format!(
                    "{hint}{}NEURON runs a .mod file's numbers as written, and so does hhc here",
                    if hint.is_empty() { "" } else { "; " }
                ));
                self.err(w)
            }
        }
    }

    fn unit(&mut self, u: &ast::Unit) -> Option<Unit> {
        match self.units.parse(&u.text) {
            Ok(x) => Some(x),
            Err(msg) => {
                self.unit_err(
                    Diagnostic::error(msg, u.span, "in this unit")
                        .with_hint("write units such as (mV), (mS/cm2), (/ms), (mM)"),
                );
                None
            }
        }
    }

    fn declare_builtins(&mut self) {
        for (n, b, u) in [
            ("v", Builtin::V, "mV"),
            ("celsius", Builtin::Celsius, "degC"),
            ("dt", Builtin::Dt, "ms"),
            ("t", Builtin::T, "ms"),
            ("diam", Builtin::Diam, "um"),
            ("area", Builtin::Area, "um2"),
        ] {
            self.names
                .insert(n.into(), (Name::Builtin(b), Span::default()));
            if let Ok(unit) = self.units.parse(u) {
                self.declared_units.insert(n.into(), unit);
            }
        }
        // NMODL knows PI; a file may still declare its own (LFPy's SinSyn: `PI = 3.14159…`).
        self.names.insert(
            "PI".into(),
            (Name::Constant(std::f64::consts::PI), Span::default()),
        );
    }

    fn declare(&mut self, name: &ast::Ident, kind: Name) {
        if let Some((prev, prev_span)) = self.names.get(&name.name).copied() {
            if name.name == "PI" && prev_span == Span::default() {
                self.names.insert(name.name.clone(), (kind, name.span));
                return;
            }
            // A concentration pool declares the concentration it WRITEs as a STATE: the name
            // then means the state, which the cell shares as the ion's concentration.
            if let (Name::Ion(i, f @ (IonField::Ci | IonField::Co)), Name::State(_)) = (prev, kind)
            {
                if self.m.ions[i as usize].writes.contains(&f) {
                    self.names.insert(name.name.clone(), (kind, name.span));
                    return;
                }
            }
            // NEURON files re-declare v, celsius and ion variables in ASSIGNED or PARAMETER.
            if matches!(prev, Name::Builtin(_) | Name::Ion(..)) {
                return;
            }
            // NONSPECIFIC_CURRENT i, then `i (mA/cm2)` in ASSIGNED, is the usual NMODL idiom.
            if prev == Name::Assigned
                && kind == Name::Assigned
                && self.m.currents.iter().any(|c| c.name == name.name)
            {
                return;
            }
            // A current that is a STATE (PyNN's current-based ExpISyn: `i' = -i/tau`): the
            // name means the state, and the current is its value.
            if prev == Name::Assigned
                && matches!(kind, Name::State(_))
                && self.m.currents.iter().any(|c| c.name == name.name)
            {
                self.names.insert(name.name.clone(), (kind, name.span));
                return;
            }
            self.err(
                Diagnostic::error(
                    format!("`{}` is declared twice", name.name),
                    name.span,
                    "second declaration",
                )
                .with_label(prev_span, "first declared here")
                .with_hint("remove one of the declarations"),
            );
            return;
        }
        self.names.insert(name.name.clone(), (kind, name.span));
    }

    /// First pass: the interface (NEURON), declarations, units, functions.
    fn collect(&mut self) {
        let mut neuron_seen = false;
        let mut has_mechanism_blocks = false;
        // UNITS first, so that declarations can use the aliases.
        for item in &self.file.items {
            if let Item::Units(defs) = item {
                for d in defs {
                    match d {
                        ast::UnitDef::Alias { name, definition } => {
                            let Some(u) = self.unit(definition) else {
                                continue;
                            };
                            // `(mV) = (millivolt)` restates a unit hhc knows; `(mV) = (volt)`
                            // would scale every value declared in mV, where NEURON's units only
                            // document them. (A definition of another kind is the concentration
                            // idiom, `(molar) = (1/liter)`, whose amounts NEURON counts bare.)
                            let known = self.units.parse(&name.text).ok();
                            match known {
                                Some(k)
                                    if k.dims == u.dims
                                        && (k.scale - u.scale).abs() > 1e-12 * k.scale.abs() =>
                                {
                                    self.err(
                                        Diagnostic::error(
                                            format!(
                                                "UNITS redefines `({})`: `({})` is {} times the `({})` hhc and NEURON know",
                                                name.text,
                                                definition.text,
                                                u.scale / k.scale,
                                                name.text
                                            ),
                                            name.span,
                                            "redefined",
                                        )
                                        .with_hint("units only document a NEURON file's numbers, and hhc would scale them; give the new unit a name of its own"),
                                    )
                                }
                                _ => self.units.define(&name.text, u),
                            }
                        }
                        ast::UnitDef::Constant { name, value, units } => {
                            // `FARADAY = 96485 (coulomb)`, or `FARADAY = (faraday) (coulomb)`:
                            // the value of the first unit in the second.
                            let mut unknown = None;
                            let mut scale = |u: &ast::Unit| match self.units.parse(&u.text) {
                                Ok(x) => x.scale,
                                Err(msg) => {
                                    unknown.get_or_insert((msg, u.span));
                                    1.0
                                }
                            };
                            let v = match (value, units.as_slice()) {
                                (Some(n), _) => number_value(n, &mut self.diags),
                                (None, [a, b]) => scale(a) / scale(b),
                                (None, [a]) => scale(a),
                                _ => 1.0,
                            };
                            // A constant whose value is an unknown unit's has no value: never 1.
                            if let Some((msg, span)) = unknown {
                                self.err(
                                    Diagnostic::error(
                                        format!("cannot give `{}` a value: {msg}", name.name),
                                        span,
                                        "unknown unit",
                                    )
                                    .with_hint(
                                        "write the value as a number: `NAME = 96485.3 (coulomb)`",
                                    ),
                                );
                            }
                            self.declare(name, Name::Constant(v));
                            if let Some(u) =
                                units.last().and_then(|u| self.units.parse(&u.text).ok())
                            {
                                self.declared_units.insert(name.name.clone(), u);
                            }
                        }
                    }
                }
            }
        }
        for item in &self.file.items {
            match item {
                Item::Title(t) => self.m.title = Some(t.clone()),
                Item::Neuron { stmts, span } => {
                    neuron_seen = true;
                    self.collect_neuron(stmts, *span);
                }
                _ => {}
            }
        }
        // UNITSOFF … UNITSON is lexical: a FUNCTION written inside it is unchecked wherever it is called.
        let mut units_on = true;
        for item in &self.file.items {
            match item {
                Item::Parameter(decls) | Item::Constant(decls) => {
                    let is_constant = matches!(item, Item::Constant(_));
                    for d in decls {
                        has_mechanism_blocks = true;
                        self.reject_array(d);
                        let value = d
                            .value
                            .as_ref()
                            .map_or(0.0, |n| number_value(n, &mut self.diags));
                        if let Some(u) = d.unit.as_ref().and_then(|u| self.unit(u)) {
                            self.declared_units.insert(d.name.name.clone(), u);
                        }
                        let mut limits = None;
                        if let Some((lo, hi)) = &d.limits {
                            let (lo_v, hi_v) = (
                                number_value(lo, &mut self.diags),
                                number_value(hi, &mut self.diags),
                            );
                            // A model's value must lie within them; the file's own default may
                            // not (NEURON's demo release.mod has `tauGen = 0 <1e-6, 1e9>`), as
                            // NEURON uses limits only for its GUI.
                            limits = Some((lo_v, hi_v));
                        }
                        if matches!(
                            self.names.get(&d.name.name),
                            Some((Name::Builtin(_) | Name::Ion(..), _))
                        ) {
                            continue;
                        }
                        if is_constant {
                            self.declare(&d.name, Name::Constant(value));
                        } else {
                            let idx = self.m.params.len() as u32;
                            self.declare(&d.name, Name::Param(idx));
                            self.m.params.push(ir::Param {
                                name: d.name.name.clone(),
                                default: value,
                                unit: d.unit.as_ref().map(|u| u.text.clone()),
                                limits,
                                span: d.name.span,
                            });
                        }
                    }
                }
                Item::State(decls) => {
                    for d in decls {
                        has_mechanism_blocks = true;
                        self.reject_array(d);
                        if let Some(u) = d.unit.as_ref().and_then(|u| self.unit(u)) {
                            self.declared_units.insert(d.name.name.clone(), u);
                        }
                        let idx = self.m.states.len() as u32;
                        self.declare(&d.name, Name::State(idx));
                        self.m.states.push(ir::StateVar {
                            name: d.name.name.clone(),
                            unit: d.unit.as_ref().map(|u| u.text.clone()),
                            span: d.name.span,
                        });
                    }
                }
                Item::Assigned(decls) | Item::FileLocal(decls) => {
                    if matches!(item, Item::FileLocal(_)) {
                        self.file_locals
                            .extend(decls.iter().map(|d| d.name.name.clone()));
                    }
                    for d in decls {
                        self.reject_array(d);
                        if let Some(u) = d.unit.as_ref().and_then(|u| self.unit(u)) {
                            self.declared_units.insert(d.name.name.clone(), u);
                        }
                        if let Some(u) = &d.unit {
                            self.unit_spans.insert(d.name.name.clone(), u.span);
                        }
                        self.declare(&d.name, Name::Assigned);
                    }
                }
                Item::UnitsToggle { on, .. } => units_on = *on,
                Item::Function(c) => {
                    has_mechanism_blocks = true;
                    self.add_callable(c, true);
                    if !units_on {
                        self.units_off_callables.insert(c.name.name.clone());
                    }
                }
                Item::Procedure(c) => {
                    has_mechanism_blocks = true;
                    self.add_callable(c, false);
                    if !units_on {
                        self.units_off_callables.insert(c.name.name.clone());
                    }
                }
                Item::Verbatim(
                    _,
                    crate::syntax::verbatim::Verbatim::Declarations
                    | crate::syntax::verbatim::Verbatim::CoreneuronTransfer,
                ) => {}
                Item::Verbatim(span, _) => {
                    let hint = self.verbatim_hint();
                    self.err(
                        Diagnostic::error(
                            "VERBATIM C code is not supported",
                            *span,
                            "hhc cannot run embedded C",
                        )
                        .with_hint(hint),
                    )
                }
                Item::NetReceive { body, .. } => {
                    has_mechanism_blocks = true;
                    if !units_on {
                        self.units_off_blocks.insert(body.span.start);
                    }
                }
                Item::FunctionTable { span, .. } => self.err(
                    Diagnostic::error(
                        "FUNCTION_TABLE is not supported",
                        *span,
                        "tables filled from hoc are not available",
                    )
                    .with_hint("write the function as a FUNCTION"),
                ),
                Item::Initial(body)
                | Item::Breakpoint(body)
                | Item::Derivative { body, .. }
                | Item::Kinetic { body, .. } => {
                    has_mechanism_blocks = true;
                    if !units_on {
                        self.units_off_blocks.insert(body.span.start);
                    }
                }
                _ => {}
            }
        }
        self.promote_event_variables();
        self.promote_written_concentrations();
        self.promote_kept();
        self.set_aside_hoc_handles();
        self.promote_pointers();
        self.promote_set_from_outside();
        self.check_pointers();
        if !neuron_seen && has_mechanism_blocks {
            self.err(
                Diagnostic::error(
                    "mechanism has no NEURON block",
                    Span::new(0, 0),
                    "expected a NEURON block",
                )
                .with_hint("add `NEURON { SUFFIX name }` to name the mechanism"),
            );
        }
    }

    /// ASSIGNED variables that NET_RECEIVE sets (itself, or in the PROCEDUREs and FUNCTIONs it
    /// calls) keep their values from event to event, as in NEURON: they become states of the
    /// instance, set by INITIAL and by events, with no equation.
    fn promote_event_variables(&mut self) {
        let file = self.file;
        let Some(body) = file.items.iter().find_map(|i| match i {
            Item::NetReceive { body, .. } => Some(body),
            _ => None,
        }) else {
            return;
        };
        if !self.m.point_process {
            return;
        }
        let mut seen = std::collections::HashSet::new();
        let mut set = std::collections::BTreeSet::new();
        self.names_assigned_in(body, &mut seen, &mut set);
        for name in set {
            let Some(&(Name::Assigned, span)) = self.names.get(&name) else {
                continue;
            };
            if self.file_locals.contains(&name) || self.m.currents.iter().any(|c| c.name == name) {
                continue;
            }
            self.promote_to_state(name.clone(), span, None);
        }
    }

    /// A concentration the mechanism WRITEs without declaring it a STATE, but assigns (`cai =
    /// ca` after `ca' = …`, with `USEION ca READ ica WRITE cai`, as many ModelDB pools are
    /// written) is kept per instance like a state: the cell's ion reads it, and it holds its
    /// value between steps, as NEURON's ion variable does.
    fn promote_written_concentrations(&mut self) {
        let file = self.file;
        let mut seen = std::collections::HashSet::new();
        let mut assigned = std::collections::BTreeSet::new();
        for item in &file.items {
            match item {
                // Where hhc can keep it as a state: set in INITIAL, advanced in a DERIVATIVE or
                // KINETIC block (`cai = ca[0]`) or a SOLVEd PROCEDURE, or held at a level by
                // BREAKPOINT (neurodamus's TTXDynamicsSwitch).
                Item::Initial(b)
                | Item::Derivative { body: b, .. }
                | Item::Kinetic { body: b, .. }
                | Item::Breakpoint(b) => self.names_assigned_in(b, &mut seen, &mut assigned),
                Item::Procedure(c) => self.names_assigned_in(&c.body, &mut seen, &mut assigned),
                _ => {}
            }
        }
        for k in 0..self.m.ions.len() {
            let ion = self.m.ions[k].name.clone();
            for f in self.m.ions[k].writes.clone() {
                let word = match f {
                    IonField::Ci => format!("{ion}i"),
                    IonField::Co => format!("{ion}o"),
                    _ => continue,
                };
                let Some(&(Name::Ion(..), span)) = self.names.get(&word) else {
                    continue;
                };
                if !assigned.contains(&word) {
                    continue;
                }
                let idx = self.promote_to_state(word, span, Some("mM".into()));
                self.kept_states.insert(idx);
            }
        }
    }

    /// The ASSIGNED names of `read_early` hhc can keep per instance: set in INITIAL, a
    /// DERIVATIVE or a KINETIC block (or the PROCEDUREs they call), never in BREAKPOINT or
    /// NET_RECEIVE.
    fn holdable(
        &self,
        read_early: &std::collections::BTreeSet<String>,
    ) -> std::collections::BTreeSet<String> {
        let kept = self.assigned_by(&|item| match item {
            Item::Initial(b) | Item::Derivative { body: b, .. } | Item::Kinetic { body: b, .. } => {
                Some(b)
            }
            _ => None,
        });
        let other = self.assigned_by(&|item| match item {
            Item::Breakpoint(b) | Item::NetReceive { body: b, .. } => Some(b),
            _ => None,
        });
        self.keepable(read_early, |n| kept.contains(n) && !other.contains(n))
    }

    /// ASSIGNED names that BREAKPOINT reads before it assigns them, and assigns (a running
    /// maximum, `if (g > gmax) { gmax = g }`): in NEURON each holds BREAKPOINT's last value
    /// from step to step. Kept per instance as values BREAKPOINT stores (the next lowering
    /// makes them states, which BREAKPOINT reads and sets), unless NET_RECEIVE also sets them.
    fn kept_by_breakpoint(&self) -> std::collections::BTreeSet<String> {
        let by_breakpoint = self.assigned_by(&|item| match item {
            Item::Breakpoint(b) => Some(b),
            _ => None,
        });
        let by_events = self.assigned_by(&|item| match item {
            Item::NetReceive { body, .. } => Some(body),
            _ => None,
        });
        self.keepable(&self.read_early_in_breakpoint, |n| {
            by_breakpoint.contains(n) && !by_events.contains(n)
        })
    }

    /// Every name the blocks `pick` chooses assign (following their calls).
    fn assigned_by(
        &self,
        pick: &dyn Fn(&'a Item) -> Option<&'a Block>,
    ) -> std::collections::BTreeSet<String> {
        let (mut seen, mut out) = (
            std::collections::HashSet::new(),
            std::collections::BTreeSet::new(),
        );
        for block in self.file.items.iter().filter_map(pick) {
            self.names_assigned_in(block, &mut seen, &mut out);
        }
        out
    }

    /// The ASSIGNED names of `names` that `wanted` accepts and that are neither file-scope
    /// LOCALs nor currents.
    fn keepable(
        &self,
        names: &std::collections::BTreeSet<String>,
        wanted: impl Fn(&str) -> bool,
    ) -> std::collections::BTreeSet<String> {
        names
            .iter()
            .filter(|n| wanted(n))
            .filter(|n| matches!(self.names.get(*n), Some((Name::Assigned, _))))
            .filter(|n| {
                !self.file_locals.contains(*n) && !self.m.currents.iter().any(|c| &c.name == *n)
            })
            .cloned()
            .collect()
    }

    /// Makes `name` (an ASSIGNED or ion value) a state of the instance; returns its index.
    fn promote_to_state(&mut self, name: String, span: Span, unit: Option<String>) -> u32 {
        let idx = self.m.states.len() as u32;
        self.names.insert(name.clone(), (Name::State(idx), span));
        self.m.states.push(ir::StateVar { name, unit, span });
        idx
    }

    /// A POINTER of a point process is a state of the instance: its connection's weight, copied
    /// in before each event and out after it (see [`Self::check_pointers`]). A gap junction
    /// site's POINTER to its partner's V (NEURON's gap.mod: `POINTER vgap`, read in BREAKPOINT,
    /// no NET_RECEIVE) is a value set from outside instead, as a RANGE `vgap` is: the GAP that
    /// joins the site writes it (see [`crate::sema::network::gap_site`]).
    fn promote_pointers(&mut self) {
        if !self.m.point_process {
            return;
        }
        if self.is_gap_site_shape() {
            let (name, span) = self.m.pointers[0].clone();
            if !self.pending_range.iter().any(|id| id.name == name) {
                self.pending_range.push(ast::Ident { name, span });
            }
            return;
        }
        for (name, span) in self.m.pointers.clone() {
            match self.names.get(&name) {
                Some((Name::State(_), _)) => {}
                Some((Name::Assigned, _)) | None => {
                    self.promote_to_state(name, span, None);
                }
                Some(_) => self.err(
                    Diagnostic::error(
                        format!("POINTER `{name}` is declared as something else too"),
                        span,
                        "pointer",
                    )
                    .with_hint("declare a POINTER's variable in ASSIGNED"),
                ),
            }
        }
    }

    /// hhc binds a POINTER to one thing: the weight of the connection a weight adjuster serves
    /// (PyNN's STDP and Tsodyks–Markram mechanisms: `POINTER wsyn`, set to the NetCon's weight
    /// by `setpointer`). Such a mechanism is a POINT_PROCESS with NET_RECEIVE and one POINTER,
    /// and no current, SOLVE or events of its own; any other POINTER is refused by name.
    /// Checked where the file's declarations are read, before its blocks are lowered: a
    /// POINTER hhc cannot bind is the one error said.
    fn check_pointers(&mut self) {
        let file = self.file;
        let has = |f: &dyn Fn(&Item) -> bool| file.items.iter().any(f);
        let why = if self.is_gap_site_shape() {
            None
        } else if !self.m.point_process || self.m.artificial {
            Some("the mechanism is not a POINT_PROCESS on a cell".to_string())
        } else if self.m.pointers.len() > 1 {
            Some(format!("it has {} POINTERs", self.m.pointers.len()))
        } else if !has(&|i| matches!(i, Item::NetReceive { .. })) {
            Some("it is neither a weight adjuster (NET_RECEIVE, no current) nor a gap junction site (a current, no states that move)".into())
        } else if let Some(c) = self.m.currents.first() {
            Some(format!("it has a current, `{}`", c.name))
        } else if has(&|i| matches!(i, Item::Derivative { .. } | Item::Kinetic { .. })) {
            Some("it SOLVEs states over time".into())
        } else {
            None
        };
        self.pointer_error(why);
    }

    /// A point process on a membrane with one POINTER, a current and no NET_RECEIVE, that no
    /// block assigns the POINTER: the shape of a gap junction's site whose POINTER is its
    /// partner's V. Whether its current is one a GAP can carry is checked where a GAP names it.
    fn is_gap_site_shape(&self) -> bool {
        let [(name, _)] = self.m.pointers.as_slice() else {
            return false;
        };
        let moves_or_receives = self.file.items.iter().any(|i| {
            matches!(
                i,
                Item::NetReceive { .. } | Item::Derivative { .. } | Item::Kinetic { .. }
            )
        });
        let assigned = self.assigned_by(&|item| match item {
            Item::Initial(b) | Item::Breakpoint(b) => Some(b),
            _ => None,
        });
        self.m.point_process
            && !self.m.artificial
            && !self.m.currents.is_empty()
            && !moves_or_receives
            && !assigned.contains(name)
    }

    /// After lowering: a weight adjuster's NET_RECEIVE sends no events and watches nothing.
    fn check_pointer_events(&mut self) {
        let events = self.m.net_receive.as_ref().is_some_and(|r| {
            !r.sends.is_empty()
                || !r.emits.is_empty()
                || !r.moves.is_empty()
                || !r.watches.is_empty()
        });
        if events {
            self.pointer_error(Some("its NET_RECEIVE sends events or watches".into()));
        }
    }

    fn pointer_error(&mut self, why: Option<String>) {
        let Some(&(ref name, span)) = self.m.pointers.first() else {
            return;
        };
        let name = name.clone();
        if let Some(why) = why {
            self.err(
                Diagnostic::error(
                    format!("POINTER `{name}` cannot be bound: {why}"),
                    span,
                    "pointer",
                )
                .with_hint("hhc binds a POINTER to two things: a connection's weight, in a weight adjuster (a POINT_PROCESS with NET_RECEIVE and no current, named by CONNECT's `adjuster`, as PyNN's STDP and Tsodyks–Markram mechanisms are), and a gap junction site's partner V (a POINT_PROCESS with one POINTER, a current and no NET_RECEIVE, joined by a NETWORK's GAP, as NEURON's gap.mod is); pass other values as PARAMETERs"),
            );
        }
    }

    /// A RANGE variable declared ASSIGNED that no block assigns is set from outside the
    /// mechanism, as hoc (or ParallelContext's `target_var`) sets it in NEURON: PyNN's gap.mod
    /// reads `vgap`, which the simulator writes. hhc makes it a parameter of the instance, 0
    /// unless the model sets it (a gap junction's partner V is written by the engine).
    fn promote_set_from_outside(&mut self) {
        let file = self.file;
        let (mut seen, mut assigned) = (
            std::collections::HashSet::new(),
            std::collections::BTreeSet::new(),
        );
        for item in &file.items {
            match item {
                Item::Initial(b)
                | Item::Breakpoint(b)
                | Item::Derivative { body: b, .. }
                | Item::Kinetic { body: b, .. }
                | Item::NetReceive { body: b, .. } => {
                    self.names_assigned_in(b, &mut seen, &mut assigned)
                }
                Item::Procedure(c) | Item::Function(c) => {
                    self.names_assigned_in(&c.body, &mut seen, &mut assigned)
                }
                _ => {}
            }
        }
        for id in self.pending_range.clone() {
            let name = &id.name;
            let Some(&(Name::Assigned, span)) = self.names.get(name) else {
                continue;
            };
            if assigned.contains(name)
                || self.file_locals.contains(name)
                || self.m.currents.iter().any(|c| &c.name == name)
            {
                continue;
            }
            let unit = file.items.iter().find_map(|item| match item {
                Item::Assigned(decls) => decls
                    .iter()
                    .find(|d| &d.name.name == name)
                    .and_then(|d| d.unit.as_ref().map(|u| u.text.clone())),
                _ => None,
            });
            let idx = self.m.params.len() as u32;
            self.names.insert(name.clone(), (Name::Param(idx), span));
            self.m.params.push(ir::Param {
                name: name.clone(),
                default: 0.0,
                unit,
                limits: None,
                span,
            });
        }
    }

    /// The ASSIGNED names of `held` become states of the instance, set where INITIAL and
    /// DERIVATIVE blocks assign them, as written concentrations are; those of `stored` become
    /// states that BREAKPOINT sets and the state update reads (see [`ir::Mechanism::stored`]).
    fn promote_kept(&mut self) {
        let (held, stored) = (self.held.clone(), self.stored.clone());
        let mut promote = |names: std::collections::BTreeSet<String>| -> Vec<u32> {
            let mut states = Vec::new();
            for name in names {
                if let Some(&(Name::Assigned, span)) = self.names.get(&name) {
                    states.push(self.promote_to_state(name, span, None));
                }
            }
            states
        };
        let held = promote(held);
        let stored = promote(stored);
        self.kept_states.extend(held);
        self.stored_states.extend(stored);
    }

    /// Every name `block` assigns, following calls into PROCEDUREs and FUNCTIONs once each.
    fn names_assigned_in(
        &self,
        block: &Block,
        seen: &mut std::collections::HashSet<String>,
        out: &mut std::collections::BTreeSet<String>,
    ) {
        for stmt in &block.stmts {
            match &stmt.kind {
                StmtKind::Assign { target, value } => {
                    out.insert(target.name.clone());
                    self.names_assigned_in_expr(value, seen, out);
                }
                StmtKind::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    self.names_assigned_in_expr(cond, seen, out);
                    self.names_assigned_in(then, seen, out);
                    if let Some(o) = otherwise {
                        self.names_assigned_in(o, seen, out);
                    }
                }
                StmtKind::While { cond, body } => {
                    self.names_assigned_in_expr(cond, seen, out);
                    self.names_assigned_in(body, seen, out);
                }
                StmtKind::Call(e) => self.names_assigned_in_expr(e, seen, out),
                StmtKind::Block(b) | StmtKind::ForNetcons { body: b, .. } => {
                    self.names_assigned_in(b, seen, out)
                }
                StmtKind::Verbatim(crate::syntax::verbatim::Verbatim::VectorElement {
                    index,
                    etime,
                    ..
                }) => {
                    out.insert(index.clone());
                    out.insert(etime.clone());
                }
                _ => {}
            }
        }
    }

    fn names_assigned_in_expr(
        &self,
        e: &ast::Expr,
        seen: &mut std::collections::HashSet<String>,
        out: &mut std::collections::BTreeSet<String>,
    ) {
        match &e.kind {
            ExprKind::Call { name, args } => {
                for a in args {
                    self.names_assigned_in_expr(a, seen, out);
                }
                let callee = self
                    .procedures
                    .get(&name.name)
                    .or_else(|| self.functions.get(&name.name));
                if let Some(c) = callee {
                    if seen.insert(name.name.clone()) {
                        self.names_assigned_in(&c.body, seen, out);
                    }
                }
            }
            ExprKind::Unary { operand, .. } => self.names_assigned_in_expr(operand, seen, out),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.names_assigned_in_expr(lhs, seen, out);
                self.names_assigned_in_expr(rhs, seen, out);
            }
            ExprKind::WithUnit { value, .. } => self.names_assigned_in_expr(value, seen, out),
            _ => {}
        }
    }

    /// An array left after `arrays::expand` (its size could not be read; already reported
    /// there, so this is a backstop).
    fn reject_array(&mut self, d: &ast::VarDecl) {
        if let Some((_, span)) = d.array {
            self.err(
                Diagnostic::error(
                    format!("array variable `{}` is not supported", d.name.name),
                    span,
                    "array size here",
                )
                .with_hint("declare one scalar per element"),
            );
        }
    }

    fn add_callable(&mut self, c: &'a ast::Callable, is_function: bool) {
        let name = &c.name.name;
        if self.functions.contains_key(name)
            || self.procedures.contains_key(name)
            || BUILTIN_FNS.iter().any(|(b, _)| b == name)
        {
            self.err(
                Diagnostic::error(
                    format!("`{name}` is defined twice"),
                    c.name.span,
                    "redefined here",
                )
                .with_hint("rename one of them"),
            );
            return;
        }
        if let Some(u) = c.unit.as_ref().and_then(|u| self.unit(u)) {
            self.declared_units.insert(name.clone(), u);
        }
        if is_function {
            self.functions.insert(name.clone(), c);
        } else {
            self.procedures.insert(name.clone(), c);
        }
    }

    fn collect_neuron(&mut self, stmts: &[NeuronStmt], span: Span) {
        let mut suffix = None;
        let mut point_process = false;
        let mut range_names = vec![];
        for s in stmts {
            match s {
                NeuronStmt::Suffix(id) => {
                    if suffix.is_some() || point_process {
                        self.err(
                            Diagnostic::error("more than one SUFFIX", id.span, "second SUFFIX")
                                .with_hint("a file holds one mechanism"),
                        );
                    }
                    suffix = Some(id.clone());
                }
                NeuronStmt::PointProcess(id) | NeuronStmt::ArtificialCell(id) => {
                    if matches!(s, NeuronStmt::ArtificialCell(_)) {
                        self.m.artificial = true;
                    }
                    if point_process || suffix.is_some() {
                        self.err(
                            Diagnostic::error(
                                "a mechanism has one SUFFIX or one POINT_PROCESS",
                                id.span,
                                "second name",
                            )
                            .with_hint("a file holds one mechanism"),
                        );
                    }
                    point_process = true;
                    self.m.point_process = true;
                    self.m.name = id.name.clone();
                }
                NeuronStmt::UseIon {
                    ion,
                    read,
                    write,
                    valence,
                } => self.collect_useion(ion, read, write, valence.as_ref()),
                NeuronStmt::NonspecificCurrent(ids) | NeuronStmt::ElectrodeCurrent(ids) => {
                    for id in ids {
                        if matches!(s, NeuronStmt::ElectrodeCurrent(_)) {
                            self.electrode_currents.insert(id.name.clone());
                        }
                        self.declare(id, Name::Assigned);
                        self.m.currents.push(ir::Current {
                            ion: None,
                            name: id.name.clone(),
                            value: ExprId(0),
                            conductance: None,
                            scale: 1.0,
                        });
                    }
                }
                NeuronStmt::Range(ids) | NeuronStmt::Global(ids) => {
                    range_names.extend(ids.iter().cloned())
                }
                NeuronStmt::Pointer(ids) => {
                    self.m
                        .pointers
                        .extend(ids.iter().map(|id| (id.name.clone(), id.span)));
                }
                NeuronStmt::Threadsafe => {}
                NeuronStmt::Random(ids) => {
                    for id in ids {
                        let k = self.m.random_streams.len() as u32;
                        self.m.random_streams.push(id.name.clone());
                        self.declare(id, Name::Random(k));
                    }
                }
            }
        }
        match suffix {
            Some(s) => self.m.name = s.name,
            None if point_process => {}
            None => self.err(
                Diagnostic::error(
                    "NEURON block without SUFFIX",
                    Span::new(span.start as usize, span.start as usize + 6),
                    "this block names no mechanism",
                )
                .with_hint("add `SUFFIX name`; model files find mechanisms by SUFFIX"),
            ),
        }
        self.pending_range = range_names;
    }

    fn collect_useion(
        &mut self,
        ion: &ast::Ident,
        read: &[ast::Ident],
        write: &[ast::Ident],
        valence: Option<&ast::Number>,
    ) {
        if self.m.ion_index(&ion.name).is_some() {
            self.err(
                Diagnostic::error(
                    format!("ion `{}` is used twice", ion.name),
                    ion.span,
                    "second USEION",
                )
                .with_hint("merge the READ and WRITE lists into one USEION"),
            );
            return;
        }
        let idx = self.m.ions.len() as u32;
        let n = &ion.name;
        let field_of = |word: &str| -> Option<IonField> {
            if word == format!("e{n}") {
                Some(IonField::E)
            } else if word == format!("i{n}") {
                Some(IonField::I)
            } else if word == format!("{n}i") {
                Some(IonField::Ci)
            } else if word == format!("{n}o") {
                Some(IonField::Co)
            } else {
                None
            }
        };
        let mut use_ = IonUse {
            name: n.clone(),
            valence: None,
            reads: vec![],
            writes: vec![],
            current_scale: 1e-3,
        };
        for (list, is_write) in [(read, false), (write, true)] {
            for id in list {
                match field_of(&id.name) {
                    Some(f) => {
                        if is_write {
                            use_.writes.push(f);
                            if f == IonField::E {
                                self.err(
                                    Diagnostic::error(
                                        format!("writing `{}` is not supported", id.name),
                                        id.span,
                                        "reversal potentials follow from the ion's concentrations",
                                    )
                                    .with_hint(format!(
                                        "WRITE {n}i (a concentration pool) or i{n} (a current)"
                                    )),
                                );
                            }
                            if f == IonField::I {
                                self.m.currents.push(ir::Current {
                                    ion: Some(idx),
                                    name: id.name.clone(),
                                    value: ExprId(0),
                                    conductance: None,
                                    scale: 1.0,
                                });
                            }
                        } else {
                            use_.reads.push(f);
                        }
                        let pool_state = is_write
                            && matches!(f, IonField::Ci | IonField::Co)
                            && matches!(self.names.get(&id.name), Some((Name::State(_), _)));
                        if !pool_state {
                            self.names
                                .insert(id.name.clone(), (Name::Ion(idx, f), id.span));
                        }
                        let unit = match f {
                            IonField::E => "mV",
                            IonField::I if self.m.point_process => "nA",
                            IonField::I => "mA/cm2",
                            IonField::Ci | IonField::Co => "mM",
                        };
                        if let Ok(u) = self.units.parse(unit) {
                            self.declared_units.insert(id.name.clone(), u);
                        }
                    }
                    None => self.err(
                        Diagnostic::error(
                            format!(
                                "USEION {n} cannot {} `{}`",
                                if is_write { "WRITE" } else { "READ" },
                                id.name
                            ),
                            id.span,
                            "not a variable of this ion",
                        )
                        .with_hint(format!(
                            "the variables of ion {n} are e{n}, i{n}, {n}i and {n}o"
                        )),
                    ),
                }
            }
        }
        if let Some(v) = valence {
            let x = number_value(v, &mut self.diags);
            use_.valence = Some(if v.negative { -(x as i32) } else { x as i32 });
        }
        self.m.ions.push(use_);
    }
}

// The RANGE list is checked after every declaration is known.
impl Lowerer<'_> {
    /// A RANGE name no block declares is, as in NEURON (which warns), a variable of the
    /// instance with no unit (hippounit's NMDA_CA1_pyr_SC.mod names an unused `caf`): hhc
    /// declares it ASSIGNED, so that a read before any assignment is still an error.
    fn check_range_names(&mut self) {
        for id in std::mem::take(&mut self.pending_range) {
            if !self.names.contains_key(&id.name) {
                self.declare(&id, Name::Assigned);
            }
        }
    }
}

type Env = HashMap<String, Val>;

// Ion interface checks and scales, once every declaration is known.
impl Lowerer<'_> {
    /// A density mechanism's currents are current densities, and a point process's are
    /// currents: a current declared in another unit would be scaled by a meaningless factor.
    fn check_current_units(&mut self) {
        let point = self.m.point_process;
        let Ok(wanted) = self.units.parse(if point { "nA" } else { "mA/cm2" }) else {
            return;
        };
        for k in 0..self.m.currents.len() {
            let name = self.m.currents[k].name.clone();
            let Some(&declared) = self.declared_units.get(&name) else {
                continue;
            };
            if declared.same_dimension(&wanted) {
                continue;
            }
            let span = self
                .unit_spans
                .get(&name)
                .copied()
                .or_else(|| self.names.get(&name).map(|n| n.1))
                .unwrap_or_default();
            // Reported here, at the declaration; the assignment is not checked against it again.
            self.declared_units.remove(&name);
            let (what, hint) = if point {
                (
                    "a current",
                    format!("a point process's current is a current: declare `{name} (nA)` (NEURON's unit)"),
                )
            } else {
                (
                    "a current density",
                    format!("a density mechanism's current is a current per area: declare `{name} (mA/cm2)` (NEURON's unit) or `{name} (uA/cm2)`"),
                )
            };
            self.unit_err(
                Diagnostic::error(
                    format!("current `{name}` is declared in {declared}, which is not {what}"),
                    span,
                    format!("{declared} here"),
                )
                .with_hint(hint),
            );
        }
    }

    fn check_ion_interface(&mut self) {
        self.check_current_units();
        let ua = self.units.parse("uA/cm2").ok();
        for k in 0..self.m.ions.len() {
            let ion = self.m.ions[k].name.clone();
            // Reads of i<ion> see the cell's total in the unit the file declares (mA/cm2 by default).
            let declared = self.declared_units.get(&format!("i{ion}")).copied();
            if let (Some(d), Some(ua), Dialect::Hhc) = (declared, ua, self.dialect) {
                self.m.ions[k].current_scale = ua.factor_to(&d);
            }
            for f in self.m.ions[k].writes.clone() {
                let word = match f {
                    IonField::Ci => format!("{ion}i"),
                    IonField::Co => format!("{ion}o"),
                    _ => continue,
                };
                if let Some(&(Name::Ion(..), span)) = self.names.get(&word) {
                    self.err(
                        Diagnostic::error(
                            format!("`{word}` is written but is not a STATE"),
                            span,
                            "a concentration pool WRITEs its concentration",
                        )
                        .with_hint(format!(
                            "declare `STATE {{ {word} (mM) }}` and give it a DERIVATIVE equation"
                        )),
                    );
                }
            }
        }
    }
}

impl Lowerer<'_> {
    /// Every STATE moves (an equation, or a place in a KINETIC scheme) or is at least given a
    /// value: a state with neither would sit at 0 for the whole run.
    fn check_states_move(&mut self) {
        let mut moves = vec![false; self.m.states.len()];
        for &(s, _, _) in &self.m.derivatives {
            moves[s as usize] = true;
        }
        for &(s, _) in &self.m.advance {
            moves[s as usize] = true;
        }
        for a in &self.m.assigned {
            moves[a.state as usize] = true;
        }
        for &(s, _) in &self.m.stored {
            moves[s as usize] = true;
        }
        if let Some(k) = &self.m.kinetic {
            for &(s, _) in &k.rhs {
                moves[s as usize] = true;
            }
            for &s in k.conserve.iter().flat_map(|c| &c.0) {
                moves[s as usize] = true;
            }
        }
        // Events set it (an ASSIGNED NET_RECEIVE keeps, or a STATE it jumps).
        if let Some(r) = &self.m.net_receive {
            for &(s, _) in &r.updates {
                moves[s as usize] = true;
            }
        }
        for (i, state) in self.m.states.clone().iter().enumerate() {
            let initialised = self.initialised_states.get(i).copied().unwrap_or(false);
            if moves[i] || initialised {
                continue;
            }
            self.err(
                Diagnostic::error(
                    format!("STATE `{}` has no equation and no initial value, so it would stay 0", state.name),
                    state.span,
                    "never set",
                )
                .with_hint(format!(
                    "give it an equation `{n}' = …` in the DERIVATIVE block that BREAKPOINT SOLVEs, or a value in INITIAL; a fixed quantity is a PARAMETER",
                    n = state.name
                )),
            );
        }
    }
}

impl<'a> Lowerer<'a> {
    fn lower_blocks(&mut self) {
        self.check_range_names();
        self.check_ion_interface();
        let file = self.file;
        let mut seen = std::collections::HashSet::new();
        let mut later = std::collections::BTreeSet::new();
        for item in &file.items {
            match item {
                Item::Breakpoint(b)
                | Item::Derivative { body: b, .. }
                | Item::Kinetic { body: b, .. }
                | Item::NetReceive { body: b, .. } => {
                    self.names_assigned_in(b, &mut seen, &mut later)
                }
                _ => {}
            }
        }
        self.assigned_after_initial = later;
        let (mut seen, mut in_breakpoint) = Default::default();
        for item in &file.items {
            if let Item::Breakpoint(b) = item {
                self.names_assigned_in(b, &mut seen, &mut in_breakpoint);
            }
        }
        self.assigned_in_breakpoint = in_breakpoint;
        // The derivative blocks, keyed by name, for SOLVE.
        let mut derivative_blocks: HashMap<&str, &Block> = HashMap::new();
        let mut kinetic_blocks: HashMap<&str, Span> = HashMap::new();
        for item in &file.items {
            match item {
                Item::Derivative { name, body } => {
                    derivative_blocks.insert(&name.name, body);
                }
                Item::Kinetic { name, .. } => {
                    kinetic_blocks.insert(&name.name, name.span);
                }
                // A DESTRUCTOR that only releases VecStim's Vector: nothing for hhc to free.
                Item::Hook { keyword, body }
                    if keyword.name == "DESTRUCTOR"
                        && body.stmts.iter().all(|s| {
                            matches!(
                                s.kind,
                                StmtKind::Verbatim(
                                    crate::syntax::verbatim::Verbatim::ReleaseVector { .. }
                                        | crate::syntax::verbatim::Verbatim::Declarations
                                )
                            )
                        }) => {}
                Item::Hook { keyword, body } => {
                    let verbatim = body
                        .stmts
                        .iter()
                        .any(|s| matches!(s.kind, StmtKind::Verbatim(_)));
                    let (what, hint) = match keyword.name.as_str() {
                        "CONSTRUCTOR" | "DESTRUCTOR" => (
                            "C code run when NEURON makes or frees an instance",
                            "hhc runs no C; a mechanism that needs it (file I/O, reports, vectors from hoc) cannot be translated",
                        ),
                        _ => (
                            "statements run around NEURON's own steps",
                            "move them into INITIAL or BREAKPOINT (after its SOLVE), where hhc runs them",
                        ),
                    };
                    self.err(
                        Diagnostic::error(
                            format!(
                                "`{}` blocks are not supported{}",
                                keyword.name,
                                if verbatim {
                                    " (this one holds VERBATIM C code)"
                                } else {
                                    ""
                                }
                            ),
                            keyword.span,
                            what,
                        )
                        .with_hint(hint),
                    )
                }
                _ => {}
            }
        }
        // INITIAL
        let state_count = self.m.states.len();
        let mut env = Env::new();
        self.sends.clear();
        for item in &file.items {
            if let Item::Initial(body) = item {
                self.kind = BlockKind::Initial;
                self.exec_top_block(body, &mut env);
            }
        }
        self.m.initial_sends = std::mem::take(&mut self.sends);
        for (name, val) in &env {
            let constant = self.m.exprs.reachable(&[val.0]).iter().all(|&n| {
                !matches!(
                    self.m.exprs.get(n),
                    Expr::Var(Var::State(_) | Var::Builtin(Builtin::V | Builtin::T))
                )
            });
            match self.names.get(name) {
                Some((Name::Assigned, _))
                    if constant && !self.assigned_after_initial.contains(name) =>
                {
                    self.initial_assigned.insert(name.clone(), *val);
                }
                Some((Name::Param(_), _)) if constant => {
                    self.initial_params.insert(name.clone(), *val);
                }
                Some((Name::Param(_), span)) => {
                    let span = *span;
                    self.err(
                        Diagnostic::error(
                            format!("INITIAL sets PARAMETER `{name}` from v or a state"),
                            span,
                            "changed in INITIAL",
                        )
                        .with_hint("hhc lets INITIAL change a PARAMETER only through other parameters; compute it in an ASSIGNED variable"),
                    );
                }
                _ => {}
            }
        }
        self.initialised_states = (0..state_count)
            .map(|i| env.contains_key(&self.m.states[i].name))
            .collect();
        self.m.init = (0..state_count)
            .map(|i| match env.get(&self.m.states[i].name) {
                Some(v) => v.0,
                None => self.initial_state_value(i as u32),
            })
            .collect();
        self.lower_net_receive();
        // BREAKPOINT
        let mut env = Env::new();
        let mut solved = None;
        for item in &file.items {
            if let Item::Breakpoint(body) = item {
                self.kind = BlockKind::Breakpoint;
                for stmt in &body.stmts {
                    if let StmtKind::Solve { block, method } = &stmt.kind {
                        if method.as_ref().is_none_or(|m| m.name != "after_cvode") {
                            solved = Some((block.clone(), method.clone()));
                        }
                    }
                }
                self.exec_top_block(body, &mut env);
                self.breakpoint_values = env.clone();
                let mut stored: Vec<u32> = self.stored_states.iter().copied().collect();
                stored.sort_unstable();
                for state in stored {
                    if let Some(&(value, _)) = env.get(&self.m.states[state as usize].name) {
                        let value = self.as_number(value);
                        self.m.stored.push((state, value));
                    }
                }
                let mut kept: Vec<u32> = self.kept_states.iter().copied().collect();
                kept.sort_unstable();
                for state in kept {
                    if let Some(&(value, _)) = env.get(&self.m.states[state as usize].name) {
                        self.m.assigned.push(ir::AssignedState {
                            state,
                            value,
                            after: Vec::new(),
                            by_breakpoint: true,
                        });
                    }
                }
                // Currents
                for i in 0..self.m.currents.len() {
                    let name = self.m.currents[i].name.clone();
                    // A current that is a STATE and BREAKPOINT does not assign is the state.
                    let as_state = match self.names.get(&name) {
                        Some(&(Name::State(k), _)) if !env.contains_key(&name) => {
                            Some((self.m.exprs.var(Var::State(k)), Dim::Bare))
                        }
                        _ => None,
                    };
                    match env.get(&name).copied().or(as_state) {
                        Some((value, _)) => {
                            let declared = self.declared_units.get(&name).copied();
                            // Density currents in µA/cm² (mA/cm² when undeclared, NEURON's
                            // unit); a point process's in nA, which is also NEURON's.
                            let (unit, undeclared) = if self.m.point_process {
                                ("nA", 1.0)
                            } else {
                                ("uA/cm2", 1000.0)
                            };
                            let as_declared = declared
                                .and_then(|d| self.units.parse(unit).ok().map(|u| d.factor_to(&u)))
                                .unwrap_or(undeclared);
                            // NEURON reads the number in its own unit whatever the file says.
                            let mut factor = match self.dialect {
                                Dialect::Hhc => as_declared,
                                Dialect::Neuron => {
                                    if (as_declared - undeclared).abs() > 1e-12 * undeclared {
                                        let span = self
                                            .unit_spans
                                            .get(&name)
                                            .copied()
                                            .unwrap_or(body.span);
                                        let neuron_unit =
                                            if self.m.point_process { "nA" } else { "mA/cm2" };
                                        self.unit_err(Diagnostic::error(
                                            format!("current `{name}` is declared in another unit than NEURON's {neuron_unit}"),
                                            span,
                                            format!("NEURON reads `{name}` in {neuron_unit}"),
                                        ).with_hint(format!("declare `{name} ({neuron_unit})`")));
                                    }
                                    undeclared
                                }
                            };
                            // An electrode injects: hhc's currents are membrane currents,
                            // outward positive.
                            if self.electrode_currents.contains(&name) {
                                factor = -factor;
                            }
                            let mut b = Builder::new(&mut self.m.exprs);
                            let f = b.lit(factor);
                            self.m.currents[i].value = b.mul(f, value);
                        }
                        None => self.err(
                            Diagnostic::error(
                                format!("current `{name}` is never assigned in BREAKPOINT"),
                                body.span,
                                "BREAKPOINT does not assign it",
                            )
                            .with_hint(format!("add `{name} = …` to BREAKPOINT")),
                        ),
                    }
                }
            }
        }
        if !file.items.iter().any(|i| matches!(i, Item::Breakpoint(_)))
            && !self.m.currents.is_empty()
        {
            {
                self.err(
                    Diagnostic::error(
                        "mechanism writes currents but has no BREAKPOINT block",
                        Span::new(0, 0),
                        "no BREAKPOINT",
                    )
                    .with_hint("add a BREAKPOINT block that assigns the currents"),
                );
            }
        }
        // SOLVE target
        if let Some((block, method)) = solved {
            if kinetic_blocks.contains_key(block.name.as_str()) {
                match method.as_ref().map(|m| m.name.as_str()) {
                    Some("sparse") | None => {
                        self.m.method = Some(ir::Method::Sparse);
                        if let Some((scheme, env)) = self.run_kinetic(&block, Env::new()) {
                            self.keep_kinetic_assignments(&scheme, &env);
                            self.m.kinetic = Some(scheme);
                        }
                    }
                    Some(other) => {
                        let span = method.as_ref().map_or(block.span, |m| m.span);
                        self.err(
                            Diagnostic::error(
                                format!("a KINETIC scheme cannot be solved with METHOD {other}"),
                                span,
                                "method for a kinetic scheme",
                            )
                            .with_hint("use METHOD sparse (backward Euler, as NEURON)"),
                        );
                    }
                }
                return;
            }
            if self.algebraic_block(&block.name).is_some() {
                // A LINEAR or NONLINEAR block SOLVEd in BREAKPOINT: NEURON solves it in its
                // state update, after V's, and each state takes its solution.
                self.m.method = Some(ir::Method::Procedure);
                self.kind = BlockKind::StateUpdate;
                let mut env = Env::new();
                self.solve_algebraic(&block, &mut env);
                self.m.advance = (0..self.m.states.len() as u32)
                    .filter_map(|i| env.get(&self.m.states[i as usize].name).map(|v| (i, v.0)))
                    .collect();
                return;
            }
            if let Some(procedure) = self.procedures.get(block.name.as_str()).copied() {
                // NEURON's old style: the SOLVEd PROCEDURE runs once a step and assigns each
                // state its new value, e.g. `m = m + (1 - exp(-dt/tau))*(minf - m)`.
                self.m.method = Some(ir::Method::Procedure);
                self.kind = BlockKind::StateUpdate;
                let mut env = Env::new();
                self.call(procedure, &[], &block, &mut env, false);
                self.m.advance = (0..self.m.states.len() as u32)
                    .filter_map(|i| env.get(&self.m.states[i as usize].name).map(|v| (i, v.0)))
                    .collect();
                return;
            }
            let Some(body) = derivative_blocks.get(block.name.as_str()) else {
                let names: Vec<&str> = derivative_blocks.keys().copied().collect();
                let hint = match closest(&block.name, names) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => "declare it as `DERIVATIVE name { … }`".into(),
                };
                self.err(
                    Diagnostic::error(
                        format!(
                            "SOLVE names `{}`, which is not a DERIVATIVE block",
                            block.name
                        ),
                        block.span,
                        "no such block",
                    )
                    .with_hint(hint),
                );
                return;
            };
            match method.as_ref().map(|m| m.name.as_str()) {
                Some("cnexp") | None => self.m.method = Some(ir::Method::Cnexp),
                Some("euler") => self.m.method = Some(ir::Method::Euler),
                Some("derivimplicit") => self.m.method = Some(ir::Method::Implicit),
                Some("runge") => self.m.method = Some(ir::Method::Runge),
                Some(other) => {
                    let span = method.as_ref().map_or(block.span, |m| m.span);
                    self.err(
                        Diagnostic::error(
                            format!("unknown METHOD `{other}`"),
                            span,
                            "not a method hhc knows",
                        )
                        .with_hint(
                            "use METHOD cnexp (exact), or NEURON's euler, derivimplicit or runge",
                        ),
                    );
                    return;
                }
            }
            self.kind = BlockKind::Derivative;
            self.cnexp_block = self.m.method == Some(ir::Method::Cnexp);
            let mut env = Env::new();
            self.exec_top_block(body, &mut env);
            self.cnexp_block = false;
            let mut assigned: Vec<(u32, usize)> = self.assigned_after.drain().collect();
            assigned.sort_unstable();
            for (state, before) in assigned {
                let name = &self.m.states[state as usize].name;
                if let Some(&(value, _)) = env.get(name) {
                    // NEURON runs the DERIVATIVE block after BREAKPOINT: its value stands.
                    self.m.assigned.retain(|a| a.state != state);
                    self.m.assigned.push(ir::AssignedState {
                        state,
                        value,
                        after: self.derivatives[..before].iter().map(|d| d.0).collect(),
                        by_breakpoint: false,
                    });
                }
            }
            self.m.derivatives = std::mem::take(&mut self.derivatives);
        } else if !derivative_blocks.is_empty() && !self.m.states.is_empty() {
            // A DERIVATIVE block nobody SOLVEs: states would never move. Say so.
            if let Some(Item::Derivative { name, .. }) = file
                .items
                .iter()
                .find(|i| matches!(i, Item::Derivative { .. }))
            {
                self.err(
                    Diagnostic::error(
                        format!("DERIVATIVE `{}` is never solved", name.name),
                        name.span,
                        "not referenced by SOLVE",
                    )
                    .with_hint(format!(
                        "add `SOLVE {} METHOD cnexp` to BREAKPOINT",
                        name.name
                    )),
                );
            }
        }
    }

    /// Runs a top-level block (INITIAL, BREAKPOINT, DERIVATIVE, KINETIC), with units checked
    /// unless the file wrote it between UNITSOFF and UNITSON.
    fn exec_top_block(&mut self, block: &Block, env: &mut Env) {
        let outer = self.units_on;
        self.units_on = !self.units_off_blocks.contains(&block.span.start);
        self.exec_block(block, env);
        self.units_on = outer;
    }

    /// What to write instead of a VERBATIM block. A spike train read from a hoc Vector through
    /// C other than VecStim's (PROCEDUREs `play` and `element`) is a spike source in hhc's model
    /// language.
    fn verbatim_hint(&self) -> &'static str {
        let vecstim = self.file.items.iter().any(|i| {
            matches!(i, Item::Procedure(c) if c.name.name == "play" || c.name.name == "element")
        });
        if vecstim {
            "this reads a spike train from a hoc Vector in C other than NEURON's VecStim's `element()` (which hhc reads): use NEURON's vecevent.mod, or hhc's spike source, `POPULATION s = spikes { file = trains }` with `cell,t_ms` rows in trains.csv, or `spikes { times = … }`"
        } else {
            "express the computation in .chan statements"
        }
    }

    fn exec_block(&mut self, block: &Block, env: &mut Env) {
        let mut k = 0;
        while k < block.stmts.len() {
            let stmt = &block.stmts[k];
            if let StmtKind::Verbatim(crate::syntax::verbatim::Verbatim::UnsetPointerElse {
                locals,
                ..
            }) = &stmt.kind
            {
                match self.exec_unset_pointer_else(block, k, locals, env) {
                    Some(next) => k = next,
                    None => break,
                }
                continue;
            }
            let return_zero = matches!(
                stmt.kind,
                StmtKind::Verbatim(crate::syntax::verbatim::Verbatim::ReturnZero)
            );
            if return_zero && k + 1 < block.stmts.len() {
                self.err(
                    Diagnostic::error(
                        "VERBATIM `return 0;` before the end of its block",
                        stmt.span,
                        "the statements after it would not run",
                    )
                    .with_hint("hhc accepts `return 0;` only as a block's last statement; put the rest under an `if`"),
                );
            }
            self.exec_stmt(stmt, env);
            k += 1;
        }
    }

    fn exec_stmt(&mut self, stmt: &ast::Stmt, env: &mut Env) {
        match &stmt.kind {
            StmtKind::Assign { target, value } => {
                let v = self.expr(value, env);
                self.assign(target, v, value.span, env);
            }
            StmtKind::Derivative { state, value } => {
                let f = self.expr(value, env);
                match self.names.get(&state.name).copied() {
                    Some((Name::State(i), _)) if self.kind == BlockKind::Derivative => {
                        let f = self.check_derivative_units(i, f, value.span);
                        if self.derivatives.iter().any(|(s, _, _)| *s == i) {
                            self.err(
                                Diagnostic::error(
                                    format!("`{}'` is given twice", state.name),
                                    state.span,
                                    "second equation",
                                )
                                .with_hint("give each state one equation"),
                            );
                        }
                        self.derivatives.push((i, f, stmt.span));
                    }
                    Some((Name::State(_), _)) => self.err(
                        Diagnostic::error(
                            "derivative equations belong in a DERIVATIVE block",
                            stmt.span,
                            "outside DERIVATIVE",
                        )
                        .with_hint("move it into the DERIVATIVE block named by SOLVE"),
                    ),
                    _ => self.err(
                        Diagnostic::error(
                            format!("`{}` is not a STATE", state.name),
                            state.span,
                            "derivative of a non-state",
                        )
                        .with_hint(format!("declare `{}` in the STATE block", state.name)),
                    ),
                }
            }
            StmtKind::If {
                cond,
                then,
                otherwise,
            } => {
                let c = self.expr(cond, env);
                let c = self.as_condition(c.0);
                let mut env_then = env.clone();
                self.path.push(c);
                self.exec_block(then, &mut env_then);
                self.path.pop();
                let mut env_else = env.clone();
                if let Some(o) = otherwise {
                    let not_c = self
                        .m
                        .exprs
                        .add(Expr::Unary(ir::UnaryOp::Not, c), stmt.span);
                    self.path.push(not_c);
                    self.exec_block(o, &mut env_else);
                    self.path.pop();
                }
                let mut keys: Vec<String> =
                    env_then.keys().chain(env_else.keys()).cloned().collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let a = env_then.get(&k).copied();
                    let b = env_else.get(&k).copied();
                    let unit = match (a, b) {
                        (Some(x), Some(y)) => x.1.sum(y.1),
                        (Some(x), None) | (None, Some(x)) => x.1,
                        (None, None) => Dim::Free,
                    };
                    // A branch that leaves a name alone keeps its value from before the `if`.
                    let before = |l: &mut Self| l.value_kept(&k, stmt.span, &Env::new()).0;
                    let ae = match a {
                        Some(x) => x.0,
                        None => before(self),
                    };
                    let be = match b {
                        Some(x) => x.0,
                        None => before(self),
                    };
                    let merged = Builder {
                        arena: &mut self.m.exprs,
                        span: stmt.span,
                    }
                    .select(c, ae, be);
                    env.insert(k, (merged, unit));
                }
            }
            StmtKind::While { cond, body } => {
                // Unrolled: each pass is `if (cond) { body }`, so a loop that ends early keeps
                // its values through the remaining passes. A loop still running after the last
                // pass leaves NaN in what it assigns, never a silently truncated value.
                let pass = ast::Stmt {
                    kind: StmtKind::If {
                        cond: cond.clone(),
                        then: body.clone(),
                        otherwise: None,
                    },
                    span: stmt.span,
                };
                for _ in 0..MAX_WHILE_ITERATIONS {
                    self.exec_stmt(&pass, env);
                }
                let still = self.expr(cond, env);
                let still = self.as_condition(still.0);
                let mut assigned = std::collections::BTreeSet::new();
                self.names_assigned_in(body, &mut std::collections::HashSet::new(), &mut assigned);
                let nan = self.m.exprs.lit(f64::NAN);
                for name in assigned {
                    if let Some(&(value, unit)) = env.get(&name) {
                        let poisoned = Builder {
                            arena: &mut self.m.exprs,
                            span: stmt.span,
                        }
                        .select(still, nan, value);
                        env.insert(name, (poisoned, unit));
                    }
                }
            }
            StmtKind::Call(e) => {
                if let ExprKind::Call { name, args } = &e.kind {
                    if let Some(p) = self.procedures.get(&name.name).copied() {
                        self.call(p, args, name, env, false);
                    } else {
                        let _ = self.expr(e, env);
                    }
                }
            }
            StmtKind::Local(ids) => {
                let zero = self.m.exprs.lit(0.0);
                for id in ids {
                    env.insert(id.name.clone(), (zero, Dim::Free));
                }
            }
            StmtKind::Solve { block, .. } if self.algebraic_block(&block.name).is_some() => {
                match self.kind {
                    BlockKind::Initial => self.solve_algebraic(block, env),
                    // Solved with the states' update, after V's (see the SOLVE target).
                    BlockKind::Breakpoint => {}
                    _ => self.err(
                        Diagnostic::error(
                            format!("`{}` is SOLVEd outside INITIAL and BREAKPOINT", block.name),
                            block.span,
                            "here",
                        )
                        .with_hint("SOLVE a LINEAR or NONLINEAR block in INITIAL (its initial values) or BREAKPOINT (every step, as NEURON's state update)"),
                    ),
                }
            }
            StmtKind::Equation { lhs, rhs } if self.kind == BlockKind::Linear => {
                let l = self.expr(lhs, env);
                let r = self.expr(rhs, env);
                let (l, r) = (self.as_number(l.0), self.as_number(r.0));
                let residual = Builder::new(&mut self.m.exprs).sub(l, r);
                self.linear_residuals.push((residual, stmt.span));
            }
            StmtKind::Equation { .. } => self.err(
                Diagnostic::error(
                    "an equation `~ a = b` belongs in a LINEAR or NONLINEAR block",
                    stmt.span,
                    "outside LINEAR",
                )
                .with_hint("a KINETIC block takes reactions `~ A <-> B (kf, kb)`"),
            ),
            StmtKind::Solve { block, .. }
                if self.kind == BlockKind::Initial && self.is_kinetic_block(&block.name) =>
            {
                // In INITIAL, SOLVE of a kinetic scheme puts it at its steady state.
                self.steady_state(block, env);
            }
            // `METHOD after_cvode` recomputes a reported value after the step (svclmp.mod's `i`,
            // at the new v): NEURON's fixed step runs it in nrn_state, but it plays no part in
            // the currents, so hhc skips it; a trace of that value shows BREAKPOINT's.
            StmtKind::Solve { method, .. }
                if method.as_ref().is_some_and(|m| m.name == "after_cvode") => {}
            StmtKind::Solve { block, method } => {
                if self.kind == BlockKind::Breakpoint {
                    // What the solved block leaves in ASSIGNED variables (an instantaneous
                    // `minf` from `rates(v)`) is there for the rest of BREAKPOINT, as NEURON's
                    // persistent ASSIGNED values are: stored values, constant in NEURON's
                    // dI/dv, so frozen here.
                    for (name, (value, unit)) in self.assigned_by_solved_block(&block.name) {
                        if let std::collections::hash_map::Entry::Vacant(slot) = env.entry(name) {
                            let frozen =
                                Builder::new(&mut self.m.exprs).unary(ir::UnaryOp::Frozen, value);
                            slot.insert((frozen, unit));
                        }
                    }
                } else {
                    let what = if method.as_ref().is_some_and(|m| m.name == "sparse")
                        || self.kind == BlockKind::Initial
                    {
                        "SOLVE in INITIAL (steady state) is not supported yet"
                    } else {
                        "SOLVE belongs in BREAKPOINT"
                    };
                    self.err(
                        Diagnostic::error(what, block.span, "here")
                            .with_hint("remove it; INITIAL should set states explicitly"),
                    );
                }
            }
            StmtKind::Table { .. } => {} // Read by `call` (see `table`).
            StmtKind::Reaction { lhs, rhs, rates } if self.kind == BlockKind::Kinetic => {
                self.reaction(lhs, rhs, rates, stmt.span, env);
            }
            StmtKind::Conserve { lhs, rhs } if self.kind == BlockKind::Kinetic => {
                let total = self.expr(rhs, env);
                let total = self.as_number(total.0);
                let mut members = Vec::new();
                for t in lhs {
                    if t.index.is_some() {
                        self.runtime_index(&t.name, t.name.span);
                    } else if t.coef.as_ref().is_some_and(|c| c.text.parse() != Ok(1.0)) {
                        self.err(
                            Diagnostic::error(
                                "CONSERVE with a coefficient",
                                t.name.span,
                                "weighted term",
                            )
                            .with_hint(
                                "hhc conserves plain sums of states; scale the state instead",
                            ),
                        );
                    } else if let Some(s) = self.kinetic_state(&t.name) {
                        members.push(s);
                    }
                }
                self.kinetic_conserve = Some((members, total));
            }
            StmtKind::Reaction { .. } | StmtKind::Conserve { .. } => self.err(
                Diagnostic::error(
                    "reactions belong in a KINETIC block",
                    stmt.span,
                    "outside KINETIC",
                )
                .with_hint("move it into the KINETIC block named by SOLVE"),
            ),
            StmtKind::UnitsToggle { on } => self.units_on = *on,
            StmtKind::Verbatim(v) => self.exec_verbatim(v, stmt, env),
            StmtKind::Unsupported { what, keyword } => {
                let hint = match *what {
                    "COMPARTMENT" => "hhc's KINETIC schemes are in concentrations of one volume; write the volume factors into the rates",
                    "LONGITUDINAL_DIFFUSION" => "diffusion between compartments is not modelled yet",
                    "a FROM loop whose bounds are known only at run time" => "hhc unrolls FROM loops when it reads the file: bounds made of numbers, DEFINEs and outer loop variables",
                    _ => "LINEAR and NONLINEAR blocks are not solved yet; write the solution explicitly",
                };
                self.err(
                    Diagnostic::error(format!("{what} is not supported yet"), *keyword, "here")
                        .with_hint(hint),
                )
            }
            StmtKind::Watch(items) => self.watch(items, env, stmt.span),
            StmtKind::ForNetcons { args, body } => self.for_netcons(args, body, env, stmt.span),
            StmtKind::Compartment { volume, states, .. } if self.kind == BlockKind::Kinetic => {
                let v = self.expr(volume, env);
                let v = self.as_number(v.0);
                // A species that is not a STATE (capmpr's `cao`) is a constant concentration,
                // whose volume plays no part, as in NEURON.
                for id in states {
                    if let Some(&(Name::State(s), _)) = self.names.get(&id.name) {
                        self.kinetic_volumes.retain(|x| x.0 != s);
                        self.kinetic_volumes.push((s, v));
                    } else if !self.names.contains_key(&id.name) {
                        let _ = self.kinetic_state(id); // reports the unknown name
                    }
                }
            }
            StmtKind::Compartment { volume, .. } => self.err(
                Diagnostic::error(
                    "COMPARTMENT belongs in a KINETIC block",
                    volume.span,
                    "outside KINETIC",
                )
                .with_hint("put it at the top of the KINETIC block whose states it sizes"),
            ),
            StmtKind::AssignElement { target, .. } => self.runtime_index(target, stmt.span),
            // `arrays::expand` unrolls every FROM loop or replaces it with `Unsupported`, and
            // turns LOCAL arrays into their elements.
            StmtKind::From { var, .. } => self.err(Diagnostic::error(
                "internal compiler error: a FROM loop reached the lowering",
                var.span,
                "please report this",
            )),
            StmtKind::LocalArrays(names) => {
                let zero = self.m.exprs.lit(0.0);
                for (id, _) in names {
                    env.insert(id.name.clone(), (zero, Dim::Free));
                }
            }
            StmtKind::Block(b) => self.exec_block(b, env),
            StmtKind::Print | StmtKind::Error => {}
            // NET_RECEIVE's INITIAL runs per connection (see `lower_net_receive`).
            StmtKind::Initial(_) if self.kind == BlockKind::NetReceive => {}
            StmtKind::Initial(b) => self.err(
                Diagnostic::error(
                    "an INITIAL block inside another block belongs to NET_RECEIVE",
                    b.span,
                    "here",
                )
                .with_hint("move it into the mechanism's INITIAL block"),
            ),
        }
    }

    /// Runs the DERIVATIVE block or PROCEDURE that `SOLVE name` names once more, for its
    /// ASSIGNED variables only: its equations and diagnostics come from its own run later.
    fn assigned_by_solved_block(&mut self, name: &str) -> Env {
        let file = self.file;
        let body = file.items.iter().find_map(|i| match i {
            Item::Derivative { name: n, body } if n.name == name => Some(body),
            _ => None,
        });
        let procedure = self.procedures.get(name).copied();
        if body.is_none() && procedure.is_none() {
            return Env::new();
        }
        let (kind, derivatives, diags) = (
            self.kind,
            std::mem::take(&mut self.derivatives),
            self.diags.len(),
        );
        let mut env = Env::new();
        match (body, procedure) {
            (Some(body), _) => {
                self.kind = BlockKind::Derivative;
                self.exec_top_block(body, &mut env);
            }
            (None, Some(p)) => {
                self.kind = BlockKind::StateUpdate;
                let at = ast::Ident {
                    name: name.to_string(),
                    span: p.name.span,
                };
                self.call(p, &[], &at, &mut env, false);
            }
            (None, None) => {}
        }
        self.kind = kind;
        self.derivatives = derivatives;
        self.diags.truncate(diags);
        env.retain(|n, _| matches!(self.names.get(n), Some((Name::Assigned, _))));
        env
    }

    /// Each expression's value as a number (conditions become 0 or 1).
    pub(super) fn numbers(&mut self, exprs: &[ast::Expr], env: &mut Env) -> Vec<ExprId> {
        exprs
            .iter()
            .map(|a| {
                let v = self.expr(a, env);
                self.as_number(v.0)
            })
            .collect()
    }

    fn as_condition(&mut self, e: ExprId) -> ExprId {
        if self.m.exprs.get(e).is_boolean() {
            e
        } else {
            let zero = self.m.exprs.lit(0.0);
            Builder::new(&mut self.m.exprs).binary(ir::BinaryOp::Ne, e, zero)
        }
    }

    fn as_number(&mut self, e: ExprId) -> ExprId {
        if self.m.exprs.get(e).is_boolean() {
            let one = self.m.exprs.lit(1.0);
            let zero = self.m.exprs.lit(0.0);
            Builder::new(&mut self.m.exprs).select(e, one, zero)
        } else {
            e
        }
    }

    fn check_derivative_units(&mut self, state: u32, f: Val, span: Span) -> ExprId {
        let (e, unit) = f;
        let e = self.as_number(e);
        let name = self.m.states[state as usize].name.clone();
        let state_unit = self.declared_units.get(&name).copied().unwrap_or(Unit::ONE);
        let (Some(u), true) = (unit.known(), self.units_on) else {
            return e;
        };
        let Ok(ms) = self.units.parse("ms") else {
            return e;
        };
        let want = state_unit.div(ms);
        if !u.same_dimension(&want) {
            self.unit_err(
                Diagnostic::error(
                    format!("`{name}'` needs units of {want}, but the right-hand side is in {u}"),
                    span,
                    format!("this is in {u}"),
                )
                .with_hint("rates are per ms; check the units of the terms"),
            );
            return e;
        }
        self.converted(e, u, want)
    }

    /// `e`, in `from`, converted to `to` (a unit of the same dimension). In NEURON's dialect
    /// nothing is converted, as nocmodl converts nothing; a factor other than 1 is a warning.
    fn converted(&mut self, e: ExprId, from: Unit, to: Unit) -> ExprId {
        let factor = from.factor_to(&to);
        if (factor - 1.0).abs() < 1e-12 {
            e
        } else if self.dialect == Dialect::Neuron {
            let span = self.m.exprs.span(e);
            self.unit_err(
                Diagnostic::error(
                    format!("a value in {from} meets one in {to}, and is not converted"),
                    span,
                    format!("this is in {from}: times {factor} in {to}"),
                )
                .with_hint(format!("multiply it by {factor} in the file if it is meant to be in {to}, or correct the declared units")),
            );
            e
        } else {
            self.scaled(e, factor)
        }
    }

    fn scaled(&mut self, e: ExprId, factor: f64) -> ExprId {
        if (factor - 1.0).abs() < 1e-12 {
            e
        } else {
            let mut b = Builder::new(&mut self.m.exprs);
            let f = b.lit(factor);
            b.mul(f, e)
        }
    }

    fn assign(&mut self, target: &ast::Ident, value: Val, value_span: Span, env: &mut Env) {
        let (mut e, unit) = value;
        e = self.as_number(e);
        let known = self.names.get(&target.name).copied();
        match known {
            None if !env.contains_key(&target.name) => {
                let hint = match closest(
                    &target.name,
                    self.names
                        .keys()
                        .map(String::as_str)
                        .chain(env.keys().map(String::as_str)),
                ) {
                    Some(c) => {
                        format!("did you mean `{c}`? Otherwise declare it in ASSIGNED or as LOCAL")
                    }
                    None => "declare it in ASSIGNED or as LOCAL".into(),
                };
                self.err(
                    Diagnostic::error(
                        format!("assignment to undeclared `{}`", target.name),
                        target.span,
                        "not declared",
                    )
                    .with_hint(hint),
                );
                return;
            }
            // INITIAL may change a PARAMETER (Exp2Syn guards `tau1 < tau2` so); blocks after
            // INITIAL read the changed value.
            Some((Name::Param(_), _)) if self.kind == BlockKind::Initial => {}
            Some((Name::Param(_), _)) | Some((Name::Constant(_), _)) => {
                self.err(
                    Diagnostic::error(
                        format!(
                            "cannot assign to `{}`, a PARAMETER or CONSTANT",
                            target.name
                        ),
                        target.span,
                        "read-only",
                    )
                    .with_hint("declare it in ASSIGNED if it is computed"),
                );
                return;
            }
            // NEURON's procedures may nudge `v` (`v = v + 1e-4` to step around 0/0): that
            // changes the mechanism's own copy for the rest of the block, never the membrane.
            Some((Name::Builtin(Builtin::V), _)) => {}
            Some((Name::Builtin(_), _)) => {
                self.err(
                    Diagnostic::error(
                        format!("cannot assign to the built-in `{}`", target.name),
                        target.span,
                        "read-only",
                    )
                    .with_hint("the simulator owns celsius, dt and t (a mechanism may change its own copy of v)"),
                );
                return;
            }
            // A concentration in WRITE that is not a STATE is reported once, at its USEION.
            Some((Name::Ion(i, f), _))
                if f != IonField::I && self.m.ions[i as usize].writes.contains(&f) =>
            {
                return;
            }
            Some((Name::Ion(_, f), _)) if f != IonField::I => {
                self.err(
                    Diagnostic::error(
                        format!(
                            "cannot assign to `{}`, which this mechanism only READs",
                            target.name
                        ),
                        target.span,
                        "read-only",
                    )
                    .with_hint("add it to WRITE in USEION"),
                );
                return;
            }
            Some((Name::State(i), _))
                if self.kind == BlockKind::Derivative && self.kept_states.contains(&i) =>
            {
                self.assigned_after.insert(i, self.derivatives.len());
            }
            // A written concentration BREAKPOINT sets (a fixed level each step, as neurodamus's
            // TTXDynamicsSwitch does): its value for the step, from the step's start.
            Some((Name::State(i), _))
                if self.kind == BlockKind::Breakpoint
                    && (self.kept_states.contains(&i) || self.stored_states.contains(&i)) => {}
            // A value a KINETIC block computes (`cai = ca[0]`, a pump's current from
            // `f_flux`): kept, from the states after the step (see `keep_kinetic_assignments`).
            Some((Name::State(i), _))
                if self.kind == BlockKind::Kinetic && self.kept_states.contains(&i) => {}
            Some((Name::State(_), _))
                if !matches!(
                    self.kind,
                    BlockKind::Initial | BlockKind::StateUpdate | BlockKind::NetReceive
                ) && !env.contains_key(&target.name) =>
            {
                self.err(
                    Diagnostic::error(
                        format!("state `{}` can only be set in INITIAL", target.name),
                        target.span,
                        "assignment to a state",
                    )
                    .with_hint("states change through their DERIVATIVE equations"),
                );
                return;
            }
            _ => {}
        }
        // Units: check and scale against the declared unit.
        if let (Some(declared), Some(u), true) = (
            self.declared_units.get(&target.name).copied(),
            unit.known(),
            self.units_on,
        ) {
            if !declared.same_dimension(&u) {
                let hint = if self.m.point_process
                    && self.m.currents.iter().any(|c| c.name == target.name)
                {
                    "a point process's current is a conductance times a driving force: g (uS) * (v - e) (mV) is in nA"
                } else if self.m.currents.iter().any(|c| c.name == target.name) {
                    "a density mechanism's current is a conductance per area times a driving force: g (S/cm2) * (v - e) (mV) is in mA/cm2"
                } else {
                    "check the units of the terms, or use UNITSOFF"
                };
                self.unit_err(
                    Diagnostic::error(
                        format!(
                            "cannot assign {u} to `{}`, declared in {declared}",
                            target.name
                        ),
                        value_span,
                        format!("this is in {u}"),
                    )
                    .with_label(target.span, format!("declared in {declared}"))
                    .with_hint(hint),
                );
            } else {
                e = self.converted(e, u, declared);
            }
        }
        let unit = match self.declared_units.get(&target.name) {
            Some(&declared) => Dim::Known(declared),
            None => unit,
        };
        env.insert(target.name.clone(), (e, unit));
    }

    /// The value `name` keeps where a statement leaves it alone: the block's own, else a
    /// PARAMETER's, a STATE's or v's own value, and 0 for an ASSIGNED not yet set.
    fn value_kept(&mut self, name: &str, span: Span, env: &Env) -> Val {
        if let Some(&v) = env.get(name) {
            return v;
        }
        match self.names.get(name).map(|n| n.0) {
            Some(Name::Param(_) | Name::State(_) | Name::Ion(..) | Name::Builtin(_)) => {
                self.read_name(name, span, &Env::new())
            }
            _ => (
                self.m.exprs.lit(0.0),
                Dim::declared(self.declared_units.get(name).copied()),
            ),
        }
    }

    fn read_name(&mut self, name: &str, span: Span, env: &Env) -> Val {
        if let Some(&(value, unit)) = env.get(name) {
            // NEURON's cnexp reads a value the block computed before the equation (an ASSIGNED
            // or LOCAL, as CaDyn's `drive_pump = -kt*cai/(cai + kd)`) as a constant of the step,
            // taken at the states at its start: only the state written in the equation
            // itself makes it linear or not.
            if self.kind == BlockKind::Derivative
                && self.cnexp_block
                && !matches!(self.names.get(name), Some((Name::State(_), _)))
                && self
                    .m
                    .exprs
                    .reachable(&[value])
                    .iter()
                    .any(|&n| matches!(self.m.exprs.get(n), Expr::Var(Var::State(_))))
            {
                let frozen = Builder::new(&mut self.m.exprs).unary(ir::UnaryOp::Frozen, value);
                return (frozen, unit);
            }
            return (value, unit);
        }
        if let Some((Name::Random(_), _)) = self.names.get(name) {
            self.err(
                Diagnostic::error(format!("`{name}` is a RANDOM stream, not a value"), span, "read as a number")
                    .with_hint(format!("draw from it: `random_negexp({name})`, `random_uniform({name})` or `random_normal({name})`")),
            );
            return (self.m.exprs.lit(0.0), Dim::Free);
        }
        let unit = Dim::declared(self.declared_units.get(name).copied());
        match self.names.get(name).copied() {
            Some((Name::Random(_), _)) => (self.m.exprs.lit(0.0), Dim::Free),
            Some((Name::Param(_), _))
                if self.kind != BlockKind::Initial && self.initial_params.contains_key(name) =>
            {
                self.initial_params[name]
            }
            Some((Name::Param(i), _)) => (self.m.exprs.add(Expr::Var(Var::Param(i)), span), unit),
            Some((Name::Constant(c), _)) => (self.m.exprs.lit(c), unit),
            Some((Name::State(i), _)) => {
                if self.kind == BlockKind::Initial {
                    (self.initial_state_value(i), unit)
                } else {
                    (self.m.exprs.add(Expr::Var(Var::State(i)), span), unit)
                }
            }
            // A current the mechanism WRITEs without READing it is its own, not the ion's
            // total (NEURON keeps a copy per instance): what BREAKPOINT last stored.
            Some((Name::Ion(i, IonField::I), _))
                if !self.m.ions[i as usize].reads.contains(&IonField::I) =>
            {
                self.own_current(name, span)
            }
            Some((Name::Ion(i, f), _)) => (self.m.exprs.add(Expr::Var(Var::Ion(i, f)), span), unit),
            Some((Name::Builtin(b), _)) => {
                (self.m.exprs.add(Expr::Var(Var::Builtin(b)), span), unit)
            }
            Some((Name::Assigned, _)) if self.initial_assigned.contains_key(name) => {
                self.initial_assigned[name]
            }
            Some((Name::Assigned, _)) if self.file_locals.contains(name) => {
                (self.m.exprs.lit(0.0), unit)
            }
            // INITIAL's steady state reads what BREAKPOINT will store: nothing yet, and NEURON's
            // ASSIGNED values start at 0.
            Some((Name::Assigned, _))
                if self.kinetic_in_initial && self.assigned_in_breakpoint.contains(name) =>
            {
                (self.m.exprs.lit(0.0), unit)
            }
            Some((Name::Assigned, _))
                if matches!(
                    self.kind,
                    BlockKind::Derivative | BlockKind::Kinetic | BlockKind::StateUpdate
                ) && self.breakpoint_values.contains_key(name) =>
            {
                self.stored_by_breakpoint(name, span)
            }
            Some((Name::Assigned, _)) => {
                self.read_early.insert(name.to_string());
                if self.kind == BlockKind::Breakpoint {
                    self.read_early_in_breakpoint.insert(name.to_string());
                }
                self.err(
                    Diagnostic::error(format!("`{name}` is read before it is assigned in this block"), span, "no value yet")
                        .with_hint(format!("assign `{name}` earlier in the block, or call the PROCEDURE that computes it first; hhc carries a value from INITIAL only when it depends on parameters alone, not on v or states")),
                );
                (self.m.exprs.lit(0.0), unit)
            }
            None => {
                let candidates: Vec<&str> = self
                    .names
                    .keys()
                    .map(String::as_str)
                    .chain(env.keys().map(String::as_str))
                    .collect();
                let hint = match closest(name, candidates) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => "declare it in PARAMETER, ASSIGNED or STATE, or as LOCAL".into(),
                };
                self.err(
                    Diagnostic::error(format!("undefined name `{name}`"), span, "not declared")
                        .with_hint(hint),
                );
                (self.m.exprs.lit(0.0), Dim::Free)
            }
        }
    }

    fn expr(&mut self, e: &ast::Expr, env: &mut Env) -> Val {
        match &e.kind {
            ExprKind::Number(text) => {
                let n = ast::Number {
                    text: text.clone(),
                    negative: false,
                    span: e.span,
                };
                let v = number_value(&n, &mut self.diags);
                (self.m.exprs.lit(v), Dim::Free)
            }
            ExprKind::Name(n) => self.read_name(n, e.span, env),
            ExprKind::WithUnit { value, unit } => {
                let (v, _) = self.expr(value, env);
                let u = self.unit(unit);
                (v, u.map_or(Dim::Free, Dim::Known))
            }
            ExprKind::Unary { op, operand } => {
                let (a, u) = self.expr(operand, env);
                match op {
                    ast::UnaryOp::Neg => {
                        let a = self.as_number(a);
                        (
                            Builder {
                                arena: &mut self.m.exprs,
                                span: e.span,
                            }
                            .neg(a),
                            u,
                        )
                    }
                    ast::UnaryOp::Not => {
                        let c = self.as_condition(a);
                        (
                            Builder {
                                arena: &mut self.m.exprs,
                                span: e.span,
                            }
                            .unary(ir::UnaryOp::Not, c),
                            Dim::Free,
                        )
                    }
                }
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let l = self.expr(lhs, env);
                let r = self.expr(rhs, env);
                self.binary(*op, l, r, lhs.span, rhs.span, e.span)
            }
            ExprKind::Call { name, args } => self.call_expr(name, args, env, e.span),
            ExprKind::Index { name, .. } => {
                self.runtime_index(name, e.span);
                (self.m.exprs.lit(0.0), Dim::Free)
            }
            ExprKind::Error => (self.m.exprs.lit(0.0), Dim::Free),
        }
    }

    fn binary(&mut self, op: ast::BinaryOp, l: Val, r: Val, ls: Span, rs: Span, span: Span) -> Val {
        use ast::BinaryOp as B;
        let irop = match op {
            B::Add => ir::BinaryOp::Add,
            B::Sub => ir::BinaryOp::Sub,
            B::Mul => ir::BinaryOp::Mul,
            B::Div => ir::BinaryOp::Div,
            B::Pow => ir::BinaryOp::Pow,
            B::Lt => ir::BinaryOp::Lt,
            B::Le => ir::BinaryOp::Le,
            B::Gt => ir::BinaryOp::Gt,
            B::Ge => ir::BinaryOp::Ge,
            B::Eq => ir::BinaryOp::Eq,
            B::Ne => ir::BinaryOp::Ne,
            B::And => ir::BinaryOp::And,
            B::Or => ir::BinaryOp::Or,
        };
        let (mut a, ua) = l;
        let (mut bb, ub) = r;
        let logic = matches!(op, B::And | B::Or);
        if logic {
            a = self.as_condition(a);
            bb = self.as_condition(bb);
        } else {
            a = self.as_number(a);
            bb = self.as_number(bb);
        }
        let additive = matches!(
            op,
            B::Add | B::Sub | B::Lt | B::Le | B::Gt | B::Ge | B::Eq | B::Ne
        );
        let mut unit = Dim::Free;
        if additive {
            if let (Some(x), Some(y), true) = (ua.known(), ub.known(), self.units_on) {
                if !x.same_dimension(&y) {
                    let verb = if matches!(op, B::Add | B::Sub) {
                        if op == B::Add {
                            "add"
                        } else {
                            "subtract"
                        }
                    } else {
                        "compare"
                    };
                    self.unit_err(
                        Diagnostic::error(
                            format!("cannot {verb} {x} and {y}"),
                            span,
                            format!("`{}` mixes units", irop.infix().unwrap_or("^")),
                        )
                        .with_label(ls, format!("this is in {x}"))
                        .with_label(rs, format!("this is in {y}"))
                        .with_hint("convert one side, or check the declared units"),
                    );
                    // Reported once; the result carries no unit so nothing cascades.
                    return (
                        Builder {
                            arena: &mut self.m.exprs,
                            span,
                        }
                        .binary(ir::BinaryOp::Add, a, bb),
                        Dim::Free,
                    );
                } else {
                    bb = self.converted(bb, y, x);
                }
            }
            if matches!(op, B::Add | B::Sub) {
                unit = ua.sum(ub);
            }
        } else if op == B::Mul {
            unit = ua.product(ub);
        } else if op == B::Div {
            unit = ua.quotient(ub);
        } else if op == B::Pow {
            unit = ua.power(self.m.exprs.get(bb).as_lit());
        }

        (
            Builder {
                arena: &mut self.m.exprs,
                span,
            }
            .binary(irop, a, bb),
            unit,
        )
    }

    fn call_expr(
        &mut self,
        name: &ast::Ident,
        args: &[ast::Expr],
        env: &mut Env,
        span: Span,
    ) -> Val {
        if let Some(&(_, arity)) = BUILTIN_FNS.iter().find(|(n, _)| *n == name.name) {
            if args.len() != arity {
                self.err(
                    Diagnostic::error(
                        format!(
                            "`{}` takes {arity} argument{}, but {} were given",
                            name.name,
                            if arity == 1 { "" } else { "s" },
                            args.len()
                        ),
                        span,
                        "wrong number of arguments",
                    )
                    .with_hint(format!(
                        "call it as {}({})",
                        name.name,
                        vec!["x"; arity].join(", ")
                    )),
                );
                return (self.m.exprs.lit(0.0), Dim::Free);
            }
            let vals: Vec<Val> = args.iter().map(|a| self.expr(a, env)).collect();
            let vals: Vec<Val> = vals
                .into_iter()
                .map(|(e, u)| (self.as_number(e), u))
                .collect();
            let transcendental = matches!(
                name.name.as_str(),
                "exp" | "expm1" | "log" | "log10" | "tanh" | "exprelr" | "sin" | "cos"
            );
            if transcendental && self.units_on {
                if let Some(u) = vals[0].1.known().filter(|u| !u.is_dimensionless()) {
                    self.unit_err(
                        Diagnostic::error(format!("`{}` needs a dimensionless argument, not {u}", name.name), args[0].span, format!("this is in {u}"))
                            .with_hint("divide by a quantity in the same unit, e.g. (v - vhalf)/k with k in mV"),
                    );
                }
            }
            let mut b = Builder {
                arena: &mut self.m.exprs,
                span,
            };
            let e = match name.name.as_str() {
                "exp" => b.unary(ir::UnaryOp::Exp, vals[0].0),
                "expm1" => b.unary(ir::UnaryOp::Expm1, vals[0].0),
                "log" => b.unary(ir::UnaryOp::Log, vals[0].0),
                "log10" => b.unary(ir::UnaryOp::Log10, vals[0].0),
                "sqrt" => b.unary(ir::UnaryOp::Sqrt, vals[0].0),
                "fabs" => b.unary(ir::UnaryOp::Fabs, vals[0].0),
                "tanh" => b.unary(ir::UnaryOp::Tanh, vals[0].0),
                "sin" => b.unary(ir::UnaryOp::Sin, vals[0].0),
                "cos" => b.unary(ir::UnaryOp::Cos, vals[0].0),
                "exprelr" => b.unary(ir::UnaryOp::Exprelr, vals[0].0),
                "floor" => b.unary(ir::UnaryOp::Floor, vals[0].0),
                "frozen" => b.unary(ir::UnaryOp::Frozen, vals[0].0),
                "pow" => b.binary(ir::BinaryOp::Pow, vals[0].0, vals[1].0),
                "min" | "fmin" => b.binary(ir::BinaryOp::Min, vals[0].0, vals[1].0),
                _ => b.binary(ir::BinaryOp::Max, vals[0].0, vals[1].0),
            };
            // fabs, min, max and floor keep their argument's unit; exponentials and logarithms
            // are dimensionless; the units of sqrt and pow are not tracked.
            let unit = match name.name.as_str() {
                "fabs" | "floor" | "frozen" => vals[0].1,
                "min" | "max" | "fmin" | "fmax" => vals[0].1.sum(vals[1].1),
                "exp" | "expm1" | "log" | "log10" | "tanh" | "exprelr" | "sin" | "cos" => Dim::Bare,
                _ => Dim::Free,
            };
            return (e, unit);
        }
        if let Some(f) = self.functions.get(&name.name).copied() {
            return self.call(f, args, name, env, true);
        }
        if self.procedures.contains_key(&name.name) {
            self.err(
                Diagnostic::error(
                    format!("`{}` is a PROCEDURE and returns no value", name.name),
                    name.span,
                    "used as a value",
                )
                .with_hint("call it as a statement, or make it a FUNCTION"),
            );
            return (self.m.exprs.lit(0.0), Dim::Free);
        }
        if let Some(v) = self.event_call(name, args, env, span) {
            return v;
        }
        // NEURON's at_time(t) tells its variable-step integrator of a discontinuity; with a
        // fixed step it does nothing and returns 0.
        if name.name == "at_time" && args.len() == 1 {
            let _ = self.expr(&args[0], env);
            return (self.m.exprs.lit(0.0), Dim::Free);
        }
        // `state_discontinuity(x, value)` tells NEURON's variable-step integrator that a state
        // jumps; with a fixed step it is the assignment `x = value`.
        if name.name == "state_discontinuity" && args.len() == 2 {
            if let ExprKind::Name(target) = &args[0].kind {
                let value = self.expr(&args[1], env);
                let target = ast::Ident {
                    name: target.clone(),
                    span: args[0].span,
                };
                self.assign(&target, value, args[1].span, env);
                return (self.m.exprs.lit(0.0), Dim::Free);
            }
        }
        if let Some(v) = self.scop_random_call(name, args, env, span) {
            return v;
        }
        if let Some(v) = self.random_call(name, args, span) {
            return v;
        }
        let candidates: Vec<&str> = BUILTIN_FNS
            .iter()
            .map(|(n, _)| *n)
            .chain(self.functions.keys().map(String::as_str))
            .collect();
        let hint = match closest(&name.name, candidates) {
            Some(c) => format!("did you mean `{c}`?"),
            None => "define it with FUNCTION".into(),
        };
        self.err(
            Diagnostic::error(
                format!("unknown function `{}`", name.name),
                name.span,
                "not defined",
            )
            .with_hint(hint),
        );
        (self.m.exprs.lit(0.0), Dim::Free)
    }

    /// NEURON's draws from its global generator: `scop_random()` (uniform on [0, 1); an
    /// argument, which NEURON before 9 ignored, is ignored),
    /// `exprand(mean)` and `normrand(mean, sd)`. hhc draws them from a stream of the instance
    /// (counter-based, as RANDOM streams are), so a run is reproducible on any thread count;
    /// the numbers are not NEURON's. Where hhc draws: INITIAL and NET_RECEIVE.
    fn scop_random_call(
        &mut self,
        name: &ast::Ident,
        args: &[ast::Expr],
        env: &mut Env,
        span: Span,
    ) -> Option<Val> {
        let arity = match name.name.as_str() {
            "scop_random" => 0,
            "exprand" => 1,
            "normrand" => 2,
            _ => return None,
        };
        // NEURON 7 and 8 declared `scop_random()` without parameters in C, so the argument of
        // the files that pass one (`scop_random(1)`) was ignored; NEURON 9's C++ refuses it.
        let args = match (arity, args.len()) {
            (0, 1) => &args[..0],
            _ => args,
        };
        if args.len() != arity {
            self.err(
                Diagnostic::error(
                    format!(
                        "`{}` takes {arity} arguments, but {} were given",
                        name.name,
                        args.len()
                    ),
                    span,
                    "wrong number of arguments",
                )
                .with_hint("scop_random(), exprand(mean), normrand(mean, sd)"),
            );
            return Some((self.m.exprs.lit(0.0), Dim::Free));
        }
        if !matches!(self.kind, BlockKind::Initial | BlockKind::NetReceive) {
            self.err(
                Diagnostic::error(
                    format!("`{}` is drawn only in INITIAL and NET_RECEIVE", name.name),
                    name.span,
                    "a draw in a block that runs every step",
                )
                .with_hint("hhc's kernels draw no random numbers yet; draw in NET_RECEIVE (events) or INITIAL"),
            );
            return Some((self.m.exprs.lit(0.0), Dim::Free));
        }
        let vals = self.numbers(args, env);
        const STREAM: &str = "(scop_random)";
        let stream = match self.m.random_streams.iter().position(|s| s == STREAM) {
            Some(k) => k as u32,
            None => {
                self.m.random_streams.push(STREAM.into());
                (self.m.random_streams.len() - 1) as u32
            }
        };
        let draw = match arity {
            0 => ir::Draw::Uniform { stream },
            1 => ir::Draw::NegExp { stream },
            _ => ir::Draw::Normal { stream },
        };
        let x = self.draw(draw, span);
        let mut b = Builder::new(&mut self.m.exprs);
        let value = match vals.as_slice() {
            [] => x,
            [mean] => b.mul(*mean, x),
            [mean, sd, ..] => {
                let spread = b.mul(*sd, x);
                b.add(*mean, spread)
            }
        };
        Some((value, Dim::Free))
    }

    /// `random_negexp(r)`, `random_uniform(r)`, `random_normal(r)`: a fresh draw from RANDOM
    /// stream r; `random_setseq(r, …)` and `random_setids(r, …)` are accepted and do nothing
    /// (hhc keys each cell's draws by its id; see the README). `None` for other names.
    fn random_call(&mut self, name: &ast::Ident, args: &[ast::Expr], span: Span) -> Option<Val> {
        let kind = name.name.strip_prefix("random_")?;
        let stream = match args.first().map(|a| &a.kind) {
            Some(ExprKind::Name(r)) => match self.names.get(r) {
                Some((Name::Random(k), _)) => Some(*k),
                _ => None,
            },
            _ => None,
        };
        let Some(stream) = stream else {
            self.err(
                Diagnostic::error(
                    format!("`{}` draws from a RANDOM stream", name.name),
                    span,
                    "no stream given",
                )
                .with_hint(
                    "declare `RANDOM r` in the NEURON block and call it as random_negexp(r)",
                ),
            );
            return Some((self.m.exprs.lit(0.0), Dim::Free));
        };
        let draw = match kind {
            "negexp" => ir::Draw::NegExp { stream },
            "uniform" => ir::Draw::Uniform { stream },
            "normal" => ir::Draw::Normal { stream },
            "setseq" | "setids" => return Some((self.m.exprs.lit(0.0), Dim::Free)),
            _ => {
                self.err(
                    Diagnostic::error(
                        format!("unknown random function `{}`", name.name),
                        name.span,
                        "not a draw hhc knows",
                    )
                    .with_hint("hhc draws with random_negexp, random_uniform and random_normal"),
                );
                return Some((self.m.exprs.lit(0.0), Dim::Free));
            }
        };
        Some((self.draw(draw, span), Dim::Bare))
    }

    /// A fresh value of `draw` where it is evaluated: the mechanism's next draw.
    fn draw(&mut self, draw: ir::Draw, span: Span) -> ExprId {
        let k = self.m.draws.len() as u32;
        self.m.draws.push(draw);
        self.m.exprs.add(Expr::Var(Var::Draw(k)), span)
    }

    /// Inlines a FUNCTION or PROCEDURE: binds arguments, runs the body, returns the result.
    fn call(
        &mut self,
        c: &'a ast::Callable,
        args: &[ast::Expr],
        at: &ast::Ident,
        env: &mut Env,
        is_function: bool,
    ) -> Val {
        let zero = self.m.exprs.lit(0.0);
        if args.len() != c.args.len() {
            self.err(
                Diagnostic::error(
                    format!(
                        "`{}` takes {} argument{}, but {} were given",
                        c.name.name,
                        c.args.len(),
                        if c.args.len() == 1 { "" } else { "s" },
                        args.len()
                    ),
                    at.span,
                    "wrong number of arguments",
                )
                .with_label(c.name.span, "defined here")
                .with_hint(format!(
                    "call it as {}({})",
                    c.name.name,
                    c.args
                        .iter()
                        .map(|a| a.name.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
            return (zero, Dim::Free);
        }
        // Recursion is inlined to a fixed depth, as `while` loops are unrolled: a call deeper
        // than that gives NaN, which stops a run that reaches it (PyNN's gammastim.mod recurses
        // once for a shape parameter below 1). A PROCEDURE, with no value, cannot recurse.
        let depth = self
            .call_stack
            .iter()
            .filter(|n| **n == c.name.name)
            .count();
        if depth > 0 && !is_function {
            self.err(
                Diagnostic::error(format!("recursive call to `{}`", c.name.name), at.span, "calls itself")
                    .with_label(c.name.span, "defined here")
                    .with_hint("kernels inline every call, so a PROCEDURE cannot call itself; a FUNCTION may, to a depth of 8"),
            );
            return (zero, Dim::Free);
        }
        if depth >= MAX_RECURSION_DEPTH {
            for a in args {
                let _ = self.expr(a, env);
            }
            return (self.m.exprs.lit(f64::NAN), Dim::Free);
        }
        let values: Vec<Val> = args.iter().map(|a| self.expr(a, env)).collect();
        // Scope: arguments, locals and the return value shadow outer names for the body's run.
        let mut shadowed: Vec<(String, Option<Val>)> = Vec::new();
        for (arg, (mut v, mut u)) in c.args.iter().zip(values) {
            v = self.as_number(v);
            if let Some(declared) = arg
                .unit
                .as_ref()
                .and_then(|x| self.units.parse(&x.text).ok())
            {
                if let (Some(actual), true) = (u.known(), self.units_on) {
                    if declared.same_dimension(&actual) {
                        v = self.converted(v, actual, declared);
                    }
                }
                u = Dim::Known(declared);
            }
            shadowed.push((
                arg.name.name.clone(),
                env.insert(arg.name.name.clone(), (v, u)),
            ));
        }
        // A TABLE's function runs with its argument as `Var::TableArg` (see `table`).
        let table = self.table_of(c);
        let table_call = table.map(|stmt| {
            let arg = &c.args[0].name.name;
            let (x, u) = env[arg];
            let placeholder = self.m.exprs.var(Var::TableArg);
            env.insert(arg.clone(), (placeholder, u));
            (stmt, x)
        });
        let ret_unit = self.declared_units.get(&c.name.name).copied();
        if is_function {
            shadowed.push((
                c.name.name.clone(),
                env.insert(
                    c.name.name.clone(),
                    (zero, ret_unit.map_or(Dim::Free, Dim::Known)),
                ),
            ));
        }
        let saved_names = self.names.clone();
        for a in &c.args {
            self.names.remove(&a.name.name);
        }
        self.call_stack.push(c.name.name.clone());
        let saved_units = self.units_on;
        if self.units_off_callables.contains(&c.name.name) {
            self.units_on = false;
        }
        let mut locals = Vec::new();
        collect_locals(&c.body, &mut locals);
        for l in &locals {
            shadowed.push((l.clone(), env.get(l).copied()));
        }
        let table_call = table_call.map(|(stmt, x)| table::TableCall {
            stmt,
            x,
            before: env.clone(),
        });
        self.exec_block(&c.body, env);
        self.units_on = saved_units;
        self.call_stack.pop();
        self.names = saved_names;
        let mut result = if is_function {
            env.get(&c.name.name).copied().unwrap_or((zero, Dim::Free))
        } else {
            (zero, Dim::Free)
        };
        if let Some(call) = table_call {
            self.tabulate_call(c, call, env, &mut result, is_function);
        }
        // A call from a block (not from another FUNCTION) whose every path recurses past the
        // depth: it never ends, whatever its arguments.
        let outermost = !self
            .call_stack
            .iter()
            .any(|n| self.functions.contains_key(n));
        if is_function && outermost && self.m.exprs.get(result.0).as_lit().is_some_and(f64::is_nan)
        {
            self.err(
                Diagnostic::error(
                    format!("this call to `{}` never returns", c.name.name),
                    at.span,
                    "recursion without end",
                )
                .with_label(c.name.span, "defined here")
                .with_hint("give the recursion a case that returns a value without calling itself"),
            );
        }
        for (name, old) in shadowed.into_iter().rev() {
            match old {
                Some(v) => env.insert(name, v),
                None => env.remove(&name),
            };
        }
        (result.0, ret_unit.map_or(result.1, Dim::Known))
    }
}

fn collect_locals(b: &Block, out: &mut Vec<String>) {
    for s in &b.stmts {
        match &s.kind {
            StmtKind::Local(ids) => out.extend(ids.iter().map(|i| i.name.clone())),
            StmtKind::If {
                then, otherwise, ..
            } => {
                collect_locals(then, out);
                if let Some(o) = otherwise {
                    collect_locals(o, out);
                }
            }
            StmtKind::Block(b) => collect_locals(b, out),
            _ => {}
        }
    }
}

// KINETIC schemes: reactions become right-hand sides per state (mass action).
impl Lowerer<'_> {
    fn algebraic_block(&self, name: &str) -> Option<(&Block, bool)> {
        algebraic_block(self.file, name)
    }

    /// `SOLVE name` of a LINEAR or NONLINEAR block, in INITIAL or (as the state update) for
    /// BREAKPOINT: its equations in the states they name, solved together, and each state
    /// takes its solution. A LINEAR block's are linear, solved by Gaussian elimination as
    /// expressions; a NONLINEAR block's by Newton's method from the states' values before (see
    /// [`crate::passes::kinetic::solve_nonlinear_system`]). The block sees the values so far
    /// (in INITIAL, rates from `rates(v)`).
    fn solve_algebraic(&mut self, block: &ast::Ident, env: &mut Env) {
        let file = self.file;
        let Some((body, nonlinear)) = algebraic_block(file, &block.name) else {
            return;
        };
        // Where Newton's method starts: each state's value before the block.
        let start: Vec<ExprId> = (0..self.m.states.len() as u32)
            .map(|s| match env.get(&self.m.states[s as usize].name) {
                Some(v) => v.0,
                None if self.kind == BlockKind::Initial => self.initial_state_value(s),
                None => self.m.exprs.var(Var::State(s)),
            })
            .collect();
        // An ASSIGNED value kept per instance (a rate that INITIAL and the KINETIC block
        // compute, one BREAKPOINT stores) is a known value here, not an unknown.
        let known: std::collections::HashSet<u32> = self
            .kept_states
            .union(&self.stored_states)
            .copied()
            .collect();
        let unknown = |s: u32| !known.contains(&s);
        let mut local = env.clone();
        for (k, s) in self.m.states.iter().enumerate() {
            if unknown(k as u32) {
                local.remove(&s.name);
            }
        }
        let saved = self.kind;
        self.kind = BlockKind::Linear;
        self.linear_residuals.clear();
        self.exec_top_block(body, &mut local);
        self.kind = saved;
        let residuals = std::mem::take(&mut self.linear_residuals);
        let arena = &self.m.exprs;
        let unknowns: Vec<u32> = (0..self.m.states.len() as u32)
            .filter(|&s| unknown(s))
            .filter(|&s| {
                residuals
                    .iter()
                    .any(|&(r, _)| crate::passes::symbolic::depends_on(arena, r, Var::State(s)))
            })
            .collect();
        if residuals.len() != unknowns.len() {
            let names: Vec<&str> = unknowns
                .iter()
                .map(|&s| self.m.states[s as usize].name.as_str())
                .collect();
            self.err(
                Diagnostic::error(
                    format!(
                        "{} `{}` has {} equation{} in {} state{} ({})",
                        if nonlinear { "NONLINEAR" } else { "LINEAR" },
                        block.name,
                        residuals.len(),
                        if residuals.len() == 1 { "" } else { "s" },
                        unknowns.len(),
                        if unknowns.len() == 1 { "" } else { "s" },
                        names.join(", ")
                    ),
                    block.span,
                    "solved here",
                )
                .with_hint("give one equation `~ a = b` per state the equations name"),
            );
            return;
        }
        if nonlinear {
            self.m.newton.get_or_insert_with(|| block.name.clone());
            let roots: Vec<ExprId> = residuals.iter().map(|r| r.0).collect();
            let from: Vec<ExprId> = unknowns.iter().map(|&s| start[s as usize]).collect();
            let values = crate::passes::kinetic::solve_nonlinear_system(
                &mut self.m.exprs,
                &roots,
                &unknowns,
                &from,
            );
            for (s, value) in unknowns.iter().zip(values) {
                let name = self.m.states[*s as usize].name.clone();
                env.insert(name, (value, Dim::Free));
            }
            return;
        }
        match crate::passes::kinetic::solve_linear_system(&mut self.m.exprs, &residuals, &unknowns)
        {
            Ok(values) => {
                for (s, value) in unknowns.iter().zip(values) {
                    let name = self.m.states[*s as usize].name.clone();
                    env.insert(name, (value, Dim::Free));
                }
            }
            Err(d) => self.err(d),
        }
    }

    fn is_kinetic_block(&self, name: &str) -> bool {
        self.file
            .items
            .iter()
            .any(|i| matches!(i, Item::Kinetic { name: n, .. } if n.name == name))
    }

    /// Runs the KINETIC block `block` and returns its scheme, states in declaration order.
    /// Runs KINETIC `block` from `env` (INITIAL's values, for its steady state): the scheme, and
    /// what its statements leave in the names they assign, in terms of the states before the
    /// step.
    fn run_kinetic(
        &mut self,
        block: &ast::Ident,
        mut env: Env,
    ) -> Option<(ir::KineticScheme, Env)> {
        let file = self.file;
        let (name, body) = file.items.iter().find_map(|i| match i {
            Item::Kinetic { name, body } if name.name == block.name => Some((name, body)),
            _ => None,
        })?;
        let saved = self.kind;
        self.kind = BlockKind::Kinetic;
        self.kinetic_rhs.clear();
        self.kinetic_conserve = None;
        self.kinetic_volumes.clear();
        // The states themselves are read as states, not as INITIAL's values.
        env.retain(|n, _| !matches!(self.names.get(n), Some((Name::State(_), _))));
        self.exec_top_block(body, &mut env);
        self.kind = saved;
        let mut rhs = std::mem::take(&mut self.kinetic_rhs);
        rhs.sort_by_key(|&(s, _)| s);
        // COMPARTMENT: `volume·x' = Σ flux`, so each such state's sum of fluxes over its volume.
        let volumes = std::mem::take(&mut self.kinetic_volumes);
        for (s, f) in rhs.iter_mut() {
            if let Some(&(_, v)) = volumes.iter().find(|x| x.0 == *s) {
                *f = Builder::new(&mut self.m.exprs).div(*f, v);
            }
        }
        // CONSERVE counts amounts, `Σ volume·x = total`: with one volume for all its states,
        // the plain sum is total/volume.
        if let Some((members, total)) = self.kinetic_conserve.as_mut() {
            let of = |s: &u32| volumes.iter().find(|x| x.0 == *s).map(|x| x.1);
            let first = members.first().and_then(of);
            if members.iter().all(|s| of(s) == first) {
                if let Some(v) = first {
                    *total = Builder::new(&mut self.m.exprs).div(*total, v);
                }
            } else {
                self.err(
                    Diagnostic::error(
                        "CONSERVE over states in compartments of different volumes",
                        name.span,
                        "in this scheme",
                    )
                    .with_hint("hhc conserves states that share one COMPARTMENT volume (or none)"),
                );
            }
        }
        let has_reactions = body
            .stmts
            .iter()
            .any(|st| matches!(st.kind, StmtKind::Reaction { .. }));
        if rhs.is_empty() {
            if has_reactions {
                return None; // its reactions were reported
            }
            self.err(
                Diagnostic::error(
                    "this KINETIC block has no reactions",
                    name.span,
                    "empty scheme",
                )
                .with_hint("write reactions as `~ A <-> B (kf, kb)`"),
            );
            return None;
        }
        let scheme = ir::KineticScheme {
            rhs,
            conserve: self.kinetic_conserve.take(),
            span: name.span,
        };
        Some((scheme, env))
    }

    /// The values a KINETIC block assigns to names kept per instance (`cai = ca[0]`, a pump's
    /// current) are, after the step, those at the new states: scopmath's `sparse` calls the
    /// block once more when it has converged. They replace what BREAKPOINT set.
    fn keep_kinetic_assignments(&mut self, scheme: &ir::KineticScheme, env: &Env) {
        let after: Vec<u32> = scheme.rhs.iter().map(|&(s, _)| s).collect();
        let mut kept: Vec<u32> = self.kept_states.iter().copied().collect();
        kept.sort_unstable();
        for state in kept {
            if let Some(&(value, _)) = env.get(&self.m.states[state as usize].name) {
                self.m.assigned.retain(|a| a.state != state);
                self.m.assigned.push(ir::AssignedState {
                    state,
                    value,
                    after: after.clone(),
                    by_breakpoint: false,
                });
            }
        }
    }

    /// INITIAL's `SOLVE kin STEADYSTATE sparse`: the scheme's states at steady state, and what
    /// the block assigns, at those states, into INITIAL's `env`.
    fn steady_state(&mut self, block: &ast::Ident, env: &mut Env) {
        self.kinetic_in_initial = true;
        let ran = self.run_kinetic(block, env.clone());
        self.kinetic_in_initial = false;
        let Some((scheme, assigned)) = ran else {
            return;
        };
        let start: Vec<ExprId> = scheme
            .rhs
            .iter()
            .map(|&(s, _)| {
                let name = &self.m.states[s as usize].name;
                match env.get(name) {
                    Some(v) => v.0,
                    None => self.initial_state_value(s),
                }
            })
            .collect();
        // A linear scheme with CONSERVE: hhc's exact steady state, or in a `.mod` file NEURON's
        // one long step (the two differ by about 1/(10⁹ ms · the slowest rate)).
        let linear = match (&scheme.conserve, self.dialect) {
            (Some(_), Dialect::Hhc) => {
                crate::passes::kinetic::steady_state(&mut self.m.exprs, &scheme).ok()
            }
            (Some(_), Dialect::Neuron) => {
                crate::passes::kinetic::steady_state_linear_step(&mut self.m.exprs, &scheme, &start)
                    .ok()
            }
            (None, _) => None,
        };
        let values = match linear {
            Some(v) => v,
            // Nonlinear, or nothing conserved: NEURON's long backward-Euler steps from here.
            None => crate::passes::kinetic::steady_state_sparse(&mut self.m.exprs, &scheme, &start),
        };
        let at_steady_state = |arena: &mut ir::ExprArena, e: ExprId| {
            crate::passes::symbolic::substitute(arena, e, &|v| match v {
                Var::State(s) => values.iter().find(|x| x.0 == s).map(|x| x.1),
                _ => None,
            })
        };
        for (name, (value, unit)) in assigned {
            let keep = match self.names.get(&name) {
                Some((Name::Assigned, _)) => true,
                Some((Name::State(i), _)) => self.kept_states.contains(i),
                _ => false,
            };
            if keep {
                let value = at_steady_state(&mut self.m.exprs, value);
                env.insert(name, (value, unit));
            }
        }
        for &(state, value) in &values {
            let name = self.m.states[state as usize].name.clone();
            env.insert(name, (value, Dim::Bare));
        }
    }

    /// A state's value in INITIAL before INITIAL sets it, as NEURON starts it: a concentration
    /// of an ion the mechanism uses (`cai`, declared a STATE or kept as one) as the ion's; a
    /// state `x` with a PARAMETER `x0` at that (NMODL's implicit initial value, `pump0` in
    /// cabpump.mod); any other at 0.
    fn initial_state_value(&mut self, state: u32) -> ExprId {
        let name = self.m.states[state as usize].name.clone();
        {
            for (k, ion) in self.m.ions.iter().enumerate() {
                for (field, word) in [
                    (IonField::Ci, format!("{}i", ion.name)),
                    (IonField::Co, format!("{}o", ion.name)),
                ] {
                    if word == name {
                        return self.m.exprs.var(Var::Ion(k as u32, field));
                    }
                }
            }
        }
        match self.names.get(&format!("{name}0")) {
            Some(&(Name::Param(p), _)) => match self.initial_params.get(&format!("{name}0")) {
                Some(v) => v.0,
                None => self.m.exprs.var(Var::Param(p)),
            },
            _ => self.m.exprs.lit(0.0),
        }
    }

    /// The mechanism's own ion current `name` (WRITE without READ) where a block reads it
    /// before assigning it: in INITIAL, NEURON's 0 before any BREAKPOINT ran; in the state
    /// update, what BREAKPOINT stored this step.
    fn own_current(&mut self, name: &str, span: Span) -> Val {
        let unit = Dim::declared(self.declared_units.get(name).copied());
        if self.kind == BlockKind::Initial || self.kinetic_in_initial {
            return (self.m.exprs.lit(0.0), unit);
        }
        if matches!(
            self.kind,
            BlockKind::Derivative | BlockKind::Kinetic | BlockKind::StateUpdate
        ) && self.breakpoint_values.contains_key(name)
        {
            return self.stored_by_breakpoint(name, span);
        }
        self.err(
            Diagnostic::error(
                format!("`{name}` is read before this mechanism assigns it"),
                span,
                "its own current, which it only WRITEs",
            )
            .with_hint(format!("assign `{name}` first, or add it to READ in USEION to read the ion's total current")),
        );
        (self.m.exprs.lit(0.0), unit)
    }

    /// An ASSIGNED value BREAKPOINT stored this step, read by the state update. hhc evaluates
    /// BREAKPOINT's expression from the step's starting states, which is NEURON's stored value
    /// unless it depends on v or t (nrn_cur's, not the new ones the update sees): such a value
    /// is kept per instance as BREAKPOINT stored it (the next lowering makes it a state).
    fn stored_by_breakpoint(&mut self, name: &str, span: Span) -> Val {
        let (value, unit) = self.breakpoint_values[name];
        let changes = self.m.exprs.reachable(&[value]).iter().any(|&n| {
            matches!(
                self.m.exprs.get(n),
                Expr::Var(Var::Builtin(Builtin::V | Builtin::T))
            )
        });
        if changes && matches!(self.names.get(name), Some((Name::Assigned, _))) {
            self.stored_found.insert(name.to_string());
        } else if changes {
            self.err(
                Diagnostic::error(
                    format!("`{name}` is set in BREAKPOINT from v or t and read when the states advance"),
                    span,
                    "BREAKPOINT's value, from the v and t before the step",
                )
                .with_hint(format!("hhc keeps such a value per instance only for an ASSIGNED variable; compute `{name}` where it is read")),
            );
        }
        (value, unit)
    }

    fn kinetic_state(&mut self, id: &ast::Ident) -> Option<u32> {
        match self.names.get(&id.name) {
            Some((Name::State(i), _)) => Some(*i),
            _ => {
                self.err(
                    Diagnostic::error(
                        format!("`{}` is not a STATE", id.name),
                        id.span,
                        "in a reaction",
                    )
                    .with_hint(format!("declare `{}` in the STATE block", id.name)),
                );
                None
            }
        }
    }

    fn add_rhs(&mut self, state: u32, term: ExprId) {
        let mut b = Builder::new(&mut self.m.exprs);
        match self.kinetic_rhs.iter_mut().find(|(s, _)| *s == state) {
            Some((_, sum)) => *sum = b.add(*sum, term),
            None => self.kinetic_rhs.push((state, term)),
        }
    }

    /// `name[i]` whose index is known only at run time (a queue indexed by a counter), or of
    /// a name that is not an array.
    fn runtime_index(&mut self, name: &ast::Ident, span: Span) {
        let is_array = self.file.items.iter().any(|i| match i {
            Item::Parameter(d) | Item::Assigned(d) | Item::State(d) | Item::FileLocal(d) => d
                .iter()
                .any(|d| d.name.name.starts_with(&format!("{}[", name.name))),
            _ => false,
        });
        let d = if is_array {
            Diagnostic::error(
                format!("the index of `{}[…]` is known only at run time", name.name),
                span,
                "an element chosen while running",
            )
            .with_hint("hhc expands arrays into their elements when it reads the file, so an index must be a number, a DEFINE or a FROM loop's variable, with the loop's bounds known too")
        } else {
            Diagnostic::error(
                format!("`{}` is not an array", name.name),
                span,
                "indexed here",
            )
            .with_hint(format!("declare it as an array: `{}[N]`", name.name))
        };
        self.err(d);
    }

    /// `~ A + B <-> C (kf, kb)`, `~ A -> B (k)`, or `~ A << (flux)`.
    fn reaction(
        &mut self,
        lhs: &[ast::Species],
        rhs: &[ast::Species],
        rates: &[ast::Expr],
        span: Span,
        env: &mut Env,
    ) {
        let rates = self.numbers(rates, env);
        // Each species: its coefficient, its state (None for a name that is not a STATE, such
        // as release.mod's PARAMETER `GenVes`: a constant concentration, as in NEURON, which
        // enters the rates but has no equation), and its value.
        let species = |terms: &[ast::Species], this: &mut Self| {
            terms
                .iter()
                .filter_map(|t| {
                    let (n, id) = (&t.coef, &t.name);
                    if t.index.is_some() {
                        this.runtime_index(id, id.span);
                        return None;
                    }
                    let coef = n.as_ref().map_or(1.0, |n| number_value(n, &mut this.diags));
                    match this.names.get(&id.name) {
                        Some((Name::State(i), _)) => {
                            let i = *i;
                            Some((coef, Some(i), this.m.exprs.var(Var::State(i))))
                        }
                        Some((
                            Name::Param(_) | Name::Constant(_) | Name::Assigned | Name::Ion(..),
                            _,
                        )) => {
                            let v = this.read_name(&id.name, id.span, env);
                            Some((coef, None, v.0))
                        }
                        _ => this.kinetic_state(id).map(|i| (coef, Some(i), ExprId(0))),
                    }
                })
                .collect::<Vec<_>>()
        };
        let left = species(lhs, self);
        let right = species(rhs, self);
        if left.len() != lhs.len() || right.len() != rhs.len() {
            return; // a name that is not a state, already reported
        }
        match (right.is_empty(), rates.as_slice()) {
            (true, [flux]) => {
                let zero = self.m.exprs.lit(0.0);
                env.insert("f_flux".into(), (*flux, Dim::Free));
                env.insert("b_flux".into(), (zero, Dim::Free));
                for &(coef, x, _) in &left {
                    let Some(x) = x else { continue };
                    let mut b = Builder::new(&mut self.m.exprs);
                    let k = b.lit(coef);
                    let t = b.mul(k, *flux);
                    self.add_rhs(x, t);
                }
            }
            (false, [kf]) | (false, [kf, _]) => {
                let mut b = Builder::new(&mut self.m.exprs);
                let mut fwd = *kf;
                for &(coef, _, value) in &left {
                    let p = b.powi(value, coef as i32);
                    fwd = b.mul(fwd, p);
                }
                let bwd = match rates.get(1) {
                    Some(&kb) => {
                        let mut bwd = kb;
                        for &(coef, _, value) in &right {
                            let p = b.powi(value, coef as i32);
                            bwd = b.mul(bwd, p);
                        }
                        bwd
                    }
                    None => b.lit(0.0),
                };
                let net = b.sub(fwd, bwd);
                // NEURON's `f_flux` and `b_flux`: this reaction's fluxes, for the statements
                // after it (capmpr.mod's pump current).
                env.insert("f_flux".into(), (fwd, Dim::Free));
                env.insert("b_flux".into(), (bwd, Dim::Free));
                for &(coef, x, _) in &left {
                    let Some(x) = x else { continue };
                    let mut b = Builder::new(&mut self.m.exprs);
                    let k = b.lit(-coef);
                    let t = b.mul(k, net);
                    self.add_rhs(x, t);
                }
                for &(coef, y, _) in &right {
                    let Some(y) = y else { continue };
                    let mut b = Builder::new(&mut self.m.exprs);
                    let k = b.lit(coef);
                    let t = b.mul(k, net);
                    self.add_rhs(y, t);
                }
            }
            _ => self.err(
                Diagnostic::error(
                    format!("a reaction needs one or two rates, found {}", rates.len()),
                    span,
                    "rates in parentheses",
                )
                .with_hint("write `~ A <-> B (kf, kb)`, `~ A -> B (k)` or `~ A << (flux)`"),
            ),
        }
    }
}

/// The LINEAR or NONLINEAR block `name` of `file`, and whether it is NONLINEAR.
fn algebraic_block<'f>(file: &'f ast::File, name: &str) -> Option<(&'f Block, bool)> {
    file.items.iter().find_map(|i| match i {
        Item::Algebraic {
            keyword,
            name: n,
            body,
        } if n.name == name => Some((body, keyword.name == "NONLINEAR")),
        _ => None,
    })
}
