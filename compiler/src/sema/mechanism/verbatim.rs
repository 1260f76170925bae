//! VERBATIM idioms in a mechanism (see [`crate::syntax::verbatim`] for the shapes hhc reads).
//!
//! Declarations and a hoc Random's attachment run nothing. A branch taken while no Random is
//! attached (`VERBATIM if (_p_rng) { … } else { ENDVERBATIM … VERBATIM } ENDVERBATIM`) runs
//! the NMODL between its two blocks, with the C locals the opening block declares as LOCALs.
//! The POINTER such idioms name is a Random's handle, which nothing in hhc sets: it is not a
//! POINTER hhc must bind, and it must be declared as one (NEURON's C would not compile
//! otherwise). Any other VERBATIM is refused by name.

use super::{Dim, Env, Lowerer};
use crate::diagnostic::Diagnostic;
use crate::span::Span;
use crate::syntax::ast::{Block, File, Item, Stmt, StmtKind};
use crate::syntax::verbatim::Verbatim;

/// The POINTERs that the file's VERBATIM idioms name as a hoc Random's handle, with the span
/// of the first block naming each.
pub(super) fn random_handles(file: &File) -> Vec<(String, Span)> {
    fn walk(block: &Block, out: &mut Vec<(String, Span)>) {
        for stmt in &block.stmts {
            match &stmt.kind {
                StmtKind::Verbatim(
                    Verbatim::UnsetPointerElse { pointer, .. } | Verbatim::AttachRandom { pointer },
                ) if !out.iter().any(|(p, _)| p == pointer) => {
                    out.push((pointer.clone(), stmt.span));
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
    /// The POINTERs that are a Random's handle leave the list hhc must bind; one the idioms
    /// name that is not declared a POINTER is an error.
    pub(super) fn set_aside_random_handles(&mut self) {
        for (name, span) in random_handles(self.file) {
            let before = self.m.pointers.len();
            self.m.pointers.retain(|(p, _)| *p != name);
            if self.m.pointers.len() == before {
                self.err(
                    Diagnostic::error(
                        format!("VERBATIM reads `_p_{name}`, but `{name}` is not a POINTER"),
                        span,
                        "a hoc Random's handle",
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
    pub(super) fn exec_verbatim(&mut self, v: &Verbatim, stmt: &Stmt) {
        match v {
            Verbatim::Declarations | Verbatim::AttachRandom { .. } | Verbatim::ReturnZero => {}
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
}
