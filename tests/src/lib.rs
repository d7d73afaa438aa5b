//! Helpers shared by the end-to-end suites (which live in `tests/tests/`), and the fixtures' location.

use std::path::PathBuf;

/// `tests/fixtures` in this checkout.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Whether a Docker engine answers through the docker CLI. When `CI` is set a missing engine is a
/// failure, never a silent skip.
pub fn docker_available() -> bool {
    let ok = std::process::Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var_os("CI").is_some() {
        panic!("CI is set but no Docker engine answers: .ci/run must start one");
    }
    if !ok {
        eprintln!("skipping: no Docker engine here (set CI=1 to make this a failure)");
    }
    ok
}
