//! The GPU backend's availability check.
//!
//! cudarc is built with dynamic loading, so hhc builds and runs without CUDA. `CudaContext::new`
//! panics when no driver library exists, so the driver is looked for first.

/// Paths where the CUDA driver library may live.
const DRIVER_NAMES: &[&str] = &["libcuda.so.1", "libcuda.so"];
const DRIVER_DIRS: &[&str] = &["/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/local/nvidia/lib64", "/usr/lib/wsl/lib", "/usr/local/cuda/lib64", "/usr/lib"];

/// Whether a CUDA driver library is present on this machine.
pub fn driver_present() -> bool {
    let from_env = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
    let dirs = from_env.split(':').filter(|d| !d.is_empty()).chain(DRIVER_DIRS.iter().copied());
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
        Some("no NVIDIA GPU driver (libcuda.so) was found on this machine; run with --backend cpu".into())
    }
}
