//! Golden files: the AST and IR of the hand-written stdlib mechanisms, one generated channel of
//! each kind (ohmic with a piecewise rate, GHK, Ca-gated K, two currents, a Markov scheme), the calcium pool and
//! the NEURON-style fixtures. Every other stdlib file is compiled and run against the
//! interpreter by the tests crate; snapshotting 90 generated files would bury review.
#![allow(clippy::panic)] // a failed set-up stops the test or bench with its message

/// The stdlib files with golden snapshots.
const GOLDEN: &[&str] = &[
    "Na_HH1952",
    "K_HH1952",
    "IL",
    "CalciumDetailed",
    "CaT_HM1992",
    "Cav2p1_RI2021_SC",
    "AHP_De1994",
    "Kv1p5_MA2020_GrC",
    "Kca2p2_MA2020_GoC",
];

fn sources() -> Vec<(String, String)> {
    let root = format!("{}/..", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = GOLDEN
        .iter()
        .map(|n| std::path::PathBuf::from(format!("{root}/stdlib/{n}.chan")))
        .collect();
    files.extend(
        std::fs::read_dir(format!("{root}/tests/fixtures"))
            .expect("fixtures")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file()),
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
fn ast_of_golden_files() {
    for (name, src) in sources() {
        let (file, diags) = hhc_compiler::syntax::parse(&src);
        assert!(diags.is_empty(), "{name}: {diags:?}");
        insta::assert_snapshot!(format!("ast_{name}"), format!("{:#?}", file.expect("ast")));
    }
}

#[test]
fn ir_of_golden_files() {
    for (name, src) in sources() {
        let m = hhc_compiler::compile_mechanism(&src).unwrap_or_else(|d| panic!("{name}: {d:?}"));
        insta::assert_snapshot!(
            format!("ir_{name}"),
            hhc_compiler::ir::print::print_mechanism(&m)
        );
    }
}
