//! `cargo bench -p hhc`: the fused step kernels by themselves, without the runtime loop.
//!
//! For the tutorial cell and the textbook HH cell, f64 and f32: one call steps 4096 cells by 64
//! steps with their state in registers. Criterion reports time per call; divide 4096·64 by it for
//! compartment-steps per second.
#![allow(clippy::panic)] // a failed set-up stops the test or bench with its message

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hhc_compiler::passes::mathlib::Precision;
use hhc_runtime::backend::{cpu::Cpu, Backend, Population, Slots};
use std::path::Path;

fn bench_model(c: &mut Criterion, file: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(file);
    let model = match hhc_runtime::load::load_model(&path) {
        Ok(m) => m,
        Err(r) => panic!("{}", r.text),
    };
    let program = hhc_compiler::cell::build(&model);
    let n = 4096;
    let mut group = c.benchmark_group(file);
    group.throughput(Throughput::Elements((n * 64) as u64));
    for precision in [Precision::F64, Precision::F32] {
        let kernel = hhc_compiler::backend::jit::compile(&program, precision).expect("jit");
        let mut cpu = Cpu::new(kernel, 1).expect("cpu");
        let mut pop = Population {
            n,
            slots: Slots::new(precision, program.slots.len(), n),
        };
        hhc_runtime::sim::initialise(&program, &model, &mut pop);
        let name = format!("{precision:?} 4096 cells x 64 steps");
        let mut t0 = 0.0;
        group.bench_function(name, |b| {
            b.iter(|| {
                let report = cpu.step(&mut pop, &[(0, n)], t0, 64).expect("step");
                t0 += 64.0 * model.dt;
                report.words.len()
            })
        });
    }
    group.finish();
}

fn kernels(c: &mut Criterion) {
    bench_model(c, "examples/hh.chan");
    bench_model(c, "bench/classic_pop.chan");
}

criterion_group! {
    name = benches;
    // No plots: criterion's plotting backend needs system fonts, which servers often lack.
    config = Criterion::default().without_plots();
    targets = kernels
}
criterion_main!(benches);
