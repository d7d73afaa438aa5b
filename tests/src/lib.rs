//! Helpers shared by the end-to-end suites (which live in `tests/tests/`), and the fixtures' location.
// Test-support code: a failure here is a test failure, so panicking with a message is the right behaviour.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod fake_smi;
pub mod httpd;
pub mod hub;
pub mod interpose;
pub mod proxy;
pub mod sshd;
pub mod standin;
pub mod tls;
pub mod webdriver;

use std::path::PathBuf;

/// `tests/fixtures` in this checkout.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The stand-in deployment (`fixtures/specs/standin.toml`) with its own network `name`, and its logs
/// and weights under `dir` (the weights directory is created; the log directory is left to the caller).
pub fn standin_spec(dir: &std::path::Path, name: &str) -> aigw_core::spec::DeploymentSpec {
    let weights = dir.join("weights");
    standin_checkpoint(&weights);
    let mut s = aigw_core::spec::DeploymentSpec::from_toml(
        include_str!("../fixtures/specs/standin.toml"),
        "fixtures/specs/standin.toml",
    )
    .unwrap();
    s.gateway.image = standin::GATEWAY_IMAGE.into();
    s.model.image = standin::MODEL_IMAGE.into();
    s.network = name.into();
    s.log_dir = dir.join("logs");
    s.model.weights = aigw_core::spec::Weights::Local { path: weights };
    s
}

/// A placeholder checkpoint in `dir` (created) that passes the local-folder check in either format
/// (config.json and params.json, a sharded-style and a consolidated safetensors file): the stand-in
/// loads nothing, but review and install refuse a folder without a checkpoint. Its configuration
/// declares a quantisation the catalog has no size for, so the size check (a few bytes stand in for
/// gigabytes) is skipped, as it is for any checkpoint of unknown size.
pub fn standin_checkpoint(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, body) in [
        (
            "config.json",
            "{\"architectures\":[\"MistralForCausalLM\"],\"quantization_config\":{\"quant_method\":\"standin\"}}",
        ),
        ("params.json", "{\"dim\":4096}"),
        ("model.safetensors", "stand-in"),
        ("consolidated.safetensors", "stand-in"),
    ] {
        std::fs::write(dir.join(name), body).unwrap();
    }
}

/// The commit of the stand-in snapshot [`standin_hf_cache`] lays out.
pub const STANDIN_COMMIT: &str = "5ca1ab1e00000000000000000000000000c0ffee";

/// Lays out a placeholder snapshot of `repo` in the Hugging Face cache `cache_dir` (revision `main` →
/// [`STANDIN_COMMIT`]) through the product's own import, as `weights import` does: what the model
/// container, run with `HF_HUB_OFFLINE=1`, resolves. Returns the snapshot directory.
pub fn standin_hf_cache(cache_dir: &std::path::Path, repo: &str) -> PathBuf {
    use aigw_core::weights::manifest::{Manifest, ManifestFile, EXPORT_MANIFEST, MANIFEST_VERSION};
    let kit = cache_dir.with_extension("kit");
    standin_checkpoint(&kit);
    let mut files = Vec::new();
    for name in [
        "config.json",
        "params.json",
        "model.safetensors",
        "consolidated.safetensors",
    ] {
        let (size, sha256) = aigw_engine::weights::verify_file(&kit.join(name)).unwrap();
        files.push(ManifestFile {
            name: name.into(),
            size,
            etag: sha256.clone(),
            sha256,
            git_blob: None,
        });
    }
    let m = Manifest {
        version: MANIFEST_VERSION,
        repo: repo.into(),
        revision: "main".into(),
        commit: STANDIN_COMMIT.into(),
        endpoint: None,
        files,
        verified_at: None,
    };
    std::fs::write(kit.join(EXPORT_MANIFEST), m.to_json()).unwrap();
    aigw_engine::weights::import_folder(
        &kit,
        cache_dir,
        0,
        &aigw_engine::weights::KitControl::default(),
    )
    .unwrap()
    .snapshot
}

/// A TCP port free on 127.0.0.1 right now (the OS picks it), for a service or a driver under test.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
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

/// Suites that create containers share one engine and our labels: they hold this lock (a file lock, so
/// it also works across test processes) so that one suite's cleanup never removes another's containers.
pub fn engine_lock() -> std::fs::File {
    let path = std::env::temp_dir().join("aigw-e2e-engine.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .unwrap_or_else(|e| panic!("locking {}: {e}", path.display()));
    // Released when the returned file is dropped.
    file
}

/// Waits until no process holds the flock on `path` (the kernel wakes the waiter when its holder ends),
/// at most `within`: `false` when it is still held then.
pub async fn lock_released(path: &std::path::Path, within: std::time::Duration) -> bool {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let wait = tokio::task::spawn_blocking(move || {
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map(|()| file)
            .is_ok()
    });
    matches!(tokio::time::timeout(within, wait).await, Ok(Ok(true)))
}

/// An engine ready for a provisioning scenario: stand-in images built, the engine lock held (as long as
/// this value lives) and nothing of ours left on it. `None` means skip, which happens only outside CI when
/// no engine answers.
pub struct Engine {
    pub docker: bollard::Docker,
    _lock: std::fs::File,
}

pub async fn clean_engine() -> Option<Engine> {
    if !docker_available() {
        return None;
    }
    let conn =
        aigw_engine::docker::engine::connect(&aigw_engine::docker::engine::default_socket(None))
            .await
            .unwrap_or_else(|(r, d)| panic!("{r:?}: {d}"));
    // Built under the lock: a suite from another checkout may build the same tags from a binary that
    // differs (embedded paths), and a retag mid-scenario would make its containers look outdated.
    let lock = engine_lock();
    standin::ensure_images(&conn.docker).await;
    // Only objects carrying our labels are removed.
    aigw_engine::docker::manage::uninstall(&conn.docker)
        .await
        .unwrap();
    Some(Engine {
        docker: conn.docker,
        _lock: lock,
    })
}
/// The default bridge's gateway address: the host as a container sees it (the engine may name only the
/// subnet, whose first address is the gateway's).
pub async fn bridge_gateway(docker: &bollard::Docker) -> String {
    let n = docker.inspect_network("bridge", None).await.unwrap();
    let config = n.ipam.and_then(|i| i.config).unwrap().remove(0);
    config.gateway.unwrap_or_else(|| {
        let net: std::net::Ipv4Addr = config
            .subnet
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        std::net::Ipv4Addr::from(u32::from(net) + 1).to_string()
    })
}
