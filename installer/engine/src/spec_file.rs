//! Reading and writing the deployment spec's file (the core only parses and renders its TOML).

use aigw_core::spec::{invalid, Context, DeploymentSpec, SpecError, Weights};
use std::path::Path;

/// `DeploymentSpec::load(path)` and `spec.save(path, force)`, for the front ends.
pub trait SpecFile: Sized {
    fn load(path: &Path) -> Result<Self, SpecError>;
    /// Writes the spec; never replaces an existing file unless `force`, never leaves a half-written file.
    fn save(&self, path: &Path, force: bool) -> Result<(), SpecError>;
    /// The core's validation, then the checks that read the disk (see [`check_files`]).
    fn validate_with_files(&self, ctx: &Context) -> Result<(), SpecError>;
}

/// What validation must ask the disk: a local weights folder exists, a token file is private.
pub fn check_files(spec: &DeploymentSpec) -> Result<(), SpecError> {
    match &spec.model.weights {
        Weights::Local { path } if !path.is_dir() => Err(invalid(
            "model.weights.path",
            format!("{} does not exist or is not a directory", path.display()),
            "copy the checkpoint there first, or use source = \"hugging_face\"",
        )),
        Weights::HuggingFace {
            token_file: Some(f),
            ..
        } => crate::fsutil::check_secret_file(f).map_err(|problem| {
            invalid(
                "model.weights.token_file",
                problem,
                format!("chmod 600 {}", f.display()),
            )
        }),
        _ => Ok(()),
    }
}

impl SpecFile for DeploymentSpec {
    fn load(path: &Path) -> Result<Self, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }
    fn save(&self, path: &Path, force: bool) -> Result<(), SpecError> {
        crate::fsutil::write_new(path, self.to_toml().as_bytes(), force, 0o644).map_err(|e| match e
        {
            crate::fsutil::WriteError::Exists => SpecError::Exists {
                path: path.display().to_string(),
            },
            crate::fsutil::WriteError::Io(source) => SpecError::Write {
                path: path.display().to_string(),
                source,
            },
        })
    }

    fn validate_with_files(&self, ctx: &Context) -> Result<(), SpecError> {
        self.validate(ctx)?;
        check_files(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const EXAMPLE: &str = include_str!("../../../tests/fixtures/specs/hf-mistral-small.toml");

    #[test]
    fn missing_weights_folder_and_shared_token_file_are_refused() {
        let mut s = DeploymentSpec::from_toml(EXAMPLE, "example").unwrap();
        s.model.weights = Weights::Local {
            path: "/nonexistent/weights".into(),
        };
        let e = s
            .validate_with_files(&Context::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("model.weights.path") && e.contains("does not exist"),
            "{e}"
        );

        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "hf_x").unwrap();
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut s = DeploymentSpec::from_toml(EXAMPLE, "example").unwrap();
        if let Weights::HuggingFace { token_file, .. } = &mut s.model.weights {
            *token_file = Some(token.clone());
        }
        let e = s
            .validate_with_files(&Context::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("model.weights.token_file") && e.contains("0600"),
            "{e}"
        );
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
        s.validate_with_files(&Context::default()).unwrap();
    }
}
