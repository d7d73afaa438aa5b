//! File writes that never leave half a file and never replace one by surprise, and the secret-file check.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the file exists")]
    Exists,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Writes `bytes` to `path` through a temporary file in the same directory (created with `mode`), then
/// moves it into place: a crash leaves either the old file or the new one. Without `force` an existing
/// file is kept and `Exists` returned, race-free (hard link, which refuses to replace).
pub fn write_new(path: &Path, bytes: &[u8], force: bool, mode: u32) -> Result<(), WriteError> {
    if !force && path.exists() {
        return Err(WriteError::Exists);
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        // The umask may have narrowed the mode; make it exact.
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
        if force {
            std::fs::rename(&tmp, path)?;
        } else {
            match std::fs::hard_link(&tmp, path) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(WriteError::Exists)
                }
                other => other?,
            }
            std::fs::remove_file(&tmp)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A file holding a secret must be a regular file readable by its owner only.
pub fn check_secret_file(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} is readable by others (mode {mode:o}); a file holding a secret must be 0600",
            path.display()
        ));
    }
    Ok(())
}

/// The file the installer writes into a directory it created: only such a directory is handed to a
/// container's user, and only such a directory is deleted by a purge.
pub const MARKER: &str = ".aigw-installer";

/// Whether `dir` is a real directory (not a symlink) carrying our marker as a plain file.
pub fn created_by_us(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir())
        && std::fs::symlink_metadata(dir.join(MARKER)).is_ok_and(|m| m.is_file())
}

/// Creates `dir` with our marker when nothing is at that path yet. Returns whether the directory is ours
/// (created now or by an earlier run); an existing directory without the marker is left as it is.
pub fn ensure_own_dir(dir: &Path) -> std::io::Result<bool> {
    match std::fs::symlink_metadata(dir) {
        Ok(_) => Ok(created_by_us(dir)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)?;
            std::fs::write(
                dir.join(MARKER),
                "created by aigw-installer; uninstall --purge deletes this directory\n",
            )?;
            Ok(true)
        }
        Err(e) => Err(e),
    }
}

/// Whether `uid`/`gid` may write into the directory `meta` describes, by its mode bits.
pub fn writable_by(meta: &std::fs::Metadata, uid: u32, gid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    let mode = meta.mode();
    uid == 0
        || (meta.uid() == uid && mode & 0o200 != 0)
        || (meta.gid() == gid && mode & 0o020 != 0)
        || mode & 0o002 != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_clobbers_without_force_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("spec.toml");
        write_new(&p, b"one", false, 0o644).unwrap();
        assert!(matches!(
            write_new(&p, b"two", false, 0o644),
            Err(WriteError::Exists)
        ));
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        write_new(&p, b"three", true, 0o600).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"three");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
        // A directory that does not exist: an error, nothing written.
        assert!(write_new(&dir.path().join("missing/x"), b"x", false, 0o644).is_err());
    }

    #[test]
    fn secret_files_must_be_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        std::fs::write(&p, "hf_x").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(check_secret_file(&p).unwrap_err().contains("0600"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        check_secret_file(&p).unwrap();
        assert!(check_secret_file(dir.path()).is_err());
    }
}
