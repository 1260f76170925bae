//! Tokens of `.chan` files (NMODL plus the model-file blocks), lexed with logos.
//!
//! Comments (`:` and `?` to end of line, `COMMENT … ENDCOMMENT`) are skipped here. `TITLE` swallows
//! the rest of its line. `VERBATIM … ENDVERBATIM` becomes one opaque token that later stages reject.

use logos::{Lexer, Logos};
use std::fmt;

fn skip_block<'s>(lex: &mut Lexer<'s, Token<'s>>, end: &str) -> bool {
    match lex.remainder().find(end) {
        Some(at) => {
            lex.bump(at + end.len());
            true
        }
        None => false,
    }
}

/// The C between `VERBATIM` and `ENDVERBATIM`.
fn verbatim_body<'s>(lex: &mut Lexer<'s, Token<'s>>) -> Option<&'s str> {
    let rest = lex.remainder();
    let at = rest.find("ENDVERBATIM")?;
    lex.bump(at + "ENDVERBATIM".len());
    Some(&rest[..at])
}

fn rest_of_line<'s>(lex: &mut Lexer<'s, Token<'s>>) -> &'s str {
    let rest = lex.remainder();
    let len = rest.find('\n').unwrap_or(rest.len());
    lex.bump(len);
    rest[..len].trim()
}

#[allow(clippy::duplicated_attributes)] // one `skip` per kind of blank and comment
#[derive(Logos, Clone, Copy, Debug, PartialEq)]
#[logos(skip r"[ \t\r\n\f\u{FEFF}]+")]
#[logos(skip(r":[^\n]*", allow_greedy = true))]
#[logos(skip(r"\?[^\n]*", allow_greedy = true))]
pub enum Token<'s> {
    #[token("COMMENT", |lex| skip_block(lex, "ENDCOMMENT"), priority = 10)]
    Comment,
    #[token("VERBATIM", verbatim_body, priority = 10)]
    Verbatim(&'s str),
    #[token("TITLE", rest_of_line, priority = 10)]
    Title(&'s str),

    #[regex(r"[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?", |lex| lex.slice())]
    #[regex(r"\.[0-9]+([eE][+-]?[0-9]+)?", |lex| lex.slice())]
    Number(&'s str),
    #[regex(r"[A-Za-z_][A-Za-z_0-9]*", |lex| lex.slice())]
    Ident(&'s str),
    #[regex(r#""[^"\n]*""#, |lex| lex.slice())]
    Str(&'s str),

    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token(",")]
    Comma,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("^")]
    Caret,
    #[token("=")]
    Assign,
    #[token("==")]
    Eq,
    #[token("!=")]
    Ne,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("&&")]
    And,
    #[token("||")]
    Or,
    #[token("!")]
    Not,
    #[token("'")]
    Prime,
    #[token("~")]
    Tilde,
    #[token("<->")]
    BothWays,
    #[token("->")]
    Arrow,
    #[token("<<")]
    Shl,
    #[token("@")]
    At,

    /// Any character no rule matches; the parser reports it.
    Error,
}

impl fmt::Display for Token<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Token::Comment => "COMMENT",
            Token::Verbatim(_) => "VERBATIM",
            Token::Title(_) => "TITLE",
            Token::Number(s) | Token::Ident(s) | Token::Str(s) => s,
            Token::LParen => "(",
            Token::RParen => ")",
            Token::LBrace => "{",
            Token::RBrace => "}",
            Token::LBracket => "[",
            Token::RBracket => "]",
            Token::Comma => ",",
            Token::Plus => "+",
            Token::Minus => "-",
            Token::Star => "*",
            Token::Slash => "/",
            Token::Caret => "^",
            Token::Assign => "=",
            Token::Eq => "==",
            Token::Ne => "!=",
            Token::Lt => "<",
            Token::Le => "<=",
            Token::Gt => ">",
            Token::Ge => ">=",
            Token::And => "&&",
            Token::Or => "||",
            Token::Not => "!",
            Token::Prime => "'",
            Token::Tilde => "~",
            Token::BothWays => "<->",
            Token::Arrow => "->",
            Token::Shl => "<<",
            Token::At => "@",
            Token::Error => "<invalid character>",
        };
        f.write_str(s)
    }
}

/// Lexes a whole source. Unterminated `COMMENT`/`VERBATIM` blocks and stray characters become
/// [`Token::Error`] tokens with their spans, so the parser reports them in place.
pub fn lex(src: &str) -> Vec<(Token<'_>, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut lexer = Token::lexer(src);
    while let Some(tok) = lexer.next() {
        let span = lexer.span();
        match tok {
            Ok(Token::Comment) => {}
            Ok(t) => out.push((t, span)),
            Err(()) => out.push((Token::Error, span)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<String> {
        lex(src).into_iter().map(|(t, _)| t.to_string()).collect()
    }

    #[test]
    fn numbers_in_every_form() {
        assert_eq!(
            kinds("1e-3 .5 5. 12 1.5E+3"),
            ["1e-3", ".5", "5.", "12", "1.5E+3"]
        );
    }

    #[test]
    fn comments_are_skipped() {
        assert_eq!(
            kinds("a : x\n? y\nCOMMENT\nstuff ( ENDCOMMENT b"),
            ["a", "b"]
        );
    }

    #[test]
    fn operators() {
        assert_eq!(
            kinds("m' ~ <-> <= && || ! ^"),
            ["m", "'", "~", "<->", "<=", "&&", "||", "!", "^"]
        );
    }

    #[test]
    fn verbatim_is_one_token() {
        let toks = lex("VERBATIM\n int x; ENDVERBATIM a");
        assert_eq!(toks.len(), 2);
        assert_eq!(toks[0].0, Token::Verbatim("\n int x; "));
    }

    #[test]
    fn unterminated_comment_is_an_error_token() {
        assert_eq!(lex("COMMENT never closed")[0].0, Token::Error);
    }

    #[test]
    fn byte_order_mark_and_crlf_are_whitespace() {
        assert_eq!(kinds("\u{FEFF}NEURON {\r\n}"), ["NEURON", "{", "}"]);
    }

    #[test]
    fn title_takes_the_line() {
        assert_eq!(
            lex("TITLE hh: squid\nNEURON")[0].0,
            Token::Title("hh: squid")
        );
    }
}
