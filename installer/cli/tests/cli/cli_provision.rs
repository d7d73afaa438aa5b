//! `init`, `plan`, `apply`, `status`, `logs` and `uninstall` as an admin runs them: the real binary against
//! the real engine, with the stand-in images. Runs its scenario in one test: the engine is shared.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_core::spec::DeploymentSpec;
use aigw_e2e::free_port;
use aigw_e2e::interpose::{Interposer, Request};
use aigw_e2e::standin::{GATEWAY_IMAGE, MODEL_IMAGE};
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_aigw-installer");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("DOCKER_HOST")
        .env_remove("HF_TOKEN")
        // A short stability window keeps the suite quick; its own tests are in cli_stability.
        .env("AIGW_STABLE_FOR", "1")
        .output()
        .unwrap()
}

/// Stdout as JSON lines; panics on any line that is not one JSON object.
fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
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

    let u = run(&["uninstall", "--purge", "--yes", "--spec", &spec]);
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

const MODEL: &str = "aigw-cli-e2e-model";
const GATEWAY: &str = "aigw-cli-e2e-gw";
/// A hang guard, not a wait: every wait below ends on a state the engine or the installer declares.
const HANG_GUARD: std::time::Duration = std::time::Duration::from_secs(180);

/// Picks the request that begins a step.
type Trigger = fn(&Request) -> bool;

fn creates_network(r: &Request) -> bool {
    r.method == "POST" && r.path.starts_with("/networks/create")
}

fn creates(r: &Request, name: &str) -> bool {
    r.method == "POST"
        && r.path
            .strip_prefix("/containers/create?")
            .is_some_and(|q| q.split('&').any(|kv| kv == format!("name={name}")))
}

/// The first request of a health wait: the server's log, followed.
fn follows_logs(r: &Request, name: &str) -> bool {
    r.method == "GET" && r.path.starts_with(&format!("/containers/{name}/logs?"))
}

/// Where a killed apply stood: the engine's answer it never saw, and what it had printed.
struct Killed {
    answer: String,
    stderr: String,
}

/// Runs `apply` against the engine through an interposer, and kills it (SIGKILL: no rollback, no cleanup)
/// once the engine has answered the request `trigger` names, an answer the apply never receives: the kill
/// lands inside the step that request belongs to, however fast that step is.
fn kill_apply_when(spec: &str, trigger: Trigger) -> Killed {
    let proxy = Interposer::start(trigger);
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(BIN)
        .args(["apply", "--spec", spec])
        .env("DOCKER_HOST", proxy.docker_host())
        .env_remove("HF_TOKEN")
        .stdout(std::process::Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let answer = proxy.wait_answered(|| child.try_wait().unwrap().is_some(), HANG_GUARD);
    let _ = child.kill();
    let _ = child.wait();
    let stderr = std::fs::read_to_string(log.path()).unwrap();
    let answer = answer.unwrap_or_else(|| {
        panic!(
            "apply ended before the request; it printed:\n{stderr}\nrequests: {:#?}",
            proxy.seen()
        )
    });
    Killed { answer, stderr }
}

/// A container's state as the engine reports it ("created", "running", "exited"), and its image.
async fn container(docker: &bollard::Docker, name: &str) -> Option<(String, String)> {
    let c = docker.inspect_container(name, None).await.ok()?;
    let status = c
        .state
        .and_then(|s| s.status)
        .map(|s| s.to_string())
        .unwrap_or_default();
    Some((status, c.config.and_then(|c| c.image).unwrap_or_default()))
}

async fn network_exists(docker: &bollard::Docker, name: &str) -> bool {
    docker.inspect_network(name, None).await.is_ok()
}

/// Runs `apply` until its smoke test's completion request has reached the model server, which holds the
/// answer (the stand-in's STANDIN_COMPLETION_DELAY_MS file), and kills it there.
async fn kill_apply_in_smoke_test(docker: &bollard::Docker, spec: &str, weights: &Path) -> Killed {
    use futures_util::StreamExt;
    use std::io::BufRead;
    let hold = weights.join("STANDIN_COMPLETION_DELAY_MS");
    std::fs::write(&hold, HANG_GUARD.as_millis().to_string()).unwrap();
    let mut child = Command::new(BIN)
        .args(["apply", "--spec", spec])
        .env_remove("DOCKER_HOST")
        .env_remove("HF_TOKEN")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("… smoke test") {
        assert!(
            stderr.read_line(&mut seen).unwrap() > 0,
            "apply ended before its smoke test: {seen}"
        );
    }
    // The model container exists now; its log says when the request arrived.
    let mut logs = docker.logs(
        MODEL,
        Some(
            bollard::query_parameters::LogsOptionsBuilder::default()
                .follow(true)
                .stdout(true)
                .stderr(true)
                .build(),
        ),
    );
    let arrived = async {
        loop {
            let line = logs
                .next()
                .await
                .unwrap_or_else(|| panic!("the model's log ended; apply printed: {seen}"))
                .unwrap()
                .to_string();
            if line.contains("POST /v1/chat/completions received") {
                return line.trim().to_string();
            }
        }
    };
    let answer = tokio::time::timeout(HANG_GUARD, arrived)
        .await
        .unwrap_or_else(|_| {
            panic!("no completion request reached the model; apply printed: {seen}")
        });
    let _ = child.kill();
    let _ = child.wait();
    // What it printed up to the kill (the pipe ends with the process).
    std::io::Read::read_to_string(&mut stderr, &mut seen).unwrap();
    std::fs::remove_file(&hold).unwrap();
    Killed {
        answer,
        stderr: seen,
    }
}

#[tokio::test]
async fn an_apply_killed_at_any_phase_converges_when_run_again() {
    let Some(conn) = aigw_e2e::clean_engine().await else {
        return;
    };
    let docker = &conn.docker;
    let dir = tempfile::tempdir().unwrap();
    let (gw, model) = (free_port(), free_port());
    let slow = |tag: &str| {
        // Services that take a while to get healthy: a health wait cannot end before the kill.
        let written = write_spec_with(dir.path(), tag, gw, model, |s| {
            for env in [&mut s.gateway.env, &mut s.model.env] {
                env.insert("STANDIN_START_DELAY_MS".into(), "1500".into());
            }
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
    let model_running =
        |image_tag: &str| ("running".to_string(), format!("{MODEL_IMAGE}:{image_tag}"));
    let gateway_running = |image_tag: &str| {
        (
            "running".to_string(),
            format!("{GATEWAY_IMAGE}:{image_tag}"),
        )
    };

    // From nothing, killed inside each phase; what the engine holds at the kill shows where it landed.
    let phases: [(&str, Trigger); 5] = [
        ("network", creates_network),
        ("model container", |r| creates(r, MODEL)),
        ("model health", |r| follows_logs(r, MODEL)),
        ("gateway container", |r| creates(r, GATEWAY)),
        ("gateway health", |r| follows_logs(r, GATEWAY)),
    ];
    for (phase, trigger) in phases {
        aigw_engine::docker::manage::uninstall(docker)
            .await
            .unwrap();
        let k = kill_apply_when(&v1, trigger);
        let at = format!(
            "killed in {phase} ({}); apply printed:\n{}",
            k.answer, k.stderr
        );
        assert!(!k.stderr.contains(&format!("done {phase}")), "{at}");
        assert!(network_exists(docker, "aigw-cli-e2e").await, "{at}");
        let (m, g) = (
            container(docker, MODEL).await,
            container(docker, GATEWAY).await,
        );
        match phase {
            "network" => {
                assert!(k.answer.contains("201"), "{at}");
                assert_eq!((&m, &g), (&None, &None), "{at}");
            }
            "model container" => {
                assert!(k.answer.contains("201"), "{at}");
                assert_eq!(m.as_ref().map(|c| c.0.as_str()), Some("created"), "{at}");
                assert_eq!(g, None, "{at}");
            }
            "model health" => {
                assert_eq!(m, Some(model_running("standin")), "{at}");
                assert_eq!(g, None, "{at}");
            }
            "gateway container" => {
                assert!(k.answer.contains("201"), "{at}");
                assert_eq!(m, Some(model_running("standin")), "{at}");
                assert_eq!(g.as_ref().map(|c| c.0.as_str()), Some("created"), "{at}");
            }
            "gateway health" => {
                assert_eq!(m, Some(model_running("standin")), "{at}");
                assert_eq!(g, Some(gateway_running("standin")), "{at}");
            }
            _ => unreachable!(),
        }
        converged(&v1);
    }
    // Killed while the smoke test's request is with the model server.
    aigw_engine::docker::manage::uninstall(docker)
        .await
        .unwrap();
    let k = kill_apply_in_smoke_test(docker, &v1, &dir.path().join("weights")).await;
    assert!(
        !k.stderr.contains("done smoke test"),
        "{}: {}",
        k.answer,
        k.stderr
    );
    converged(&v1);

    // A recreate (new gateway tag) killed between setting the old container aside and putting the new
    // one in its place, and again while the new one gets healthy with the old one stopped beside it.
    let set_aside: Trigger = |r| {
        r.method == "POST" && r.path == format!("/containers/{GATEWAY}/rename?name={GATEWAY}-prev")
    };
    let k = kill_apply_when(&v2, set_aside);
    let at = format!("killed at {}; apply printed:\n{}", k.answer, k.stderr);
    let prev = container(docker, &format!("{GATEWAY}-prev")).await;
    assert_eq!(
        prev,
        Some(("exited".to_string(), format!("{GATEWAY_IMAGE}:standin"))),
        "{at}"
    );
    let next = container(docker, &format!("{GATEWAY}-next")).await;
    assert_eq!(
        next.as_ref().map(|c| c.1.as_str()),
        Some(format!("{GATEWAY_IMAGE}:standin-v2").as_str()),
        "{at}"
    );
    assert_eq!(container(docker, GATEWAY).await, None, "{at}");
    converged(&v2);

    converged(&v1);
    let k = kill_apply_when(&v2, |r| follows_logs(r, GATEWAY));
    let at = format!("killed at {}; apply printed:\n{}", k.answer, k.stderr);
    assert_eq!(
        container(docker, &format!("{GATEWAY}-prev")).await,
        Some(("exited".to_string(), format!("{GATEWAY_IMAGE}:standin"))),
        "{at}"
    );
    assert_eq!(
        container(docker, GATEWAY).await,
        Some(gateway_running("standin-v2")),
        "{at}"
    );
    converged(&v2);
    aigw_engine::docker::manage::uninstall(docker)
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
    assert_eq!(status.code(), Some(130), "cancelled: {seen}{rest}");
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
            // The stand-in plays Mistral 7B, which GitLab dropped in 18.5: this test is about the keys.
            .args(["apply", "--spec", &spec, "--allow-unsupported"])
            .env_remove("DOCKER_HOST")
            .env("XDG_DATA_HOME", &data)
            // No program reachable (no openssl): the keys are made in Rust.
            .env("PATH", "")
            // Everything logged, to stderr and to the file: still no key, no body, no colour in a pipe.
            .env("RUST_LOG", "trace")
            .env("AIGW_LOG_FILE", "trace")
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
    {
        use rsa::pkcs8::DecodePrivateKey;
        use rsa::traits::PublicKeyParts;
        // PKCS#8 PEM, as `openssl genrsa` writes it and the gateway reads it.
        assert!(
            pem.starts_with("-----BEGIN PRIVATE KEY-----\n"),
            "{}",
            &pem[..40]
        );
        let parsed = rsa::RsaPrivateKey::from_pkcs8_pem(&pem).unwrap();
        assert!(parsed.size() * 8 >= 2048);
        let validation = data.join("aigw-installer/jwt/aigw_validation.key");
        assert_eq!(
            std::fs::metadata(&validation).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let other = std::fs::read_to_string(&validation).unwrap();
        assert!(rsa::RsaPrivateKey::from_pkcs8_pem(&other).unwrap().size() * 8 >= 2048);
        assert_ne!(other, pem, "two keys");
    }
    let material = pem.lines().nth(1).unwrap();
    assert!(
        !text(&a).contains(material),
        "no key material in the output"
    );
    assert!(
        !String::from_utf8_lossy(&a.stderr).contains('\u{1b}'),
        "no colour escapes on a piped stderr"
    );
    // The log directory is private, and so is every file in it; none holds the key.
    let logs = data.join("aigw-installer/logs");
    for d in [data.join("aigw-installer"), logs.clone()] {
        assert_eq!(
            std::fs::metadata(&d).unwrap().permissions().mode() & 0o777,
            0o700,
            "{}",
            d.display()
        );
    }
    let mut logged = 0;
    for f in std::fs::read_dir(&logs).unwrap().flatten() {
        let body = std::fs::read_to_string(f.path()).unwrap();
        assert!(
            !body.contains(material),
            "key material in {}",
            f.path().display()
        );
        logged += body.lines().count();
    }
    assert!(logged > 0, "the trace went to the log file");
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
    // The keys are kept: a second apply changes nothing. Log files from before are owner-only now.
    assert!(text(&apply()).contains("up to date"));
    for f in std::fs::read_dir(&logs).unwrap().flatten() {
        assert_eq!(
            std::fs::metadata(f.path()).unwrap().permissions().mode() & 0o777,
            0o600,
            "{}",
            f.path().display()
        );
    }
    assert_eq!(std::fs::read_to_string(&key).unwrap(), pem);
    // Scripts read what went from one JSON object, and nothing else is on stdout.
    let u = run(&["uninstall", "--json"]);
    assert!(u.status.success(), "{}", text(&u));
    let out = String::from_utf8(u.stdout).unwrap();
    assert_eq!(out.lines().count(), 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut containers: Vec<&str> = v["result"]["removed"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    containers.sort();
    assert_eq!(containers, [GATEWAY, MODEL], "{v}");
    assert_eq!(
        v["result"]["removed"]["networks"].as_array().unwrap().len(),
        1,
        "{v}"
    );
    assert!(v["result"]["deleted"].as_array().unwrap().is_empty(), "{v}");
}

/// Scripts branch on the exit status: 3 when something blocks the apply (nothing changed), 4 when a
/// server never became healthy (what the run changed was undone).
#[tokio::test]
async fn exit_statuses_tell_blocked_from_unhealthy() {
    let Some(conn) = aigw_e2e::clean_engine().await else {
        return;
    };
    aigw_engine::docker::manage::uninstall(&conn.docker)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let held = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let taken = held.local_addr().unwrap().port();
    let blocked = write_spec(dir.path(), "standin", taken, free_port());
    let b = run(&["apply", "--json", "--spec", &blocked]);
    assert_eq!(b.status.code(), Some(3), "{}", text(&b));
    assert!(text(&b).contains(&taken.to_string()), "{}", text(&b));
    // --json: every stdout line is one JSON object; the last is the error, in the engine's shape.
    let lines = json_lines(&b);
    let last = lines.last().unwrap();
    assert_eq!(last["error"]["code"], "blocked", "{lines:?}");
    assert!(last["error"]["fix"].as_str().is_some(), "{lines:?}");
    drop(held);
    // A successful --json apply: events, then one result.
    let ok = write_spec(dir.path(), "standin", free_port(), free_port());
    let a = run(&["apply", "--json", "--spec", &ok]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    let lines = json_lines(&a);
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "phase" && l["state"] == "done"),
        "{lines:?}"
    );
    let result = &lines.last().unwrap()["result"];
    assert_eq!(result["changed"], true, "{lines:?}");
    assert!(result["gateway_url"]
        .as_str()
        .unwrap()
        .starts_with("http://"));
    assert_eq!(
        lines.iter().filter(|l| l.get("result").is_some()).count(),
        1
    );
    aigw_engine::docker::manage::uninstall(&conn.docker)
        .await
        .unwrap();
    let never = write_spec_with(dir.path(), "standin", free_port(), free_port(), |s| {
        s.model
            .env
            .insert("STANDIN_NEVER_HEALTHY".into(), "1".into());
        s.model.health_timeout_s = 3;
    });
    let u = run(&["apply", "--quiet", "--spec", &never]);
    assert_eq!(u.status.code(), Some(4), "{}", text(&u));
    assert!(text(&u).contains("did not become healthy"), "{}", text(&u));
    // Quiet: the error, and no progress line.
    assert!(!text(&u).contains("model health"), "{}", text(&u));
    assert!(aigw_engine::docker::manage::status(&conn.docker)
        .await
        .unwrap()
        .is_empty());
}

#[test]
fn a_loopback_gateway_host_in_octal_is_refused_before_contacting_anything() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec_with(dir.path(), "standin", free_port(), free_port(), |s| {
        s.gateway.host = "0177.0.0.1".into();
        s.model.gpus = Vec::new();
    });
    // An engine that does not exist: reaching for it would fail with a connection error instead.
    let nowhere = format!("unix://{}", dir.path().join("no-engine.sock").display());
    let o = Command::new(BIN)
        .args(["plan", "--spec", &spec])
        .env("DOCKER_HOST", &nowhere)
        .env_remove("HF_TOKEN")
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("gateway.host"), "{t}");
    assert!(t.contains("0177.0.0.1 is a loopback address"), "{t}");
    assert!(
        !t.contains("no-engine.sock"),
        "the engine was contacted: {t}"
    );
    assert_eq!(t.matches("for example").count(), 1, "the fix once: {t}");
}

#[test]
fn a_purge_without_a_terminal_and_without_yes_removes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.toml");
    let mut s = aigw_e2e::standin_spec(dir.path(), "aigw-cli-no-purge");
    s.log_dir = dir.path().join("logs");
    std::fs::create_dir(&s.log_dir).unwrap();
    std::fs::write(s.log_dir.join("gateway.log"), "kept").unwrap();
    std::fs::write(&spec, s.to_toml()).unwrap();
    // `output()` gives the child no terminal on stdin.
    let u = run(&["uninstall", "--purge", "--spec", spec.to_str().unwrap()]);
    assert_eq!(u.status.code(), Some(2), "{}", text(&u));
    assert!(text(&u).contains("--yes"), "{}", text(&u));
    assert!(spec.exists() && s.log_dir.join("gateway.log").exists());
}

/// One changing operation per engine: two applies at once (as from two workstations: separate data
/// directories, so only the engine's marker stands between them) → one proceeds, the other ends at once
/// with exit 3 naming the holder; status still works and names it; the holder SIGKILLed leaves a marker
/// the next apply takes over; another host's marker is refused without --break-lock and broken with it;
/// uninstall leaves no marker (nor its image) behind.
#[tokio::test]
async fn one_apply_at_a_time_and_who_holds_the_engine() {
    use aigw_engine::lock::{self, Holder};
    use std::process::Stdio;
    let Some(conn) = aigw_e2e::clean_engine().await else {
        return;
    };
    let docker = &conn.docker;
    let dir = tempfile::tempdir().unwrap();
    let (gw, model) = (free_port(), free_port());
    let spec = write_spec(dir.path(), "standin", gw, model);
    // The model server holds its answer to the smoke test: whoever takes the lock stays inside the apply.
    let hold = dir.path().join("weights/STANDIN_COMPLETION_DELAY_MS");
    std::fs::write(&hold, HANG_GUARD.as_millis().to_string()).unwrap();
    let apply_from = |data: &Path, break_lock: bool| {
        let mut c = Command::new(BIN);
        c.args(["apply", "--spec", &spec])
            .env_remove("DOCKER_HOST")
            .env_remove("HF_TOKEN")
            .env("XDG_DATA_HOME", data)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if break_lock {
            c.arg("--break-lock");
        }
        c
    };
    let data = [dir.path().join("ws1"), dir.path().join("ws2")];
    let children = [
        apply_from(&data[0], false).spawn().unwrap(),
        apply_from(&data[1], false).spawn().unwrap(),
    ];
    let pids = [children[0].id(), children[1].id()];
    let (tx, ended) = std::sync::mpsc::channel();
    for (i, child) in children.into_iter().enumerate() {
        let tx = tx.clone();
        std::thread::spawn(move || tx.send((i, child.wait_with_output().unwrap())));
    }
    let (first, out) = ended
        .recv_timeout(HANG_GUARD)
        .expect("one of the two applies ends at once");
    let (holder_i, holder_pid) = (1 - first, pids[1 - first]);
    let t = text(&out);
    assert_eq!(
        out.status.code(),
        Some(3),
        "the second apply is refused: {t}"
    );
    for part in [
        "apply by ".to_string(),
        format!("@{} (pid {holder_pid}) since 20", lock::this_host()),
        "wait until process".to_string(),
    ] {
        assert!(t.contains(&part), "{part:?} in: {t}");
    }
    assert!(
        !t.contains("--break-lock"),
        "a live local holder is not to be broken: {t}"
    );
    let on_engine = lock::holder(docker).await.unwrap().expect("a marker");
    assert_eq!(on_engine.pid, holder_pid);
    // The same data directory: the file lock answers first, naming the same process.
    let same = apply_from(&data[holder_i], false).output().unwrap();
    assert_eq!(same.status.code(), Some(3), "{}", text(&same));
    assert!(
        text(&same).contains(&format!("(pid {holder_pid})")),
        "{}",
        text(&same)
    );
    // Status reads while an apply runs, and says who is changing the engine.
    let st = run(&["status"]);
    assert_eq!(st.status.code(), Some(0), "{}", text(&st));
    assert!(
        text(&st).contains("in progress: apply by ")
            && text(&st).contains(&format!("(pid {holder_pid})")),
        "{}",
        text(&st)
    );
    let st = run(&["status", "--json"]);
    assert!(
        serde_json::from_slice::<serde_json::Value>(&st.stdout).is_ok(),
        "{}",
        text(&st)
    );

    // The holder killed (no cleanup): its marker stays, naming a process that is gone; the next apply
    // takes it over without being asked.
    let kill = Command::new("kill")
        .args(["-KILL", &holder_pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let (_, killed) = ended.recv().unwrap();
    assert_eq!(
        killed.status.code(),
        None,
        "killed by a signal: {}",
        text(&killed)
    );
    assert_eq!(
        lock::holder(docker).await.unwrap().map(|h| h.pid),
        Some(holder_pid)
    );
    std::fs::remove_file(&hold).unwrap();
    let again = apply_from(&data[first], false).output().unwrap();
    assert_eq!(again.status.code(), Some(0), "taken over: {}", text(&again));
    assert_eq!(
        lock::holder(docker).await.unwrap(),
        None,
        "released at the end"
    );
    let image = format!("{}:{}", lock::IMAGE, lock::IMAGE_TAG);
    assert!(
        docker.inspect_image(&image).await.is_err(),
        "nothing of the lock stays"
    );

    // Another workstation's marker (its installer may still run there): refused, then broken on request.
    let mut elsewhere = Holder::here("upgrade");
    elsewhere.host = format!("{}-ws2", lock::this_host());
    elsewhere.pid = 4242;
    lock::ensure_image(docker).await.unwrap();
    docker
        .create_container(
            Some(
                bollard::query_parameters::CreateContainerOptionsBuilder::default()
                    .name(lock::MARKER)
                    .build(),
            ),
            bollard::models::ContainerCreateBody {
                image: Some(format!("{}:{}", lock::IMAGE, lock::IMAGE_TAG)),
                cmd: Some(vec!["/none".into()]),
                labels: Some(elsewhere.labels()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let u = run(&["uninstall"]);
    let t = text(&u);
    assert_eq!(u.status.code(), Some(3), "{t}");
    assert!(
        t.contains(&format!(
            "upgrade by {}@{} (pid 4242) since {}",
            elsewhere.user, elsewhere.host, elsewhere.since
        )),
        "{t}"
    );
    assert!(t.contains("--break-lock"), "the way on: {t}");
    assert_eq!(
        aigw_engine::docker::deploy::list_ours(docker)
            .await
            .unwrap()
            .len(),
        2,
        "nothing removed"
    );
    let u = run(&["uninstall", "--break-lock"]);
    assert_eq!(u.status.code(), Some(0), "{}", text(&u));
    assert!(aigw_engine::docker::deploy::list_ours(docker)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(lock::holder(docker).await.unwrap(), None, "no marker left");
    assert!(docker.inspect_image(&image).await.is_err(), "nor its image");
}
