//! One network over several processes: which cells each process steps, and the exchange of
//! spikes between them.
//!
//! A run over K processes (MPI ranks) builds the same network in every process, from the same
//! model (each keeping the connections to its own cells when it loads the model with
//! [`crate::load::load_model_shared`]), and each steps only its share of the cells: of every population of cells, process r
//! owns cells `⌊n·r/K⌋ … ⌊n·(r+1)/K⌋ − 1` ([`owned`]), a contiguous block, so that each
//! population is spread evenly. Spike sources and artificial cells are cheap and are run by
//! every process alike, so they need no exchange. After each epoch (the shortest delay) the
//! processes swap their cells' spikes with one all-gather ([`Exchange::all_gather`]), as
//! NEURON's ParallelContext does, and each files the events of its own cells. Every process
//! then holds every spike, and the last all-gather brings every recorded trace to all of them.
//!
//! Point cells without a network are independent: each process runs its block and the
//! processes meet once, at the end, when every outcome is gathered (a run that stopped in one
//! process keeps every process's results up to the fewest steps done).
//!
//! The engine speaks to the transport only through [`Exchange`]: [`Alone`] is the single
//! process, and the `mpi` feature adds `mpi::Mpi` over the system's MPI. The
//! bytes it carries are the engine's own little format ([`Writer`], [`Reader`]).

use hhc_compiler::sema::network::Share;

/// The processes of a run: every process calls each method in the same order.
pub trait Exchange: Send + Sync {
    /// This process's index, 0 to `processes() − 1`.
    fn rank(&self) -> usize;
    /// How many processes share the run.
    fn processes(&self) -> usize;
    /// Every process's bytes, in rank order.
    fn all_gather(&self, mine: &[u8]) -> Vec<Vec<u8>>;
}

impl std::fmt::Debug for dyn Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "process {} of {}", self.rank(), self.processes())
    }
}

/// A run in one process.
#[derive(Clone, Copy, Debug, Default)]
pub struct Alone;

impl Exchange for Alone {
    fn rank(&self) -> usize {
        0
    }
    fn processes(&self) -> usize {
        1
    }
    fn all_gather(&self, mine: &[u8]) -> Vec<Vec<u8>> {
        vec![mine.to_vec()]
    }
}

/// The cells of a population of `count` that process `rank` of `processes` steps: the rule
/// the model's network builder uses too, when it builds one process's connections.
pub use hhc_compiler::sema::network::owned_cells as owned;

/// The share of `exchange`'s process, for building only its part of a network.
pub fn share_of(exchange: &dyn Exchange) -> Share {
    Share {
        rank: exchange.rank(),
        processes: exchange.processes(),
    }
}

/// How many processes an MPI launcher started, when one started this process (Open MPI's
/// and MPICH's variables); a front built without MPI refuses to run as one of several.
pub fn launched_processes() -> Option<u64> {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"]
        .iter()
        .filter_map(|v| std::env::var(v).ok()?.parse::<u64>().ok())
        .max()
}

/// The processes of this job on this machine, as the launcher counts them (1 when unknown):
/// they share its cores.
pub fn processes_on_this_machine() -> usize {
    ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"]
        .iter()
        .find_map(|v| std::env::var(v).ok()?.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1)
}

/// Every process's outcome of a stage that can fail (loading, set-up, creating outputs), so
/// that all go on or all stop together: the first failure in rank order, with its rank.
pub fn agree(exchange: &dyn Exchange, mine: Result<(), String>) -> Result<(), (usize, String)> {
    let mut w = Writer::default();
    match &mine {
        Ok(()) => w.u64(0),
        Err(message) => {
            w.u64(1);
            w.text(message);
        }
    }
    for (rank, bytes) in exchange.all_gather(&w.bytes).iter().enumerate() {
        let mut r = Reader::new(bytes);
        if r.u64() == 1 {
            return Err((rank, r.text()));
        }
    }
    Ok(())
}

/// Little-endian numbers and length-prefixed text, appended.
#[derive(Default)]
pub struct Writer {
    pub bytes: Vec<u8>,
}

impl Writer {
    pub fn u64(&mut self, x: u64) {
        self.bytes.extend(x.to_le_bytes());
    }
    pub fn f64(&mut self, x: f64) {
        self.bytes.extend(x.to_le_bytes());
    }
    pub fn f64s(&mut self, xs: &[f64]) {
        self.u64(xs.len() as u64);
        for &x in xs {
            self.f64(x);
        }
    }
    pub fn text(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.bytes.extend(s.as_bytes());
    }
}

/// Reads what a [`Writer`] wrote, in the same order. Bytes that run out read as zeros (they
/// come from the same program, so they never do).
pub struct Reader<'b> {
    bytes: &'b [u8],
}

impl<'b> Reader<'b> {
    pub fn new(bytes: &'b [u8]) -> Reader<'b> {
        Reader { bytes }
    }
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
    fn take(&mut self, n: usize) -> &'b [u8] {
        let n = n.min(self.bytes.len());
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        head
    }
    fn word(&mut self) -> [u8; 8] {
        let mut w = [0u8; 8];
        let head = self.take(8);
        w[..head.len()].copy_from_slice(head);
        w
    }
    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.word())
    }
    pub fn f64(&mut self) -> f64 {
        f64::from_le_bytes(self.word())
    }
    pub fn f64s(&mut self) -> Vec<f64> {
        let n = self.u64() as usize;
        (0..n.min(self.bytes.len() / 8))
            .map(|_| self.f64())
            .collect()
    }
    pub fn text(&mut self) -> String {
        let n = self.u64() as usize;
        String::from_utf8_lossy(self.take(n)).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_is_owned_by_exactly_one_process_in_even_blocks() {
        for count in [0u64, 1, 2, 3, 7, 8, 100, 101] {
            for processes in 1..=5 {
                let blocks: Vec<_> = (0..processes).map(|r| owned(count, r, processes)).collect();
                assert_eq!(blocks[0].start, 0);
                assert_eq!(blocks[processes - 1].end, count);
                for pair in blocks.windows(2) {
                    assert_eq!(pair[0].end, pair[1].start);
                }
                let sizes: Vec<u64> = blocks.iter().map(|b| b.end - b.start).collect();
                let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(hi - lo <= 1, "{count} cells over {processes}: {sizes:?}");
            }
        }
    }

    #[test]
    fn what_a_writer_writes_a_reader_reads_back() {
        let mut w = Writer::default();
        w.u64(42);
        w.f64(-0.1);
        w.f64s(&[1.5, f64::NAN, 3.0]);
        w.text("numerical blow-up in cell 7");
        let mut r = Reader::new(&w.bytes);
        assert_eq!(r.u64(), 42);
        assert_eq!(r.f64(), -0.1);
        let xs = r.f64s();
        assert_eq!((xs[0], xs[2], xs[1].is_nan()), (1.5, 3.0, true));
        assert_eq!(r.text(), "numerical blow-up in cell 7");
        assert!(r.is_empty());
        // Past the end: zeros and empty text, no panic.
        assert_eq!((r.u64(), r.text().len(), r.f64s().len()), (0, 0, 0));
    }

    #[test]
    fn the_first_failure_in_rank_order_stops_every_process() {
        struct Three(Vec<Vec<u8>>);
        impl Exchange for Three {
            fn rank(&self) -> usize {
                0
            }
            fn processes(&self) -> usize {
                3
            }
            fn all_gather(&self, mine: &[u8]) -> Vec<Vec<u8>> {
                let mut all = vec![mine.to_vec()];
                all.extend(self.0.iter().cloned());
                all
            }
        }
        let report = |m: Result<(), String>| {
            let mut w = Writer::default();
            match m {
                Ok(()) => w.u64(0),
                Err(e) => {
                    w.u64(1);
                    w.text(&e);
                }
            }
            w.bytes
        };
        let ok = Three(vec![report(Ok(())), report(Ok(()))]);
        assert_eq!(agree(&ok, Ok(())), Ok(()));
        let two_fail = Three(vec![report(Err("a".into())), report(Err("b".into()))]);
        assert_eq!(agree(&two_fail, Ok(())), Err((1, "a".into())));
        assert_eq!(agree(&Alone, Err("here".into())), Err((0, "here".into())));
    }
}
