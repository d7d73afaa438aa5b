//! The export: every file another admin needs to apply the GitLab side and run the services without the
//! installer, rendered by the core and written here as one zip.

use aigw_core::export::archive::{export_files, ExportManifest, ExportOptions};
use aigw_core::secret::Secret;
use aigw_core::spec::{DeploymentSpec, Weights};
use std::path::Path;

use super::Error;
use crate::export_zip;

pub struct Exported {
    pub manifest: ExportManifest,
    /// Every file in the zip, the manifest included.
    pub files: Vec<String>,
}

/// Writes the zip (never over a file unless `force`). With `opts.include_secrets`, the Hugging Face
/// token (the spec's token file, else `env_token`) and newly generated JWT keys go into it, unless given.
pub fn export(
    s: &DeploymentSpec,
    mut opts: ExportOptions,
    env_token: Option<&str>,
    out: &Path,
    force: bool,
) -> Result<Exported, Error> {
    if opts.include_secrets {
        if opts.hf_token.is_none() {
            opts.hf_token = match &s.model.weights {
                Weights::HuggingFace {
                    token_file: Some(f),
                    ..
                } => Some(
                    std::fs::read_to_string(f)
                        .map_err(|source| Error::ReadToken {
                            path: f.display().to_string(),
                            source,
                        })?
                        .trim()
                        .into(),
                ),
                _ => env_token.map(Secret::from),
            };
        }
        if opts.jwt_keys.is_empty() {
            opts.jwt_keys = export_zip::generate_keys(s, &opts)?;
        }
    }
    let files = export_files(s, &opts)?;
    let manifest = export_zip::write_zip(&files, s, &opts, out, force)?;
    let files = manifest
        .files
        .iter()
        .map(|f| f.path.clone())
        .chain(std::iter::once("manifest.json".to_string()))
        .collect();
    Ok(Exported { manifest, files })
}
