//! The verified manifest kept beside the cache: which files of which commit were checked, with their size
//! and SHA-256, and when. `verify`, `status`, `export`/`import` and later installs read it instead of the
//! Hub. JSON, versioned; no secret is ever in it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::hub::HubError;
use super::layout::repo_folder;
use crate::problem::Explain;

pub const MANIFEST_VERSION: u32 = 1;

/// The manifest of one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub version: u32,
    /// `owner/name`.
    pub repo: String,
    /// The revision asked for (`main`, a tag, or the commit itself).
    pub revision: String,
    pub commit: String,
    /// The endpoint the files came from (`https://huggingface.co`), when fetched; absent when imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Sorted by name.
    pub files: Vec<ManifestFile>,
    /// Seconds since the Unix epoch when every file was last verified (the caller reads the clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    pub name: String,
    pub size: u64,
    /// The content's SHA-256 (for LFS files, the Hub's; for small git files, computed when verified).
    pub sha256: String,
    /// The blob's name in the cache.
    pub etag: String,
    /// The Hub's git blob id of a file kept in git (not LFS), checked at fetch and by `verify`. Absent
    /// for LFS files and in manifests written before it was recorded (still version 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_blob: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("the weights manifest could not be read: {0}")]
    Parse(#[source] serde_json::Error),
    #[error(
        "the weights manifest has version {found}; this installer reads version {MANIFEST_VERSION}"
    )]
    Version { found: u32 },
    #[error("the weights manifest lists {name} with an invalid SHA-256 or blob name")]
    BadEntry { name: String },
}

impl Explain for ManifestError {
    fn code(&self) -> &'static str {
        "weights_manifest"
    }
    fn fix(&self) -> Option<String> {
        Some("fetch or import the weights again; the manifest is rewritten when they verify".into())
    }
}

impl Manifest {
    pub fn total(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    pub fn to_json(&self) -> String {
        // A struct of strings and integers always serialises.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Reads and checks a manifest: its version, and that every entry's names stay inside the cache.
    pub fn parse(json: &str) -> Result<Self, ManifestError> {
        #[derive(Deserialize)]
        struct Head {
            version: u32,
        }
        let head: Head = serde_json::from_str(json).map_err(ManifestError::Parse)?;
        if head.version != MANIFEST_VERSION {
            return Err(ManifestError::Version {
                found: head.version,
            });
        }
        let m: Manifest = serde_json::from_str(json).map_err(ManifestError::Parse)?;
        for f in &m.files {
            let names_ok = super::layout::RepoCache::link_target(&f.name, &f.etag).is_ok();
            let blob_ok = f.git_blob.as_deref().is_none_or(|b| super::is_hex(b, 40));
            if !names_ok || !blob_ok || !super::is_hex(&f.sha256, 64) {
                return Err(ManifestError::BadEntry {
                    name: f.name.clone(),
                });
            }
        }
        Ok(m)
    }

    /// The file name of this manifest under [`manifests_dir`]: `models--org--name--<commit>.json`.
    pub fn file_name(repo: &str, commit: &str) -> Result<String, HubError> {
        Ok(format!("{}--{commit}.json", repo_folder(repo)?))
    }

    /// One line for Review: "download ≈ 47.8 GB from huggingface.co to /srv/hf".
    pub fn summary(needed: u64, host: &str, dir: &Path) -> String {
        if needed == 0 {
            format!("weights present and verified in {}", dir.display())
        } else {
            format!(
                "download ≈ {} from {host} to {}",
                super::human_bytes(needed),
                dir.display()
            )
        }
    }
}

/// Where manifests live: `<cache_dir>/aigw-manifests/`, beside the hub cache and out of huggingface_hub's
/// way (its cache scan reads only `hub/`).
pub fn manifests_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("aigw-manifests")
}

/// The name the manifest takes inside an export folder.
pub const EXPORT_MANIFEST: &str = "aigw-weights-manifest.json";

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            version: MANIFEST_VERSION,
            repo: "mistralai/Codestral-22B-v0.1".into(),
            revision: "main".into(),
            commit: "8f5fd08b2b6ffd1ea7a1a7a6e2c1c0f0e0d0c0b0".into(),
            endpoint: Some("https://huggingface.co".into()),
            files: vec![
                ManifestFile {
                    name: "consolidated.safetensors".into(),
                    size: 44_494_340_576,
                    sha256: "c".repeat(64),
                    etag: "c".repeat(64),
                    git_blob: None,
                },
                ManifestFile {
                    name: "params.json".into(),
                    size: 193,
                    sha256: "d".repeat(64),
                    etag: "e".repeat(40),
                    git_blob: Some("e".repeat(40)),
                },
            ],
            verified_at: Some(1_796_000_000),
        }
    }

    #[test]
    fn a_manifest_round_trips_and_is_stable() {
        let m = sample();
        let json = m.to_json();
        assert_eq!(Manifest::parse(&json).unwrap(), m);
        insta::assert_snapshot!(json);
    }

    #[test]
    fn other_versions_and_escaping_names_are_refused() {
        let json = sample()
            .to_json()
            .replace("\"version\": 1", "\"version\": 2");
        assert!(matches!(
            Manifest::parse(&json),
            Err(ManifestError::Version { found: 2 })
        ));
        let mut m = sample();
        m.files[1].name = "../../../etc/cron.d/x".into();
        assert!(matches!(
            Manifest::parse(&m.to_json()),
            Err(ManifestError::BadEntry { .. })
        ));
        let mut m = sample();
        m.files[0].sha256 = "short".into();
        assert!(Manifest::parse(&m.to_json()).is_err());
        let mut m = sample();
        m.files[1].git_blob = Some("not-a-blob-id".into());
        assert!(Manifest::parse(&m.to_json()).is_err());
    }

    #[test]
    fn a_manifest_written_before_git_blob_ids_still_reads() {
        let mut old = sample();
        old.files[1].git_blob = None;
        let json = old.to_json();
        assert!(!json.contains("git_blob"), "{json}");
        assert_eq!(Manifest::parse(&json).unwrap(), old);
    }

    #[test]
    fn the_review_line_names_size_host_and_directory() {
        assert_eq!(
            Manifest::summary(47_812_000_000, "huggingface.co", Path::new("/srv/hf")),
            "download ≈ 47.8 GB from huggingface.co to /srv/hf"
        );
        assert_eq!(
            Manifest::summary(0, "huggingface.co", Path::new("/srv/hf")),
            "weights present and verified in /srv/hf"
        );
        assert_eq!(sample().total(), 44_494_340_576 + 193);
        assert_eq!(
            Manifest::file_name("a/b", "c0ffee").unwrap(),
            "models--a--b--c0ffee.json"
        );
    }
}
