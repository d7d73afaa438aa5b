//! [`ContainerEngine`] over the Docker Engine API, through bollard.

use bollard::errors::Error as BollardError;
use bollard::models::ContainerStateStatusEnum;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, RenameContainerOptionsBuilder, StopContainerOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashMap};

use super::body::create_body;
use super::container_engine::{
    ContainerEngine, ContainerInfo, ContainerState, EngineError, ImageInfo, ListedContainer,
    NetworkInfo, PullProgress,
};
use super::deploy::split_ref;
use super::{labels, owner};
use aigw_core::plan::DesiredContainer;

/// The message stays bollard's own, as the errors read before the seam.
fn engine_error(e: BollardError) -> EngineError {
    let message = e.to_string();
    match e {
        BollardError::DockerResponseServerError {
            status_code: 404, ..
        } => EngineError::NotFound(message),
        BollardError::DockerResponseServerError {
            status_code: 304, ..
        } => EngineError::NotModified(message),
        _ if message.contains("is ambiguous") => EngineError::Ambiguous(message),
        _ => EngineError::Other(message),
    }
}

fn sorted(labels: Option<HashMap<String, String>>) -> BTreeMap<String, String> {
    labels.unwrap_or_default().into_iter().collect()
}

fn network_info(n: bollard::models::Network) -> NetworkInfo {
    NetworkInfo {
        id: n.id.unwrap_or_default(),
        name: n.name.unwrap_or_default(),
        labels: sorted(n.labels),
    }
}

impl ContainerEngine for Docker {
    async fn inspect_network(&self, name: &str) -> Result<NetworkInfo, EngineError> {
        let n = Docker::inspect_network(self, name, None)
            .await
            .map_err(engine_error)?;
        Ok(NetworkInfo {
            id: n.id.unwrap_or_default(),
            name: n.name.unwrap_or_default(),
            labels: sorted(n.labels),
        })
    }

    async fn list_networks(
        &self,
        label: &str,
        name: Option<&str>,
    ) -> Result<Vec<NetworkInfo>, EngineError> {
        let all = labels::labelled_networks(self, label, name)
            .await
            .map_err(engine_error)?;
        Ok(all.into_iter().map(network_info).collect())
    }

    async fn create_network(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<String, EngineError> {
        let created = Docker::create_network(
            self,
            bollard::models::NetworkCreateRequest {
                name: name.to_string(),
                driver: Some("bridge".into()),
                labels: Some(labels.clone().into_iter().collect()),
                ..Default::default()
            },
        )
        .await
        .map_err(engine_error)?;
        Ok(created.id)
    }

    async fn remove_network(&self, id: &str) -> Result<(), EngineError> {
        Docker::remove_network(self, id).await.map_err(engine_error)
    }

    async fn list_containers(&self, label: &str) -> Result<Vec<ListedContainer>, EngineError> {
        let list = labels::labelled(self, label).await.map_err(engine_error)?;
        Ok(list
            .into_iter()
            .map(|c| ListedContainer {
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .as_ref()
                    .and_then(|n| n.first())
                    .map(|n| n.trim_start_matches('/').to_string())
                    .unwrap_or_default(),
                labels: sorted(c.labels),
                running: c.state.map(|s| s.to_string()).as_deref() == Some("running"),
                image_id: c.image_id.unwrap_or_default(),
                published_ports: c
                    .ports
                    .iter()
                    .flatten()
                    .filter_map(|p| p.public_port)
                    .collect(),
                networks: c
                    .network_settings
                    .and_then(|n| n.networks)
                    .map(|n| n.into_keys().collect())
                    .unwrap_or_default(),
            })
            .collect())
    }

    async fn inspect_container(&self, name: &str) -> Result<ContainerInfo, EngineError> {
        let c = Docker::inspect_container(self, name, None)
            .await
            .map_err(engine_error)?;
        Ok(ContainerInfo {
            labels: sorted(c.config.and_then(|cfg| cfg.labels)),
            state: c.state.map(|st| ContainerState {
                running: st.running == Some(true),
                restarting: st.restarting == Some(true),
                oom_killed: st.oom_killed == Some(true),
                exit_code: st.exit_code,
                removing: st.status == Some(ContainerStateStatusEnum::REMOVING),
                health: st.health.and_then(|h| h.status).map(|s| s.to_string()),
            }),
            restart_count: c.restart_count.unwrap_or(0),
        })
    }

    async fn create_container(&self, name: &str, c: &DesiredContainer) -> Result<(), EngineError> {
        let mut opts = CreateContainerOptionsBuilder::default().name(name);
        if let Some(p) = &c.platform {
            opts = opts.platform(p);
        }
        Docker::create_container(self, Some(opts.build()), create_body(c))
            .await
            .map_err(engine_error)?;
        Ok(())
    }

    async fn start_container(&self, name: &str) -> Result<(), EngineError> {
        Docker::start_container(self, name, None)
            .await
            .map_err(engine_error)
    }

    async fn stop_container(&self, name: &str, timeout_s: i32) -> Result<(), EngineError> {
        Docker::stop_container(
            self,
            name,
            Some(StopContainerOptionsBuilder::default().t(timeout_s).build()),
        )
        .await
        .map_err(engine_error)
    }

    async fn rename_container(&self, from: &str, to: &str) -> Result<(), EngineError> {
        Docker::rename_container(
            self,
            from,
            RenameContainerOptionsBuilder::default().name(to).build(),
        )
        .await
        .map_err(engine_error)
    }

    async fn remove_container(&self, name: &str) -> Result<(), EngineError> {
        Docker::remove_container(
            self,
            name,
            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
        )
        .await
        .map_err(engine_error)
    }

    fn follow_logs(
        &self,
        name: &str,
        tail: u32,
    ) -> BoxStream<'static, Result<String, EngineError>> {
        Docker::logs(
            self,
            name,
            Some(
                LogsOptionsBuilder::default()
                    .follow(true)
                    .stdout(true)
                    .stderr(true)
                    .tail(&tail.to_string())
                    .build(),
            ),
        )
        .map(|r| r.map(|o| o.to_string()).map_err(engine_error))
        .boxed()
    }

    async fn container_logs(&self, name: &str, tail: u32) -> Result<Vec<String>, EngineError> {
        let mut chunks = Docker::logs(
            self,
            name,
            Some(
                LogsOptionsBuilder::default()
                    .follow(false)
                    .stdout(true)
                    .stderr(true)
                    .tail(&tail.to_string())
                    .build(),
            ),
        );
        let mut text = String::new();
        while let Some(chunk) = chunks.next().await {
            text.push_str(&chunk.map_err(engine_error)?.to_string());
        }
        Ok(text.lines().map(str::to_string).collect())
    }

    async fn wait_exit(&self, name: &str) -> Result<i64, EngineError> {
        let opts = WaitContainerOptionsBuilder::default()
            .condition("next-exit")
            .build();
        let mut waits = Docker::wait_container(self, name, Some(opts));
        match waits.next().await {
            Some(Ok(r)) => Ok(r.status_code),
            // bollard reports a non-zero exit as an error; for us it is the answer.
            Some(Err(BollardError::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(engine_error(e)),
            None => Err(EngineError::Other(format!(
                "the engine ended the wait for {name} without an exit code"
            ))),
        }
    }

    async fn inspect_image(&self, image: &str) -> Result<ImageInfo, EngineError> {
        let i = Docker::inspect_image(self, image)
            .await
            .map_err(engine_error)?;
        Ok(ImageInfo { id: i.id })
    }

    fn pull_image(
        &self,
        image: &str,
        platform: Option<&str>,
    ) -> BoxStream<'static, Result<PullProgress, EngineError>> {
        let (repo, tag) = split_ref(image);
        let mut b = CreateImageOptionsBuilder::default()
            .from_image(repo)
            .tag(tag);
        if let Some(p) = platform {
            b = b.platform(p);
        }
        Docker::create_image(self, Some(b.build()), None, None)
            .map(|r| {
                r.map(|info| {
                    let detail = info.progress_detail.unwrap_or_default();
                    PullProgress {
                        layer: info.id.unwrap_or_default(),
                        status: info.status.unwrap_or_default(),
                        current: detail.current.unwrap_or(0).max(0) as u64,
                        total: detail.total.unwrap_or(0).max(0) as u64,
                        error: info.error_detail.and_then(|d| d.message),
                    }
                })
                .map_err(engine_error)
            })
            .boxed()
    }

    async fn image_user(&self, image: &str) -> Result<Option<(u32, u32)>, String> {
        owner::image_user(self, image).await
    }
}
