//! The Hub stand-in as a program, for `tests/bench/weights.sh`: serves a generated sharded repository on
//! 127.0.0.1 (the Hub and its CDN), each response capped to `--rate` bytes/s after `--latency-ms`, and
//! writes a JSON description (endpoint, repo, commit, each selected file's resolve URL and size) to
//! `--describe`. Runs until killed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aigw_e2e::hub::{Hub, HubRepo, Knobs};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() {
    let size_mib: usize = arg("--size-mib").map_or(2048, |s| s.parse().unwrap());
    let shards: usize = arg("--shards").map_or(4, |s| s.parse().unwrap());
    let rate: Option<u64> = arg("--rate").map(|s| s.parse().unwrap()).filter(|r| *r > 0);
    let latency = Duration::from_millis(arg("--latency-ms").map_or(0, |s| s.parse().unwrap()));
    let describe = arg("--describe").expect("--describe FILE");
    let repo = HubRepo::sharded("bench/standin", shards, (size_mib << 20) / shards);
    let knobs = Knobs {
        bytes_per_sec: rate,
        latency,
        ..Default::default()
    };
    let hub = Hub::start(vec![repo.clone()], vec![], knobs, None).await;
    let files: Vec<_> = repo
        .files
        .iter()
        .filter(|f| !f.name.starts_with("original/") && f.name != "README.md")
        .map(|f| {
            serde_json::json!({
                "name": f.name, "size": f.content.len(),
                "url": format!("{}/{}/resolve/{}/{}", hub.hub.base, repo.id, repo.commit, f.name),
            })
        })
        .collect();
    let d = serde_json::json!({
        "endpoint": hub.hub.base, "repo": repo.id, "commit": repo.commit, "files": files,
    });
    std::fs::write(&describe, d.to_string()).unwrap();
    eprintln!("hub stand-in on {} (CDN {})", hub.hub.base, hub.cdn.base);
    std::future::pending::<()>().await;
}
