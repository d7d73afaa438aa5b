//! The one error shape the page receives: `{code, message, fix, field}`. Every engine error maps here;
//! none carries a secret (the engine's messages never include the token or keys).

use aigw_core::export::archive::ExportError;
use aigw_core::spec::SpecError;
use aigw_engine::docker::deploy::DeployError;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct UiError {
    pub code: &'static str,
    pub message: String,
    pub fix: Option<String>,
    /// The spec (or form) field at fault, so the page can mark its input.
    pub field: Option<String>,
}

impl UiError {
    pub fn new(code: &'static str, message: impl ToString, fix: Option<&str>) -> Self {
        Self {
            code,
            message: message.to_string(),
            fix: fix.map(str::to_string),
            field: None,
        }
    }

    pub fn input(message: impl ToString, fix: &str) -> Self {
        Self::new("invalid_input", message, Some(fix))
    }

    pub fn field(field: &str, message: impl ToString, fix: &str) -> Self {
        Self {
            field: Some(field.to_string()),
            ..Self::input(message, fix)
        }
    }
}

impl From<SpecError> for UiError {
    fn from(e: SpecError) -> Self {
        let field = match &e {
            SpecError::Input(i) => Some(i.field.clone()),
            SpecError::Invalid { field, .. } => Some(field.clone()),
            _ => None,
        };
        Self {
            field,
            ..Self::new("invalid_input", e, None)
        }
    }
}

impl From<DeployError> for UiError {
    fn from(e: DeployError) -> Self {
        if let DeployError::Spec(s) = e {
            return s.into();
        }
        let (code, fix) = match &e {
            DeployError::Spec(_) => ("invalid_input", "correct the field named above"),
            DeployError::Blocked(_) => (
                "blocked",
                "free what is named above (or change the ports in Configure), then install again",
            ),
            DeployError::Engine { .. } => (
                "engine",
                "check that the Docker engine is running and reachable, then try again",
            ),
            DeployError::Pull { .. } => (
                "pull_failed",
                "load the images from an offline bundle (Configure → Offline image bundle), or give this machine registry access",
            ),
            DeployError::Unhealthy { .. } => (
                "unhealthy",
                "read the log lines above for the cause; everything this run changed was put back",
            ),
            DeployError::SmokeTest { .. } => (
                "smoke_test_failed",
                "the servers are up but a completion failed: read the detail above",
            ),
            DeployError::Cancelled { .. } => (
                "cancelled",
                "nothing is left half-made; install again when ready",
            ),
        };
        Self::new(code, e, Some(fix))
    }
}

impl From<ExportError> for UiError {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::Exists(path) => Self::field(
                "export.path",
                format!("{path} already exists"),
                "choose another file name (Choose… asks before it replaces a file)",
            ),
            ExportError::Write { .. } => {
                Self::new("export_failed", e, Some("choose a folder you can write to"))
            }
            other => Self::new("export_failed", other, None),
        }
    }
}

/// The engine could not be reached: the same finding (message and fix) as the system check gives.
impl From<aigw_core::preflight::Finding> for UiError {
    fn from(f: aigw_core::preflight::Finding) -> Self {
        Self {
            fix: f.fix,
            ..Self::new("docker_unreachable", f.message, None)
        }
    }
}

impl UiError {
    /// Message and fix on one line, for a page that reports the problem rather than failing on it.
    pub fn one_line(&self) -> String {
        match &self.fix {
            Some(fix) => format!("{} — {fix}", self.message),
            None => self.message.clone(),
        }
    }
}
