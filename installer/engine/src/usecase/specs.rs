//! Specs on disk: a spec file checked against the machine it will run on, and the spec of the
//! installation made from here (`<data dir>/aigw-spec.toml`, which the CLI's `--spec` can name too).

use aigw_core::spec::{Context, DeploymentSpec, SpecError};
use std::path::{Path, PathBuf};

use super::{data_dir, Error};
use crate::hardware::gpu::{inventory, GpuProbe, NvmlLibrary};
use crate::hardware::DetectOptions;
use crate::spec_file::SpecFile;

/// Reads and validates a spec. Its GPU ids are checked against this machine's NVML when the engine is
/// this machine (a remote engine's GPUs are not known here).
pub fn load_spec(path: &Path) -> Result<DeploymentSpec, SpecError> {
    let s = DeploymentSpec::load(path)?;
    let local = DetectOptions::from_env().docker_endpoint.is_local();
    let gpus = (local && !s.model.gpus.is_empty()).then(|| {
        let mut ids = inventory(&NvmlLibrary.read()).ids();
        if !ids.is_empty() {
            ids.push("all".into());
        }
        ids
    });
    s.validate_with_files(&Context { gpus })?;
    Ok(s)
}

pub fn installed_spec_path() -> Result<PathBuf, Error> {
    Ok(data_dir()?.join("aigw-spec.toml"))
}

/// The spec of the installation made from here, if any.
pub fn installed_spec() -> Result<Option<(PathBuf, DeploymentSpec)>, Error> {
    let path = installed_spec_path()?;
    if !path.exists() {
        return Ok(None);
    }
    let s = DeploymentSpec::load(&path)?;
    Ok(Some((path, s)))
}

/// Saves the spec of what now runs (install and upgrade return it naming the token file they used).
pub fn save_installed_spec(s: &DeploymentSpec) -> Result<PathBuf, Error> {
    let path = installed_spec_path()?;
    s.save(&path, true)?;
    Ok(path)
}
