//! The offline kit's weights: `export` a verified snapshot to a folder (files + manifest) on a connected
//! machine, `import` it into the hub cache on the site, every file hashed against the manifest as it is
//! copied and linked only when all match.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use aigw_core::weights::layout::RepoCache;
use aigw_core::weights::manifest::{Manifest, EXPORT_MANIFEST};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::verify::hex;
use super::{find_manifest, link_snapshot, write_manifest, WeightsError};

/// Copies `from` to `to` (created or replaced) while hashing; returns the size and SHA-256 of what was
/// read, so a file is checked in the same pass that copies it.
fn copy_hashing(from: &Path, to: &Path) -> Result<(u64, String), WeightsError> {
    let mut src = std::fs::File::open(from).map_err(WeightsError::io(from))?;
    let mut dst = std::fs::File::create(to).map_err(WeightsError::io(to))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(WeightsError::io(from)(e)),
        };
        hasher.update(&buf[..n]);
        dst.write_all(&buf[..n]).map_err(WeightsError::io(to))?;
        size += n as u64;
    }
    dst.sync_all().map_err(WeightsError::io(to))?;
    Ok((size, hex(&hasher.finalize())))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exported {
    pub dir: PathBuf,
    pub repo: String,
    pub commit: String,
    pub files: usize,
    pub bytes: u64,
}

/// Writes the snapshot of `repo` at `revision` and its manifest into `out` (created). Each file is
/// hashed as it is copied: a cache that no longer matches its manifest is not exported.
pub fn export_folder(
    cache_dir: &Path,
    repo: &str,
    revision: &str,
    out: &Path,
) -> Result<Exported, WeightsError> {
    let m = find_manifest(cache_dir, repo, revision)?;
    let cache = RepoCache::new(cache_dir, repo)?;
    let mut corrupt = Vec::new();
    for f in &m.files {
        let src = cache.snapshot_file(&m.commit, &f.name)?;
        let dst = out.join(&f.name);
        if let Some(dir) = dst.parent() {
            std::fs::create_dir_all(dir).map_err(WeightsError::io(dir))?;
        }
        let (size, sha) = copy_hashing(&src, &dst)?;
        if size != f.size || sha != f.sha256 {
            let _ = std::fs::remove_file(&dst);
            corrupt.push(f.name.clone());
        }
    }
    if !corrupt.is_empty() {
        return Err(WeightsError::Tampered { corrupt });
    }
    let path = out.join(EXPORT_MANIFEST);
    std::fs::write(&path, m.to_json()).map_err(WeightsError::io(&path))?;
    Ok(Exported {
        dir: out.to_path_buf(),
        repo: m.repo.clone(),
        commit: m.commit.clone(),
        files: m.files.len(),
        bytes: m.total(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Imported {
    pub repo: String,
    pub revision: String,
    pub commit: String,
    pub snapshot: PathBuf,
    pub files: usize,
    pub bytes: u64,
}

/// Imports an exported folder into `cache_dir`: each file copied to `blobs/<etag>.incomplete` while
/// hashed, moved into place when it matches; the snapshot is linked, the ref and the manifest written
/// only when every file matched. A tampered or truncated file is named and nothing is linked.
pub fn import_folder(from: &Path, cache_dir: &Path, now: u64) -> Result<Imported, WeightsError> {
    let mpath = from.join(EXPORT_MANIFEST);
    let text = std::fs::read_to_string(&mpath).map_err(WeightsError::io(&mpath))?;
    let m = Manifest::parse(&text)?;
    let cache = RepoCache::new(cache_dir, &m.repo)?;
    let blobs = cache.blobs_dir();
    std::fs::create_dir_all(&blobs).map_err(WeightsError::io(&blobs))?;
    for f in &m.files {
        if !from.join(&f.name).is_file() {
            return Err(WeightsError::MissingFile {
                missing: f.name.clone(),
                dir: from.display().to_string(),
            });
        }
    }
    let mut corrupt = Vec::new();
    for f in &m.files {
        let part = cache.incomplete(&f.etag)?;
        let (size, sha) = copy_hashing(&from.join(&f.name), &part)?;
        if size != f.size || sha != f.sha256 {
            std::fs::remove_file(&part).map_err(WeightsError::io(&part))?;
            corrupt.push(f.name.clone());
            continue;
        }
        let blob = cache.blob(&f.etag)?;
        std::fs::rename(&part, &blob).map_err(WeightsError::io(&blob))?;
    }
    if !corrupt.is_empty() {
        return Err(WeightsError::Tampered { corrupt });
    }
    link_verified(&cache, cache_dir, m, now)
}

/// The last step of an import, once every blob matched its manifest: the snapshot links, the ref and
/// the manifest stamped as verified now.
pub(super) fn link_verified(
    cache: &RepoCache,
    cache_dir: &Path,
    mut m: Manifest,
    now: u64,
) -> Result<Imported, WeightsError> {
    let pairs: Vec<(&str, &str)> = m
        .files
        .iter()
        .map(|f| (f.name.as_str(), f.etag.as_str()))
        .collect();
    let snapshot = link_snapshot(cache, &m.revision, &m.commit, &pairs)?;
    m.verified_at = Some(now);
    write_manifest(cache_dir, &m)?;
    Ok(Imported {
        repo: m.repo.clone(),
        revision: m.revision.clone(),
        commit: m.commit.clone(),
        snapshot,
        files: m.files.len(),
        bytes: m.total(),
    })
}
