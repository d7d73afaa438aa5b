//! A local checkpoint folder read into the core's judgement (`aigw_core::weights::local`).

use std::path::Path;

use aigw_core::catalog::WeightsFormat;
use aigw_core::weights::local::{judge, LocalCheckpoint, LocalFile, SizeBasis};

use super::WeightsError;

/// Directories below the folder that are listed: checkpoints keep their files at the top, a copy of
/// the originals one level down.
const DEPTH: usize = 2;

/// The folder's regular files (symlinks followed) with their paths relative to it.
pub fn list_folder(dir: &Path) -> Result<Vec<LocalFile>, WeightsError> {
    let mut out = Vec::new();
    walk(dir, "", DEPTH, &mut out)?;
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn walk(
    dir: &Path,
    prefix: &str,
    depth: usize,
    out: &mut Vec<LocalFile>,
) -> Result<(), WeightsError> {
    for entry in std::fs::read_dir(dir).map_err(WeightsError::io(dir))? {
        let entry = entry.map_err(WeightsError::io(dir))?;
        let path = entry.path();
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        // A dangling link has no metadata: it is as good as missing.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_file() {
            out.push(LocalFile {
                name,
                size: meta.len(),
            });
        } else if meta.is_dir() && depth > 0 {
            walk(&path, &format!("{name}/"), depth - 1, out)?;
        }
    }
    Ok(())
}

/// The folder's own configuration (`config.json`, else `params.json`), if it has one: it declares the
/// checkpoint's quantisation, hence its size.
pub fn read_config(dir: &Path) -> Result<Option<String>, WeightsError> {
    for name in ["config.json", "params.json"] {
        let p = dir.join(name);
        match std::fs::read_to_string(&p) {
            Ok(t) => return Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(WeightsError::io(&p)(e)),
        }
    }
    Ok(None)
}

/// Judges the folder: configuration, safetensors of `format`, every indexed shard, size against `size`.
pub fn check_local(
    dir: &Path,
    format: WeightsFormat,
    size: &SizeBasis,
) -> Result<LocalCheckpoint, WeightsError> {
    let files = list_folder(dir)?;
    let index_path = dir.join("model.safetensors.index.json");
    let index = match std::fs::read_to_string(&index_path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(WeightsError::io(&index_path)(e)),
    };
    Ok(judge(
        &dir.display().to_string(),
        &files,
        index.as_deref(),
        format,
        size,
    )?)
}
