//! Secrets on disk: the Hugging Face token file and the gateway's JWT keys (0600 files in the data
//! directory), and generating those keys. The spec names files, never secrets.
//!
//! JWT keys: the docs generate them with `openssl genrsa 2048`; we generate the same key in Rust (the `rsa`
//! crate, the operating system's random numbers) and write it as `openssl genrsa` does by default: PKCS#8
//! PEM, `-----BEGIN PRIVATE KEY-----`. No `openssl` program is needed.

use aigw_core::catalog::gitlab::jwt_keys_needed;
use aigw_core::secret::Secret;
use aigw_core::spec::{invalid, DeploymentSpec, SpecError, Weights};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use crate::fsutil::check_secret_file;

/// Key generation failed: the operating system gave no random numbers, or encoding failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot generate an RSA key ({0}); check that the system's random number source (getrandom, \
         /dev/urandom) works, or export without secrets and generate the keys as the export's README says")]
pub struct KeygenError(String);

/// The size of the keys we generate, as the docs' `openssl genrsa 2048`.
pub const RSA_BITS: usize = 2048;

/// A new RSA-2048 private key, PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), from the OS's randomness.
pub fn generate_rsa_2048() -> Result<String, KeygenError> {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let mut rng = rsa::rand_core::OsRng;
    let key =
        rsa::RsaPrivateKey::new(&mut rng, RSA_BITS).map_err(|e| KeygenError(e.to_string()))?;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| KeygenError(e.to_string()))?;
    Ok(pem.as_str().to_owned())
}

/// The token file to mount for a Hugging Face download: the spec's (checked 0600), else `HF_TOKEN` from
/// the environment written to `<data_dir>/hf_token` with mode 0600, else that file from an earlier run.
/// Once given, the token stays: a later run from a shell without `HF_TOKEN` mounts the same file, so
/// `plan` and `apply` describe the same container whatever the environment. `None` for local weights or
/// no token at all.
pub fn resolve_token_file(
    spec: &DeploymentSpec,
    env_token: Option<&str>,
    data_dir: &Path,
) -> Result<Option<PathBuf>, SpecError> {
    let Weights::HuggingFace { token_file, .. } = &spec.model.weights else {
        return Ok(None);
    };
    if let Some(f) = token_file {
        crate::fsutil::check_secret_file(f).map_err(|p| {
            invalid(
                "model.weights.token_file",
                p,
                format!("chmod 600 {}", f.display()),
            )
        })?;
        return Ok(Some(f.clone()));
    }
    let path = data_dir.join(TOKEN_FILE);
    let Some(token) = env_token.map(str::trim).filter(|t| !t.is_empty()) else {
        return stored_token_file(data_dir);
    };
    std::fs::create_dir_all(data_dir).map_err(|source| SpecError::Write {
        path: data_dir.display().to_string(),
        source,
    })?;
    crate::fsutil::write_new(&path, token.as_bytes(), true, 0o600).map_err(|e| {
        SpecError::Write {
            path: path.display().to_string(),
            source: match e {
                crate::fsutil::WriteError::Io(io) => io,
                crate::fsutil::WriteError::Exists => std::io::Error::other("exists"),
            },
        }
    })?;
    Ok(Some(path))
}

/// Where a token given through `HF_TOKEN` is kept, in the data directory.
const TOKEN_FILE: &str = "hf_token";

/// The token an earlier run kept (checked 0600), without writing anything: what `plan` mounts.
pub fn stored_token_file(data_dir: &Path) -> Result<Option<PathBuf>, SpecError> {
    let path = data_dir.join(TOKEN_FILE);
    if !path.exists() {
        return Ok(None);
    }
    crate::fsutil::check_secret_file(&path).map_err(|p| {
        invalid(
            "model.weights.token_file",
            p,
            format!("chmod 600 {}", path.display()),
        )
    })?;
    Ok(Some(path))
}

/// Where a GitLab token (read_api, for `gitlab version` / Detect) is kept when the admin asks, in the data
/// directory; never in the spec, an export or a log.
pub const GITLAB_TOKEN_FILE: &str = "gitlab_token";

fn write_error(path: &Path, e: std::io::Error) -> SpecError {
    SpecError::Write {
        path: path.display().to_string(),
        source: e,
    }
}

/// Keeps `token` as `<data_dir>/gitlab_token`, mode 0600 (replacing an earlier one).
pub fn keep_gitlab_token(data_dir: &Path, token: &Secret) -> Result<PathBuf, SpecError> {
    let path = data_dir.join(GITLAB_TOKEN_FILE);
    std::fs::create_dir_all(data_dir).map_err(|e| write_error(data_dir, e))?;
    crate::fsutil::write_new(&path, token.expose().trim().as_bytes(), true, 0o600).map_err(
        |e| match e {
            crate::fsutil::WriteError::Io(io) => write_error(&path, io),
            crate::fsutil::WriteError::Exists => {
                write_error(&path, std::io::Error::other("exists"))
            }
        },
    )?;
    Ok(path)
}

/// The GitLab token kept earlier (its file checked 0600, refused otherwise), or none.
pub fn kept_gitlab_token(data_dir: &Path) -> Result<Option<(PathBuf, Secret)>, SpecError> {
    let path = data_dir.join(GITLAB_TOKEN_FILE);
    if !path.exists() {
        return Ok(None);
    }
    crate::fsutil::check_secret_file(&path)
        .map_err(|p| invalid("gitlab.token", p, format!("chmod 600 {}", path.display())))?;
    let text = std::fs::read_to_string(&path).map_err(|e| write_error(&path, e))?;
    let token = text.trim();
    Ok((!token.is_empty()).then(|| (path, Secret::new(token))))
}

/// Removes the kept GitLab token; the file's path when there was one.
pub fn forget_gitlab_token(data_dir: &Path) -> Result<Option<PathBuf>, SpecError> {
    let path = data_dir.join(GITLAB_TOKEN_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(Some(path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(write_error(&path, e)),
    }
}

/// The token file `plan` would mount: the spec's, else the one an earlier run kept. Reads the
/// environment never, so a plan does not depend on the shell it runs in.
pub fn planned_token_file(
    spec: &DeploymentSpec,
    data_dir: &Path,
) -> Result<Option<PathBuf>, SpecError> {
    match &spec.model.weights {
        Weights::HuggingFace {
            token_file: Some(f),
            ..
        } => Ok(Some(f.clone())),
        Weights::HuggingFace { .. } => stored_token_file(data_dir),
        Weights::Local { .. } => Ok(None),
    }
}

/// The JWT keys the gateway needs for this GitLab version (18.10+), kept as 0600 files under
/// `<data_dir>/jwt/` and generated locally on first use when `generate`; returned as gateway environment.
pub fn resolve_jwt_keys(
    spec: &DeploymentSpec,
    data_dir: &Path,
    generate: bool,
) -> Result<BTreeMap<String, Secret>, SpecError> {
    let version: aigw_core::catalog::gitlab::GitlabVersion =
        spec.gitlab
            .version
            .parse()
            .map_err(|e: aigw_core::catalog::gitlab::VersionError| {
                invalid("gitlab.version", e.to_string(), "e.g. 18.11.0")
            })?;
    let dir = data_dir.join("jwt");
    let werr = |path: &Path, source: std::io::Error| SpecError::Write {
        path: path.display().to_string(),
        source,
    };
    let mut env = BTreeMap::new();
    for key in jwt_keys_needed(version, spec.agent_platform_served()) {
        let name = key.file.rsplit('/').next().unwrap_or(key.file);
        let path = dir.join(name);
        if !path.exists() {
            if !generate {
                continue;
            }
            std::fs::create_dir_all(&dir).map_err(|e| werr(&dir, e))?;
            let pem = generate_rsa_2048().map_err(|e| {
                invalid(
                    "gitlab.version",
                    format!("GitLab {} needs JWT keys: {e}", spec.gitlab.version),
                    "check the system's random number source, then run again",
                )
            })?;
            crate::fsutil::write_new(&path, pem.as_bytes(), false, 0o600).map_err(|e| match e {
                crate::fsutil::WriteError::Io(io) => werr(&path, io),
                crate::fsutil::WriteError::Exists => {
                    werr(&path, std::io::Error::other("appeared meanwhile"))
                }
            })?;
        }
        crate::fsutil::check_secret_file(&path)
            .map_err(|p| invalid("jwt keys", p, format!("chmod 600 {}", path.display())))?;
        let pem = std::fs::read_to_string(&path).map_err(|e| werr(&path, e))?;
        env.insert(key.env.to_string(), Secret::from(pem));
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;
    const EXAMPLE: &str = include_str!("../../../tests/fixtures/specs/hf-mistral-small.toml");
    #[test]
    fn a_token_from_the_environment_lands_in_a_private_file_never_in_the_spec() {
        use std::os::unix::fs::PermissionsExt;
        let s = DeploymentSpec::from_toml(EXAMPLE, "example").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let f = resolve_token_file(&s, Some("hf_secret123"), dir.path())
            .unwrap()
            .unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "hf_secret123");
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // Later runs without HF_TOKEN mount the same file, and a plan names it too.
        assert_eq!(
            resolve_token_file(&s, None, dir.path()).unwrap(),
            Some(f.clone())
        );
        assert_eq!(planned_token_file(&s, dir.path()).unwrap(), Some(f.clone()));
        // Never given: nothing to mount.
        let empty = tempfile::tempdir().unwrap();
        assert!(resolve_token_file(&s, None, empty.path())
            .unwrap()
            .is_none());
        assert!(planned_token_file(&s, empty.path()).unwrap().is_none());
    }

    #[test]
    fn a_gitlab_token_is_kept_0600_reused_and_forgotten() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        assert!(kept_gitlab_token(&data).unwrap().is_none());
        let path = keep_gitlab_token(&data, &Secret::new("glpat-kept123 ")).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (at, t) = kept_gitlab_token(&data).unwrap().unwrap();
        assert_eq!(
            (at.as_path(), t.expose()),
            (path.as_path(), "glpat-kept123")
        );
        // A file others can read is refused, not used.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(kept_gitlab_token(&data).is_err());
        assert_eq!(forget_gitlab_token(&data).unwrap(), Some(path));
        assert_eq!(forget_gitlab_token(&data).unwrap(), None);
        assert!(kept_gitlab_token(&data).unwrap().is_none());
    }

    #[test]
    fn keys_are_real_rsa_2048_pkcs8() {
        use rsa::pkcs8::DecodePrivateKey;
        use rsa::traits::PublicKeyParts;
        let pem = generate_rsa_2048().unwrap();
        assert!(
            pem.starts_with("-----BEGIN PRIVATE KEY-----\n"),
            "{}",
            &pem[..30]
        );
        assert!(pem.trim_end().ends_with("-----END PRIVATE KEY-----"));
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(&pem).unwrap();
        assert!(key.size() * 8 >= RSA_BITS);
        key.validate().unwrap();
        assert_ne!(pem, generate_rsa_2048().unwrap(), "each key is new");
    }
}
