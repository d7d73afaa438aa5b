//! What can go wrong with a request: each error says what, why, and how to fix it (valid values included).

use crate::catalog::gitlab::VersionError;
use crate::catalog::LookupError;
use crate::problem::Explain;

pub const PLATFORMS: &str = "linux-amd64, linux-arm64, macos-arm64, windows-wsl2";
/// No server board holds more; a larger count is a typo.
pub const MAX_GPUS: u32 = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecommendError {
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error(
        "GPUs '{spec}': {reason}. Write COUNTxNAME, comma-separated (2xL4, 1xA100-80,1xA100-40), a card \
         the catalog does not know by its numbers (2x96GiB@cc10.0), or 'none'. Valid GPU names: {valid}"
    )]
    GpuSpec {
        spec: String,
        reason: String,
        valid: String,
    },
    #[error("GPUs '{spec}': {count} GPUs is impossible: a host holds 1 to {MAX_GPUS} GPUs")]
    ImpossibleCount { spec: String, count: u64 },
    #[error("unknown platform '{value}'. Valid platforms: {PLATFORMS}")]
    UnknownPlatform { value: String },
    #[error("{0}")]
    Version(#[from] VersionError),
    #[error(
        "GitLab {version} predates GitLab Duo Self-Hosted (self-hosted models arrived in 17.1): \
         upgrade GitLab, or plan for GitLab 17.1 or later"
    )]
    VersionTooOld { version: String },
    #[error("{model} is not supported by GitLab {version} (supported {range}). {hint}")]
    NotSupportedByGitlab {
        model: String,
        version: String,
        range: String,
        hint: String,
    },
    #[error("{model} is under the {license}; using it needs the licence accepted explicitly")]
    LicenseNotAccepted { model: String, license: String },
    #[error("'{value}' names no licence to accept. Valid values: {valid}")]
    UnknownLicense { value: String, valid: String },
    #[error(
        "{model} has no {precision} checkpoint in the catalog. Available precisions: {available}"
    )]
    PrecisionUnavailable {
        model: String,
        precision: String,
        available: String,
    },
    #[error("tensor parallelism {tp}: {reason}")]
    InvalidTp { tp: u32, reason: String },
    #[error("context {context}: {reason}")]
    InvalidContext { context: u32, reason: String },
    #[error("{value} developers: {reason}")]
    InvalidDevelopers { value: u32, reason: String },
    #[error("{flag} does not apply here: {why}")]
    NotApplicable { flag: String, why: String },
    #[error("platform {platform}: {why}")]
    PlatformMismatch { platform: String, why: String },
    #[error("the requested configuration cannot start: {summary}{}", details_text(.details))]
    CannotStart {
        summary: String,
        details: Vec<String>,
    },
}

fn details_text(details: &[String]) -> String {
    details.iter().map(|d| format!("\n  - {d}")).collect()
}

impl Explain for RecommendError {
    fn code(&self) -> &'static str {
        match self {
            Self::LicenseNotAccepted { .. } => "license_required",
            Self::CannotStart { .. } => "cannot_serve",
            _ => "invalid_input",
        }
    }

    fn fix(&self) -> Option<String> {
        Some(match self {
            Self::Lookup(e) => return e.fix(),
            Self::LicenseNotAccepted { .. } => {
                "read the licence, then accept it explicitly — or choose another model".into()
            }
            Self::Version(_) => "write the GitLab version as MAJOR.MINOR, e.g. 18.2 or 18.2.1".into(),
            Self::VersionTooOld { .. } => "upgrade GitLab to 17.1 or later".into(),
            Self::CannotStart { .. } => {
                "plan for other GPUs, or change the overrides (precision, tensor parallelism, context)".into()
            }
            _ => "change the overrides, or clear them to get the recommendation".into(),
        })
    }

    fn field(&self) -> Option<String> {
        Some(match self {
            Self::Lookup(e) => return e.field(),
            Self::GpuSpec { .. } | Self::ImpossibleCount { .. } => "gpus".into(),
            Self::UnknownPlatform { .. } | Self::PlatformMismatch { .. } => "platform".into(),
            Self::Version(_) | Self::VersionTooOld { .. } => "gitlab_version".into(),
            Self::NotSupportedByGitlab { .. } => "model".into(),
            Self::LicenseNotAccepted { model, .. } => format!("license:{model}"),
            Self::UnknownLicense { .. } => "accept_license".into(),
            Self::PrecisionUnavailable { .. } => "precision".into(),
            Self::InvalidTp { .. } => "tp".into(),
            Self::InvalidContext { .. } => "context".into(),
            Self::InvalidDevelopers { .. } => "developers".into(),
            Self::NotApplicable { flag, .. } => flag.clone(),
            Self::CannotStart { .. } => return None,
        })
    }
}
