//! The planning commands (detect, recommend, review) and the spec the wizard's answers describe. Nothing
//! here changes the machine.

use aigw_core::catalog::{Catalog, GitlabVersion, Precision};
use aigw_core::export::compose::compose_yaml;
use aigw_core::gitlab::config::InstallType;
use aigw_core::problem::Explain;
use aigw_core::recommend::Answers;
use aigw_core::recommend::{self, Machine, Recommendation, Request};
use aigw_core::spec::{Context, DeploymentSpec, Weights};
use aigw_engine::hardware::SystemReport;
use aigw_engine::spec_file::SpecFile;
use aigw_engine::usecase::{self, detect as run_detect};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::error::{field, UiError};

/// Runs the same detection as `aigw-installer detect --json`.
#[tauri::command]
pub async fn detect() -> SystemReport {
    run_detect(&crate::engines::detect_options()).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RecommendArgs {
    /// What-if GPUs ("2xL4", "none"); empty: this machine.
    pub gpus: Option<String>,
    pub gitlab_version: Option<String>,
    pub model: Option<String>,
    pub precision: Option<String>,
    pub tp: Option<u32>,
    pub context: Option<u32>,
    pub accept_license: Vec<String>,
    /// Developers who will use Duo: the plan reports the expected peak against what it serves.
    pub developers: Option<u32>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// The recommendation for this machine, or for the what-if GPUs, with the admin's overrides — the same
/// engine call as `aigw-installer recommend --json`.
#[tauri::command]
pub async fn recommend(args: RecommendArgs) -> Result<Recommendation, UiError> {
    recommend_with(args, None).await
}

/// `report` is this machine when the caller has already detected it; otherwise detection runs here, and
/// only when no what-if GPUs are given.
async fn recommend_with(
    args: RecommendArgs,
    report: Option<&SystemReport>,
) -> Result<Recommendation, UiError> {
    let catalog = Catalog::builtin()?;
    let request = Request {
        gitlab_version: non_empty(args.gitlab_version)
            .map(|v| v.parse::<GitlabVersion>())
            .transpose()?,
        model: non_empty(args.model),
        precision: non_empty(args.precision)
            .map(|p| p.parse::<Precision>())
            .transpose()
            .map_err(|e| field("precision", e, "choose bf16, fp16, fp8, awq or gptq"))?,
        tp: args.tp,
        context: args.context,
        accept_licenses: args.accept_license,
        developers: args.developers,
    };
    let machine = match non_empty(args.gpus) {
        Some(gpus) => Machine::what_if(&catalog, Some(&gpus), None, None)?,
        None => match report {
            Some(r) => Machine::from_report(r, &catalog),
            None => Machine::from_report(
                &run_detect(&crate::engines::detect_options()).await,
                &catalog,
            ),
        },
    };
    // A licence to accept comes back as `license_required` with the model in its field: the page shows
    // an explicit acceptance box for it.
    Ok(recommend::recommend(&catalog, &machine, &request)?)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConfigForm {
    pub gitlab_url: String,
    pub install_type: String,
    pub gateway_host: String,
    pub gateway_port: String,
    pub model_port: String,
    /// Air-gapped: a directory holding the checkpoint; empty downloads the recommended repo.
    pub weights_dir: String,
    /// Comma-separated GPU ids; empty runs without GPUs.
    pub gpus: String,
    /// The checkpoint to download when no local folder is given; empty: the recommended one.
    pub hf_repo: String,
    /// For gated models. Written to a 0600 file at install time, never echoed, logged or exported.
    pub hf_token: aigw_core::secret::Secret,
    /// Image overrides (a mirror registry, a pinned tag); empty: the defaults for this GitLab version.
    pub model_image: String,
    pub model_tag: String,
    pub gateway_image: String,
    pub gateway_tag: String,
    /// Where the gateway writes its logs on the host; empty: GitLab's documented default.
    pub log_dir: String,
    /// An offline bundle (`aigw-installer images save`) to load before installing.
    pub image_bundle: String,
    /// Serve the GitLab Duo Agent Platform (port 50052, GitLab 18.4+).
    pub agent_platform: bool,
    /// GitLab runs with an offline licence.
    pub offline_license: bool,
    /// Install a model outside GitLab's support window for this version, with a warning.
    pub allow_unsupported: bool,
}

impl ConfigForm {
    /// The offline image bundle, checked to exist with its manifest beside it.
    pub fn image_bundle(&self) -> Result<Option<PathBuf>, UiError> {
        let Some(path) = non_empty(Some(self.image_bundle.clone())).map(PathBuf::from) else {
            return Ok(None);
        };
        usecase::check_bundle(&path)?;
        Ok(Some(path))
    }
}

#[derive(Debug, Serialize)]
pub struct Review {
    pub spec_toml: String,
    /// `plan` steps as text, or empty when the engine cannot be reached.
    pub steps: Vec<String>,
    pub blockers: Vec<String>,
    pub engine_problem: Option<String>,
    pub compose: String,
    /// The offline bundle install will load first.
    pub image_bundle: Option<String>,
    /// The weights: the Hub's file list (`state: listed`), the verified cache (`cached`), why the list
    /// could not be read (`unreachable`, `refused`), or the local folder (`local`).
    pub weights: Option<usecase::WeightsReview>,
}

fn port(name: &str, v: &str, default: u16) -> Result<u16, UiError> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(default);
    }
    match v.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(field(
            name,
            format!("{name}: \"{v}\" is not a port"),
            "use a number from 1 to 65535",
        )),
    }
}

/// The spec the recommendation and the form describe, validated against this machine. Pure apart from
/// detection: nothing is written.
pub async fn build_spec(rec: RecommendArgs, form: &ConfigForm) -> Result<DeploymentSpec, UiError> {
    // Never filled in silently: a gateway tag for the wrong GitLab version is the trap the README warns of.
    let gitlab_version = non_empty(rec.gitlab_version.clone()).ok_or_else(|| {
        field(
            "gitlab.version",
            "gitlab.version: enter your GitLab version",
            "your GitLab's Help page (/help) shows it, as does /api/v4/version; e.g. 18.2.1",
        )
    })?;
    // One detection serves the recommendation, the platform and the GPU-id check.
    let report = run_detect(&crate::engines::detect_options()).await;
    let plan = recommend_with(rec, Some(&report)).await?;
    let deployment = plan.recommendation.ok_or_else(|| {
        UiError::new(
            "cannot_serve",
            "no model can be served with these GPUs",
            Some("go back to the Model step: plan for other GPUs, or change the overrides".into()),
        )
    })?;
    let install_type = if form.install_type.trim().is_empty() {
        InstallType::default()
    } else {
        form.install_type.parse::<InstallType>().map_err(|e| {
            field(
                "gitlab.install_type",
                e.to_string(),
                "choose one of the listed install types",
            )
        })?
    };
    let answers = Answers {
        gitlab_url: form.gitlab_url.trim().to_string(),
        gitlab_version,
        gateway_host: form.gateway_host.trim().to_string(),
        local_weights: non_empty(Some(form.weights_dir.clone())).map(PathBuf::from),
        hf_token_file: None,
        platform: report.platform.docker_platform().map(str::to_string),
        install_type: Some(install_type),
    };
    let mut s = recommend::from_deployment(&deployment, &answers)?;
    s.gateway.port = port("gateway.port", &form.gateway_port, 5052)?;
    s.gateway.agent_platform = form.agent_platform;
    s.gitlab.offline_license = form.offline_license;
    s.gitlab.allow_unsupported = form.allow_unsupported;
    s.model.port = port("model.port", &form.model_port, 8000)?;
    s.model.gpus = form
        .gpus
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_string)
        .collect();
    if let (Weights::HuggingFace { repo, .. }, Some(r)) =
        (&mut s.model.weights, non_empty(Some(form.hf_repo.clone())))
    {
        *repo = r;
    }
    let set = |target: &mut String, v: &str| {
        if let Some(v) = non_empty(Some(v.to_string())) {
            *target = v;
        }
    };
    set(&mut s.model.image, &form.model_image);
    set(&mut s.model.tag, &form.model_tag);
    set(&mut s.gateway.image, &form.gateway_image);
    if let Some(t) = non_empty(Some(form.gateway_tag.clone())) {
        s.gateway.tag = Some(t);
    }
    if let Some(d) = non_empty(Some(form.log_dir.clone())) {
        s.log_dir = PathBuf::from(d);
    }
    s.validate_with_files(&Context {
        gpus: Some(report.gpus.ids()),
    })?;
    Ok(s)
}

/// What `apply` would do with the wizard's spec — nothing is changed.
#[tauri::command]
pub async fn review(rec: RecommendArgs, form: ConfigForm) -> Result<Review, UiError> {
    let image_bundle = form.image_bundle()?;
    let s = build_spec(rec, &form).await?;
    let target = crate::engines::connect().await;
    let fetch = aigw_engine::usecase::FetchRequest {
        env_token: (!form.hf_token.is_empty()).then(|| form.hf_token.clone()),
        ..crate::install::fetch_request()
    };
    let reviewed = usecase::review(target.as_ref().ok(), &s, Some(&fetch)).await?;
    let (steps, blockers, engine_problem) = match (reviewed.plan, target.as_ref().err()) {
        (Some(Ok(p)), _) => (
            p.steps.iter().map(ToString::to_string).collect(),
            p.blockers,
            None,
        ),
        (Some(Err(e)), _) => (Vec::new(), Vec::new(), Some(e.problem().one_line())),
        (None, Some(e)) => (Vec::new(), Vec::new(), Some(e.problem().one_line())),
        (None, None) => (Vec::new(), Vec::new(), None),
    };
    let desired = reviewed.desired;
    Ok(Review {
        spec_toml: s.to_toml(),
        steps,
        blockers,
        engine_problem,
        compose: compose_yaml(&desired),
        image_bundle: image_bundle.map(|p| p.display().to_string()),
        weights: reviewed.weights,
    })
}
