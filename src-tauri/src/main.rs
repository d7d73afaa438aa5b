//! The desktop wizard: thin Tauri commands over the engine. No logic lives here; errors reach the page
//! as `{code, message, fix}`.

// Hide the console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;

fn main() {
    let _log = aigw_installer::logging::init("aigw-installer-app");
    let result = tauri::Builder::default()
        .invoke_handler(tauri::generate_handler![
            commands::detect,
            commands::recommend,
            commands::review
        ])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        tracing::error!("the window could not start: {e}");
        eprintln!(
            "error: the window could not start: {e}\n\
             fix: check that a display is available (DISPLAY or WAYLAND_DISPLAY) and that \
             libwebkit2gtk-4.1-0 is installed"
        );
        std::process::exit(1);
    }
}
