//! The wizard as the real app in a real window: tauri-driver + WebKitWebDriver under Xvfb, talking to
//! the real Docker engine (with the stand-in images where it installs). Screenshots land in
//! `tests/artifacts/` (kept by CI, ignored by git). The suites that read or change the engine hold its
//! lock, so their plans never see each other's containers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_core::catalog::Precision;
use aigw_core::gitlab::config::InstallType;
use aigw_core::plan::Component;
use aigw_e2e::free_port;
use aigw_e2e::standin::{GATEWAY_IMAGE, MODEL_IMAGE};
use aigw_e2e::webdriver::{gui_available, Driver};
use aigw_engine::docker::manage;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// Clicks Recommend and waits until the Model step declares it shows the answer to this request
/// (`data-reading` moved on); returns its `data-state` ("ok" or "error").
async fn recommend(d: &Driver) -> String {
    let before: u64 = d
        .attribute("#step-model", "data-reading")
        .await
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    d.click("#recommend").await;
    d.wait_attribute("#step-model", "data-reading", |v| {
        v.and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > before)
    })
    .await;
    d.attribute("#step-model", "data-state")
        .await
        .unwrap_or_default()
}

/// Model step: a what-if recommendation (this machine has no GPU); returns its headline.
async fn what_if(d: &Driver, gitlab: &str, gpus: &str) -> String {
    d.click("[data-step='model']").await;
    d.type_into("#m-gitlab", gitlab).await;
    d.type_into("#m-gpus", gpus).await;
    assert_eq!(recommend(d).await, "ok", "{}", d.text("#model-error").await);
    d.text("#model-headline").await
}

/// Waits until the page declares the engine's choices are in the select (`data-ready`).
async fn options_ready(d: &Driver, select: &str) {
    d.wait_attribute(select, "data-ready", |v| v == Some("true"))
        .await;
}

/// On to Configure, with the GitLab URL and the gateway host filled in, and the install types listed (the
/// plan is reviewed with the default one).
async fn configure(d: &Driver, gateway_host: &str) {
    d.click("#to-configure").await;
    options_ready(d, "#c-install-type").await;
    d.type_into("#c-gitlab-url", "https://gitlab.example.com")
        .await;
    d.type_into("#c-gateway-host", gateway_host).await;
}

/// The page's lists hold the core's own choices, in its order, with the engine's default selected; the
/// overrides keep their "recommended" (empty) choice first.
async fn the_lists_are_the_cores(d: &Driver) {
    let lists = [
        "#c-install-type",
        "#connect-install-type",
        "#m-precision",
        "#m-tp",
        "#logs-component",
    ];
    for l in lists {
        options_ready(d, l).await;
    }
    let read = d
        .execute_async(&format!(
            "const done = arguments[0];
             const read = (s) => ({{ selected: document.querySelector(s).value,
               options: [...document.querySelector(s).options].map((o) => [o.value, o.textContent]) }});
             done(JSON.stringify(Object.fromEntries({}.map((s) => [s, read(s)]))));",
            serde_json::json!(lists)
        ))
        .await;
    let read: serde_json::Value = serde_json::from_str(read.as_str().unwrap()).unwrap();
    let list = |s: &str| -> Vec<(String, String)> {
        serde_json::from_value(read[s]["options"].clone()).unwrap()
    };
    // The core's labels sit mid-sentence ("self-compiled (source)"); the list capitalises them.
    let capital = |l: &str| l[..1].to_uppercase() + &l[1..];
    let install: Vec<(String, String)> = InstallType::ALL
        .iter()
        .map(|t| (t.as_str().to_string(), capital(t.label())))
        .collect();
    assert_eq!(list("#c-install-type"), install);
    assert_eq!(list("#connect-install-type"), install);
    assert_eq!(
        read["#c-install-type"]["selected"].as_str(),
        Some(InstallType::default().as_str())
    );
    let precisions: Vec<String> = list("#m-precision").into_iter().map(|(v, _)| v).collect();
    let expected: Vec<&str> = [""]
        .into_iter()
        .chain(Precision::OVERRIDES.iter().map(|p| p.as_str()))
        .collect();
    assert_eq!(precisions, expected);
    assert_eq!(read["#m-precision"]["selected"].as_str(), Some(""));
    assert_eq!(read["#m-tp"]["selected"].as_str(), Some(""));
    let components: Vec<(String, String)> = Component::ALL
        .iter()
        .map(|c| (c.label().to_string(), c.title().to_string()))
        .collect();
    assert_eq!(list("#logs-component"), components);
}

#[tokio::test]
async fn welcome_then_system_check_shows_the_real_engine() {
    if !gui_available() || !aigw_e2e::docker_available() {
        return;
    }
    // Nothing of ours on the engine, so the review below plans every object from scratch.
    let Some(_engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let version = docker_version().unwrap();
    // Its own data directory: the app is single-instance per data directory, and an app the user has
    // open (or another checkout's suite) must not turn this launch away.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = Driver::launch(APP, &[("XDG_DATA_HOME", data.to_str().unwrap())]).await;
    let welcome = d.text("#welcome-title").await;
    assert!(welcome.contains("GitLab Duo"), "{welcome}");
    // Every control of every step has an accessible name (a <label>, aria-label or its own text), and
    // none is taken out of the keyboard order.
    let unlabelled = d
        .execute_async(
            "const done = arguments[0];
             const bad = [...document.querySelectorAll('input, select, textarea, button')]
               .filter((e) => !(e.labels?.length || e.getAttribute('aria-label') || (e.tagName === 'BUTTON' && e.textContent.trim()))
                 || e.tabIndex < 0)
               .map((e) => e.id || e.outerHTML.slice(0, 80));
             done(JSON.stringify(bad));",
        )
        .await;
    assert_eq!(unlabelled.as_str(), Some("[]"), "controls without a name");
    // What the page hides stays hidden, whatever display a class gives it (the licence box, the uninstall
    // confirmation).
    let shown = d
        .execute_async(
            "const done = arguments[0];
             done(JSON.stringify([...document.querySelectorAll('[hidden]')]
               .filter((e) => getComputedStyle(e).display !== 'none').map((e) => e.id || e.className)));",
        )
        .await;
    assert_eq!(shown.as_str(), Some("[]"), "hidden yet displayed");
    the_lists_are_the_cores(&d).await;
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
    // Straight to Configure, the Model step skipped: the engine's recommendation runs anyway (so the spec
    // carries its GPUs), and the gateway host starts as the first name detection found for this host.
    let before: u64 = d
        .attribute("#step-model", "data-reading")
        .await
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    d.click("[data-step='configure']").await;
    d.wait_attribute("#step-model", "data-reading", |v| {
        v.and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > before)
    })
    .await;
    let hosts = aigw_engine::usecase::detect(&aigw_engine::hardware::DetectOptions::from_env())
        .await
        .gateway_hosts;
    assert!(
        !hosts.is_empty() || std::env::var_os("CI").is_none(),
        "CI machines have an address GitLab could use"
    );
    let host = d
        .wait_attribute("#c-gateway-host", "value", |v| {
            v.is_some_and(|v| !v.is_empty())
        })
        .await;
    assert_eq!(host.as_deref(), hosts.first().map(String::as_str));
    // The welcome step names the engine (set at launch from the engine's own endpoint resolution).
    d.click("[data-step='welcome']").await;
    let endpoint = d
        .wait_text("#docker-endpoint", |t| t.starts_with("unix://"))
        .await;
    assert!(endpoint.ends_with("docker.sock"), "{endpoint}");

    // Model: no GPU here, so a what-if plan for 2× L4 on GitLab 18.2, with the arithmetic shown.
    let head = what_if(&d, "18.2", "2xL4").await;
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

    // A model under a non-production licence: refused until the admin ticks the acceptance box.
    d.type_into("#m-model", "codestral-22b-v0.1").await;
    assert_eq!(recommend(&d).await, "error");
    let err = d.text("#model-error").await;
    assert!(err.contains("Non-Production"), "{err}");
    let label = d.text("#m-license-label").await;
    assert!(
        label.contains("I accept") && label.contains("codestral-22b-v0.1"),
        "{label}"
    );
    d.click("#m-accept-license").await;
    assert_eq!(recommend(&d).await, "ok");
    let head = d.text("#model-headline").await;
    assert!(head.contains("Codestral"), "{head}");
    d.type_into("#m-model", "").await;

    // A GPU name the catalog does not know: an error that lists the valid names, no card.
    d.type_into("#m-gpus", "2xFOO").await;
    assert_eq!(recommend(&d).await, "error");
    let err = d.text("#model-error").await;
    assert!(err.contains("FOO") && err.contains("L4"), "{err}");
    // Issue 16: eight H100s serve as one vLLM of eight replicas, weighed against the team's size.
    d.type_into("#m-gitlab", "18.11").await;
    d.type_into("#m-gpus", "8xH100").await;
    d.type_into("#m-developers", "2000").await;
    assert_eq!(
        recommend(&d).await,
        "ok",
        "{}",
        d.text("#model-error").await
    );
    let head = d.text("#model-headline").await;
    assert!(head.contains("TP=1 × DP=8"), "{head}");
    let demand = d.text("#model-demand").await;
    assert!(
        demand.contains("≈ 70 concurrent requests at peak (2000 developers"),
        "{demand}"
    );
    assert_eq!(
        d.attribute("#model-demand", "data-enough").await.as_deref(),
        Some("true")
    );
    assert!(
        d.text("#model-card")
            .await
            .contains("--data-parallel-size 8"),
        "the card shows the arguments"
    );
    d.screenshot(&artifacts().join("wizard-3-model-team.png"))
        .await;
    // One H100 falls short of 2,000 developers: said, with what would close the gap.
    d.type_into("#m-gpus", "1xH100").await;
    assert_eq!(recommend(&d).await, "ok");
    assert_eq!(
        d.attribute("#model-demand", "data-enough").await.as_deref(),
        Some("false")
    );
    assert!(
        d.text("#model-card").await.contains("To close the gap"),
        "the shortfall says what closes it"
    );
    d.type_into("#m-developers", "").await;
    d.type_into("#m-gitlab", "18.2").await;
    d.type_into("#m-gpus", "2xL4").await;
    assert_eq!(recommend(&d).await, "ok");
    let head = d.text("#model-headline").await;
    assert!(
        head.starts_with("Recommended") && head.contains("TP=2"),
        "{head}"
    );

    // Configure: `localhost` as the gateway host is refused with the reason, and the field is marked.
    configure(&d, "localhost").await;
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
    // The weights: the Hub (a closed local port here) cannot be asked; Review says so and goes on.
    d.wait_attribute("#review-weights", "data-state", |v| {
        v == Some("unreachable")
    })
    .await;
    let weights = d.text("#review-weights-summary").await;
    assert!(
        weights.starts_with("the file list could not be read from 127.0.0.1:")
            && weights.contains("install will try again"),
        "{weights}"
    );
    assert!(d.text("#review-weights-note").await.starts_with("To fix: "));
    d.screenshot(&artifacts().join("wizard-5-review.png")).await;
    d.quit().await;
}

/// Model step: a what-if plan for 2× L4 on GitLab 18.2 (this machine has no GPU), then Configure with
/// the GPU ids cleared (the stand-in model server needs none) and the stand-in images.
async fn plan_with_standins(d: &Driver, weights: &Path, logs: &Path) -> (u16, u16) {
    what_if(d, "18.2", "2xL4").await;
    configure(d, "aigw.example.com").await;
    let (gw_port, model_port) = (free_port(), free_port());
    d.type_into("#c-gateway-port", &gw_port.to_string()).await;
    d.type_into("#c-model-port", &model_port.to_string()).await;
    d.type_into("#c-gpus", "").await;
    d.type_into("#c-weights-dir", &weights.display().to_string())
        .await;
    d.click("#step-configure details summary").await;
    d.type_into("#c-model-image", MODEL_IMAGE).await;
    d.type_into("#c-model-tag", "standin").await;
    d.type_into("#c-gateway-image", GATEWAY_IMAGE).await;
    d.type_into("#c-gateway-tag", "standin").await;
    d.type_into("#c-log-dir", &logs.display().to_string()).await;
    d.click("#review-btn").await;
    let steps = d.wait_text("#review-steps", |t| !t.is_empty()).await;
    assert!(
        steps.contains("gitlab-aigw-model (no container yet)")
            && steps.contains("gitlab-aigw (no container yet)"),
        "{steps}"
    );
    // The local folder as judged: its files listed with sizes, nothing to download.
    d.wait_attribute("#review-weights", "data-state", |v| v == Some("local"))
        .await;
    let weights = d.text("#review-weights-summary").await;
    assert!(
        weights.starts_with("local folder ") && weights.contains("nothing to download"),
        "{weights}"
    );
    assert!(d
        .text("#review-weights-files")
        .await
        .contains("config.json"));
    (gw_port, model_port)
}

/// The app process this test launched: the one whose environment names this test's data directory.
fn app_pid(data: &Path) -> u32 {
    let needle = format!("XDG_DATA_HOME={}", data.display());
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            exe.ends_with("aigw-installer-app")
                && env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes())
        })
        .expect("the app's process")
}

/// Clicks Manage's Refresh and returns the status once the page declares that reading settled.
async fn refresh_manage(d: &Driver) -> String {
    let before: u64 = d
        .attribute("#manage-status", "data-reading")
        .await
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    d.click("#manage-refresh").await;
    d.wait_attribute("#manage-status", "data-reading", |v| {
        v.and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > before)
    })
    .await;
    d.wait_attribute("#manage-status", "data-state", |v| v == Some("ready"))
        .await;
    d.text("#manage-status").await
}

async fn ours(engine: &aigw_e2e::Engine) -> Vec<manage::ContainerStatus> {
    manage::status(&engine.docker).await.unwrap()
}

fn zip_names(path: &Path) -> (Vec<String>, String) {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let names: Vec<String> = (0..z.len())
        .map(|i| z.by_index(i).unwrap().name().unwrap().to_string())
        .collect();
    let mut all = String::new();
    for i in 0..z.len() {
        let mut text = String::new();
        let _ = z.by_index(i).unwrap().read_to_string(&mut text);
        all.push_str(&text);
    }
    (names, all)
}

/// Launch → plan → install (cancelled once, then until healthy) → Connect GitLab → export → Manage:
/// logs, upgrade, uninstall. Every claim the page makes is checked against the engine itself.
#[tokio::test]
async fn install_connect_export_and_manage_on_the_real_engine() {
    if !gui_available() {
        return;
    }
    let Some(engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (data, weights, logs) = (
        tmp.path().join("data"),
        tmp.path().join("weights"),
        tmp.path().join("logs"),
    );
    aigw_e2e::standin_checkpoint(&weights);
    // The stand-in model server reads this from its model folder: slow enough to press Cancel.
    let delay = weights.join("STANDIN_START_DELAY_MS");
    std::fs::write(&delay, "120000").unwrap();
    let d = Driver::launch(APP, &[("XDG_DATA_HOME", data.to_str().unwrap())]).await;
    d.wait_text("#welcome-title", |t| t.contains("GitLab Duo"))
        .await;
    assert_eq!(
        d.attribute("#nav-manage", "hidden").await.as_deref(),
        Some("true"),
        "nothing is installed yet, so Manage is not offered"
    );
    let (gw_port, _) = plan_with_standins(&d, &weights, &logs).await;

    // Install, then Cancel while the model server loads: the engine rolls back; nothing is left.
    d.click("#install-btn").await;
    d.wait_text_within("#install-progress", Duration::from_secs(60), |t| {
        t.contains("Waiting for the model server")
    })
    .await;
    assert!(!ours(&engine).await.is_empty(), "the install had started");
    d.click("#cancel-install").await;
    let status = d
        .wait_text_within("#install-status", Duration::from_secs(60), |t| {
            t.starts_with("Cancelled")
        })
        .await;
    let err = d.text("#install-error").await;
    assert!(
        err.contains("cancelled") && err.contains("rollback"),
        "{status}\n{err}"
    );
    let phases = d.text("#install-progress .phases").await;
    assert!(
        phases.contains('–') && !phases.contains('…') && !phases.contains("Waiting"),
        "phases in progress are marked stopped: {phases}"
    );
    d.screenshot(&artifacts().join("wizard-6-install-cancelled.png"))
        .await;
    assert!(
        ours(&engine).await.is_empty(),
        "a cancelled install leaves nothing behind"
    );
    assert!(!data.join("aigw-installer/aigw-spec.toml").exists());

    // Install again, this time until both containers are healthy.
    std::fs::remove_file(&delay).unwrap();
    d.click("[data-step='review']").await;
    d.click("#install-btn").await;
    let status = d
        .wait_text_within("#install-status", Duration::from_secs(120), |t| {
            t.starts_with("Installed") || t.contains("failed")
        })
        .await;
    assert!(
        status.contains(&format!("http://aigw.example.com:{gw_port}")),
        "{status}: {}",
        d.text("#install-error").await
    );
    let phases = d.text("#install-progress .phases").await;
    assert!(phases.contains('✓') && !phases.contains('✗'), "{phases}");
    // The gateway at the address GitLab will use, declared on the page: aigw.example.com is not this
    // machine (it does not resolve here, or leads elsewhere), a finding that keeps the install.
    d.wait_attribute("#install-gitlab-reach", "data-gitlab-reach", |v| {
        v == Some("finding")
    })
    .await;
    let reach = d.text("#install-gitlab-reach").await;
    assert!(
        reach.contains("aigw.example.com") && reach.contains("fix:"),
        "{reach}"
    );
    let running = ours(&engine).await;
    assert_eq!(running.len(), 2, "{running:?}");
    // The engine probed both services itself; Docker's own check (every 10 s) may still say "starting".
    assert!(
        running
            .iter()
            .all(|c| c.state == "running" && c.health.as_deref() != Some("unhealthy")),
        "{running:?}"
    );
    let spec = std::fs::read_to_string(data.join("aigw-installer/aigw-spec.toml")).unwrap();
    assert!(spec.contains(&format!("port = {gw_port}")), "{spec}");
    d.screenshot(&artifacts().join("wizard-6-install.png"))
        .await;

    // Connect GitLab: this version's settings and the registration values.
    d.click("#to-connect").await;
    let summary = d
        .wait_text("#connect-summary", |t| t.contains("GitLab 18.2"))
        .await;
    assert!(
        summary.contains(&format!("http://aigw.example.com:{gw_port}")),
        "{summary}"
    );
    let registration = d.text("#registration").await;
    assert!(
        registration.contains("custom_openai/") && registration.contains("/v1"),
        "{registration}"
    );
    let snippets = d.text("#snippets").await;
    assert!(snippets.contains("AI Gateway"), "{snippets}");
    assert!(snippets.contains("gitlab.rb"), "{snippets}");
    d.screenshot(&artifacts().join("wizard-7-connect.png"))
        .await;

    // Export: the zip is written and holds the bundle; a second export never replaces it.
    let zip_path = tmp.path().join("export.zip");
    d.type_into("#export-path", &zip_path.display().to_string())
        .await;
    d.click("#export-btn").await;
    let result = d
        .wait_text("#export-outcome", |t| !t.trim().is_empty())
        .await;
    assert!(
        result.starts_with("Wrote") && result.contains("no secrets"),
        "{result}"
    );
    let (names, all) = zip_names(&zip_path);
    for f in ["README.md", "docker-compose.yml", "manifest.json"] {
        assert!(names.iter().any(|n| n == f), "{f} missing from {names:?}");
    }
    assert!(names.iter().any(|n| n.starts_with("gitlab/")), "{names:?}");
    assert!(all.contains(&format!("aigw.example.com:{gw_port}")));
    let before = std::fs::read(&zip_path).unwrap();
    d.click("#export-btn").await;
    let err = d
        .wait_text("#export-error", |t| t.contains("already exists"))
        .await;
    assert!(err.contains("another file name"), "{err}");
    assert_eq!(
        d.attribute("#export-path", "aria-invalid").await.as_deref(),
        Some("true")
    );
    assert_eq!(std::fs::read(&zip_path).unwrap(), before);

    // Manage: status and logs as the engine reports them.
    d.click("[data-step='manage']").await;
    d.wait_text("#manage-status", |t| t.contains("2 container(s)"))
        .await;
    // Docker's own health verdict lags our probe by up to one interval: wait for the engine to say
    // "healthy" for both, then the page must say so after one Refresh, once it declares it has settled.
    let started = std::time::Instant::now();
    loop {
        let running = ours(&engine).await;
        if running.len() == 2
            && running
                .iter()
                .all(|c| c.health.as_deref() == Some("healthy"))
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the engine never called both healthy: {running:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let status = refresh_manage(&d).await;
    assert!(status.contains("2 container(s), 2 healthy"), "{status}");
    d.click("#logs-btn").await;
    d.wait_text("#logs-out", |t| t.contains("stand-in vLLM"))
        .await;
    d.screenshot(&artifacts().join("wizard-8-manage.png")).await;

    // Upgrade the gateway's tag: recreated on the new image, healthy, and the spec names the new tag.
    d.type_into("#u-gateway-tag", "standin-v2").await;
    d.click("#upgrade-btn").await;
    let up = d
        .wait_text_within("#upgrade-status", Duration::from_secs(120), |t| {
            t.starts_with("Upgraded") || t.contains("failed")
        })
        .await;
    assert!(
        up.starts_with("Upgraded"),
        "{up}: {}",
        d.text("#upgrade-error").await
    );
    let running = ours(&engine).await;
    let gw = running
        .iter()
        .find(|c| c.image.starts_with(GATEWAY_IMAGE))
        .unwrap();
    assert!(gw.image.ends_with(":standin-v2"), "{running:?}");
    let spec = std::fs::read_to_string(data.join("aigw-installer/aigw-spec.toml")).unwrap();
    assert!(spec.contains("standin-v2"), "{spec}");

    // Uninstall asks first, then removes exactly our containers and network.
    d.click("#uninstall-btn").await;
    d.click("#uninstall-yes").await;
    let removed = d
        .wait_text("#uninstall-result", |t| t.starts_with("Removed"))
        .await;
    assert!(removed.contains("gitlab-aigw"), "{removed}");
    assert!(ours(&engine).await.is_empty());
    d.wait_text("#manage-status", |t| t.contains("Nothing is installed"))
        .await;

    // A SIGTERM mid-install (logout, shutdown, `kill`): the install is cancelled and rolled back before
    // the process ends.
    std::fs::write(&delay, "120000").unwrap();
    d.click("[data-step='review']").await;
    d.click("#install-btn").await;
    d.wait_text_within("#install-progress", Duration::from_secs(60), |t| {
        t.contains("Waiting for the model server")
    })
    .await;
    let pid = app_pid(&data);
    assert!(!ours(&engine).await.is_empty());
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    let started = std::time::Instant::now();
    while !ours(&engine).await.is_empty() || std::path::Path::new(&format!("/proc/{pid}")).exists()
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "after SIGTERM: {:?}",
            ours(&engine).await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    d.quit().await;
}

/// No Docker engine: the wizard says what it cannot do, refuses to install, and still generates and
/// exports the GitLab settings from the reviewed plan.
#[tokio::test]
async fn without_docker_it_plans_and_exports() {
    if !gui_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let host = format!("unix://{}", tmp.path().join("no-docker.sock").display());
    let d = Driver::launch(
        APP,
        &[
            ("XDG_DATA_HOME", data.to_str().unwrap()),
            ("DOCKER_HOST", &host),
        ],
    )
    .await;
    let limits = d
        .wait_text("#welcome-limits", |t| t.contains("cannot be reached"))
        .await;
    assert!(limits.contains("export"), "{limits}");
    // Welcome says where things would go: the engine DOCKER_HOST names.
    assert_eq!(d.text("#docker-endpoint").await, host);
    what_if(&d, "18.11", "1xH100-80").await;
    configure(&d, "aigw.example.com").await;
    d.type_into("#c-gpus", "").await;
    d.click("#review-btn").await;
    let problem = d
        .wait_text("#review-engine", |t| t.contains("cannot be reached"))
        .await;
    assert!(
        problem.contains("generate the GitLab settings"),
        "{problem}"
    );
    assert_eq!(
        d.attribute("#install-btn", "disabled").await.as_deref(),
        Some("true")
    );
    d.click("#export-only").await;
    let summary = d
        .wait_text("#connect-summary", |t| t.contains("GitLab 18.11"))
        .await;
    assert!(summary.contains("reviewed plan"), "{summary}");
    let zip_path = tmp.path().join("settings.zip");
    d.type_into("#export-path", &zip_path.display().to_string())
        .await;
    d.click("#export-btn").await;
    let result = d
        .wait_text("#export-outcome", |t| !t.trim().is_empty())
        .await;
    assert!(result.starts_with("Wrote"), "{result}");
    let (names, all) = zip_names(&zip_path);
    assert!(names.iter().any(|n| n == "README.md"), "{names:?}");
    // 18.11 needs JWT keys; an export without --include-secrets names them but holds none.
    assert!(!all.contains("BEGIN PRIVATE KEY") && !all.contains("BEGIN RSA PRIVATE KEY"));
    assert!(
        !data.join("aigw-installer/aigw-spec.toml").exists(),
        "nothing was installed"
    );
    d.screenshot(&artifacts().join("wizard-7-connect-without-docker.png"))
        .await;
    d.quit().await;
}

/// A failed install offers "Save diagnostics" and "Open log folder": the first writes the redacted zip
/// into the data directory (the page declares where), the second hands the installer's log folder to
/// the desktop's opener (here a stand-in `xdg-open` that records what it was asked to open).
#[tokio::test]
async fn a_failure_offers_diagnostics_and_the_log_folder() {
    if !gui_available() {
        return;
    }
    let Some(engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (data, weights, logs, bin) = (
        tmp.path().join("data"),
        tmp.path().join("weights"),
        tmp.path().join("logs"),
        tmp.path().join("bin"),
    );
    aigw_e2e::standin_checkpoint(&weights);
    std::fs::create_dir_all(&bin).unwrap();
    // The model server refuses to start, as vLLM does with a bad argument: the install fails at once.
    std::fs::write(
        weights.join("STANDIN_EXIT_AT_START"),
        "2\nValueError: planted refusal\n",
    )
    .unwrap();
    let opened = tmp.path().join("opened");
    let opener = bin.join("xdg-open");
    std::fs::write(
        &opener,
        format!(
            "#!/bin/sh\nprintf '%s' \"$1\" > '{}.tmp' && mv '{0}.tmp' '{0}'\n",
            opened.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&opener, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let d = Driver::launch(
        APP,
        &[("XDG_DATA_HOME", data.to_str().unwrap()), ("PATH", &path)],
    )
    .await;
    d.wait_text("#welcome-title", |t| t.contains("GitLab Duo"))
        .await;
    plan_with_standins(&d, &weights, &logs).await;
    d.click("#install-btn").await;
    d.wait_text_within("#install-status", Duration::from_secs(120), |t| {
        t.contains("failed")
    })
    .await;
    let err = d.text("#install-error").await;
    assert!(err.contains("planted refusal"), "{err}");
    assert_eq!(
        d.text("#install-error .save-diagnostics").await,
        "Save diagnostics"
    );
    assert_eq!(
        d.text("#install-error .open-log-folder").await,
        "Open log folder"
    );

    d.click("#install-error .save-diagnostics").await;
    let state = d
        .wait_attribute("#install-error .diagnostics", "data-diagnostics", |v| {
            matches!(v, Some("saved" | "failed"))
        })
        .await;
    assert_eq!(
        state.as_deref(),
        Some("saved"),
        "{}",
        d.text("#install-error .diag-outcome").await
    );
    let saved = PathBuf::from(
        d.attribute("#install-error .diagnostics", "data-path")
            .await
            .unwrap(),
    );
    assert!(
        saved.starts_with(data.join("aigw-installer/diagnostics")),
        "{}",
        saved.display()
    );
    let (names, all) = zip_names(&saved);
    for f in [
        "README.txt",
        "manifest.json",
        "system/detect.json",
        "status.json",
    ] {
        assert!(names.iter().any(|n| n == f), "{f} missing from {names:?}");
    }
    assert!(all.contains("aigw-installer diagnostics"));
    d.screenshot(&artifacts().join("wizard-6-install-failed-diagnostics.png"))
        .await;

    d.click("#install-error .open-log-folder").await;
    let folder = d
        .wait_attribute("#install-error .diagnostics", "data-log-folder", |v| {
            v.is_some()
        })
        .await;
    let want = data.join("aigw-installer/logs");
    assert_eq!(folder.as_deref(), want.to_str());
    // The opener runs apart from the page: wait for what it recorded.
    let started = std::time::Instant::now();
    while !opened.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the opener was never run"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        std::fs::read_to_string(&opened).unwrap(),
        want.to_str().unwrap()
    );
    d.quit().await;
    assert!(
        ours(&engine).await.is_empty(),
        "the failed install was rolled back"
    );
}
