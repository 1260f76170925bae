//! Every error class, as an insta snapshot holding the source and its rendered diagnostic
//! (Gleam's pattern). Each case must fail with at least one error and a `file:line:col`.

use hhc_compiler::diagnostic::{render_to_string, Diagnostic};
use hhc_compiler::ir::Mechanism;
use hhc_compiler::sema::model::lower_model;

fn stdlib(name: &str) -> Option<String> {
    std::fs::read_to_string(format!(
        "{}/../stdlib/{name}.chan",
        env!("CARGO_MANIFEST_DIR")
    ))
    .ok()
}

fn diagnose(src: &str) -> Vec<Diagnostic> {
    let (file, diags) = hhc_compiler::syntax::parse(src);
    if diags.iter().any(Diagnostic::is_error) {
        return diags;
    }
    let Some(file) = file else { return diags };
    match hhc_compiler::sema::file_kind(&file) {
        hhc_compiler::sema::FileKind::Mechanism => hhc_compiler::compile_mechanism(src)
            .err()
            .unwrap_or_default(),
        hhc_compiler::sema::FileKind::Model => {
            let mut resolve = |name: &str| -> Result<Option<Mechanism>, ()> {
                match stdlib(name) {
                    Some(s) => hhc_compiler::compile_mechanism(&s)
                        .map(Some)
                        .map_err(|_| ()),
                    None => Ok(None),
                }
            };
            lower_model(&file, &mut resolve).err().unwrap_or_default()
        }
    }
}

fn case(name: &str, src: &str) {
    let diags = diagnose(src);
    assert!(
        diags.iter().any(Diagnostic::is_error),
        "{name}: expected an error, got none"
    );
    let rendered = render_to_string("input.chan", src, &diags);
    assert!(
        rendered.contains("input.chan:"),
        "{name}: no location in\n{rendered}"
    );
    for d in &diags {
        assert!(
            d.hint.is_some(),
            "{name}: diagnostic without a hint: {}",
            d.message
        );
    }
    insta::assert_snapshot!(name, format!("{src}\n---\n{rendered}"));
}

const MECH_HEAD: &str = "NEURON { SUFFIX t USEION na READ ena WRITE ina RANGE g }\nPARAMETER { g = 1 (mS/cm2) }\nSTATE { m }\nASSIGNED { v (mV) ena (mV) ina (uA/cm2) }\n";

fn mech(body: &str) -> String {
    format!("{MECH_HEAD}{body}")
}

const GOOD_BREAKPOINT: &str = "BREAKPOINT { SOLVE s METHOD cnexp ina = g*m*(v - ena) }\n";

#[test]
fn syntax_errors() {
    case(
        "syntax_stray_character",
        "NEURON { SUFFIX x }\nPARAMETER { g = 1 $ }\n",
    );
    case(
        "syntax_unterminated_comment",
        "COMMENT\nnever closed\nNEURON { SUFFIX x }\n",
    );
    case(
        "syntax_unterminated_verbatim",
        "NEURON { SUFFIX x }\nVERBATIM\nint x;\n",
    );
    case("syntax_missing_suffix_name", "NEURON { SUFFIX }\n");
    case(
        "syntax_incomplete_expression",
        &mech("BREAKPOINT { ina = g * }\n"),
    );
    case(
        "syntax_unclosed_block",
        &mech("BREAKPOINT { ina = g*(v - ena)\n"),
    );
    case(
        "syntax_brace_missing_mid_file",
        &mech("INITIAL { m = 0\nBREAKPOINT { SOLVE s METHOD cnexp ina = g*m*(v - ena) }\nDERIVATIVE s { m' = 1 - m }\n"),
    );
    case(
        "syntax_unmatched_close",
        &mech("BREAKPOINT { ina = g*(v - ena) } }\n"),
    );
    // Found by the fuzzer: 67 unclosed `{` made the parser's recovery run for hours.
    case(
        "syntax_many_unclosed_braces",
        &mech(&format!(
            "BREAKPOINT {{ ina = g{}(v - ena) }}\n",
            "{".repeat(67)
        )),
    );
    case(
        "syntax_unclosed_paren",
        &mech("BREAKPOINT { ina = g*(v - ena }\n"),
    );
    case(
        "syntax_bad_parameter",
        "NEURON { SUFFIX x }\nPARAMETER { g = }\n",
    );
    case("syntax_unknown_block", "NEURON { SUFFIX x }\nFOOBAR { }\n");
    case(
        "syntax_several_errors",
        "NEURON { SUFFIX x RANGE }\nPARAMETER { q = }\nBREAKPOINT {\n  a = 1 +\n  b = 2\n}\n",
    );
    case(
        "syntax_deep_nesting",
        &format!(
            "NEURON {{ SUFFIX x }}\nFUNCTION f() {{ f = {}1{} }}\n",
            "(".repeat(10_000),
            ")".repeat(10_000)
        ),
    );
}

#[test]
fn name_errors() {
    case(
        "undefined_name",
        &mech(&format!(
            "{GOOD_BREAKPOINT}DERIVATIVE s {{ m' = (minf - m)/2 }}\n"
        )),
    );
    case(
        "undefined_name_with_suggestion",
        &mech(
            "BREAKPOINT { SOLVE s METHOD cnexp ina = gg*m*(v - ena) }\nDERIVATIVE s { m' = -m }\n",
        ),
    );
    case(
        "assignment_to_undeclared",
        &mech(&format!(
            "{GOOD_BREAKPOINT}DERIVATIVE s {{ tau = 2 m' = -m/tau }}\n"
        )),
    );
    case(
        "duplicate_declaration",
        "NEURON { SUFFIX x }\nPARAMETER { g = 1 }\nASSIGNED { g }\n",
    );
    case(
        "duplicate_function",
        "NEURON { SUFFIX x }\nFUNCTION f() { f = 1 }\nFUNCTION f() { f = 2 }\n",
    );
    case(
        "derivative_of_non_state",
        &mech(&format!(
            "{GOOD_BREAKPOINT}DERIVATIVE s {{ g' = 1 m' = -m }}\n"
        )),
    );
    case(
        "wrong_arity_builtin",
        &mech(&format!(
            "{GOOD_BREAKPOINT}DERIVATIVE s {{ m' = exp(1, 2) - m }}\n"
        )),
    );
    case(
        "wrong_arity_function",
        &mech(&format!(
            "{GOOD_BREAKPOINT}DERIVATIVE s {{ m' = f(1) - m }}\nFUNCTION f(a, b) {{ f = a + b }}\n"
        )),
    );
    case(
        "unknown_function",
        &mech(&format!(
            "{GOOD_BREAKPOINT}DERIVATIVE s {{ m' = exq(1) - m }}\n"
        )),
    );
    case(
        "procedure_as_value",
        &mech(&format!(
            "{GOOD_BREAKPOINT}DERIVATIVE s {{ m' = p() - m }}\nPROCEDURE p() {{ }}\n"
        )),
    );
    case(
        "recursive_procedure",
        &mech(&format!(
            "{GOOD_BREAKPOINT}DERIVATIVE s {{ p() m' = -m }}\nPROCEDURE p() {{ p() }}\n"
        )),
    );
    case(
        "recursive_function",
        &mech(&format!(
            "{GOOD_BREAKPOINT}DERIVATIVE s {{ m' = f(1) - m }}\nFUNCTION f(x) {{ f = f(x - 1) }}\n"
        )),
    );
    case("mutual_recursion", &mech(&format!("{GOOD_BREAKPOINT}DERIVATIVE s {{ m' = f(1) - m }}\nFUNCTION f(x) {{ f = h(x) }}\nFUNCTION h(x) {{ h = f(x) }}\n")));
    case(
        "assign_to_parameter",
        &mech(&format!(
            "{GOOD_BREAKPOINT}DERIVATIVE s {{ g = 2 m' = -m }}\n"
        )),
    );
    case(
        "assign_to_builtin",
        &mech(&format!(
            "{GOOD_BREAKPOINT}DERIVATIVE s {{ celsius = 2 m' = -m }}\n"
        )),
    );
    case(
        "assign_to_state_outside_initial",
        &mech("BREAKPOINT { m = 1 ina = g*m*(v - ena) }\n"),
    );
    case("read_before_assign", "NEURON { SUFFIX x NONSPECIFIC_CURRENT i }\nASSIGNED { i (mA/cm2) a }\nBREAKPOINT { i = a }\n");
}

#[test]
fn interface_errors() {
    case(
        "point_process_current_as_density",
        "NEURON { POINT_PROCESS syn NONSPECIFIC_CURRENT i }\nASSIGNED { v (mV) i (mA/cm2) }\nBREAKPOINT { i = 0 }\n",
    );
    case(
        "written_concentration_without_state_is_reported_once",
        "NEURON { SUFFIX cad USEION ca READ ica, cai WRITE cai }\nASSIGNED { v (mV) ica (mA/cm2) cai (mM) }\nBREAKPOINT { if (cai > 1) { } }\n",
    );
    case(
        "neuron_without_suffix",
        "NEURON { RANGE g }\nPARAMETER { g = 1 }\n",
    );
    case("no_neuron_block", "PARAMETER { g = 1 }\nBREAKPOINT { }\n");
    case(
        "useion_bad_variable",
        "NEURON { SUFFIX x USEION na READ ek }\n",
    );
    case(
        "useion_twice",
        "NEURON { SUFFIX x USEION na READ ena USEION na WRITE ina }\n",
    );
    case(
        "useion_write_concentration",
        "NEURON { SUFFIX x USEION ca READ cai WRITE cai }\n",
    );
    case(
        "useion_write_reversal",
        "NEURON { SUFFIX x USEION ca WRITE eca }\n",
    );
    case(
        "current_never_assigned",
        "NEURON { SUFFIX x NONSPECIFIC_CURRENT i }\nASSIGNED { i (mA/cm2) }\nBREAKPOINT { }\n",
    );
    case(
        "suffix_and_point_process",
        "NEURON { SUFFIX x POINT_PROCESS syn }\n",
    );
    case(
        "net_send_in_breakpoint",
        "NEURON { POINT_PROCESS syn NONSPECIFIC_CURRENT i }\nASSIGNED { v (mV) i (nA) }\nBREAKPOINT { i = 0  net_send(1, 1) }\n",
    );
    case(
        "initial_inside_breakpoint",
        "NEURON { SUFFIX x NONSPECIFIC_CURRENT i }\nASSIGNED { v (mV) i (mA/cm2) }\nBREAKPOINT { INITIAL { i = 0 } i = 0 }\n",
    );
    case(
        "net_move_in_initial",
        "NEURON { ARTIFICIAL_CELL c }\nSTATE { g }\nINITIAL { g = 0  net_move(t + 1) }\nNET_RECEIVE(w) { g = g + w }\n",
    );
    case(
        "net_event_at_another_time",
        "NEURON { ARTIFICIAL_CELL c }\nSTATE { g }\nINITIAL { g = 0 }\nNET_RECEIVE(w) { net_event(t + 1) }\n",
    );
    case(
        "watch_outside_net_receive",
        "NEURON { POINT_PROCESS syn NONSPECIFIC_CURRENT i }\nASSIGNED { v (mV) i (nA) }\nINITIAL { WATCH (v > 0) 2 }\nBREAKPOINT { i = 0 }\nNET_RECEIVE(w) { }\n",
    );
    case(
        "watch_not_a_comparison",
        "NEURON { POINT_PROCESS syn NONSPECIFIC_CURRENT i }\nASSIGNED { v (mV) i (nA) }\nBREAKPOINT { i = 0 }\nNET_RECEIVE(w) { WATCH (v + 1) 2 }\n",
    );
    case(
        "watch_compares_other_units",
        "NEURON { POINT_PROCESS syn NONSPECIFIC_CURRENT i }\nPARAMETER { top = 1 (ms) }\nASSIGNED { v (mV) i (nA) }\nBREAKPOINT { i = 0 }\nNET_RECEIVE(w) { WATCH (v > top) 2 }\n",
    );
    case(
        "for_netcons_outside_net_receive",
        "NEURON { POINT_PROCESS syn NONSPECIFIC_CURRENT i }\nASSIGNED { v (mV) i (nA) }\nBREAKPOINT { FOR_NETCONS(w1) { w1 = 0 } i = 0 }\nNET_RECEIVE(w) { }\n",
    );
    case(
        "for_netcons_argument_count",
        "NEURON { POINT_PROCESS syn NONSPECIFIC_CURRENT i }\nASSIGNED { v (mV) i (nA) }\nSTATE { g }\nBREAKPOINT { i = g }\nNET_RECEIVE(w, A) { FOR_NETCONS(w1) { w1 = 0 } }\n",
    );
    case(
        "for_netcons_sets_state",
        "NEURON { POINT_PROCESS syn NONSPECIFIC_CURRENT i }\nASSIGNED { v (mV) i (nA) }\nSTATE { g }\nBREAKPOINT { i = g }\nNET_RECEIVE(w, A) { FOR_NETCONS(w1, A1) { g = g + A1 } }\n",
    );
    case(
        "for_netcons_sends_event",
        "NEURON { POINT_PROCESS syn NONSPECIFIC_CURRENT i }\nASSIGNED { v (mV) i (nA) }\nSTATE { g }\nBREAKPOINT { i = g }\nNET_RECEIVE(w, A) { FOR_NETCONS(w1, A1) { A1 = 0 net_send(1, 1) } }\n",
    );
    case(
        "artificial_cell_sets_v",
        "NEURON { ARTIFICIAL_CELL c }\nSTATE { m }\nINITIAL { m = 0 }\nNET_RECEIVE(w) { m = m + w  v = 0 }\n",
    );
    case(
        "net_receive_sets_parameter",
        "NEURON { POINT_PROCESS syn }\nPARAMETER { tau = 1 (ms) }\nSTATE { g }\nINITIAL { g = 0 }\nNET_RECEIVE(w) { g = g + w  tau = 2 }\n",
    );
    case(
        "random_stream_read_as_value",
        "NEURON { ARTIFICIAL_CELL c RANDOM r }\nASSIGNED { x }\nINITIAL { x = r }\nNET_RECEIVE(w) { x = w }\n",
    );
    case(
        "random_draw_without_stream",
        "NEURON { ARTIFICIAL_CELL c RANDOM r }\nASSIGNED { x }\nINITIAL { x = random_negexp(q) }\nNET_RECEIVE(w) { x = w }\n",
    );
    case(
        "verbatim_vecstim_points_to_spike_sources",
        "NEURON { ARTIFICIAL_CELL VecStim }\nASSIGNED { index etime (ms) space }\nINITIAL { index = 0 element() }\nNET_RECEIVE (w) { net_event(t) }\nPROCEDURE element() {\nVERBATIM\n  /* read the Vector */\n  etime = vector_vec(_p_space)[(int)index];\nENDVERBATIM\n}\nPROCEDURE play() {\nVERBATIM\n  /* keep the Vector */\n  _p_space = vector_arg(1);\nENDVERBATIM\n}\n",
    );
    case(
        "vecstim_element_on_a_point_process",
        "NEURON { POINT_PROCESS VecStim }\nASSIGNED { index etime (ms) space }\nINITIAL { index = 0 element() }\nNET_RECEIVE (w) { net_event(t) }\nPROCEDURE element() {\nVERBATIM\n{ void* vv; int i, size; double* px; i = (int)index; if (i >= 0) { vv = *((void**)(&space)); if (vv) { size = vector_capacity(vv); px = vector_vec(vv); if (i < size) { etime = px[i]; index += 1.; } else { index = -1.; } } else { index = -1.; } } }\nENDVERBATIM\n}\n",
    );
    case(
        "verbatim_rejected",
        "NEURON { SUFFIX x }\nVERBATIM\nreturn 0;\nENDVERBATIM\n",
    );
    case(
        "net_receive_rejected",
        "NEURON { SUFFIX x }\nNET_RECEIVE(w) { }\n",
    );
    case(
        "array_size_unknown",
        "NEURON { SUFFIX x }\nPARAMETER { g[M] }\n",
    );
    // A file's own default outside its limits is accepted, as NEURON does (its limits are for
    // the GUI); a model's value outside them is refused (`cli/tests/cli.rs`).
    assert!(diagnose("NEURON { SUFFIX x }\nPARAMETER { g = 5 <0, 1> }\n").is_empty());
}

#[test]
fn solve_errors() {
    case("solve_unknown_block", &mech("BREAKPOINT { SOLVE states METHOD cnexp ina = g*m*(v - ena) }\nDERIVATIVE s { m' = -m }\n"));
    case(
        "solve_unknown_method",
        &mech(
            "BREAKPOINT { SOLVE s METHOD magic ina = g*m*(v - ena) }\nDERIVATIVE s { m' = -m }\n",
        ),
    );
    case(
        "kinetic_with_cnexp",
        &mech("STATE { c }\nBREAKPOINT { SOLVE k METHOD cnexp ina = g*m*(v - ena) }\nKINETIC k { ~ c <-> m (1, 2) }\n"),
    );
    case(
        "reaction_outside_kinetic",
        &mech("STATE { c }\nBREAKPOINT { SOLVE d METHOD cnexp ina = g*m*(v - ena) }\nDERIVATIVE d { ~ c <-> m (1, 2) }\n"),
    );
    case("solve_kinetic", &mech("BREAKPOINT { SOLVE k METHOD sparse ina = g*m*(v - ena) }\nKINETIC k { ~ m <-> c (1, 2) }\n"));
    case(
        "derivative_never_solved",
        &mech("BREAKPOINT { ina = g*m*(v - ena) }\nDERIVATIVE s { m' = -m }\n"),
    );
    case(
        "not_linear_in_state",
        &mech(&format!("{GOOD_BREAKPOINT}DERIVATIVE s {{ m' = -m*m }}\n")),
    );
    case(
        "not_linear_through_function",
        &mech(&format!(
            "{GOOD_BREAKPOINT}DERIVATIVE s {{ m' = exp(m) }}\nUNITSOFF\n"
        )),
    );
    case(
        "equation_given_twice",
        &mech(&format!(
            "{GOOD_BREAKPOINT}DERIVATIVE s {{ m' = -m m' = 1 - m }}\n"
        )),
    );
    case("steadystate_in_initial", &mech(&format!("{GOOD_BREAKPOINT}INITIAL {{ SOLVE s STEADYSTATE sparse }}\nDERIVATIVE s {{ m' = -m }}\n")));
}

#[test]
fn unit_errors() {
    case(
        "units_redefine_a_known_unit",
        "NEURON { SUFFIX x NONSPECIFIC_CURRENT i }\nUNITS { (mV) = (volt) (mA) = (milliamp) }\nPARAMETER { g = 0.001 (S/cm2) }\nASSIGNED { v (mV) i (mA/cm2) }\nBREAKPOINT { i = g*(v + 65) }\n",
    );
    case(
        "unit_constant_of_unknown_unit",
        "NEURON { SUFFIX x NONSPECIFIC_CURRENT i }\nUNITS { TAU = (tau) (1) }\nPARAMETER { g = 0.001 (S/cm2) }\nASSIGNED { v (mV) i (mA/cm2) }\nBREAKPOINT { i = TAU*g*v }\n",
    );
    case("add_mv_and_conductance", "NEURON { SUFFIX x NONSPECIFIC_CURRENT i }\nPARAMETER { g_max = 1 (mS/cm2) E = -70 (mV) }\nASSIGNED { v (mV) i (uA/cm2) }\nBREAKPOINT { i = g_max + (v - E) }\n");
    case("assign_wrong_dimension", "NEURON { SUFFIX x NONSPECIFIC_CURRENT i }\nPARAMETER { E = -70 (mV) }\nASSIGNED { v (mV) i (uA/cm2) }\nBREAKPOINT { i = v - E }\n");
    case(
        "exp_of_voltage",
        &mech(&format!(
            "{GOOD_BREAKPOINT}DERIVATIVE s {{ m' = (exp(v) - m)/(1 (ms)) }}\n"
        )),
    );
    case(
        "derivative_wrong_units",
        &mech(&format!("{GOOD_BREAKPOINT}DERIVATIVE s {{ m' = v }}\n")),
    );
    case(
        "unknown_unit",
        "NEURON { SUFFIX x }\nPARAMETER { g = 1 (furlongs) }\n",
    );
    case(
        "compare_mixed_units",
        &mech(&format!(
            "{GOOD_BREAKPOINT}DERIVATIVE s {{ if (v > g) {{ m' = -m }} else {{ m' = 1 - m }} }}\n"
        )),
    );
    case(
        "current_declared_in_millivolts",
        "NEURON { SUFFIX x USEION k READ ek WRITE ik }\nPARAMETER { g = 1 (mS/cm2) }\nASSIGNED { v (mV) ek (mV) ik (mV) }\nBREAKPOINT { ik = g*(v - ek) }\n",
    );
    case(
        "current_declared_as_a_current_not_a_density",
        "NEURON { SUFFIX x USEION k READ ek WRITE ik }\nPARAMETER { g = 1 (mS/cm2) }\nASSIGNED { v (mV) ek (mV) ik (mA) }\nBREAKPOINT { ik = g*(v - ek) }\n",
    );
    case(
        "current_without_driving_force",
        &mech("BREAKPOINT { SOLVE s METHOD cnexp ina = g*m }\nDERIVATIVE s { m' = -m/(1 (ms)) }\n"),
    );
    case(
        "conductance_not_per_area",
        "NEURON { SUFFIX x NONSPECIFIC_CURRENT i }\nPARAMETER { gbar = 1 (S) e = -70 (mV) }\nSTATE { m }\nASSIGNED { v (mV) i (mA/cm2) }\nBREAKPOINT { SOLVE s METHOD cnexp i = gbar*m*(v - e) }\nINITIAL { m = 0 }\nDERIVATIVE s { m' = -m/(1 (ms)) }\n",
    );
    case(
        "exp_of_time_over_voltage",
        "NEURON { SUFFIX x NONSPECIFIC_CURRENT i }\nPARAMETER { tau = 5 (mV) g = 1 (mS/cm2) }\nSTATE { s }\nASSIGNED { v (mV) i (uA/cm2) }\nBREAKPOINT { SOLVE st METHOD cnexp i = g*s*(v + 70) }\nINITIAL { s = 1 }\nDERIVATIVE st { s' = -s*(1 - exp(-dt/tau))/dt }\n",
    );
    case(
        "number_out_of_range",
        "NEURON { SUFFIX x }\nPARAMETER { g = 1e999 }\n",
    );
    case(
        "number_underflow",
        "NEURON { SUFFIX x }\nPARAMETER { g = 1e-999 }\n",
    );
}

#[test]
fn state_errors() {
    case(
        "state_never_set",
        "NEURON { SUFFIX x NONSPECIFIC_CURRENT i }\nPARAMETER { g = 1 (mS/cm2) }\nSTATE { s r }\nASSIGNED { v (mV) i (uA/cm2) }\nBREAKPOINT { SOLVE st METHOD cnexp i = g*s*r*(v + 70) }\nINITIAL { s = 1 }\nDERIVATIVE st { s' = -s/(1 (ms)) }\n",
    );
}

#[test]
fn unsupported_nmodl_is_named() {
    // Valid NMODL that hhc does not run yet: one diagnostic naming the construct, never a
    // parser error (each pattern from a real file: hnn-core, neurodamus, NEURON's wheel, LFPy).
    case(
        "after_solve_block",
        "NEURON { SUFFIX dp RANGE q }\nASSIGNED { v (mV) q }\nBREAKPOINT { }\nAFTER SOLVE {\n    q = v\n}\n",
    );
    case(
        "pointer_to_another_sections_value",
        "NEURON { SUFFIX dp POINTER pv RANGE q }\nASSIGNED { v (mV) pv (mV) q }\nBREAKPOINT { q = pv - v }\n",
    );
    case(
        "pointer_in_a_point_process_with_states",
        "NEURON { POINT_PROCESS gp POINTER vgap NONSPECIFIC_CURRENT i RANGE g }\nPARAMETER { g = 0.001 (uS) }\nSTATE { m }\nASSIGNED { v (mV) vgap (mV) i (nA) }\nINITIAL { m = 0 }\nBREAKPOINT { SOLVE s METHOD cnexp\n i = m*g*(v - vgap) }\nDERIVATIVE s { m' = (vgap - m)/10 }\n",
    );
    case(
        "constructor_with_verbatim",
        "NEURON { POINT_PROCESS vs }\nCONSTRUCTOR {\nVERBATIM\n  void* p = 0;\nENDVERBATIM\n}\nNET_RECEIVE (w) { }\n",
    );
    case(
        "compartment_outside_kinetic",
        &mech("BREAKPOINT { SOLVE s METHOD cnexp ina = g*m*(v - ena) }\nDERIVATIVE s {\n    COMPARTMENT 2 {m}\n    m' = -m*1 (/ms)\n}\n"),
    );
    case(
        "conserve_over_compartments",
        &mech("STATE { c }\nBREAKPOINT { SOLVE k METHOD sparse ina = g*m*(v - ena) }\nKINETIC k {\n    COMPARTMENT 2 {c}\n    ~ c <-> m (1, 2)\n    CONSERVE c + m = 1\n}\n"),
    );
    case(
        "from_loop_bounds_at_run_time",
        "NEURON { POINT_PROCESS syn NONSPECIFIC_CURRENT i }\nDEFINE N 4\nASSIGNED { v (mV) i (nA) q onsets[N] (ms) }\nINITIAL { q = 2 }\nBREAKPOINT {\n    i = 0\n    FROM k = 0 TO q - 1 {\n        i = i + onsets[k]*1 (nA/ms)\n    }\n}\n",
    );
    case(
        "array_element_at_run_time",
        "NEURON { POINT_PROCESS syn NONSPECIFIC_CURRENT i }\nDEFINE N 4\nASSIGNED { v (mV) i (nA) q onsets[N] (ms) }\nINITIAL { q = 2 }\nBREAKPOINT { i = onsets[q]*(v - 0)*1 (nA/ms-mV) }\n",
    );
    case(
        "array_index_out_of_range",
        &mech("BREAKPOINT { SOLVE s METHOD cnexp ina = g*m*(v - ena) }\nDERIVATIVE s {\n    LOCAL f[4]\n    FROM j = 0 TO 4 { f[j] = j }\n    m' = -m*f[3]*1 (/ms)\n}\n"),
    );
    case(
        "not_an_array",
        &mech("BREAKPOINT { SOLVE s METHOD cnexp ina = g[0]*m*(v - ena) }\nDERIVATIVE s { m' = -m*1 (/ms) }\n"),
    );
    case(
        "linear_block_not_linear",
        &mech("STATE { c }\nINITIAL { SOLVE init }\nBREAKPOINT { SOLVE s METHOD cnexp ina = g*m*(v - ena) }\nDERIVATIVE s { m' = -m c' = -c }\nLINEAR init {\n    ~ c*m = 1\n    ~ c + m = 1\n}\n"),
    );
    case(
        "linear_block_too_few_equations",
        &mech("STATE { c }\nINITIAL { SOLVE init }\nBREAKPOINT { SOLVE s METHOD cnexp ina = g*m*(v - ena) }\nDERIVATIVE s { m' = -m c' = -c }\nLINEAR init {\n    ~ c*2 + m = 1\n}\n"),
    );
    case(
        "linear_block_solved_in_derivative",
        &mech("STATE { c }\nINITIAL { c = 0 m = 0 }\nBREAKPOINT { SOLVE s METHOD cnexp ina = g*m*(v - ena) }\nDERIVATIVE s {\n    SOLVE init\n    m' = -m\n}\nLINEAR init {\n    ~ c*2 + m = 1\n    ~ c - m = 0\n}\n"),
    );
    case(
        "nonlinear_block_too_few_equations",
        &mech("STATE { c }\nINITIAL { c = 1 m = 1 }\nBREAKPOINT { SOLVE init ina = g*m*(v - ena) }\nNONLINEAR init {\n    ~ c*m = 1\n}\n"),
    );
    case(
        "equation_outside_linear",
        &mech("BREAKPOINT { SOLVE s METHOD cnexp ina = g*m*(v - ena) }\nDERIVATIVE s {\n    m' = -m\n    ~ m = 1\n}\n"),
    );
}

#[test]
fn model_errors() {
    let ok_cell = "CELL HH {\n    ION na { e = 50 (mV) }\n    ION k { e = -77 (mV) }\n    INSERT Na_HH1952\n    INSERT K_HH1952\n    INSERT IL\n}\n";
    let cable = "CELL B {\n    SECTION soma { L = 20 (um)  diam = 20 (um) }\n    SECTION dend { parent = soma  L = 200 (um)  diam = 2 (um) }\n    INSERT IL\n}\n";
    let net_cell = "CELL C {\n    SECTION soma { L = 20 (um)  diam = 20 (um) }\n    INSERT IL\n    POINT syn = ExpSyn AT soma(0.5) { tau = 2 (ms) }\n}\n";
    let sim = "SIMULATE { dt = 0.025 (ms)  tstop = 10 (ms) }\n";
    for (name, network) in [
        ("network_unknown_population", "POPULATION a = C { count = 2 }\n    CONNECT a -> b AT syn { rule = all_to_all  weight = 0.01 (uS)  delay = 1 (ms) }"),
        ("network_unknown_cell", "POPULATION a = D { count = 2 }"),
        ("network_unknown_point", "POPULATION a = C { count = 2 }\n    CONNECT a -> a AT sin { rule = all_to_all  weight = 0.01 (uS)  delay = 1 (ms) }"),
        ("network_index_out_of_range", "POPULATION a = C { count = 2 }\n    CONNECT a -> a AT syn { pre = 0, 1  post = 1, 2  weight = 0.01 (uS)  delay = 1 (ms) }"),
        ("network_delay_below_dt", "POPULATION a = C { count = 2 }\n    CONNECT a -> a AT syn { rule = all_to_all  weight = 0.01 (uS)  delay = 0.01 (ms) }"),
        ("network_negative_delay", "POPULATION a = C { count = 2 }\n    CONNECT a -> a AT syn { rule = all_to_all  weight = 0.01 (uS)  delay = -1 (ms) }"),
        ("network_weight_unit", "POPULATION a = C { count = 2 }\n    CONNECT a -> a AT syn { rule = all_to_all  weight = 0.01 (mV)  delay = 1 (ms) }"),
        ("network_to_spike_source", "POPULATION a = C { count = 2 }\n    POPULATION s = spikes { times = 1 (ms) }\n    CONNECT a -> s AT syn { rule = all_to_all  weight = 0.01 (uS)  delay = 1 (ms) }"),
        ("network_indegree_too_large", "POPULATION a = C { count = 3 }\n    CONNECT a -> a AT syn { rule = indegree(3)  weight = 0.01 (uS)  delay = 1 (ms) }"),
        ("network_missing_csv", "POPULATION a = C { count = 3 }\n    CONNECT a -> a AT syn { file = conns }"),
        ("network_no_rule", "POPULATION a = C { count = 3 }\n    CONNECT a -> a AT syn { weight = 0.01 (uS)  delay = 1 (ms) }"),
    ] {
        case(name, &format!("{net_cell}NETWORK {{\n    {network}\n}}\n{sim}"));
    }
    let gap_cell = "CELL G {\n    SECTION soma { L = 20 (um)  diam = 20 (um) }\n    INSERT IL\n    POINT gj = Gap AT soma(0.5)\n    POINT syn = ExpSyn AT soma(0.5) { tau = 2 (ms) }\n}\n";
    for (name, network) in [
        ("gap_not_a_site", "POPULATION a = G { count = 2 }\n    GAP a <-> a AT syn { rule = all_to_all  weight = 0.001 (uS) }"),
        ("gap_self", "POPULATION a = G { count = 2 }\n    GAP a <-> a AT gj { pre = 0, 1  post = 1, 1  weight = 0.001 (uS) }"),
        ("gap_delay", "POPULATION a = G { count = 2 }\n    GAP a <-> a AT gj { rule = all_to_all  weight = 0.001 (uS)  delay = 1 (ms) }"),
        ("gap_weight_unit", "POPULATION a = G { count = 2 }\n    GAP a <-> a AT gj { rule = all_to_all  weight = 0.001 (mV) }"),
        ("gap_indegree", "POPULATION a = G { count = 4 }\n    GAP a <-> a AT gj { rule = indegree(2)  weight = 0.001 (uS) }"),
        ("gap_site_missing_on_one_side", "POPULATION a = G { count = 2 }\n    POPULATION b = C { count = 2 }\n    GAP b <-> a AT gj { rule = all_to_all  weight = 0.001 (uS) }"),
        ("gap_to_spike_source", "POPULATION a = G { count = 2 }\n    POPULATION s = spikes { times = 1 (ms) }\n    GAP s <-> a AT gj { rule = all_to_all  weight = 0.001 (uS) }"),
    ] {
        case(name, &format!("{gap_cell}{net_cell}NETWORK {{\n    {network}\n}}\n{sim}"));
    }
    let adjusted_cell = "CELL A {\n    SECTION soma { L = 20 (um)  diam = 20 (um) }\n    INSERT IL\n    POINT syn = ExpSyn AT soma(0.5) { tau = 2 (ms) }\n}\n";
    for (name, network) in [
        ("adjuster_unknown", "POPULATION a = A { count = 2 }\n    CONNECT a -> a AT syn { rule = all_to_all  weight = 0.001 (uS)  delay = 1 (ms)  adjuster = syn }"),
        ("adjuster_post_spikes_alone", "POPULATION a = A { count = 2 }\n    CONNECT a -> a AT syn { rule = all_to_all  weight = 0.001 (uS)  delay = 1 (ms)  post_spikes = true }"),
    ] {
        case(name, &format!("{adjusted_cell}NETWORK {{\n    {network}\n}}\n{sim}"));
    }
    case(
        "gap_site_conductance_set_twice",
        &format!("CELL G {{\n    SECTION soma {{ L = 20 (um)  diam = 20 (um) }}\n    INSERT IL\n    POINT gj = Gap AT soma(0.5) {{ g = 0.1 (uS) }}\n}}\nNETWORK {{\n    POPULATION a = G {{ count = 2 }}\n    GAP a <-> a AT gj {{ rule = all_to_all  weight = 0.001 (uS) }}\n}}\n{sim}"),
    );
    case(
        "network_count_in_simulate",
        &format!("{net_cell}NETWORK {{\n    POPULATION a = C {{ count = 2 }}\n}}\nSIMULATE {{ count = 5  dt = 0.025 (ms)  tstop = 10 (ms) }}\n"),
    );
    case(
        "network_point_cell",
        &format!("{ok_cell}NETWORK {{\n    POPULATION a = HH {{ count = 2 }}\n}}\n{sim}"),
    );
    case(
        "array_element_out_of_range",
        "CELL C {\n    SECTION soma { L = 20 (um)  diam = 20 (um) }\n    POINT clamp = VClamp AT soma(0.5) { dur[0] = 5 (ms)  amp[3] = -20 (mV) }\n}\nSIMULATE { cell = C }\n",
    );
    case(
        "point_along_a_section",
        "CELL C {\n    SECTION soma { L = 20 (um)  diam = 20 (um) }\n    POINT syn = ExpSyn AT soma(0.5) { tau = along(1 (ms), 2 (ms)) }\n}\nSIMULATE { cell = C }\n",
    );
    case(
        "artificial_cell_placed",
        "CELL C {\n    SECTION soma { L = 20 (um)  diam = 20 (um) }\n    POINT s = NetStim AT soma(0.5)\n}\nSIMULATE { cell = C }\n",
    );
    case(
        "point_on_unknown_section",
        "CELL C {\n    SECTION soma { L = 20 (um)  diam = 20 (um) }\n    POINT syn = ExpSyn AT dend(0.5)\n}\nSIMULATE { cell = C }\n",
    );
    case(
        "point_process_inserted",
        "CELL C {\n    SECTION soma { L = 20 (um)  diam = 20 (um) }\n    INSERT ExpSyn\n}\nSIMULATE { cell = C }\n",
    );
    case(
        "density_mechanism_placed",
        "CELL C {\n    SECTION soma { L = 20 (um)  diam = 20 (um) }\n    POINT leak = IL AT soma(0.5)\n}\nSIMULATE { cell = C }\n",
    );
    case(
        "model_probe_unknown_section",
        &format!("{cable}SIMULATE {{ cell = B  probe = soma(0.5), dendd(1) }}\n"),
    );
    case(
        "model_detector_unknown_section",
        &format!("{cable}SIMULATE {{ cell = B  detector = axon(1) }}\n"),
    );
    case(
        "model_detector_two_places",
        &format!("{cable}SIMULATE {{ cell = B  detector = soma(0.5), dend(1) }}\n"),
    );
    case(
        "model_probe_outside_section",
        &format!("{cable}SIMULATE {{ cell = B  probe = dend(1.5) }}\n"),
    );
    case(
        "model_probe_without_morphology",
        &format!("{ok_cell}SIMULATE {{ cell = HH  probe = soma(0.5) }}\n"),
    );
    case(
        "model_section_without_diameter",
        "CELL B { SECTION soma { L = 20 (um) } INSERT IL }\nSIMULATE { cell = B }\n",
    );
    case(
        "model_section_unknown_parent",
        "CELL B { SECTION soma { L = 20 (um)  diam = 20 (um) }\n SECTION dend { parent = axon  L = 9 (um)  diam = 1 (um) } INSERT IL }\nSIMULATE { cell = B }\n",
    );
    case(
        "model_section_misspelt_parent_at_a_point",
        "CELL B { SECTION soma { L = 20 (um)  diam = 20 (um) }\n SECTION dend { parent = somma(0.5)  L = 9 (um)  diam = 1 (um) } INSERT IL }\nSIMULATE { cell = B }\n",
    );
    case(
        "model_pulse_on_a_morphology",
        &format!("{cable}SIMULATE {{ cell = B  stimulus = pulse(10 (uA/cm2), 1 (ms), 5 (ms)) }}\n"),
    );
    case(
        "model_along_without_morphology",
        "CELL C { INSERT IL { g_max = along(1 (mS/cm2), 2 (mS/cm2)) } }\nSIMULATE { cell = C }\n",
    );
    case(
        "model_unknown_profile",
        &format!(
            "{}SIMULATE {{ cell = B }}\n",
            cable.replace(
                "INSERT IL",
                "INSERT IL { g_max = ramp(1 (mS/cm2), 2 (mS/cm2)) }"
            )
        ),
    );
    case(
        "model_section_cycle",
        "CELL C {\n    SECTION soma { L = 10 (um)  diam = 10 (um) }\n    SECTION a { parent = b  L = 10 (um)  diam = 1 (um) }\n    SECTION b { parent = a  L = 10 (um)  diam = 1 (um) }\n    INSERT IL\n}\nSIMULATE { cell = C }\n",
    );
    case(
        "model_region_without_section",
        &format!(
            "{}SIMULATE {{ cell = B }}\n",
            cable.replace("INSERT IL", "INSERT IL IN dnd")
        ),
    );
    case(
        "model_swc_not_readable",
        "CELL C { swc = missing  INSERT IL }\nSIMULATE { cell = C }\n",
    );
    case(
        "model_unknown_cable_solver",
        &format!("{cable}SIMULATE {{ cell = B  cable = rk4 }}\n"),
    );
    case(
        "model_unknown_mechanism",
        "CELL HH { INSERT Na_HH1953 }\nSIMULATE { cell = HH }\n",
    );
    case(
        "model_unknown_parameter",
        "CELL HH { INSERT IL { gmax = 1 (mS/cm2) } }\nSIMULATE { cell = HH }\n",
    );
    case(
        "model_unknown_cell",
        &format!("{ok_cell}SIMULATE {{ cell = HX }}\n"),
    );
    case(
        "model_negative_dt",
        &format!("{ok_cell}SIMULATE {{ cell = HH dt = -0.01 (ms) }}\n"),
    );
    case(
        "model_zero_tstop",
        &format!("{ok_cell}SIMULATE {{ cell = HH tstop = 0 (ms) }}\n"),
    );
    case(
        "model_stimulus_wrong_unit",
        &format!("{ok_cell}SIMULATE {{ cell = HH stimulus = 5 (mV) }}\n"),
    );
    case(
        "model_parameter_wrong_unit",
        "CELL HH { INSERT IL { g_max = 0.03 (mV) } }\nSIMULATE { cell = HH }\n",
    );
    case(
        "model_missing_reversal",
        "CELL HH { INSERT Na_HH1952 }\nSIMULATE { cell = HH }\n",
    );
    case("model_no_simulate", ok_cell);
    case(
        "model_tstop_not_a_whole_number_of_steps",
        &format!("{ok_cell}SIMULATE {{ cell = HH dt = 0.03 (ms) tstop = 100 (ms) }}\n"),
    );
    case(
        "model_dt_longer_than_tstop",
        &format!("{ok_cell}SIMULATE {{ cell = HH dt = 200 (ms) tstop = 100 (ms) }}\n"),
    );
    case(
        "model_record_beyond_the_population",
        &format!("{ok_cell}SIMULATE {{ cell = HH count = 10 record = 0, 10 }}\n"),
    );
    case(
        "model_negative_conductance",
        "CELL HH { INSERT IL { g_max = -50 (mS/cm2) } }\nSIMULATE { cell = HH }\n",
    );
    case(
        "model_negative_conductance_along_a_section",
        &format!(
            "{}SIMULATE {{ cell = B }}\n",
            cable.replace(
                "INSERT IL",
                "INSERT IL { g_max = along(1 (mS/cm2), -2 (mS/cm2)) }"
            )
        ),
    );
    case(
        "model_unknown_setting",
        &format!("{ok_cell}SIMULATE {{ cell = HH tstep = 1 (ms) }}\n"),
    );
    case(
        "model_unknown_stimulus",
        &format!("{ok_cell}SIMULATE {{ cell = HH stimulus = ramp(1, 2) }}\n"),
    );
    case(
        "model_bad_count",
        &format!("{ok_cell}SIMULATE {{ cell = HH count = 2.5 }}\n"),
    );
    case(
        "model_mechanism_block_in_model",
        &format!("{ok_cell}SIMULATE {{ cell = HH }}\nPARAMETER {{ g = 1 }}\n"),
    );
    case(
        "model_duplicate_cell",
        &format!("{ok_cell}{ok_cell}SIMULATE {{ cell = HH }}\n"),
    );
}
