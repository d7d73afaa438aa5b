//! The real NVML library (loaded at run time, so a machine without the driver gets a finding, never a
//! crash) and recorded GPU profiles read from their files. The data types are the core's.

pub use aigw_core::report::gpu::*;
use std::path::Path;

/// Reads a recorded profile from its file.
pub trait LoadProfile: Sized {
    fn load(path: &Path) -> Result<Self, ProfileError>;
}

/// The real NVML library, loaded at run time.
#[derive(Debug, Default, Clone, Copy)]
pub struct NvmlLibrary;

impl GpuProbe for NvmlLibrary {
    fn read(&self) -> NvmlReading {
        nvml_read()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read GPU profile {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("GPU profile {path} is not valid: {source}. See tests/fixtures/gpus/ for the format")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
}

impl LoadProfile for GpuProfile {
    fn load(path: &Path) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| ProfileError::Parse {
            path: path.display().to_string(),
            source,
        })
    }
}

fn nvml_read() -> NvmlReading {
    use nvml_wrapper::Nvml;
    // The unversioned name only exists with the -dev package; the driver always ships the .so.1.
    let nvml = match Nvml::init().or_else(|_| {
        Nvml::builder()
            .lib_path(std::ffi::OsStr::new("libnvidia-ml.so.1"))
            .init()
    }) {
        Ok(n) => n,
        Err(e) => return NvmlReading::Unavailable(classify(&e)),
    };
    let driver_version = nvml.sys_driver_version().unwrap_or_default();
    let cuda_driver_version = nvml.sys_cuda_driver_version().unwrap_or(0);
    let count = match nvml.device_count() {
        Ok(c) => c,
        Err(e) => return NvmlReading::Unavailable(classify(&e)),
    };
    let devices = (0..count)
        .filter_map(|i| match nvml.device_by_index(i) {
            Ok(dev) => Some(read_device(&nvml, i, &dev)),
            Err(e) => {
                // One unreadable GPU must not hide the others.
                tracing::warn!(index = i, error = %e, "NVML could not open GPU");
                None
            }
        })
        .collect();
    NvmlReading::Available(NvmlSnapshot {
        driver_version,
        cuda_driver_version,
        devices,
    })
}

fn read_device(
    nvml: &nvml_wrapper::Nvml,
    index: u32,
    dev: &nvml_wrapper::Device<'_>,
) -> NvmlDevice {
    use nvml_wrapper::enums::device::UsedGpuMemory;
    use nvml_wrapper::error::NvmlError;
    let mut read_errors = Vec::new();
    let mut note = |what: &str, e: &NvmlError| read_errors.push(format!("{what}: {e}"));

    let name = dev.name().unwrap_or_else(|e| {
        note("name", &e);
        String::new()
    });
    let uuid = dev.uuid().unwrap_or_else(|e| {
        note("uuid", &e);
        String::new()
    });
    let pci_bus_id = dev.pci_info().map(|p| p.bus_id).unwrap_or_else(|e| {
        note("pci_info", &e);
        String::new()
    });
    let memory = dev
        .memory_info()
        .map(|m| NvmlMemory {
            total: m.total,
            free: m.free,
            used: m.used,
        })
        .unwrap_or_else(|e| {
            note("memory_info", &e);
            NvmlMemory {
                total: 0,
                free: 0,
                used: 0,
            }
        });
    let cuda_compute_capability = dev
        .cuda_compute_capability()
        .map(|c| NvmlComputeCapability {
            major: c.major,
            minor: c.minor,
        })
        .unwrap_or_else(|e| {
            note("cuda_compute_capability", &e);
            NvmlComputeCapability { major: 0, minor: 0 }
        });
    let mig_mode = match dev.mig_mode() {
        Ok(m) => Some(NvmlMigMode {
            current: m.current,
            pending: m.pending,
        }),
        Err(NvmlError::NotSupported) => None,
        Err(e) => {
            note("mig_mode", &e);
            None
        }
    };
    let mut procs = Vec::new();
    for list in [
        dev.running_compute_processes(),
        dev.running_graphics_processes(),
    ] {
        match list {
            Ok(ps) => procs.extend(ps),
            Err(NvmlError::NotSupported) => {}
            Err(e) => note("processes", &e),
        }
    }
    // A process using both compute and graphics appears twice.
    procs.sort_by_key(|p| p.pid);
    procs.dedup_by_key(|p| p.pid);
    let processes = procs
        .into_iter()
        .map(|p| NvmlProcess {
            pid: p.pid,
            name: nvml.sys_process_name(p.pid, 256).ok(),
            used_gpu_memory: match p.used_gpu_memory {
                UsedGpuMemory::Used(b) => Some(b),
                UsedGpuMemory::Unavailable => None,
            },
        })
        .collect();
    NvmlDevice {
        index,
        name,
        uuid,
        pci_bus_id,
        memory,
        cuda_compute_capability,
        mig_mode,
        processes,
        read_errors,
    }
}

fn classify(e: &nvml_wrapper::error::NvmlError) -> NvmlUnavailable {
    use nvml_wrapper::error::NvmlError as E;
    let kind = match e {
        E::LibloadingError(_) | E::LibraryNotFound | E::FailedToLoadSymbol(_) => {
            NvmlFailure::LibraryNotFound
        }
        E::DriverNotLoaded => NvmlFailure::DriverNotLoaded,
        E::NoPermission => NvmlFailure::NoPermission,
        _ => NvmlFailure::Other,
    };
    NvmlUnavailable {
        kind,
        detail: e.to_string(),
    }
}

/// This machine's NVML reading as a profile, named after the host and its GPUs: a fixture for tests and
/// what-if planning elsewhere (`detect --save-gpu-profile`).
pub fn record_profile() -> GpuProfile {
    let nvml = NvmlLibrary.read();
    let gpus = match &nvml {
        NvmlReading::Available(s) => s
            .devices
            .iter()
            .map(|d| d.name.clone())
            .collect::<Vec<_>>()
            .join(", "),
        NvmlReading::Unavailable(u) => format!("no NVIDIA GPU usable ({:?})", u.kind),
    };
    let host = sysinfo::System::host_name().unwrap_or_else(|_| "unknown host".into());
    GpuProfile {
        machine: format!("{host}: {gpus}"),
        source: format!(
            "recorded by aigw-installer {} detect --save-gpu-profile",
            env!("CARGO_PKG_VERSION")
        ),
        nvml,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the dynamic loader can find the library NVML ships in: `ldconfig -p` (the loader's cache)
    /// or a directory of `LD_LIBRARY_PATH`.
    fn loader_finds_libnvidia_ml() -> bool {
        const LIB: &str = "libnvidia-ml.so.1";
        let in_path = std::env::var_os("LD_LIBRARY_PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|dir| dir.join(LIB).exists()));
        let cache = ["ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"]
            .iter()
            .find_map(|exe| std::process::Command::new(exe).arg("-p").output().ok())
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .expect("ldconfig -p lists the loader's cache");
        // "libnvidia-ml.so.1 (libc6,x86-64) => …": a 64-bit program needs a 64-bit entry.
        let wanted = |flags: &str| !cfg!(target_pointer_width = "64") || flags.contains("64");
        in_path
            || cache.lines().any(|l| {
                l.trim_start()
                    .strip_prefix(LIB)
                    .and_then(|rest| rest.trim_start().strip_prefix('('))
                    .and_then(|rest| rest.split_once(')'))
                    .is_some_and(|(flags, _)| wanted(flags))
            })
    }

    #[test]
    fn real_library_reads_what_this_machine_has() {
        // The expectation comes from the machine, not from the reading: without the library NVML cannot
        // load; with it and a running driver (its device node and /proc entry) the GPUs are read.
        // On this workplace's CI machines (no NVIDIA driver) that is the first arm.
        let library = loader_finds_libnvidia_ml();
        let ctl = std::path::Path::new("/dev/nvidiactl");
        let driver = ctl.exists() && std::path::Path::new("/proc/driver/nvidia/version").exists();
        let allowed = {
            use rustix::fs::{access, Access};
            access(ctl, Access::READ_OK | Access::WRITE_OK).is_ok()
        };
        match (NvmlLibrary.read(), library, driver) {
            (NvmlReading::Unavailable(u), false, _) => {
                assert_eq!(u.kind, NvmlFailure::LibraryNotFound, "{}", u.detail);
                assert!(!u.detail.is_empty());
            }
            (NvmlReading::Unavailable(u), true, true) if !allowed => {
                assert_eq!(u.kind, NvmlFailure::NoPermission, "{}", u.detail);
            }
            (NvmlReading::Available(s), true, true) if allowed => {
                assert!(!s.devices.is_empty(), "{s:?}");
                for d in &s.devices {
                    assert!(!d.name.is_empty() && d.memory.total > 0, "{d:?}");
                }
                // The kernel module names its version; NVML reports the same driver.
                let proc = std::fs::read_to_string("/proc/driver/nvidia/version").unwrap();
                assert!(
                    !s.driver_version.is_empty() && proc.contains(&s.driver_version),
                    "NVML says driver {:?}, the kernel module says {proc}",
                    s.driver_version
                );
            }
            (NvmlReading::Unavailable(u), true, false) => {
                // The library without a running driver: a classified failure, not "no library".
                assert_ne!(u.kind, NvmlFailure::LibraryNotFound, "{}", u.detail);
            }
            (reading, library, driver) => panic!(
                "libnvidia-ml.so.1 {}, driver {}, yet NVML read {reading:?}",
                if library { "found" } else { "not found" },
                if driver { "running" } else { "not running" },
            ),
        }
    }
}
