//! Which Docker engine to talk to, decided the way the docker CLI decides it: `--host` > `--context` >
//! `DOCKER_HOST` > `DOCKER_CONTEXT` > the config's `currentContext` > the default socket. The engine crate
//! reads the environment and the files (`~/.docker/config.json`, the contexts' `meta.json`); these
//! functions only parse and choose.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

use super::engine::{Endpoint, TlsFiles};

/// Where the chosen endpoint came from, as `detect` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum Origin {
    HostFlag,
    ContextFlag {
        context: String,
    },
    DockerHost,
    DockerContext {
        context: String,
    },
    CurrentContext {
        context: String,
    },
    /// No choice made anywhere: this machine's socket.
    Default,
}

impl Origin {
    pub fn describe(&self) -> String {
        match self {
            Origin::HostFlag => "--host".into(),
            Origin::ContextFlag { context } => format!("--context {context}"),
            Origin::DockerHost => "DOCKER_HOST".into(),
            Origin::DockerContext { context } => format!("DOCKER_CONTEXT={context}"),
            Origin::CurrentContext { context } => {
                format!("the current docker context {context} (~/.docker/config.json)")
            }
            Origin::Default => "the default socket".into(),
        }
    }

    /// The context whose `meta.json` names the endpoint, if any.
    pub fn context(&self) -> Option<&str> {
        match self {
            Origin::ContextFlag { context }
            | Origin::DockerContext { context }
            | Origin::CurrentContext { context } => Some(context),
            _ => None,
        }
    }
}

/// The engine a front end was told to use, as the docker CLI's global flags say it (`--host`,
/// `--context`, `--tlsverify`, `--tlscacert`, `--tlscert`, `--tlskey`). Empty: the environment decides.
/// Serialisable, so a front end can remember the admin's choice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineChoice {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls_verify: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
}

impl EngineChoice {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// What the front end and the environment say, before any file is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choice<'a> {
    pub host_flag: Option<&'a str>,
    pub context_flag: Option<&'a str>,
    pub docker_host: Option<&'a str>,
    pub docker_context: Option<&'a str>,
    /// `currentContext` of the docker CLI's config.json.
    pub current_context: Option<&'a str>,
}

/// The decision: a host URL, a context to look up, or the default socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selected {
    Host { url: String, origin: Origin },
    Context { name: String, origin: Origin },
    Default,
}

/// The docker CLI's precedence. `--host` with `--context` is refused as the CLI refuses it; the context
/// named `default` is the default engine (DOCKER_HOST or the socket).
pub fn select(c: &Choice<'_>) -> Result<Selected, String> {
    let given = |v: Option<&str>| v.map(str::trim).filter(|v| !v.is_empty()).map(String::from);
    let (host_flag, context_flag) = (given(c.host_flag), given(c.context_flag));
    if host_flag.is_some() && context_flag.is_some() {
        return Err("give either a host or a context, not both".into());
    }
    if let Some(url) = host_flag {
        return Ok(Selected::Host {
            url,
            origin: Origin::HostFlag,
        });
    }
    let docker_host = given(c.docker_host);
    let context = context_flag
        .map(|n| (n.clone(), Origin::ContextFlag { context: n }))
        // DOCKER_HOST wins over DOCKER_CONTEXT and the config, as in the CLI.
        .or_else(|| {
            docker_host
                .is_none()
                .then(|| given(c.docker_context))
                .flatten()
                .map(|n| (n.clone(), Origin::DockerContext { context: n }))
        })
        .or_else(|| {
            docker_host
                .is_none()
                .then(|| given(c.current_context))
                .flatten()
                .map(|n| (n.clone(), Origin::CurrentContext { context: n }))
        });
    Ok(match (context, docker_host) {
        (Some((name, origin)), _) if name != "default" => Selected::Context { name, origin },
        (_, Some(url)) => Selected::Host {
            url,
            origin: Origin::DockerHost,
        },
        _ => Selected::Default,
    })
}

/// Parses a docker host URL. `tls`: the certificate files when TLS is asked for (DOCKER_TLS_VERIFY, a
/// context's material, or explicit files); only `tcp://` uses them.
pub fn parse_host(h: &str, tls: Option<TlsFiles>) -> Endpoint {
    let h = h.trim();
    let unsupported = |reason: &str| Endpoint::Unsupported {
        url: h.to_string(),
        reason: reason.to_string(),
    };
    if let Some(p) = h.strip_prefix("unix://").filter(|p| !p.is_empty()) {
        return Endpoint::Unix {
            path: PathBuf::from(p),
        };
    }
    if let Some(rest) = h.strip_prefix("ssh://") {
        return parse_ssh(rest).unwrap_or_else(|| {
            unsupported("an ssh:// engine looks like ssh://user@host or ssh://user@host:22")
        });
    }
    let (rest, tls) = match (h.strip_prefix("tcp://"), h.strip_prefix("http://")) {
        (Some(r), _) => (Some(r), tls),
        (_, Some(r)) => (Some(r), None),
        _ => (h.strip_prefix("https://"), tls),
    };
    match rest.map(|r| r.trim_end_matches('/')) {
        Some(addr) if !addr.is_empty() && !addr.contains('/') => {
            // The docker CLI's defaults: 2376 with TLS, 2375 without.
            let addr = if addr.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
                addr.to_string()
            } else if tls.is_some() {
                format!("{addr}:2376")
            } else {
                format!("{addr}:2375")
            };
            Endpoint::Tcp { addr, tls }
        }
        _ => unsupported(
            "a Docker host looks like unix:///var/run/docker.sock, tcp://host:2376 or ssh://user@host",
        ),
    }
}

fn parse_ssh(rest: &str) -> Option<Endpoint> {
    let rest = rest.trim_end_matches('/');
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) if !u.is_empty() => (Some(u.to_string()), h),
        Some(_) => return None,
        None => (None, rest),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !hostport.ends_with(']') => (h, Some(p.parse::<u16>().ok()?)),
        _ => (hostport, None),
    };
    let host = host.trim_matches(['[', ']']);
    let ok = !host.is_empty()
        && !host.starts_with('-')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_:".contains(c));
    ok.then(|| Endpoint::Ssh {
        user,
        host: host.to_string(),
        port,
    })
}

/// `currentContext` of the docker CLI's `config.json` (absent, empty or unreadable: none).
pub fn current_context(config_json: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(config_json).ok()?;
    v.get("currentContext")?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// The directory name of a context under `contexts/meta/` and `contexts/tls/`: the SHA-256 of its name.
pub fn context_dir_name(name: &str) -> String {
    Sha256::digest(name.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The files of a context, under the docker CLI's configuration directory (`~/.docker` or DOCKER_CONFIG).
pub fn context_meta_path(docker_config_dir: &Path, name: &str) -> PathBuf {
    docker_config_dir
        .join("contexts/meta")
        .join(context_dir_name(name))
        .join("meta.json")
}

pub fn context_tls_dir(docker_config_dir: &Path, name: &str) -> PathBuf {
    docker_config_dir
        .join("contexts/tls")
        .join(context_dir_name(name))
        .join("docker")
}

/// A context's docker endpoint, as its `meta.json` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextEndpoint {
    pub name: String,
    pub host: String,
    pub skip_tls_verify: bool,
}

/// Reads `meta.json`: `{"Name": …, "Endpoints": {"docker": {"Host": …, "SkipTLSVerify": …}}}`.
pub fn parse_context_meta(meta_json: &str) -> Result<ContextEndpoint, String> {
    let v: serde_json::Value =
        serde_json::from_str(meta_json).map_err(|e| format!("meta.json is not JSON: {e}"))?;
    let name = v.get("Name").and_then(|n| n.as_str()).unwrap_or_default();
    let docker = v
        .pointer("/Endpoints/docker")
        .ok_or("meta.json has no Endpoints.docker")?;
    let host = docker
        .get("Host")
        .and_then(|h| h.as_str())
        .filter(|h| !h.trim().is_empty())
        .ok_or("meta.json has no Endpoints.docker.Host")?;
    Ok(ContextEndpoint {
        name: name.to_string(),
        host: host.to_string(),
        skip_tls_verify: docker
            .get("SkipTLSVerify")
            .and_then(|b| b.as_bool())
            .unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(c: Choice<'_>) -> Result<Selected, String> {
        select(&c)
    }

    #[test]
    fn precedence_is_the_docker_clis() {
        let host = |url: &str, origin| Selected::Host {
            url: url.into(),
            origin,
        };
        let ctx = |name: &str, origin| Selected::Context {
            name: name.into(),
            origin,
        };
        let cases: Vec<(Choice<'_>, Result<Selected, String>)> = vec![
            (Choice::default(), Ok(Selected::Default)),
            (
                Choice {
                    host_flag: Some("tcp://a:1"),
                    docker_host: Some("tcp://b:2"),
                    docker_context: Some("c"),
                    current_context: Some("d"),
                    ..Default::default()
                },
                Ok(host("tcp://a:1", Origin::HostFlag)),
            ),
            (
                Choice {
                    context_flag: Some("gpu"),
                    docker_host: Some("tcp://b:2"),
                    docker_context: Some("c"),
                    ..Default::default()
                },
                Ok(ctx(
                    "gpu",
                    Origin::ContextFlag {
                        context: "gpu".into(),
                    },
                )),
            ),
            (
                Choice {
                    docker_host: Some("tcp://b:2"),
                    docker_context: Some("c"),
                    current_context: Some("d"),
                    ..Default::default()
                },
                Ok(host("tcp://b:2", Origin::DockerHost)),
            ),
            (
                Choice {
                    docker_context: Some("c"),
                    current_context: Some("d"),
                    ..Default::default()
                },
                Ok(ctx(
                    "c",
                    Origin::DockerContext {
                        context: "c".into(),
                    },
                )),
            ),
            (
                Choice {
                    current_context: Some("d"),
                    ..Default::default()
                },
                Ok(ctx(
                    "d",
                    Origin::CurrentContext {
                        context: "d".into(),
                    },
                )),
            ),
            (
                Choice {
                    current_context: Some("default"),
                    ..Default::default()
                },
                Ok(Selected::Default),
            ),
            (
                Choice {
                    context_flag: Some("default"),
                    docker_host: Some("tcp://b:2"),
                    ..Default::default()
                },
                Ok(host("tcp://b:2", Origin::DockerHost)),
            ),
            (
                Choice {
                    docker_host: Some("  "),
                    current_context: Some("d"),
                    ..Default::default()
                },
                Ok(ctx(
                    "d",
                    Origin::CurrentContext {
                        context: "d".into(),
                    },
                )),
            ),
            (
                Choice {
                    host_flag: Some("tcp://a:1"),
                    context_flag: Some("gpu"),
                    ..Default::default()
                },
                Err("give either a host or a context, not both".into()),
            ),
        ];
        for (choice, want) in cases {
            assert_eq!(sel(choice.clone()), want, "{choice:?}");
        }
    }

    #[test]
    fn host_urls_parse() {
        let tls = TlsFiles::in_dir(Path::new("/certs"));
        let cases: Vec<(&str, Option<TlsFiles>, Endpoint)> = vec![
            (
                "unix:///run/user/1000/docker.sock",
                None,
                Endpoint::Unix {
                    path: "/run/user/1000/docker.sock".into(),
                },
            ),
            (
                "tcp://10.0.0.5:2375",
                None,
                Endpoint::Tcp {
                    addr: "10.0.0.5:2375".into(),
                    tls: None,
                },
            ),
            (
                "tcp://gpu01",
                None,
                Endpoint::Tcp {
                    addr: "gpu01:2375".into(),
                    tls: None,
                },
            ),
            (
                "tcp://gpu01",
                Some(tls.clone()),
                Endpoint::Tcp {
                    addr: "gpu01:2376".into(),
                    tls: Some(tls.clone()),
                },
            ),
            (
                "https://gpu01:2376/",
                Some(tls.clone()),
                Endpoint::Tcp {
                    addr: "gpu01:2376".into(),
                    tls: Some(tls.clone()),
                },
            ),
            (
                "ssh://admin@gpu01",
                None,
                Endpoint::Ssh {
                    user: Some("admin".into()),
                    host: "gpu01".into(),
                    port: None,
                },
            ),
            (
                "ssh://admin@10.1.2.3:2222",
                None,
                Endpoint::Ssh {
                    user: Some("admin".into()),
                    host: "10.1.2.3".into(),
                    port: Some(2222),
                },
            ),
            (
                "ssh://gpu01.example.com",
                None,
                Endpoint::Ssh {
                    user: None,
                    host: "gpu01.example.com".into(),
                    port: None,
                },
            ),
        ];
        for (url, tls, want) in cases {
            assert_eq!(parse_host(url, tls), want, "{url}");
        }
        for bad in [
            "bogus",
            "unix://",
            "tcp://",
            "ssh://",
            "ssh://@gpu01",
            "ssh://admin@gpu01:notaport",
            "ssh://-oProxyCommand=x",
            "https://gpu01/path",
        ] {
            assert!(
                matches!(parse_host(bad, None), Endpoint::Unsupported { .. }),
                "{bad}"
            );
        }
    }

    #[test]
    fn display_and_locality() {
        let ssh = parse_host("ssh://admin@127.0.0.1:2222", None);
        assert_eq!(ssh.display(), "ssh://admin@127.0.0.1:2222");
        assert!(!ssh.is_local(), "ssh is another host by intent");
        assert!(parse_host("tcp://127.0.0.1:2375", None).is_local());
        assert!(parse_host("tcp://[::1]:2375", None).is_local());
        assert!(parse_host("tcp://localhost:2375", None).is_local());
        assert!(!parse_host("tcp://10.0.0.5:2375", None).is_local());
        assert!(parse_host("tcp://10.0.0.5:2375", None).is_plain_remote_tcp());
        assert!(!parse_host("tcp://127.0.0.1:2375", None).is_plain_remote_tcp());
        let tls = TlsFiles::in_dir(Path::new("/c"));
        assert!(!parse_host("tcp://10.0.0.5:2376", Some(tls)).is_plain_remote_tcp());
    }

    #[test]
    fn contexts_read_as_the_cli_writes_them() {
        assert_eq!(
            current_context(r#"{"auths":{},"currentContext":"gpu01"}"#).as_deref(),
            Some("gpu01")
        );
        assert_eq!(current_context(r#"{"auths":{}}"#), None);
        assert_eq!(current_context("not json"), None);
        // sha256("default"), as the docker CLI names the directories.
        assert_eq!(
            context_dir_name("default"),
            "37a8eec1ce19687d132fe29051dca629d164e2c4958ba141d5f4133a33f0688f"
        );
        assert_eq!(
            context_meta_path(Path::new("/h/.docker"), "default"),
            Path::new("/h/.docker/contexts/meta/37a8eec1ce19687d132fe29051dca629d164e2c4958ba141d5f4133a33f0688f/meta.json")
        );
        let meta = r#"{"Name":"gpu01","Metadata":{},"Endpoints":{"docker":{"Host":"ssh://admin@gpu01","SkipTLSVerify":false}}}"#;
        assert_eq!(
            parse_context_meta(meta),
            Ok(ContextEndpoint {
                name: "gpu01".into(),
                host: "ssh://admin@gpu01".into(),
                skip_tls_verify: false
            })
        );
        assert!(parse_context_meta(r#"{"Name":"x","Endpoints":{}}"#)
            .unwrap_err()
            .contains("Endpoints.docker"));
        assert!(parse_context_meta("{").is_err());
    }
}
