//! The exported docker-compose.yml and docker-run.sh, checked by the real tools: `docker-compose config`
//! accepts the file, and `docker-compose up -d` or `sh docker-run.sh` brings up the stand-ins healthy with the
//! environment and health checks `apply` would set — so exactly that our own `plan` then finds nothing to change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_core::export::compose::compose_yaml;
use aigw_core::export::gateway::{docker_run_script, env_file};
use aigw_core::plan::{desired, Component, Desired, Step};
use aigw_core::spec::DeploymentSpec;
use aigw_e2e::free_port;
use aigw_e2e::standin;
use aigw_engine::docker::body::create_body;
use aigw_engine::docker::{deploy, http};
use bollard::Docker;
use std::process::Command;
use std::time::{Duration, Instant};

fn compose(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new("docker-compose")
        .args(["-p", "aigwcompose", "-f"])
        .arg(dir.join("docker-compose.yml"))
        .args(args)
        .output()
        .expect("docker-compose (Debian package docker-compose) must be installed")
}

async fn wait_ok(url: &str) {
    let start = Instant::now();
    loop {
        if let Ok(r) = http::request(url, None, Duration::from_secs(2)).await {
            if r.status == 200 {
                return;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{url} never answered 200"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A spec for the stand-ins in `dir` (weights and a log directory owned by the gateway's user, as the
/// exported README tells admins).
fn spec_in(dir: &std::path::Path, gw: u16, model: u16) -> DeploymentSpec {
    let mut spec = aigw_e2e::standin_spec(dir, "aigw-compose");
    spec.gateway.port = gw;
    spec.model.port = model;
    // As the exported README tells admins: the log directory belongs to the user the gateway runs as.
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    std::os::unix::fs::chown(
        dir.join("logs"),
        Some(standin::GATEWAY_UID),
        Some(standin::GATEWAY_UID),
    )
    .unwrap();
    spec
}

/// The services `tool` brought up answer, the gateway has the environment `apply` sets, and our plan
/// keeps both containers (same names, labels and configuration): `tool` made exactly what `apply` makes.
async fn made_what_apply_makes(d: &Docker, spec: &DeploymentSpec, want: &Desired, tool: &str) {
    wait_ok(&format!("http://127.0.0.1:{}/health", spec.model.port)).await;
    wait_ok(&format!(
        "http://127.0.0.1:{}/monitoring/healthz",
        spec.gateway.port
    ))
    .await;
    let env = http::request(
        &format!("http://127.0.0.1:{}/stand-in/env", spec.gateway.port),
        None,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let env: serde_json::Value = serde_json::from_str(&env.body).unwrap();
    let gateway = want
        .containers
        .iter()
        .find(|c| c.component == Component::Gateway)
        .unwrap();
    for (k, v) in &gateway.env {
        assert_eq!(env[k], v.as_str(), "{tool}: {k} as apply would set it");
    }
    let (_, p) = deploy::plan(d, spec, None, &Default::default(), true)
        .await
        .unwrap();
    assert!(
        p.steps.iter().all(|s| matches!(s, Step::Keep { .. })),
        "{tool} made exactly what apply makes: {p:#?}"
    );
}

#[tokio::test]
async fn compose_brings_up_what_apply_would() {
    let Some(engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let d = engine.docker.clone();

    let dir = tempfile::tempdir().unwrap();
    let (gw, model) = (free_port(), free_port());
    let spec = spec_in(dir.path(), gw, model);
    let want = desired(&spec, None).unwrap();
    std::fs::write(dir.path().join("docker-compose.yml"), compose_yaml(&want)).unwrap();

    let cfg = compose(dir.path(), &["config"]);
    assert!(
        cfg.status.success(),
        "{}",
        String::from_utf8_lossy(&cfg.stderr)
    );

    let up = compose(dir.path(), &["up", "-d"]);
    let result = std::panic::AssertUnwindSafe(async {
        assert!(
            up.status.success(),
            "{}",
            String::from_utf8_lossy(&up.stderr)
        );
        made_what_apply_makes(&d, &spec, &want, "compose").await;
    });
    let outcome = futures_util::FutureExt::catch_unwind(result).await;
    let down = compose(dir.path(), &["down"]);
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test]
async fn docker_run_script_brings_up_what_apply_would() {
    let Some(engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let d = engine.docker.clone();
    let dir = tempfile::tempdir().unwrap();
    let (gw, model) = (free_port(), free_port());
    let spec = spec_in(dir.path(), gw, model);
    let want = desired(&spec, None).unwrap();
    std::fs::write(
        dir.path().join("docker-run.sh"),
        docker_run_script(&want, &[]),
    )
    .unwrap();
    let gateway = want
        .containers
        .iter()
        .find(|c| c.component == Component::Gateway)
        .unwrap();
    std::fs::write(dir.path().join("aigw.env"), env_file(gateway)).unwrap();

    let run = Command::new("sh")
        .arg("docker-run.sh")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let result = std::panic::AssertUnwindSafe(async {
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        made_what_apply_makes(&d, &spec, &want, "docker-run.sh").await;
        // Docker's health check is the one apply sets: command, interval, timeout, retries, start period.
        for c in &want.containers {
            let got = d
                .inspect_container(&c.name, None)
                .await
                .unwrap()
                .config
                .unwrap()
                .healthcheck
                .unwrap();
            let want = create_body(c).healthcheck.unwrap();
            // `--health-cmd` is always run by a shell (CMD-SHELL); the same command, the same timing.
            assert_eq!(
                (got.interval, got.timeout, got.retries, got.start_period),
                (want.interval, want.timeout, want.retries, want.start_period),
                "{}",
                c.name
            );
            let words = want.test.unwrap();
            let line = got.test.unwrap().join(" ");
            assert!(line.starts_with("CMD-SHELL python3 -c"), "{line}");
            assert!(line.contains(words.last().unwrap().as_str()), "{line}");
        }
    });
    let outcome = futures_util::FutureExt::catch_unwind(result).await;
    aigw_engine::docker::manage::uninstall(&d).await.unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
