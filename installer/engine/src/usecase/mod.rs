//! The use cases both front ends call — detect, review, install, upgrade, status, logs, uninstall, images,
//! export, diagnose — each a function over the engine, taking an event sink and a cancellation token where it runs
//! long. The CLI and the wizard parse, render and ask; everything they do to the machine goes through here.

mod diagnose;
mod engines;
mod export;
mod fetch;
mod gateway_probe;
mod gitlab;
mod images;
mod manage;
mod provision;
mod review_weights;
mod server_side;
mod specs;
mod weights;

pub use crate::docker::deploy::DEFAULT_STABLE_FOR_S;
pub use crate::docker::manage::{ContainerStatus, Removed};
pub use diagnose::{
    default_diagnostics_path, diagnose, log_folder, DiagnoseOptions, Diagnosed, LOG_LINES,
};
pub use engines::{engines, remember_engine, remembered_engine, resolve, test_engine, KnownEngine};
pub use export::{export, Exported};
pub use fetch::{fetch_options, weights_fetch, weights_plan, FetchRequest};
pub use gateway_probe::{check_gitlab_from_gateway, GatewayPlace};
pub use gitlab::{
    check_gitlab, check_gitlab_from_network, forget_gitlab_token, gateway_health,
    gateway_health_for, gateway_tag_exists, gateway_tag_found, gitlab_version, keep_gitlab_token,
    kept_gitlab_token, TagPlaces,
};
pub use images::{load_images, save_images};
pub use manage::{logs, status, uninstall, Purge, Uninstalled};
pub use provision::{
    check_bundle, install, review, supported, upgrade, InstallOptions, Installed, Reviewed,
};
pub use review_weights::{review_weights, NotListed, ReviewFile, WeightsReview};
pub use specs::{installed_spec, installed_spec_path, load_spec, save_installed_spec};
pub use weights::{
    check_weights, check_weights_on, weights_export, weights_format, weights_import,
    weights_status, weights_verify, KitFormat, KitOptions, LocalWeights,
};

use aigw_core::preflight::Finding;
use aigw_core::problem::Explain;
use aigw_core::report::engine::Endpoint;
use std::path::PathBuf;

use crate::docker::engine::{Connection, EngineChoice};
use crate::hardware::{DetectOptions, SystemReport};

pub use crate::docker::events::Sink;
pub use tokio_util::sync::CancellationToken;

/// The engine a use case acts on, and where the installer keeps its own files (token, JWT keys, spec).
pub struct Session {
    pub conn: Connection,
    pub endpoint: Endpoint,
    pub data_dir: PathBuf,
    /// Changing use cases take the engine's lock ([`crate::lock`]); with this, a lock held by another
    /// host (or by no live process) is broken instead of refused. A live process of this host never is.
    pub break_lock: bool,
}

impl Session {
    /// The engine the front end chose ([`crate::docker::engine::choose`]), else the environment's as the
    /// docker CLI reads it (DOCKER_HOST, DOCKER_CONTEXT, the current context), else this machine's; or the
    /// system check's finding (message and fix).
    pub async fn connect() -> Result<Self, Error> {
        Self::connect_with(&crate::docker::engine::chosen()).await
    }

    /// The engine `choice` names (empty: as [`Session::connect`]).
    pub async fn connect_with(choice: &EngineChoice) -> Result<Self, Error> {
        let data_dir = data_dir()?;
        let (conn, endpoint) = crate::hardware::connect_docker_to(choice)
            .await
            .map_err(Error::Unreachable)?;
        if endpoint.is_plain_remote_tcp() {
            tracing::warn!(
                engine = %endpoint.display(),
                "plain TCP to another host: anyone who reaches that port is root on the server; \
                 prefer ssh:// or TLS with client certificates"
            );
        }
        Ok(Self {
            conn,
            endpoint,
            data_dir,
            break_lock: false,
        })
    }

    /// Host ports can be checked, files made and services probed from here only when the engine is this
    /// machine: a Unix socket or loopback TCP. ssh:// and other hosts' TCP are remote.
    pub fn is_local(&self) -> bool {
        self.endpoint.is_local()
    }

    /// Takes the engine's lock for `operation` (one changing operation per engine at a time).
    pub async fn lock(&self, operation: &str) -> Result<crate::lock::EngineLock, Error> {
        Ok(crate::lock::acquire(
            &self.conn.docker,
            &self.data_dir,
            &self.endpoint.display(),
            operation,
            self.break_lock,
        )
        .await?)
    }

    /// Runs `op` holding the engine's lock for `operation`, and releases it whatever `op` returns.
    pub(crate) async fn locked<T>(
        &self,
        operation: &str,
        op: impl std::future::Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let lock = self.lock(operation).await?;
        let r = op.await;
        lock.release().await;
        r
    }
}

/// Who holds the engine's lock now, if anyone: status shows it.
pub async fn lock_holder(t: &Session) -> Result<Option<crate::lock::Holder>, Error> {
    Ok(crate::lock::holder(&t.conn.docker).await?)
}

/// `~/.local/share/aigw-installer` (or under `XDG_DATA_HOME`).
pub fn data_dir() -> Result<PathBuf, Error> {
    crate::logging::data_dir().ok_or(Error::NoDataDir)
}

/// Detection with its verdicts: the probes' facts, judged by the core's preflight.
pub async fn detect(opts: &DetectOptions) -> SystemReport {
    let mut report = crate::hardware::detect(opts).await;
    report.gateway_hosts = report.network.gateway_host_candidates();
    report.findings = aigw_core::preflight::assess(&report);
    report
}

/// Everything a use case can fail with. Each variant keeps its source; [`Explain`] gives the one shape the front ends show (code, message, fix, field).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Spec(#[from] aigw_core::spec::SpecError),
    #[error(transparent)]
    Deploy(#[from] crate::docker::deploy::DeployError),
    #[error(transparent)]
    Export(#[from] aigw_core::export::archive::ExportError),
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    #[error(transparent)]
    Weights(#[from] crate::weights::WeightsError),
    #[error(transparent)]
    Fetch(#[from] crate::weights::fetch::FetchError),
    #[error(transparent)]
    ServerFiles(#[from] crate::docker::server_files::ServerFilesError),
    #[error(transparent)]
    ServerSpace(#[from] aigw_core::weights::space::ServerSpaceError),
    #[error("the spec's weights are a local folder, not a Hugging Face snapshot")]
    LocalWeights,
    #[error("the Docker engine cannot be reached: {}", .0.message)]
    Unreachable(Finding),
    #[error("this user has no data directory")]
    NoDataDir,
    #[error("nothing has been installed from here yet")]
    NotInstalled,
    #[error("{path} is not an image bundle: it and {manifest} must both exist")]
    NotABundle { path: String, manifest: String },
    #[error("no new tag was given")]
    NoNewTag,
    #[error("cannot read the token file {path}: {source}")]
    ReadToken {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} already exists")]
    Exists(String),
    #[error("cannot write {path}: {detail}")]
    Write { path: String, detail: String },
    #[error("cannot delete {path}: {source}")]
    Purge {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl Explain for Error {
    fn code(&self) -> &'static str {
        match self {
            Self::Spec(e) => e.code(),
            Self::Deploy(e) => e.code(),
            Self::Export(e) => e.code(),
            Self::Lock(e) => e.code(),
            Self::Weights(e) => e.code(),
            Self::Fetch(e) => e.code(),
            Self::ServerFiles(e) => e.code(),
            Self::ServerSpace(e) => e.code(),
            Self::LocalWeights => "invalid_input",
            Self::Unreachable(_) => "docker_unreachable",
            Self::NoDataDir => "no_data_dir",
            Self::NotInstalled => "not_installed",
            Self::NotABundle { .. } | Self::NoNewTag => "invalid_input",
            Self::ReadToken { .. } | Self::Purge { .. } | Self::Write { .. } => "io",
            Self::Exists(_) => "exists",
        }
    }

    fn fix(&self) -> Option<String> {
        Some(match self {
            Self::Spec(e) => return e.fix(),
            Self::Deploy(e) => return e.fix(),
            Self::Export(e) => return e.fix(),
            Self::Lock(e) => return e.fix(),
            Self::Weights(e) => return e.fix(),
            Self::Fetch(e) => return e.fix(),
            Self::ServerFiles(e) => return e.fix(),
            Self::ServerSpace(e) => return e.fix(),
            Self::LocalWeights => {
                "the weights commands act on source = \"hugging_face\"; a local folder is checked by review".into()
            }
            Self::Unreachable(f) => return f.fix.clone(),
            Self::NoDataDir => "set HOME (or XDG_DATA_HOME) and start again".into(),
            Self::NotInstalled => "install first (review, then install)".into(),
            Self::NotABundle { .. } => {
                "choose the .tar written by `images save` (its .manifest.json beside it)".into()
            }
            Self::NoNewTag => {
                "give the gateway tag matching your upgraded GitLab (e.g. self-hosted-v18.3.0-ee), or a model server tag".into()
            }
            Self::ReadToken { .. } => "check the token file's path and that it is readable".into(),
            Self::Purge { .. } => "delete it by hand, or fix its permissions".into(),
            Self::Exists(_) => "choose another file name, or allow replacing it".into(),
            Self::Write { .. } => "choose a folder you can write to".into(),
        })
    }

    fn field(&self) -> Option<String> {
        match self {
            Self::Spec(e) => e.field(),
            Self::Deploy(e) => e.field(),
            Self::Export(e) => e.field(),
            Self::Lock(e) => e.field(),
            Self::Weights(e) => e.field(),
            Self::Fetch(e) => e.field(),
            Self::ServerFiles(e) => e.field(),
            Self::ServerSpace(e) => e.field(),
            Self::NotABundle { .. } => Some("image_bundle".into()),
            Self::NoNewTag => Some("upgrade.gateway_tag".into()),
            _ => None,
        }
    }
}
