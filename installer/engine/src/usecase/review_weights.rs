//! The weights part of Review (issue 12): what install will download from the Hub, what the cache already
//! holds verified (no network then), why the Hub's file list could not be read (Review still goes on:
//! install tries again, or the weights are imported), or the local folder as judged.

use aigw_core::problem::Explain;
use aigw_core::spec::{DeploymentSpec, Weights};
use aigw_core::weights::human_bytes;
use serde::Serialize;

use super::{Error, FetchRequest};
use crate::weights::fetch::{self, FetchError};

/// One file Review lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewFile {
    pub name: String,
    pub size: u64,
}

/// Why the Hub's file list is not shown: the problem in the one error shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotListed {
    pub code: String,
    pub reason: String,
    pub fix: Option<String>,
}

/// What Review says about the weights; `state` is what the wizard's section declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum WeightsReview {
    /// The Hub's list of the files vLLM needs: what install downloads.
    Listed {
        /// "download ≈ 47.8 GB from huggingface.co to /srv/hf".
        summary: String,
        commit: String,
        files: Vec<ReviewFile>,
        total: u64,
        /// Bytes still to download (a resumed or partly cached snapshot needs less than `total`).
        needed: u64,
    },
    /// The snapshot is already in the cache, verified per its manifest; the Hub was not asked.
    Cached {
        summary: String,
        commit: String,
        files: Vec<ReviewFile>,
        total: u64,
    },
    /// The Hub (or the proxy to it) could not be reached.
    Unreachable {
        summary: String,
        #[serde(flatten)]
        problem: NotListed,
    },
    /// The Hub answered, but refused or the snapshot cannot be fetched as it stands (gated, no access,
    /// not found, a disk too small…).
    Refused {
        summary: String,
        #[serde(flatten)]
        problem: NotListed,
    },
    /// An admin's local checkpoint folder, as judged before anything starts.
    Local {
        summary: String,
        files: Vec<ReviewFile>,
        /// Bytes of all the folder's files.
        total: u64,
        /// Bytes of the checkpoint's safetensors.
        weight_bytes: u64,
        /// A size warning, or why the size was not checked.
        size_note: Option<String>,
    },
}

impl WeightsReview {
    pub fn summary(&self) -> &str {
        match self {
            WeightsReview::Listed { summary, .. }
            | WeightsReview::Cached { summary, .. }
            | WeightsReview::Unreachable { summary, .. }
            | WeightsReview::Refused { summary, .. }
            | WeightsReview::Local { summary, .. } => summary,
        }
    }

    /// A remote engine's snapshot is fetched into this machine's cache, then copied to the server's
    /// `cache_dir`: the summary says both.
    pub(super) fn then_copied_to(&mut self, server_dir: &std::path::Path) {
        if let WeightsReview::Listed { summary, .. } | WeightsReview::Cached { summary, .. } = self
        {
            summary.push_str(&format!(
                "; then copied to {} on the server (skipped when it holds the same snapshot)",
                server_dir.display()
            ));
        }
    }

    /// The files listed (none when the list could not be read).
    pub fn files(&self) -> &[ReviewFile] {
        match self {
            WeightsReview::Listed { files, .. }
            | WeightsReview::Cached { files, .. }
            | WeightsReview::Local { files, .. } => files,
            WeightsReview::Unreachable { .. } | WeightsReview::Refused { .. } => &[],
        }
    }
}

/// The weights part of Review. A local folder was judged already (`check_weights`); a snapshot complete
/// in the cache is read from its manifest without any network; otherwise, with `req`, the Hub is asked —
/// and a failure is reported here, never returned. Without `req` (diagnostics) the Hub is not asked and
/// there is nothing to say. Bad input (an endpoint that does not parse, a token file readable by others)
/// is still an error.
pub async fn review_weights(
    s: &DeploymentSpec,
    local: Option<super::LocalWeights>,
    req: Option<&FetchRequest>,
) -> Result<Option<WeightsReview>, Error> {
    if let Some(l) = local {
        let files: Vec<ReviewFile> = l
            .files
            .iter()
            .map(|f| ReviewFile {
                name: f.name.clone(),
                size: f.size,
            })
            .collect();
        return Ok(Some(WeightsReview::Local {
            summary: format!(
                "local folder {}: {} safetensors file{} ({}), nothing to download",
                l.path.display(),
                l.checkpoint.weight_files,
                if l.checkpoint.weight_files == 1 {
                    ""
                } else {
                    "s"
                },
                human_bytes(l.checkpoint.weight_bytes)
            ),
            total: files.iter().map(|f| f.size).sum(),
            files,
            weight_bytes: l.checkpoint.weight_bytes,
            size_note: l.checkpoint.size_note,
        }));
    }
    let Weights::HuggingFace {
        repo,
        revision,
        cache_dir,
        ..
    } = &s.model.weights
    else {
        return Ok(None);
    };
    if super::provision::snapshot_complete(cache_dir, repo, revision) {
        let m = crate::weights::find_manifest(cache_dir, repo, revision)?;
        return Ok(Some(WeightsReview::Cached {
            summary: format!(
                "already verified in {}, nothing to download",
                cache_dir.display()
            ),
            commit: m.commit.clone(),
            total: m.total(),
            files: m
                .files
                .iter()
                .map(|f| ReviewFile {
                    name: f.name.clone(),
                    size: f.size,
                })
                .collect(),
        }));
    }
    let Some(req) = req else {
        return Ok(None);
    };
    let opts = super::fetch_options(s, req)?;
    let host = opts.endpoint.host();
    Ok(Some(match fetch::plan(&opts).await {
        Ok(p) => WeightsReview::Listed {
            summary: p.summary,
            commit: p.commit,
            files: p
                .files
                .iter()
                .map(|f| ReviewFile {
                    name: f.name.clone(),
                    size: f.size,
                })
                .collect(),
            total: p.total,
            needed: p.needed,
        },
        Err(e) => {
            let problem = NotListed {
                code: e.code().to_string(),
                reason: e.to_string(),
                fix: e.fix(),
            };
            let next = "install will try again; on a site without access, bring the weights with the weights export and import commands";
            if matches!(e, FetchError::Net { .. }) {
                WeightsReview::Unreachable {
                    summary: format!(
                        "the file list could not be read from {host}: {}; {next}",
                        problem.reason
                    ),
                    problem,
                }
            } else {
                WeightsReview::Refused {
                    summary: format!(
                        "the weights cannot be downloaded from {host} as things stand: {}; install stops there until it is fixed",
                        problem.reason
                    ),
                    problem,
                }
            }
        }
    }))
}
