//! Arrays and `FROM` loops, expanded before lowering: NMODL's arrays have sizes known when the
//! file is read (a number or a DEFINE), and the loops over them have bounds known then too, so
//! each array becomes its elements (`ca[0]` … `ca[9]`, ordinary names) and each loop its
//! iterations, with the loop variable a number in each. An element whose index is then a
//! constant is that element's name; what stays unknown until run time (a queue indexed by a
//! counter, a loop up to an ASSIGNED) is left for the lowering to refuse by name.

use super::number_value;
use crate::diagnostic::Diagnostic;
use crate::span::Span;
use crate::syntax::ast::{
    self, Block, Expr, ExprKind, File, Ident, Item, Species, Stmt, StmtKind, VarDecl,
};
use std::collections::HashMap;

/// How many statements unrolled loops may produce in one file: far above real files (cabpump's
/// 10 annuli), low enough that a typo in a bound cannot exhaust memory.
const MAX_UNROLLED: usize = 100_000;

/// `file` with its arrays expanded and its loops unrolled, and the errors found doing so.
pub fn expand(file: &File) -> (File, Vec<Diagnostic>) {
    let mut x = Expander {
        defines: HashMap::new(),
        arrays: HashMap::new(),
        diags: Vec::new(),
        unrolled: 0,
    };
    for item in &file.items {
        if let Item::Constant(decls) = item {
            for d in decls {
                if let Some(v) = &d.value {
                    let mut sink = super::Diags::default();
                    x.defines
                        .insert(d.name.name.clone(), number_value(v, &mut sink));
                }
            }
        }
    }
    // Declarations first: every block may use any array.
    let mut items = Vec::with_capacity(file.items.len());
    for item in &file.items {
        items.push(match item {
            Item::Parameter(d) => Item::Parameter(x.declarations(d)),
            Item::Assigned(d) => Item::Assigned(x.declarations(d)),
            Item::State(d) => Item::State(x.declarations(d)),
            Item::FileLocal(d) => Item::FileLocal(x.declarations(d)),
            other => other.clone(),
        });
    }
    let no_loops = HashMap::new();
    for item in &mut items {
        match item {
            Item::Initial(b) | Item::Breakpoint(b) => *b = x.block(b, &no_loops),
            Item::Derivative { body, .. }
            | Item::Kinetic { body, .. }
            | Item::Algebraic { body, .. }
            | Item::NetReceive { body, .. } => *body = x.block(body, &no_loops),
            Item::Function(c) | Item::Procedure(c) => c.body = x.block(&c.body, &no_loops),
            // `RANGE ca` and `GLOBAL vol` name every element of an array.
            Item::Neuron { stmts, .. } => {
                for st in stmts.iter_mut() {
                    if let ast::NeuronStmt::Range(ids) | ast::NeuronStmt::Global(ids) = st {
                        *ids = ids
                            .iter()
                            .flat_map(|id| match x.arrays.get(&id.name) {
                                Some(&n) => (0..n).map(|k| element(id, k)).collect(),
                                None => vec![id.clone()],
                            })
                            .collect();
                    }
                }
            }
            _ => {}
        }
    }
    (File { items }, x.diags)
}

struct Expander {
    /// DEFINEd constants.
    defines: HashMap<String, f64>,
    /// Each array's size, file-scope and block-scope alike (NMODL's names are file-unique in
    /// practice; a LOCAL array's size is recorded where it is declared).
    arrays: HashMap<String, usize>,
    diags: Vec<Diagnostic>,
    unrolled: usize,
}

impl Expander {
    /// The size written in `[…]`: a whole number, or a DEFINE of one.
    fn size(&mut self, text: &str, span: Span) -> Option<usize> {
        let value = text
            .parse::<f64>()
            .ok()
            .or_else(|| self.defines.get(text).copied());
        match value {
            Some(v) if v >= 1.0 && v.fract() == 0.0 && v <= MAX_UNROLLED as f64 => Some(v as usize),
            _ => {
                self.diags.push(
                    Diagnostic::error(
                        format!("array size `{text}` is not a whole number hhc can use"),
                        span,
                        "size here",
                    )
                    .with_hint(
                        "write a positive whole number, or a DEFINE of one (`DEFINE NANN 10`)",
                    ),
                );
                None
            }
        }
    }

    fn declarations(&mut self, decls: &[VarDecl]) -> Vec<VarDecl> {
        let mut out = Vec::new();
        for d in decls {
            let Some((text, span)) = &d.array else {
                out.push(d.clone());
                continue;
            };
            let Some(n) = self.size(text, *span) else {
                out.push(VarDecl {
                    array: None,
                    ..d.clone()
                });
                continue;
            };
            self.arrays.insert(d.name.name.clone(), n);
            out.extend((0..n).map(|k| VarDecl {
                name: element(&d.name, k),
                array: None,
                ..d.clone()
            }));
        }
        out
    }

    fn block(&mut self, b: &Block, loops: &HashMap<String, f64>) -> Block {
        let mut stmts = Vec::with_capacity(b.stmts.len());
        for s in &b.stmts {
            self.stmt(s, loops, &mut stmts);
        }
        Block {
            stmts,
            span: b.span,
        }
    }

    fn stmt(&mut self, s: &Stmt, loops: &HashMap<String, f64>, out: &mut Vec<Stmt>) {
        let span = s.span;
        let kind = match &s.kind {
            StmtKind::Assign { target, value } => StmtKind::Assign {
                target: target.clone(),
                value: self.expr(value, loops),
            },
            StmtKind::Derivative { state, value } => StmtKind::Derivative {
                state: state.clone(),
                value: self.expr(value, loops),
            },
            StmtKind::AssignElement {
                target,
                index,
                value,
                derivative,
            } => {
                let value = self.expr(value, loops);
                match self.element_of(target, index, loops) {
                    Some(name) if *derivative => StmtKind::Derivative { state: name, value },
                    Some(name) => StmtKind::Assign {
                        target: name,
                        value,
                    },
                    None => StmtKind::AssignElement {
                        target: target.clone(),
                        index: self.expr(index, loops),
                        value,
                        derivative: *derivative,
                    },
                }
            }
            StmtKind::If {
                cond,
                then,
                otherwise,
            } => StmtKind::If {
                cond: self.expr(cond, loops),
                then: self.block(then, loops),
                otherwise: otherwise.as_ref().map(|o| self.block(o, loops)),
            },
            StmtKind::While { cond, body } => StmtKind::While {
                cond: self.expr(cond, loops),
                body: self.block(body, loops),
            },
            StmtKind::Call(e) => StmtKind::Call(self.expr(e, loops)),
            StmtKind::Reaction { lhs, rhs, rates } => StmtKind::Reaction {
                lhs: lhs.iter().map(|t| self.species(t, loops)).collect(),
                rhs: rhs.iter().map(|t| self.species(t, loops)).collect(),
                rates: rates.iter().map(|r| self.expr(r, loops)).collect(),
            },
            StmtKind::Conserve { lhs, rhs } => StmtKind::Conserve {
                lhs: lhs.iter().map(|t| self.species(t, loops)).collect(),
                rhs: self.expr(rhs, loops),
            },
            StmtKind::Equation { lhs, rhs } => StmtKind::Equation {
                lhs: self.expr(lhs, loops),
                rhs: self.expr(rhs, loops),
            },
            StmtKind::LocalArrays(names) => {
                let mut idents = Vec::new();
                for (name, size) in names {
                    match size.as_ref().and_then(|(t, sp)| self.size(t, *sp)) {
                        Some(n) => {
                            self.arrays.insert(name.name.clone(), n);
                            idents.extend((0..n).map(|k| element(name, k)));
                        }
                        None => idents.push(name.clone()),
                    }
                }
                StmtKind::Local(idents)
            }
            StmtKind::Block(b) => StmtKind::Block(self.block(b, loops)),
            StmtKind::Initial(b) => StmtKind::Initial(self.block(b, loops)),
            StmtKind::ForNetcons { args, body } => StmtKind::ForNetcons {
                args: args.clone(),
                body: self.block(body, loops),
            },
            // One COMPARTMENT per element, with the index its value.
            StmtKind::Compartment {
                index: Some(var),
                volume,
                states,
            } => {
                for name in states {
                    let n = self.arrays.get(&name.name).copied().unwrap_or(0);
                    for k in 0..n {
                        let mut inner = loops.clone();
                        inner.insert(var.name.clone(), k as f64);
                        out.push(Stmt {
                            kind: StmtKind::Compartment {
                                index: None,
                                volume: self.expr(volume, &inner),
                                states: vec![element(name, k)],
                            },
                            span,
                        });
                    }
                    if n == 0 {
                        out.push(Stmt {
                            kind: StmtKind::Compartment {
                                index: None,
                                volume: self.expr(volume, loops),
                                states: vec![name.clone()],
                            },
                            span,
                        });
                    }
                }
                return;
            }
            StmtKind::Compartment {
                index: None,
                volume,
                states,
            } => StmtKind::Compartment {
                index: None,
                volume: self.expr(volume, loops),
                states: states.clone(),
            },
            StmtKind::From {
                var,
                from,
                to,
                by,
                body,
            } => {
                self.unroll(var, from, to, by.as_ref(), body, loops, out);
                return;
            }
            // `TABLE inf, tau …` of arrays tabulates every element.
            StmtKind::Table {
                names,
                depend,
                from,
                to,
                with,
            } => StmtKind::Table {
                names: names
                    .iter()
                    .flat_map(|id| match self.arrays.get(&id.name) {
                        Some(&n) => (0..n).map(|k| element(id, k)).collect(),
                        None => vec![id.clone()],
                    })
                    .collect(),
                depend: depend.clone(),
                from: from.clone(),
                to: to.clone(),
                with: with.clone(),
            },
            other => other.clone(),
        };
        out.push(Stmt { kind, span });
    }

    /// `FROM var = from TO to BY by { body }`: one block per value, `to` included, as NEURON
    /// runs it.
    #[allow(clippy::too_many_arguments)]
    fn unroll(
        &mut self,
        var: &Ident,
        from: &Expr,
        to: &Expr,
        by: Option<&Expr>,
        body: &Block,
        loops: &HashMap<String, f64>,
        out: &mut Vec<Stmt>,
    ) {
        let one = 1.0;
        let bounds = (
            self.constant(from, loops),
            self.constant(to, loops),
            by.map_or(Some(one), |b| self.constant(b, loops)),
        );
        let (Some(a), Some(b), Some(step)) = bounds else {
            out.push(Stmt {
                kind: StmtKind::Unsupported {
                    what: "a FROM loop whose bounds are known only at run time",
                    keyword: var.span,
                },
                span: var.span,
            });
            return;
        };
        let count = if step == 0.0 || (b - a) / step < 0.0 {
            0.0
        } else {
            ((b - a) / step).floor() + 1.0
        };
        if !(step.fract() == 0.0 && a.fract() == 0.0) || count > MAX_UNROLLED as f64 {
            self.diags.push(
                Diagnostic::error(
                    "this FROM loop cannot be unrolled",
                    var.span,
                    "loop variable",
                )
                .with_hint(format!(
                    "hhc unrolls FROM loops with whole-number bounds and steps, at most {MAX_UNROLLED} iterations"
                )),
            );
            return;
        }
        for k in 0..count as usize {
            if self.unrolled > MAX_UNROLLED {
                return; // reported once, where the limit was passed
            }
            self.unrolled += body.stmts.len();
            if self.unrolled > MAX_UNROLLED {
                self.diags.push(
                    Diagnostic::error(
                        "FROM loops unroll into too many statements",
                        var.span,
                        "here",
                    )
                    .with_hint(format!(
                        "hhc unrolls at most {MAX_UNROLLED} statements per file"
                    )),
                );
                return;
            }
            let mut inner = loops.clone();
            inner.insert(var.name.clone(), a + step * k as f64);
            let block = self.block(body, &inner);
            out.push(Stmt {
                span: block.span,
                kind: StmtKind::Block(block),
            });
        }
    }

    fn species(&mut self, t: &Species, loops: &HashMap<String, f64>) -> Species {
        match &t.index {
            Some(index) => match self.element_of(&t.name, index, loops) {
                Some(name) => Species {
                    coef: t.coef.clone(),
                    name,
                    index: None,
                },
                None => Species {
                    index: Some(self.expr(index, loops)),
                    ..t.clone()
                },
            },
            None => t.clone(),
        }
    }

    /// The element `name[index]` when the index is a constant: its name, or an error when it
    /// is out of range. `None` when the index is known only at run time (or `name` is not an
    /// array, which the lowering reports).
    fn element_of(
        &mut self,
        name: &Ident,
        index: &Expr,
        loops: &HashMap<String, f64>,
    ) -> Option<Ident> {
        let n = *self.arrays.get(&name.name)?;
        let k = self.constant(index, loops)?;
        if k.fract() != 0.0 || k < 0.0 || k >= n as f64 {
            self.diags.push(
                Diagnostic::error(
                    format!(
                        "index {k} is outside `{}`, which has {n} elements",
                        name.name
                    ),
                    index.span,
                    "index here",
                )
                .with_hint(format!("indices run from 0 to {}", n - 1)),
            );
            return Some(element(name, 0));
        }
        Some(element(name, k as usize))
    }

    /// The value of `e` if it is made of numbers, DEFINEs and loop variables.
    fn constant(&self, e: &Expr, loops: &HashMap<String, f64>) -> Option<f64> {
        match &e.kind {
            ExprKind::Number(text) => text.parse().ok(),
            ExprKind::Name(n) => loops.get(n).or_else(|| self.defines.get(n)).copied(),
            ExprKind::Unary {
                op: ast::UnaryOp::Neg,
                operand,
            } => self.constant(operand, loops).map(|x| -x),
            ExprKind::Binary { op, lhs, rhs } => {
                let (a, b) = (self.constant(lhs, loops)?, self.constant(rhs, loops)?);
                match op {
                    ast::BinaryOp::Add => Some(a + b),
                    ast::BinaryOp::Sub => Some(a - b),
                    ast::BinaryOp::Mul => Some(a * b),
                    ast::BinaryOp::Div if b != 0.0 => Some(a / b),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// `e` with loop variables replaced by their values and constant-index elements by their
    /// names.
    fn expr(&mut self, e: &Expr, loops: &HashMap<String, f64>) -> Expr {
        let kind = match &e.kind {
            ExprKind::Name(n) => match loops.get(n) {
                Some(v) => ExprKind::Number(format!("{v}")),
                None => ExprKind::Name(n.clone()),
            },
            ExprKind::Index { name, index } => match self.element_of(name, index, loops) {
                Some(element) => ExprKind::Name(element.name),
                None => ExprKind::Index {
                    name: name.clone(),
                    index: Box::new(self.expr(index, loops)),
                },
            },
            ExprKind::Call { name, args } => ExprKind::Call {
                name: name.clone(),
                args: args.iter().map(|a| self.expr(a, loops)).collect(),
            },
            ExprKind::Unary { op, operand } => ExprKind::Unary {
                op: *op,
                operand: Box::new(self.expr(operand, loops)),
            },
            ExprKind::Binary { op, lhs, rhs } => ExprKind::Binary {
                op: *op,
                lhs: Box::new(self.expr(lhs, loops)),
                rhs: Box::new(self.expr(rhs, loops)),
            },
            ExprKind::WithUnit { value, unit } => ExprKind::WithUnit {
                value: Box::new(self.expr(value, loops)),
                unit: unit.clone(),
            },
            other => other.clone(),
        };
        Expr { kind, span: e.span }
    }
}

/// The name of element `k` of array `name`: `ca[3]`.
fn element(name: &Ident, k: usize) -> Ident {
    Ident {
        name: format!("{}[{k}]", name.name),
        span: name.span,
    }
}
