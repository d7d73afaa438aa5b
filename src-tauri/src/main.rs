//! The desktop wizard: thin Tauri commands over the engine. No logic lives here; errors reach the page
//! as `{code, message, fix}`.

// Hide the console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use tauri::Manager;

mod commands;
mod connect;
mod diagnostics;
mod engines;
mod error;
mod gitlab;
mod install;
mod manage;
mod options;
mod store;
mod zoom;

fn main() {
    let _log = aigw_engine::logging::init("aigw-installer-app", None, "warn");
    // One window per user: a second launch says so and exits 1 (the first holds the lock until it ends).
    let _instance = match single_instance() {
        Ok(f) => f,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("aigw-installer-app: {message}");
            std::process::exit(1);
        }
    };
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
            diagnostics::save_diagnostics,
            diagnostics::open_log_folder,
            engines::engines,
            engines::test_engine,
            engines::use_engine,
            gitlab::check_gitlab,
            gitlab::gitlab_version,
            manage::status,
            manage::logs,
            manage::uninstall,
            options::options,
            zoom::zoom
        ])
        .setup(|app| {
            engines::load_remembered();
            stop_on_signals(app.handle().clone());
            Ok(())
        })
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
        .build(tauri::generate_context!());
    match result {
        Ok(app) => app.run(|app, event| {
            // However the window went away (closed by the window manager after the refusal above, by
            // a driver, or the app asked to quit), the process must not end mid-install: it stays,
            // window-less, until the cancelled operation has rolled back, then exits.
            if let tauri::RunEvent::ExitRequested { api, .. } = event {
                if app.state::<install::Jobs>().cancel_running() {
                    api.prevent_exit();
                    let app = app.clone();
                    tauri::async_runtime::spawn(async move {
                        while app.state::<install::Jobs>().is_running() {
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        }
                        tracing::info!("the cancelled operation rolled back; exiting");
                        app.exit(0);
                    });
                }
            }
        }),
        Err(e) => {
            tracing::error!("the window could not start: {e}");
            eprintln!(
                "error: the window could not start: {e}\n\
             fix: check that a display is available (DISPLAY or WAYLAND_DISPLAY) and that \
             libwebkit2gtk-4.1-0 is installed"
            );
            std::process::exit(1);
        }
    }
}

/// The single-instance lock in the data directory, or why this instance must not start.
fn single_instance() -> Result<std::fs::File, String> {
    use aigw_engine::lock::LockError;
    let dir = aigw_engine::usecase::data_dir().map_err(|e| e.to_string())?;
    aigw_engine::lock::single_instance(&dir).map_err(|e| match e {
        LockError::Held { holder, .. } => format!(
            "already running (pid {}, since {}): use its window",
            holder.pid, holder.since
        ),
        LockError::HeldUnknown { .. } => "already running: use its window".into(),
        other => other.to_string(),
    })
}

/// SIGTERM, SIGINT and SIGHUP (logout, shutdown, `kill`, a closed terminal) end the app only after a
/// running install or upgrade was cancelled and rolled back, like Ctrl-C in the CLI.
fn stop_on_signals(app: tauri::AppHandle) {
    use tokio::signal::unix::{signal, SignalKind};
    tauri::async_runtime::spawn(async move {
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) else {
            tracing::warn!("signal handlers could not be installed");
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = hup.recv() => {}
        }
        let jobs = app.state::<install::Jobs>();
        if jobs.cancel_running() {
            tracing::info!("signal received: cancelling the running operation before exiting");
            while jobs.is_running() {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
        app.exit(0);
    });
}
