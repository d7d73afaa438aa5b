//! Status, logs and uninstall of what the installer created — found by label only.

use bollard::query_parameters::{LogsOptionsBuilder, RemoveContainerOptionsBuilder};
use bollard::Docker;
use futures_util::{Stream, StreamExt};
use serde::Serialize;

use super::deploy::{list_ours, DeployError};
use super::labels;
use aigw_core::plan::Component;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerStatus {
    pub name: String,
    pub component: Option<Component>,
    pub image: String,
    /// running, exited, created…
    pub state: String,
    /// What that means: `running`, `restart loop (N restarts)`, `exited (code N)`, `not running`.
    pub condition: String,
    /// Docker's health check verdict (healthy, unhealthy, starting) when the container has one.
    pub health: Option<String>,
    /// `host_ip:host_port -> container_port`.
    pub endpoints: Vec<String>,
    /// NVIDIA device ids requested ("all" when every GPU).
    pub gpus: Vec<String>,
    pub restart_policy: Option<String>,
    pub started_at: Option<String>,
}

pub async fn status(docker: &Docker) -> Result<Vec<ContainerStatus>, DeployError> {
    let mut out = Vec::new();
    for c in list_ours(docker).await? {
        let condition = c.condition().to_string();
        let i = match docker.inspect_container(&c.id, None).await {
            Ok(i) => i,
            // Removed between the listing and now (a rollback or uninstall running): no longer there.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => continue,
            Err(e) => {
                return Err(DeployError::Engine {
                    what: format!("inspect {}", c.name),
                    detail: e.to_string(),
                })
            }
        };
        let state = i.state.clone().unwrap_or_default();
        let host = i.host_config.clone().unwrap_or_default();
        let mut endpoints: Vec<String> = host
            .port_bindings
            .unwrap_or_default()
            .into_iter()
            .flat_map(|(cport, binds)| {
                binds.unwrap_or_default().into_iter().map(move |b| {
                    format!(
                        "{}:{} -> {cport}",
                        b.host_ip.unwrap_or_default(),
                        b.host_port.unwrap_or_default()
                    )
                })
            })
            .collect();
        endpoints.sort();
        let gpus = host
            .device_requests
            .unwrap_or_default()
            .into_iter()
            .flat_map(|d| match (d.count, d.device_ids) {
                (Some(-1), _) => vec!["all".to_string()],
                (_, Some(ids)) => ids,
                _ => vec![],
            })
            .collect();
        out.push(ContainerStatus {
            name: c.name,
            component: c.component,
            image: i.config.and_then(|cfg| cfg.image).unwrap_or_default(),
            state: state.status.map(|s| s.to_string()).unwrap_or_default(),
            condition,
            health: state.health.and_then(|h| h.status).map(|s| s.to_string()),
            endpoints,
            gpus,
            restart_policy: host
                .restart_policy
                .and_then(|r| r.name)
                .map(|n| n.to_string()),
            started_at: state.started_at,
        });
    }
    out.sort_by_key(|s| s.component);
    Ok(out)
}

/// The container of a component, by label.
pub async fn container_of(docker: &Docker, component: Component) -> Result<String, DeployError> {
    list_ours(docker)
        .await?
        .into_iter()
        .filter(|c| c.component == Some(component))
        .min_by_key(|c| c.name.len())
        .map(|c| c.name)
        .ok_or_else(|| DeployError::Blocked(vec![format!(
            "no {component} container was installed here; run `aigw-installer apply --spec FILE` first"
        )]))
}

/// Log lines of a component's container; with `follow`, the stream stays open.
pub fn logs(
    docker: &Docker,
    container: &str,
    tail: u32,
    follow: bool,
) -> impl Stream<Item = Result<String, bollard::errors::Error>> {
    docker
        .logs(
            container,
            Some(
                LogsOptionsBuilder::default()
                    .follow(follow)
                    .stdout(true)
                    .stderr(true)
                    .tail(&tail.to_string())
                    .build(),
            ),
        )
        .map(|r| r.map(|o| o.to_string()))
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Removed {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
}

/// Removes every container and network carrying our app label; nothing else.
pub async fn uninstall(docker: &Docker) -> Result<Removed, DeployError> {
    let mut removed = Removed::default();
    for c in list_ours(docker).await? {
        let gone = docker
            .remove_container(
                &c.id,
                Some(RemoveContainerOptionsBuilder::default().force(true).build()),
            )
            .await;
        match gone {
            Ok(()) => {}
            // An apply's rollback (or another uninstall) got to it first.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404 | 409,
                ..
            }) => {}
            Err(e) => {
                return Err(DeployError::Engine {
                    what: format!("remove container {}", c.name),
                    detail: e.to_string(),
                })
            }
        }
        removed.containers.push(c.name);
    }
    let networks = labels::our_networks(docker, None)
        .await
        .map_err(|e| DeployError::Engine {
            what: "list networks".into(),
            detail: e.to_string(),
        })?;
    for n in networks {
        let name = n.name.unwrap_or_default();
        // By id: two networks may share our name (a run killed mid-create), and the name is then ambiguous.
        match docker
            .remove_network(n.id.as_deref().unwrap_or(&name))
            .await
        {
            // An apply's rollback got to it first.
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(e) => {
                return Err(DeployError::Engine {
                    what: format!("remove network {name}"),
                    detail: e.to_string(),
                })
            }
        }
        removed.networks.push(name);
    }
    Ok(removed)
}
