//! Logging for both binaries: human-readable lines on stderr (filtered by `RUST_LOG`, warnings by
//! default) and a daily-rotated file in the platform data directory (info by default), so a failed
//! install can be diagnosed after the fact.

use std::path::PathBuf;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// Rotated files kept (one per day).
const KEEP_FILES: usize = 7;

/// Keeps the file writer flushing; drop it last (at the end of `main`).
pub struct LogGuard {
    _file: Option<tracing_appender::non_blocking::WorkerGuard>,
    /// Where the log file is written, if it could be opened.
    pub file_dir: Option<PathBuf>,
}

/// `~/.local/share/aigw-installer` on Linux (`$XDG_DATA_HOME` respected): the installer's own files
/// (logs, the Hugging Face token file, JWT keys, the wizard's installed spec).
pub fn data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "aigw-installer").map(|d| d.data_dir().to_path_buf())
}

/// `~/.local/share/aigw-installer/logs` on Linux.
pub fn log_dir() -> Option<PathBuf> {
    data_dir().map(|d| d.join("logs"))
}

/// Installs the global subscriber. Never fails: without a writable data directory it logs to stderr only.
pub fn init(binary: &str) -> LogGuard {
    let stderr_filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let stderr = fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(stderr_filter);

    let dir = log_dir().filter(|d| std::fs::create_dir_all(d).is_ok());
    let appender = dir.as_ref().and_then(|d| {
        tracing_appender::rolling::Builder::new()
            .rotation(tracing_appender::rolling::Rotation::DAILY)
            .filename_prefix(binary)
            .filename_suffix("log")
            .max_log_files(KEEP_FILES)
            .build(d)
            .ok()
    });
    let (file_layer, guard) = match appender {
        Some(a) => {
            let (writer, guard) = tracing_appender::non_blocking(a);
            let filter = EnvFilter::try_from_env("AIGW_LOG_FILE")
                .unwrap_or_else(|_| EnvFilter::new("info,hyper=warn,bollard=warn"));
            let layer = fmt::layer()
                .with_writer(writer)
                .with_ansi(false)
                .with_filter(filter);
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };
    // A second init (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file_layer)
        .try_init();
    LogGuard {
        file_dir: guard.as_ref().and(dir),
        _file: guard,
    }
}
