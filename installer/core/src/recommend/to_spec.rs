//! A recommendation becomes a deployment spec: the recommended vLLM configuration plus the admin's
//! answers (`init` in the CLI, Configure in the wizard), with the spec's defaults for the rest.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{Deployment, Engine};
use crate::gitlab::config::InstallType;
use crate::spec::{
    default_gateway_container, default_gateway_image, default_gateway_port,
    default_gateway_timeout, default_hf_cache, default_log_dir, default_model_bind,
    default_model_container, default_model_image, default_model_port, default_model_tag,
    default_model_timeout, default_network, invalid, DeploymentSpec, GatewaySpec, GitlabSpec,
    ModelServerSpec, RestartPolicy, SpecError, Weights, SPEC_VERSION,
};

/// What `init` asks the admin; the rest comes from the recommendation.
#[derive(Debug, Clone, Default)]
pub struct Answers {
    pub gitlab_url: String,
    pub gitlab_version: String,
    pub gateway_host: String,
    /// Air-gapped: a directory holding the checkpoint. Otherwise the recommended Hugging Face repo.
    pub local_weights: Option<PathBuf>,
    pub hf_token_file: Option<PathBuf>,
    pub platform: Option<String>,
    pub install_type: Option<InstallType>,
}

/// A spec for a vLLM deployment the recommender chose.
pub fn from_deployment(d: &Deployment, a: &Answers) -> Result<DeploymentSpec, SpecError> {
    if d.engine != Engine::Vllm {
        return Err(invalid(
            "model",
            "the recommendation runs the model under Ollama, which `apply` does not provision",
            "start Ollama as the recommendation describes, and point GitLab at it; or choose a vLLM configuration",
        ));
    }
    let weights = match (&a.local_weights, &d.hf_repo) {
        (Some(path), _) => Weights::Local { path: path.clone() },
        (None, Some(repo)) => Weights::HuggingFace {
            repo: repo.clone(),
            revision: crate::spec::DEFAULT_HF_REVISION.into(),
            endpoint: None,
            cache_dir: default_hf_cache(),
            token_file: a.hf_token_file.clone(),
        },
        (None, None) => {
            return Err(invalid(
                "model.weights",
                "the recommendation names no checkpoint",
                "give a local weights folder",
            ))
        }
    };
    // `--model`, `--served-model-name` and `--port` come from the spec itself.
    let mut args = Vec::new();
    let mut it = d.vllm_args.iter();
    while let Some(arg) = it.next() {
        if ["--model", "--served-model-name", "--port", "--host"].contains(&arg.as_str()) {
            it.next();
        } else {
            args.push(arg.clone());
        }
    }
    Ok(DeploymentSpec {
        spec_version: SPEC_VERSION,
        gitlab: GitlabSpec {
            url: a.gitlab_url.clone(),
            version: a.gitlab_version.clone(),
            install_type: a.install_type.unwrap_or_default(),
        },
        gateway: GatewaySpec {
            host: a.gateway_host.clone(),
            port: default_gateway_port(),
            image: default_gateway_image(),
            tag: None,
            container: default_gateway_container(),
            health_timeout_s: default_gateway_timeout(),
            env: BTreeMap::new(),
        },
        model: ModelServerSpec {
            image: default_model_image(),
            tag: default_model_tag(),
            container: default_model_container(),
            served_model_name: d.served_model_name.clone(),
            weights,
            args,
            gpus: d.gpus.iter().map(u32::to_string).collect(),
            port: default_model_port(),
            bind: default_model_bind(),
            health_timeout_s: default_model_timeout(),
            env: BTreeMap::new(),
            gitlab_family: Some(d.gitlab.model_family.clone()),
            duo_features: d
                .features
                .iter()
                .filter_map(|f| serde_json::to_value(f).ok())
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        },
        network: default_network(),
        log_dir: default_log_dir(),
        restart: RestartPolicy::default(),
        platform: a.platform.clone(),
    })
}
