//! The engine probe against the real Docker engine, cross-checked with what the docker CLI itself says
//! (`docker info --format '{{json .}}'`): the same facts, read through the API at a negotiated version.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_engine::docker::engine::{self, Endpoint, EngineStatus};
use serde_json::Value;
use std::time::Duration;

fn docker_cli_info() -> Value {
    let out = std::process::Command::new("docker")
        .args(["info", "--format", "{{json .}}"])
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn probe_agrees_with_the_docker_cli() {
    if !aigw_e2e::docker_available() {
        return;
    }
    let cli = docker_cli_info();
    let endpoint = engine::default_socket(None);
    let report = engine::probe(endpoint, Duration::from_secs(10)).await;
    let EngineStatus::Reachable(f) = &report.status else {
        panic!("engine unreachable: {report:#?}");
    };
    assert_eq!(f.server_version, cli["ServerVersion"].as_str().unwrap());
    assert_eq!(f.architecture, cli["Architecture"].as_str().unwrap());
    assert_eq!(f.os_type, cli["OSType"].as_str().unwrap());
    assert_eq!(f.docker_root_dir.as_deref(), cli["DockerRootDir"].as_str());
    let mut cli_runtimes: Vec<String> = cli["Runtimes"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    cli_runtimes.sort();
    assert_eq!(f.runtimes, cli_runtimes);
    assert_eq!(f.nvidia_runtime, cli_runtimes.iter().any(|r| r == "nvidia"));
    let cli_rootless = cli["SecurityOptions"].as_array().is_some_and(|o| {
        o.iter()
            .any(|s| s.as_str().unwrap_or("").contains("rootless"))
    });
    assert_eq!(f.rootless, cli_rootless);
}

#[tokio::test]
async fn connection_speaks_a_version_the_engine_accepts() {
    if !aigw_e2e::docker_available() {
        return;
    }
    let conn = engine::connect(&Endpoint::Unix {
        path: "/var/run/docker.sock".into(),
    })
    .await
    .unwrap_or_else(|(r, d)| panic!("{r:?}: {d}"));
    assert!(conn.speak <= conn.engine_api);
    // A real call at the negotiated version succeeds (bollard's default, 1.53, would be refused by
    // engines older than Docker 29).
    let v = conn.docker.version().await.unwrap();
    assert_eq!(
        v.api_version.as_deref(),
        Some(
            format!(
                "{}.{}",
                conn.engine_api.major_version, conn.engine_api.minor_version
            )
            .as_str()
        )
    );
}
