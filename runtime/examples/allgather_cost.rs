//! The cost of one all-gather of `bytes` bytes per process, as the network engine calls it
//! (`Exchange::all_gather` over MPI), for the scaling model in bench/RESULTS.md.
//!
//! `mpirun -np 2 target/release/examples/allgather_cost` prints, from process 0, one JSON line
//! per message size: bytes per process and the median seconds per call.
#![allow(clippy::print_stdout)]

use hhc_runtime::distributed::Exchange;
use hhc_runtime::mpi::Mpi;
use std::time::Instant;

fn main() {
    let Some(mpi) = Mpi::from_launcher() else {
        eprintln!("start it with mpirun");
        std::process::exit(1);
    };
    for bytes in [0usize, 24, 240, 2_400, 24_000, 240_000, 2_400_000] {
        let mine = vec![1u8; bytes];
        let calls = (20_000_000 / (bytes + 2_000)).clamp(20, 5_000);
        let mut times = Vec::with_capacity(calls);
        for _ in 0..calls {
            let t = Instant::now();
            let all = mpi.all_gather(&mine);
            times.push(t.elapsed().as_secs_f64());
            assert_eq!(all.len(), mpi.processes());
        }
        times.sort_by(f64::total_cmp);
        if mpi.rank() == 0 {
            println!(
                "{{\"processes\": {}, \"bytes\": {bytes}, \"calls\": {calls}, \"median_s\": {:e}}}",
                mpi.processes(),
                times[calls / 2]
            );
        }
    }
}
