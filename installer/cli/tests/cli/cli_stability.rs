//! Issue 11 items 3 and 8 as an admin meets them: a model that crashes after its first healthy answer
//! (the stand-in's STANDIN_CRASH_AFTER_HEALTHY_MS) fails `apply` in its stability window, and once it
//! restart-loops `status` and `plan` say so; an uninstall during an apply stops it at once, with a
//! rollback that does not fail on the removal in progress. The real binary against the real engine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_e2e::free_port;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_aigw-installer");
const MODEL: &str = "aigw-stab-e2e-model";

fn command(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_remove("DOCKER_HOST")
        .env_remove("HF_TOKEN")
        .env_remove("AIGW_STABLE_FOR");
    c
}

fn run(args: &[&str]) -> Output {
    command(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The stand-in deployment with the model's environment set to `model_env`; returns the spec's path.
fn write_spec(dir: &Path, model_env: &[(&str, &str)], health_timeout_s: u64) -> String {
    let mut s = aigw_e2e::standin_spec(dir, "aigw-stab-e2e");
    s.gateway.container = "aigw-stab-e2e-gw".into();
    s.gateway.port = free_port();
    s.model.container = MODEL.into();
    s.model.served_model_name = "mistral-7b".into();
    s.model.port = free_port();
    s.model.health_timeout_s = health_timeout_s;
    for (k, v) in model_env {
        s.model.env.insert((*k).into(), (*v).into());
    }
    let path = dir.join("spec.toml");
    std::fs::write(&path, s.to_toml()).unwrap();
    path.display().to_string()
}

/// The last stdout line of a `--json` run: the error object.
fn json_error(o: &Output) -> serde_json::Value {
    let out = String::from_utf8_lossy(&o.stdout);
    let last = out.lines().last().unwrap_or_default();
    let v: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {}", text(o)));
    v["error"].clone()
}

/// The model's condition as `status --json` reports it.
fn model_condition() -> Option<String> {
    let st = run(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).ok()?;
    v.as_array()?
        .iter()
        .find(|c| c["name"] == MODEL)
        .and_then(|c| c["condition"].as_str().map(String::from))
}

#[tokio::test]
async fn a_model_crashing_after_its_first_healthy_answer_is_never_called_applied_or_up_to_date() {
    let Some(conn) = aigw_e2e::clean_engine().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        dir.path(),
        &[("STANDIN_CRASH_AFTER_HEALTHY_MS", "1000")],
        120,
    );
    // The window is longer than the crash takes: it ends at the crash, not at its end.
    let a = run(&["apply", "--json", "--stable-for", "30", "--spec", &spec]);
    assert_eq!(a.status.code(), Some(4), "{}", text(&a));
    let e = json_error(&a);
    assert_eq!(e["code"], "unstable", "{}", text(&a));
    let message = e["message"].as_str().unwrap();
    assert!(message.contains("stability window"), "{message}");
    assert!(message.contains("code 3"), "{message}");
    assert!(
        message.contains("simulated crash after serving"),
        "{message}"
    );
    assert!(message.contains("likely cause:"), "{message}");
    assert!(message.contains("rollback: removed"), "{message}");
    // Its own phase in the progress events.
    assert!(
        String::from_utf8_lossy(&a.stdout).contains(r#""phase":"model stability""#),
        "{}",
        text(&a)
    );
    assert_eq!(model_condition(), None, "rolled back: {}", text(&a));

    // Without the window the crash goes unseen by apply; status and plan see the restart loop after.
    let a = run(&[
        "apply",
        "--stable-for",
        "0",
        "--no-smoke-test",
        "--spec",
        &spec,
    ]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    let deadline = Instant::now() + Duration::from_secs(120);
    let condition = loop {
        match model_condition() {
            Some(c) if c.starts_with("restart loop (") => break c,
            other => assert!(
                Instant::now() < deadline,
                "status never showed the restart loop: {other:?}"
            ),
        }
    };
    assert!(condition.ends_with(" restarts)"), "{condition}");
    let st = run(&["status"]);
    assert!(text(&st).contains("restart loop ("), "{}", text(&st));
    let p = run(&["plan", "--spec", &spec]);
    assert!(
        text(&p).contains(&format!("recreate {MODEL} because restart loop (")),
        "{}",
        text(&p)
    );
    // Apply repairs it by recreating it, and the fresh container's crash fails the window again:
    // never "up to date".
    let again = run(&["apply", "--stable-for", "30", "--spec", &spec]);
    assert_eq!(again.status.code(), Some(4), "{}", text(&again));
    assert!(!text(&again).contains("up to date:"), "{}", text(&again));
    assert!(!text(&again).contains("applied"), "{}", text(&again));
    assert!(
        text(&again).contains("stability window"),
        "{}",
        text(&again)
    );

    aigw_engine::docker::manage::uninstall(&conn.docker)
        .await
        .unwrap();
}

/// Uninstall while apply waits for a model that is still loading: apply stops at once with the
/// rollback result, and neither side fails on the other's removals.
#[tokio::test]
async fn an_uninstall_during_apply_stops_it_with_the_rollback_result() {
    let Some(conn) = aigw_e2e::clean_engine().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Loading for ten minutes, with a health time-out of fifteen: only the uninstall can end the wait.
    let spec = write_spec(dir.path(), &[("STANDIN_START_DELAY_MS", "600000")], 900);
    let mut child = command(&["apply", "--json", "--stable-for", "2", "--spec", &spec])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    // Wait for the apply to declare the model's health wait.
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("apply ended before its health wait: {seen:?}"))
            .unwrap();
        let started = line.contains(r#""phase":"model health""#) && line.contains("started");
        seen.push(line);
        if started {
            break;
        }
    }
    let removed = aigw_engine::docker::manage::uninstall(&conn.docker)
        .await
        .unwrap();
    assert!(removed.containers.iter().any(|c| c == MODEL), "{removed:?}");
    // Liveness only: the apply would otherwise wait out its fifteen-minute time-out.
    let rest: Vec<String> = {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(lines.map_while(Result::ok).collect::<Vec<_>>());
        });
        rx.recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("apply did not stop after the uninstall")
            })
    };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{rest:?}");
    let last: serde_json::Value = serde_json::from_str(rest.last().unwrap()).unwrap();
    let e = &last["error"];
    assert_eq!(e["code"], "container_removed", "{rest:?}");
    let message = e["message"].as_str().unwrap();
    assert!(message.contains("rollback:"), "{message}");
    assert!(!message.contains("FAILED"), "{message}");
    assert!(!message.contains("already in progress"), "{message}");
    assert!(aigw_engine::docker::deploy::list_ours(&conn.docker)
        .await
        .unwrap()
        .is_empty());
    aigw_engine::docker::manage::uninstall(&conn.docker)
        .await
        .unwrap();
}
