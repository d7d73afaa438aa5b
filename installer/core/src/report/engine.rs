//! What the Docker engine is and can do, as the probe found it.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scheme", rename_all = "snake_case")]
pub enum Endpoint {
    Unix {
        path: PathBuf,
    },
    Tcp {
        addr: String,
    },
    /// Schemes this build cannot speak (ssh://, TLS); reported rather than guessed at.
    Unsupported {
        url: String,
        reason: String,
    },
}

impl Endpoint {
    pub fn display(&self) -> String {
        match self {
            Endpoint::Unix { path } => format!("unix://{}", path.display()),
            Endpoint::Tcp { addr } => format!("tcp://{addr}"),
            Endpoint::Unsupported { url, .. } => url.clone(),
        }
    }

    /// A Unix socket is this machine; a TCP endpoint may be another host.
    pub fn is_local(&self) -> bool {
        match self {
            Endpoint::Unix { .. } => true,
            Endpoint::Tcp { addr } => {
                let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
                matches!(
                    host.trim_matches(['[', ']']),
                    "localhost" | "127.0.0.1" | "::1"
                )
            }
            Endpoint::Unsupported { .. } => false,
        }
    }
}

/// Why the engine could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unreachable {
    /// The socket file does not exist: the daemon is not running, or DOCKER_HOST names the wrong path.
    SocketMissing,
    /// The socket exists but this user may not open it.
    PermissionDenied,
    /// Nothing listens at the TCP address, or the socket refuses connections.
    ConnectionRefused,
    /// Something answered, but not the Docker Engine API.
    NotDocker,
    /// No answer within the time-out.
    TimedOut,
    /// The engine's API is older than 1.41 (Docker 20.10).
    ApiTooOld,
    /// The endpoint scheme is not supported by this build.
    UnsupportedEndpoint,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum EngineStatus {
    Reachable(Box<EngineFacts>),
    Unreachable { reason: Unreachable, detail: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineReport {
    pub endpoint: Endpoint,
    /// Whether the endpoint is this machine (hardware facts describe the engine's host only then).
    pub local: bool,
    #[serde(flatten)]
    pub status: EngineStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineFacts {
    pub server_version: String,
    /// The engine's newest API version (`Api-Version` of `/_ping`).
    pub api_version: String,
    /// The version this installer speaks with it.
    pub negotiated_api_version: String,
    pub os_type: String,
    pub operating_system: Option<String>,
    pub architecture: String,
    pub docker_root_dir: Option<String>,
    pub storage_driver: Option<String>,
    pub runtimes: Vec<String>,
    pub default_runtime: Option<String>,
    pub nvidia_runtime: bool,
    /// CDI devices the engine discovered (API 1.48+), e.g. "nvidia.com/gpu=0".
    pub cdi_devices: Vec<String>,
    pub cdi_spec_dirs: Vec<String>,
    pub rootless: bool,
    /// `nvidia-container-runtime-hook` or `nvidia-ctk` found on this host's PATH (`None`: remote engine).
    /// With the toolkit's hook, `--gpus` works even when no "nvidia" runtime is registered.
    pub nvidia_toolkit_on_host: Option<bool>,
    pub ncpu: Option<i64>,
    pub mem_total_mib: Option<u64>,
    /// Host ports published by containers this installer created (label-filtered).
    pub our_published_ports: HashMap<u16, String>,
}
