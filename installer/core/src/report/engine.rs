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
        /// Mutual TLS (DOCKER_TLS_VERIFY, a context's TLS material, or explicit files).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tls: Option<TlsFiles>,
    },
    /// The engine of another host through the system `ssh` (`docker system dial-stdio` there).
    Ssh {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        host: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<u16>,
    },
    /// A Docker context that does not exist or cannot be read.
    NoContext {
        context: String,
        detail: String,
    },
    /// A DOCKER_HOST or context this build cannot use; reported rather than guessed at.
    Unsupported {
        url: String,
        reason: String,
    },
}

/// The CA that signs the engine's certificate, and this client's certificate and key (PEM files).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// `ca.pem`, `cert.pem` and `key.pem` in `dir`, as DOCKER_CERT_PATH and contexts lay them out.
    pub fn in_dir(dir: &std::path::Path) -> Self {
        Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }
}

impl Endpoint {
    /// The URL the docker CLI would show; the engine's lock is keyed on it.
    pub fn display(&self) -> String {
        match self {
            Endpoint::Unix { path } => format!("unix://{}", path.display()),
            Endpoint::Tcp { addr, .. } => format!("tcp://{addr}"),
            Endpoint::Ssh { user, host, port } => {
                let user = user.as_deref().map(|u| format!("{u}@")).unwrap_or_default();
                let port = port.map(|p| format!(":{p}")).unwrap_or_default();
                format!("ssh://{user}{host}{port}")
            }
            Endpoint::NoContext { context, .. } => context.clone(),
            Endpoint::Unsupported { url, .. } => url.clone(),
        }
    }

    /// Whether the engine is this machine: a Unix socket, or TCP to a loopback address. An ssh:// engine
    /// is another host by intent (even ssh://localhost may be a forwarded port), so never local.
    pub fn is_local(&self) -> bool {
        match self {
            Endpoint::Unix { .. } => true,
            Endpoint::Tcp { addr, .. } => is_loopback(host_of(addr)),
            Endpoint::Ssh { .. } | Endpoint::NoContext { .. } | Endpoint::Unsupported { .. } => {
                false
            }
        }
    }

    /// Plain TCP to another host: whoever reaches the port is root on that server.
    pub fn is_plain_remote_tcp(&self) -> bool {
        matches!(self, Endpoint::Tcp { addr, tls: None } if !is_loopback(host_of(addr)))
    }
}

fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_matches(['[', ']'])
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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
    /// The Docker context named by --context, DOCKER_CONTEXT or the CLI's config does not exist.
    ContextNotFound,
    /// ssh does not know the server's host key (not in known_hosts, or it changed).
    SshHostKey,
    /// ssh was refused: no key the server accepts (agent, ~/.ssh, the config's IdentityFile).
    SshAuth,
    /// ssh reached the server, but running `docker system dial-stdio` there failed.
    SshRemoteDocker,
    /// The engine's certificate is not signed by the CA this client trusts.
    TlsUntrusted,
    /// The engine's certificate has expired (or is not valid yet).
    TlsExpired,
    /// The engine asked for a client certificate this client does not have, or refused the one it has.
    TlsClientCert,
    /// A CA, certificate or key file named for TLS is missing or unreadable.
    TlsFiles,
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
    /// Where the endpoint was chosen (--host, --context, DOCKER_HOST, DOCKER_CONTEXT, the current context).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<super::endpoint::Origin>,
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
