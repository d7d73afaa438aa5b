//! The imperative shell of detection: runs every probe concurrently, each bounded in time, and assembles
//! the report. No probe can fail the whole detection; a probe that fails shows up as a finding.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::gpu::{self, GpuProbe, NvmlFailure, NvmlReading, NvmlUnavailable};
use super::network::{self, HostAddresses, PortCheck, PortPurpose, PortState};
use super::platform::{self, OsFamily};
use super::resources::{self, DiskPurpose};
use super::{accel, GpuSource, SystemReport, REPORT_SCHEMA_VERSION};
use crate::docker::engine::{self, Endpoint, EngineStatus};
use aigw_core::preflight;
use aigw_core::report::source::{FactSource, FactSources};
use aigw_core::spec::{DEFAULT_LOG_DIR, DEFAULT_WEIGHTS_DIR};
use tokio_util::sync::CancellationToken;

/// Bounds for probes that can block: a hung NVIDIA driver, a slow resolver, a dead engine.
pub(super) const NVML_BUDGET: Duration = Duration::from_secs(10);
const DNS_BUDGET: Duration = Duration::from_millis(1500);
pub(super) const DOCKER_BUDGET: Duration = Duration::from_secs(8);

#[derive(Clone)]
pub struct DetectOptions {
    pub gpu_probe: Arc<dyn GpuProbe>,
    pub gpu_source: GpuSource,
    pub docker_endpoint: Endpoint,
    /// Where the endpoint was chosen (`None`: set by the caller directly).
    pub docker_origin: Option<engine::Origin>,
    /// `/sys` on a real host.
    pub sysfs_root: PathBuf,
    pub log_dir: PathBuf,
    pub weights_dir: PathBuf,
    pub ports: Vec<(u16, PortPurpose)>,
    /// Read the server through the engine (`/info`, a GPU probe container, the container list) instead
    /// of this machine's probes. `from_env` sets it when the engine is not this machine; tests set it to
    /// take that path on a local engine.
    pub via_engine: bool,
    /// Images to run the GPU probe in, best first (the spec's model image).
    pub probe_images: Vec<String>,
    /// The GPU probe's device request; off only in tests on a machine without GPUs.
    pub probe_device_request: bool,
    /// Stops the probe containers early (they are removed either way).
    pub cancel: CancellationToken,
}

/// Connects to the engine the front end chose ([`engine::choose`]), else the one the environment names
/// as the docker CLI reads it (DOCKER_HOST, DOCKER_CONTEXT, the current context), else this machine's
/// socket. When it cannot be reached, the system check's finding for it: what is wrong and how to fix it.
pub async fn connect_docker() -> Result<(engine::Connection, Endpoint), preflight::Finding> {
    connect_docker_to(&engine::chosen()).await
}

/// [`connect_docker`] for an explicit choice (the wizard testing an engine the admin picked).
pub async fn connect_docker_to(
    choice: &engine::EngineChoice,
) -> Result<(engine::Connection, Endpoint), preflight::Finding> {
    let (endpoint, _) = engine::resolve(choice, &engine::DockerEnv::from_process());
    match engine::connect(&endpoint).await {
        Ok(c) => Ok((c, endpoint)),
        Err((reason, detail)) => Err(preflight::docker_unreachable(
            reason,
            &endpoint.display(),
            &detail,
        )),
    }
}

impl DetectOptions {
    /// The live system: NVML, the chosen engine ([`connect_docker`]), default paths and ports.
    pub fn from_env() -> Self {
        Self::for_engine(&engine::chosen())
    }

    /// The live system with the engine `choice` names (or the environment's when it names none).
    pub fn for_engine(choice: &engine::EngineChoice) -> Self {
        let (endpoint, origin) = engine::resolve(choice, &engine::DockerEnv::from_process());
        Self {
            gpu_probe: Arc::new(gpu::NvmlLibrary),
            gpu_source: GpuSource::Nvml,
            docker_endpoint: endpoint,
            docker_origin: Some(origin),
            sysfs_root: PathBuf::from("/sys"),
            log_dir: PathBuf::from(DEFAULT_LOG_DIR),
            weights_dir: PathBuf::from(DEFAULT_WEIGHTS_DIR),
            ports: network::DEFAULT_PORTS.to_vec(),
            via_engine: false,
            probe_images: Vec::new(),
            probe_device_request: true,
            cancel: CancellationToken::new(),
        }
        .engine_decides()
    }

    /// Through the engine exactly when the engine is not this machine.
    pub fn engine_decides(mut self) -> Self {
        self.via_engine = !self.docker_endpoint.is_local();
        self
    }

    /// Replaces NVML with a recorded profile (what-if planning, tests).
    pub fn with_gpu_profile(mut self, profile: gpu::GpuProfile) -> Self {
        self.gpu_source = GpuSource::Profile {
            machine: profile.machine.clone(),
            source: profile.source.clone(),
        };
        self.gpu_probe = Arc::new(profile);
        self
    }
}

/// Reads everything. Never fails; bounded by the slowest probe's budget (10 s at worst, a few ms here;
/// through the engine, the GPU probe's 30 s at worst).
pub async fn detect(opts: &DetectOptions) -> SystemReport {
    if opts.via_engine {
        return super::via_engine::detect(opts).await;
    }
    let nvml = {
        let probe = opts.gpu_probe.clone();
        bounded_blocking(NVML_BUDGET, move || probe.read())
    };
    let host = tokio::task::spawn_blocking(platform::probe_host);
    let names = tokio::task::spawn_blocking(|| {
        let hostname = sysinfo::System::host_name().unwrap_or_default();
        (hostname, network::interface_addresses())
    });
    let local = {
        let (sysfs, log_dir, weights_dir, ports) = (
            opts.sysfs_root.clone(),
            opts.log_dir.clone(),
            opts.weights_dir.clone(),
            opts.ports.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let memory = resources::probe_memory();
            let disks: Vec<_> = [
                (DiskPurpose::Weights, weights_dir),
                (DiskPurpose::Logs, log_dir),
            ]
            .into_iter()
            .filter_map(|(p, d)| resources::probe_disk(p, &d))
            .collect();
            let drm = accel::scan_drm(&sysfs);
            let ports: Vec<PortCheck> = ports
                .into_iter()
                .map(|(port, purpose)| PortCheck {
                    port,
                    purpose,
                    state: network::check_port(port),
                })
                .collect();
            (memory, disks, drm, ports)
        })
    };
    let docker = engine::probe_from(
        opts.docker_endpoint.clone(),
        opts.docker_origin.clone(),
        DOCKER_BUDGET,
    );

    let (nvml, host, names, local, docker) = tokio::join!(nvml, host, names, local, docker);
    let nvml = nvml.unwrap_or_else(|| {
        NvmlReading::Unavailable(NvmlUnavailable {
            kind: NvmlFailure::TimedOut,
            detail: format!("NVML did not answer within {NVML_BUDGET:?}"),
        })
    });
    let host = host.unwrap_or_else(|_| fallback_host());
    let (hostname, if_addrs) = names.unwrap_or_default();
    let (memory, mut disks, drm, mut ports) =
        local.unwrap_or_else(|_| (None, Vec::new(), Vec::new(), Vec::new()));

    let (fqdn, fqdn_problem) = resolve_fqdn_bounded(&hostname).await;
    let network = HostAddresses {
        hostname,
        fqdn,
        fqdn_problem,
        addresses: network::usable_addresses(if_addrs),
    };

    if let EngineStatus::Reachable(facts) = &docker.status {
        // Images live under the engine's root directory; measurable only when the engine is local.
        if docker.local {
            if let Some(root) = &facts.docker_root_dir {
                disks.extend(resources::probe_disk(DiskPurpose::Images, Path::new(root)));
            }
        }
        for p in &mut ports {
            if let (PortState::InUse { by_our_container }, Some(name)) =
                (&mut p.state, facts.our_published_ports.get(&p.port))
            {
                *by_our_container = Some(name.clone());
            }
        }
    }
    disks.sort_by_key(|d| d.purpose);

    let gpus = gpu::inventory(&nvml);
    let mut other_accelerators: Vec<_> = drm
        .into_iter()
        // NVIDIA boards on the bus are worth naming only when NVML cannot see them.
        .filter(|a| a.vendor != accel::Vendor::Nvidia || gpus.devices.is_empty())
        .collect();
    other_accelerators.extend(accel::apple_silicon(
        host.os,
        host.arch,
        &host.cpu_model,
        memory.map_or(0, |m| m.total_mib),
    ));

    let platform = platform_decision(&host, &docker);
    SystemReport {
        schema_version: REPORT_SCHEMA_VERSION,
        installer_version: env!("CARGO_PKG_VERSION").to_string(),
        host,
        platform,
        memory,
        disks,
        gpu_source: opts.gpu_source.clone(),
        gpus,
        other_accelerators,
        docker,
        ports,
        network,
        sources: FactSources::this_machine(match &opts.gpu_source {
            GpuSource::Profile { machine, .. } => FactSource::Profile {
                machine: machine.clone(),
            },
            _ => FactSource::Nvml,
        }),
        // Facts only: the caller judges them (`usecase::detect` adds the preflight findings).
        gateway_hosts: Vec::new(),
        findings: Vec::new(),
    }
}

/// On Linux the containers run on the engine's architecture; Docker Desktop (macOS, Windows) runs them in
/// a VM whose emulation we cannot see, so the host decides there.
pub(super) fn platform_decision(
    host: &platform::HostPlatform,
    docker: &engine::EngineReport,
) -> platform::PlatformDecision {
    match (&docker.status, host.os) {
        (EngineStatus::Reachable(f), OsFamily::Linux) if !f.architecture.is_empty() => {
            let emulation = docker.local && host.x86_64_emulation;
            platform::decide(
                OsFamily::Linux,
                platform::Arch::parse(&f.architecture),
                emulation,
            )
        }
        _ => platform::decide(host.os, host.arch, host.x86_64_emulation),
    }
}

async fn resolve_fqdn_bounded(hostname: &str) -> (Option<String>, Option<String>) {
    if hostname.is_empty() {
        return (None, Some("this host has no hostname".to_string()));
    }
    let h = hostname.to_string();
    match bounded_blocking(DNS_BUDGET, move || network::resolve_fqdn(&h)).await {
        Some(Ok(fqdn)) => (Some(fqdn), None),
        Some(Err(problem)) => (None, Some(problem)),
        None => (
            None,
            Some(format!(
                "resolving {hostname} took longer than {DNS_BUDGET:?}: the resolver is slow or unreachable"
            )),
        ),
    }
}

/// Runs blocking work on the blocking pool and gives up waiting after `budget` (the thread finishes on
/// its own; a hung driver call cannot be cancelled, only not waited for).
pub(super) async fn bounded_blocking<T: Send + 'static>(
    budget: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    tokio::time::timeout(budget, tokio::task::spawn_blocking(f))
        .await
        .ok()
        .and_then(Result::ok)
}

fn fallback_host() -> platform::HostPlatform {
    platform::HostPlatform {
        os: platform::host_os_family(),
        os_name: std::env::consts::OS.to_string(),
        os_version: None,
        kernel: None,
        wsl2: false,
        arch: platform::Arch::parse(std::env::consts::ARCH),
        arch_name: std::env::consts::ARCH.to_string(),
        cpu_model: "unknown".to_string(),
        logical_cores: 1,
        x86_64_emulation: false,
    }
}
