//! The exported docker-compose.yml, checked by the real tool: `docker-compose config` accepts it, and
//! `docker-compose up -d` brings up the stand-ins healthy with the environment `apply` would set — so
//! exactly that our own `plan` then finds nothing to change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_e2e::standin::{self, GATEWAY_IMAGE, MODEL_IMAGE};
use aigw_installer::docker::{deploy, http};
use aigw_installer::export::compose::compose_yaml;
use aigw_installer::plan::{desired, Step};
use aigw_installer::spec::DeploymentSpec;
use std::process::Command;
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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

#[tokio::test]
async fn compose_brings_up_what_apply_would() {
    let Some(engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let d = engine.docker.clone();

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("weights")).unwrap();
    let (gw, model) = (free_port(), free_port());
    let spec = DeploymentSpec::from_toml(
        &format!(
            r#"
network = "aigw-compose"
log_dir = "{d}/logs"
[gitlab]
url = "https://gitlab.example.com/"
version = "18.2.1"
[gateway]
host = "aigw.example.com"
image = "{GATEWAY_IMAGE}"
tag = "standin"
port = {gw}
[model]
image = "{MODEL_IMAGE}"
tag = "standin"
served_model_name = "mistral-small-3.2-24b"
port = {model}
[model.weights]
source = "local"
path = "{d}/weights"
"#,
            d = dir.path().display()
        ),
        "t",
    )
    .unwrap();
    // As the exported README tells admins: the log directory belongs to the user the gateway runs as.
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    std::os::unix::fs::chown(
        dir.path().join("logs"),
        Some(standin::GATEWAY_UID),
        Some(standin::GATEWAY_UID),
    )
    .unwrap();
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
        wait_ok(&format!("http://127.0.0.1:{model}/health")).await;
        wait_ok(&format!("http://127.0.0.1:{gw}/monitoring/healthz")).await;
        let env = http::request(
            &format!("http://127.0.0.1:{gw}/stand-in/env"),
            None,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        let env: serde_json::Value = serde_json::from_str(&env.body).unwrap();
        for (k, v) in &want.containers[1].env {
            assert_eq!(env[k], v.as_str(), "{k} as apply would set it");
        }
        // Same names, labels and configuration: our plan keeps both containers.
        let (_, p) = deploy::plan(&d, &spec, None, &Default::default(), true)
            .await
            .unwrap();
        assert!(
            p.steps.iter().all(|s| matches!(s, Step::Keep { .. })),
            "compose made exactly what apply makes: {p:#?}"
        );
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
