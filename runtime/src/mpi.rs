//! [`Exchange`] over MPI (the `mpi` feature): the system's MPI library through rsmpi.
//!
//! MPI starts only in a process that an MPI launcher (`mpirun`, `mpiexec`, `srun`) started, so
//! an MPI-enabled `hhc` run by hand is one process, as before. It starts with
//! `MPI_THREAD_SERIALIZED`: the engine calls MPI from one thread at a time, which need not be
//! the thread that started it (the stepping loop runs inside its thread pool). MPI's default error handler ends the whole job on an MPI error, and a process
//! that exits without finalizing makes the launcher end the others, so a failure never leaves
//! the other processes waiting in an all-gather.

use crate::distributed::Exchange;
use ::mpi::datatype::PartitionMut;
use ::mpi::environment::{Threading, Universe};
use ::mpi::traits::Communicator;
use ::mpi::traits::CommunicatorCollectives;
use ::mpi::Count;

/// The processes of an MPI job. Dropping it finalizes MPI.
pub struct Mpi {
    universe: Universe,
    rank: usize,
    processes: usize,
}

/// Variables that MPI launchers set in the processes they start (Open MPI, MPICH's Hydra,
/// PMIx and PMI-2 under Slurm).
const LAUNCHER_VARIABLES: [&str; 4] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"];

impl Mpi {
    /// MPI, when an MPI launcher started this process; `None` when it did not (or MPI was
    /// started already).
    pub fn from_launcher() -> Option<Mpi> {
        if !LAUNCHER_VARIABLES
            .iter()
            .any(|v| std::env::var_os(v).is_some())
        {
            return None;
        }
        let (universe, _) = ::mpi::initialize_with_threading(Threading::Serialized)?;
        let world = universe.world();
        let (rank, processes) = (world.rank() as usize, world.size() as usize);
        Some(Mpi {
            universe,
            rank,
            processes,
        })
    }
}

impl Exchange for Mpi {
    fn rank(&self) -> usize {
        self.rank
    }

    fn processes(&self) -> usize {
        self.processes
    }

    fn all_gather(&self, mine: &[u8]) -> Vec<Vec<u8>> {
        let world = self.universe.world();
        let n = Count::try_from(mine.len()).unwrap_or(Count::MAX);
        let mut counts = vec![0 as Count; self.processes];
        world.all_gather_into(&n, &mut counts[..]);
        let displacements: Vec<Count> = counts
            .iter()
            .scan(0, |at, &c| {
                let here = *at;
                *at += c;
                Some(here)
            })
            .collect();
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        if total == 0 {
            // Nothing to carry (MPI refuses empty buffers); the counts' all-gather was the
            // meeting.
            return vec![Vec::new(); self.processes];
        }
        let mut all = vec![0u8; total];
        {
            let mut parts = PartitionMut::new(&mut all[..], &counts[..], &displacements[..]);
            world.all_gather_varcount_into(mine, &mut parts);
        }
        counts
            .iter()
            .zip(&displacements)
            .map(|(&c, &d)| all[d as usize..(d + c) as usize].to_vec())
            .collect()
    }
}
