//! The page's zoom (Ctrl+= / Ctrl+- / Ctrl+0, read by `ui/zoom.js`): the webview's own zoom, so the layout
//! reflows as in a browser, kept within [`MIN`]..=[`MAX`] and remembered across launches in a small file of
//! the data directory (`wizard-zoom`).

use aigw_engine::usecase;
use std::path::PathBuf;

use crate::error::UiError;

pub const MIN: f64 = 0.5;
pub const MAX: f64 = 2.0;
const FILE: &str = "wizard-zoom";

/// Within the bounds, to the hundredth (steps of 0.1 add up without float noise); not a number → 1.
pub fn bounded(factor: f64) -> f64 {
    if !factor.is_finite() {
        return 1.0;
    }
    (factor.clamp(MIN, MAX) * 100.0).round() / 100.0
}

fn file() -> Option<PathBuf> {
    usecase::data_dir().ok().map(|d| d.join(FILE))
}

/// The zoom the last launch left, or 1.
fn remembered() -> f64 {
    file()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .map_or(1.0, bounded)
}

fn remember(factor: f64) {
    let Some(path) = file() else { return };
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&path, format!("{factor}\n")));
    if let Err(e) = written {
        // Only the next launch's zoom is lost.
        tracing::warn!("the zoom could not be saved to {}: {e}", path.display());
    }
}

/// Sets the zoom to `factor` (bounded) and remembers it; without one, restores the remembered zoom.
/// Returns the zoom now applied.
#[tauri::command]
pub fn zoom(webview: tauri::Webview, factor: Option<f64>) -> Result<f64, UiError> {
    let applied = factor.map_or_else(remembered, bounded);
    webview.set_zoom(applied).map_err(|e| {
        UiError::new(
            "zoom_failed",
            format!("the window could not be zoomed: {e}"),
            None,
        )
    })?;
    if factor.is_some() {
        remember(applied);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zoom_stays_within_its_bounds_in_hundredths() {
        assert_eq!(bounded(1.0 + 0.1 + 0.1), 1.2);
        assert_eq!(bounded(0.1), MIN);
        assert_eq!(bounded(9.0), MAX);
        assert_eq!(bounded(f64::NAN), 1.0);
        assert_eq!(bounded(f64::INFINITY), 1.0);
    }
}
