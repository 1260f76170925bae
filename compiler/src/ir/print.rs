//! A stable text form of the IR (`hhc compile --emit ir`).
//!
//! Shared nodes print once as `%N = …` lets, in arena order, so the text is deterministic and
//! linear in the size of the DAG.

use super::*;
use std::collections::HashMap;
use std::fmt::Write;

/// Formats a float so that it reads back to the same bits.
pub fn fmt_f64(v: f64) -> String {
    if v.is_finite() && v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v:?}")
    }
}

fn write_dag(
    out: &mut String,
    arena: &ExprArena,
    roots: &[ExprId],
    var_name: &dyn Fn(Var) -> String,
) -> HashMap<ExprId, String> {
    let mut names: HashMap<ExprId, String> = HashMap::new();
    let nodes = arena.reachable_outside_tables(roots);
    // Count uses to decide which nodes get a let.
    let mut uses: HashMap<ExprId, usize> = HashMap::new();
    for &id in &nodes {
        for c in arena.get(id).children() {
            *uses.entry(c).or_default() += 1;
        }
    }
    let mut counter = 0;
    for &id in &nodes {
        let text = match *arena.get(id) {
            Expr::Lit(b) => fmt_f64(f64::from_bits(b)),
            Expr::Var(v) => var_name(v),
            Expr::Unary(op, a) => match op {
                UnaryOp::Neg => format!("-{}", names[&a]),
                UnaryOp::Not => format!("!{}", names[&a]),
                _ => format!("{}({})", format!("{op:?}").to_lowercase(), names[&a]),
            },
            Expr::Binary(op, a, b) => match op.infix() {
                Some(sym) => format!("({} {sym} {})", names[&a], names[&b]),
                None => format!(
                    "{}({}, {})",
                    format!("{op:?}").to_lowercase(),
                    names[&a],
                    names[&b]
                ),
            },
            Expr::Fma(a, b, c) => format!("fma({}, {}, {})", names[&a], names[&b], names[&c]),
            Expr::Select(a, b, c) => format!("select({}, {}, {})", names[&a], names[&b], names[&c]),
            Expr::TableEntry(t, i) => format!("table{}[{}]", t.0, names[&i]),
        };
        let shared = uses.get(&id).copied().unwrap_or(0) > 1
            && !matches!(arena.get(id), Expr::Lit(_) | Expr::Var(_));
        if shared {
            let name = format!("%{counter}");
            counter += 1;
            let _ = writeln!(out, "    {name} = {text}");
            names.insert(id, name);
        } else {
            names.insert(id, text);
        }
    }
    names
}

pub fn mechanism_var_name(m: &Mechanism, v: Var) -> String {
    match v {
        Var::Param(i) => m
            .params
            .get(i as usize)
            .map_or("?param".into(), |p| p.name.clone()),
        Var::State(i) => m
            .states
            .get(i as usize)
            .map_or("?state".into(), |s| s.name.clone()),
        Var::Ion(i, f) => {
            let ion = m.ions.get(i as usize).map_or("?", |x| x.name.as_str());
            match f {
                IonField::E => format!("e{ion}"),
                IonField::I => format!("i{ion}"),
                IonField::Ci => format!("{ion}i"),
                IonField::Co => format!("{ion}o"),
            }
        }
        Var::Builtin(b) => format!("{b:?}").to_lowercase(),
        Var::Slot(i) => format!("slot{i}"),
        Var::Arg(i) => m
            .net_receive
            .as_ref()
            .and_then(|r| r.args.get(i as usize))
            .map_or("flag".into(), |(name, _)| name.clone()),
        Var::NetconArg(i) => m
            .net_receive
            .as_ref()
            .and_then(|r| r.args.get(i as usize))
            .map_or(format!("netcon.arg{i}"), |(name, _)| {
                format!("netcon.{name}")
            }),
        Var::Draw(i) => format!("draw{i}"),
        Var::TableArg => "table_arg".into(),
        Var::VectorStart => "vector_start".into(),
        Var::VectorLength => "vector_length".into(),
    }
}

/// Prints a mechanism: its interface, then each kernel as parallel assignments.
pub fn print_mechanism(m: &Mechanism) -> String {
    let mut out = String::new();
    let name = |v: Var| mechanism_var_name(m, v);
    let kind = if m.point_process {
        "point process"
    } else {
        "mechanism"
    };
    let _ = writeln!(out, "{kind} {} {{", m.name);
    for p in &m.params {
        let _ = writeln!(
            out,
            "  param {} = {}{}",
            p.name,
            fmt_f64(p.default),
            p.unit.as_ref().map_or(String::new(), |u| format!(" ({u})"))
        );
    }
    for s in &m.states {
        let _ = writeln!(out, "  state {}", s.name);
    }
    for ion in &m.ions {
        let _ = writeln!(
            out,
            "  ion {} read {:?} write {:?}",
            ion.name, ion.reads, ion.writes
        );
    }
    let mut section = |title: &str, items: Vec<(String, ExprId)>| {
        let _ = writeln!(out, "  {title} {{");
        let roots: Vec<ExprId> = items.iter().map(|(_, e)| *e).collect();
        let names = write_dag(&mut out, &m.exprs, &roots, &name);
        for (target, e) in &items {
            let _ = writeln!(out, "    {target} := {}", names[e]);
        }
        let _ = writeln!(out, "  }}");
    };
    let mut init: Vec<(String, ExprId)> = m
        .init
        .iter()
        .enumerate()
        .map(|(i, e)| (m.states[i].name.clone(), *e))
        .collect();
    for (k, e) in m.initial_sends.iter().enumerate() {
        init.push((format!("send{k}.when"), e.condition));
        init.push((format!("send{k}.delay"), e.delay));
        init.push((format!("send{k}.flag"), e.flag));
    }
    section("init", init);
    section(
        "derivative",
        m.derivatives
            .iter()
            .map(|(s, e, _)| (format!("{}'", m.states[*s as usize].name), *e))
            .collect(),
    );
    section(
        "advance",
        m.advance
            .iter()
            .map(|(s, e)| (m.states[*s as usize].name.clone(), *e))
            .collect(),
    );
    if !m.stored.is_empty() {
        section(
            "stored",
            m.stored
                .iter()
                .map(|(s, e)| (m.states[*s as usize].name.clone(), *e))
                .collect(),
        );
    }
    let mut cur = Vec::new();
    for c in &m.currents {
        cur.push((c.name.clone(), c.value));
        if let Some(g) = c.conductance {
            cur.push((format!("d{}/dv", c.name), g));
        }
    }
    section("current", cur);
    for t in 0..m.exprs.table_count() {
        let id = TableId(t as u32);
        if let Table::Tabulated {
            body,
            from,
            to,
            intervals,
        } = *m.exprs.table(id)
        {
            section(
                &format!("table{t} (table_arg from, to, in {intervals} intervals)"),
                vec![
                    ("from".into(), from),
                    ("to".into(), to),
                    ("entry".into(), body),
                ],
            );
        }
    }
    if let Some(r) = &m.net_receive {
        let args: Vec<&str> = r.args.iter().map(|(a, _)| a.as_str()).collect();
        let mut items: Vec<(String, ExprId)> = r
            .updates
            .iter()
            .map(|(s, e)| (m.states[*s as usize].name.clone(), *e))
            .collect();
        for (k, e) in r.sends.iter().enumerate() {
            items.push((format!("send{k}.when"), e.condition));
            items.push((format!("send{k}.delay"), e.delay));
            items.push((format!("send{k}.flag"), e.flag));
        }
        for (k, &e) in r.emits.iter().enumerate() {
            items.push((format!("spike{k}.when"), e));
        }
        for (k, e) in r.moves.iter().enumerate() {
            items.push((format!("move{k}.when"), e.condition));
            items.push((format!("move{k}.delay"), e.delay));
        }
        for (k, l) in r.for_netcons.iter().enumerate() {
            items.push((format!("for_netcons{k}.when"), l.condition));
            for &(a, e) in &l.updates {
                let name = r.args.get(a as usize).map_or("?", |x| x.0.as_str());
                items.push((format!("for_netcons{k}.{name}"), e));
            }
        }
        section(&format!("net_receive({})", args.join(", ")), items);
    }
    let _ = writeln!(out, "}}");
    out
}

pub fn print_cell_program(p: &CellProgram) -> String {
    let mut out = String::new();
    let name = |v: Var| match v {
        Var::Slot(i) => p
            .slots
            .get(i as usize)
            .map_or("?".into(), |s| s.name.clone()),
        Var::Builtin(b) => format!("{b:?}").to_lowercase(),
        other => format!("{other:?}"),
    };
    let _ = writeln!(out, "cell {} (dt = {}) {{", p.name, fmt_f64(p.dt));
    let mut roots: Vec<ExprId> = p.updates.iter().map(|(_, e)| *e).collect();
    roots.push(p.spike);
    let names = write_dag(&mut out, &p.exprs, &roots, &name);
    for (s, e) in &p.updates {
        let _ = writeln!(out, "    {} := {}", p.slots[*s as usize].name, names[e]);
    }
    let _ = writeln!(out, "    spike := {}", names[&p.spike]);
    let _ = writeln!(out, "}}");
    out
}
