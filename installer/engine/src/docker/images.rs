//! Offline image bundles for sites without registry access: `save` streams the spec's images out of the
//! engine (`docker save`) into one tar with a checksum manifest beside it; `load` verifies the checksum
//! before the engine sees a byte, streams it in, and checks every listed image arrived with its id.

use bytes::Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::deploy::DeployError;
use super::events::{emit, Event, Sink};
use bollard::Docker;

pub const BUNDLE_FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleManifest {
    pub format: u32,
    pub images: Vec<BundleImage>,
    /// SHA-256 of the bundle tar, hex.
    pub sha256: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleImage {
    pub reference: String,
    /// The engine's image id (`sha256:…`), checked after loading.
    pub id: String,
}

/// `bundle.tar` → `bundle.tar.manifest.json`.
pub fn manifest_path(bundle: &Path) -> PathBuf {
    let mut p = bundle.as_os_str().to_owned();
    p.push(".manifest.json");
    PathBuf::from(p)
}

/// The image references a bundle holds: from its manifest beside it (what `images save` writes), else
/// from docker's own `manifest.json` inside the tar (`RepoTags`). A reason when neither can be read.
pub fn bundle_references(bundle: &Path) -> Result<Vec<String>, String> {
    if let Ok(text) = std::fs::read_to_string(manifest_path(bundle)) {
        let m: BundleManifest = serde_json::from_str(&text)
            .map_err(|e| format!("{}: {e}", manifest_path(bundle).display()))?;
        return Ok(m.images.into_iter().map(|i| i.reference).collect());
    }
    let file = std::fs::File::open(bundle).map_err(|e| format!("{}: {e}", bundle.display()))?;
    let mut archive = tar::Archive::new(file);
    let entries = archive
        .entries()
        .map_err(|e| format!("{}: {e}", bundle.display()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("{}: {e}", bundle.display()))?;
        if entry.path().is_ok_and(|p| p.as_os_str() == "manifest.json") {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text)
                .map_err(|e| format!("{}: {e}", bundle.display()))?;
            #[derive(Deserialize)]
            struct Entry {
                #[serde(rename = "RepoTags", default)]
                repo_tags: Option<Vec<String>>,
            }
            let list: Vec<Entry> = serde_json::from_str(&text)
                .map_err(|e| format!("{}: manifest.json: {e}", bundle.display()))?;
            return Ok(list
                .into_iter()
                .flat_map(|e| e.repo_tags.unwrap_or_default())
                .collect());
        }
    }
    Err(format!(
        "{} has no manifest beside it and no manifest.json inside: not an image bundle",
        bundle.display()
    ))
}

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> DeployError {
    move |e| DeployError::Engine {
        what,
        detail: e.to_string(),
    }
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn cancelled() -> DeployError {
    DeployError::Cancelled {
        rollback: String::new(),
    }
}

/// Saves `references` into `out` (never replacing a file unless `force`; a failure leaves no partial file).
pub async fn save(
    docker: &Docker,
    references: &[String],
    out: &Path,
    force: bool,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<BundleManifest, DeployError> {
    let manifest_file = manifest_path(out);
    if !force && (out.exists() || manifest_file.exists()) {
        return Err(DeployError::Blocked(vec![format!(
            "{} already exists; pass --force to replace it",
            out.display()
        )]));
    }
    let mut images = Vec::new();
    for r in references {
        let id = docker
            .inspect_image(r)
            .await
            .map_err(|e| DeployError::Pull {
                image: r.clone(),
                detail: format!("it is not on this engine to save ({e}); pull it here first"),
            })?
            .id
            .unwrap_or_default();
        images.push(BundleImage {
            reference: r.clone(),
            id,
        });
    }
    let tmp = out.with_extension("tar.partial");
    let result = async {
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(io_err(format!("create {}", tmp.display())))?;
        let refs: Vec<&str> = references.iter().map(String::as_str).collect();
        let mut stream = docker.export_images(&refs);
        let (mut hasher, mut bytes) = (Sha256::new(), 0u64);
        loop {
            let chunk = tokio::select! {
                c = stream.next() => c,
                _ = cancel.cancelled() => return Err(cancelled()),
            };
            let Some(chunk) = chunk else { break };
            let chunk = chunk.map_err(|e| DeployError::Engine {
                what: "export images".into(),
                detail: e.to_string(),
            })?;
            hasher.update(&chunk);
            bytes += chunk.len() as u64;
            file.write_all(&chunk)
                .await
                .map_err(io_err(format!("write {}", tmp.display())))?;
            emit(
                sink,
                Event::Transfer {
                    what: "saving images".into(),
                    current: bytes,
                    total: None,
                },
            );
        }
        file.sync_all()
            .await
            .map_err(io_err(format!("write {}", tmp.display())))?;
        Ok(BundleManifest {
            format: BUNDLE_FORMAT,
            images,
            sha256: hex(&hasher.finalize()),
            bytes,
        })
    }
    .await;
    let manifest = match result {
        Ok(m) => m,
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
    };
    let json = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    crate::fsutil::write_new(&manifest_file, &json, force, 0o644).map_err(|e| {
        DeployError::Engine {
            what: format!("write {}", manifest_file.display()),
            detail: e.to_string(),
        }
    })?;
    tokio::fs::rename(&tmp, out)
        .await
        .map_err(io_err(format!("move the bundle to {}", out.display())))?;
    Ok(manifest)
}

/// Verifies and loads a bundle; returns the references now present.
pub async fn load(
    docker: &Docker,
    bundle: &Path,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<Vec<String>, DeployError> {
    let mpath = manifest_path(bundle);
    let text = tokio::fs::read_to_string(&mpath).await.map_err(|e| {
        DeployError::Blocked(vec![format!(
            "cannot read the bundle's manifest {} ({e}): copy it together with the bundle",
            mpath.display()
        )])
    })?;
    let manifest: BundleManifest = serde_json::from_str(&text).map_err(|e| {
        DeployError::Blocked(vec![format!(
            "{} is not a bundle manifest: {e}",
            mpath.display()
        )])
    })?;
    // Verify before loading: a truncated copy must not half-load.
    let mut f = tokio::fs::File::open(bundle)
        .await
        .map_err(io_err(format!("open {}", bundle.display())))?;
    let (mut hasher, mut buf, mut read) = (Sha256::new(), vec![0u8; 1 << 20], 0u64);
    loop {
        if cancel.is_cancelled() {
            return Err(cancelled());
        }
        let n = f
            .read(&mut buf)
            .await
            .map_err(io_err(format!("read {}", bundle.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        read += n as u64;
        emit(
            sink,
            Event::Transfer {
                what: "verifying the bundle".into(),
                current: read,
                total: Some(manifest.bytes),
            },
        );
    }
    let actual = hex(&hasher.finalize());
    if actual != manifest.sha256 {
        return Err(DeployError::Blocked(vec![format!(
            "{} does not match its manifest (sha256 {actual}, expected {}): the copy is damaged or \
             incomplete; copy it again. Nothing was loaded",
            bundle.display(),
            manifest.sha256
        )]));
    }
    let file = tokio::fs::File::open(bundle)
        .await
        .map_err(io_err(format!("open {}", bundle.display())))?;
    let total = manifest.bytes;
    let progress = sink.clone();
    let body = futures_util::stream::unfold((file, 0u64), move |(mut file, sent)| {
        let progress = progress.clone();
        async move {
            let mut chunk = vec![0u8; 1 << 20];
            match file.read(&mut chunk).await {
                Ok(0) => None,
                Ok(n) => {
                    chunk.truncate(n);
                    let sent = sent + n as u64;
                    emit(
                        &progress,
                        Event::Transfer {
                            what: "loading images".into(),
                            current: sent,
                            total: Some(total),
                        },
                    );
                    Some((
                        Ok::<Bytes, std::io::Error>(Bytes::from(chunk)),
                        (file, sent),
                    ))
                }
                Err(e) => Some((Err(e), (file, sent))),
            }
        }
    });
    let mut results = docker.import_image_stream(
        bollard::query_parameters::ImportImageOptionsBuilder::default()
            .quiet(true)
            .build(),
        body,
        None,
    );
    loop {
        let next = tokio::select! {
            n = results.next() => n,
            _ = cancel.cancelled() => return Err(cancelled()),
        };
        match next {
            None => break,
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                return Err(DeployError::Engine {
                    what: format!("load {}", bundle.display()),
                    detail: e.to_string(),
                })
            }
        }
    }
    let mut loaded = Vec::new();
    for img in &manifest.images {
        let id = docker
            .inspect_image(&img.reference)
            .await
            .ok()
            .and_then(|i| i.id)
            .unwrap_or_default();
        if id != img.id {
            return Err(DeployError::Blocked(vec![format!(
                "after loading, {} has id {id:?}, the manifest says {}",
                img.reference, img.id
            )]));
        }
        loaded.push(img.reference.clone());
    }
    Ok(loaded)
}
