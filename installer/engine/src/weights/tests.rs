//! The cache, verify, status and the offline kit on temporary directories.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use aigw_core::catalog::WeightsFormat;
use aigw_core::weights::layout::RepoCache;
use aigw_core::weights::local::SizeBasis;
use aigw_core::weights::manifest::{Manifest, ManifestFile, EXPORT_MANIFEST, MANIFEST_VERSION};

use super::*;
use crate::docker::events::{Event, WeightsFileState};
use tokio_util::sync::CancellationToken;

const REPO: &str = "mistralai/Mistral-7B-Instruct-v0.3";
const COMMIT: &str = "0d4b76e1efeb5eb6f6b5e757c79870472e04bd3a";

/// A fake checkpoint: (name, content). Nested names exercise the deeper links.
fn files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "config.json",
            br#"{"architectures":["MistralForCausalLM"]}"#.to_vec(),
        ),
        (
            "model.safetensors",
            (0..300_000u32).map(|i| (i % 251) as u8).collect(),
        ),
        ("original/params.json", br#"{"dim":4096}"#.to_vec()),
    ]
}

/// An export folder as `weights export` writes it: the files and the manifest.
fn kit(dir: &Path) -> Manifest {
    kit_of(dir, files())
}

/// An export folder of `files`.
fn kit_of(dir: &Path, files: Vec<(&'static str, Vec<u8>)>) -> Manifest {
    let mut entries = Vec::new();
    for (name, body) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &body).unwrap();
        let (size, sha256) = verify_file(&p).unwrap();
        entries.push(ManifestFile {
            name: name.into(),
            size,
            etag: sha256.clone(),
            sha256,
            git_blob: None,
        });
    }
    let m = Manifest {
        version: MANIFEST_VERSION,
        repo: REPO.into(),
        revision: "main".into(),
        commit: COMMIT.into(),
        endpoint: None,
        files: entries,
        verified_at: None,
    };
    std::fs::write(dir.join(EXPORT_MANIFEST), m.to_json()).unwrap();
    m
}

/// huggingface_hub's offline resolution (`try_to_load_from_cache`): refs/<rev> read whole → snapshot
/// dir → the file, links followed. What the vLLM stand-in does too.
fn resolve_like_hf(cache_dir: &Path, repo: &str, revision: &str, file: &str) -> Option<Vec<u8>> {
    let root = cache_dir
        .join("hub")
        .join(format!("models--{}", repo.replace('/', "--")));
    let commit = std::fs::read_to_string(root.join("refs").join(revision)).ok()?;
    let path = root.join("snapshots").join(commit).join(file);
    std::fs::metadata(&path)
        .ok()?
        .is_file()
        .then(|| std::fs::read(path).unwrap())
}

#[test]
fn sha256_streams_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("abc");
    std::fs::write(&p, "abc").unwrap();
    assert_eq!(
        verify_file(&p).unwrap(),
        (
            3,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".to_string()
        )
    );
    let big = tmp.path().join("big");
    std::fs::write(&big, vec![0u8; 3 << 20]).unwrap();
    assert_eq!(verify_file(&big).unwrap().0, 3 << 20);
}

#[test]
fn an_imported_snapshot_resolves_as_huggingface_hub_would() {
    let tmp = tempfile::tempdir().unwrap();
    let (from, cache) = (tmp.path().join("kit"), tmp.path().join("hf"));
    kit(&from);
    let imported = import_folder(&from, &cache, 1_796_000_000, &KitControl::default()).unwrap();
    assert_eq!(imported.commit, COMMIT);
    for (name, body) in files() {
        assert_eq!(
            resolve_like_hf(&cache, REPO, "main", name).as_deref(),
            Some(&body[..]),
            "{name}"
        );
    }
    // The links are relative, so the cache resolves wherever it is mounted.
    let rc = RepoCache::new(&cache, REPO).unwrap();
    let link =
        std::fs::read_link(rc.snapshot_file(COMMIT, "original/params.json").unwrap()).unwrap();
    assert!(link.starts_with("../../../blobs"), "{}", link.display());
    assert_eq!(
        std::fs::read_to_string(rc.ref_file("main").unwrap()).unwrap(),
        COMMIT
    );
    let moved = tmp.path().join("moved");
    std::fs::rename(&cache, &moved).unwrap();
    assert!(resolve_like_hf(&moved, REPO, "main", "config.json").is_some());
}

#[test]
fn verify_names_and_removes_a_blob_with_one_flipped_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let (from, cache) = (tmp.path().join("kit"), tmp.path().join("hf"));
    let m = kit(&from);
    import_folder(&from, &cache, 1, &KitControl::default()).unwrap();
    let ok = verify(&cache, &m, 2).unwrap();
    assert!(ok.is_ok(), "{ok:?}");
    assert_eq!(
        find_manifest(&cache, REPO, "main").unwrap().verified_at,
        Some(2)
    );

    let weights = m
        .files
        .iter()
        .find(|f| f.name == "model.safetensors")
        .unwrap();
    let blob = RepoCache::new(&cache, REPO)
        .unwrap()
        .blob(&weights.etag)
        .unwrap();
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[123_456] ^= 0x01;
    std::fs::write(&blob, bytes).unwrap();

    let bad = verify(&cache, &m, 3).unwrap();
    assert_eq!(bad.corrupt, ["model.safetensors"]);
    assert!(bad.missing.is_empty());
    assert!(!blob.exists(), "a corrupt blob is discarded");
    assert_eq!(
        find_manifest(&cache, REPO, "main").unwrap().verified_at,
        Some(2)
    );
    let again = verify(&cache, &m, 4).unwrap();
    assert_eq!(again.missing, ["model.safetensors"]);
}

#[test]
fn import_refuses_a_tampered_file_and_links_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (from, cache) = (tmp.path().join("kit"), tmp.path().join("hf"));
    kit(&from);
    let mut body = std::fs::read(from.join("model.safetensors")).unwrap();
    body[0] ^= 0x80;
    std::fs::write(from.join("model.safetensors"), body).unwrap();

    let e = import_folder(&from, &cache, 1, &KitControl::default()).unwrap_err();
    let WeightsError::Tampered { corrupt } = &e else {
        panic!("{e}")
    };
    assert_eq!(corrupt, &["model.safetensors"]);
    assert_eq!(aigw_core::problem::Explain::code(&e), "weights_corrupt");
    let rc = RepoCache::new(&cache, REPO).unwrap();
    assert!(!rc.snapshot_dir(COMMIT).unwrap().exists());
    assert!(!rc.ref_file("main").unwrap().exists());
    assert!(matches!(
        find_manifest(&cache, REPO, "main"),
        Err(WeightsError::NotInCache { .. })
    ));
    let leftovers: Vec<_> = std::fs::read_dir(rc.blobs_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".incomplete"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // A missing file is named before anything is copied.
    std::fs::remove_file(from.join("config.json")).unwrap();
    let e = import_folder(&from, &cache, 1, &KitControl::default()).unwrap_err();
    assert!(e.to_string().contains("config.json"), "{e}");
}

#[test]
fn export_then_import_round_trips_and_status_reports_each_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (from, cache, out, site) = (
        tmp.path().join("kit"),
        tmp.path().join("hf"),
        tmp.path().join("out"),
        tmp.path().join("site"),
    );
    let m = kit(&from);
    import_folder(&from, &cache, 1, &KitControl::default()).unwrap();
    let exported = export_folder(&cache, REPO, "main", &out, &KitControl::default()).unwrap();
    assert_eq!((exported.files, exported.bytes), (3, m.total()));
    assert_eq!(
        std::fs::read(out.join("original/params.json")).unwrap(),
        br#"{"dim":4096}"#
    );
    import_folder(&out, &site, 5, &KitControl::default()).unwrap();
    let st = status(&site, REPO, COMMIT).unwrap();
    assert!(st.complete(), "{st:?}");
    assert_eq!(
        (st.present, st.total, st.verified_at),
        (m.total(), m.total(), Some(5))
    );

    // A blob cut short and another half downloaded.
    let rc = RepoCache::new(&site, REPO).unwrap();
    let weights = m
        .files
        .iter()
        .find(|f| f.name == "model.safetensors")
        .unwrap();
    let blob = rc.blob(&weights.etag).unwrap();
    std::fs::rename(&blob, rc.incomplete(&weights.etag).unwrap()).unwrap();
    let config = m.files.iter().find(|f| f.name == "config.json").unwrap();
    std::fs::write(rc.blob(&config.etag).unwrap(), "{}").unwrap();
    let st = status(&site, REPO, "main").unwrap();
    let state = |n: &str| st.files.iter().find(|f| f.name == n).unwrap().state;
    assert_eq!(state("model.safetensors"), FileState::Partial(weights.size));
    assert_eq!(state("config.json"), FileState::WrongSize(2));
    assert_eq!(state("original/params.json"), FileState::Present);
    assert!(!st.complete());
    std::fs::remove_file(rc.snapshot_file(COMMIT, "original/params.json").unwrap()).unwrap();
    let st = status(&site, REPO, "main").unwrap();
    let state = |n: &str| st.files.iter().find(|f| f.name == n).unwrap().state;
    assert_eq!(state("original/params.json"), FileState::Unlinked);

    // An export of a cache that no longer matches its manifest is refused.
    std::fs::rename(rc.incomplete(&weights.etag).unwrap(), &blob).unwrap();
    let params = m
        .files
        .iter()
        .find(|f| f.name == "original/params.json")
        .unwrap();
    link_snapshot(
        &rc,
        "main",
        COMMIT,
        &[("original/params.json", &params.etag)],
    )
    .unwrap();
    let out2 = tmp.path().join("out2");
    let e = export_folder(&site, REPO, "main", &out2, &KitControl::default()).unwrap_err();
    assert!(
        matches!(e, WeightsError::Tampered { ref corrupt } if corrupt == &["config.json"]),
        "{e}"
    );
    assert!(!out2.exists(), "a refused export leaves nothing");
}

#[test]
fn link_snapshot_replaces_a_stale_link_and_writes_the_ref_without_a_newline() {
    let tmp = tempfile::tempdir().unwrap();
    let rc = RepoCache::new(tmp.path(), REPO).unwrap();
    let (a, b) = ("a".repeat(64), "b".repeat(40));
    link_snapshot(&rc, "main", COMMIT, &[("config.json", &a)]).unwrap();
    link_snapshot(&rc, "main", COMMIT, &[("config.json", &b)]).unwrap();
    let link = std::fs::read_link(rc.snapshot_file(COMMIT, "config.json").unwrap()).unwrap();
    assert_eq!(link, Path::new("../../blobs").join(&b));
    assert_eq!(
        std::fs::read(rc.ref_file("main").unwrap()).unwrap(),
        COMMIT.as_bytes()
    );
    // A commit as the revision writes no ref (huggingface_hub does the same).
    link_snapshot(&rc, COMMIT, COMMIT, &[]).unwrap();
    assert!(!rc.ref_file(COMMIT).unwrap().exists());
}

#[test]
fn a_local_folder_is_read_into_the_judgement() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("config.json"), "{}").unwrap();
    std::fs::write(
        dir.join("model-00001-of-00002.safetensors"),
        vec![0u8; 1000],
    )
    .unwrap();
    std::fs::write(
        dir.join("model.safetensors.index.json"),
        r#"{"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}"#,
    )
    .unwrap();
    let e = check_local(dir, WeightsFormat::Hf, &SizeBasis::Unknown(String::new())).unwrap_err();
    assert!(
        e.to_string().contains("model-00002-of-00002.safetensors"),
        "{e}"
    );
    std::fs::write(
        dir.join("model-00002-of-00002.safetensors"),
        vec![0u8; 1000],
    )
    .unwrap();
    let ok = check_local(dir, WeightsFormat::Hf, &basis(2000)).unwrap();
    assert_eq!((ok.weight_files, ok.weight_bytes), (2, 2000));
    assert!(check_local(dir, WeightsFormat::Hf, &basis(20_000)).is_err());
    assert!(free_bytes(&dir.join("not/yet")).unwrap() > 0);
}

fn basis(bytes: u64) -> aigw_core::weights::local::SizeBasis {
    aigw_core::weights::local::SizeBasis::Catalog {
        bytes,
        what: "the model".into(),
    }
}

/// A cache holding the verified snapshot of `files()`, as a fetch or an import leaves it.
fn cache_with_snapshot(tmp: &Path) -> (std::path::PathBuf, Manifest) {
    let (from, cache) = (tmp.join("kit"), tmp.join("hf"));
    let m = kit(&from);
    import_folder(&from, &cache, 1, &KitControl::default()).unwrap();
    (cache, m)
}

fn nothing_linked(site: &Path) {
    let rc = RepoCache::new(site, REPO).unwrap();
    assert!(!rc.snapshot_dir(COMMIT).unwrap().exists());
    assert!(!rc.ref_file("main").unwrap().exists());
    assert!(matches!(
        find_manifest(site, REPO, "main"),
        Err(WeightsError::NotInCache { .. })
    ));
    if let Ok(dir) = std::fs::read_dir(rc.blobs_dir()) {
        let partial: Vec<_> = dir
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".incomplete"))
            .collect();
        assert!(partial.is_empty(), "{partial:?}");
    }
}

#[test]
fn a_tar_kit_round_trips_manifest_first_and_never_replaces_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, m) = cache_with_snapshot(tmp.path());
    let out = tmp.path().join("kit.tar");
    let exported = export_tar(&cache, REPO, "main", &out, &KitControl::default()).unwrap();
    assert_eq!((exported.files, exported.bytes), (3, m.total()));

    // The manifest first, then each file as a regular entry under its repository name.
    let mut archive = tar::Archive::new(std::fs::File::open(&out).unwrap());
    let entries: Vec<(String, tar::EntryType)> = archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.path().unwrap().display().to_string(),
                e.header().entry_type(),
            )
        })
        .collect();
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            EXPORT_MANIFEST,
            "config.json",
            "model.safetensors",
            "original/params.json"
        ]
    );
    assert!(entries.iter().all(|(_, t)| *t == tar::EntryType::Regular));

    let site = tmp.path().join("site");
    let imported = import_tar(&out, &site, 7, &KitControl::default()).unwrap();
    assert_eq!((imported.commit.as_str(), imported.files), (COMMIT, 3));
    for (name, body) in files() {
        assert_eq!(
            resolve_like_hf(&site, REPO, "main", name).as_deref(),
            Some(&body[..]),
            "{name}"
        );
    }
    let v = verify(&site, &m, 8).unwrap();
    assert!(v.is_ok(), "{v:?}");

    // No clobber, and no temporary file left beside it.
    let before = std::fs::read(&out).unwrap();
    let e = export_tar(&cache, REPO, "main", &out, &KitControl::default()).unwrap_err();
    assert_eq!(aigw_core::problem::Explain::code(&e), "exists");
    assert_eq!(std::fs::read(&out).unwrap(), before);
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains(".tmp-")), "{names:?}");

    // A cache that no longer matches its manifest is not exported, and nothing is left at `out`.
    let rc = RepoCache::new(&cache, REPO).unwrap();
    let config = m.files.iter().find(|f| f.name == "config.json").unwrap();
    std::fs::write(
        rc.blob(&config.etag).unwrap(),
        br#"{"architectures":["MistralForCausalLX"]}"#,
    )
    .unwrap();
    let out2 = tmp.path().join("kit2.tar");
    let e = export_tar(&cache, REPO, "main", &out2, &KitControl::default()).unwrap_err();
    assert!(
        matches!(e, WeightsError::Tampered { ref corrupt } if corrupt == &["config.json"]),
        "{e}"
    );
    assert!(!out2.exists());
}

#[test]
fn a_tar_kit_with_one_flipped_byte_is_refused_naming_the_file_and_nothing_is_linked() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, _) = cache_with_snapshot(tmp.path());
    let out = tmp.path().join("kit.tar");
    export_tar(&cache, REPO, "main", &out, &KitControl::default()).unwrap();
    let mut bytes = std::fs::read(&out).unwrap();
    // The header block whose name is the weights file; its data follows it.
    let at = (0..bytes.len())
        .step_by(512)
        .find(|&i| bytes[i..].starts_with(b"model.safetensors\0"))
        .unwrap();
    bytes[at + 512 + 1000] ^= 0x01;
    std::fs::write(&out, bytes).unwrap();

    let site = tmp.path().join("site");
    let e = import_tar(&out, &site, 1, &KitControl::default()).unwrap_err();
    assert!(
        matches!(e, WeightsError::Tampered { ref corrupt } if corrupt == &["model.safetensors"]),
        "{e}"
    );
    assert_eq!(aigw_core::problem::Explain::code(&e), "weights_corrupt");
    nothing_linked(&site);
}

/// A tar whose first entry is the manifest of `files()` and whose second is `entry` (raw name bytes,
/// so names `tar::Builder` refuses can be written).
fn tar_with(
    tmp: &Path,
    kind: tar::EntryType,
    name: &[u8],
    link: Option<&str>,
) -> std::path::PathBuf {
    let m = kit(&tmp.join("src"));
    let path = tmp.join(format!("evil-{}.tar", name.len()));
    let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
    let json = m.to_json();
    let mut h = tar::Header::new_gnu();
    h.set_size(json.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, EXPORT_MANIFEST, json.as_bytes())
        .unwrap();
    let body = b"evil";
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(if link.is_some() { 0 } else { body.len() as u64 });
    if let Some(l) = link {
        h.set_link_name(l).unwrap();
    }
    h.set_cksum();
    b.append(&h, if link.is_some() { &b""[..] } else { &body[..] })
        .unwrap();
    b.into_inner().unwrap();
    path
}

#[test]
fn a_tar_kit_with_traversal_links_or_strangers_is_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: [(&[u8], tar::EntryType, Option<&str>, &str); 5] = [
        (
            b"../evil",
            tar::EntryType::Regular,
            None,
            "leaves the kit's folder",
        ),
        (
            b"original/../../evil",
            tar::EntryType::Regular,
            None,
            "leaves the kit's folder",
        ),
        (b"/etc/evil", tar::EntryType::Regular, None, "absolute"),
        (
            b"model.safetensors",
            tar::EntryType::Symlink,
            Some("/etc/passwd"),
            "not a regular file",
        ),
        (
            b"extra.bin",
            tar::EntryType::Regular,
            None,
            "not in the kit's manifest",
        ),
    ];
    for (i, (name, kind, link, says)) in cases.into_iter().enumerate() {
        let case = tmp.path().join(format!("case-{i}"));
        std::fs::create_dir_all(&case).unwrap();
        let kit = tar_with(&case, kind, name, link);
        let site = case.join("site");
        let e = import_tar(&kit, &site, 1, &KitControl::default()).unwrap_err();
        let shown = String::from_utf8_lossy(name);
        assert!(matches!(e, WeightsError::BadKit { .. }), "{shown}: {e}");
        assert_eq!(aigw_core::problem::Explain::code(&e), "weights_kit_invalid");
        assert!(
            e.to_string().contains(&*shown) && e.to_string().contains(says),
            "{e}"
        );
        nothing_linked(&site);
        assert!(!tmp.path().join("evil").exists() && !case.join("evil").exists());
    }
}

/// A kit whose second file is big enough to be cancelled mid-copy under the cap.
const BIG: usize = 6 << 20;
/// Bytes per second of the cancel tests: the big file would take 3 s.
const CAP: u64 = 2 << 20;

fn big_files() -> Vec<(&'static str, Vec<u8>)> {
    let mut f = files();
    f[1].1 = (0..BIG).map(|i| (i % 253) as u8).collect();
    f
}

/// A cache holding the verified snapshot of `big_files()`.
fn cache_with_big_snapshot(tmp: &Path) -> (std::path::PathBuf, Manifest) {
    let (from, cache) = (tmp.join("bigkit"), tmp.join("bighf"));
    let m = kit_of(&from, big_files());
    import_folder(&from, &cache, 1, &KitControl::default()).unwrap();
    (cache, m)
}

/// Runs `op` with a sink and returns its result and every event it sent.
fn with_events<T>(
    op: impl FnOnce(&KitControl) -> Result<T, WeightsError>,
) -> (Result<T, WeightsError>, Vec<Event>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let ctl = KitControl::new(&Some(tx), &CancellationToken::new());
    let result = op(&ctl);
    drop(ctl);
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (result, events)
}

/// Runs `op` under the cap with a sink whose receiver cancels the token at the first event of `file`;
/// returns the op's result and how long it ran on after the cancel.
fn cancelled_at<T>(
    file: &str,
    op: impl FnOnce(&KitControl) -> Result<T, WeightsError>,
) -> (Result<T, WeightsError>, std::time::Duration) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let ctl = KitControl {
        max_bytes_per_sec: Some(CAP),
        ..KitControl::new(&Some(tx), &cancel)
    };
    let file = file.to_string();
    let watcher = std::thread::spawn(move || {
        while let Some(e) = rx.blocking_recv() {
            if matches!(&e, Event::WeightsFile { file: f, .. } if *f == file) {
                cancel.cancel();
                return Some(std::time::Instant::now());
            }
        }
        None
    });
    let result = op(&ctl);
    let ended = std::time::Instant::now();
    drop(ctl);
    let at = watcher.join().unwrap().expect("an event of the file");
    (result, ended.duration_since(at))
}

fn assert_cancelled<T: std::fmt::Debug>(
    r: (Result<T, WeightsError>, std::time::Duration),
    op: KitOp,
) -> WeightsError {
    let (result, after) = r;
    let e = result.unwrap_err();
    assert!(matches!(e, WeightsError::Cancelled(o) if o == op), "{e}");
    assert_eq!(aigw_core::problem::Explain::code(&e), "cancelled");
    // Stopped before the capped copy could have finished (a time bound with the whole copy's length as
    // its margin: a loaded machine must not fail it, a copy that ignores the token must).
    let whole = std::time::Duration::from_secs_f64(BIG as f64 / CAP as f64);
    assert!(after < whole, "stopped {after:?} after the cancel");
    e
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    n.sort();
    n
}

/// The total only grows and ends at the kit's size; every file starts copying and ends done; the
/// total is reported a few times a second, not at every read.
fn assert_progress(events: &[Event], m: &Manifest, took: std::time::Duration) {
    let totals: Vec<(u64, u64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Weights { current, total, .. } => Some((*current, *total)),
            _ => None,
        })
        .collect();
    assert!(totals.iter().all(|(_, t)| *t == m.total()), "{totals:?}");
    assert!(totals.windows(2).all(|w| w[0].0 <= w[1].0), "{totals:?}");
    assert_eq!(totals.last().map(|t| t.0), Some(m.total()), "{totals:?}");
    let ticks = took.as_millis() as usize / 250 + 3;
    assert!(totals.len() <= ticks, "{} totals in {took:?}", totals.len());
    for f in &m.files {
        let states: Vec<(WeightsFileState, u64)> = events
            .iter()
            .filter_map(|e| match e {
                Event::WeightsFile {
                    file,
                    current,
                    total,
                    state,
                } if *file == f.name => {
                    assert_eq!(*total, f.size);
                    Some((*state, *current))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            states.first(),
            Some(&(WeightsFileState::Copying, 0)),
            "{}",
            f.name
        );
        assert_eq!(
            states.last(),
            Some(&(WeightsFileState::Done, f.size)),
            "{}",
            f.name
        );
    }
}

#[test]
fn export_and_import_report_each_file_and_a_growing_total_ending_at_the_kits_size() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, m) = cache_with_big_snapshot(tmp.path());
    let timed = |op: &dyn Fn(&KitControl) -> Result<(), WeightsError>| {
        let at = std::time::Instant::now();
        let (r, events) = with_events(op);
        r.unwrap();
        assert_progress(&events, &m, at.elapsed());
    };
    let (folder, tar) = (tmp.path().join("kit"), tmp.path().join("kit.tar"));
    timed(&|c| export_folder(&cache, REPO, "main", &folder, c).map(drop));
    timed(&|c| export_tar(&cache, REPO, "main", &tar, c).map(drop));
    timed(&|c| import_folder(&folder, &tmp.path().join("a"), 1, c).map(drop));
    timed(&|c| import_tar(&tar, &tmp.path().join("b"), 1, c).map(drop));
    // Under the cap the total is reported as it grows, and still only a few times a second.
    let at = std::time::Instant::now();
    let (r, events) = with_events(|c| {
        let capped = KitControl {
            max_bytes_per_sec: Some(4 * CAP),
            ..c.clone()
        };
        import_tar(&tar, &tmp.path().join("c"), 1, &capped)
    });
    r.unwrap();
    assert_progress(&events, &m, at.elapsed());
    let between = events
        .iter()
        .filter(
            |e| matches!(e, Event::Weights { current, .. } if *current > 0 && *current < m.total()),
        )
        .count();
    assert!(between >= 1, "{events:?}");
}

#[test]
fn a_cancelled_export_leaves_nothing_it_wrote_and_keeps_what_was_there() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, _) = cache_with_big_snapshot(tmp.path());

    // A folder this run creates is removed with everything in it…
    let out = tmp.path().join("out").join("kit");
    let e = assert_cancelled(
        cancelled_at("model.safetensors", |c| {
            export_folder(&cache, REPO, "main", &out, c)
        }),
        KitOp::Export,
    );
    assert!(e.to_string().contains("run the export again"), "{e}");
    assert!(!tmp.path().join("out").exists(), "{:?}", names_in(&out));

    // …a folder that was there keeps what it held, and only that.
    let there = tmp.path().join("there");
    std::fs::create_dir_all(there.join("original")).unwrap();
    std::fs::write(there.join("notes.txt"), "mine").unwrap();
    std::fs::write(there.join("config.json"), "old").unwrap();
    assert_cancelled(
        cancelled_at("model.safetensors", |c| {
            export_folder(&cache, REPO, "main", &there, c)
        }),
        KitOp::Export,
    );
    assert_eq!(names_in(&there), ["config.json", "notes.txt", "original"]);
    assert_eq!(std::fs::read(there.join("config.json")).unwrap(), b"old");
    assert!(names_in(&there.join("original")).is_empty());

    // The tar: neither `out` nor its temporary file.
    let dir = tmp.path().join("tars");
    std::fs::create_dir_all(&dir).unwrap();
    let tar = dir.join("kit.tar");
    assert_cancelled(
        cancelled_at("model.safetensors", |c| {
            export_tar(&cache, REPO, "main", &tar, c)
        }),
        KitOp::Export,
    );
    assert!(names_in(&dir).is_empty(), "{:?}", names_in(&dir));
}

#[test]
fn a_cancelled_import_links_nothing_and_the_next_one_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, m) = cache_with_big_snapshot(tmp.path());
    let (folder, tar) = (tmp.path().join("kit"), tmp.path().join("kit.tar"));
    export_folder(&cache, REPO, "main", &folder, &KitControl::default()).unwrap();
    export_tar(&cache, REPO, "main", &tar, &KitControl::default()).unwrap();
    let config = m.files.iter().find(|f| f.name == "config.json").unwrap();

    for (kit, site) in [(&folder, "site-folder"), (&tar, "site-tar")] {
        let site = tmp.path().join(site);
        let e = assert_cancelled(
            cancelled_at("model.safetensors", |c| import_folder_or_tar(kit, &site, c)),
            KitOp::Import,
        );
        assert!(
            e.to_string()
                .contains("nothing was linked — run the import again"),
            "{e}"
        );
        nothing_linked(&site);
        // No `.incomplete`; the blob copied and matched before the cancel may stay.
        let rc = RepoCache::new(&site, REPO).unwrap();
        let left = names_in(&rc.blobs_dir());
        assert!(
            left.iter().all(|n| *n == config.etag),
            "{}: {left:?}",
            kit.display()
        );
        // The next import copies and checks every file again and links the snapshot.
        let imported = import_folder_or_tar(kit, &site, &KitControl::default()).unwrap();
        assert_eq!(imported.files, 3);
        assert!(verify(&site, &m, 2).unwrap().is_ok());
    }
}

fn import_folder_or_tar(
    kit: &Path,
    site: &Path,
    ctl: &KitControl,
) -> Result<Imported, WeightsError> {
    if kit.is_file() {
        import_tar(kit, site, 1, ctl)
    } else {
        import_folder(kit, site, 1, ctl)
    }
}
