//! Cutting a step into phases around the array routines of [`super::batched`].
//!
//! A node that an array routine computes (an f64 `exp` or `expm1`) splits the step:
//! its operands are written to scratch rows in one phase, the routine runs over the whole block
//! of cells, and its result is read back in the next phase. [`plan`] gives every node the phase
//! in which its value is first available, and works out what each phase reads at its start,
//! computes, and writes at its end:
//!
//! * state slots and the time are read afresh wherever they are used (the state is written only
//!   in the last phase);
//! * a routine's result is read from its output row;
//! * a comparison, or a value at most `RECOMPUTE_LIMIT` (3) operations from the slots, is
//!   recomputed where it is used;
//! * any other value used after its own phase is carried in a row of its own.
//!
//! Routines of one kind at one boundary read and write consecutive rows, so the kernel makes one
//! call per kind per boundary. Without routines the plan is a single phase that computes
//! everything, which is the kernel as it was.

use super::super::Prepared;
use crate::ir::{Expr, ExprId, UnaryOp};

/// What an array routine computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArrayOp {
    Exp,
    Expm1,
}

impl ArrayOp {
    pub const ALL: [ArrayOp; 2] = [ArrayOp::Exp, ArrayOp::Expm1];
}

/// One routine call between two phases: `count` consecutive rows from `input` and `output` on.
#[derive(Clone, Copy, Debug)]
pub struct ArrayCall {
    pub op: ArrayOp,
    pub input: u32,
    pub output: u32,
    pub count: u32,
}

/// The phases of one step.
#[derive(Debug, Default)]
pub struct StagePlan {
    /// Per phase: nodes read at the start (slots, the time, rows).
    pub imports: Vec<Vec<ExprId>>,
    /// Per phase: nodes computed inline, children first.
    pub computed: Vec<Vec<ExprId>>,
    /// Per phase: values written to rows at the end, `(node, row)`.
    pub stores: Vec<Vec<(ExprId, u32)>>,
    /// Per boundary (after phase `p`): the routine calls.
    pub calls: Vec<Vec<ArrayCall>>,
    /// Per node: the row that holds it across phases (routine outputs and carried values).
    pub row: Vec<Option<u32>>,
    /// Scratch rows in all.
    pub rows: u32,
}

impl StagePlan {
    pub fn phases(&self) -> usize {
        self.computed.len()
    }
}

/// The phases of `p`'s step; `batched(node)` says which varying nodes a routine computes.
pub fn plan(
    p: &Prepared,
    order: &[ExprId],
    batched: impl Fn(&Expr) -> Option<ArrayOp>,
) -> StagePlan {
    let n = p.exprs.len();
    let varying = |id: ExprId| p.varying[id.index()];
    let mut op_of: Vec<Option<ArrayOp>> = vec![None; n];
    let mut avail = vec![0usize; n];
    for &id in order {
        if !varying(id) {
            continue;
        }
        let e = p.exprs.get(id);
        let from_children = e
            .children()
            .filter(|&c| varying(c))
            .map(|c| avail[c.index()])
            .max()
            .unwrap_or(0);
        op_of[id.index()] = batched(e);
        avail[id.index()] = from_children + usize::from(op_of[id.index()].is_some());
    }
    let phases = order
        .iter()
        .filter(|&&id| varying(id))
        .map(|id| avail[id.index()])
        .max()
        .unwrap_or(0)
        + 1;
    let is_var = |id: ExprId| matches!(p.exprs.get(id), Expr::Var(_));

    let mut plan = StagePlan {
        imports: vec![Vec::new(); phases],
        computed: vec![Vec::new(); phases],
        stores: vec![Vec::new(); phases],
        calls: vec![Vec::new(); phases - 1],
        row: vec![None; n],
        rows: 0,
    };
    for &id in order {
        if varying(id) && !is_var(id) && op_of[id.index()].is_none() {
            plan.computed[avail[id.index()]].push(id);
        }
    }
    // Routine rows: per boundary and kind, the outputs, then the inputs, each a consecutive run.
    for boundary in 0..phases - 1 {
        for op in ArrayOp::ALL {
            let nodes: Vec<ExprId> = order
                .iter()
                .copied()
                .filter(|&id| op_of[id.index()] == Some(op) && avail[id.index()] == boundary + 1)
                .collect();
            if nodes.is_empty() {
                continue;
            }
            let count = nodes.len() as u32;
            let (output, input) = (plan.rows, plan.rows + count);
            for (k, &id) in nodes.iter().enumerate() {
                plan.row[id.index()] = Some(output + k as u32);
                // The argument is written where it is computed (a varying one: its own phase).
                let x = operand_of(p.exprs.get(id));
                let at = if varying(x) {
                    avail[x.index()]
                } else {
                    boundary
                };
                plan.stores[at].push((x, input + k as u32));
            }
            plan.rows += 2 * count;
            plan.calls[boundary].push(ArrayCall {
                op,
                input,
                output,
                count,
            });
        }
    }
    // Per node: how many operations recompute it from slots and the time (MAX: never, as for
    // routine results).
    let mut recompute_cost = vec![usize::MAX; n];
    for &id in order {
        let e = p.exprs.get(id);
        recompute_cost[id.index()] = if !varying(id) || is_var(id) {
            0
        } else if op_of[id.index()].is_some() {
            usize::MAX
        } else {
            e.children()
                .map(|c| recompute_cost[c.index()])
                .try_fold(1usize, |acc, c| acc.checked_add(c))
                .unwrap_or(usize::MAX)
        };
    }
    // What each phase reads: the varying values it uses but does not compute.
    let roots = super::roots(p);
    for phase in 0..phases {
        let mut here = vec![false; n];
        for &id in &plan.computed[phase] {
            here[id.index()] = true;
        }
        let mut pending: Vec<ExprId> = plan.computed[phase]
            .iter()
            .flat_map(|&id| p.exprs.get(id).children().collect::<Vec<_>>())
            .chain(plan.stores[phase].iter().map(|&(x, _)| x))
            .collect();
        if phase == phases - 1 {
            pending.extend(&roots);
        }
        let mut seen = vec![false; n];
        while let Some(id) = pending.pop() {
            if !varying(id) || here[id.index()] || std::mem::replace(&mut seen[id.index()], true) {
                continue;
            }
            let cheap = recompute_cost[id.index()] <= RECOMPUTE_LIMIT;
            if !is_var(id) && (p.exprs.get(id).is_boolean() || cheap) {
                // Masks do not go through float rows, and a value a few operations away from
                // the slots is cheaper to recompute than to carry: compute it where it is used.
                here[id.index()] = true;
                plan.computed[phase].push(id);
                pending.extend(p.exprs.get(id).children());
                continue;
            }
            plan.imports[phase].push(id);
            if !is_var(id) && plan.row[id.index()].is_none() {
                // Carried from the phase that computes it.
                plan.row[id.index()] = Some(plan.rows);
                plan.stores[avail[id.index()]].push((id, plan.rows));
                plan.rows += 1;
            }
        }
        plan.computed[phase].sort_by_key(|id| id.index());
    }
    // Drop what a phase computes but no longer uses (tests recomputed later, say).
    for phase in 0..phases {
        let mut live = vec![false; n];
        for &(x, _) in &plan.stores[phase] {
            live[x.index()] = true;
        }
        if phase == phases - 1 {
            roots.iter().for_each(|r| live[r.index()] = true);
        }
        for &id in plan.computed[phase].iter().rev() {
            if live[id.index()] {
                p.exprs
                    .get(id)
                    .children()
                    .for_each(|c| live[c.index()] = true);
            }
        }
        plan.computed[phase].retain(|id| live[id.index()]);
    }
    plan
}

fn operand_of(e: &Expr) -> ExprId {
    match *e {
        Expr::Unary(_, a) => a,
        _ => unreachable!("only unary nodes are batched"),
    }
}

/// Values at most this many operations from the slots are recomputed rather than carried.
const RECOMPUTE_LIMIT: usize = 3;

/// The nodes the array routines take: `exp` and `expm1`, which a program prepared with
/// [`MathMode::ArrayExp`](crate::passes::mathlib::MathMode::ArrayExp) keeps as operations.
///
/// Divisions were tried the same way and dropped: on the dev machine the extra phases and rows
/// cost more than the wider division saved (bench/RESULTS.md).
pub fn batched_ops(e: &Expr) -> Option<ArrayOp> {
    match *e {
        Expr::Unary(UnaryOp::Exp, _) => Some(ArrayOp::Exp),
        Expr::Unary(UnaryOp::Expm1, _) => Some(ArrayOp::Expm1),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::prepare_with;
    use crate::ir::{BinaryOp, CellProgram, ExprArena, Slot, SlotKind, Var};
    use crate::passes::mathlib::{MathMode, Precision};
    use crate::span::Span;

    /// `a := expm1(exp(v)·w) + w` with `w = ((v + 1)·v + 2)·v + 3`: two routines in a chain,
    /// and a value five operations from `v` that two later phases use.
    fn program() -> CellProgram {
        let mut exprs = ExprArena::new();
        let bin =
            |exprs: &mut ExprArena, op, a, b| exprs.add(Expr::Binary(op, a, b), Span::default());
        let v = exprs.var(Var::Slot(0));
        let mut w = v;
        for c in [1.0, 2.0, 3.0] {
            let lit = exprs.lit(c);
            let sum = bin(&mut exprs, BinaryOp::Add, w, lit);
            w = if c < 3.0 {
                bin(&mut exprs, BinaryOp::Mul, sum, v)
            } else {
                sum
            };
        }
        let e = exprs.add(Expr::Unary(UnaryOp::Exp, v), Span::default());
        let ew = bin(&mut exprs, BinaryOp::Mul, e, w);
        let em1 = exprs.add(Expr::Unary(UnaryOp::Expm1, ew), Span::default());
        let a = bin(&mut exprs, BinaryOp::Add, em1, w);
        let never = bin(&mut exprs, BinaryOp::Lt, v, v);
        let slot = |name: &str, kind| Slot {
            name: name.into(),
            kind,
        };
        CellProgram {
            name: "staged".into(),
            exprs,
            slots: vec![
                slot("v", SlotKind::V),
                slot("a", SlotKind::State { mech: 0, state: 0 }),
            ],
            init: Vec::new(),
            updates: vec![(1, a)],
            spike: never,
            mechanism_currents: Vec::new(),
            dt: 0.01,
        }
    }

    #[test]
    fn a_chain_of_two_routines_makes_three_phases_and_carries_only_the_costly_value() {
        let prepared = prepare_with(&program(), Precision::F64, MathMode::ArrayExp);
        let order = prepared.exprs.reachable(&super::super::roots(&prepared));
        let plan = plan(&prepared, &order, batched_ops);
        assert_eq!(plan.phases(), 3);
        assert_eq!(plan.calls[0].len(), 1, "{plan:?}");
        assert_eq!(plan.calls[0][0].op, ArrayOp::Exp);
        assert_eq!(plan.calls[1][0].op, ArrayOp::Expm1);
        // Phase 0 computes w and writes v (exp's argument) and w (carried).
        assert_eq!(plan.computed[0].len(), 5, "{plan:?}");
        assert_eq!(plan.stores[0].len(), 2, "{plan:?}");
        // Phase 1 reads exp(v) and w, and writes exp(v)·w for expm1.
        assert_eq!(plan.imports[1].len(), 2, "{plan:?}");
        assert_eq!(plan.stores[1].len(), 1, "{plan:?}");
        // The last phase reads expm1's result, w and v, and recomputes the spike test from v.
        assert_eq!(plan.imports[2].len(), 3, "{plan:?}");
        assert_eq!(plan.computed[2].len(), 2, "{plan:?}");
        // Two routines × (out + in) + one carry.
        assert_eq!(plan.rows, 5);
        let inline = super::plan(&prepared, &order, |_| None);
        assert_eq!((inline.phases(), inline.rows), (1, 0));
    }
}
