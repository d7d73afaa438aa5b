//! `aigw-installer`: the command-line shell over the engine. Each subcommand lives in its own module with
//! an `Args` struct and a `run` function; this file only parses, sets up logging and dispatches.

mod detect;
mod diagnose;
mod gitlab;
mod manage;
mod models;
mod problem;
mod progress;
mod provision;
mod recommend;
mod render;
mod snippets;
mod weights;
mod weights_fetch;
mod weights_review;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Exit status when `--strict` finds a blocker (clap uses 2 for usage errors).
/// Exit statuses scripts can branch on (also in `--help` and the README).
pub const EXIT_BLOCKED: u8 = 3;
/// A server did not become healthy, crashed in its stability window, or the smoke test failed (everything this run changed was undone).
pub const EXIT_UNHEALTHY: u8 = 4;
/// Cancelled (Ctrl-C), after the rollback.
pub const EXIT_CANCELLED: u8 = 130;

#[derive(Parser)]
#[command(
    name = "aigw-installer",
    version,
    about = "Set up GitLab Duo Self-Hosted on your own GPU server: a vLLM model server and the GitLab AI Gateway",
    long_about = "Set up GitLab Duo Self-Hosted on your own GPU server.\n\n\
        aigw-installer checks this machine (NVIDIA GPUs, CPU architecture, memory, disk, the Docker engine, \
        ports), recommends a Mistral model that fits, runs the model server and the GitLab AI Gateway as \
        containers, and writes the GitLab-side configuration. Nothing is fetched from outside your network \
        unless you ask for it.\n\n\
        Start with:  aigw-installer detect",
    after_help = "Exit status: 0 ok; 1 error; 2 usage; 3 blocked (nothing was changed: a port taken, a \
        foreign container with our name, another apply, upgrade, uninstall or images load holding the \
        engine's lock, or detect --strict found a blocker); 4 a server never became \
        healthy, crashed within its stability window (--stable-for) or the smoke test failed (what the run changed was undone); 130 cancelled (after the \
        rollback).\n\nLogs: stderr (set RUST_LOG=info or debug for more) and a daily file under \
        ~/.local/share/aigw-installer/logs.",
    propagate_version = true
)]
struct Cli {
    /// When to colour the output.
    #[arg(long, global = true, value_enum, default_value_t = render::Color::Auto)]
    color: render::Color,

    /// More on stderr: -v the engine's progress in the log, -vv debug, -vvv trace (RUST_LOG wins).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    verbose: u8,

    /// Only errors and results: no progress lines or bars, no warnings.
    #[arg(short, long, global = true)]
    quiet: bool,

    #[command(flatten)]
    engine: EngineArgs,

    #[command(subcommand)]
    command: Command,
}

/// The engine to act on, as the docker CLI's global flags name it. Without them: DOCKER_HOST, then
/// DOCKER_CONTEXT, then docker's current context, then this machine's socket.
#[derive(clap::Args)]
struct EngineArgs {
    /// The Docker engine: unix:///var/run/docker.sock, tcp://host:2376 (TLS with --tlsverify or
    /// DOCKER_TLS_VERIFY), ssh://user@host[:port] (your ssh config, agent and known_hosts; no password prompt).
    #[arg(
        short = 'H',
        long,
        global = true,
        value_name = "URL",
        conflicts_with = "context"
    )]
    host: Option<String>,
    /// A Docker context by name (docker context ls), instead of --host.
    #[arg(short = 'c', long, global = true, value_name = "NAME")]
    context: Option<String>,
    /// Use TLS and verify the engine's certificate (files from DOCKER_CERT_PATH, default ~/.docker).
    #[arg(long, global = true)]
    tlsverify: bool,
    /// The CA that signed the engine's certificate (default ca.pem in DOCKER_CERT_PATH).
    #[arg(long, global = true, value_name = "FILE")]
    tlscacert: Option<std::path::PathBuf>,
    /// This client's certificate (default cert.pem in DOCKER_CERT_PATH).
    #[arg(long, global = true, value_name = "FILE")]
    tlscert: Option<std::path::PathBuf>,
    /// This client's key (default key.pem in DOCKER_CERT_PATH).
    #[arg(long, global = true, value_name = "FILE")]
    tlskey: Option<std::path::PathBuf>,
}

impl EngineArgs {
    fn choice(&self) -> aigw_engine::docker::engine::EngineChoice {
        aigw_engine::docker::engine::EngineChoice {
            host: self.host.clone(),
            context: self.context.clone(),
            tls_verify: self.tlsverify,
            tls_ca: self.tlscacert.clone(),
            tls_cert: self.tlscert.clone(),
            tls_key: self.tlskey.clone(),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Check this machine (or the Docker host it talks to) for everything the stack needs.
    Detect(detect::Args),
    /// List the built-in catalog: Mistral models and the GPUs what-if planning knows.
    Models(models::Args),
    /// Recommend a model, precision, GPUs and context for this machine (or a what-if one), with the arithmetic.
    Recommend(recommend::Args),
    /// Write a deployment spec from this machine's recommendation and your answers.
    Init(provision::InitArgs),
    /// Show what `apply` would change, and why, without changing anything.
    Plan(provision::PlanArgs),
    /// Create or update the model server and the gateway to match the spec, and wait until both are healthy.
    Apply(provision::ApplyArgs),
    /// Move the gateway and/or the model server to new image tags, safely (old container restored on failure).
    Upgrade(provision::UpgradeArgs),
    /// Offline images: save the spec's images to a bundle, or load one (air-gapped sites).
    Images(provision::ImagesArgs),
    /// Model weights in the Hugging Face cache: fetch, and offline status, verify, export and import (the offline kit).
    Weights(weights::Args),
    /// Print one generated part: compose, or a GitLab-side setting for your version and install type.
    Snippets(snippets::Args),
    /// Write everything another admin needs (compose, env, GitLab settings, Kubernetes, README) into a zip.
    Export(snippets::ExportArgs),
    /// The installed containers: state, health, image, endpoints and GPUs.
    Status(manage::StatusArgs),
    /// Print (or follow) the logs of the gateway or the model server.
    Logs(manage::LogsArgs),
    /// Remove what the installer created (containers and network, found by label).
    Uninstall(manage::UninstallArgs),
    /// Live checks before installing: GitLab from here (`check gitlab`), the gateway image tag (`check tag`).
    #[command(subcommand)]
    Check(gitlab::CheckCommand),
    /// Ask GitLab itself: its version (`gitlab version`).
    #[command(subcommand)]
    Gitlab(gitlab::GitlabCommand),
    /// Write a diagnostics zip for a support request: reports, status, plan, logs, secrets redacted.
    Diagnose(diagnose::Args),
    /// Print the shell completion script (bash, zsh, fish, elvish, powershell); the packages install them.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff); the packages install it as aigw-installer(1).
    #[command(hide = true)]
    Man,
}

/// Writes what `completions` and `man` print: generated from this very parser, so they never drift.
fn describe(command: &Command) -> std::io::Result<()> {
    use clap::CommandFactory;
    use std::io::Write;
    let mut cmd = Cli::command();
    // Rendered in memory first: the generators panic on a closed pipe (`| head`); a write error does not.
    let mut text = Vec::new();
    match command {
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut cmd, "aigw-installer", &mut text)
        }
        _ => clap_mangen::Man::new(cmd).render(&mut text)?,
    }
    std::io::stdout().lock().write_all(&text)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Completions { .. } | Command::Man) {
        return match describe(&cli.command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    render::set_color(cli.color);
    let colour = match cli.color {
        render::Color::Always => Some(true),
        render::Color::Never => Some(false),
        render::Color::Auto => None,
    };
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    render::set_quiet(cli.quiet);
    // Before any use case runs: every one of them acts on this engine.
    aigw_engine::docker::engine::choose(cli.engine.choice());
    let _log = aigw_engine::logging::init("aigw-installer", colour, level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Detect(args) => runtime.block_on(detect::run(args)),
        Command::Models(args) => runtime.block_on(models::run(args)),
        Command::Recommend(args) => runtime.block_on(recommend::run(args)),
        Command::Init(args) => runtime.block_on(provision::init(args)),
        Command::Plan(args) => runtime.block_on(provision::plan(args)),
        Command::Apply(args) => runtime.block_on(provision::apply(args)),
        Command::Upgrade(args) => runtime.block_on(provision::upgrade(args)),
        Command::Images(args) => runtime.block_on(provision::images(args)),
        Command::Weights(args) => runtime.block_on(weights::run(args)),
        Command::Snippets(args) => runtime.block_on(snippets::run(args)),
        Command::Export(args) => runtime.block_on(snippets::export(args)),
        Command::Status(args) => runtime.block_on(manage::status(args)),
        Command::Logs(args) => runtime.block_on(manage::logs(args)),
        Command::Uninstall(args) => runtime.block_on(manage::uninstall(args)),
        Command::Diagnose(args) => runtime.block_on(diagnose::run(args)),
        Command::Check(cmd) => runtime.block_on(gitlab::check(cmd)),
        Command::Gitlab(cmd) => runtime.block_on(gitlab::gitlab(cmd)),
        Command::Completions { .. } | Command::Man => Ok(ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // To the log file only (info); the terminal gets the rendered error below, once.
            tracing::info!(error = format!("{e:#}"), "command failed");
            render::error(&e);
            if render::json() {
                let error = match problem::of(&e) {
                    Some(p) => serde_json::to_value(p).unwrap_or_default(),
                    None => serde_json::json!({ "code": "error", "message": format!("{e:#}") }),
                };
                println!("{}", serde_json::json!({ "error": error }));
            }
            ExitCode::from(problem::exit_status(&e))
        }
    }
}
