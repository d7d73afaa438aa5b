//! The hub cache's links and refs, and the manifest beside it, written as huggingface_hub writes them.

use std::path::{Path, PathBuf};

use aigw_core::weights::layout::{is_commit, RepoCache};
use aigw_core::weights::manifest::{manifests_dir, Manifest};

use super::WeightsError;
use crate::fsutil::{write_new, WriteError};

fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), WeightsError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(WeightsError::io(dir))?;
    }
    write_new(path, bytes, true, mode).map_err(|e| match e {
        WriteError::Io(source) => WeightsError::Io {
            path: path.display().to_string(),
            source,
        },
        WriteError::Exists => WeightsError::Io {
            path: path.display().to_string(),
            source: std::io::ErrorKind::AlreadyExists.into(),
        },
    })
}

/// `refs/<revision>` holding `commit`, without a newline (huggingface_hub reads the file whole). Nothing
/// for a revision that is the commit itself.
pub fn write_ref(cache: &RepoCache, revision: &str, commit: &str) -> Result<(), WeightsError> {
    if is_commit(revision) {
        return Ok(());
    }
    let path = cache.ref_file(revision)?;
    if std::fs::read_to_string(&path).is_ok_and(|c| c == commit) {
        return Ok(());
    }
    write_atomic(&path, commit.as_bytes(), 0o644)
}

/// The commit a revision names in this cache: the revision itself when it is a commit, else its ref.
pub fn resolve_commit(cache: &RepoCache, revision: &str) -> Option<String> {
    if is_commit(revision) {
        return Some(revision.to_string());
    }
    let commit = std::fs::read_to_string(cache.ref_file(revision).ok()?).ok()?;
    is_commit(&commit).then_some(commit)
}

/// `snapshots/<commit>/<name>` → `../../blobs/<etag>` for each `(name, etag)`, and `refs/<revision>`.
/// A link already pointing at the right blob is kept; one pointing elsewhere is replaced. Returns the
/// snapshot directory.
pub fn link_snapshot(
    cache: &RepoCache,
    revision: &str,
    commit: &str,
    files: &[(&str, &str)],
) -> Result<PathBuf, WeightsError> {
    let dir = cache.snapshot_dir(commit)?;
    for (name, etag) in files {
        let link = cache.snapshot_file(commit, name)?;
        let target = RepoCache::link_target(name, etag)?;
        if std::fs::read_link(&link).is_ok_and(|t| t == target) {
            continue;
        }
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent).map_err(WeightsError::io(parent))?;
        }
        match std::fs::remove_file(&link) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(WeightsError::io(&link)(e)),
        }
        std::os::unix::fs::symlink(&target, &link).map_err(WeightsError::io(&link))?;
    }
    write_ref(cache, revision, commit)?;
    Ok(dir)
}

fn manifest_path(cache_dir: &Path, repo: &str, commit: &str) -> Result<PathBuf, WeightsError> {
    Ok(manifests_dir(cache_dir).join(Manifest::file_name(repo, commit)?))
}

/// The manifest of `repo` at `commit`, if one was written.
pub fn read_manifest(
    cache_dir: &Path,
    repo: &str,
    commit: &str,
) -> Result<Option<Manifest>, WeightsError> {
    let path = manifest_path(cache_dir, repo, commit)?;
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(Manifest::parse(&text)?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(WeightsError::io(&path)(e)),
    }
}

/// Writes (replaces) the manifest atomically, 0644: it holds no secret. Returns its path.
pub fn write_manifest(cache_dir: &Path, m: &Manifest) -> Result<PathBuf, WeightsError> {
    let path = manifest_path(cache_dir, &m.repo, &m.commit)?;
    write_atomic(&path, m.to_json().as_bytes(), 0o644)?;
    Ok(path)
}
