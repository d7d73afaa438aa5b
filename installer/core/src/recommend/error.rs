//! What can go wrong with a request: each error says what, why, and how to fix it (valid values included).

use crate::catalog::gitlab::VersionError;
use crate::catalog::LookupError;

pub const PLATFORMS: &str = "linux-amd64, linux-arm64, macos-arm64, windows-wsl2";
/// No server board holds more; a larger count is a typo.
pub const MAX_GPUS: u32 = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecommendError {
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error(
        "--gpus '{spec}': {reason}. Write COUNTxNAME, comma-separated (2xL4, 1xA100-80,1xA100-40) or \
         'none'. Valid GPU names: {valid}"
    )]
    GpuSpec {
        spec: String,
        reason: String,
        valid: String,
    },
    #[error("--gpus '{spec}': {count} GPUs is impossible: a host holds 1 to {MAX_GPUS} GPUs")]
    ImpossibleCount { spec: String, count: u64 },
    #[error("unknown platform '{value}'. Valid platforms: {PLATFORMS}")]
    UnknownPlatform { value: String },
    #[error("{0}")]
    Version(#[from] VersionError),
    #[error(
        "GitLab {version} predates GitLab Duo Self-Hosted (self-hosted models arrived in 17.1): \
         upgrade GitLab, or plan for --gitlab-version 17.1 or later"
    )]
    VersionTooOld { version: String },
    #[error("{model} is not supported by GitLab {version} (supported {range}). {hint}")]
    NotSupportedByGitlab {
        model: String,
        version: String,
        range: String,
        hint: String,
    },
    #[error(
        "{model} is under the {license}. To use it anyway, accept the licence explicitly: \
         --accept-license {model}"
    )]
    LicenseNotAccepted { model: String, license: String },
    #[error("--accept-license '{value}' names no licence to accept. Valid values: {valid}")]
    UnknownLicense { value: String, valid: String },
    #[error(
        "{model} has no {precision} checkpoint in the catalog. Available precisions: {available}"
    )]
    PrecisionUnavailable {
        model: String,
        precision: String,
        available: String,
    },
    #[error("--tp {tp}: {reason}")]
    InvalidTp { tp: u32, reason: String },
    #[error("--context {context}: {reason}")]
    InvalidContext { context: u32, reason: String },
    #[error("{flag} does not apply here: {why}")]
    NotApplicable { flag: String, why: String },
    #[error("--platform {platform}: {why}")]
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
