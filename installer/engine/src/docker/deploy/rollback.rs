//! The journal of what a run changed, and undoing it.

use super::execute::Run;
use super::{engine_err, DeployError};
use crate::docker::container_engine::{ContainerEngine, EngineError};
use crate::docker::labels;

/// Whether a container is there for the rollback to undo, or someone else got to it first (an
/// uninstall during the apply).
enum Found {
    Here,
    Gone,
    BeingRemoved,
}

/// What to undo, newest last.
#[derive(Debug)]
pub(super) enum Undo {
    /// By id: Docker allows two networks with one name (a run killed mid-create, then run again), and
    /// then refuses the name as ambiguous.
    RemoveNetwork { name: String, id: String },
    /// A container this run created and started.
    RemoveContainer(String),
    /// `<name>` replaced the container now named `<name>-prev`.
    RestorePrevious { name: String, was_running: bool },
    /// A container this run started.
    StopContainer(String),
    /// A running container this run stopped.
    StartAgain(String),
    /// A container this run renamed from `was` to `now`.
    RenameBack { now: String, was: String },
}

impl<E: ContainerEngine> Run<'_, E> {
    /// Undoes the journal, newest first; says what it did.
    pub(super) async fn rollback(&mut self) -> String {
        let mut done = Vec::new();
        while let Some(u) = self.journal.pop() {
            let (what, r) = match &u {
                Undo::RemoveContainer(name) => self.undo_create(name).await,
                Undo::StopContainer(name) => match self.found(name).await {
                    Found::Here => (format!("stopped {name}"), self.stop(name).await),
                    gone => (gone_text(name, &gone), Ok(())),
                },
                Undo::StartAgain(name) => match self.found(name).await {
                    Found::Here => (format!("started {name} again"), self.start(name).await),
                    gone => (gone_text(name, &gone), Ok(())),
                },
                Undo::RenameBack { now, was } => (
                    format!("renamed {now} back to {was}"),
                    self.rename(now, was).await,
                ),
                Undo::RestorePrevious { name, was_running } => {
                    self.restore_previous(name, *was_running).await
                }
                Undo::RemoveNetwork { name, id } => match self.engine.remove_network(id).await {
                    Ok(()) => (format!("removed network {name}"), Ok(())),
                    Err(EngineError::NotFound(_)) => {
                        (format!("network {name} was already gone"), Ok(()))
                    }
                    Err(e) => (
                        format!("removed network {name}"),
                        Err(engine_err(format!("remove network {name}"))(e)),
                    ),
                },
            };
            done.push(match r {
                Ok(()) => what,
                Err(e) => format!("FAILED ({what}): {e}"),
            });
        }
        if done.is_empty() {
            "\nrollback: nothing had been changed".into()
        } else {
            format!("\nrollback: {}", done.join("; "))
        }
    }
}

impl<E: ContainerEngine> Run<'_, E> {
    async fn found(&self, name: &str) -> Found {
        match self.engine.inspect_container(name).await {
            Err(EngineError::NotFound(_)) => Found::Gone,
            Ok(i) if i.state.as_ref().is_some_and(|s| s.removing) => Found::BeingRemoved,
            _ => Found::Here,
        }
    }

    /// Removes a container this run created (only if it carries our label); one that is gone or being
    /// removed already is said so, never a failure: Docker answers 409 to a second removal.
    async fn undo_create(&self, name: &str) -> (String, Result<(), DeployError>) {
        let info = match self.engine.inspect_container(name).await {
            Err(EngineError::NotFound(_)) => return (gone_text(name, &Found::Gone), Ok(())),
            Err(e) => {
                return (
                    format!("removed {name}"),
                    Err(engine_err(format!("inspect container {name}"))(e)),
                )
            }
            Ok(info) => info,
        };
        if info.state.as_ref().is_some_and(|s| s.removing) {
            return (gone_text(name, &Found::BeingRemoved), Ok(()));
        }
        if info.labels.get(labels::APP).map(String::as_str) != Some(labels::APP_ID) {
            return (format!("left {name}: not the installer's"), Ok(()));
        }
        match self.engine.remove_container(name).await {
            Ok(()) => (format!("removed {name}"), Ok(())),
            Err(EngineError::NotFound(_)) => (gone_text(name, &Found::Gone), Ok(())),
            Err(e) if e.is_removal_in_progress() => (gone_text(name, &Found::BeingRemoved), Ok(())),
            Err(e) => (
                format!("removed {name}"),
                Err(engine_err(format!("remove container {name}"))(e)),
            ),
        }
    }
}

impl<E: ContainerEngine> Run<'_, E> {
    /// `name` replaced the container now named `<name>-prev`: the new one goes, the old one comes back
    /// (running again if it ran). When someone else removes them (an uninstall), there is nothing to put
    /// back, and that is said, not failed.
    async fn restore_previous(
        &self,
        name: &str,
        was_running: bool,
    ) -> (String, Result<(), DeployError>) {
        let prev = format!("{name}-prev");
        let (new, r) = self.undo_create(name).await;
        if r.is_err() {
            return (format!("restored the previous {name}"), r);
        }
        let mut restored = match self.found(&prev).await {
            Found::Here => self.rename(&prev, name).await,
            gone => return (format!("{new}; {}", gone_text(&prev, &gone)), Ok(())),
        };
        if restored.is_err() {
            let now = self.found(&prev).await;
            if !matches!(now, Found::Here) {
                return (format!("{new}; {}", gone_text(&prev, &now)), Ok(()));
            }
        }
        if restored.is_ok() && was_running {
            restored = self.start(name).await;
        }
        (format!("restored the previous {name}"), restored)
    }
}

fn gone_text(name: &str, f: &Found) -> String {
    match f {
        Found::BeingRemoved => format!("{name} was already being removed"),
        _ => format!("{name} was already gone"),
    }
}

pub(super) fn with_rollback(e: DeployError, text: String) -> DeployError {
    match e {
        DeployError::Unhealthy {
            component,
            waited_s,
            status,
            exit_code,
            cause,
            logs,
            ..
        } => DeployError::Unhealthy {
            component,
            waited_s,
            status,
            exit_code,
            cause,
            logs,
            rollback: text,
        },
        DeployError::Unstable {
            component,
            after_s,
            window_s,
            status,
            exit_code,
            cause,
            logs,
            ..
        } => DeployError::Unstable {
            component,
            after_s,
            window_s,
            status,
            exit_code,
            cause,
            logs,
            rollback: text,
        },
        DeployError::Removed {
            component, name, ..
        } => DeployError::Removed {
            component,
            name,
            rollback: text,
        },
        DeployError::SmokeTest { detail, .. } => DeployError::SmokeTest {
            detail,
            rollback: text,
        },
        DeployError::Cancelled { .. } => DeployError::Cancelled { rollback: text },
        other => other,
    }
}
