//! `#[tauri::command]`s: each one calls the engine and maps its result for the page. Errors reach the page
//! as `{code, message, fix}`.

use aigw_installer::catalog::{Catalog, GitlabVersion, Precision};
use aigw_installer::hardware::{detect as run_detect, DetectOptions, SystemReport};
use aigw_installer::recommend::{self, Machine, Plan, Request};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize)]
pub struct UiError {
    pub code: &'static str,
    pub message: String,
    pub fix: Option<String>,
}

impl UiError {
    fn input(message: impl ToString, fix: &str) -> Self {
        Self {
            code: "invalid_input",
            message: message.to_string(),
            fix: Some(fix.to_string()),
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
