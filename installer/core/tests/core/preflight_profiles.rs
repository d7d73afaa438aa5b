//! Preflight over recorded GPU profiles and variations of a base report: each machine's findings are
//! snapshotted, and the decisions that matter are asserted one by one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_core::preflight::{assess, Finding, Severity};
use aigw_core::report::accel::{Accelerator, Vendor};
use aigw_core::report::engine::{EngineStatus, Unreachable};
use aigw_core::report::gpu::inventory;
use aigw_core::report::network::PortState;
use aigw_core::report::platform::{decide, Arch, OsFamily};
use aigw_core::report::SystemReport;

use crate::fixtures;

fn base() -> SystemReport {
    let text =
        std::fs::read_to_string(fixtures().join("reports/linux-amd64-gpu-server.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn with_profile(name: &str) -> SystemReport {
    let profile = crate::gpu_profile(name);
    let mut r = base();
    r.gpus = inventory(&profile.nvml);
    r
}

fn find<'a>(f: &'a [Finding], code: &str) -> Option<&'a Finding> {
    f.iter().find(|x| x.code == code)
}

fn render(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            let fix = f
                .fix
                .as_deref()
                .map(|x| format!("\n      fix: {x}"))
                .unwrap_or_default();
            format!("{:?} {}: {}{fix}", f.severity, f.code, f.message)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const PROFILES: &[&str] = &[
    "t4-x1",
    "a10g-x1",
    "l4-x1",
    "l40s-x1",
    "a100-40gb-x1",
    "a100-80gb-x8",
    "h100-x1",
    "h200-x1",
    "rtx4090-x1",
    "mixed",
    "none",
    "madeup-unknown-x2",
];

#[test]
fn every_profile_loads_with_nvml_memory_totals() {
    // The totals NVML really reports for each board (docs/sources.md, "GPUs"), in MiB.
    let expected = [
        ("t4-x1", 15360),
        ("a10g-x1", 23028),
        ("l4-x1", 23034),
        ("l40s-x1", 46068),
        ("a100-40gb-x1", 40960),
        ("a100-80gb-x8", 81920),
        ("h100-x1", 81559),
        ("h200-x1", 143771),
        ("rtx4090-x1", 24564),
    ];
    for (name, mib) in expected {
        let r = with_profile(name);
        assert!(!r.gpus.devices.is_empty(), "{name}");
        for d in &r.gpus.devices {
            assert_eq!(d.memory_total_mib, mib, "{name}");
            assert!(d.memory_free_mib < d.memory_total_mib, "{name}");
        }
    }
    assert_eq!(with_profile("a100-80gb-x8").gpus.devices.len(), 8);
}

#[test]
fn findings_per_profile_snapshot() {
    for name in PROFILES {
        let r = with_profile(name);
        insta::assert_snapshot!(format!("findings_{name}"), render(&assess(&r)));
    }
}

#[test]
fn a_server_with_modern_gpus_has_no_blocker() {
    for name in [
        "a10g-x1",
        "l4-x1",
        "l40s-x1",
        "a100-40gb-x1",
        "a100-80gb-x8",
        "h100-x1",
        "h200-x1",
        "rtx4090-x1",
    ] {
        let f = assess(&with_profile(name));
        let blockers: Vec<_> = f
            .iter()
            .filter(|x| x.severity == Severity::Blocker)
            .collect();
        assert!(blockers.is_empty(), "{name}: {blockers:#?}");
        assert_eq!(find(&f, "gpu.detected").unwrap().severity, Severity::Ok);
    }
}

#[test]
fn no_driver_is_a_blocker_with_the_fix() {
    let f = assess(&with_profile("none"));
    let d = find(&f, "gpu.no_driver").expect("no-driver finding");
    assert_eq!(d.severity, Severity::Blocker);
    assert!(
        d.message.starts_with("no NVIDIA driver found"),
        "{}",
        d.message
    );
    assert!(d.fix.as_deref().unwrap().contains("nvidia-smi"));
    // Without GPUs the container toolkit is irrelevant: no finding either way.
    assert!(f.iter().all(|x| !x.code.starts_with("docker.nvidia")));
}

#[test]
fn no_driver_names_a_gpu_seen_on_the_pci_bus() {
    let mut r = with_profile("none");
    r.other_accelerators.push(Accelerator {
        vendor: Vendor::Nvidia,
        name: "NVIDIA GPU (device 0x2330)".into(),
        pci_slot: Some("0000:18:00.0".into()),
        memory_mib: None,
        serving_note: String::new(),
    });
    let f = assess(&r);
    let d = find(&f, "gpu.no_driver").unwrap();
    assert!(d.message.contains("0000:18:00.0"), "{}", d.message);
}

#[test]
fn amd_without_nvidia_is_a_warning_not_a_blocker() {
    let mut r = with_profile("none");
    r.other_accelerators.push(Accelerator {
        vendor: Vendor::Amd,
        name: "AMD Instinct MI210".into(),
        pci_slot: Some("0000:03:00.0".into()),
        memory_mib: Some(65520),
        serving_note: "use Ollama with ROCm".into(),
    });
    let f = assess(&r);
    assert_eq!(
        find(&f, "gpu.no_driver").unwrap().severity,
        Severity::Warning
    );
    let amd = find(&f, "accelerator.amd").unwrap();
    assert!(amd.message.contains("MI210") && amd.fix.as_deref().unwrap().contains("ROCm"));
}

#[test]
fn memory_held_by_other_processes_is_explained() {
    let f = assess(&with_profile("mixed"));
    let m = find(&f, "gpu.memory_in_use").expect("memory in use on GPU 0");
    assert!(
        m.message.contains("GPU 0") && m.message.contains("pid 88121 (python3) 30720 MiB"),
        "{}",
        m.message
    );
    assert!(find(&f, "gpu.mixed_models").is_some());
    let t4 = find(&f, "gpu.compute_capability_limited").unwrap();
    assert!(t4.message.contains("Tesla T4") && t4.message.contains("7.5"));
}

#[test]
fn volta_is_refused_for_vllm() {
    let mut r = with_profile("t4-x1");
    r.gpus.devices[0].name = "Tesla V100-SXM2-16GB".into();
    r.gpus.devices[0].compute_capability = aigw_core::catalog::gpu::ComputeCapability::new(7, 0);
    let f = assess(&r);
    let b = find(&f, "gpu.compute_capability_too_old").unwrap();
    assert_eq!(b.severity, Severity::Blocker);
    assert!(b.fix.as_deref().unwrap().contains("Ollama"));
}

#[test]
fn gpus_without_container_toolkit_block() {
    let mut r = with_profile("h100-x1");
    let EngineStatus::Reachable(facts) = &mut r.docker.status else {
        panic!()
    };
    facts.nvidia_runtime = false;
    facts.runtimes.retain(|x| x != "nvidia");
    facts.nvidia_toolkit_on_host = Some(false);
    let f = assess(&r);
    let b = find(&f, "docker.nvidia_runtime_missing").unwrap();
    assert_eq!(b.severity, Severity::Blocker);
    assert!(b
        .fix
        .as_deref()
        .unwrap()
        .contains("nvidia-ctk runtime configure"));
    // CDI devices alone are enough.
    let EngineStatus::Reachable(facts) = &mut r.docker.status else {
        panic!()
    };
    facts.cdi_devices = vec!["nvidia.com/gpu=0".into(), "nvidia.com/gpu=all".into()];
    assert_eq!(
        find(&assess(&r), "docker.nvidia_runtime").unwrap().severity,
        Severity::Ok
    );
}

#[test]
fn each_unreachable_reason_has_its_own_code_and_fix() {
    let cases = [
        (
            Unreachable::SocketMissing,
            "docker.not_running",
            "systemctl",
        ),
        (
            Unreachable::PermissionDenied,
            "docker.permission_denied",
            "usermod -aG docker",
        ),
        (
            Unreachable::ConnectionRefused,
            "docker.connection_refused",
            "DOCKER_HOST",
        ),
        (Unreachable::NotDocker, "docker.not_docker", "DOCKER_HOST"),
        (
            Unreachable::TimedOut,
            "docker.timed_out",
            "systemctl status docker",
        ),
        (Unreachable::ApiTooOld, "docker.api_too_old", "20.10"),
        (Unreachable::Other, "docker.unreachable", "DOCKER_HOST"),
    ];
    for (reason, code, fix_part) in cases {
        let mut r = with_profile("h100-x1");
        r.docker.status = EngineStatus::Unreachable {
            reason,
            detail: "detail".into(),
        };
        let f = assess(&r);
        let d = find(&f, code).unwrap_or_else(|| panic!("{code} missing: {f:#?}"));
        assert_eq!(d.severity, Severity::Blocker, "{code}");
        assert!(
            d.fix.as_deref().unwrap().contains(fix_part),
            "{code}: {:?}",
            d.fix
        );
    }
}

#[test]
fn remote_and_rootless_engines_are_flagged() {
    let mut r = with_profile("l4-x1");
    r.docker.local = false;
    let EngineStatus::Reachable(facts) = &mut r.docker.status else {
        panic!()
    };
    facts.rootless = true;
    let f = assess(&r);
    assert_eq!(
        find(&f, "docker.remote_engine").unwrap().severity,
        Severity::Warning
    );
    assert_eq!(
        find(&f, "docker.rootless").unwrap().severity,
        Severity::Warning
    );
}

#[test]
fn platform_decisions_reach_the_findings() {
    let mut r = with_profile("none");
    r.platform = decide(OsFamily::Linux, Arch::Aarch64, false);
    let f = assess(&r);
    let b = find(&f, "platform.arm64_no_emulation").unwrap();
    assert_eq!(b.severity, Severity::Blocker);
    assert!(b.fix.as_deref().unwrap().contains("qemu-user-static"));

    r.platform = decide(OsFamily::Macos, Arch::Aarch64, false);
    let f = assess(&r);
    let w = find(&f, "platform.apple_silicon").unwrap();
    assert!(w.fix.as_deref().unwrap().contains("--platform linux/amd64"));
}

#[test]
fn ports_held_by_others_block_ours_do_not() {
    let mut r = with_profile("h100-x1");
    r.ports[0].state = PortState::InUse {
        by_our_container: None,
    };
    r.ports[1].state = PortState::InUse {
        by_our_container: Some("aigw-model".into()),
    };
    r.ports[2].state = PortState::InUse {
        by_our_container: None,
    };
    let f = assess(&r);
    assert_eq!(find(&f, "port.5052").unwrap().severity, Severity::Blocker);
    assert_eq!(find(&f, "port.8000").unwrap().severity, Severity::Ok);
    // The Agent Platform port only matters on GitLab 18.4+.
    assert_eq!(find(&f, "port.50052").unwrap().severity, Severity::Warning);
}

#[test]
fn hosts_without_fqdn_get_address_candidates_never_localhost() {
    let mut r = with_profile("h100-x1");
    r.network.fqdn = None;
    r.network.fqdn_problem =
        Some("gpu01 resolves to \"gpu01\", which is not a fully qualified name".into());
    let f = assess(&r);
    let w = find(&f, "network.no_fqdn").unwrap();
    assert!(w.fix.as_deref().unwrap().contains("http://10.20.0.5:5052"));
    assert!(!w.message.contains("localhost"));
    r.network.addresses.clear();
    assert_eq!(
        find(&assess(&r), "network.no_address").unwrap().severity,
        Severity::Blocker
    );
}

#[test]
fn small_disks_and_ram_are_judged_by_thresholds() {
    let mut r = with_profile("h100-x1");
    r.memory = Some(aigw_core::report::resources::Memory {
        total_mib: 16000,
        available_mib: 12000,
    });
    r.disks[0].available_mib = 8 * 1024; // images
    r.disks[1].available_mib = 20 * 1024; // weights
    let f = assess(&r);
    assert_eq!(
        find(&f, "memory.ram_low").unwrap().severity,
        Severity::Warning
    );
    assert_eq!(
        find(&f, "disk.images_full").unwrap().severity,
        Severity::Blocker
    );
    assert_eq!(
        find(&f, "disk.weights_low").unwrap().severity,
        Severity::Warning
    );
    assert_eq!(find(&f, "disk.logs").unwrap().severity, Severity::Ok);
}

#[test]
fn report_round_trips_through_json() {
    let mut r = with_profile("mixed");
    r.findings = assess(&r);
    let json = serde_json::to_string(&r).unwrap();
    let back: SystemReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
    // The mixed server has warnings only (see its snapshot); without a driver, the report is blocked, and the
    // blocker survives the round trip.
    assert!(find(&back.findings, "gpu.mixed_models").is_some());
    assert!(!back.has_blocker(), "{}", render(&back.findings));
    let mut none = with_profile("none");
    none.findings = assess(&none);
    let back: SystemReport = serde_json::from_str(&serde_json::to_string(&none).unwrap()).unwrap();
    assert_eq!(
        find(&back.findings, "gpu.no_driver").unwrap().severity,
        Severity::Blocker
    );
    assert!(back.has_blocker(), "{}", render(&back.findings));
}

/// Issue 16: a card no catalog knows is named as such, once per kind, and blocks nothing; known cards are
/// never named so.
#[test]
fn cards_outside_the_catalog_are_named() {
    let f = assess(&with_profile("madeup-unknown-x2"));
    let named: Vec<_> = f
        .iter()
        .filter(|x| x.code == "gpu.not_in_catalog")
        .collect();
    assert_eq!(named.len(), 1, "{f:#?}");
    assert!(
        named[0].message.contains("NVIDIA Made-Up B9000"),
        "{}",
        named[0].message
    );
    assert_eq!(named[0].severity, Severity::Ok);
    for name in PROFILES.iter().filter(|n| !n.starts_with("madeup")) {
        assert!(
            assess(&with_profile(name))
                .iter()
                .all(|x| x.code != "gpu.not_in_catalog"),
            "{name}"
        );
    }
}

/// Through a remote engine, a GPU probe that could not run says why and how to get it running.
#[test]
fn a_gpu_probe_that_could_not_run_is_a_blocker_with_its_fix() {
    use aigw_core::report::gpu::{NvmlFailure, NvmlReading, NvmlUnavailable};
    for (kind, code, fix_says) in [
        (
            NvmlFailure::NoProbeImage,
            "gpu.no_probe_image",
            "docker pull",
        ),
        (NvmlFailure::ProbeFailed, "gpu.probe_failed", "--gpus all"),
    ] {
        let mut r = base();
        r.gpus = inventory(&NvmlReading::Unavailable(NvmlUnavailable {
            kind,
            detail: "detail from the engine".into(),
        }));
        let findings = assess(&r);
        let f = find(&findings, code).unwrap_or_else(|| panic!("{code}: {findings:#?}"));
        assert_eq!(f.severity, Severity::Blocker);
        assert!(
            f.message.contains("detail from the engine"),
            "{}",
            f.message
        );
        assert!(f.fix.as_deref().unwrap().contains(fix_says), "{:?}", f.fix);
    }
}
