//! Detecting the server through its engine (issue 14), against the real engine: the GPU probe container
//! with a fake `nvidia-smi` (no GPU device request on machines without GPUs; the request itself is
//! checked in the create body), removed on success, failure, time-out and cancel; ports as the engine sees
//! them; the whole `detect` through the engine with every fact's source.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_core::report::gpu::{inventory, NvmlFailure, NvmlReading};
use aigw_core::report::network::{PortPurpose, PortState};
use aigw_core::report::nvidia_smi;
use aigw_core::report::source::FactSource;
use aigw_engine::docker::engine::{self, Connection};
use aigw_engine::hardware::gpu_probe::{self, GpuProbeOptions, PROBE_LABEL};
use aigw_engine::hardware::{server, DetectOptions, GpuSource};
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveImageOptionsBuilder,
};
use bollard::Docker;
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Generous: a guard against a hang, never a timing assertion.
const GUARD: Duration = Duration::from_secs(60);

fn fixture(name: &str) -> String {
    std::fs::read_to_string(aigw_e2e::fixtures().join(format!("gpus/nvidia-smi/{name}.csv")))
        .unwrap()
}

/// The engine and its lock, or `None` (skip) where no engine answers outside CI.
async fn engine() -> Option<(Docker, std::fs::File)> {
    if !aigw_e2e::docker_available() {
        return None;
    }
    let lock = aigw_e2e::engine_lock();
    let Connection { docker, .. } = engine::connect(&engine::default_socket(None))
        .await
        .unwrap_or_else(|(r, d)| panic!("{r:?}: {d}"));
    Some((docker, lock))
}

/// A tag no other test (of this process or another checkout) uses.
fn tag(what: &str) -> String {
    format!(
        "{what}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// Probe containers this process created that still exist.
async fn probe_containers(docker: &Docker) -> Vec<String> {
    let filters = HashMap::from([("label", vec![PROBE_LABEL.to_string()])]);
    let mine = format!("/aigw-gpu-probe-{}-", std::process::id());
    let port_probes = format!("-{}-", std::process::id());
    docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap()
        .into_iter()
        .flat_map(|c| c.names.unwrap_or_default())
        .filter(|n| {
            n.starts_with(&mine) || (n.starts_with("/aigw-port-probe-") && n.contains(&port_probes))
        })
        .collect()
}

async fn remove_image(docker: &Docker, image: &str) {
    docker
        .remove_image(
            image,
            Some(RemoveImageOptionsBuilder::default().force(true).build()),
            None,
        )
        .await
        .unwrap();
}

fn opts(image: &str, budget: Duration) -> GpuProbeOptions {
    GpuProbeOptions {
        preferred_images: vec![image.to_string()],
        device_request: false,
        budget,
    }
}

#[test]
fn the_fake_expects_the_probes_own_query() {
    assert_eq!(
        nvidia_smi::query_args().join(" "),
        aigw_e2e::fake_smi::expected_query()
    );
}

#[tokio::test]
async fn the_probe_reads_the_gpus_and_removes_its_container() {
    let Some((docker, _lock)) = engine().await else {
        return;
    };
    let image = aigw_e2e::fake_smi::build(&docker, &tag("a100x8"), &fixture("a100-80gb-x8")).await;
    let r = tokio::time::timeout(
        GUARD,
        gpu_probe::probe(&docker, &opts(&image, GUARD), &CancellationToken::new()),
    )
    .await
    .unwrap();
    assert_eq!(r.image.as_deref(), Some(image.as_str()));
    assert_eq!(
        inventory(&r.reading),
        inventory(&nvidia_smi::parse(&fixture("a100-80gb-x8")).unwrap())
    );
    assert_eq!(inventory(&r.reading).devices.len(), 8);
    assert_eq!(probe_containers(&docker).await, Vec::<String>::new());
    remove_image(&docker, &image).await;
}

#[tokio::test]
async fn a_failing_nvidia_smi_is_reported_and_its_container_removed() {
    let Some((docker, _lock)) = engine().await else {
        return;
    };
    let csv = "FAIL Failed to initialize NVML: Driver/library version mismatch\n";
    let image = aigw_e2e::fake_smi::build(&docker, &tag("fail"), csv).await;
    let r = tokio::time::timeout(
        GUARD,
        gpu_probe::probe(&docker, &opts(&image, GUARD), &CancellationToken::new()),
    )
    .await
    .unwrap();
    let NvmlReading::Unavailable(u) = r.reading else {
        panic!("{r:?}")
    };
    assert_eq!(u.kind, NvmlFailure::ProbeFailed);
    assert!(u.detail.contains("exited with 9"), "{}", u.detail);
    assert!(
        u.detail.contains("Driver/library version mismatch"),
        "{}",
        u.detail
    );
    assert_eq!(probe_containers(&docker).await, Vec::<String>::new());
    remove_image(&docker, &image).await;
}

#[tokio::test]
async fn a_cancelled_probe_removes_its_container() {
    let Some((docker, _lock)) = engine().await else {
        return;
    };
    let image = aigw_e2e::fake_smi::build(&docker, &tag("hang"), "HANG\n").await;
    let cancel = CancellationToken::new();
    let probe = {
        let (docker, opts, cancel) = (docker.clone(), opts(&image, GUARD), cancel.clone());
        tokio::spawn(async move { gpu_probe::probe(&docker, &opts, &cancel).await })
    };
    // Cancel once the engine runs the probe container.
    tokio::time::timeout(GUARD, async {
        loop {
            let filters = HashMap::from([
                ("label", vec![PROBE_LABEL.to_string()]),
                ("status", vec!["running".to_string()]),
            ]);
            let running = docker
                .list_containers(Some(
                    ListContainersOptionsBuilder::default()
                        .filters(&filters)
                        .build(),
                ))
                .await
                .unwrap();
            let mine = format!("/aigw-gpu-probe-{}-", std::process::id());
            if running
                .iter()
                .flat_map(|c| c.names.iter().flatten())
                .any(|n| n.starts_with(&mine))
            {
                break;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the probe container runs");
    cancel.cancel();
    let r = tokio::time::timeout(GUARD, probe).await.unwrap().unwrap();
    let NvmlReading::Unavailable(u) = r.reading else {
        panic!("{r:?}")
    };
    assert_eq!(
        (u.kind, u.detail.as_str()),
        (NvmlFailure::ProbeFailed, "cancelled")
    );
    assert_eq!(probe_containers(&docker).await, Vec::<String>::new());
    remove_image(&docker, &image).await;
}

#[tokio::test]
async fn a_probe_past_its_budget_removes_its_container() {
    let Some((docker, _lock)) = engine().await else {
        return;
    };
    let image = aigw_e2e::fake_smi::build(&docker, &tag("slow"), "HANG\n").await;
    let r = tokio::time::timeout(
        GUARD,
        gpu_probe::probe(
            &docker,
            &opts(&image, Duration::from_secs(2)),
            &CancellationToken::new(),
        ),
    )
    .await
    .unwrap();
    let NvmlReading::Unavailable(u) = r.reading else {
        panic!("{r:?}")
    };
    assert!(u.detail.contains("did not finish within"), "{}", u.detail);
    assert_eq!(probe_containers(&docker).await, Vec::<String>::new());
    remove_image(&docker, &image).await;
}

#[tokio::test]
async fn ports_are_seen_from_the_engine() {
    let Some((docker, _lock)) = engine().await else {
        return;
    };
    let image = aigw_e2e::fake_smi::build(&docker, &tag("ports"), "HANG\n").await;
    // A container (not ours) publishing one port, a program holding another, a third free.
    let (published, held, free) = (
        aigw_e2e::free_port(),
        std::net::TcpListener::bind("0.0.0.0:0").unwrap(),
        aigw_e2e::free_port(),
    );
    let held_port = held.local_addr().unwrap().port();
    let name = format!("aigw-test-publisher-{}", tag("p"));
    docker
        .create_container(
            Some(CreateContainerOptionsBuilder::default().name(&name).build()),
            ContainerCreateBody {
                image: Some(image.clone()),
                entrypoint: Some(vec!["nvidia-smi".into()]),
                cmd: Some(nvidia_smi::query_args()),
                exposed_ports: Some(vec![format!("{published}/tcp")]),
                host_config: Some(HostConfig {
                    port_bindings: Some(HashMap::from([(
                        format!("{published}/tcp"),
                        Some(vec![PortBinding {
                            host_ip: Some("127.0.0.1".into()),
                            host_port: Some(published.to_string()),
                        }]),
                    )])),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    docker.start_container(&name, None).await.unwrap();
    let ports = [
        (published, PortPurpose::ModelServer),
        (held_port, PortPurpose::Gateway),
        (free, PortPurpose::AgentPlatform),
    ];
    let checks = server::check_ports(&docker, &ports, Some(&image)).await;
    let states: Vec<_> = checks.iter().map(|c| c.state.clone()).collect();
    docker
        .remove_container(
            &name,
            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
        )
        .await
        .unwrap();
    drop(held);
    assert_eq!(
        states[0],
        PortState::InUse {
            by_our_container: None
        }
    );
    assert_eq!(
        states[1],
        PortState::InUse {
            by_our_container: None
        },
        "a port a program holds is found by the probe bind"
    );
    // Another process may take a port just released; only a bind that failed for another reason fails here.
    assert!(
        matches!(states[2], PortState::Free | PortState::InUse { .. }),
        "{:?}",
        states[2]
    );
    assert_eq!(probe_containers(&docker).await, Vec::<String>::new());
    remove_image(&docker, &image).await;
}

#[tokio::test]
async fn detect_through_the_engine_says_where_each_fact_came_from() {
    let Some((docker, _lock)) = engine().await else {
        return;
    };
    let image = aigw_e2e::fake_smi::build(&docker, &tag("detect"), &fixture("mixed")).await;
    let mut opts = DetectOptions::from_env();
    opts.docker_endpoint = engine::default_socket(None);
    opts.via_engine = true;
    opts.probe_images = vec![image.clone()];
    opts.probe_device_request = false;
    let r = tokio::time::timeout(GUARD, aigw_engine::usecase::detect(&opts))
        .await
        .unwrap();
    let info = docker.info().await.unwrap();
    assert_eq!(r.sources.host, FactSource::EngineInfo);
    assert_eq!(
        r.sources.gpus,
        FactSource::ProbeContainer {
            image: image.clone()
        }
    );
    assert_eq!(
        r.gpu_source,
        GpuSource::ProbeContainer {
            image: image.clone()
        }
    );
    assert_eq!(r.sources.ports, FactSource::EngineContainers);
    assert!(matches!(r.sources.memory, FactSource::Unknown { .. }));
    assert!(matches!(r.sources.disks, FactSource::Unknown { .. }));
    // Nothing from the workstation: no memory or disk figures, the engine's own name and platform.
    assert_eq!(r.memory, None);
    assert!(r.disks.is_empty());
    assert_eq!(Some(r.network.hostname.clone()), info.name);
    assert_eq!(Some(r.host.arch_name.clone()), info.architecture);
    assert_eq!(Some(r.host.os_name.clone()), info.operating_system);
    assert_eq!(
        r.gpus,
        inventory(&nvidia_smi::parse(&fixture("mixed")).unwrap())
    );
    assert!(
        r.findings.iter().any(|f| f.code == "gpu.detected"),
        "{:#?}",
        r.findings
    );
    assert!(r.findings.iter().any(|f| f.code == "gpu.mixed_models"));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["sources"]["host"]["kind"], "engine_info");
    assert_eq!(json["sources"]["gpus"]["image"], image.as_str());
    assert_eq!(probe_containers(&docker).await, Vec::<String>::new());
    remove_image(&docker, &image).await;
}
