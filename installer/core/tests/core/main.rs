//! The core's integration tests over fixtures: one binary.

mod diagnose_props;
mod floors;
mod gitlab_snippets;
mod nvidia_smi_fixtures;
mod preflight_profiles;
mod recommend_props;
mod recommend_snapshots;
mod recommend_table;

use aigw_core::report::gpu::GpuProfile;
use std::path::PathBuf;

/// `tests/fixtures` of this checkout.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// A recorded GPU profile, `tests/fixtures/gpus/<name>.json`.
pub fn gpu_profile(name: &str) -> GpuProfile {
    let path = fixtures().join(format!("gpus/{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    GpuProfile::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
