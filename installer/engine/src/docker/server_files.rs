//! Files on the engine's host, made through the engine API only (a remote server is never written from
//! the workstation's file system): a helper container that is created and never started, with the server
//! directories bound into it, receives a tar stream (`PUT /containers/{id}/archive`, `copyUIDGID` so the
//! headers' owners and modes stay) and gives files back (`GET …/archive`).
//!
//! Found with the real engine (`server_files::tests`): an archive PUT into a created, never-started
//! container writes through its bind mounts to the host — the engine mounts the container's volumes for
//! the copy — so the helper needs no process (its image is empty: nothing could run). The directories are
//! bind `Mount`s (a path may hold `:` or `,`); one the server lacks is made by the engine (root, 0755,
//! `CreateMountpoint`), as it would be for the containers later.
//!
//! The helper uses the lock marker's empty image ([`crate::lock::IMAGE`], imported through the API when
//! missing) and carries [`FILES_LABEL`], not our app label: status, planning and uninstall never list
//! it. It is removed on every path: [`ServerFiles::close`], or in the background when dropped (an error,
//! a cancelled future).

use aigw_core::problem::Explain;
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountBindOptions, MountType};
use bollard::query_parameters::{
    ContainerArchiveInfoOptionsBuilder, CreateContainerOptionsBuilder,
    DownloadFromContainerOptionsBuilder, RemoveContainerOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use bollard::Docker;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::path::{Component, Path, PathBuf};

/// Present (value `1`) on every helper container.
pub const FILES_LABEL: &str = "io.aigw-installer.files";
/// The longest a tar stream may take to reach the server.
const UPLOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
/// Where the `i`-th bound server directory appears inside the helper.
const MOUNT_ROOT: &str = "/aigw-server";

#[derive(Debug, thiserror::Error)]
pub enum ServerFilesError {
    #[error("cannot {what} on the Docker engine's host: {detail}")]
    Engine { what: String, detail: String },
    #[error("{path} is not under a directory the helper binds")]
    NotBound { path: String },
    #[error("{path} must be an absolute path without `..`")]
    BadPath { path: String },
    #[error("cannot pack {path} for the server: {detail}")]
    Pack { path: String, detail: String },
    #[error("the copy to the server was cancelled")]
    Cancelled,
}

impl Explain for ServerFilesError {
    fn code(&self) -> &'static str {
        match self {
            Self::Engine { .. } => "engine",
            Self::NotBound { .. } | Self::BadPath { .. } => "invalid_input",
            Self::Pack { .. } => "io",
            Self::Cancelled => "cancelled",
        }
    }

    fn fix(&self) -> Option<String> {
        match self {
            Self::Engine { .. } => Some(
                "check that the Docker engine is reachable and that its host can write the directory, \
                 then run again"
                    .into(),
            ),
            Self::BadPath { .. } => Some("give an absolute path on the server".into()),
            Self::Pack { .. } => Some("check that the file is readable, then run again".into()),
            Self::NotBound { .. } | Self::Cancelled => None,
        }
    }
}

fn engine(what: &str) -> impl Fn(bollard::errors::Error) -> ServerFilesError + '_ {
    move |e| ServerFilesError::Engine {
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

/// One entry of a small archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir {
        name: String,
        mode: u32,
        owner: (u32, u32),
    },
    File {
        name: String,
        mode: u32,
        owner: (u32, u32),
        body: Vec<u8>,
    },
}

/// `entries` as one tar archive (owners and modes in the headers). Pure.
pub fn pack(entries: &[Entry]) -> Result<Vec<u8>, ServerFilesError> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let (name, mode, owner, body, kind) = match e {
            Entry::Dir { name, mode, owner } => {
                (name, mode, owner, &[][..], tar::EntryType::Directory)
            }
            Entry::File {
                name,
                mode,
                owner,
                body,
            } => (name, mode, owner, &body[..], tar::EntryType::Regular),
        };
        let mut h = header(kind, *mode, *owner, body.len() as u64);
        b.append_data(&mut h, name, body)
            .map_err(|e| ServerFilesError::Pack {
                path: name.clone(),
                detail: e.to_string(),
            })?;
    }
    b.into_inner().map_err(|e| ServerFilesError::Pack {
        path: "archive".into(),
        detail: e.to_string(),
    })
}

/// A GNU header of `kind` (path and checksum set by the builder).
pub fn header(kind: tar::EntryType, mode: u32, (uid, gid): (u32, u32), size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(uid.into());
    h.set_gid(gid.into());
    h.set_size(size);
    h.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    );
    h
}

fn check_abs(p: &Path) -> Result<(), ServerFilesError> {
    let ok = p.is_absolute() && !p.components().any(|c| matches!(c, Component::ParentDir));
    if ok {
        Ok(())
    } else {
        Err(ServerFilesError::BadPath {
            path: p.display().to_string(),
        })
    }
}

/// The `i`-th server directory as a bind `Mount` (not a `binds` string: a path holding `:` or `,` stays
/// whole), made by the engine when the server lacks it, as the legacy binds did.
fn bind(root: &Path, i: usize) -> Mount {
    Mount {
        target: Some(format!("{MOUNT_ROOT}/{i}")),
        source: Some(root.display().to_string()),
        typ: Some(MountType::BIND),
        bind_options: Some(MountBindOptions {
            create_mountpoint: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The engine refused a bind whose source the server lacks.
fn missing_source(e: &bollard::errors::Error) -> bool {
    e.to_string().contains("bind source path does not exist")
}

/// Makes `dir` on the server (root, 0755, as the engine makes a missing bind source) through a helper
/// on its nearest existing ancestor; nothing when it exists.
async fn make_dir(docker: &Docker, dir: &Path) -> Result<(), ServerFilesError> {
    for base in dir.ancestors() {
        let h = match ServerFiles::create(docker, &[base.to_path_buf()]).await {
            Ok(h) => h,
            Err(e) if missing_source(&e) => continue,
            Err(e) => return Err(engine("create the file helper")(e)),
        };
        let rel = dir.strip_prefix(base).unwrap_or(Path::new(""));
        let mut name = PathBuf::new();
        let entries: Vec<Entry> = rel
            .components()
            .map(|c| {
                name.push(c);
                Entry::Dir {
                    name: name.display().to_string(),
                    mode: 0o755,
                    owner: (0, 0),
                }
            })
            .collect();
        let r = if entries.is_empty() {
            Ok(())
        } else {
            h.put(base, &entries).await
        };
        h.close().await;
        return r;
    }
    Err(ServerFilesError::Engine {
        what: format!("make {}", dir.display()),
        detail: "no part of the path exists on the server".into(),
    })
}

/// A helper container binding server directories; [`ServerFiles::close`] removes it.
#[derive(Debug)]
pub struct ServerFiles {
    docker: Docker,
    id: Option<String>,
    roots: Vec<PathBuf>,
}

impl ServerFiles {
    /// Creates the helper with each of `roots` (absolute server directories) bound read-write.
    pub async fn open(docker: &Docker, roots: &[PathBuf]) -> Result<Self, ServerFilesError> {
        for r in roots {
            check_abs(r)?;
        }
        match Self::create(docker, roots).await {
            Err(e) if missing_source(&e) => {
                // An engine older than API 1.42 ignores `CreateMountpoint`: make the missing
                // directories as the legacy binds did, then bind them.
                for r in roots {
                    make_dir(docker, r).await?;
                }
                Self::create(docker, roots)
                    .await
                    .map_err(engine("create the file helper"))
            }
            r => r.map_err(engine("create the file helper")),
        }
    }

    /// The helper binding `roots`, or the engine's refusal.
    async fn create(docker: &Docker, roots: &[PathBuf]) -> Result<Self, bollard::errors::Error> {
        let mounts = roots.iter().enumerate().map(|(i, r)| bind(r, i)).collect();
        let body = ContainerCreateBody {
            image: Some(format!("{}:{}", crate::lock::IMAGE, crate::lock::IMAGE_TAG)),
            cmd: Some(vec!["/aigw-installer-files".into()]),
            labels: Some([(FILES_LABEL.to_string(), "1".to_string())].into()),
            network_disabled: Some(true),
            host_config: Some(HostConfig {
                mounts: Some(mounts),
                ..Default::default()
            }),
            ..Default::default()
        };
        // The image may be removed by a lock's release between our import and the create: import again.
        let mut tries = 0;
        loop {
            tries += 1;
            match docker
                .create_container(
                    Some(CreateContainerOptionsBuilder::default().build()),
                    body.clone(),
                )
                .await
            {
                Ok(r) => {
                    tracing::debug!("server files helper {} binds {roots:?}", r.id);
                    return Ok(Self {
                        docker: docker.clone(),
                        id: Some(r.id),
                        roots: roots.to_vec(),
                    });
                }
                Err(e) if status_of(&e) == Some(404) && tries < 4 => {
                    if let Err(import) = crate::lock::ensure_image(docker).await {
                        tracing::warn!("importing the helper's image: {import}");
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The helper's id (for tests and logs).
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or_default()
    }

    /// `path` (on the server) as the helper sees it.
    fn inside(&self, path: &Path) -> Result<String, ServerFilesError> {
        check_abs(path)?;
        self.roots
            .iter()
            .enumerate()
            .find_map(|(i, r)| {
                path.strip_prefix(r).ok().map(|rest| {
                    let mut p = PathBuf::from(format!("{MOUNT_ROOT}/{i}"));
                    p.push(rest);
                    p.display().to_string()
                })
            })
            .ok_or_else(|| ServerFilesError::NotBound {
                path: path.display().to_string(),
            })
    }

    /// Unpacks a small archive into `dir` (a bound server directory or one under it), owners and modes
    /// as the headers say.
    pub async fn put(&self, dir: &Path, entries: &[Entry]) -> Result<(), ServerFilesError> {
        let tar = pack(entries)?;
        self.put_stream(dir, futures_util::stream::once(async { Bytes::from(tar) }))
            .await
    }

    /// Unpacks a tar stream into `dir`.
    pub async fn put_stream(
        &self,
        dir: &Path,
        tar: impl Stream<Item = Bytes> + Send + 'static,
    ) -> Result<(), ServerFilesError> {
        let opts = UploadToContainerOptionsBuilder::default()
            .path(&self.inside(dir)?)
            .copy_uidgid("true")
            .build();
        // The client's timeout covers a whole request, and the engine answers an archive PUT only once
        // it has the last byte: a snapshot's upload may take hours (cancel stops it sooner).
        self.docker
            .clone()
            .with_timeout(UPLOAD_TIMEOUT)
            .upload_to_container(self.id(), Some(opts), bollard::body_stream(tar))
            .await
            .map_err(engine("write files"))
    }

    /// The mode bits of `path` on the server (`HEAD …/archive`, Go's `FileMode`); `None` when absent.
    pub async fn stat(&self, path: &Path) -> Result<Option<u32>, ServerFilesError> {
        let opts = ContainerArchiveInfoOptionsBuilder::default()
            .path(&self.inside(path)?)
            .build();
        match self
            .docker
            .get_container_archive_info(self.id(), Some(opts))
            .await
        {
            Ok(st) => Ok(Some(st.file_mode)),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(engine("look at a file")(e)),
        }
    }

    /// The size of `path` on the server (`HEAD …/archive`); `None` when absent.
    pub async fn size(&self, path: &Path) -> Result<Option<u64>, ServerFilesError> {
        let opts = ContainerArchiveInfoOptionsBuilder::default()
            .path(&self.inside(path)?)
            .build();
        match self
            .docker
            .get_container_archive_info(self.id(), Some(opts))
            .await
        {
            Ok(st) => Ok(Some(u64::try_from(st.size).unwrap_or(0))),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(engine("look at a file")(e)),
        }
    }

    /// The file at `path` on the server; `None` when it is not there.
    pub async fn read(&self, path: &Path) -> Result<Option<Vec<u8>>, ServerFilesError> {
        let opts = DownloadFromContainerOptionsBuilder::default()
            .path(&self.inside(path)?)
            .build();
        let mut s = self.docker.download_from_container(self.id(), Some(opts));
        let mut tar = Vec::new();
        while let Some(chunk) = s.next().await {
            match chunk {
                Ok(b) => tar.extend_from_slice(&b),
                Err(e) if status_of(&e) == Some(404) => return Ok(None),
                Err(e) => return Err(engine("read a file")(e)),
            }
        }
        Ok(super::owner::first_tar_file(&tar).map(<[u8]>::to_vec))
    }

    /// Removes the helper.
    pub async fn close(mut self) {
        if let Some(id) = self.id.take() {
            remove(&self.docker, &id).await;
        }
    }
}

impl Drop for ServerFiles {
    fn drop(&mut self) {
        if let (Some(id), Ok(rt)) = (self.id.take(), tokio::runtime::Handle::try_current()) {
            let docker = self.docker.clone();
            rt.spawn(async move { remove(&docker, &id).await });
        }
    }
}

async fn remove(docker: &Docker, id: &str) {
    let opts = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(false)
        .build();
    match docker.remove_container(id, Some(opts)).await {
        Ok(()) => {}
        Err(e) if status_of(&e) == Some(404) => {}
        Err(e) => tracing::warn!("could not remove the file helper {id}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// The engine, or `None` (skip) outside CI; with `CI` set a missing engine fails the test.
    async fn docker() -> Option<Docker> {
        let d = Docker::connect_with_local_defaults().ok();
        let up = match &d {
            Some(d) => d.ping().await.is_ok(),
            None => false,
        };
        assert!(
            up || std::env::var_os("CI").is_none(),
            "CI is set but no Docker engine answers"
        );
        d.filter(|_| up)
    }

    /// The archive PUT into a created, never-started helper lands in the bound host directory with the
    /// headers' modes and owners; reading back works; a missing file is `None`; the helper is gone after.
    #[tokio::test]
    async fn files_written_through_the_engine_land_in_the_bind_with_modes_and_owners() {
        let Some(d) = docker().await else {
            eprintln!("skipping: no Docker engine");
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        // A root the server lacks: the engine makes it.
        let root = tmp.path().join("server");
        let h = ServerFiles::open(&d, std::slice::from_ref(&root))
            .await
            .unwrap();
        let id = h.id().to_string();
        h.put(
            &root,
            &[
                Entry::Dir {
                    name: "logs".into(),
                    mode: 0o750,
                    owner: (4242, 4343),
                },
                Entry::Dir {
                    name: "secrets".into(),
                    mode: 0o700,
                    owner: (1001, 1002),
                },
                Entry::File {
                    name: "secrets/hf-token".into(),
                    mode: 0o600,
                    owner: (1001, 1002),
                    body: b"hf_secret".to_vec(),
                },
            ],
        )
        .await
        .unwrap();
        let logs = std::fs::metadata(root.join("logs")).unwrap();
        assert!(logs.is_dir());
        assert_eq!(
            (logs.mode() & 0o7777, logs.uid(), logs.gid()),
            (0o750, 4242, 4343)
        );
        let token = std::fs::metadata(root.join("secrets/hf-token")).unwrap();
        assert_eq!(
            (token.mode() & 0o7777, token.uid(), token.gid()),
            (0o600, 1001, 1002)
        );
        assert_eq!(
            h.read(&root.join("secrets/hf-token")).await.unwrap(),
            Some(b"hf_secret".to_vec())
        );
        assert_eq!(h.read(&root.join("nothing-here")).await.unwrap(), None);
        assert_eq!(h.stat(&root.join("nothing-here")).await.unwrap(), None);
        assert!(h.stat(&root.join("logs")).await.unwrap().is_some());
        assert!(matches!(
            h.read(Path::new("/etc/passwd")).await,
            Err(ServerFilesError::NotBound { .. })
        ));
        // An existing directory gets the header's owner too (a log dir made before).
        h.put(
            &root,
            &[Entry::Dir {
                name: "logs".into(),
                mode: 0o755,
                owner: (5000, 5000),
            }],
        )
        .await
        .unwrap();
        let logs = std::fs::metadata(root.join("logs")).unwrap();
        assert_eq!((logs.mode() & 0o7777, logs.uid()), (0o755, 5000));
        h.close().await;
        let gone = d.inspect_container(&id, None).await;
        assert!(gone.is_err_and(|e| status_of(&e) == Some(404)));
        // Dropped without close (an error or a cancelled future): removed in the background.
        let h = ServerFiles::open(&d, std::slice::from_ref(&root))
            .await
            .unwrap();
        let id = h.id().to_string();
        drop(h);
        let mut removed = false;
        for _ in 0..200 {
            if d.inspect_container(&id, None)
                .await
                .is_err_and(|e| status_of(&e) == Some(404))
            {
                removed = true;
                break;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(removed, "the dropped helper {id} is still there");
        crate::lock::remove_image(&d).await;
        // Files the engine made as other users: tidy as root.
        std::fs::remove_dir_all(&root).ok();
    }

    /// A server directory whose name holds `:` and `,` (a legacy `binds` string would split it): the
    /// helper mounts it whole, made by the engine when missing, and the file lands in it.
    #[tokio::test]
    async fn a_server_directory_with_a_colon_and_a_comma_is_mounted_whole() {
        let Some(d) = docker().await else {
            eprintln!("skipping: no Docker engine");
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("models:v2,new");
        let h = ServerFiles::open(&d, std::slice::from_ref(&root))
            .await
            .unwrap();
        let id = h.id().to_string();
        let mounts = d
            .inspect_container(&id, None)
            .await
            .unwrap()
            .host_config
            .unwrap();
        assert!(mounts.binds.is_none());
        h.put(
            &root.join(""),
            &[Entry::File {
                name: "hello".into(),
                mode: 0o644,
                owner: (0, 0),
                body: b"hi".to_vec(),
            }],
        )
        .await
        .unwrap();
        assert_eq!(std::fs::read(root.join("hello")).unwrap(), b"hi");
        assert_eq!(h.size(&root.join("hello")).await.unwrap(), Some(2));
        assert_eq!(h.size(&root.join("nothing")).await.unwrap(), None);
        h.close().await;
        assert!(d
            .inspect_container(&id, None)
            .await
            .is_err_and(|e| status_of(&e) == Some(404)));
        crate::lock::remove_image(&d).await;
    }

    #[test]
    fn paths_must_be_absolute_without_parent_steps() {
        assert!(check_abs(Path::new("/srv/aigw")).is_ok());
        assert!(check_abs(Path::new("srv/aigw")).is_err());
        assert!(check_abs(Path::new("/srv/../etc")).is_err());
    }
}
