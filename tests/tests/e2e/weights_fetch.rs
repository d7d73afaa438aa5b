//! The weights fetcher (`aigw_engine::weights::fetch`) against the Hub stand-in (`aigw_e2e::hub`) over real
//! HTTP on 127.0.0.1, plain and TLS with a test CA: a fresh fetch into the hub cache, a resume after an
//! interruption, a corrupt byte, a disconnect, gated repositories, a disk too small, cancel, a proxy, and
//! the token kept to the Hub host.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use aigw_core::problem::Explain;
use aigw_core::secret::Secret;
use aigw_core::weights::hub::Endpoint;
use aigw_core::weights::layout::RepoCache;
use aigw_e2e::hub::{Hub, HubRepo, Knobs, Served};
use aigw_e2e::proxy::Proxy;
use aigw_e2e::tls::TestCa;
use aigw_engine::docker::events::Event;
use aigw_engine::net::HttpOptions;
use aigw_engine::weights::fetch::{fetch, FetchError, FetchOptions};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "hf_standin_token_0123456789";
const CHUNK: u64 = 1 << 20;

fn repo(id: &str) -> HubRepo {
    HubRepo::sharded(id, 3, 3 * CHUNK as usize + 12_345)
}

fn options(hub: &Hub, id: &str, cache: &Path) -> FetchOptions {
    let mut o = FetchOptions::new(id, "main", Endpoint::parse(&hub.hub.base).unwrap(), cache);
    o.chunk = CHUNK;
    o.connections = 4;
    o
}

async fn run(
    o: &FetchOptions,
) -> (
    Result<aigw_engine::weights::fetch::Fetched, FetchError>,
    Vec<Event>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let r = fetch(o, &Some(tx), &CancellationToken::new()).await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (r, events)
}

/// The snapshot resolves as huggingface_hub resolves it: `refs/main` → commit, each selected file a
/// relative link to its blob with the Hub's content; files vLLM does not read are absent.
fn assert_snapshot(cache: &Path, r: &HubRepo) {
    let c = RepoCache::new(cache, &r.id).unwrap();
    let commit = std::fs::read_to_string(c.ref_file("main").unwrap()).unwrap();
    assert_eq!(commit, r.commit);
    for f in &r.files {
        let link = c.snapshot_file(&commit, &f.name).unwrap();
        if f.name.starts_with("original/") || f.name == "README.md" {
            assert!(!link.exists(), "{} was fetched", f.name);
            continue;
        }
        let target = std::fs::read_link(&link).unwrap();
        assert!(target.is_relative(), "{target:?}");
        assert!(
            target.ends_with(Path::new("blobs").join(f.etag())),
            "{target:?}"
        );
        assert_eq!(std::fs::read(&link).unwrap(), f.content, "{}", f.name);
    }
    let blobs: Vec<_> = std::fs::read_dir(c.blobs_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        blobs.iter().all(|b| !b.contains('.')),
        "leftovers: {blobs:?}"
    );
}

fn lfs_content_bytes(served: &[Served]) -> u64 {
    served.iter().map(|s| s.sent.load(Ordering::SeqCst)).sum()
}

#[tokio::test]
async fn a_fresh_fetch_over_tls_fills_the_hub_cache_and_keeps_the_token_to_the_hub() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("aigw hub CA");
    let r = repo("org/fresh");
    let hub = Hub::start(
        vec![r.clone()],
        vec![TOKEN.into()],
        Knobs::default(),
        Some(ca.server_config(&ca.server(&["localhost"]))),
    )
    .await;
    let mut o = options(&hub, &r.id, &dir.path().join("hf"));
    o.token = Some(Secret::new(TOKEN));
    o.http = HttpOptions {
        ca_file: Some(ca.write_cert(dir.path(), "ca")),
        only_ca_file: true,
        ..Default::default()
    };
    let (done, events) = run(&o).await;
    let done = done.unwrap();
    assert_eq!(done.commit, r.commit);
    assert_snapshot(&dir.path().join("hf"), &r);
    assert!(done.manifest.exists());

    // Several ranges of one shard, all from the CDN after the redirect.
    let shard = "model-00001-of-00003.safetensors";
    let ranges: Vec<_> = hub
        .served()
        .into_iter()
        .filter(|s| s.file == shard)
        .collect();
    assert_eq!(ranges.len(), 4, "{ranges:?}");
    assert!(ranges.iter().all(|s| s.server == "cdn"));

    // The token went to the Hub, never to the CDN, and is in no event.
    let bearer = format!("Bearer {TOKEN}");
    assert!(hub
        .hub
        .seen()
        .iter()
        .all(|s| s.authorization.as_deref() == Some(&bearer)));
    assert!(!hub.cdn.seen().is_empty());
    assert!(hub.cdn.seen().iter().all(|s| s.authorization.is_none()));
    let json = serde_json::to_string(&events).unwrap();
    assert!(!json.contains(TOKEN));
    let total = r
        .files
        .iter()
        .filter(|f| !f.name.starts_with("original/") && f.name != "README.md");
    let total: u64 = total.map(|f| f.content.len() as u64).sum();
    assert!(
        events.iter().any(|e| matches!(e, Event::Weights { current, total: t, .. } if *current == total && *t == total)),
        "{events:?}"
    );

    // A second run finds everything verified: no content fetched again.
    let before = hub.served().len();
    let (again, _) = run(&o).await;
    assert_eq!(again.unwrap().downloaded, 0);
    assert_eq!(hub.served().len(), before);
}

/// Bytes that a second run asked for which the first had already received, per file.
fn refetched(first: &[Served], second: &[Served]) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for b in second {
        for a in first.iter().filter(|a| a.file == b.file) {
            let got = a.start + a.sent.load(Ordering::SeqCst);
            let overlap = got.min(b.end).saturating_sub(a.start.max(b.start));
            *m.entry(b.file.clone()).or_insert(0) += overlap;
        }
    }
    m
}

#[tokio::test]
async fn a_cancelled_fetch_stops_keeps_what_is_verified_and_resumes_with_under_one_range_per_file()
{
    let dir = tempfile::tempdir().unwrap();
    let r = repo("org/resume");
    let knobs = Knobs {
        bytes_per_sec: Some(1_500_000),
        ..Default::default()
    };
    let hub = Hub::start(vec![r.clone()], vec![], knobs, None).await;
    let cache = dir.path().join("hf");
    let o = options(&hub, &r.id, &cache);

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let task = {
        let (o, cancel) = (o.clone(), cancel.clone());
        tokio::spawn(async move { fetch(&o, &Some(tx), &cancel).await })
    };
    // Cancel once a few ranges' worth is on disk.
    let mut events = Vec::new();
    while let Some(e) = rx.recv().await {
        let enough = matches!(e, Event::Weights { current, .. } if current > 3 * CHUNK);
        events.push(e);
        if enough {
            break;
        }
    }
    cancel.cancel();
    let err = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the fetch stopped within the guard")
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, FetchError::Cancelled), "{err:?}");
    // The small files were verified and kept; partial shards wait as .incomplete with their record.
    let c = RepoCache::new(&cache, &r.id).unwrap();
    let config = r.files.iter().find(|f| f.name == "config.json").unwrap();
    assert_eq!(
        std::fs::read(c.blob(&config.etag()).unwrap()).unwrap(),
        config.content
    );
    let partial = std::fs::read_dir(c.blobs_dir())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".incomplete")
        })
        .count();
    assert!(partial > 0);

    let first = hub.served();
    let sent_first = lfs_content_bytes(&first);
    hub.set_knobs(Knobs::default());
    let (done, _) = run(&o).await;
    done.unwrap();
    assert_snapshot(&cache, &r);
    let second: Vec<Served> = hub.served()[first.len()..].to_vec();
    for (file, again) in refetched(&first, &second) {
        assert!(again <= CHUNK, "{file}: {again} bytes fetched again");
    }
    assert!(sent_first > 3 * CHUNK);
}

#[tokio::test]
async fn a_corrupt_byte_is_named_and_the_file_fetched_again() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo("org/corrupt");
    let shard = "model-00002-of-00003.safetensors";
    let knobs = Knobs {
        corrupt: Some(shard.into()),
        ..Default::default()
    };
    let hub = Hub::start(vec![r.clone()], vec![], knobs, None).await;
    let (done, events) = run(&options(&hub, &r.id, &dir.path().join("hf"))).await;
    done.unwrap();
    assert_snapshot(&dir.path().join("hf"), &r);
    assert!(
        events.iter().any(|e| matches!(e, Event::Warning { message } if message.contains(shard) && message.contains("SHA-256"))),
        "{events:?}"
    );
    let size = r
        .files
        .iter()
        .find(|f| f.name == shard)
        .unwrap()
        .content
        .len() as u64;
    assert_eq!(hub.sent_per_file()[shard], 2 * size);
}

/// A small file kept in git (not LFS) is checked against the Hub's git blob id: a corrupt config.json is
/// named, discarded and fetched once more; the manifest records the id and `verify` re-checks it.
#[tokio::test]
async fn a_corrupt_config_is_caught_by_its_git_blob_id_and_fetched_again() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo("org/corrupt-config");
    let knobs = Knobs {
        corrupt: Some("config.json".into()),
        ..Default::default()
    };
    let hub = Hub::start(vec![r.clone()], vec![], knobs, None).await;
    let cache = dir.path().join("hf");
    let (done, events) = run(&options(&hub, &r.id, &cache)).await;
    done.unwrap();
    assert_snapshot(&cache, &r);
    assert!(
        events.iter().any(|e| matches!(e, Event::Warning { message }
            if message.contains("config.json") && message.contains("git blob id"))),
        "{events:?}"
    );
    let config = r.files.iter().find(|f| f.name == "config.json").unwrap();
    assert_eq!(
        hub.sent_per_file()["config.json"],
        2 * config.content.len() as u64
    );
    // The Hub's blob id is the real git one, and the manifest keeps it for the files kept in git only.
    assert_eq!(
        config.blob_id(),
        aigw_core::weights::gitblob::git_blob_id(&config.content)
    );
    let m = aigw_engine::weights::find_manifest(&cache, &r.id, "main").unwrap();
    for f in &m.files {
        let hub_file = r.files.iter().find(|h| h.name == f.name).unwrap();
        let want = (!hub_file.lfs).then(|| hub_file.blob_id());
        assert_eq!(f.git_blob, want, "{}", f.name);
    }
    assert!(aigw_engine::weights::verify(&cache, &m, 1).unwrap().is_ok());
    // Same size, other bytes: `verify` names it and removes the blob.
    let c = RepoCache::new(&cache, &r.id).unwrap();
    let blob = c.blob(&config.etag()).unwrap();
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[0] ^= 0x20;
    std::fs::write(&blob, &bytes).unwrap();
    let v = aigw_engine::weights::verify(&cache, &m, 2).unwrap();
    assert_eq!(v.corrupt, ["config.json"]);
    assert!(!blob.exists());
}

/// The same corruption twice (the mirror alters it every time): the fetch fails naming the file and the
/// git blob id it expected.
#[tokio::test]
async fn a_config_corrupt_every_time_fails_naming_the_git_blob_id() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo("org/corrupt-config-twice");
    let hub = Hub::start(vec![r.clone()], vec![], Knobs::default(), None).await;
    let config = r.files.iter().find(|f| f.name == "config.json").unwrap();
    // A cached blob of the right size but other bytes is hashed, found wrong and fetched again.
    let cache = dir.path().join("hf");
    let c = RepoCache::new(&cache, &r.id).unwrap();
    std::fs::create_dir_all(c.blobs_dir()).unwrap();
    let mut wrong = config.content.to_vec();
    wrong[1] ^= 0x01;
    std::fs::write(c.blob(&config.etag()).unwrap(), &wrong).unwrap();
    let (done, events) = run(&options(&hub, &r.id, &cache)).await;
    done.unwrap();
    assert!(
        events.iter().any(|e| matches!(e, Event::Warning { message }
            if message.contains("config.json") && message.contains("failed its check"))),
        "{events:?}"
    );
    assert_eq!(
        std::fs::read(c.blob(&config.etag()).unwrap()).unwrap(),
        config.content
    );
    // Corrupt on both tries: refused, naming the check.
    let dir2 = tempfile::tempdir().unwrap();
    hub.set_knobs(Knobs {
        corrupt: Some("config.json".into()),
        corrupt_every_time: true,
        ..Default::default()
    });
    let (done, _) = run(&options(&hub, &r.id, &dir2.path().join("hf"))).await;
    let e = done.unwrap_err();
    assert!(matches!(e, FetchError::Corrupt { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("config.json failed its git blob id check twice")
            && e.to_string().contains(&config.blob_id()),
        "{e}"
    );
}

#[tokio::test]
async fn a_disconnect_mid_transfer_asks_again_for_the_cut_range_only() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo("org/cut");
    let knobs = Knobs {
        disconnect_after: Some(300_000),
        ..Default::default()
    };
    let hub = Hub::start(vec![r.clone()], vec![], knobs, None).await;
    let (done, _) = run(&options(&hub, &r.id, &dir.path().join("hf"))).await;
    done.unwrap();
    assert_snapshot(&dir.path().join("hf"), &r);
    let content: u64 = r
        .files
        .iter()
        .filter(|f| f.lfs && !f.name.starts_with("original/"))
        .map(|f| f.content.len() as u64)
        .sum();
    let cdn: Vec<_> = hub
        .served()
        .into_iter()
        .filter(|s| s.server == "cdn")
        .collect();
    // Only the cut range is asked again, from the last byte the client holds (what the closing server
    // had queued may never have arrived): never the whole file.
    let sent = lfs_content_bytes(&cdn);
    assert!(
        sent > content && sent <= content + 300_000,
        "{sent} of {content}"
    );
    let mut asks: BTreeMap<(String, u64), usize> = BTreeMap::new();
    for s in &cdn {
        *asks.entry((s.file.clone(), s.start / CHUNK)).or_default() += 1;
    }
    let again: Vec<_> = asks.iter().filter(|(_, n)| **n > 1).collect();
    assert_eq!(again.len(), 1, "{asks:?}");
    assert_eq!(*again[0].1, 2, "{asks:?}");
}

#[tokio::test]
async fn gated_repositories_are_refused_before_anything_is_written_in_the_words_of_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = repo("org/gated");
    r.gated = Some(vec![TOKEN.into()]);
    let other = "hf_other_account_token_42";
    let hub = Hub::start(
        vec![r.clone()],
        vec![TOKEN.into(), other.into()],
        Knobs::default(),
        None,
    )
    .await;
    let cache = dir.path().join("hf");
    let page = format!("{}/org/gated", hub.hub.base);
    let mut o = options(&hub, &r.id, &cache);

    let (e, _) = run(&o).await;
    let e = e.unwrap_err();
    assert_eq!(e.code(), "weights_gated", "{e}");
    assert!(e
        .fix()
        .unwrap()
        .contains(&format!("accept the licence at {page}")));

    o.token = Some(Secret::new(other));
    let (e, events) = run(&o).await;
    let e = e.unwrap_err();
    assert_eq!(e.code(), "hf_token_no_access", "{e}");
    assert!(
        e.to_string()
            .contains("the token lacks access to org/gated"),
        "{e}"
    );
    for text in [
        e.to_string(),
        format!("{e:?}"),
        e.fix().unwrap(),
        serde_json::to_string(&events).unwrap(),
    ] {
        assert!(!text.contains(other), "{text}");
    }

    o.token = Some(Secret::new("hf_revoked"));
    let (e, _) = run(&o).await;
    assert_eq!(e.unwrap_err().code(), "hf_token_refused");
    assert!(!cache.exists(), "something was written before the refusal");

    o.token = Some(Secret::new(TOKEN));
    run(&o).await.0.unwrap();
    assert_snapshot(&cache, &r);
}

#[tokio::test]
async fn a_disk_too_small_is_refused_before_the_first_byte() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo("org/big");
    let hub = Hub::start(vec![r.clone()], vec![], Knobs::default(), None).await;
    let mut o = options(&hub, &r.id, &dir.path().join("hf"));
    o.free_bytes_override = Some(1 << 30);
    let (e, _) = run(&o).await;
    let e = e.unwrap_err();
    assert_eq!(e.code(), "disk_full", "{e}");
    assert!(hub.served().is_empty());
    assert!(!dir.path().join("hf").exists());
}

#[tokio::test]
async fn the_fetch_goes_through_the_proxy_unless_no_proxy_names_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo("org/proxied");
    let hub = Hub::start(vec![r.clone()], vec![], Knobs::default(), None).await;
    let proxy = Proxy::start(None).await;
    let mut o = options(&hub, &r.id, &dir.path().join("hf"));
    o.http = HttpOptions {
        http_proxy: Some(proxy.url.clone()),
        ..Default::default()
    };
    run(&o).await.0.unwrap();
    assert_snapshot(&dir.path().join("hf"), &r);
    let targets = proxy.targets();
    assert!(
        targets.contains(&format!("127.0.0.1:{}", hub.hub.addr.port())),
        "{targets:?}"
    );
    assert!(
        targets.contains(&format!("127.0.0.1:{}", hub.cdn.addr.port())),
        "{targets:?}"
    );

    let before = targets.len();
    let mut direct = options(&hub, &r.id, &dir.path().join("hf2"));
    direct.http = HttpOptions {
        no_proxy: Some("127.0.0.1".into()),
        ..o.http.clone()
    };
    run(&direct).await.0.unwrap();
    assert_eq!(
        proxy.targets().len(),
        before,
        "a NO_PROXY host went through the proxy"
    );
}
