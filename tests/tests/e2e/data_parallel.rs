//! Issue 16: data parallelism end to end. The recommender's vLLM arguments pass the stand-in's parser (which
//! refuses what vLLM's refuses), and a model container given `--data-parallel-size 2` runs, with the sizes
//! it understood readable from the stand-in. The GPU request itself (TP × DP device ids) is snapshot-tested
//! in the engine's `docker::body`: this engine has no GPU, so the container here requests none.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_core::catalog::Catalog;
use aigw_core::recommend::{recommend, Machine, Request};
use aigw_e2e::free_port;
use aigw_e2e::standin;
use aigw_engine::docker::deploy::{self, ApplyOptions};
use aigw_engine::spec_file::SpecFile;
use std::io::{Read, Write};
use std::process::Command;

fn check_args(bin: &std::path::Path, args: &[String]) -> std::process::Output {
    Command::new(bin)
        .arg("check-args")
        .args(args)
        .output()
        .expect("the stand-in runs")
}

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
}

#[test]
fn recommended_arguments_pass_the_standin_parser() {
    let dir = tempfile::tempdir().unwrap();
    let bin = standin::compile_into(dir.path());
    let c = Catalog::builtin().unwrap();
    // (GPUs, TP, DP) as the policy table decides them.
    for (gpus, tp, dp) in [
        ("8xH100", 1, 8),
        ("4xL40S", 2, 2),
        ("3xA100-40", 2, 1),
        ("2xB200", 1, 2),
        ("2x96GiB@cc10.0", 1, 2),
        ("4xH100,2xA100-80", 1, 4),
        ("1xL4", 1, 1),
    ] {
        let m = Machine::what_if(&c, Some(gpus), None, Some(256)).unwrap();
        let d = recommend(&c, &m, &Request::default())
            .unwrap()
            .recommendation
            .unwrap();
        let o = check_args(&bin, &d.vllm_args);
        assert!(
            o.status.success(),
            "{gpus}: {:?} refused: {}",
            d.vllm_args,
            String::from_utf8_lossy(&o.stderr)
        );
        let v = json(&o);
        assert_eq!(v["tensor_parallel_size"], tp, "{gpus}: {v}");
        assert_eq!(v["data_parallel_size"], dp, "{gpus}: {v}");
        assert_eq!(v["max_model_len"], d.max_model_len, "{gpus}: {v}");
        assert_eq!(d.gpus.len(), tp * dp, "{gpus}");
    }
    // The parser is a real check: what vLLM refuses, it refuses.
    for bad in [
        vec!["--data-parallel-size", "0"],
        vec!["--data-parallel-size"],
        vec!["--tensor-parallel-size", "two"],
        vec!["--data-parallelism", "2"],
    ] {
        let args: Vec<String> = bad.iter().map(|s| s.to_string()).collect();
        let o = check_args(&bin, &args);
        assert_eq!(o.status.code(), Some(2), "{bad:?} accepted");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("error:"),
            "{bad:?}"
        );
    }
}

/// GET a JSON body from 127.0.0.1 with std only.
fn get_json(port: u16, path: &str) -> serde_json::Value {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "{head}"
    );
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test]
async fn a_data_parallel_model_container_runs() {
    let Some(engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let d = engine.docker.clone();
    let dir = tempfile::tempdir().unwrap();
    let name = "aigw-e2e-dp";
    let mut s = aigw_e2e::standin_spec(dir.path(), name);
    s.gateway.container = format!("{name}-gw");
    s.model.container = format!("{name}-model");
    s.gateway.port = free_port();
    s.model.port = free_port();
    s.gateway.health_timeout_s = 30;
    s.model.health_timeout_s = 30;
    // What the recommender emits for two replicas of one GPU each.
    s.model.args = [
        "--tensor-parallel-size",
        "1",
        "--data-parallel-size",
        "2",
        "--max-model-len",
        "32768",
    ]
    .map(String::from)
    .to_vec();
    s.validate_with_files(&Default::default()).unwrap();
    let r = deploy::apply(&d, &s, None, &ApplyOptions::default(), &None).await;
    // Read before cleaning up, so a failure still removes what was made.
    let parallel = r
        .as_ref()
        .ok()
        .map(|_| get_json(s.model.port, "/stand-in/parallel"));
    let cmd = d
        .inspect_container(&s.model.container, None)
        .await
        .ok()
        .and_then(|c| c.config)
        .and_then(|c| c.cmd)
        .unwrap_or_default();
    for c in [&s.model.container, &s.gateway.container] {
        let _ = d
            .remove_container(
                c,
                Some(bollard::query_parameters::RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await;
    }
    let _ = d.remove_network(&s.network).await;
    r.unwrap();
    let parallel = parallel.unwrap();
    assert_eq!(parallel["data_parallel_size"], 2, "{parallel}");
    assert_eq!(parallel["tensor_parallel_size"], 1, "{parallel}");
    let i = cmd
        .iter()
        .position(|a| a == "--data-parallel-size")
        .unwrap_or_else(|| panic!("{cmd:?}"));
    assert_eq!(cmd[i + 1], "2");
}
