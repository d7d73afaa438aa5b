//! Free space on the engine's host, read through the engine (its API has no such figure): a short-lived
//! container of an image already on the server runs `df -P -B1` on the nearest existing ancestor of a
//! server directory, bound read-only, and the core parses the answer
//! ([`aigw_core::weights::space::parse_df`]). Nothing is written on the server.
//!
//! The nearest existing ancestor is found by the engine itself: a bind `Mount` whose source is missing is
//! refused at create ("bind source path does not exist"), so the next parent is tried. The container is
//! labelled [`PROBE_LABEL`] (`space`) and removed whatever happens: it runs as its own task, so a caller
//! that stops waiting (cancel) leaves the removal to finish.

use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};
use bollard::Docker;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::hardware::gpu_probe::PROBE_LABEL;

/// Where the probed directory appears inside the probe.
const TARGET: &str = "/aigw-space";
/// Long enough for a slow engine to start a container; `df` itself answers at once.
const BUDGET: Duration = Duration::from_secs(60);

/// Why the free space could not be read (said as a warning; the install goes on).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SpaceProbeError(String);

/// The create body: `df -P -B1` as entrypoint (no shell needed), `dir` bound read-only, no network.
pub fn probe_body(image: &str, dir: &Path) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some(image.to_string()),
        entrypoint: Some(vec!["df".into()]),
        cmd: Some(vec!["-P".into(), "-B1".into(), TARGET.into()]),
        // Any user may statvfs, but a 0700 directory of another uid could not be reached.
        user: Some("0:0".into()),
        labels: Some(HashMap::from([(
            PROBE_LABEL.to_string(),
            "space".to_string(),
        )])),
        network_disabled: Some(true),
        host_config: Some(HostConfig {
            mounts: Some(vec![Mount {
                target: Some(TARGET.into()),
                source: Some(dir.display().to_string()),
                typ: Some(MountType::BIND),
                read_only: Some(true),
                ..Default::default()
            }]),
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `dir` and each of its parents, nearest first.
fn ancestors(dir: &Path) -> Vec<PathBuf> {
    dir.ancestors().map(Path::to_path_buf).collect()
}

/// The free bytes of the server file system that holds `dir` (or would, once made), read in `image`.
pub async fn free_bytes(
    docker: &Docker,
    image: &str,
    dir: &Path,
    cancel: &CancellationToken,
) -> Result<u64, SpaceProbeError> {
    if !dir.is_absolute() {
        return Err(SpaceProbeError(format!(
            "{} is not an absolute path",
            dir.display()
        )));
    }
    let task = tokio::spawn(run(
        docker.clone(),
        image.to_string(),
        dir.to_path_buf(),
        cancel.clone(),
    ));
    let out = task.await.map_err(|e| SpaceProbeError(e.to_string()))??;
    aigw_core::weights::space::parse_df(&out)
        .ok_or_else(|| SpaceProbeError(format!("df answered something else: {}", out.trim())))
}

fn name() -> String {
    format!(
        "aigw-space-probe-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    )
}

/// Create (on the nearest existing ancestor), run, read, and remove: the removal runs on every path
/// once a container exists.
async fn run(
    docker: Docker,
    image: String,
    dir: PathBuf,
    cancel: CancellationToken,
) -> Result<String, SpaceProbeError> {
    let name = name();
    let mut created = false;
    for candidate in ancestors(&dir) {
        let r = docker
            .create_container(
                Some(CreateContainerOptionsBuilder::default().name(&name).build()),
                probe_body(&image, &candidate),
            )
            .await;
        match r {
            Ok(_) => {
                created = true;
                break;
            }
            Err(e) if e.to_string().contains("bind source path does not exist") => continue,
            Err(e) => {
                return Err(SpaceProbeError(format!(
                    "creating a probe container of {image}: {e}"
                )))
            }
        }
    }
    if !created {
        return Err(SpaceProbeError(format!(
            "no ancestor of {} exists on the server",
            dir.display()
        )));
    }
    let out = tokio::select! {
        r = tokio::time::timeout(BUDGET, async { crate::docker::oneshot::run(&docker, &name, "df").await.map_err(SpaceProbeError) }) => {
            r.unwrap_or_else(|_| Err(SpaceProbeError(format!("df did not finish within {BUDGET:?}"))))
        }
        () = cancel.cancelled() => Err(SpaceProbeError("cancelled".into())),
    };
    remove(&docker, &name).await;
    out
}

async fn remove(docker: &Docker, name: &str) {
    let opts = RemoveContainerOptionsBuilder::default().force(true).build();
    if let Err(e) = docker.remove_container(name, Some(opts)).await {
        tracing::warn!("removing the free-space probe container {name}: {e}");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// An image without `df` (the lock's empty one) on a directory the server lacks: the nearest
    /// existing ancestor is bound, the start fails, the reason comes back, and no probe is left.
    #[tokio::test]
    async fn an_image_without_df_says_why_and_leaves_no_probe() {
        let d = Docker::connect_with_local_defaults().ok();
        let up = match &d {
            Some(d) => d.ping().await.is_ok(),
            None => false,
        };
        if !up {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but no Docker engine answers"
            );
            eprintln!("skipping: no Docker engine");
            return;
        }
        let d = d.unwrap();
        let image = format!("{}:{}", crate::lock::IMAGE, crate::lock::IMAGE_TAG);
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("not/yet");
        // Other tests remove the lock's image when they end: import it again if it went meanwhile.
        let mut e = None;
        for _ in 0..3 {
            crate::lock::ensure_image(&d).await.unwrap();
            let err = free_bytes(&d, &image, &dir, &CancellationToken::new())
                .await
                .unwrap_err();
            let gone = err.to_string().starts_with("creating a probe container");
            e = Some(err);
            if !gone {
                break;
            }
        }
        let e = e.unwrap();
        assert!(e.to_string().starts_with("starting df:"), "{e}");
        assert!(!dir.exists());
        let left = crate::docker::labels::labelled(&d, &format!("{PROBE_LABEL}=space"))
            .await
            .unwrap();
        assert!(
            !left.iter().any(|c| c.mounts.iter().flatten().any(|m| m
                .source
                .as_deref()
                .is_some_and(|s| Path::new(s).starts_with(tmp.path())))),
            "{left:?}"
        );
        crate::lock::remove_image(&d).await;
    }

    #[test]
    fn the_probe_binds_the_directory_read_only_as_a_mount_and_runs_df() {
        let body = probe_body("vllm/vllm-openai:v0.18.1", Path::new("/srv/a:b,c"));
        assert_eq!(body.entrypoint, Some(vec!["df".to_string()]));
        assert_eq!(
            body.cmd,
            Some(vec!["-P".into(), "-B1".into(), TARGET.to_string()])
        );
        let hc = body.host_config.unwrap();
        assert!(hc.binds.is_none());
        let m = &hc.mounts.unwrap()[0];
        assert_eq!(m.source.as_deref(), Some("/srv/a:b,c"));
        assert_eq!((m.typ, m.read_only), (Some(MountType::BIND), Some(true)));
        assert_eq!(
            body.labels.unwrap().get(PROBE_LABEL).map(String::as_str),
            Some("space")
        );
        assert_eq!(
            ancestors(Path::new("/srv/hf/cache")),
            [
                PathBuf::from("/srv/hf/cache"),
                "/srv/hf".into(),
                "/srv".into(),
                "/".into()
            ]
        );
    }
}
