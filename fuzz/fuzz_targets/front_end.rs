#![no_main]
// The front end on arbitrary text: the morphology readers; parse, lower, solve, render; model
// files are lowered too, with five stdlib mechanisms (a synapse and a gap junction's site among
// them) and tests/fixtures/played's VecStim (a Vector played into an ARTIFICIAL_CELL: `times`, `file`), and built into cell programs (a small morphology into its whole-cell program). Run: RUSTC_BOOTSTRAP=1 cargo fuzz run front_end (or cargo +nightly).
use hhc_compiler::sema::{self, FileKind};

const MECHANISMS: &[(&str, &str)] = &[
    ("IL", include_str!("../../stdlib/IL.chan")),
    ("Na_HH1952", include_str!("../../stdlib/Na_HH1952.chan")),
    ("K_HH1952", include_str!("../../stdlib/K_HH1952.chan")),
    ("ExpSyn", include_str!("../../stdlib/ExpSyn.chan")),
    ("Gap", include_str!("../../stdlib/Gap.chan")),
    ("Played", include_str!("../../tests/fixtures/played/Played.mod")),
    ("GapPointer", include_str!("../../tests/fixtures/neuron/gap/GapPointer.mod")),
];


libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    // The same text as a morphology file: sections or an error, never a panic.
    let _ = sema::asc::sections(src);
    let _ = sema::swc::sections(src);
    let (file, diags) = hhc_compiler::syntax::parse(src);
    let _ = hhc_compiler::diagnostic::render_to_string("fuzz.chan", src, &diags);
    let Some(file) = file else {
        return;
    };
    if sema::file_kind(&file) == FileKind::Mechanism {
        let _ = hhc_compiler::compile_mechanism(src);
        // As a .mod file: NEURON's dialect, whose unit mismatches are warnings.
        if let Ok(m) = hhc_compiler::compile_neuron_mechanism(src, "fuzz.mod") {
            let _ = hhc_compiler::diagnostic::render_to_string("fuzz.mod", src, &m.warnings);
        }
        return;
    }
    let mut resolve = |name: &str| match MECHANISMS.iter().find(|(n, _)| *n == name) {
        Some((_, text)) => hhc_compiler::compile_mechanism(text).map(Some).map_err(|_| ()),
        None => Ok(None),
    };
    let Ok(model) = sema::model::lower_model(&file, &mut resolve) else {
        return;
    };
    let compartments: usize = model.cell.sections.iter().map(|s| s.nseg).sum();
    if model.cell.sections.is_empty() {
        let _ = hhc_compiler::cell::build(&model);
    } else if compartments <= 50 {
        let _ = hhc_compiler::cable::build(&model);
    }
});
