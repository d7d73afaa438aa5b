//! Review's weights part (`usecase::review`) against the Hub stand-in: the Hub's file list with sizes
//! (nothing written), the verified cache read without a single request to the Hub (its request log),
//! and a Hub that cannot be reached: Review still answers, saying why and what install does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use aigw_core::spec::{DeploymentSpec, Weights};
use aigw_e2e::hub::{Hub, HubRepo, Knobs};
use aigw_engine::usecase::{self, FetchRequest, WeightsReview};
use tokio_util::sync::CancellationToken;

fn spec(endpoint: &str, repo: &str, cache: &Path) -> DeploymentSpec {
    let mut s = DeploymentSpec::from_toml(
        include_str!("../../fixtures/specs/hf-mistral-small.toml"),
        "hf-mistral-small.toml",
    )
    .unwrap();
    s.model.weights = Weights::HuggingFace {
        repo: repo.into(),
        revision: "main".into(),
        endpoint: Some(endpoint.into()),
        cache_dir: cache.to_path_buf(),
        token_file: None,
    };
    // The stand-in repository is a sharded (Hf-format) checkpoint.
    s.model.args.clear();
    s
}

/// What a front end passes when the environment names no proxy, token or endpoint.
fn request() -> FetchRequest {
    FetchRequest::default()
}

fn names(w: &WeightsReview) -> Vec<String> {
    w.files().iter().map(|f| f.name.clone()).collect()
}

#[tokio::test]
async fn review_lists_the_files_install_downloads_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let r = HubRepo::sharded("org/review-listed", 2, 50_000);
    let hub = Hub::start(vec![r.clone()], vec![], Knobs::default(), None).await;
    let cache = dir.path().join("hf");
    let s = spec(&hub.hub.base, &r.id, &cache);
    let reviewed = usecase::review(None, &s, Some(&request())).await.unwrap();
    let w = reviewed.weights.expect("a weights review");
    let WeightsReview::Listed {
        summary,
        commit,
        files,
        total,
        needed,
    } = &w
    else {
        panic!("{w:?}")
    };
    assert_eq!(commit, &r.commit);
    let host = hub.hub.base.trim_start_matches("http://");
    assert_eq!(
        summary,
        &format!(
            "download ≈ {} from {host} to {}",
            aigw_core::weights::human_bytes(*total),
            cache.display()
        )
    );
    assert_eq!(needed, total);
    // The files vLLM reads, with the Hub's sizes; never the original/ copy or the README.
    let mut want: Vec<(String, u64)> = r
        .files
        .iter()
        .filter(|f| !f.name.starts_with("original/") && f.name != "README.md")
        .map(|f| (f.name.clone(), f.content.len() as u64))
        .collect();
    want.sort();
    let got: Vec<(String, u64)> = files.iter().map(|f| (f.name.clone(), f.size)).collect();
    assert_eq!(got, want);
    assert_eq!(*total, want.iter().map(|(_, n)| n).sum::<u64>());
    // Review asked the API (and nothing of the content) and wrote nothing.
    assert!(hub.served().is_empty(), "{:?}", hub.served());
    assert!(
        hub.asked().iter().all(|p| p.starts_with("/api/")),
        "{:?}",
        hub.asked()
    );
    assert!(!cache.join("hub").exists());
    // The JSON the wizard receives declares its state.
    let json = serde_json::to_value(&w).unwrap();
    assert_eq!(json["state"], "listed");
    assert_eq!(json["files"][0]["name"], "config.json");
    assert!(json["files"][0]["size"].is_u64());
}

#[tokio::test]
async fn a_snapshot_verified_in_the_cache_is_reviewed_without_asking_the_hub() {
    let dir = tempfile::tempdir().unwrap();
    let r = HubRepo::sharded("org/review-cached", 2, 50_000);
    let hub = Hub::start(vec![r.clone()], vec![], Knobs::default(), None).await;
    let cache = dir.path().join("hf");
    let s = spec(&hub.hub.base, &r.id, &cache);
    usecase::weights_fetch(&s, &request(), &None, &CancellationToken::new())
        .await
        .unwrap();
    let listed = usecase::review(None, &s, Some(&request()))
        .await
        .unwrap()
        .weights
        .unwrap();
    let before = hub.asked().len();
    let w = usecase::review(None, &s, Some(&request()))
        .await
        .unwrap()
        .weights
        .unwrap();
    assert_eq!(
        hub.asked().len(),
        before,
        "Review asked the Hub: {:?}",
        hub.asked()
    );
    let WeightsReview::Cached {
        summary, commit, ..
    } = &w
    else {
        panic!("{w:?}")
    };
    assert_eq!(
        summary,
        &format!(
            "already verified in {}, nothing to download",
            cache.display()
        )
    );
    assert_eq!(commit, &r.commit);
    // The same files as the Hub lists, read from the manifest.
    assert_eq!(names(&w), names(&listed));
    assert_eq!(serde_json::to_value(&w).unwrap()["state"], "cached");
}

#[tokio::test]
async fn an_unreachable_hub_does_not_fail_review_it_says_why_and_what_install_does() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let endpoint = format!("http://127.0.0.1:{closed}");
    let s = spec(&endpoint, "org/review-offline", &dir.path().join("hf"));
    let reviewed = usecase::review(None, &s, Some(&request())).await.unwrap();
    let w = reviewed.weights.expect("a weights review");
    let WeightsReview::Unreachable { summary, problem } = &w else {
        panic!("{w:?}")
    };
    assert!(
        summary.starts_with(&format!(
            "the file list could not be read from 127.0.0.1:{closed}: "
        )) && summary.contains("install will try again")
            && summary.contains("weights export and import"),
        "{summary}"
    );
    assert!(problem.fix.is_some(), "{problem:?}");
    assert!(!problem.code.is_empty());
    assert!(w.files().is_empty());
    let json = serde_json::to_value(&w).unwrap();
    assert_eq!(json["state"], "unreachable");
    assert!(json["fix"].is_string(), "{json}");
    // Without network options (diagnostics), the Hub is not asked and nothing is said.
    let quiet = usecase::review(None, &s, None).await.unwrap();
    assert!(quiet.weights.is_none());
}
