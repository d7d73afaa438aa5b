//! `aigw-installer models`: the built-in catalog of models and GPUs.

use anstream::println;
use anyhow::Context;
use std::process::ExitCode;

use aigw_core::catalog::{Catalog, Precision};
use aigw_core::sizing::{gib, kv_bytes_per_token};

use crate::render::{BOLD, DIM, HEADING};

#[derive(clap::Args)]
#[command(
    after_help = "The catalog is compiled into the binary (installer/core/src/catalog/*.toml)."
)]
pub struct Args {
    /// Print the catalog as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let catalog = Catalog::builtin().context("the built-in catalog")?;
    if args.json {
        let json = serde_json::to_string_pretty(&catalog).context("serialising the catalog")?;
        println!("{json}");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{HEADING}Models{HEADING:#} {DIM}(most capable first){DIM:#}");
    for m in &catalog.models {
        let precisions: Vec<String> = m
            .checkpoints
            .iter()
            .map(|c| c.precision.label().to_string())
            .collect();
        println!("  {BOLD}{}{BOLD:#}  {}", m.id, m.name);
        println!(
            "      {} B params{}, {} layers, {} heads / {} KV heads, context {}, KV {} KiB/token (bf16)",
            m.published_params_b,
            if m.is_moe() {
                format!(" ({} B active)", m.active_params_b)
            } else {
                String::new()
            },
            m.layers,
            m.attention_heads,
            m.kv_heads,
            m.max_context,
            kv_bytes_per_token(&m.architecture(), 1, 2) / 1024
        );
        println!(
            "      weights: bf16 {}, FP8 {}, 4-bit {}; checkpoints: {}",
            gib(m.weight_bytes(Precision::Bf16)),
            gib(m.weight_bytes(Precision::Fp8)),
            gib(m.weight_bytes(Precision::Awq)),
            precisions.join(", ")
        );
        println!(
            "      GitLab {} ({:?}, family '{}'), licence {}",
            m.gitlab.range(),
            m.gitlab.status,
            m.gitlab.family,
            m.license.id()
        );
        println!("      {DIM}{}{DIM:#}", m.note);
    }
    println!("\n{HEADING}GPUs{HEADING:#} {DIM}(names for --gpus){DIM:#}");
    for g in &catalog.gpus {
        println!(
            "  {BOLD}{:<11}{BOLD:#} {:<32} {:>7} MiB  CC {}  bf16 {}  FP8 {}{}",
            g.id,
            g.name,
            g.memory_mib,
            g.compute_capability,
            yes(g.bf16),
            yes(g.fp8),
            if g.memory_verified {
                ""
            } else {
                "  (memory not verified)"
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no "
    }
}
