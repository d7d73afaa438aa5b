//! `status`, `logs` and `uninstall`: what the installer created, found by its labels.

use aigw_engine::spec_file::SpecFile;
use anstream::println;
use anyhow::Context;
use futures_util::StreamExt;
use std::process::ExitCode;

use aigw_core::plan::Component;
use aigw_core::spec::{DeploymentSpec, Weights};
use aigw_engine::docker::manage;

use crate::provision::connect;
use crate::render::{BOLD, DIM};

#[derive(clap::Args)]
pub struct StatusArgs {
    /// Print the status as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let (conn, _) = connect().await?;
    let list = manage::status(&conn.docker).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        println!("nothing installed here (no container carries the installer's labels)");
    }
    for c in list {
        println!(
            "{BOLD}{}{BOLD:#} ({}) {} {}{}",
            c.name,
            c.component.map(|c| c.label()).unwrap_or("?"),
            c.state,
            c.health.map(|h| format!("[{h}] ")).unwrap_or_default(),
            c.image
        );
        println!(
            "  {DIM}endpoints:{DIM:#} {}  {DIM}GPUs:{DIM:#} {}  {DIM}restart:{DIM:#} {}",
            c.endpoints.join(", "),
            if c.gpus.is_empty() {
                "none".into()
            } else {
                c.gpus.join(",")
            },
            c.restart_policy.unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Which {
    Gateway,
    Model,
}

#[derive(clap::Args)]
pub struct LogsArgs {
    /// Whose logs.
    #[arg(value_enum)]
    which: Which,
    /// Keep printing new lines until Ctrl-C.
    #[arg(long, short = 'f')]
    follow: bool,
    /// How many of the last lines to print first.
    #[arg(long, default_value_t = 100)]
    tail: u32,
}

pub async fn logs(args: LogsArgs) -> anyhow::Result<ExitCode> {
    let (conn, _) = connect().await?;
    let component = match args.which {
        Which::Gateway => Component::Gateway,
        Which::Model => Component::Model,
    };
    let name = manage::container_of(&conn.docker, component).await?;
    let mut stream = Box::pin(manage::logs(&conn.docker, &name, args.tail, args.follow));
    loop {
        tokio::select! {
            line = stream.next() => match line {
                Some(l) => print!("{}", l.with_context(|| format!("reading the logs of {name}"))?),
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
#[command(
    after_help = "Removes only the containers and network that carry the installer's labels. Logs, \
    downloaded weights and the spec stay unless --purge (which needs --spec to know where they are; a local \
    weights directory you provided is never deleted)."
)]
pub struct UninstallArgs {
    /// Also delete the gateway logs, the Hugging Face cache and the spec file.
    #[arg(long, requires = "spec")]
    purge: bool,
    /// The spec of the installation (for --purge).
    #[arg(long, value_name = "FILE")]
    spec: Option<std::path::PathBuf>,
}

pub async fn uninstall(args: UninstallArgs) -> anyhow::Result<ExitCode> {
    // Read the spec before anything is removed: a bad path changes nothing.
    let spec = args.spec.as_deref().map(DeploymentSpec::load).transpose()?;
    let (conn, _) = connect().await?;
    let removed = manage::uninstall(&conn.docker).await?;
    for c in &removed.containers {
        println!("removed container {c}");
    }
    for n in &removed.networks {
        println!("removed network {n}");
    }
    if removed.containers.is_empty() && removed.networks.is_empty() {
        println!("nothing to remove");
    }
    if let (true, Some(s), Some(path)) = (args.purge, spec, args.spec) {
        let mut dirs = vec![s.log_dir.clone()];
        if let Weights::HuggingFace { cache_dir, .. } = &s.model.weights {
            dirs.push(cache_dir.clone());
        }
        for d in dirs.iter().filter(|d| d.exists()) {
            std::fs::remove_dir_all(d).with_context(|| format!("deleting {}", d.display()))?;
            println!("deleted {}", d.display());
        }
        std::fs::remove_file(&path).with_context(|| format!("deleting {}", path.display()))?;
        println!("deleted {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
