//! `aigw-installer recommend`: which model, precision, GPUs and context to serve, with the arithmetic.

use aigw_engine::hardware::gpu::LoadProfile;
use anstream::println;
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

use aigw_core::catalog::{Catalog, GitlabVersion, Precision};
use aigw_core::recommend::{
    self, Deployment, Engine, Machine, Recommendation, Request, SpareRole, Verdict,
};
use aigw_engine::hardware::gpu::GpuProfile;
use aigw_engine::hardware::DetectOptions;
use aigw_engine::usecase::detect;

use crate::render::{severity_style, BOLD, DIM, HEADING};
use aigw_core::preflight::Severity;

#[derive(clap::Args)]
#[command(
    after_help = "Without --gpus, --platform or --ram-gib the plan is for this machine (its GPUs are \
    detected). With any of them it is a what-if plan for another machine: unset parts mean no GPU, \
    linux-amd64 and unknown RAM.\n\
    Exit status: 0 when a plan was made (the verdict may still be cannot_serve); 1 on bad input or an \
    override that cannot start.\nThe JSON shape is documented in docs/recommend.md."
)]
pub struct Args {
    /// Print the plan as JSON.
    #[arg(long)]
    json: bool,
    /// What-if GPUs: COUNTxNAME, comma-separated (2xL4, 1xA100-80,1xA100-40), a card by its numbers
    /// (2x96GiB@cc10.0: NVML memory in GiB, compute capability) or "none". Names: see `models`.
    #[arg(long, value_name = "LIST")]
    gpus: Option<String>,
    /// What-if platform: linux-amd64, linux-arm64, macos-arm64 or windows-wsl2.
    #[arg(long, value_name = "PLATFORM")]
    platform: Option<String>,
    /// What-if host RAM in GiB (on a Mac: its unified memory).
    #[arg(long, value_name = "N")]
    ram_gib: Option<u64>,
    /// Read this machine's GPUs from a recorded NVML profile instead of the driver.
    #[arg(long, value_name = "FILE", conflicts_with = "gpus")]
    gpu_profile: Option<PathBuf>,
    /// The GitLab version the model must be supported by (default: the newest the catalog knows).
    #[arg(long, value_name = "X.Y")]
    gitlab_version: Option<String>,
    #[command(flatten)]
    overrides: Overrides,
}

/// The admin's overrides of the recommendation, shared by `recommend` and `init`.
#[derive(clap::Args)]
pub struct Overrides {
    /// Use this model (catalog id or alias; see `models`).
    #[arg(long, value_name = "ID")]
    model: Option<String>,
    /// Use this precision: bf16, fp16, fp8, awq or gptq.
    #[arg(long, value_name = "P")]
    precision: Option<String>,
    /// Use this tensor-parallel size (1, 2, 4 or 8).
    #[arg(long, value_name = "N")]
    tp: Option<u32>,
    /// Use this context length (--max-model-len), at least 16384.
    #[arg(long, value_name = "TOKENS")]
    context: Option<u32>,
    /// Accept a model's licence (Codestral's non-production licence): model id, repeatable.
    #[arg(long, value_name = "ID", value_delimiter = ',')]
    accept_license: Vec<String>,
    /// Developers who will use GitLab Duo: the plan reports the expected peak of concurrent requests and
    /// whether it keeps up (model and assumptions: docs/sizing.md).
    #[arg(long, value_name = "N")]
    developers: Option<u32>,
}

impl Overrides {
    pub fn request(self, gitlab_version: Option<&str>) -> anyhow::Result<Request> {
        Ok(Request {
            gitlab_version: gitlab_version
                .map(str::parse::<GitlabVersion>)
                .transpose()?,
            model: self.model,
            precision: self
                .precision
                .as_deref()
                .map(str::parse::<Precision>)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--precision: {e}"))?,
            tp: self.tp,
            context: self.context,
            accept_licenses: self.accept_license,
            developers: self.developers,
        })
    }
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let catalog = Catalog::builtin().context("the built-in catalog")?;
    let request = args.overrides.request(args.gitlab_version.as_deref())?;
    let what_if = args.gpus.is_some() || args.platform.is_some() || args.ram_gib.is_some();
    let machine = if what_if {
        Machine::what_if(
            &catalog,
            args.gpus.as_deref(),
            args.platform.as_deref(),
            args.ram_gib,
        )?
    } else {
        let mut opts = DetectOptions::from_env();
        if let Some(path) = &args.gpu_profile {
            let profile = GpuProfile::load(path).context("--gpu-profile")?;
            opts = opts.with_gpu_profile(profile);
        }
        Machine::from_report(&detect(&opts).await, &catalog)
    };
    let plan = recommend::recommend(&catalog, &machine, &request)?;
    tracing::info!(verdict = ?plan.verdict, model = ?plan.recommendation.as_ref().map(|d| &d.model), "recommend finished");
    if args.json {
        let json = serde_json::to_string_pretty(&plan).context("serialising the plan")?;
        println!("{json}");
    } else {
        print_plan(&plan);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_plan(p: &Recommendation) {
    let m = &p.machine;
    let gpus = m.gpu_summary();
    println!(
        "{HEADING}aigw-installer — model recommendation for GitLab {}{HEADING:#}",
        p.gitlab_version
    );
    println!(
        "{DIM}{}: {}, {gpus}{}{DIM:#}\n",
        m.source,
        m.platform,
        m.ram_mib
            .map(|r| format!(", {} GiB RAM", r / 1024))
            .unwrap_or_default()
    );
    match &p.recommendation {
        Some(d) => {
            let s = severity_style(Severity::Ok);
            println!("{s}Recommended{s:#}  {}", headline(d));
            print_deployment(d);
        }
        None => {
            let s = severity_style(Severity::Blocker);
            println!("{s}Cannot serve{s:#}  no configuration fits this machine");
        }
    }
    if let Some(demand) = &p.demand {
        let s = severity_style(if demand.enough {
            Severity::Ok
        } else {
            Severity::Warning
        });
        println!(
            "{s}{}{s:#}  {}",
            if demand.enough { "Team" } else { "Short" },
            demand.summary
        );
        for g in &demand.to_close_gap {
            println!("  - {g}");
        }
    }
    println!("\n{HEADING}Why{HEADING:#}");
    for line in &p.explanation {
        println!("  - {line}");
    }
    if !p.alternatives.is_empty() {
        println!("\n{HEADING}Alternatives{HEADING:#}");
        for d in &p.alternatives {
            println!("  - {}", d.summary);
        }
    }
    if !p.rejected.is_empty() {
        println!("\n{HEADING}Rejected{HEADING:#}");
        for r in &p.rejected {
            println!("  - {BOLD}{}{BOLD:#}: {}", r.candidate, r.reason);
        }
    }
    let unusable = p
        .spare_gpus
        .iter()
        .filter(|s| s.role == SpareRole::Unusable)
        .count();
    if unusable > 0 && p.verdict == Verdict::CannotServe {
        println!("\n{DIM}{unusable} GPU(s) cannot be used; see above.{DIM:#}");
    }
}

fn headline(d: &Deployment) -> String {
    format!(
        "{} · {} · TP={}{} · {} tokens · {}",
        d.model_name,
        d.precision.label(),
        d.tensor_parallel_size,
        if d.data_parallel_size > 1 {
            format!(" × DP={}", d.data_parallel_size)
        } else {
            String::new()
        },
        d.max_model_len,
        match d.engine {
            Engine::Vllm => "vLLM",
            Engine::Ollama => "Ollama",
        }
    )
}

fn print_deployment(d: &Deployment) {
    let row = |k: &str, v: String| println!("  {BOLD}{k:<11}{BOLD:#} {v}");
    if let Some(repo) = &d.hf_repo {
        row("checkpoint", repo.clone());
    }
    if let Some(tag) = &d.ollama_model {
        row("ollama", format!("ollama pull {tag}"));
    }
    if d.data_parallel_size > 1 {
        row(
            "capacity",
            format!(
                "{} tokens = {:.1} concurrent {}-token sequences per replica; {} replicas: {} tokens = {:.1}",
                d.capacity_tokens,
                d.concurrency,
                d.max_model_len,
                d.data_parallel_size,
                d.total_capacity_tokens,
                d.total_concurrency
            ),
        );
    } else {
        row(
            "capacity",
            format!(
                "{} tokens = {:.1} concurrent {}-token sequences",
                d.capacity_tokens, d.concurrency, d.max_model_len
            ),
        );
    }
    row(
        "GitLab",
        format!(
            "model family '{}', model identifier '{}'",
            d.gitlab.model_family, d.gitlab.model_identifier
        ),
    );
    if !d.vllm_args.is_empty() {
        row("vllm args", d.vllm_args.join(" "));
    }
    if !d.ollama_env.is_empty() {
        row("ollama env", d.ollama_env.join(" "));
    }
}
