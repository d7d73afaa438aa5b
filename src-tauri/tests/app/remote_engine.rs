//! Welcome's engine chooser through WebDriver, over a real sshd on 127.0.0.1 (`aigw_e2e::sshd`): an SSH
//! host typed in is tested (the server's facts), used (remembered in the data directory) and then read by
//! the system check through the engine; a malformed host is refused on its field, and a port where no sshd
//! listens fails with the engine's fix. The next start acts on the remembered engine, and says so when it
//! no longer answers. The app reaches the server through the harness's `ssh` wrapper on
//! PATH (the app inherits tauri-driver's environment).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_e2e::sshd::Sshd;
use aigw_e2e::webdriver::{gui_available, Driver};
use aigw_e2e::{docker_available, free_port};
use std::path::PathBuf;
use std::time::Duration;

const APP: &str = env!("CARGO_BIN_EXE_aigw-installer-app");

fn artifacts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/artifacts")
}

/// Clicks Test and waits for the result's declared end state; returns it with the result's text.
async fn test_engine(d: &Driver) -> (String, String) {
    d.click("#engine-test").await;
    let state = d
        .wait_attribute("#engine-result", "data-state", |v| {
            matches!(v, Some("pass" | "fail"))
        })
        .await
        .unwrap();
    (state, d.text("#engine-result").await)
}

#[tokio::test]
async fn an_ssh_host_is_tested_used_and_read_by_the_system_check() {
    if !gui_available() || !docker_available() {
        return;
    }
    let Some(sshd) = Sshd::start() else {
        return;
    };
    let bin = sshd.client("good", "user_key", &sshd.known_hosts());
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // No engine from the machine's environment or docker config: only this machine's socket is listed.
    let docker_config = tmp.path().join("docker-config");
    let env = [
        ("XDG_DATA_HOME", data.to_str().unwrap()),
        ("PATH", path.as_str()),
        ("DOCKER_CONFIG", docker_config.to_str().unwrap()),
        ("DOCKER_HOST", ""),
        ("DOCKER_CONTEXT", ""),
        ("SSH_AUTH_SOCK", ""),
    ];
    let d = Driver::launch(APP, &env).await;
    d.wait_attribute("#engine-list", "data-ready", |v| v == Some("true"))
        .await;
    let local = d
        .attribute("#engine-list .engine[data-in-use='true']", "data-endpoint")
        .await
        .unwrap();
    assert!(local.starts_with("unix://"), "{local}");

    // A malformed host: the engine's parser refuses it on the field, and nothing is used.
    d.type_into("#engine-host", "ssh://").await;
    let (state, _) = test_engine(&d).await;
    assert_eq!(state, "fail");
    assert_eq!(
        d.attribute("#engine-host", "aria-invalid").await.as_deref(),
        Some("true")
    );
    assert!(
        d.text("#engine-error").await.contains("ssh://user@host"),
        "{}",
        d.text("#engine-error").await
    );

    // The server over SSH: its facts.
    let url = sshd.url();
    d.type_into("#engine-host", &url).await;
    let (state, text) = test_engine(&d).await;
    assert_eq!(state, "pass", "{text}");
    assert!(
        text.contains(&url) && text.contains("another machine"),
        "{text}"
    );
    assert!(
        text.contains("Docker ") && text.contains("linux/"),
        "{text}"
    );
    d.screenshot(&artifacts().join("welcome-engines.png")).await;

    // Used: declared on the page, remembered in the data directory.
    d.click("#engine-use").await;
    d.wait_attribute("body", "data-engine", |v| v == Some(url.as_str()))
        .await;
    let remembered =
        std::fs::read_to_string(data.join("aigw-installer").join("engine.json")).unwrap();
    assert!(remembered.contains(&url), "{remembered}");
    assert_eq!(d.text("#docker-endpoint").await, url);

    // The system check reads the server through the engine, and says so.
    d.click("#start").await;
    let said = d
        .wait_text_within("#check-engine", Duration::from_secs(120), |t| !t.is_empty())
        .await;
    assert!(
        said.contains(&format!("through {url}")) && said.contains("not this workstation"),
        "{said}"
    );
    assert_eq!(
        d.attribute("#findings [data-code='docker.reachable']", "data-code")
            .await
            .as_deref(),
        Some("docker.reachable")
    );
    d.screenshot(&artifacts().join("welcome-engines-check.png"))
        .await;

    // A port where no sshd listens: the real error, with its fix.
    d.click("[data-step='welcome']").await;
    let wrong = format!("ssh://root@127.0.0.1:{}", free_port());
    d.type_into("#engine-host", &wrong).await;
    let (state, text) = test_engine(&d).await;
    assert_eq!(state, "fail", "{text}");
    assert!(text.contains("Fix:"), "{text}");
    d.screenshot(&artifacts().join("welcome-engines-fail.png"))
        .await;
    d.quit().await;

    // The app that used an ssh engine ends: its single-instance lock is released (the kernel's answer),
    // no ssh of its connections kept it alive.
    let lock = data.join("aigw-installer").join("locks").join("app.lock");
    assert!(
        aigw_e2e::lock_released(&lock, std::time::Duration::from_secs(30)).await,
        "the app still holds its lock 30 s after it was quit"
    );

    // The next start, on the same data directory, acts on the remembered engine…
    let relaunch = |name: &str| {
        let dir = tmp.path().join(name).join("aigw-installer");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("engine.json"), &remembered).unwrap();
        tmp.path().join(name)
    };
    let d = Driver::launch(APP, &env).await;
    d.wait_attribute("body", "data-engine", |v| v == Some(url.as_str()))
        .await;
    assert_eq!(
        d.attribute("#engine-list .engine[data-in-use='true']", "data-endpoint")
            .await
            .as_deref(),
        Some(url.as_str())
    );
    d.quit().await;
    // …and when it no longer answers, Welcome says so and offers the list.
    drop(sshd);
    let data3 = relaunch("data3");
    let mut env3 = env;
    env3[0] = ("XDG_DATA_HOME", data3.to_str().unwrap());
    let d = Driver::launch(APP, &env3).await;
    let note = d
        .wait_text("#engines-note", |t| t.contains("does not answer"))
        .await;
    assert!(
        note.contains(&url) && note.contains("Choose another"),
        "{note}"
    );
    d.quit().await;
}
