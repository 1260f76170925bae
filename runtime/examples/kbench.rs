// scratch: time the fused kernel alone (not committed)
use hhc_compiler::passes::mathlib::Precision;
use hhc_runtime::backend::{cpu::Cpu, Backend, Population, Slots};
fn main() {
    let file = std::env::args().nth(1).unwrap();
    let model = match hhc_runtime::load::load_model(std::path::Path::new(&file)) {
        Ok(m) => m,
        Err(r) => panic!("{}", r.text),
    };
    let program = hhc_compiler::cell::build(&model);
    let n = 100_000;
    let precision = if std::env::var_os("F32").is_some() {
        Precision::F32
    } else {
        Precision::F64
    };
    let kernel = hhc_compiler::backend::jit::compile(&program, precision).expect("jit");
    let mut cpu = Cpu::new(kernel, 1).expect("cpu");
    let mut pop = Population {
        n,
        slots: Slots::new(precision, program.slots.len(), n),
    };
    hhc_runtime::sim::initialise(&program, &model, &mut pop);
    let calls = 8;
    let t = std::time::Instant::now();
    for k in 0..calls {
        let _ = cpu.step(&mut pop, &[(0, n)], k as f64 * 0.64, 64);
    }
    let s = t.elapsed().as_secs_f64();
    println!("{:.3e} steps/s", (n * 64 * calls) as f64 / s);
}
