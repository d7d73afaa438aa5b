//! Where each fact of the report came from (issue 14). The workstation's own probes describe the server
//! only when the engine is this machine; through a remote engine a fact comes from the engine's API or a
//! probe container on the server, or is said to be unknown — never filled in from the workstation.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FactSource {
    /// Read on the machine the installer runs on (which is the server: the engine is local).
    ThisMachine,
    /// The engine's `/info` (and, for disks, `/system/df`).
    EngineInfo,
    /// The engine's container list: ports its containers publish, and a probe bind where asked.
    EngineContainers,
    /// The NVIDIA library on this machine.
    Nvml,
    /// `nvidia-smi` in a short-lived container on the server.
    ProbeContainer { image: String },
    /// A recorded GPU profile (what-if planning, tests).
    Profile { machine: String },
    /// Not readable where the facts come from; `why` says what is missing.
    Unknown { why: String },
}

impl FactSource {
    /// How `detect` shows it.
    pub fn describe(&self) -> String {
        match self {
            Self::ThisMachine => "this machine".into(),
            Self::EngineInfo => "engine /info".into(),
            Self::EngineContainers => "engine container list".into(),
            Self::Nvml => "nvml".into(),
            Self::ProbeContainer { image } => format!("probe container nvidia-smi ({image})"),
            Self::Profile { machine } => format!("recorded profile ({machine})"),
            Self::Unknown { why } => format!("unknown: {why}"),
        }
    }
}

impl Default for FactSource {
    /// Reports written before sources existed were all read on this machine.
    fn default() -> Self {
        Self::ThisMachine
    }
}

/// One source per part of the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactSources {
    /// OS, CPU architecture, cores.
    pub host: FactSource,
    pub memory: FactSource,
    pub disks: FactSource,
    pub gpus: FactSource,
    pub ports: FactSource,
    /// Host names and addresses (the gateway host candidates).
    pub network: FactSource,
}

impl FactSources {
    /// Every fact from this machine, GPUs from `gpus`.
    pub fn this_machine(gpus: FactSource) -> Self {
        Self {
            gpus,
            ..Self::default()
        }
    }

    /// (part, source) rows, in the order `detect` prints them.
    pub fn rows(&self) -> [(&'static str, &FactSource); 6] {
        [
            ("host", &self.host),
            ("memory", &self.memory),
            ("disks", &self.disks),
            ("gpus", &self.gpus),
            ("ports", &self.ports),
            ("network", &self.network),
        ]
    }
}
