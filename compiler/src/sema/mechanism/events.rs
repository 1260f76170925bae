//! NET_RECEIVE and what a point process does with events: its state updates, the self-events
//! it sends (`net_send`, `net_move`), the spikes it makes (`net_event`) and the conditions it
//! watches (`WATCH`).

use super::{BlockKind, Dim, Env, Lowerer, Name, Val};
use crate::diagnostic::Diagnostic;
use crate::ir::{self, Builtin, Expr, ExprId, Var};
use crate::passes::simplify::Builder;
use crate::span::Span;
use crate::syntax::ast::{self, Item};

impl Lowerer<'_> {
    /// NET_RECEIVE: the states' values after an event, from their values before it, the
    /// parameters, the event's weights and its `flag` (0 for an event from a connection, the
    /// sender's value for a self-event), and the `net_send`/`net_event` calls it makes.
    pub(super) fn lower_net_receive(&mut self) {
        let file = self.file;
        let Some((args, body, span)) = file.items.iter().find_map(|i| match i {
            Item::NetReceive { args, body, span } => Some((args, body, *span)),
            _ => None,
        }) else {
            return;
        };
        if !self.m.point_process {
            self.err(
                Diagnostic::error(
                    "NET_RECEIVE belongs to a POINT_PROCESS",
                    span,
                    "events arrive at point processes",
                )
                .with_hint("declare the mechanism with `POINT_PROCESS Name` instead of SUFFIX"),
            );
            return;
        }
        let mut env = Env::new();
        let mut arg_list = Vec::new();
        for (k, a) in args.iter().enumerate() {
            let unit = a.unit.as_ref().and_then(|u| self.unit(u));
            let value = self.m.exprs.add(Expr::Var(Var::Arg(k as u32)), a.name.span);
            env.insert(a.name.name.clone(), (value, Dim::declared(unit)));
            arg_list.push((a.name.name.clone(), a.unit.as_ref().map(|u| u.text.clone())));
        }
        let flag = self
            .m
            .exprs
            .add(Expr::Var(Var::Arg(args.len() as u32)), span);
        env.entry("flag".into()).or_insert((flag, Dim::Bare));
        let arg_names: Vec<String> = env.keys().cloned().collect();
        self.kind = BlockKind::NetReceive;
        self.net_receive_args = args
            .iter()
            .map(|a| {
                (
                    a.name.name.clone(),
                    a.unit.as_ref().and_then(|u| self.unit(u)),
                )
            })
            .collect();
        self.for_netcons.clear();
        self.sends.clear();
        self.emits.clear();
        self.watches.clear();
        let before: Vec<(String, ExprId)> = args
            .iter()
            .map(|a| (a.name.name.clone(), env[&a.name.name].0))
            .collect();
        // NET_RECEIVE's own INITIAL: the connection's values at initialisation.
        let mut arg_init = Vec::new();
        let mut state_init = Vec::new();
        for stmt in &body.stmts {
            let ast::StmtKind::Initial(block) = &stmt.kind else {
                continue;
            };
            let mut initial = env.clone();
            let sends = self.sends.len();
            self.exec_block(block, &mut initial);
            if self.sends.len() != sends {
                self.sends.truncate(sends);
                self.err(
                    Diagnostic::error(
                        "net_send in NET_RECEIVE's INITIAL",
                        block.span,
                        "runs once per connection",
                    )
                    .with_hint("send initial self-events from the mechanism's INITIAL block"),
                );
            }
            for (name, (value, _)) in &initial {
                match self.names.get(name) {
                    // A weight adjuster has one connection per instance: its states are the
                    // connection's.
                    Some(&(Name::State(s), _))
                        if !self.m.pointers.is_empty()
                            && env.get(name).map(|v| v.0) != Some(*value) =>
                    {
                        state_init.retain(|a: &(u32, ExprId)| a.0 != s);
                        state_init.push((s, *value));
                    }
                    Some((Name::State(_) | Name::Assigned, _))
                        if env.get(name).map(|v| v.0) != Some(*value) =>
                    {
                        self.err(
                            Diagnostic::error(
                                format!("NET_RECEIVE's INITIAL sets `{name}`, which is not one of its arguments"),
                                block.span,
                                "runs once per connection",
                            )
                            .with_hint("set the mechanism's own values in its INITIAL block"),
                        );
                    }
                    _ => {}
                }
            }
            for (k, (name, value)) in before.iter().enumerate() {
                if let Some(v) = initial.get(name).filter(|v| v.0 != *value) {
                    arg_init.retain(|a: &(u32, ExprId)| a.0 != k as u32);
                    arg_init.push((k as u32, v.0));
                }
            }
        }
        self.exec_top_block(body, &mut env);
        // A weight argument NET_RECEIVE changes is state of the connection, kept per
        // connection (NEURON's weight vector).
        let mut arg_updates = Vec::new();
        for (k, (name, value)) in before.iter().enumerate() {
            if let Some(v) = env.get(name).filter(|v| v.0 != *value) {
                arg_updates.push((k as u32, v.0));
            }
        }
        // NEURON copies the node's V into NET_RECEIVE's `v` and back after it: an assignment
        // moves the membrane (Izhikevich's reset), on a cell; an ARTIFICIAL_CELL has none.
        let v_before = self.m.exprs.add(Expr::Var(Var::Builtin(Builtin::V)), span);
        let v = env.get("v").map(|x| x.0).filter(|&x| x != v_before);
        if v.is_some() && self.m.artificial {
            self.err(
                Diagnostic::error(
                    "NET_RECEIVE of an ARTIFICIAL_CELL sets `v`",
                    body.span,
                    "in this block",
                )
                .with_hint("an ARTIFICIAL_CELL has no membrane; keep the value in a STATE (IntFire1's `m`)"),
            );
        }
        let mut updates = Vec::new();
        let mut names: Vec<&String> = env.keys().collect();
        names.sort();
        for name in names {
            match self.names.get(name) {
                Some((Name::State(i), _)) => updates.push((*i, env[name].0)),
                Some((Name::Assigned | Name::Param(_), decl)) if !arg_names.contains(name) => {
                    let decl = *decl;
                    self.err(
                        Diagnostic::error(
                            format!("NET_RECEIVE sets `{name}`, which is not a STATE"),
                            body.span,
                            "in this block",
                        )
                        .with_label(decl, "declared here")
                        .with_hint("a PARAMETER is the same before and after an event; keep what changes in an ASSIGNED or a STATE"),
                    );
                }
                _ => {}
            }
        }
        updates.sort_by_key(|u| u.0);
        self.m.net_receive = Some(ir::NetReceive {
            args: arg_list,
            updates,
            sends: std::mem::take(&mut self.sends),
            emits: std::mem::take(&mut self.emits),
            moves: std::mem::take(&mut self.moves),
            watches: std::mem::take(&mut self.watches),
            v,
            arg_updates,
            arg_init,
            for_netcons: std::mem::take(&mut self.for_netcons),
            state_init,
            span,
        });
    }

    /// `FOR_NETCONS (w1, A1, …) { body }`: the body runs for every connection to this point
    /// process, its arguments naming that connection's values (NEURON's NetCon weight
    /// vectors). It may change only those; what it reads is as the block has it here. The
    /// event's own connection is one of them, so NET_RECEIVE's own arguments take the loop's
    /// effect too: the body runs a second time on them.
    pub(super) fn for_netcons(
        &mut self,
        loop_args: &[ast::Arg],
        body: &ast::Block,
        env: &mut Env,
        span: Span,
    ) {
        if self.kind != BlockKind::NetReceive {
            self.err(
                Diagnostic::error("FOR_NETCONS is not available here", span, "not here").with_hint(
                    "FOR_NETCONS belongs in NET_RECEIVE of a POINT_PROCESS or ARTIFICIAL_CELL",
                ),
            );
            return;
        }
        let outer = self.net_receive_args.clone();
        if loop_args.len() != outer.len() {
            self.err(
                Diagnostic::error(
                    format!(
                        "FOR_NETCONS names {} argument{}, NET_RECEIVE has {}",
                        loop_args.len(),
                        if loop_args.len() == 1 { "" } else { "s" },
                        outer.len()
                    ),
                    span,
                    "here",
                )
                .with_hint(
                    "name one per NET_RECEIVE argument, in the same order, as NEURON requires",
                ),
            );
            return;
        }
        let unit_of = |this: &mut Self, k: usize| {
            let declared = loop_args[k].unit.as_ref().and_then(|u| this.unit(u));
            Dim::declared(declared.or(outer[k].1))
        };
        let mut locals = Vec::new();
        super::collect_locals(body, &mut locals);
        let events = (
            self.sends.len(),
            self.emits.len(),
            self.moves.len(),
            self.watches.len(),
        );
        // Every connection: its own arguments.
        let condition = self.path_condition();
        let mut each = env.clone();
        let mut visited = Vec::new();
        for (k, a) in loop_args.iter().enumerate() {
            let value = self
                .m
                .exprs
                .add(Expr::Var(Var::NetconArg(k as u32)), a.name.span);
            visited.push(value);
            let dim = unit_of(self, k);
            each.insert(a.name.name.clone(), (value, dim));
        }
        let diags = self.diags.len();
        self.exec_block(body, &mut each);
        if (
            self.sends.len(),
            self.emits.len(),
            self.moves.len(),
            self.watches.len(),
        ) != events
        {
            self.sends.truncate(events.0);
            self.emits.truncate(events.1);
            self.moves.truncate(events.2);
            self.watches.truncate(events.3);
            self.err(
                Diagnostic::error(
                    "an event inside FOR_NETCONS",
                    body.span,
                    "net_send, net_event, net_move or WATCH in this loop",
                )
                .with_hint("hhc's FOR_NETCONS changes the connections' values only; send the event after the loop"),
            );
        }
        let mut names: Vec<&String> = each.keys().collect();
        names.sort();
        for name in names {
            let is_loop_arg = loop_args.iter().any(|a| &a.name.name == name);
            if is_loop_arg || locals.contains(name) {
                continue;
            }
            if env.get(name).map(|v| v.0) != Some(each[name].0) {
                self.err(
                    Diagnostic::error(
                        format!("FOR_NETCONS sets `{name}`, which is not one of its arguments"),
                        body.span,
                        "in this loop",
                    )
                    .with_hint("hhc's FOR_NETCONS changes the connections' values only; compute the rest outside the loop"),
                );
            }
        }
        if self.diags.len() != diags {
            return;
        }
        let updates: Vec<(u32, ExprId)> = loop_args
            .iter()
            .enumerate()
            .filter(|(k, a)| each[&a.name.name].0 != visited[*k])
            .map(|(k, a)| (k as u32, each[&a.name.name].0))
            .collect();
        if updates.is_empty() {
            return;
        }
        self.for_netcons.push(ir::ForNetcons { condition, updates });
        // The event's own connection: NET_RECEIVE's arguments as they stand here.
        let mut own = env.clone();
        for (k, a) in loop_args.iter().enumerate() {
            let current = env.get(&outer[k].0).copied();
            if let Some(v) = current {
                own.insert(a.name.name.clone(), v);
            }
        }
        self.exec_block(body, &mut own);
        self.diags.truncate(diags);
        for (k, a) in loop_args.iter().enumerate() {
            if let Some(&v) = own.get(&a.name.name) {
                env.insert(outer[k].0.clone(), v);
            }
        }
    }

    /// The condition under which the statement being run executes: every enclosing `if`.
    pub(super) fn path_condition(&mut self) -> ExprId {
        let mut c = self.m.exprs.lit(1.0);
        for k in 0..self.path.len() {
            let p = self.path[k];
            c = if k == 0 {
                p
            } else {
                self.m
                    .exprs
                    .add(Expr::Binary(ir::BinaryOp::And, c, p), Span::default())
            };
        }
        c
    }

    /// `net_send(delay, flag)`, `net_event(t)` and `net_move`: recorded with their path in
    /// INITIAL and NET_RECEIVE of a point process, an error elsewhere. `None` for other names.
    pub(super) fn event_call(
        &mut self,
        name: &ast::Ident,
        args: &[ast::Expr],
        env: &mut Env,
        span: Span,
    ) -> Option<Val> {
        let zero = (self.m.exprs.lit(0.0), Dim::Free);
        match name.name.as_str() {
            "net_send" | "net_event" | "net_move" => {}
            _ => return None,
        }
        let allowed = self.m.point_process
            && (self.kind == BlockKind::NetReceive
                || (self.kind == BlockKind::Initial && name.name == "net_send"));
        if !allowed {
            let hint = if name.name == "net_move" {
                "net_move belongs in NET_RECEIVE of a POINT_PROCESS or ARTIFICIAL_CELL"
            } else if name.name == "net_event" {
                "net_event belongs in NET_RECEIVE of a POINT_PROCESS or ARTIFICIAL_CELL"
            } else {
                "net_send belongs in INITIAL or NET_RECEIVE of a POINT_PROCESS or ARTIFICIAL_CELL"
            };
            self.err(
                Diagnostic::error(
                    format!("`{}` is not available here", name.name),
                    name.span,
                    "not here",
                )
                .with_hint(hint),
            );
            return Some(zero);
        }
        let want = if name.name == "net_send" { 2 } else { 1 };
        if args.len() != want {
            self.err(
                Diagnostic::error(
                    format!(
                        "`{}` takes {want} argument{}",
                        name.name,
                        if want == 1 { "" } else { "s" }
                    ),
                    span,
                    "wrong number of arguments",
                )
                .with_hint(if want == 2 {
                    "call it as net_send(delay, flag)"
                } else {
                    "call it as net_event(t)"
                }),
            );
            return Some(zero);
        }
        let vals = self.numbers(args, env);
        let condition = self.path_condition();
        if name.name == "net_send" {
            self.sends.push(ir::SelfEvent {
                condition,
                delay: vals[0],
                flag: vals[1],
            });
        } else if name.name == "net_move" {
            // Moves the outstanding self-event to time vals[0]; recorded as a send whose flag
            // is NaN ("the flag it had"), at a delay from the event's time.
            let t = self.m.exprs.add(Expr::Var(Var::Builtin(Builtin::T)), span);
            let delay = Builder::new(&mut self.m.exprs).sub(vals[0], t);
            let same = self.m.exprs.lit(f64::NAN);
            self.moves.push(ir::SelfEvent {
                condition,
                delay,
                flag: same,
            });
        } else {
            // NEURON's net_event(tt) spikes at tt; hhc takes the event's own time, which is
            // what every built-in passes (t).
            let t = self.m.exprs.add(Expr::Var(Var::Builtin(Builtin::T)), span);
            if vals[0] != t {
                self.err(
                    Diagnostic::error(
                        "hhc's net_event spikes at the event's time",
                        args[0].span,
                        "another time",
                    )
                    .with_hint("write net_event(t)"),
                );
            }
            self.emits.push(condition);
        }
        Some(zero)
    }

    /// `WATCH (a > b) flag, …`: recorded with the path that runs it, in NET_RECEIVE of a point
    /// process on a cell.
    pub(super) fn watch(&mut self, items: &[(ast::Expr, ast::Expr)], env: &mut Env, span: Span) {
        if self.kind != BlockKind::NetReceive || self.m.artificial {
            let hint = if self.m.artificial {
                "an ARTIFICIAL_CELL's states change only at events, so there is nothing to watch between them; compute the time and net_send an event for it"
            } else {
                "WATCH belongs in NET_RECEIVE of a POINT_PROCESS, usually under `if (flag == 1)` with `net_send(0, 1)` in INITIAL"
            };
            self.err(
                Diagnostic::error("WATCH is not available here", span, "not here").with_hint(hint),
            );
            return;
        }
        for (cond, flag) in items {
            use ast::BinaryOp as B;
            let ast::ExprKind::Binary { op, lhs, rhs } = &cond.kind else {
                self.err(
                    Diagnostic::error(
                        "a WATCH condition compares two values",
                        cond.span,
                        "not a comparison",
                    )
                    .with_hint("write it as `(a > b)` or `(a < b)`"),
                );
                continue;
            };
            let (high, low) = match op {
                B::Gt | B::Ge => (lhs, rhs),
                B::Lt | B::Le => (rhs, lhs),
                _ => {
                    self.err(
                        Diagnostic::error(
                            "a WATCH condition compares two values",
                            cond.span,
                            "not `>` or `<`",
                        )
                        .with_hint("write it as `(a > b)` or `(a < b)`"),
                    );
                    continue;
                }
            };
            // Checked after each step: the instance's values then, and its node's V.
            let errors = self.diags.len();
            let mut fresh = Env::new();
            let value = self.difference(high, low, *op, &mut fresh, cond.span);
            if self.diags.len() > errors {
                continue;
            }
            // At activation: what NET_RECEIVE has set so far, with V still the node's.
            let mut now = env.clone();
            now.remove("v");
            let value_now = self.difference(high, low, *op, &mut now, cond.span);
            let f = self.expr(flag, env);
            let flag = self.as_number(f.0);
            let condition = self.path_condition();
            self.watches.push(ir::Watch {
                condition,
                value,
                value_now,
                flag,
            });
        }
    }

    /// `high - low`, its units checked as the comparison `op`'s.
    fn difference(
        &mut self,
        high: &ast::Expr,
        low: &ast::Expr,
        op: ast::BinaryOp,
        env: &mut Env,
        span: Span,
    ) -> ExprId {
        let h = self.expr(high, env);
        let l = self.expr(low, env);
        let errors = self.diags.len();
        let _ = self.binary(op, h, l, high.span, low.span, span);
        if self.diags.len() > errors {
            return self.m.exprs.lit(0.0);
        }
        // The same units, so the difference converts one side as the comparison does.
        let d = self.binary(ast::BinaryOp::Sub, h, l, high.span, low.span, span);
        self.as_number(d.0)
    }
}
