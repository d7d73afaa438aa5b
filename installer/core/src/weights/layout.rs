//! The Hugging Face hub cache exactly as huggingface_hub writes it (`file_download.py`), so vLLM with
//! `HF_HUB_OFFLINE=1` finds what we fetched:
//!
//! ```text
//! <cache_dir>/hub/models--<org>--<name>/
//!     blobs/<etag>                      content (etag: the LFS SHA-256, or the git blob id)
//!     blobs/<etag>.incomplete           a download under way
//!     snapshots/<commit>/<rfilename>    relative symlink → ../../blobs/<etag> (one more ../ per directory)
//!     refs/<revision>                   the commit, for a revision that is a branch or tag
//! ```
//!
//! `cache_dir` is the directory mounted as `HF_HOME` (`/root/.cache/huggingface`); the hub cache is its
//! `hub/`. Paths only: the engine does the I/O.

use std::path::{Path, PathBuf};

use super::hub::split_repo;
use super::hub::HubError;
use crate::problem::Explain;

/// `models--org--name`, huggingface_hub's `repo_folder_name` for a model.
pub fn repo_folder(repo: &str) -> Result<String, HubError> {
    let (owner, name) = split_repo(repo)?;
    Ok(format!("models--{owner}--{name}"))
}

/// A revision that names a commit itself: used as the snapshot directory, no ref written.
pub fn is_commit(revision: &str) -> bool {
    super::is_hex(revision, 40)
}

/// A branch, tag or commit name that is safe as a path under `refs/` and as an argument: no `..`, no
/// leading `/` or `-`.
pub fn is_revision(revision: &str) -> bool {
    check_rel(revision).is_ok() && !revision.starts_with('-')
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LayoutError {
    #[error("\"{0}\" is not a file name inside a repository")]
    BadName(String),
    #[error("\"{0}\" is not a blob name (a SHA-256 or a git blob id)")]
    BadEtag(String),
    #[error("\"{0}\" is not a revision name")]
    BadRevision(String),
}

impl Explain for LayoutError {
    fn code(&self) -> &'static str {
        "bad_cache_name"
    }
    fn fix(&self) -> Option<String> {
        Some("check the manifest or the Hub's answer: names must stay inside the cache".into())
    }
}

/// A relative name with no `..`, no empty or `.` component and no leading `/`: what may be joined under a
/// snapshot without leaving it.
fn check_rel(name: &str) -> Result<(), LayoutError> {
    let ok = !name.is_empty()
        && !name.starts_with('/')
        && !name.contains('\\')
        && !name.contains('\0')
        && name
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
    if ok {
        Ok(())
    } else {
        Err(LayoutError::BadName(name.to_string()))
    }
}

fn check_etag(etag: &str) -> Result<(), LayoutError> {
    if super::is_hex(etag, 64) || super::is_hex(etag, 40) {
        Ok(())
    } else {
        Err(LayoutError::BadEtag(etag.to_string()))
    }
}

/// One repository's folder in the hub cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoCache {
    root: PathBuf,
}

impl RepoCache {
    /// `<cache_dir>/hub/models--org--name`.
    pub fn new(cache_dir: &Path, repo: &str) -> Result<Self, HubError> {
        Ok(Self {
            root: cache_dir.join("hub").join(repo_folder(repo)?),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs")
    }

    pub fn blob(&self, etag: &str) -> Result<PathBuf, LayoutError> {
        check_etag(etag)?;
        Ok(self.blobs_dir().join(etag))
    }

    /// Where a download writes until the blob is complete and verified.
    pub fn incomplete(&self, etag: &str) -> Result<PathBuf, LayoutError> {
        check_etag(etag)?;
        Ok(self.blobs_dir().join(format!("{etag}.incomplete")))
    }

    pub fn snapshot_dir(&self, commit: &str) -> Result<PathBuf, LayoutError> {
        if !is_commit(commit) {
            return Err(LayoutError::BadRevision(commit.to_string()));
        }
        Ok(self.root.join("snapshots").join(commit))
    }

    /// `snapshots/<commit>/<rfilename>`: the link.
    pub fn snapshot_file(&self, commit: &str, rfilename: &str) -> Result<PathBuf, LayoutError> {
        check_rel(rfilename)?;
        Ok(self.snapshot_dir(commit)?.join(rfilename))
    }

    /// `refs/<revision>`; a revision may hold `/` (`refs/pr/1`), never `..`.
    pub fn ref_file(&self, revision: &str) -> Result<PathBuf, LayoutError> {
        if !is_revision(revision) {
            return Err(LayoutError::BadRevision(revision.to_string()));
        }
        Ok(self.root.join("refs").join(revision))
    }

    /// The snapshot link's target, relative to the link's directory: `../../blobs/<etag>`, one more `../`
    /// per directory of `rfilename` (huggingface_hub's `os.path.relpath`).
    pub fn link_target(rfilename: &str, etag: &str) -> Result<PathBuf, LayoutError> {
        check_rel(rfilename)?;
        check_etag(etag)?;
        let depth = rfilename.split('/').count() - 1;
        let mut p = PathBuf::new();
        for _ in 0..depth + 2 {
            p.push("..");
        }
        Ok(p.join("blobs").join(etag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMIT: &str = "0d4b76e1efeb5eb6f6b5e757c79870472e04bd3a";

    #[test]
    fn paths_follow_huggingface_hub() {
        let c = RepoCache::new(Path::new("/srv/hf"), "mistralai/Mistral-7B-Instruct-v0.3").unwrap();
        assert_eq!(
            c.root(),
            Path::new("/srv/hf/hub/models--mistralai--Mistral-7B-Instruct-v0.3")
        );
        let sha = "a".repeat(64);
        assert_eq!(
            c.blob(&sha).unwrap(),
            Path::new("/srv/hf/hub/models--mistralai--Mistral-7B-Instruct-v0.3/blobs").join(&sha)
        );
        assert_eq!(
            c.incomplete(&sha).unwrap().file_name().unwrap(),
            format!("{sha}.incomplete").as_str()
        );
        assert_eq!(
            c.snapshot_file(COMMIT, "config.json").unwrap(),
            Path::new("/srv/hf/hub/models--mistralai--Mistral-7B-Instruct-v0.3/snapshots")
                .join(COMMIT)
                .join("config.json")
        );
        assert_eq!(
            c.ref_file("main").unwrap(),
            Path::new("/srv/hf/hub/models--mistralai--Mistral-7B-Instruct-v0.3/refs/main")
        );
        assert_eq!(repo_folder("a/b").unwrap(), "models--a--b");
    }

    #[test]
    fn links_are_relative_with_one_step_up_per_directory() {
        let blob = "b".repeat(40);
        assert_eq!(
            RepoCache::link_target("config.json", &blob).unwrap(),
            Path::new("../../blobs").join(&blob)
        );
        assert_eq!(
            RepoCache::link_target("original/params.json", &blob).unwrap(),
            Path::new("../../../blobs").join(&blob)
        );
    }

    #[test]
    fn names_that_would_leave_the_cache_are_refused() {
        let c = RepoCache::new(Path::new("/c"), "a/b").unwrap();
        for bad in ["../x", "a/../../x", "/etc/passwd", "", "a//b", "./x"] {
            assert!(c.snapshot_file(COMMIT, bad).is_err(), "{bad}");
        }
        assert!(c.blob("../../etc/passwd").is_err());
        assert!(c.snapshot_dir("main").is_err());
        assert!(c.ref_file("../main").is_err());
        assert!(c.ref_file("refs/pr/1").is_ok());
        assert!(is_commit(COMMIT) && !is_commit("main"));
    }
}
