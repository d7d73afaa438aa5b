//! Reaching the Docker engine: which endpoint, whether it answers, which API version to speak, and what
//! it can run (NVIDIA runtime, CDI devices, rootless, its own OS and architecture).
//!
//! API version: bollard defaults to the newest API (1.53), which engines from Docker 20.10 (API 1.41)
//! refuse with "client version 1.53 is too new", and bollard's `negotiate_version` asks for `/version`
//! at that same too-new version, so it fails on exactly the engines that need it. Engines from Docker 29
//! refuse anything below 1.44 instead. So we negotiate as the docker CLI does: an unversioned
//! `GET /_ping`, whose `Api-Version` header is the engine's newest API, then speak
//! min(engine newest, bollard's newest). `/_ping` is also the cheapest call the engine has (`/version`
//! and `/info` run `runc --version` and friends), which keeps `detect` fast.

use bollard::{ClientVersion, Docker};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::labels;
pub use aigw_core::report::engine::*;

/// The oldest engine API we support: Docker 20.10.
pub const MIN_API: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 41,
};

const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Per-request time-out: a local engine answers in milliseconds, a hung one must not hang us.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the engine is, from `DOCKER_HOST` (as the docker CLI reads it), else the standard socket, else the
/// rootless socket under `$XDG_RUNTIME_DIR`.
pub fn resolve_endpoint(
    docker_host: Option<&str>,
    xdg_runtime_dir: Option<&str>,
    tls_verify: bool,
) -> Endpoint {
    match docker_host.map(str::trim).filter(|h| !h.is_empty()) {
        Some(h) => parse_docker_host(h, tls_verify),
        None => {
            let rootless = xdg_runtime_dir.map(|d| Path::new(d).join("docker.sock"));
            match rootless {
                Some(r) if !Path::new(DEFAULT_SOCKET).exists() && r.exists() => {
                    Endpoint::Unix { path: r }
                }
                _ => Endpoint::Unix {
                    path: PathBuf::from(DEFAULT_SOCKET),
                },
            }
        }
    }
}

fn parse_docker_host(h: &str, tls_verify: bool) -> Endpoint {
    let unsupported = |reason: &str| Endpoint::Unsupported {
        url: h.to_string(),
        reason: reason.to_string(),
    };
    if let Some(p) = h.strip_prefix("unix://") {
        return Endpoint::Unix {
            path: PathBuf::from(p),
        };
    }
    let rest = h
        .strip_prefix("tcp://")
        .or_else(|| h.strip_prefix("http://"));
    match rest {
        Some(_) if tls_verify => unsupported(
            "TLS-protected engines (DOCKER_TLS_VERIFY) are not supported yet; run the installer on the \
             Docker host itself, or forward its socket (ssh -L /tmp/docker.sock:/var/run/docker.sock host)",
        ),
        Some(addr) if !addr.is_empty() => Endpoint::Tcp {
            addr: addr.trim_end_matches('/').to_string(),
        },
        _ if h.starts_with("ssh://") => unsupported(
            "ssh:// endpoints are not supported; forward the socket instead: \
             ssh -nNT -L /tmp/docker.sock:/var/run/docker.sock user@host, then DOCKER_HOST=unix:///tmp/docker.sock",
        ),
        _ if h.starts_with("https://") => unsupported(
            "https:// endpoints are not supported yet; run the installer on the Docker host itself",
        ),
        _ => unsupported(
            "DOCKER_HOST must look like unix:///var/run/docker.sock or tcp://host:2375",
        ),
    }
}

/// A client that speaks an API version the engine accepts.
pub struct Connection {
    pub docker: Docker,
    /// The engine's newest API.
    pub engine_api: ClientVersion,
    /// The API we speak: min(engine's newest, bollard's newest).
    pub speak: ClientVersion,
}

/// Connects and negotiates.
pub async fn connect(endpoint: &Endpoint) -> Result<Connection, (Unreachable, String)> {
    if let Endpoint::Unsupported { reason, .. } = endpoint {
        return Err((Unreachable::UnsupportedEndpoint, reason.clone()));
    }
    precheck(endpoint)?;
    let engine_max = ping_api_version(endpoint).await?;
    if engine_max < MIN_API {
        return Err((
            Unreachable::ApiTooOld,
            format!(
                "engine API {}.{} is older than 1.41",
                engine_max.major_version, engine_max.minor_version
            ),
        ));
    }
    let newest = *bollard::API_DEFAULT_VERSION;
    let speak = if engine_max < newest {
        engine_max
    } else {
        newest
    };
    Ok(Connection {
        docker: client(endpoint, &speak)?,
        engine_api: engine_max,
        speak,
    })
}

/// `GET /_ping` without a version prefix, over a raw connection: bollard only sends versioned paths.
async fn ping_api_version(endpoint: &Endpoint) -> Result<ClientVersion, (Unreachable, String)> {
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) -> std::io::Result<Vec<u8>> {
        s.write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nUser-Agent: aigw-installer\r\nConnection: close\r\n\r\n")
            .await?;
        let mut buf = Vec::new();
        // The answer is a few hundred bytes; a chatty non-Docker peer must not fill memory.
        s.take(64 * 1024).read_to_end(&mut buf).await?;
        Ok(buf)
    }
    let at = endpoint.display();
    let io = |e: std::io::Error| {
        (
            io_kind_reason(&e).unwrap_or(Unreachable::Other),
            format!("{at}: {e}"),
        )
    };
    let answer = tokio::time::timeout(REQUEST_TIMEOUT, async {
        match endpoint {
            Endpoint::Unix { path } => exchange(tokio::net::UnixStream::connect(path).await?).await,
            Endpoint::Tcp { addr } => exchange(tokio::net::TcpStream::connect(addr).await?).await,
            Endpoint::Unsupported { .. } => Err(std::io::Error::other("unsupported endpoint")),
        }
    })
    .await
    .map_err(|_| {
        (
            Unreachable::TimedOut,
            format!(
                "{at} accepted the connection but did not answer /_ping within {REQUEST_TIMEOUT:?}"
            ),
        )
    })?
    .map_err(io)?;
    parse_ping(&answer).map_err(|why| (Unreachable::NotDocker, why))
}

/// Reads the engine's newest API version from a raw `/_ping` answer.
pub fn parse_ping(answer: &[u8]) -> Result<ClientVersion, String> {
    let text = String::from_utf8_lossy(answer);
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if !status.starts_with("HTTP/1.") {
        let shown: String = status.chars().take(60).collect();
        return Err(format!("the answer is not HTTP (it began with {shown:?})"));
    }
    let api = lines
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("api-version")
                .then(|| v.trim().to_string())
        })
        .ok_or_else(|| {
            format!("an HTTP server answered ({status}) without the Docker Api-Version header")
        })?;
    parse_api_version(&api).ok_or_else(|| format!("unreadable Api-Version header {api:?}"))
}

fn client(endpoint: &Endpoint, v: &ClientVersion) -> Result<Docker, (Unreachable, String)> {
    let secs = REQUEST_TIMEOUT.as_secs();
    let r = match endpoint {
        Endpoint::Unix { path } => Docker::connect_with_unix(&path.to_string_lossy(), secs, v),
        Endpoint::Tcp { addr } => Docker::connect_with_http(&format!("http://{addr}"), secs, v),
        Endpoint::Unsupported { reason, .. } => {
            return Err((Unreachable::UnsupportedEndpoint, reason.clone()))
        }
    };
    r.map_err(|e| classify(endpoint, &e))
}

/// For a Unix socket the file system already tells the precise reason.
fn precheck(endpoint: &Endpoint) -> Result<(), (Unreachable, String)> {
    let Endpoint::Unix { path } = endpoint else {
        return Ok(());
    };
    if !path.exists() {
        return Err((
            Unreachable::SocketMissing,
            format!("{} does not exist", path.display()),
        ));
    }
    use rustix::fs::{access, Access};
    if access(path, Access::READ_OK | Access::WRITE_OK).is_err() {
        return Err((
            Unreachable::PermissionDenied,
            format!("permission denied opening {}", path.display()),
        ));
    }
    Ok(())
}

pub fn parse_api_version(s: &str) -> Option<ClientVersion> {
    let (maj, min) = s.trim().split_once('.')?;
    Some(ClientVersion {
        major_version: maj.parse().ok()?,
        minor_version: min.parse().ok()?,
    })
}

/// Maps a bollard error to a reason an admin can act on.
pub fn classify(endpoint: &Endpoint, e: &bollard::errors::Error) -> (Unreachable, String) {
    use bollard::errors::Error as E;
    let detail = error_chain(e);
    let reason = match e {
        E::SocketNotFoundError(_) => Unreachable::SocketMissing,
        E::RequestTimeoutError => Unreachable::TimedOut,
        E::DockerResponseServerError { message, .. }
            if message.contains("is too new. Maximum supported API version is") =>
        {
            Unreachable::ApiTooOld
        }
        // An HTTP answer that is not the Engine API's JSON (a web server, a proxy login page…).
        E::DockerResponseServerError { .. }
        | E::JsonDataError { .. }
        | E::JsonSerdeError { .. } => Unreachable::NotDocker,
        _ => io_reason(e).unwrap_or(match endpoint {
            // A non-HTTP speaker on a TCP port makes hyper fail to parse the response.
            Endpoint::Tcp { .. } if detail.to_ascii_lowercase().contains("parse") => {
                Unreachable::NotDocker
            }
            _ => Unreachable::Other,
        }),
    };
    (reason, detail)
}

/// "client error (SendRequest): invalid HTTP version parsed": the top error alone rarely says what happened.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    parts.join(": ")
}

fn io_kind_reason(io: &std::io::Error) -> Option<Unreachable> {
    use std::io::ErrorKind as K;
    Some(match io.kind() {
        K::PermissionDenied => Unreachable::PermissionDenied,
        K::ConnectionRefused | K::NotFound => Unreachable::ConnectionRefused,
        K::TimedOut => Unreachable::TimedOut,
        K::ConnectionReset | K::UnexpectedEof | K::InvalidData => Unreachable::NotDocker,
        _ => return None,
    })
}

fn io_reason(e: &(dyn std::error::Error + 'static)) -> Option<Unreachable> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return io_kind_reason(io);
        }
        let s = err.to_string().to_ascii_lowercase();
        // hyper's words for a peer that does not speak HTTP (an SSH banner, a database port…).
        if [
            "connection closed before message completed",
            "invalid http",
            "unexpected message",
        ]
        .iter()
        .any(|m| s.contains(m))
        {
            return Some(Unreachable::NotDocker);
        }
        cur = err.source();
    }
    None
}

/// Probes the engine: never fails, never takes longer than `budget`.
pub async fn probe(endpoint: Endpoint, budget: Duration) -> EngineReport {
    let local = endpoint.is_local();
    let status = match tokio::time::timeout(budget, probe_inner(&endpoint)).await {
        Ok(Ok(facts)) => EngineStatus::Reachable(Box::new(facts)),
        Ok(Err((reason, detail))) => EngineStatus::Unreachable { reason, detail },
        Err(_) => EngineStatus::Unreachable {
            reason: Unreachable::TimedOut,
            detail: format!("no answer from {} within {:?}", endpoint.display(), budget),
        },
    };
    EngineReport {
        endpoint,
        local,
        status,
    }
}

async fn probe_inner(endpoint: &Endpoint) -> Result<EngineFacts, (Unreachable, String)> {
    let Connection {
        docker,
        engine_api,
        speak,
    } = connect(endpoint).await?;
    let (info, ours) = tokio::join!(docker.info(), labels::list_ours(&docker));
    let info = info.map_err(|e| classify(endpoint, &e))?;
    let mut runtimes: Vec<String> = info.runtimes.unwrap_or_default().into_keys().collect();
    runtimes.sort();
    let mut our_published_ports = HashMap::new();
    for c in ours.unwrap_or_default() {
        let name = c
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default();
        for p in c.ports.unwrap_or_default() {
            if let Some(public) = p.public_port {
                our_published_ports.insert(public, name.clone());
            }
        }
    }
    Ok(EngineFacts {
        server_version: info.server_version.unwrap_or_default(),
        api_version: format!("{}.{}", engine_api.major_version, engine_api.minor_version),
        negotiated_api_version: format!("{}.{}", speak.major_version, speak.minor_version),
        os_type: info.os_type.unwrap_or_default(),
        operating_system: info.operating_system,
        architecture: info.architecture.unwrap_or_default(),
        docker_root_dir: info.docker_root_dir,
        storage_driver: info.driver,
        nvidia_runtime: runtimes.iter().any(|r| r == "nvidia"),
        runtimes,
        default_runtime: info.default_runtime,
        cdi_devices: info
            .discovered_devices
            .unwrap_or_default()
            .into_iter()
            .filter_map(|d| d.id)
            .collect(),
        cdi_spec_dirs: info.cdi_spec_dirs.unwrap_or_default(),
        rootless: info
            .security_options
            .unwrap_or_default()
            .iter()
            .any(|o| o.contains("name=rootless")),
        nvidia_toolkit_on_host: endpoint.is_local().then(nvidia_toolkit_on_path),
        ncpu: info.ncpu,
        mem_total_mib: info
            .mem_total
            .and_then(|m| u64::try_from(m).ok())
            .map(|m| m / (1024 * 1024)),
        our_published_ports,
    })
}

fn nvidia_toolkit_on_path() -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        [
            "nvidia-container-runtime-hook",
            "nvidia-ctk",
            "nvidia-container-cli",
        ]
        .iter()
        .any(|b| dir.join(b).is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_host_forms() {
        assert_eq!(
            resolve_endpoint(Some("unix:///run/user/1000/docker.sock"), None, false),
            Endpoint::Unix {
                path: "/run/user/1000/docker.sock".into()
            }
        );
        assert_eq!(
            resolve_endpoint(Some("tcp://10.0.0.5:2375"), None, false),
            Endpoint::Tcp {
                addr: "10.0.0.5:2375".into()
            }
        );
        assert!(matches!(
            resolve_endpoint(Some("ssh://admin@gpu01"), None, false),
            Endpoint::Unsupported { .. }
        ));
        assert!(matches!(
            resolve_endpoint(Some("tcp://10.0.0.5:2376"), None, true),
            Endpoint::Unsupported { .. }
        ));
        assert!(matches!(
            resolve_endpoint(Some("bogus"), None, false),
            Endpoint::Unsupported { .. }
        ));
        assert_eq!(
            resolve_endpoint(Some("  "), None, false).display(),
            resolve_endpoint(None, None, false).display()
        );
    }

    #[test]
    fn locality() {
        assert!(Endpoint::Unix { path: "/x".into() }.is_local());
        assert!(Endpoint::Tcp {
            addr: "127.0.0.1:2375".into()
        }
        .is_local());
        assert!(!Endpoint::Tcp {
            addr: "gpu01:2375".into()
        }
        .is_local());
    }

    #[test]
    fn api_versions_parse_and_order() {
        let v = parse_api_version("1.41").expect("parse");
        assert_eq!((v.major_version, v.minor_version), (1, 41));
        assert!(
            parse_api_version("1.9").expect("parse") < parse_api_version("1.41").expect("parse")
        );
        assert!(parse_api_version("junk").is_none());
        let ok = b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nDocker-Experimental: false\r\nContent-Length: 2\r\n\r\nOK";
        let v = parse_ping(ok).unwrap();
        assert_eq!((v.major_version, v.minor_version), (1, 41));
        let lower = b"HTTP/1.1 200 OK\r\napi-version: 1.52\r\n\r\nOK";
        assert_eq!(parse_ping(lower).unwrap().minor_version, 52);
        let web = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n\r\n<html>";
        assert!(parse_ping(web)
            .unwrap_err()
            .contains("without the Docker Api-Version header"));
        assert!(parse_ping(b"SSH-2.0-OpenSSH_9.2p1\r\n")
            .unwrap_err()
            .contains("not HTTP"));
        assert!(parse_ping(b"").is_err());
    }
}
