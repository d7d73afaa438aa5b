//! `aigw-installer detect`: the preflight report, readable or as JSON.

use aigw_core::spec::{DEFAULT_LOG_DIR, DEFAULT_WEIGHTS_DIR};
use aigw_engine::hardware::gpu::LoadProfile;
use anstream::println;
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

use aigw_core::preflight::Severity;
use aigw_engine::docker::engine::EngineStatus;
use aigw_engine::hardware::gpu::{GpuProfile, MigState, NvmlStatus};
use aigw_engine::hardware::network::PortState;
use aigw_engine::hardware::{DetectOptions, GpuSource, SystemReport};
use aigw_engine::usecase::detect;

use crate::render::{self, gib, BOLD, DIM, HEADING};

#[derive(clap::Args)]
#[command(
    after_help = "Exit status: 0 when the report was made (whatever it found); 3 with --strict when a \
    blocker was found; 1 on an error such as an unreadable --gpu-profile.\n\
    The JSON schema is documented in docs/detect-report.md."
)]
pub struct Args {
    /// Print the report as JSON (schema_version 1) instead of text.
    #[arg(long)]
    json: bool,
    /// Exit with status 3 when any blocker is found (for scripts and CI gates).
    #[arg(long)]
    strict: bool,
    /// Read GPUs from a recorded NVML profile instead of this machine's driver (what-if, support).
    #[arg(long, value_name = "FILE")]
    gpu_profile: Option<PathBuf>,
    /// Also write what NVML reported as a GPU profile (the --gpu-profile format), to keep a real machine's
    /// figures as a test fixture. Never replaces an existing file.
    #[arg(long, value_name = "FILE", conflicts_with = "gpu_profile")]
    save_gpu_profile: Option<PathBuf>,
    /// Where gateway logs will live (free space is checked there).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_LOG_DIR)]
    log_dir: PathBuf,
    /// Where model weights will live (free space is checked there).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_WEIGHTS_DIR)]
    weights_dir: PathBuf,
    /// Read the server only through its Docker engine (/info, a GPU probe container, the container list),
    /// as for a remote engine, even when the engine is this machine.
    #[arg(long)]
    via_engine: bool,
    /// An image on the server to run the GPU probe (nvidia-smi) in, tried first (repeatable; the model
    /// server's image is a good choice).
    #[arg(long, value_name = "IMAGE")]
    probe_image: Vec<String>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut opts = DetectOptions::from_env();
    opts.log_dir = args.log_dir;
    opts.weights_dir = args.weights_dir;
    opts.via_engine |= args.via_engine;
    opts.probe_images = args.probe_image;
    if let Some(path) = &args.gpu_profile {
        let profile = GpuProfile::load(path).context("--gpu-profile")?;
        opts = opts.with_gpu_profile(profile);
    }
    if let Some(path) = &args.save_gpu_profile {
        save_profile(path)?;
    }
    let report = detect(&opts).await;
    tracing::info!(
        blockers = report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Blocker)
            .count(),
        gpus = report.gpus.devices.len(),
        "detect finished"
    );
    if args.json {
        let json = serde_json::to_string_pretty(&report).context("serialising the report")?;
        println!("{json}");
    } else {
        print_report(&report);
    }
    Ok(if args.strict && report.has_blocker() {
        ExitCode::from(crate::EXIT_BLOCKED)
    } else {
        ExitCode::SUCCESS
    })
}

fn save_profile(path: &std::path::Path) -> anyhow::Result<()> {
    let profile = aigw_engine::hardware::gpu::record_profile();
    let json = serde_json::to_string_pretty(&profile).context("serialising the profile")?;
    aigw_engine::fsutil::write_new(path, format!("{json}\n").as_bytes(), false, 0o644)
        .with_context(|| format!("--save-gpu-profile {}", path.display()))?;
    Ok(())
}

fn row(label: &str, text: impl std::fmt::Display) {
    println!("  {BOLD}{label:<9}{BOLD:#} {text}");
}

fn print_report(r: &SystemReport) {
    println!(
        "{HEADING}aigw-installer {} — system check{HEADING:#}\n",
        r.installer_version
    );
    let h = &r.host;
    row(
        "Host",
        format!(
            "{}{}, {} ({}, {} logical cores){}",
            h.os_name,
            h.kernel
                .as_ref()
                .map(|k| format!(", kernel {k}"))
                .unwrap_or_default(),
            h.arch_name,
            h.cpu_model,
            h.logical_cores,
            if h.wsl2 { ", WSL2" } else { "" }
        ),
    );
    if let Some(m) = r.memory {
        row(
            "Memory",
            format!(
                "{} total, {} available",
                gib(m.total_mib),
                gib(m.available_mib)
            ),
        );
    }
    print_gpus(r);
    for a in &r.other_accelerators {
        row("Other", &a.name);
    }
    print_docker(r);
    for d in &r.disks {
        row(
            "Disk",
            format!(
                "{:<8} {} free at {}",
                format!("{:?}", d.purpose).to_lowercase(),
                gib(d.available_mib),
                d.path.display()
            ),
        );
    }
    let ports = r
        .ports
        .iter()
        .map(|p| {
            let s = match &p.state {
                PortState::Free => "free".to_string(),
                PortState::InUse {
                    by_our_container: Some(c),
                } => format!("ours ({c})"),
                PortState::InUse { .. } => "IN USE".to_string(),
                PortState::Unknown { .. } => "unknown".to_string(),
            };
            format!("{} {s}", p.port)
        })
        .collect::<Vec<_>>()
        .join(" · ");
    row("Ports", ports);
    let candidates = &r.gateway_hosts;
    row(
        "Reach",
        if candidates.is_empty() {
            "no address other hosts could use".to_string()
        } else {
            format!("gateway host candidates: {}", candidates.join(", "))
        },
    );

    println!("\n{HEADING}Where the facts come from{HEADING:#}");
    for (part, source) in r.sources.rows() {
        row(part, source.describe());
    }

    println!("\n{HEADING}Checks{HEADING:#}");
    for f in &r.findings {
        let style = render::severity_style(f.severity);
        println!(
            "  {style}{}{style:#}  {}  {DIM}[{}]{DIM:#}",
            render::severity_mark(f.severity),
            f.message,
            f.code
        );
        if let Some(fix) = &f.fix {
            println!("        {DIM}fix:{DIM:#} {fix}");
        }
    }
    let count = |s| r.findings.iter().filter(|f| f.severity == s).count();
    let (b, w) = (count(Severity::Blocker), count(Severity::Warning));
    let verdict = if b > 0 {
        let s = render::severity_style(Severity::Blocker);
        format!("{s}{b} blocker(s){s:#} and {w} warning(s): fix the blockers before installing")
    } else if w > 0 {
        let s = render::severity_style(Severity::Warning);
        format!("{s}ready, with {w} warning(s){s:#}")
    } else {
        let s = render::severity_style(Severity::Ok);
        format!("{s}ready{s:#}")
    };
    println!("\n{verdict}");
}

fn print_gpus(r: &SystemReport) {
    match &r.gpu_source {
        GpuSource::Profile { machine, .. } => row(
            "GPUs",
            format!("{DIM}(from recorded profile: {machine}){DIM:#}"),
        ),
        GpuSource::ProbeContainer { image } if !image.is_empty() => row(
            "GPUs",
            format!("{DIM}(nvidia-smi in a probe container from {image}){DIM:#}"),
        ),
        _ => {}
    }
    match &r.gpus.nvml {
        NvmlStatus::Unavailable(u) => row("GPUs", format!("none usable ({})", u.detail)),
        NvmlStatus::Available {
            driver_version,
            cuda_driver_version,
        } => {
            row(
                "GPUs",
                format!(
                    "{} NVIDIA, driver {driver_version}, CUDA {cuda_driver_version}",
                    r.gpus.devices.len()
                ),
            );
            for d in &r.gpus.devices {
                let mig = match d.mig {
                    MigState::Enabled => ", MIG on",
                    MigState::PendingChange { .. } => ", MIG change pending",
                    _ => "",
                };
                row(
                    "",
                    format!(
                        "[{}] {}  CC {}  {} total, {} free{mig}  {DIM}{}{DIM:#}",
                        d.index,
                        d.name,
                        d.compute_capability,
                        gib(d.memory_total_mib),
                        gib(d.memory_free_mib),
                        d.pci_bus_id
                    ),
                );
            }
        }
    }
}

fn print_docker(r: &SystemReport) {
    let at = r.docker.endpoint.display();
    let from = r
        .docker
        .origin
        .as_ref()
        .map(|o| format!(" (from {})", o.describe()))
        .unwrap_or_default();
    let at = format!("{at}{from}");
    match &r.docker.status {
        EngineStatus::Reachable(f) => {
            let runtimes = if f.runtimes.is_empty() {
                "none listed".to_string()
            } else {
                f.runtimes.join(", ")
            };
            row(
                "Docker",
                format!(
                    "{} (API {}) at {at}, {}/{}, runtimes: {runtimes}{}",
                    f.server_version,
                    f.api_version,
                    f.os_type,
                    f.architecture,
                    if f.rootless { ", rootless" } else { "" }
                ),
            );
        }
        EngineStatus::Unreachable { detail, .. } => {
            row("Docker", format!("unreachable at {at}: {detail}"));
        }
    }
}
