//! Benchmark baseline (not shipped): the smallest Tauri window built like the wizard — same tauri version
//! and features, window size, `withGlobalTauri`, capabilities and exit hook — with one static page.
//! `tests/bench/gui.sh` compares the wizard's start time and memory against it.

// Same as the app: no console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use tauri::Manager as _;

fn main() {
    let result = tauri::Builder::default()
        .on_page_load(|webview, payload| {
            // The same hook as the app's: with AIGW_EXIT_WHEN_READY set, exit 0 once the page has loaded.
            let loaded = payload.event() == tauri::webview::PageLoadEvent::Finished;
            if loaded && std::env::var_os("AIGW_EXIT_WHEN_READY").is_some() {
                webview.app_handle().exit(0);
            }
        })
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("error: the window could not start: {e}");
        std::process::exit(1);
    }
}
