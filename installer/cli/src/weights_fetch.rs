//! `aigw-installer weights fetch`: the spec's Hugging Face snapshot over the network into its cache
//! directory, with bars (total and each file under way: bytes, rate, time left); Ctrl-C cancels and keeps
//! what is verified.

use std::path::PathBuf;
use std::process::ExitCode;

use aigw_core::secret::Secret;
use aigw_core::weights::human_bytes;
use aigw_engine::net::HttpOptions;
use aigw_engine::usecase::{self, FetchRequest};

use crate::provision::{cancel_on_ctrl_c, load, renderer, SpecArg};
use crate::render::json_result;

#[derive(clap::Args)]
pub struct FetchArgs {
    #[command(flatten)]
    spec: SpecArg,
    /// A PEM file of CA certificates to trust besides the system's (a site CA, a TLS-inspecting proxy's).
    /// Proxies come from HTTPS_PROXY / HTTP_PROXY / NO_PROXY.
    #[arg(long, value_name = "FILE", env = "AIGW_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// Connections at once, over all files and byte ranges [default: 8].
    #[arg(long, value_name = "N", env = "AIGW_WEIGHTS_CONNECTIONS")]
    connections: Option<usize>,
    /// Byte-range size (tests and benchmarks) [default: 32 MiB].
    #[arg(long, value_name = "BYTES", hide = true)]
    range_bytes: Option<u64>,
    /// Only resolve and print what would be fetched (files, sizes, the free-space check).
    #[arg(long)]
    dry_run: bool,
}

/// Proxies, the CA file (`AIGW_CA_FILE`), parallelism (`AIGW_WEIGHTS_CONNECTIONS`), token and endpoint
/// from the environment, read here once: the engine reads none. What `apply` fetches with.
pub fn request_from_env() -> FetchRequest {
    let env = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
    FetchRequest {
        http: HttpOptions::from_env(),
        connections: env("AIGW_WEIGHTS_CONNECTIONS").and_then(|n| n.parse().ok()),
        chunk: None,
        env_token: env("HF_TOKEN").map(Secret::new),
        env_endpoint: env("HF_ENDPOINT"),
        data_dir: usecase::data_dir().ok(),
    }
}

fn request(a: &FetchArgs) -> FetchRequest {
    let mut r = request_from_env();
    if a.ca_file.is_some() {
        r.http.ca_file = a.ca_file.clone();
    }
    r.connections = a.connections.or(r.connections);
    r.chunk = a.range_bytes;
    r
}

pub async fn run(a: FetchArgs, json: bool) -> anyhow::Result<ExitCode> {
    let spec = load(&a.spec)?;
    let req = request(&a);
    if a.dry_run {
        let p = usecase::weights_plan(&spec, &req).await?;
        if json {
            json_result(serde_json::json!({
                "commit": p.commit, "files": p.files, "total": p.total, "needed": p.needed,
                "summary": p.summary,
            }));
        } else {
            for f in &p.files {
                println!("  {:>10}  {}", human_bytes(f.size), f.name);
            }
            println!("{} (commit {})", p.summary, p.commit);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (tx, render) = renderer();
    let result = usecase::weights_fetch(&spec, &req, &Some(tx), &cancel_on_ctrl_c()).await;
    let _ = render.await;
    let f = result?;
    if json {
        json_result(serde_json::json!({
            "commit": f.commit, "snapshot": f.snapshot, "manifest": f.manifest,
            "files": f.files.len(), "downloaded": f.downloaded,
        }));
    } else {
        println!(
            "fetched {} ({} file(s) verified) into {}",
            human_bytes(f.downloaded),
            f.files.len(),
            f.snapshot.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
