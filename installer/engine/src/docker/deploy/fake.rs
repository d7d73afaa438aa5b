//! An in-memory [`ContainerEngine`] for the deploy tests: containers, networks and images as plain data,
//! every change recorded in order, a refusal or a cancellation injected at a named change.

use futures_util::stream::{self, BoxStream};
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use tokio_util::sync::CancellationToken;

use crate::docker::container_engine::{
    ContainerEngine, ContainerInfo, ContainerState, EngineError, ImageInfo, ListedContainer,
    NetworkInfo, PullProgress,
};
use aigw_core::plan::DesiredContainer;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeContainer {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub image_id: String,
    pub running: bool,
    /// Networks it is attached to (the desired one at create).
    pub networks: Vec<String>,
    /// Its health check passes once it runs.
    pub healthy: bool,
    /// Set once it exited.
    pub exit_code: Option<i64>,
    /// What it wrote, oldest first.
    pub logs: Vec<String>,
    /// Someone else is removing it: inspect says so, and a removal is refused with Docker's 409.
    pub removing: bool,
}

#[derive(Debug, Default)]
pub struct State {
    pub containers: Vec<FakeContainer>,
    pub networks: Vec<NetworkInfo>,
    /// Image reference → id.
    pub images: BTreeMap<String, String>,
    /// Every change, in order: `create NAME`, `start NAME`, `stop NAME`, `rename FROM TO`, `remove NAME`,
    /// `create network NAME`, `remove network NAME`.
    pub changes: Vec<String>,
    /// Containers created from now on never become healthy (by name; `*`: all).
    pub never_healthy: Vec<String>,
    /// The change the engine refuses.
    pub refuse: Option<String>,
    /// The change after which this token is cancelled (as Ctrl-C would).
    pub cancel_after: Option<(String, CancellationToken)>,
    /// After the change `.0`, a container of ours named `.1` appears, as one does when the engine
    /// finishes a killed apply's create after the next run looked.
    pub appear_after: Option<(String, String)>,
    /// The engine finishes a killed apply's start of this container just after listing it as stopped.
    pub started_after_list: Option<String>,
    /// The engine finishes a killed apply's create of this name just before this run's create.
    pub created_before_create: Option<String>,
    /// After the change `.0`, the container `.1` is gone (by a killed apply's rename or removal that the
    /// engine finished late).
    pub vanish_after: Option<(String, String)>,
    /// The uid and gid every image runs as; unknown when unset.
    pub image_user: Option<(u32, u32)>,
    next_id: u64,
}

#[derive(Debug, Default)]
pub struct FakeEngine(Mutex<State>);

fn not_found(what: &str) -> EngineError {
    EngineError::NotFound(format!("No such object: {what}"))
}

impl FakeEngine {
    pub fn with_images(images: &[&str]) -> Self {
        let fake = Self::default();
        for (i, image) in images.iter().enumerate() {
            fake.state()
                .images
                .insert(image.to_string(), format!("sha256:{i}"));
        }
        fake
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A container someone else made (no labels of ours), running.
    pub fn add_foreign(&self, name: &str) -> String {
        let mut s = self.state();
        s.next_id += 1;
        let id = format!("foreign-{}", s.next_id);
        s.containers.push(FakeContainer {
            id: id.clone(),
            name: name.into(),
            labels: BTreeMap::from([("owner".into(), "someone else".into())]),
            image_id: "sha256:foreign".into(),
            running: true,
            networks: vec!["bridge".into()],
            healthy: true,
            exit_code: None,
            logs: Vec::new(),
            removing: false,
        });
        id
    }

    /// The container's process ends with `code` after writing `lines` (as a server refusing its
    /// arguments does). Not a change of ours: it is not recorded.
    pub fn exit(&self, name: &str, code: i64, lines: &[String]) {
        let mut s = self.state();
        if let Ok(i) = Self::find(&s, name) {
            let c = &mut s.containers[i];
            c.running = false;
            c.exit_code = Some(code);
            c.logs.extend_from_slice(lines);
        }
    }

    /// Someone else starts removing the container (an uninstall during the apply): it stays, being
    /// removed. Not a change of ours: it is not recorded.
    pub fn start_removing(&self, name: &str) {
        let mut s = self.state();
        if let Ok(i) = Self::find(&s, name) {
            s.containers[i].removing = true;
            s.containers[i].running = false;
        }
    }

    /// Someone else removes the container (`docker rm -f`). Not a change of ours: it is not recorded.
    pub fn vanish(&self, name: &str) {
        let mut s = self.state();
        if let Ok(i) = Self::find(&s, name) {
            s.containers.remove(i);
        }
    }

    pub fn take_changes(&self) -> Vec<String> {
        std::mem::take(&mut self.state().changes)
    }

    /// Records `change`, unless it is the one to refuse.
    fn change(s: &mut State, change: String) -> Result<(), EngineError> {
        if s.refuse.as_deref() == Some(change.as_str()) {
            return Err(EngineError::Other(format!("the fake refuses to {change}")));
        }
        if let Some((at, token)) = &s.cancel_after {
            if *at == change {
                token.cancel();
            }
        }
        if let Some((_, name)) = s.appear_after.take_if(|(at, _)| *at == change) {
            s.next_id += 1;
            let id = format!("late-{}", s.next_id);
            s.containers.push(FakeContainer {
                id,
                name,
                labels: BTreeMap::from([(
                    crate::docker::labels::APP.to_string(),
                    crate::docker::labels::APP_ID.to_string(),
                )]),
                image_id: "sha256:late".into(),
                running: false,
                networks: Vec::new(),
                healthy: false,
                exit_code: None,
                logs: Vec::new(),
                removing: false,
            });
        }
        if let Some((_, name)) = s.vanish_after.take_if(|(at, _)| *at == change) {
            s.containers.retain(|c| c.name != name);
        }
        s.changes.push(change);
        Ok(())
    }

    fn find(s: &State, name_or_id: &str) -> Result<usize, EngineError> {
        s.containers
            .iter()
            .position(|c| c.name == name_or_id || c.id == name_or_id)
            .ok_or_else(|| not_found(name_or_id))
    }
}

fn has_label(labels: &BTreeMap<String, String>, label: &str) -> bool {
    label
        .split_once('=')
        .is_some_and(|(k, v)| labels.get(k).map(String::as_str) == Some(v))
}

impl ContainerEngine for FakeEngine {
    async fn inspect_network(&self, name: &str) -> Result<NetworkInfo, EngineError> {
        let s = self.state();
        let named: Vec<&NetworkInfo> = s.networks.iter().filter(|n| n.name == name).collect();
        match named[..] {
            [] => Err(not_found(name)),
            [one] => Ok(one.clone()),
            _ => Err(EngineError::Ambiguous(format!(
                "network {name} is ambiguous"
            ))),
        }
    }

    async fn list_networks(
        &self,
        label: &str,
        name: Option<&str>,
    ) -> Result<Vec<NetworkInfo>, EngineError> {
        Ok(self
            .state()
            .networks
            .iter()
            .filter(|n| has_label(&n.labels, label) && name.is_none_or(|want| n.name == want))
            .cloned()
            .collect())
    }

    async fn create_network(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<String, EngineError> {
        let mut s = self.state();
        Self::change(&mut s, format!("create network {name}"))?;
        s.next_id += 1;
        let id = format!("net-{}", s.next_id);
        s.networks.push(NetworkInfo {
            id: id.clone(),
            name: name.into(),
            labels: labels.clone(),
        });
        Ok(id)
    }

    async fn remove_network(&self, id: &str) -> Result<(), EngineError> {
        let mut s = self.state();
        let i = s
            .networks
            .iter()
            .position(|n| n.id == id || n.name == id)
            .ok_or_else(|| not_found(id))?;
        let name = s.networks[i].name.clone();
        Self::change(&mut s, format!("remove network {name}"))?;
        s.networks.remove(i);
        Ok(())
    }

    async fn list_containers(&self, label: &str) -> Result<Vec<ListedContainer>, EngineError> {
        let mut s = self.state();
        let listed = s
            .containers
            .iter()
            .filter(|c| has_label(&c.labels, label))
            .map(|c| ListedContainer {
                id: c.id.clone(),
                name: c.name.clone(),
                labels: c.labels.clone(),
                running: c.running,
                image_id: c.image_id.clone(),
                published_ports: Vec::new(),
                networks: c.networks.clone(),
            })
            .collect();
        if let Some(name) = s.started_after_list.take() {
            if let Ok(i) = Self::find(&s, &name) {
                s.containers[i].running = true;
            }
        }
        Ok(listed)
    }

    async fn inspect_container(&self, name: &str) -> Result<ContainerInfo, EngineError> {
        let s = self.state();
        let c = &s.containers[Self::find(&s, name)?];
        Ok(ContainerInfo {
            labels: c.labels.clone(),
            state: Some(ContainerState {
                running: c.running,
                exit_code: c.exit_code,
                health: c
                    .running
                    .then(|| if c.healthy { "healthy" } else { "starting" }.to_string()),
                removing: c.removing,
                ..Default::default()
            }),
            restart_count: 0,
        })
    }

    async fn create_container(&self, name: &str, c: &DesiredContainer) -> Result<(), EngineError> {
        let mut s = self.state();
        if s.created_before_create.as_deref() == Some(name) {
            s.created_before_create = None;
            s.next_id += 1;
            let id = format!("late-{}", s.next_id);
            s.containers.push(FakeContainer {
                id,
                name: name.into(),
                labels: c.labels(),
                image_id: "sha256:late".into(),
                running: false,
                networks: vec![c.network.clone()],
                healthy: false,
                exit_code: None,
                logs: Vec::new(),
                removing: false,
            });
        }
        if Self::find(&s, name).is_ok() {
            return Err(EngineError::Other(format!(
                "Conflict. The container name \"/{name}\" is already in use"
            )));
        }
        Self::change(&mut s, format!("create {name}"))?;
        s.next_id += 1;
        let healthy = !s.never_healthy.iter().any(|n| n == "*" || n == name);
        let id = format!("c-{}", s.next_id);
        let image_id = s.images.get(&c.image).cloned().unwrap_or_default();
        s.containers.push(FakeContainer {
            id,
            name: name.into(),
            labels: c.labels(),
            image_id,
            running: false,
            networks: vec![c.network.clone()],
            healthy,
            exit_code: None,
            logs: Vec::new(),
            removing: false,
        });
        Ok(())
    }

    async fn start_container(&self, name: &str) -> Result<(), EngineError> {
        let mut s = self.state();
        let i = Self::find(&s, name)?;
        // As Docker answers 304.
        if s.containers[i].running {
            return Err(EngineError::NotModified("already started".into()));
        }
        Self::change(&mut s, format!("start {name}"))?;
        s.containers[i].running = true;
        Ok(())
    }

    async fn stop_container(&self, name: &str, _timeout_s: i32) -> Result<(), EngineError> {
        let mut s = self.state();
        let i = Self::find(&s, name)?;
        if !s.containers[i].running {
            return Err(EngineError::NotModified("not running".into()));
        }
        Self::change(&mut s, format!("stop {name}"))?;
        s.containers[i].running = false;
        Ok(())
    }

    async fn rename_container(&self, from: &str, to: &str) -> Result<(), EngineError> {
        let mut s = self.state();
        let i = Self::find(&s, from)?;
        if Self::find(&s, to).is_ok() {
            return Err(EngineError::Other(format!(
                "Conflict. The container name \"/{to}\" is already in use"
            )));
        }
        Self::change(&mut s, format!("rename {from} {to}"))?;
        s.containers[i].name = to.into();
        Ok(())
    }

    async fn remove_container(&self, name: &str) -> Result<(), EngineError> {
        let mut s = self.state();
        let i = Self::find(&s, name)?;
        let name = s.containers[i].name.clone();
        if s.containers[i].removing {
            return Err(EngineError::Other(format!(
                "Error response from daemon: removal of container {name} is already in progress"
            )));
        }
        Self::change(&mut s, format!("remove {name}"))?;
        s.containers.remove(i);
        Ok(())
    }

    fn follow_logs(
        &self,
        _name: &str,
        _tail: u32,
    ) -> BoxStream<'static, Result<String, EngineError>> {
        stream::empty().boxed()
    }

    async fn container_logs(&self, name: &str, tail: u32) -> Result<Vec<String>, EngineError> {
        let s = self.state();
        let logs = &s.containers[Self::find(&s, name)?].logs;
        let from = logs.len().saturating_sub(tail as usize);
        Ok(logs[from..].to_vec())
    }

    /// Exits show in [`Self::inspect_container`] only: this never resolves for a container that exists.
    async fn wait_exit(&self, name: &str) -> Result<i64, EngineError> {
        {
            let s = self.state();
            Self::find(&s, name)?;
        }
        std::future::pending().await
    }

    async fn inspect_image(&self, image: &str) -> Result<ImageInfo, EngineError> {
        self.state()
            .images
            .get(image)
            .map(|id| ImageInfo {
                id: Some(id.clone()),
            })
            .ok_or_else(|| not_found(image))
    }

    /// No registry here: every pull fails.
    fn pull_image(
        &self,
        image: &str,
        _platform: Option<&str>,
    ) -> BoxStream<'static, Result<PullProgress, EngineError>> {
        let refusal = PullProgress {
            error: Some(format!("pull access denied for {image}")),
            ..Default::default()
        };
        stream::iter([Ok(refusal)]).boxed()
    }

    async fn image_user(&self, _image: &str) -> Result<Option<(u32, u32)>, String> {
        match self.state().image_user {
            Some(user) => Ok(Some(user)),
            None => Err("the fake engine has no /etc/passwd".into()),
        }
    }
}
