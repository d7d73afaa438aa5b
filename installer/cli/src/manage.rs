//! `status`, `logs` and `uninstall`: what the installer created, found by its labels.

use aigw_engine::spec_file::SpecFile;
use anstream::println;
use futures_util::StreamExt;
use std::process::ExitCode;

use aigw_core::plan::Component;
use aigw_core::spec::{DeploymentSpec, Weights};
use aigw_engine::usecase;

use crate::provision::connect;
use crate::render::{BOLD, DIM};

#[derive(clap::Args)]
pub struct StatusArgs {
    /// Print the status as JSON (with --spec: an object of `containers` and `gateway_health`).
    #[arg(long)]
    json: bool,
    /// Also ask the gateway's health at the address GitLab uses (this spec's gateway host and port,
    /// resolved as GitLab would); a name leading to another machine is a finding.
    #[arg(long = "spec", value_name = "FILE")]
    spec: Option<std::path::PathBuf>,
}

pub async fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let target = connect().await?;
    let list = usecase::status(&target).await?;
    // An operation in progress (another apply, here or from another host) is worth knowing about.
    let locked = usecase::lock_holder(&target)
        .await?
        .map(|h| format!("in progress: {h}; changing commands wait until it ends"));
    let health = match &args.spec {
        Some(path) => {
            let s = usecase::load_spec(path)?;
            Some(usecase::gateway_health_for(&target, &s.gateway.host, s.gateway.port).await)
        }
        None => None,
    };
    if args.json {
        match &health {
            Some(h) => println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({ "containers": list, "gateway_health": h })
                )?
            ),
            None => println!("{}", serde_json::to_string_pretty(&list)?),
        }
        if let Some(l) = locked {
            anstream::eprintln!("{l}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(l) = &locked {
        println!("{BOLD}{l}{BOLD:#}");
    }
    if list.is_empty() {
        println!("nothing installed here (no container carries the installer's labels)");
    }
    for c in list {
        println!(
            "{BOLD}{}{BOLD:#} ({}) {} {}{}",
            c.name,
            c.component.map(|c| c.label()).unwrap_or("?"),
            c.condition,
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
    if let Some(steps) = &health {
        println!("{BOLD}the gateway at GitLab's address{BOLD:#}");
        crate::gitlab::print_steps(steps);
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
    let target = connect().await?;
    let component = match args.which {
        Which::Gateway => Component::Gateway,
        Which::Model => Component::Model,
    };
    let (_, stream) = usecase::logs(&target, component, args.tail, args.follow).await?;
    let mut stream = Box::pin(stream);
    loop {
        tokio::select! {
            line = stream.next() => match line {
                Some(l) => print!("{}", l?),
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
    downloaded weights and the spec stay unless --purge (which needs --spec to know where they are, and asks \
    first unless --yes). A purge deletes the spec and only the directories the installer created; a local \
    weights directory you provided is never deleted."
)]
pub struct UninstallArgs {
    /// Also delete the gateway logs, the Hugging Face cache and the spec file.
    #[arg(long, requires = "spec")]
    purge: bool,
    /// The spec of the installation (for --purge).
    #[arg(long, value_name = "FILE")]
    spec: Option<std::path::PathBuf>,
    /// Purge without asking (needed when the input is not a terminal).
    #[arg(long, short = 'y')]
    yes: bool,
    /// Take over the engine's lock held by an installer on another host that is no longer running
    /// (a live installer on this host is never overridden).
    #[arg(long)]
    break_lock: bool,
    /// One JSON object on stdout: `{"result": {"removed": {"containers": […], "networks": […]}, "deleted":
    /// […], "kept": […]}}`, or `{"error": …}`.
    #[arg(long)]
    json: bool,
}

/// Asks before a purge deletes anything; `false` when the admin declines. Without a terminal to ask on,
/// only --yes lets it go ahead.
fn confirm_purge(spec: &DeploymentSpec, path: &std::path::Path) -> anyhow::Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "uninstall --purge deletes files and there is no terminal to confirm it on: nothing was \
             removed; run it again with --yes to purge without asking"
        );
    }
    let mut what = vec![
        path.display().to_string(),
        spec.log_dir.display().to_string(),
    ];
    if let Weights::HuggingFace { cache_dir, .. } = &spec.model.weights {
        what.push(cache_dir.display().to_string());
    }
    eprint!(
        "Remove the installation and delete {} (directories only if the installer created them)? [y/N] ",
        what.join(", ")
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

pub async fn uninstall(args: UninstallArgs) -> anyhow::Result<ExitCode> {
    crate::render::set_json(args.json);
    // Read the spec before anything is removed: a bad path changes nothing.
    let spec = args.spec.as_deref().map(DeploymentSpec::load).transpose()?;
    if let (Some(s), Some(path)) = (&spec, &args.spec) {
        if args.purge && !args.yes {
            match confirm_purge(s, path) {
                Ok(true) => {}
                Ok(false) => {
                    println!("nothing removed");
                    return Ok(ExitCode::from(2));
                }
                Err(e) => {
                    crate::render::error(&e);
                    return Ok(ExitCode::from(2));
                }
            }
        }
    }
    let mut target = connect().await?;
    target.break_lock = args.break_lock;
    let purge = match (&spec, &args.spec) {
        (Some(s), Some(path)) if args.purge => Some(usecase::Purge {
            spec: s,
            spec_path: path,
        }),
        _ => None,
    };
    let done = usecase::uninstall(&target, purge).await?;
    if args.json {
        crate::render::json_result(serde_json::json!({
            "removed": {
                "containers": done.removed.containers,
                "networks": done.removed.networks,
            },
            "deleted": done.deleted,
            "kept": done.kept,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    for c in &done.removed.containers {
        println!("removed container {c}");
    }
    for n in &done.removed.networks {
        println!("removed network {n}");
    }
    if done.removed.containers.is_empty() && done.removed.networks.is_empty() {
        println!("nothing to remove");
    }
    for d in &done.deleted {
        println!("deleted {}", d.display());
    }
    for k in &done.kept {
        println!("kept {k}");
    }
    Ok(ExitCode::SUCCESS)
}
