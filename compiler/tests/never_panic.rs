//! The front end never panics: random token soup, random bytes, deep nesting.

use proptest::prelude::*;

const WORDS: &[&str] = &[
    "NEURON",
    "SUFFIX",
    "x",
    "USEION",
    "na",
    "READ",
    "ena",
    "WRITE",
    "ina",
    "PARAMETER",
    "STATE",
    "ASSIGNED",
    "BREAKPOINT",
    "SOLVE",
    "METHOD",
    "cnexp",
    "DERIVATIVE",
    "states",
    "INITIAL",
    "FUNCTION",
    "PROCEDURE",
    "LOCAL",
    "if",
    "else",
    "{",
    "}",
    "(",
    ")",
    "=",
    "'",
    "+",
    "-",
    "*",
    "/",
    "^",
    "<",
    ">",
    "<=",
    "==",
    "&&",
    "||",
    "!",
    ",",
    "m",
    "h",
    "v",
    "1",
    ".5",
    "1e-3",
    "(mV)",
    "(mS/cm2)",
    "exp",
    "exprelr",
    "UNITSOFF",
    "UNITSON",
    "TABLE",
    "FROM",
    "TO",
    "WITH",
    "KINETIC",
    "~",
    "<->",
    "CONSERVE",
    "CELL",
    "SIMULATE",
    "INSERT",
    "ION",
    "e",
    "cell",
    "dt",
    "tstop",
    "stimulus",
    "sweep",
    "VERBATIM",
    "ENDVERBATIM",
    "COMMENT",
    "ENDCOMMENT",
    ":",
    "\n",
    "1e999",
    "[",
    "]",
    "SECTION",
    "IN",
    "parent",
    "L",
    "diam",
    "nseg",
    "dx",
    "d_lambda",
    "soma",
    "dend",
    "soma(0.5)",
    "dend(1)",
    "probe",
    "detector",
    "iclamp",
    "along",
    "Ra",
    "(um)",
    "(nA)",
    "(ohm cm)",
    "cable",
    "crank_nicolson",
    "method",
    "exp_rosenbrock",
    "swc",
    "->",
    "<<",
    "frozen",
    "IL",
    "Na_HH1952",
    "CalciumDetailed",
    "cai",
    "0",
    "1e12",
];

fn check(src: &str) {
    let (file, diags) = hhc_compiler::syntax::parse(src);
    let _ = hhc_compiler::compile_mechanism(src);
    let _ = hhc_compiler::diagnostic::render_to_string("fuzz.chan", src, &diags);
    // Model files: lowering against the real stdlib, then both program builders.
    if let Some(file) =
        file.filter(|f| hhc_compiler::sema::file_kind(f) == hhc_compiler::sema::FileKind::Model)
    {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../stdlib");
        let mut resolve = |name: &str| -> Result<Option<hhc_compiler::ir::Mechanism>, ()> {
            match std::fs::read_to_string(root.join(format!("{name}.chan"))) {
                Ok(src) => hhc_compiler::compile_mechanism(&src)
                    .map(Some)
                    .map_err(|_| ()),
                Err(_) => Ok(None),
            }
        };
        if let Ok(model) = hhc_compiler::sema::model::lower_model(&file, &mut resolve) {
            if model.cell.sections.iter().map(|s| s.nseg).sum::<usize>() < 10_000 {
                let _ = hhc_compiler::cell::build(&model);
                let _ = hhc_compiler::cell::build_compartment(&model);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn token_soup_never_panics(words in proptest::collection::vec(0..WORDS.len(), 0..80)) {
        let src: String = words.iter().map(|&i| WORDS[i]).collect::<Vec<_>>().join(" ");
        check(&src);
    }

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,200}") {
        check(&src);
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    for open in ["(", "{", "-(", "if ("] {
        let src = format!(
            "NEURON {{ SUFFIX x }}\nFUNCTION f() {{ f = {}1 }}\n",
            open.repeat(10_000)
        );
        let (_, diags) = hhc_compiler::syntax::parse(&src);
        assert!(diags.iter().any(|d| d.is_error()), "{open}");
    }
    // Unary minus chains recurse without parentheses.
    let src = format!(
        "NEURON {{ SUFFIX x }}\nFUNCTION f() {{ f = {}1 }}\n",
        "-".repeat(5_000)
    );
    let _ = hhc_compiler::compile_mechanism(&src);
}

#[test]
fn every_prefix_of_a_real_file_is_handled() {
    let src = include_str!("../../tests/fixtures/classic_hh.mod");
    let chars: Vec<usize> = src.char_indices().map(|(i, _)| i).collect();
    for &i in chars.iter().step_by(7) {
        check(&src[..i]);
    }
}

/// The morphology readers on every prefix of the fixture files, and on soups of their tokens:
/// an error or sections, never a panic.
#[test]
fn morphology_readers_never_panic() {
    use hhc_compiler::sema::{asc, swc};
    for (text, read) in [
        (
            include_str!("../../tests/fixtures/neuron/outline.asc"),
            asc::sections as fn(&str) -> _,
        ),
        (
            include_str!("../../tests/fixtures/neuron/threepoint.swc"),
            swc::sections,
        ),
    ] {
        let cuts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        for &i in &cuts {
            let _ = read(&text[..i]);
        }
    }
    let deep = format!(
        "(\"CellBody\" (CellBody) (1 0 0 0) (0 1 0 0) (-1 0 0 0))\n( (Dendrite) (0 0 0 1) {}{} )",
        "( (1 1 1 1) ".repeat(50_000),
        ")".repeat(50_000)
    );
    assert!(asc::sections(&deep).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn morphology_token_soup_never_panics(words in proptest::collection::vec(0..MORPHOLOGY_WORDS.len(), 0..120)) {
        let src: String = words.iter().map(|&i| MORPHOLOGY_WORDS[i]).collect::<Vec<_>>().join(" ");
        let _ = hhc_compiler::sema::asc::sections(&src);
        let _ = hhc_compiler::sema::swc::sections(&src.replace(['(', ')', '|'], "\n"));
    }
}

const MORPHOLOGY_WORDS: &[&str] = &[
    "(",
    ")",
    "|",
    "<",
    ">",
    "\"CellBody\"",
    "(CellBody)",
    "(Dendrite)",
    "(Axon)",
    "(Apical)",
    "Normal",
    "1",
    "0",
    "-1",
    "2.5",
    "-3",
    "1e308",
    "nan",
    "inf",
    ";",
    "\n",
    "-1e-320",
    "0.0",
];
