//! The reference interpreter: the oracle the JIT and PTX are tested against.
//!
//! It evaluates a DAG in f64 with Rust's std maths, node by node in arena order. Booleans are
//! 1.0 and 0.0.

use super::*;

/// Scalar semantics of each unary operation, shared by the interpreter and constant folding.
pub fn unary(op: UnaryOp, a: f64) -> f64 {
    match op {
        UnaryOp::Neg => -a,
        UnaryOp::Not => f64::from(a == 0.0),
        UnaryOp::Exp => a.exp(),
        UnaryOp::Expm1 => a.exp_m1(),
        UnaryOp::Log => a.ln(),
        UnaryOp::Log10 => a.log10(),
        UnaryOp::Sqrt => a.sqrt(),
        UnaryOp::Fabs => a.abs(),
        UnaryOp::Tanh => a.tanh(),
        UnaryOp::Sin => a.sin(),
        UnaryOp::Cos => a.cos(),
        UnaryOp::Exprelr => exprelr(a),
        UnaryOp::Floor => a.floor(),
        UnaryOp::Round => a.round_ties_even(),
        UnaryOp::Frozen => a,
        UnaryOp::Exp2Scale => exp2::exp2_scale(a),
        UnaryOp::Exp2Tail => exp2::exp2_tail(a),
    }
}

/// `x / expm1(x)`, exactly 1 at 0.
pub fn exprelr(x: f64) -> f64 {
    if x.abs() < 1e-300 {
        1.0
    } else {
        x / x.exp_m1()
    }
}

pub fn binary(op: BinaryOp, a: f64, b: f64) -> f64 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Pow => a.powf(b),
        // NaN-propagating, as Cranelift's fmin/fmax and IEEE 754-2019 minimum/maximum.
        BinaryOp::Min => {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.min(b)
            }
        }
        BinaryOp::Max => {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.max(b)
            }
        }
        BinaryOp::Lt => f64::from(a < b),
        BinaryOp::Le => f64::from(a <= b),
        BinaryOp::Gt => f64::from(a > b),
        BinaryOp::Ge => f64::from(a >= b),
        BinaryOp::Eq => f64::from(a == b),
        BinaryOp::Ne => f64::from(a != b),
        BinaryOp::And => f64::from(a != 0.0 && b != 0.0),
        BinaryOp::Or => f64::from(a != 0.0 || b != 0.0),
        BinaryOp::Ldexp => a * 2f64.powi(b as i32),
    }
}

/// Evaluates `roots` with variables read from `var`. Returns one value per root.
pub fn eval(arena: &ExprArena, roots: &[ExprId], var: &dyn Fn(Var) -> f64) -> Vec<f64> {
    let mut values = vec![0.0f64; arena.len()];
    evaluate(arena, &arena.reachable(roots), &mut values, var);
    roots.iter().map(|r| values[r.index()]).collect()
}

/// `roots` of an arena made ready to be evaluated many times (an event's NET_RECEIVE, a WATCH
/// checked after every step): the nodes they reach, in order, found once.
#[derive(Clone, Debug)]
pub struct Prepared {
    nodes: Vec<ExprId>,
    roots: Vec<ExprId>,
}

impl Prepared {
    pub fn new(arena: &ExprArena, roots: &[ExprId]) -> Prepared {
        Prepared {
            nodes: arena.reachable(roots),
            roots: roots.to_vec(),
        }
    }

    /// The roots' values in `out`, with `values` (any length; grown to the arena's) as the
    /// nodes' scratch space, so that a caller that keeps both allocates nothing.
    pub fn eval_into(
        &self,
        arena: &ExprArena,
        var: &dyn Fn(Var) -> f64,
        values: &mut Vec<f64>,
        out: &mut Vec<f64>,
    ) {
        if values.len() < arena.len() {
            values.resize(arena.len(), 0.0);
        }
        evaluate(arena, &self.nodes, values, var);
        out.clear();
        out.extend(self.roots.iter().map(|r| values[r.index()]));
    }
}

/// Computes `nodes` (each after the nodes it reads) into `values`, indexed by node.
fn evaluate(arena: &ExprArena, nodes: &[ExprId], values: &mut [f64], var: &dyn Fn(Var) -> f64) {
    for &id in nodes {
        values[id.index()] = match *arena.get(id) {
            Expr::Lit(b) => f64::from_bits(b),
            Expr::Var(v) => var(v),
            Expr::Unary(op, a) => unary(op, values[a.index()]),
            Expr::Binary(op, a, b) => binary(op, values[a.index()], values[b.index()]),
            Expr::Fma(a, b, c) => values[a.index()].mul_add(values[b.index()], values[c.index()]),
            Expr::Select(c, a, b) => {
                if values[c.index()] != 0.0 {
                    values[a.index()]
                } else {
                    values[b.index()]
                }
            }
            Expr::TableEntry(t, i) => table_entry(arena, t, values[i.index()], var),
        };
    }
}

/// The entry of table `t` at index value `x` (see [`Expr::TableEntry`]); a table not yet
/// computed ([`Table::Tabulated`]) runs its body at the entry's point.
fn table_entry(arena: &ExprArena, t: TableId, x: f64, var: &dyn Fn(Var) -> f64) -> f64 {
    match arena.table(t) {
        Table::Values(v) => v[table_index(x, v.len())],
        Table::Played => f64::NAN,
        Table::Tabulated {
            body,
            from,
            to,
            intervals,
        } => {
            let range = eval(arena, &[*from, *to], var);
            let points = table_points(range[0], range[1], *intervals);
            let at = points[table_index(x, points.len())];
            eval(arena, &[*body], &|v| {
                if v == Var::TableArg {
                    at
                } else {
                    var(v)
                }
            })[0]
        }
    }
}

/// Runs a cell program for one cell and `steps` steps. `slots` holds the start values and is
/// updated in place; returns the step indices at which the cell spiked.
pub fn run_cell(p: &CellProgram, slots: &mut [f64], t0: f64, steps: usize) -> Vec<usize> {
    let mut roots: Vec<ExprId> = p.updates.iter().map(|(_, e)| *e).collect();
    roots.push(p.spike);
    let mut spikes = Vec::new();
    for k in 0..steps {
        let t = t0 + k as f64 * p.dt;
        let values = {
            let s = &*slots;
            eval(&p.exprs, &roots, &|v| match v {
                Var::Slot(i) => s[i as usize],
                Var::Builtin(Builtin::T) => t,
                Var::Builtin(Builtin::Dt) => p.dt,
                _ => f64::NAN,
            })
        };
        for ((slot, _), value) in p.updates.iter().zip(&values) {
            slots[*slot as usize] = *value;
        }
        if values.last().copied().unwrap_or(0.0) != 0.0 {
            spikes.push(k);
        }
    }
    spikes
}
