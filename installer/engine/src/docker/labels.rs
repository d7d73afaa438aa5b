//! The labels that mark what this installer created. Everything we list, change or remove is found by
//! these labels, never by name alone, so nothing we did not create is ever touched.

use bollard::models::{ContainerSummary, Network};
use bollard::query_parameters::{ListContainersOptionsBuilder, ListNetworksOptionsBuilder};
use bollard::Docker;
use std::collections::HashMap;

pub use aigw_core::plan::labels::*;

/// Our app label as an engine's label filter (`key=value`).
pub fn ours() -> String {
    format!("{APP}={APP_ID}")
}

/// All containers (running or not) that carry our app label.
pub async fn list_ours(docker: &Docker) -> Result<Vec<ContainerSummary>, bollard::errors::Error> {
    labelled(docker, &ours()).await
}

/// All containers (running or not) that carry `label` (`key=value`).
pub async fn labelled(
    docker: &Docker,
    label: &str,
) -> Result<Vec<ContainerSummary>, bollard::errors::Error> {
    let filters = HashMap::from([("label", vec![label.to_string()])]);
    docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
}

/// The networks that carry our app label; with `name`, only those named exactly that (Docker allows two
/// networks with one name).
pub async fn our_networks(
    docker: &Docker,
    name: Option<&str>,
) -> Result<Vec<Network>, bollard::errors::Error> {
    labelled_networks(docker, &ours(), name).await
}

/// The networks that carry `label` (`key=value`); with `name`, only those named exactly that.
pub async fn labelled_networks(
    docker: &Docker,
    label: &str,
    name: Option<&str>,
) -> Result<Vec<Network>, bollard::errors::Error> {
    let mut filters = HashMap::from([("label", vec![label.to_string()])]);
    if let Some(n) = name {
        filters.insert("name", vec![n.to_string()]);
    }
    let all = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await?;
    // Docker's name filter matches substrings.
    Ok(all
        .into_iter()
        .filter(|n| name.is_none_or(|want| n.name.as_deref() == Some(want)))
        .collect())
}
