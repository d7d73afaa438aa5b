//! What a remote engine's deployment needs on the server, made there through the engine
//! ([`crate::docker::server_files`]), never on the workstation: the gateway's log directory, the Hugging
//! Face token (0600, the model image's user) and the verified snapshot, fetched into the workstation's
//! cache first and then streamed to the server's `cache_dir`.
//!
//! The token's place on the server is derived, not a spec field: `<cache_dir>/aigw-secrets/hf-token`.
//! A token exists only for Hugging Face weights, whose `cache_dir` is always a server directory the
//! model server owns and already mounts; no other path of the spec is the model server's.

use aigw_core::plan::Component;
use aigw_core::spec::{DeploymentSpec, Weights};
use aigw_core::weights::layout::RepoCache;
use aigw_core::weights::manifest::{manifests_dir, Manifest};
use bytes::Bytes;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{CancellationToken, Error, FetchRequest, Session, Sink};
use crate::docker::events::{emit, Event, PhaseState};
use crate::docker::server_files::{self, Entry, ServerFiles, ServerFilesError};

/// The directory under the server's `cache_dir` that holds the token.
pub const SECRETS_DIR: &str = "aigw-secrets";
pub const TOKEN_NAME: &str = "hf-token";

/// Where the model server reads the token on a remote engine's host.
pub fn server_token_path(cache_dir: &Path) -> PathBuf {
    cache_dir.join(SECRETS_DIR).join(TOKEN_NAME)
}

/// The workstation's cache a remote install fetches into before the upload: `<data_dir>/hf-cache`.
pub fn workstation_cache(data_dir: &Path) -> PathBuf {
    data_dir.join("hf-cache")
}

/// The token file the model container mounts: the workstation's file when the engine is this machine,
/// the server's copy otherwise (a workstation path means nothing to a remote engine).
pub fn mounted_token(local: bool, s: &DeploymentSpec, token: Option<&Path>) -> Option<String> {
    match (&s.model.weights, token) {
        (_, None) => None,
        (_, Some(t)) if local => Some(t.display().to_string()),
        (Weights::HuggingFace { cache_dir, .. }, Some(_)) => {
            Some(server_token_path(cache_dir).display().to_string())
        }
        (Weights::Local { .. }, Some(_)) => None,
    }
}

/// The spec with its cache moved to the workstation's: what a remote install fetches into.
pub(super) fn with_cache(s: &DeploymentSpec, dir: &Path) -> DeploymentSpec {
    let mut s = s.clone();
    if let Weights::HuggingFace { cache_dir, .. } = &mut s.model.weights {
        *cache_dir = dir.to_path_buf();
    }
    s
}

fn image_of(s: &DeploymentSpec, c: Component) -> Option<String> {
    aigw_core::plan::desired(s, None).ok().and_then(|d| {
        d.containers
            .into_iter()
            .find(|x| x.component == c)
            .map(|x| x.image)
    })
}

/// The uid/gid `image` runs as on the server; root when it cannot be told (said as a warning).
async fn owner_of(t: &Session, image: Option<String>, what: &str, sink: &Sink) -> (u32, u32) {
    let Some(image) = image else { return (0, 0) };
    match crate::docker::owner::image_user(&t.conn.docker, &image).await {
        Ok(u) => u.unwrap_or((0, 0)),
        Err(e) => {
            let message = format!(
                "could not tell which user {image} runs as on the server ({e}); {what} is made for \
                 root there"
            );
            emit(sink, Event::Warning { message });
            (0, 0)
        }
    }
}

fn parent_and_name(p: &Path) -> Result<(PathBuf, String), ServerFilesError> {
    match (p.parent(), p.file_name()) {
        (Some(parent), Some(name)) if p.is_absolute() => {
            Ok((parent.to_path_buf(), name.to_string_lossy().into_owned()))
        }
        _ => Err(ServerFilesError::BadPath {
            path: p.display().to_string(),
        }),
    }
}

/// Under the lock, before any container, for a remote engine: the log directory (given to the gateway
/// image's user when made here; one already there keeps its owner, as on a local engine) and the token
/// at [`server_token_path`], 0600, owned by the model image's user. Returns the helper for the weights.
pub(super) async fn prepare_server(
    t: &Session,
    s: &DeploymentSpec,
    token: Option<&Path>,
    sink: &Sink,
) -> Result<ServerFiles, Error> {
    let (log_parent, log_name) = parent_and_name(&s.log_dir)?;
    let mut roots = vec![log_parent.clone()];
    let cache = match &s.model.weights {
        Weights::HuggingFace { cache_dir, .. } => {
            roots.push(cache_dir.clone());
            Some(cache_dir.clone())
        }
        Weights::Local { .. } => None,
    };
    let phase = |state| Event::Phase {
        phase: "files on the server (through the engine)".into(),
        state,
    };
    emit(sink, phase(PhaseState::Started));
    let files = ServerFiles::open(&t.conn.docker, &roots).await?;
    tracing::info!(
        "making the deployment's files on the server through the engine (helper {})",
        files.id()
    );
    if files.stat(&s.log_dir).await?.is_none() {
        let owner = owner_of(
            t,
            image_of(s, Component::Gateway),
            &format!("the log directory {}", s.log_dir.display()),
            sink,
        )
        .await;
        files
            .put(
                &log_parent,
                &[Entry::Dir {
                    name: log_name,
                    mode: 0o755,
                    owner,
                }],
            )
            .await?;
    }
    if let (Some(cache), Some(token)) = (cache, token) {
        let body = std::fs::read(token).map_err(|source| Error::ReadToken {
            path: token.display().to_string(),
            source,
        })?;
        let owner = owner_of(t, image_of(s, Component::Model), "the token file", sink).await;
        files
            .put(
                &cache,
                &[
                    Entry::Dir {
                        name: SECRETS_DIR.into(),
                        mode: 0o700,
                        owner,
                    },
                    Entry::File {
                        name: format!("{SECRETS_DIR}/{TOKEN_NAME}"),
                        mode: 0o600,
                        owner,
                        body,
                    },
                ],
            )
            .await?;
    }
    emit(sink, phase(PhaseState::Done));
    Ok(files)
}

/// The weights phase for a remote engine: the snapshot fetched (or found verified) in the workstation's
/// cache, then streamed to the server's `cache_dir` unless the server already holds the same manifest.
pub(super) async fn weights_to_server(
    t: &Session,
    files: &ServerFiles,
    s: &DeploymentSpec,
    req: &FetchRequest,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    let Weights::HuggingFace {
        repo,
        revision,
        cache_dir,
        ..
    } = &s.model.weights
    else {
        return Ok(());
    };
    let local = workstation_cache(&t.data_dir);
    let mut space_checked = false;
    if !crate::weights::status(&local, repo, revision).is_ok_and(|st| st.complete()) {
        // Asked of the server before anything comes down here: a server that holds this snapshot
        // already needs no download, one short of space is refused before tens of GB are fetched.
        let plan = super::weights_plan(&with_cache(s, &local), req).await?;
        if server_holds(files, cache_dir, repo, revision, &plan).await? {
            emit(sink, already_on_server(repo, revision, cache_dir));
            return Ok(());
        }
        let blobs: Vec<(&str, u64)> = plan
            .files
            .iter()
            .map(|f| (f.etag.as_str(), f.size))
            .collect();
        server_space(t, files, s, cache_dir, repo, &blobs, sink, cancel).await?;
        space_checked = true;
        super::weights_fetch(&with_cache(s, &local), req, sink, cancel).await?;
    } else {
        emit(
            sink,
            Event::Phase {
                phase: format!(
                    "weights: {repo} at {revision} already verified in {} (this workstation)",
                    local.display()
                ),
                state: PhaseState::Done,
            },
        );
    }
    let m = crate::weights::find_manifest(&local, repo, revision)?;
    let name = Manifest::file_name(repo, &m.commit).map_err(crate::weights::WeightsError::from)?;
    let on_server = files.read(&manifests_dir(cache_dir).join(&name)).await?;
    let same = on_server
        .and_then(|b| Manifest::parse(&String::from_utf8_lossy(&b)).ok())
        .is_some_and(|theirs| same_files(&theirs, &m));
    let phase = |state| Event::Phase {
        phase: format!(
            "weights: {repo} from {} to {} on the server",
            local.display(),
            cache_dir.display()
        ),
        state,
    };
    if same {
        emit(sink, already_on_server(repo, revision, cache_dir));
        return Ok(());
    }
    if !space_checked {
        let blobs: Vec<(&str, u64)> = m.files.iter().map(|f| (f.etag.as_str(), f.size)).collect();
        server_space(t, files, s, cache_dir, repo, &blobs, sink, cancel).await?;
    }
    emit(sink, phase(PhaseState::Started));
    match upload(files, &local, cache_dir, &m, sink, cancel).await {
        Ok(()) => {
            emit(sink, phase(PhaseState::Done));
            Ok(())
        }
        Err(e) => {
            emit(sink, phase(PhaseState::Failed));
            Err(e.into())
        }
    }
}

/// Before the first byte of the upload: the blobs the server lacks (one of the same size is replaced in
/// place) against the free space of the server file system that holds `cache_dir`, read by `df` in the
/// model image (or another glibc image on the server). Too little is refused naming the server and the
/// directory; a figure that cannot be read is a warning, and the upload goes on.
#[allow(clippy::too_many_arguments)]
async fn server_space(
    t: &Session,
    files: &ServerFiles,
    s: &DeploymentSpec,
    cache_dir: &Path,
    repo: &str,
    blobs: &[(&str, u64)],
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    // The server's hub layout under `cache_dir` is the workstation's under its cache.
    let cache = RepoCache::new(cache_dir, repo).map_err(crate::weights::WeightsError::from)?;
    let mut seen = std::collections::BTreeSet::new();
    let mut needed = 0u64;
    for (etag, size) in blobs.iter().filter(|(e, _)| seen.insert(*e)) {
        let on_server = cache
            .blob(etag)
            .map_err(crate::weights::WeightsError::from)?;
        if files.size(&on_server).await? != Some(*size) {
            needed += size;
        }
    }
    if needed == 0 {
        return Ok(());
    }
    let warn = |why: String| {
        let message = format!(
            "free space on the server could not be read: {why}; the upload of {} goes on",
            aigw_core::weights::human_bytes(needed)
        );
        emit(sink, Event::Warning { message });
    };
    let preferred: Vec<String> = image_of(s, Component::Model).into_iter().collect();
    let Some(image) = crate::hardware::gpu_probe::choose_image(&t.conn.docker, &preferred).await
    else {
        warn(format!(
            "no image on the server to run df in ({} is not pulled yet)",
            preferred.join(", ")
        ));
        return Ok(());
    };
    let free =
        match crate::docker::server_space::free_bytes(&t.conn.docker, &image, cache_dir, cancel)
            .await
        {
            Ok(free) => free,
            Err(_) if cancel.is_cancelled() => return Err(ServerFilesError::Cancelled.into()),
            Err(e) => {
                warn(e.to_string());
                return Ok(());
            }
        };
    tracing::info!(
        "the server has {free} bytes free for {}, the upload needs {needed}",
        cache_dir.display()
    );
    aigw_core::weights::space::check_server(
        needed,
        free,
        &server_name(&t.endpoint),
        &cache_dir.display().to_string(),
    )?;
    Ok(())
}

fn already_on_server(repo: &str, revision: &str, cache_dir: &Path) -> Event {
    Event::Phase {
        phase: format!(
            "weights: {repo} at {revision} already on the server in {}",
            cache_dir.display()
        ),
        state: PhaseState::Done,
    }
}

/// The server's verified manifest of the Hub's commit, for the same revision, lists the same files (name,
/// size, blob) as the Hub does now.
async fn server_holds(
    files: &ServerFiles,
    cache_dir: &Path,
    repo: &str,
    revision: &str,
    plan: &crate::weights::fetch::FetchPlan,
) -> Result<bool, Error> {
    let name =
        Manifest::file_name(repo, &plan.commit).map_err(crate::weights::WeightsError::from)?;
    let Some(bytes) = files.read(&manifests_dir(cache_dir).join(&name)).await? else {
        return Ok(false);
    };
    let Ok(theirs) = Manifest::parse(&String::from_utf8_lossy(&bytes)) else {
        return Ok(false);
    };
    let mut have: Vec<(&str, u64, &str)> = theirs
        .files
        .iter()
        .map(|f| (f.name.as_str(), f.size, f.etag.as_str()))
        .collect();
    let mut want: Vec<(&str, u64, &str)> = plan
        .files
        .iter()
        .map(|f| (f.name.as_str(), f.size, f.etag.as_str()))
        .collect();
    have.sort_unstable();
    want.sort_unstable();
    // Its ref names the same revision (the model server resolves that name offline).
    Ok(theirs.verified_at.is_some() && theirs.revision == revision && have == want)
}

/// How the admin names the engine's host: the ssh host, or the TCP address without its port.
fn server_name(e: &aigw_core::report::engine::Endpoint) -> String {
    use aigw_core::report::engine::Endpoint;
    match e {
        Endpoint::Ssh { host, .. } => host.clone(),
        Endpoint::Tcp { addr, .. } => addr
            .rsplit_once(':')
            .map_or(addr.as_str(), |(h, _)| h)
            .to_string(),
        _ => "the server".into(),
    }
}

/// Two manifests name the same snapshot files (the time of the last verification aside).
fn same_files(a: &Manifest, b: &Manifest) -> bool {
    a.repo == b.repo && a.commit == b.commit && a.files == b.files
}

/// What the upload's tar holds, relative to the cache directory, in order: blobs, snapshot links, the
/// ref, the manifest last (a cut-short upload is never taken for a complete one). Pure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Blob {
        name: String,
        from: PathBuf,
        size: u64,
    },
    Link {
        name: String,
        target: PathBuf,
    },
    Text {
        name: String,
        body: Vec<u8>,
    },
}

pub fn parts(local: &Path, m: &Manifest) -> Result<Vec<Part>, Error> {
    let cache = RepoCache::new(local, &m.repo).map_err(crate::weights::WeightsError::from)?;
    let rel = |p: &Path| -> String { p.strip_prefix(local).unwrap_or(p).display().to_string() };
    let layout = |e: aigw_core::weights::layout::LayoutError| {
        Error::from(crate::weights::WeightsError::from(e))
    };
    let mut out = Vec::new();
    for f in &m.files {
        let blob = cache.blob(&f.etag).map_err(layout)?;
        out.push(Part::Blob {
            name: rel(&blob),
            from: blob,
            size: f.size,
        });
    }
    for f in &m.files {
        out.push(Part::Link {
            name: rel(&cache.snapshot_file(&m.commit, &f.name).map_err(layout)?),
            target: RepoCache::link_target(&f.name, &f.etag).map_err(layout)?,
        });
    }
    out.push(Part::Text {
        name: rel(&cache.ref_file(&m.revision).map_err(layout)?),
        body: m.commit.clone().into_bytes(),
    });
    let manifest = manifests_dir(local)
        .join(Manifest::file_name(&m.repo, &m.commit).map_err(crate::weights::WeightsError::from)?);
    out.push(Part::Text {
        name: rel(&manifest),
        body: m.to_json().into_bytes(),
    });
    Ok(out)
}

/// A writer that hands 1 MiB chunks to the upload.
struct ChunkWriter {
    buf: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<Bytes>,
}

const CHUNK: usize = 1 << 20;

impl Write for ChunkWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| std::io::Error::other("the upload ended"))
    }
}

/// Packs `parts` into `w` (root-owned, readable by the model server's user).
fn pack_parts(parts: &[Part], w: ChunkWriter) -> Result<(), ServerFilesError> {
    let pack_err = |name: &str| {
        let name = name.to_string();
        move |e: std::io::Error| ServerFilesError::Pack {
            path: name.clone(),
            detail: e.to_string(),
        }
    };
    let mut b = tar::Builder::new(w);
    for p in parts {
        match p {
            Part::Blob { name, from, size } => {
                let file = std::fs::File::open(from).map_err(pack_err(name))?;
                let mut h = server_files::header(tar::EntryType::Regular, 0o644, (0, 0), *size);
                b.append_data(&mut h, name, std::io::Read::take(file, *size))
                    .map_err(pack_err(name))?;
            }
            Part::Link { name, target } => {
                let mut h = server_files::header(tar::EntryType::Symlink, 0o777, (0, 0), 0);
                b.append_link(&mut h, name, target)
                    .map_err(pack_err(name))?;
            }
            Part::Text { name, body } => {
                let mut h =
                    server_files::header(tar::EntryType::Regular, 0o644, (0, 0), body.len() as u64);
                b.append_data(&mut h, name, &body[..])
                    .map_err(pack_err(name))?;
            }
        }
    }
    let mut w = b.into_inner().map_err(pack_err("archive"))?;
    w.flush().map_err(pack_err("archive"))
}

/// Streams the snapshot to the server's `cache_dir` with byte progress; cancel stops it at once (what
/// arrived stays without its manifest, so the next run uploads again).
async fn upload(
    files: &ServerFiles,
    local: &Path,
    server_cache: &Path,
    m: &Manifest,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<(), ServerFilesError> {
    let parts = parts(local, m).map_err(|e| ServerFilesError::Pack {
        path: local.display().to_string(),
        detail: e.to_string(),
    })?;
    let total = m.total();
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let packer = tokio::task::spawn_blocking(move || {
        pack_parts(
            &parts,
            ChunkWriter {
                buf: Vec::with_capacity(CHUNK),
                tx,
            },
        )
    });
    let progress_sink = sink.clone();
    let what = format!("weights to the server ({})", server_cache.display());
    let state = (rx, 0u64, Instant::now());
    let body = futures_util::stream::unfold(state, move |(mut rx, mut sent, mut last)| {
        let sink = progress_sink.clone();
        let what = what.clone();
        async move {
            let chunk = rx.recv().await?;
            sent += chunk.len() as u64;
            if last.elapsed() >= Duration::from_millis(250) {
                last = Instant::now();
                let current = sent.min(total);
                emit(
                    &sink,
                    Event::Transfer {
                        what,
                        current,
                        total: Some(total),
                    },
                );
            }
            Some((chunk, (rx, sent, last)))
        }
    });
    let put = files.put_stream(server_cache, body);
    tokio::select! {
        r = put => r?,
        _ = cancel.cancelled() => {
            packer.abort();
            return Err(ServerFilesError::Cancelled);
        }
    }
    match packer.await {
        Ok(r) => r?,
        Err(e) => {
            return Err(ServerFilesError::Pack {
                path: local.display().to_string(),
                detail: e.to_string(),
            })
        }
    }
    emit(
        sink,
        Event::Transfer {
            what: format!("weights to the server ({})", server_cache.display()),
            current: total,
            total: Some(total),
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const EXAMPLE: &str = include_str!("../../../../tests/fixtures/specs/hf-mistral-small.toml");

    #[test]
    fn a_remote_engine_mounts_the_servers_token_and_a_local_one_the_workstations() {
        let s = DeploymentSpec::from_toml(EXAMPLE, "example").unwrap();
        let Weights::HuggingFace { cache_dir, .. } = &s.model.weights else {
            unreachable!()
        };
        let file = Path::new("/home/admin/.local/share/aigw-installer/hf-token");
        assert_eq!(
            mounted_token(true, &s, Some(file)).as_deref(),
            Some(file.to_str().unwrap())
        );
        let remote = mounted_token(false, &s, Some(file)).unwrap();
        assert_eq!(
            remote,
            cache_dir
                .join("aigw-secrets/hf-token")
                .display()
                .to_string()
        );
        assert_eq!(mounted_token(false, &s, None), None);
        // The desired model container mounts that server path.
        let d = aigw_core::plan::desired(&s, Some(&remote)).unwrap();
        assert!(d
            .containers
            .iter()
            .flat_map(|c| &c.binds)
            .any(|b| b.host == remote && b.container == aigw_core::plan::HF_TOKEN_MOUNT));
    }

    #[test]
    fn the_server_is_named_as_the_admin_typed_it() {
        use aigw_core::report::engine::Endpoint;
        let ssh = Endpoint::Ssh {
            user: Some("admin".into()),
            host: "gpu01".into(),
            port: Some(2222),
        };
        assert_eq!(server_name(&ssh), "gpu01");
        let tcp = Endpoint::Tcp {
            addr: "10.0.0.5:2376".into(),
            tls: None,
        };
        assert_eq!(server_name(&tcp), "10.0.0.5");
    }

    #[test]
    fn the_upload_holds_blobs_then_links_then_the_ref_and_the_manifest_last() {
        let m = Manifest {
            version: aigw_core::weights::manifest::MANIFEST_VERSION,
            repo: "org/model".into(),
            revision: "main".into(),
            commit: "5ca1ab1e00000000000000000000000000c0ffee".into(),
            endpoint: None,
            files: vec![aigw_core::weights::manifest::ManifestFile {
                name: "sub/config.json".into(),
                size: 3,
                sha256: "a".repeat(64),
                etag: "b".repeat(40),
                git_blob: None,
            }],
            verified_at: Some(1),
        };
        let p = parts(Path::new("/ws/hf-cache"), &m).unwrap();
        let names: Vec<String> = p
            .iter()
            .map(|x| match x {
                Part::Blob { name, .. } | Part::Link { name, .. } | Part::Text { name, .. } => {
                    name.clone()
                }
            })
            .collect();
        assert_eq!(
            names,
            [
                format!("hub/models--org--model/blobs/{}", "b".repeat(40)),
                format!(
                    "hub/models--org--model/snapshots/{}/sub/config.json",
                    m.commit
                ),
                "hub/models--org--model/refs/main".into(),
                format!("aigw-manifests/models--org--model--{}.json", m.commit),
            ]
        );
        assert!(
            matches!(&p[1], Part::Link { target, .. } if target == &PathBuf::from(format!("../../../blobs/{}", "b".repeat(40))))
        );
        // Verified at another time: still the same snapshot.
        let later = Manifest {
            verified_at: Some(99),
            ..m.clone()
        };
        assert!(same_files(&m, &later));
        let other = Manifest {
            commit: "0".repeat(40),
            ..m
        };
        assert!(!same_files(&later, &other));
    }
}
