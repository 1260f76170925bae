//! Semantic analysis: names and units, from the AST to the IR.
//!
//! * [`lower_mechanism`]: a mechanism file (NMODL) to an [`ir::Mechanism`](crate::ir::Mechanism).
//! * [`model::lower_model`]: a model file (`CELL`, `SIMULATE`) to a [`model::Model`], resolving
//!   mechanisms by SUFFIX through a caller-supplied function, so this module does no I/O.
//!
//! Every user mistake becomes a [`Diagnostic`] with a span and, where one helps, a hint.

pub mod arrays;
pub mod asc;
pub mod mechanism;
pub mod model;
pub mod network;
pub mod swc;
pub mod units;

pub use mechanism::{lower_mechanism, lower_mechanism_as, Dialect};

use crate::diagnostic::Diagnostic;
use crate::syntax::ast;

#[derive(Default)]
pub struct Diags(Vec<Diagnostic>);

impl Diags {
    /// Adds `d`, unless the same diagnostic is already here: a FUNCTION or PROCEDURE is
    /// lowered at each call, and its errors are reported once.
    pub fn push(&mut self, d: Diagnostic) {
        if !self.0.contains(&d) {
            self.0.push(d);
        }
    }
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }
    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.0
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Drops the diagnostics after the first `len` (those of a block run a second time).
    pub fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }
}

/// The value of a literal, with an error when it does not fit an f64.
pub fn number_value(n: &ast::Number, diags: &mut Diags) -> f64 {
    let v: f64 = n.text.parse().unwrap_or(f64::NAN);
    let has_nonzero_digit = n
        .text
        .split(['e', 'E'])
        .next()
        .is_some_and(|m| m.chars().any(|c| ('1'..='9').contains(&c)));
    if !v.is_finite() || (v == 0.0 && has_nonzero_digit) {
        diags.push(
            Diagnostic::error(
                format!("number `{}` is outside the range of f64", n.text),
                n.span,
                "too large or too small",
            )
            .with_hint("f64 holds magnitudes between about 2.2e-308 and 1.8e308"),
        );
        return 0.0;
    }
    if n.negative {
        -v
    } else {
        v
    }
}

/// What kind of file an AST is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Mechanism,
    Model,
}

pub fn file_kind(file: &ast::File) -> FileKind {
    if file
        .items
        .iter()
        .any(|i| matches!(i, ast::Item::Cell(_) | ast::Item::Simulate(_)))
    {
        FileKind::Model
    } else {
        FileKind::Mechanism
    }
}
