//! The wizard as the real app in a real window: tauri-driver + WebKitWebDriver under Xvfb, talking to
//! the real Docker engine. Screenshots land in `tests/artifacts/` (kept by CI, ignored by git).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_e2e::webdriver::{gui_available, Driver};
use std::path::PathBuf;

const APP: &str = env!("CARGO_BIN_EXE_aigw-installer-app");

fn artifacts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/artifacts")
}

fn docker_version() -> Option<String> {
    let o = std::process::Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

#[tokio::test]
async fn welcome_then_system_check_shows_the_real_engine() {
    if !gui_available() || !aigw_e2e::docker_available() {
        return;
    }
    let version = docker_version().unwrap();
    let d = Driver::launch(APP, &[]).await;
    let welcome = d.text("#welcome-title").await;
    assert!(welcome.contains("GitLab Duo"), "{welcome}");
    d.screenshot(&artifacts().join("wizard-1-welcome.png"))
        .await;

    d.click("#start").await;
    let status = d
        .wait_text("#check-status", |t| {
            t.contains("blocker") || t.starts_with("Ready")
        })
        .await;
    // This machine has no GPU driver: the check must say so, and show the engine it really found.
    assert!(status.contains("blocker"), "{status}");
    let docker = d.text("[data-code='docker.reachable']").await;
    assert!(docker.contains(&version), "{docker}");
    let gpu = d.text("[data-code='gpu.no_driver']").await;
    assert!(
        gpu.contains("no NVIDIA driver found") && gpu.contains("Fix:"),
        "{gpu}"
    );
    d.screenshot(&artifacts().join("wizard-2-system-check.png"))
        .await;
    // The welcome step now names the engine it found.
    d.click("[data-step='welcome']").await;
    let endpoint = d
        .wait_text("#docker-endpoint", |t| t.starts_with("unix://"))
        .await;
    assert!(endpoint.ends_with("docker.sock"), "{endpoint}");

    // Model: no GPU here, so a what-if plan for 2× L4 on GitLab 18.2, with the arithmetic shown.
    d.click("[data-step='model']").await;
    d.type_into("#m-gitlab", "18.2").await;
    d.type_into("#m-gpus", "2xL4").await;
    d.click("#recommend").await;
    let head = d
        .wait_text("#model-headline", |t| t.starts_with("Recommended"))
        .await;
    assert!(
        head.contains("TP=2") && head.contains("32768 tokens"),
        "{head}"
    );
    let card = d.text("#model-card").await;
    assert!(
        card.contains("budget") && card.contains("GiB"),
        "the arithmetic is shown: {card}"
    );
    assert!(card.contains("--tensor-parallel-size 2"), "{card}");
    assert!(card.contains("Rejected"), "{card}");
    d.screenshot(&artifacts().join("wizard-3-model.png")).await;

    // A GPU name the catalog does not know: an error that lists the valid names, no card.
    d.type_into("#m-gpus", "2xFOO").await;
    d.click("#recommend").await;
    let err = d.wait_text("#model-error", |t| !t.is_empty()).await;
    assert!(err.contains("FOO") && err.contains("L4"), "{err}");
    d.type_into("#m-gpus", "2xL4").await;
    d.click("#recommend").await;
    d.wait_text("#model-headline", |t| t.starts_with("Recommended"))
        .await;

    // Configure: `localhost` as the gateway host is refused with the reason, and the field is marked.
    d.click("#to-configure").await;
    d.type_into("#c-gitlab-url", "https://gitlab.example.com")
        .await;
    d.type_into("#c-gateway-host", "localhost").await;
    d.click("#review-btn").await;
    let err = d.wait_text("#config-error", |t| !t.is_empty()).await;
    assert!(
        err.contains("gateway.host") && err.contains("different machine"),
        "{err}"
    );
    assert_eq!(
        d.attribute("#c-gateway-host", "aria-invalid")
            .await
            .as_deref(),
        Some("true")
    );
    d.screenshot(&artifacts().join("wizard-4-configure-refused.png"))
        .await;

    // The what-if GPUs are not on this machine: refused too, on the GPU field.
    d.type_into("#c-gateway-host", "aigw.example.com").await;
    assert_eq!(
        d.attribute("#c-gpus", "value").await.as_deref(),
        Some("0,1")
    );
    d.click("#review-btn").await;
    let err = d
        .wait_text("#config-error", |t| t.contains("model.gpus"))
        .await;
    assert!(err.contains("does not exist"), "{err}");
    assert_eq!(
        d.attribute("#c-gpus", "aria-invalid").await.as_deref(),
        Some("true")
    );

    // Without GPUs the plan can be reviewed: what apply would do, before anything changes.
    d.type_into("#c-gpus", "").await;
    d.click("#review-btn").await;
    let steps = d.wait_text("#review-steps", |t| !t.is_empty()).await;
    assert!(steps.contains("network gitlab-aigw"), "{steps}");
    assert!(steps.contains("vllm/vllm-openai"), "{steps}");
    assert!(steps.contains("gitlab-aigw-model"), "{steps}");
    d.screenshot(&artifacts().join("wizard-5-review.png")).await;
    d.quit().await;
}
