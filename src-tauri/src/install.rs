//! Install and upgrade: the engine's `apply`/`upgrade` with its event stream forwarded to the page
//! through a `tauri::ipc::Channel`, and Cancel wired to the same cancellation token Ctrl-C uses in the
//! CLI (the engine then rolls back what the run changed). One operation at a time.

use aigw_engine::docker::events::{Event, Sink};
use aigw_engine::usecase::{self, InstallOptions, Installed};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
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
        Some("wait for it to finish, or cancel it".into()),
    )
}

#[derive(Debug, Serialize)]
pub struct Done {
    pub changed: bool,
    pub elapsed_s: f64,
    pub gateway_url: String,
    /// The spec now describing the installation (for Manage and the CLI's `--spec`).
    pub spec_path: String,
    /// The gateway's health at the address GitLab will use, asked after the apply.
    pub gitlab_reach: Vec<aigw_core::gitlab::live::StepResult>,
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

fn done(i: &Installed, spec_path: PathBuf) -> Done {
    Done {
        changed: i.report.changed,
        elapsed_s: i.report.elapsed.as_secs_f64(),
        gateway_url: format!("http://{}:{}", i.spec.gateway.host, i.spec.gateway.port),
        spec_path: spec_path.display().to_string(),
        gitlab_reach: i.gitlab_reach.clone(),
    }
}

/// Waits until every event reached the page, then saves the spec that now runs.
async fn saved(
    forwarder: tokio::task::JoinHandle<()>,
    result: Result<Installed, usecase::Error>,
) -> Result<Done, UiError> {
    let _ = forwarder.await;
    let installed = result?;
    let path = usecase::save_installed_spec(&installed.spec)?;
    tracing::info!(spec = %path.display(), changed = installed.report.changed, "saved the installed spec");
    Ok(done(&installed, path))
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
    let target = crate::engines::connect().await?;
    let token = Some(form.hf_token.expose()).filter(|t| !t.trim().is_empty());
    let opts = InstallOptions {
        hf_token: token,
        image_bundle: bundle.as_deref(),
        fetch: Some(fetch_request()),
        ..Default::default()
    };
    let (sink, forwarder) = forward(on_event);
    let result = usecase::install(&target, &s, &opts, &sink, cancel).await;
    drop(sink);
    saved(forwarder, result).await
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
    let (_job, cancel) = jobs.start()?;
    let target = crate::engines::connect().await?;
    let (sink, forwarder) = forward(on_event);
    let stable_for = std::time::Duration::from_secs(usecase::DEFAULT_STABLE_FOR_S);
    let result = usecase::upgrade(
        &target,
        &s,
        gateway_tag,
        model_tag,
        stable_for,
        &sink,
        cancel,
    )
    .await;
    drop(sink);
    saved(forwarder, result).await
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

/// The weights phase's network options, read from the app's environment once (proxies, a CA file,
/// `HF_ENDPOINT`); the token is the form's. Review asks the Hub for the file list with the same.
pub(crate) fn fetch_request() -> aigw_engine::usecase::FetchRequest {
    let env = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
    aigw_engine::usecase::FetchRequest {
        http: aigw_engine::net::HttpOptions::from_env(),
        env_endpoint: env("HF_ENDPOINT"),
        ..Default::default()
    }
}
