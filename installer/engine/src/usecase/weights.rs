//! The weights commands that need no network: status, verify, export and import of the spec's
//! Hugging Face snapshot, and the local-folder check review and install run before anything starts.

use std::path::{Path, PathBuf};

use aigw_core::catalog::WeightsFormat;
use aigw_core::spec::{DeploymentSpec, Weights};
use aigw_core::weights::local::{size_basis, LocalCheckpoint, LocalFile};

use tokio_util::sync::CancellationToken;

use super::Error;
use crate::docker::events::{emit, Event, PhaseState, Sink};
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

/// How an offline kit's weights are written: a folder of files, or one `.tar`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KitFormat {
    Folder,
    Tar,
}

impl KitFormat {
    /// The format asked for, else the one `out`'s name implies (`.tar`: one file).
    pub fn for_out(asked: Option<KitFormat>, out: &Path) -> KitFormat {
        asked.unwrap_or_else(|| {
            if out
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("tar"))
            {
                KitFormat::Tar
            } else {
                KitFormat::Folder
            }
        })
    }
}

/// Knobs of an export or import; the default copies as fast as the disks go.
#[derive(Debug, Clone, Copy, Default)]
pub struct KitOptions {
    /// Bytes per second at most (tests, and a slow disk shared with others).
    pub max_bytes_per_sec: Option<u64>,
}

/// Runs one kit copy off the async runtime (it reads and writes tens of GB), between its phase events.
async fn kit_phase<T: Send + 'static>(
    phase: String,
    sink: &Sink,
    copy: impl FnOnce() -> Result<T, w::WeightsError> + Send + 'static,
) -> Result<T, Error> {
    let event = |state| Event::Phase {
        phase: phase.clone(),
        state,
    };
    emit(sink, event(PhaseState::Started));
    let result = tokio::task::spawn_blocking(copy).await.unwrap_or_else(|e| {
        Err(w::WeightsError::Io {
            path: phase.clone(),
            source: std::io::Error::other(e.to_string()),
        })
    });
    emit(
        sink,
        event(if result.is_ok() {
            PhaseState::Done
        } else {
            PhaseState::Failed
        }),
    );
    Ok(result?)
}

/// The snapshot's manifest and files into `out` (for the offline kit): a folder (created), or a new
/// `.tar` (never over an existing file; nothing left there on failure). Events: the phase, each file and
/// the total as they are copied; a cancel removes what this export wrote.
pub async fn weights_export(
    s: &DeploymentSpec,
    out: &Path,
    format: KitFormat,
    opts: &KitOptions,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<Exported, Error> {
    let (repo, rev, dir) = hub_weights(s)?;
    let taken = match format {
        KitFormat::Tar => out.exists(),
        KitFormat::Folder => out
            .join(aigw_core::weights::manifest::EXPORT_MANIFEST)
            .exists(),
    };
    if taken {
        return Err(Error::Exists(out.display().to_string()));
    }
    let ctl = kit_control(opts, sink, cancel);
    let (repo, rev, dir, dst) = (
        repo.to_string(),
        rev.to_string(),
        dir.to_path_buf(),
        out.to_path_buf(),
    );
    let phase = format!("weights export: {repo} to {}", out.display());
    kit_phase(phase, sink, move || match format {
        KitFormat::Tar => w::export_tar(&dir, &repo, &rev, &dst, &ctl),
        KitFormat::Folder => w::export_folder(&dir, &repo, &rev, &dst, &ctl),
    })
    .await
}

/// An exported folder or `.tar` into `cache_dir` (the spec's, on the site), every file verified before
/// it is linked. Events as [`weights_export`]'s; a cancel links nothing.
pub async fn weights_import(
    from: &Path,
    cache_dir: &Path,
    opts: &KitOptions,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<Imported, Error> {
    let ctl = kit_control(opts, sink, cancel);
    let (src, dst) = (from.to_path_buf(), cache_dir.to_path_buf());
    let phase = format!(
        "weights import: {} into {}",
        from.display(),
        cache_dir.display()
    );
    kit_phase(phase, sink, move || {
        if src.is_file() {
            w::import_tar(&src, &dst, now(), &ctl)
        } else {
            w::import_folder(&src, &dst, now(), &ctl)
        }
    })
    .await
}

fn kit_control(opts: &KitOptions, sink: &Sink, cancel: &CancellationToken) -> w::KitControl {
    w::KitControl {
        max_bytes_per_sec: opts.max_bytes_per_sec,
        ..w::KitControl::new(sink, cancel)
    }
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
/// named, and safetensors well under the catalog's size for the model at the precision the folder
/// declares are refused. Hugging Face weights are the fetch's business.
pub fn check_weights(s: &DeploymentSpec) -> Result<Option<LocalWeights>, Error> {
    match &s.model.weights {
        Weights::Local { path } => {
            let catalog = aigw_core::catalog::Catalog::builtin()
                .map_err(|e| aigw_core::export::archive::ExportError::Version(e.to_string()))?;
            let model = aigw_core::gitlab::support::catalog_model(s, &catalog);
            let config = w::read_config(path)?;
            let basis = size_basis(model, &s.model.served_model_name, config.as_deref());
            let checkpoint = w::check_local(path, weights_format(s), &basis)?;
            Ok(Some(LocalWeights {
                path: path.clone(),
                files: w::list_folder(path)?,
                checkpoint,
            }))
        }
        Weights::HuggingFace { .. } => Ok(None),
    }
}

/// A local folder that passed [`check_weights`]: what Review lists.
#[derive(Debug, Clone)]
pub struct LocalWeights {
    pub path: PathBuf,
    /// Every file of the folder (two levels deep), sorted.
    pub files: Vec<LocalFile>,
    pub checkpoint: LocalCheckpoint,
}

/// As [`check_weights`], for the engine that runs the model: a local folder on a remote engine's host is
/// not judged from here (a workstation folder of that name is not the server's, and the archive API
/// would have to copy the whole folder to list it); the model server names a missing checkpoint in its
/// log, and install says so as a warning.
pub fn check_weights_on(
    local_engine: bool,
    s: &DeploymentSpec,
) -> Result<Option<LocalWeights>, Error> {
    match (&s.model.weights, local_engine) {
        (Weights::Local { .. }, false) => Ok(None),
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
        let e = super::super::review(None, &s, None).await.err().unwrap();
        assert_eq!(e.code(), "weights_incomplete");
        assert_eq!(e.field().as_deref(), Some("model.weights.path"));
        assert!(e.to_string().contains("consolidated*.safetensors"), "{e}");

        std::fs::write(tmp.path().join("consolidated.safetensors"), "x").unwrap();
        // The stand-in's served name is none of the catalog's, so the size is not weighed…
        let r = super::super::review(None, &s, None).await.unwrap();
        assert!(matches!(
            r.weights,
            Some(crate::usecase::WeightsReview::Local { size_note: Some(ref n), .. })
                if n.contains("does not know the model \"mistral-small-3.2-24b\"")
        ));
        // …the catalog's own name is.
        let mut s = s;
        s.model.served_model_name = "mistral-small-3.2-24b-instruct-2506".into();
        // Every file there, but one byte where the catalog's Mistral Small in bf16 weighs ≈ 48 GB.
        let e = super::super::review(None, &s, None).await.err().unwrap();
        assert_eq!(e.code(), "weights_incomplete");
        assert!(
            e.to_string().contains("in bf16 needs ≈ ")
                && e.to_string()
                    .contains("a shard is missing or it is another model"),
            "{e}"
        );
        // A checkpoint whose quantisation the catalog has no size for is not weighed; Review says so.
        std::fs::write(
            tmp.path().join("params.json"),
            r#"{"quantization":{"quant_method":"bitsandbytes"}}"#,
        )
        .unwrap();
        let r = super::super::review(None, &s, None).await.unwrap();
        let Some(crate::usecase::WeightsReview::Local {
            size_note, files, ..
        }) = r.weights
        else {
            panic!("a local review")
        };
        assert!(
            size_note.is_some_and(|n| n.starts_with("size not checked: ")),
            "size note"
        );
        assert_eq!(files.len(), 2);
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
