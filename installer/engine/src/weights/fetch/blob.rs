//! One blob: its ranges fetched in parallel into `<etag>.incomplete` (pre-allocated, written in place),
//! the resume record beside it rewritten atomically every checkpoint, then hashed and moved into place.

use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aigw_core::weights::ranges::{checkpoint, ByteRange, Progress};
use futures_util::{stream, StreamExt, TryStreamExt};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::{FetchError, Request};
use crate::weights::{hash_file, Hashes, WeightsError};

/// A transfer that failed part-way is resumed from its last byte this many times before the fetch fails.
const ATTEMPTS: usize = 4;

/// What the progress ticker reads of a blob under way.
pub(super) struct Live {
    pub name: String,
    pub size: u64,
    pub have: AtomicU64,
}

struct Disk {
    file: std::fs::File,
    path: PathBuf,
    record: PathBuf,
    progress: Mutex<(Progress, u64)>,
    every: u64,
}

impl Disk {
    fn wrote(&self, i: usize, n: u64) -> Result<(), WeightsError> {
        let mut g = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        g.0.advance(i, n);
        g.1 += n;
        if g.1 >= self.every {
            g.1 = 0;
            save(&self.record, &g.0)?;
        }
        Ok(())
    }
    fn save(&self) -> Result<(), WeightsError> {
        let g = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        save(&self.record, &g.0)
    }
}

fn save(record: &std::path::Path, p: &Progress) -> Result<(), WeightsError> {
    crate::fsutil::write_new(record, p.to_json().as_bytes(), true, 0o644).map_err(|e| {
        WeightsError::Io {
            path: record.display().to_string(),
            source: match e {
                crate::fsutil::WriteError::Io(io) => io,
                crate::fsutil::WriteError::Exists => std::io::ErrorKind::AlreadyExists.into(),
            },
        }
    })
}

/// The resume record's path beside the `.incomplete` file.
pub(super) fn record_path(incomplete: &std::path::Path) -> PathBuf {
    let mut s = incomplete.as_os_str().to_owned();
    s.push(".ranges");
    PathBuf::from(s)
}

/// Fetches what `incomplete` lacks; returns its hashes once every byte is there (the git blob id too
/// when `git_blob`).
#[allow(clippy::too_many_arguments)]
pub(super) async fn fetch_to(
    req: &Request,
    git_blob: bool,
    url: &url::Url,
    incomplete: &std::path::Path,
    live: &Live,
    permits: &Semaphore,
    cancel: &CancellationToken,
) -> Result<Hashes, FetchError> {
    let io = |e| WeightsError::io(incomplete)(e);
    let record = record_path(incomplete);
    let on_disk = std::fs::metadata(incomplete).map(|m| m.len()).ok();
    let text = match on_disk {
        Some(len) if len == live.size => std::fs::read_to_string(&record).ok(),
        _ => None,
    };
    let progress = Progress::resume(text.as_deref(), live.size, req.chunk);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(incomplete)
        .map_err(io)?;
    if progress.have() == 0 {
        file.set_len(0).map_err(io)?;
    }
    // Pre-allocated: the blocks are reserved (no fragmentation) and a full disk fails here, not mid-way.
    file.set_len(live.size).map_err(io)?;
    live.have.store(progress.have(), Ordering::Relaxed);
    let todo = progress.remaining();
    let disk = Disk {
        file,
        path: incomplete.to_path_buf(),
        record,
        every: checkpoint(req.chunk, req.connections),
        progress: Mutex::new((progress, 0)),
    };
    save(
        &disk.record,
        &disk.progress.lock().unwrap_or_else(|p| p.into_inner()).0,
    )?;
    let result = stream::iter(todo)
        .map(|(i, r)| range(req, url, &disk, live, i, r, permits, cancel))
        .buffer_unordered(req.connections.max(1))
        .try_collect::<Vec<()>>()
        .await;
    // Whatever happened, what is written is recorded: a resume starts there.
    disk.save()?;
    result?;
    if cancel.is_cancelled() {
        return Err(FetchError::Cancelled);
    }
    let path = incomplete.to_path_buf();
    let h = tokio::task::spawn_blocking(move || hash_file(&path, git_blob))
        .await
        .map_err(|e| io(std::io::Error::other(e.to_string())))??;
    if h.size != live.size {
        return Err(FetchError::Short {
            file: live.name.clone(),
            detail: format!("{} bytes on disk, {} expected", h.size, live.size),
        });
    }
    Ok(h)
}

#[allow(clippy::too_many_arguments)]
async fn range(
    req: &Request,
    url: &url::Url,
    disk: &Disk,
    live: &Live,
    i: usize,
    r: ByteRange,
    permits: &Semaphore,
    cancel: &CancellationToken,
) -> Result<(), FetchError> {
    let _permit = permits.acquire().await.map_err(|_| FetchError::Cancelled)?;
    let mut at = r.start;
    let mut attempt = 0;
    loop {
        if cancel.is_cancelled() {
            return Err(FetchError::Cancelled);
        }
        let left = ByteRange {
            start: at,
            end: r.end,
        };
        match transfer(req, url, disk, live, i, left, &mut at, cancel).await {
            Ok(()) => return Ok(()),
            Err(e @ (FetchError::Net { .. } | FetchError::Short { .. })) => {
                attempt += 1;
                if attempt >= ATTEMPTS {
                    return Err(e);
                }
                tracing::info!("{}: resuming at byte {at} after: {e}", live.name);
            }
            Err(e) => return Err(e),
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn transfer(
    req: &Request,
    url: &url::Url,
    disk: &Disk,
    live: &Live,
    i: usize,
    r: ByteRange,
    at: &mut u64,
    cancel: &CancellationToken,
) -> Result<(), FetchError> {
    let send = req
        .get(url.clone())
        .header(reqwest::header::RANGE, r.header())
        .send();
    let resp = tokio::select! {
        _ = cancel.cancelled() => return Err(FetchError::Cancelled),
        resp = send => resp.map_err(|e| req.net_error(&e))?,
    };
    let status = resp.status().as_u16();
    let whole = r.start == 0 && r.end == live.size;
    if status != 206 && !(status == 200 && whole) {
        return Err(req.refusal(status, &live.name));
    }
    let mut resp = resp;
    while *at < r.end {
        let chunk = tokio::select! {
            _ = cancel.cancelled() => return Err(FetchError::Cancelled),
            c = resp.chunk() => c.map_err(|e| req.net_error(&e))?,
        };
        let Some(mut bytes) = chunk else {
            return Err(FetchError::Short {
                file: live.name.clone(),
                detail: format!("the answer ended at byte {at} of {}", r.end),
            });
        };
        // Never past the range asked for: a server sending more must not overwrite the next range.
        bytes.truncate((r.end - *at) as usize);
        disk.file
            .write_all_at(&bytes, *at)
            .map_err(WeightsError::io(&disk.path))?;
        let n = bytes.len() as u64;
        *at += n;
        live.have.fetch_add(n, Ordering::Relaxed);
        disk.wrote(i, n)?;
    }
    Ok(())
}

/// Shared by the ticker and the blob tasks.
pub(super) type Lives = Arc<Mutex<Vec<Arc<Live>>>>;
