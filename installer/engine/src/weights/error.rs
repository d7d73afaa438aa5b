use aigw_core::problem::Explain;
use aigw_core::weights::hub::HubError;
use aigw_core::weights::layout::LayoutError;
use aigw_core::weights::local::LocalError;
use aigw_core::weights::manifest::ManifestError;

use super::kit_progress::KitOp;

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
    #[error(transparent)]
    Local(#[from] LocalError),
    #[error("no verified weights of {repo} at {revision} in {dir}")]
    NotInCache {
        repo: String,
        revision: String,
        dir: String,
    },
    #[error("{} did not match the manifest: {}", if .corrupt.len() == 1 { "one file" } else { "files" }, .corrupt.join(", "))]
    Tampered { corrupt: Vec<String> },
    #[error("{missing} named in the manifest is not in {dir}")]
    MissingFile { missing: String, dir: String },
    #[error("{0} exists")]
    KitExists(String),
    #[error("the kit's entry {entry} {reason}")]
    BadKit { entry: String, reason: &'static str },
    #[error("cancelled; {}", match .0 {
        KitOp::Export => "what this export had written was removed — run the export again",
        KitOp::Import => "nothing was linked — run the import again",
    })]
    Cancelled(KitOp),
}

impl WeightsError {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| WeightsError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

impl Explain for WeightsError {
    fn code(&self) -> &'static str {
        match self {
            WeightsError::Io { .. } => "io",
            WeightsError::Hub(e) => e.code(),
            WeightsError::Layout(e) => e.code(),
            WeightsError::Manifest(e) => e.code(),
            WeightsError::Local(e) => e.code(),
            WeightsError::NotInCache { .. } => "weights_missing",
            WeightsError::Tampered { .. } => "weights_corrupt",
            WeightsError::MissingFile { .. } => "weights_incomplete",
            WeightsError::KitExists(_) => "exists",
            WeightsError::BadKit { .. } => "weights_kit_invalid",
            WeightsError::Cancelled(_) => "cancelled",
        }
    }
    fn fix(&self) -> Option<String> {
        match self {
            WeightsError::Io { .. } => Some("check the path's permissions and free space".into()),
            WeightsError::Hub(e) => e.fix(),
            WeightsError::Layout(e) => e.fix(),
            WeightsError::Manifest(e) => e.fix(),
            WeightsError::Local(e) => e.fix(),
            WeightsError::NotInCache { .. } => {
                Some("fetch the weights, or import an offline kit exported on a connected machine".into())
            }
            WeightsError::Tampered { .. } => Some(
                "the corrupt files were not used; export the kit again on the connected machine, or fetch them again".into(),
            ),
            WeightsError::MissingFile { .. } => {
                Some("copy the whole exported folder or .tar again".into())
            }
            WeightsError::KitExists(_) => {
                Some("choose another file name; an existing file is never replaced".into())
            }
            WeightsError::BadKit { .. } => Some(
                "nothing was linked; import only a kit written by the weights export, or export it again on the connected machine".into(),
            ),
            // The message says what was undone and what to do.
            WeightsError::Cancelled(_) => None,
        }
    }
    fn field(&self) -> Option<String> {
        match self {
            WeightsError::Hub(e) => e.field(),
            WeightsError::Local(e) => e.field(),
            _ => None,
        }
    }
}
