//! The model server runs offline (`HF_HUB_OFFLINE=1`, `--revision`) on a snapshot laid out in the Hugging
//! Face cache by the installer's own import: the vLLM stand-in resolves `--model org/name` in the mounted
//! cache exactly as huggingface_hub does, and refuses to start, naming what is missing, when it is not there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_core::spec::{DeploymentSpec, Weights};
use aigw_e2e::{free_port, STANDIN_COMMIT};
use aigw_engine::docker::container_engine::ContainerEngine;
use aigw_engine::docker::deploy::{self, ApplyOptions, DeployError};
use std::path::Path;

const REPO: &str = "mistralai/Mistral-7B-Instruct-v0.3";

fn spec(dir: &Path, name: &str, cache: &Path, revision: &str) -> DeploymentSpec {
    let mut s = aigw_e2e::standin_spec(dir, &format!("aigw-e2e-{name}"));
    s.gateway.container = format!("aigw-e2e-{name}-gw");
    s.gateway.health_timeout_s = 30;
    s.model.container = format!("aigw-e2e-{name}-model");
    s.model.args = vec!["--max-model-len".into(), "32768".into()];
    s.model.health_timeout_s = 30;
    s.gateway.port = free_port();
    s.model.port = free_port();
    s.model.weights = Weights::HuggingFace {
        repo: REPO.into(),
        revision: revision.into(),
        endpoint: None,
        cache_dir: cache.to_path_buf(),
        token_file: None,
    };
    s
}

#[tokio::test]
async fn the_model_server_starts_offline_on_the_imported_snapshot_or_names_what_is_missing() {
    let Some(engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let d = engine.docker.clone();
    let dir = tempfile::tempdir().unwrap();

    // Pinned to the commit, as a fetch records it: the snapshot directory is found without a ref.
    let cache = dir.path().join("hf-cache");
    aigw_e2e::standin_hf_cache(&cache, REPO);
    let s = spec(dir.path(), "offline", &cache, STANDIN_COMMIT);
    deploy::apply(&d, &s, None, &ApplyOptions::default(), &None)
        .await
        .unwrap();
    // The engine's copy of the server's output: apply's event stream carries log lines only while it
    // waits, and a stand-in that starts at once may be healthy before the first one is followed.
    let lines = ContainerEngine::container_logs(&d, &s.model.container, 200)
        .await
        .unwrap();
    let want = format!(
        "is the snapshot /root/.cache/huggingface/hub/models--mistralai--Mistral-7B-Instruct-v0.3/snapshots/{STANDIN_COMMIT}"
    );
    assert!(lines.iter().any(|l| l.contains(&want)), "{lines:#?}");
    let model = d.inspect_container(&s.model.container, None).await.unwrap();
    let cfg = model.config.unwrap();
    assert!(cfg.env.unwrap().contains(&"HF_HUB_OFFLINE=1".to_string()));
    let cmd = cfg.cmd.unwrap();
    assert!(
        cmd.windows(2).any(|w| w == ["--revision", STANDIN_COMMIT]),
        "{cmd:?}"
    );
    aigw_engine::docker::manage::uninstall(&d).await.unwrap();

    // An empty cache: `main` has no ref, the server exits at once naming it, and the apply is undone.
    let empty = dir.path().join("empty-cache");
    std::fs::create_dir_all(&empty).unwrap();
    let s = spec(dir.path(), "offline-missing", &empty, "main");
    let e = deploy::apply(&d, &s, None, &ApplyOptions::default(), &None)
        .await
        .unwrap_err();
    assert!(matches!(e, DeployError::Unhealthy { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("models--mistralai--Mistral-7B-Instruct-v0.3/refs/main is missing"),
        "{text}"
    );
    assert!(
        d.inspect_container(&s.model.container, None).await.is_err(),
        "rolled back"
    );
    aigw_engine::docker::manage::uninstall(&d).await.unwrap();
}
