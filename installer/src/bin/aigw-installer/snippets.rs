//! `aigw-installer snippets --for PART --spec FILE`: one generated file, printed to the terminal.

use anstream::println;
use std::process::ExitCode;

use aigw_installer::export::compose::compose_yaml;
use aigw_installer::plan::desired;

use crate::provision::SpecArg;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Part {
    /// docker-compose.yml reproducing what `apply` creates.
    Compose,
}

#[derive(clap::Args)]
pub struct Args {
    /// Which part to print.
    #[arg(long = "for", value_enum, value_name = "PART")]
    part: Part,
    #[command(flatten)]
    spec: SpecArg,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let s = crate::provision::load(&args.spec)?;
    let d = desired(&s, None)?;
    match args.part {
        Part::Compose => println!("{}", compose_yaml(&d).trim_end()),
    }
    Ok(ExitCode::SUCCESS)
}
