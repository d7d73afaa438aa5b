//! NVIDIA GPUs through NVML.
//!
//! NVML is read through the [`GpuProbe`] trait so that tests (and what-if planning) can feed recorded
//! profiles: a profile is an [`NvmlReading`] as JSON, in NVML's own units (bytes, packed CUDA version).
//! The real probe loads `libnvidia-ml.so.1` with dlopen at run time, so the binary has no link-time
//! dependency on the driver and a machine without one gets a finding, never a crash.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

const MIB: u64 = 1024 * 1024;

/// One read of NVML, exactly as the library reported it. This is the recorded-profile format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum NvmlReading {
    Available(NvmlSnapshot),
    Unavailable(NvmlUnavailable),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NvmlSnapshot {
    /// `nvmlSystemGetDriverVersion`, e.g. "550.54.15".
    pub driver_version: String,
    /// `nvmlSystemGetCudaDriverVersion`: major * 1000 + minor * 10 (12040 is CUDA 12.4).
    pub cuda_driver_version: i32,
    pub devices: Vec<NvmlDevice>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NvmlDevice {
    pub index: u32,
    pub name: String,
    pub uuid: String,
    pub pci_bus_id: String,
    /// `nvmlDeviceGetMemoryInfo`, in bytes.
    pub memory: NvmlMemory,
    pub cuda_compute_capability: NvmlComputeCapability,
    /// `nvmlDeviceGetMigMode`; `None` where the GPU does not support MIG.
    #[serde(default)]
    pub mig_mode: Option<NvmlMigMode>,
    /// Compute and graphics processes holding memory on this GPU.
    #[serde(default)]
    pub processes: Vec<NvmlProcess>,
    /// Fields NVML failed to read on this device (the device is still reported).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read_errors: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NvmlMemory {
    pub total: u64,
    pub free: u64,
    pub used: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NvmlComputeCapability {
    pub major: i32,
    pub minor: i32,
}

/// NVML's MIG mode pair: 1 = enabled, 0 = disabled; `pending` applies after a GPU reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NvmlMigMode {
    pub current: u32,
    pub pending: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NvmlProcess {
    pub pid: u32,
    /// `nvmlSystemGetProcessName`, when NVML could resolve it.
    #[serde(default)]
    pub name: Option<String>,
    /// Bytes; `None` when NVML reports "not available" (e.g. under WDDM or in a container without PID access).
    pub used_gpu_memory: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NvmlUnavailable {
    pub kind: NvmlFailure,
    /// The library's own words, for the log and the JSON report.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NvmlFailure {
    /// `libnvidia-ml.so.1` could not be loaded: no NVIDIA driver installed.
    LibraryNotFound,
    /// The library loaded but the kernel driver is not running.
    DriverNotLoaded,
    NoPermission,
    /// NVML took longer than the detection time-out (a hung driver).
    TimedOut,
    Other,
}

/// Reads NVML. Implementations must never panic; failures become [`NvmlReading::Unavailable`].
pub trait GpuProbe: Send + Sync {
    fn read(&self) -> NvmlReading;
}

/// The real NVML library, loaded at run time.
#[derive(Debug, Default, Clone, Copy)]
pub struct NvmlLibrary;

impl GpuProbe for NvmlLibrary {
    fn read(&self) -> NvmlReading {
        nvml_read()
    }
}

/// A recorded profile: one JSON file per machine (see `tests/fixtures/gpus/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuProfile {
    /// Which machine this is, e.g. "AWS p5.48xlarge, 1 of 8 H100 SXM".
    pub machine: String,
    /// Where the figures come from: a real `detect` run, or a documented reference.
    pub source: String,
    pub nvml: NvmlReading,
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

impl GpuProfile {
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
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

impl GpuProbe for GpuProfile {
    fn read(&self) -> NvmlReading {
        self.nvml.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// The report's view: MiB as NVML reports them, decoded versions and modes.

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuInventory {
    pub nvml: NvmlStatus,
    pub devices: Vec<NvidiaGpu>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum NvmlStatus {
    Available {
        driver_version: String,
        /// e.g. "12.4": the newest CUDA runtime the driver supports.
        cuda_driver_version: String,
    },
    Unavailable(NvmlUnavailable),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NvidiaGpu {
    pub index: u32,
    pub name: String,
    pub uuid: String,
    pub pci_bus_id: String,
    pub memory_total_mib: u64,
    pub memory_free_mib: u64,
    pub memory_used_mib: u64,
    pub compute_capability: ComputeCapability,
    pub mig: MigState,
    pub processes: Vec<GpuProcess>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ComputeCapability {
    pub major: u32,
    pub minor: u32,
}

impl ComputeCapability {
    pub const fn new(major: u32, minor: u32) -> Self {
        Self { major, minor }
    }
}

impl fmt::Display for ComputeCapability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MigState {
    Unsupported,
    Disabled,
    Enabled,
    /// The mode changes at the next GPU reset.
    PendingChange {
        enabled_after_reset: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuProcess {
    pub pid: u32,
    pub name: Option<String>,
    pub used_mib: Option<u64>,
}

impl GpuInventory {
    /// Every way a spec may name these GPUs: NVML index and UUID.
    pub fn ids(&self) -> Vec<String> {
        self.devices
            .iter()
            .flat_map(|g| [g.index.to_string(), g.uuid.clone()])
            .collect()
    }
}

impl NvidiaGpu {
    /// Share of the card's memory that is free right now, 0.0..=1.0.
    pub fn free_fraction(&self) -> f64 {
        if self.memory_total_mib == 0 {
            return 0.0;
        }
        self.memory_free_mib as f64 / self.memory_total_mib as f64
    }
}

/// Turns a raw reading into the report's view.
pub fn inventory(reading: &NvmlReading) -> GpuInventory {
    match reading {
        NvmlReading::Unavailable(u) => GpuInventory {
            nvml: NvmlStatus::Unavailable(u.clone()),
            devices: Vec::new(),
        },
        NvmlReading::Available(s) => GpuInventory {
            nvml: NvmlStatus::Available {
                driver_version: s.driver_version.clone(),
                cuda_driver_version: cuda_version_string(s.cuda_driver_version),
            },
            devices: s.devices.iter().map(device_view).collect(),
        },
    }
}

/// NVML packs the CUDA version as major * 1000 + minor * 10.
pub fn cuda_version_string(packed: i32) -> String {
    format!("{}.{}", packed / 1000, (packed % 1000) / 10)
}

fn device_view(d: &NvmlDevice) -> NvidiaGpu {
    let cc = &d.cuda_compute_capability;
    NvidiaGpu {
        index: d.index,
        name: d.name.clone(),
        uuid: d.uuid.clone(),
        pci_bus_id: d.pci_bus_id.clone(),
        memory_total_mib: d.memory.total / MIB,
        memory_free_mib: d.memory.free / MIB,
        memory_used_mib: d.memory.used / MIB,
        compute_capability: ComputeCapability::new(
            u32::try_from(cc.major).unwrap_or(0),
            u32::try_from(cc.minor).unwrap_or(0),
        ),
        mig: match d.mig_mode {
            None => MigState::Unsupported,
            Some(m) if m.current != m.pending => MigState::PendingChange {
                enabled_after_reset: m.pending == 1,
            },
            Some(m) if m.current == 1 => MigState::Enabled,
            Some(_) => MigState::Disabled,
        },
        processes: d
            .processes
            .iter()
            .map(|p| GpuProcess {
                pid: p.pid,
                name: p.name.clone(),
                used_mib: p.used_gpu_memory.map(|b| b / MIB),
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// The real library.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_version_decodes_nvml_packing() {
        assert_eq!(cuda_version_string(12040), "12.4");
        assert_eq!(cuda_version_string(12090), "12.9");
        assert_eq!(cuda_version_string(11080), "11.8");
    }

    #[test]
    fn mig_states_decode() {
        let mut d = NvmlDevice {
            index: 0,
            name: "x".into(),
            uuid: "GPU-1".into(),
            pci_bus_id: "00000000:01:00.0".into(),
            memory: NvmlMemory {
                total: 80 * 1024 * MIB,
                free: 79 * 1024 * MIB,
                used: 1024 * MIB,
            },
            cuda_compute_capability: NvmlComputeCapability { major: 9, minor: 0 },
            mig_mode: None,
            processes: vec![],
            read_errors: vec![],
        };
        assert_eq!(device_view(&d).mig, MigState::Unsupported);
        d.mig_mode = Some(NvmlMigMode {
            current: 0,
            pending: 0,
        });
        assert_eq!(device_view(&d).mig, MigState::Disabled);
        d.mig_mode = Some(NvmlMigMode {
            current: 1,
            pending: 1,
        });
        assert_eq!(device_view(&d).mig, MigState::Enabled);
        d.mig_mode = Some(NvmlMigMode {
            current: 0,
            pending: 1,
        });
        assert_eq!(
            device_view(&d).mig,
            MigState::PendingChange {
                enabled_after_reset: true
            }
        );
        assert_eq!(device_view(&d).memory_total_mib, 81920);
    }

    #[test]
    fn real_library_never_panics() {
        // Here there is no driver: the read must come back as a classified failure. On a GPU machine it
        // must come back with at least one device.
        match NvmlLibrary.read() {
            NvmlReading::Unavailable(u) => assert!(!u.detail.is_empty()),
            NvmlReading::Available(s) => assert!(!s.driver_version.is_empty()),
        }
    }
}
