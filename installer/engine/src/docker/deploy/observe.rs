//! Reading what exists of the desired objects, by label.

use bollard::Docker;
use std::collections::BTreeMap;

use super::{engine_err, is_not_found, DeployError};
use crate::docker::labels;
use aigw_core::plan::{Component, Desired, Observed, ObservedContainer};

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
