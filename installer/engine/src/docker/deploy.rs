//! Carrying a plan out against the engine: observe, pull, create/recreate/start, wait for health, smoke
//! test, clean up — with a journal so a failure (or Ctrl-C) can put everything back as it was.
//!
//! Recreate order (Compose's, so GPU memory is never held twice): create the new container under
//! `<name>-next`, stop the old one and rename it `<name>-prev`, rename the new one into place, start it,
//! wait until healthy, and only then remove `<name>-prev`. Rollback reverses that journal.

use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, RenameContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use super::body::create_body;
use super::events::{emit, likely_cause, Event, PhaseState, Sink};
use super::http;
use super::labels;
use aigw_core::plan::{
    self, Component, Desired, DesiredContainer, Observed, ObservedContainer, Plan, Step,
};
use aigw_core::problem::Explain;
use aigw_core::spec::DeploymentSpec;

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
    #[error("the {component} did not become healthy within {waited_s} s: {status}{cause}\nlast log lines:\n{logs}{rollback}")]
    Unhealthy {
        component: Component,
        waited_s: u64,
        status: String,
        cause: String,
        logs: String,
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

fn engine_err(what: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> DeployError {
    let what = what.into();
    move |e| DeployError::Engine {
        what,
        detail: e.to_string(),
    }
}

fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub rollback_on_failure: bool,
    pub cancel: CancellationToken,
    /// Whether host ports can be checked and services probed from here (the engine is on this machine).
    pub local_engine: bool,
    pub smoke_test: bool,
    /// Secrets for the gateway's environment (see [`plan`]).
    pub gateway_secret_env: BTreeMap<String, String>,
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
    let network = match docker.inspect_network(&desired.network, None).await {
        Ok(n) => Some(
            n.labels
                .unwrap_or_default()
                .get(labels::APP)
                .map(String::as_str)
                == Some(labels::APP_ID),
        ),
        Err(e) if is_not_found(&e) => None,
        // Docker allows two networks with one name (an apply killed while creating it, then run
        // again at once) and then refuses the name.
        Err(e) if e.to_string().contains("is ambiguous") => {
            return Err(DeployError::Blocked(vec![format!(
                "two Docker networks are named {} (an earlier run was stopped while creating it); \
                 `aigw-installer uninstall` removes the installer's own containers and networks, then \
                 apply again",
                desired.network
            )]))
        }
        Err(e) => return Err(engine_err("inspect the network")(e)),
    };
    let ours = list_ours(docker).await?;
    let mut foreign_names = Vec::new();
    for c in &desired.containers {
        if ours.iter().any(|o| o.name == c.name) {
            continue;
        }
        match docker.inspect_container(&c.name, None).await {
            Ok(_) => foreign_names.push(c.name.clone()),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(engine_err("inspect containers")(e)),
        }
    }
    let mut images = BTreeMap::new();
    for c in &desired.containers {
        let id = match docker.inspect_image(&c.image).await {
            Ok(i) => i.id,
            Err(e) if is_not_found(&e) => None,
            Err(e) => return Err(engine_err("inspect images")(e)),
        };
        images.insert(c.image.clone(), id);
    }
    let ours_publish: Vec<u16> = ours
        .iter()
        .flat_map(|c| c.published_ports.iter().copied())
        .collect();
    let mut ports_taken = Vec::new();
    if local_engine {
        for c in &desired.containers {
            for p in &c.ports {
                let held = matches!(
                    crate::hardware::network::check_port(p.host_port),
                    crate::hardware::network::PortState::InUse { .. }
                );
                if held && !ours_publish.contains(&p.host_port) {
                    ports_taken.push(p.host_port);
                }
            }
        }
    }
    Ok(Observed {
        network,
        ours,
        foreign_names,
        images,
        ports_taken,
    })
}

pub async fn list_ours(docker: &Docker) -> Result<Vec<ObservedContainer>, DeployError> {
    let list = labels::list_ours(docker)
        .await
        .map_err(engine_err("list containers"))?;
    Ok(list
        .into_iter()
        .map(|c| {
            let l = c.labels.clone().unwrap_or_default();
            ObservedContainer {
                id: c.id.clone().unwrap_or_default(),
                name: c
                    .names
                    .as_ref()
                    .and_then(|n| n.first())
                    .map(|n| n.trim_start_matches('/').to_string())
                    .unwrap_or_default(),
                component: match l.get(labels::COMPONENT).map(String::as_str) {
                    Some("model") => Some(Component::Model),
                    Some("gateway") => Some(Component::Gateway),
                    _ => None,
                },
                config_hash: l.get(labels::CONFIG_HASH).cloned(),
                running: c.state.map(|s| s.to_string()) == Some("running".into()),
                image_id: c.image_id.unwrap_or_default(),
                published_ports: c
                    .ports
                    .iter()
                    .flatten()
                    .filter_map(|p| p.public_port)
                    .collect(),
            }
        })
        .collect())
}

/// Plans without changing anything. `gateway_secret_env` carries secrets the gateway needs in its environment (the JWT keys of GitLab
/// 18.10+); they are part of the container's configuration, never of the spec.
pub async fn plan(
    docker: &Docker,
    spec: &DeploymentSpec,
    token_file: Option<&str>,
    gateway_secret_env: &BTreeMap<String, String>,
    local_engine: bool,
) -> Result<(Desired, Plan), DeployError> {
    let mut desired = plan::desired(spec, token_file)?;
    for c in desired
        .containers
        .iter_mut()
        .filter(|c| c.component == Component::Gateway)
    {
        c.env.extend(gateway_secret_env.clone());
    }
    let observed = observe(docker, &desired, local_engine).await?;
    let p = plan::diff(&desired, &observed);
    Ok((desired, p))
}

/// What to undo, newest last.
#[derive(Debug)]
enum Undo {
    /// By id: Docker allows two networks with one name (a run killed mid-create, then run again), and
    /// then refuses the name as ambiguous.
    RemoveNetwork { name: String, id: String },
    /// A container this run created and started.
    RemoveContainer(String),
    /// `<name>` replaced the container now named `<name>-prev`.
    RestorePrevious { name: String, was_running: bool },
    /// A container this run started.
    StopContainer(String),
}

struct Run<'a> {
    docker: &'a Docker,
    sink: &'a Sink,
    opts: &'a ApplyOptions,
    journal: Vec<Undo>,
}

pub async fn apply(
    docker: &Docker,
    spec: &DeploymentSpec,
    token_file: Option<&str>,
    opts: &ApplyOptions,
    sink: &Sink,
) -> Result<ApplyReport, DeployError> {
    let started = Instant::now();
    let (desired, the_plan) = plan(
        docker,
        spec,
        token_file,
        &opts.gateway_secret_env,
        opts.local_engine,
    )
    .await?;
    emit(
        sink,
        Event::Plan {
            steps: the_plan.steps.clone(),
        },
    );
    if !the_plan.blockers.is_empty() {
        return Err(DeployError::Blocked(the_plan.blockers));
    }
    if the_plan.is_noop() {
        return Ok(ApplyReport {
            plan: the_plan,
            changed: false,
            elapsed: started.elapsed(),
        });
    }
    let mut run = Run {
        docker,
        sink,
        opts,
        journal: Vec::new(),
    };
    match run.execute(spec, &desired, &the_plan).await {
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

fn with_rollback(e: DeployError, text: String) -> DeployError {
    match e {
        DeployError::Unhealthy {
            component,
            waited_s,
            status,
            cause,
            logs,
            ..
        } => DeployError::Unhealthy {
            component,
            waited_s,
            status,
            cause,
            logs,
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

impl Run<'_> {
    /// An apply killed while creating the network may have had its request still in flight when this
    /// run observed none: Docker then holds two networks of that name and refuses the name as ambiguous.
    /// The twin has no containers (that run got no further), so it is removed, by id.
    async fn remove_twin_networks(&self, name: &str, keep: &str) -> Result<(), DeployError> {
        let networks = labels::our_networks(self.docker, Some(name))
            .await
            .map_err(engine_err("list networks"))?;
        for twin in networks
            .into_iter()
            .filter_map(|n| n.id)
            .filter(|id| id != keep)
        {
            self.docker
                .remove_network(&twin)
                .await
                .map_err(engine_err(format!("remove the duplicate network {name}")))?;
        }
        Ok(())
    }

    fn phase(&self, phase: &str, state: PhaseState) {
        emit(
            self.sink,
            Event::Phase {
                phase: phase.into(),
                state,
            },
        );
    }

    fn check_cancel(&self) -> Result<(), DeployError> {
        if self.opts.cancel.is_cancelled() {
            return Err(DeployError::Cancelled {
                rollback: String::new(),
            });
        }
        Ok(())
    }

    async fn execute(
        &mut self,
        spec: &DeploymentSpec,
        desired: &Desired,
        p: &Plan,
    ) -> Result<(), DeployError> {
        // Pull first: a missing image must fail the run before anything is created.
        for step in &p.steps {
            self.check_cancel()?;
            if let Step::PullImage { image } = step {
                self.pull(image, spec.platform.as_deref()).await?;
            }
        }
        for step in &p.steps {
            if let Step::CreateNetwork { name } = step {
                self.phase("network", PhaseState::Started);
                let created = self
                    .docker
                    .create_network(bollard::models::NetworkCreateRequest {
                        name: name.clone(),
                        driver: Some("bridge".into()),
                        labels: Some(HashMap::from([(
                            labels::APP.to_string(),
                            labels::APP_ID.to_string(),
                        )])),
                        ..Default::default()
                    })
                    .await
                    .map_err(engine_err(format!("create network {name}")))?;
                self.journal.push(Undo::RemoveNetwork {
                    name: name.clone(),
                    id: created.id.clone(),
                });
                self.remove_twin_networks(name, &created.id).await?;
                self.phase("network", PhaseState::Done);
            }
        }
        if self.opts.local_engine {
            self.prepare_log_dir(spec, desired).await?;
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
                    self.phase(&format!("{} container", c.component), PhaseState::Done);
                }
                Some(Step::Recreate { .. }) => {
                    self.phase(&format!("{} container", c.component), PhaseState::Started);
                    self.recreate(c).await?;
                    self.wait_healthy(c, &desired.served_model_name).await?;
                    self.phase(&format!("{} container", c.component), PhaseState::Done);
                }
                Some(Step::Start { .. }) => {
                    self.start(&c.name).await?;
                    self.journal.push(Undo::StopContainer(c.name.clone()));
                    self.wait_healthy(c, &desired.served_model_name).await?;
                }
                // Up to date, but perhaps still loading (an earlier run was interrupted): the smoke
                // test and the gateway need it ready. Returns at the first good probe.
                Some(Step::Keep { .. }) => self.wait_healthy(c, &desired.served_model_name).await?,
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
        for step in &p.steps {
            if let Step::Remove { id, name, .. } = step {
                // The deployment is healthy already: a leftover that will not go is worth a warning, not
                // a failure (the next apply tries again).
                if let Err(e) = self
                    .docker
                    .remove_container(
                        id,
                        Some(RemoveContainerOptionsBuilder::default().force(true).build()),
                    )
                    .await
                {
                    emit(
                        self.sink,
                        Event::Warning {
                            message: format!("could not remove the leftover container {name}: {e}"),
                        },
                    );
                }
            }
        }
        self.journal.clear();
        self.phase("cleanup", PhaseState::Done);
        Ok(())
    }

    /// Creates the gateway's log directory and gives it to the user the gateway image runs as.
    async fn prepare_log_dir(
        &self,
        spec: &DeploymentSpec,
        desired: &Desired,
    ) -> Result<(), DeployError> {
        let dir = &spec.log_dir;
        std::fs::create_dir_all(dir).map_err(|e| DeployError::Blocked(vec![format!(
            "cannot create the log directory {}: {e}; create it (sudo mkdir -p {}) or set log_dir in the spec",
            dir.display(),
            dir.display()
        )]))?;
        let Some(gw) = desired
            .containers
            .iter()
            .find(|c| c.component == Component::Gateway)
        else {
            return Ok(());
        };
        match super::owner::image_user(self.docker, &gw.image).await {
            Ok(None) => {}
            Ok(Some((uid, gid))) => {
                if let Err(e) = std::os::unix::fs::chown(dir, Some(uid), Some(gid)) {
                    emit(self.sink, Event::Warning {
                        message: format!(
                            "the gateway runs as uid {uid} and cannot write {} unless it owns it ({e}):                              sudo chown {uid}:{gid} {}",
                            dir.display(),
                            dir.display()
                        ),
                    });
                }
            }
            Err(e) => emit(self.sink, Event::Warning {
                message: format!("could not tell which user the gateway runs as ({e}); if it cannot write its                                   log, give it {}", dir.display()),
            }),
        }
        Ok(())
    }

    async fn pull(&self, image: &str, platform: Option<&str>) -> Result<(), DeployError> {
        self.phase(&format!("pull {image}"), PhaseState::Started);
        let (repo, tag) = split_ref(image);
        let mut b = CreateImageOptionsBuilder::default()
            .from_image(repo)
            .tag(tag);
        if let Some(p) = platform {
            b = b.platform(p);
        }
        let mut stream = self.docker.create_image(Some(b.build()), None, None);
        loop {
            let next = tokio::select! {
                n = stream.next() => n,
                _ = self.opts.cancel.cancelled() => return Err(DeployError::Cancelled { rollback: String::new() }),
            };
            match next {
                None => break,
                Some(Ok(info)) => {
                    if let Some(err) = info.error_detail.and_then(|d| d.message) {
                        return Err(DeployError::Pull {
                            image: image.into(),
                            detail: err,
                        });
                    }
                    let detail = info.progress_detail.unwrap_or_default();
                    emit(
                        self.sink,
                        Event::Layer {
                            image: image.into(),
                            layer: info.id.unwrap_or_default(),
                            status: info.status.unwrap_or_default(),
                            current: detail.current.unwrap_or(0).max(0) as u64,
                            total: detail.total.unwrap_or(0).max(0) as u64,
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

    async fn create(&self, c: &DesiredContainer, name: &str) -> Result<(), DeployError> {
        let mut opts = CreateContainerOptionsBuilder::default().name(name);
        if let Some(p) = &c.platform {
            opts = opts.platform(p);
        }
        self.docker
            .create_container(Some(opts.build()), create_body(c))
            .await
            .map_err(engine_err(format!("create container {name}")))?;
        Ok(())
    }

    async fn start(&self, name: &str) -> Result<(), DeployError> {
        self.docker
            .start_container(name, None)
            .await
            .map_err(engine_err(format!("start container {name}")))
    }

    async fn stop(&self, name: &str) -> Result<(), DeployError> {
        match self
            .docker
            .stop_container(
                name,
                Some(StopContainerOptionsBuilder::default().t(30).build()),
            )
            .await
        {
            Ok(()) => Ok(()),
            // 304: already stopped.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(engine_err(format!("stop container {name}"))(e)),
        }
    }

    async fn rename(&self, from: &str, to: &str) -> Result<(), DeployError> {
        self.docker
            .rename_container(
                from,
                RenameContainerOptionsBuilder::default().name(to).build(),
            )
            .await
            .map_err(engine_err(format!("rename container {from} to {to}")))
    }

    /// Removes a container of that name only if it carries our label.
    async fn remove_if_ours(&self, name: &str) -> Result<(), DeployError> {
        match self.docker.inspect_container(name, None).await {
            Ok(c) => {
                let ours = c.config.and_then(|cfg| cfg.labels).is_some_and(|l| {
                    l.get(labels::APP).map(String::as_str) == Some(labels::APP_ID)
                });
                if ours {
                    self.docker
                        .remove_container(
                            name,
                            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
                        )
                        .await
                        .map_err(engine_err(format!("remove container {name}")))?;
                }
                Ok(())
            }
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(engine_err(format!("inspect container {name}"))(e)),
        }
    }

    async fn recreate(&mut self, c: &DesiredContainer) -> Result<(), DeployError> {
        let next = format!("{}-next", c.name);
        let prev = format!("{}-prev", c.name);
        self.remove_if_ours(&next).await?;
        self.remove_if_ours(&prev).await?;
        self.create(c, &next).await?;
        self.journal.push(Undo::RemoveContainer(next.clone()));
        let was_running = self
            .docker
            .inspect_container(&c.name, None)
            .await
            .ok()
            .and_then(|i| i.state.and_then(|s| s.running))
            .unwrap_or(false);
        self.stop(&c.name).await?;
        self.rename(&c.name, &prev).await?;
        self.rename(&next, &c.name).await?;
        // The journal entry for `next` now refers to `name`.
        self.journal.pop();
        self.journal.push(Undo::RestorePrevious {
            name: c.name.clone(),
            was_running,
        });
        self.start(&c.name).await
    }

    async fn wait_healthy(&self, c: &DesiredContainer, served: &str) -> Result<(), DeployError> {
        let timeout = Duration::from_secs(c.health_timeout_s);
        let phase = format!("{} health", c.component);
        self.phase(&phase, PhaseState::Started);
        let started = Instant::now();
        let mut tail: VecDeque<String> = VecDeque::new();
        let mut logs = self.docker.logs(
            &c.name,
            Some(
                LogsOptionsBuilder::default()
                    .follow(true)
                    .stdout(true)
                    .stderr(true)
                    .tail("50")
                    .build(),
            ),
        );
        let mut status = "starting".to_string();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut last_report = 0;
        // The log stream ends when the container stops; polling a finished stream would spin.
        let mut logs_open = true;
        loop {
            tokio::select! {
                _ = self.opts.cancel.cancelled() => return Err(DeployError::Cancelled { rollback: String::new() }),
                line = logs.next(), if logs_open => match line {
                    Some(Ok(out)) => {
                        for l in out.to_string().lines().filter(|l| !l.trim().is_empty()) {
                            emit(self.sink, Event::Log { component: c.component, line: l.to_string() });
                            tail.push_back(l.to_string());
                            if tail.len() > 30 { tail.pop_front(); }
                        }
                    }
                    Some(Err(_)) | None => logs_open = false,
                },
                _ = tick.tick() => {
                    let waited = started.elapsed();
                    if let Some(exit) = self.exited(&c.name).await {
                        status = exit;
                        break;
                    }
                    if self.opts.local_engine {
                        match probe(c, served).await {
                            Ok(()) => {
                                self.phase(&phase, PhaseState::Done);
                                return Ok(());
                            }
                            Err(s) => status = s,
                        }
                    } else if self.docker_health(&c.name).await.as_deref() == Some("healthy") {
                        return Ok(());
                    }
                    if waited.as_secs() >= last_report + 2 {
                        last_report = waited.as_secs();
                        emit(self.sink, Event::Health { component: c.component, waited_s: waited.as_secs(), status: status.clone() });
                    }
                    if waited >= timeout {
                        break;
                    }
                }
            }
        }
        self.phase(&phase, PhaseState::Failed);
        // Collect what the server said last, even if the stream lagged.
        let lines: Vec<String> = tail.into_iter().collect();
        Err(DeployError::Unhealthy {
            component: c.component,
            waited_s: started.elapsed().as_secs(),
            status,
            cause: likely_cause(&lines)
                .map(|c| format!("\nlikely cause: {c}"))
                .unwrap_or_default(),
            logs: lines
                .iter()
                .map(|l| format!("  | {l}"))
                .collect::<Vec<_>>()
                .join("\n"),
            rollback: String::new(),
        })
    }

    /// Why the container is not running, if it is not. A restart loop (the restart policy bringing back a
    /// process that keeps exiting) counts too: waiting for health would not help.
    async fn exited(&self, name: &str) -> Option<String> {
        let c = self.docker.inspect_container(name, None).await.ok()?;
        let st = c.state?;
        let restarts = c.restart_count.unwrap_or(0);
        let restarting = st.restarting == Some(true);
        if st.running == Some(true) && !restarting && restarts == 0 {
            return None;
        }
        let oom = if st.oom_killed == Some(true) {
            " (killed: out of host memory)"
        } else {
            ""
        };
        // While the restart policy brings it back, ExitCode reads 0: name it only when it says something.
        let code = match st.exit_code {
            Some(c) if c != 0 => format!(" with code {c}"),
            _ => String::new(),
        };
        Some(if restarting || restarts > 0 {
            format!("the container keeps exiting{code} (restarted {restarts} time(s)){oom}")
        } else {
            format!("the container exited{code}{oom}")
        })
    }

    async fn docker_health(&self, name: &str) -> Option<String> {
        let h = self
            .docker
            .inspect_container(name, None)
            .await
            .ok()?
            .state?
            .health?;
        h.status.map(|s| s.to_string())
    }

    async fn smoke(&self, desired: &Desired) -> Result<(), DeployError> {
        self.phase("smoke test", PhaseState::Started);
        let model = desired
            .containers
            .iter()
            .find(|c| c.component == Component::Model);
        let Some(model) = model else { return Ok(()) };
        let body = serde_json::json!({
            "model": desired.served_model_name,
            "messages": [{"role": "user", "content": "Write a Python function that returns 'hi'."}],
            "max_tokens": 32,
        });
        let url = format!("{}/v1/chat/completions", model.probe_url);
        let res = http::request(&url, Some(&body.to_string()), Duration::from_secs(120))
            .await
            .map_err(|detail| DeployError::SmokeTest {
                detail,
                rollback: String::new(),
            })?;
        let ok = res.status == 200
            && serde_json::from_str::<serde_json::Value>(&res.body)
                .ok()
                .and_then(|v| v["choices"].as_array().map(|a| !a.is_empty()))
                .unwrap_or(false);
        if !ok {
            self.phase("smoke test", PhaseState::Failed);
            return Err(DeployError::SmokeTest {
                detail: format!(
                    "POST {url} answered {}: {}",
                    res.status,
                    res.body.chars().take(300).collect::<String>()
                ),
                rollback: String::new(),
            });
        }
        self.phase("smoke test", PhaseState::Done);
        Ok(())
    }

    /// Undoes the journal, newest first; says what it did.
    async fn rollback(&mut self) -> String {
        let mut done = Vec::new();
        while let Some(u) = self.journal.pop() {
            let (what, r) = match &u {
                Undo::RemoveContainer(name) => {
                    (format!("removed {name}"), self.remove_if_ours(name).await)
                }
                Undo::StopContainer(name) => (format!("stopped {name}"), self.stop(name).await),
                Undo::RestorePrevious { name, was_running } => {
                    let mut r = self.remove_if_ours(name).await;
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
                    self.docker
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

/// `repo[:tag]` (a registry port is not a tag).
pub fn split_ref(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (image, "latest"),
    }
}

/// Readiness as GitLab will need it: vLLM's `/health`, then `/v1/models` listing the served name; the
/// gateway's `/monitoring/healthz`.
async fn probe(c: &DesiredContainer, served: &str) -> Result<(), String> {
    let t = Duration::from_secs(3);
    match c.component {
        Component::Model => {
            let h = http::request(&format!("{}/health", c.probe_url), None, t).await?;
            if h.status != 200 {
                return Err(format!("/health answered {}", h.status));
            }
            let m = http::request(&format!("{}/v1/models", c.probe_url), None, t).await?;
            let listed = serde_json::from_str::<serde_json::Value>(&m.body)
                .ok()
                .and_then(|v| {
                    v["data"]
                        .as_array()
                        .map(|a| a.iter().any(|x| x["id"].as_str() == Some(served)))
                })
                .unwrap_or(false);
            if listed {
                Ok(())
            } else {
                Err(format!(
                    "/v1/models does not list {served} yet: {}",
                    m.body.chars().take(200).collect::<String>()
                ))
            }
        }
        Component::Gateway => {
            let h = http::request(&format!("{}/monitoring/healthz", c.probe_url), None, t).await?;
            if h.status == 200 {
                Ok(())
            } else {
                Err(format!("/monitoring/healthz answered {}", h.status))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_split() {
        assert_eq!(
            split_ref("vllm/vllm-openai:v0.18.1"),
            ("vllm/vllm-openai", "v0.18.1")
        );
        assert_eq!(
            split_ref("registry.local:5000/aigw"),
            ("registry.local:5000/aigw", "latest")
        );
        assert_eq!(
            split_ref("registry.local:5000/aigw:1"),
            ("registry.local:5000/aigw", "1")
        );
    }
}
