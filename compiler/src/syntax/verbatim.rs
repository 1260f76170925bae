//! What a VERBATIM block's C means, where it is one of the idioms real `.mod` files repeat.
//!
//! hhc runs no C. But most VERBATIM blocks in ModelDB-era files are a handful of idioms that
//! say nothing hhc must run, or whose meaning without hoc is fixed:
//!
//! - **Declarations**: `#include` lines and conditionals (`#ifndef` … `#endif`), and
//!   prototypes or `extern` declarations (`double nrn_random_pick(void* r);`). They declare
//!   what other C uses. A `#define` is not one: it would change the C that NEURON generates
//!   from the NMODL after it.
//! - **`return 0;`** closing a PROCEDURE: C for "done".
//! - **A hoc Random attached to a POINTER** (the idiom of NEURON 7's netstim.mod, copied by
//!   PyNN, Brette et al. 2007 and many models): a PROCEDURE whose body stores
//!   `nrn_random_arg(1)` into `_p_rng` when hoc passes a Random, and a FUNCTION that draws
//!   from it when it is set:
//!   ```text
//!   VERBATIM if (_p_rng) { value = nrn_random_pick(_p_rng); return value; } else { ENDVERBATIM
//!       value = scop_random(1)
//!   VERBATIM } ENDVERBATIM
//!   ```
//!   hhc has no hoc, so no Random is ever attached: the POINTER stays unset and the NMODL
//!   between the two blocks (the `else` branch, hhc's own generator) is what runs, as it runs
//!   in NEURON when no Random is given. The opening block may declare C locals
//!   (`double value;`), which become LOCALs, and may hold NEURON's thread guard
//!   (`if (_nt != nrn_threads) { hoc_execerror(…); }`), which has nothing to guard in hhc.
//!
//! - **A hoc Vector played into a VecStim** (NEURON's `vecevent.mod`, copied by bmtk,
//!   hnn-core, neurodamus, PyNN and dendrotweaks): a PROCEDURE `element()` whose C reads entry
//!   `index` of the Vector that `play()` stored in the instance (in an ASSIGNED `space`, or a
//!   `BBCOREPOINTER ptr`) into `etime` and advances `index`, or sets `index = -1` past the end.
//!   The C's meaning is fixed; hhc gives the Vector from the model (`times` or `file` of the
//!   population), as `play()` would have before the run. A DESTRUCTOR that releases the Vector
//!   (`hoc_obj_unref`) and CoreNEURON's `bbcore_write`/`bbcore_read` (which copy it to
//!   CoreNEURON, a simulator hhc is not) run nothing here.
//!
//! Anything else is [`Verbatim::Other`]: hhc refuses it by name. The recognisers read the C
//! with comments and whitespace removed and accept exactly these shapes, never a look-alike
//! (`if (!_p_rng)`, or a branch that does more than the idiom does, is C hhc cannot run).

/// The meaning of one VERBATIM block's C.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verbatim {
    /// Only declarations: nothing runs.
    Declarations,
    /// `return 0;`.
    ReturnZero,
    /// `if (_p_<pointer>) { … } else {`, opening the branch taken while no hoc Random is
    /// attached; `locals` are the C locals it declares first.
    UnsetPointerElse {
        pointer: String,
        locals: Vec<String>,
    },
    /// `}`: the end of an [`Verbatim::UnsetPointerElse`] branch.
    Close,
    /// The body of a PROCEDURE that attaches a hoc Random to `_p_<pointer>`.
    AttachRandom { pointer: String },
    /// VecStim's `element()`: `if index >= 0`, entry `index` of the played Vector into `etime`
    /// and `index += 1`, or `index = -1` past its end (or when none was played).
    VectorElement {
        index: String,
        etime: String,
        handle: VectorHandle,
    },
    /// A DESTRUCTOR's release of the Vector held in `_p_<pointer>` (`hoc_obj_unref`).
    ReleaseVector { pointer: String },
    /// CoreNEURON's `bbcore_write`/`bbcore_read`, which only CoreNEURON's data transfer calls.
    CoreneuronTransfer,
    /// C hhc cannot run.
    Other,
}

/// Where a VecStim keeps the Vector that `play()` gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VectorHandle {
    /// In the bits of an ASSIGNED variable: `*((void**)(&space))`.
    Assigned(String),
    /// In a POINTER (`BBCOREPOINTER ptr`): `(void*)(_p_ptr)`.
    Pointer(String),
}

/// Reads one VERBATIM block's C (the text between `VERBATIM` and `ENDVERBATIM`).
pub fn classify(body: &str) -> Verbatim {
    let Some(code) = strip_comments(body) else {
        return Verbatim::Other;
    };
    if declarations_only(&code) {
        return Verbatim::Declarations;
    }
    // What is left once lines of the preprocessor are gone, without whitespace.
    let compact: String = code
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    match compact.as_str() {
        "return0;" => return Verbatim::ReturnZero,
        "}" => return Verbatim::Close,
        _ => {}
    }
    if let Some(pointer) = attach_random(&compact) {
        return Verbatim::AttachRandom { pointer };
    }
    if let Some(v) = vector_idiom(&compact) {
        return v;
    }
    if coreneuron_transfer(&compact) {
        return Verbatim::CoreneuronTransfer;
    }
    unset_pointer_else(&code).unwrap_or(Verbatim::Other)
}

/// The C without its comments, or `None` when a comment or string is not closed. String and
/// character literals are kept as they are.
fn strip_comments(c: &str) -> Option<String> {
    let mut out = String::with_capacity(c.len());
    let mut chars = c.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                loop {
                    let next = chars.next()?;
                    if last == '*' && next == '/' {
                        break;
                    }
                    last = next;
                }
                out.push(' ');
            }
            '/' if chars.peek() == Some(&'/') => {
                for next in chars.by_ref() {
                    if next == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' | '\'' => {
                out.push(ch);
                loop {
                    let next = chars.next()?;
                    out.push(next);
                    if next == '\\' {
                        out.push(chars.next()?);
                    } else if next == ch {
                        break;
                    }
                }
            }
            _ => out.push(ch),
        }
    }
    Some(out)
}

/// Whether every line is blank, a preprocessor line, or a declaration: `extern …;` or a
/// prototype `type name(params);` (no body, no assignment).
fn declarations_only(code: &str) -> bool {
    let mut statements = String::new();
    for line in code.lines() {
        let line = line.trim();
        if let Some(directive) = line.strip_prefix('#') {
            // A macro would change the C that NEURON generates from the NMODL after it.
            let word = directive
                .trim_start()
                .split(|c: char| !c.is_ascii_alphanumeric())
                .next();
            match word {
                Some("include" | "if" | "ifdef" | "ifndef" | "elif" | "else" | "endif") => continue,
                _ => return false,
            }
        }
        statements.push_str(line);
        statements.push(' ');
    }
    statements
        .split(';')
        .map(str::trim)
        .all(|s| s.is_empty() || is_declaration(s))
}

/// `extern int cvode_active_`, `double nrn_random_pick(void* r)`, `void* nrn_random_arg(int
/// argpos)`: words, `*`, and at most one parenthesised list of parameters, with no `=`, braces
/// or calls inside a parameter.
fn is_declaration(s: &str) -> bool {
    if s.contains(['=', '{', '}']) {
        return false;
    }
    let (head, params) = match s.split_once('(') {
        Some((head, rest)) => match rest.strip_suffix(')') {
            Some(params) if !params.contains(['(', ')']) => (head, Some(params)),
            _ => return false,
        },
        None => (s, None),
    };
    let words = |t: &str| -> Option<Vec<String>> {
        t.split(|c: char| c.is_whitespace() || c == '*' || c == ',')
            .filter(|w| !w.is_empty())
            .map(|w| identifier(w).map(str::to_string))
            .collect()
    };
    // A declaration names a type and then the thing (at least two words), and is no statement.
    const STATEMENTS: [&str; 11] = [
        "return", "goto", "break", "continue", "if", "else", "while", "for", "do", "switch", "case",
    ];
    let Some(head) = words(head) else {
        return false;
    };
    head.len() >= 2
        && !STATEMENTS.contains(&head[0].as_str())
        && params.is_none_or(|p| words(p).is_some())
}

fn identifier(s: &str) -> Option<&str> {
    let ok = !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit());
    ok.then_some(s)
}

/// `{void**pv=(void**)(&_p_X);if(ifarg(1)){*pv=nrn_random_arg(1);}else{*pv=(void*)0;}}`, with
/// or without the outer braces: the pointer's name X.
fn attach_random(compact: &str) -> Option<String> {
    let inner = compact
        .strip_prefix('{')
        .and_then(|c| c.strip_suffix('}'))
        .unwrap_or(compact);
    let rest = inner.strip_prefix("void**pv=(void**)(&_p_")?;
    let (name, rest) = rest.split_once(");")?;
    let name = identifier(name)?;
    let tail = "if(ifarg(1)){*pv=nrn_random_arg(1);}else{*pv=(void*)0;}";
    (rest == tail).then(|| name.to_string())
}

/// VecStim's `element()`, with `@I` the index, `@E` the time and `@H` the Vector's handle.
const VECTOR_ELEMENT: &str = "{void*vv;inti,size;double*px;i=(int)@I;if(i>=0){vv=@H;if(vv){size=vector_capacity(vv);px=vector_vec(vv);if(i<size){@E=px[i];@I+=1.;}else{@I=-1.;}}else{@I=-1.;}}}";

/// A DESTRUCTOR's release of the Vector in `_p_@P`.
const RELEASE_VECTOR: &str = "void*vv=(void*)(_p_@P);if(vv){hoc_obj_unref(*vector_pobj(vv));}";

/// [`Verbatim::VectorElement`] or [`Verbatim::ReleaseVector`].
fn vector_idiom(compact: &str) -> Option<Verbatim> {
    if let Some(names) = match_template(compact, RELEASE_VECTOR) {
        return Some(Verbatim::ReleaseVector {
            pointer: names[&'P'].clone(),
        });
    }
    let handles = [("*((void**)(&@A))", 'A'), ("(void*)(_p_@P)", 'P')];
    handles.iter().find_map(|&(handle, key)| {
        let names = match_template(compact, &VECTOR_ELEMENT.replace("@H", handle))?;
        let name = names[&key].clone();
        Some(Verbatim::VectorElement {
            index: names[&'I'].clone(),
            etime: names[&'E'].clone(),
            handle: match key {
                'A' => VectorHandle::Assigned(name),
                _ => VectorHandle::Pointer(name),
            },
        })
    })
}

/// Whether `text` is `template` with each `@X` an identifier (the same one wherever `@X`
/// repeats): the identifiers, by letter.
fn match_template(text: &str, template: &str) -> Option<std::collections::HashMap<char, String>> {
    let mut names = std::collections::HashMap::new();
    let (mut rest, mut pattern) = (text, template);
    while !pattern.is_empty() {
        if let Some(after) = pattern.strip_prefix('@') {
            let key = after.chars().next()?;
            pattern = &after[key.len_utf8()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let name = identifier(&rest[..end])?;
            if names.get(&key).is_some_and(|n: &String| n != name) {
                return None;
            }
            names.insert(key, name.to_string());
            rest = &rest[end..];
        } else {
            let literal = pattern.find('@').unwrap_or(pattern.len());
            rest = rest.strip_prefix(&pattern[..literal])?;
            pattern = &pattern[literal..];
        }
    }
    rest.is_empty().then_some(names)
}

/// Whether the C is only definitions of `static void bbcore_write(…) { … }` and
/// `static void bbcore_read(…) { … }`: CoreNEURON's hooks for copying an instance's data, which
/// nothing but CoreNEURON's transfer calls.
fn coreneuron_transfer(compact: &str) -> bool {
    let mut rest = compact;
    let mut any = false;
    while !rest.is_empty() {
        let Some(after) = ["staticvoidbbcore_write(", "staticvoidbbcore_read("]
            .iter()
            .find_map(|head| rest.strip_prefix(head))
        else {
            return false;
        };
        // The parameters, then the body's balanced braces.
        let Some((params, body)) = after.split_once(')') else {
            return false;
        };
        if params.contains(['(', '{', '}', ';']) || !body.starts_with('{') {
            return false;
        }
        let Some(end) = closing_brace(body, 0) else {
            return false;
        };
        rest = &body[end + 1..];
        any = true;
    }
    any
}

/// Where the `}` that closes the braces open at the start of `text` is, `depth` of them
/// opened before it (0 when `text` opens its own with `{`).
fn closing_brace(text: &str, mut depth: usize) -> Option<usize> {
    for (k, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(k);
                }
            }
            _ => {}
        }
    }
    None
}

/// `[double a, b;] if (_p_X) { … } else { [if (_nt != nrn_threads) { hoc_execerror(…); }]`: the
/// branch taken when no Random is attached, open at the block's end.
fn unset_pointer_else(code: &str) -> Option<Verbatim> {
    if code.lines().any(|l| l.trim_start().starts_with('#')) {
        return None;
    }
    // C locals declared first: `double a, b;`.
    let mut text = code.trim_start();
    let mut locals = Vec::new();
    while let Some(after) = text.strip_prefix("double") {
        if !after.starts_with(char::is_whitespace) {
            return None;
        }
        let (names, after) = after.split_once(';')?;
        for name in names.split(',') {
            locals.push(identifier(name.trim())?.to_string());
        }
        text = after.trim_start();
    }
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let rest = compact.strip_prefix("if(_p_")?;
    let (pointer, rest) = rest.split_once("){")?;
    let pointer = identifier(pointer)?.to_string();
    // The taken-when-set branch: balanced braces up to `}else{`.
    let after = rest[closing_brace(rest, 1)? + 1..].strip_prefix("else{")?;
    let guard_ok = after.is_empty() || {
        after
            .strip_prefix("if(_nt!=nrn_threads){hoc_execerror(")
            .and_then(|g| g.strip_suffix(");}"))
            .is_some_and(|args| !args.contains([';', '{', '}']))
    };
    guard_ok.then_some(Verbatim::UnsetPointerElse { pointer, locals })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_are_read_as_nothing_to_run() {
        for c in [
            "\n#include <stdlib.h>\n#include<math.h>\n",
            "double nrn_random_pick(void* r);\nvoid* nrn_random_arg(int argpos);\n",
            "extern int cvode_active_;\n/* a comment */ // another\n",
            "#ifndef CORENEURON_BUILD\n#include \"nrnran123.h\"\nextern int cvode_active_;\n#endif\n",
        ] {
            assert_eq!(classify(c), Verbatim::Declarations, "{c}");
        }
    }

    #[test]
    fn return_zero_and_close() {
        assert_eq!(classify("\n\treturn 0;\n"), Verbatim::ReturnZero);
        assert_eq!(classify("\n\t}\n"), Verbatim::Close);
    }

    #[test]
    fn a_random_attached_from_hoc() {
        let pynn = "\n    {\n        void** pv = (void**)(&_p_rng);\n        if( ifarg(1)) {\n            *pv = nrn_random_arg(1);\n        } else {\n            *pv = (void*)0;\n        }\n    }\n";
        assert_eq!(
            classify(pynn),
            Verbatim::AttachRandom {
                pointer: "rng".into()
            }
        );
        let netstim = "\n {\n\tvoid** pv = (void**)(&_p_donotuse);\n\tif (ifarg(1)) {\n\t\t*pv = nrn_random_arg(1);\n\t}else{\n\t\t*pv = (void*)0;\n\t}\n }\n";
        assert_eq!(
            classify(netstim),
            Verbatim::AttachRandom {
                pointer: "donotuse".into()
            }
        );
    }

    #[test]
    fn the_branch_taken_while_no_random_is_attached() {
        let pynn = "\n        double value;\n        if (_p_rng) {\n            /*\n            :Supports separate streams\n            */\n            value = nrn_random_pick(_p_rng);\n            //printf(\"random stream = %lf\\n\",value);\n            return value;\n        }else{\n";
        assert_eq!(
            classify(pynn),
            Verbatim::UnsetPointerElse {
                pointer: "rng".into(),
                locals: vec!["value".into()]
            }
        );
        let netstim = "\n\tif (_p_donotuse) {\n\t\t/* hoc Random */\n\t\t_lerand = nrn_random_pick(_p_donotuse);\n\t}else{\n\t\t/* only can be used in main thread */\n\t\tif (_nt != nrn_threads) {\nhoc_execerror(\"multithread random in NetStim\",\" only via hoc Random\");\n\t\t}\n";
        assert_eq!(
            classify(netstim),
            Verbatim::UnsetPointerElse {
                pointer: "donotuse".into(),
                locals: vec![]
            }
        );
    }

    const ELEMENT: &str = "
  { void* vv; int i, size; double* px;
\ti = (int)index;
\tif (i >= 0) {
\t\tvv = *((void**)(&space));
\t\tif (vv) {
\t\t\tsize = vector_capacity(vv);
\t\t\tpx = vector_vec(vv);
\t\t\tif (i < size) {
\t\t\t\tetime = px[i];
\t\t\t\tindex += 1.;
\t\t\t}else{
\t\t\t\tindex = -1.;
\t\t\t}
\t\t}else{
\t\t\tindex = -1.;
\t\t}
\t}
  }
";

    #[test]
    fn a_vecstims_element_in_either_handle() {
        assert_eq!(
            classify(ELEMENT),
            Verbatim::VectorElement {
                index: "index".into(),
                etime: "etime".into(),
                handle: VectorHandle::Assigned("space".into())
            }
        );
        let pointer = ELEMENT.replace("*((void**)(&space))", "(void*)(_p_ptr)");
        assert_eq!(
            classify(&pointer),
            Verbatim::VectorElement {
                index: "index".into(),
                etime: "etime".into(),
                handle: VectorHandle::Pointer("ptr".into())
            }
        );
        let renamed = ELEMENT.replace("index", "k").replace("etime", "next");
        assert!(matches!(
            classify(&renamed),
            Verbatim::VectorElement { index, etime, .. } if index == "k" && etime == "next"
        ));
        let release = "\n#if !NRNBBCORE\n\tvoid* vv = (void*)(_p_ptr);  \n        if (vv) {\n\t\thoc_obj_unref(*vector_pobj(vv));\n\t}\n#endif\n";
        assert_eq!(
            classify(release),
            Verbatim::ReleaseVector {
                pointer: "ptr".into()
            }
        );
        let transfer = "static void bbcore_write(double* x, int* i, int* xo, int* io, _threadargsproto_) {\n  int k; if (i) { for (k = 0; k < 3; ++k) { x[k] = 0; } }\n}\nstatic void bbcore_read(double* x, int* i, int* xo, int* io, _threadargsproto_) { *xo += 1; }\n";
        assert_eq!(classify(transfer), Verbatim::CoreneuronTransfer);
    }

    #[test]
    fn a_vecstim_element_that_differs_is_c_hhc_cannot_run() {
        for (from, to) in [
            ("etime = px[i]", "etime = px[i + 1]"),
            ("index += 1.", "index += 2."),
            ("i = (int)index", "i = (int)etime"),
            ("if (i >= 0)", "if (i > 0)"),
            ("index = -1.;\n\t\t\t}", "index = 0.;\n\t\t\t}"),
            ("(&space)", "(&space + 1)"),
        ] {
            let changed = ELEMENT.replacen(from, to, 1);
            assert_ne!(changed, ELEMENT, "{from}");
            assert_eq!(classify(&changed), Verbatim::Other, "{to}");
        }
        for c in [
            "void* vv = (void*)(_p_ptr); if (vv) { hoc_obj_unref(*vector_pobj(vv)); } free(vv);",
            "static void bbcore_write(double* x) { }\nint y = 1;",
            "static void bbcore_print(double* x) { }",
            "static void bbcore_write(double* x) { ",
        ] {
            assert_eq!(classify(c), Verbatim::Other, "{c}");
        }
    }

    #[test]
    fn look_alikes_are_c_hhc_cannot_run() {
        for c in [
            "if (!_p_rng) { x = 1; } else {",
            "if (_p_rng) { x = 1; } else { y = 2; }",
            "if (_p_rng) { x = 1; } else { y = 2;",
            "if (_p_rng) { x = 1; else {",
            "void** pv = (void**)(&_p_rng); *pv = nrn_random_arg(1);",
            "double x = 1;",
            "static double f(double x) { return x; }",
            "return 1;",
            "} else {",
            "/* unclosed",
            "\"unclosed",
            "hoc_execerror(\"no\", 0);",
            "#define RANDCAST (Rand*)\n",
            "#undef exp\n",
            "",
        ] {
            let got = classify(c);
            let empty = c.trim().is_empty();
            assert!(
                got == Verbatim::Other || (empty && got == Verbatim::Declarations),
                "{c:?} read as {got:?}"
            );
        }
    }
}
