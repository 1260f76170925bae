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

/// A population of `n` cells of `file`'s model, initialised, and its kernel on one CPU thread.
fn set_up(
    file: &str,
    precision: Precision,
    n: usize,
) -> (hhc_compiler::sema::model::Model, Cpu, Population) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(file);
    let model = match hhc_runtime::load::load_model(&path) {
        Ok(m) => m,
        Err(r) => panic!("{}", r.text),
    };
    let program = hhc_compiler::cell::build(&model);
    let kernel = hhc_compiler::backend::jit::compile(&program, precision).expect("jit");
    let cpu = Cpu::new(kernel, 1).expect("cpu");
    let mut pop = Population {
        n,
        slots: Slots::new(precision, program.slots.len(), n),
    };
    hhc_runtime::sim::initialise(&program, &model, &mut pop);
    (model, cpu, pop)
}

fn bench_model(c: &mut Criterion, file: &str) {
    let n = 4096;
    let mut group = c.benchmark_group(file);
    group.throughput(Throughput::Elements((n * 64) as u64));
    for precision in [Precision::F64, Precision::F32] {
        let (model, mut cpu, mut pop) = set_up(file, precision, n);
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

/// A step run from some stack depth.
type AtDepth = fn(&mut dyn FnMut() -> usize) -> usize;

/// Runs `f` from a frame `PAD` bytes deeper than its caller's.
#[inline(never)]
fn deeper<const PAD: usize>(f: &mut dyn FnMut() -> usize) -> usize {
    let pad = std::hint::black_box([0u8; PAD]);
    let r = f();
    std::hint::black_box(&pad);
    r
}

/// The staged kernel called from four stack depths, 16 bytes apart. Its scratch rows and
/// constant table live in its frame; before they were aligned by hand, two of the four depths
/// ran 12–15 % slower (the rows straddled cache lines). The four times should agree.
fn stack_depths(c: &mut Criterion) {
    let n = 4096;
    let (model, mut cpu, mut pop) = set_up("bench/classic_pop.chan", Precision::F64, n);
    let mut group = c.benchmark_group("classic_pop f64, caller stack depth");
    group.throughput(Throughput::Elements((n * 64) as u64));
    let depths: [(&str, AtDepth); 4] = [
        ("+16 bytes", deeper::<16>),
        ("+32 bytes", deeper::<32>),
        ("+48 bytes", deeper::<48>),
        ("+64 bytes", deeper::<64>),
    ];
    let mut t0 = 0.0;
    for (name, run) in depths {
        group.bench_function(name, |b| {
            b.iter(|| {
                run(&mut || {
                    let report = cpu.step(&mut pop, &[(0, n)], t0, 64).expect("step");
                    t0 += 64.0 * model.dt;
                    report.words.len()
                })
            })
        });
    }
    group.finish();
}

fn kernels(c: &mut Criterion) {
    bench_model(c, "examples/hh.chan");
    bench_model(c, "bench/classic_pop.chan");
    stack_depths(c);
}

criterion_group! {
    name = benches;
    // No plots: criterion's plotting backend needs system fonts, which servers often lack.
    config = Criterion::default().without_plots();
    targets = kernels
}
criterion_main!(benches);
