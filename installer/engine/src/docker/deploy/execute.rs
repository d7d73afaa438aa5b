//! Carrying out a plan's steps, each change journalled as it is made.

use futures_util::StreamExt;
use std::collections::BTreeMap;

use super::rollback::Undo;
use super::target::Target;
use super::{engine_err, ApplyOptions, DeployError};
use crate::docker::container_engine::{ContainerEngine, EngineError};
use crate::docker::events::{emit, Event, PhaseState, Sink};
use crate::docker::labels;
use crate::fsutil::{ensure_own_dir, writable_by};
use aigw_core::plan::{Component, Desired, DesiredContainer, Plan, Step, HF_CACHE_MOUNT};
use std::path::Path;

/// One apply's run over `engine`: what it changed so far is in `journal`, newest last.
pub(super) struct Run<'a, E> {
    pub(super) engine: &'a E,
    pub(super) sink: &'a Sink,
    pub(super) opts: &'a ApplyOptions,
    pub(super) journal: Vec<Undo>,
}

impl<E: ContainerEngine> Run<'_, E> {
    /// An apply killed while creating the network may have had its request still in flight when this
    /// run observed none: Docker then holds two networks of that name and refuses the name as ambiguous.
    /// The twin has no containers (that run got no further), so it is removed, by id.
    pub(super) async fn remove_twin_networks(
        &self,
        name: &str,
        keep: &str,
    ) -> Result<(), DeployError> {
        let networks = self
            .engine
            .list_networks(&labels::ours(), Some(name))
            .await
            .map_err(engine_err("list networks"))?;
        for twin in networks.into_iter().map(|n| n.id).filter(|id| id != keep) {
            self.engine
                .remove_network(&twin)
                .await
                .map_err(engine_err(format!("remove the duplicate network {name}")))?;
        }
        Ok(())
    }

    pub(super) fn phase(&self, phase: &str, state: PhaseState) {
        emit(
            self.sink,
            Event::Phase {
                phase: phase.into(),
                state,
            },
        );
    }

    pub(super) fn check_cancel(&self) -> Result<(), DeployError> {
        if self.opts.cancel.is_cancelled() {
            return Err(DeployError::Cancelled {
                rollback: String::new(),
            });
        }
        Ok(())
    }

    pub(super) async fn execute(&mut self, t: &Target, p: &Plan) -> Result<(), DeployError> {
        let desired = &t.desired;
        // Pull first: a missing image must fail the run before anything is created.
        for step in &p.steps {
            self.check_cancel()?;
            if let Step::PullImage { image } = step {
                self.pull(image, t.pull_platform.as_deref()).await?;
            }
        }
        for step in &p.steps {
            if let Step::CreateNetwork { name } = step {
                self.phase("network", PhaseState::Started);
                let ours = BTreeMap::from([(labels::APP.to_string(), labels::APP_ID.to_string())]);
                let id = self
                    .engine
                    .create_network(name, &ours)
                    .await
                    .map_err(engine_err(format!("create network {name}")))?;
                self.journal.push(Undo::RemoveNetwork {
                    name: name.clone(),
                    id: id.clone(),
                });
                self.remove_twin_networks(name, &id).await?;
                self.phase("network", PhaseState::Done);
            }
        }
        if self.opts.local_engine {
            self.prepare_log_dir(&t.log_dir, desired).await?;
        }
        for c in &desired.containers {
            self.check_cancel()?;
            let step = p.steps.iter().find(|s| match s {
                Step::Create { name, .. }
                | Step::Recreate { name, .. }
                | Step::Start { name, .. }
                | Step::Keep { name, .. } => name == &c.name,
                _ => false,
            });
            match step {
                Some(Step::Create { .. }) => {
                    self.phase(&format!("{} container", c.component), PhaseState::Started);
                    self.remove_if_ours(&c.name).await?;
                    self.create(c, &c.name).await?;
                    self.journal.push(Undo::RemoveContainer(c.name.clone()));
                    self.start(&c.name).await?;
                    self.wait_healthy(c, &desired.served_model_name).await?;
                    self.wait_stable(c, Some(0)).await?;
                    self.phase(&format!("{} container", c.component), PhaseState::Done);
                }
                Some(Step::Recreate { .. }) => {
                    self.phase(&format!("{} container", c.component), PhaseState::Started);
                    self.recreate(c).await?;
                    self.wait_healthy(c, &desired.served_model_name).await?;
                    self.wait_stable(c, Some(0)).await?;
                    self.phase(&format!("{} container", c.component), PhaseState::Done);
                }
                Some(Step::Start { .. }) => {
                    self.start(&c.name).await?;
                    self.journal.push(Undo::StopContainer(c.name.clone()));
                    self.wait_healthy(c, &desired.served_model_name).await?;
                    self.wait_stable(c, None).await?;
                }
                Some(Step::Keep { .. }) => self.confirm(c, &desired.served_model_name).await?,
                _ => {}
            }
        }
        if self.opts.smoke_test && self.opts.local_engine {
            self.smoke(desired).await?;
        }
        // Success: what was kept for rollback can go, and so can leftovers.
        self.phase("cleanup", PhaseState::Started);
        for c in &desired.containers {
            self.remove_if_ours(&format!("{}-prev", c.name)).await?;
        }
        self.remove_leftovers(desired).await;
        self.journal.clear();
        self.phase("cleanup", PhaseState::Done);
        Ok(())
    }

    /// A kept container is up, but perhaps still loading (an earlier run was interrupted) or about to
    /// crash: the smoke test and the gateway need it ready. Returns at the first good probe; one that
    /// had to be waited for is watched through the stability window too.
    pub(super) async fn confirm(
        &self,
        c: &DesiredContainer,
        served: &str,
    ) -> Result<(), DeployError> {
        // Healthy already (the usual kept container): answered by one probe, without opening the log
        // stream and exit watch a wait needs — through ssh:// each of those is a session of its own.
        if self.healthy_now(c, served).await {
            let phase = format!("{} health", c.component);
            self.phase(&phase, PhaseState::Started);
            self.phase(&phase, PhaseState::Done);
            return Ok(());
        }
        if self.wait_healthy(c, served).await? {
            self.wait_stable(c, None).await?;
        }
        Ok(())
    }

    /// A plan with nothing to change: every container confirmed up before "up to date" is said.
    pub(super) async fn confirm_up(&self, desired: &Desired) -> Result<(), DeployError> {
        for c in &desired.containers {
            self.check_cancel()?;
            self.confirm(c, &desired.served_model_name).await?;
        }
        Ok(())
    }

    /// Removes our containers that are not desired: the plan's leftovers, and those that appeared after
    /// it was made — the engine finishes a killed apply's last request (a create) on its own, perhaps
    /// after this run looked. Listed again, so the next plan finds nothing left to do. The deployment is
    /// healthy already: a leftover that will not go is worth a warning, not a failure (the next apply
    /// tries again).
    async fn remove_leftovers(&self, desired: &Desired) {
        let ours = match super::observe::list_ours(self.engine).await {
            Ok(ours) => ours,
            Err(e) => {
                let message = format!("could not list the leftover containers: {e}");
                emit(self.sink, Event::Warning { message });
                return;
            }
        };
        for o in ours {
            if desired.containers.iter().any(|c| c.name == o.name) {
                continue;
            }
            match self.engine.remove_container(&o.id).await {
                Ok(()) | Err(EngineError::NotFound(_)) => {}
                Err(e) => {
                    let message =
                        format!("could not remove the leftover container {}: {e}", o.name);
                    emit(self.sink, Event::Warning { message });
                }
            }
        }
    }

    /// Creates the gateway's log directory (and the Hugging Face cache) with our marker when missing, and
    /// gives the log directory to the user the gateway image runs as, only if the installer created it.
    pub(super) async fn prepare_log_dir(
        &self,
        dir: &Path,
        desired: &Desired,
    ) -> Result<(), DeployError> {
        let ours = ensure_own_dir(dir).map_err(|e| {
            DeployError::Blocked(vec![format!(
                "cannot create the log directory {}: {e}; create it (sudo mkdir -p {}) or set log_dir in the spec",
                dir.display(),
                dir.display()
            )])
        })?;
        let cache = desired
            .containers
            .iter()
            .filter(|c| c.component == Component::Model)
            .flat_map(|c| &c.binds)
            .find(|b| b.container == HF_CACHE_MOUNT);
        if let Some(b) = cache {
            // Docker would create a missing one as root anyway; created here, a purge may delete it.
            let cache = Path::new(&b.host);
            if let Err(e) = ensure_own_dir(cache) {
                let message = format!(
                    "could not create the Hugging Face cache {} ({e}); Docker creates it instead",
                    cache.display()
                );
                emit(self.sink, Event::Warning { message });
            }
        }
        let Some(gw) = desired
            .containers
            .iter()
            .find(|c| c.component == Component::Gateway)
        else {
            return Ok(());
        };
        match self.engine.image_user(&gw.image).await {
            Ok(None) => {}
            Ok(Some((uid, gid))) if ours => {
                if let Err(e) = std::os::unix::fs::chown(dir, Some(uid), Some(gid)) {
                    let dir = dir.display();
                    let message = format!(
                        "the gateway runs as uid {uid} and cannot write {dir} unless it owns it \
                         ({e}): sudo chown {uid}:{gid} {dir}"
                    );
                    emit(self.sink, Event::Warning { message });
                }
            }
            // Not created by the installer: its owner stays; say so if the gateway cannot write it.
            Ok(Some((uid, gid))) => {
                if !std::fs::metadata(dir).is_ok_and(|m| writable_by(&m, uid, gid)) {
                    let dir = dir.display();
                    let message = format!(
                        "the gateway runs as uid {uid} and cannot write {dir}, which the installer did \
                         not create and leaves as it is: sudo chown {uid} {dir}, or choose a new log_dir"
                    );
                    emit(self.sink, Event::Warning { message });
                }
            }
            Err(e) => {
                let message = format!(
                    "could not tell which user the gateway runs as ({e}); if it cannot write its \
                     log, give it {}",
                    dir.display()
                );
                emit(self.sink, Event::Warning { message });
            }
        }
        Ok(())
    }

    pub(super) async fn pull(
        &self,
        image: &str,
        platform: Option<&str>,
    ) -> Result<(), DeployError> {
        self.phase(&format!("pull {image}"), PhaseState::Started);
        let mut stream = self.engine.pull_image(image, platform);
        loop {
            let next = tokio::select! {
                n = stream.next() => n,
                _ = self.opts.cancel.cancelled() => return Err(DeployError::Cancelled { rollback: String::new() }),
            };
            match next {
                None => break,
                Some(Ok(progress)) => {
                    if let Some(detail) = progress.error {
                        return Err(DeployError::Pull {
                            image: image.into(),
                            detail,
                        });
                    }
                    emit(
                        self.sink,
                        Event::Layer {
                            image: image.into(),
                            layer: progress.layer,
                            status: progress.status,
                            current: progress.current,
                            total: progress.total,
                        },
                    );
                }
                Some(Err(e)) => {
                    self.phase(&format!("pull {image}"), PhaseState::Failed);
                    return Err(DeployError::Pull {
                        image: image.into(),
                        detail: e.to_string(),
                    });
                }
            }
        }
        self.phase(&format!("pull {image}"), PhaseState::Done);
        Ok(())
    }

    /// Creates `c` as `name`. A container of ours that took the name after this run looked (the engine
    /// finishing a killed apply's create) is removed and the create made once more.
    pub(super) async fn create(&self, c: &DesiredContainer, name: &str) -> Result<(), DeployError> {
        match self.engine.create_container(name, c).await {
            Err(EngineError::Other(m)) if m.contains("already in use") => {
                // One not ours stays, and the second create fails as the first did.
                self.remove_if_ours(name).await?;
                self.engine
                    .create_container(name, c)
                    .await
                    .map_err(engine_err(format!("create container {name}")))
            }
            r => r.map_err(engine_err(format!("create container {name}"))),
        }
    }

    /// Starts `name`; one already running (a killed apply's start that the engine finished) is fine.
    pub(super) async fn start(&self, name: &str) -> Result<(), DeployError> {
        match self.engine.start_container(name).await {
            Ok(()) | Err(EngineError::NotModified(_)) => Ok(()),
            Err(e) => Err(engine_err(format!("start container {name}"))(e)),
        }
    }

    pub(super) async fn stop(&self, name: &str) -> Result<(), DeployError> {
        match self.engine.stop_container(name, 30).await {
            Ok(()) | Err(EngineError::NotModified(_)) => Ok(()),
            Err(e) => Err(engine_err(format!("stop container {name}"))(e)),
        }
    }

    pub(super) async fn rename(&self, from: &str, to: &str) -> Result<(), DeployError> {
        self.engine
            .rename_container(from, to)
            .await
            .map_err(engine_err(format!("rename container {from} to {to}")))
    }

    /// Removes a container of that name only if it carries our label; whether one of that name existed.
    pub(super) async fn remove_if_ours(&self, name: &str) -> Result<bool, DeployError> {
        match self.engine.inspect_container(name).await {
            Ok(c) => {
                if c.labels.get(labels::APP).map(String::as_str) != Some(labels::APP_ID) {
                    return Ok(true);
                }
                match self.engine.remove_container(name).await {
                    // Gone meanwhile (a killed apply's removal that the engine finished).
                    Ok(()) | Err(EngineError::NotFound(_)) => Ok(true),
                    // The engine is removing it already: wait until it is gone.
                    Err(EngineError::Other(m)) if m.contains("already in progress") => {
                        self.wait_gone(name).await?;
                        Ok(true)
                    }
                    Err(e) => Err(engine_err(format!("remove container {name}"))(e)),
                }
            }
            Err(EngineError::NotFound(_)) => Ok(false),
            Err(e) => Err(engine_err(format!("inspect container {name}"))(e)),
        }
    }

    /// Waits until the engine has finished removing `name` (bounded: a removal takes seconds at most).
    async fn wait_gone(&self, name: &str) -> Result<(), DeployError> {
        for _ in 0..150 {
            match self.engine.inspect_container(name).await {
                Err(EngineError::NotFound(_)) => return Ok(()),
                _ => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
            }
        }
        Err(DeployError::Engine {
            what: format!("remove container {name}"),
            detail: "the engine was still removing it after 30 s".into(),
        })
    }

    pub(super) async fn recreate(&mut self, c: &DesiredContainer) -> Result<(), DeployError> {
        let next = format!("{}-next", c.name);
        let prev = format!("{}-prev", c.name);
        self.remove_if_ours(&next).await?;
        self.remove_if_ours(&prev).await?;
        // Each step is journalled, so a failure between them brings the old container back too.
        let from = self.journal.len();
        self.create(c, &next).await?;
        self.journal.push(Undo::RemoveContainer(next.clone()));
        let was_running = match self.engine.inspect_container(&c.name).await {
            Ok(i) => i.state.is_some_and(|s| s.running),
            // Gone since this run looked (a killed apply's rename the engine finished): nothing to set
            // aside, the new container takes the name.
            Err(EngineError::NotFound(_)) => {
                self.rename(&next, &c.name).await?;
                self.journal.truncate(from);
                self.journal.push(Undo::RemoveContainer(c.name.clone()));
                return self.start(&c.name).await;
            }
            Err(e) => return Err(engine_err(format!("inspect container {}", c.name))(e)),
        };
        self.stop(&c.name).await?;
        if was_running {
            self.journal.push(Undo::StartAgain(c.name.clone()));
        }
        self.rename(&c.name, &prev).await?;
        self.journal.push(Undo::RenameBack {
            now: prev.clone(),
            was: c.name.clone(),
        });
        self.rename(&next, &c.name).await?;
        // `name` is the new container now and `prev` the old one: one entry undoes all of the above.
        self.journal.truncate(from);
        self.journal.push(Undo::RestorePrevious {
            name: c.name.clone(),
            was_running,
        });
        self.start(&c.name).await
    }
}
