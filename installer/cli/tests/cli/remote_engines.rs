//! Remote engines for real: an OpenSSH server started here on 127.0.0.1 (its own host key, a user key,
//! authorized_keys, known_hosts and an ssh config; root's own ~/.ssh is never read or touched), and a
//! TLS-terminating proxy with client-certificate verification in front of the engine's socket
//! (certificates made here). The CLI's full cycle runs through each, and every bad case must name its
//! cause and fix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_e2e::free_port;
use aigw_e2e::sshd::Sshd;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

const BIN: &str = env!("CARGO_BIN_EXE_aigw-installer");

/// The CLI with a home of its own: no docker config, data directory or ssh agent from the machine.
fn cli(home: &Path, path_prefix: Option<&Path>, args: &[&str]) -> Output {
    cli_with(home, path_prefix, args, &[])
}

/// [`cli`] with `env` set on top.
fn cli_with(
    home: &Path,
    path_prefix: Option<&Path>,
    args: &[&str],
    env: &[(&str, &str)],
) -> Output {
    command(home, path_prefix, args, env).output().unwrap()
}

/// The command [`cli_with`] runs.
fn command(
    home: &Path,
    path_prefix: Option<&Path>,
    args: &[&str],
    env: &[(&str, &str)],
) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("AIGW_STABLE_FOR", "1")
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_CONFIG")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("HF_TOKEN");
    if let Some(bin) = path_prefix {
        let path = std::env::var("PATH").unwrap_or_default();
        c.env("PATH", format!("{}:{path}", bin.display()));
    }
    c.envs(env.iter().copied());
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn detect_json(home: &Path, path_prefix: Option<&Path>, engine: &[&str]) -> serde_json::Value {
    let mut args = engine.to_vec();
    args.extend(["detect", "--json"]);
    let o = cli(home, path_prefix, &args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
}

/// The docker finding of a report: (code, fix).
fn docker_finding(report: &serde_json::Value) -> (String, String) {
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"].as_str().unwrap().starts_with("docker."))
        .unwrap_or_else(|| panic!("no docker finding: {report:#}"));
    (
        f["code"].as_str().unwrap().to_string(),
        f["fix"].as_str().unwrap_or_default().to_string(),
    )
}

/// The stand-in spec under `dir`. Its log directory is not made here: apply makes it, on the server
/// through the engine for a remote one (here the "server" is this machine).
fn write_spec(dir: &Path, name: &str) -> String {
    let s = standin_spec(dir, name);
    let path = dir.join("spec.toml");
    std::fs::write(&path, s.to_toml()).unwrap();
    path.display().to_string()
}

fn standin_spec(dir: &Path, name: &str) -> aigw_core::spec::DeploymentSpec {
    let mut s = aigw_e2e::standin_spec(dir, name);
    s.gitlab.url = "https://gitlab.example.com".into();
    s.gateway.tag = Some("standin".into());
    s.gateway.container = format!("{name}-gw");
    s.gateway.port = free_port();
    s.model.container = format!("{name}-model");
    s.model.served_model_name = "mistral-7b".into();
    s.model.port = free_port();
    s
}

/// The log directory apply made, owned by the gateway image's user (the engine made it for a remote
/// engine, the installer for a local one).
fn assert_log_dir_made(home: &Path) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(home.join("logs")).expect("apply made the log directory");
    assert!(m.is_dir());
    assert_eq!(m.uid(), aigw_e2e::standin::GATEWAY_UID);
}

/// detect → plan → apply → status → logs → uninstall through `engine` (the global flags).
fn full_cycle(home: &Path, bin: Option<&Path>, engine: &[&str], name: &str, scheme: &str) {
    let with = |args: &[&str]| {
        let mut all = engine.to_vec();
        all.extend(args);
        cli(home, bin, &all)
    };
    let report = detect_json(home, bin, engine);
    assert_eq!(report["docker"]["status"], "reachable", "{report:#}");
    assert_eq!(report["docker"]["endpoint"]["scheme"], scheme);
    assert_eq!(report["docker"]["local"], scheme != "ssh");
    let spec = write_spec(home, name);

    let p = with(&["plan", "--spec", &spec]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    assert!(
        text(&p).contains(&format!("create  {name}-model")),
        "{}",
        text(&p)
    );

    assert!(!home.join("logs").exists());
    let a = with(&["apply", "--spec", &spec]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    assert!(text(&a).contains("applied in"), "{}", text(&a));
    assert_log_dir_made(home);
    // Through the engine's helper exactly when the engine is not this machine.
    assert_eq!(
        text(&a).contains("files on the server (through the engine)"),
        scheme == "ssh",
        "{}",
        text(&a)
    );

    let again = with(&["plan", "--spec", &spec]);
    assert!(
        text(&again).contains("up to date") || text(&again).contains("nothing to do"),
        "{}",
        text(&again)
    );

    let st = with(&["status", "--json"]);
    assert_eq!(st.status.code(), Some(0), "{}", text(&st));
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 2, "{v:#}");
    assert!(list.iter().all(|c| c["state"] == "running"), "{v:#}");

    let logs = with(&["logs", "model", "--tail", "5"]);
    assert!(
        text(&logs).contains("stand-in vLLM: loading"),
        "{}",
        text(&logs)
    );

    let u = with(&["uninstall", "--json"]);
    assert_eq!(u.status.code(), Some(0), "{}", text(&u));
    let st = with(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap_or_default();
    assert!(v.as_array().is_none_or(|l| l.is_empty()), "{v:#}");
}

#[tokio::test]
async fn the_full_cycle_through_ssh() {
    let Some(_engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let Some(sshd) = Sshd::start() else {
        return;
    };
    let bin = sshd.client("good", "user_key", &sshd.known_hosts());
    let home = tempfile::tempdir().unwrap();
    let url = sshd.url();
    full_cycle(
        home.path(),
        Some(&bin),
        &["-H", &url],
        "aigw-ssh-e2e",
        "ssh",
    );

    // One ssh login per command: every connection after the first is a session over that login.
    let _ = sshd.accepted_logins();
    let r = detect_json(home.path(), Some(&bin), &["-H", &url]);
    assert_eq!(r["docker"]["status"], "reachable", "{r:#}");
    assert_eq!(sshd.accepted_logins(), 1, "detect logged in more than once");
    let spec = write_spec(home.path(), "aigw-ssh-once");
    let with = |args: &[&str]| {
        let mut all = vec!["-H", url.as_str()];
        all.extend(args);
        cli(home.path(), Some(&bin), &all)
    };
    let a = with(&["apply", "--spec", &spec]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    let _ = sshd.accepted_logins();
    for args in [
        &["apply", "--spec", &spec][..],
        &["status", "--json"],
        &["uninstall", "--json"],
    ] {
        let o = with(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o));
        assert_eq!(
            sshd.accepted_logins(),
            1,
            "{args:?} logged in more than once"
        );
    }

    // The same server as a Docker context, chosen by name.
    let config = home.path().join(".docker");
    let meta = aigw_core::report::endpoint::context_meta_path(&config, "gpu-test");
    std::fs::create_dir_all(meta.parent().unwrap()).unwrap();
    let json = serde_json::json!({"Name": "gpu-test", "Metadata": {}, "Endpoints": {"docker": {"Host": url, "SkipTLSVerify": false}}});
    std::fs::write(&meta, json.to_string()).unwrap();
    let r = detect_json(home.path(), Some(&bin), &["--context", "gpu-test"]);
    assert_eq!(r["docker"]["status"], "reachable", "{r:#}");
    assert_eq!(r["docker"]["origin"]["from"], "context_flag");
    assert_eq!(r["docker"]["origin"]["context"], "gpu-test");
    let codes: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"docker.remote_engine"), "{codes:?}");
}

/// Hugging Face weights through ssh://: apply fetches into the workstation's cache (the data
/// directory's), then the engine's helper puts the snapshot, its manifest and the token (0600) into the
/// spec's server paths; the model container mounts the server's token. Applied again, the upload is
/// skipped (the server holds the same manifest) and the Hub is not asked again.
// The Hub stand-in answers on this runtime while the CLI runs: a blocked current-thread runtime would
// never serve it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hugging_face_weights_and_the_token_reach_the_server_through_ssh() {
    use std::os::unix::fs::MetadataExt;
    let Some(_engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let Some(sshd) = Sshd::start() else {
        return;
    };
    const TOKEN: &str = "hf_remote_standin_token_1234567";
    let repo = aigw_e2e::hub::HubRepo::sharded("org/standin-remote", 2, 200_000);
    let commit = repo.commit.clone();
    let hub = aigw_e2e::hub::Hub::start(
        vec![repo],
        vec![TOKEN.into()],
        aigw_e2e::hub::Knobs::default(),
        None,
    )
    .await;
    let bin = sshd.client("good", "user_key", &sshd.known_hosts());
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let name = "aigw-ssh-hf-e2e";
    let server_cache = home.join("server-cache");
    let mut s = standin_spec(home, name);
    s.model.weights = aigw_core::spec::Weights::HuggingFace {
        repo: "org/standin-remote".into(),
        revision: "main".into(),
        endpoint: Some(hub.hub.base.clone()),
        cache_dir: server_cache.clone(),
        token_file: None,
    };
    let spec = home.join("spec.toml");
    std::fs::write(&spec, s.to_toml()).unwrap();
    let spec = spec.display().to_string();
    let url = sshd.url();
    let apply = || {
        cli_with(
            home,
            Some(&bin),
            &["-H", &url, "apply", "--spec", &spec],
            &[("HF_TOKEN", TOKEN)],
        )
    };
    let sent = || hub.sent_per_file().values().sum::<u64>();
    let data = home.join("data").join("aigw-installer");
    let plan = || {
        let p = cli_with(
            home,
            Some(&bin),
            &["-H", &url, "plan", "--spec", &spec],
            &[("HF_TOKEN", TOKEN)],
        );
        assert_eq!(p.status.code(), Some(0), "{}", text(&p));
        text(&p)
    };
    // Review reads the cache install fetches into (this machine's), and says where the copy goes.
    let copied = format!("then copied to {} on the server", server_cache.display());
    let before = plan();
    assert!(
        before.contains(&format!("to {}", data.join("hf-cache").display()))
            && before.contains(&copied),
        "{before}"
    );

    let a = apply();
    let out = text(&a);
    assert_eq!(a.status.code(), Some(0), "{out}");
    assert!(
        out.contains("files on the server (through the engine)"),
        "{out}"
    );
    assert!(!out.contains(TOKEN), "{out}");
    let after = plan();
    assert!(
        after.contains(&format!(
            "already verified in {}",
            data.join("hf-cache").display()
        )) && after.contains(&copied),
        "{after}"
    );
    // Fetched into the workstation's cache, the data directory's…
    let manifest = format!("aigw-manifests/models--org--standin-remote--{commit}.json");
    assert!(data.join("hf-cache").join(&manifest).is_file(), "{out}");
    assert!(
        out.contains(&format!("into {}", data.join("hf-cache").display())),
        "{out}"
    );
    // …then to the server's cache_dir through the helper, the manifest last.
    assert!(
        out.contains(&format!("to {} on the server", server_cache.display())),
        "{out}"
    );
    assert!(server_cache.join(&manifest).is_file());
    let snapshot = server_cache
        .join("hub/models--org--standin-remote/snapshots")
        .join(&commit);
    for f in [
        "config.json",
        "model-00001-of-00002.safetensors",
        "model.safetensors.index.json",
    ] {
        let link = snapshot.join(f);
        assert!(
            link.symlink_metadata().unwrap().file_type().is_symlink(),
            "{f}"
        );
        assert_eq!(
            std::fs::read(&link).unwrap(),
            std::fs::read(
                data.join("hf-cache/hub/models--org--standin-remote/snapshots")
                    .join(&commit)
                    .join(f)
            )
            .unwrap(),
            "{f}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(server_cache.join("hub/models--org--standin-remote/refs/main"))
            .unwrap(),
        commit
    );
    // The token: 0600 at the server path, owned by the model image's user (root for the stand-in).
    let token = server_cache.join("aigw-secrets/hf-token");
    let m = std::fs::metadata(&token).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid()), (0o600, 0));
    assert_eq!(std::fs::read_to_string(&token).unwrap().trim(), TOKEN);
    assert_log_dir_made(home);
    // The model container mounts the server's token, not the workstation's file.
    let docker = bollard::Docker::connect_with_local_defaults().unwrap();
    let model = docker
        .inspect_container(&format!("{name}-model"), None)
        .await
        .unwrap();
    let binds = model.host_config.unwrap().binds.unwrap_or_default();
    assert!(
        binds
            .iter()
            .any(|b| b.starts_with(&format!("{}:", token.display()))),
        "{binds:?}"
    );
    // No helper is left.
    let helpers = docker
        .list_containers(Some(
            bollard::query_parameters::ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&std::collections::HashMap::from([(
                    "label",
                    vec!["io.aigw-installer.files=1"],
                )]))
                .build(),
        ))
        .await
        .unwrap();
    assert!(
        helpers.iter().all(|c| !c
            .mounts
            .iter()
            .flatten()
            .any(|m| m.source.as_deref() == Some(server_cache.to_str().unwrap()))),
        "{helpers:?}"
    );

    // Again: the server holds the same manifest, nothing is uploaded and the Hub is not asked.
    let before = sent();
    let again = apply();
    let out = text(&again);
    assert_eq!(again.status.code(), Some(0), "{out}");
    assert!(out.contains("already on the server"), "{out}");
    assert!(
        !out.contains(&format!("to {} on the server", server_cache.display())),
        "{out}"
    );
    assert_eq!(sent(), before);

    // A workstation without the snapshot (another admin's, a cleared cache): the server holds it, so
    // nothing is downloaded here — the Hub lists the files, no byte of them is sent.
    std::fs::remove_dir_all(data.join("hf-cache")).unwrap();
    let third = apply();
    let out = text(&third);
    assert_eq!(third.status.code(), Some(0), "{out}");
    assert!(out.contains("already on the server"), "{out}");
    assert_eq!(sent(), before, "{out}");
    assert!(!data.join("hf-cache").join(&manifest).exists());

    let u = cli(home, Some(&bin), &["-H", &url, "uninstall", "--json"]);
    assert_eq!(u.status.code(), Some(0), "{}", text(&u));
}

/// The stand-in spec with Hugging Face weights of `repo` from `endpoint` into the server's
/// `server_cache`, written beside it: its path.
fn hf_spec(home: &Path, name: &str, repo: &str, endpoint: &str, server_cache: &Path) -> String {
    let mut s = standin_spec(home, name);
    s.model.weights = aigw_core::spec::Weights::HuggingFace {
        repo: repo.into(),
        revision: "main".into(),
        endpoint: Some(endpoint.into()),
        cache_dir: server_cache.to_path_buf(),
        token_file: None,
    };
    let spec = home.join("spec.toml");
    std::fs::write(&spec, s.to_toml()).unwrap();
    spec.display().to_string()
}

/// File helpers and probe containers (any state) with a mount under `dir`: none may be left.
async fn helpers_under(docker: &bollard::Docker, dir: &Path) -> Vec<String> {
    let mut left = Vec::new();
    for label in ["io.aigw-installer.files=1", "io.aigw-installer.probe"] {
        let list = aigw_engine::docker::labels::labelled(docker, label)
            .await
            .unwrap();
        for c in list {
            if c.mounts.iter().flatten().any(|m| {
                m.source
                    .as_deref()
                    .is_some_and(|s| Path::new(s).starts_with(dir))
            }) {
                left.push(format!("{label} {:?}", c.id));
            }
        }
    }
    left
}

/// Whether the engine has a container named `name`.
async fn exists(docker: &bollard::Docker, name: &str) -> bool {
    docker.inspect_container(name, None).await.is_ok()
}

/// A server whose file system has too little room for the snapshot (the stand-in's `df` says 1000 bytes
/// free): apply is refused before the first byte of the upload, naming the need, the free space, the
/// server's directory and the fix; nothing of the snapshot is on the server, no helper or probe is left,
/// no container made. With room (the real figure), the same apply uploads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_little_free_space_on_the_server_is_refused_before_the_upload() {
    let Some(engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let Some(sshd) = Sshd::start() else {
        return;
    };
    let repo = aigw_e2e::hub::HubRepo::sharded("org/standin-space", 2, 300_000);
    let commit = repo.commit.clone();
    let hub = aigw_e2e::hub::Hub::start(vec![repo], vec![], Default::default(), None).await;
    let bin = sshd.client("good", "user_key", &sshd.known_hosts());
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let name = "aigw-ssh-space-e2e";
    let server_cache = home.join("server").join("hf-cache");
    std::fs::create_dir_all(&server_cache).unwrap();
    // The stand-in's knob: the available bytes its `df` reports for this directory.
    let knob = server_cache.join("STANDIN_DF_AVAIL");
    std::fs::write(&knob, "1000").unwrap();
    let spec = hf_spec(
        home,
        name,
        "org/standin-space",
        &hub.hub.base,
        &server_cache,
    );
    let url = sshd.url();
    let apply = || cli(home, Some(&bin), &["-H", &url, "apply", "--spec", &spec]);

    let a = apply();
    let out = text(&a);
    assert_ne!(a.status.code(), Some(0), "{out}");
    let place = format!("127.0.0.1:{}", server_cache.display());
    assert!(
        out.contains(&format!("more on {place} but only 1000 bytes is free")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "on {place} (1 GiB is kept in reserve) or choose another cache_dir"
        )),
        "{out}"
    );
    assert!(!out.contains("could not be read"), "{out}");
    // Refused before the download to this workstation, not only before the upload.
    assert_eq!(hub.sent_per_file().values().sum::<u64>(), 0, "{out}");
    let on_server: Vec<_> = std::fs::read_dir(&server_cache)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(on_server, ["STANDIN_DF_AVAIL"], "{out}");
    assert_eq!(
        helpers_under(&engine.docker, home).await,
        Vec::<String>::new()
    );
    assert!(!exists(&engine.docker, &format!("{name}-model")).await);
    assert!(!exists(&engine.docker, &format!("{name}-gw")).await);

    // The real figure: room enough, the snapshot goes up.
    std::fs::remove_file(&knob).unwrap();
    let a = apply();
    let out = text(&a);
    assert_eq!(a.status.code(), Some(0), "{out}");
    assert!(
        out.contains(&format!("to {} on the server", server_cache.display())),
        "{out}"
    );
    assert!(!out.contains("could not be read"), "{out}");
    assert!(server_cache
        .join(format!(
            "aigw-manifests/models--org--standin-space--{commit}.json"
        ))
        .is_file());
    assert_eq!(
        helpers_under(&engine.docker, home).await,
        Vec::<String>::new()
    );
    let u = cli(home, Some(&bin), &["-H", &url, "uninstall", "--json"]);
    assert_eq!(u.status.code(), Some(0), "{}", text(&u));
}

/// Ctrl-C while the snapshot streams to the server (at its first progress event): apply stops within
/// seconds, the helper is removed, the server's manifest is not written (the next apply uploads again)
/// and no model or gateway container was created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_remote_apply_during_the_upload_stops_it_cleanly() {
    use std::io::BufRead;
    let Some(engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let Some(sshd) = Sshd::start() else {
        return;
    };
    // Large enough that the upload outlasts its first progress event (sent after 250 ms).
    let repo = aigw_e2e::hub::HubRepo::sharded("org/standin-cancel", 2, 100_000_000);
    let commit = repo.commit.clone();
    let hub = aigw_e2e::hub::Hub::start(vec![repo], vec![], Default::default(), None).await;
    let bin = sshd.client("good", "user_key", &sshd.known_hosts());
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let name = "aigw-ssh-cancel-e2e";
    let server_cache = home.join("server-cache");
    let spec = hf_spec(
        home,
        name,
        "org/standin-cancel",
        &hub.hub.base,
        &server_cache,
    );
    let url = sshd.url();
    let manifest = server_cache.join(format!(
        "aigw-manifests/models--org--standin-cancel--{commit}.json"
    ));

    let mut child = command(
        home,
        Some(&bin),
        &["-H", &url, "apply", "--spec", &spec, "--json"],
        &[],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let stdout = child.stdout.take().unwrap();
    let pid = child.id().to_string();
    // The CLI's events, read on a thread of their own (the Hub answers on this runtime meanwhile).
    let read = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        let mut cancelled_at = None;
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            let uploading = v["event"] == "transfer"
                && v["what"]
                    .as_str()
                    .is_some_and(|w| w.starts_with("weights to the server"));
            if uploading && cancelled_at.is_none() {
                let k = Command::new("kill").args(["-INT", &pid]).status().unwrap();
                assert!(k.success());
                cancelled_at = Some(std::time::Instant::now());
            }
            lines.push(line);
        }
        let status = child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        (
            cancelled_at.map(|t| t.elapsed()),
            status,
            lines.join("\n"),
            err,
        )
    });
    let (took, status, out, err) = read.await.unwrap();
    let took = took.unwrap_or_else(|| panic!("no upload progress: {out}\n{err}"));
    assert_ne!(status.code(), Some(0), "{out}\n{err}");
    assert!(
        took < std::time::Duration::from_secs(10),
        "stopped {took:?} after the cancel: {out}\n{err}"
    );
    assert!(out.contains("\"code\":\"cancelled\""), "{out}\n{err}");
    assert!(!manifest.exists(), "{out}");
    assert_eq!(
        helpers_under(&engine.docker, home).await,
        Vec::<String>::new()
    );
    assert!(!exists(&engine.docker, &format!("{name}-model")).await);
    assert!(!exists(&engine.docker, &format!("{name}-gw")).await);

    // The next apply uploads again, and completes.
    let a = cli(home, Some(&bin), &["-H", &url, "apply", "--spec", &spec]);
    let out = text(&a);
    assert_eq!(a.status.code(), Some(0), "{out}");
    assert!(
        out.contains(&format!("to {} on the server", server_cache.display())),
        "{out}"
    );
    assert!(manifest.is_file());
    assert_eq!(
        helpers_under(&engine.docker, home).await,
        Vec::<String>::new()
    );
    let u = cli(home, Some(&bin), &["-H", &url, "uninstall", "--json"]);
    assert_eq!(u.status.code(), Some(0), "{}", text(&u));
}

#[test]
fn ssh_failures_say_what_to_do() {
    let Some(sshd) = Sshd::start() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let url = sshd.url();

    let unknown = sshd.client("unknown", "user_key", &sshd.path("empty_known_hosts"));
    let r = detect_json(home.path(), Some(&unknown), &["-H", &url]);
    let (code, fix) = docker_finding(&r);
    assert_eq!(code, "docker.ssh_host_key", "{r:#}");
    assert!(fix.contains("ssh-keyscan"), "{fix}");
    // Batch mode: the unknown key was refused, not written to known_hosts.
    assert_eq!(
        std::fs::read_to_string(sshd.path("empty_known_hosts")).unwrap(),
        ""
    );

    let wrong = sshd.client("wrong", "wrong_key", &sshd.known_hosts());
    let r = detect_json(home.path(), Some(&wrong), &["-H", &url]);
    let (code, fix) = docker_finding(&r);
    assert_eq!(code, "docker.ssh_auth", "{r:#}");
    assert!(
        fix.contains("authorized_keys") && fix.contains("ssh-add"),
        "{fix}"
    );

    // Nothing listens there (bound, never accepted: no other process can take it meanwhile).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let good = sshd.client("good", "user_key", &sshd.known_hosts());
    let r = detect_json(
        home.path(),
        Some(&good),
        &["-H", &format!("ssh://root@127.0.0.1:{port}")],
    );
    let (code, fix) = docker_finding(&r);
    assert_eq!(code, "docker.connection_refused", "{r:#}");
    assert!(fix.contains("check the host and port"), "{fix}");

    // A use case that needs the engine prints the same cause and fix, and fails.
    let o = cli(home.path(), Some(&wrong), &["-H", &url, "status"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(text(&o).contains("authorized_keys"), "{}", text(&o));
}

#[test]
fn a_context_that_does_not_exist_says_so() {
    let home = tempfile::tempdir().unwrap();
    let r = detect_json(home.path(), None, &["--context", "no-such-context"]);
    let (code, fix) = docker_finding(&r);
    assert_eq!(code, "docker.context_not_found", "{r:#}");
    assert!(fix.contains("docker context ls"), "{fix}");
    assert_eq!(r["docker"]["origin"]["from"], "context_flag");

    let both = cli(
        home.path(),
        None,
        &["-H", "tcp://127.0.0.1:1", "--context", "x", "detect"],
    );
    assert_eq!(both.status.code(), Some(2), "{}", text(&both));
}

// ---- TLS ----

struct Pki {
    ca_pem: String,
    ca_der: tokio_rustls::rustls::pki_types::CertificateDer<'static>,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} test CA"));
        p.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = p.self_signed(&ca_key).unwrap();
        Pki {
            ca_pem: ca.pem(),
            ca_der: ca.der().clone(),
            issuer: rcgen::Issuer::new(p, ca_key),
        }
    }

    /// A leaf for 127.0.0.1: (certificate, key). `expired`: valid only in 2020.
    fn leaf(&self, client: bool, expired: bool) -> (rcgen::Certificate, rcgen::KeyPair) {
        let mut p = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        p.distinguished_name.push(
            rcgen::DnType::CommonName,
            if client { "admin" } else { "engine" },
        );
        p.extended_key_usages = vec![if client {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        }];
        if expired {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2020, 12, 31);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        (cert, key)
    }

    /// ca.pem, cert.pem and key.pem in `dir`, as DOCKER_CERT_PATH holds them.
    fn client_dir(&self, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        let (cert, key) = self.leaf(true, false);
        std::fs::write(dir.join("ca.pem"), &self.ca_pem).unwrap();
        std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    }
}

/// A TLS-terminating proxy on 127.0.0.1 that demands a client certificate signed by `pki`'s CA and
/// forwards each connection to the engine's socket. Runs on its own thread and runtime until the test
/// process ends.
fn tls_proxy(pki: &Pki, expired: bool) -> u16 {
    use tokio_rustls::rustls;
    // ring, as the client uses (no aws-lc in this workspace).
    #[allow(deprecated)]
    let provider = aigw_engine::net::ring_provider();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let (cert, key) = pki.leaf(false, expired);
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let socket = aigw_engine::docker::engine::default_socket(None);
                    let aigw_core::report::engine::Endpoint::Unix { path } = socket else {
                        return;
                    };
                    if let Ok(mut engine) = tokio::net::UnixStream::connect(path).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut engine).await;
                    }
                });
            }
        });
    });
    port
}

#[tokio::test]
async fn the_full_cycle_through_tls() {
    let Some(_engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let pki = Pki::new("good");
    let port = tls_proxy(&pki, false);
    let home = tempfile::tempdir().unwrap();
    let certs = home.path().join("certs");
    pki.client_dir(&certs);
    let host = format!("tcp://127.0.0.1:{port}");
    let (ca, cert, key) = (
        certs.join("ca.pem").display().to_string(),
        certs.join("cert.pem").display().to_string(),
        certs.join("key.pem").display().to_string(),
    );
    let engine = [
        "-H",
        &host,
        "--tlsverify",
        "--tlscacert",
        &ca,
        "--tlscert",
        &cert,
        "--tlskey",
        &key,
    ];
    full_cycle(home.path(), None, &engine, "aigw-tls-e2e", "tcp");
}

#[test]
fn tls_failures_say_what_to_do() {
    let good = Pki::new("good");
    let port = tls_proxy(&good, false);
    let expired_port = tls_proxy(&good, true);
    let home = tempfile::tempdir().unwrap();
    let trusted = home.path().join("trusted");
    good.client_dir(&trusted);
    let untrusted = home.path().join("untrusted");
    Pki::new("other").client_dir(&untrusted);
    let no_client_cert = home.path().join("nocert");
    std::fs::create_dir_all(&no_client_cert).unwrap();
    std::fs::copy(trusted.join("ca.pem"), no_client_cert.join("ca.pem")).unwrap();

    let case = |port: u16, dir: &Path| {
        let host = format!("tcp://127.0.0.1:{port}");
        let certs = dir.display().to_string();
        let o = Command::new(BIN)
            .args(["-H", &host, "--tlsverify", "detect", "--json"])
            .env("HOME", home.path())
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("DOCKER_CERT_PATH", &certs)
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        docker_finding(&r)
    };
    let (code, fix) = case(port, &untrusted);
    assert_eq!(code, "docker.tls_untrusted", "{fix}");
    assert!(fix.contains("CA that signed"), "{fix}");
    let (code, fix) = case(expired_port, &trusted);
    assert_eq!(code, "docker.tls_expired", "{fix}");
    assert!(fix.contains("renew"), "{fix}");
    let (code, fix) = case(port, &no_client_cert);
    assert_eq!(code, "docker.tls_client_cert", "{fix}");
    assert!(fix.contains("cert.pem and key.pem"), "{fix}");
    // The good client material through the same proxy is not refused (the engine may be absent here).
    let (code, _) = case(port, &trusted);
    assert!(!code.starts_with("docker.tls"), "{code}");
}
