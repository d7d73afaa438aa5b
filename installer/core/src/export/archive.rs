//! The export archive: one zip another admin can apply without the installer — README (the steps in
//! order), compose and env files, `docker run` script, GitLab snippets, Kubernetes manifests, the spec,
//! and `manifest.json` with each file's SHA-256. Secrets stay out unless asked for; then the zip is 0600.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{compose, gateway, kubernetes};
use crate::catalog::gitlab::{jwt_keys_needed, JwtKey};
use crate::gitlab::config::{self, GitlabSide, InstallType, ModelRegistration};
use crate::gitlab::inputs::{parse_gitlab_url, InputError};
use crate::plan::{desired, Component};
use crate::secret::Secret;
use crate::spec::{DeploymentSpec, SpecError, Weights, AGENT_PLATFORM_PORT};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("invalid input: {0}")]
    Input(#[from] InputError),
    #[error("{0} already exists")]
    Exists(String),
    #[error("cannot write {path}: {detail}")]
    Write { path: String, detail: String },
    #[error("{0}")]
    Version(String),
    #[error(transparent)]
    Unsupported(#[from] crate::gitlab::support::UnsupportedModel),
}

impl crate::problem::Explain for ExportError {
    fn code(&self) -> &'static str {
        match self {
            Self::Spec(e) => e.code(),
            Self::Input(e) => e.code(),
            Self::Unsupported(e) => e.code(),
            Self::Exists(_) => "exists",
            Self::Write { .. } | Self::Version(_) => "export_failed",
        }
    }
    fn fix(&self) -> Option<String> {
        match self {
            Self::Spec(e) => e.fix(),
            Self::Input(e) => e.fix(),
            Self::Unsupported(e) => e.fix(),
            Self::Exists(_) => Some("choose another file name, or allow replacing it".into()),
            Self::Write { .. } => Some("choose a folder you can write to".into()),
            Self::Version(_) => None,
        }
    }
    fn field(&self) -> Option<String> {
        match self {
            Self::Spec(e) => e.field(),
            Self::Input(e) => e.field(),
            Self::Unsupported(e) => e.field(),
            Self::Exists(_) => Some("export.path".into()),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub install: InstallType,
    /// The Duo Agent Platform address (`host:50052`) for GitLab 18.4+, when used.
    pub agent_platform: Option<String>,
    /// Put the secrets that exist (the Hugging Face token) into the export; the zip is then 0600.
    pub include_secrets: bool,
    pub hf_token: Option<Secret>,
    /// Generated JWT keys (env name, PEM), with `include_secrets`; see [`generate_keys`].
    pub jwt_keys: Vec<(String, Secret)>,
}

impl ExportOptions {
    /// The settings for `install`, with no Agent Platform and no secrets.
    pub fn without_secrets(install: InstallType) -> Self {
        Self {
            install,
            agent_platform: None,
            include_secrets: false,
            hf_token: None,
            jwt_keys: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// `manifest.json` in the zip. (The offline image bundle's manifest is the engine's `BundleManifest`.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportManifest {
    pub generator: String,
    pub gitlab_version: String,
    pub install_type: String,
    pub contains_secrets: bool,
    pub files: Vec<ExportManifestEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportManifestEntry {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

pub const TOKEN_PATH: &str = "secrets/hf_token";

pub fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// The GitLab-side inputs a spec implies.
pub fn gitlab_side(spec: &DeploymentSpec, opts: &ExportOptions) -> Result<GitlabSide, ExportError> {
    let gitlab = parse_gitlab_url("gitlab.url", &spec.gitlab.url)?;
    let version = spec
        .gitlab
        .version
        .parse()
        .map_err(|e: crate::catalog::gitlab::VersionError| ExportError::Version(e.to_string()))?;
    let direct = config::gateway_url_checked(&format!(
        "http://{}:{}",
        spec.gateway.host, spec.gateway.port
    ))?;
    // GitLab on Kubernetes: the gateway goes beside it as `kubernetes/aigw.yaml`, whose Ingress answers
    // on port 80 for the gateway host; the LoadBalancer Service (the published port) is the alternative.
    let (gateway_url, gateway_load_balancer) = if opts.install == InstallType::Helm {
        let ingress =
            config::gateway_url_checked(&format!("http://{}", bracketed(&spec.gateway.host)))?;
        (ingress, Some(direct))
    } else {
        (direct, None)
    };
    // Asked for in the options (host:port as GitLab reaches it) or by the spec (the gateway host, 50052).
    let agent_platform = opts.agent_platform.clone().or_else(|| {
        spec.gateway
            .agent_platform
            .then(|| format!("{}:{AGENT_PLATFORM_PORT}", bracketed(&spec.gateway.host)))
    });
    Ok(GitlabSide {
        gitlab,
        version,
        install: opts.install,
        gateway_url,
        gateway_load_balancer,
        agent_platform,
        // The model port is published on the GPU host (loopback by default): checks from there use it.
        model_check: Some(format!(
            "http://{}:{}/v1",
            match spec.model.bind.as_str() {
                "0.0.0.0" | "" => "127.0.0.1",
                "::" => "[::1]",
                other => other,
            },
            spec.model.port
        )),
        model: ModelRegistration {
            name: spec.model.served_model_name.clone(),
            family: spec.gitlab_family(),
            // The gateway container reaches the model server by its name on their shared network.
            endpoint: format!("http://{}:{}/v1", spec.model.container, spec.model.port),
            identifier: format!("custom_openai/{}", spec.model.served_model_name),
            features: spec.model.duo_features.clone(),
        },
    })
}

/// An IPv6 address in brackets, for a URL's authority.
fn bracketed(h: &str) -> String {
    if h.contains(':') && !h.starts_with('[') {
        format!("[{h}]")
    } else {
        h.to_string()
    }
}

/// Every file of the export, in order. Pure.
pub fn export_files(
    spec: &DeploymentSpec,
    opts: &ExportOptions,
) -> Result<Vec<ExportFile>, ExportError> {
    let catalog =
        crate::catalog::Catalog::builtin().map_err(|e| ExportError::Version(e.to_string()))?;
    let warnings = crate::gitlab::support::check(spec, &catalog)?;
    // The Agent Platform named in the options is served too: its port published, its settings passed.
    let mut with_agent = spec.clone();
    with_agent.gateway.agent_platform |= opts.agent_platform.is_some();
    let spec = &with_agent;
    let token = opts
        .include_secrets
        .then(|| opts.hf_token.clone())
        .flatten()
        .filter(|_| matches!(spec.model.weights, Weights::HuggingFace { .. }));
    let d = desired(
        spec,
        token.as_ref().map(|_| format!("./{TOKEN_PATH}")).as_deref(),
    )?;
    let side = gitlab_side(spec, opts)?;
    let snippets = config::snippets(&side)?;
    let keys = jwt_keys_needed(side.version, side.agent_platform.is_some());
    let key_envs: Vec<&str> = keys.iter().map(|k| k.env).collect();
    let gw = d
        .containers
        .iter()
        .find(|c| c.component == Component::Gateway)
        .ok_or_else(|| ExportError::Version("no gateway in the spec".into()))?;
    let gpu_count = if spec.model.gpus.iter().any(|g| g == "all") {
        // One vLLM over TP × DP GPUs (`--data-parallel-size` replicas of the TP group).
        arg_size(&spec.model.args, "--tensor-parallel-size")
            * arg_size(&spec.model.args, "--data-parallel-size")
    } else {
        spec.model.gpus.len()
    };
    let mut files = vec![
        ExportFile {
            path: "README.md".into(),
            bytes: readme(
                spec,
                opts,
                &side,
                &snippets,
                token.is_some(),
                &keys,
                &warnings,
            )
            .into_bytes(),
        },
        ExportFile {
            path: "docker-compose.yml".into(),
            bytes: compose::compose_yaml_with(&d, &key_envs).into_bytes(),
        },
        ExportFile {
            path: "aigw.env".into(),
            bytes: gateway::env_file(gw).into_bytes(),
        },
        ExportFile {
            path: "docker-run.sh".into(),
            bytes: gateway::docker_run_script(&d, &key_envs).into_bytes(),
        },
        ExportFile {
            path: "kubernetes/aigw.yaml".into(),
            bytes: kubernetes::manifests(
                &d,
                &kubernetes::KubeOptions {
                    gpu_count,
                    secret_env: &key_envs,
                    gateway_host: &spec.gateway.host,
                },
            )
            .into_bytes(),
        },
        ExportFile {
            path: "kubernetes/gateway-loadbalancer.yaml".into(),
            bytes: kubernetes::load_balancer(&d).into_bytes(),
        },
        ExportFile {
            path: "aigw-spec.toml".into(),
            bytes: spec.to_toml().into_bytes(),
        },
    ];
    files.extend(snippets.into_iter().map(|s| ExportFile {
        path: s.path,
        bytes: s.body.into_bytes(),
    }));
    if let Some(t) = token {
        files.push(ExportFile {
            path: TOKEN_PATH.into(),
            bytes: t.expose().as_bytes().to_vec(),
        });
    }
    if opts.include_secrets {
        for k in &keys {
            if let Some((_, pem)) = opts.jwt_keys.iter().find(|(env, _)| env == k.env) {
                files.push(ExportFile {
                    path: k.file.into(),
                    bytes: pem.expose().as_bytes().to_vec(),
                });
            }
        }
    }
    Ok(files)
}

/// A size flag's value (`--tensor-parallel-size 2`), 1 when absent.
fn arg_size(args: &[String], flag: &str) -> usize {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

fn readme(
    spec: &DeploymentSpec,
    opts: &ExportOptions,
    side: &GitlabSide,
    snippets: &[config::Snippet],
    has_token: bool,
    keys: &[JwtKey],
    warnings: &[String],
) -> String {
    let keys_text = if keys.is_empty() {
        String::new()
    } else {
        let exports = keys
            .iter()
            .map(|k| format!("export {}=\"$(cat {})\"", k.env, k.file))
            .collect::<Vec<_>>()
            .join("\n");
        let generate = if opts.include_secrets && !opts.jwt_keys.is_empty() {
            "They were generated for this bundle (in `secrets/`, mode 0600).".to_string()
        } else {
            let cmds = keys
                .iter()
                .map(|k| format!("openssl genrsa -out {} 2048", k.file))
                .collect::<Vec<_>>()
                .join("\n");
            format!("Generate them here (they are not in this bundle):\n\n```sh\nmkdir -p secrets && chmod 700 secrets\n{cmds}\nchmod 600 secrets/*.key\n```")
        };
        let from_files = keys
            .iter()
            .map(|k| format!("  --from-file={}={}", k.env, k.file))
            .collect::<Vec<_>>()
            .join(" \\\n");
        format!(
            "\n\nGitLab {} needs self-signed JWT keys (RSA 2048) in the gateway. {generate}\n\nBefore `docker compose up -d` \
             or `sh docker-run.sh`, put them in the shell's environment (the files list them by name only):\n\n```sh\n{exports}\n```\n\n\
             On Kubernetes the gateway reads them from the Secret `{secret}` (the manifests name it, never the keys):\n\n\
             ```sh\nkubectl create secret generic {secret} -n <namespace> \\\n{from_files}\n```",
            spec.gitlab.version,
            secret = kubernetes::JWT_SECRET,
        )
    };
    let gitlab_steps = snippets
        .iter()
        .map(|s| format!("   - `{}` — {}", s.path, s.title))
        .collect::<Vec<_>>()
        .join("\n");
    let secrets = match (&spec.model.weights, has_token) {
        (Weights::Local { path }, _) => format!(
            "The model weights are local: copy the checkpoint to `{}` on the GPU host (mounted read-only).",
            path.display()
        ),
        (Weights::HuggingFace { .. }, true) => format!(
            "This bundle CONTAINS the Hugging Face token in `{TOKEN_PATH}` (exported with --include-secrets): \
             keep the zip private, and keep that file mode 0600."
        ),
        (Weights::HuggingFace { repo, .. }, false) => format!(
            "No secret is in this bundle. If `{repo}` is gated, put a Hugging Face token in `{TOKEN_PATH}` \
             (chmod 600), then add to the model service: a read-only volume `./{TOKEN_PATH}:/run/secrets/hf_token` \
             and the environment `HF_TOKEN_PATH=/run/secrets/hf_token`."
        ),
    };
    let secrets = match &spec.model.weights {
        Weights::HuggingFace {
            repo,
            revision,
            cache_dir,
            ..
        } => format!(
            "The model server runs offline (`HF_HUB_OFFLINE=1`) on the snapshot of `{repo}` at `{revision}` in \
             the Hugging Face cache `{}`: put it there before starting it — `aigw-installer weights import` of \
             a kit made with `weights export`, or `HF_HOME={} huggingface-cli download {repo} --revision {revision}`.\n\n{secrets}",
            cache_dir.display(),
            cache_dir.display()
        ),
        Weights::Local { .. } => secrets,
    };
    let model_image = format!("{}:{}", spec.model.image, spec.model.tag);
    let gw_image = format!(
        "{}:{}",
        spec.gateway.image,
        spec.gateway_tag().unwrap_or_default()
    );
    let warnings: String = warnings
        .iter()
        .map(|w| format!("> **Warning:** {w}\n\n"))
        .collect();
    let ports = if spec.agent_platform_served() {
        format!(
            "ports {} (gateway) and {AGENT_PLATFORM_PORT} (Agent Platform, gRPC)",
            spec.gateway.port
        )
    } else {
        format!("port {}", spec.gateway.port)
    };
    format!(
        "# GitLab Duo Self-Hosted: gateway and model server for {url}\n\n\
         Generated by aigw-installer for GitLab {version} ({install}). Every file is listed with its SHA-256 in \
         `manifest.json`.\n\n{warnings}\
         ## Steps, in order\n\n\
         1. **Images.** On the GPU host, make `{model_image}` and `{gw_image}` available (pull them, or \
            `docker load` an offline bundle made with `aigw-installer images save`).\n\
         2. **Start both services.** First give the gateway its log directory (it runs as a non-root user): \
            `sudo mkdir -p {log_dir} && sudo chown \"$(docker run --rm --entrypoint id {gw_image} -u):$(docker run \
            --rm --entrypoint id {gw_image} -g)\" {log_dir}`. Then `docker compose up -d` (or `docker-compose up -d`) \
            in this folder; without Compose: `sh docker-run.sh`. The gateway publishes {ports}. On Kubernetes: \
            `kubernetes/aigw.yaml` (its Ingress routes the gateway host), or `kubernetes/gateway-loadbalancer.yaml` \
            where the cluster has no ingress controller.\n\
         3. **Check them:** `curl -f {gateway_url}/monitoring/healthz` must answer `{{}}`{lb}; the model server \
            answers on `http://127.0.0.1:{model_port}/v1/models` on the GPU host and lists `{served}`.\n\
         4. **Point GitLab at the gateway and register the model** (files in `gitlab/`):\n{gitlab_steps}\n\
         5. **Verify** as `gitlab/verify.md` says.\n\n\
         ## Secrets\n\n{secrets}{keys_text}\n\n\
         The gateway listens on plain HTTP at {gateway_url}; put a TLS proxy in front of it if GitLab or your \
         IDEs require HTTPS. Never use `localhost` as the gateway host: GitLab, the gateway and each IDE \
         resolve it to themselves.\n",
        url = side.gitlab.as_str(),
        version = spec.gitlab.version,
        install = opts.install,
        gateway_url = side.gateway_url,
        lb = side
            .gateway_load_balancer
            .as_deref()
            .map(|lb| format!(
                " (the Ingress of `kubernetes/aigw.yaml`, port 80; with `kubernetes/gateway-loadbalancer.yaml` \
                 instead, `{lb}`)"
            ))
            .unwrap_or_default(),
        model_port = spec.model.port,
        served = spec.model.served_model_name,
        log_dir = spec.log_dir.display(),
    )
}
