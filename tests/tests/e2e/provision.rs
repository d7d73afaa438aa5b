//! Provisioning end to end against the real Docker engine, with the stand-in images: apply from nothing,
//! no-op re-apply, targeted recreate, self-healing, refusals that change nothing, and rollback.
//! The scenarios share the engine (and our labels), so they run one at a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_core::plan::Component;
use aigw_core::spec::{DeploymentSpec, Weights};
use aigw_e2e::free_port;
use aigw_e2e::standin::{self, GATEWAY_IMAGE};
use aigw_engine::docker::deploy::{self, ApplyOptions, DeployError};
use aigw_engine::docker::{labels, manage};
use aigw_engine::spec_file::SpecFile;
use bollard::Docker;
use std::net::TcpListener;
use std::path::Path;

fn spec(dir: &Path, name: &str) -> DeploymentSpec {
    let mut s = aigw_e2e::standin_spec(dir, &format!("aigw-e2e-{name}"));
    s.gateway.container = format!("aigw-e2e-{name}-gw");
    s.gateway.health_timeout_s = 30;
    s.model.container = format!("aigw-e2e-{name}-model");
    s.model.args = vec!["--max-model-len".into(), "32768".into()];
    s.model.health_timeout_s = 30;
    s.gateway.port = free_port();
    s.model.port = free_port();
    s
}

async fn container_id(d: &Docker, name: &str) -> String {
    d.inspect_container(name, None).await.unwrap().id.unwrap()
}

#[tokio::test]
async fn apply_converges_and_changes_only_what_changed() {
    let Some(engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let d = engine.docker.clone();
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec(dir.path(), "converge");
    // Slow to load, as a real model is: the wait must stream the server's log lines meanwhile.
    s.model
        .env
        .insert("STANDIN_START_DELAY_MS".into(), "1500".into());
    s.validate_with_files(&Default::default()).unwrap();
    let opts = ApplyOptions::default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();

    // From nothing to healthy, smoke test included.
    let r = deploy::apply(&d, &s, None, &opts, &Some(tx)).await.unwrap();
    assert!(r.changed);
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(serde_json::to_value(e).unwrap());
    }
    for phase in ["network", "model health", "gateway health", "smoke test"] {
        assert!(
            events
                .iter()
                .any(|e| e["event"] == "phase" && e["phase"] == phase && e["state"] == "done"),
            "phase {phase} not done: {events:#?}"
        );
    }
    assert!(events
        .iter()
        .any(|e| e["event"] == "log" && e["line"].as_str().unwrap().contains("stand-in vLLM")));

    // What the engine holds is what the spec asked for.
    let gw = d
        .inspect_container(&s.gateway.container, None)
        .await
        .unwrap();
    let cfg = gw.config.clone().unwrap();
    let env = cfg.env.unwrap();
    assert!(
        env.contains(&"AIGW_GITLAB_URL=https://gitlab.example.com".to_string()),
        "{env:?}"
    );
    assert!(env.contains(&"AIGW_GITLAB_API_URL=https://gitlab.example.com/api/v4/".to_string()));
    assert!(env.contains(&"AIGW_CUSTOM_MODELS__ENABLED=true".to_string()));
    let l = cfg.labels.unwrap();
    assert_eq!(l[labels::APP], labels::APP_ID);
    assert_eq!(l[labels::COMPONENT], "gateway");
    assert_eq!(l[labels::CONFIG_HASH].len(), 64);
    let host = gw.host_config.unwrap();
    assert_eq!(
        host.restart_policy.unwrap().name.unwrap().to_string(),
        "unless-stopped"
    );
    let key = format!("{}/tcp", s.gateway.port);
    assert_eq!(
        host.port_bindings.unwrap()[&key].as_ref().unwrap()[0]
            .host_port
            .as_deref(),
        Some(s.gateway.port.to_string().as_str())
    );
    assert!(host.binds.unwrap()[0].starts_with(&dir.path().join("logs").display().to_string()));
    // The gateway runs as a non-root user: its log directory was given to it, and it wrote its log.
    use std::os::unix::fs::MetadataExt;
    let logs = dir.path().join("logs");
    assert_eq!(
        std::fs::metadata(&logs).unwrap().uid(),
        standin::GATEWAY_UID
    );
    let log = std::fs::read_to_string(logs.join("modelgateway.log")).unwrap();
    assert!(log.contains("stand-in gateway started"), "{log}");
    let model = d.inspect_container(&s.model.container, None).await.unwrap();
    let mbinds = model.host_config.unwrap().binds.unwrap();
    assert!(
        mbinds.iter().any(|b| b.ends_with(":/models/weights:ro")),
        "{mbinds:?}"
    );

    // The gateway saw the environment apply set (asked through its own HTTP surface).
    let seen = aigw_engine::docker::http::request(
        &format!("http://127.0.0.1:{}/stand-in/env", s.gateway.port),
        None,
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    let seen: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(
        seen["AIGW_GITLAB_API_URL"],
        "https://gitlab.example.com/api/v4/"
    );

    // Same spec again: nothing to do.
    let model_id = container_id(&d, &s.model.container).await;
    let gw_id = container_id(&d, &s.gateway.container).await;
    let again = deploy::apply(&d, &s, None, &opts, &None).await.unwrap();
    assert!(!again.changed, "{:#?}", again.plan);
    assert!(again.plan.is_noop());

    // A new gateway tag recreates the gateway only.
    let mut s2 = s.clone();
    s2.gateway.tag = Some("standin-v2".into());
    let r = deploy::apply(&d, &s2, None, &opts, &None).await.unwrap();
    assert!(r.changed);
    assert_eq!(
        container_id(&d, &s.model.container).await,
        model_id,
        "model must be kept"
    );
    assert_ne!(
        container_id(&d, &s.gateway.container).await,
        gw_id,
        "gateway must be recreated"
    );
    let names: Vec<String> = deploy::list_ours(&d)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names.len(), 2, "no -prev/-next left behind: {names:?}");

    // A container removed by hand comes back.
    d.remove_container(
        &s.model.container,
        Some(
            bollard::query_parameters::RemoveContainerOptionsBuilder::default()
                .force(true)
                .build(),
        ),
    )
    .await
    .unwrap();
    let healed = deploy::apply(&d, &s2, None, &opts, &None).await.unwrap();
    assert!(healed.changed);
    let st = manage::status(&d).await.unwrap();
    assert_eq!(st.len(), 2);
    assert!(st.iter().all(|c| c.state == "running"), "{st:#?}");

    let removed = manage::uninstall(&d).await.unwrap();
    assert_eq!(removed.containers.len(), 2);
    assert_eq!(removed.networks, vec!["aigw-e2e-converge".to_string()]);
}

#[tokio::test]
async fn a_taken_port_is_refused_before_any_change() {
    let Some(engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let d = engine.docker.clone();
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec(dir.path(), "porttaken");
    let holder = TcpListener::bind("0.0.0.0:0").unwrap();
    s.gateway.port = holder.local_addr().unwrap().port();
    let err = deploy::apply(&d, &s, None, &ApplyOptions::default(), &None)
        .await
        .unwrap_err();
    let DeployError::Blocked(reasons) = &err else {
        panic!("{err}")
    };
    assert!(
        reasons
            .iter()
            .any(|r| r.contains(&format!("port {}", s.gateway.port))),
        "{reasons:?}"
    );
    assert!(
        deploy::list_ours(&d).await.unwrap().is_empty(),
        "nothing may be created"
    );
    assert!(
        d.inspect_network("aigw-e2e-porttaken", None).await.is_err(),
        "no network either"
    );
}

#[tokio::test]
async fn a_never_healthy_model_rolls_back_to_nothing() {
    let Some(engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let d = engine.docker.clone();
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec(dir.path(), "unhealthy");
    s.model
        .env
        .insert("STANDIN_NEVER_HEALTHY".into(), "1".into());
    s.model.health_timeout_s = 4;
    let err = deploy::apply(&d, &s, None, &ApplyOptions::default(), &None)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, DeployError::Unhealthy { .. }), "{text}");
    assert!(text.contains("the model did not become healthy"), "{text}");
    assert!(
        text.contains("stand-in vLLM: loading"),
        "the log tail is shown: {text}"
    );
    assert!(text.contains("rollback: "), "{text}");
    assert!(
        deploy::list_ours(&d).await.unwrap().is_empty(),
        "rollback leaves nothing behind"
    );
    assert!(d.inspect_network("aigw-e2e-unhealthy", None).await.is_err());
}

/// A model server that refuses its arguments at start (as vLLM does) ends the health wait at once, though
/// the time-out is the default half hour: the error carries the exit code, the message it printed last
/// and the likely cause, every time (the log lines were read after the exit, from the engine).
#[tokio::test]
async fn a_model_that_exits_at_start_fails_at_once_with_its_code_and_message() {
    let Some(engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let d = engine.docker.clone();
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec(dir.path(), "exits");
    s.model.health_timeout_s = 1800;
    let message =
        "ValueError: The model's max seq len (32768) is larger than the maximum number of \
                   tokens that can be stored in KV cache (29568).";
    std::fs::write(
        dir.path().join("weights/STANDIN_EXIT_AT_START"),
        format!("3\n{message}\n"),
    )
    .unwrap();
    let opts = ApplyOptions::default();
    for run in 1..=5 {
        let apply = deploy::apply(&d, &s, None, &opts, &None);
        let err = tokio::time::timeout(std::time::Duration::from_secs(60), apply)
            .await
            .unwrap_or_else(|_| panic!("run {run}: still waiting after 60 s of a 1800 s time-out"))
            .unwrap_err();
        let text = err.to_string();
        let DeployError::Unhealthy {
            component,
            exit_code,
            logs,
            cause,
            ..
        } = &err
        else {
            panic!("run {run}: {text}");
        };
        assert_eq!(*component, Component::Model, "run {run}: {text}");
        assert_eq!(*exit_code, Some(3), "run {run}: {text}");
        assert!(text.contains("with code 3"), "run {run}: {text}");
        assert!(logs.contains(message), "run {run}: {text}");
        assert!(
            logs.contains("checking arguments (5/5)"),
            "run {run}: the lines before it too: {text}"
        );
        assert!(cause.contains("KV cache cannot hold"), "run {run}: {text}");
        assert!(text.contains("rollback: "), "run {run}: {text}");
        assert!(
            deploy::list_ours(&d).await.unwrap().is_empty(),
            "run {run}: rollback leaves nothing behind"
        );
    }
}

#[tokio::test]
async fn a_foreign_container_with_our_name_blocks_and_is_left_alone() {
    let Some(engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let d = engine.docker.clone();
    let dir = tempfile::tempdir().unwrap();
    let s = spec(dir.path(), "foreign");
    // Someone else's container (no labels) under the gateway's name.
    d.create_container(
        Some(
            bollard::query_parameters::CreateContainerOptionsBuilder::default()
                .name(&s.gateway.container)
                .build(),
        ),
        bollard::models::ContainerCreateBody {
            image: Some(format!("{GATEWAY_IMAGE}:standin")),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let err = deploy::apply(&d, &s, None, &ApplyOptions::default(), &None)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("was not created by the installer"),
        "{err}"
    );
    manage::uninstall(&d).await.unwrap();
    // Still there: uninstall only removes what carries our label.
    d.inspect_container(&s.gateway.container, None)
        .await
        .unwrap();
    d.remove_container(
        &s.gateway.container,
        Some(
            bollard::query_parameters::RemoveContainerOptionsBuilder::default()
                .force(true)
                .build(),
        ),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn weights_are_required_before_anything_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec(dir.path(), "noweights");
    s.model.weights = Weights::Local {
        path: dir.path().join("missing"),
    };
    let e = s
        .validate_with_files(&Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("model.weights.path") && e.contains("does not exist"),
        "{e}"
    );
}

#[tokio::test]
async fn an_upgrade_to_a_broken_tag_restores_the_old_container() {
    let Some(engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let d = engine.docker.clone();
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec(dir.path(), "upgrade");
    s.gateway
        .env
        .insert("AIGW_LOGGING__LEVEL".into(), "DEBUG".into());
    s.gateway.health_timeout_s = 5;
    let opts = ApplyOptions::default();
    deploy::apply(&d, &s, None, &opts, &None).await.unwrap();
    let old = d
        .inspect_container(&s.gateway.container, None)
        .await
        .unwrap();

    let err = deploy::upgrade(&d, &s, Some(standin::BROKEN_TAG), None, None, &opts, &None)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("the gateway did not become healthy")
            && text.contains("the container keeps exiting"),
        "{text}"
    );
    assert!(text.contains("restored the previous"), "{text}");
    let now = d
        .inspect_container(&s.gateway.container, None)
        .await
        .unwrap();
    assert_eq!(now.id, old.id, "the very same container is back");
    assert_eq!(now.state.unwrap().running, Some(true));
    assert_eq!(
        now.config.unwrap().env,
        old.config.unwrap().env,
        "its environment is intact"
    );
    let ours = deploy::list_ours(&d).await.unwrap();
    assert_eq!(ours.len(), 2, "no broken container left: {ours:?}");

    // A good tag goes through, and the returned spec names it.
    let (next, report) = deploy::upgrade(&d, &s, Some("standin-v2"), None, None, &opts, &None)
        .await
        .unwrap();
    assert!(report.changed);
    assert_eq!(next.gateway.tag.as_deref(), Some("standin-v2"));
    let gw = d
        .inspect_container(&s.gateway.container, None)
        .await
        .unwrap();
    assert_eq!(
        gw.config.unwrap().image.as_deref(),
        Some(format!("{GATEWAY_IMAGE}:standin-v2").as_str())
    );
    // Re-applying the returned spec changes nothing.
    assert!(
        !deploy::apply(&d, &next, None, &opts, &None)
            .await
            .unwrap()
            .changed
    );
    manage::uninstall(&d).await.unwrap();
}

#[tokio::test]
async fn save_remove_load_then_apply_works_offline() {
    use aigw_engine::docker::images;
    let Some(engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let d = engine.docker.clone();
    let dir = tempfile::tempdir().unwrap();
    let s = spec(dir.path(), "bundle");
    let refs: Vec<String> = aigw_core::plan::desired(&s, None)
        .unwrap()
        .containers
        .iter()
        .map(|c| c.image.clone())
        .collect();
    let cancel = tokio_util::sync::CancellationToken::new();
    let bundle = dir.path().join("bundle.tar");
    let m = images::save(&d, &refs, &bundle, false, &None, &cancel)
        .await
        .unwrap();
    assert_eq!(m.images.len(), 2);
    assert!(images::manifest_path(&bundle).exists());
    // Never clobbered without force.
    assert!(images::save(&d, &refs, &bundle, false, &None, &cancel)
        .await
        .is_err());

    // A damaged copy is refused before anything is loaded.
    let damaged = dir.path().join("damaged.tar");
    let bytes = std::fs::read(&bundle).unwrap();
    std::fs::write(&damaged, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::copy(
        images::manifest_path(&bundle),
        images::manifest_path(&damaged),
    )
    .unwrap();
    let e = images::load(&d, &damaged, &None, &cancel)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("does not match its manifest") && e.contains("Nothing was loaded"),
        "{e}"
    );

    for r in &refs {
        d.remove_image(
            r,
            Some(
                bollard::query_parameters::RemoveImageOptionsBuilder::default()
                    .force(true)
                    .build(),
            ),
            None,
        )
        .await
        .unwrap();
    }
    assert!(d.inspect_image(&refs[0]).await.is_err(), "image removed");
    // Without the images and without a registry, apply says how to get them.
    let e = deploy::apply(&d, &s, None, &ApplyOptions::default(), &None)
        .await
        .unwrap_err();
    let p = aigw_core::problem::Explain::problem(&e);
    assert_eq!(p.code, "pull_failed", "{e}");
    assert!(
        p.fix
            .as_deref()
            .unwrap_or_default()
            .contains("offline image bundle"),
        "{p:?}"
    );
    assert!(deploy::list_ours(&d).await.unwrap().is_empty());

    let loaded = images::load(&d, &bundle, &None, &cancel).await.unwrap();
    assert_eq!(loaded, refs);
    let r = deploy::apply(&d, &s, None, &ApplyOptions::default(), &None)
        .await
        .unwrap();
    assert!(r.changed);
    manage::uninstall(&d).await.unwrap();
}

#[tokio::test]
async fn uninstall_removes_two_networks_that_share_our_name() {
    let Some(engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let d = engine.docker.clone();
    // Docker 20.10 lets two networks carry one name (an apply killed while creating it, then run again);
    // the name is then ambiguous and cannot be used to remove either.
    for _ in 0..2 {
        d.create_network(bollard::models::NetworkCreateRequest {
            name: "aigw-e2e-dup".into(),
            labels: Some(std::collections::HashMap::from([(
                labels::APP.to_string(),
                labels::APP_ID.to_string(),
            )])),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    // Apply refuses the ambiguous name with the way out, and changes nothing.
    let dir = tempfile::tempdir().unwrap();
    let s = spec(dir.path(), "dup");
    match deploy::apply(&d, &s, None, &ApplyOptions::default(), &None).await {
        Err(DeployError::Blocked(b)) => {
            assert!(
                b[0].contains("two Docker networks are named aigw-e2e-dup"),
                "{b:?}"
            );
            assert!(b[0].contains("aigw-installer uninstall"), "{b:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(manage::status(&d).await.unwrap().is_empty());
    let removed = manage::uninstall(&d).await.unwrap();
    assert_eq!(removed.networks, vec!["aigw-e2e-dup", "aigw-e2e-dup"]);
    let left = d
        .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
        .await
        .unwrap();
    assert!(
        left.iter()
            .all(|n| n.name.as_deref() != Some("aigw-e2e-dup")),
        "{left:?}"
    );
}

/// Drift: a container disconnected from our network, or the network removed under the deployment, is
/// planned as a repair and one apply converges (issue 11, item 7); before, both were "kept".
#[tokio::test]
async fn a_deployment_off_its_network_is_repaired_by_one_apply() {
    use bollard::models::NetworkDisconnectRequest;
    let Some(engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let d = engine.docker.clone();
    let dir = tempfile::tempdir().unwrap();
    let s = spec(dir.path(), "drift");
    let opts = ApplyOptions::default();
    deploy::apply(&d, &s, None, &opts, &None).await.unwrap();
    let disconnect = |container: String| {
        let d = d.clone();
        let network = s.network.clone();
        async move {
            d.disconnect_network(
                &network,
                NetworkDisconnectRequest {
                    container,
                    force: Some(true),
                },
            )
            .await
            .unwrap();
        }
    };
    let plan = || async {
        let keys = Default::default();
        deploy::plan(&d, &s, None, &keys, true).await.unwrap().1
    };
    let recreated = |p: &aigw_core::plan::Plan| {
        p.steps
            .iter()
            .filter(|st| matches!(st, aigw_core::plan::Step::Recreate { .. }))
            .count()
    };

    // One container cut off: recreated, and the deployment answers again.
    disconnect(s.gateway.container.clone()).await;
    let p = plan().await;
    assert_eq!(recreated(&p), 1, "{p:?}");
    assert!(
        deploy::apply(&d, &s, None, &opts, &None)
            .await
            .unwrap()
            .changed
    );
    assert!(plan().await.is_noop());

    // The network gone (both disconnected, then removed): made again, both recreated.
    disconnect(s.gateway.container.clone()).await;
    disconnect(s.model.container.clone()).await;
    d.remove_network(&s.network).await.unwrap();
    let p = plan().await;
    assert!(
        matches!(p.steps[0], aigw_core::plan::Step::CreateNetwork { .. }),
        "{p:?}"
    );
    assert_eq!(recreated(&p), 2, "{p:?}");
    deploy::apply(&d, &s, None, &opts, &None).await.unwrap();
    assert!(plan().await.is_noop(), "converged with one apply");
    manage::uninstall(&d).await.unwrap();
}
