//! Which files of a repository vLLM needs for the chosen checkpoint: the safetensors weights of its format
//! (the sharded `model-*.safetensors` + index, or Mistral's `consolidated*.safetensors` + `params.json`),
//! the configuration and the tokenizer files. Never `.bin`/`.pth`/`.pt`/`.gguf` or `original/` copies:
//! they double or triple a download vLLM does not read.

use serde::{Deserialize, Serialize};

use super::hub::{RepoInfo, Sibling};
use crate::catalog::WeightsFormat;
use crate::problem::Explain;

/// How a file's content is checked: the LFS SHA-256, or (small files kept in git) the git blob id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Digest {
    Sha256(String),
    GitBlob(String),
}

/// One file to fetch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileToFetch {
    /// Path inside the repository (and the snapshot).
    pub name: String,
    pub size: u64,
    pub digest: Digest,
    /// The blob's name in the cache, as huggingface_hub names it: the LFS SHA-256, else the git blob id.
    pub etag: String,
}

impl FileToFetch {
    /// The SHA-256 the Hub publishes for it (LFS files only).
    pub fn sha256(&self) -> Option<&str> {
        match &self.digest {
            Digest::Sha256(s) => Some(s),
            Digest::GitBlob(_) => None,
        }
    }
}

/// The files of one checkpoint at one commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    pub repo: String,
    pub commit: String,
    /// Sorted by name.
    pub files: Vec<FileToFetch>,
    /// Bytes of all files together.
    pub total: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectError {
    #[error("{repo} has no {wanted} at commit {commit}")]
    NoWeights {
        repo: String,
        commit: String,
        wanted: &'static str,
    },
    #[error("{repo} lacks {missing} at commit {commit}")]
    Missing {
        repo: String,
        commit: String,
        missing: String,
    },
    #[error("the Hub lists {file} of {repo} without a size or checksum")]
    NoDigest { repo: String, file: String },
}

impl Explain for SelectError {
    fn code(&self) -> &'static str {
        match self {
            SelectError::NoWeights { .. } | SelectError::Missing { .. } => "weights_incomplete",
            SelectError::NoDigest { .. } => "hub_answer",
        }
    }
    fn fix(&self) -> Option<String> {
        Some(match self {
            SelectError::NoWeights { .. } | SelectError::Missing { .. } => {
                "choose the catalog's checkpoint for this model, or another revision".into()
            }
            SelectError::NoDigest { .. } => {
                "check that the endpoint is the Hub or a faithful mirror".into()
            }
        })
    }
    fn field(&self) -> Option<String> {
        Some("model.weights.repo".into())
    }
}

/// Configuration and tokenizer files vLLM (or its tokenizer) reads when present.
const SMALL_FILES: &[&str] = &[
    "config.json",
    "generation_config.json",
    "params.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "tekken.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
    "preprocessor_config.json",
    "processor_config.json",
    "quantize_config.json",
    "quant_config.json",
];

const INDEX: &str = "model.safetensors.index.json";

fn is_top_level(name: &str) -> bool {
    !name.contains('/')
}

fn is_consolidated(name: &str) -> bool {
    name.starts_with("consolidated") && name.ends_with(".safetensors")
}

fn is_hf_weight(name: &str) -> bool {
    name.ends_with(".safetensors") && !name.starts_with("consolidated")
}

/// `tokenizer.model.v3` and the like: Mistral's versioned SentencePiece files.
fn is_small(name: &str) -> bool {
    SMALL_FILES.contains(&name) || name.starts_with("tokenizer.model.v")
}

/// The files vLLM needs from `info` for a checkpoint in `format`.
pub fn select(info: &RepoInfo, format: WeightsFormat) -> Result<Selection, SelectError> {
    let repo = if info.id.is_empty() {
        "the repository"
    } else {
        &info.id
    };
    let top: Vec<&Sibling> = info
        .siblings
        .iter()
        .filter(|s| is_top_level(&s.rfilename))
        .collect();
    let weights: Vec<&Sibling> = match format {
        WeightsFormat::Mistral => top
            .iter()
            .copied()
            .filter(|s| is_consolidated(&s.rfilename))
            .collect(),
        WeightsFormat::Hf => top
            .iter()
            .copied()
            .filter(|s| is_hf_weight(&s.rfilename))
            .collect(),
    };
    let no_weights = |wanted| SelectError::NoWeights {
        repo: repo.to_string(),
        commit: info.sha.clone(),
        wanted,
    };
    if weights.is_empty() {
        return Err(no_weights(match format {
            WeightsFormat::Mistral => "consolidated*.safetensors (Mistral format)",
            WeightsFormat::Hf => "*.safetensors weights",
        }));
    }
    let has = |n: &str| top.iter().any(|s| s.rfilename == n);
    let required: &[&str] = match format {
        WeightsFormat::Mistral => &["params.json"],
        WeightsFormat::Hf if weights.len() > 1 => &["config.json", INDEX],
        WeightsFormat::Hf => &["config.json"],
    };
    let missing: Vec<&str> = required.iter().copied().filter(|n| !has(n)).collect();
    if !missing.is_empty() {
        return Err(SelectError::Missing {
            repo: repo.to_string(),
            commit: info.sha.clone(),
            missing: missing.join(", "),
        });
    }
    let mut chosen: Vec<&Sibling> = weights;
    chosen.extend(top.iter().copied().filter(|s| {
        is_small(&s.rfilename) || (format == WeightsFormat::Hf && s.rfilename == INDEX)
    }));
    let mut files = chosen
        .into_iter()
        .map(|s| to_fetch(repo, s))
        .collect::<Result<Vec<_>, _>>()?;
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files.dedup_by(|a, b| a.name == b.name);
    let total = files.iter().map(|f| f.size).sum();
    Ok(Selection {
        repo: repo.to_string(),
        commit: info.sha.clone(),
        files,
        total,
    })
}

fn to_fetch(repo: &str, s: &Sibling) -> Result<FileToFetch, SelectError> {
    let no_digest = || SelectError::NoDigest {
        repo: repo.to_string(),
        file: s.rfilename.clone(),
    };
    let (size, digest) = match (&s.lfs, &s.blob_id, s.size) {
        (Some(lfs), _, _) if super::is_hex(&lfs.sha256, 64) => {
            (lfs.size, Digest::Sha256(lfs.sha256.clone()))
        }
        (None, Some(blob), Some(size)) if super::is_hex(blob, 40) => {
            (size, Digest::GitBlob(blob.clone()))
        }
        _ => return Err(no_digest()),
    };
    let etag = match &digest {
        Digest::Sha256(h) | Digest::GitBlob(h) => h.clone(),
    };
    Ok(FileToFetch {
        name: s.rfilename.clone(),
        size,
        digest,
        etag,
    })
}

#[cfg(test)]
mod tests;
