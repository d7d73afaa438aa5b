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
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::labels;
use super::ssh::{self, SshTarget};
pub use aigw_core::report::endpoint::Origin;
use aigw_core::report::endpoint::{self, Selected};
pub use aigw_core::report::engine::*;

/// The oldest engine API we support: Docker 20.10.
pub const MIN_API: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 41,
};

const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Per-request time-out: a local engine answers in milliseconds, a hung one must not hang us.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The environment the docker CLI reads, passed explicitly so tests never change the process's own.
#[derive(Debug, Clone, Default)]
pub struct DockerEnv {
    pub docker_host: Option<String>,
    pub docker_context: Option<String>,
    pub tls_verify: bool,
    pub cert_path: Option<PathBuf>,
    /// DOCKER_CONFIG, else `~/.docker`: config.json and the contexts live there.
    pub config_dir: Option<PathBuf>,
    pub xdg_runtime_dir: Option<String>,
}

impl DockerEnv {
    pub fn from_process() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Self {
            docker_host: var("DOCKER_HOST"),
            docker_context: var("DOCKER_CONTEXT"),
            tls_verify: var("DOCKER_TLS_VERIFY").is_some_and(|v| v != "0"),
            cert_path: var("DOCKER_CERT_PATH").map(PathBuf::from),
            config_dir: var("DOCKER_CONFIG")
                .map(PathBuf::from)
                .or_else(|| var("HOME").map(|h| Path::new(&h).join(".docker"))),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR"),
        }
    }
}

/// The engine a front end was told to use (the docker CLI's `--host`, `--context`, `--tls*`).
pub use aigw_core::report::endpoint::EngineChoice;

static CHOSEN: std::sync::OnceLock<EngineChoice> = std::sync::OnceLock::new();

/// The front end's choice for this whole process (the CLI's global flags), set once before any use case
/// runs; later calls are ignored. Without it the environment decides, as for the docker CLI.
pub fn choose(choice: EngineChoice) {
    let _ = CHOSEN.set(choice);
}

/// The choice [`choose`] set, or none.
pub fn chosen() -> EngineChoice {
    CHOSEN.get().cloned().unwrap_or_default()
}

/// Where the engine is and where that was decided, in the docker CLI's precedence: `--host` >
/// `--context` > `DOCKER_HOST` > `DOCKER_CONTEXT` > the config's current context > this machine's socket
/// (the rootless one under `$XDG_RUNTIME_DIR` when the standard one is absent).
pub fn resolve(choice: &EngineChoice, env: &DockerEnv) -> (Endpoint, Origin) {
    let config_dir = env.config_dir.clone().unwrap_or_default();
    let current = std::fs::read_to_string(config_dir.join("config.json"))
        .ok()
        .and_then(|c| endpoint::current_context(&c));
    let picked = endpoint::select(&endpoint::Choice {
        host_flag: choice.host.as_deref(),
        context_flag: choice.context.as_deref(),
        docker_host: env.docker_host.as_deref(),
        docker_context: env.docker_context.as_deref(),
        current_context: current.as_deref(),
    });
    let explicit_tls = explicit_tls(choice, env, &config_dir);
    match picked {
        Err(why) => (
            Endpoint::Unsupported {
                url: format!(
                    "{} and context {}",
                    choice.host.as_deref().unwrap_or_default(),
                    choice.context.as_deref().unwrap_or_default()
                ),
                reason: why,
            },
            Origin::HostFlag,
        ),
        Ok(Selected::Host { url, origin }) => (endpoint::parse_host(&url, explicit_tls), origin),
        Ok(Selected::Context { name, origin }) => {
            (context_endpoint(&config_dir, &name, explicit_tls), origin)
        }
        Ok(Selected::Default) => (
            default_socket(env.xdg_runtime_dir.as_deref()),
            Origin::Default,
        ),
    }
}

/// TLS files given on the command line, or DOCKER_TLS_VERIFY with DOCKER_CERT_PATH (default: the config
/// directory), as the docker CLI takes them.
fn explicit_tls(choice: &EngineChoice, env: &DockerEnv, config_dir: &Path) -> Option<TlsFiles> {
    let named = choice.tls_ca.is_some() || choice.tls_cert.is_some() || choice.tls_key.is_some();
    if !(named || choice.tls_verify || env.tls_verify) {
        return None;
    }
    let base = TlsFiles::in_dir(env.cert_path.as_deref().unwrap_or(config_dir));
    Some(TlsFiles {
        ca: choice.tls_ca.clone().unwrap_or(base.ca),
        cert: choice.tls_cert.clone().unwrap_or(base.cert),
        key: choice.tls_key.clone().unwrap_or(base.key),
    })
}

/// A context's endpoint from its `meta.json`, with its TLS material when the context has some.
fn context_endpoint(config_dir: &Path, name: &str, explicit_tls: Option<TlsFiles>) -> Endpoint {
    let meta = endpoint::context_meta_path(config_dir, name);
    let text = match std::fs::read_to_string(&meta) {
        Ok(t) => t,
        Err(e) => {
            let detail = if e.kind() == std::io::ErrorKind::NotFound {
                format!("{} does not exist", meta.display())
            } else {
                format!("cannot read {}: {e}", meta.display())
            };
            return Endpoint::NoContext {
                context: name.to_string(),
                detail,
            };
        }
    };
    match endpoint::parse_context_meta(&text) {
        Err(detail) => Endpoint::NoContext {
            context: name.to_string(),
            detail: format!("{}: {detail}", meta.display()),
        },
        Ok(ctx) => {
            let tls_dir = endpoint::context_tls_dir(config_dir, name);
            let tls = explicit_tls.or_else(|| {
                let files = TlsFiles::in_dir(&tls_dir);
                (files.ca.exists() || files.cert.exists()).then_some(files)
            });
            endpoint::parse_host(&ctx.host, tls)
        }
    }
}

/// This machine's socket: the standard one, else the rootless one under `$XDG_RUNTIME_DIR` when only it exists.
pub fn default_socket(xdg_runtime_dir: Option<&str>) -> Endpoint {
    let rootless = xdg_runtime_dir.map(|d| Path::new(d).join("docker.sock"));
    match rootless {
        Some(r) if !Path::new(DEFAULT_SOCKET).exists() && r.exists() => Endpoint::Unix { path: r },
        _ => Endpoint::Unix {
            path: PathBuf::from(DEFAULT_SOCKET),
        },
    }
}

/// The engines this machine knows: its own socket (or DOCKER_HOST) and each Docker context, by name.
pub fn known_engines(env: &DockerEnv) -> Vec<(String, Endpoint)> {
    let default_env = DockerEnv {
        docker_context: None,
        config_dir: None,
        ..env.clone()
    };
    let (this, _) = resolve(&EngineChoice::default(), &default_env);
    let mut out = vec![("default".to_string(), this)];
    let Some(config_dir) = &env.config_dir else {
        return out;
    };
    let Ok(dirs) = std::fs::read_dir(config_dir.join("contexts/meta")) else {
        return out;
    };
    let mut found: Vec<(String, Endpoint)> = dirs
        .flatten()
        .filter_map(|d| std::fs::read_to_string(d.path().join("meta.json")).ok())
        .filter_map(|t| endpoint::parse_context_meta(&t).ok())
        .filter(|c| !c.name.is_empty() && c.name != "default")
        .map(|c| {
            let e = context_endpoint(config_dir, &c.name, None);
            (c.name, e)
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    out.extend(found);
    out
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
    match endpoint {
        Endpoint::Unsupported { reason, .. } => {
            return Err((Unreachable::UnsupportedEndpoint, reason.clone()))
        }
        Endpoint::NoContext { detail, .. } => {
            return Err((Unreachable::ContextNotFound, detail.clone()))
        }
        Endpoint::Tcp {
            tls: Some(files), ..
        } => return connect_tls(endpoint, files).await,
        _ => {}
    }
    precheck(endpoint)?;
    if let Endpoint::Ssh { user, host, port } = endpoint {
        let t = SshTarget {
            user: user.clone(),
            host: host.clone(),
            port: *port,
        };
        let (engine_max, master) = ssh::connect(&t, SSH_PING_BUDGET).await?;
        let speak = speakable(engine_max)?;
        let docker = ssh::client(&t, master, REQUEST_TIMEOUT.as_secs(), &speak)
            .map_err(|e| classify(endpoint, &e))?;
        return Ok(Connection {
            docker,
            engine_api: engine_max,
            speak,
        });
    }
    let engine_max = ping_api_version(endpoint).await?;
    let speak = speakable(engine_max)?;
    Ok(Connection {
        docker: client(endpoint, &speak)?,
        engine_api: engine_max,
        speak,
    })
}

/// ssh's own connection and authentication come first; a slow server gets this long.
const SSH_PING_BUDGET: Duration = Duration::from_secs(20);

/// min(engine's newest, bollard's newest), or why the engine is too old.
fn speakable(engine_max: ClientVersion) -> Result<ClientVersion, (Unreachable, String)> {
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
    Ok(if engine_max < newest {
        engine_max
    } else {
        newest
    })
}

/// tcp:// with TLS: bollard's rustls client. Our raw `/_ping` cannot speak TLS, so the engine's version
/// comes from `/version`: asked at bollard's newest API, and asked again at the engine's maximum when the
/// engine says that one is too new.
async fn connect_tls(
    endpoint: &Endpoint,
    files: &TlsFiles,
) -> Result<Connection, (Unreachable, String)> {
    if !files.ca.is_file() {
        return Err((
            Unreachable::TlsFiles,
            format!("the CA certificate {} does not exist", files.ca.display()),
        ));
    }
    let mut speak = *bollard::API_DEFAULT_VERSION;
    for _ in 0..2 {
        let docker = client(endpoint, &speak)?;
        match tokio::time::timeout(REQUEST_TIMEOUT, docker.version()).await {
            Err(_) => {
                return Err((
                    Unreachable::TimedOut,
                    format!(
                        "no answer from {} within {REQUEST_TIMEOUT:?}",
                        endpoint.display()
                    ),
                ))
            }
            Ok(Ok(v)) => {
                let engine_max = v
                    .api_version
                    .as_deref()
                    .and_then(parse_api_version)
                    .unwrap_or(speak);
                let speak = speakable(engine_max)?;
                return Ok(Connection {
                    docker: client(endpoint, &speak)?,
                    engine_api: engine_max,
                    speak,
                });
            }
            Ok(Err(e)) => {
                let (reason, detail) = classify(endpoint, &e);
                let max = detail
                    .split("Maximum supported API version is ")
                    .nth(1)
                    .and_then(|m| parse_api_version(m.split_whitespace().next().unwrap_or("")));
                match (reason, max) {
                    (Unreachable::ApiTooOld, Some(max)) if max < speak => speak = speakable(max)?,
                    _ => return Err((reason, tls_detail(files, reason, detail))),
                }
            }
        }
    }
    Err((
        Unreachable::Other,
        format!("{}: no API version agreed", endpoint.display()),
    ))
}

/// A rejected handshake says little about a certificate that was never sent: name the missing files.
fn tls_detail(files: &TlsFiles, reason: Unreachable, detail: String) -> String {
    let missing: Vec<String> = [&files.cert, &files.key]
        .into_iter()
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if reason == Unreachable::TlsClientCert && !missing.is_empty() {
        format!(
            "no client certificate was sent ({} missing): {detail}",
            missing.join(", ")
        )
    } else {
        detail
    }
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
            Endpoint::Tcp { addr, .. } => {
                exchange(tokio::net::TcpStream::connect(addr).await?).await
            }
            _ => Err(std::io::Error::other("not a socket endpoint")),
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
        Endpoint::Tcp { addr, tls: None } => {
            Docker::connect_with_http(&format!("http://{addr}"), secs, v)
        }
        Endpoint::Tcp { addr, tls: Some(f) } => {
            Docker::connect_with_ssl(&format!("https://{addr}"), &f.key, &f.cert, &f.ca, secs, v)
        }
        // Made by `connect` with its login (the master connection), never here.
        Endpoint::Ssh { .. } => {
            return Err((
                Unreachable::Other,
                "an ssh engine's client comes with its login".into(),
            ))
        }
        Endpoint::NoContext { detail, .. } => {
            return Err((Unreachable::ContextNotFound, detail.clone()))
        }
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
    if let Some(tls) = tls_reason(&detail) {
        return (tls, detail);
    }
    let reason = match e {
        E::SocketNotFoundError(_) => Unreachable::SocketMissing,
        E::CertPathError { .. } | E::CertParseError { .. } => Unreachable::TlsFiles,
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

/// rustls's words for a refused handshake, whichever side refused it.
pub fn tls_reason(detail: &str) -> Option<Unreachable> {
    let has = |words: &[&str]| words.iter().any(|w| detail.contains(w));
    Some(
        if has(&["Expired", "expired", "NotValidYet", "not valid yet"]) {
            Unreachable::TlsExpired
        } else if has(&[
            "UnknownIssuer",
            "unknown issuer",
            "BadSignature",
            "NotValidForName",
            "not valid for name",
        ]) {
            Unreachable::TlsUntrusted
        } else if has(&[
            "CertificateRequired",
            "BadCertificate",
            "UnknownCA",
            "DecryptError",
            "certificate required",
        ]) {
            Unreachable::TlsClientCert
        } else {
            return None;
        },
    )
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
    probe_from(endpoint, None, budget).await
}

/// [`probe`], saying where the endpoint was chosen.
pub async fn probe_from(
    endpoint: Endpoint,
    origin: Option<Origin>,
    budget: Duration,
) -> EngineReport {
    let inner = async {
        let conn = connect(&endpoint).await?;
        facts(&endpoint, &conn).await
    };
    let status = status_within(&endpoint, budget, inner).await;
    report(endpoint, origin, status)
}

/// [`probe_from`] over a connection already made (or the reason there is none): a detection through
/// ssh:// logs in once for everything it asks.
pub async fn probe_on(
    endpoint: Endpoint,
    origin: Option<Origin>,
    conn: Result<&Connection, (Unreachable, String)>,
    budget: Duration,
) -> EngineReport {
    let inner = async { facts(&endpoint, conn?).await };
    let status = status_within(&endpoint, budget, inner).await;
    report(endpoint, origin, status)
}

async fn status_within(
    endpoint: &Endpoint,
    budget: Duration,
    facts: impl Future<Output = Result<EngineFacts, (Unreachable, String)>>,
) -> EngineStatus {
    match tokio::time::timeout(budget, facts).await {
        Ok(Ok(facts)) => EngineStatus::Reachable(Box::new(facts)),
        Ok(Err((reason, detail))) => EngineStatus::Unreachable { reason, detail },
        Err(_) => EngineStatus::Unreachable {
            reason: Unreachable::TimedOut,
            detail: format!("no answer from {} within {:?}", endpoint.display(), budget),
        },
    }
}

fn report(endpoint: Endpoint, origin: Option<Origin>, status: EngineStatus) -> EngineReport {
    EngineReport {
        local: endpoint.is_local(),
        endpoint,
        origin,
        status,
    }
}

async fn facts(
    endpoint: &Endpoint,
    conn: &Connection,
) -> Result<EngineFacts, (Unreachable, String)> {
    let Connection {
        docker,
        engine_api,
        speak,
    } = conn;
    let (info, ours) = tokio::join!(docker.info(), labels::list_ours(docker));
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

    fn write_context(config: &Path, name: &str, host: &str) {
        let meta = endpoint::context_meta_path(config, name);
        std::fs::create_dir_all(meta.parent().unwrap()).unwrap();
        let json = serde_json::json!({"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}}});
        std::fs::write(meta, json.to_string()).unwrap();
    }

    #[test]
    fn resolution_reads_contexts_as_the_docker_cli() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join(".docker");
        write_context(&config, "gpu", "ssh://admin@gpu01:2222");
        write_context(&config, "tls", "tcp://gpu02:2376");
        let tls_dir = endpoint::context_tls_dir(&config, "tls");
        std::fs::create_dir_all(&tls_dir).unwrap();
        std::fs::write(tls_dir.join("ca.pem"), "x").unwrap();
        std::fs::write(config.join("config.json"), r#"{"currentContext":"gpu"}"#).unwrap();
        let env = DockerEnv {
            config_dir: Some(config.clone()),
            ..Default::default()
        };
        let none = EngineChoice::default();
        let ssh = Endpoint::Ssh {
            user: Some("admin".into()),
            host: "gpu01".into(),
            port: Some(2222),
        };
        assert_eq!(
            resolve(&none, &env),
            (
                ssh.clone(),
                Origin::CurrentContext {
                    context: "gpu".into()
                }
            )
        );
        let with_host = DockerEnv {
            docker_host: Some("tcp://10.0.0.5:2375".into()),
            ..env.clone()
        };
        assert_eq!(resolve(&none, &with_host).1, Origin::DockerHost);
        let flag = EngineChoice {
            context: Some("tls".into()),
            ..Default::default()
        };
        let (e, o) = resolve(&flag, &with_host);
        assert_eq!(
            o,
            Origin::ContextFlag {
                context: "tls".into()
            }
        );
        assert_eq!(
            e,
            Endpoint::Tcp {
                addr: "gpu02:2376".into(),
                tls: Some(TlsFiles::in_dir(&tls_dir))
            }
        );
        let missing = EngineChoice {
            context: Some("nope".into()),
            ..Default::default()
        };
        let (e, _) = resolve(&missing, &env);
        assert!(
            matches!(&e, Endpoint::NoContext { context, detail } if context == "nope" && detail.contains("does not exist")),
            "{e:?}"
        );
        let both = EngineChoice {
            host: Some("tcp://a:1".into()),
            context: Some("gpu".into()),
            ..Default::default()
        };
        assert!(matches!(
            resolve(&both, &env).0,
            Endpoint::Unsupported { .. }
        ));
        let tls_env = DockerEnv {
            tls_verify: true,
            cert_path: Some("/certs".into()),
            ..Default::default()
        };
        let host = EngineChoice {
            host: Some("tcp://gpu03".into()),
            tls_key: Some("/k/key.pem".into()),
            ..Default::default()
        };
        assert_eq!(
            resolve(&host, &tls_env).0,
            Endpoint::Tcp {
                addr: "gpu03:2376".into(),
                tls: Some(TlsFiles {
                    ca: "/certs/ca.pem".into(),
                    cert: "/certs/cert.pem".into(),
                    key: "/k/key.pem".into()
                })
            }
        );
        let names: Vec<String> = known_engines(&env).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["default", "gpu", "tls"]);
        assert_eq!(
            resolve(&none, &DockerEnv::default()),
            (default_socket(None), Origin::Default)
        );
    }

    #[test]
    fn tls_failures_read_as_reasons() {
        let cases = [
            ("error trying to connect: invalid peer certificate: UnknownIssuer", Some(Unreachable::TlsUntrusted)),
            ("invalid peer certificate: certificate expired: verification time 1, but certificate is not valid after 0", Some(Unreachable::TlsExpired)),
            ("invalid peer certificate: Expired", Some(Unreachable::TlsExpired)),
            ("received fatal alert: CertificateRequired", Some(Unreachable::TlsClientCert)),
            ("received fatal alert: UnknownCA", Some(Unreachable::TlsClientCert)),
            ("connection refused", None),
        ];
        for (detail, want) in cases {
            assert_eq!(tls_reason(detail), want, "{detail}");
        }
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
