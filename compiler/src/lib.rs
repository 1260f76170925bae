//! # hhc-compiler: `.chan` text to checked IR, then to machine code or PTX
//!
//! The pipeline, one function per stage:
//!
//! ```text
//! syntax::parse(&str)            -> (Option<ast::File>, Vec<Diagnostic>)   logos + chumsky
//! sema::lower_mechanism(&File)   -> Result<ir::Mechanism, Vec<Diagnostic>>  names, units, inlining
//! passes::cnexp::cnexp(&mut M)   -> Result<(), Vec<Diagnostic>>            exact exponential Euler
//! passes::steppers::*(&mut M)                                            NEURON's euler, runge,
//!                                                                         derivimplicit (Newton)
//! passes::conductance(&mut M)                                               dI/dv, analytic
//! cell::build(&Model)            -> ir::CellProgram                        fused step of one cell type
//! cable::build(&Model)           -> Result<cable::CableProgram, usize>     a morphology's whole step
//! cell::build_receive(..)        -> cell::ReceiveProgram                   a synapse's NET_RECEIVE
//! cell::build_artificial(..)     -> cell::ArtificialProgram                an ARTIFICIAL_CELL's events
//! backend::jit / backend::ptx    -> native code | PTX text
//! ```
//!
//! **Networks.** A model with a NETWORK lowers to [`sema::network::Network`]: populations, each
//! with its own model, and every connection expanded into one list. Point processes are
//! mechanisms too: a node that carries them is a region of its own in [`cable::Region`], whose
//! compartment program holds their states and their currents scaled from nA to the node's
//! density. What an event does is a small program apart (NET_RECEIVE, with `net_send`,
//! `net_event` and `net_move` as conditional outputs), which the runtime evaluates per event.
//!
//! **Statements without statements.** Lowering executes a block symbolically, so control flow
//! becomes data: `if` is a select, `while` is unrolled into guarded passes (a loop still running
//! at the end leaves NaN, never a truncated value), a LINEAR block is Gaussian elimination as
//! expressions, and an ASSIGNED value that must outlive its block (NEURON's stored values: a
//! written concentration, a rate computed only in INITIAL) becomes a state of the instance.
//! Valid NMODL that cannot be lowered this way (arbitrary VERBATIM C, arrays indexed at run
//! time, a POINTER hhc cannot bind) still parses and is refused with one diagnostic naming the
//! construct. The VERBATIM idioms whose meaning without hoc is fixed (declarations, `return
//! 0;`, a hoc Random's branch for no Random) are read by `syntax::verbatim`.
//!
//! **What flows in:** source text. **What flows out:** an [`ir::Mechanism`] per mechanism file,
//! a [`sema::model::Model`] per model file, and per model one [`ir::CellProgram`] that the
//! backends compile.
//!
//! **Invariants.**
//! * No stage panics on user input; every user error is a [`diagnostic::Diagnostic`] with a span.
//! * The IR is a hash-consed DAG without statements: kernels are parallel assignments, so every
//!   read sees the value at kernel entry and code generation is branch-free.
//! * Only [`diagnostic`] touches codespan-reporting.
//! * The backends share the kernel list and naming ([`backend`]) and the special-function
//!   expansion ([`passes::mathlib`]); they differ in small target overrides.
//! * Whatever the CPU kernel hands to precompiled array routines
//!   ([`backend::jit::batched`]) is computed with the portable formula's exact operations:
//!   staging changes speed, never bits.

pub mod backend;
pub mod cable;
pub mod cell;
pub mod diagnostic;
pub mod ir;
pub mod passes;
pub mod sema;
pub mod span;
pub mod syntax;

use diagnostic::Diagnostic;

/// [`compile_mechanism`] for NEURON's `.mod` file `file_name`, with what NEURON's translator
/// makes of it: the mechanism keeps its file's name (NEURON orders state updates by it), its
/// currents' conductances are NEURON's difference quotients
/// ([`passes::conductance::neuron_difference_quotient`]), and each PARAMETER's default is the
/// number nocmodl prints into the C it compiles, six significant digits (`%g`): LFPy's
/// sinsyn.mod declares `PI = 3.14159265358979323846`, and NEURON runs it with 3.14159.
pub fn compile_neuron_mechanism(
    src: &str,
    file_name: &str,
) -> Result<ir::Mechanism, Vec<Diagnostic>> {
    let mut m = compile_mechanism_as(src, sema::Dialect::Neuron)?;
    m.neuron_file = Some(file_name.to_string());
    passes::conductance::neuron_difference_quotient(&mut m);
    for p in &mut m.params {
        p.default = as_printed_by_nocmodl(p.default);
    }
    Ok(m)
}

/// `x` printed with C's `%g` (six significant digits) and read back, as nocmodl writes a
/// PARAMETER's default into C: 1.23456789 becomes 1.23457, 12345678.9 becomes 1.23457e+07.
pub fn as_printed_by_nocmodl(x: f64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    format!("{x:.5e}").parse().unwrap_or(x)
}

/// Parses, lowers, solves and checks one mechanism source.
pub fn compile_mechanism(src: &str) -> Result<ir::Mechanism, Vec<Diagnostic>> {
    compile_mechanism_as(src, sema::Dialect::Hhc)
}

/// [`compile_mechanism`] in `dialect` (NEURON's, for a `.mod` file: units document the
/// numbers, and their mismatches are warnings in [`ir::Mechanism::warnings`]).
pub fn compile_mechanism_as(
    src: &str,
    dialect: sema::Dialect,
) -> Result<ir::Mechanism, Vec<Diagnostic>> {
    let (file, mut diags) = syntax::parse(src);
    let Some(file) = file.filter(|_| !diags.iter().any(Diagnostic::is_error)) else {
        return Err(diags);
    };
    if sema::file_kind(&file) == sema::FileKind::Model {
        diags.push(
            Diagnostic::error(
                "expected a mechanism file, found a model file",
                span::Span::new(0, 0),
                "CELL/SIMULATE blocks",
            )
            .with_hint("run it with `hhc run`"),
        );
        return Err(diags);
    }
    let mut m = sema::lower_mechanism_as(&file, dialect)?;
    match (&m.method, m.kinetic.clone()) {
        (Some(ir::Method::Sparse), Some(scheme)) => {
            let advance =
                passes::kinetic::backward_euler(&mut m.exprs, &scheme).map_err(|d| vec![d])?;
            passes::cnexp::finish(&mut m, advance);
        }
        // The procedure's assignments are the update already (sema wrote `advance`).
        (Some(ir::Method::Procedure), _) => {
            let advance = std::mem::take(&mut m.advance);
            passes::cnexp::finish(&mut m, advance);
        }
        (Some(ir::Method::Euler), _) => passes::steppers::euler(&mut m),
        (Some(ir::Method::Implicit), _) => passes::steppers::derivimplicit(&mut m),
        (Some(ir::Method::Runge), _) => passes::steppers::runge(&mut m),
        _ => passes::cnexp::cnexp(&mut m)?,
    }
    passes::conductance::conductance(&mut m);
    if let Err(e) = ir::validate::validate_mechanism(&m) {
        return Err(vec![Diagnostic::error(
            format!("internal compiler error: {}", e.0),
            span::Span::new(0, 0),
            "please report this",
        )]);
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    /// The C that NEURON 9.0.2's nocmodl wrote for these PARAMETER defaults (`double y =
    /// 1.23457;`, `1.23457e+07, /* z */`, `double w = 0.000123457;`, `double PI = 3.14159;`).
    #[test]
    #[allow(clippy::approx_constant)] // 3.14159 is the number NEURON runs, not an approximation
    fn a_mod_files_parameter_defaults_are_what_nocmodl_prints() {
        let src = "NEURON { SUFFIX dig RANGE x, z GLOBAL y }
PARAMETER { x = 1.23456789 y = 1.23456789 z = 12345678.9 w = 0.000123456789 PI = 3.14159265358979323846 n = -54.3 }
ASSIGNED { a }
BREAKPOINT { a = x + y + z + w + PI + n }
";
        let neuron = super::compile_neuron_mechanism(src, "dig.mod").expect("compiles");
        let defaults: Vec<f64> = neuron.params.iter().map(|p| p.default).collect();
        assert_eq!(
            defaults,
            [1.23457, 1.23457, 1.23457e7, 0.000123457, 3.14159, -54.3]
        );
        let own = super::compile_mechanism(src).expect("compiles");
        assert_eq!(own.params[0].default, 1.23456789);
    }
}
