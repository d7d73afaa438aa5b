use aigw_core::problem::Explain;
use aigw_core::weights::hub::HubError;
use aigw_core::weights::select::SelectError;
use aigw_core::weights::space::SpaceError;

use crate::net::Failure;
use crate::weights::WeightsError;

/// Why a fetch did not finish. No variant carries the token; URLs are named without their query.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{host} could not be reached: {}", failure.detail)]
    Net { host: String, failure: Failure },
    #[error("{repo} is gated: its files need an account that accepted the licence")]
    Gated { repo: String, page: String },
    #[error("{host} refused the token (invalid or expired)")]
    BadToken { host: String },
    #[error("the token lacks access to {repo}")]
    NoAccess { repo: String, page: String },
    #[error(
        "{repo} has no revision {revision} on {host} (or it is private and no token was given)"
    )]
    NotFound {
        repo: String,
        revision: String,
        host: String,
    },
    #[error("{host} answered {status} for {what}")]
    Status {
        host: String,
        status: u16,
        what: String,
    },
    #[error("{file} ended early or was answered with other bytes than asked ({detail})")]
    Short { file: String, detail: String },
    #[error("{file} failed its {check} check twice (expected {expected}, got {got})")]
    Corrupt {
        file: String,
        /// "SHA-256" (LFS files) or "git blob id" (files kept in git).
        check: &'static str,
        expected: String,
        got: String,
    },
    #[error("the fetch was cancelled; what is verified is kept, the rest resumes on the next run")]
    Cancelled,
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error(transparent)]
    Select(#[from] SelectError),
    #[error(transparent)]
    Space(#[from] SpaceError),
    #[error(transparent)]
    Weights(#[from] WeightsError),
}

impl Explain for FetchError {
    fn code(&self) -> &'static str {
        match self {
            FetchError::Net { .. } => "hub_unreachable",
            FetchError::Gated { .. } => "weights_gated",
            FetchError::BadToken { .. } => "hf_token_refused",
            FetchError::NoAccess { .. } => "hf_token_no_access",
            FetchError::NotFound { .. } => "weights_not_found",
            FetchError::Status { .. } | FetchError::Short { .. } => "hub_answer",
            FetchError::Corrupt { .. } => "weights_corrupt",
            FetchError::Cancelled => "cancelled",
            FetchError::Hub(e) => e.code(),
            FetchError::Select(e) => e.code(),
            FetchError::Space(e) => e.code(),
            FetchError::Weights(e) => e.code(),
        }
    }
    fn fix(&self) -> Option<String> {
        match self {
            FetchError::Net { host, failure } => Some(failure.fix(host)),
            FetchError::Gated { page, .. } => Some(format!(
                "accept the licence at {page}, then give a token of that account (HF_TOKEN or \
                 model.weights.token_file)"
            )),
            FetchError::BadToken { .. } => Some(
                "create a read token at https://huggingface.co/settings/tokens and give it again".into(),
            ),
            FetchError::NoAccess { page, .. } => Some(format!(
                "accept the licence at {page} with the account the token belongs to, or use a token of \
                 an account that has"
            )),
            FetchError::NotFound { .. } => {
                Some("check the repository's name and revision, and give a token if it is private".into())
            }
            FetchError::Status { .. } | FetchError::Short { .. } => {
                Some("run again: what is complete is kept; if it persists, check the endpoint or proxy".into())
            }
            FetchError::Corrupt { .. } => Some(
                "check the mirror or proxy in between (it altered the file); run again to retry".into(),
            ),
            FetchError::Cancelled => None,
            FetchError::Hub(e) => e.fix(),
            FetchError::Select(e) => e.fix(),
            FetchError::Space(e) => e.fix(),
            FetchError::Weights(e) => e.fix(),
        }
    }
    fn field(&self) -> Option<String> {
        match self {
            FetchError::Gated { .. }
            | FetchError::BadToken { .. }
            | FetchError::NoAccess { .. } => Some("model.weights.token_file".into()),
            FetchError::NotFound { .. } => Some("model.weights.repo".into()),
            FetchError::Hub(e) => e.field(),
            FetchError::Select(e) => e.field(),
            FetchError::Space(e) => e.field(),
            _ => None,
        }
    }
}
