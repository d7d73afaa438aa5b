//! Builds the stand-in images (TEST FIXTURES, tagged `aigw-test/*`): `tests/standin/standin.rs` compiled as
//! a static binary with rustc, then `FROM scratch` images built through the real engine. No registry is
//! needed, so the provisioning suites run offline. Beside it, `/usr/bin/standin-tls` (the `tests/standin-tls`
//! crate, built static with cargo: rustls needs crates) fetches HTTPS for the GitLab probe's `python3`.

use bollard::query_parameters::BuildImageOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use tokio::sync::OnceCell;

pub const MODEL_IMAGE: &str = "aigw-test/model-server";
pub const GATEWAY_IMAGE: &str = "aigw-test/gateway";
/// Tags built for each image: the "old" and "new" of upgrade and recreate tests.
pub const TAGS: [&str; 2] = ["standin", "standin-v2"];
/// A tag whose containers exit at once, as a broken release would.
pub const BROKEN_TAG: &str = "standin-broken";

/// The stand-in binary and `standin-tls`, compiled once per test process.
static BINARY: OnceCell<(Vec<u8>, Vec<u8>)> = OnceCell::const_new();

/// Names the stand-in source an image was built from. Suites of other checkouts build the same tags from
/// their own source; a scenario (which holds the engine lock) must run the stand-in of its own.
const SOURCE_LABEL: &str = "io.aigw-installer.standin-source";

/// The files the stand-in images are built from.
fn sources() -> [PathBuf; 4] {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    [
        source(),
        dir.join("standin/probe.rs"),
        dir.join("standin-tls/src/main.rs"),
        dir.join("standin-tls/Cargo.toml"),
    ]
}

/// FNV-1a of the stand-in's sources: what `SOURCE_LABEL` says.
fn source_id() -> String {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for file in sources() {
        let text = std::fs::read(file).expect("read the stand-in source");
        hash = text.iter().fold(hash, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    }
    format!("{hash:016x}")
}

/// Builds `standin-tls` static (glibc, crt-static) with cargo into its own target directory (the outer
/// build's lock stays free), once per test process; cargo's lock serialises concurrent test processes.
fn compile_tls() -> Vec<u8> {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
        .join("standin-tls");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&workspace)
        .args([
            "build",
            "--locked",
            "--release",
            "-p",
            "aigw-standin-tls",
            "--target",
            "x86_64-unknown-linux-gnu",
        ])
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env("CARGO_ENCODED_RUSTFLAGS", "-Ctarget-feature=+crt-static")
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building standin-tls failed");
    std::fs::read(target.join("x86_64-unknown-linux-gnu/release/standin-tls"))
        .expect("read standin-tls")
}

fn source() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("standin/standin.rs")
}

/// The stand-in compiled into `dir` for this machine, to run without the engine: its `check-args` parses
/// vLLM arguments as the model server does.
pub fn compile_into(dir: &Path) -> PathBuf {
    compile(dir)
}

/// Compiles the stand-in as a static executable (glibc, crt-static), once per test process.
fn compile(out_dir: &Path) -> PathBuf {
    let bin = out_dir.join("standin");
    let status = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args([
            "--edition",
            "2021",
            "-O",
            "-C",
            "target-feature=+crt-static",
            "-C",
            "strip=symbols",
            "-o",
        ])
        .arg(&bin)
        .arg(source())
        .status()
        .expect("rustc runs");
    assert!(status.success(), "compiling the stand-in failed");
    bin
}

/// A minimal ustar archive of (name, mode, bytes) entries: the build context.
pub fn tar(entries: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, mode, data) in entries {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        let octal = |v: u64, width: usize| format!("{v:0w$o}\0", w = width - 1).into_bytes();
        h[100..108].copy_from_slice(&octal(u64::from(*mode), 8));
        h[108..116].copy_from_slice(&octal(0, 8));
        h[116..124].copy_from_slice(&octal(0, 8));
        h[124..136].copy_from_slice(&octal(data.len() as u64, 12));
        h[136..148].copy_from_slice(&octal(0, 12));
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        h[148..156].copy_from_slice(&octal(u64::from(sum), 8));
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// The gateway stand-in runs as a named, non-root user, as the real image does (`aigateway`).
pub const GATEWAY_UID: u32 = 1234;

async fn build(
    docker: &Docker,
    tag: &str,
    binaries: &(Vec<u8>, Vec<u8>),
    role: &str,
    source: &str,
) {
    let (binary, tls) = binaries;
    let user = if role == "gateway" {
        "COPY passwd /etc/passwd\nCOPY group /etc/group\nUSER aigateway\n"
    } else {
        ""
    };
    let dockerfile = format!(
        "FROM scratch\n\
         LABEL io.aigw-installer.test-fixture=true\n\
         LABEL {SOURCE_LABEL}={source}\n\
         COPY standin /standin\n\
         COPY standin /usr/bin/python3\n\
         COPY standin /bin/df\n\
         COPY standin-tls /usr/bin/standin-tls\n\
         {user}\
         ENTRYPOINT [\"/standin\", \"{role}\"]\n"
    );
    let passwd = format!(
        "root:x:0:0:root:/root:/bin/sh\naigateway:x:{GATEWAY_UID}:{GATEWAY_UID}::/home/aigateway:/bin/sh\n"
    );
    let group = format!("root:x:0:\naigateway:x:{GATEWAY_UID}:\n");
    let context = tar(&[
        ("Dockerfile", 0o644, dockerfile.as_bytes()),
        ("standin", 0o755, binary),
        ("standin-tls", 0o755, tls),
        ("passwd", 0o644, passwd.as_bytes()),
        ("group", 0o644, group.as_bytes()),
    ]);
    let mut stream = docker.build_image(
        BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .t(tag)
            .rm(true)
            .build(),
        None,
        Some(bollard::body_full(context.into())),
    );
    while let Some(item) = stream.next().await {
        let info = item.unwrap_or_else(|e| panic!("building {tag}: {e}"));
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            panic!("building {tag}: {err}");
        }
    }
}

/// Makes sure every stand-in image on the engine is built from this checkout's stand-in source, building
/// those that are missing or come from another source. Call it holding the engine lock.
pub async fn ensure_images(docker: &Docker) {
    let source = source_id();
    let mut wanted = Vec::new();
    for tag in TAGS {
        wanted.push((format!("{MODEL_IMAGE}:{tag}"), "model"));
        wanted.push((format!("{GATEWAY_IMAGE}:{tag}"), "gateway"));
    }
    // An unknown role: the stand-in prints its usage and exits 2.
    wanted.push((format!("{MODEL_IMAGE}:{BROKEN_TAG}"), "broken"));
    wanted.push((format!("{GATEWAY_IMAGE}:{BROKEN_TAG}"), "broken"));
    for (image, role) in wanted {
        let built_from = docker
            .inspect_image(&image)
            .await
            .ok()
            .and_then(|i| i.config)
            .and_then(|c| c.labels)
            .and_then(|l| l.get(SOURCE_LABEL).cloned());
        if built_from.as_deref() == Some(source.as_str()) {
            continue;
        }
        let binary = BINARY
            .get_or_init(|| async {
                let dir = tempfile_dir();
                let bin = std::fs::read(compile(&dir)).expect("read stand-in binary");
                let _ = std::fs::remove_dir_all(&dir);
                (
                    bin,
                    tokio::task::spawn_blocking(compile_tls)
                        .await
                        .expect("build standin-tls"),
                )
            })
            .await;
        build(docker, &image, binary, role, &source).await;
    }
}

fn tempfile_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("aigw-standin-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}
