//! The GPU backend: PTX from the compiler, loaded and launched with cudarc.
//!
//! cudarc is built with dynamic loading, so hhc builds and runs without CUDA. `CudaContext::new`
//! panics when no driver library exists, so [`unavailable_reason`] looks for the driver first and
//! the context is created under `catch_unwind` as a second guard.
//!
//! The population lives on the device. Each `step` launches the fused kernel (one thread per
//! cell, up to 64 steps in registers), then the compaction kernel, and copies back only the
//! count of non-zero spike words, those words, and the first bad step.

use super::{Backend, BackendError, Population, Slots, StepReport};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DevicePtr, LaunchConfig, PushKernelArg,
};
use hhc_compiler::backend::ptx::COMPACT_KERNEL;
use hhc_compiler::backend::STEP_KERNEL;
use hhc_compiler::passes::mathlib::Precision;
use std::sync::Arc;

const DRIVER_NAMES: &[&str] = &["libcuda.so.1", "libcuda.so"];
const DRIVER_DIRS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib64",
    "/usr/local/nvidia/lib64",
    "/usr/local/nvidia/lib",
    "/usr/lib/wsl/lib",
    "/usr/local/cuda/lib64",
    "/usr/lib",
    "/lib/x86_64-linux-gnu",
];

/// Whether a CUDA driver library is present on this machine.
pub fn driver_present() -> bool {
    let from_env = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
    let dirs = from_env
        .split(':')
        .filter(|d| !d.is_empty())
        .chain(DRIVER_DIRS.iter().copied());
    for d in dirs {
        for n in DRIVER_NAMES {
            if std::path::Path::new(d).join(n).exists() {
                return true;
            }
        }
    }
    false
}

/// Why the GPU backend cannot run here, or `None` when a driver is present.
pub fn unavailable_reason() -> Option<String> {
    if driver_present() {
        None
    } else {
        Some(
            "no NVIDIA GPU driver (libcuda.so) was found on this machine; run with --backend cpu"
                .into(),
        )
    }
}

const BLOCK: u32 = 256;

pub struct Gpu {
    stream: Arc<CudaStream>,
    step_fn: CudaFunction,
    compact_fn: CudaFunction,
    precision: Precision,
    device_name: String,
    slots: Vec<CudaSlice<u8>>,
    slot_table: Option<CudaSlice<u64>>,
    spikes: Option<CudaSlice<u64>>,
    bad: Option<CudaSlice<i32>>,
    compact: Option<CudaSlice<u64>>,
    counter: Option<CudaSlice<u64>>,
    n: usize,
}

fn err<E: std::fmt::Debug>(e: E) -> BackendError {
    BackendError(format!("{e:?}"))
}

impl Gpu {
    /// Creates a context on device 0 and loads `ptx`.
    pub fn new(ptx: &str, precision: Precision) -> Result<Self, BackendError> {
        if let Some(reason) = unavailable_reason() {
            return Err(BackendError(reason));
        }
        let ctx = std::panic::catch_unwind(|| CudaContext::new(0))
            .map_err(|_| BackendError("the CUDA driver could not be loaded".into()))?
            .map_err(|e| BackendError(format!("no usable GPU: {e:?}")))?;
        let device_name = ctx.name().unwrap_or_else(|_| "GPU".into());
        let module = ctx
            .load_module(cudarc::nvrtc::Ptx::from_src(ptx))
            .map_err(|e| BackendError(format!("PTX rejected by the driver: {e:?}")))?;
        let step_fn = module.load_function(STEP_KERNEL).map_err(err)?;
        let compact_fn = module.load_function(COMPACT_KERNEL).map_err(err)?;
        Ok(Gpu {
            stream: ctx.default_stream(),
            step_fn,
            compact_fn,
            precision,
            device_name,
            slots: vec![],
            slot_table: None,
            spikes: None,
            bad: None,
            compact: None,
            counter: None,
            n: 0,
        })
    }

    fn elem(&self) -> usize {
        match self.precision {
            Precision::F64 => 8,
            Precision::F32 => 4,
        }
    }
}

fn slot_bytes(slots: &Slots, k: usize) -> &[u8] {
    match slots {
        // SAFETY: f64 and f32 have no padding and every bit pattern is a valid u8 sequence.
        Slots::F64(s) => unsafe {
            std::slice::from_raw_parts(s[k].as_ptr().cast::<u8>(), s[k].len() * 8)
        },
        Slots::F32(s) => unsafe {
            std::slice::from_raw_parts(s[k].as_ptr().cast::<u8>(), s[k].len() * 4)
        },
    }
}

impl Backend for Gpu {
    fn describe(&self) -> String {
        let p = match self.precision {
            Precision::F64 => "f64",
            Precision::F32 => "f32",
        };
        format!("gpu ({}, ptx, {p})", self.device_name)
    }

    fn upload(&mut self, pop: &Population) -> Result<(), BackendError> {
        let count = match &pop.slots {
            Slots::F64(s) => s.len(),
            Slots::F32(s) => s.len(),
        };
        self.slots.clear();
        for k in 0..count {
            self.slots.push(
                self.stream
                    .clone_htod(slot_bytes(&pop.slots, k))
                    .map_err(err)?,
            );
        }
        let table: Vec<u64> = self
            .slots
            .iter()
            .map(|s| s.device_ptr(&self.stream).0)
            .collect();
        self.slot_table = Some(self.stream.clone_htod(&table).map_err(err)?);
        self.spikes = Some(self.stream.alloc_zeros::<u64>(pop.n.max(1)).map_err(err)?);
        self.bad = Some(self.stream.alloc_zeros::<i32>(pop.n.max(1)).map_err(err)?);
        self.compact = Some(
            self.stream
                .alloc_zeros::<u64>(2 * pop.n.max(1))
                .map_err(err)?,
        );
        self.counter = Some(self.stream.alloc_zeros::<u64>(2).map_err(err)?);
        self.n = pop.n;
        Ok(())
    }

    fn step(
        &mut self,
        _pop: &mut Population,
        ranges: &[(usize, usize)],
        t0: f64,
        nsteps: u64,
    ) -> Result<StepReport, BackendError> {
        let (Some(table), Some(spikes), Some(bad), Some(compact), Some(counter)) = (
            &self.slot_table,
            &mut self.spikes,
            &mut self.bad,
            &mut self.compact,
            &mut self.counter,
        ) else {
            return Err(BackendError("step before upload".into()));
        };
        self.stream
            .memcpy_htod(&[0u64, u64::MAX], counter)
            .map_err(err)?;
        for &(lo, hi) in ranges {
            let cells = (hi - lo) as u32;
            let cfg = LaunchConfig {
                grid_dim: (cells.div_ceil(BLOCK), 1, 1),
                block_dim: (BLOCK, 1, 1),
                shared_mem_bytes: 0,
            };
            let (lo64, hi64) = (lo as u64, hi as u64);
            let mut launch = self.stream.launch_builder(&self.step_fn);
            launch
                .arg(table)
                .arg(&lo64)
                .arg(&hi64)
                .arg(&t0)
                .arg(&nsteps)
                .arg(&mut *spikes)
                .arg(&mut *bad);
            // SAFETY: the arguments match the kernel's ABI: a table of slot arrays of n elements,
            // cells within [0, n), spike and bad arrays of n elements, nsteps ≤ 64.
            unsafe { launch.launch(cfg) }.map_err(err)?;
            let mut launch = self.stream.launch_builder(&self.compact_fn);
            launch
                .arg(&*spikes)
                .arg(&*bad)
                .arg(&lo64)
                .arg(&hi64)
                .arg(&mut *compact)
                .arg(&mut *counter);
            // SAFETY: compact holds 2n u64 (one pair per cell at most); counter holds 2 u64.
            unsafe { launch.launch(cfg) }.map_err(err)?;
        }
        let head = self.stream.clone_dtoh(&*counter).map_err(err)?;
        let found = (head[0] as usize).min(self.n);
        let mut report = StepReport::default();
        if found > 0 {
            let view = compact.slice(0..2 * found);
            let pairs = self.stream.clone_dtoh(&view).map_err(err)?;
            report.words = pairs.chunks(2).map(|p| (p[0] as usize, p[1])).collect();
        }
        if head[1] != u64::MAX {
            report.first_bad = Some(((head[1] & 0xffff_ffff) as usize, (head[1] >> 32) as u32));
        }
        Ok(report)
    }

    fn read_cells(
        &mut self,
        pop: &mut Population,
        cells: &[usize],
        slots: &[usize],
    ) -> Result<(), BackendError> {
        let elem = self.elem();
        let all = cells.len() == pop.n;
        for &k in slots {
            let Some(dev) = self.slots.get(k) else {
                continue;
            };
            if all {
                let bytes = self.stream.clone_dtoh(dev).map_err(err)?;
                for (c, chunk) in bytes.chunks(elem).enumerate() {
                    pop.slots.set(k, c, decode(chunk));
                }
            } else {
                for &c in cells {
                    let view = dev.slice(c * elem..(c + 1) * elem);
                    let bytes = self.stream.clone_dtoh(&view).map_err(err)?;
                    pop.slots.set(k, c, decode(&bytes));
                }
            }
        }
        Ok(())
    }
}

fn decode(b: &[u8]) -> f64 {
    match b.len() {
        8 => f64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
        4 => f64::from(f32::from_le_bytes(b.try_into().unwrap_or([0; 4]))),
        _ => f64::NAN,
    }
}
