//! What runs (found by our labels, never by name alone), its logs, and uninstall.

use aigw_core::plan::Component;
use aigw_core::spec::{DeploymentSpec, Weights};
use futures_util::{Stream, StreamExt};
use std::path::{Path, PathBuf};

use super::{Error, Session};
use crate::docker::manage::{self, ContainerStatus, Removed};

pub async fn status(t: &Session) -> Result<Vec<ContainerStatus>, Error> {
    Ok(manage::status(&t.conn.docker).await?)
}

/// The component's log lines (the last `tail`); with `follow`, the stream stays open for new ones.
pub async fn logs(
    t: &Session,
    component: Component,
    tail: u32,
    follow: bool,
) -> Result<(String, impl Stream<Item = Result<String, Error>> + '_), Error> {
    let name = manage::container_of(&t.conn.docker, component).await?;
    let stream = manage::logs(&t.conn.docker, &name, tail, follow).map({
        let name = name.clone();
        move |r| {
            r.map_err(|e| {
                Error::Deploy(crate::docker::deploy::DeployError::Engine {
                    what: format!("read the logs of {name}"),
                    detail: e.to_string(),
                })
            })
        }
    });
    Ok((name, stream))
}

/// With `uninstall --purge`: the spec whose logs and downloaded weights go too, and its file.
pub struct Purge<'a> {
    pub spec: &'a DeploymentSpec,
    pub spec_path: &'a Path,
}

pub struct Uninstalled {
    pub removed: Removed,
    /// Directories and files deleted by a purge.
    pub deleted: Vec<PathBuf>,
    /// What stays, for the admin to know (nothing when purged).
    pub kept: Vec<String>,
}

/// Removes every container and network carrying our labels; with `purge`, also the spec file and the
/// gateway logs and Hugging Face cache the installer created (a directory without our marker, or a
/// symbolic link, stays; so does a local weights directory the admin provided). Holds the engine's lock
/// while removing; the lock's marker and image are gone afterwards.
pub async fn uninstall(t: &Session, purge: Option<Purge<'_>>) -> Result<Uninstalled, Error> {
    let lock = t.lock("uninstall").await?;
    let removed = manage::uninstall(&t.conn.docker).await;
    // The marker goes with the rest, and its image when no one took the lock meanwhile.
    lock.release().await;
    let removed = removed?;
    let (mut deleted, mut kept) = (Vec::new(), Vec::new());
    match purge {
        Some(p) => (deleted, kept) = purge_files(&p)?,
        None => {
            if let Ok(Some((path, s))) = super::installed_spec() {
                kept.push(format!("the spec: {}", path.display()));
                kept.push(format!("the gateway logs: {}", s.log_dir.display()));
                if let Weights::HuggingFace { cache_dir, .. } = &s.model.weights {
                    kept.push(format!("the downloaded weights: {}", cache_dir.display()));
                }
            }
        }
    }
    Ok(Uninstalled {
        removed,
        deleted,
        kept,
    })
}

/// Deletes the spec file and the directories of `p` that carry our marker; returns what was deleted and
/// what stays, with why.
fn purge_files(p: &Purge<'_>) -> Result<(Vec<PathBuf>, Vec<String>), Error> {
    let (mut deleted, mut kept) = (Vec::new(), Vec::new());
    let mut dirs = vec![("the gateway logs", p.spec.log_dir.clone())];
    if let Weights::HuggingFace { cache_dir, .. } = &p.spec.model.weights {
        dirs.push(("the downloaded weights", cache_dir.clone()));
    }
    for (what, d) in dirs {
        let Ok(meta) = std::fs::symlink_metadata(&d) else {
            continue;
        };
        if meta.is_symlink() {
            kept.push(format!(
                "{what}: {} is a symbolic link, not followed",
                d.display()
            ));
        } else if !crate::fsutil::created_by_us(&d) {
            kept.push(format!(
                "{what}: {} was not created by the installer",
                d.display()
            ));
        } else {
            // Symbolic links inside are removed, never followed.
            std::fs::remove_dir_all(&d).map_err(|source| Error::Purge {
                path: d.display().to_string(),
                source,
            })?;
            deleted.push(d);
        }
    }
    std::fs::remove_file(p.spec_path).map_err(|source| Error::Purge {
        path: p.spec_path.display().to_string(),
        source,
    })?;
    deleted.push(p.spec_path.to_path_buf());
    Ok((deleted, kept))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::{ensure_own_dir, MARKER};

    fn spec_in(dir: &Path) -> (DeploymentSpec, PathBuf) {
        let path = dir.join("spec.toml");
        let text = include_str!("../../../../tests/fixtures/specs/hf-mistral-small.toml");
        std::fs::write(&path, text).unwrap();
        let mut spec = DeploymentSpec::from_toml(text, "fixture").unwrap();
        // Never the host's default cache.
        if let Weights::HuggingFace { cache_dir, .. } = &mut spec.model.weights {
            *cache_dir = dir.join("no-cache");
        }
        (spec, path)
    }

    #[test]
    fn purge_keeps_a_directory_without_our_marker_and_its_files() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut spec, spec_path) = spec_in(tmp.path());
        let shared = tmp.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::write(shared.join("unrelated.log"), "keep me").unwrap();
        spec.log_dir = shared.clone();
        let (deleted, kept) = purge_files(&Purge {
            spec: &spec,
            spec_path: &spec_path,
        })
        .unwrap();
        assert!(shared.join("unrelated.log").exists());
        assert_eq!(deleted, vec![spec_path]);
        assert!(
            kept.iter()
                .any(|k| k.contains("not created by the installer")),
            "{kept:?}"
        );
    }

    #[test]
    fn purge_deletes_our_directory_but_follows_no_symbolic_link() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut spec, spec_path) = spec_in(tmp.path());
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("data"), "keep me").unwrap();
        std::fs::write(outside.join(MARKER), "").unwrap();
        // Ours, with a link inside pointing out.
        let logs = tmp.path().join("logs");
        assert!(ensure_own_dir(&logs).unwrap());
        std::os::unix::fs::symlink(&outside, logs.join("link")).unwrap();
        spec.log_dir = logs.clone();
        // The cache is itself a link to a marked directory.
        let cache = tmp.path().join("cache");
        std::os::unix::fs::symlink(&outside, &cache).unwrap();
        let Weights::HuggingFace { cache_dir, .. } = &mut spec.model.weights else {
            panic!("the fixture downloads its weights");
        };
        *cache_dir = cache.clone();
        let (deleted, kept) = purge_files(&Purge {
            spec: &spec,
            spec_path: &spec_path,
        })
        .unwrap();
        assert!(!logs.exists());
        assert!(outside.join("data").exists() && outside.join(MARKER).exists());
        assert!(std::fs::symlink_metadata(&cache).is_ok(), "the link stays");
        assert_eq!(deleted, vec![logs, spec_path]);
        assert!(kept.iter().any(|k| k.contains("symbolic link")), "{kept:?}");
    }
}
