//! The stability window against the real engine (issue 11 item 3): a model that crashes a second after
//! its first healthy answer, under the spec's restart policy. The exit code must come from the engine's
//! exit watch: once the policy brought the process back, inspect reads exit code 0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_core::plan::{Component, Step};
use aigw_e2e::free_port;
use aigw_engine::docker::deploy::{self, ApplyOptions, DeployError};
use std::collections::BTreeMap;
use std::time::Duration;

fn spec(dir: &std::path::Path) -> aigw_core::spec::DeploymentSpec {
    let mut s = aigw_e2e::standin_spec(dir, "aigw-e2e-stab");
    s.gateway.container = "aigw-e2e-stab-gw".into();
    s.model.container = "aigw-e2e-stab-model".into();
    s.gateway.port = free_port();
    s.model.port = free_port();
    s.model.health_timeout_s = 60;
    s.model
        .env
        .insert("STANDIN_CRASH_AFTER_HEALTHY_MS".into(), "1000".into());
    s
}

#[tokio::test]
async fn a_crash_after_the_first_healthy_answer_fails_the_window_with_its_exit_code() {
    let Some(engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let d = engine.docker.clone();
    let dir = tempfile::tempdir().unwrap();
    let s = spec(dir.path());
    // Longer than the crash takes: the window ends at the crash.
    let opts = ApplyOptions {
        stable_for: Duration::from_secs(60),
        ..ApplyOptions::default()
    };
    let err = deploy::apply(&d, &s, None, &opts, &None).await.unwrap_err();
    let DeployError::Unstable {
        component,
        exit_code,
        logs,
        rollback,
        ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(*component, Component::Model);
    assert_eq!(*exit_code, Some(3), "{err}");
    assert!(logs.contains("simulated crash after serving"), "{err}");
    assert!(
        rollback.contains("removed aigw-e2e-stab-model") && !rollback.contains("FAILED"),
        "{err}"
    );
    assert!(deploy::list_ours(&d).await.unwrap().is_empty());

    // Without the window the apply succeeds; the planner then sees the restart loop and proposes to
    // recreate the model (polled: the loop is the engine's state, reached once it crashed again).
    let quick = ApplyOptions {
        stable_for: Duration::ZERO,
        smoke_test: false,
        ..ApplyOptions::default()
    };
    deploy::apply(&d, &s, None, &quick, &None).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let (_, p) = deploy::plan(&d, &s, None, &BTreeMap::new(), true)
            .await
            .unwrap();
        let recreate = p.steps.iter().any(|st| {
            matches!(st, Step::Recreate { component: Component::Model, reason, .. } if reason.starts_with("restart loop ("))
        });
        if recreate {
            assert!(
                p.steps.iter().any(|st| matches!(
                    st,
                    Step::Keep {
                        component: Component::Gateway,
                        ..
                    }
                )),
                "{p:?}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the plan never proposed to recreate the looping model: {p:?}"
        );
        tokio::task::yield_now().await;
    }
    aigw_engine::docker::manage::uninstall(&d).await.unwrap();
}
