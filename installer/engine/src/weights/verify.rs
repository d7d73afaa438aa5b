//! Streaming SHA-256, `verify` of a snapshot against its manifest, `status`, and free space.

use std::io::Read;
use std::path::Path;

use aigw_core::weights::gitblob::GitBlobHasher;
use aigw_core::weights::layout::RepoCache;
use aigw_core::weights::manifest::Manifest;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{read_manifest, resolve_commit, WeightsError};

/// Reads in 1 MiB blocks: large enough that hashing, not system calls, bounds the rate.
const BLOCK: usize = 1 << 20;

/// The file's size and lower-case hex SHA-256, read once, never held whole in memory.
pub fn verify_file(path: &Path) -> Result<(u64, String), WeightsError> {
    let h = hash_file(path, false)?;
    Ok((h.size, h.sha256))
}

/// What one read of a file gives: its size, SHA-256 and, when asked, its git blob id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hashes {
    pub size: u64,
    pub sha256: String,
    pub git_blob: Option<String>,
}

/// Hashes the file in one pass; the git blob id (SHA-1 over a header) only when `git_blob`, since
/// LFS files, the large ones, are never checked by it.
pub fn hash_file(path: &Path, git_blob: bool) -> Result<Hashes, WeightsError> {
    let mut f = std::fs::File::open(path).map_err(WeightsError::io(path))?;
    let len = f.metadata().map_err(WeightsError::io(path))?.len();
    let mut hasher = Sha256::new();
    let mut git = git_blob.then(|| GitBlobHasher::new(len));
    let mut buf = vec![0u8; BLOCK];
    let mut size = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(WeightsError::io(path)(e)),
        };
        hasher.update(&buf[..n]);
        if let Some(g) = git.as_mut() {
            g.update(&buf[..n]);
        }
        size += n as u64;
    }
    Ok(Hashes {
        size,
        sha256: hex(&hasher.finalize()),
        git_blob: git.map(GitBlobHasher::finish),
    })
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a verify found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    pub repo: String,
    pub commit: String,
    pub files: usize,
    pub bytes: u64,
    /// Blobs that did not match, by file name: removed, so a fetch gets them again.
    pub corrupt: Vec<String>,
    /// Files of the manifest with no blob at all.
    pub missing: Vec<String>,
}

impl Verified {
    pub fn is_ok(&self) -> bool {
        self.corrupt.is_empty() && self.missing.is_empty()
    }
}

/// Hashes every blob of the manifest's snapshot (SHA-256, and the git blob id where the manifest has one). A blob that does not match is named and removed (its
/// link then dangles until a fetch or import brings it back); when all match, the manifest's
/// `verified_at` becomes `now`.
pub fn verify(cache_dir: &Path, m: &Manifest, now: u64) -> Result<Verified, WeightsError> {
    let cache = RepoCache::new(cache_dir, &m.repo)?;
    let mut out = Verified {
        repo: m.repo.clone(),
        commit: m.commit.clone(),
        files: m.files.len(),
        bytes: m.total(),
        corrupt: vec![],
        missing: vec![],
    };
    for f in &m.files {
        let blob = cache.blob(&f.etag)?;
        if !blob.exists() {
            out.missing.push(f.name.clone());
            continue;
        }
        let h = hash_file(&blob, f.git_blob.is_some())?;
        if h.size != f.size || h.sha256 != f.sha256 || h.git_blob != f.git_blob {
            std::fs::remove_file(&blob).map_err(WeightsError::io(&blob))?;
            out.corrupt.push(f.name.clone());
        }
    }
    if out.is_ok() {
        let mut m = m.clone();
        m.verified_at = Some(now);
        super::write_manifest(cache_dir, &m)?;
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "bytes")]
pub enum FileState {
    /// The blob is there with the manifest's size and the snapshot links to it.
    Present,
    /// A download under way or interrupted: this many bytes.
    Partial(u64),
    /// A blob of another size: it will not verify.
    WrongSize(u64),
    /// The blob is there but the snapshot has no link to it (an interrupted link or import).
    Unlinked,
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileStatus {
    pub name: String,
    pub size: u64,
    #[serde(flatten)]
    pub state: FileState,
}

/// What the cache holds of a repository at a revision, from the manifest and file sizes (no hashing:
/// `verify` hashes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WeightsStatus {
    pub repo: String,
    pub revision: String,
    pub commit: String,
    pub dir: String,
    pub verified_at: Option<u64>,
    pub total: u64,
    pub present: u64,
    pub files: Vec<FileStatus>,
}

impl WeightsStatus {
    pub fn complete(&self) -> bool {
        self.files.iter().all(|f| f.state == FileState::Present)
    }
}

/// The manifest of `repo` at `revision` in `cache_dir`, if the cache knows the revision and has one.
pub fn find_manifest(
    cache_dir: &Path,
    repo: &str,
    revision: &str,
) -> Result<Manifest, WeightsError> {
    let cache = RepoCache::new(cache_dir, repo)?;
    let not_in_cache = || WeightsError::NotInCache {
        repo: repo.to_string(),
        revision: revision.to_string(),
        dir: cache_dir.display().to_string(),
    };
    let commit = resolve_commit(&cache, revision).ok_or_else(not_in_cache)?;
    read_manifest(cache_dir, repo, &commit)?.ok_or_else(not_in_cache)
}

pub fn status(cache_dir: &Path, repo: &str, revision: &str) -> Result<WeightsStatus, WeightsError> {
    let m = find_manifest(cache_dir, repo, revision)?;
    let cache = RepoCache::new(cache_dir, repo)?;
    let mut files = Vec::new();
    let mut present = 0;
    for f in &m.files {
        let linked = std::fs::metadata(cache.snapshot_file(&m.commit, &f.name)?);
        let state = match std::fs::metadata(cache.blob(&f.etag)?) {
            Ok(meta) if meta.len() != f.size => FileState::WrongSize(meta.len()),
            Ok(_) if linked.is_ok() => FileState::Present,
            Ok(_) => FileState::Unlinked,
            Err(_) => match std::fs::metadata(cache.incomplete(&f.etag)?) {
                Ok(meta) => FileState::Partial(meta.len()),
                Err(_) => FileState::Missing,
            },
        };
        present += match state {
            FileState::Present => f.size,
            FileState::Partial(n) => n.min(f.size),
            _ => 0,
        };
        files.push(FileStatus {
            name: f.name.clone(),
            size: f.size,
            state,
        });
    }
    Ok(WeightsStatus {
        repo: m.repo.clone(),
        revision: revision.to_string(),
        commit: m.commit.clone(),
        dir: cache_dir.display().to_string(),
        verified_at: m.verified_at,
        total: m.total(),
        present,
        files,
    })
}

/// Bytes an unprivileged writer may still use where `dir` is (or would be created).
pub fn free_bytes(dir: &Path) -> Result<u64, WeightsError> {
    let at = dir
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    let st = rustix::fs::statvfs(at).map_err(|e| WeightsError::io(at)(e.into()))?;
    let frsize = if st.f_frsize > 0 {
        st.f_frsize
    } else {
        st.f_bsize
    };
    Ok(st.f_bavail.saturating_mul(frsize))
}
