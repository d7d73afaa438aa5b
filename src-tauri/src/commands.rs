//! `#[tauri::command]`s: each one calls the engine and maps its result for the page. Errors reach the page
//! as `{code, message, fix}`.

use aigw_installer::catalog::{Catalog, GitlabVersion, Precision};
use aigw_installer::docker::{deploy, engine};
use aigw_installer::export::compose::compose_yaml;
use aigw_installer::gitlab::config::InstallType;
use aigw_installer::hardware::{detect as run_detect, DetectOptions, SystemReport};
use aigw_installer::recommend::{self, Machine, Plan, Request};
use aigw_installer::spec::{self, Answers, Context, SpecError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize)]
pub struct UiError {
    pub code: &'static str,
    pub message: String,
    pub fix: Option<String>,
    /// The spec field at fault, so the page can mark its input.
    pub field: Option<String>,
}

impl UiError {
    fn input(message: impl ToString, fix: &str) -> Self {
        Self {
            code: "invalid_input",
            message: message.to_string(),
            fix: Some(fix.to_string()),
            field: None,
        }
    }

    fn field(field: &str, message: impl ToString, fix: &str) -> Self {
        Self {
            field: Some(field.to_string()),
            ..Self::input(message, fix)
        }
    }
}

impl From<SpecError> for UiError {
    fn from(e: SpecError) -> Self {
        let field = match &e {
            SpecError::Input(i) => Some(i.field.clone()),
            SpecError::Invalid { field, .. } => Some(field.clone()),
            _ => None,
        };
        Self {
            code: "invalid_input",
            message: e.to_string(),
            fix: None,
            field,
        }
    }
}

/// Runs the same detection as `aigw-installer detect --json`.
#[tauri::command]
pub async fn detect() -> SystemReport {
    run_detect(&DetectOptions::from_env()).await
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
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// The recommendation for this machine, or for the what-if GPUs, with the admin's overrides — the same
/// engine call as `aigw-installer recommend --json`.
#[tauri::command]
pub async fn recommend(args: RecommendArgs) -> Result<Plan, UiError> {
    let catalog = Catalog::builtin().map_err(|e| UiError {
        code: "catalog",
        message: e.to_string(),
        fix: None,
        field: None,
    })?;
    let request = Request {
        gitlab_version: non_empty(args.gitlab_version)
            .map(|v| v.parse::<GitlabVersion>())
            .transpose()
            .map_err(|e| UiError::input(e, "write the GitLab version as 18.2 or 18.2.1"))?,
        model: non_empty(args.model),
        precision: non_empty(args.precision)
            .map(|p| p.parse::<Precision>())
            .transpose()
            .map_err(|e| UiError::input(e, "choose bf16, fp16, fp8, awq or gptq"))?,
        tp: args.tp,
        context: args.context,
        accept_licenses: args.accept_license,
    };
    let machine = match non_empty(args.gpus) {
        Some(gpus) => Machine::what_if(&catalog, Some(&gpus), None, None).map_err(|e| {
            UiError::input(
                e,
                "write GPUs as COUNTxNAME, e.g. 2xL4 or 1xA100-80,1xA100-40",
            )
        })?,
        None => Machine::from_report(&run_detect(&DetectOptions::from_env()).await, &catalog),
    };
    recommend::recommend(&catalog, &machine, &request).map_err(|e| {
        UiError::input(
            e,
            "change the overrides, or clear them to get the recommendation",
        )
    })
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
}

#[derive(Debug, Serialize)]
pub struct Review {
    pub spec_toml: String,
    /// `plan` steps as text, or empty when the engine cannot be reached.
    pub steps: Vec<String>,
    pub blockers: Vec<String>,
    pub engine_problem: Option<String>,
    pub compose: String,
}

fn port(field: &str, v: &str, default: u16) -> Result<u16, UiError> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(default);
    }
    match v.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(UiError::field(
            field,
            format!("{field}: \"{v}\" is not a port"),
            "use a number from 1 to 65535",
        )),
    }
}

/// The spec the recommendation and the form describe, validated, and what `apply` would do with it —
/// nothing is changed.
#[tauri::command]
pub async fn review(rec: RecommendArgs, form: ConfigForm) -> Result<Review, UiError> {
    let gitlab_version = non_empty(rec.gitlab_version.clone())
        .unwrap_or_else(|| aigw_installer::catalog::NEWEST_KNOWN.to_string());
    let plan = recommend(rec).await?;
    let deployment = plan.recommendation.ok_or_else(|| UiError {
        code: "cannot_serve",
        message: "no model can be served with these GPUs".into(),
        fix: Some("go back to the Model step: plan for other GPUs, or change the overrides".into()),
        field: None,
    })?;
    let install_type = if form.install_type.trim().is_empty() {
        InstallType::Omnibus
    } else {
        form.install_type.parse::<InstallType>().map_err(|e| {
            UiError::field(
                "gitlab.install_type",
                e,
                "choose one of the listed install types",
            )
        })?
    };
    let answers = Answers {
        gitlab_url: form.gitlab_url.trim().to_string(),
        gitlab_version,
        gateway_host: form.gateway_host.trim().to_string(),
        local_weights: non_empty(Some(form.weights_dir)).map(std::path::PathBuf::from),
        hf_token_file: None,
        platform: None,
        install_type: Some(install_type),
    };
    let mut s = spec::from_deployment(&deployment, &answers)?;
    s.gateway.port = port("gateway.port", &form.gateway_port, 5052)?;
    s.model.port = port("model.port", &form.model_port, 8000)?;
    s.model.gpus = form
        .gpus
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_string)
        .collect();
    let report = run_detect(&DetectOptions::from_env()).await;
    s.validate(&Context {
        gpus: Some(report.gpus.ids()),
    })?;
    let desired = aigw_installer::plan::desired(&s, None)?;
    let endpoint = DetectOptions::from_env().docker_endpoint;
    let (steps, blockers, engine_problem) = match engine::connect(&endpoint).await {
        Ok(conn) => match deploy::plan(
            &conn.docker,
            &s,
            None,
            &Default::default(),
            endpoint.is_local(),
        )
        .await
        {
            Ok((_, p)) => (
                p.steps.iter().map(ToString::to_string).collect(),
                p.blockers,
                None,
            ),
            Err(e) => (Vec::new(), Vec::new(), Some(e.to_string())),
        },
        Err((_, detail)) => (
            Vec::new(),
            Vec::new(),
            Some(format!(
                "the Docker engine at {} cannot be reached: {detail}",
                endpoint.display()
            )),
        ),
    };
    Ok(Review {
        spec_toml: s.to_toml(),
        steps,
        blockers,
        engine_problem,
        compose: compose_yaml(&desired),
    })
}
