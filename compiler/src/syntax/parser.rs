//! The chumsky grammar of `.chan` files.
//!
//! Naming follows Gleam's parser: `x_parser()` builds the combinator for construct `x`; `kw`
//! matches a keyword; `ident` matches any non-keyword identifier.
//!
//! Keywords are lexed as identifiers and recognised here, so a unit such as `(mV)` and an
//! expression `(v + 40)` share their tokens; the grammar knows which one a position expects.
//! Precedence, lowest first: `||`, `&&`, comparisons, `+ -`, `* /`, unary `- !`, `^` (right
//! associative, so `-x^2` is `-(x^2)` and `a^b^c` is `a^(b^c)`).

use super::ast::*;
use super::token::Token;
use crate::span::Span;
use chumsky::input::ValueInput;
use chumsky::prelude::*;

pub(super) type Extra<'t, 's> = extra::Err<Rich<'t, Token<'s>, SimpleSpan>>;

fn sp(s: SimpleSpan) -> Span {
    Span::new(s.start, s.end)
}

/// Words that start blocks or statements and so cannot name variables.
pub const KEYWORDS: &[&str] = &[
    "TITLE",
    "UNITS",
    "NEURON",
    "SUFFIX",
    "POINT_PROCESS",
    "ARTIFICIAL_CELL",
    "USEION",
    "READ",
    "WRITE",
    "VALENCE",
    "NONSPECIFIC_CURRENT",
    "ELECTRODE_CURRENT",
    "RANGE",
    "RANDOM",
    "GLOBAL",
    "POINTER",
    "BBCOREPOINTER",
    "THREADSAFE",
    "PARAMETER",
    "CONSTANT",
    "ASSIGNED",
    "STATE",
    "INITIAL",
    "BREAKPOINT",
    "SOLVE",
    "METHOD",
    "STEADYSTATE",
    "DERIVATIVE",
    "KINETIC",
    "LINEAR",
    "NONLINEAR",
    "FUNCTION",
    "PROCEDURE",
    "FUNCTION_TABLE",
    "NET_RECEIVE",
    "INDEPENDENT",
    "LOCAL",
    "DEFINE",
    "if",
    "while",
    "else",
    "UNITSON",
    "UNITSOFF",
    "TABLE",
    "DEPEND",
    "FROM",
    "TO",
    "WITH",
    "CONSERVE",
    "CELL",
    "SIMULATE",
    "ION",
    "INSERT",
];

pub fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word)
}

pub(super) fn kw<'t, 's: 't, I>(
    word: &'static str,
) -> impl Parser<'t, I, Span, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    select! { Token::Ident(w) if w == word => () }
        .map_with(|_, e| sp(e.span()))
        .labelled(word)
}

pub(super) fn ident<'t, 's: 't, I>() -> impl Parser<'t, I, Ident, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    select! { Token::Ident(w) if !is_keyword(w) => w }
        .map_with(|w, e| Ident {
            name: w.to_string(),
            span: sp(e.span()),
        })
        .labelled("name")
}

fn ident_list<'t, 's: 't, I>() -> impl Parser<'t, I, Vec<Ident>, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    ident()
        .separated_by(just(Token::Comma).or_not())
        .at_least(1)
        .collect()
}

fn number<'t, 's: 't, I>() -> impl Parser<'t, I, Number, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    just(Token::Minus)
        .or(just(Token::Plus))
        .or_not()
        .then(select! { Token::Number(n) => n })
        .map_with(|(sign, n), e| Number {
            text: n.to_string(),
            negative: sign == Some(Token::Minus),
            span: sp(e.span()),
        })
        .labelled("number")
}

/// A unit in parentheses: `(mV)`, `(/ms)`, `(mA/cm2)`, `(k-mole)`, `(1)`.
fn unit<'t, 's: 't, I>() -> impl Parser<'t, I, Unit, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    let piece = select! {
        Token::Ident(s) => s,
        Token::Number(s) => s,
        Token::Slash => "/",
        Token::Star => "*",
        Token::Minus => "-",
        Token::Plus => "+",
        Token::Caret => "^",
    };
    piece
        .repeated()
        .at_least(1)
        .collect::<Vec<&str>>()
        .delimited_by(just(Token::LParen), just(Token::RParen))
        .map_with(|parts, e| {
            // Two words in a row multiply: `(ohm cm)` is ohm·cm, not one word `ohmcm`.
            let mut text = String::new();
            let wordy = |p: &str| p.chars().next().is_some_and(|c| c.is_alphabetic());
            for (i, p) in parts.iter().enumerate() {
                if i > 0 && wordy(p) && wordy(parts[i - 1]) {
                    text.push(' ');
                }
                text.push_str(p);
            }
            Unit {
                text,
                span: sp(e.span()),
            }
        })
        .labelled("unit")
}

/// `value` with the unit written after it (`41.4(mV)`, `(v - e) (mV)`), if any.
fn with_unit(value: Expr, unit: Option<Unit>, span: Span) -> Expr {
    match unit {
        Some(unit) => Expr {
            kind: ExprKind::WithUnit {
                value: Box::new(value),
                unit,
            },
            span,
        },
        None => value,
    }
}

pub(super) fn expr_parser<'t, 's: 't, I>() -> impl Parser<'t, I, Expr, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    recursive(|expr| {
        let args = expr
            .clone()
            .separated_by(just(Token::Comma))
            .collect::<Vec<Expr>>()
            .delimited_by(just(Token::LParen), just(Token::RParen));
        let call = ident().then(args).map_with(|(name, args), e| Expr {
            kind: ExprKind::Call { name, args },
            span: sp(e.span()),
        });
        // A number may carry its unit right after it, as NEURON files write `41.4(mV)` and
        // `0.004(/mM)`: a number cannot be called, so the parentheses can only be a unit.
        let num = select! { Token::Number(n) => n }
            .map_with(|n, e| Expr {
                kind: ExprKind::Number(n.to_string()),
                span: sp(e.span()),
            })
            .then(unit().or_not())
            .map_with(|(number, unit), e| with_unit(number, unit, sp(e.span())));
        let name = ident().map(|i| Expr {
            kind: ExprKind::Name(i.name),
            span: i.span,
        });
        let element = ident()
            .then(
                expr.clone()
                    .delimited_by(just(Token::LBracket), just(Token::RBracket)),
            )
            .map_with(|(name, index), e| Expr {
                kind: ExprKind::Index {
                    name,
                    index: Box::new(index),
                },
                span: sp(e.span()),
            });
        let paren = expr
            .clone()
            .then(unit().or_not())
            .delimited_by(just(Token::LParen), just(Token::RParen))
            .map_with(|(inner, unit), e| with_unit(inner, unit, sp(e.span())));
        let atom = choice((num, call, element, name, paren))
            .recover_with(via_parser(nested_delimiters(
                Token::LParen,
                Token::RParen,
                [(Token::LBrace, Token::RBrace)],
                |s| Expr {
                    kind: ExprKind::Error,
                    span: sp(s),
                },
            )))
            .labelled("expression")
            .boxed();

        let unary = recursive(|unary| {
            let power = atom
                .clone()
                .then(just(Token::Caret).ignore_then(unary.clone()).or_not())
                .map_with(|(base, exp), e| match exp {
                    Some(exp) => binary(BinaryOp::Pow, base, exp, sp(e.span())),
                    None => base,
                });
            let prefix = just(Token::Minus)
                .to(Some(UnaryOp::Neg))
                .or(just(Token::Not).to(Some(UnaryOp::Not)))
                .or(just(Token::Plus).to(None));
            prefix
                .then(unary)
                .map_with(|(op, operand): (Option<UnaryOp>, Expr), e| match op {
                    Some(op) => Expr {
                        kind: ExprKind::Unary {
                            op,
                            operand: Box::new(operand),
                        },
                        span: sp(e.span()),
                    },
                    None => operand,
                })
                .or(power)
                .boxed()
        })
        .boxed();

        let level = |ops: Vec<(Token<'s>, BinaryOp)>,
                     next: Boxed<'t, 't, I, Expr, Extra<'t, 's>>| {
            let table = ops.clone();
            let op = any()
                .filter(move |t: &Token<'s>| table.iter().any(|(tok, _)| tok == t))
                .map(move |t: Token<'s>| {
                    ops.iter()
                        .find(|(tok, _)| *tok == t)
                        .map_or(BinaryOp::Add, |(_, op)| *op)
                });
            next.clone()
                .foldl_with(op.then(next).repeated(), |a, (op, b), e| {
                    binary(op, a, b, sp(e.span()))
                })
                .boxed()
        };
        let product = level(
            vec![(Token::Star, BinaryOp::Mul), (Token::Slash, BinaryOp::Div)],
            unary,
        );
        let sum = level(
            vec![(Token::Plus, BinaryOp::Add), (Token::Minus, BinaryOp::Sub)],
            product,
        );
        let compare = level(
            vec![
                (Token::Lt, BinaryOp::Lt),
                (Token::Le, BinaryOp::Le),
                (Token::Gt, BinaryOp::Gt),
                (Token::Ge, BinaryOp::Ge),
                (Token::Eq, BinaryOp::Eq),
                (Token::Ne, BinaryOp::Ne),
            ],
            sum,
        );
        let and = level(vec![(Token::And, BinaryOp::And)], compare);
        level(vec![(Token::Or, BinaryOp::Or)], and)
    })
}

fn binary(op: BinaryOp, lhs: Expr, rhs: Expr, span: Span) -> Expr {
    Expr {
        kind: ExprKind::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        },
        span,
    }
}

pub(super) fn block_parser<'t, 's: 't, I>() -> impl Parser<'t, I, Block, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    recursive(|block| {
        let expr = expr_parser().boxed();
        let stmt_block = block.clone().map(StmtKind::Block);
        let derivative = ident()
            .then_ignore(just(Token::Prime))
            .then_ignore(just(Token::Assign))
            .then(expr.clone())
            .map(|(state, value)| StmtKind::Derivative { state, value });
        let assign = ident()
            .then_ignore(just(Token::Assign))
            .then(expr.clone())
            .map(|(target, value)| StmtKind::Assign { target, value });
        let call = expr.clone().try_map(|e: Expr, span| match e.kind {
            ExprKind::Call { .. } => Ok(StmtKind::Call(e)),
            _ => Err(Rich::custom(span, "expected a statement")),
        });
        let if_stmt = recursive(|if_stmt| {
            kw("if")
                .ignore_then(
                    expr.clone()
                        .delimited_by(just(Token::LParen), just(Token::RParen)),
                )
                .then(block.clone())
                .then(
                    kw("else")
                        .ignore_then(block.clone().or(if_stmt.map_with(|kind, e| Block {
                            stmts: vec![Stmt {
                                kind,
                                span: sp(e.span()),
                            }],
                            span: sp(e.span()),
                        })))
                        .or_not(),
                )
                .map(|((cond, then), otherwise)| StmtKind::If {
                    cond,
                    then,
                    otherwise,
                })
        });
        let while_stmt = kw("while")
            .ignore_then(
                expr.clone()
                    .delimited_by(just(Token::LParen), just(Token::RParen)),
            )
            .then(block.clone())
            .map(|(cond, body)| StmtKind::While { cond, body });
        let local = kw("LOCAL")
            .ignore_then(
                ident()
                    .then(array_size().or_not())
                    .separated_by(just(Token::Comma))
                    .at_least(1)
                    .collect::<Vec<_>>(),
            )
            .map(|names: Vec<(Ident, Option<(String, Span)>)>| {
                if names.iter().any(|(_, size)| size.is_some()) {
                    StmtKind::LocalArrays(names)
                } else {
                    StmtKind::Local(names.into_iter().map(|(n, _)| n).collect())
                }
            });
        // `x[i] = …`, and an element's derivative `x'[i] = …` (NMODL's spelling; `x[i]' = …`
        // is read too).
        let element_assign = ident()
            .then(just(Token::Prime).or_not())
            .then(
                expr.clone()
                    .delimited_by(just(Token::LBracket), just(Token::RBracket)),
            )
            .then(just(Token::Prime).or_not())
            .then_ignore(just(Token::Assign))
            .then(expr.clone())
            .map(
                |((((target, before), index), after), value)| StmtKind::AssignElement {
                    target,
                    index,
                    value,
                    derivative: before.is_some() || after.is_some(),
                },
            );
        let solve = kw("SOLVE")
            .ignore_then(ident())
            .then(
                kw("METHOD")
                    .or(kw("STEADYSTATE"))
                    .ignore_then(ident())
                    .or_not(),
            )
            .map(|(block, method)| StmtKind::Solve { block, method });
        let table = kw("TABLE")
            .ignore_then(ident().separated_by(just(Token::Comma)).collect::<Vec<_>>())
            .then(kw("DEPEND").ignore_then(ident_list()).or_not())
            .then_ignore(kw("FROM"))
            .then(expr.clone())
            .then_ignore(kw("TO"))
            .then(expr.clone())
            .then_ignore(kw("WITH"))
            .then(expr.clone())
            .map(|((((names, depend), from), to), with)| StmtKind::Table {
                names,
                depend: depend.unwrap_or_default(),
                from,
                to,
                with,
            });
        let term = select! { Token::Number(n) => n }
            .map_with(|n, e| Number {
                text: n.to_string(),
                negative: false,
                span: sp(e.span()),
            })
            .or_not()
            .then(ident())
            .then(
                expr.clone()
                    .delimited_by(just(Token::LBracket), just(Token::RBracket))
                    .or_not(),
            )
            .map(|((coef, name), index)| Species { coef, name, index });
        let terms = term
            .clone()
            .separated_by(just(Token::Plus))
            .at_least(1)
            .collect::<Vec<_>>();
        let rates = expr
            .clone()
            .separated_by(just(Token::Comma))
            .collect::<Vec<_>>()
            .delimited_by(just(Token::LParen), just(Token::RParen));
        let reaction = just(Token::Tilde)
            .ignore_then(terms.clone())
            .then_ignore(
                just(Token::BothWays)
                    .or(just(Token::Arrow))
                    .or(just(Token::Shl)),
            )
            .then(terms.clone().or_not().map(Option::unwrap_or_default))
            .then(rates)
            .map(|((lhs, rhs), rates)| StmtKind::Reaction { lhs, rhs, rates });
        let conserve = kw("CONSERVE")
            .ignore_then(
                term.clone()
                    .separated_by(just(Token::Plus))
                    .at_least(1)
                    .collect::<Vec<_>>(),
            )
            .then_ignore(just(Token::Assign))
            .then(expr.clone())
            .map(|(lhs, rhs)| StmtKind::Conserve { lhs, rhs });
        let units = kw("UNITSON")
            .to(StmtKind::UnitsToggle { on: true })
            .or(kw("UNITSOFF").to(StmtKind::UnitsToggle { on: false }));
        // What the C means, where it is an idiom hhc reads (`syntax::verbatim`).
        let verbatim = select! {
            Token::Verbatim(body) => StmtKind::Verbatim(crate::syntax::verbatim::classify(body)),
        };
        // Parsed so that a real file gets one diagnostic naming what hhc does not run yet.
        let equation = just(Token::Tilde)
            .ignore_then(expr.clone())
            .then_ignore(just(Token::Assign))
            .then(expr.clone())
            .map(|(lhs, rhs)| StmtKind::Equation { lhs, rhs });
        let index = ident().then_ignore(just(Token::Comma));
        // `COMPARTMENT vol {a b}`, or `COMPARTMENT i, vol[i] {ca}` over an array's elements.
        let volumes = kw("COMPARTMENT")
            .ignore_then(index.clone().or_not())
            .then(expr.clone())
            .then(
                ident()
                    .repeated()
                    .collect::<Vec<_>>()
                    .delimited_by(just(Token::LBrace), just(Token::RBrace)),
            )
            .map(|((index, volume), states)| StmtKind::Compartment {
                index,
                volume,
                states,
            });
        let compartment = kw("LONGITUDINAL_DIFFUSION")
            .to("LONGITUDINAL_DIFFUSION")
            .map_with(|what, e| (what, sp(e.span())))
            .then_ignore(index.or_not())
            .then_ignore(expr.clone().or_not())
            .then_ignore(
                ident()
                    .repeated()
                    .delimited_by(just(Token::LBrace), just(Token::RBrace)),
            )
            .map(|(what, keyword)| StmtKind::Unsupported { what, keyword });
        let from_loop = kw("FROM")
            .ignore_then(ident())
            .then_ignore(just(Token::Assign))
            .then(expr.clone())
            .then_ignore(kw("TO"))
            .then(expr.clone())
            .then(kw("BY").ignore_then(expr.clone()).or_not())
            .then(block.clone())
            .map(|((((var, from), to), by), body)| StmtKind::From {
                var,
                from,
                to,
                by,
                body,
            });

        // `WATCH (v > vpeak) 2, (x < 0) 3`: the flag follows the parenthesised condition.
        let watch = kw("WATCH")
            .ignore_then(
                expr.clone()
                    .delimited_by(just(Token::LParen), just(Token::RParen))
                    .then(expr.clone())
                    .separated_by(just(Token::Comma))
                    .at_least(1)
                    .collect::<Vec<_>>(),
            )
            .map(StmtKind::Watch);
        let print = select! { Token::Ident("printf") => () }
            .ignore_then(
                select! { Token::Str(_) => () }
                    .or(expr.clone().ignored())
                    .separated_by(just(Token::Comma))
                    .collect::<Vec<()>>()
                    .delimited_by(just(Token::LParen), just(Token::RParen)),
            )
            .to(StmtKind::Print);
        let for_netcons = kw("FOR_NETCONS")
            .ignore_then(args_decl())
            .then(block.clone())
            .map(|(args, body)| StmtKind::ForNetcons { args, body });
        let net_receive_initial = kw("INITIAL")
            .ignore_then(block.clone())
            .map(StmtKind::Initial);
        let stmt = choice((
            print,
            watch,
            for_netcons,
            net_receive_initial,
            derivative,
            assign,
            element_assign,
            if_stmt,
            while_stmt,
            local,
            solve,
            table,
            reaction,
            equation,
            conserve,
            volumes,
            compartment,
            from_loop,
            units,
            verbatim,
            call,
            stmt_block,
        ))
        .map_with(|kind, e| Stmt {
            kind,
            span: sp(e.span()),
        })
        .recover_with(skip_then_retry_until(
            none_of([Token::RBrace]).ignored(),
            just(Token::RBrace).ignored().rewind(),
        ))
        .labelled("statement");

        stmt.repeated()
            .collect::<Vec<_>>()
            .delimited_by(just(Token::LBrace), just(Token::RBrace))
            .map_with(|stmts, e| Block {
                stmts,
                span: sp(e.span()),
            })
            .recover_with(via_parser(nested_delimiters(
                Token::LBrace,
                Token::RBrace,
                [(Token::LParen, Token::RParen)],
                |s| Block {
                    stmts: vec![],
                    span: sp(s),
                },
            )))
            .boxed()
    })
}

fn braced<'t, 's: 't, I, O>(
    inner: impl Parser<'t, I, O, Extra<'t, 's>> + Clone,
) -> impl Parser<'t, I, Vec<O>, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    inner
        .repeated()
        .collect::<Vec<O>>()
        .delimited_by(just(Token::LBrace), just(Token::RBrace))
        .recover_with(via_parser(nested_delimiters(
            Token::LBrace,
            Token::RBrace,
            [(Token::LParen, Token::RParen)],
            |_| Vec::new(),
        )))
}

/// `[4]`, or `[NANN]` with a DEFINEd size: the size as written, and where.
fn array_size<'t, 's: 't, I>() -> impl Parser<'t, I, (String, Span), Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    select! { Token::Number(n) => n.to_string(), Token::Ident(n) => n.to_string() }
        .delimited_by(just(Token::LBracket), just(Token::RBracket))
        .map_with(|size, e| (size, sp(e.span())))
}

fn var_decl<'t, 's: 't, I>() -> impl Parser<'t, I, VarDecl, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    let array = array_size();
    // `<lo, hi>` limits; a single `<1e-5>` is a STATE's absolute tolerance for NEURON's
    // variable-step solver, which hhc's fixed steps do not use.
    let limits = number()
        .then(just(Token::Comma).ignore_then(number()).or_not())
        .delimited_by(just(Token::Lt), just(Token::Gt))
        .map(|(lo, hi)| hi.map(|hi| (lo, hi)));
    let from_to = kw("FROM")
        .ignore_then(number())
        .then_ignore(kw("TO"))
        .then(number());
    ident()
        .then(array.or_not())
        .then(just(Token::Assign).ignore_then(number()).or_not())
        .then(unit().or_not())
        .then(limits.or_not())
        .then_ignore(from_to.or_not())
        .map(|((((name, array), value), unit), limits)| VarDecl {
            name,
            value,
            unit,
            limits: limits.flatten(),
            array,
        })
}

/// NEURON's file-scope names: `DEFINE NAME 4` (a constant) and `LOCAL a, b` (variables every
/// block of the file shares).
fn file_scope_names<'t, 's: 't, I>() -> impl Parser<'t, I, Item, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    let bare = |name: Ident, value: Option<Number>| VarDecl {
        name,
        value,
        unit: None,
        limits: None,
        array: None,
    };
    choice((
        kw("DEFINE")
            .ignore_then(ident())
            .then(number())
            .map(move |(name, value)| Item::Constant(vec![bare(name, Some(value))])),
        kw("LOCAL")
            .ignore_then(
                ident()
                    .then(array_size().or_not())
                    .separated_by(just(Token::Comma).or_not())
                    .at_least(1)
                    .collect::<Vec<_>>(),
            )
            .map(move |names| {
                Item::FileLocal(
                    names
                        .into_iter()
                        .map(|(n, array)| VarDecl {
                            array,
                            ..bare(n, None)
                        })
                        .collect(),
                )
            }),
    ))
}

fn args_decl<'t, 's: 't, I>() -> impl Parser<'t, I, Vec<Arg>, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    // An empty unit, `kdc()`, is no unit: nocmodl accepts it (the DBBS collection's cdp5.mod).
    let empty = just(Token::LParen).then(just(Token::RParen)).to(None);
    ident()
        .then(empty.or(unit().map(Some)).or_not().map(Option::flatten))
        .map(|(name, unit)| Arg { name, unit })
        .separated_by(just(Token::Comma))
        .collect()
        .delimited_by(just(Token::LParen), just(Token::RParen))
}

fn neuron_stmt<'t, 's: 't, I>() -> impl Parser<'t, I, NeuronStmt, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    let useion = kw("USEION")
        .ignore_then(ident())
        .then(kw("READ").ignore_then(ident_list()).or_not())
        .then(kw("WRITE").ignore_then(ident_list()).or_not())
        .then(kw("VALENCE").ignore_then(number()).or_not())
        .map(|(((ion, read), write), valence)| NeuronStmt::UseIon {
            ion,
            read: read.unwrap_or_default(),
            write: write.unwrap_or_default(),
            valence,
        });
    choice((
        kw("SUFFIX").ignore_then(ident()).map(NeuronStmt::Suffix),
        kw("POINT_PROCESS")
            .ignore_then(ident())
            .map(NeuronStmt::PointProcess),
        kw("ARTIFICIAL_CELL")
            .ignore_then(ident())
            .map(NeuronStmt::ArtificialCell),
        kw("RANDOM")
            .ignore_then(ident_list())
            .map(NeuronStmt::Random),
        useion,
        kw("NONSPECIFIC_CURRENT")
            .ignore_then(ident_list())
            .map(NeuronStmt::NonspecificCurrent),
        kw("ELECTRODE_CURRENT")
            .ignore_then(ident_list())
            .map(NeuronStmt::ElectrodeCurrent),
        kw("RANGE").ignore_then(ident_list()).map(NeuronStmt::Range),
        kw("GLOBAL")
            .ignore_then(ident_list())
            .map(NeuronStmt::Global),
        kw("POINTER")
            .or(kw("BBCOREPOINTER"))
            .ignore_then(ident_list())
            .map(NeuronStmt::Pointer),
        kw("THREADSAFE").to(NeuronStmt::Threadsafe),
    ))
}

fn unit_def<'t, 's: 't, I>() -> impl Parser<'t, I, UnitDef, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    let alias = unit()
        .then_ignore(just(Token::Assign))
        .then(unit())
        .map(|(name, definition)| UnitDef::Alias { name, definition });
    // `FARADAY = (faraday) (coulomb)`: its units end where the next line's `(name) =` begins.
    let constant = ident()
        .then_ignore(just(Token::Assign))
        .then(number().or_not())
        .then(
            unit()
                .then_ignore(just(Token::Assign).not().rewind())
                .repeated()
                .collect::<Vec<_>>(),
        )
        .map(|((name, value), units)| UnitDef::Constant { name, value, units });
    alias.or(constant)
}

fn value_parser<'t, 's: 't, I>() -> impl Parser<'t, I, Value, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    recursive(|value| {
        let num = number()
            .then(unit().or_not())
            .map(|(number, unit)| Value::Number { number, unit });
        let call = ident()
            .then(
                value
                    .separated_by(just(Token::Comma))
                    .collect::<Vec<_>>()
                    .delimited_by(just(Token::LParen), just(Token::RParen)),
            )
            .map_with(|(name, args), e| Value::Call {
                name,
                args,
                span: sp(e.span()),
            });
        choice((num, call, ident().map(Value::Name)))
    })
}

fn setting<'t, 's: 't, I>() -> impl Parser<'t, I, Setting, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    // `amp[1] = …` sets one element of an array PARAMETER, whose elements are the names
    // `amp[0]` … (see sema::arrays): the setting's name is the element's.
    let element = select! { Token::Number(n) => n.to_string() }
        .delimited_by(just(Token::LBracket), just(Token::RBracket))
        .map_with(|index, e| (index, sp(e.span())));
    ident()
        .then(element.or_not())
        .map(|(name, element)| match element {
            None => name,
            Some((index, at)) => Ident {
                name: format!("{}[{index}]", name.name),
                span: name.span.to(at),
            },
        })
        .then_ignore(just(Token::Assign))
        .then(
            value_parser()
                .separated_by(just(Token::Comma))
                .at_least(1)
                .collect::<Vec<_>>(),
        )
        .map_with(|(name, values), e| Setting {
            name,
            values,
            span: sp(e.span()),
        })
}

pub(super) fn file_parser<'t, 's: 't, I>() -> impl Parser<'t, I, File, Extra<'t, 's>>
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    let block = block_parser().boxed();
    let callable = ident()
        .then(args_decl())
        .then(unit().or_not())
        .then(block.clone())
        .map(|(((name, args), unit), body)| Callable {
            name,
            args,
            unit,
            body,
        });
    let skip_braces = any()
        .filter(|t: &Token<'s>| *t != Token::RBrace)
        .repeated()
        .delimited_by(just(Token::LBrace), just(Token::RBrace))
        .map_with(|_, e| sp(e.span()));
    let cell_item = choice((
        kw("ION")
            .ignore_then(ident())
            .then(braced(setting()))
            .map(|(name, settings)| CellItem::Ion { name, settings }),
        kw("INSERT")
            .ignore_then(ident())
            .then(
                kw("IN")
                    .ignore_then(
                        ident()
                            .separated_by(just(Token::Comma))
                            .at_least(1)
                            .collect::<Vec<_>>(),
                    )
                    .or_not(),
            )
            .then(braced(setting()).or_not())
            .map(|((mechanism, regions), settings)| CellItem::Insert {
                mechanism,
                regions: regions.unwrap_or_default(),
                settings: settings.unwrap_or_default(),
            }),
        kw("SECTION")
            .ignore_then(ident())
            .then(braced(setting()))
            .map(|(name, settings)| CellItem::Section { name, settings }),
        kw("POINT")
            .ignore_then(ident())
            .then_ignore(just(Token::Assign))
            .then(ident())
            .then_ignore(kw("AT"))
            .then(value_parser())
            .then(braced(setting()).or_not())
            .map(|(((name, mechanism), at), settings)| CellItem::Point {
                name,
                mechanism,
                at,
                settings: settings.unwrap_or_default(),
            }),
        setting().map(CellItem::Setting),
    ));
    let network_item = choice((
        kw("POPULATION")
            .ignore_then(ident())
            .then_ignore(just(Token::Assign))
            .then(ident())
            .then(braced(setting()).or_not())
            .map_with(|((name, cell), settings), e| NetworkItem::Population {
                name,
                cell,
                settings: settings.unwrap_or_default(),
                span: sp(e.span()),
            }),
        kw("CONNECT")
            .ignore_then(ident())
            .then_ignore(just(Token::Arrow))
            .then(ident())
            .then(kw("AT").ignore_then(ident()).or_not())
            .then(braced(setting()).or_not())
            .map_with(
                |(((pre, post), target), settings), e| NetworkItem::Connect {
                    pre,
                    post,
                    target,
                    settings: settings.unwrap_or_default(),
                    span: sp(e.span()),
                },
            ),
        kw("GAP")
            .ignore_then(ident())
            .then_ignore(just(Token::BothWays))
            .then(ident())
            .then_ignore(kw("AT"))
            .then(ident())
            .then(braced(setting()).or_not())
            .map_with(|(((a, b), site), settings), e| NetworkItem::Gap {
                a,
                b,
                site,
                settings: settings.unwrap_or_default(),
                span: sp(e.span()),
            }),
    ));

    let item = choice((
        select! { Token::Title(t) => Item::Title(t.to_string()) },
        kw("UNITS").ignore_then(braced(unit_def())).map(Item::Units),
        kw("NEURON")
            .ignore_then(braced(neuron_stmt()))
            .map_with(|stmts, e| Item::Neuron {
                stmts,
                span: sp(e.span()),
            }),
        kw("PARAMETER")
            .ignore_then(braced(var_decl()))
            .map(Item::Parameter),
        kw("CONSTANT")
            .ignore_then(braced(var_decl()))
            .map(Item::Constant),
        kw("ASSIGNED")
            .ignore_then(braced(var_decl()))
            .map(Item::Assigned),
        kw("STATE").ignore_then(braced(var_decl())).map(Item::State),
        kw("INDEPENDENT")
            .ignore_then(skip_braces)
            .map(Item::Independent),
        kw("INITIAL").ignore_then(block.clone()).map(Item::Initial),
        kw("BREAKPOINT")
            .ignore_then(block.clone())
            .map(Item::Breakpoint),
        kw("DERIVATIVE")
            .ignore_then(ident())
            .then(block.clone())
            .map(|(name, body)| Item::Derivative { name, body }),
        kw("KINETIC")
            .ignore_then(ident())
            .then(block.clone())
            .map(|(name, body)| Item::Kinetic { name, body }),
        kw("LINEAR")
            .to("LINEAR")
            .or(kw("NONLINEAR").to("NONLINEAR"))
            .map_with(|word, e| Ident {
                name: word.into(),
                span: sp(e.span()),
            })
            .then(ident())
            .then(block.clone())
            .map(|((keyword, name), body)| Item::Algebraic {
                keyword,
                name,
                body,
            }),
        kw("FUNCTION")
            .ignore_then(callable.clone())
            .map(Item::Function),
        kw("PROCEDURE")
            .ignore_then(callable.clone())
            .map(Item::Procedure),
        kw("FUNCTION_TABLE")
            .ignore_then(ident())
            .then_ignore(args_decl())
            .then_ignore(unit().or_not())
            .map_with(|name, e| Item::FunctionTable {
                name,
                span: sp(e.span()),
            }),
        kw("NET_RECEIVE")
            .ignore_then(args_decl())
            .then(block.clone())
            .map_with(|(args, body), e| Item::NetReceive {
                args,
                body,
                span: sp(e.span()),
            }),
        select! { Token::Verbatim(body) => crate::syntax::verbatim::classify(body) }
            .map_with(|v, e| Item::Verbatim(sp(e.span()), v)),
        kw("CONSTRUCTOR")
            .to("CONSTRUCTOR")
            .or(kw("DESTRUCTOR").to("DESTRUCTOR"))
            .map_with(|word, e| Ident {
                name: word.into(),
                span: sp(e.span()),
            })
            .or(kw("BEFORE")
                .to("BEFORE")
                .or(kw("AFTER").to("AFTER"))
                .then(
                    kw("INITIAL")
                        .to("INITIAL")
                        .or(kw("BREAKPOINT").to("BREAKPOINT"))
                        .or(kw("SOLVE").to("SOLVE"))
                        .or(kw("STEP").to("STEP")),
                )
                .map_with(|(when, what), e| Ident {
                    name: format!("{when} {what}"),
                    span: sp(e.span()),
                }))
            .then(block.clone())
            .map(|(keyword, body)| Item::Hook { keyword, body }),
        kw("UNITSON").map(|span| Item::UnitsToggle { on: true, span }),
        kw("UNITSOFF").map(|span| Item::UnitsToggle { on: false, span }),
        file_scope_names(),
        kw("CELL")
            .ignore_then(ident())
            .then(braced(cell_item))
            .map_with(|(name, items), e| {
                Item::Cell(CellDef {
                    name,
                    items,
                    span: sp(e.span()),
                })
            }),
        kw("NETWORK")
            .ignore_then(braced(network_item))
            .map_with(|items, e| {
                Item::Network(NetworkDef {
                    items,
                    span: sp(e.span()),
                })
            }),
        kw("SIMULATE")
            .ignore_then(braced(setting()))
            .map_with(|settings, e| {
                Item::Simulate(SimulateDef {
                    settings,
                    span: sp(e.span()),
                })
            }),
    ))
    .labelled("a block such as NEURON, PARAMETER, BREAKPOINT (or CELL, SIMULATE in a model)")
    .recover_with(skip_then_retry_until(any().ignored(), end()));

    item.repeated()
        .collect::<Vec<_>>()
        .then_ignore(end())
        .map(|items| File { items })
}
