//! The offline kit's weights as one `.tar`: the manifest first, so an import knows every expected size and
//! SHA-256 before the first blob byte, then each file as a regular entry. Both sides stream: no blob is
//! held in memory, each is hashed in the same pass that copies it, reported as it goes, and a cancel
//! leaves nothing half-made.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read};
use std::path::{Component, Path};

use aigw_core::weights::layout::RepoCache;
use aigw_core::weights::manifest::{Manifest, ManifestFile, EXPORT_MANIFEST};
use sha2::{Digest, Sha256};

use super::kit::{Exported, Imported};
use super::kit_progress::{KitControl, KitOp, Tracked, Tracker};
use super::verify::hex;
use super::{find_manifest, WeightsError};

/// A manifest larger than this is not one we wrote (a few hundred bytes per file).
const MAX_MANIFEST: u64 = 16 << 20;

/// A reader that hashes and counts what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

impl<R> Hashing<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            read: 0,
        }
    }
    fn finish(self) -> (u64, String) {
        (self.read, hex(&self.hasher.finalize()))
    }
}

fn header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h
}

/// Writes the manifest and the snapshot's files of `repo` at `revision` into the new file `out`
/// (refused if it exists). The tar is written to a temporary file beside it and linked into place only
/// when complete, so a failed or cancelled export leaves nothing at `out` (and removes the temporary
/// file); a file that no longer matches the manifest fails the export, naming it.
pub fn export_tar(
    cache_dir: &Path,
    repo: &str,
    revision: &str,
    out: &Path,
    ctl: &KitControl,
) -> Result<Exported, WeightsError> {
    let m = find_manifest(cache_dir, repo, revision)?;
    let cache = RepoCache::new(cache_dir, repo)?;
    if out.exists() {
        return Err(WeightsError::KitExists(out.display().to_string()));
    }
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = out
        .file_name()
        .map_or_else(|| "kit.tar".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut t = Tracker::new(ctl, KitOp::Export, m.total());
    let result = write_tar(&cache, &m, &tmp, &mut t).and_then(|()| {
        // The last moment a cancel is heard: past it the tar is whole and only linked into place.
        t.check()?;
        std::fs::hard_link(&tmp, out).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                WeightsError::KitExists(out.display().to_string())
            } else {
                WeightsError::io(out)(e)
            }
        })
    });
    let _ = std::fs::remove_file(&tmp);
    result?;
    t.finish();
    Ok(Exported {
        dir: out.to_path_buf(),
        repo: m.repo.clone(),
        commit: m.commit.clone(),
        files: m.files.len(),
        bytes: m.total(),
    })
}

fn write_tar(
    cache: &RepoCache,
    m: &Manifest,
    tmp: &Path,
    t: &mut Tracker<'_>,
) -> Result<(), WeightsError> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(WeightsError::io(tmp))?;
    let mut tar = tar::Builder::new(BufWriter::with_capacity(1 << 20, file));
    let json = m.to_json();
    let mut h = header(json.len() as u64);
    tar.append_data(&mut h, EXPORT_MANIFEST, json.as_bytes())
        .map_err(WeightsError::io(tmp))?;
    for f in &m.files {
        let src = cache.snapshot_file(&m.commit, &f.name)?;
        let file = File::open(&src).map_err(WeightsError::io(&src))?;
        let len = file.metadata().map_err(WeightsError::io(&src))?.len();
        if len != f.size {
            return Err(WeightsError::Tampered {
                corrupt: vec![f.name.clone()],
            });
        }
        t.start_file(&f.name, f.size)?;
        // `take`: the entry holds exactly the size its header declares even if the file grows meanwhile.
        let mut reader = Hashing::new(Tracked {
            inner: BufReader::with_capacity(1 << 20, file).take(f.size),
            tracker: &mut *t,
        });
        let mut h = header(f.size);
        let appended = tar.append_data(&mut h, &f.name, &mut reader);
        let (size, sha) = reader.finish();
        appended.map_err(|e| t.or_cancelled(WeightsError::io(tmp)(e)))?;
        t.end_file();
        if size != f.size || sha != f.sha256 {
            return Err(WeightsError::Tampered {
                corrupt: vec![f.name.clone()],
            });
        }
    }
    let buf = tar.into_inner().map_err(WeightsError::io(tmp))?;
    let file = buf
        .into_inner()
        .map_err(|e| WeightsError::io(tmp)(e.into_error()))?;
    file.sync_all().map_err(WeightsError::io(tmp))
}

/// An entry's name as a relative path of plain components, or why not.
fn entry_name(entry: &tar::Entry<'_, impl Read>) -> Result<String, WeightsError> {
    let raw = entry.path_bytes();
    let name = String::from_utf8_lossy(&raw).into_owned();
    let bad = |reason: &'static str| WeightsError::BadKit {
        entry: name.clone(),
        reason,
    };
    let kind = entry.header().entry_type();
    if !matches!(kind, tar::EntryType::Regular | tar::EntryType::Continuous) {
        return Err(bad("is not a regular file (links and folders are refused)"));
    }
    let path = Path::new(&name);
    if path.is_absolute() {
        return Err(bad("is an absolute path"));
    }
    if !path.components().all(|c| matches!(c, Component::Normal(_))) || name.is_empty() {
        return Err(bad("leaves the kit's folder (`..`) or is not a plain path"));
    }
    Ok(name)
}

/// Imports a kit written by [`export_tar`] into `cache_dir`, streaming: each entry is written to
/// `blobs/<etag>.incomplete` while hashed and moved into place when its size and SHA-256 match. An entry
/// that is not in the manifest, a link, an absolute path or one with `..` stops the import. The snapshot
/// is linked, the ref and the manifest written only when every file matched: a tampered or truncated
/// file is named and nothing is linked. A failed or cancelled import removes the `.incomplete` it was
/// writing; blobs already moved into place stay (they matched) and the next import copies and checks
/// them again.
pub fn import_tar(
    from: &Path,
    cache_dir: &Path,
    now: u64,
    ctl: &KitControl,
) -> Result<Imported, WeightsError> {
    let file = File::open(from).map_err(WeightsError::io(from))?;
    let mut archive = tar::Archive::new(BufReader::with_capacity(1 << 20, file));
    let mut entries = archive.entries().map_err(WeightsError::io(from))?;
    let first = entries
        .next()
        .ok_or_else(|| WeightsError::BadKit {
            entry: from.display().to_string(),
            reason: "is empty",
        })?
        .map_err(WeightsError::io(from))?;
    let m = read_manifest_entry(first)?;
    let cache = RepoCache::new(cache_dir, &m.repo)?;
    let blobs = cache.blobs_dir();
    std::fs::create_dir_all(&blobs).map_err(WeightsError::io(&blobs))?;
    let mut t = Tracker::new(ctl, KitOp::Import, m.total());
    let mut seen = vec![false; m.files.len()];
    let mut corrupt = Vec::new();
    for entry in entries {
        t.check()?;
        let entry = entry.map_err(WeightsError::io(from))?;
        let name = entry_name(&entry)?;
        let Some(i) = m.files.iter().position(|f| f.name == name) else {
            return Err(WeightsError::BadKit {
                entry: name,
                reason: "is not in the kit's manifest",
            });
        };
        if std::mem::replace(&mut seen[i], true) {
            return Err(WeightsError::BadKit {
                entry: name,
                reason: "appears twice",
            });
        }
        t.start_file(&name, m.files[i].size)?;
        let matched = import_entry(&cache, &m.files[i], entry, from, &mut t)?;
        t.end_file();
        if !matched {
            corrupt.push(name);
        }
    }
    if !corrupt.is_empty() {
        return Err(WeightsError::Tampered { corrupt });
    }
    if let Some(f) = m
        .files
        .iter()
        .zip(&seen)
        .find(|(_, s)| !**s)
        .map(|(f, _)| f)
    {
        return Err(WeightsError::MissingFile {
            missing: f.name.clone(),
            dir: from.display().to_string(),
        });
    }
    // The last moment a cancel is heard: past it the links and the manifest are written whole.
    t.check()?;
    let imported = super::kit::link_verified(&cache, cache_dir, m, now)?;
    t.finish();
    Ok(imported)
}

fn read_manifest_entry(mut entry: tar::Entry<'_, impl Read>) -> Result<Manifest, WeightsError> {
    let name = entry_name(&entry)?;
    if name != EXPORT_MANIFEST {
        return Err(WeightsError::BadKit {
            entry: name,
            reason: "comes before the kit's manifest (not a kit written by the weights export)",
        });
    }
    if entry.size() > MAX_MANIFEST {
        return Err(WeightsError::BadKit {
            entry: name,
            reason: "is too large to be a manifest",
        });
    }
    let mut text = String::new();
    entry
        .read_to_string(&mut text)
        .map_err(WeightsError::io(Path::new(EXPORT_MANIFEST)))?;
    Ok(Manifest::parse(&text)?)
}

/// One entry into `blobs/`: `true` when it matched and was moved into place; a mismatch, a failure or a
/// cancel removes what was written.
fn import_entry(
    cache: &RepoCache,
    f: &ManifestFile,
    entry: tar::Entry<'_, impl Read>,
    from: &Path,
    t: &mut Tracker<'_>,
) -> Result<bool, WeightsError> {
    if entry.size() != f.size {
        return Ok(false);
    }
    let part = cache.incomplete(&f.etag)?;
    let copied = (|| -> std::io::Result<(u64, String)> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&part)?);
        let mut reader = Hashing::new(Tracked {
            inner: entry,
            tracker: &mut *t,
        });
        std::io::copy(&mut reader, &mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(reader.finish())
    })();
    let (size, sha) = match copied {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            // A read error is the kit's (truncated); a write error the cache's.
            return Err(t.or_cancelled(WeightsError::io(from)(e)));
        }
    };
    if size != f.size || sha != f.sha256 {
        std::fs::remove_file(&part).map_err(WeightsError::io(&part))?;
        return Ok(false);
    }
    let blob = cache.blob(&f.etag)?;
    std::fs::rename(&part, &blob).map_err(WeightsError::io(&blob))?;
    Ok(true)
}
