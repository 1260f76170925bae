//! Ion dynamics against analytic solutions: a calcium pool's decay, Nernst from a dynamic
//! concentration, and temperatures given in kelvin.

use hhc_compiler::ir::{interp, CellProgram};
use hhc_compiler::sema::model::Model;
use hhc_tests::*;

/// Initial slot values, as the runtime computes them.
fn initial(program: &CellProgram) -> Vec<f64> {
    let mut slots = vec![0.0; program.slots.len()];
    let roots: Vec<_> = program.init.iter().map(|(_, e)| *e).collect();
    let values = interp::eval(&program.exprs, &roots, &|_| 0.0);
    for ((slot, _), x) in program.init.iter().zip(values) {
        slots[*slot as usize] = x;
    }
    slots
}

fn slot(program: &CellProgram, name: &str) -> usize {
    program
        .slots
        .iter()
        .position(|s| s.name == name)
        .unwrap_or_else(|| panic!("no slot {name}"))
}

/// With no calcium current, CalciumDetailed relaxes to C_rest with time constant tau, exactly.
#[test]
fn calcium_pool_decays_to_rest_exactly() {
    let model = load_text(
        "CELL C {\n  INSERT IL { }\n  INSERT CalciumDetailed { tau = 7 (ms)  C_rest = 1e-4 (mM)  cai = 2e-3 (mM) }\n}\n\
         SIMULATE { cell = C  dt = 0.025 (ms)  tstop = 10 (ms) }\n",
        "decay",
    );
    let program = hhc_compiler::cell::build(&model);
    let mut slots = initial(&program);
    let cai = slot(&program, "CalciumDetailed.cai");
    assert_eq!(slots[cai], 2e-3);
    interp::run_cell(&program, &mut slots, 0.0, 400);
    let want = 1e-4 + (2e-3 - 1e-4) * (-10.0f64 / 7.0).exp();
    assert!(
        (slots[cai] - want).abs() < 1e-15,
        "{} vs {want}",
        slots[cai]
    );
}

/// Inward calcium current raises cai at I/(2·F·d): 1 uA/cm2 into a 1 um shell is
/// 5.1821e-5 mM/ms (braincell_semantics.md), and E_Ca follows Nernst from the new cai.
#[test]
fn calcium_influx_and_nernst_follow_the_pool() {
    let dir = std::env::temp_dir().join(format!("hhc-ions-{}-influx", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // A constant inward calcium current of 1 uA/cm2 (NMODL sign: ica = -1), for the test only.
    std::fs::write(
        dir.join("CaSource.chan"),
        "NEURON { SUFFIX CaSource USEION ca READ eca WRITE ica }\n\
         ASSIGNED { ica (uA/cm2) eca (mV) }\nBREAKPOINT { ica = -1 + 0 * eca }\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("model.chan"),
        "CELL C {\n  ION ca { cao = 2 (mM) }\n  INSERT CaSource { }\n  INSERT CalciumDetailed { tau = 1000 (ms)  C_rest = 0 (mM)  cai = 1e-4 (mM) }\n}\n\
         SIMULATE { cell = C  dt = 0.01 (ms)  tstop = 1 (ms) }\n",
    )
    .expect("write");
    let model = hhc_runtime::load::load_model(&dir.join("model.chan"))
        .unwrap_or_else(|r| panic!("{}", r.text));
    let program = hhc_compiler::cell::build(&model);
    let mut slots = initial(&program);
    let cai = slot(&program, "CalciumDetailed.cai");
    interp::run_cell(&program, &mut slots, 0.0, 100);
    let rate = 1e-6 / (2.0 * hhc_compiler::cell::FARADAY * 1e-4) * 1e3; // mol/cm3/s → mM/ms
    assert!((rate - 5.1821e-5).abs() < 1e-8, "{rate}");
    // dcai/dt = rate - cai/tau over 1 ms, solved exactly.
    let (c0, tau) = (1e-4, 1000.0f64);
    let want = c0 + (rate - c0 / tau) * tau * -(-1.0 / tau).exp_m1();
    assert!(
        (slots[cai] - want).abs() < 1e-9 * want,
        "{} vs {want}",
        slots[cai]
    );
    let e = hhc_compiler::cell::nernst(2, slots[cai], 2.0, model.celsius);
    assert!(e > 100.0 && e < 130.0, "E_Ca {e}");
}

/// A temperature in kelvin is an absolute one: 318.15 K is 45 degC, not 318.15 degC.
#[test]
fn kelvin_temperatures_are_absolute() {
    let cell = |t: &str| {
        format!(
            "CELL T {{\n  ION na {{ e = 50 (mV) }}\n  ION k {{ e = -77 (mV) }}\n  INSERT Na_HH1952 {{ temp = {t} }}\n  INSERT K_HH1952 {{ }}\n  INSERT IL {{ }}\n}}\nSIMULATE {{ cell = T }}\n"
        )
    };
    let k = load_text(&cell("318.15 (K)"), "kelvin");
    let c = load_text(&cell("45 (degC)"), "celsius");
    let temp = |m: &Model| {
        let ins = &m.cell.inserts[0];
        ins.params[ins.mechanism.param_index("temp").expect("temp")]
    };
    assert!((temp(&k) - 45.0).abs() < 1e-12, "{}", temp(&k));
    assert_eq!(temp(&c), 45.0);
}
