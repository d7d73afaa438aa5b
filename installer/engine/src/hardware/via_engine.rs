//! Detection of a server that is not this machine (issue 14): every fact through its engine, each with
//! its source; what the engine cannot tell is reported unknown, never read from the workstation.

use std::time::Duration;

use super::detect::{
    bounded_blocking, platform_decision, DetectOptions, DOCKER_BUDGET, NVML_BUDGET,
};
use super::gpu::{self, NvmlFailure, NvmlReading, NvmlUnavailable};
use super::gpu_probe::{self, GpuProbeOptions};
use super::network::{HostAddresses, PortCheck, PortState};
use super::{server, GpuSource, SystemReport, REPORT_SCHEMA_VERSION};
use crate::docker::engine::{self, EngineStatus, Unreachable};
use aigw_core::report::server::{addresses, host_platform, EngineInfo};
use aigw_core::report::source::{FactSource, FactSources};

/// Starting a container from a large image with GPUs attached takes seconds; a hung toolkit must not
/// hang detection.
pub const GPU_PROBE_BUDGET: Duration = Duration::from_secs(30);

pub async fn detect(opts: &DetectOptions) -> SystemReport {
    let endpoint = opts.docker_endpoint.clone();
    // One connection for every question (through ssh://, one login).
    let connected = match tokio::time::timeout(DOCKER_BUDGET, engine::connect(&endpoint)).await {
        Ok(r) => r,
        Err(_) => Err((
            Unreachable::TimedOut,
            format!("no answer within {DOCKER_BUDGET:?}"),
        )),
    };
    let docker = engine::probe_on(
        endpoint.clone(),
        opts.docker_origin.clone(),
        connected.as_ref().map_err(Clone::clone),
        DOCKER_BUDGET,
    );
    let conn = connected.as_ref().map_err(|(_, detail)| detail.clone());

    let rest = async {
        match &conn {
            Err(why) => {
                let why = format!(
                    "the engine at {} cannot be reached ({why})",
                    endpoint.display()
                );
                let reading = match opts.gpu_source {
                    GpuSource::Profile { .. } => profile_reading(opts).await,
                    _ => NvmlReading::Unavailable(NvmlUnavailable {
                        kind: NvmlFailure::ProbeFailed,
                        detail: why.clone(),
                    }),
                };
                let ports = opts
                    .ports
                    .iter()
                    .map(|&(port, purpose)| PortCheck {
                        port,
                        purpose,
                        state: PortState::Unknown {
                            detail: why.clone(),
                        },
                    })
                    .collect();
                let gpus_from =
                    profile_source(opts).unwrap_or(FactSource::Unknown { why: why.clone() });
                (
                    Err(why.clone()),
                    reading,
                    opts.gpu_source.clone(),
                    gpus_from,
                    ports,
                    FactSource::Unknown { why },
                )
            }
            Ok(c) => {
                let image = gpu_probe::choose_image(&c.docker, &opts.probe_images).await;
                let probe_opts = GpuProbeOptions {
                    preferred_images: opts.probe_images.clone(),
                    device_request: opts.probe_device_request,
                    budget: GPU_PROBE_BUDGET,
                };
                let gpus = async {
                    match profile_source(opts) {
                        Some(from) => (profile_reading(opts).await, opts.gpu_source.clone(), from),
                        None => {
                            let r = gpu_probe::probe_in(
                                &c.docker,
                                image.clone(),
                                &probe_opts,
                                &opts.cancel,
                            )
                            .await;
                            let from = match &r.image {
                                Some(image) => FactSource::ProbeContainer {
                                    image: image.clone(),
                                },
                                None => FactSource::Unknown {
                                    why: "no image on the server to run nvidia-smi in".into(),
                                },
                            };
                            let source = GpuSource::ProbeContainer {
                                image: r.image.unwrap_or_default(),
                            };
                            (r.reading, source, from)
                        }
                    }
                };
                let (info, (reading, source, from), ports) = tokio::join!(
                    tokio::time::timeout(DOCKER_BUDGET, server::info(&c.docker)),
                    gpus,
                    server::check_ports(&c.docker, &opts.ports, image.as_deref()),
                );
                let info =
                    info.unwrap_or_else(|_| Err(format!("no /info within {DOCKER_BUDGET:?}")));
                (
                    info,
                    reading,
                    source,
                    from,
                    ports,
                    FactSource::EngineContainers,
                )
            }
        }
    };
    let (docker, (info, reading, gpu_source, gpus_from, ports, ports_from)) =
        tokio::join!(docker, rest);

    let (info, host_from, network) = match info {
        Ok(i) => {
            let network = addresses(&endpoint, &i);
            (i, FactSource::EngineInfo, network)
        }
        Err(why) => (
            EngineInfo::default(),
            FactSource::Unknown { why: why.clone() },
            HostAddresses {
                hostname: String::new(),
                fqdn: None,
                fqdn_problem: Some(why),
                addresses: Vec::new(),
            },
        ),
    };
    let host = host_platform(&info);
    let mut ports = ports;
    if let EngineStatus::Reachable(facts) = &docker.status {
        for p in &mut ports {
            if let (PortState::InUse { by_our_container }, Some(name)) =
                (&mut p.state, facts.our_published_ports.get(&p.port))
            {
                *by_our_container = Some(name.clone());
            }
        }
    }
    let (memory_from, disks_from) = match &docker.status {
        EngineStatus::Reachable(f) => (
            FactSource::Unknown {
                why: match f.mem_total_mib {
                    Some(t) => format!(
                        "the engine reports the total ({t} MiB, in the engine facts), not what is available"
                    ),
                    None => "the engine reports no memory figure".into(),
                },
            },
            FactSource::Unknown {
                why: format!(
                    "free space on the server is not in the engine's API (images live under {})",
                    f.docker_root_dir.as_deref().unwrap_or("the engine's root directory")
                ),
            },
        ),
        EngineStatus::Unreachable { detail, .. } => (
            FactSource::Unknown {
                why: detail.clone(),
            },
            FactSource::Unknown {
                why: detail.clone(),
            },
        ),
    };

    let platform = platform_decision(&host, &docker);
    SystemReport {
        schema_version: REPORT_SCHEMA_VERSION,
        installer_version: env!("CARGO_PKG_VERSION").to_string(),
        host,
        platform,
        memory: None,
        disks: Vec::new(),
        gpu_source,
        gpus: gpu::inventory(&reading),
        // /sys of the server is not readable through the engine.
        other_accelerators: Vec::new(),
        docker,
        ports,
        network,
        sources: FactSources {
            host: host_from.clone(),
            memory: memory_from,
            disks: disks_from,
            gpus: gpus_from,
            ports: ports_from,
            network: host_from,
        },
        gateway_hosts: Vec::new(),
        findings: Vec::new(),
    }
}

fn profile_source(opts: &DetectOptions) -> Option<FactSource> {
    match &opts.gpu_source {
        GpuSource::Profile { machine, .. } => Some(FactSource::Profile {
            machine: machine.clone(),
        }),
        _ => None,
    }
}

async fn profile_reading(opts: &DetectOptions) -> NvmlReading {
    let probe = opts.gpu_probe.clone();
    bounded_blocking(NVML_BUDGET, move || probe.read())
        .await
        .unwrap_or_else(|| {
            NvmlReading::Unavailable(NvmlUnavailable {
                kind: NvmlFailure::TimedOut,
                detail: "the recorded profile was not read in time".into(),
            })
        })
}
