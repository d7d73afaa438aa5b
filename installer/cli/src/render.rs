//! Terminal output: colour only on a terminal (anstream strips it when piped or with NO_COLOR).

use aigw_core::preflight::Severity;
use anstyle::{AnsiColor, Style};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

pub fn set_color(c: Color) {
    let choice = match c {
        Color::Auto => anstream::ColorChoice::Auto,
        Color::Always => anstream::ColorChoice::Always,
        Color::Never => anstream::ColorChoice::Never,
    };
    choice.write_global();
}

static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `-q`: progress lines and bars are not drawn.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

pub fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

static JSON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--json` on a long operation: its events, one JSON object a line on stdout, then one `result` (or
/// `error`) object; nothing else goes to stdout.
pub fn set_json(json: bool) {
    JSON.store(json, std::sync::atomic::Ordering::Relaxed);
}

pub fn json() -> bool {
    JSON.load(std::sync::atomic::Ordering::Relaxed)
}

/// The closing line of a `--json` run.
pub fn json_result(result: serde_json::Value) {
    println!("{}", serde_json::json!({ "result": result }));
}

pub const HEADING: Style = Style::new().bold().underline();
pub const DIM: Style = Style::new().dimmed();
pub const BOLD: Style = Style::new().bold();

pub fn severity_style(s: Severity) -> Style {
    let c = match s {
        Severity::Ok => AnsiColor::Green,
        Severity::Warning => AnsiColor::Yellow,
        Severity::Blocker => AnsiColor::Red,
    };
    Style::new().fg_color(Some(c.into())).bold()
}

/// Plain-text markers that still read well without colour.
pub fn severity_mark(s: Severity) -> &'static str {
    match s {
        Severity::Ok => "ok  ",
        Severity::Warning => "warn",
        Severity::Blocker => "FAIL",
    }
}

/// `12345` MiB → "12.1 GiB".
pub fn gib(mib: u64) -> String {
    format!("{:.1} GiB", mib as f64 / 1024.0)
}

/// The error once: the engine's message with the flag at fault, then the fix (the engine's, and this
/// CLI's command for it). Errors the engine does not explain print their whole chain.
pub fn error(e: &anyhow::Error) {
    let red = Style::new().fg_color(Some(AnsiColor::Red.into())).bold();
    let Some(p) = crate::problem::of(e) else {
        anstream::eprintln!("{red}error:{red:#} {e:#}");
        return;
    };
    let at = p
        .field
        .as_deref()
        .and_then(crate::problem::flag)
        .map(|f| format!(" ({f})"))
        .unwrap_or_default();
    anstream::eprintln!("{red}error{at}:{red:#} {}", p.message);
    for fix in p.fix.iter().cloned().chain(crate::problem::cli_fix(&p)) {
        anstream::eprintln!("{BOLD}fix:{BOLD:#} {fix}");
    }
}
