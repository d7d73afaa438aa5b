//! The seam between deploying and the engine that runs the containers: only the operations `deploy`
//! uses, in the engine's own terms. [`bollard::Docker`] implements it (`bollard_engine.rs`); a remote
//! engine or Podman plugs in here, and the deploy tests run over an in-memory one.

use futures_util::stream::BoxStream;
use std::collections::BTreeMap;
use std::future::Future;

use aigw_core::plan::DesiredContainer;

/// What the engine said when it refused. The message is the engine's own, shown as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// No such container, image or network.
    #[error("{0}")]
    NotFound(String),
    /// Nothing to do (stopping a stopped container).
    #[error("{0}")]
    NotModified(String),
    /// Two networks answer to the name (Docker allows that, then refuses the name).
    #[error("{0}")]
    Ambiguous(String),
    #[error("{0}")]
    Other(String),
}

impl EngineError {
    /// Docker's 409 for a container someone else is removing ("removal of container … is already in
    /// progress"): it will be gone in a moment.
    pub fn is_removal_in_progress(&self) -> bool {
        matches!(self, Self::Other(m) if m.contains("already in progress"))
    }
}

/// A container as the engine lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListedContainer {
    pub id: String,
    /// Without Docker's leading `/`.
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub running: bool,
    pub image_id: String,
    /// Host ports it publishes (while running).
    pub published_ports: Vec<u16>,
    /// The networks it is attached to, by name.
    pub networks: Vec<String>,
}

/// A container as the engine inspects it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerInfo {
    pub labels: BTreeMap<String, String>,
    pub state: Option<ContainerState>,
    /// How often the restart policy brought it back.
    pub restart_count: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerState {
    pub running: bool,
    pub restarting: bool,
    pub oom_killed: bool,
    pub exit_code: Option<i64>,
    /// The engine is removing it (`docker rm -f` while it ran).
    pub removing: bool,
    /// The engine's health-check verdict (`healthy`, `unhealthy`, `starting`), when it has one.
    pub health: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkInfo {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageInfo {
    pub id: Option<String>,
}

/// One message of a pull: a layer's progress, or the registry's refusal in `error`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullProgress {
    pub layer: String,
    pub status: String,
    pub current: u64,
    pub total: u64,
    pub error: Option<String>,
}

/// The futures are `Send` so that an apply can run on a spawned task (the wizard does).
pub trait ContainerEngine: Sync {
    fn inspect_network(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<NetworkInfo, EngineError>> + Send;

    /// The networks carrying `label` (`key=value`); with `name`, only those named exactly that.
    fn list_networks(
        &self,
        label: &str,
        name: Option<&str>,
    ) -> impl Future<Output = Result<Vec<NetworkInfo>, EngineError>> + Send;

    /// Creates a bridge network; returns its id.
    fn create_network(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<String, EngineError>> + Send;

    /// By id or name.
    fn remove_network(&self, id: &str) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// All containers (running or not) carrying `label` (`key=value`).
    fn list_containers(
        &self,
        label: &str,
    ) -> impl Future<Output = Result<Vec<ListedContainer>, EngineError>> + Send;

    fn inspect_container(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<ContainerInfo, EngineError>> + Send;

    /// Creates (never starts) `c` under `name`, with `c`'s labels.
    fn create_container(
        &self,
        name: &str,
        c: &DesiredContainer,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;

    fn start_container(&self, name: &str) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// Stops, killing after `timeout_s`; [`EngineError::NotModified`] when it was not running.
    fn stop_container(
        &self,
        name: &str,
        timeout_s: i32,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;

    fn rename_container(
        &self,
        from: &str,
        to: &str,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// Forcibly (a running container too); by id or name.
    fn remove_container(&self, name: &str) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// The last `tail` lines, then new ones as they come, until the container stops.
    fn follow_logs(&self, name: &str, tail: u32)
        -> BoxStream<'static, Result<String, EngineError>>;

    /// The last `tail` lines it wrote (stdout and stderr), as the engine holds them now; read once the
    /// container has exited, they are complete, unlike a followed stream that may lag behind the exit.
    fn container_logs(
        &self,
        name: &str,
        tail: u32,
    ) -> impl Future<Output = Result<Vec<String>, EngineError>> + Send;

    /// Resolves when the container next exits, with its exit code; a restart policy that brings it back
    /// does not hide the exit. [`EngineError::NotFound`] when there is no such container.
    fn wait_exit(&self, name: &str) -> impl Future<Output = Result<i64, EngineError>> + Send;

    fn inspect_image(
        &self,
        image: &str,
    ) -> impl Future<Output = Result<ImageInfo, EngineError>> + Send;

    /// Pulls `image` (`repo[:tag]`), for `platform` when given.
    fn pull_image(
        &self,
        image: &str,
        platform: Option<&str>,
    ) -> BoxStream<'static, Result<PullProgress, EngineError>>;

    /// The uid/gid `image` runs as; `None` for root. Docker reads a user name from the image's own
    /// `/etc/passwd`.
    fn image_user(
        &self,
        image: &str,
    ) -> impl Future<Output = Result<Option<(u32, u32)>, String>> + Send;
}
