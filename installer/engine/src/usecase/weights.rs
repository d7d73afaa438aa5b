//! The weights commands that need no network: status, verify, export and import of the spec's
//! Hugging Face snapshot, and the local-folder check review and install run before anything starts.

use std::path::{Path, PathBuf};

use aigw_core::catalog::WeightsFormat;
use aigw_core::spec::{DeploymentSpec, Weights};

use super::Error;
use crate::weights::{self as w, Exported, Imported, Verified, WeightsStatus};

/// The spec's Hugging Face weights: (repo, revision, cache directory).
fn hub_weights(s: &DeploymentSpec) -> Result<(&str, &str, &Path), Error> {
    match &s.model.weights {
        Weights::HuggingFace {
            repo,
            revision,
            cache_dir,
            ..
        } => Ok((repo, revision, cache_dir)),
        Weights::Local { .. } => Err(Error::LocalWeights),
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What the cache holds of the spec's snapshot (sizes only, no hashing).
pub fn weights_status(s: &DeploymentSpec) -> Result<WeightsStatus, Error> {
    let (repo, rev, dir) = hub_weights(s)?;
    Ok(w::status(dir, repo, rev)?)
}

/// Hashes every file of the spec's snapshot against its manifest; corrupt blobs are named and removed.
pub fn weights_verify(s: &DeploymentSpec) -> Result<Verified, Error> {
    let (repo, rev, dir) = hub_weights(s)?;
    let m = w::find_manifest(dir, repo, rev)?;
    Ok(w::verify(dir, &m, now())?)
}

/// The snapshot's files and manifest into the folder `out` (for the offline kit).
pub fn weights_export(s: &DeploymentSpec, out: &Path) -> Result<Exported, Error> {
    let (repo, rev, dir) = hub_weights(s)?;
    if out
        .join(aigw_core::weights::manifest::EXPORT_MANIFEST)
        .exists()
    {
        return Err(Error::Exists(out.display().to_string()));
    }
    Ok(w::export_folder(dir, repo, rev, out)?)
}

/// An exported folder into `cache_dir` (the spec's, on the site), every file verified before it is
/// linked.
pub fn weights_import(from: &Path, cache_dir: &Path) -> Result<Imported, Error> {
    Ok(w::import_folder(from, cache_dir, now())?)
}

/// The checkpoint format the spec's vLLM arguments load: Mistral's with `--load-format mistral`.
pub fn weights_format(s: &DeploymentSpec) -> WeightsFormat {
    let args = &s.model.args;
    let mistral = args
        .iter()
        .zip(args.iter().skip(1))
        .any(|(k, v)| k == "--load-format" && v == "mistral")
        || args.iter().any(|a| a == "--load-format=mistral");
    if mistral {
        WeightsFormat::Mistral
    } else {
        WeightsFormat::Hf
    }
}

/// A local weights folder must hold a loadable checkpoint before anything starts: what is missing is
/// named. Hugging Face weights are the fetch's business.
pub fn check_weights(s: &DeploymentSpec) -> Result<Option<PathBuf>, Error> {
    match &s.model.weights {
        Weights::Local { path } => {
            w::check_local(path, weights_format(s), None)?;
            Ok(Some(path.clone()))
        }
        Weights::HuggingFace { .. } => Ok(None),
    }
}

/// As [`check_weights`], for the engine that runs the model: a local folder on a remote engine's host is
/// not judged from here (a workstation folder of that name is not the server's, and the archive API
/// would have to copy the whole folder to list it); the model server names a missing checkpoint in its
/// log, and install says so as a warning.
pub fn check_weights_on(local_engine: bool, s: &DeploymentSpec) -> Result<Option<PathBuf>, Error> {
    match (&s.model.weights, local_engine) {
        (Weights::Local { path }, false) => Ok(Some(path.clone())),
        _ => check_weights(s),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aigw_core::problem::Explain;

    fn spec_with_local(path: &Path, args: &[&str]) -> DeploymentSpec {
        let mut s = DeploymentSpec::from_toml(
            include_str!("../../../../tests/fixtures/specs/hf-mistral-small.toml"),
            "hf-mistral-small.toml",
        )
        .unwrap();
        s.model.weights = Weights::Local {
            path: path.to_path_buf(),
        };
        s.model.args = args.iter().map(|a| a.to_string()).collect();
        s
    }

    #[tokio::test]
    async fn review_refuses_a_local_folder_without_a_checkpoint_naming_what_is_missing() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("params.json"), "{}").unwrap();
        let s = spec_with_local(tmp.path(), &["--load-format", "mistral"]);
        let e = super::super::review(None, &s).await.err().unwrap();
        assert_eq!(e.code(), "weights_incomplete");
        assert_eq!(e.field().as_deref(), Some("model.weights.path"));
        assert!(e.to_string().contains("consolidated*.safetensors"), "{e}");

        std::fs::write(tmp.path().join("consolidated.safetensors"), "x").unwrap();
        assert!(super::super::review(None, &s).await.is_ok());
        // The same folder read as a sharded checkpoint lacks config and weights of that format.
        let hf = spec_with_local(tmp.path(), &[]);
        assert_eq!(weights_format(&hf), WeightsFormat::Hf);
        let e = check_weights(&hf).unwrap_err();
        assert!(e.to_string().contains("*.safetensors weights"), "{e}");
    }

    #[test]
    fn the_weights_commands_refuse_a_local_spec() {
        let s = spec_with_local(Path::new("/srv/m"), &[]);
        assert!(matches!(weights_status(&s), Err(Error::LocalWeights)));
    }
}
