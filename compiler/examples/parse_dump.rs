fn main() {
    let path = std::env::args().nth(1).unwrap();
    let src = std::fs::read_to_string(&path).unwrap();
    let (file, diags) = hhc_compiler::syntax::parse(&src);
    eprintln!(
        "{}",
        hhc_compiler::diagnostic::render_to_string(&path, &src, &diags)
    );
    eprintln!("items: {:?}", file.map(|f| f.items.len()));
}
