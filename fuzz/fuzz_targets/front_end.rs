#![no_main]
// The front end on arbitrary text: parse, lower, solve, render. Run: cargo +nightly fuzz run front_end
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(src) = std::str::from_utf8(data) {
        let (_, diags) = hhc_compiler::syntax::parse(src);
        let _ = hhc_compiler::compile_mechanism(src);
        let _ = hhc_compiler::diagnostic::render_to_string("fuzz.chan", src, &diags);
    }
});
