//! Manage: what the installer runs on the engine (found by label, like `aigw-installer status`), its
//! logs, and uninstall. Upgrade lives with install (it is an apply).

use aigw_core::plan::Component;
use aigw_core::problem::Explain;
use aigw_engine::usecase;
use aigw_engine::usecase::{ContainerStatus, Removed};
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
    let (containers, engine_problem) = match crate::engines::connect().await {
        Ok(t) => (usecase::status(&t).await?, None),
        Err(e) => (Vec::new(), Some(e.problem().one_line())),
    };
    Ok(Status {
        containers,
        spec_path: spec.as_ref().map(|(p, _)| p.display().to_string()),
        gateway_tag: spec.as_ref().and_then(|(_, s)| s.gateway_tag().ok()),
        model_tag: spec.as_ref().map(|(_, s)| s.model.tag.clone()),
        engine_problem,
        engine: crate::engines::endpoint(),
    })
}

/// The last `tail` lines of a component's log (at most 5000).
#[tauri::command]
pub async fn logs(component: Component, tail: Option<u32>) -> Result<Vec<String>, UiError> {
    let t = crate::engines::connect().await?;
    let (_, stream) = usecase::logs(&t, component, tail.unwrap_or(200).min(5000), false).await?;
    let chunks: Vec<String> = stream.filter_map(|r| async move { r.ok() }).collect().await;
    Ok(chunks
        .iter()
        .flat_map(|chunk| chunk.lines())
        .map(str::to_string)
        .collect())
}

#[derive(Debug, Serialize)]
pub struct Uninstalled {
    pub removed: Removed,
    pub kept: Vec<String>,
}

/// Removes what carries our labels; says what stays (the spec, logs, weights) and how to delete it too.
#[tauri::command]
pub async fn uninstall() -> Result<Uninstalled, UiError> {
    let t = crate::engines::connect().await?;
    let done = usecase::uninstall(&t, None).await?;
    let mut kept = done.kept;
    if let Ok(path) = usecase::installed_spec_path() {
        if path.exists() {
            kept.push(format!(
                "to delete them too: aigw-installer uninstall --purge --spec {}",
                path.display()
            ));
        }
    }
    Ok(Uninstalled {
        removed: done.removed,
        kept,
    })
}
