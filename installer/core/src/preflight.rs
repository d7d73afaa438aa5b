//! Preflight: pure judgement over a [`SystemReport`]. Every check yields a [`Finding`] with a stable code,
//! a severity, a plain message and, when something is wrong, the fix. Codes are part of the JSON contract
//! (docs/detect-report.md): rename one only with a schema version bump.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::catalog::gpu::{CC_BF16, CC_VLLM_MIN};
use crate::report::accel::Vendor;
use crate::report::engine::{EngineFacts, EngineStatus, Unreachable};
use crate::report::gpu::{MigState, NvmlFailure, NvmlStatus};
use crate::report::network::{PortPurpose, PortState};
use crate::report::platform::PlatformDecision;
use crate::report::resources::DiskPurpose;
use crate::report::SystemReport;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Ok,
    Warning,
    Blocker,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable identifier, e.g. `docker.permission_denied`.
    pub code: String,
    pub severity: Severity,
    pub message: String,
    /// What to do about it; absent on `ok` findings.
    pub fix: Option<String>,
}

fn ok(code: &str, message: impl Into<String>) -> Finding {
    Finding {
        code: code.into(),
        severity: Severity::Ok,
        message: message.into(),
        fix: None,
    }
}

fn warn(code: &str, message: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding {
        code: code.into(),
        severity: Severity::Warning,
        message: message.into(),
        fix: Some(fix.into()),
    }
}

fn block(code: &str, message: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding {
        code: code.into(),
        severity: Severity::Blocker,
        message: message.into(),
        fix: Some(fix.into()),
    }
}

/// vLLM refuses to start unless free memory ≥ gpu_memory_utilization × total; 0.9 is its default.
pub const DEFAULT_GPU_MEMORY_UTILIZATION: f64 = 0.9;
/// GitLab's hardware page: 32 GB RAM minimum, 64 GB recommended.
const RAM_RECOMMENDED_MIB: u64 = 32 * 1000 * 1000 * 1000 / (1024 * 1024);
const RAM_FLOOR_MIB: u64 = 4 * 1024;
/// The vLLM image is ~10 GB compressed; unpacked with the gateway image it needs ~25 GiB.
const IMAGES_WARN_MIB: u64 = 30 * 1024;
const IMAGES_BLOCK_MIB: u64 = 12 * 1024;
/// Mistral Small 3.2 24B in bf16 is 44.7 GiB; Mistral 7B in 4-bit is 3.9 GiB.
const WEIGHTS_WARN_MIB: u64 = 50 * 1024;
const WEIGHTS_BLOCK_MIB: u64 = 5 * 1024;
const LOGS_WARN_MIB: u64 = 1024;
/// Recent vLLM images are built for CUDA 12.8/12.9.
const CUDA_RECENT: (i32, i32) = (12, 8);

pub fn assess(r: &SystemReport) -> Vec<Finding> {
    let mut out = Vec::new();
    platform(r, &mut out);
    gpus(r, &mut out);
    accelerators(r, &mut out);
    docker(r, &mut out);
    resources(r, &mut out);
    network(r, &mut out);
    out
}

fn platform(r: &SystemReport, out: &mut Vec<Finding>) {
    let h = &r.host;
    out.push(match &r.platform {
        PlatformDecision::NativeAmd64 => ok(
            "platform.native_amd64",
            format!("{} on {}: the linux/amd64 gateway image runs natively", h.os_name, h.arch_name),
        ),
        PlatformDecision::AppleSiliconEmulation { docker_platform } => warn(
            "platform.apple_silicon",
            "Apple silicon: the gateway image is linux/amd64 only and runs under emulation",
            format!(
                "the installer passes --platform {docker_platform}; in Docker Desktop turn on \
                 \"Use Rosetta for x86_64/amd64 emulation\" (Settings > General) for speed"
            ),
        ),
        PlatformDecision::Arm64Emulation { docker_platform } => warn(
            "platform.arm64_emulated",
            "arm64 Linux: the linux/amd64 gateway image will run under QEMU emulation, slowly",
            format!(
                "the installer passes --platform {docker_platform}; for production run the gateway on an \
                 x86-64 host"
            ),
        ),
        PlatformDecision::Arm64NoEmulation => block(
            "platform.arm64_no_emulation",
            "arm64 Linux without x86-64 emulation: the linux/amd64-only gateway image cannot start",
            "register an x86-64 binfmt handler: sudo apt-get install qemu-user-static binfmt-support \
             (then check /proc/sys/fs/binfmt_misc/qemu-x86_64), or run the gateway on an x86-64 host",
        ),
        PlatformDecision::Unsupported { reason } => block(
            "platform.unsupported",
            format!("unsupported platform: {reason}"),
            "run the installer on an x86-64 Linux host with Docker",
        ),
    });
    if h.wsl2 {
        out.push(warn(
            "platform.wsl2",
            "running under WSL2: single-GPU serving works; tensor parallelism across GPUs has repeated \
             NCCL failures there (vLLM #5161, #4411)",
            "prefer a single GPU per model under WSL2, or a native Linux host for multi-GPU models",
        ));
    }
    if h.os == crate::report::platform::OsFamily::Windows {
        out.push(warn(
            "platform.windows",
            "Docker on Windows is not officially supported by GitLab for the AI gateway",
            "run the installer inside WSL2 (Ubuntu or Debian) or on a Linux host",
        ));
    }
}

fn gpus(r: &SystemReport, out: &mut Vec<Finding>) {
    let other_serving = r
        .other_accelerators
        .iter()
        .any(|a| matches!(a.vendor, Vendor::Amd | Vendor::Apple));
    let nvidia_on_bus = r
        .other_accelerators
        .iter()
        .filter(|a| a.vendor == Vendor::Nvidia)
        .filter_map(|a| a.pci_slot.clone())
        .collect::<Vec<_>>();
    let (driver, cuda) = match &r.gpus.nvml {
        NvmlStatus::Available {
            driver_version,
            cuda_driver_version,
        } => (driver_version, cuda_driver_version),
        NvmlStatus::Unavailable(u) => {
            let sev_block = !other_serving;
            let seen = if nvidia_on_bus.is_empty() {
                String::new()
            } else {
                format!(
                    " (an NVIDIA GPU is on the PCI bus at {})",
                    nvidia_on_bus.join(", ")
                )
            };
            let (code, message, fix) = match u.kind {
                NvmlFailure::LibraryNotFound => (
                    "gpu.no_driver",
                    format!("no NVIDIA driver found{seen}: libnvidia-ml.so.1 could not be loaded"),
                    "install the NVIDIA driver (Debian: apt-get install nvidia-driver from non-free; \
                     or NVIDIA's .run/CUDA repository packages), reboot, and check that nvidia-smi lists the GPUs",
                ),
                NvmlFailure::DriverNotLoaded => (
                    "gpu.driver_not_loaded",
                    format!("the NVIDIA library is installed but the kernel driver is not loaded{seen}"),
                    "load it (sudo modprobe nvidia) or reboot after a driver/kernel update; check dmesg for \
                     'NVRM' errors and that Secure Boot allows the module",
                ),
                NvmlFailure::NoPermission => (
                    "gpu.nvml_no_permission",
                    "NVML has no permission to talk to the driver".to_string(),
                    "check the permissions of /dev/nvidia* (the user needs read/write), or run as a user \
                     in the video group",
                ),
                NvmlFailure::TimedOut => (
                    "gpu.nvml_timeout",
                    format!("NVML did not answer: {}", u.detail),
                    "the driver may be hung: check nvidia-smi and dmesg; a reboot usually clears it",
                ),
                NvmlFailure::NoProbeImage => (
                    "gpu.no_probe_image",
                    format!("the server's GPUs were not read: {}", u.detail),
                    "pull an image on the server (the model server's, e.g. docker pull vllm/vllm-openai, or any \
                     glibc-based image such as ubuntu:24.04), or load the image bundle, then detect again",
                ),
                NvmlFailure::ProbeFailed => (
                    "gpu.probe_failed",
                    format!("nvidia-smi in a probe container on the server failed: {}", u.detail),
                    "on the server, docker run --rm --gpus all <image> nvidia-smi shows the driver's or the \
                     NVIDIA container toolkit's own error; fix that first",
                ),
                NvmlFailure::Other => (
                    "gpu.nvml_error",
                    format!("NVML failed: {}", u.detail),
                    "run nvidia-smi to see the driver's own error, and fix that first",
                ),
            };
            out.push(if sev_block {
                block(code, message, fix)
            } else {
                warn(code, message, fix)
            });
            return;
        }
    };
    let devs = &r.gpus.devices;
    if devs.is_empty() {
        out.push(block(
            "gpu.none",
            format!("the NVIDIA driver {driver} is loaded but reports no GPU"),
            "check nvidia-smi; in a VM, pass the GPU through; on a MIG-only setup, create MIG instances",
        ));
        return;
    }
    let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
    for d in devs {
        *by_name.entry(d.name.as_str()).or_default() += 1;
    }
    let summary = by_name
        .iter()
        .map(|(n, c)| format!("{c}× {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    out.push(ok(
        "gpu.detected",
        format!("{summary}; driver {driver}, CUDA {cuda}"),
    ));
    // A card newer than the catalog still plans: from NVML's memory and compute capability (issue 16).
    if let Ok(catalog) = crate::catalog::Catalog::builtin() {
        let mut unknown: Vec<&str> = Vec::new();
        for d in devs {
            if catalog
                .gpu_for_device(&d.name, d.memory_total_mib, d.compute_capability)
                .is_none()
                && !unknown.contains(&d.name.as_str())
            {
                unknown.push(&d.name);
                out.push(ok(
                    "gpu.not_in_catalog",
                    format!(
                        "{} is not in the catalog: plans use NVML's memory total ({} MiB) and compute \
                         capability {} alone",
                        d.name, d.memory_total_mib, d.compute_capability
                    ),
                ));
            }
        }
    }
    if by_name.len() > 1 {
        out.push(warn(
            "gpu.mixed_models",
            format!("different GPU models: {summary}"),
            "tensor parallelism only spans identical GPUs: the recommendation uses one group and reports \
             the others as spare",
        ));
    }
    if cuda_older_than(cuda, CUDA_RECENT) {
        out.push(warn(
            "gpu.cuda_driver_old",
            format!(
                "the driver supports CUDA {cuda}; recent vLLM images are built for CUDA {}.{}",
                CUDA_RECENT.0, CUDA_RECENT.1
            ),
            "update to a driver of the 570 branch or newer, or pin an older vLLM image tag built for your CUDA",
        ));
    }
    for d in devs {
        let label = format!("GPU {} ({})", d.index, d.name);
        if d.compute_capability < CC_VLLM_MIN {
            out.push(block(
                "gpu.compute_capability_too_old",
                format!(
                    "{label} has compute capability {}; current vLLM needs {CC_VLLM_MIN} or newer",
                    d.compute_capability
                ),
                "serve this GPU with Ollama instead (the recommendation offers it), or use a newer GPU",
            ));
        } else if d.compute_capability < CC_BF16 {
            out.push(warn(
                "gpu.compute_capability_limited",
                format!(
                    "{label} has compute capability {}: no bf16 (fp16 only), no FP8 or Marlin kernels, and \
                     vLLM support depends on the release",
                    d.compute_capability
                ),
                "pin a vLLM image tag that still supports Turing and smoke-test it; the recommendation uses fp16",
            ));
        }
        let free = d.free_fraction();
        if free < DEFAULT_GPU_MEMORY_UTILIZATION {
            let holders = if d.processes.is_empty() {
                "no process is listed (another container or a MIG/driver reservation may hold it)"
                    .to_string()
            } else {
                d.processes
                    .iter()
                    .map(|p| {
                        format!(
                            "pid {}{}{}",
                            p.pid,
                            p.name
                                .as_ref()
                                .map(|n| format!(" ({n})"))
                                .unwrap_or_default(),
                            p.used_mib.map(|m| format!(" {m} MiB")).unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            out.push(warn(
                "gpu.memory_in_use",
                format!(
                    "{label}: {} of {} MiB in use ({:.0}% free); held by {holders}",
                    d.memory_total_mib - d.memory_free_mib,
                    d.memory_total_mib,
                    free * 100.0
                ),
                format!(
                    "vLLM refuses to start unless free memory ≥ gpu_memory_utilization × total (default {}): \
                     stop those processes, or the recommendation lowers gpu_memory_utilization to fit",
                    DEFAULT_GPU_MEMORY_UTILIZATION
                ),
            ));
        }
        match d.mig {
            MigState::Enabled => out.push(warn(
                "gpu.mig_enabled",
                format!("{label} is in MIG mode: it is split into smaller instances"),
                "serve from one MIG instance only for small models, or disable MIG: \
                 sudo nvidia-smi -i <index> -mig 0 (then reset the GPU)",
            )),
            MigState::PendingChange {
                enabled_after_reset,
            } => out.push(warn(
                "gpu.mig_pending",
                format!(
                    "{label} will {} MIG mode at its next reset",
                    if enabled_after_reset {
                        "enter"
                    } else {
                        "leave"
                    }
                ),
                "reset the GPU (sudo nvidia-smi -i <index> -r) or reboot before installing",
            )),
            MigState::Disabled | MigState::Unsupported => {}
        }
    }
}

fn cuda_older_than(cuda: &str, (maj, min): (i32, i32)) -> bool {
    let mut parts = cuda.split('.').map(|p| p.parse::<i32>().unwrap_or(0));
    let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    a > 0 && (a, b) < (maj, min)
}

fn accelerators(r: &SystemReport, out: &mut Vec<Finding>) {
    for a in &r.other_accelerators {
        let code = match a.vendor {
            Vendor::Amd => "accelerator.amd",
            Vendor::Apple => "accelerator.apple_silicon",
            Vendor::Nvidia => continue, // named in the driver finding
        };
        let mem = a
            .memory_mib
            .map(|m| format!(", {m} MiB"))
            .unwrap_or_default();
        out.push(warn(
            code,
            format!("{}{mem}", a.name),
            a.serving_note.clone(),
        ));
    }
}

fn docker(r: &SystemReport, out: &mut Vec<Finding>) {
    let d = &r.docker;
    let at = d.endpoint.display();
    let facts = match &d.status {
        EngineStatus::Reachable(f) => f,
        EngineStatus::Unreachable { reason, detail } => {
            out.push(docker_unreachable(*reason, &at, detail));
            return;
        }
    };
    out.push(ok(
        "docker.reachable",
        format!(
            "Docker {} at {at} (API {}, speaking {}), {}/{}",
            facts.server_version,
            facts.api_version,
            facts.negotiated_api_version,
            facts.os_type,
            facts.architecture
        ),
    ));
    if d.endpoint.is_plain_remote_tcp() {
        out.push(warn(
            "docker.plain_tcp",
            format!("{at} is plain TCP to another host: anyone who reaches that port is root on the server"),
            "use ssh://user@host, or TLS with client certificates (DOCKER_TLS_VERIFY=1, DOCKER_CERT_PATH), \
             and firewall the port",
        ));
    }
    if !d.local {
        out.push(warn(
            "docker.remote_engine",
            format!(
                "the engine at {at} may be another machine: its platform, GPUs and ports are read through \
                 the engine; its memory and free disk space cannot be read from here"
            ),
            "check memory and free disk space on the server itself (free -g; df -h on Docker's root \
             directory and the weights directory)",
        ));
    }
    if facts.rootless {
        out.push(warn(
            "docker.rootless",
            "the engine runs rootless",
            "GPU containers under rootless Docker need no-cgroups = true in \
             /etc/nvidia-container-runtime/config.toml; published ports below 1024 are not available",
        ));
    }
    if !r.gpus.devices.is_empty() {
        out.push(nvidia_toolkit(facts));
    }
}

fn nvidia_toolkit(f: &EngineFacts) -> Finding {
    let cdi_nvidia = f
        .cdi_devices
        .iter()
        .any(|d| d.starts_with("nvidia.com/gpu"));
    if f.nvidia_runtime || cdi_nvidia || f.nvidia_toolkit_on_host == Some(true) {
        let how = if f.nvidia_runtime {
            "the nvidia runtime is registered"
        } else if cdi_nvidia {
            "CDI devices nvidia.com/gpu are present"
        } else {
            "the NVIDIA container toolkit hook is installed"
        };
        ok(
            "docker.nvidia_runtime",
            format!("containers can use GPUs: {how}"),
        )
    } else {
        block(
            "docker.nvidia_runtime_missing",
            "the engine cannot give containers a GPU: no nvidia runtime, no CDI device and no NVIDIA container toolkit",
            "install the NVIDIA Container Toolkit (package nvidia-container-toolkit), then \
             sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker",
        )
    }
}

/// The finding (and its fix) for an engine that cannot be used; the CLI reuses it as its error text.
pub fn docker_unreachable(reason: Unreachable, at: &str, detail: &str) -> Finding {
    let (code, what, fix): (&str, String, String) = match reason {
        Unreachable::SocketMissing => (
            "docker.not_running",
            format!("no Docker engine at {at}: {detail}"),
            "start it (sudo systemctl enable --now docker), install it (sudo apt-get install docker.io), \
             or point DOCKER_HOST at the right socket"
                .into(),
        ),
        Unreachable::PermissionDenied => (
            "docker.permission_denied",
            format!("permission denied on {at}"),
            "add your user to the docker group (sudo usermod -aG docker $USER), then log out and in again; \
             or run the installer with sudo"
                .into(),
        ),
        Unreachable::ConnectionRefused => (
            "docker.connection_refused",
            format!("nothing accepts connections at {at}: {detail}"),
            "check the host and port, that the engine (or sshd) runs and listens there and no firewall \
             drops it; or unset DOCKER_HOST to use the local socket"
                .into(),
        ),
        Unreachable::NotDocker => (
            "docker.not_docker",
            format!("something answered at {at}, but it is not the Docker Engine API: {detail}"),
            "DOCKER_HOST points at another service; set it to the engine's socket or port \
             (unix:///var/run/docker.sock, tcp://host:2375)"
                .into(),
        ),
        Unreachable::TimedOut => (
            "docker.timed_out",
            format!("no answer from {at}: {detail}"),
            "the engine is hung or a firewall drops the traffic; check systemctl status docker".into(),
        ),
        Unreachable::ApiTooOld => (
            "docker.api_too_old",
            format!("the engine at {at} is too old: {detail}"),
            "upgrade to Docker Engine 20.10 (API 1.41) or newer".into(),
        ),
        Unreachable::UnsupportedEndpoint => (
            "docker.unsupported_endpoint",
            format!("cannot use DOCKER_HOST={at}"),
            detail.to_string(),
        ),
        Unreachable::ContextNotFound => (
            "docker.context_not_found",
            format!("no Docker context {at}: {detail}"),
            "list the contexts with docker context ls, create one with \
             docker context create NAME --docker host=ssh://user@host, or choose another"
                .into(),
        ),
        Unreachable::SshHostKey => (
            "docker.ssh_host_key",
            format!("ssh does not trust the host key of {at}: {detail}"),
            "check the server's key fingerprint, then add it once: ssh-keyscan -p PORT HOST >> ~/.ssh/known_hosts \
             (or connect once with ssh user@host and answer yes); never turn host key checking off"
                .into(),
        ),
        Unreachable::SshAuth => (
            "docker.ssh_auth",
            format!("the server refused this user's ssh keys at {at}: {detail}"),
            "load your key into the agent (ssh-add ~/.ssh/id_ed25519) or name it with IdentityFile in \
             ~/.ssh/config, and put its .pub into the server's ~/.ssh/authorized_keys (ssh-copy-id user@host); \
             passwords cannot be typed here"
                .into(),
        ),
        Unreachable::SshRemoteDocker => (
            "docker.ssh_remote_docker",
            format!("ssh reached {at}, but the engine there cannot be used: {detail}"),
            "install the docker CLI on the server, start its engine, and add the ssh user to the docker \
             group there (sudo usermod -aG docker USER)"
                .into(),
        ),
        Unreachable::TlsUntrusted => (
            "docker.tls_untrusted",
            format!("the engine at {at} has a certificate this client does not trust: {detail}"),
            "use the CA that signed the engine's certificate as ca.pem (DOCKER_CERT_PATH, the context's TLS \
             material, or the CA file given)"
                .into(),
        ),
        Unreachable::TlsExpired => (
            "docker.tls_expired",
            format!("the engine at {at} presents an expired (or not yet valid) certificate: {detail}"),
            "renew the engine's server certificate (and check both clocks), then restart the engine".into(),
        ),
        Unreachable::TlsClientCert => (
            "docker.tls_client_cert",
            format!("the engine at {at} refused this client's certificate: {detail}"),
            "give cert.pem and key.pem signed by the CA the engine trusts (DOCKER_CERT_PATH, the context's \
             TLS material, or the certificate and key files)"
                .into(),
        ),
        Unreachable::TlsFiles => (
            "docker.tls_files",
            format!("the TLS files for {at} cannot be used: {detail}"),
            "put ca.pem, cert.pem and key.pem into DOCKER_CERT_PATH (default ~/.docker), or name them \
             explicitly"
                .into(),
        ),
        Unreachable::Other => (
            "docker.unreachable",
            format!("cannot talk to the engine at {at}: {detail}"),
            "check systemctl status docker and DOCKER_HOST".into(),
        ),
    };
    block(code, what, fix)
}

fn resources(r: &SystemReport, out: &mut Vec<Finding>) {
    if let Some(m) = r.memory {
        let gib = m.total_mib as f64 / 1024.0;
        out.push(if m.total_mib < RAM_FLOOR_MIB {
            block(
                "memory.ram_too_small",
                format!("{gib:.1} GiB RAM"),
                "the stack needs at least 32 GB (GitLab's minimum for self-hosted models)",
            )
        } else if m.total_mib < RAM_RECOMMENDED_MIB {
            warn(
                "memory.ram_low",
                format!("{gib:.1} GiB RAM ({} MiB available)", m.available_mib),
                "GitLab asks for 32 GB minimum and 64 GB recommended; loading large checkpoints needs host RAM",
            )
        } else {
            ok(
                "memory.ram",
                format!("{gib:.1} GiB RAM ({} MiB available)", m.available_mib),
            )
        });
    }
    for disk in &r.disks {
        let (code, warn_at, block_at, what) = match disk.purpose {
            DiskPurpose::Images => ("disk.images", IMAGES_WARN_MIB, IMAGES_BLOCK_MIB, "images"),
            DiskPurpose::Weights => (
                "disk.weights",
                WEIGHTS_WARN_MIB,
                WEIGHTS_BLOCK_MIB,
                "model weights",
            ),
            DiskPurpose::Logs => ("disk.logs", LOGS_WARN_MIB, 0, "gateway logs"),
        };
        let msg = format!(
            "{:.1} GiB free for {what} at {} (measured at {})",
            disk.available_mib as f64 / 1024.0,
            disk.path.display(),
            disk.measured_at.display()
        );
        out.push(if disk.available_mib < block_at {
            block(
                &format!("{code}_full"),
                msg,
                format!(
                    "free space or choose another directory: at least {} GiB is needed",
                    block_at / 1024
                ),
            )
        } else if disk.available_mib < warn_at {
            warn(
                &format!("{code}_low"),
                msg,
                format!(
                    "{} GiB or more is advisable; free space or choose another directory",
                    warn_at / 1024
                ),
            )
        } else {
            ok(code, msg)
        });
    }
}

fn network(r: &SystemReport, out: &mut Vec<Finding>) {
    for p in &r.ports {
        let what = match p.purpose {
            PortPurpose::Gateway => "the AI gateway",
            PortPurpose::ModelServer => "the model server",
            PortPurpose::AgentPlatform => "the Duo Agent Platform (GitLab 18.4+)",
        };
        let code = format!("port.{}", p.port);
        out.push(match &p.state {
            PortState::Free => ok(&code, format!("port {} is free for {what}", p.port)),
            PortState::InUse {
                by_our_container: Some(c),
            } => ok(
                &code,
                format!("port {} is served by our container {c}", p.port),
            ),
            PortState::InUse {
                by_our_container: None,
            } => {
                let message = format!("port {} (for {what}) is in use by another program", p.port);
                let fix = format!(
                    "find it with: sudo ss -ltnp 'sport = :{}' and stop it, or choose another port",
                    p.port
                );
                if p.purpose == PortPurpose::AgentPlatform {
                    warn(&code, message, fix)
                } else {
                    block(&code, message, fix)
                }
            }
            PortState::Unknown { detail } => warn(
                &code,
                format!("could not check port {}: {detail}", p.port),
                "check it by hand with ss -ltn",
            ),
        });
    }
    let n = &r.network;
    let candidates = n.gateway_host_candidates();
    out.push(match (&n.fqdn, candidates.first()) {
        (Some(fqdn), _) => ok(
            "network.gateway_host",
            format!("GitLab and IDEs can reach the gateway as http://{fqdn}:5052 (candidates: {})", candidates.join(", ")),
        ),
        (None, Some(first)) => warn(
            "network.no_fqdn",
            format!(
                "{}; use an address instead: {}",
                n.fqdn_problem.as_deref().unwrap_or("no fully qualified host name"),
                candidates.join(", ")
            ),
            format!(
                "give this host a DNS name GitLab can resolve, or use http://{first}:5052 as the gateway URL \
                 (never localhost: GitLab and IDEs resolve it to themselves)"
            ),
        ),
        (None, None) => block(
            "network.no_address",
            "this host has neither a resolvable name nor a non-loopback address",
            "connect it to the network GitLab is on; the gateway URL cannot be localhost",
        ),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_versions_compare_numerically() {
        assert!(cuda_older_than("12.4", (12, 8)));
        assert!(!cuda_older_than("12.8", (12, 8)));
        assert!(!cuda_older_than("13.0", (12, 8)));
        assert!(cuda_older_than("11.8", (12, 8)));
        assert!(!cuda_older_than("garbage", (12, 8)));
    }

    #[test]
    fn severities_order_for_sorting() {
        assert!(Severity::Blocker > Severity::Warning && Severity::Warning > Severity::Ok);
    }
}
