//! Images with a fake `nvidia-smi` (TEST FIXTURES, `aigw-test/nvidia-smi:<fixture>`): the GPU probe runs
//! them through the real engine on machines without GPUs. `tests/standin/fake_nvidia_smi.rs` compiled
//! static, `FROM scratch` with `/usr/bin/nvidia-smi` and the fixture as `/fixture.csv`.

use bollard::query_parameters::BuildImageOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;
use std::path::PathBuf;
use std::process::Command;
use tokio::sync::OnceCell;

pub const IMAGE: &str = "aigw-test/nvidia-smi";

static BINARY: OnceCell<Vec<u8>> = OnceCell::const_new();

fn source() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("standin/fake_nvidia_smi.rs")
}

/// The probe's query as the fake expects it; the probe's own must match (a test checks).
pub fn expected_query() -> String {
    include_str!("../standin/fake_nvidia_smi.query")
        .trim()
        .to_string()
}

fn compile() -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("aigw-fake-smi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bin = dir.join("nvidia-smi");
    let status = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args([
            "--edition",
            "2021",
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
    assert!(status.success(), "compiling the fake nvidia-smi failed");
    let bytes = std::fs::read(&bin).expect("read the fake nvidia-smi");
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

/// Builds `aigw-test/nvidia-smi:<tag>` printing `csv` (or hanging/failing, see the fake's header).
/// Every call rebuilds, so a tag always holds this checkout's fake; returns the image reference.
pub async fn build(docker: &Docker, tag: &str, csv: &str) -> String {
    let binary = BINARY.get_or_init(|| async { compile() }).await;
    let image = format!("{IMAGE}:{tag}");
    let dockerfile = "FROM scratch\n\
         LABEL io.aigw-installer.test-fixture=true\n\
         COPY nvidia-smi /usr/bin/nvidia-smi\n\
         COPY fixture.csv /fixture.csv\n\
         ENV PATH=/usr/bin\n";
    let context = super::standin::tar(&[
        ("Dockerfile", 0o644, dockerfile.as_bytes()),
        ("nvidia-smi", 0o755, binary),
        ("fixture.csv", 0o644, csv.as_bytes()),
    ]);
    let mut stream = docker.build_image(
        BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .t(&image)
            .rm(true)
            .build(),
        None,
        Some(bollard::body_full(context.into())),
    );
    while let Some(item) = stream.next().await {
        let info = item.unwrap_or_else(|e| panic!("building {image}: {e}"));
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            panic!("building {image}: {err}");
        }
    }
    image
}
