//! Folding constructors: every pass builds expressions through these, so constants fold and the
//! algebraic identities below hold on construction. Together with hash-consing in the arena this
//! is the compiler's constant folding, simplification and common-subexpression elimination.
//!
//! Identities applied (all exact in IEEE arithmetic for finite values):
//! `x+0 = x`, `x-0 = x`, `0-x = -x`, `x*1 = x`, `x*0 = 0`, `x/1 = x`, `0/x = 0`, `--x = x`,
//! `x-x = 0`, `(-a)/(-b) = a/b`, `x^0 = 1`, `x^1 = x`, small integer powers become products.

use crate::ir::interp;
use crate::ir::{BinaryOp, Expr, ExprArena, ExprId, Table, TableId, UnaryOp};
use crate::span::Span;

pub struct Builder<'a> {
    pub arena: &'a mut ExprArena,
    pub span: Span,
}

#[allow(clippy::should_implement_trait)] // builder methods named after the operation they fold
impl<'a> Builder<'a> {
    pub fn new(arena: &'a mut ExprArena) -> Self {
        Builder {
            arena,
            span: Span::default(),
        }
    }

    fn lit_of(&self, e: ExprId) -> Option<f64> {
        self.arena.get(e).as_lit()
    }

    pub fn lit(&mut self, v: f64) -> ExprId {
        self.arena.lit(v)
    }

    pub fn unary(&mut self, op: UnaryOp, a: ExprId) -> ExprId {
        if let Some(x) = self.lit_of(a) {
            if op != UnaryOp::Not {
                return self.lit(interp::unary(op, x));
            }
        }
        if op == UnaryOp::Neg {
            if let Expr::Unary(UnaryOp::Neg, inner) = *self.arena.get(a) {
                return inner;
            }
        }
        self.arena.add(Expr::Unary(op, a), self.span)
    }

    pub fn neg(&mut self, a: ExprId) -> ExprId {
        self.unary(UnaryOp::Neg, a)
    }

    pub fn binary(&mut self, op: BinaryOp, a: ExprId, b: ExprId) -> ExprId {
        let (la, lb) = (self.lit_of(a), self.lit_of(b));
        if let (Some(x), Some(y)) = (la, lb) {
            if !op.is_comparison() && !op.is_logic() {
                return self.lit(interp::binary(op, x, y));
            }
        }
        match op {
            BinaryOp::Add => {
                if la == Some(0.0) {
                    return b;
                }
                if lb == Some(0.0) {
                    return a;
                }
                if let Expr::Unary(UnaryOp::Neg, nb) = *self.arena.get(b) {
                    return self.binary(BinaryOp::Sub, a, nb);
                }
            }
            BinaryOp::Sub => {
                if lb == Some(0.0) {
                    return a;
                }
                if la == Some(0.0) {
                    return self.neg(b);
                }
                if a == b {
                    return self.lit(0.0);
                }
                if let Expr::Unary(UnaryOp::Neg, nb) = *self.arena.get(b) {
                    return self.binary(BinaryOp::Add, a, nb);
                }
            }
            BinaryOp::Mul => {
                if la == Some(0.0) || lb == Some(0.0) {
                    return self.lit(0.0);
                }
                if la == Some(1.0) {
                    return b;
                }
                if lb == Some(1.0) {
                    return a;
                }
                if la == Some(-1.0) {
                    return self.neg(b);
                }
                if lb == Some(-1.0) {
                    return self.neg(a);
                }
                // Keep literals on the left: `2*x` and `x*2` share one node.
                if lb.is_some() && la.is_none() {
                    return self.binary(BinaryOp::Mul, b, a);
                }
            }
            BinaryOp::Div => {
                if lb == Some(1.0) {
                    return a;
                }
                if la == Some(0.0) {
                    return self.lit(0.0);
                }
                if let (Expr::Unary(UnaryOp::Neg, na), Expr::Unary(UnaryOp::Neg, nb)) =
                    (*self.arena.get(a), *self.arena.get(b))
                {
                    return self.binary(BinaryOp::Div, na, nb);
                }
            }
            BinaryOp::Pow => {
                if lb == Some(0.0) {
                    return self.lit(1.0);
                }
                if lb == Some(1.0) {
                    return a;
                }
                if let Some(n) = lb {
                    if n == n.trunc() && (2.0..=8.0).contains(&n.abs()) {
                        return self.powi(a, n as i32);
                    }
                }
            }
            _ => {}
        }
        self.arena.add(Expr::Binary(op, a, b), self.span)
    }

    /// `a^n` for a small integer `n`, by repeated squaring.
    pub fn powi(&mut self, a: ExprId, n: i32) -> ExprId {
        let mut result = self.lit(1.0);
        let mut base = a;
        let mut k = n.unsigned_abs();
        while k > 0 {
            if k & 1 == 1 {
                result = self.mul(result, base);
            }
            k >>= 1;
            if k > 0 {
                base = self.mul(base, base);
            }
        }
        if n < 0 {
            let one = self.lit(1.0);
            self.div(one, result)
        } else {
            result
        }
    }

    pub fn add(&mut self, a: ExprId, b: ExprId) -> ExprId {
        self.binary(BinaryOp::Add, a, b)
    }
    pub fn sub(&mut self, a: ExprId, b: ExprId) -> ExprId {
        self.binary(BinaryOp::Sub, a, b)
    }
    pub fn mul(&mut self, a: ExprId, b: ExprId) -> ExprId {
        self.binary(BinaryOp::Mul, a, b)
    }
    pub fn div(&mut self, a: ExprId, b: ExprId) -> ExprId {
        self.binary(BinaryOp::Div, a, b)
    }

    pub fn fma(&mut self, a: ExprId, b: ExprId, c: ExprId) -> ExprId {
        self.arena.add(Expr::Fma(a, b, c), self.span)
    }

    pub fn select(&mut self, c: ExprId, a: ExprId, b: ExprId) -> ExprId {
        if a == b {
            return a;
        }
        // A comparison of two literals picks its branch now.
        if let Expr::Binary(op, x, y) = *self.arena.get(c) {
            if let (true, Some(x), Some(y)) = (op.is_comparison(), self.lit_of(x), self.lit_of(y)) {
                return if interp::binary(op, x, y) != 0.0 {
                    a
                } else {
                    b
                };
            }
        }
        self.arena.add(Expr::Select(c, a, b), self.span)
    }

    /// Entry `⌊index⌋` of table `t`; read now when the index is a literal and the table's
    /// values are known.
    pub fn table_entry(&mut self, t: TableId, index: ExprId) -> ExprId {
        if let (Some(x), Table::Values(values)) = (self.lit_of(index), self.arena.table(t)) {
            let v = values[crate::ir::table_index(x, values.len())];
            return self.lit(v);
        }
        self.arena.add(Expr::TableEntry(t, index), self.span)
    }

    pub fn is_zero(&self, e: ExprId) -> bool {
        self.lit_of(e) == Some(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Builtin, Var};

    #[test]
    fn select_on_literal_comparison_picks_its_branch() {
        let mut arena = ExprArena::new();
        let mut b = Builder::new(&mut arena);
        let v = b.arena.var(Var::Builtin(Builtin::V));
        let (zero, z) = (b.lit(0.0), b.lit(-0.0025));
        let one = b.lit(1.0);
        let is_zero = b.binary(BinaryOp::Eq, z, zero);
        assert_eq!(b.select(is_zero, one, v), v);
        let is_neg = b.binary(BinaryOp::Lt, z, zero);
        assert_eq!(b.select(is_neg, one, v), one);
        // A varying condition stays a select.
        let varying = b.binary(BinaryOp::Lt, v, zero);
        let kept = b.select(varying, one, v);
        assert!(matches!(b.arena.get(kept), Expr::Select(..)));
    }

    #[test]
    fn folds_and_shares() {
        let mut arena = ExprArena::new();
        let mut b = Builder::new(&mut arena);
        let v = b.arena.var(Var::Builtin(Builtin::V));
        let two = b.lit(2.0);
        let three = b.lit(3.0);
        let six = b.mul(two, three);
        assert_eq!(b.arena.get(six).as_lit(), Some(6.0));
        let x1 = b.mul(v, two);
        let x2 = b.mul(two, v);
        assert_eq!(x1, x2);
        let zero = b.sub(x1, x2);
        assert!(b.is_zero(zero));
        let nn = b.neg(v);
        let nnn = b.neg(nn);
        assert_eq!(nnn, v);
    }
}
