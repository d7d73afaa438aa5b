//! The GitLab-side configuration for Duo Self-Hosted, generated for one GitLab version and install type:
//! where the gateway URL goes (env var up to 17.8, Admin UI from 17.9), the feature-flag steps of the
//! versions that need them, the model registration and the verification. Pure: text in, text out.
//! Facts: docs/gitlab-config.md and docs/sources.md; what the sources leave inferred stays marked in the output.

mod check;
mod env;
mod guide;
mod quote;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::catalog::gitlab::{GitlabVersion, NEWEST_KNOWN};
use crate::gitlab::inputs::{GitlabUrl, InputError};

use check::model_endpoint_checked_local;
pub use check::{
    agent_platform_checked, gateway_url_checked, gitlab_version_checked, model_endpoint_checked,
};

/// Shown where the model server's API key goes; the generator never sees a real key.
pub const API_KEY_PLACEHOLDER: &str = "<your vLLM --api-key, or any text if vLLM runs without one>";

/// How GitLab itself is installed: decides where environment variables and commands go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstallType {
    /// The default: GitLab's most common installation.
    #[default]
    #[serde(alias = "linux-package")]
    Omnibus,
    Helm,
    Docker,
    Source,
}

impl InstallType {
    pub const ALL: [InstallType; 4] = [Self::Omnibus, Self::Helm, Self::Docker, Self::Source];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Omnibus => "omnibus",
            Self::Helm => "helm",
            Self::Docker => "docker",
            Self::Source => "source",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Omnibus => "Linux package (Omnibus)",
            Self::Helm => "GitLab Helm chart",
            Self::Docker => "GitLab in Docker",
            Self::Source => "self-compiled (source)",
        }
    }
}

impl fmt::Display for InstallType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InstallType {
    type Err = InputError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "omnibus" | "linux-package" => Ok(Self::Omnibus),
            "helm" => Ok(Self::Helm),
            "docker" => Ok(Self::Docker),
            "source" => Ok(Self::Source),
            other => Err(InputError {
                field: "install_type".into(),
                problem: format!(
                    "\"{other}\" is not an install type; valid: omnibus (or linux-package), helm, docker, source"
                ),
                example: "omnibus",
            }),
        }
    }
}

/// One part for `snippets --for PART`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    Omnibus,
    Helm,
    Docker,
    Source,
    AdminUi,
    FeatureFlags,
    Model,
    Verify,
}

impl Part {
    pub const NAMES: [&'static str; 8] = [
        "omnibus",
        "helm",
        "docker",
        "source",
        "admin-ui",
        "feature-flags",
        "model",
        "verify",
    ];
}

impl FromStr for Part {
    type Err = InputError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "omnibus" | "linux-package" => Self::Omnibus,
            "helm" => Self::Helm,
            "docker" => Self::Docker,
            "source" => Self::Source,
            "admin-ui" => Self::AdminUi,
            "feature-flags" => Self::FeatureFlags,
            "model" => Self::Model,
            "verify" => Self::Verify,
            other => {
                return Err(InputError {
                    field: "for".into(),
                    problem: format!(
                        "\"{other}\" is not a part; valid: {}",
                        Self::NAMES.join(", ")
                    ),
                    example: "omnibus",
                })
            }
        })
    }
}

/// What the admin types into "Add self-hosted model". There is deliberately no API key field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelRegistration {
    /// Deployment name (unique in GitLab).
    pub name: String,
    /// GitLab's model family: mistral, mixtral, codestral, general, …
    pub family: String,
    /// `http(s)://host:port/v1`.
    pub endpoint: String,
    /// `custom_openai/<served model name>`.
    pub identifier: String,
    /// Duo features: `code_completion`, `code_generation`, `duo_chat`, or GitLab's own labels.
    pub features: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitlabSide {
    pub gitlab: GitlabUrl,
    pub version: GitlabVersion,
    pub install: InstallType,
    /// `http(s)://host[:port]` as GitLab and IDEs reach the gateway.
    pub gateway_url: String,
    /// Where the gateway answers when it is deployed the other way: for GitLab on Kubernetes (Helm), the
    /// gateway URL is the Ingress (`http://<host>`, port 80) and this the LoadBalancer Service's
    /// `http://<host>:5052`. None elsewhere.
    pub gateway_load_balancer: Option<String>,
    /// `host:50052`, the Agent Platform service (18.4+).
    pub agent_platform: Option<String>,
    pub model: ModelRegistration,
    /// Where the model server answers on the host that runs it (its published port), for checks typed
    /// there; None: the registered endpoint (reachable from the gateway host by that address).
    pub model_check: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnippetKind {
    Ruby,
    Yaml,
    Shell,
    /// `KEY=value` lines as `docker run --env-file` and Compose `env_file:` read them (no quoting).
    EnvFile,
    /// A systemd unit drop-in (INI syntax).
    Systemd,
    Markdown,
}

impl SnippetKind {
    /// The language name for a Markdown code fence.
    pub fn fence(self) -> &'static str {
        match self {
            Self::Ruby => "ruby",
            Self::Yaml => "yaml",
            Self::Shell => "shell",
            Self::EnvFile => "dotenv",
            Self::Systemd => "ini",
            Self::Markdown => "markdown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snippet {
    /// Where it goes in the export, e.g. `gitlab/gitlab.rb`.
    pub path: String,
    pub title: String,
    pub kind: SnippetKind,
    pub body: String,
}

/// Everything for this version and install type, in the order an admin applies it.
pub fn snippets(side: &GitlabSide) -> Result<Vec<Snippet>, InputError> {
    let c = Ctx::new(side)?;
    // Flags first: in 18.4-18.8 the Agent Platform's Admin UI field depends on its flag, and in 17.x the
    // self-hosted model pages on theirs.
    let mut out: Vec<Snippet> = guide::feature_flags(&c).into_iter().collect();
    if c.ui_primary() {
        out.push(guide::admin_ui(&c));
    }
    out.push(env::install_file(&c, c.install));
    if c.install == InstallType::Source {
        out.push(env::systemd_dropin(&c));
    }
    out.push(guide::model(&c));
    out.push(guide::verify(&c));
    Ok(out)
}

/// One part; `None` where this version has no such step (the Admin UI before 17.9, flags where none
/// are needed). The install-type parts render for the named install type, whatever `side.install` says.
pub fn snippet_for(side: &GitlabSide, part: Part) -> Result<Option<Snippet>, InputError> {
    let c = Ctx::new(side)?;
    Ok(match part {
        Part::Omnibus => Some(env::install_file(&c, InstallType::Omnibus)),
        Part::Helm => Some(env::install_file(&c, InstallType::Helm)),
        Part::Docker => Some(env::install_file(&c, InstallType::Docker)),
        Part::Source => Some(env::install_file(&c, InstallType::Source)),
        Part::AdminUi => c.ui_primary().then(|| guide::admin_ui(&c)),
        Part::FeatureFlags => guide::feature_flags(&c),
        Part::Model => Some(guide::model(&c)),
        Part::Verify => Some(guide::verify(&c)),
    })
}

/// The side, validated and normalised once; renderers only read it.
pub(crate) struct Ctx {
    pub v: GitlabVersion,
    pub install: InstallType,
    pub gitlab: String,
    pub gateway: String,
    /// The LoadBalancer alternative to the Ingress (GitLab on Kubernetes only).
    pub gateway_lb: Option<String>,
    pub gateway_host: String,
    pub agent: Option<String>,
    pub name: String,
    pub family: String,
    pub endpoint: String,
    pub model_check: Option<String>,
    pub identifier: String,
    pub features: Vec<String>,
}

impl Ctx {
    fn new(s: &GitlabSide) -> Result<Self, InputError> {
        check::check_version(s.version)?;
        let gateway = gateway_url_checked(&s.gateway_url)?;
        let gateway_host = url::Url::parse(&gateway)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        Ok(Self {
            v: s.version,
            install: s.install,
            gitlab: s.gitlab.as_str().to_string(),
            gateway,
            gateway_lb: s
                .gateway_load_balancer
                .as_deref()
                .map(gateway_url_checked)
                .transpose()?,
            gateway_host,
            agent: s
                .agent_platform
                .as_deref()
                .map(agent_platform_checked)
                .transpose()?,
            name: check::name_checked(&s.model.name)?,
            family: check::family_checked(s.version, &s.model.family)?,
            endpoint: model_endpoint_checked(&s.model.endpoint)?,
            model_check: s
                .model_check
                .as_deref()
                .map(model_endpoint_checked_local)
                .transpose()?,
            identifier: check::identifier_checked(&s.model.identifier)?,
            features: s
                .model
                .features
                .iter()
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty())
                .collect(),
        })
    }

    /// The sentence naming the LoadBalancer alternative, or nothing.
    pub fn lb_note(&self) -> String {
        self.gateway_lb
            .as_deref()
            .map(|lb| {
                format!(
                    " (the Ingress of `kubernetes/aigw.yaml`, port 80; with `kubernetes/gateway-loadbalancer.yaml` \
                     instead, `{lb}`)"
                )
            })
            .unwrap_or_default()
    }

    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        self.v >= GitlabVersion::new(major, minor)
    }

    /// 17.9+: the Admin UI's Local AI Gateway URL is primary, `AI_GATEWAY_URL` legacy.
    pub fn ui_primary(&self) -> bool {
        self.at_least(17, 9)
    }

    /// The Agent Platform URL, where this version has the setting (18.4+).
    pub fn agent(&self) -> Option<&str> {
        self.agent.as_deref().filter(|_| self.at_least(18, 4))
    }

    /// 18.10+: a migration copied `DUO_AGENT_PLATFORM_SERVICE_SECURE` into the database once; afterwards
    /// self-hosted models read the Admin UI checkbox (doc/install/install_ai_gateway.md, 18.10).
    pub fn tls_in_ui(&self) -> bool {
        self.at_least(18, 10)
    }

    /// Inferred: the containers this installer creates serve neither port with TLS, so a plain-http
    /// gateway means a plain gRPC Agent Platform port; with https a proxy is assumed to cover both.
    pub fn agent_insecure(&self) -> bool {
        self.agent().is_some() && self.gateway.starts_with("http://")
    }

    /// Notes every part repeats: a part may be printed on its own.
    pub fn notes(&self) -> Vec<String> {
        let mut n = Vec::new();
        if self.v > NEWEST_KNOWN {
            n.push(format!(
                "GitLab {} is newer than {NEWEST_KNOWN}, the newest release this installer knows: these are the {NEWEST_KNOWN} steps; check the release notes.",
                self.v
            ));
        }
        if check::is_private_ip(&self.gateway_host) {
            n.push(format!(
                "{} is a private address: if GitLab refuses or cannot use the gateway URL, add {} to the allowlist in Admin area > Settings > Network > Outbound requests.",
                self.gateway_host, self.gateway_host
            ));
        }
        n
    }
}
