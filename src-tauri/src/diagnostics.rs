//! "Save diagnostics" and "Open log folder", offered with every failure: the redacted bundle through
//! `usecase::diagnose`, and the installer's log folder opened with the desktop's opener.

use aigw_engine::usecase::{self, DiagnoseOptions};
use serde::Serialize;
use std::path::PathBuf;

use crate::error::UiError;

#[derive(Debug, Serialize)]
pub struct Saved {
    pub path: String,
    /// Files in the zip, README and manifest included.
    pub files: usize,
    pub engine_reachable: bool,
}

/// Writes the diagnostics zip to `path` (from the save dialog, which asked before replacing a file), or,
/// when none is given, to a new file in the data directory.
#[tauri::command]
pub async fn save_diagnostics(path: Option<String>) -> Result<Saved, UiError> {
    let (out, force) = match path.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => (PathBuf::from(p), true),
        None => (usecase::default_diagnostics_path()?, false),
    };
    let engine = crate::engines::current();
    let done = usecase::diagnose(&DiagnoseOptions {
        out: &out,
        force,
        spec: None,
        engine: Some(&engine),
    })
    .await?;
    Ok(Saved {
        path: done.path.display().to_string(),
        files: done.manifest.files.len() + 2,
        engine_reachable: done.manifest.engine_reachable,
    })
}

/// The desktop's opener for a folder (freedesktop).
const OPENER: &str = "xdg-open";

/// Opens the installer's log folder (made if missing); returns the folder.
#[tauri::command]
pub fn open_log_folder() -> Result<String, UiError> {
    let dir = usecase::log_folder()?;
    let shown = dir.display().to_string();
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return Err(UiError::new(
            "io",
            format!("cannot make the log folder {shown}: {e}"),
            None,
        ));
    }
    let mut child = std::process::Command::new(OPENER)
        .arg(&dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| {
            UiError::new(
                "no_opener",
                format!("the log folder is {shown}, but {OPENER} could not open it ({e})"),
                Some("open that folder in your file manager".into()),
            )
        })?;
    // Reaped off the command's thread: an opener may wait for the file manager.
    std::thread::spawn(move || child.wait());
    Ok(shown)
}
