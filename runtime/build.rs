//! Embeds every `stdlib/*.chan` into the binary, so `hhc` finds the library wherever it runs.
use std::{env, fs, path::Path};

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../stdlib");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut entries: Vec<_> = fs::read_dir(&dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    let mut out = String::from("pub static STDLIB: &[(&str, &str)] = &[\n");
    for p in entries {
        if p.extension().is_some_and(|e| e == "chan") {
            println!("cargo:rerun-if-changed={}", p.display());
            let name = p
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            out.push_str(&format!(
                "    ({name:?}, include_str!({:?})),\n",
                p.canonicalize().unwrap_or(p.clone()).display().to_string()
            ));
        }
    }
    out.push_str("];\n");
    let dest = Path::new(&env::var("OUT_DIR").unwrap_or_default()).join("stdlib.rs");
    let _ = fs::write(dest, out);
}
