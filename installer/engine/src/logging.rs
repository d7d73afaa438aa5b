//! Logging for both binaries: human-readable lines on stderr (filtered by `RUST_LOG`, warnings by
//! default) and a daily-rotated file in the platform data directory (info by default), so a failed
//! install can be diagnosed after the fact.

use std::io::IsTerminal;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
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

/// Whether stderr gets colour: only when asked, or on a terminal without `NO_COLOR` (a pipe or a file never
/// gets escape codes).
pub fn stderr_colour(choice: Option<bool>) -> bool {
    choice.unwrap_or_else(|| {
        std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
    })
}

/// The HTTP clients log whole request and response bodies at debug level, and a container body holds the
/// gateway's JWT keys: whatever `RUST_LOG` asks, they log at info at most.
fn without_bodies(filter: EnvFilter) -> EnvFilter {
    ["bollard=info", "hyper=info", "hyper_util=info"]
        .into_iter()
        .filter_map(|d| d.parse().ok())
        .fold(filter, EnvFilter::add_directive)
}

/// `dir` and its parents made, the last one private (0700): logs and secrets live below it.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Installs the global subscriber. Never fails: without a writable data directory it logs to stderr only.
/// `colour`: `Some` when the user chose (`--color`), `None` to decide from stderr. `stderr_level`: what
/// stderr shows when `RUST_LOG` says nothing (`warn`; `info` or `debug` with `-v`, `error` with `-q`).
pub fn init(binary: &str, colour: Option<bool>, stderr_level: &str) -> LogGuard {
    let stderr_filter = without_bodies(
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(stderr_level)),
    );
    let stderr = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(stderr_colour(colour))
        .with_target(false)
        .with_filter(stderr_filter);

    let dir = log_dir()
        .filter(|d| d.parent().is_some_and(|p| private_dir(p).is_ok()) && private_dir(d).is_ok());
    // Files from before (or made under a loose umask) become owner-only too.
    for f in dir
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .flatten()
    {
        let _ = std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o600));
    }
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
            let filter = without_bodies(
                EnvFilter::try_from_env("AIGW_LOG_FILE")
                    .unwrap_or_else(|_| EnvFilter::new("info,hyper=warn,bollard=warn")),
            );
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
