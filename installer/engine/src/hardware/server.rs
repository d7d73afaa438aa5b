//! The engine's host read through the engine (issue 14), for an engine that is not this machine: `/info`
//! for the platform, memory total and name; the container list (and a probe bind) for ports. What the
//! engine cannot tell stays unknown: nothing here reads the workstation.

use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use std::collections::HashMap;

use super::gpu_probe::PROBE_LABEL;
use super::network::{PortCheck, PortPurpose, PortState};
use aigw_core::plan::labels;
use aigw_core::report::server::EngineInfo;

/// `/info`'s fields detection uses.
pub async fn info(docker: &Docker) -> Result<EngineInfo, String> {
    let i = docker.info().await.map_err(|e| e.to_string())?;
    Ok(EngineInfo {
        name: i.name,
        os_type: i.os_type,
        operating_system: i.operating_system,
        os_version: i.os_version,
        kernel_version: i.kernel_version,
        architecture: i.architecture,
        ncpu: i.ncpu,
    })
}

/// Host ports published by the engine's running containers: port → (container name, whether ours).
pub async fn published_ports(docker: &Docker) -> Result<HashMap<u16, (String, bool)>, String> {
    let list = docker
        .list_containers(Some(ListContainersOptionsBuilder::default().build()))
        .await
        .map_err(|e| e.to_string())?;
    let mut out = HashMap::new();
    for c in list {
        let name = c
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default();
        let ours = c
            .labels
            .as_ref()
            .is_some_and(|l| l.get(labels::APP).map(String::as_str) == Some(labels::APP_ID));
        for p in c.ports.unwrap_or_default() {
            if let Some(public) = p.public_port {
                out.insert(public, (name.clone(), ours));
            }
        }
    }
    Ok(out)
}

/// Each port as the engine sees it: published by a container, else (with `bind_image`) tried by a
/// probe bind, else unknown (a program outside containers may hold it).
pub async fn check_ports(
    docker: &Docker,
    ports: &[(u16, PortPurpose)],
    bind_image: Option<&str>,
) -> Vec<PortCheck> {
    let published = published_ports(docker).await;
    let mut out = Vec::new();
    for &(port, purpose) in ports {
        let state = match &published {
            Err(e) => PortState::Unknown {
                detail: format!("the engine's container list failed: {e}"),
            },
            Ok(p) => match p.get(&port) {
                Some((name, ours)) => PortState::InUse {
                    by_our_container: ours.then(|| name.clone()),
                },
                None => match bind_image {
                    Some(image) => probe_bind(docker, image, port).await,
                    None => PortState::Unknown {
                        detail: "no container publishes it; a program outside containers on the \
                                 server was not checked (no image for a probe bind)"
                            .into(),
                    },
                },
            },
        };
        out.push(PortCheck {
            port,
            purpose,
            state,
        });
    }
    out
}

/// The create body of a probe bind: the port published on all addresses, an entrypoint that does not
/// exist. The engine binds the port before it starts the process, so the start's error tells which
/// failed; nothing runs on the server.
pub fn bind_body(image: &str, port: u16) -> ContainerCreateBody {
    let key = format!("{port}/tcp");
    ContainerCreateBody {
        image: Some(image.to_string()),
        entrypoint: Some(vec!["/aigw-port-probe-runs-nothing".to_string()]),
        exposed_ports: Some(vec![key.clone()]),
        labels: Some(HashMap::from([(
            PROBE_LABEL.to_string(),
            "port".to_string(),
        )])),
        host_config: Some(HostConfig {
            port_bindings: Some(HashMap::from([(
                key,
                Some(vec![PortBinding {
                    host_ip: Some("0.0.0.0".into()),
                    host_port: Some(port.to_string()),
                }]),
            )])),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Publishes `port` from a short-lived container and reads the engine's answer; always removes it.
pub async fn probe_bind(docker: &Docker, image: &str, port: u16) -> PortState {
    let name = format!(
        "aigw-port-probe-{port}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let (docker, image) = (docker.clone(), image.to_string());
    // Its own task: a caller that stops waiting still gets the container removed.
    let task = tokio::spawn(async move {
        let created = docker
            .create_container(
                Some(CreateContainerOptionsBuilder::default().name(&name).build()),
                bind_body(&image, port),
            )
            .await;
        if let Err(e) = created {
            return PortState::Unknown {
                detail: format!("the probe bind could not be created: {e}"),
            };
        }
        let started = docker.start_container(&name, None).await;
        let _ = docker
            .remove_container(
                &name,
                Some(RemoveContainerOptionsBuilder::default().force(true).build()),
            )
            .await;
        bind_answer(started.err().map(|e| e.to_string()).as_deref())
    });
    task.await.unwrap_or_else(|e| PortState::Unknown {
        detail: e.to_string(),
    })
}

/// The engine's answer to starting a probe bind, as a port state.
pub fn bind_answer(start_error: Option<&str>) -> PortState {
    let Some(e) = start_error else {
        return PortState::Free;
    };
    if e.contains("port is already allocated") || e.contains("address already in use") {
        PortState::InUse {
            by_our_container: None,
        }
    } else if e.contains("aigw-port-probe-runs-nothing") {
        // The port was bound, then the (absent) process failed to start.
        PortState::Free
    } else {
        PortState::Unknown {
            detail: format!("the probe bind failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engines_answer_to_a_bind_reads_as_a_port_state() {
        let taken = "driver failed programming external connectivity: Bind for 0.0.0.0:8000 failed: port is already allocated";
        assert_eq!(
            bind_answer(Some(taken)),
            PortState::InUse {
                by_our_container: None
            }
        );
        let other =
            "Error starting userland proxy: listen tcp4 0.0.0.0:8000: bind: address already in use";
        assert!(matches!(bind_answer(Some(other)), PortState::InUse { .. }));
        let exec = "failed to create task: exec: \"/aigw-port-probe-runs-nothing\": stat /aigw-port-probe-runs-nothing: no such file or directory";
        assert_eq!(bind_answer(Some(exec)), PortState::Free);
        assert!(matches!(
            bind_answer(Some("no such image")),
            PortState::Unknown { .. }
        ));
    }
}
