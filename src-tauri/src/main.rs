//! The desktop wizard: thin Tauri commands over the engine. No logic lives here; errors reach the page
//! as `{code, message, fix}`.

// Hide the console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use tauri::Manager;

mod commands;
mod connect;
mod error;
mod install;
mod manage;
mod store;

fn main() {
    let _log = aigw_installer::logging::init("aigw-installer-app");
    let result = tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .manage(install::Jobs::default())
        .invoke_handler(tauri::generate_handler![
            commands::detect,
            commands::recommend,
            commands::review,
            install::install,
            install::upgrade,
            install::cancel,
            connect::connect_info,
            connect::export_zip,
            manage::status,
            manage::logs,
            manage::uninstall
        ])
        .on_window_event(|window, event| {
            // Closing the window mid-install would end the process with containers half made: the
            // close is refused once, the operation cancelled (the engine rolls back), and the page
            // shows the result; closing again then quits.
            if let tauri::WindowEvent::CloseRequested { api, .. } = event {
                if window.state::<install::Jobs>().cancel_running() {
                    api.prevent_close();
                }
            }
        })
        .on_page_load(|webview, payload| {
            // Benchmarks and the package check time launch → first interactive step: the page has loaded
            // and its module has bound the controls. They set this to make the app exit right then.
            if payload.event() == tauri::webview::PageLoadEvent::Finished
                && std::env::var_os("AIGW_EXIT_WHEN_READY").is_some()
            {
                webview.app_handle().exit(0);
            }
        })
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
