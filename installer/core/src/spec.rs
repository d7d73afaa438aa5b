//! The deployment spec: everything `apply` needs, as one serde type saved as TOML. Defaults serve; secrets
//! are never stored here (the Hugging Face token comes from the environment or a 0600 file at apply time).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::catalog::gitlab::{GitlabVersion, VersionError, FIRST_SELF_HOSTED};
use crate::gitlab::images::{self, TagError, GATEWAY_IMAGE, VLLM_IMAGE, VLLM_TAG};
use crate::gitlab::inputs::{self, InputError};

pub const SPEC_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentSpec {
    #[serde(default = "spec_version")]
    pub spec_version: u32,
    pub gitlab: GitlabSpec,
    pub gateway: GatewaySpec,
    pub model: ModelServerSpec,
    /// The bridge network both containers join; the gateway reaches the model server by its name there.
    #[serde(default = "default_network")]
    pub network: String,
    /// Gateway logs on the host (GitLab's documented default).
    #[serde(default = "default_log_dir")]
    pub log_dir: PathBuf,
    #[serde(default)]
    pub restart: RestartPolicy,
    /// `linux/amd64` where the gateway runs under emulation (Apple silicon, arm64 with binfmt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitlabSpec {
    pub url: String,
    /// X.Y or X.Y.Z; chooses the gateway tag and the GitLab-side steps.
    pub version: String,
    /// How GitLab is installed (omnibus, helm, docker, source): where its settings go.
    #[serde(default)]
    pub install_type: crate::gitlab::config::InstallType,
    /// GitLab runs with an offline licence: the gateway is pointed at GitLab instead of CustomersDot.
    #[serde(default, skip_serializing_if = "is_false")]
    pub offline_license: bool,
    /// Go on (with a warning) when the model is outside GitLab's support window for this version.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_unsupported: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySpec {
    /// The name or address GitLab and IDEs use to reach the gateway (never localhost).
    pub host: String,
    #[serde(default = "default_gateway_port")]
    pub port: u16,
    #[serde(default = "default_gateway_image")]
    pub image: String,
    /// Defaults to the `self-hosted-vX.Y.Z-ee` tag matching the GitLab version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default = "default_gateway_container")]
    pub container: String,
    /// Seconds to wait for `/monitoring/healthz`.
    #[serde(default = "default_gateway_timeout")]
    pub health_timeout_s: u64,
    /// Serve the GitLab Duo Agent Platform (gRPC on [`AGENT_PLATFORM_PORT`], GitLab 18.4+) as well.
    #[serde(default, skip_serializing_if = "is_false")]
    pub agent_platform: bool,
    /// Extra environment (e.g. `AIGW_LOGGING__LEVEL`); cannot override the variables the installer derives.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

/// The `[model]` table: the model server's container (vLLM or a stand-in). The catalog's entry for a model
/// is `catalog::ModelSpec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelServerSpec {
    #[serde(default = "default_model_image")]
    pub image: String,
    #[serde(default = "default_model_tag")]
    pub tag: String,
    #[serde(default = "default_model_container")]
    pub container: String,
    /// The id GitLab uses as `custom_openai/<served_model_name>`.
    pub served_model_name: String,
    pub weights: Weights,
    /// vLLM arguments from the recommendation, without `--model`, `--served-model-name` and `--port`
    /// (the installer sets those from this spec).
    #[serde(default)]
    pub args: Vec<String>,
    /// NVIDIA device indices or UUIDs; empty runs without a GPU (stand-ins, CPU evaluation).
    #[serde(default)]
    pub gpus: Vec<String>,
    #[serde(default = "default_model_port")]
    pub port: u16,
    /// Host address the model port is published on; loopback by default since vLLM has no auth by default
    /// and the gateway reaches it over the container network.
    #[serde(default = "default_model_bind")]
    pub bind: String,
    /// Seconds to wait for `/health` and `/v1/models`: loading weights can take many minutes.
    #[serde(default = "default_model_timeout")]
    pub health_timeout_s: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// GitLab's model family for the registration (mistral, mixtral, codestral, general); guessed from
    /// the served name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitlab_family: Option<String>,
    /// Duo features to assign the model to (code_completion, code_generation, duo_chat).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub duo_features: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case", deny_unknown_fields)]
pub enum Weights {
    /// Fetched by the installer into `cache_dir` (the Hugging Face cache layout, mounted as `HF_HOME`);
    /// the model server then runs offline on that snapshot.
    HuggingFace {
        repo: String,
        /// The commit to serve: `main` (or a tag) until a fetch resolves it, then the pinned 40-digit sha.
        #[serde(default = "default_hf_revision")]
        revision: String,
        /// A mirror of the Hub (as `HF_ENDPOINT`); the public Hub when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        #[serde(default = "default_hf_cache")]
        cache_dir: PathBuf,
        /// A file holding the token (mode 0600); else `HF_TOKEN` from the environment, if set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_file: Option<PathBuf>,
    },
    /// Air-gapped: a directory with the checkpoint, mounted read-only.
    Local { path: PathBuf },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    #[default]
    UnlessStopped,
    Always,
    No,
}

impl RestartPolicy {
    /// Docker's name for it (`--restart`, Compose's `restart:`).
    pub fn as_docker(self) -> &'static str {
        match self {
            RestartPolicy::UnlessStopped => "unless-stopped",
            RestartPolicy::Always => "always",
            RestartPolicy::No => "no",
        }
    }
}

fn spec_version() -> u32 {
    SPEC_VERSION
}
/// The deployment network when the spec names none (what apply creates and the gateway joins).
pub const DEFAULT_NETWORK: &str = "gitlab-aigw";

pub(crate) fn default_network() -> String {
    DEFAULT_NETWORK.into()
}
pub(crate) fn default_log_dir() -> PathBuf {
    PathBuf::from(DEFAULT_LOG_DIR)
}
/// The Agent Platform's (Duo Workflow Service's) gRPC port in the gateway image.
pub const AGENT_PLATFORM_PORT: u16 = 50052;

pub(crate) fn default_gateway_port() -> u16 {
    5052
}
pub(crate) fn default_gateway_image() -> String {
    GATEWAY_IMAGE.into()
}
pub(crate) fn default_gateway_container() -> String {
    "gitlab-aigw".into()
}
pub(crate) fn default_gateway_timeout() -> u64 {
    180
}
pub(crate) fn default_model_image() -> String {
    VLLM_IMAGE.into()
}
pub(crate) fn default_model_tag() -> String {
    VLLM_TAG.into()
}
pub(crate) fn default_model_container() -> String {
    "gitlab-aigw-model".into()
}
pub(crate) fn default_model_port() -> u16 {
    8000
}
pub(crate) fn default_model_bind() -> String {
    "127.0.0.1".into()
}
pub(crate) fn default_model_timeout() -> u64 {
    1800
}
/// The revision a spec names until a fetch pins the commit.
pub const DEFAULT_HF_REVISION: &str = "main";

pub(crate) fn default_hf_revision() -> String {
    DEFAULT_HF_REVISION.into()
}

pub(crate) fn default_hf_cache() -> PathBuf {
    PathBuf::from(DEFAULT_WEIGHTS_DIR).join("hf-cache")
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read the spec {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the spec {path} is not valid TOML for a deployment: {message}")]
    Parse { path: String, message: String },
    #[error("spec_version {found} is not supported (this installer reads version {SPEC_VERSION})")]
    Version { found: u32 },
    #[error("invalid spec: {0}")]
    Input(#[from] InputError),
    #[error("invalid spec: {field}: {problem}")]
    Invalid {
        field: String,
        problem: String,
        fix: String,
    },
    #[error("{path} already exists")]
    Exists { path: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

impl crate::problem::Explain for SpecError {
    fn code(&self) -> &'static str {
        match self {
            Self::Read { .. } => "spec_unreadable",
            Self::Parse { .. } | Self::Version { .. } => "spec_invalid",
            Self::Input(_) | Self::Invalid { .. } => "invalid_input",
            Self::Exists { .. } => "exists",
            Self::Write { .. } => "write_failed",
        }
    }
    fn fix(&self) -> Option<String> {
        match self {
            Self::Input(e) => e.fix(),
            Self::Invalid { fix, .. } => Some(fix.clone()),
            Self::Exists { .. } => Some("choose another file, or allow replacing it".into()),
            Self::Version { .. } => {
                Some("write the spec again with this installer's `init`".into())
            }
            Self::Read { .. } | Self::Write { .. } => {
                Some("check the path and its permissions".into())
            }
            Self::Parse { .. } => Some("correct the spec file; its fields are in docs/".into()),
        }
    }
    fn field(&self) -> Option<String> {
        match self {
            Self::Input(e) => e.field(),
            Self::Invalid { field, .. } => Some(field.clone()),
            _ => None,
        }
    }
}

/// Directories of the system that `log_dir` may never be: apply would write into it and a purge delete it.
const SYSTEM_DIRS: &[&str] = &[
    "/",
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/lost+found",
    "/media",
    "/mnt",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/snap",
    "/srv",
    "/sys",
    "/tmp",
    "/usr",
    "/usr/bin",
    "/usr/lib",
    "/usr/local",
    "/usr/sbin",
    "/usr/share",
    "/var",
    "/var/lib",
    "/var/lib/docker",
    "/var/log",
    "/var/tmp",
    "/var/cache",
    "/var/run",
    "/var/spool",
    "/var/opt",
];

/// `log_dir` must be absolute (a relative one becomes a Docker named volume) and its own directory.
fn check_log_dir(dir: &Path) -> Result<(), SpecError> {
    const FIX: &str = "use a directory of its own, e.g. /srv/gitlab-agw or /var/log/gitlab-agw";
    if !dir.is_absolute() {
        return Err(invalid("log_dir", "must be an absolute path", FIX));
    }
    if dir.components().any(|c| c == Component::ParentDir) {
        return Err(invalid("log_dir", "must not contain '..'", FIX));
    }
    // `components` drops repeated and trailing slashes and inner "." parts.
    let normal: PathBuf = dir.components().collect();
    if SYSTEM_DIRS.iter().any(|d| Path::new(d) == normal) {
        return Err(invalid(
            "log_dir",
            format!("{} is a system directory", normal.display()),
            FIX,
        ));
    }
    Ok(())
}

pub fn invalid(field: &str, problem: impl Into<String>, fix: impl Into<String>) -> SpecError {
    SpecError::Invalid {
        field: field.into(),
        problem: problem.into(),
        fix: fix.into(),
    }
}

/// Gateway logs (GitLab's documented default mount).
pub const DEFAULT_LOG_DIR: &str = "/srv/gitlab-agw";

/// Model weights for air-gapped installs and the Hugging Face cache.
pub const DEFAULT_WEIGHTS_DIR: &str = "/srv/gitlab-agw-models";

/// What validation may check against: the GPUs present (None = unknown, e.g. a remote engine).
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Indices and UUIDs NVML reported.
    pub gpus: Option<Vec<String>>,
}

impl DeploymentSpec {
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, SpecError> {
        let spec: Self = toml::from_str(text).map_err(|e| SpecError::Parse {
            path: origin.to_string(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        if spec.spec_version != SPEC_VERSION {
            return Err(SpecError::Version {
                found: spec.spec_version,
            });
        }
        Ok(spec)
    }

    pub fn to_toml(&self) -> String {
        let body = toml::to_string_pretty(self).unwrap_or_default();
        format!(
            "# aigw-installer deployment spec (see `aigw-installer plan --help`). No secrets belong here.\n{body}"
        )
    }

    /// The gateway tag: the spec's, else the one matching the GitLab version.
    pub fn gateway_tag(&self) -> Result<String, SpecError> {
        match &self.gateway.tag {
            Some(t) => Ok(t.clone()),
            None => images::gateway_tag(&self.gitlab.version).map_err(|e| match e {
                TagError::Version(e) => version_invalid(&e),
                TagError::NoVersionedImage(v) => invalid(
                    "gitlab.version",
                    format!(
                        "GitLab {v} has no versioned self-hosted gateway image (versioned tags start with 17.2)"
                    ),
                    "upgrade GitLab, or set gateway.tag to the tag you mirrored",
                ),
            }),
        }
    }

    /// The Agent Platform is asked for and this GitLab version has it (18.4+).
    pub fn agent_platform_served(&self) -> bool {
        self.gateway.agent_platform
            && self
                .gitlab_version()
                .is_ok_and(|v| v >= GitlabVersion::new(18, 4))
    }

    /// The GitLab version, refused when it is not one or predates GitLab Duo Self-Hosted.
    pub fn gitlab_version(&self) -> Result<GitlabVersion, SpecError> {
        let v: GitlabVersion = self
            .gitlab
            .version
            .parse()
            .map_err(|e| version_invalid(&e))?;
        if v < FIRST_SELF_HOSTED {
            return Err(invalid(
                "gitlab.version",
                format!(
                    "GitLab {v} predates GitLab Duo Self-Hosted, which first shipped in {FIRST_SELF_HOSTED}"
                ),
                format!("upgrade GitLab to {FIRST_SELF_HOSTED} or later"),
            ));
        }
        Ok(v)
    }

    /// Every check that needs no Docker engine. Ports in use are checked by `plan`, which knows our own
    /// containers.
    pub fn validate(&self, ctx: &Context) -> Result<(), SpecError> {
        inputs::parse_gitlab_url("gitlab.url", &self.gitlab.url)?;
        self.gitlab_version()?;
        self.gateway_tag()?;
        inputs::check_gateway_host("gateway.host", &self.gateway.host)?;
        for (field, port) in [
            ("gateway.port", self.gateway.port),
            ("model.port", self.model.port),
        ] {
            if port == 0 {
                return Err(invalid(field, "0 is not a port", "use 1-65535, e.g. 5052"));
            }
        }
        if self.agent_platform_served() {
            for (field, port) in [
                ("gateway.port", self.gateway.port),
                ("model.port", self.model.port),
            ] {
                if port == AGENT_PLATFORM_PORT {
                    return Err(invalid(
                        field,
                        format!("{port} is the Agent Platform's port"),
                        "choose another port, or turn gateway.agent_platform off",
                    ));
                }
            }
        }
        if self.gateway.port == self.model.port {
            return Err(invalid(
                "model.port",
                format!("{} is also the gateway's port", self.model.port),
                "give the model server another port, e.g. 8000",
            ));
        }
        for (field, name) in [
            ("gateway.container", &self.gateway.container),
            ("model.container", &self.model.container),
            ("network", &self.network),
        ] {
            if let Some(problem) = docker_name_problem(name) {
                return Err(invalid(
                    field,
                    format!("\"{name}\" is not a valid Docker name: it {problem}"),
                    format!(
                        "use up to {MAX_DOCKER_NAME} letters, digits, '_', '.' and '-', starting with a letter or digit"
                    ),
                ));
            }
        }
        if self.gateway.container == self.model.container {
            return Err(invalid(
                "model.container",
                "same name as the gateway container",
                "e.g. gitlab-aigw-model",
            ));
        }
        if self.served_model_name_invalid() {
            return Err(invalid(
                "model.served_model_name",
                format!(
                    "\"{}\" is not usable as a model id",
                    self.model.served_model_name
                ),
                "use letters, digits, '-', '_', '.', ':' or '/', e.g. mistral-small-3.2-24b",
            ));
        }
        for reserved in ["--model", "--served-model-name", "--port", "--host"] {
            if self
                .model
                .args
                .iter()
                .any(|a| a == reserved || a.starts_with(&format!("{reserved}=")))
            {
                return Err(invalid(
                    "model.args",
                    format!("{reserved} is set by the installer from the spec"),
                    "remove it from model.args; set model.weights / served_model_name / port instead",
                ));
            }
        }
        if self.model.bind.parse::<std::net::IpAddr>().is_err() {
            return Err(invalid(
                "model.bind",
                format!("\"{}\" is not an IP address", self.model.bind),
                "use an address of this machine, e.g. 127.0.0.1",
            ));
        }
        for (field, env) in [
            ("gateway.env", &self.gateway.env),
            ("model.env", &self.model.env),
        ] {
            for key in env.keys() {
                if !is_env_name(key) {
                    return Err(invalid(
                        field,
                        format!("{key:?} is not a valid environment variable name"),
                        "use letters, digits and '_', not starting with a digit, e.g. AIGW_LOGGING__LEVEL",
                    ));
                }
            }
        }
        for key in self.gateway.env.keys() {
            if let Some(derived) = DERIVED_GATEWAY_ENV
                .iter()
                .find(|d| d.eq_ignore_ascii_case(key))
            {
                return Err(invalid(
                    &format!("gateway.env.{key}"),
                    format!("{derived} is derived from the spec and cannot be overridden"),
                    "remove it; the installer derives it from gitlab.url and gateway.port",
                ));
            }
        }
        check_log_dir(&self.log_dir)?;
        match &self.model.weights {
            Weights::Local { path } => {
                if !path.is_absolute() {
                    return Err(invalid(
                        "model.weights.path",
                        "must be an absolute path",
                        "/srv/models/Mistral-Small-3.2-24B-Instruct-2506",
                    ));
                }
            }
            Weights::HuggingFace {
                repo,
                revision,
                endpoint,
                ..
            } => {
                if repo.split('/').count() != 2 || repo.contains(char::is_whitespace) {
                    return Err(invalid(
                        "model.weights.repo",
                        format!("\"{repo}\" is not a Hugging Face repo id"),
                        "write it as owner/name, e.g. mistralai/Mistral-Small-3.2-24B-Instruct-2506",
                    ));
                }
                // The revision becomes a path under the cache's refs/ and a vLLM argument.
                if !crate::weights::layout::is_revision(revision) {
                    return Err(invalid(
                        "model.weights.revision",
                        format!(
                            "\"{revision}\" is not a revision (a branch, a tag or a commit sha)"
                        ),
                        "use main, or the 40-digit commit the weights were fetched at",
                    ));
                }
                if let Some(e) = endpoint {
                    if crate::weights::hub::Endpoint::parse(e).is_err() {
                        return Err(invalid(
                            "model.weights.endpoint",
                            format!("\"{e}\" is not an http(s) URL"),
                            "https://huggingface.co, or the mirror's URL as HF_ENDPOINT names it",
                        ));
                    }
                }
            }
        }
        if let Some(known) = &ctx.gpus {
            for g in &self.model.gpus {
                if !known.iter().any(|k| k == g) {
                    return Err(invalid(
                        "model.gpus",
                        format!("GPU \"{g}\" does not exist on this machine"),
                        format!(
                            "use one of: {}",
                            if known.is_empty() {
                                "none (no GPU found)".to_string()
                            } else {
                                known.join(", ")
                            }
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The family GitLab's model registration asks for.
    pub fn gitlab_family(&self) -> String {
        if let Some(f) = &self.model.gitlab_family {
            return f.clone();
        }
        let n = self.model.served_model_name.to_ascii_lowercase();
        ["codestral", "mixtral", "mistral"]
            .into_iter()
            .find(|f| n.contains(f))
            .unwrap_or("general")
            .to_string()
    }

    fn served_model_name_invalid(&self) -> bool {
        let n = &self.model.served_model_name;
        n.is_empty()
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/'))
    }
}

/// Gateway variables the installer derives from the spec (any case: a variable that differs in case only
/// would reach the gateway's settings loader as the same setting).
pub const DERIVED_GATEWAY_ENV: [&str; 4] = [
    "AIGW_GITLAB_URL",
    "AIGW_GITLAB_API_URL",
    "AIGW_CUSTOM_MODELS__ENABLED",
    "AIGW_FASTAPI__API_PORT",
];

/// The longest container or network name the spec accepts: the model container's name is the host name
/// the gateway reaches it by, so it stays one DNS label.
pub const MAX_DOCKER_NAME: usize = 63;

/// Why `s` is not a name Docker accepts for a container or network (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`), if not.
pub fn docker_name_problem(s: &str) -> Option<String> {
    let mut chars = s.chars();
    match chars.next() {
        None => return Some("is empty".into()),
        Some(c) if !c.is_ascii_alphanumeric() => {
            return Some(format!("starts with {c:?}, not a letter or digit"))
        }
        Some(_) => {}
    }
    if let Some(c) = chars.find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
        return Some(format!("contains {c:?}"));
    }
    if s.len() > MAX_DOCKER_NAME {
        return Some(format!("is {} characters long", s.len()));
    }
    None
}

/// A portable environment variable name: `[A-Za-z_][A-Za-z0-9_]*` (so never one containing `=`).
pub fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn version_invalid(e: &VersionError) -> SpecError {
    invalid(
        "gitlab.version",
        format!("\"{}\" is not a GitLab version: {}", e.value, e.reason),
        "write it as MAJOR.MINOR or MAJOR.MINOR.PATCH, e.g. 18.2.1: GitLab's Help page (/help) shows it, as \
         does /api/v4/version",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const EXAMPLE: &str = include_str!("../../../tests/fixtures/specs/hf-mistral-small.toml");

    #[test]
    fn defaults_serve() {
        let s = DeploymentSpec::from_toml(EXAMPLE, "example").unwrap();
        assert_eq!(s.gateway.port, 5052);
        assert_eq!(s.gateway.container, "gitlab-aigw");
        assert_eq!(s.gateway_tag().unwrap(), "self-hosted-v18.2.1-ee");
        assert_eq!(s.model.port, 8000);
        assert_eq!(s.restart, RestartPolicy::UnlessStopped);
        assert_eq!(s.log_dir, PathBuf::from("/srv/gitlab-agw"));
        s.validate(&Context {
            gpus: Some(vec!["0".into(), "GPU-abc".into()]),
        })
        .unwrap();
        // Round trip through TOML.
        let again = DeploymentSpec::from_toml(&s.to_toml(), "again").unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn a_spec_without_a_revision_loads_as_main_and_a_pinned_one_round_trips() {
        let s = DeploymentSpec::from_toml(EXAMPLE, "example").unwrap();
        let Weights::HuggingFace {
            revision, endpoint, ..
        } = &s.model.weights
        else {
            panic!("hugging_face weights")
        };
        assert_eq!((revision.as_str(), endpoint), ("main", &None));
        let sha = "0d4b76e1efeb5eb6f6b5e757c79870472e04bd3a";
        let pinned = EXAMPLE.replace(
            "source = \"hugging_face\"",
            &format!("source = \"hugging_face\"\nrevision = \"{sha}\"\nendpoint = \"https://hf-mirror.example.com\""),
        );
        let s = DeploymentSpec::from_toml(&pinned, "pinned").unwrap();
        assert!(s.to_toml().contains(sha));
        assert_eq!(DeploymentSpec::from_toml(&s.to_toml(), "again").unwrap(), s);
    }

    #[test]
    fn a_revision_or_endpoint_that_could_escape_is_refused() {
        for (rev, endpoint) in [
            ("../main", None),
            ("--enforce-eager", None),
            ("main", Some("ftp://mirror")),
        ] {
            let e = with(|s| {
                if let Weights::HuggingFace {
                    revision,
                    endpoint: ep,
                    ..
                } = &mut s.model.weights
                {
                    *revision = rev.into();
                    *ep = endpoint.map(String::from);
                }
            })
            .unwrap_err();
            let want = if endpoint.is_some() {
                "model.weights.endpoint"
            } else {
                "model.weights.revision"
            };
            assert_eq!(
                crate::problem::Explain::field(&e).as_deref(),
                Some(want),
                "{rev}"
            );
        }
    }

    fn with(edit: impl FnOnce(&mut DeploymentSpec)) -> Result<(), SpecError> {
        let mut s = DeploymentSpec::from_toml(EXAMPLE, "example").unwrap();
        edit(&mut s);
        s.validate(&Context {
            gpus: Some(vec!["0".into()]),
        })
    }

    #[test]
    fn invalid_specs_are_refused_with_the_field() {
        type Edit = Box<dyn FnOnce(&mut DeploymentSpec)>;
        let cases: Vec<(Edit, &str)> = vec![
            (
                Box::new(|s| s.gitlab.url = "gitlab.example.com".into()),
                "gitlab.url",
            ),
            (
                Box::new(|s| s.gateway.host = "localhost".into()),
                "gateway.host",
            ),
            (Box::new(|s| s.gateway.port = 0), "gateway.port"),
            (Box::new(|s| s.model.port = 5052), "model.port"),
            (Box::new(|s| s.model.gpus = vec!["3".into()]), "model.gpus"),
            (
                Box::new(|s| {
                    s.model.weights = Weights::Local {
                        path: "relative/weights".into(),
                    }
                }),
                "model.weights.path",
            ),
            (
                Box::new(|s| s.model.args.push("--port=9000".into())),
                "model.args",
            ),
            (
                Box::new(|s| {
                    s.gateway.env.insert("AIGW_GITLAB_URL".into(), "x".into());
                }),
                "gateway.env.AIGW_GITLAB_URL",
            ),
            (
                Box::new(|s| s.gitlab.version = "17.1".into()),
                "gitlab.version",
            ),
            (
                Box::new(|s| s.gateway.container = "bad name".into()),
                "gateway.container",
            ),
        ];
        for (edit, field) in cases {
            let e = with(edit).unwrap_err().to_string();
            assert!(e.contains(field), "expected {field}: {e}");
        }
    }

    #[test]
    fn log_dir_must_be_absolute_and_not_a_system_directory() {
        for bad in [
            "/",
            "/var/log",
            "/var/log/",
            "/etc",
            "/usr",
            "/home",
            "/root",
            "/tmp",
            "/srv",
            "/opt",
            "/bin",
            "/var",
            "//var//log",
            "/var/./log",
            "logs",
            "./logs",
            "/srv/../etc",
        ] {
            let e = with(|s| s.log_dir = bad.into()).unwrap_err();
            assert_eq!(
                crate::problem::Explain::field(&e).as_deref(),
                Some("log_dir"),
                "{bad}: {e}"
            );
            assert!(crate::problem::Explain::fix(&e).is_some(), "{bad}");
        }
        for good in [
            "/srv/gitlab-agw",
            "/var/log/aigw",
            "/opt/aigw/logs",
            "/home/admin/aigw-logs",
        ] {
            with(|s| s.log_dir = good.into()).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
    }

    #[test]
    fn unknown_fields_and_versions_are_refused() {
        let e =
            DeploymentSpec::from_toml(&format!("{EXAMPLE}\n[extra]\nx = 1\n"), "f").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        let e =
            DeploymentSpec::from_toml(&format!("spec_version = 9\n{EXAMPLE}"), "f").unwrap_err();
        assert!(matches!(e, SpecError::Version { found: 9 }));
    }

    #[test]
    fn each_new_rule_names_its_field_and_prints_its_fix_once() {
        type Edit = Box<dyn FnOnce(&mut DeploymentSpec)>;
        let long = "a".repeat(MAX_DOCKER_NAME + 1);
        let cases: Vec<(Edit, &str, &str)> = vec![
            (
                Box::new(|s| s.gateway.host = "0177.0.0.1".into()),
                "gateway.host",
                "loopback",
            ),
            (
                Box::new(|s| s.gitlab.url = "http://0x7f000001:8080".into()),
                "gitlab.url",
                "loopback",
            ),
            (
                Box::new(|s| s.network = "-net".into()),
                "network",
                "not a valid Docker name",
            ),
            (
                Box::new(|s| s.network = "gitlab/aigw".into()),
                "network",
                "contains '/'",
            ),
            (
                Box::new(move |s| s.model.container = long),
                "model.container",
                "characters long",
            ),
            (
                Box::new(|s| s.model.bind = "localhost".into()),
                "model.bind",
                "not an IP address",
            ),
            (
                Box::new(|s| s.model.bind = "127.1".into()),
                "model.bind",
                "not an IP address",
            ),
            (
                Box::new(|s| {
                    s.gateway
                        .env
                        .insert("X=1\nAIGW_GITLAB_URL".into(), "http://evil".into());
                }),
                "gateway.env",
                "not a valid environment variable name",
            ),
            (
                Box::new(|s| {
                    s.gateway.env.insert("AIGW_GITLAB_URL=".into(), "x".into());
                }),
                "gateway.env",
                "not a valid environment variable name",
            ),
            (
                Box::new(|s| {
                    s.model.env.insert("1BAD".into(), "x".into());
                }),
                "model.env",
                "not a valid environment variable name",
            ),
            (
                Box::new(|s| {
                    s.gateway.env.insert("aigw_gitlab_url".into(), "x".into());
                }),
                "gateway.env.aigw_gitlab_url",
                "AIGW_GITLAB_URL is derived",
            ),
            (
                Box::new(|s| {
                    s.gateway
                        .env
                        .insert("Aigw_FastAPI__Api_Port".into(), "1".into());
                }),
                "gateway.env.Aigw_FastAPI__Api_Port",
                "AIGW_FASTAPI__API_PORT is derived",
            ),
            (
                Box::new(|s| {
                    s.gitlab.version = "16.11".into();
                    s.gateway.tag = Some("mirrored".into());
                }),
                "gitlab.version",
                "predates GitLab Duo Self-Hosted",
            ),
            (
                Box::new(|s| s.gitlab.version = "eighteen".into()),
                "gitlab.version",
                "is not a GitLab version",
            ),
            (
                Box::new(|s| s.gitlab.version = "17.1".into()),
                "gitlab.version",
                "no versioned self-hosted gateway image",
            ),
        ];
        for (edit, field, needle) in cases {
            let e = with(edit).unwrap_err();
            let text = e.to_string();
            assert_eq!(
                crate::problem::Explain::field(&e).as_deref(),
                Some(field),
                "{text}"
            );
            assert!(text.contains(needle), "{field}: {text}");
            let fix = crate::problem::Explain::fix(&e).unwrap_or_default();
            assert!(!fix.is_empty(), "{field}: no fix");
            assert!(
                !text.contains(&fix),
                "{field}: the fix is in the message: {text}"
            );
        }
    }

    #[test]
    fn valid_new_inputs_pass() {
        for edit in [
            Box::new(|s: &mut DeploymentSpec| s.model.bind = "0.0.0.0".into())
                as Box<dyn FnOnce(&mut DeploymentSpec)>,
            Box::new(|s| s.model.bind = "::1".into()),
            Box::new(|s| s.network = "a".repeat(MAX_DOCKER_NAME)),
            Box::new(|s| s.gateway.container = "gw_1.example-2".into()),
            Box::new(|s| {
                s.gateway
                    .env
                    .insert("AIGW_LOGGING__LEVEL".into(), "debug".into());
                s.model.env.insert("_VLLM_X1".into(), "1".into());
            }),
            Box::new(|s| {
                s.gitlab.version = "17.1".into();
                s.gateway.tag = Some("mirrored".into());
            }),
        ] {
            with(edit).unwrap();
        }
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn env_names_follow_the_portable_rule(key in "\\PC{0,12}") {
                let portable = !key.is_empty()
                    && key.chars().enumerate().all(|(i, c)| {
                        c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
                    });
                prop_assert_eq!(is_env_name(&key), portable, "{:?}", key);
            }

            #[test]
            fn env_keys_with_an_equals_sign_or_other_characters_are_refused(
                head in "[A-Za-z_][A-Za-z0-9_]{0,8}",
                bad in "[^A-Za-z0-9_]",
                tail in "[A-Za-z0-9_=]{0,8}",
                model in any::<bool>(),
            ) {
                let key = format!("{head}{bad}{tail}");
                let mut s = DeploymentSpec::from_toml(super::EXAMPLE, "example").unwrap();
                if model {
                    s.model.env.insert(key.clone(), "x".into());
                } else {
                    s.gateway.env.insert(key.clone(), "x".into());
                }
                let e = s.validate(&Context::default()).unwrap_err();
                prop_assert!(e.to_string().contains("not a valid environment variable name"), "{}", e);
            }

            #[test]
            fn derived_variables_cannot_be_overridden_in_any_case(
                which in 0usize..DERIVED_GATEWAY_ENV.len(),
                upper in proptest::collection::vec(any::<bool>(), 32),
            ) {
                let key: String = DERIVED_GATEWAY_ENV[which]
                    .chars()
                    .zip(upper.into_iter().chain(std::iter::repeat(true)))
                    .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
                    .collect();
                let mut s = DeploymentSpec::from_toml(super::EXAMPLE, "example").unwrap();
                s.gateway.env.insert(key.clone(), "x".into());
                let e = s.validate(&Context::default()).unwrap_err();
                prop_assert!(e.to_string().contains("cannot be overridden"), "{}", e);
            }

            #[test]
            fn docker_names_follow_dockers_rule(name in "[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}") {
                prop_assert_eq!(docker_name_problem(&name), None);
            }

            #[test]
            fn docker_names_with_other_characters_are_refused(
                head in "[a-zA-Z0-9]{0,5}",
                bad in "[^a-zA-Z0-9_.-]",
                tail in "[a-z]{0,5}",
            ) {
                let name = format!("{head}{bad}{tail}");
                prop_assert!(docker_name_problem(&name).is_some(), "{:?}", name);
            }
        }
    }
}
