//! The real binary: `models --json`, `recommend --json` what-if plans, and clear errors for bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aigw-installer"))
        .args(["--color", "never"])
        .args(args)
        .env("RUST_LOG", "off")
        .output()
        .expect("the binary runs")
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

fn failure(args: &[&str]) -> String {
    let out = run(args);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(out.stdout.is_empty(), "{args:?}: no plan on stdout");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn models_json_lists_the_catalog() {
    let v = json(&["models", "--json"]);
    let models = v["models"].as_array().unwrap();
    let gpus = v["gpus"].as_array().unwrap();
    assert_eq!(models.len(), 7);
    assert_eq!(gpus.len(), 25);
    let small = models
        .iter()
        .find(|m| m["id"] == "mistral-small-3.2-24b-instruct-2506")
        .unwrap();
    assert_eq!(small["gitlab"]["family"], "mistral");
    assert_eq!(small["gitlab"]["since"], "18.3");
    assert_eq!(small["checkpoint"][0]["precision"], "bf16");
    let codestral = models
        .iter()
        .find(|m| m["id"] == "codestral-22b-v0.1")
        .unwrap();
    assert_eq!(codestral["license"], "mnpl-0.1");
    let l4 = gpus.iter().find(|g| g["id"] == "L4").unwrap();
    assert_eq!(l4["memory_mib"], 23034);
    assert_eq!(l4["compute_capability"], "8.9");
    // The text form lists the same ids.
    let text = String::from_utf8(run(&["models"]).stdout).unwrap();
    assert!(text.contains("mixtral-8x22b-instruct-v0.1") && text.contains("RTX6000ADA"));
}

#[test]
fn recommend_json_what_if() {
    let v = json(&["recommend", "--json", "--gpus", "2xL4"]);
    assert_eq!(v["verdict"], "ok");
    assert_eq!(v["gitlab_version"], "18.11");
    let r = &v["recommendation"];
    for key in [
        "model",
        "hf_repo",
        "precision",
        "kv_cache_dtype",
        "tensor_parallel_size",
        "max_model_len",
        "gpu_memory_utilization",
        "engine",
        "capacity_tokens",
        "vllm_args",
    ] {
        assert!(!r[key].is_null(), "recommendation.{key} missing: {r}");
    }
    assert_eq!(r["engine"], "vllm");
    assert_eq!(r["tensor_parallel_size"], 2);
    let args: Vec<&str> = r["vllm_args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let tp = args
        .iter()
        .position(|a| *a == "--tensor-parallel-size")
        .unwrap();
    assert_eq!(args[tp + 1], "2");
    assert!(v["alternatives"].is_array());
    assert!(v["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["candidate"].is_string() && r["reason"].is_string()));
    assert!(v["explanation"].as_array().unwrap().len() > 3);

    let old = json(&[
        "recommend",
        "--json",
        "--gpus",
        "1xA100-80,1xA100-40",
        "--gitlab-version",
        "18.2",
    ]);
    assert_eq!(old["gitlab_version"], "18.2");
    assert_ne!(
        old["recommendation"]["model"],
        "mistral-small-3.2-24b-instruct-2506"
    );
    assert_eq!(old["spare_gpus"][0]["index"], 1);

    let none = json(&["recommend", "--json", "--gpus", "none", "--ram-gib", "64"]);
    assert_eq!(none["verdict"], "cannot_serve");
    assert!(none["recommendation"].is_null());

    let mac = json(&[
        "recommend",
        "--json",
        "--platform",
        "macos-arm64",
        "--ram-gib",
        "64",
    ]);
    assert_eq!(mac["recommendation"]["engine"], "ollama");
    assert_eq!(mac["recommendation"]["accelerator"], "apple_metal");
}

#[test]
fn recommend_text_shows_the_arithmetic() {
    let out = run(&["recommend", "--gpus", "1xH100", "--gitlab-version", "18.2"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("43.7 GiB weights + 2.0 GiB overhead of a 71.7 GiB budget"),
        "{text}"
    );
    assert!(text.contains("--tensor-parallel-size 1"), "{text}");
}

/// The engine's error shape, in the CLI's words: the flag at fault beside the message, the fix on its own
/// line (once), and the CLI's own command for it where the engine's message names none.
#[test]
fn errors_name_the_flag_and_the_fix_once() {
    let e = failure(&["recommend", "--gpus", "2xMI300X"]);
    assert!(e.starts_with("error (--gpus): unknown GPU 'MI300X'"), "{e}");
    assert_eq!(e.matches("fix:").count(), 1, "{e}");
    let e = failure(&["recommend", "--gpus", "2xA100-80", "--model", "codestral"]);
    assert!(e.contains("Non-Production"), "{e}");
    assert!(
        e.contains("fix: to accept it: --accept-license codestral-22b-v0.1"),
        "{e}"
    );
    let e = failure(&["recommend", "--gpus", "0xL4"]);
    assert!(
        e.starts_with("error (--gpus): GPUs '0xL4': 0 GPUs is impossible"),
        "{e}"
    );
}

#[test]
fn bad_input_gets_clear_errors_with_valid_values() {
    let e = failure(&["recommend", "--gpus", "2xMI300X"]);
    assert!(
        e.contains("unknown GPU 'MI300X'")
            && e.contains("L40S")
            && e.contains("B200")
            && e.contains("96GiB@cc10.0"),
        "{e}"
    );
    let e = failure(&["recommend", "--gpus", "2x96GB@cc10.0"]);
    assert!(e.contains("whole GiB"), "{e}");
    let e = failure(&["recommend", "--gpus", "1xB200", "--precision", "nvfp4"]);
    assert!(e.contains("FP4") && e.contains("not offered"), "{e}");
    let e = failure(&["recommend", "--gpus", "1xH100", "--developers", "0"]);
    assert!(e.starts_with("error (--developers): 0 developers"), "{e}");
    let e = failure(&["recommend", "--gpus", "0xL4"]);
    assert!(e.contains("0 GPUs is impossible"), "{e}");
    let e = failure(&["recommend", "--gpus", "12xH100,8xL4"]);
    assert!(e.contains("20 GPUs is impossible"), "{e}");
    let e = failure(&["recommend", "--gpus", "1xH100", "--model", "llama-3-70b"]);
    assert!(
        e.contains("unknown model 'llama-3-70b'")
            && e.contains("mistral-small-3.2-24b-instruct-2506"),
        "{e}"
    );
    let e = failure(&["recommend", "--gpus", "1xH100", "--platform", "freebsd"]);
    assert!(
        e.contains("linux-amd64, linux-arm64, macos-arm64, windows-wsl2"),
        "{e}"
    );
    let e = failure(&["recommend", "--gpus", "1xH100", "--precision", "int3"]);
    assert!(e.contains("bf16, fp16, fp8, awq, gptq"), "{e}");
    let e = failure(&[
        "recommend",
        "--gpus",
        "1xH100",
        "--gitlab-version",
        "eighteen",
    ]);
    assert!(e.contains("MAJOR.MINOR"), "{e}");
    let e = failure(&[
        "recommend",
        "--gpus",
        "4xL4",
        "--model",
        "mistral-small",
        "--tp",
        "3",
    ]);
    assert!(e.contains("8 KV heads are not divisible by 3"), "{e}");
    let e = failure(&[
        "recommend",
        "--gpus",
        "1xL4",
        "--model",
        "mistral-small",
        "--precision",
        "bf16",
    ]);
    assert!(
        e.contains("cannot start") && e.contains("budget 20.2 GiB"),
        "{e}"
    );
}

/// Issue 16: the whole machine in one vLLM (TP × DP), today's GPUs by name, and sized for a team.
#[test]
fn recommend_uses_every_gpu_and_sizes_for_the_team() {
    let v = json(&["recommend", "--json", "--gpus", "8xH100"]);
    let d = &v["recommendation"];
    assert_eq!(d["tensor_parallel_size"], 1);
    assert_eq!(d["data_parallel_size"], 8);
    assert_eq!(d["gpus"].as_array().unwrap().len(), 8);
    assert!(v["spare_gpus"].as_array().unwrap().is_empty(), "{v}");
    let args: Vec<&str> = d["vllm_args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        args.windows(2).any(|w| w == ["--data-parallel-size", "8"]),
        "{args:?}"
    );
    // Without --developers the JSON carries no demand: the behaviour of before.
    assert!(v.get("demand").is_none(), "{v}");

    for gpus in [
        "1xB200",
        "1xRTX5090",
        "2xRTXPRO6000",
        "1xH20",
        "2x96GiB@cc10.0",
    ] {
        let v = json(&["recommend", "--json", "--gpus", gpus]);
        assert_eq!(v["verdict"], "ok", "{gpus}: {v}");
    }

    let v = json(&[
        "recommend",
        "--json",
        "--gpus",
        "1xH100",
        "--developers",
        "2000",
    ]);
    let t = &v["demand"];
    assert_eq!(t["developers"], 2000);
    assert_eq!(t["peak_concurrent_requests"], 70.0);
    assert_eq!(t["enough"], false);
    assert!(!t["to_close_gap"].as_array().unwrap().is_empty(), "{t}");
    let out = run(&["recommend", "--gpus", "8xH100", "--developers", "1000"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("≈ 35 concurrent requests at peak") && text.contains("this serves ≈ 370"),
        "{text}"
    );
    assert!(text.contains("TP=1 × DP=8"), "{text}");
}

/// The completion scripts and the manual page come from the parser itself (the packages install them).
#[test]
fn completions_and_the_manual_page_cover_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        for sub in ["detect", "apply", "uninstall", "export"] {
            assert!(text.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    let man = run(&["man"]);
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH aigw-installer 1"),
        "{page}"
    );
    assert!(
        page.contains("apply") && page.contains("Exit status"),
        "{page}"
    );
}
