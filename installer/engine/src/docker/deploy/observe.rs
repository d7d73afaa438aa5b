//! Reading what exists of the desired objects, by label.

use std::collections::BTreeMap;

use super::{engine_err, DeployError};
use crate::docker::container_engine::{ContainerEngine, EngineError};
use crate::docker::labels;
use aigw_core::plan::{Component, Desired, Observed, ObservedContainer, RunState};

/// Reads what exists of the desired objects.
pub(super) async fn observe<E: ContainerEngine>(
    engine: &E,
    desired: &Desired,
    local_engine: bool,
) -> Result<Observed, DeployError> {
    let network = match engine.inspect_network(&desired.network).await {
        Ok(n) => Some(n.labels.get(labels::APP).map(String::as_str) == Some(labels::APP_ID)),
        Err(EngineError::NotFound(_)) => None,
        // Docker allows two networks with one name (an apply killed while creating it, then run
        // again at once) and then refuses the name.
        Err(EngineError::Ambiguous(_)) => {
            return Err(DeployError::Blocked(vec![format!(
                "two Docker networks are named {} (an earlier run was stopped while creating it); \
                 `aigw-installer uninstall` removes the installer's own containers and networks, then \
                 apply again",
                desired.network
            )]))
        }
        Err(e) => return Err(engine_err("inspect the network")(e)),
    };
    let mut ours = list_ours(engine).await?;
    let mut foreign_names = Vec::new();
    for c in &desired.containers {
        if ours.iter().any(|o| o.name == c.name) {
            continue;
        }
        match engine.inspect_container(&c.name).await {
            Ok(_) => foreign_names.push(c.name.clone()),
            Err(EngineError::NotFound(_)) => {}
            Err(e) => return Err(engine_err("inspect containers")(e)),
        }
    }
    let mut images = BTreeMap::new();
    for c in &desired.containers {
        let id = match engine.inspect_image(&c.image).await {
            Ok(i) => i.id,
            Err(EngineError::NotFound(_)) => None,
            Err(e) => return Err(engine_err("inspect images")(e)),
        };
        images.insert(c.image.clone(), id);
    }
    let mut ports_taken = held_ports(desired, &ours, local_engine);
    // A port held while one of ours is not running may be that container starting: the engine finishes a
    // killed apply's start on its own, binding the port before the container reads as running. Give the
    // engine a moment to settle before calling the port another program's.
    let mut settle = 0;
    while !ports_taken.is_empty() && ours.iter().any(|o| !o.running) && settle < SETTLE_ROUNDS {
        settle += 1;
        tokio::time::sleep(SETTLE_PAUSE).await;
        ours = list_ours(engine).await?;
        ports_taken = held_ports(desired, &ours, local_engine);
    }
    Ok(Observed {
        network,
        ours,
        foreign_names,
        images,
        ports_taken,
    })
}

/// How long [`observe`] waits, at most, for a container of ours to finish starting.
const SETTLE_ROUNDS: u32 = 25;
const SETTLE_PAUSE: std::time::Duration = std::time::Duration::from_millis(200);

/// The desired host ports held by something other than our (running) containers.
fn held_ports(desired: &Desired, ours: &[ObservedContainer], local_engine: bool) -> Vec<u16> {
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
    ports_taken
}

/// Our containers (by label), as the planner reads them: each one inspected for how it runs (restarts,
/// last exit, health), which the listing does not tell.
pub(super) async fn list_ours<E: ContainerEngine>(
    engine: &E,
) -> Result<Vec<ObservedContainer>, DeployError> {
    let list = engine
        .list_containers(&labels::ours())
        .await
        .map_err(engine_err("list containers"))?;
    let mut out = Vec::with_capacity(list.len());
    for c in list {
        // Removed since the listing: its run state stays unknown (the default).
        let run = match engine.inspect_container(&c.id).await {
            Ok(info) => {
                let st = info.state.unwrap_or_default();
                RunState {
                    restarting: st.restarting,
                    restart_count: info.restart_count,
                    exit_code: st.exit_code,
                    health: st.health,
                }
            }
            Err(EngineError::NotFound(_)) => RunState::default(),
            Err(e) => return Err(engine_err("inspect containers")(e)),
        };
        out.push(ObservedContainer {
            component: match c.labels.get(labels::COMPONENT).map(String::as_str) {
                Some("model") => Some(Component::Model),
                Some("gateway") => Some(Component::Gateway),
                _ => None,
            },
            config_hash: c.labels.get(labels::CONFIG_HASH).cloned(),
            id: c.id,
            name: c.name,
            running: c.running,
            image_id: c.image_id,
            published_ports: c.published_ports,
            networks: c.networks,
            run,
        });
    }
    Ok(out)
}
