//! `check gitlab`, `check tag` and `gitlab version`: the live checks of the GitLab side (issue 13).

use anstream::println;
use std::path::PathBuf;
use std::process::ExitCode;

use aigw_core::gitlab::live::{Check, Outcome, TagAnswer, VersionAnswer};
use aigw_core::secret::Secret;
use aigw_engine::net::HttpOptions;
use aigw_engine::usecase;

/// Findings make the exit status 3, as `detect --strict` does for a blocker.
const EXIT_FINDING: u8 = crate::EXIT_BLOCKED;

#[derive(clap::Subcommand)]
pub enum CheckCommand {
    /// Test GitLab before installing: DNS, TCP, TLS and /oauth/discovery/keys (what the gateway fetches).
    Gitlab(CheckGitlabArgs),
    /// Whether the gateway image tag exists in its registry (anonymous token flow).
    Tag(CheckTagArgs),
}

#[derive(clap::Subcommand)]
pub enum GitlabCommand {
    /// GitLab's version from /api/v4/version (with a read_api token; without one GitLab answers 401).
    Version(VersionArgs),
}

#[derive(clap::Args)]
#[command(
    after_help = "Proxies: HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY are honoured. Exit status 3 when a step \
    has a finding (each with its fix)."
)]
pub struct CheckGitlabArgs {
    /// GitLab's URL, as the gateway will use it (AIGW_GITLAB_URL).
    #[arg(
        long = "gitlab-url",
        alias = "url",
        value_name = "URL",
        required_unless_present = "spec"
    )]
    url: Option<String>,
    /// Test from the spec's deployment: its GitLab URL, and from its network with its gateway image:tag
    /// (as apply names them), besides from this machine.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["url", "network", "image"])]
    spec: Option<PathBuf>,
    /// A PEM file of CA certificates to trust besides the system's (GitLab's site CA) [env: AIGW_CA_FILE]
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Also from the gateway's network: a short-lived container of --image on this Docker network (created
    /// if absent and removed after), always removed.
    #[arg(long, value_name = "NAME", requires = "image")]
    network: Option<String>,
    /// The gateway image to run that check with (it must be on the engine already).
    #[arg(long, value_name = "IMAGE", requires = "network")]
    image: Option<String>,
    /// The result as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct CheckTagArgs {
    /// The gateway image tag, e.g. self-hosted-v18.4.1-ee.
    #[arg(long, value_name = "TAG")]
    tag: String,
    /// The registry's base URL.
    #[arg(
        long,
        value_name = "URL",
        default_value = "https://registry.gitlab.com"
    )]
    registry: String,
    /// Also look in this image bundle (made by `images save`; its manifest beside it, else docker's
    /// manifest.json inside), after the engine's own images and before the registry.
    #[arg(long, value_name = "BUNDLE.tar")]
    bundle: Option<PathBuf>,
    /// Never ask the registry (an air-gapped site): the engine and the bundle only.
    #[arg(long)]
    offline: bool,
    /// A PEM file of CA certificates to trust besides the system's [env: AIGW_CA_FILE]
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// The result as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
#[command(
    after_help = "The token is sent once, in the PRIVATE-TOKEN header, and is never stored, printed or logged."
)]
pub struct VersionArgs {
    /// GitLab's URL.
    #[arg(
        long = "gitlab-url",
        alias = "url",
        value_name = "URL",
        required_unless_present = "forget_token"
    )]
    url: Option<String>,
    /// Keep the token given (--token-file or $GITLAB_TOKEN) once GitLab accepted it: a 0600 file in the data
    /// directory, used by later runs given no token. Never in the spec, an export or a log.
    #[arg(long, conflicts_with = "forget_token")]
    save_token: bool,
    /// Delete the kept token (then nothing else is asked).
    #[arg(long)]
    forget_token: bool,
    /// A file holding a personal access token with the read_api scope [else: $GITLAB_TOKEN]
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// A PEM file of CA certificates to trust besides the system's [env: AIGW_CA_FILE]
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// The result as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

fn http(ca_file: Option<PathBuf>) -> HttpOptions {
    let mut o = HttpOptions::from_env();
    if ca_file.is_some() {
        o.ca_file = ca_file;
    }
    o
}

pub async fn check(cmd: CheckCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        CheckCommand::Gitlab(a) => check_gitlab(a).await,
        CheckCommand::Tag(a) => check_tag(a).await,
    }
}

async fn check_gitlab(args: CheckGitlabArgs) -> anyhow::Result<ExitCode> {
    crate::render::set_json(args.json);
    let place = match &args.spec {
        Some(path) => Some(usecase::GatewayPlace::of_spec(&usecase::load_spec(path)?)?),
        None => None,
    };
    let url = match (&place, &args.url) {
        (Some(p), _) => p.url.clone(),
        (None, Some(u)) => u.clone(),
        (None, None) => anyhow::bail!("give --gitlab-url or --spec"),
    };
    let check = usecase::check_gitlab(&url, &http(args.ca_file.clone())).await?;
    let from_network = if let Some(p) = &place {
        Some(usecase::check_gitlab_from_gateway(p, args.ca_file.as_deref()).await)
    } else if let (Some(network), Some(image)) = (&args.network, &args.image) {
        let session = usecase::Session::connect().await?;
        Some(
            usecase::check_gitlab_from_network(
                &session,
                &url,
                network,
                image,
                args.ca_file.as_deref(),
            )
            .await?,
        )
    } else {
        None
    };
    let ok = check.passed() && from_network.as_ref().is_none_or(Check::passed);
    if args.json {
        let mut v = serde_json::to_value(&check)?;
        if let Some(n) = &from_network {
            v["gateway_network"] = serde_json::to_value(n)?;
        }
        crate::render::json_result(v);
    } else {
        print_check(&check);
        if let Some(n) = &from_network {
            print_check(n);
        }
    }
    Ok(exit(ok))
}

fn exit(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FINDING)
    }
}

fn print_check(check: &Check) {
    println!("{} from {}", check.url, check.from);
    print_steps(&check.steps);
}

/// One line a step (two with a finding's fix).
pub fn print_steps(steps: &[aigw_core::gitlab::live::StepResult]) {
    for s in steps {
        let name = serde_json::to_value(s.step)
            .ok()
            .and_then(|v| v.as_str().map(str::to_uppercase))
            .unwrap_or_default();
        match &s.outcome {
            Outcome::Pass { detail } => println!("  ok      {name:<5} {detail}"),
            Outcome::NotRun { reason } => println!("  not run {name:<5} {reason}"),
            Outcome::Finding { code, message, fix } => {
                println!("  FINDING {name:<5} {message} [{code}]");
                println!("          fix: {fix}");
            }
        }
    }
}

async fn check_tag(args: CheckTagArgs) -> anyhow::Result<ExitCode> {
    crate::render::set_json(args.json);
    // The engine's images first; an engine that cannot be reached is one place fewer, not an error.
    let session = usecase::Session::connect().await.ok();
    let places = usecase::TagPlaces {
        engine: session.as_ref(),
        bundle: args.bundle.as_deref(),
        registry: Some(&args.registry),
        skip_registry: args.offline,
    };
    let answer = usecase::gateway_tag_found(&args.tag, &places, &http(args.ca_file)).await?;
    let ok = matches!(answer, TagAnswer::Exists { .. });
    if args.json {
        crate::render::json_result(serde_json::to_value(&answer)?);
    } else {
        match &answer {
            TagAnswer::Exists { image, source } => println!("{image} exists ({source})"),
            TagAnswer::Missing { image, source, fix } => {
                println!("{image} does not exist ({source})\n  fix: {fix}")
            }
            TagAnswer::CouldNotCheck { image, reason } => {
                println!("could not check {image}: {reason}")
            }
        }
    }
    Ok(exit(ok))
}

pub async fn gitlab(cmd: GitlabCommand) -> anyhow::Result<ExitCode> {
    let GitlabCommand::Version(args) = cmd;
    crate::render::set_json(args.json);
    if args.forget_token {
        let gone = usecase::forget_gitlab_token()?;
        if args.json {
            crate::render::json_result(serde_json::json!({ "forgotten": gone }));
        } else {
            match gone {
                Some(p) => println!("forgot the GitLab token kept in {}", p.display()),
                None => println!("no GitLab token was kept"),
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let url = args.url.clone().unwrap_or_default();
    let given = match &args.token_file {
        Some(f) => Some(Secret::new(
            std::fs::read_to_string(f)
                .map_err(|e| anyhow::anyhow!("cannot read the token file {}: {e}", f.display()))?
                .trim(),
        )),
        None => std::env::var("GITLAB_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .map(|t| Secret::new(t.trim())),
    };
    if args.save_token && given.is_none() {
        anyhow::bail!("--save-token needs a token: give --token-file FILE or set GITLAB_TOKEN");
    }
    // No token given: the one kept on an earlier request, said so.
    let (token, kept_from) = match given {
        Some(t) => (Some(t), None),
        None => match usecase::kept_gitlab_token()? {
            Some((path, t)) => (Some(t), Some(path)),
            None => (None, None),
        },
    };
    if let Some(p) = &kept_from {
        if !args.json {
            println!("using the token kept in {}", p.display());
        }
    }
    let answer = usecase::gitlab_version(&url, token.as_ref(), &http(args.ca_file)).await?;
    let ok = matches!(answer, VersionAnswer::Found { .. });
    // Kept only once GitLab accepted it: a wrong token is not remembered.
    let saved = match (&token, args.save_token && kept_from.is_none(), ok) {
        (Some(t), true, true) => Some(usecase::keep_gitlab_token(t)?),
        _ => None,
    };
    drop(token);
    if args.json {
        let mut v = serde_json::to_value(&answer)?;
        if let Some(obj) = v.as_object_mut() {
            obj.insert(
                "token_kept_in".into(),
                serde_json::json!(saved.as_ref().or(kept_from.as_ref())),
            );
        }
        crate::render::json_result(v);
    } else {
        if let Some(p) = &saved {
            println!(
                "kept the token in {} (mode 0600; --forget-token deletes it)",
                p.display()
            );
        } else if args.save_token && !ok {
            println!("the token was not kept: GitLab did not accept it");
        }
        match &answer {
            VersionAnswer::Found { version, revision } => match revision {
                Some(r) => println!("GitLab {version} (revision {r})"),
                None => println!("GitLab {version}"),
            },
            VersionAnswer::Unknown { reason, fix } => {
                println!("GitLab's version is not known: {reason}\n  fix: {fix}")
            }
        }
    }
    Ok(exit(ok))
}
