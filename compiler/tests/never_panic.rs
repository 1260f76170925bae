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
    "NETWORK",
    "POPULATION",
    "CONNECT",
    "GAP",
    "<->",
    "POINTER",
    "adjuster",
    "post_spikes",
    "Gap",
    "gj",
    "AT",
    "POINT",
    "ExpSyn",
    "Exp2Syn",
    "syn",
    "spikes",
    "times",
    "count",
    "rule",
    "all_to_all",
    "probability(0.5)",
    "indegree(2)",
    "one_to_one",
    "pre",
    "post",
    "weight",
    "delay",
    "seed",
    "file",
    "NET_RECEIVE",
    "POINT_PROCESS",
    "net_send",
    "WATCH",
    "FOR_NETCONS",
    "(w1, A1)",
    "DEFINE",
    "BY",
    "x[0]",
    "net_event",
    "flag",
    "flag",
    "(uS)",
    "NetStim",
    "IntFire1",
    "IClamp",
    "SEClamp",
    "VClamp",
    "amp[1] =",
    "kdc()",
    "POINTER vgap",
    "ELECTRODE_CURRENT",
    "(deg)",
    "(1)",
    "TABLE inf, tau DEPEND celsius FROM -100 TO 100 WITH 200",
    "inf[2]",
    "LINEAR eq { ~ a = b }",
    "STEADYSTATE sparse",
    "values",
    "ARTIFICIAL_CELL",
    "RANDOM",
    "random_negexp",
    "net_event",
    "at_time",
    "AFTER",
    "BEFORE",
    "CONSTRUCTOR",
    "DESTRUCTOR",
    "COMPARTMENT",
    "LONGITUDINAL_DIFFUSION",
    "FROM",
    "TO",
    "[",
    "]",
    "<1e-5>",
    "(1+8 um5/ms)",
    "printf(\"%g\", x)",
    "\"text\"",
    "cai",
    "WRITE cai",
    "while",
    "(x > 1)",
    "KINETIC",
    "~",
    "<->",
    "CONSERVE",
    "STEADYSTATE",
    "sparse",
    "f_flux",
    "b_flux",
    "(1-10 um2/ms)",
    "(pi)",
    "state_discontinuity",
    "exprand",
    "normrand",
    "scop_random",
    "x0",
];

fn check(src: &str) {
    let (file, diags) = hhc_compiler::syntax::parse(src);
    let _ = hhc_compiler::compile_mechanism(src);
    // NEURON's dialect too: a .mod file's unit mismatches are warnings, rendered as errors are.
    if let Ok(m) = hhc_compiler::compile_neuron_mechanism(src, "fuzz.mod") {
        let _ = hhc_compiler::diagnostic::render_to_string("fuzz.mod", src, &m.warnings);
    }
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
                // Each artificial population's program, as the network engine builds it.
                for p in model.network.iter().flat_map(|n| &n.populations) {
                    if let hhc_compiler::sema::network::PopulationKind::Artificial(ins) = &p.kind {
                        let _ = hhc_compiler::cell::build_artificial(ins, model.celsius, model.dt);
                    }
                }
                // Each region's programs, points included, as the network engine builds them.
                let tree = hhc_compiler::cable::Tree::new(&model.cell);
                for region in hhc_compiler::cable::Region::all(&model.cell, &tree) {
                    let sub = region.model(&model);
                    let programs = region.programs(&model);
                    for k in 0..region.points.len() {
                        let mi = region.inserts.len() + k;
                        let _ = hhc_compiler::cell::build_receive(&sub, mi, &programs.step);
                    }
                }
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

/// Networks with random numbers in every slot: counts, probabilities, in-degrees, indices,
/// weights, delays and seeds, sensible or not.
fn network_model(n: &[f64]) -> String {
    format!(
        "CELL C {{\n SECTION soma {{ L = {} (um) diam = 20 (um) }}\n INSERT IL\n POINT syn = Exp2Syn AT soma({}) {{ tau1 = {} (ms) tau2 = 3 (ms) }}\n POINT gj = Gap AT soma(0.5)\n}}\n\
         NETWORK {{\n POPULATION a = C {{ count = {} }}\n POPULATION s = spikes {{ times = {} (ms) count = {} }}\n\
         CONNECT a -> a AT syn {{ rule = probability({}) seed = {} weight = {} (uS) delay = {} (ms) }}\n\
         CONNECT a -> a AT syn {{ rule = indegree({}) weight = 1 (uS) delay = 1 (ms) }}\n\
         CONNECT s -> a AT syn {{ pre = {} post = {} weight = 1 (uS) delay = {} (ms) }}\n\
         GAP a <-> a AT gj {{ rule = probability({}) seed = {} weight = {} (uS) }}\n}}\n\
         SIMULATE {{ dt = {} (ms) tstop = 10 (ms) }}\n",
        n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7], n[8], n[9], n[10], n[11], n[12], n[13], n[4], n[5], n[7], n[14]
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]
    #[test]
    fn random_networks_never_panic(n in proptest::collection::vec(
        prop_oneof![Just(0.0), Just(1.0), Just(-1.0), Just(0.025), Just(3.0), Just(1e9), Just(0.5), Just(1e-300), -50.0..50.0f64],
        15,
    )) {
        check(&network_model(&n));
    }
}

#[test]
fn every_prefix_of_a_real_file_is_handled() {
    for src in [
        include_str!("../../tests/fixtures/classic_hh.mod"),
        include_str!("../../tests/fixtures/neuron/ring/ring.chan"),
        include_str!("../../stdlib/Exp2Syn.chan"),
        include_str!("../../stdlib/NetStim.chan"),
        include_str!("../../tests/fixtures/neuron/artificial/artificial.chan"),
        include_str!("../../tests/fixtures/capool_modeldb.mod"),
        include_str!("../../tests/fixtures/neuron/selfevents/PulseSyn.mod"),
        include_str!("../../tests/fixtures/neuron/stdp/StdpSyn.mod"),
        include_str!("../../tests/fixtures/neuron/gap/GapPointer.mod"),
        include_str!("../../tests/fixtures/kinetic_linear_init.mod"),
    ] {
        let chars: Vec<usize> = src.char_indices().map(|(i, _)| i).collect();
        for &i in chars.iter().step_by(7) {
            check(&src[..i]);
        }
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

/// A TABLE'd gate with random numbers in its range, count, argument and rates, read with
/// `usetable = 1`: compiled, built into a cell program, run by the interpreter and emitted as
/// PTX.
fn tabled_mechanism(n: &[f64]) -> String {
    format!(
        "NEURON {{ SUFFIX tg NONSPECIFIC_CURRENT i RANGE lo }}\nPARAMETER {{ g = 0.001 (S/cm2)  lo = {} (mV) }}\n\
         ASSIGNED {{ v (mV) i (mA/cm2) minf }}\nSTATE {{ m }}\nINITIAL {{ rates(v) m = minf }}\n\
         BREAKPOINT {{ SOLVE s METHOD cnexp  i = g*m*(v - {}) }}\nDERIVATIVE s {{ rates(v*{}) m' = (minf - m)/{} }}\n\
         PROCEDURE rates(x) {{\n TABLE minf FROM lo TO {} WITH {}\n minf = 1/(1 + exp(-(x - {})/{}))\n}}\n",
        n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7]
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn random_tables_never_panic(n in proptest::collection::vec(
        prop_oneof![Just(0.0), Just(1.0), Just(-1.0), Just(200.0), Just(1e9), Just(-100.0), Just(1e-300), Just(f64::NAN), -150.0..150.0f64],
        8,
    )) {
        let src = tabled_mechanism(&n);
        check(&src);
        if let Some(m) = hhc_compiler::compile_neuron_mechanism(&src, "tg.mod")
            .ok()
            .and_then(|m| m.reading_tables())
        {
            let p = hhc_compiler::cell::single_mechanism_program(&m);
            let mut slots: Vec<f64> = p.init.iter().map(|_| 0.0).collect();
            slots.resize(p.slots.len(), -65.0);
            let _ = hhc_compiler::ir::interp::run_cell(&p, &mut slots, 0.0, 3);
            let _ = hhc_compiler::backend::ptx::emit_program(&p, hhc_compiler::passes::mathlib::Precision::F64, 80);
        }
    }
}

/// Pieces of the C that VERBATIM blocks hold, for random blocks near the idioms hhc reads.
const C_PIECES: &[&str] = &[
    "if",
    "(",
    ")",
    "_p_rng",
    "{",
    "}",
    "else",
    ";",
    "double",
    "value",
    "return",
    "0",
    "\n",
    "#include <math.h>\n",
    "#define X 1\n",
    "/*",
    "*/",
    "//",
    "\"",
    "'",
    "\\",
    "nrn_random_pick",
    "void**",
    "pv",
    "=",
    "&",
    "*",
    "ifarg(1)",
    "nrn_random_arg(1)",
    "hoc_execerror(\"a\", \"b\")",
    ",",
    "_nt",
    "!=",
    "nrn_threads",
    " ",
    "extern",
    "int",
    "x_",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn random_verbatim_never_panics(
        opener in proptest::collection::vec(0..C_PIECES.len(), 0..40),
        closer in proptest::collection::vec(0..C_PIECES.len(), 0..6),
        pointer in any::<bool>(),
    ) {
        let c = |pieces: &[usize]| pieces.iter().map(|&k| C_PIECES[k]).collect::<String>();
        let (open, close) = (c(&opener), c(&closer));
        let _ = hhc_compiler::syntax::verbatim::classify(&open);
        let src = format!(
            "NEURON {{ POINT_PROCESS P{} }}\nASSIGNED {{ rng x }}\nVERBATIM\n{open}\nENDVERBATIM\n\
             FUNCTION urand() {{\nVERBATIM\n{open}\nENDVERBATIM\n x = scop_random(1)\nVERBATIM\n{close}\nENDVERBATIM\n urand = x\n}}\n\
             NET_RECEIVE (w) {{ x = urand() }}\n",
            if pointer { " POINTER rng" } else { "" }
        );
        check(&src);
    }
}

/// VecStim's `element()` (the idiom of `syntax::verbatim`), whole.
const VECTOR_ELEMENT: &str = "{ void* vv; int i, size; double* px; i = (int)index; if (i >= 0) { vv = *((void**)(&space)); if (vv) { size = vector_capacity(vv); px = vector_vec(vv); if (i < size) { etime = px[i]; index += 1.; } else { index = -1.; } } else { index = -1.; } } }";

/// Pieces of the Vector idioms' C.
const VECTOR_PIECES: &[&str] = &[
    "index",
    "etime",
    "space",
    "(void*)(_p_ptr)",
    "*((void**)(&space))",
    "vector_capacity(vv)",
    "vector_vec(vv)",
    "px[i]",
    "+=",
    "1.",
    "-1.",
    "if",
    "(",
    ")",
    "{",
    "}",
    ";",
    "i",
    "size",
    ">=",
    "<",
    "=",
    "int",
    "double*",
    "void*",
    "vv",
    "hoc_obj_unref(*vector_pobj(vv));",
    "static void bbcore_write(",
    "static void bbcore_read(",
    "#if !NRNBBCORE\n",
    "#endif\n",
    " ",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn vector_verbatim_never_panics(
        pieces in proptest::collection::vec(0..VECTOR_PIECES.len(), 0..40),
        cut in (0..VECTOR_ELEMENT.len(), 0..12usize),
        whole in any::<bool>(),
        artificial in any::<bool>(),
        pointer in any::<bool>(),
    ) {
        // Either pieces in any order, or the whole idiom with a few characters cut out.
        let c = if whole {
            let (at, n) = cut;
            let mut text = VECTOR_ELEMENT.to_string();
            let end = (at + n).min(text.len());
            text.replace_range(at..end, "");
            text
        } else {
            pieces.iter().map(|&k| VECTOR_PIECES[k]).collect::<String>()
        };
        let _ = hhc_compiler::syntax::verbatim::classify(&c);
        let src = format!(
            "NEURON {{ {} V{} }}\nASSIGNED {{ index etime space }}\n\
             INITIAL {{ index = 0 element() if (index > 0) {{ net_send(etime - t, 1) }} }}\n\
             NET_RECEIVE (w) {{ if (flag == 1) {{ net_event(t) element() }} }}\n\
             PROCEDURE element() {{\nVERBATIM\n{c}\nENDVERBATIM\n}}\n\
             DESTRUCTOR {{\nVERBATIM\n{c}\nENDVERBATIM\n}}\nVERBATIM\n{c}\nENDVERBATIM\n",
            if artificial { "ARTIFICIAL_CELL" } else { "POINT_PROCESS" },
            if pointer { " BBCOREPOINTER ptr" } else { "" }
        );
        check(&src);
    }
}

/// Terms of the equations of a LINEAR or NONLINEAR block.
const ALGEBRA_TERMS: &[&str] = &[
    "a",
    "b",
    "c",
    "v",
    "1",
    "0.5",
    "0",
    "exp(a)",
    "a*b",
    "b*b",
    "2",
    "(v + 40)",
    "exp(0.05*v)",
    "a/b",
    "-c",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn algebraic_blocks_never_panic(
        equations in proptest::collection::vec(
            (proptest::collection::vec(0..ALGEBRA_TERMS.len(), 1..4),
             proptest::collection::vec(0..ALGEBRA_TERMS.len(), 1..4)),
            0..4,
        ),
        nonlinear in any::<bool>(),
        in_initial in any::<bool>(),
        in_breakpoint in any::<bool>(),
    ) {
        let side = |terms: &[usize]| {
            terms.iter().map(|&k| ALGEBRA_TERMS[k]).collect::<Vec<_>>().join(" + ")
        };
        let body: String = equations
            .iter()
            .map(|(l, r)| format!("    ~ {} = {}\n", side(l), side(r)))
            .collect();
        let solve = |on: bool| if on { "SOLVE eq" } else { "" };
        let src = format!(
            "NEURON {{ SUFFIX alg NONSPECIFIC_CURRENT i }}\nSTATE {{ a b c }}\n\
             ASSIGNED {{ v (mV) i (mA/cm2) }}\n\
             INITIAL {{ a = 0.5 b = 0.5 c = 0.5 {} }}\n\
             BREAKPOINT {{ {} i = (0.001)*a*(v + 70) }}\n{} eq {{\n{body}}}\n",
            solve(in_initial),
            solve(in_breakpoint),
            if nonlinear { "NONLINEAR" } else { "LINEAR" },
        );
        check(&src);
    }
}
