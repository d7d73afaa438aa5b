//! Connect GitLab: the installed spec's GitLab-side snippets (for its version and install type), the
//! values of the model registration, and the export zip — the same engine calls as `snippets`/`export`.

use aigw_core::export::archive::{self, ExportOptions};
use aigw_core::gitlab::config::{self, InstallType, ModelRegistration, Snippet};
use aigw_core::spec::DeploymentSpec;
use aigw_engine::spec_file::SpecFile;
use aigw_engine::usecase;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::error::{field, UiError};
use crate::store;

#[derive(Debug, Serialize)]
pub struct ConnectInfo {
    pub gitlab_url: String,
    pub gitlab_version: String,
    pub install_type: String,
    pub install_label: String,
    pub gateway_url: String,
    /// In the order an admin applies them.
    pub snippets: Vec<Snippet>,
    pub registration: ModelRegistration,
    /// The installed spec's path, or a note that this is the reviewed, not installed, plan.
    pub spec_origin: String,
}

fn install_type(s: &DeploymentSpec, choice: &str) -> Result<InstallType, UiError> {
    if choice.trim().is_empty() {
        return Ok(s.gitlab.install_type);
    }
    choice.parse::<InstallType>().map_err(|e| {
        field(
            "connect.install_type",
            e.to_string(),
            "choose one of the listed install types",
        )
    })
}

/// The reviewed spec (planning without installing: no Docker here, or export only), else the installed one.
fn spec_for(spec_toml: Option<&str>) -> Result<(String, DeploymentSpec), UiError> {
    match spec_toml.filter(|t| !t.trim().is_empty()) {
        Some(text) => {
            let s = DeploymentSpec::from_toml(text, "the reviewed plan")?;
            s.validate_with_files(&Default::default())?;
            Ok(("not installed: the reviewed plan".into(), s))
        }
        None => {
            let (path, s) = store::require_installed_spec()?;
            Ok((path.display().to_string(), s))
        }
    }
}

/// The snippets for the reviewed or installed spec; `install_type` shows another install type's settings.
#[tauri::command]
pub fn connect_info(
    spec_toml: Option<String>,
    install_type_choice: Option<String>,
) -> Result<ConnectInfo, UiError> {
    let (origin, s) = spec_for(spec_toml.as_deref())?;
    let install = install_type(&s, install_type_choice.as_deref().unwrap_or(""))?;
    let side = archive::gitlab_side(&s, &ExportOptions::without_secrets(install))?;
    let snippets = config::snippets(&side).map_err(archive::ExportError::from)?;
    Ok(ConnectInfo {
        gitlab_url: side.gitlab.as_str().to_string(),
        gitlab_version: s.gitlab.version.clone(),
        install_type: install.as_str().to_string(),
        install_label: install.label().to_string(),
        gateway_url: side.gateway_url.clone(),
        snippets,
        registration: side.model,
        spec_origin: origin,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExportArgs {
    /// The reviewed spec when exporting without installing; empty: the installed spec.
    pub spec_toml: String,
    pub path: String,
    /// The save dialog already asked before replacing a file; a typed path never replaces one.
    pub overwrite: bool,
    pub install_type: String,
}

#[derive(Debug, Serialize)]
pub struct Exported {
    pub path: String,
    pub files: Vec<String>,
}

/// Writes the export zip (no secrets: the token and JWT keys stay on this machine).
#[tauri::command]
pub fn export_zip(args: ExportArgs) -> Result<Exported, UiError> {
    let (_, s) = spec_for(Some(&args.spec_toml))?;
    let raw = args.path.trim();
    if raw.is_empty() {
        return Err(field(
            "export.path",
            "no file was chosen",
            "press Choose… or type a path ending in .zip",
        ));
    }
    let mut out = PathBuf::from(raw);
    if out.extension().is_none() {
        out.set_extension("zip");
    }
    if !out.is_absolute() {
        return Err(field(
            "export.path",
            format!("{raw} is not a full path"),
            "press Choose…, or type a path starting with /",
        ));
    }
    let opts = ExportOptions::without_secrets(install_type(&s, &args.install_type)?);
    let done = usecase::export(&s, opts, None, &out, args.overwrite)?;
    Ok(Exported {
        path: out.display().to_string(),
        files: done.files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The snippets, the registration and the gateway URL name the spec's gateway host (the server the
    /// admin chose), never the workstation the wizard runs on.
    #[test]
    fn the_snippets_name_the_server_not_this_workstation() {
        let spec = include_str!("../../tests/fixtures/specs/hf-mistral-small.toml")
            .replace("aigw.example.com", "gpu01.lab.example");
        let info = connect_info(Some(spec), None).unwrap();
        assert!(
            info.gateway_url.contains("gpu01.lab.example"),
            "{}",
            info.gateway_url
        );
        let all = format!(
            "{} {} {}",
            info.gateway_url,
            info.registration.endpoint,
            info.snippets
                .iter()
                .map(|s| s.body.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert!(all.contains("gpu01.lab.example"), "{all}");
        let workstation = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let workstation = workstation.trim();
        if !workstation.is_empty() && !"gpu01.lab.example".contains(workstation) {
            assert!(!all.contains(workstation), "{workstation} in {all}");
        }
    }
}
