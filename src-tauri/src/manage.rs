//! Manage: what the installer runs on the engine (found by label, like `aigw-installer status`), its
//! logs, and uninstall. Upgrade lives with install (it is an apply).

use aigw_core::plan::Component;
use aigw_engine::docker::manage::{self, ContainerStatus, Removed};
use futures_util::StreamExt;
use serde::Serialize;

use crate::error::UiError;
use crate::store;

#[derive(Debug, Serialize)]
pub struct Status {
    /// Our labelled containers; empty when nothing is installed.
    pub containers: Vec<ContainerStatus>,
    pub spec_path: Option<String>,
    /// The installed spec's tags, prefilled in the upgrade form.
    pub gateway_tag: Option<String>,
    pub model_tag: Option<String>,
    /// Set when the engine cannot be reached: the page says so instead of "nothing installed".
    pub engine_problem: Option<String>,
    /// The engine everything goes to: this machine's socket or the one `DOCKER_HOST` names.
    pub engine: String,
}

#[tauri::command]
pub async fn status() -> Result<Status, UiError> {
    let spec = store::installed_spec().ok().flatten();
    let (containers, engine_problem) = match store::connect().await {
        Ok((conn, _)) => (manage::status(&conn.docker).await?, None),
        Err(e) => (Vec::new(), Some(e.one_line())),
    };
    Ok(Status {
        containers,
        spec_path: spec.as_ref().map(|(p, _)| p.display().to_string()),
        gateway_tag: spec.as_ref().and_then(|(_, s)| s.gateway_tag().ok()),
        model_tag: spec.as_ref().map(|(_, s)| s.model.tag.clone()),
        engine_problem,
        engine: aigw_engine::hardware::DetectOptions::from_env()
            .docker_endpoint
            .display(),
    })
}

/// The last `tail` log lines of a component's container.
#[tauri::command]
pub async fn logs(component: Component, tail: Option<u32>) -> Result<Vec<String>, UiError> {
    let (conn, _) = store::connect().await?;
    let name = manage::container_of(&conn.docker, component).await?;
    let lines: Vec<String> =
        manage::logs(&conn.docker, &name, tail.unwrap_or(200).min(5000), false)
            .filter_map(|r| async move { r.ok() })
            .collect()
            .await;
    Ok(lines
        .iter()
        .flat_map(|chunk| chunk.lines())
        .map(str::to_string)
        .collect())
}

#[derive(Debug, Serialize)]
pub struct Uninstalled {
    pub removed: Removed,
    /// What stays on disk, for the admin to delete by hand if wanted.
    pub kept: Vec<String>,
}

/// Removes the containers and network carrying our labels — nothing else. Logs, downloaded weights and
/// the spec stay (like `aigw-installer uninstall` without `--purge`).
#[tauri::command]
pub async fn uninstall() -> Result<Uninstalled, UiError> {
    let spec = store::installed_spec().ok().flatten();
    let (conn, _) = store::connect().await?;
    let removed = manage::uninstall(&conn.docker).await?;
    let mut kept = Vec::new();
    if let Some((path, s)) = spec {
        kept.push(format!("the spec: {}", path.display()));
        kept.push(format!("the gateway logs: {}", s.log_dir.display()));
        if let aigw_core::spec::Weights::HuggingFace { cache_dir, .. } = &s.model.weights {
            kept.push(format!("the downloaded weights: {}", cache_dir.display()));
        }
        kept.push(format!(
            "to delete them too: aigw-installer uninstall --purge --spec {}",
            path.display()
        ));
    }
    Ok(Uninstalled { removed, kept })
}
