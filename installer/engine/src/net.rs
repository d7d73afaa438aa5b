//! The one HTTP client for services outside the Docker engine (the Hugging Face Hub or its mirror, GitLab,
//! registries): reqwest over rustls with the ring provider.
//!
//! Trust is the system's roots (`/etc/ssl/certs`, or `SSL_CERT_FILE`/`SSL_CERT_DIR`, as OpenSSL reads
//! them) plus a site CA file the admin names; proxies come from [`HttpOptions`], which the front ends fill
//! from `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/`NO_PROXY` once, so that tests pass their own without touching
//! the process environment. Redirects keep reqwest's rule that `Authorization` is dropped when the target's
//! host or port differs, so a token sent to the Hub never follows a redirect to a CDN.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aigw_core::problem::Explain;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// How to reach outside services from this process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpOptions {
    /// Proxy for `https://` URLs (`HTTPS_PROXY`, else `ALL_PROXY`).
    pub https_proxy: Option<String>,
    /// Proxy for `http://` URLs (`HTTP_PROXY`, else `ALL_PROXY`).
    pub http_proxy: Option<String>,
    /// Hosts, domains and CIDRs reached directly (`NO_PROXY`), as curl reads it.
    pub no_proxy: Option<String>,
    /// PEM certificates trusted besides the system's (a site CA, a TLS-inspecting proxy's CA).
    pub ca_file: Option<PathBuf>,
    /// Trust only `ca_file`, not the system's roots (a site whose only trust is its own CA; tests).
    pub only_ca_file: bool,
}

/// The environment variable naming a CA file to trust besides the system's roots.
pub const CA_FILE_ENV: &str = "AIGW_CA_FILE";

impl HttpOptions {
    /// Proxies and the CA file from the environment, read the way curl does (upper case first, then
    /// lower case; an empty value is unset).
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) over any lookup (a test's map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let var = |upper: &str| {
            [upper.to_string(), upper.to_ascii_lowercase()]
                .into_iter()
                .filter_map(|n| get(&n))
                .map(|v| v.trim().to_string())
                .find(|v| !v.is_empty())
        };
        let all = var("ALL_PROXY");
        Self {
            https_proxy: var("HTTPS_PROXY").or_else(|| all.clone()),
            http_proxy: var("HTTP_PROXY").or(all),
            no_proxy: var("NO_PROXY"),
            ca_file: var(CA_FILE_ENV).map(PathBuf::from),
            only_ca_file: false,
        }
    }

    /// Whether `url` goes through a proxy under these options (for messages and the report).
    pub fn proxy_for(&self, url: &url::Url) -> Option<String> {
        let proxy = match url.scheme() {
            "https" => self.https_proxy.as_ref(),
            "http" => self.http_proxy.as_ref(),
            _ => None,
        }?;
        let host = url.host_str()?;
        if bypassed(host, self.no_proxy.as_deref().unwrap_or("")) {
            return None;
        }
        Some(redact_userinfo(proxy))
    }
}

/// `NO_PROXY` as curl reads it: `*` for all, host names matching exactly or as a domain suffix (a leading
/// dot optional), IP addresses exactly. Kept here, not left to reqwest, so the report can say which way a
/// URL goes; reqwest is given the same list.
fn bypassed(host: &str, no_proxy: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    no_proxy
        .split(',')
        .map(|e| e.trim().trim_start_matches('.').to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .any(|e| {
            e == "*"
                || host == e
                || host.ends_with(&format!(".{e}"))
                || e.parse::<ipnet_lite::Cidr>()
                    .is_ok_and(|c| c.contains(&host))
        })
}

/// A tiny CIDR matcher for `NO_PROXY` entries such as `10.0.0.0/8`.
mod ipnet_lite {
    use std::net::IpAddr;

    pub struct Cidr {
        net: IpAddr,
        bits: u8,
    }

    impl std::str::FromStr for Cidr {
        type Err = ();
        fn from_str(s: &str) -> Result<Self, ()> {
            let (a, b) = s.split_once('/').ok_or(())?;
            let net: IpAddr = a.parse().map_err(|_| ())?;
            let bits: u8 = b.parse().map_err(|_| ())?;
            let max = if net.is_ipv4() { 32 } else { 128 };
            if bits > max {
                return Err(());
            }
            Ok(Self { net, bits })
        }
    }

    impl Cidr {
        pub fn contains(&self, host: &str) -> bool {
            let Ok(ip) = host.parse::<IpAddr>() else {
                return false;
            };
            match (self.net, ip) {
                (IpAddr::V4(n), IpAddr::V4(i)) => prefix(&n.octets(), &i.octets(), self.bits),
                (IpAddr::V6(n), IpAddr::V6(i)) => prefix(&n.octets(), &i.octets(), self.bits),
                _ => false,
            }
        }
    }

    fn prefix(a: &[u8], b: &[u8], bits: u8) -> bool {
        let full = usize::from(bits / 8);
        let rest = bits % 8;
        if a[..full] != b[..full] {
            return false;
        }
        if rest == 0 {
            return true;
        }
        let mask = 0xffu8 << (8 - rest);
        a[full] & mask == b[full] & mask
    }
}

/// `http://user:secret@proxy:3128` → `http://proxy:3128`: proxy credentials never reach a message.
pub fn redact_userinfo(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "<proxy>".into(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("cannot use the CA file {}: {reason}", path.display())]
    CaFile { path: PathBuf, reason: String },
    #[error("the proxy {proxy} is not a URL reqwest can use: {reason}")]
    Proxy { proxy: String, reason: String },
    #[error("cannot set up the HTTP client: {0}")]
    Build(String),
}

impl Explain for NetError {
    fn code(&self) -> &'static str {
        match self {
            Self::CaFile { .. } => "ca_file",
            Self::Proxy { .. } => "proxy",
            Self::Build(_) => "http_client",
        }
    }

    fn fix(&self) -> Option<String> {
        Some(match self {
            Self::CaFile { .. } => {
                "name a readable file of PEM certificates (-----BEGIN CERTIFICATE-----), e.g. the site's \
                 root CA exported from the browser or /usr/local/share/ca-certificates/"
                    .into()
            }
            Self::Proxy { .. } => {
                "set HTTPS_PROXY as scheme://host:port (http:// for a plain proxy, https:// for a TLS one)"
                    .into()
            }
            Self::Build(_) => return None,
        })
    }

    fn field(&self) -> Option<String> {
        match self {
            Self::CaFile { .. } => Some("ca_file".into()),
            Self::Proxy { .. } => Some("proxy".into()),
            Self::Build(_) => None,
        }
    }
}

/// The client for `opts`: rustls (ring), the roots described above, the proxies given and no others,
/// a connect time-out; no overall time-out (a 20 GB download is long), callers bound each request.
pub fn client(opts: &HttpOptions) -> Result<reqwest::Client, NetError> {
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config(opts)?)
        .no_proxy()
        .connect_timeout(Duration::from_secs(15))
        .user_agent(concat!("aigw-installer/", env!("CARGO_PKG_VERSION")));
    let no_proxy = opts
        .no_proxy
        .as_deref()
        .and_then(reqwest::NoProxy::from_string);
    let bad = |p: &str, e: reqwest::Error| NetError::Proxy {
        proxy: redact_userinfo(p),
        reason: e.to_string(),
    };
    if let Some(p) = &opts.https_proxy {
        let px = reqwest::Proxy::https(p.as_str()).map_err(|e| bad(p, e))?;
        builder = builder.proxy(px.no_proxy(no_proxy.clone()));
    }
    if let Some(p) = &opts.http_proxy {
        let px = reqwest::Proxy::http(p.as_str()).map_err(|e| bad(p, e))?;
        builder = builder.proxy(px.no_proxy(no_proxy.clone()));
    }
    builder.build().map_err(|e| NetError::Build(e.to_string()))
}

/// The rustls configuration the client uses: ring, TLS 1.2 and 1.3, the roots of [`roots`].
pub fn tls_config(opts: &HttpOptions) -> Result<rustls::ClientConfig, NetError> {
    let mut config = rustls::ClientConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| NetError::Build(e.to_string()))?
        .with_root_certificates(roots(opts)?)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// rustls's ring provider. rustls 0.23.48 deprecates it in favour of aws-lc-rs (post-quantum key
/// exchange); aws-lc needs cmake and a C toolchain to build, which this project avoids on purpose. The
/// classical groups it offers are what GitLab, the Hub and registries accept today.
#[allow(deprecated)]
pub fn ring_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The system's roots (unless `only_ca_file`) plus every certificate of `ca_file`.
pub fn roots(opts: &HttpOptions) -> Result<rustls::RootCertStore, NetError> {
    let mut store = rustls::RootCertStore::empty();
    if !opts.only_ca_file {
        // Unreadable entries of the system store are skipped, as OpenSSL does; an empty store is not an
        // error here (an air-gapped site may trust only its own CA), it shows as an untrusted certificate.
        let found = rustls_native_certs::load_native_certs();
        let _ = store.add_parsable_certificates(found.certs);
    }
    if let Some(path) = &opts.ca_file {
        for cert in read_ca_file(path)? {
            store.add(cert).map_err(|e| NetError::CaFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        }
    }
    Ok(store)
}

/// The certificates of a PEM file; none is an error (a key file or a DER file named by mistake).
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, NetError> {
    let bad = |reason: String| NetError::CaFile {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(bad("it holds no PEM certificate".into()));
    }
    Ok(certs)
}

/// What went wrong reaching a URL, in the words a site admin acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The name does not resolve.
    Dns,
    /// Nothing listens on that port (connection refused).
    Refused,
    /// No route, or the connection timed out.
    Unreachable,
    Timeout,
    /// The certificate chain does not lead to a trusted root (self-signed, a site CA not given).
    TlsUntrusted,
    TlsExpired,
    /// The certificate is valid but not for this name.
    TlsName,
    Tls,
    /// The proxy refused or failed the tunnel.
    Proxy,
    /// The connection closed before the answer was complete.
    Closed,
    Other,
}

/// A failed request, classified; `detail` is the deepest cause's message (never a URL's credentials).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    pub kind: FailureKind,
    pub detail: String,
}

impl Failure {
    /// What to do about it, for `host`.
    pub fn fix(&self, host: &str) -> String {
        match self.kind {
            FailureKind::Dns => format!(
                "check the name {host} (a typo, or DNS on this machine does not know it: /etc/resolv.conf, \
                 /etc/hosts)"
            ),
            FailureKind::Refused => format!("check the port: nothing on {host} accepts connections on it"),
            FailureKind::Unreachable | FailureKind::Timeout => format!(
                "check the route and firewalls between here and {host}; behind a proxy, set HTTPS_PROXY"
            ),
            FailureKind::TlsUntrusted => format!(
                "give the CA that signed {host}'s certificate as a PEM file (the CA file option, or \
                 {CA_FILE_ENV}); a TLS-inspecting proxy's CA is given the same way"
            ),
            FailureKind::TlsExpired => format!("renew {host}'s certificate, or check this machine's clock"),
            FailureKind::TlsName => {
                format!("use the name {host}'s certificate was issued for, or reissue it with this name")
            }
            FailureKind::Tls => format!("check the TLS set-up of {host} (protocol versions, certificate)"),
            FailureKind::Proxy => {
                "check HTTPS_PROXY (address, credentials) or add the host to NO_PROXY".into()
            }
            FailureKind::Closed => "run again: what is complete is kept".into(),
            FailureKind::Other => format!("check that {host} answers from this machine"),
        }
    }
}

/// Classifies a reqwest error by walking its sources (hyper, io, rustls), deepest first.
pub fn classify(err: &reqwest::Error) -> Failure {
    let mut chain: Vec<&(dyn std::error::Error + 'static)> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        chain.push(e);
        cur = e.source();
    }
    let detail = chain
        .last()
        .map(|e| e.to_string())
        .unwrap_or_else(|| err.to_string());
    let text = chain
        .iter()
        .map(|e| e.to_string().to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(" | ");
    let kind = chain
        .iter()
        .find_map(|e| tls_kind(*e))
        .or_else(|| chain.iter().find_map(|e| io_kind(*e)))
        .unwrap_or_else(|| {
            if err.is_timeout() {
                FailureKind::Timeout
            } else if text.contains("dns error")
                || text.contains("failed to lookup address")
                || text.contains("name or service not known")
            {
                FailureKind::Dns
            } else if text.contains("proxy") || text.contains("tunnel") {
                FailureKind::Proxy
            } else if err.is_body() || err.is_decode() || text.contains("connection closed") {
                FailureKind::Closed
            } else {
                FailureKind::Other
            }
        });
    Failure { kind, detail }
}

fn tls_kind(e: &(dyn std::error::Error + 'static)) -> Option<FailureKind> {
    use rustls::CertificateError as C;
    let tls = inner::<rustls::Error>(e)?;
    Some(match tls {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer | C::BadSignature | C::UnknownRevocationStatus => {
                FailureKind::TlsUntrusted
            }
            C::Expired
            | C::ExpiredContext { .. }
            | C::NotValidYet
            | C::NotValidYetContext { .. } => FailureKind::TlsExpired,
            C::NotValidForName | C::NotValidForNameContext { .. } => FailureKind::TlsName,
            _ => FailureKind::Tls,
        },
        _ => FailureKind::Tls,
    })
}

/// `e` as a `T`, looking through `io::Error`s that wrap others (hyper-util wraps rustls's error in two):
/// `io::Error::source` skips the wrapped error itself, so the chain walk alone never meets it.
fn inner<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cur = e;
    for _ in 0..8 {
        if let Some(t) = cur.downcast_ref::<T>() {
            return Some(t);
        }
        cur = cur.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
    None
}

fn io_kind(e: &(dyn std::error::Error + 'static)) -> Option<FailureKind> {
    use std::io::ErrorKind as K;
    let io = inner::<std::io::Error>(e)?;
    Some(match io.kind() {
        K::ConnectionRefused => FailureKind::Refused,
        K::TimedOut => FailureKind::Timeout,
        K::HostUnreachable | K::NetworkUnreachable | K::AddrNotAvailable => {
            FailureKind::Unreachable
        }
        K::ConnectionReset | K::ConnectionAborted | K::UnexpectedEof | K::BrokenPipe => {
            FailureKind::Closed
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn opts(vars: &[(&str, &str)]) -> HttpOptions {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        HttpOptions::from_lookup(|n| map.get(n).cloned())
    }

    #[test]
    fn the_environment_is_read_as_curl_reads_it() {
        let o = opts(&[
            ("https_proxy", "http://lower:3128"),
            ("HTTPS_PROXY", "http://upper:3128"),
            ("ALL_PROXY", "http://all:3128"),
            ("no_proxy", "internal.example,.corp,10.0.0.0/8"),
            ("AIGW_CA_FILE", "/etc/site-ca.pem"),
        ]);
        assert_eq!(o.https_proxy.as_deref(), Some("http://upper:3128"));
        assert_eq!(o.http_proxy.as_deref(), Some("http://all:3128"));
        assert_eq!(o.ca_file.as_deref(), Some(Path::new("/etc/site-ca.pem")));
        let via = |u: &str| o.proxy_for(&url::Url::parse(u).unwrap());
        assert_eq!(
            via("https://huggingface.co/x"),
            Some("http://upper:3128/".into())
        );
        assert_eq!(via("https://gitlab.internal.example/"), None);
        assert_eq!(via("https://a.b.corp/"), None);
        assert_eq!(via("https://10.2.3.4/"), None);
        assert_eq!(via("https://11.2.3.4/"), Some("http://upper:3128/".into()));
        assert_eq!(opts(&[("HTTPS_PROXY", "  ")]).https_proxy, None);
    }

    #[test]
    fn proxy_credentials_never_reach_a_message() {
        assert_eq!(
            redact_userinfo("http://alice:s3cret@proxy.corp:3128"),
            "http://proxy.corp:3128/"
        );
        let err = client(&HttpOptions {
            https_proxy: Some("::not a url::".into()),
            ..Default::default()
        });
        assert!(matches!(err, Err(NetError::Proxy { .. })), "{err:?}");
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused_with_what_to_give() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("key.pem");
        std::fs::write(
            &f,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let err = read_ca_file(&f).unwrap_err();
        assert_eq!(err.code(), "ca_file");
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
        assert!(err.fix().unwrap().contains("PEM"));
        let missing = read_ca_file(&dir.path().join("nope.pem")).unwrap_err();
        assert_eq!(missing.code(), "ca_file");
    }

    #[tokio::test]
    async fn a_refused_connection_is_classified_with_its_fix() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = client(&HttpOptions::default()).unwrap();
        let err = c
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap_err();
        let f = classify(&err);
        assert_eq!(f.kind, FailureKind::Refused, "{f:?}");
        assert!(f.fix("127.0.0.1").contains("port"));
    }
}
