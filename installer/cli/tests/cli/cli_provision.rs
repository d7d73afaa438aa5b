//! `init`, `plan`, `apply`, `status`, `logs` and `uninstall` as an admin runs them: the real binary against
//! the real engine, with the stand-in images. Runs its scenario in one test: the engine is shared.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_core::spec::DeploymentSpec;
use aigw_e2e::free_port;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_aigw-installer");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("DOCKER_HOST")
        .env_remove("HF_TOKEN")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write_spec(dir: &Path, gateway_tag: &str, gw: u16, model: u16) -> String {
    write_spec_with(dir, gateway_tag, gw, model, |_| {})
}

/// The stand-in spec, edited by `edit`, written to `<dir>/spec.toml`; returns its path.
fn write_spec_with(
    dir: &Path,
    gateway_tag: &str,
    gw: u16,
    model: u16,
    edit: impl FnOnce(&mut DeploymentSpec),
) -> String {
    let mut s = aigw_e2e::standin_spec(dir, "aigw-cli-e2e");
    s.gitlab.url = "https://gitlab.example.com".into();
    s.gateway.tag = Some(gateway_tag.into());
    s.gateway.container = "aigw-cli-e2e-gw".into();
    s.gateway.port = gw;
    s.model.container = "aigw-cli-e2e-model".into();
    s.model.served_model_name = "mistral-7b".into();
    s.model.port = model;
    edit(&mut s);
    let path = dir.join("spec.toml");
    std::fs::write(&path, s.to_toml()).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn an_admin_session_from_plan_to_uninstall() {
    let Some(conn) = aigw_e2e::clean_engine().await else {
        return;
    };
    aigw_engine::docker::manage::uninstall(&conn.docker)
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (gw, model) = (free_port(), free_port());
    let spec = write_spec(dir.path(), "standin", gw, model);

    let p = run(&["plan", "--spec", &spec]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    let t = text(&p);
    assert!(
        t.contains("create  network aigw-cli-e2e")
            && t.contains("create  aigw-cli-e2e-model (no container yet)"),
        "{t}"
    );

    let a = run(&["apply", "--spec", &spec]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    assert!(text(&a).contains("applied in"), "{}", text(&a));
    assert!(text(&a).contains("done smoke test"), "{}", text(&a));

    let again = run(&["apply", "--spec", &spec]);
    assert!(text(&again).contains("up to date"), "{}", text(&again));

    let st = run(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert!(list
        .iter()
        .all(|c| c["state"] == "running" && c["restart_policy"] == "unless-stopped"));

    let logs = run(&["logs", "model", "--tail", "5"]);
    assert!(
        text(&logs).contains("stand-in vLLM: loading"),
        "{}",
        text(&logs)
    );

    // A changed tag: plan names the reason, apply recreates the gateway.
    let spec2 = write_spec(dir.path(), "standin-v2", gw, model);
    let p = run(&["plan", "--spec", &spec2]);
    assert!(
        text(&p).contains("recreate aigw-cli-e2e-gw because its configuration changed"),
        "{}",
        text(&p)
    );
    assert!(
        text(&p).contains("keep    aigw-cli-e2e-model"),
        "{}",
        text(&p)
    );

    // A spec with a bad field changes nothing and says which field.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&spec)
            .unwrap()
            .replace("aigw.example.com", "localhost"),
    )
    .unwrap();
    let b = run(&["apply", "--spec", bad.to_str().unwrap()]);
    assert_eq!(b.status.code(), Some(1));
    assert!(text(&b).contains("gateway.host"), "{}", text(&b));

    let u = run(&["uninstall", "--purge", "--spec", &spec]);
    assert_eq!(u.status.code(), Some(0), "{}", text(&u));
    let t = text(&u);
    assert!(
        t.contains("removed container aigw-cli-e2e-gw")
            && t.contains("removed network aigw-cli-e2e"),
        "{t}"
    );
    assert!(!Path::new(&spec).exists(), "--purge deletes the spec");
    assert!(
        !dir.path().join("logs").exists(),
        "--purge deletes the logs"
    );
    assert!(
        dir.path().join("weights").exists(),
        "a local weights directory is never deleted"
    );
    assert!(text(&run(&["status"])).contains("nothing installed here"));
}

/// Starts `apply`, kills it (SIGKILL: no rollback, no cleanup) as soon as it reports `phase`, and
/// returns whether the phase was reached.
fn kill_apply_at(spec: &str, phase: &str) -> bool {
    use std::io::BufRead;
    let mut child = Command::new(BIN)
        .args(["apply", "--spec", spec])
        .env_remove("DOCKER_HOST")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut reached = false;
    for line in std::io::BufReader::new(stderr).lines() {
        let line = line.unwrap();
        if line.contains(&format!("… {phase}")) {
            reached = true;
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    reached
}

#[tokio::test]
async fn an_apply_killed_at_any_phase_converges_when_run_again() {
    let Some(conn) = aigw_e2e::clean_engine().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (gw, model) = (free_port(), free_port());
    let slow = |tag: &str| {
        // Slow services, so that each phase lasts long enough to be interrupted in.
        let written = write_spec_with(dir.path(), tag, gw, model, |s| {
            s.model
                .env
                .insert("STANDIN_START_DELAY_MS".into(), "1500".into());
        });
        let path = dir.path().join(format!("{tag}.toml"));
        std::fs::rename(&written, &path).unwrap();
        path.display().to_string()
    };
    let v1 = slow("standin");
    let v2 = slow("standin-v2");
    let converged = |spec: &str| {
        let a = run(&["apply", "--spec", spec]);
        assert_eq!(
            a.status.code(),
            Some(0),
            "re-apply after a kill: {}",
            text(&a)
        );
        let st = run(&["status", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
        let names: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names.len(),
            2,
            "exactly our two containers remain: {names:?}"
        );
        assert!(
            v.as_array()
                .unwrap()
                .iter()
                .all(|c| c["state"] == "running"),
            "{v:#}"
        );
        assert!(text(&run(&["apply", "--spec", spec])).contains("up to date"));
    };
    // From nothing, killed at each phase.
    for phase in [
        "network",
        "model container",
        "model health",
        "gateway health",
        "smoke test",
    ] {
        aigw_engine::docker::manage::uninstall(&conn.docker)
            .await
            .unwrap();
        assert!(kill_apply_at(&v1, phase), "apply never reached {phase}");
        converged(&v1);
    }
    // A recreate (new gateway tag) killed while the old container is stopped and set aside.
    assert!(kill_apply_at(&v2, "gateway health"));
    converged(&v2);
    aigw_engine::docker::manage::uninstall(&conn.docker)
        .await
        .unwrap();
}

#[test]
fn gpu_ids_that_do_not_exist_are_refused_before_anything_changes() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec_with(dir.path(), "standin", free_port(), free_port(), |s| {
        s.model.gpus = vec!["0".into()];
    });
    // This machine has no NVIDIA GPU (on a GPU machine, id 7 would be the test).
    let o = run(&["plan", "--spec", &spec]);
    let t = text(&o);
    if t.contains("GPU \"0\" does not exist") {
        assert_eq!(o.status.code(), Some(1), "{t}");
        assert!(t.contains("model.gpus"), "{t}");
    } else {
        assert!(
            std::path::Path::new("/dev/nvidiactl").exists(),
            "refusal expected without a GPU: {t}"
        );
    }
}

#[tokio::test]
async fn ctrl_c_during_apply_rolls_back_and_says_so() {
    let Some(conn) = aigw_e2e::clean_engine().await else {
        return;
    };
    aigw_engine::docker::manage::uninstall(&conn.docker)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A model that takes long to load: Ctrl-C arrives while the apply waits for it.
    let spec = write_spec_with(dir.path(), "standin", free_port(), free_port(), |s| {
        s.model
            .env
            .insert("STANDIN_START_DELAY_MS".into(), "60000".into());
    });
    use std::io::BufRead;
    let mut child = Command::new(BIN)
        .args(["apply", "--spec", &spec])
        .env_remove("DOCKER_HOST")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "apply ended early: {seen}"
        );
        seen.push_str(&line);
        if line.contains("… model health") {
            break;
        }
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{seen}{rest}");
    assert!(
        rest.contains("cancelled") && rest.contains("rollback: "),
        "{rest}"
    );
    let left = aigw_engine::docker::deploy::list_ours(&conn.docker)
        .await
        .unwrap();
    assert!(
        left.is_empty(),
        "a cancelled apply leaves nothing: {left:?}"
    );
}

#[tokio::test]
async fn gitlab_18_10_and_later_get_jwt_keys_generated_once_and_kept_private() {
    use std::os::unix::fs::PermissionsExt;
    let Some(_engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (gw, model) = (free_port(), free_port());
    let spec = write_spec(dir.path(), "standin", gw, model);
    std::fs::write(
        &spec,
        std::fs::read_to_string(&spec)
            .unwrap()
            .replace("18.2.1", "18.11.0"),
    )
    .unwrap();
    let apply = || {
        Command::new(BIN)
            .args(["apply", "--spec", &spec])
            .env_remove("DOCKER_HOST")
            .env("XDG_DATA_HOME", &data)
            .output()
            .unwrap()
    };
    let a = apply();
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    let key = data.join("aigw-installer/jwt/aigw_signing.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let pem = std::fs::read_to_string(&key).unwrap();
    assert!(
        !text(&a).contains(pem.lines().nth(1).unwrap()),
        "no key material in the output"
    );
    let env = aigw_engine::docker::http::request(
        &format!("http://127.0.0.1:{gw}/stand-in/env"),
        None,
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    let env: serde_json::Value = serde_json::from_str(&env.body).unwrap();
    assert_eq!(env["AIGW_SELF_SIGNED_JWT__SIGNING_KEY"], pem.as_str());
    assert!(env["AIGW_SELF_SIGNED_JWT__VALIDATION_KEY"]
        .as_str()
        .unwrap()
        .contains("PRIVATE KEY"));
    // The keys are kept: a second apply changes nothing.
    assert!(text(&apply()).contains("up to date"));
    assert_eq!(std::fs::read_to_string(&key).unwrap(), pem);
    let u = run(&["uninstall"]);
    assert!(u.status.success());
}
