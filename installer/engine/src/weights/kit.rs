//! The offline kit's weights: `export` a verified snapshot to a folder (files + manifest) on a connected
//! machine, `import` it into the hub cache on the site, every file hashed against the manifest as it is
//! copied and linked only when all match. Both report each file and the total as they copy, and stop
//! on a cancel leaving nothing half-made.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use aigw_core::weights::layout::RepoCache;
use aigw_core::weights::manifest::{Manifest, EXPORT_MANIFEST};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::kit_progress::{KitControl, KitOp, Tracker};
use super::verify::hex;
use super::{find_manifest, link_snapshot, write_manifest, WeightsError};

/// Copies `from` to `to` (created or replaced) while hashing; returns the size and SHA-256 of what was
/// read, so a file is checked in the same pass that copies it. Each read is reported to the tracker,
/// which stops the copy on a cancel (the caller removes `to`).
fn copy_hashing(
    from: &Path,
    to: &Path,
    t: &mut Tracker<'_>,
) -> Result<(u64, String), WeightsError> {
    let mut src = std::fs::File::open(from).map_err(WeightsError::io(from))?;
    let mut dst = std::fs::File::create(to).map_err(WeightsError::io(to))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(WeightsError::io(from)(e)),
        };
        hasher.update(&buf[..n]);
        dst.write_all(&buf[..n]).map_err(WeightsError::io(to))?;
        size += n as u64;
        t.advance(n)?;
    }
    dst.sync_all().map_err(WeightsError::io(to))?;
    Ok((size, hex(&hasher.finalize())))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exported {
    pub dir: PathBuf,
    pub repo: String,
    pub commit: String,
    pub files: usize,
    pub bytes: u64,
}

/// Writes the snapshot of `repo` at `revision` and its manifest into `out` (created). Each file is
/// hashed as it is copied: a cache that no longer matches its manifest is not exported. Each file goes to
/// a temporary name beside its own and is renamed into place once all matched, the manifest last; a
/// failed or cancelled export removes what it wrote and the folders it created, never a file that was
/// there before.
pub fn export_folder(
    cache_dir: &Path,
    repo: &str,
    revision: &str,
    out: &Path,
    ctl: &KitControl,
) -> Result<Exported, WeightsError> {
    let m = find_manifest(cache_dir, repo, revision)?;
    let cache = RepoCache::new(cache_dir, repo)?;
    let mut made = Made::default();
    let result = write_folder(&cache, &m, out, ctl, &mut made);
    if result.is_err() {
        made.undo();
    }
    result?;
    Ok(Exported {
        dir: out.to_path_buf(),
        repo: m.repo.clone(),
        commit: m.commit.clone(),
        files: m.files.len(),
        bytes: m.total(),
    })
}

fn write_folder(
    cache: &RepoCache,
    m: &Manifest,
    out: &Path,
    ctl: &KitControl,
    made: &mut Made,
) -> Result<(), WeightsError> {
    let mut t = Tracker::new(ctl, KitOp::Export, m.total());
    made.dirs_for(out)?;
    let mut staged = Vec::new();
    let mut corrupt = Vec::new();
    for f in &m.files {
        let src = cache.snapshot_file(&m.commit, &f.name)?;
        let dst = out.join(&f.name);
        if let Some(dir) = dst.parent() {
            made.dirs_for(dir)?;
        }
        let tmp = beside(&dst);
        made.files.push(tmp.clone());
        t.start_file(&f.name, f.size)?;
        let (size, sha) = copy_hashing(&src, &tmp, &mut t)?;
        t.end_file();
        if size != f.size || sha != f.sha256 {
            let _ = std::fs::remove_file(&tmp);
            corrupt.push(f.name.clone());
        } else {
            staged.push((tmp, dst));
        }
    }
    if !corrupt.is_empty() {
        return Err(WeightsError::Tampered { corrupt });
    }
    t.check()?;
    for (tmp, dst) in staged {
        if std::fs::symlink_metadata(&dst).is_err() {
            made.files.push(dst.clone());
        }
        std::fs::rename(&tmp, &dst).map_err(WeightsError::io(&dst))?;
    }
    let path = out.join(EXPORT_MANIFEST);
    if std::fs::symlink_metadata(&path).is_err() {
        made.files.push(path.clone());
    }
    std::fs::write(&path, m.to_json()).map_err(WeightsError::io(&path))?;
    t.finish();
    Ok(())
}

/// A hidden temporary name beside `dst`, this process's own.
fn beside(dst: &Path) -> PathBuf {
    let name = dst
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    dst.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// What one export run created, so a failed or cancelled one removes exactly that.
#[derive(Default)]
struct Made {
    files: Vec<PathBuf>,
    /// Shallowest first.
    dirs: Vec<PathBuf>,
}

impl Made {
    /// Creates `dir` and the folders above it that are missing, remembering which.
    fn dirs_for(&mut self, dir: &Path) -> Result<(), WeightsError> {
        let missing: Vec<PathBuf> = dir
            .ancestors()
            .take_while(|d| !d.as_os_str().is_empty() && std::fs::symlink_metadata(d).is_err())
            .map(Path::to_path_buf)
            .collect();
        std::fs::create_dir_all(dir).map_err(WeightsError::io(dir))?;
        self.dirs.extend(missing.into_iter().rev());
        Ok(())
    }

    fn undo(&self) {
        for f in self.files.iter().rev() {
            let _ = std::fs::remove_file(f);
        }
        // `remove_dir` removes only an empty folder: one that holds anything else is kept.
        for d in self.dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Imported {
    pub repo: String,
    pub revision: String,
    pub commit: String,
    pub snapshot: PathBuf,
    pub files: usize,
    pub bytes: u64,
}

/// Imports an exported folder into `cache_dir`: each file copied to `blobs/<etag>.incomplete` while
/// hashed, moved into place when it matches; the snapshot is linked, the ref and the manifest written
/// only when every file matched. A tampered or truncated file is named and nothing is linked. A failed or
/// cancelled import removes the `.incomplete` it was writing; blobs already moved into place stay (they
/// matched) and the next import copies and checks them again.
pub fn import_folder(
    from: &Path,
    cache_dir: &Path,
    now: u64,
    ctl: &KitControl,
) -> Result<Imported, WeightsError> {
    let mpath = from.join(EXPORT_MANIFEST);
    let text = std::fs::read_to_string(&mpath).map_err(WeightsError::io(&mpath))?;
    let m = Manifest::parse(&text)?;
    let cache = RepoCache::new(cache_dir, &m.repo)?;
    let blobs = cache.blobs_dir();
    std::fs::create_dir_all(&blobs).map_err(WeightsError::io(&blobs))?;
    for f in &m.files {
        if !from.join(&f.name).is_file() {
            return Err(WeightsError::MissingFile {
                missing: f.name.clone(),
                dir: from.display().to_string(),
            });
        }
    }
    let mut t = Tracker::new(ctl, KitOp::Import, m.total());
    let mut corrupt = Vec::new();
    for f in &m.files {
        let part = cache.incomplete(&f.etag)?;
        t.start_file(&f.name, f.size)?;
        let (size, sha) = match copy_hashing(&from.join(&f.name), &part, &mut t) {
            Ok(v) => v,
            Err(e) => {
                let _ = std::fs::remove_file(&part);
                return Err(e);
            }
        };
        t.end_file();
        if size != f.size || sha != f.sha256 {
            std::fs::remove_file(&part).map_err(WeightsError::io(&part))?;
            corrupt.push(f.name.clone());
            continue;
        }
        let blob = cache.blob(&f.etag)?;
        std::fs::rename(&part, &blob).map_err(WeightsError::io(&blob))?;
    }
    if !corrupt.is_empty() {
        return Err(WeightsError::Tampered { corrupt });
    }
    // The last moment a cancel is heard: past it the links and the manifest are written whole.
    t.check()?;
    let imported = link_verified(&cache, cache_dir, m, now)?;
    t.finish();
    Ok(imported)
}

/// The last step of an import, once every blob matched its manifest: the snapshot links, the ref and
/// the manifest stamped as verified now.
pub(super) fn link_verified(
    cache: &RepoCache,
    cache_dir: &Path,
    mut m: Manifest,
    now: u64,
) -> Result<Imported, WeightsError> {
    let pairs: Vec<(&str, &str)> = m
        .files
        .iter()
        .map(|f| (f.name.as_str(), f.etag.as_str()))
        .collect();
    let snapshot = link_snapshot(cache, &m.revision, &m.commit, &pairs)?;
    m.verified_at = Some(now);
    write_manifest(cache_dir, &m)?;
    Ok(Imported {
        repo: m.repo.clone(),
        revision: m.revision.clone(),
        commit: m.commit.clone(),
        snapshot,
        files: m.files.len(),
        bytes: m.total(),
    })
}
