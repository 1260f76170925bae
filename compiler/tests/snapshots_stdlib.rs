//! Golden files: the AST and IR of every stdlib mechanism and of the NEURON-style fixture.

fn sources() -> Vec<(String, String)> {
    let root = format!("{}/..", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(format!("{root}/stdlib"))
        .expect("stdlib")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.extend(
        std::fs::read_dir(format!("{root}/tests/fixtures"))
            .expect("fixtures")
            .filter_map(Result::ok)
            .map(|e| e.path()),
    );
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
                    .to_string(),
                std::fs::read_to_string(&p).expect("read"),
            )
        })
        .collect()
}

#[test]
fn ast_of_every_stdlib_file() {
    for (name, src) in sources() {
        let (file, diags) = hhc_compiler::syntax::parse(&src);
        assert!(diags.is_empty(), "{name}: {diags:?}");
        insta::assert_snapshot!(format!("ast_{name}"), format!("{:#?}", file.expect("ast")));
    }
}

#[test]
fn ir_of_every_stdlib_file() {
    for (name, src) in sources() {
        let m = hhc_compiler::compile_mechanism(&src).unwrap_or_else(|d| panic!("{name}: {d:?}"));
        insta::assert_snapshot!(
            format!("ir_{name}"),
            hhc_compiler::ir::print::print_mechanism(&m)
        );
    }
}
