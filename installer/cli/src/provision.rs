//! `init`, `plan` and `apply`: from a recommendation to a spec file, and from a spec to running containers.

use aigw_engine::spec_file::SpecFile;
use anstream::println;
use anyhow::{bail, Context};
use std::path::PathBuf;
use std::process::ExitCode;

use aigw_core::catalog::Catalog;
use aigw_core::recommend::Answers;
use aigw_core::recommend::{self, Machine};
use aigw_core::spec::{Context as SpecContext, DeploymentSpec};
use aigw_engine::hardware::DetectOptions;
use aigw_engine::usecase::{self, CancellationToken, InstallOptions, Session};

use crate::progress::Renderer;
use crate::render::{severity_style, HEADING};
use aigw_core::preflight::Severity;

/// Connects to the engine `DOCKER_HOST` names, or says why not and how to fix it.
pub async fn connect() -> anyhow::Result<Session> {
    match Session::connect().await {
        Ok(t) => Ok(t),
        Err(usecase::Error::Unreachable(f)) => {
            bail!("{}\nfix: {}", f.message, f.fix.unwrap_or_default())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(clap::Args)]
#[command(
    after_help = "Writes a deployment spec (TOML) from this machine's recommendation and your answers. \
    Review it, then run `aigw-installer plan --spec FILE` and `aigw-installer apply --spec FILE`."
)]
pub struct InitArgs {
    /// Your GitLab instance, as users reach it (e.g. https://gitlab.example.com).
    #[arg(long, value_name = "URL")]
    gitlab_url: String,
    /// Your GitLab version (X.Y or X.Y.Z; GitLab's Help page, /help, or /api/v4/version shows it); chooses the
    /// gateway image tag and the supported models.
    #[arg(long, value_name = "X.Y.Z")]
    gitlab_version: String,
    /// The name or address GitLab and IDEs use to reach this machine (default: its FQDN or first address).
    #[arg(long, value_name = "HOST")]
    gateway_host: Option<String>,
    /// Air-gapped: a directory holding the model checkpoint (otherwise it is downloaded from Hugging Face).
    #[arg(long, value_name = "DIR")]
    weights_dir: Option<PathBuf>,
    /// How GitLab is installed: omnibus (Linux package), helm, docker or source.
    #[arg(long, value_name = "TYPE", default_value = "omnibus")]
    install_type: aigw_core::gitlab::config::InstallType,
    /// A file (mode 0600) holding the Hugging Face token, for gated models. HF_TOKEN works too.
    #[arg(long, value_name = "FILE")]
    hf_token_file: Option<PathBuf>,
    #[command(flatten)]
    overrides: crate::recommend::Overrides,
    /// Where to write the spec.
    #[arg(long, value_name = "FILE", default_value = "aigw-spec.toml")]
    out: PathBuf,
    /// Replace the spec file if it exists.
    #[arg(long)]
    force: bool,
}

pub async fn init(args: InitArgs) -> anyhow::Result<ExitCode> {
    let catalog = Catalog::builtin().context("the built-in catalog")?;
    let report = usecase::detect(&DetectOptions::from_env()).await;
    let request = args.overrides.request(Some(&args.gitlab_version))?;
    let plan = recommend::recommend(&catalog, &Machine::from_report(&report, &catalog), &request)?;
    let Some(deployment) = plan.recommendation else {
        bail!(
            "no model can be served on this machine:\n  {}\nfix: see `aigw-installer recommend` for the details and the alternatives",
            plan.explanation.join("\n  ")
        );
    };
    let gateway_host =
        match args.gateway_host {
            Some(h) => h,
            None => report.gateway_hosts.first().cloned().context(
                "this machine has no name or address GitLab could use; pass --gateway-host",
            )?,
        };
    let answers = Answers {
        gitlab_url: args.gitlab_url,
        gitlab_version: args.gitlab_version,
        gateway_host,
        local_weights: args.weights_dir,
        hf_token_file: args.hf_token_file,
        platform: report.platform.docker_platform().map(str::to_string),
        install_type: Some(args.install_type),
    };
    let s = recommend::from_deployment(&deployment, &answers)?;
    s.validate_with_files(&SpecContext {
        gpus: Some(report.gpus.ids()),
    })?;
    s.save(&args.out, args.force)?;
    println!("wrote {} — {}", args.out.display(), deployment.summary);
    if let Some(d) = &plan.demand {
        println!(
            "{}: {}",
            if d.enough {
                "team"
            } else {
                "short of the team's peak"
            },
            d.summary
        );
        for g in &d.to_close_gap {
            println!("  - {g}");
        }
    }
    println!("next: aigw-installer plan --spec {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct SpecArg {
    /// The deployment spec (TOML), as written by `init` [default: $AIGW_SPEC, else the spec of the
    /// installation made from the wizard]
    #[arg(long = "spec", value_name = "FILE", env = "AIGW_SPEC")]
    given: Option<PathBuf>,
    /// Go on, with a warning, when the model is outside GitLab's support window for the spec's GitLab
    /// version (the same as gitlab.allow_unsupported = true in the spec).
    #[arg(long)]
    pub allow_unsupported: bool,
}

impl SpecArg {
    /// The spec file: the one given, else the installed one.
    pub fn path(&self) -> anyhow::Result<PathBuf> {
        if let Some(p) = &self.given {
            return Ok(p.clone());
        }
        let installed = usecase::installed_spec_path()?;
        if installed.exists() {
            Ok(installed)
        } else {
            bail!(
                "no deployment spec: pass --spec FILE (written by `aigw-installer init`), set AIGW_SPEC, \
                 or install from the wizard first (its spec is {})",
                installed.display()
            )
        }
    }
}

pub fn load(spec: &SpecArg) -> anyhow::Result<DeploymentSpec> {
    let mut s = usecase::load_spec(&spec.path()?)?;
    s.gitlab.allow_unsupported |= spec.allow_unsupported;
    Ok(s)
}

#[derive(clap::Args)]
#[command(
    after_help = "Exit status: 0 when the plan can be applied (or nothing needs doing); 3 when something \
    blocks it (a port taken, a foreign container with our name); 1 on an error."
)]
pub struct PlanArgs {
    #[command(flatten)]
    spec: SpecArg,
    /// Print the plan as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn plan(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let s = load(&args.spec)?;
    let target = connect().await?;
    let fetch = crate::weights_fetch::request_from_env();
    let reviewed = usecase::review(Some(&target), &s, Some(&fetch)).await?;
    let Some(p) = reviewed.plan else {
        bail!("the engine was not asked for a plan");
    };
    let p = p?;
    if args.json {
        // The plan's own fields, and the weights beside them.
        let mut v = serde_json::to_value(&p)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("weights".into(), serde_json::to_value(&reviewed.weights)?);
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "{HEADING}Plan for {}{HEADING:#}",
            args.spec.path()?.display()
        );
        for step in &p.steps {
            println!("  {step}");
        }
        for b in &p.blockers {
            let st = severity_style(Severity::Blocker);
            println!("  {st}blocked:{st:#} {b}");
        }
        if p.is_noop() {
            println!("nothing to do: everything is up to date");
        }
        if let Some(w) = &reviewed.weights {
            println!("{HEADING}Weights{HEADING:#}");
            for line in crate::weights_review::lines(w) {
                println!("{line}");
            }
        }
    }
    Ok(if p.blockers.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_BLOCKED)
    })
}

#[derive(clap::Args)]
#[command(
    after_help = "Pulls the new images first, recreates only the containers whose tag changed, waits \
    until they are healthy and, if one is not, puts the old container back as it was. On success the spec \
    file is updated with the new tags."
)]
pub struct UpgradeArgs {
    #[command(flatten)]
    spec: SpecArg,
    /// The gateway's new tag (e.g. self-hosted-v18.3.0-ee, matching your GitLab after its upgrade).
    #[arg(long, value_name = "TAG", required_unless_present = "model_tag")]
    gateway_tag: Option<String>,
    /// The model server's new tag (e.g. v0.19.0).
    #[arg(long, value_name = "TAG")]
    model_tag: Option<String>,
    #[command(flatten)]
    stable: StableArg,
    /// The engine's events as JSON lines on stdout, then one `result` (or `error`) object.
    #[arg(long)]
    json: bool,
    /// Take over the engine's lock held by an installer on another host that is no longer running
    /// (a live installer on this host is never overridden).
    #[arg(long)]
    break_lock: bool,
}

#[derive(clap::Args)]
pub struct StableArg {
    /// After each server's first healthy answer, how long it must stay up (no exit, no restart) before
    /// the run succeeds; 0: no such wait. A crash in that time fails the run (exit status 4).
    #[arg(
        long = "stable-for",
        value_name = "SECONDS",
        env = "AIGW_STABLE_FOR",
        default_value_t = usecase::DEFAULT_STABLE_FOR_S
    )]
    seconds: u64,
}

impl StableArg {
    fn duration(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.seconds)
    }
}

pub async fn upgrade(args: UpgradeArgs) -> anyhow::Result<ExitCode> {
    crate::render::set_json(args.json);
    let s = load(&args.spec)?;
    let mut target = connect().await?;
    target.break_lock = args.break_lock;
    let (tx, render) = renderer();
    let result = usecase::upgrade(
        &target,
        &s,
        args.gateway_tag.as_deref(),
        args.model_tag.as_deref(),
        args.stable.duration(),
        &Some(tx),
        cancel_on_ctrl_c(),
    )
    .await;
    let _ = render.await;
    let done = result?;
    let report = done.report;
    let path = args.spec.path()?;
    done.spec.save(&path, true)?;
    if args.json {
        crate::render::json_result(serde_json::json!({
            "changed": report.changed,
            "elapsed_s": report.elapsed.as_secs_f64(),
            "spec": path,
            "gitlab_reach": done.gitlab_reach,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    let st = severity_style(Severity::Ok);
    if report.changed {
        println!(
            "{st}upgraded{st:#} in {:.1} s; {} now names the new tags",
            report.elapsed.as_secs_f64(),
            path.display()
        );
    } else {
        println!("{st}already at those tags{st:#}: nothing to do");
    }
    print_reach(&done.gitlab_reach);
    Ok(ExitCode::SUCCESS)
}

/// A token that Ctrl-C trips: the engine then rolls back what this run changed.
pub(crate) fn cancel_on_ctrl_c() -> CancellationToken {
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    // Listening from here on, not from when the task first runs: a Ctrl-C right after the start
    // cancels rather than kills.
    #[cfg(unix)]
    let mut interrupt =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    tokio::spawn(async move {
        #[cfg(unix)]
        let pressed = match interrupt.as_mut() {
            Some(s) => s.recv().await.is_some(),
            None => tokio::signal::ctrl_c().await.is_ok(),
        };
        #[cfg(not(unix))]
        let pressed = tokio::signal::ctrl_c().await.is_ok();
        if pressed {
            anstream::eprintln!("cancelling: undoing what this run changed…");
            c.cancel();
        }
    });
    cancel
}

pub(crate) fn renderer() -> (
    tokio::sync::mpsc::UnboundedSender<aigw_engine::docker::events::Event>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let render = tokio::spawn(async move {
        if crate::render::json() {
            while let Some(e) = rx.recv().await {
                if let Ok(line) = serde_json::to_string(&e) {
                    println!("{line}");
                }
            }
            return;
        }
        let mut r = Renderer::new();
        while let Some(e) = rx.recv().await {
            r.handle(e);
        }
        r.finish();
    });
    (tx, render)
}

#[derive(clap::Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    spec: SpecArg,
    /// On failure, return to the state before this apply (default: true).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    rollback_on_failure: bool,
    /// Skip the completion request made once both services are healthy.
    #[arg(long)]
    no_smoke_test: bool,
    #[command(flatten)]
    stable: StableArg,
    /// The engine's events as JSON lines on stdout, then one `result` (or `error`) object.
    #[arg(long)]
    json: bool,
    /// Take over the engine's lock held by an installer on another host that is no longer running
    /// (a live installer on this host is never overridden).
    #[arg(long)]
    break_lock: bool,
}

pub async fn apply(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    crate::render::set_json(args.json);
    let s = load(&args.spec)?;
    let mut target = connect().await?;
    target.break_lock = args.break_lock;
    let token = std::env::var("HF_TOKEN").ok();
    let opts = InstallOptions {
        hf_token: token.as_deref(),
        rollback_on_failure: args.rollback_on_failure,
        smoke_test: !args.no_smoke_test,
        stable_for: args.stable.duration(),
        fetch: Some(crate::weights_fetch::request_from_env()),
        ..Default::default()
    };
    let (tx, render) = renderer();
    let result = usecase::install(&target, &s, &opts, &Some(tx), cancel_on_ctrl_c()).await;
    let _ = render.await;
    let done = result?;
    let report = done.report;
    let gateway_url = format!("http://{}:{}", s.gateway.host, s.gateway.port);
    if args.json {
        crate::render::json_result(serde_json::json!({
            "changed": report.changed,
            "elapsed_s": report.elapsed.as_secs_f64(),
            "gateway_url": gateway_url,
            "plan": report.plan,
            "gitlab_reach": done.gitlab_reach,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    let st = severity_style(Severity::Ok);
    if report.changed {
        println!(
            "{st}applied{st:#} in {:.1} s: the gateway answers at {gateway_url}",
            report.elapsed.as_secs_f64(),
        );
    } else {
        println!("{st}up to date{st:#}: nothing to do");
    }
    print_reach(&done.gitlab_reach);
    Ok(ExitCode::SUCCESS)
}

/// The gateway at GitLab's address, after "applied"/"upgraded". A finding leaves the exit status 0: the
/// deployment is installed and healthy (exit 3 says nothing was changed, which would be false here); the
/// finding and its fix are printed, and `--json` carries `gitlab_reach`.
fn print_reach(steps: &[aigw_core::gitlab::live::StepResult]) {
    if steps.is_empty() {
        return;
    }
    let finding = aigw_core::gitlab::live::reach_has_finding(steps);
    println!(
        "the gateway at GitLab's address{}:",
        if finding {
            " (a finding: GitLab may not reach it)"
        } else {
            ""
        }
    );
    crate::gitlab::print_steps(steps);
}

#[derive(clap::Subcommand)]
pub enum ImagesCommand {
    /// Save the spec's two images into one tar (plus BUNDLE.manifest.json with its SHA-256), to carry to
    /// a site without registry access.
    Save {
        #[command(flatten)]
        spec: SpecArg,
        /// The bundle to write.
        #[arg(long, value_name = "BUNDLE.tar")]
        out: PathBuf,
        /// Replace the bundle if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Verify a bundle against its manifest, then load its images into the engine.
    Load {
        /// The bundle (its BUNDLE.tar.manifest.json must sit beside it).
        bundle: PathBuf,
        /// Take over the engine's lock held by an installer on another host that is no longer running
        /// (a live installer on this host is never overridden).
        #[arg(long)]
        break_lock: bool,
    },
}

#[derive(clap::Args)]
pub struct ImagesArgs {
    #[command(subcommand)]
    command: ImagesCommand,
    /// The engine's events as JSON lines on stdout, then one `result` (or `error`) object.
    #[arg(long, global = true)]
    json: bool,
}

pub async fn images(args: ImagesArgs) -> anyhow::Result<ExitCode> {
    use aigw_engine::docker::images;
    crate::render::set_json(args.json);
    let mut target = connect().await?;
    let cancel = cancel_on_ctrl_c();
    let (tx, render) = renderer();
    let sink = Some(tx);
    let st = severity_style(Severity::Ok);
    match args.command {
        ImagesCommand::Save { spec, out, force } => {
            let s = load(&spec)?;
            let r = usecase::save_images(&target, &s, &out, force, &sink, &cancel).await;
            drop(sink);
            let _ = render.await;
            let m = r?;
            if args.json {
                crate::render::json_result(serde_json::json!({
                    "bundle": out,
                    "manifest": images::manifest_path(&out),
                    "images": m.images,
                    "bytes": m.bytes,
                    "sha256": m.sha256,
                }));
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{st}saved{st:#} {} image(s), {:.1} MiB, to {} (sha256 {}; manifest {})",
                m.images.len(),
                m.bytes as f64 / 1048576.0,
                out.display(),
                m.sha256,
                images::manifest_path(&out).display()
            );
        }
        ImagesCommand::Load { bundle, break_lock } => {
            target.break_lock = break_lock;
            let r = usecase::load_images(&target, &bundle, &sink, &cancel).await;
            drop(sink);
            let _ = render.await;
            let loaded = r?;
            if args.json {
                crate::render::json_result(serde_json::json!({ "loaded": loaded }));
                return Ok(ExitCode::SUCCESS);
            }
            for reference in loaded {
                println!("{st}loaded{st:#} {reference}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
