//! Install and upgrade: the engine's `apply`/`upgrade` with its event stream forwarded to the page
//! through a `tauri::ipc::Channel`, and Cancel wired to the same cancellation token Ctrl-C uses in the
//! CLI (the engine then rolls back what the run changed). One operation at a time.

use aigw_core::spec::{DeploymentSpec, Weights};
use aigw_engine::docker::deploy::{self, ApplyOptions, ApplyReport, DeployError};
use aigw_engine::docker::events::{Event, Sink};
use aigw_engine::docker::images;
use aigw_engine::spec_file::SpecFile;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use tauri::ipc::Channel;
use tauri::State;
use tokio_util::sync::CancellationToken;

use crate::commands::{build_spec, ConfigForm, RecommendArgs};
use crate::error::UiError;
use crate::store;

/// The running operation's cancel token.
#[derive(Default)]
pub struct Jobs(Mutex<Option<CancellationToken>>);

/// Holds the job slot; frees it when the operation ends however it ends.
struct JobGuard<'a>(&'a Jobs);

impl Jobs {
    fn start(&self) -> Result<(JobGuard<'_>, CancellationToken), UiError> {
        let mut slot = self.0.lock().map_err(|_| busy())?;
        if slot.is_some() {
            return Err(busy());
        }
        let token = CancellationToken::new();
        *slot = Some(token.clone());
        Ok((JobGuard(self), token))
    }
}

impl Drop for JobGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut slot) = self.0 .0.lock() {
            *slot = None;
        }
    }
}

fn busy() -> UiError {
    UiError::new(
        "busy",
        "an install or upgrade is already running",
        Some("wait for it to finish, or cancel it"),
    )
}

#[derive(Debug, Serialize)]
pub struct Done {
    pub changed: bool,
    pub elapsed_s: f64,
    pub gateway_url: String,
    /// The spec now describing the installation (for Manage and the CLI's `--spec`).
    pub spec_path: String,
}

/// What the page receives on an operation's channel: the engine's events, then one `{"end": true}` as
/// the very last message, on success and failure alike. The command's answer and the channel's messages
/// travel separately, so the page waits for this marker before it declares the operation finished.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Message {
    Event(Event),
    End { end: bool },
}

/// Runs `op`, then closes the page's stream with [`Message::End`].
async fn ended<T>(
    channel: Channel<Message>,
    op: impl std::future::Future<Output = Result<T, UiError>>,
) -> Result<T, UiError> {
    let result = op.await;
    let _ = channel.send(Message::End { end: true });
    result
}

/// Forwards engine events to the page until the sink's sender is dropped.
fn forward(channel: Channel<Message>) -> (Sink, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            // A closed page must not stop the operation.
            let _ = channel.send(Message::Event(e));
        }
    });
    (Some(tx), task)
}

/// What install and upgrade share: the token file, the JWT keys, the engine, the options.
async fn prepare(
    s: &DeploymentSpec,
    hf_token: Option<&str>,
    cancel: CancellationToken,
) -> Result<(bollard::Docker, Option<String>, ApplyOptions), UiError> {
    let data_dir = store::data_dir()?;
    let token = aigw_engine::secrets::resolve_token_file(s, hf_token, &data_dir)?;
    let (conn, endpoint) = store::connect().await?;
    let opts = ApplyOptions {
        local_engine: endpoint.is_local(),
        gateway_secret_env: aigw_engine::secrets::resolve_jwt_keys(s, &data_dir, true)?,
        cancel,
        ..Default::default()
    };
    Ok((conn.docker, token.map(|p| p.display().to_string()), opts))
}

/// Saves the spec of what now runs, naming the token file so later upgrades (and the CLI) find it.
fn save(mut s: DeploymentSpec, token: Option<&str>) -> Result<String, UiError> {
    if let (Weights::HuggingFace { token_file, .. }, Some(t)) = (&mut s.model.weights, token) {
        *token_file = Some(t.into());
    }
    let path = store::installed_spec_path()?;
    s.save(&path, true)?;
    Ok(path.display().to_string())
}

fn done(s: &DeploymentSpec, report: &ApplyReport, spec_path: String) -> Done {
    Done {
        changed: report.changed,
        elapsed_s: report.elapsed.as_secs_f64(),
        gateway_url: format!("http://{}:{}", s.gateway.host, s.gateway.port),
        spec_path,
    }
}

/// Loads the offline bundle (if any), then applies the wizard's spec: pull what is missing, create,
/// wait for health, smoke-test; on failure or Cancel, everything this run changed is put back.
#[tauri::command]
pub async fn install(
    rec: RecommendArgs,
    form: ConfigForm,
    on_event: Channel<Message>,
    jobs: State<'_, Jobs>,
) -> Result<Done, UiError> {
    ended(
        on_event.clone(),
        install_then_save(rec, form, on_event, jobs),
    )
    .await
}

async fn install_then_save(
    rec: RecommendArgs,
    form: ConfigForm,
    on_event: Channel<Message>,
    jobs: State<'_, Jobs>,
) -> Result<Done, UiError> {
    let bundle = form.image_bundle()?;
    let s = build_spec(rec, &form).await?;
    let (_job, cancel) = jobs.start()?;
    let token = Some(form.hf_token.0.as_str()).filter(|t| !t.trim().is_empty());
    let (docker, token_file, opts) = prepare(&s, token, cancel.clone()).await?;
    let (sink, forwarder) = forward(on_event);
    let result: Result<ApplyReport, DeployError> = async {
        if let Some(bundle) = &bundle {
            images::load(&docker, bundle, &sink, &cancel).await?;
        }
        deploy::apply(&docker, &s, token_file.as_deref(), &opts, &sink).await
    }
    .await;
    drop(sink);
    let _ = forwarder.await;
    let report = result?;
    let path = save(s.clone(), token_file.as_deref())?;
    tracing::info!(spec = %path, changed = report.changed, "installed from the wizard");
    Ok(done(&s, &report, path))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UpgradeArgs {
    pub gateway_tag: String,
    pub model_tag: String,
}

/// New tags for the installed spec, through the same apply: pull first, keep the old container until
/// the new one is healthy, put it back if not. The saved spec names the new tags only on success.
#[tauri::command]
pub async fn upgrade(
    args: UpgradeArgs,
    on_event: Channel<Message>,
    jobs: State<'_, Jobs>,
) -> Result<Done, UiError> {
    ended(on_event.clone(), upgrade_then_save(args, on_event, jobs)).await
}

async fn upgrade_then_save(
    args: UpgradeArgs,
    on_event: Channel<Message>,
    jobs: State<'_, Jobs>,
) -> Result<Done, UiError> {
    let (_, s) = store::require_installed_spec()?;
    let gateway_tag = Some(args.gateway_tag.trim()).filter(|t| !t.is_empty());
    let model_tag = Some(args.model_tag.trim()).filter(|t| !t.is_empty());
    if gateway_tag.is_none() && model_tag.is_none() {
        return Err(UiError::field(
            "upgrade.gateway_tag",
            "no new tag was given",
            "type the gateway tag matching your upgraded GitLab (e.g. self-hosted-v18.3.0-ee), or a model server tag",
        ));
    }
    let (_job, cancel) = jobs.start()?;
    let (docker, token_file, opts) = prepare(&s, None, cancel).await?;
    let (sink, forwarder) = forward(on_event);
    let result = deploy::upgrade(
        &docker,
        &s,
        gateway_tag,
        model_tag,
        token_file.as_deref(),
        &opts,
        &sink,
    )
    .await;
    drop(sink);
    let _ = forwarder.await;
    let (next, report) = result?;
    let path = save(next.clone(), token_file.as_deref())?;
    Ok(done(&next, &report, path))
}

impl Jobs {
    pub fn is_running(&self) -> bool {
        self.0.lock().map(|slot| slot.is_some()).unwrap_or(false)
    }

    /// Cancels the running operation, if any; `false` when none runs.
    pub fn cancel_running(&self) -> bool {
        match self.0.lock() {
            Ok(slot) => slot.as_ref().map(CancellationToken::cancel).is_some(),
            Err(_) => false,
        }
    }
}

/// Cancels the running install or upgrade; the engine rolls back what it changed. `false` when none runs.
#[tauri::command]
pub fn cancel(jobs: State<'_, Jobs>) -> bool {
    jobs.cancel_running()
}
