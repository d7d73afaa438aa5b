//! Where the wizard keeps what outlives a window: the spec of the installation it made (so Connect,
//! Manage and the CLI's `--spec` read the same file), beside the engine's token file and JWT keys.

use aigw_core::spec::DeploymentSpec;
use aigw_engine::docker::engine::{Connection, Endpoint};
use aigw_engine::spec_file::SpecFile;
use std::path::PathBuf;

use crate::error::UiError;

pub fn data_dir() -> Result<PathBuf, UiError> {
    aigw_engine::logging::data_dir().ok_or_else(|| {
        UiError::new(
            "no_data_dir",
            "this user has no data directory",
            Some("set HOME (or XDG_DATA_HOME) and start the installer again"),
        )
    })
}

/// `~/.local/share/aigw-installer/aigw-spec.toml`.
pub fn installed_spec_path() -> Result<PathBuf, UiError> {
    Ok(data_dir()?.join("aigw-spec.toml"))
}

/// The spec of the installation this wizard made, if any.
pub fn installed_spec() -> Result<Option<(PathBuf, DeploymentSpec)>, UiError> {
    let path = installed_spec_path()?;
    if !path.exists() {
        return Ok(None);
    }
    let s = DeploymentSpec::load(&path)?;
    Ok(Some((path, s)))
}

/// The spec that must exist for this step, or an error that says how to make it.
pub fn require_installed_spec() -> Result<(PathBuf, DeploymentSpec), UiError> {
    installed_spec()?.ok_or_else(|| {
        UiError::new(
            "not_installed",
            "nothing has been installed from this wizard yet",
            Some("finish the Review and Install steps first"),
        )
    })
}

/// The engine `DOCKER_HOST` names (or this machine's), or the system check's message and fix.
pub async fn connect() -> Result<(Connection, Endpoint), UiError> {
    aigw_engine::hardware::connect_docker()
        .await
        .map_err(UiError::from)
}
