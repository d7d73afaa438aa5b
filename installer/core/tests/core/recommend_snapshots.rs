//! Snapshots of the explanations: the numbers an admin reads, checked by a person once and then kept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_core::catalog::{Catalog, Precision};
use aigw_core::recommend::{recommend, Machine, Platform, Recommendation, Request};
use aigw_core::report::gpu::inventory;

fn catalog() -> Catalog {
    Catalog::builtin().unwrap()
}

fn fixture(name: &str) -> Machine {
    let profile = crate::gpu_profile(name);
    Machine::from_parts(
        Platform::LinuxAmd64,
        &inventory(&profile.nvml).devices,
        &[],
        Some(128 * 1024),
        &catalog(),
    )
}

fn version(v: &str) -> Request {
    Request {
        gitlab_version: Some(v.parse().unwrap()),
        ..Request::default()
    }
}

/// The explanation, then the rejections, as the text command shows them.
fn render(p: &Recommendation) -> String {
    let mut out = vec![format!("verdict: {:?}", p.verdict)];
    out.extend(p.explanation.iter().map(|l| format!("- {l}")));
    if let Some(d) = &p.recommendation {
        out.push(format!("vllm_args: {}", d.vllm_args.join(" ")));
        out.push(format!("gpus: {:?}", d.gpus));
    }
    if let Some(t) = &p.demand {
        out.push(format!("demand: {} (enough: {})", t.summary, t.enough));
        out.extend(
            t.to_close_gap
                .iter()
                .map(|g| format!("to close the gap: {g}")),
        );
    }
    out.extend(
        p.rejected
            .iter()
            .map(|r| format!("rejected {}: {}", r.candidate, r.reason)),
    );
    out.join("\n")
}

fn snap(name: &str, m: &Machine, r: &Request) {
    let p = recommend(&catalog(), m, r).unwrap();
    insta::assert_snapshot!(name, render(&p));
}

#[test]
fn fixtures_on_the_newest_gitlab() {
    for f in ["h100-x1", "l4-x1", "rtx4090-x1", "t4-x1", "none"] {
        snap(&format!("newest-{f}"), &fixture(f), &Request::default());
    }
}

#[test]
fn fixtures_on_gitlab_18_2() {
    for f in ["h100-x1", "a100-80gb-x8", "a10g-x1", "mixed", "t4-x1"] {
        snap(&format!("18.2-{f}"), &fixture(f), &version("18.2"));
    }
}

#[test]
fn what_if_machines() {
    let c = catalog();
    let w = |gpus: Option<&str>, platform: Option<&str>, ram: Option<u64>| {
        Machine::what_if(&c, gpus, platform, ram).unwrap()
    };
    snap(
        "3xL40S",
        &w(Some("3xL40S"), None, None),
        &Request::default(),
    );
    snap("2xL4", &w(Some("2xL4"), None, None), &Request::default());
    snap(
        "2xV100-32-18.2",
        &w(Some("2xV100-32"), None, None),
        &version("18.2"),
    );
    snap(
        "mac-64gb",
        &w(None, Some("macos-arm64"), Some(64)),
        &Request::default(),
    );
    snap(
        "mac-16gb-18.2",
        &w(None, Some("macos-arm64"), Some(16)),
        &version("18.2"),
    );
    snap(
        "wsl2-2xRTX4090",
        &w(Some("2xRTX4090"), Some("windows-wsl2"), Some(64)),
        &Request::default(),
    );
    snap(
        "override-codestral-awq-2xt4",
        &w(Some("2xT4"), None, None),
        &Request {
            model: Some("codestral".into()),
            precision: Some(Precision::Awq),
            accept_licenses: vec!["codestral-22b-v0.1".into()],
            ..Request::default()
        },
    );
    // Issue 16: the whole machine (data parallelism), today's GPUs, a card by its numbers, the team's size.
    snap(
        "8xH100",
        &w(Some("8xH100"), None, None),
        &Request::default(),
    );
    snap(
        "2xB200",
        &w(Some("2xB200"), None, None),
        &Request::default(),
    );
    snap(
        "2x96GiB@cc10.0",
        &w(Some("2x96GiB@cc10.0"), None, None),
        &Request::default(),
    );
    let team = |n: u32| Request {
        developers: Some(n),
        ..Request::default()
    };
    snap(
        "team-1000-1xH100",
        &w(Some("1xH100"), None, None),
        &team(1000),
    );
    snap(
        "team-2000-1xH100",
        &w(Some("1xH100"), None, None),
        &team(2000),
    );
    snap(
        "team-2000-8xH100",
        &w(Some("8xH100"), None, None),
        &team(2000),
    );
}
