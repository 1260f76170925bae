//! Finding and compiling files: model files, and mechanisms by SUFFIX.

use hhc_compiler::diagnostic::{render_to_string, Diagnostic};
use hhc_compiler::ir::Mechanism;
use hhc_compiler::sema::model::Model;
use hhc_compiler::sema::network::Share;
use hhc_compiler::span::Span;
use std::path::{Path, PathBuf};

include!(concat!(env!("OUT_DIR"), "/stdlib.rs"));

/// Rendered diagnostics of every file involved, ready to print.
#[derive(Debug, Default)]
pub struct Report {
    pub text: String,
}

impl Report {
    pub fn add(&mut self, file: &str, src: &str, diags: &[Diagnostic]) {
        self.text.push_str(&render_to_string(file, src, diags));
    }
}

/// Reads a source file. Invalid UTF-8 is a diagnostic pointing at the first bad byte.
pub fn read_source(path: &Path) -> Result<String, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("error: cannot read {}: {e}\n", path.display()))?;
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let d = Diagnostic::error(
                "file is not valid UTF-8",
                Span::new(at, at + 1),
                "invalid byte here",
            )
            .with_hint(".chan files are UTF-8 text; is this a binary file?");
            Err(render_to_string(&path.display().to_string(), &lossy, &[d]))
        }
    }
}

/// Where a mechanism with this SUFFIX lives: `DIR/NAME.chan` or `DIR/NAME.mod`, else a file in
/// DIR that declares it, else the stdlib.
/// A model file of that name (`nainst.chan` beside `nainst.mod`) is not a mechanism and is
/// passed over.
pub fn find_mechanism(name: &str, model_dir: &Path) -> Option<(String, String)> {
    for ext in ["chan", "mod"] {
        let p: PathBuf = model_dir.join(format!("{name}.{ext}"));
        if p.is_file() {
            if let Ok(src) = read_source(&p) {
                let is_model = hhc_compiler::syntax::parse(&src).0.is_some_and(|f| {
                    hhc_compiler::sema::file_kind(&f) == hhc_compiler::sema::FileKind::Model
                });
                if !is_model {
                    return Some((p.display().to_string(), src));
                }
            }
        }
    }
    declaring_file(name, model_dir).or_else(|| {
        STDLIB
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, src)| (format!("stdlib/{n}.chan"), (*src).to_string()))
    })
}

/// The name a mechanism file's NEURON block gives (SUFFIX, POINT_PROCESS or ARTIFICIAL_CELL),
/// if it parses.
fn declared_name(src: &str) -> Option<String> {
    use hhc_compiler::syntax::ast::{Item, NeuronStmt};
    let file = hhc_compiler::syntax::parse(src).0?;
    file.items.iter().find_map(|item| match item {
        Item::Neuron { stmts, .. } => stmts.iter().find_map(|s| match s {
            NeuronStmt::Suffix(n) | NeuronStmt::PointProcess(n) | NeuronStmt::ArtificialCell(n) => {
                Some(n.name.clone())
            }
            _ => None,
        }),
        _ => None,
    })
}

/// A `.mod` or `.chan` file in `dir` that declares the mechanism `name` under another file
/// name, as NEURON's folders often do (`cabpump.mod` holds SUFFIX `cadifpmp`); the first in
/// name order.
fn declaring_file(name: &str, dir: &Path) -> Option<(String, String)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "mod" || x == "chan"))
        .collect();
    files.sort();
    files.into_iter().find_map(|p| {
        let src = read_source(&p).ok()?;
        // A cheap test before parsing: the name must appear in the file.
        if !src.contains(name) || declared_name(&src).as_deref() != Some(name) {
            return None;
        }
        Some((p.display().to_string(), src))
    })
}

/// The mechanisms a model in `dir` can INSERT: those the `.chan` and `.mod` files beside it
/// declare, then the embedded stdlib.
pub fn mechanism_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            let ext = p.extension()?.to_str()?;
            if !matches!(ext, "chan" | "mod") {
                return None;
            }
            // The name the file declares, else its own name.
            let src = read_source(&p).ok()?;
            declared_name(&src).or_else(|| p.file_stem()?.to_str().map(str::to_owned))
        })
        .collect();
    names.sort();
    names.dedup();
    names.extend(STDLIB.iter().map(|(n, _)| (*n).to_string()));
    names
}

/// The embedded stdlib: (SUFFIX, source) of every mechanism, in name order.
pub fn stdlib() -> &'static [(&'static str, &'static str)] {
    STDLIB
}

/// Compiles mechanism source read from `file` (a name or a path): a `.mod` file as NEURON's
/// ([`hhc_compiler::compile_neuron_mechanism`]: its conductances NEURON's difference quotients),
/// any other as hhc's own.
pub fn compile_mechanism_file(file: &str, src: &str) -> Result<Mechanism, Vec<Diagnostic>> {
    match Path::new(file)
        .file_name()
        .filter(|_| file.ends_with(".mod"))
    {
        Some(name) => hhc_compiler::compile_neuron_mechanism(src, &name.to_string_lossy()),
        None => hhc_compiler::compile_mechanism(src),
    }
}

/// Parses and lowers a model file; mechanism errors are rendered against their own files.
pub fn load_model(path: &Path) -> Result<Model, Report> {
    load_model_shared(path, None)
}

/// [`load_model`] for one process of several: a NETWORK holds only the connections to the
/// cells that process steps (see [`crate::distributed`]), so each builds its share.
pub fn load_model_shared(path: &Path, share: Option<Share>) -> Result<Model, Report> {
    let file_name = path.display().to_string();
    let src = match read_source(path) {
        Ok(s) => s,
        Err(text) => return Err(Report { text }),
    };
    // A bare file name's folder is the working one (`Path::new("")` cannot be listed).
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    load_model_source_shared(&file_name, &src, &dir, share)
}

/// Parses and lowers model source text as if it were the file `file_name` in folder `dir`
/// (where its mechanisms, SWC and CSV files are looked for before the stdlib).
pub fn load_model_source(file_name: &str, src: &str, dir: &Path) -> Result<Model, Report> {
    load_model_source_shared(file_name, src, dir, None)
}

/// [`load_model_source`] for one process of several (see [`load_model_shared`]).
pub fn load_model_source_shared(
    file_name: &str,
    src: &str,
    dir: &Path,
    share: Option<Share>,
) -> Result<Model, Report> {
    let mut report = Report::default();
    let (file_name, src) = (file_name.to_string(), src.to_string());
    let (ast, diags) = hhc_compiler::syntax::parse(&src);
    let ast = match ast {
        Some(a) if !diags.iter().any(Diagnostic::is_error) => a,
        _ => {
            report.add(&file_name, &src, &diags);
            return Err(report);
        }
    };
    if hhc_compiler::sema::file_kind(&ast) != hhc_compiler::sema::FileKind::Model {
        let d = Diagnostic::error(
            "this is a mechanism file, not a model",
            Span::new(0, 0),
            "no CELL or SIMULATE block",
        )
        .with_hint("write a model file with CELL and SIMULATE blocks that INSERTs this mechanism");
        report.add(&file_name, &src, &[d]);
        return Err(report);
    }
    let dir = dir.to_path_buf();
    let mut mech_reports = Report::default();
    let mut warnings = Report::default();
    let mut warned = std::collections::HashSet::new();
    let mut resolve = |name: &str| -> Result<Option<Mechanism>, ()> {
        let Some((mfile, msrc)) = find_mechanism(name, &dir) else {
            return Ok(None);
        };
        match compile_mechanism_file(&mfile, &msrc) {
            Ok(m) if m.name == name => {
                // Each file's warnings once, however many cells insert it.
                if !m.warnings.is_empty() && warned.insert(mfile.clone()) {
                    warnings.add(&mfile, &msrc, &m.warnings);
                }
                Ok(Some(m))
            }
            Ok(m) => {
                let d = Diagnostic::error(
                    format!("file is named `{name}` but its SUFFIX is `{}`", m.name),
                    Span::new(0, 0),
                    "SUFFIX mismatch",
                )
                .with_hint("a mechanism file is named after its SUFFIX");
                mech_reports.add(&mfile, &msrc, &[d]);
                Err(())
            }
            Err(diags) => {
                mech_reports.add(&mfile, &msrc, &diags);
                Err(())
            }
        }
    };
    let mut files = |name: &str| -> Result<String, String> {
        std::fs::read_to_string(dir.join(name))
            .map_err(|e| format!("cannot read {}: {e}", dir.join(name).display()))
    };
    let names = mechanism_names(&dir);
    let lowered = hhc_compiler::sema::model::lower_model_shared(
        &ast,
        &mut resolve,
        &mut files,
        &names,
        share,
    );
    match lowered {
        Ok(mut m) => {
            m.warnings = warnings.text;
            Ok(m)
        }
        Err(diags) => {
            report.text.push_str(&mech_reports.text);
            report.add(&file_name, &src, &diags);
            Err(report)
        }
    }
}
