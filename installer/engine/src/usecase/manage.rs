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

/// Removes every container and network carrying our labels; with `purge`, also the gateway logs, the
/// Hugging Face cache and the spec file (a local weights directory the admin provided is never deleted).
pub async fn uninstall(t: &Session, purge: Option<Purge<'_>>) -> Result<Uninstalled, Error> {
    let removed = manage::uninstall(&t.conn.docker).await?;
    let mut deleted = Vec::new();
    let mut kept = Vec::new();
    match purge {
        Some(p) => {
            let mut dirs = vec![p.spec.log_dir.clone()];
            if let Weights::HuggingFace { cache_dir, .. } = &p.spec.model.weights {
                dirs.push(cache_dir.clone());
            }
            for d in dirs.into_iter().filter(|d| d.exists()) {
                std::fs::remove_dir_all(&d).map_err(|source| Error::Purge {
                    path: d.display().to_string(),
                    source,
                })?;
                deleted.push(d);
            }
            std::fs::remove_file(p.spec_path).map_err(|source| Error::Purge {
                path: p.spec_path.display().to_string(),
                source,
            })?;
            deleted.push(p.spec_path.to_path_buf());
        }
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
