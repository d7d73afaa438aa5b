//! One changing operation per Docker engine at a time (install/apply, upgrade, uninstall, loading images).
//!
//! Two locks, both taken before anything changes and both released at the end:
//!
//! - a file lock (`flock`) on `<data dir>/locks/<endpoint id>.lock`, which the kernel releases when the
//!   process ends however it ends; the file says who holds it (pid, host, user, since, operation);
//! - a marker the engine itself holds, so that two workstations sharing one engine exclude each other too:
//!   a container named [`MARKER`] that is never started (creating a name is atomic in the engine), whose
//!   labels say who holds it. Its image ([`IMAGE`]) is imported from an empty tar through the engine API,
//!   so no registry is needed. The marker carries [`LOCK_LABEL`] and not our app label: status, planning
//!   and uninstall never count it among our containers.
//!
//! A marker left behind by a process of this host that is gone (killed) is taken over; one from another
//! host is only taken over when the caller says to break it.

use aigw_core::problem::Explain;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveImageOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The name of the container that marks the engine as locked.
pub const MARKER: &str = "aigw-installer-lock";
/// The marker's image: empty, imported locally, never run.
pub const IMAGE: &str = "aigw-installer/lock";
pub const IMAGE_TAG: &str = "1";
/// Present (value `1`) on the marker and its image; the holder's details are in `LOCK_LABEL.*` labels.
pub const LOCK_LABEL: &str = "io.aigw-installer.lock";

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub user: String,
    /// UTC, RFC 3339 (`2026-12-07T12:00:00Z`).
    pub since: String,
    /// `apply`, `upgrade`, `uninstall`, `load images`.
    pub operation: String,
}

impl Holder {
    /// This process, about to run `operation`.
    pub fn here(operation: &str) -> Self {
        Self {
            pid: std::process::id(),
            host: this_host(),
            user: std::env::var("USER")
                .or_else(|_| std::env::var("LOGNAME"))
                .unwrap_or_else(|_| "unknown".into()),
            since: rfc3339(std::time::SystemTime::now()),
            operation: operation.into(),
        }
    }

    /// The marker's labels for this holder.
    pub fn labels(&self) -> HashMap<String, String> {
        HashMap::from([
            (LOCK_LABEL.to_string(), "1".to_string()),
            (format!("{LOCK_LABEL}.pid"), self.pid.to_string()),
            (format!("{LOCK_LABEL}.host"), self.host.clone()),
            (format!("{LOCK_LABEL}.user"), self.user.clone()),
            (format!("{LOCK_LABEL}.since"), self.since.clone()),
            (format!("{LOCK_LABEL}.operation"), self.operation.clone()),
        ])
    }

    /// The holder a marker's labels name; `None` when they are not a lock's.
    pub fn from_labels(labels: &HashMap<String, String>) -> Option<Self> {
        let get = |k: &str| labels.get(&format!("{LOCK_LABEL}.{k}")).cloned();
        if labels.get(LOCK_LABEL).map(String::as_str) != Some("1") {
            return None;
        }
        Some(Self {
            pid: get("pid")?.parse().ok()?,
            host: get("host")?,
            user: get("user").unwrap_or_default(),
            since: get("since").unwrap_or_default(),
            operation: get("operation").unwrap_or_default(),
        })
    }

    pub fn is_this_host(&self) -> bool {
        self.host == this_host()
    }

    /// Whether the holder is a process of this host that still runs. `false` for another host's.
    pub fn is_alive_here(&self) -> bool {
        self.is_this_host() && Path::new("/proc").join(self.pid.to_string()).exists()
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} by {}@{} (pid {}) since {}",
            self.operation, self.user, self.host, self.pid, self.since
        )
    }
}

/// This machine's host name, as the marker records it.
pub fn this_host() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live installer holds the lock.
    #[error("another operation is changing this Docker engine: {holder}")]
    Held {
        holder: Holder,
        /// The holder runs on another host: it may be gone without us being able to tell.
        other_host: bool,
    },
    /// The file lock is held, and the holder did not (yet) say who it is.
    #[error("another installer process on this machine is changing this Docker engine (lock file {path})")]
    HeldUnknown { path: String },
    /// A container with the marker's name that is not a lock marker.
    #[error("a container named {MARKER} exists that this installer did not create")]
    Foreign,
    #[error("cannot use the lock file {path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot {what} the Docker engine's lock marker: {detail}")]
    Engine { what: String, detail: String },
}

impl Explain for LockError {
    fn code(&self) -> &'static str {
        match self {
            Self::Held { .. } | Self::HeldUnknown { .. } | Self::Foreign => "locked",
            Self::File { .. } => "io",
            Self::Engine { .. } => "engine",
        }
    }

    fn fix(&self) -> Option<String> {
        Some(match self {
            Self::Held {
                holder,
                other_host: true,
            } => format!(
                "wait until it ends, then run again; if the installer on {} is no longer running (its \
                 host is gone or it was killed), break the lock",
                holder.host
            ),
            Self::Held { holder, .. } => format!(
                "wait until process {} ends (or cancel it), then run again",
                holder.pid
            ),
            Self::HeldUnknown { .. } => "wait until it ends, then run again".into(),
            Self::Foreign => format!("rename or remove the container {MARKER}, then run again"),
            Self::File { .. } => "check the data directory's permissions".into(),
            Self::Engine { .. } => {
                "check that the Docker engine is running and reachable, then try again".into()
            }
        })
    }

    fn field(&self) -> Option<String> {
        match self {
            Self::Held {
                other_host: true, ..
            } => Some("break_lock".into()),
            _ => None,
        }
    }
}

/// A held lock. Release it with [`EngineLock::release`]; dropped unreleased, the marker is removed in the
/// background where a runtime still runs (a marker left behind by a dead process is taken over anyway).
#[derive(Debug)]
pub struct EngineLock {
    docker: Docker,
    marker_id: Option<String>,
    _file: std::fs::File,
    pub holder: Holder,
}

impl EngineLock {
    /// Removes the marker and lets go of the file lock.
    pub async fn release(mut self) {
        if let Some(id) = self.marker_id.take() {
            remove_marker(&self.docker, &id).await;
        }
    }
}

impl Drop for EngineLock {
    fn drop(&mut self) {
        if let (Some(id), Ok(rt)) = (self.marker_id.take(), tokio::runtime::Handle::try_current()) {
            let docker = self.docker.clone();
            rt.spawn(async move { remove_marker(&docker, &id).await });
        }
    }
}

/// Removes the marker, then its image unless another holder uses it already: nothing of the lock stays
/// on the engine between operations (the next one imports the image again, an empty tar).
async fn remove_marker(docker: &Docker, id: &str) {
    if let Err(e) = docker
        .remove_container(
            id,
            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
        )
        .await
    {
        tracing::warn!("could not remove the lock marker {MARKER}: {e}");
    }
    remove_image(docker).await;
}

/// `<data_dir>/locks/<endpoint id>.lock`: one file per engine endpoint.
pub fn lock_file(data_dir: &Path, endpoint: &str) -> PathBuf {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(endpoint.as_bytes());
    let id: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    data_dir.join("locks").join(format!("{id}.lock"))
}

/// Takes both locks for `operation` on the engine `endpoint` (its display form, which names the file);
/// with `break_lock`, a marker of another host (or of no live process) is taken over. A live process of
/// this host is never overridden.
pub async fn acquire(
    docker: &Docker,
    data_dir: &Path,
    endpoint: &str,
    operation: &str,
    break_lock: bool,
) -> Result<EngineLock, LockError> {
    let holder = Holder::here(operation);
    let file = lock_local(&lock_file(data_dir, endpoint), &holder)?;
    let marker_id = take_marker(docker, &holder, break_lock).await?;
    tracing::info!("holding the engine lock: {holder}");
    Ok(EngineLock {
        docker: docker.clone(),
        marker_id: Some(marker_id),
        _file: file,
        holder,
    })
}

/// The desktop app's single-instance lock: `<data_dir>/locks/app.lock`, held for as long as the returned
/// file stays open (the kernel releases it when the process ends). A second instance gets `Held` naming the
/// first.
pub fn single_instance(data_dir: &Path) -> Result<std::fs::File, LockError> {
    lock_local(
        &data_dir.join("locks").join("app.lock"),
        &Holder::here("the desktop app"),
    )
}

/// The flock, not waiting; the file then names `holder`.
fn lock_local(path: &Path, holder: &Holder) -> Result<std::fs::File, LockError> {
    let ferr = |source| LockError::File {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(ferr)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(ferr)?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(match serde_json::from_str::<Holder>(&text) {
                Ok(holder) => LockError::Held {
                    holder,
                    other_host: false,
                },
                Err(_) => LockError::HeldUnknown {
                    path: path.display().to_string(),
                },
            });
        }
        Err(e) => return Err(ferr(e.into())),
    }
    let json = serde_json::to_string(holder).map_err(|e| ferr(std::io::Error::other(e)))?;
    file.set_len(0).map_err(ferr)?;
    file.rewind().map_err(ferr)?;
    file.write_all(json.as_bytes()).map_err(ferr)?;
    Ok(file)
}

fn engine_err(what: &str) -> impl Fn(bollard::errors::Error) -> LockError + '_ {
    move |e| LockError::Engine {
        what: what.into(),
        detail: e.to_string(),
    }
}

fn status_of(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Creates the marker (its image first when missing); a stale marker is removed and creation tried again.
async fn take_marker(
    docker: &Docker,
    holder: &Holder,
    break_lock: bool,
) -> Result<String, LockError> {
    let body = ContainerCreateBody {
        image: Some(format!("{IMAGE}:{IMAGE_TAG}")),
        cmd: Some(vec!["/aigw-installer-lock".into()]),
        labels: Some(holder.labels()),
        network_disabled: Some(true),
        ..Default::default()
    };
    // Each round either creates the marker, or removes a stale one / makes the image and goes round again.
    let mut seen = Vec::new();
    for _ in 0..6 {
        let created = docker
            .create_container(
                Some(
                    CreateContainerOptionsBuilder::default()
                        .name(MARKER)
                        .build(),
                ),
                body.clone(),
            )
            .await;
        if let Err(e) = &created {
            seen.push(e.to_string());
        }
        match created {
            Ok(r) => return Ok(r.id),
            Err(e) if status_of(&e) == Some(404) => ensure_image(docker).await?,
            Err(e) if status_of(&e) == Some(409) => {
                let Some(existing) = inspect_marker(docker).await? else {
                    // Removed meanwhile: try again.
                    continue;
                };
                let labels = existing.config.and_then(|c| c.labels).unwrap_or_default();
                let Some(other) = Holder::from_labels(&labels) else {
                    return Err(LockError::Foreign);
                };
                let stale = other.is_this_host() && !other.is_alive_here();
                if other.is_alive_here() || !(stale || break_lock) {
                    return Err(LockError::Held {
                        other_host: !other.is_this_host(),
                        holder: other,
                    });
                }
                if stale {
                    tracing::warn!("taking over the lock of a process that is gone: {other}");
                } else {
                    tracing::warn!("breaking the lock held by {other}");
                }
                let id = existing.id.unwrap_or_else(|| MARKER.into());
                match docker
                    .remove_container(
                        &id,
                        Some(RemoveContainerOptionsBuilder::default().force(true).build()),
                    )
                    .await
                {
                    Ok(()) => {}
                    Err(e) if status_of(&e) == Some(404) => {}
                    Err(e) => return Err(engine_err("remove a stale")(e)),
                }
            }
            Err(e) => return Err(engine_err("create")(e)),
        }
    }
    Err(LockError::Engine {
        what: "create".into(),
        detail: format!("the marker kept changing meanwhile ({})", seen.join("; ")),
    })
}

/// The marker whose name the engine refused to give us. The engine reserves a name before the container
/// it names can be inspected (a create in progress elsewhere answers 404 for a moment), so a missing
/// marker is asked for again for a while before it counts as removed.
async fn inspect_marker(
    docker: &Docker,
) -> Result<Option<bollard::models::ContainerInspectResponse>, LockError> {
    for _ in 0..100 {
        match docker.inspect_container(MARKER, None).await {
            Ok(c) => return Ok(Some(c)),
            Err(e) if status_of(&e) == Some(404) => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await
            }
            Err(e) => return Err(engine_err("inspect")(e)),
        }
    }
    Ok(None)
}

/// Imports the marker's image from an empty tar (two zero blocks), labelled as the lock's.
pub async fn ensure_image(docker: &Docker) -> Result<(), LockError> {
    let empty_tar = bytes::Bytes::from_static(&[0u8; 1024]);
    let opts = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(IMAGE)
        .tag(IMAGE_TAG)
        .changes(vec![format!("LABEL {LOCK_LABEL}=1")])
        .build();
    let mut s = docker.create_image(Some(opts), Some(bollard::body_full(empty_tar)), None);
    while let Some(r) = s.next().await {
        r.map_err(engine_err("import the image of"))?;
    }
    Ok(())
}

/// Who holds the engine's marker now, if anyone (for status).
pub async fn holder(docker: &Docker) -> Result<Option<Holder>, LockError> {
    match docker.inspect_container(MARKER, None).await {
        Ok(c) => Ok(c
            .config
            .and_then(|c| c.labels)
            .and_then(|l| Holder::from_labels(&l))),
        Err(e) if status_of(&e) == Some(404) => Ok(None),
        Err(e) => Err(engine_err("inspect")(e)),
    }
}

/// Removes the marker's image when no marker uses it. An image in use (another process took the lock
/// meanwhile) stays.
pub async fn remove_image(docker: &Docker) {
    let r = docker
        .remove_image(
            &format!("{IMAGE}:{IMAGE_TAG}"),
            Some(RemoveImageOptionsBuilder::default().build()),
            None,
        )
        .await;
    if let Err(e) = r {
        if status_of(&e) != Some(404) {
            tracing::debug!("the lock image stays: {e}");
        }
    }
}

/// `t` as UTC RFC 3339, to the second.
fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_rfc3339() {
        let at = |s| rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_796_644_861), "2026-12-07T12:01:01Z");
    }

    #[test]
    fn a_holder_survives_its_labels_and_foreign_labels_are_no_holder() {
        let h = Holder::here("apply");
        assert_eq!(Holder::from_labels(&h.labels()), Some(h.clone()));
        assert!(h.is_alive_here(), "this process is alive");
        let mut other = h.labels();
        other.remove(LOCK_LABEL);
        assert_eq!(Holder::from_labels(&other), None);
        let gone = Holder {
            pid: u32::MAX,
            ..h.clone()
        };
        assert!(gone.is_this_host() && !gone.is_alive_here());
        let elsewhere = Holder {
            host: format!("{}-elsewhere", h.host),
            ..h
        };
        assert!(!elsewhere.is_this_host() && !elsewhere.is_alive_here());
    }

    #[test]
    fn the_second_local_caller_is_told_who_holds_the_file_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_file(dir.path(), "unix:///var/run/docker.sock");
        assert!(path.starts_with(dir.path().join("locks")));
        let first = Holder::here("apply");
        let held = lock_local(&path, &first).unwrap();
        match lock_local(&path, &Holder::here("uninstall")) {
            Err(e @ LockError::Held { .. }) => {
                assert_eq!(e.code(), "locked");
                let LockError::Held { holder, other_host } = &e else {
                    unreachable!()
                };
                assert_eq!(holder, &first);
                assert!(!other_host);
                assert!(e.to_string().contains(&format!("pid {}", first.pid)), "{e}");
            }
            other => panic!("{other:?}"),
        }
        drop(held);
        // Released: the next caller gets it and the file names it.
        let next = Holder::here("uninstall");
        let _again = lock_local(&path, &next).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(serde_json::from_str::<Holder>(&text).unwrap(), next);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
