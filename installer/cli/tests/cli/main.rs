//! The CLI's integration tests: one binary (the suites share a build and the engine lock).

mod cli_detect;
mod cli_provision;
mod cli_stability;
mod diagnose_cli;
mod export_bundle;
mod fault_suite;
mod gitlab_live;
mod recommend_cli;
mod remote_engines;
mod weights_cli;
mod weights_fetch_cli;
