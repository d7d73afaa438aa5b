//! The network side of the weights (issue 12): resolve a repository at a revision through the Hub's API,
//! select the files vLLM needs, check the disk before the first byte, then fetch several files and several
//! byte ranges of each in parallel (bounded) into the hub cache, each blob verified (LFS SHA-256, or git blob id for a file kept in git), resumable
//! from disk, and finish with the snapshot links, the ref and the verified manifest.
//!
//! The token goes only to the endpoint's host; reqwest drops `Authorization` when a redirect leaves it
//! (the Hub sends LFS files to a CDN). It is never logged nor put into an event or error.

mod blob;
mod error;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aigw_core::catalog::WeightsFormat;
use aigw_core::secret::Secret;
use aigw_core::weights::hub::{Endpoint, RepoInfo};
use aigw_core::weights::layout::RepoCache;
use aigw_core::weights::manifest::{Manifest, ManifestFile, MANIFEST_VERSION};
use aigw_core::weights::ranges::DEFAULT_CHUNK;
use aigw_core::weights::select::{select, Digest, FileToFetch};
use aigw_core::weights::space::{self, Present};
use futures_util::{stream, StreamExt, TryStreamExt};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::docker::events::{emit, Event, Sink, WeightsFileState};
use crate::net::HttpOptions;
use crate::weights::{
    hash_file, link_snapshot, read_manifest, write_manifest, Hashes, WeightsError,
};
use blob::{Live, Lives};
pub use error::FetchError;

/// Connections at once, over all files: enough that one slow or distant connection does not cap the
/// link (the idea behind hf_transfer), few enough to stay polite to the Hub.
pub const DEFAULT_CONNECTIONS: usize = 8;

/// What to fetch, from where, to where, and how.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    pub repo: String,
    /// A branch, tag or commit; the manifest and `refs/` record what it resolved to.
    pub revision: String,
    pub endpoint: Endpoint,
    /// The Hugging Face cache directory (`HF_HOME`); the hub cache is its `hub/`.
    pub cache_dir: PathBuf,
    pub format: WeightsFormat,
    pub token: Option<Secret>,
    pub http: HttpOptions,
    /// Connections at once, over all files and ranges.
    pub connections: usize,
    /// Range size in bytes.
    pub chunk: u64,
    /// FOR TESTS ONLY: the free bytes the space check sees instead of the file system's answer (a small
    /// file system is not available to tests). `None` in every front end.
    pub free_bytes_override: Option<u64>,
}

impl FetchOptions {
    pub fn new(repo: &str, revision: &str, endpoint: Endpoint, cache_dir: &Path) -> Self {
        Self {
            repo: repo.into(),
            revision: revision.into(),
            endpoint,
            cache_dir: cache_dir.into(),
            format: WeightsFormat::Hf,
            token: None,
            http: HttpOptions::default(),
            connections: DEFAULT_CONNECTIONS,
            chunk: DEFAULT_CHUNK,
            free_bytes_override: None,
        }
    }
}

/// The repository resolved and judged, before the first byte: what Review shows.
#[derive(Debug, Clone)]
pub struct FetchPlan {
    pub commit: String,
    /// Sorted by name.
    pub files: Vec<FileToFetch>,
    /// Bytes of the distinct blobs.
    pub total: u64,
    /// Bytes still to download.
    pub needed: u64,
    /// "download ≈ 47.8 GB from huggingface.co to /srv/hf".
    pub summary: String,
}

/// A finished fetch.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub commit: String,
    pub snapshot: PathBuf,
    pub manifest: PathBuf,
    pub files: Vec<FileToFetch>,
    /// Bytes downloaded by this run (a resume counts only what it added).
    pub downloaded: u64,
}

/// A request builder bound to the endpoint, carrying the token to its host only.
pub(crate) struct Request {
    client: reqwest::Client,
    token: Option<Secret>,
    endpoint: Endpoint,
    repo: String,
    revision: String,
    chunk: u64,
    connections: usize,
}

impl Request {
    fn new(opts: &FetchOptions) -> Result<Self, FetchError> {
        let client = crate::net::client(&opts.http).map_err(|e| FetchError::Status {
            host: opts.endpoint.host(),
            status: 0,
            what: e.to_string(),
        })?;
        Ok(Self {
            client,
            token: opts.token.clone().filter(|t| !t.is_empty()),
            endpoint: opts.endpoint.clone(),
            repo: opts.repo.clone(),
            revision: opts.revision.clone(),
            chunk: opts.chunk.max(1),
            connections: opts.connections.max(1),
        })
    }

    fn get(&self, url: url::Url) -> reqwest::RequestBuilder {
        let same_host = url.host_str() == self.endpoint.url().host_str()
            && url.port_or_known_default() == self.endpoint.url().port_or_known_default();
        let b = self.client.get(url);
        match &self.token {
            Some(t) if same_host => b.bearer_auth(t.expose()),
            _ => b,
        }
    }

    fn net_error(&self, e: &reqwest::Error) -> FetchError {
        FetchError::Net {
            host: self.endpoint.host(),
            failure: crate::net::classify(e),
        }
    }

    /// An HTTP refusal in the words of its cause.
    fn refusal(&self, status: u16, what: &str) -> FetchError {
        let page = format!(
            "{}/{}",
            self.endpoint.url().as_str().trim_end_matches('/'),
            self.repo
        );
        match status {
            401 if self.token.is_some() => FetchError::BadToken {
                host: self.endpoint.host(),
            },
            401 => FetchError::Gated {
                repo: self.repo.clone(),
                page,
            },
            403 => FetchError::NoAccess {
                repo: self.repo.clone(),
                page,
            },
            404 => FetchError::NotFound {
                repo: self.repo.clone(),
                revision: self.revision.clone(),
                host: self.endpoint.host(),
            },
            _ => FetchError::Status {
                host: self.endpoint.host(),
                status,
                what: what.to_string(),
            },
        }
    }
}

/// Resolves the revision, selects the files, checks access (a gated repository's first file) and the
/// free space: every refusal comes before anything is written.
pub async fn plan(opts: &FetchOptions) -> Result<FetchPlan, FetchError> {
    let req = Request::new(opts)?;
    let (plan, _) = resolve(&req, opts).await?;
    Ok(plan)
}

async fn resolve(
    req: &Request,
    opts: &FetchOptions,
) -> Result<(FetchPlan, Option<Manifest>), FetchError> {
    let api = opts.endpoint.api_url(&opts.repo, &opts.revision)?;
    let resp = req.get(api).send().await.map_err(|e| req.net_error(&e))?;
    if !resp.status().is_success() {
        return Err(req.refusal(resp.status().as_u16(), "the model's information"));
    }
    let text = resp.text().await.map_err(|e| req.net_error(&e))?;
    let info = RepoInfo::parse(&opts.repo, &text)?;
    let selection = select(&info, opts.format)?;
    if info.gated.is_gated() {
        // The API describes a gated repository to anyone; its files answer 401/403. One byte of the
        // smallest file tells before anything is allocated.
        if let Some(f) = selection.files.iter().min_by_key(|f| f.size) {
            let url = opts.endpoint.resolve_url(&opts.repo, &info.sha, &f.name)?;
            let resp = req
                .get(url)
                .header(reqwest::header::RANGE, "bytes=0-0")
                .send()
                .await
                .map_err(|e| req.net_error(&e))?;
            if !resp.status().is_success() {
                return Err(req.refusal(resp.status().as_u16(), &f.name));
            }
        }
    }
    let cache = RepoCache::new(&opts.cache_dir, &opts.repo)?;
    let manifest = read_manifest(&opts.cache_dir, &opts.repo, &info.sha)?;
    let mut present = BTreeMap::new();
    for f in &selection.files {
        present.insert(
            f.etag.clone(),
            on_disk(&cache, f, manifest.as_ref(), req.chunk)?,
        );
    }
    let present: BTreeMap<String, Present> = present
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
    let needed = space::needed_bytes(&selection.files, &present);
    let free = match opts.free_bytes_override {
        Some(f) => f,
        None => crate::weights::free_bytes(&opts.cache_dir)?,
    };
    space::check(needed, free, &opts.cache_dir.display().to_string())?;
    let mut seen = std::collections::BTreeSet::new();
    let total = selection
        .files
        .iter()
        .filter(|f| seen.insert(f.etag.clone()))
        .map(|f| f.size)
        .sum();
    let summary = Manifest::summary(needed, &opts.endpoint.host(), &opts.cache_dir);
    Ok((
        FetchPlan {
            commit: info.sha,
            files: selection.files,
            total,
            needed,
            summary,
        },
        manifest,
    ))
}

/// What the cache holds of a file without reading it whole: verified (in the manifest, same size), or
/// some bytes of it.
fn on_disk(
    cache: &RepoCache,
    f: &FileToFetch,
    manifest: Option<&Manifest>,
    chunk: u64,
) -> Result<Option<Present>, WeightsError> {
    let blob = cache.blob(&f.etag)?;
    if let Ok(m) = std::fs::metadata(&blob) {
        if listed(manifest, f).is_some() && m.len() == f.size {
            return Ok(Some(Present::Verified));
        }
        return Ok(Some(Present::Partial(m.len().min(f.size))));
    }
    let inc = cache.incomplete(&f.etag)?;
    let text = std::fs::read_to_string(blob::record_path(&inc)).ok();
    let p = aigw_core::weights::ranges::Progress::resume(text.as_deref(), f.size, chunk);
    Ok((p.have() > 0).then_some(Present::Partial(p.have())))
}

/// The manifest's entry of a file it lists with the same blob and size (and, for a file kept in git,
/// the same recorded git blob id: an entry written before those were recorded is hashed again).
fn listed<'a>(manifest: Option<&'a Manifest>, f: &FileToFetch) -> Option<&'a ManifestFile> {
    manifest?
        .files
        .iter()
        .find(|m| m.etag == f.etag && m.size == f.size && m.git_blob.as_deref() == git_blob_of(f))
}

/// The git blob id the Hub gives a file kept in git; `None` for an LFS file.
fn git_blob_of(f: &FileToFetch) -> Option<&str> {
    match &f.digest {
        Digest::GitBlob(id) => Some(id),
        Digest::Sha256(_) => None,
    }
}

/// Whether the bytes hashed are the file the Hub lists: its size, and its LFS SHA-256 or git blob id.
fn matches(f: &FileToFetch, h: &Hashes) -> bool {
    h.size == f.size
        && match &f.digest {
            Digest::Sha256(want) => *want == h.sha256,
            Digest::GitBlob(want) => h.git_blob.as_deref() == Some(want.as_str()),
        }
}

/// What a corrupt file failed: (check, expected, got).
fn mismatch(f: &FileToFetch, h: &Hashes) -> (&'static str, String, String) {
    match &f.digest {
        Digest::Sha256(want) => ("SHA-256", want.clone(), h.sha256.clone()),
        Digest::GitBlob(want) => (
            "git blob id",
            want.clone(),
            h.git_blob.clone().unwrap_or_default(),
        ),
    }
}

/// [`plan`], then every blob not yet verified, then the snapshot and the manifest. Events: a
/// [`Event::WeightsFile`] per file as it starts and ends, and every quarter second the total
/// ([`Event::Weights`]) and each file under way.
pub async fn fetch(
    opts: &FetchOptions,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<Fetched, FetchError> {
    let req = Request::new(opts)?;
    let (plan, manifest) = resolve(&req, opts).await?;
    let cache = RepoCache::new(&opts.cache_dir, &opts.repo)?;
    let blobs = cache.blobs_dir();
    std::fs::create_dir_all(&blobs).map_err(WeightsError::io(&blobs))?;

    let mut seen = std::collections::BTreeSet::new();
    let distinct: Vec<FileToFetch> = plan
        .files
        .iter()
        .filter(|f| seen.insert(f.etag.clone()))
        .cloned()
        .collect();
    let lives: Lives = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(AtomicU64::new(0));
    let downloaded_before = plan.total - plan.needed;
    let ticker = spawn_ticker(sink.clone(), lives.clone(), done.clone(), plan.total);
    let permits = Semaphore::new(req.connections);
    let ctx = Ctx {
        req: &req,
        cache: &cache,
        commit: &plan.commit,
        manifest: manifest.as_ref(),
        lives: &lives,
        done: &done,
        permits: &permits,
        cancel,
        sink,
    };
    let ctx = &ctx;
    let result = stream::iter(distinct)
        .map(|f| async move { ctx.one(&f).await })
        .buffer_unordered(req.connections)
        .try_collect::<Vec<(String, Hashes)>>()
        .await;
    ticker.cancel();
    let hashes: BTreeMap<String, Hashes> = result?.into_iter().collect();

    let links: Vec<(&str, &str)> = plan
        .files
        .iter()
        .map(|f| (f.name.as_str(), f.etag.as_str()))
        .collect();
    let snapshot = link_snapshot(&cache, &opts.revision, &plan.commit, &links)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .ok();
    let m = Manifest {
        version: MANIFEST_VERSION,
        repo: opts.repo.clone(),
        revision: opts.revision.clone(),
        commit: plan.commit.clone(),
        endpoint: Some(
            opts.endpoint
                .url()
                .as_str()
                .trim_end_matches('/')
                .to_string(),
        ),
        files: plan
            .files
            .iter()
            .map(|f| {
                let h = hashes.get(&f.etag);
                ManifestFile {
                    name: f.name.clone(),
                    size: f.size,
                    sha256: h.map(|h| h.sha256.clone()).unwrap_or_default(),
                    etag: f.etag.clone(),
                    git_blob: h.and_then(|h| h.git_blob.clone()),
                }
            })
            .collect(),
        verified_at: now,
    };
    let manifest = write_manifest(&opts.cache_dir, &m)?;
    emit(
        sink,
        Event::Weights {
            current: plan.total,
            total: plan.total,
            bytes_per_sec: 0,
            eta_s: Some(0),
        },
    );
    Ok(Fetched {
        commit: plan.commit,
        snapshot,
        manifest,
        files: plan.files,
        downloaded: plan.total.saturating_sub(downloaded_before),
    })
}

struct Ctx<'a> {
    req: &'a Request,
    cache: &'a RepoCache,
    commit: &'a str,
    manifest: Option<&'a Manifest>,
    lives: &'a Lives,
    done: &'a AtomicU64,
    permits: &'a Semaphore,
    cancel: &'a CancellationToken,
    sink: &'a Sink,
}

impl Ctx<'_> {
    fn file_event(&self, f: &FileToFetch, current: u64, state: WeightsFileState) {
        emit(
            self.sink,
            Event::WeightsFile {
                file: f.name.clone(),
                current,
                total: f.size,
                state,
            },
        );
    }

    /// One blob verified in the cache: `(etag, its hashes)`.
    async fn one(&self, f: &FileToFetch) -> Result<(String, Hashes), FetchError> {
        let blob = self.cache.blob(&f.etag).map_err(WeightsError::from)?;
        let git = git_blob_of(f).is_some();
        if blob.exists() {
            if let Some(m) = listed(self.manifest, f) {
                if std::fs::metadata(&blob).is_ok_and(|meta| meta.len() == f.size) {
                    let h = Hashes {
                        size: m.size,
                        sha256: m.sha256.clone(),
                        git_blob: m.git_blob.clone(),
                    };
                    return Ok(self.finished(f, h));
                }
            }
            let b = blob.clone();
            let h = tokio::task::spawn_blocking(move || hash_file(&b, git))
                .await
                .map_err(|e| WeightsError::io(&blob)(std::io::Error::other(e.to_string())))??;
            if matches(f, &h) {
                return Ok(self.finished(f, h));
            }
            emit(
                self.sink,
                Event::Warning {
                    message: format!(
                        "{} in the cache failed its check; fetching it again",
                        f.name
                    ),
                },
            );
            std::fs::remove_file(&blob).map_err(WeightsError::io(&blob))?;
        }
        let url = self
            .req
            .endpoint
            .resolve_url(&self.req.repo, self.commit, &f.name)?;
        let incomplete = self.cache.incomplete(&f.etag).map_err(WeightsError::from)?;
        let live = Arc::new(Live {
            name: f.name.clone(),
            size: f.size,
            have: AtomicU64::new(0),
        });
        lock(self.lives).push(live.clone());
        let result = self.fetch_verified(f, &url, &incomplete, &live).await;
        lock(self.lives).retain(|l| !Arc::ptr_eq(l, &live));
        let h = result?;
        std::fs::rename(&incomplete, &blob).map_err(WeightsError::io(&blob))?;
        let _ = std::fs::remove_file(blob::record_path(&incomplete));
        Ok(self.finished(f, h))
    }

    fn finished(&self, f: &FileToFetch, h: Hashes) -> (String, Hashes) {
        self.done.fetch_add(f.size, Ordering::Relaxed);
        self.file_event(f, f.size, WeightsFileState::Done);
        (f.etag.clone(), h)
    }

    /// Fetches into `.incomplete` until its LFS SHA-256 or git blob id matches; a mismatch is named,
    /// discarded and fetched once more.
    async fn fetch_verified(
        &self,
        f: &FileToFetch,
        url: &url::Url,
        incomplete: &Path,
        live: &Live,
    ) -> Result<Hashes, FetchError> {
        let mut last = None;
        for _ in 0..2 {
            self.file_event(
                f,
                live.have.load(Ordering::Relaxed),
                WeightsFileState::Fetching,
            );
            let h = blob::fetch_to(
                self.req,
                git_blob_of(f).is_some(),
                url,
                incomplete,
                live,
                self.permits,
                self.cancel,
            )
            .await?;
            self.file_event(f, f.size, WeightsFileState::Verifying);
            if matches(f, &h) {
                return Ok(h);
            }
            let (check, _, got) = mismatch(f, &h);
            emit(
                self.sink,
                Event::Warning {
                    message: format!(
                        "{} failed its {check} check (got {got}); discarded, fetching it again",
                        f.name
                    ),
                },
            );
            let _ = std::fs::remove_file(blob::record_path(incomplete));
            std::fs::remove_file(incomplete).map_err(WeightsError::io(incomplete))?;
            live.have.store(0, Ordering::Relaxed);
            last = Some(h);
        }
        let (check, expected, got) = last.as_ref().map_or_else(
            || ("checksum", String::new(), String::new()),
            |h| mismatch(f, h),
        );
        Err(FetchError::Corrupt {
            file: f.name.clone(),
            check,
            expected,
            got,
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every quarter second: the total (bytes, smoothed rate, time left) and each file under way.
fn spawn_ticker(sink: Sink, lives: Lives, done: Arc<AtomicU64>, total: u64) -> CancellationToken {
    let stop = CancellationToken::new();
    let s = stop.clone();
    if sink.is_none() {
        return stop;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let (mut last, mut at, mut rate) = (None::<u64>, Instant::now(), 0f64);
        loop {
            tokio::select! { _ = s.cancelled() => return, _ = tick.tick() => {} }
            let under_way: Vec<Arc<Live>> = lock(&lives).clone();
            let current = done.load(Ordering::Relaxed)
                + under_way
                    .iter()
                    .map(|l| l.have.load(Ordering::Relaxed))
                    .sum::<u64>();
            let dt = at.elapsed().as_secs_f64().max(1e-3);
            if let Some(prev) = last {
                let now = current.saturating_sub(prev) as f64 / dt;
                rate = if rate == 0.0 {
                    now
                } else {
                    0.7 * rate + 0.3 * now
                };
            }
            (last, at) = (Some(current), Instant::now());
            for l in &under_way {
                emit(
                    &sink,
                    Event::WeightsFile {
                        file: l.name.clone(),
                        current: l.have.load(Ordering::Relaxed),
                        total: l.size,
                        state: WeightsFileState::Fetching,
                    },
                );
            }
            let eta_s = (rate >= 1.0).then(|| (total.saturating_sub(current) as f64 / rate) as u64);
            emit(
                &sink,
                Event::Weights {
                    current,
                    total,
                    bytes_per_sec: rate as u64,
                    eta_s,
                },
            );
        }
    });
    stop
}
