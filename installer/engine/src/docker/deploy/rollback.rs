//! The journal of what a run changed, and undoing it.

use super::execute::Run;
use super::{engine_err, DeployError};
use crate::docker::container_engine::ContainerEngine;

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
                Undo::RemoveContainer(name) => match self.remove_if_ours(name).await {
                    Ok(false) => (format!("{name} was already gone"), Ok(())),
                    r => (format!("removed {name}"), r.map(|_| ())),
                },
                Undo::StopContainer(name) => (format!("stopped {name}"), self.stop(name).await),
                Undo::StartAgain(name) => (format!("started {name} again"), self.start(name).await),
                Undo::RenameBack { now, was } => (
                    format!("renamed {now} back to {was}"),
                    self.rename(now, was).await,
                ),
                Undo::RestorePrevious { name, was_running } => {
                    let mut r = self.remove_if_ours(name).await.map(|_| ());
                    if r.is_ok() {
                        r = self.rename(&format!("{name}-prev"), name).await;
                    }
                    if r.is_ok() && *was_running {
                        r = self.start(name).await;
                    }
                    (format!("restored the previous {name}"), r)
                }
                Undo::RemoveNetwork { name, id } => (
                    format!("removed network {name}"),
                    self.engine
                        .remove_network(id)
                        .await
                        .map_err(engine_err(format!("remove network {name}"))),
                ),
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
