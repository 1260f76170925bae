//! The front end: text → tokens (logos) → spanned AST (chumsky).
//!
//! [`parse`] never panics. Lexical errors (stray characters, unterminated `COMMENT`) are reported
//! and their tokens dropped, so parsing continues. Nesting deeper than [`MAX_NESTING`] is refused
//! before the grammar runs, since the grammar recurses once per level.

pub mod ast;
pub mod parser;
pub mod token;
pub mod verbatim;

use crate::diagnostic::Diagnostic;
use crate::span::Span;
use chumsky::error::{RichPattern, RichReason};
use chumsky::input::{Input, Stream};
use chumsky::prelude::*;
use token::Token;

/// The deepest nesting of `(`, `{` and `[` the parser accepts.
pub const MAX_NESTING: usize = 200;

/// Parses one `.chan` source into an AST, with every syntax error found.
pub fn parse(src: &str) -> (Option<ast::File>, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let mut tokens = Vec::new();
    for (tok, range) in token::lex(src) {
        let span = Span::from(range.clone());
        match tok {
            Token::Error => diagnostics.push(lex_error(src, span)),
            _ => tokens.push((tok, SimpleSpan::from(range))),
        }
    }
    if let Some(d) = check_nesting(&tokens).or_else(|| check_braces(&tokens)) {
        diagnostics.push(d);
        return (None, diagnostics);
    }
    // The grammar is recursive; give it a generous stack whatever thread calls us.
    let result = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn_scoped(scope, || run_parser(src, tokens))
            .ok()
            .and_then(|h| h.join().ok())
    });
    match result {
        Some((file, errs)) => {
            diagnostics.extend(errs);
            (file, diagnostics)
        }
        None => {
            diagnostics.push(Diagnostic::error(
                "the parser could not finish",
                Span::new(0, 0),
                "while parsing this file",
            ));
            (None, diagnostics)
        }
    }
}

fn run_parser(
    src: &str,
    tokens: Vec<(Token<'_>, SimpleSpan)>,
) -> (Option<ast::File>, Vec<Diagnostic>) {
    let eoi = SimpleSpan::from(src.len()..src.len());
    let stream = Stream::from_iter(tokens).map(eoi, |(t, s): (_, _)| (t, s));
    let (file, errors) = parser::file_parser().parse(stream).into_output_errors();
    let mut diags: Vec<Diagnostic> = errors.into_iter().map(|e| syntax_error(&e)).collect();
    diags.dedup_by(|a, b| a.primary.span == b.primary.span);
    (file, diags)
}

fn lex_error(src: &str, span: Span) -> Diagnostic {
    let text = span.slice(src);
    if text.starts_with("COMMENT") {
        Diagnostic::error(
            "unterminated COMMENT block",
            Span::new(span.start as usize, span.start as usize + 7),
            "this COMMENT is never closed",
        )
        .with_hint("end the comment with ENDCOMMENT")
    } else if text.starts_with("VERBATIM") {
        Diagnostic::error(
            "unterminated VERBATIM block",
            Span::new(span.start as usize, span.start as usize + 8),
            "this VERBATIM is never closed",
        )
        .with_hint("end it with ENDVERBATIM; note that hhc does not run VERBATIM C code")
    } else {
        Diagnostic::error(
            format!("unexpected character `{}`", text.escape_debug()),
            span,
            "not part of the .chan language",
        )
        .with_hint("remove it; comments start with `:`")
    }
}

/// The most tokens one file may hold. Real mechanisms have a few thousand; the cap bounds the
/// depth of the left-leaning trees that long sums build.
pub const MAX_TOKENS: usize = 500_000;

fn check_nesting(tokens: &[(Token<'_>, SimpleSpan)]) -> Option<Diagnostic> {
    if let Some((_, s)) = tokens.get(MAX_TOKENS) {
        return Some(
            Diagnostic::error(
                format!("file has more than {MAX_TOKENS} tokens"),
                Span::new(s.start, s.end),
                "too long from here on",
            )
            .with_hint("split the model into smaller mechanisms"),
        );
    }
    let mut depth = 0usize;
    for (t, s) in tokens {
        match t {
            Token::LParen | Token::LBrace | Token::LBracket => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(
                        Diagnostic::error(
                            format!("nesting deeper than {MAX_NESTING} levels"),
                            Span::new(s.start, s.end),
                            "too deeply nested",
                        )
                        .with_hint("split the expression into LOCAL variables"),
                    );
                }
            }
            Token::RParen | Token::RBrace | Token::RBracket => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Braces must pair up before the grammar runs, as rustc's token trees do: the parser's error
/// recovery retries every unclosed block at every level, which takes time exponential in the
/// number of unclosed `{` (12 took 0.4 s, 67 did not finish). Pairing them first is linear and
/// points at the brace itself: with blocks opened and closed in order, a `}` forgotten anywhere
/// leaves the block that lacks it open at the end of the file.
fn check_braces(tokens: &[(Token<'_>, SimpleSpan)]) -> Option<Diagnostic> {
    let mut open: Vec<SimpleSpan> = Vec::new();
    for (t, s) in tokens {
        match t {
            Token::LBrace => open.push(*s),
            Token::RBrace if open.pop().is_none() => {
                return Some(
                    Diagnostic::error(
                        "unmatched `}`",
                        Span::new(s.start, s.end),
                        "no `{` before it is still open",
                    )
                    .with_hint("remove it, or add the `{` it closes"),
                );
            }
            _ => {}
        }
    }
    let first = open.first()?;
    let inner = open.last().filter(|l| l.start != first.start);
    let mut d = Diagnostic::error(
        "unclosed `{`",
        Span::new(first.start, first.end),
        "this `{` is never closed",
    )
    .with_hint("add the `}` that ends this block; a `}` missing further down also shows up here");
    if let Some(l) = inner {
        d = d.with_label(Span::new(l.start, l.end), "the last `{` still open");
    }
    Some(d)
}

fn syntax_error(e: &Rich<'_, Token<'_>, SimpleSpan>) -> Diagnostic {
    let span = Span::new(e.span().start, e.span().end);
    match e.reason() {
        RichReason::ExpectedFound { expected, found } => {
            let found_text = found
                .as_ref()
                .map_or("end of file".to_string(), |t| format!("`{}`", **t));
            let mut names: Vec<String> = expected
                .iter()
                .filter_map(|p| match p {
                    RichPattern::Token(t) => Some(format!("`{}`", **t)),
                    RichPattern::Label(l) => Some(l.to_string()),
                    RichPattern::Identifier(i) => Some(format!("`{i}`")),
                    RichPattern::Any => Some("something".into()),
                    RichPattern::SomethingElse => None,
                    RichPattern::EndOfInput => Some("end of file".into()),
                    _ => None,
                })
                .collect();
            names.sort();
            names.dedup();
            let expected_text = match names.len() {
                0 => String::new(),
                1 => format!(", expected {}", names[0]),
                _ => format!(", expected one of {}", names.join(", ")),
            };
            let hint = if found.is_none() {
                "a block or parenthesis may be left open".to_string()
            } else if names.iter().any(|n| n == "`)`") {
                "a `(` may be missing its `)`".to_string()
            } else if names.iter().any(|n| n == "`}`") {
                "check the statement before this point; a `}` may be missing".to_string()
            } else if names.iter().any(|n| n == "expression") {
                "the expression is cut short: the operator or `=` before this point needs a value after it".to_string()
            } else if names.iter().any(|n| n == "WITH" || n == "`WITH`") {
                "a TABLE gives its range as `FROM low TO high WITH intervals`, e.g. `FROM -100 TO 100 WITH 200`".to_string()
            } else if names.iter().any(|n| n == "unit") {
                "units are written in parentheses, e.g. `(mV)`".to_string()
            } else {
                "see the .chan syntax in the README".to_string()
            };
            Diagnostic::error(
                format!("unexpected {found_text}{expected_text}"),
                span,
                "unexpected here",
            )
            .with_hint(hint)
        }
        RichReason::Custom(msg) => Diagnostic::error(msg.to_string(), span, "here"),
    }
}
