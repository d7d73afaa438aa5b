//! `diagnose`: a redacted diagnostics zip to attach to a support request.

use anstream::println;
use std::path::PathBuf;
use std::process::ExitCode;

use aigw_engine::usecase::{self, DiagnoseOptions};

#[derive(clap::Args)]
#[command(
    after_help = "The zip (mode 0600) holds README.txt (what each file holds), manifest.json (the files, and \
    what could not be collected and why), system/detect.json, status.json, plan.json, spec.toml, \
    engine/info.json and engine/version.json, containers/NAME.log (the last 500 lines) and \
    containers/NAME.inspect.json for each of the installer's containers, and installer-logs/. Secrets are \
    redacted: the Hugging Face token, the JWT keys, private keys, credentials inside URLs, Authorization \
    and Bearer values, hf_ tokens, and the values of *_TOKEN, *_KEY, *_SECRET and *PASSWORD* variables. \
    It is written with the engine down, too (the bundle then says so)."
)]
pub struct Args {
    /// The zip to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Replace the zip if it exists.
    #[arg(long)]
    force: bool,
    /// The spec to include and plan [default: $AIGW_SPEC, else the installation's spec, if any]
    #[arg(long = "spec", value_name = "FILE", env = "AIGW_SPEC")]
    spec: Option<PathBuf>,
    /// The result as one JSON object on stdout (`result`, or `error`).
    #[arg(long)]
    json: bool,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    crate::render::set_json(args.json);
    let done = usecase::diagnose(&DiagnoseOptions {
        out: &args.out,
        force: args.force,
        spec: args.spec.as_deref(),
        engine: None,
    })
    .await?;
    let m = &done.manifest;
    if args.json {
        crate::render::json_result(serde_json::json!({
            "zip": done.path,
            "engine_reachable": m.engine_reachable,
            "files": m.files.iter().map(|f| &f.path).collect::<Vec<_>>(),
            "not_collected": m.not_collected,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "wrote {} ({} files, secrets redacted, mode 0600) — README.txt inside says what each holds",
        done.path.display(),
        m.files.len() + 2
    );
    if !m.engine_reachable {
        println!("the Docker engine could not be reached: the bundle says so and holds what was found without it");
    }
    for n in &m.not_collected {
        println!("  not collected: {}: {}", n.part, n.reason);
    }
    Ok(ExitCode::SUCCESS)
}
