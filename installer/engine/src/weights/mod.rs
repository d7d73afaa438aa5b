//! Model weights on disk (issue 12). PLACEHOLDER until branch h-wcore lands its module here: the same
//! signatures (`link_snapshot`, `read_manifest`, `write_manifest`, `verify_file`, `free_bytes`,
//! `WeightsError`) so the fetcher builds on them unchanged; the merge takes h-wcore's file.

pub mod fetch;

use std::io::Read;
use std::path::{Path, PathBuf};

use aigw_core::problem::Explain;
use aigw_core::weights::hub::HubError;
use aigw_core::weights::layout::{is_commit, LayoutError, RepoCache};
use aigw_core::weights::manifest::{manifests_dir, Manifest, ManifestError};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

impl WeightsError {
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| WeightsError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

impl Explain for WeightsError {
    fn code(&self) -> &'static str {
        match self {
            WeightsError::Io { .. } => "weights_io",
            WeightsError::Hub(e) => e.code(),
            WeightsError::Layout(e) => e.code(),
            WeightsError::Manifest(e) => e.code(),
        }
    }
    fn fix(&self) -> Option<String> {
        match self {
            WeightsError::Io { .. } => {
                Some("check the cache directory's permissions and space".into())
            }
            WeightsError::Hub(e) => e.fix(),
            WeightsError::Layout(e) => e.fix(),
            WeightsError::Manifest(e) => e.fix(),
        }
    }
}

fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), WeightsError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(WeightsError::io(dir))?;
    }
    crate::fsutil::write_new(path, bytes, true, mode).map_err(|e| WeightsError::Io {
        path: path.display().to_string(),
        source: match e {
            crate::fsutil::WriteError::Io(io) => io,
            crate::fsutil::WriteError::Exists => std::io::ErrorKind::AlreadyExists.into(),
        },
    })
}

pub fn write_ref(cache: &RepoCache, revision: &str, commit: &str) -> Result<(), WeightsError> {
    if is_commit(revision) {
        return Ok(());
    }
    write_atomic(&cache.ref_file(revision)?, commit.as_bytes(), 0o644)
}

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
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link).map_err(WeightsError::io(&link))?;
    }
    write_ref(cache, revision, commit)?;
    Ok(dir)
}

fn manifest_path(cache_dir: &Path, repo: &str, commit: &str) -> Result<PathBuf, WeightsError> {
    Ok(manifests_dir(cache_dir).join(Manifest::file_name(repo, commit)?))
}

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

pub fn write_manifest(cache_dir: &Path, m: &Manifest) -> Result<PathBuf, WeightsError> {
    let path = manifest_path(cache_dir, &m.repo, &m.commit)?;
    write_atomic(&path, m.to_json().as_bytes(), 0o644)?;
    Ok(path)
}

pub fn verify_file(path: &Path) -> Result<(u64, String), WeightsError> {
    let mut f = std::fs::File::open(path).map_err(WeightsError::io(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(WeightsError::io(path)(e)),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((
        size,
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    ))
}

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
