//! The detection report: what a machine (and the Docker engine it talks to) is, as plain, versioned data.
//! The engine's probes fill it; the judgement on it lives in [`crate::preflight`].

pub mod accel;
pub mod endpoint;
pub mod engine;
pub mod gpu;
pub mod network;
pub mod nvidia_smi;
pub mod platform;
pub mod resources;
pub mod server;
pub mod source;

use serde::{Deserialize, Serialize};

use crate::preflight::Finding;
use engine::EngineReport;

/// Bumped when a field changes meaning or disappears (adding fields keeps the version).
pub const REPORT_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemReport {
    pub schema_version: u32,
    pub installer_version: String,
    pub host: platform::HostPlatform,
    /// How the linux/amd64 gateway image can run where the containers run.
    pub platform: platform::PlatformDecision,
    pub memory: Option<resources::Memory>,
    pub disks: Vec<resources::DiskSpace>,
    pub gpu_source: GpuSource,
    pub gpus: gpu::GpuInventory,
    pub other_accelerators: Vec<accel::Accelerator>,
    pub docker: EngineReport,
    pub ports: Vec<network::PortCheck>,
    pub network: network::HostAddresses,
    /// Names and addresses GitLab and IDEs could use to reach this host, best first (never `localhost`),
    /// derived from `network` by the caller that judges the report.
    #[serde(default)]
    pub gateway_hosts: Vec<String>,
    /// Where each part above came from: this machine, or the server through its engine.
    #[serde(default)]
    pub sources: source::FactSources,
    /// The preflight verdicts, derived from everything above.
    pub findings: Vec<Finding>,
}

/// Where the GPU facts came from: the live NVML library, or a recorded profile (what-if, tests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GpuSource {
    Nvml,
    Profile {
        machine: String,
        source: String,
    },
    /// `nvidia-smi` in a probe container on the engine's host, run from `image`.
    ProbeContainer {
        image: String,
    },
}

impl SystemReport {
    pub fn has_blocker(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity == crate::preflight::Severity::Blocker)
    }
}
