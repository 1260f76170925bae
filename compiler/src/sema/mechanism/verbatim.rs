//! VERBATIM idioms in a mechanism (see [`crate::syntax::verbatim`] for the shapes hhc reads).
//!
//! Declarations and a hoc Random's attachment run nothing. A branch taken while no Random is
//! attached (`VERBATIM if (_p_rng) { … } else { ENDVERBATIM … VERBATIM } ENDVERBATIM`) runs
//! the NMODL between its two blocks, with the C locals the opening block declares as LOCALs.
//! The POINTER such idioms name is a Random's handle, which nothing in hhc sets: it is not a
//! POINTER hhc must bind, and it must be declared as one (NEURON's C would not compile
//! otherwise).
//!
//! VecStim's `element()` reads the Vector played into the instance: entry `index` into
//! `etime` and `index + 1` into `index` while `0 ≤ index < length`, `index = -1` past the end,
//! nothing while `index < 0`, as its C does. The entries come from [`ir::Table::Played`] at
//! [`Var::VectorStart`] + index, and the length is [`Var::VectorLength`]: the engine gives
//! each cell of the population its Vector (`times` or `file`). Where the C keeps the Vector (an
//! ASSIGNED's bits, or a `BBCOREPOINTER`) is a hoc handle like a Random's. Any other VERBATIM
//! is refused by name.

use super::{Dim, Env, Lowerer};
use crate::diagnostic::Diagnostic;
use crate::ir::{self, BinaryOp, Var};
use crate::passes::simplify::Builder;
use crate::span::Span;
use crate::syntax::ast::{self, Block, File, Item, Stmt, StmtKind};
use crate::syntax::verbatim::{VectorHandle, Verbatim};

/// The hoc object a POINTER holds for C.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum HocObject {
    Random,
    Vector,
}

/// The POINTERs that the file's VERBATIM idioms name as a hoc object's handle (a Random's, or
/// a played Vector's), with the span of the first block naming each.
pub(super) fn hoc_handles(file: &File) -> Vec<(String, Span, HocObject)> {
    fn walk(block: &Block, out: &mut Vec<(String, Span, HocObject)>) {
        for stmt in &block.stmts {
            match &stmt.kind {
                StmtKind::Verbatim(v) => {
                    if let Some((pointer, object)) = handle_of(v) {
                        if !out.iter().any(|(p, ..)| p == pointer) {
                            out.push((pointer.clone(), stmt.span, object));
                        }
                    }
                }
                StmtKind::If {
                    then, otherwise, ..
                } => {
                    walk(then, out);
                    if let Some(b) = otherwise {
                        walk(b, out);
                    }
                }
                StmtKind::Initial(body)
                | StmtKind::From { body, .. }
                | StmtKind::While { body, .. }
                | StmtKind::ForNetcons { body, .. }
                | StmtKind::Block(body) => walk(body, out),
                _ => {}
            }
        }
    }
    /// The POINTER a block's idiom names as a hoc object's handle, if any.
    fn handle_of(v: &Verbatim) -> Option<(&String, HocObject)> {
        match v {
            Verbatim::UnsetPointerElse { pointer, .. } | Verbatim::AttachRandom { pointer } => {
                Some((pointer, HocObject::Random))
            }
            Verbatim::VectorElement {
                handle: VectorHandle::Pointer(pointer),
                ..
            }
            | Verbatim::ReleaseVector { pointer } => Some((pointer, HocObject::Vector)),
            _ => None,
        }
    }
    let mut out = Vec::new();
    for item in &file.items {
        match item {
            Item::Initial(b) | Item::Breakpoint(b) => walk(b, &mut out),
            Item::Derivative { body, .. }
            | Item::Kinetic { body, .. }
            | Item::Algebraic { body, .. }
            | Item::NetReceive { body, .. }
            | Item::Hook { body, .. } => walk(body, &mut out),
            Item::Function(c) | Item::Procedure(c) => walk(&c.body, &mut out),
            _ => {}
        }
    }
    out
}

impl Lowerer<'_> {
    /// The POINTERs that are a hoc object's handle leave the list hhc must bind; one the
    /// idioms name that is not declared a POINTER is an error.
    pub(super) fn set_aside_hoc_handles(&mut self) {
        for (name, span, object) in hoc_handles(self.file) {
            let before = self.m.pointers.len();
            self.m.pointers.retain(|(p, _)| *p != name);
            if self.m.pointers.len() == before {
                self.err(
                    Diagnostic::error(
                        format!("VERBATIM reads `_p_{name}`, but `{name}` is not a POINTER"),
                        span,
                        match object {
                            HocObject::Random => "a hoc Random's handle",
                            HocObject::Vector => "a hoc Vector's handle",
                        },
                    )
                    .with_hint(format!(
                        "declare it in the NEURON block (`POINTER {name}` or `BBCOREPOINTER {name}`), as NEURON's C needs"
                    )),
                );
            }
        }
    }

    /// Runs `block.stmts[k]`, a VERBATIM that opens the branch taken while no Random is
    /// attached: the statements up to its closing `}` block, with `locals` declared. Returns
    /// the index of the statement after the closing block (`None` when there is none: an
    /// error, reported).
    pub(super) fn exec_unset_pointer_else(
        &mut self,
        block: &Block,
        k: usize,
        locals: &[String],
        env: &mut Env,
    ) -> Option<usize> {
        let mut depth = 0usize;
        let close = (k + 1..block.stmts.len()).find(|&j| match &block.stmts[j].kind {
            StmtKind::Verbatim(Verbatim::UnsetPointerElse { .. }) => {
                depth += 1;
                false
            }
            StmtKind::Verbatim(Verbatim::Close) if depth == 0 => true,
            StmtKind::Verbatim(Verbatim::Close) => {
                depth -= 1;
                false
            }
            _ => false,
        });
        let Some(close) = close else {
            self.err(
                Diagnostic::error(
                    "this VERBATIM opens `if (_p_…) { … } else {` and no VERBATIM `}` in the same block closes it",
                    block.stmts[k].span,
                    "opened here",
                )
                .with_hint("close the branch with `VERBATIM } ENDVERBATIM` in the same block, as NEURON's netstim.mod does"),
            );
            return None;
        };
        let zero = self.m.exprs.lit(0.0);
        for name in locals {
            env.insert(name.clone(), (zero, Dim::Free));
        }
        let branch = Block {
            stmts: block.stmts[k + 1..close].to_vec(),
            span: Span::new(
                block.stmts[k].span.start as usize,
                block.stmts[close].span.end as usize,
            ),
        };
        self.exec_block(&branch, env);
        Some(close + 1)
    }

    /// A VERBATIM statement met on its own: declarations, a Random's attachment and `return
    /// 0;` (checked to be last by `exec_block`) run nothing; a `}` without its opening block,
    /// and C hhc cannot run, are errors. (`exec_block` runs an opening block with its branch;
    /// one that reaches here could not be placed, and is refused as a stray block is.)
    pub(super) fn exec_verbatim(&mut self, v: &Verbatim, stmt: &Stmt, env: &mut Env) {
        match v {
            Verbatim::Declarations
            | Verbatim::AttachRandom { .. }
            | Verbatim::ReturnZero
            | Verbatim::ReleaseVector { .. }
            | Verbatim::CoreneuronTransfer => {}
            Verbatim::VectorElement {
                index,
                etime,
                handle,
            } => self.exec_vector_element(index, etime, handle, stmt.span, env),
            Verbatim::Close | Verbatim::UnsetPointerElse { .. } => self.err(
                Diagnostic::error(
                    "this VERBATIM `}` closes no `if (_p_…) { … } else {` of the same block",
                    stmt.span,
                    "C hhc cannot place",
                )
                .with_hint("hhc reads a Random's `if (_p_rng) { … } else { … }` only when both VERBATIM blocks are in one block of statements"),
            ),
            Verbatim::Other => {
                let hint = self.verbatim_hint();
                self.err(
                    Diagnostic::error("VERBATIM C code is not supported", stmt.span, "embedded C")
                        .with_hint(hint),
                )
            }
        }
    }

    /// VecStim's `element()` (see the module's essay).
    fn exec_vector_element(
        &mut self,
        index: &str,
        etime: &str,
        handle: &VectorHandle,
        span: Span,
        env: &mut Env,
    ) {
        if !self.m.artificial {
            self.err(
                Diagnostic::error(
                    "this VERBATIM reads a hoc Vector played into the instance (VecStim's `element()`), which hhc gives ARTIFICIAL_CELLs only",
                    span,
                    "a played Vector",
                )
                .with_hint("declare the mechanism an ARTIFICIAL_CELL, as VecStim is, and give its population the times (`times = …` or `file = NAME`)"),
            );
            return;
        }
        // What the C names must be declared, as NEURON's C needs.
        let mut named = vec![
            (
                index,
                format!("VERBATIM sets `{index}`, which is not declared"),
                "C that assigns it",
            ),
            (
                etime,
                format!("VERBATIM sets `{etime}`, which is not declared"),
                "C that assigns it",
            ),
        ];
        if let VectorHandle::Assigned(n) = handle {
            let message = format!("VERBATIM keeps the Vector in `{n}`, which is not declared");
            named.push((n.as_str(), message, "a hoc Vector's handle"));
        }
        named.retain(|(n, ..)| !self.names.contains_key(*n) && !env.contains_key(*n));
        for (name, message, label) in &named {
            let hint = format!("declare `{name}` in ASSIGNED, as VecStim does");
            self.err(Diagnostic::error(message.clone(), span, *label).with_hint(hint));
        }
        if !named.is_empty() {
            return;
        }
        self.m.plays_vector.get_or_insert(span);
        let (i, index_unit) = self.value_kept(index, span, env);
        let (e, etime_unit) = self.value_kept(etime, span, env);
        let table = self.m.exprs.add_table(ir::Table::Played);
        let mut b = Builder {
            arena: &mut self.m.exprs,
            span,
        };
        let (start, length) = (
            b.arena.var(Var::VectorStart),
            b.arena.var(Var::VectorLength),
        );
        let (minus_one, one) = (b.lit(-1.0), b.lit(1.0));
        // `i = (int)index; if (i >= 0)`: index > -1; `i < size`: index < length (a whole number).
        let live = b.binary(BinaryOp::Gt, i, minus_one);
        let within = b.binary(BinaryOp::Lt, i, length);
        let take = b.binary(BinaryOp::And, live, within);
        let at = b.add(start, i);
        let entry = b.table_entry(table, at);
        let new_etime = b.select(take, entry, e);
        let next = b.add(i, one);
        let past_end = b.select(within, next, minus_one);
        let new_index = b.select(live, past_end, i);
        for (name, value, unit) in [
            (index, new_index, index_unit),
            (etime, new_etime, etime_unit),
        ] {
            let target = ast::Ident {
                name: name.to_string(),
                span,
            };
            self.assign(&target, (value, unit), span, env);
        }
    }
}
