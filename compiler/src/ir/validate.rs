//! Structural checks of the IR. Any failure is a compiler bug, never a user error.

use super::*;

#[derive(Debug, Clone, PartialEq)]
pub struct ValidationError(pub String);

fn check_arena(arena: &ExprArena, var_ok: &dyn Fn(Var) -> bool) -> Result<(), ValidationError> {
    for (id, e) in arena.iter() {
        for c in e.children() {
            if c >= id {
                return Err(ValidationError(format!(
                    "node {} uses later node {}",
                    id.0, c.0
                )));
            }
        }
        let boolean = |x: ExprId| arena.get(x).is_boolean();
        match *e {
            Expr::Var(v) if !var_ok(v) => {
                return Err(ValidationError(format!(
                    "node {} reads unknown {v:?}",
                    id.0
                )))
            }
            Expr::TableEntry(t, i) if t.0 as usize >= arena.table_count() || boolean(i) => {
                return Err(ValidationError(format!(
                    "table entry {} is ill-typed",
                    id.0
                )))
            }
            Expr::Select(c, a, b) if !boolean(c) || boolean(a) || boolean(b) => {
                return Err(ValidationError(format!("select {} is ill-typed", id.0)))
            }
            Expr::Binary(op, a, b) if op.is_logic() && !(boolean(a) && boolean(b)) => {
                return Err(ValidationError(format!("logic op {} on numbers", id.0)))
            }
            Expr::Binary(op, a, b) if !op.is_logic() && (boolean(a) || boolean(b)) => {
                return Err(ValidationError(format!("arithmetic {} on booleans", id.0)))
            }
            Expr::Unary(UnaryOp::Not, a) if !boolean(a) => {
                return Err(ValidationError(format!("not {} of a number", id.0)))
            }
            _ => {}
        }
    }
    Ok(())
}

pub fn validate_mechanism(m: &Mechanism) -> Result<(), ValidationError> {
    let var_ok = |v: Var| match v {
        Var::Param(i) => (i as usize) < m.params.len(),
        Var::State(i) => (i as usize) < m.states.len(),
        Var::Ion(i, _) => (i as usize) < m.ions.len(),
        Var::Builtin(_) => true,
        Var::Slot(_) => false,
        Var::Arg(i) => m
            .net_receive
            .as_ref()
            .is_some_and(|r| (i as usize) <= r.args.len()),
        Var::NetconArg(i) => m
            .net_receive
            .as_ref()
            .is_some_and(|r| !r.for_netcons.is_empty() && (i as usize) < r.args.len()),
        Var::Draw(i) => (i as usize) < m.draws.len(),
        Var::TableArg => true,
        Var::VectorStart | Var::VectorLength => m.plays_vector.is_some(),
    };
    check_arena(&m.exprs, &var_ok)?;
    if m.init.len() != m.states.len() {
        return Err(ValidationError("init must give every state a value".into()));
    }
    for c in &m.currents {
        if m.exprs.get(c.value).is_boolean() {
            return Err(ValidationError(format!("current {} is boolean", c.name)));
        }
    }
    Ok(())
}

pub fn validate_cell_program(p: &CellProgram) -> Result<(), ValidationError> {
    let var_ok = |v: Var| match v {
        Var::Slot(i) => (i as usize) < p.slots.len(),
        Var::Builtin(Builtin::T | Builtin::Dt) => true,
        // The body of a TABLE computed on import, which nothing reads.
        Var::TableArg => true,
        _ => false,
    };
    check_arena(&p.exprs, &var_ok)?;
    for (id, e) in p.exprs.iter() {
        if let Expr::TableEntry(t, _) = *e {
            if !matches!(p.exprs.table(t), crate::ir::Table::Values(_)) {
                return Err(ValidationError(format!(
                    "table entry {} reads a table not computed",
                    id.0
                )));
            }
        }
    }
    if !p.exprs.get(p.spike).is_boolean() {
        return Err(ValidationError("spike must be boolean".into()));
    }
    Ok(())
}
