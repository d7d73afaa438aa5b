//! The live checks of the GitLab side (issue 13), from this machine: DNS, TCP, TLS and the answer of
//! `/oauth/discovery/keys` (what the gateway fetches), GitLab's version, whether a gateway image tag exists
//! in its registry, and the gateway's health at the address GitLab uses. Requests go through
//! [`crate::net`]; what an answer means is the core's (`aigw_core::gitlab::live`).

use std::net::IpAddr;
use std::time::Duration;

use aigw_core::gitlab::live::{
    self, judge_keys, judge_manifest, judge_version, parse_bearer_challenge, Check, GatewayMachine,
    Outcome, Step, StepResult, TagAnswer, VersionAnswer,
};
use aigw_core::secret::Secret;

use crate::net::{classify, client, FailureKind, HttpOptions, NetError};

/// Every request and connection of a check is bounded by this.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("{0:?} is not an http:// or https:// URL with a host")]
    Url(String),
    #[error(transparent)]
    Net(#[from] NetError),
}

impl aigw_core::problem::Explain for LiveError {
    fn code(&self) -> &'static str {
        match self {
            Self::Url(_) => "invalid_input",
            Self::Net(e) => e.code(),
        }
    }
    fn fix(&self) -> Option<String> {
        match self {
            Self::Url(_) => Some("for example: https://gitlab.example.com".into()),
            Self::Net(e) => e.fix(),
        }
    }
    fn field(&self) -> Option<String> {
        match self {
            Self::Url(_) => Some("gitlab.url".into()),
            Self::Net(e) => e.field(),
        }
    }
}

/// The GitLab URL, lenient: the check runs on what the admin typed (its other rules are the spec's).
pub fn parse_url(input: &str) -> Result<url::Url, LiveError> {
    let u = url::Url::parse(input.trim()).map_err(|_| LiveError::Url(input.into()))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none_or(str::is_empty) {
        return Err(LiveError::Url(input.into()));
    }
    Ok(u)
}

/// `base` + `path` (GitLab may live under a relative path).
fn join(base: &url::Url, path: &str) -> String {
    format!("{}/{path}", base.as_str().trim_end_matches('/'))
}

fn step(step: Step, outcome: Outcome) -> StepResult {
    StepResult { step, outcome }
}

/// DNS, TCP, TLS and `/oauth/discovery/keys` from this machine. Through a proxy, the proxy resolves and
/// connects: those steps say so and the request tells the rest.
pub async fn check_from_here(base: &url::Url, opts: &HttpOptions) -> Result<Check, LiveError> {
    let http = client(opts)?;
    let host = base.host_str().unwrap_or_default().to_string();
    let port = base.port_or_known_default().unwrap_or(443);
    let mut steps = Vec::new();
    match opts.proxy_for(base) {
        Some(proxy) => {
            let why = format!("through the proxy {proxy}, which resolves and connects");
            steps.push(step(Step::Dns, Outcome::not_run(why.clone())));
            steps.push(step(Step::Tcp, Outcome::not_run(why)));
        }
        None => {
            let (dns, addrs) = resolve(&host, port).await;
            let ok = !dns.is_finding();
            steps.push(step(Step::Dns, dns));
            if !ok {
                return Ok(rest_not_run(base, steps, "the name does not resolve"));
            }
            let tcp = connect(&host, port, &addrs).await;
            let ok = !tcp.is_finding();
            steps.push(step(Step::Tcp, tcp));
            if !ok {
                return Ok(rest_not_run(base, steps, "no connection"));
            }
        }
    }
    let https = base.scheme() == "https";
    let url = join(base, "oauth/discovery/keys");
    let answer = tokio::time::timeout(STEP_TIMEOUT, async {
        let r = http.get(&url).send().await?;
        let status = r.status().as_u16();
        Ok::<_, reqwest::Error>((status, r.bytes().await?))
    })
    .await;
    match answer {
        Err(_) => {
            steps.push(step(
                Step::Keys,
                Outcome::finding(
                    "gitlab_timeout",
                    format!("no answer within {} s", STEP_TIMEOUT.as_secs()),
                    format!(
                        "check that {host} answers from this machine (routes, firewalls, proxy)"
                    ),
                ),
            ));
        }
        Ok(Err(e)) => {
            let f = classify(&e);
            let tls = matches!(
                f.kind,
                FailureKind::TlsUntrusted
                    | FailureKind::TlsExpired
                    | FailureKind::TlsName
                    | FailureKind::Tls
            );
            let fix = match f.kind {
                FailureKind::TlsUntrusted => live::ca_mount_fix(&host),
                _ => f.fix(&host),
            };
            let finding = Outcome::finding(&code(f.kind), f.detail.clone(), fix);
            if tls {
                steps.push(step(Step::Tls, finding));
                steps.push(step(
                    Step::Keys,
                    Outcome::not_run("no trusted TLS connection"),
                ));
            } else {
                steps.push(step(Step::Keys, finding));
            }
        }
        Ok(Ok((status, body))) => {
            if https {
                steps.push(step(Step::Tls, Outcome::pass("certificate trusted")));
            } else {
                steps.push(step(
                    Step::Tls,
                    Outcome::not_run(
                        "plain http: nothing encrypted between the gateway and GitLab",
                    ),
                ));
            }
            steps.push(step(Step::Keys, judge_keys(status, &body)));
        }
    }
    let check = Check {
        url: base.to_string(),
        from: "this machine".into(),
        steps,
    };
    tracing::info!(?check, "GitLab checked");
    Ok(check)
}

fn code(kind: FailureKind) -> String {
    let name = serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "other".into());
    format!("gitlab_{name}")
}

fn rest_not_run(base: &url::Url, mut steps: Vec<StepResult>, why: &str) -> Check {
    for s in [Step::Tcp, Step::Tls, Step::Keys] {
        if !steps.iter().any(|r| r.step == s) {
            steps.push(step(s, Outcome::not_run(why)));
        }
    }
    Check {
        url: base.to_string(),
        from: "this machine".into(),
        steps,
    }
}

async fn resolve(host: &str, port: u16) -> (Outcome, Vec<std::net::SocketAddr>) {
    let looked = tokio::time::timeout(STEP_TIMEOUT, tokio::net::lookup_host((host, port))).await;
    match looked {
        Ok(Ok(addrs)) => {
            let addrs: Vec<_> = addrs.collect();
            let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
            (
                Outcome::pass(format!("{host} → {}", shown.join(", "))),
                addrs,
            )
        }
        Ok(Err(e)) => (
            Outcome::finding(
                "gitlab_dns",
                format!("{host} does not resolve: {e}"),
                crate::net::Failure {
                    kind: FailureKind::Dns,
                    detail: String::new(),
                }
                .fix(host),
            ),
            Vec::new(),
        ),
        Err(_) => (
            Outcome::finding(
                "gitlab_dns",
                format!(
                    "resolving {host} took longer than {} s",
                    STEP_TIMEOUT.as_secs()
                ),
                "check this machine's DNS servers (/etc/resolv.conf)",
            ),
            Vec::new(),
        ),
    }
}

async fn connect(host: &str, port: u16, addrs: &[std::net::SocketAddr]) -> Outcome {
    let mut last = String::from("no address");
    let mut kind = FailureKind::Unreachable;
    for a in addrs {
        match tokio::time::timeout(STEP_TIMEOUT, tokio::net::TcpStream::connect(a)).await {
            Ok(Ok(_)) => return Outcome::pass(format!("{a} accepts connections")),
            Ok(Err(e)) => {
                if e.kind() == std::io::ErrorKind::ConnectionRefused {
                    kind = FailureKind::Refused;
                }
                last = format!("{a}: {e}");
            }
            Err(_) => last = format!("{a}: no answer within {} s", STEP_TIMEOUT.as_secs()),
        }
    }
    let fix = crate::net::Failure {
        kind,
        detail: String::new(),
    }
    .fix(host);
    Outcome::finding(&code(kind), format!("port {port}: {last}"), fix)
}

/// GitLab's version from `/api/v4/version`, with a token (`PRIVATE-TOKEN`, read_api) if given. The token is
/// sent once, to this URL only, and appears in no result, error or log line.
pub async fn detect_version(
    base: &url::Url,
    token: Option<&Secret>,
    opts: &HttpOptions,
) -> Result<VersionAnswer, LiveError> {
    let http = client(opts)?;
    tracing::info!(url = %base, token_given = token.is_some(), "asking GitLab for its version");
    let mut req = http.get(join(base, "api/v4/version"));
    if let Some(t) = token {
        req = req.header("PRIVATE-TOKEN", t.expose());
    }
    let host = base.host_str().unwrap_or_default();
    let answer = tokio::time::timeout(STEP_TIMEOUT, async {
        let r = req.send().await?;
        let status = r.status().as_u16();
        Ok::<_, reqwest::Error>((status, r.bytes().await?))
    })
    .await;
    let answer = match answer {
        Ok(Ok((status, body))) => judge_version(base.as_str(), status, &body, token.is_some()),
        Ok(Err(e)) => {
            let f = classify(&e);
            VersionAnswer::Unknown {
                reason: f.detail.clone(),
                fix: f.fix(host),
            }
        }
        Err(_) => VersionAnswer::Unknown {
            reason: format!("no answer within {} s", STEP_TIMEOUT.as_secs()),
            fix: format!("check that {host} answers from this machine"),
        },
    };
    tracing::info!(?answer, "GitLab's version");
    Ok(answer)
}

/// Whether `registry/name:tag` exists: `HEAD /v2/<name>/manifests/<tag>`, with the registry's anonymous
/// Bearer token flow (401 + `WWW-Authenticate: Bearer realm=…` → token → HEAD again) when it asks for it.
/// `registry` is a base URL such as `https://registry.gitlab.com`.
pub async fn tag_in_registry(
    registry: &url::Url,
    name: &str,
    tag: &str,
    opts: &HttpOptions,
) -> Result<TagAnswer, LiveError> {
    let http = client(opts)?;
    let image = format!("{}/{name}:{tag}", registry.host_str().unwrap_or_default());
    let source = format!("the registry {}", registry.as_str().trim_end_matches('/'));
    let could_not = |reason: String| TagAnswer::CouldNotCheck {
        image: image.clone(),
        reason,
    };
    let manifest = join(registry, &format!("v2/{name}/manifests/{tag}"));
    const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
        application/vnd.docker.distribution.manifest.list.v2+json, \
        application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json";
    let head = |token: Option<String>| {
        let mut r = http.head(&manifest).header("Accept", ACCEPT);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r
    };
    let host = registry.host_str().unwrap_or_default().to_string();
    let first = match send(head(None), &host).await {
        Ok(r) => r,
        Err(why) => return Ok(could_not(why)),
    };
    if first.status().as_u16() != 401 {
        return Ok(judge_manifest(&image, &source, first.status().as_u16()));
    }
    let challenge = first
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_bearer_challenge);
    let Some(c) = challenge else {
        return Ok(could_not(
            "the registry wants credentials and offers no anonymous token".into(),
        ));
    };
    let mut token_url = match url::Url::parse(&c.realm) {
        Ok(u) => u,
        Err(_) => {
            return Ok(could_not(format!(
                "the token realm {:?} is not a URL",
                c.realm
            )))
        }
    };
    {
        let mut q = token_url.query_pairs_mut();
        if let Some(s) = &c.service {
            q.append_pair("service", s);
        }
        q.append_pair(
            "scope",
            c.scope
                .as_deref()
                .unwrap_or(&format!("repository:{name}:pull")),
        );
    }
    let token = match send(http.get(token_url), &host).await {
        Ok(r) if r.status().is_success() => r
            .bytes()
            .await
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| {
                v.get("token")
                    .or_else(|| v.get("access_token"))
                    .and_then(|t| t.as_str())
                    .map(str::to_string)
            }),
        Ok(r) => {
            return Ok(could_not(format!(
                "the registry's token service answered HTTP {}",
                r.status().as_u16()
            )))
        }
        Err(why) => return Ok(could_not(why)),
    };
    let Some(token) = token else {
        return Ok(could_not(
            "the registry's token service gave no token".into(),
        ));
    };
    match send(head(Some(token)), &host).await {
        Ok(r) => Ok(judge_manifest(&image, &source, r.status().as_u16())),
        Err(why) => Ok(could_not(why)),
    }
}

/// A bounded request; a failure in words (never a token: requests carry it in a header only).
async fn send(r: reqwest::RequestBuilder, host: &str) -> Result<reqwest::Response, String> {
    match tokio::time::timeout(STEP_TIMEOUT, r.send()).await {
        Ok(Ok(resp)) => Ok(resp),
        Ok(Err(e)) => {
            let f = classify(&e);
            Err(format!("{} ({})", f.detail, f.fix(host)))
        }
        Err(_) => Err(format!("no answer within {} s", STEP_TIMEOUT.as_secs())),
    }
}

/// The gateway's health at `http://<host>:<port>/monitoring/healthz`, the host resolved here as GitLab
/// would resolve it (a finding when it leads to another machine), then asked directly (no proxy).
pub async fn gateway_health(host: &str, port: u16) -> Vec<StepResult> {
    gateway_health_on(host, port, &this_machine()).await
}

/// This machine's interfaces' addresses.
pub fn this_machine() -> GatewayMachine {
    GatewayMachine::ThisMachine(
        if_addrs::get_if_addrs()
            .map(|v| v.into_iter().map(|i| i.ip()).collect())
            .unwrap_or_default(),
    )
}

/// A remote engine's server, by the host of its endpoint (`tcp://gpu01:2376`, `ssh://admin@gpu01`)
/// resolved from here; unknown when the endpoint names no host or the name does not resolve.
pub async fn server_machine(endpoint_host: Option<&str>) -> GatewayMachine {
    let Some(name) = endpoint_host else {
        return GatewayMachine::Unknown {
            reason: "the engine's endpoint names no host".into(),
        };
    };
    let addresses = lookup(name, 0).await;
    if addresses.is_empty() {
        return GatewayMachine::Unknown {
            reason: format!("the engine's host {name} does not resolve here"),
        };
    }
    GatewayMachine::Server {
        name: name.to_string(),
        addresses,
    }
}

async fn lookup(host: &str, port: u16) -> Vec<IpAddr> {
    match tokio::time::timeout(STEP_TIMEOUT, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(a)) => a.map(|a| a.ip()).collect(),
        _ => Vec::new(),
    }
}

/// [`gateway_health`] with the gateway's machine given: a remote engine's server is judged by its own
/// addresses, never this workstation's.
pub async fn gateway_health_on(host: &str, port: u16, on: &GatewayMachine) -> Vec<StepResult> {
    let resolved = lookup(host, port).await;
    let dns = live::judge_gateway_address_on(host, &resolved, on);
    let mut steps = vec![step(Step::Dns, dns)];
    if resolved.is_empty() {
        steps.push(step(
            Step::Health,
            Outcome::not_run(format!("{host} does not resolve")),
        ));
        return steps;
    }
    let url = format!("http://{}/monitoring/healthz", authority(host, port));
    let answer = match client(&HttpOptions::default()) {
        Ok(c) => tokio::time::timeout(STEP_TIMEOUT, c.get(&url).send()).await,
        Err(e) => {
            steps.push(step(Step::Health, Outcome::not_run(e.to_string())));
            return steps;
        }
    };
    steps.push(step(
        Step::Health,
        match answer {
            Ok(Ok(r)) if r.status().is_success() => Outcome::pass(format!("{url} answered 200")),
            Ok(Ok(r)) => Outcome::finding(
                "gateway_health_status",
                format!("{url} answered HTTP {}", r.status().as_u16()),
                "read the gateway's log (aigw-installer logs gateway)",
            ),
            Ok(Err(e)) => {
                let f = classify(&e);
                Outcome::finding(&code(f.kind), format!("{url}: {}", f.detail), f.fix(host))
            }
            Err(_) => Outcome::finding(
                "gateway_health_timeout",
                format!("{url}: no answer within {} s", STEP_TIMEOUT.as_secs()),
                "check the firewall for the gateway's port",
            ),
        },
    ));
    steps
}

fn authority(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
