//! NVIDIA GPUs through NVML.
//!
//! NVML is read through the [`GpuProbe`] trait so that tests (and what-if planning) can feed recorded
//! profiles: a profile is an [`NvmlReading`] as JSON, in NVML's own units (bytes, packed CUDA version).
//! The real probe loads `libnvidia-ml.so.1` with dlopen at run time, so the binary has no link-time
//! dependency on the driver and a machine without one gets a finding, never a crash.

use serde::{Deserialize, Serialize};

use crate::catalog::gpu::ComputeCapability;

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
    /// Through a remote engine: no image on the server to run the `nvidia-smi` probe in.
    NoProbeImage,
    /// Through a remote engine: the probe container could not run `nvidia-smi`, or it failed.
    ProbeFailed,
    Other,
}

/// Reads NVML. Implementations must never panic; failures become [`NvmlReading::Unavailable`].
pub trait GpuProbe: Send + Sync {
    fn read(&self) -> NvmlReading;
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

impl GpuProfile {
    /// A profile from its JSON text (reading the file is the engine's job).
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
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
}
