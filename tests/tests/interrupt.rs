//! A run that is stopped keeps what it computed: the interrupt flag stops the loop between
//! kernel calls, and the partial result agrees, step for step, with a run that went on.

use hhc_compiler::passes::mathlib::Precision;
use hhc_runtime::backend::cpu::Cpu;
use hhc_runtime::sim::{self, RunError, RunOptions};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A backend that raises the flag after its `calls`-th bulk call.
struct RaiseAfter {
    inner: Cpu,
    calls: usize,
    flag: Arc<AtomicBool>,
}

impl hhc_runtime::backend::Backend for RaiseAfter {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn step(
        &mut self,
        pop: &mut hhc_runtime::backend::Population,
        ranges: &[(usize, usize)],
        t0: f64,
        nsteps: u64,
    ) -> Result<hhc_runtime::backend::StepReport, hhc_runtime::backend::BackendError> {
        if nsteps > 1 {
            self.calls -= 1;
            if self.calls == 0 {
                self.flag.store(true, Ordering::Relaxed);
            }
        }
        self.inner.step(pop, ranges, t0, nsteps)
    }
}

#[test]
fn an_interrupted_run_keeps_the_steps_before_it() {
    let model = hhc_tests::load("examples/fi_curve.chan");
    let (program, full) = hhc_tests::run(&model, Precision::F64, 1);
    let kernel = hhc_compiler::backend::jit::compile(&program, Precision::F64).expect("jit");
    let flag = Arc::new(AtomicBool::new(false));
    let mut backend = RaiseAfter {
        inner: Cpu::new(kernel, 1).expect("cpu"),
        calls: 3,
        flag: flag.clone(),
    };
    let opts = RunOptions {
        n: model.count as usize,
        steps: full.steps_done,
        precision: Precision::F64,
        record: model.record.iter().map(|&c| c as usize).collect(),
        record_slots: vec![0],
        keep_spikes: true,
        progress: None,
        steps_per_call: 64,
        interrupt: Some(flag),
    };
    let stopped = match sim::run(&program, &model, &mut backend, &opts) {
        Ok(_) => panic!("the run was interrupted"),
        Err(s) => s,
    };
    assert!(
        matches!(stopped.error, RunError::Interrupted { steps: 192, .. }),
        "{}",
        stopped.error
    );
    let part = stopped.partial.expect("a partial result");
    assert_eq!(part.steps_done, 3 * 64);
    for (p, f) in part.traces.iter().zip(&full.traces) {
        assert_eq!(p.len(), 3 * 64 + 1);
        assert_eq!(p[..], f[..p.len()]);
    }
    let before: Vec<_> = full.spikes.iter().filter(|s| s.1 < 192).copied().collect();
    assert!(
        !before.is_empty(),
        "the swept population spikes in the first 1.92 ms"
    );
    assert_eq!(part.spikes, before);
}
