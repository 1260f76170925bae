//! Progress on stderr for runs that take a second or more: a bar on a terminal, otherwise (a
//! log, a batch job) a line every few seconds. Both give the expected time left.

use hhc_runtime::sim::ProgressFn;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Every this many seconds, a line when stderr is not a terminal.
const LINE_EVERY_S: f64 = 5.0;

/// About this many compartment-steps take a second.
const STEPS_PER_SECOND: f64 = 1e8;

/// A progress reporter for a run of `steps` steps of `work` compartments each, or `None` when
/// the run should take under a second. The bar, when there is one, is returned too, so the
/// caller can clear it however the run ends.
pub fn reporter(work: f64, steps: u64) -> (Option<ProgressFn>, Option<indicatif::ProgressBar>) {
    if work * steps as f64 <= STEPS_PER_SECOND {
        return (None, None);
    }
    if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(steps);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} steps ({eta} left)",
        ) {
            bar.set_style(style);
        }
        let shown = bar.clone();
        let report: ProgressFn = Arc::new(move |done, _| shown.set_position(done));
        return (Some(report), Some(bar));
    }
    let clock = Mutex::new((Instant::now(), Instant::now()));
    let report: ProgressFn = Arc::new(move |done, total| {
        let Ok(mut clock) = clock.lock() else {
            return;
        };
        let (start, last) = &mut *clock;
        if done == 0 || done >= total || last.elapsed().as_secs_f64() < LINE_EVERY_S {
            return;
        }
        *last = Instant::now();
        let elapsed = start.elapsed().as_secs_f64();
        let left = elapsed * (total - done) as f64 / done as f64;
        eprintln!(
            "hhc: step {done} of {total} ({:.0} %), {elapsed:.0} s elapsed, about {left:.0} s left",
            100.0 * done as f64 / total.max(1) as f64
        );
    });
    (Some(report), None)
}
