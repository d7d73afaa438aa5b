//! `aigw-installer weights status | verify | export | import`: the spec's Hugging Face snapshot in the
//! cache, without the network (the offline kit's weights half; export and import with bars, Ctrl-C
//! cancels).

use std::path::PathBuf;
use std::process::ExitCode;

use aigw_core::preflight::Severity;
use aigw_core::spec::Weights;
use aigw_core::weights::human_bytes;
use aigw_engine::usecase;
use aigw_engine::weights::FileState;
use anstream::{eprintln, println};

use crate::provision::{cancel_on_ctrl_c, load, renderer, SpecArg};
use crate::render::{json_result, set_json, severity_style};

#[derive(clap::Subcommand)]
pub enum WeightsCommand {
    /// Fetch the spec's snapshot from the Hub (or HF_ENDPOINT's mirror) into its cache directory:
    /// several files and byte ranges at once, each file SHA-256 verified, resumed after an interruption.
    Fetch(crate::weights_fetch::FetchArgs),
    /// What the cache holds of the spec's snapshot: each file present, partial or missing (sizes only).
    Status {
        #[command(flatten)]
        spec: SpecArg,
    },
    /// Hash every file of the snapshot against its manifest (SHA-256); a corrupt file is named and
    /// removed so the next fetch gets it again. Exit 1 when any file is corrupt or missing.
    Verify {
        #[command(flatten)]
        spec: SpecArg,
    },
    /// Copy the snapshot's manifest and files into a folder or one .tar, each file checked as it is
    /// copied, to carry to an air-gapped site. Bars show each file and the total; Ctrl-C cancels and
    /// removes what this export wrote.
    Export {
        #[command(flatten)]
        spec: SpecArg,
        /// The folder to write (created; refused if it already holds an export), or a new .tar file
        /// (refused if it exists).
        #[arg(long, value_name = "DIR|FILE.tar")]
        out: PathBuf,
        /// What to write [default: tar when --out ends in .tar, else folder].
        #[arg(long, value_enum)]
        format: Option<Format>,
        #[command(flatten)]
        copy: CopyArgs,
    },
    /// Import an exported folder or .tar into the Hugging Face cache: every file verified against the
    /// manifest before anything is linked; a tampered kit is refused. Bars show each file and the total;
    /// Ctrl-C cancels and links nothing.
    Import {
        /// The exported folder or .tar.
        from: PathBuf,
        /// The cache to import into [default: the spec's model.weights.cache_dir].
        #[arg(long, value_name = "DIR")]
        cache_dir: Option<PathBuf>,
        #[command(flatten)]
        spec: SpecArg,
        #[command(flatten)]
        copy: CopyArgs,
    },
}

#[derive(clap::Args)]
pub struct CopyArgs {
    /// Bytes per second at most (tests and benchmarks).
    #[arg(long, value_name = "BYTES_PER_SEC", hide = true)]
    max_rate: Option<u64>,
}

impl CopyArgs {
    fn options(&self) -> usecase::KitOptions {
        usecase::KitOptions {
            max_bytes_per_sec: self.max_rate,
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Folder,
    Tar,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: WeightsCommand,
    /// One JSON `result` (or `error`) object on stdout.
    #[arg(long, global = true)]
    json: bool,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    set_json(args.json);
    let ok = severity_style(Severity::Ok);
    let bad = severity_style(Severity::Blocker);
    match args.command {
        WeightsCommand::Fetch(a) => crate::weights_fetch::run(a, args.json).await,
        WeightsCommand::Status { spec } => {
            let st = usecase::weights_status(&load(&spec)?)?;
            if args.json {
                json_result(serde_json::to_value(&st)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{} at {} ({}): {} of {} in {}",
                st.repo,
                st.revision,
                st.commit,
                human_bytes(st.present),
                human_bytes(st.total),
                st.dir
            );
            for f in &st.files {
                let state = match f.state {
                    FileState::Present => format!("{ok}present{ok:#}"),
                    FileState::Partial(n) => format!("{bad}partial{bad:#} {}", human_bytes(n)),
                    FileState::WrongSize(n) => format!("{bad}wrong size{bad:#} {}", human_bytes(n)),
                    FileState::Missing => format!("{bad}missing{bad:#}"),
                    FileState::Unlinked => format!("{bad}not linked{bad:#}"),
                };
                println!("  {:<40} {:>10}  {state}", f.name, human_bytes(f.size));
            }
            Ok(if st.complete() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        WeightsCommand::Verify { spec } => {
            let v = usecase::weights_verify(&load(&spec)?)?;
            if args.json {
                json_result(serde_json::to_value(&v)?);
            } else if v.is_ok() {
                println!(
                    "{ok}verified{ok:#} {} file(s), {}, of {} at {}",
                    v.files,
                    human_bytes(v.bytes),
                    v.repo,
                    v.commit
                );
            } else {
                for name in &v.corrupt {
                    println!("{bad}corrupt{bad:#} {name} (removed)");
                }
                for name in &v.missing {
                    println!("{bad}missing{bad:#} {name}");
                }
                eprintln!("  fix: fetch the weights again, or import the offline kit again");
            }
            Ok(if v.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        WeightsCommand::Export {
            spec,
            out,
            format,
            copy,
        } => {
            let asked = format.map(|f| match f {
                Format::Folder => usecase::KitFormat::Folder,
                Format::Tar => usecase::KitFormat::Tar,
            });
            let format = usecase::KitFormat::for_out(asked, &out);
            let spec = load(&spec)?;
            let (tx, render) = renderer();
            let result = usecase::weights_export(
                &spec,
                &out,
                format,
                &copy.options(),
                &Some(tx),
                &cancel_on_ctrl_c(),
            )
            .await;
            let _ = render.await;
            let e = result?;
            if args.json {
                json_result(serde_json::to_value(&e)?);
            } else {
                println!(
                    "{ok}exported{ok:#} {} file(s), {}, of {} at {} to {}",
                    e.files,
                    human_bytes(e.bytes),
                    e.repo,
                    e.commit,
                    e.dir.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        WeightsCommand::Import {
            from,
            cache_dir,
            spec,
            copy,
        } => {
            let cache_dir = match cache_dir {
                Some(d) => d,
                None => match load(&spec)?.model.weights {
                    Weights::HuggingFace { cache_dir, .. } => cache_dir,
                    Weights::Local { .. } => return Err(usecase::Error::LocalWeights.into()),
                },
            };
            let (tx, render) = renderer();
            let result = usecase::weights_import(
                &from,
                &cache_dir,
                &copy.options(),
                &Some(tx),
                &cancel_on_ctrl_c(),
            )
            .await;
            let _ = render.await;
            let i = result?;
            if args.json {
                json_result(serde_json::to_value(&i)?);
            } else {
                println!(
                    "{ok}imported{ok:#} {} file(s), {}, of {} at {} ({}) into {}",
                    i.files,
                    human_bytes(i.bytes),
                    i.repo,
                    i.revision,
                    i.commit,
                    i.snapshot.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
