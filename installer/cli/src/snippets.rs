//! `snippets --for PART` prints one generated part; `export` writes them all into one zip.

use aigw_engine::spec_file::SpecFile;
use anstream::println;
use anyhow::bail;
use std::path::PathBuf;
use std::process::ExitCode;

use aigw_core::export::archive::{self, ExportOptions};
use aigw_core::export::compose::compose_yaml;
use aigw_core::gitlab::config::{self, InstallType, Part};
use aigw_core::plan::desired;
use aigw_core::spec::DeploymentSpec;
use aigw_engine::usecase;

use crate::provision::SpecArg;

#[derive(clap::Args)]
#[command(
    after_help = "PART: compose, omnibus, helm, docker, source, admin-ui, model, feature-flags, verify."
)]
pub struct Args {
    /// Which part to print.
    #[arg(long = "for", value_name = "PART")]
    part: String,
    #[command(flatten)]
    spec: SpecArg,
    /// The Duo Agent Platform address (host:50052), for GitLab 18.4+.
    #[arg(long, value_name = "HOST:PORT")]
    agent_platform: Option<String>,
}

fn options(
    s: &DeploymentSpec,
    install: Option<InstallType>,
    agent: Option<String>,
) -> anyhow::Result<ExportOptions> {
    Ok(ExportOptions {
        agent_platform: agent
            .as_deref()
            .map(config::agent_platform_checked)
            .transpose()?,
        ..ExportOptions::without_secrets(install.unwrap_or(s.gitlab.install_type))
    })
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let s = crate::provision::load(&args.spec)?;
    if args.part == "compose" {
        println!("{}", compose_yaml(&desired(&s, None)?).trim_end());
        return Ok(ExitCode::SUCCESS);
    }
    let part: Part = args.part.parse()?;
    let side = archive::gitlab_side(&s, &options(&s, None, args.agent_platform)?)?;
    match config::snippet_for(&side, part)? {
        Some(snippet) => println!("{}", snippet.body.trim_end()),
        None => bail!(
            "GitLab {} needs no `{}` step (nothing to print)",
            s.gitlab.version,
            args.part
        ),
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
#[command(
    after_help = "The zip holds README.md (the steps, in order), docker-compose.yml, aigw.env, docker-run.sh, \
    gitlab/ (this version's and install type's settings), kubernetes/aigw.yaml, the spec and manifest.json (each \
    file's SHA-256). Secrets are left out unless --include-secrets (then the zip is written with mode 0600)."
)]
pub struct ExportArgs {
    #[command(flatten)]
    spec: SpecArg,
    /// The zip to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// How GitLab is installed (default: the spec's gitlab.install_type).
    #[arg(long, value_name = "TYPE")]
    install_type: Option<InstallType>,
    /// The Duo Agent Platform address (host:50052), for GitLab 18.4+.
    #[arg(long, value_name = "HOST:PORT")]
    agent_platform: Option<String>,
    /// Include the secrets: the Hugging Face token (from HF_TOKEN or the spec's token_file) and, for GitLab
    /// versions that need them, newly generated JWT signing keys.
    #[arg(long)]
    include_secrets: bool,
    /// Replace the zip if it exists.
    #[arg(long)]
    force: bool,
    /// The result as one JSON object on stdout (`result`, or `error`).
    #[arg(long)]
    json: bool,
}

pub async fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    crate::render::set_json(args.json);
    let mut s = DeploymentSpec::load(&args.spec.path()?)?;
    s.gitlab.allow_unsupported |= args.spec.allow_unsupported;
    s.validate_with_files(&Default::default())?;
    if !crate::render::quiet() {
        for w in usecase::supported(&s)? {
            let st = crate::render::severity_style(aigw_core::preflight::Severity::Warning);
            anstream::eprintln!("{st}warning:{st:#} {w}");
        }
    }
    let mut opts = options(&s, args.install_type, args.agent_platform)?;
    opts.include_secrets = args.include_secrets;
    let warning = (!crate::render::quiet())
        .then(|| {
            aigw_engine::hardware::network::resolution_warning(
                &s.gateway.host,
                std::time::Duration::from_secs(2),
            )
        })
        .flatten();
    if let Some(w) = warning {
        let st = crate::render::severity_style(aigw_core::preflight::Severity::Warning);
        anstream::eprintln!("{st}warning:{st:#} {w}");
    }
    let token = std::env::var("HF_TOKEN").ok();
    let done = usecase::export(&s, opts, token.as_deref(), &args.out, args.force)?;
    let manifest = done.manifest;
    if args.json {
        crate::render::json_result(serde_json::json!({
            "zip": args.out,
            "files": done.files,
            "contains_secrets": manifest.contains_secrets,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "wrote {} ({} files{}) — start with README.md inside",
        args.out.display(),
        manifest.files.len() + 1,
        if manifest.contains_secrets {
            ", WITH SECRETS: mode 0600"
        } else {
            ", no secrets"
        }
    );
    Ok(ExitCode::SUCCESS)
}
