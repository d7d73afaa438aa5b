//! Where the wizard keeps what outlives a window: the spec of the installation it made (so Connect,
//! Manage and the CLI's `--spec` read the same file), through the engine's use-case layer.

use aigw_core::spec::DeploymentSpec;
use aigw_engine::usecase;
use std::path::PathBuf;

use crate::error::UiError;

/// The spec of the installation this wizard made, if any.
pub fn installed_spec() -> Result<Option<(PathBuf, DeploymentSpec)>, UiError> {
    Ok(usecase::installed_spec()?)
}

/// The spec that must exist for this step, or an error that says how to make it.
pub fn require_installed_spec() -> Result<(PathBuf, DeploymentSpec), UiError> {
    installed_spec()?.ok_or_else(|| {
        UiError::new(
            "not_installed",
            "nothing has been installed from this wizard yet",
            Some("finish the Review and Install steps first".into()),
        )
    })
}
