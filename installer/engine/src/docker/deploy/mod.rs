//! Carrying a plan out against the engine: observe, pull, create/recreate/start, wait for health, smoke
//! test, clean up — with a journal so a failure (or Ctrl-C) can put everything back as it was.
//!
//! Recreate order (Compose's, so GPU memory is never held twice): create the new container under
//! `<name>-next`, stop the old one and rename it `<name>-prev`, rename the new one into place, start it,
//! wait until healthy, and only then remove `<name>-prev`. Rollback reverses that journal.
//!
//! Everything runs over a [`ContainerEngine`]; what to run is decided first, whole, by [`target`].

mod execute;
#[cfg(test)]
mod fake;
mod observe;
mod probe;
mod rollback;
mod target;
#[cfg(test)]
mod tests;

use bollard::Docker;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use super::container_engine::{ContainerEngine, EngineError};
use super::events::{emit, Event, Sink};
use aigw_core::plan::{self, Component, Desired, Observed, ObservedContainer, Plan};
use aigw_core::problem::Explain;
use aigw_core::secret::Secret;
use aigw_core::spec::DeploymentSpec;
use execute::Run;
use rollback::with_rollback;
pub use target::{target, Target};

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Spec(#[from] aigw_core::spec::SpecError),
    #[error("nothing was changed:\n  - {}", .0.join("\n  - "))]
    Blocked(Vec<String>),
    #[error("the Docker engine refused to {what}: {detail}")]
    Engine { what: String, detail: String },
    #[error("{image} is not on the engine and could not be pulled: {detail}")]
    Pull { image: String, detail: String },
    #[error("the {component} did not become healthy: {status} (after {waited_s} s){cause}\nlast log lines:\n{logs}{rollback}")]
    Unhealthy {
        component: Component,
        waited_s: u64,
        status: String,
        /// The container's exit code, when it exited (the wait ends then, not at the time-out). The
        /// process's exit status: 0–255 on Linux.
        exit_code: Option<i32>,
        cause: String,
        logs: String,
        rollback: String,
    },
    #[error("the {component} container was removed during the install ({name}){rollback}")]
    Removed {
        component: Component,
        name: String,
        rollback: String,
    },
    #[error("the smoke test failed: {detail}{rollback}")]
    SmokeTest { detail: String, rollback: String },
    #[error("cancelled{rollback}")]
    Cancelled { rollback: String },
}

impl Explain for DeployError {
    fn code(&self) -> &'static str {
        match self {
            Self::Spec(e) => e.code(),
            Self::Blocked(_) => "blocked",
            Self::Engine { .. } => "engine",
            Self::Pull { .. } => "pull_failed",
            Self::Unhealthy { .. } => "unhealthy",
            Self::Removed { .. } => "container_removed",
            Self::SmokeTest { .. } => "smoke_test_failed",
            Self::Cancelled { .. } => "cancelled",
        }
    }

    fn fix(&self) -> Option<String> {
        Some(
            match self {
                Self::Spec(e) => return e.fix(),
                Self::Blocked(_) => "free what is named above (or choose other ports), then apply again",
                Self::Engine { .. } => {
                    "check that the Docker engine is running and reachable, then try again"
                }
                Self::Pull { .. } => {
                    "without registry access, load the images from an offline image bundle first"
                }
                Self::Unhealthy { .. } => {
                    "read the log lines above for the cause; everything this run changed was put back"
                }
                Self::Removed { .. } => {
                    "something else removed it while the installer waited for it (another tool, or \
                     someone at the engine): make sure nothing else manages these containers, then \
                     install again"
                }
                Self::SmokeTest { .. } => {
                    "the servers are up but a completion failed: read the detail above"
                }
                Self::Cancelled { .. } => "nothing is left half-made; run it again when ready",
            }
            .into(),
        )
    }

    fn field(&self) -> Option<String> {
        match self {
            Self::Spec(e) => e.field(),
            _ => None,
        }
    }
}

fn engine_err(what: impl Into<String>) -> impl FnOnce(EngineError) -> DeployError {
    let what = what.into();
    move |e| DeployError::Engine {
        what,
        detail: e.to_string(),
    }
}

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub rollback_on_failure: bool,
    pub cancel: CancellationToken,
    /// Whether host ports can be checked and services probed from here (the engine is on this machine).
    pub local_engine: bool,
    pub smoke_test: bool,
    /// Secrets for the gateway's environment (see [`target`]); [`apply`] and [`upgrade`] put them into
    /// the [`Target`].
    pub gateway_secret_env: BTreeMap<String, Secret>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            rollback_on_failure: true,
            cancel: CancellationToken::new(),
            local_engine: true,
            smoke_test: true,
            gateway_secret_env: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApplyReport {
    pub plan: Plan,
    pub changed: bool,
    pub elapsed: Duration,
}

/// Reads what exists of the desired objects.
pub async fn observe(
    docker: &Docker,
    desired: &Desired,
    local_engine: bool,
) -> Result<Observed, DeployError> {
    observe::observe(docker, desired, local_engine).await
}

/// Our containers, found by label.
pub async fn list_ours(docker: &Docker) -> Result<Vec<ObservedContainer>, DeployError> {
    observe::list_ours(docker).await
}

/// Plans without changing anything (see [`target`] for `token_file` and `gateway_secret_env`).
pub async fn plan(
    docker: &Docker,
    spec: &DeploymentSpec,
    token_file: Option<&str>,
    gateway_secret_env: &BTreeMap<String, Secret>,
    local_engine: bool,
) -> Result<(Desired, Plan), DeployError> {
    let t = target(spec, token_file, gateway_secret_env)?;
    let p = plan_desired(docker, &t.desired, local_engine).await?;
    Ok((t.desired, p))
}

/// Desired versus what exists on `engine`.
pub async fn plan_desired<E: ContainerEngine>(
    engine: &E,
    desired: &Desired,
    local_engine: bool,
) -> Result<Plan, DeployError> {
    let observed = observe::observe(engine, desired, local_engine).await?;
    Ok(plan::diff(desired, &observed))
}

pub async fn apply(
    docker: &Docker,
    spec: &DeploymentSpec,
    token_file: Option<&str>,
    opts: &ApplyOptions,
    sink: &Sink,
) -> Result<ApplyReport, DeployError> {
    let t = target(spec, token_file, &opts.gateway_secret_env)?;
    apply_target(docker, &t, opts, sink).await
}

/// Plans `t` against `engine` and carries the plan out; on failure (or cancellation) undoes what it did,
/// newest first, unless `opts` says not to. `opts.gateway_secret_env` is not read: `t` is complete.
pub async fn apply_target<E: ContainerEngine>(
    engine: &E,
    t: &Target,
    opts: &ApplyOptions,
    sink: &Sink,
) -> Result<ApplyReport, DeployError> {
    let started = Instant::now();
    let the_plan = plan_desired(engine, &t.desired, opts.local_engine).await?;
    emit(
        sink,
        Event::Plan {
            steps: the_plan.steps.clone(),
        },
    );
    if !the_plan.blockers.is_empty() {
        return Err(DeployError::Blocked(the_plan.blockers));
    }
    let mut run = Run {
        engine,
        sink,
        opts,
        journal: Vec::new(),
    };
    if the_plan.is_noop() {
        // Up to date is not yet serving: a rollback or an interrupted run may have (re)started a kept
        // server that still loads. "Nothing to do" asks each once, and waits for one that does not answer.
        for c in &t.desired.containers {
            if run.answers(c, &t.desired.served_model_name).await {
                continue;
            }
            if let Err(e) = run.wait_healthy(c, &t.desired.served_model_name).await {
                let rollback = run.rollback().await;
                return Err(with_rollback(e, rollback));
            }
        }
        return Ok(ApplyReport {
            plan: the_plan,
            changed: false,
            elapsed: started.elapsed(),
        });
    }
    match run.execute(t, &the_plan).await {
        Ok(()) => Ok(ApplyReport {
            plan: the_plan,
            changed: true,
            elapsed: started.elapsed(),
        }),
        Err(e) => {
            let rollback = if opts.rollback_on_failure {
                run.rollback().await
            } else {
                "\nrollback: skipped (--rollback-on-failure=false); the objects made so far are left as they are".into()
            };
            Err(with_rollback(e, rollback))
        }
    }
}

/// The documented stop/rm/pull/run, done safely: the new tags go through `apply`, which pulls before it
/// touches a container, keeps the old container (renamed) until the new one is healthy, and puts the old
/// one back — same container, same environment — if it is not. Returns the spec with the new tags, for
/// the caller to save once the upgrade succeeded.
pub async fn upgrade(
    docker: &Docker,
    spec: &DeploymentSpec,
    gateway_tag: Option<&str>,
    model_tag: Option<&str>,
    token_file: Option<&str>,
    opts: &ApplyOptions,
    sink: &Sink,
) -> Result<(DeploymentSpec, ApplyReport), DeployError> {
    let mut next = spec.clone();
    if let Some(t) = gateway_tag {
        next.gateway.tag = Some(t.to_string());
    }
    if let Some(t) = model_tag {
        next.model.tag = t.to_string();
    }
    let report = apply(docker, &next, token_file, opts, sink).await?;
    Ok((next, report))
}

/// `repo[:tag]` (a registry port is not a tag).
pub fn split_ref(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (image, "latest"),
    }
}
