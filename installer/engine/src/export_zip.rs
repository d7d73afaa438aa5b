//! Writing an export: the core renders its files as bytes; here they become one zip on disk, and the
//! JWT keys an export with secrets carries are generated.

use aigw_core::catalog::gitlab::jwt_keys_needed;
use aigw_core::export::archive::{
    gitlab_side, sha256_hex, ExportError, ExportFile, ExportManifest, ExportManifestEntry,
    ExportOptions,
};
use aigw_core::secret::Secret;
use aigw_core::spec::DeploymentSpec;
use std::io::Write;
use std::path::Path;

/// Generates the JWT keys this spec's GitLab version needs (RSA 2048, locally).
pub fn generate_keys(
    spec: &DeploymentSpec,
    opts: &ExportOptions,
) -> Result<Vec<(String, Secret)>, ExportError> {
    let side = gitlab_side(spec, opts)?;
    jwt_keys_needed(side.version, side.agent_platform.is_some())
        .into_iter()
        .map(|k| {
            crate::secrets::generate_rsa_2048()
                .map(|pem| (k.env.to_string(), Secret::from(pem)))
                .map_err(|e| ExportError::Version(e.to_string()))
        })
        .collect()
}

/// Builds the zip in memory, then writes it atomically: never over an existing file unless `force`,
/// never a partial zip; mode 0600 when it holds secrets.
pub fn write_zip(
    files: &[ExportFile],
    spec: &DeploymentSpec,
    opts: &ExportOptions,
    out: &Path,
    force: bool,
) -> Result<ExportManifest, ExportError> {
    let has_secrets = files.iter().any(|f| f.path.starts_with("secrets/"));
    let manifest = ExportManifest {
        generator: format!("aigw-installer {}", env!("CARGO_PKG_VERSION")),
        gitlab_version: spec.gitlab.version.clone(),
        install_type: opts.install.to_string(),
        contains_secrets: has_secrets,
        files: files
            .iter()
            .map(|f| ExportManifestEntry {
                path: f.path.clone(),
                sha256: sha256_hex(&f.bytes),
                bytes: f.bytes.len() as u64,
            })
            .collect(),
    };
    let werr = |detail: String| ExportError::Write {
        path: out.display().to_string(),
        detail,
    };
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = |mode: u32| {
        zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(mode)
    };
    let manifest_json = serde_json::to_vec_pretty(&manifest).map_err(|e| werr(e.to_string()))?;
    let all = files
        .iter()
        .map(|f| (f.path.as_str(), f.bytes.as_slice()))
        .chain(std::iter::once(("manifest.json", manifest_json.as_slice())));
    for (path, bytes) in all {
        let mode = if path.starts_with("secrets/") {
            0o600
        } else if path.ends_with(".sh") {
            0o755
        } else {
            0o644
        };
        zip.start_file(path, options(mode))
            .map_err(|e| werr(e.to_string()))?;
        zip.write_all(bytes).map_err(|e| werr(e.to_string()))?;
    }
    let bytes = zip.finish().map_err(|e| werr(e.to_string()))?.into_inner();
    let mode = if has_secrets { 0o600 } else { 0o644 };
    crate::fsutil::write_new(out, &bytes, force, mode).map_err(|e| match e {
        crate::fsutil::WriteError::Exists => ExportError::Exists(out.display().to_string()),
        crate::fsutil::WriteError::Io(io) => werr(io.to_string()),
    })?;
    Ok(manifest)
}
