//! `#[tauri::command]`s: each one calls the engine and maps its result for the page.

use aigw_installer::hardware::{detect as run_detect, DetectOptions, SystemReport};

/// Runs the same detection as `aigw-installer detect --json`.
#[tauri::command]
pub async fn detect() -> SystemReport {
    run_detect(&DetectOptions::from_env()).await
}
