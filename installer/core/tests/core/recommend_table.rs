//! Table-driven checks of the recommender across the GPU catalog and the recorded NVML fixtures, and the
//! GitLab hardware table and vLLM's KV-capacity refusal reproduced from the arithmetic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_core::catalog::gpu::{CC_BF16, CC_VLLM_MIN};
use aigw_core::catalog::{Catalog, Precision};
use aigw_core::recommend::{
    recommend, Deployment, Engine, Machine, Platform, RecommendError, Recommendation, Request,
    SpareRole, Verdict,
};
use aigw_core::report::gpu::inventory;
use aigw_core::sizing::{self, GIB};

fn catalog() -> Catalog {
    Catalog::builtin().unwrap()
}

fn fixture(name: &str) -> Machine {
    let profile = crate::gpu_profile(name);
    let inv = inventory(&profile.nvml);
    Machine::from_parts(
        Platform::LinuxAmd64,
        &inv.devices,
        &[],
        Some(256 * 1024),
        &catalog(),
    )
}

fn version(v: &str) -> Request {
    Request {
        gitlab_version: Some(v.parse().unwrap()),
        ..Request::default()
    }
}

/// What every vLLM deployment must satisfy, whatever the machine.
fn assert_sound(d: &Deployment, m: &Machine, ctx: &str) {
    let c = catalog();
    let spec = c.model(&d.model).unwrap();
    assert!(d.max_model_len >= sizing::MIN_CONTEXT, "{ctx}");
    assert!(d.max_model_len <= spec.max_context, "{ctx}");
    assert!(
        d.capacity_tokens >= 2 * u64::from(d.max_model_len),
        "{ctx}: {} < 2 × {}",
        d.capacity_tokens,
        d.max_model_len
    );
    let mem = &d.memory_per_gpu;
    assert!(
        mem.weights_gib + mem.overhead_gib + mem.kv_cache_gib <= mem.budget_gib + 0.02,
        "{ctx}: {mem:?}"
    );
    if d.engine != Engine::Vllm {
        return;
    }
    let tp = d.tensor_parallel_size;
    assert!(
        sizing::check_tp(&spec.architecture(), tp).is_ok(),
        "{ctx}: TP={tp}"
    );
    let dp = d.data_parallel_size;
    assert_eq!(d.gpus.len(), (tp * dp) as usize, "{ctx}");
    // The arguments say what the GPUs are for: TP × DP of them.
    let arg = |k: &str| {
        d.vllm_args
            .iter()
            .position(|a| a == k)
            .map(|i| d.vllm_args[i + 1].clone())
    };
    assert_eq!(arg("--tensor-parallel-size"), Some(tp.to_string()), "{ctx}");
    assert_eq!(
        arg("--data-parallel-size"),
        (dp > 1).then(|| dp.to_string()),
        "{ctx}"
    );
    let used: Vec<_> = m
        .gpus
        .iter()
        .filter(|g| d.gpus.contains(&g.index))
        .collect();
    assert!(
        used.windows(2)
            .all(|w| w[0].label == w[1].label && w[0].memory_total_mib == w[1].memory_total_mib),
        "{ctx}: TP across different GPUs"
    );
    for g in &used {
        assert!(g.compute_capability >= CC_VLLM_MIN, "{ctx}");
        // vLLM refuses to start unless gmu × total is free.
        let need = (g.memory_total_mib as f64 * d.gpu_memory_utilization).ceil() as u64;
        assert!(
            g.memory_free_mib >= need,
            "{ctx}: GPU {} free {} < {need}",
            g.index,
            g.memory_free_mib
        );
        if g.compute_capability < CC_BF16 {
            assert_ne!(d.precision, Precision::Bf16, "{ctx}");
            assert_ne!(d.dtype, "bfloat16", "{ctx}");
        }
    }
    let args = d.vllm_args.join(" ");
    assert!(
        args.contains(&format!("--tensor-parallel-size {tp}")),
        "{ctx}"
    );
    assert!(
        args.contains(&format!("--max-model-len {}", d.max_model_len)),
        "{ctx}"
    );
    assert!(
        args.contains(&format!(
            "--gpu-memory-utilization {:.2}",
            d.gpu_memory_utilization
        )),
        "{ctx}"
    );
}

/// Every GPU used or accounted for: none silently used or forgotten.
fn assert_accounted(p: &Recommendation) {
    let mut seen: Vec<u32> = p
        .recommendation
        .iter()
        .flat_map(|d| d.gpus.iter().copied())
        .chain(p.spare_gpus.iter().map(|s| s.index))
        .collect();
    seen.sort_unstable();
    let mut all: Vec<u32> = p.machine.gpus.iter().map(|g| g.index).collect();
    all.sort_unstable();
    if p.recommendation
        .as_ref()
        .is_some_and(|d| d.engine == Engine::Vllm)
    {
        assert_eq!(seen, all, "every GPU is used or reported");
    }
}

#[test]
fn every_catalog_gpu_and_count_gets_a_sound_plan() {
    let c = catalog();
    let mut served = 0;
    for gpu in &c.gpus {
        for count in [1, 2, 3, 4, 8] {
            for v in ["17.9", "18.2", "18.4", "18.11"] {
                let m = Machine::what_if(&c, Some(&format!("{count}x{}", gpu.id)), None, Some(256))
                    .unwrap();
                let p = recommend(&c, &m, &version(v)).unwrap();
                let ctx = format!("{count}× {} on GitLab {v}", gpu.id);
                assert_accounted(&p);
                match (&p.recommendation, p.verdict) {
                    (Some(d), Verdict::Ok) => {
                        served += 1;
                        assert_sound(d, &m, &ctx);
                        let spec = c.model(&d.model).unwrap();
                        assert!(spec.gitlab.covers(v.parse().unwrap()), "{ctx}");
                        for a in &p.alternatives {
                            assert_sound(a, &m, &ctx);
                        }
                        // vLLM for Turing and newer, Ollama below.
                        let expect = if gpu.compute_capability >= CC_VLLM_MIN {
                            Engine::Vllm
                        } else {
                            Engine::Ollama
                        };
                        assert_eq!(d.engine, expect, "{ctx}");
                    }
                    (None, Verdict::CannotServe) => {
                        assert!(!p.rejected.is_empty(), "{ctx}: a refusal says why");
                    }
                    other => panic!("{ctx}: inconsistent verdict {other:?}"),
                }
            }
        }
    }
    assert!(
        served > 200,
        "most of the table can serve something ({served})"
    );
}

#[test]
fn policy_table() {
    // (GPUs, GitLab version, model, precision, TP, context, FP8 KV)
    let cases: &[(&str, &str, &str, Precision, u32, u32, bool)] = &[
        (
            "1xH100",
            "18.11",
            "mistral-small-3.2-24b-instruct-2506",
            Precision::Bf16,
            1,
            32768,
            false,
        ),
        (
            "1xH100",
            "18.2",
            "mixtral-8x7b-instruct-v0.1",
            Precision::Fp8,
            1,
            32768,
            false,
        ),
        (
            "1xL4",
            "18.11",
            "mistral-small-3.2-24b-instruct-2506",
            Precision::Awq,
            1,
            16384,
            true,
        ),
        (
            "2xL4",
            "18.11",
            "mistral-small-3.2-24b-instruct-2506",
            Precision::Fp8,
            2,
            32768,
            false,
        ),
        (
            "1xA100-40",
            "18.11",
            "mistral-small-3.2-24b-instruct-2506",
            Precision::Fp8,
            1,
            32768,
            false,
        ),
        (
            "3xL40S",
            "18.11",
            "mistral-small-3.2-24b-instruct-2506",
            Precision::Bf16,
            2,
            32768,
            false,
        ),
        (
            "8xA100-80",
            "18.2",
            "mixtral-8x22b-instruct-v0.1",
            Precision::Bf16,
            8,
            32768,
            false,
        ),
        // FP8 MoE needs W8A8 (≥ 8.9): on Ampere Mixtral 8x22B drops to 4-bit.
        (
            "2xA100-80",
            "18.2",
            "mixtral-8x22b-instruct-v0.1",
            Precision::Awq,
            2,
            32768,
            false,
        ),
        (
            "1xT4",
            "18.2",
            "mistral-7b-instruct-v0.3",
            Precision::Awq,
            1,
            32768,
            false,
        ),
        // 32k at FP8 (weight-only on Ampere) beats 16k at bf16: context first, then precision.
        (
            "1xA10G",
            "17.9",
            "mistral-7b-instruct-v0.3",
            Precision::Fp8,
            1,
            32768,
            false,
        ),
        (
            "1xH200",
            "18.2",
            "mixtral-8x22b-instruct-v0.1",
            Precision::Awq,
            1,
            32768,
            false,
        ),
    ];
    let c = catalog();
    for &(gpus, v, model, precision, tp, context, kv_fp8) in cases {
        let m = Machine::what_if(&c, Some(gpus), None, Some(256)).unwrap();
        let p = recommend(&c, &m, &version(v)).unwrap();
        let d = p
            .recommendation
            .unwrap_or_else(|| panic!("{gpus} {v}: no plan"));
        let got = (
            d.model.as_str(),
            d.precision,
            d.tensor_parallel_size,
            d.max_model_len,
            d.kv_cache_dtype == aigw_core::recommend::KvCacheDtype::Fp8,
        );
        assert_eq!(
            got,
            (model, precision, tp, context, kv_fp8),
            "{gpus} on GitLab {v}"
        );
    }
}

#[test]
fn recorded_fixtures() {
    let c = catalog();
    for name in [
        "t4-x1",
        "a10g-x1",
        "l4-x1",
        "l40s-x1",
        "a100-40gb-x1",
        "a100-80gb-x8",
        "h100-x1",
        "h200-x1",
        "rtx4090-x1",
        "mixed",
        "none",
    ] {
        let m = fixture(name);
        for v in ["18.2", "18.11"] {
            let p = recommend(&c, &m, &version(v)).unwrap();
            assert_accounted(&p);
            if let Some(d) = &p.recommendation {
                assert_sound(d, &m, &format!("{name} {v}"));
            }
        }
    }
    // Detected names map to the catalog.
    assert_eq!(fixture("a100-80gb-x8").gpu_summary(), "8× A100-80");
    assert_eq!(
        fixture("mixed").gpu_summary(),
        "1× A100-80, 1× A100-40, 1× T4"
    );
    assert_eq!(fixture("none").gpu_summary(), "no NVIDIA GPU");
}

#[test]
fn memory_in_use_lowers_the_budget() {
    // mixed: GPU 0 (A100 80 GB) has 30 GiB held by another process.
    let c = catalog();
    let m = fixture("mixed");
    let p = recommend(&c, &m, &version("18.2")).unwrap();
    assert!(p
        .explanation
        .iter()
        .any(|l| l.starts_with("GPU 0 (A100-80)") && l.contains("already in use")));
    let d = p.recommendation.unwrap();
    // GPU 0 is still the largest card, so the plan runs there, with a share vLLM finds free: 31140 of
    // 81920 MiB in use leaves 62 %, and the share drops from 0.90 to 0.60.
    assert_eq!(d.gpus, vec![0], "{}", d.summary);
    let gpu0 = &m.gpus[0];
    assert_eq!(gpu0.memory_total_mib - gpu0.memory_free_mib, 31140);
    assert_eq!(
        (d.gpu_memory_utilization * 100.0).round(),
        60.0,
        "{}",
        d.summary
    );
    assert!(d.gpu_memory_utilization * gpu0.memory_total_mib as f64 <= gpu0.memory_free_mib as f64);
    // The same machine with GPU 0 empty gets the default share: the memory in use is what lowered it.
    let mut empty = m.clone();
    empty.gpus[0].memory_free_mib = empty.gpus[0].memory_total_mib;
    let free = recommend(&c, &empty, &version("18.2"))
        .unwrap()
        .recommendation
        .unwrap();
    assert_eq!(free.gpus, vec![0]);
    assert_eq!(
        (free.gpu_memory_utilization * 100.0).round(),
        f64::from(sizing::DEFAULT_GMU_PCT)
    );
    // The T4 cannot join an A100 group.
    assert!(p
        .spare_gpus
        .iter()
        .any(|s| s.index == 2 && s.role == SpareRole::Spare));
}

/// GitLab's table (7B on 1× A100 40 GB; Mixtral 8x7B on 2× A100 80 GB; Mixtral 8x22B on 8× A100 80 GB),
/// reproduced: the fewest A100s on which the bf16 model holds ≥ 4 concurrent 32k sequences.
#[test]
fn gitlab_hardware_table_from_the_arithmetic() {
    let c = catalog();
    let fewest = |model: &str, gpu: &str| -> Option<u32> {
        [1u32, 2, 4, 8].into_iter().find(|n| {
            let m = Machine::what_if(&c, Some(&format!("{n}x{gpu}")), None, None).unwrap();
            let req = Request {
                gitlab_version: Some("18.2".parse().unwrap()),
                model: Some(model.into()),
                precision: Some(Precision::Bf16),
                context: Some(32768),
                ..Request::default()
            };
            recommend(&c, &m, &req)
                .ok()
                .and_then(|p| p.recommendation)
                .is_some_and(|d| d.concurrency >= 4.0)
        })
    };
    assert_eq!(fewest("mistral-7b-instruct-v0.3", "A100-40"), Some(1));
    assert_eq!(fewest("mixtral-8x7b-instruct-v0.1", "A100-80"), Some(2));
    assert_eq!(fewest("mixtral-8x22b-instruct-v0.1", "A100-80"), Some(8));
    // And the row above each is the policy's own TP choice on GitLab's machine.
    for (model, gpus, tp) in [
        ("mixtral-8x7b-instruct-v0.1", "2xA100-80", 2),
        ("mixtral-8x22b-instruct-v0.1", "8xA100-80", 8),
    ] {
        let m = Machine::what_if(&c, Some(gpus), None, None).unwrap();
        let req = Request {
            gitlab_version: Some("18.2".parse().unwrap()),
            model: Some(model.into()),
            precision: Some(Precision::Bf16),
            ..Request::default()
        };
        let d = recommend(&c, &m, &req).unwrap().recommendation.unwrap();
        assert_eq!(d.tensor_parallel_size, tp, "{model}");
    }
}

/// vLLM refuses to start when the KV cache cannot hold one max_model_len sequence; the planner must never
/// produce such a configuration, and says so when asked for one.
#[test]
fn vllm_kv_capacity_refusal_from_the_arithmetic() {
    let c = catalog();
    // Mixtral 8x22B at 4-bit on one A100 80 GB: 68.7 GiB weights leave ≈ 1.3 GiB of KV.
    let spec = c.model("mixtral-8x22b-instruct-v0.1").unwrap();
    let a100 = c.gpu("A100-80").unwrap();
    let share = sizing::gpu_share(
        spec.weight_bytes(Precision::Awq),
        1,
        sizing::budget_bytes(a100.memory_mib, sizing::DEFAULT_GMU_PCT),
        true,
        sizing::kv_bytes_per_token(&spec.architecture(), 1, 2),
    );
    let cap = share.capacity_tokens();
    assert!(share.kv_bytes() > 0 && share.kv_bytes() < 2 * GIB);
    assert!(!sizing::vllm_starts(cap, 16384), "{cap} tokens");
    let m = Machine::what_if(&c, Some("1xA100-80"), None, None).unwrap();
    let req = Request {
        gitlab_version: Some("18.2".parse().unwrap()),
        model: Some(spec.id.clone()),
        precision: Some(Precision::Awq),
        context: Some(16384),
        ..Request::default()
    };
    let e = recommend(&c, &m, &req).unwrap_err();
    assert!(matches!(e, RecommendError::CannotStart { .. }));
    assert!(e.to_string().contains("vLLM would refuse to start"), "{e}");

    // Sweep: whatever the planner returns, vLLM's own check passes with room for two sequences. Each case
    // plans or is refused because nothing fits (a request the planner rejects for another reason would
    // leave the check nothing to look at), and every card and every model is planned somewhere.
    let mut planned = Vec::new();
    for gpu in &c.gpus {
        for model in &c.models {
            let m = Machine::what_if(&c, Some(&format!("1x{}", gpu.id)), None, None).unwrap();
            let req = Request {
                gitlab_version: Some(model.gitlab.since),
                model: Some(model.id.clone()),
                accept_licenses: if model.license.requires_acceptance() {
                    vec![model.id.clone()]
                } else {
                    Vec::new()
                },
                ..Request::default()
            };
            match recommend(&c, &m, &req) {
                Ok(Recommendation {
                    recommendation: Some(d),
                    ..
                }) => {
                    assert!(
                        sizing::vllm_starts(d.capacity_tokens, d.max_model_len),
                        "{} on {}: {} tokens for {}",
                        model.id,
                        gpu.id,
                        d.capacity_tokens,
                        d.max_model_len
                    );
                    planned.push((gpu.id.as_str(), model.id.as_str(), d.engine));
                }
                Err(RecommendError::CannotStart { .. }) => {}
                other => panic!("{} on {}: {other:?}", model.id, gpu.id),
            }
        }
    }
    for gpu in &c.gpus {
        assert!(
            planned.iter().any(|p| p.0 == gpu.id),
            "nothing planned on {}",
            gpu.id
        );
    }
    for model in &c.models {
        assert!(
            planned
                .iter()
                .any(|p| p.1 == model.id && p.2 == Engine::Vllm),
            "{} is planned on no single GPU",
            model.id
        );
    }
}

/// Issue 16: all the GPUs of one identical group serve, as TP × DP in one vLLM; the rest is reported.
#[test]
fn data_parallel_policy_table() {
    // (GPUs, model, precision, TP, DP, GPUs left over)
    let cases: &[(&str, &str, Precision, u32, u32, usize)] = &[
        (
            "8xH100",
            "mistral-small-3.2-24b-instruct-2506",
            Precision::Bf16,
            1,
            8,
            0,
        ),
        (
            "4xL40S",
            "mistral-small-3.2-24b-instruct-2506",
            Precision::Bf16,
            2,
            2,
            0,
        ),
        (
            "3xA100-40",
            "mistral-small-3.2-24b-instruct-2506",
            Precision::Bf16,
            2,
            1,
            1,
        ),
        (
            "3xA100-80",
            "mistral-small-3.2-24b-instruct-2506",
            Precision::Bf16,
            1,
            3,
            0,
        ),
        (
            "2xB200",
            "mistral-small-3.2-24b-instruct-2506",
            Precision::Bf16,
            1,
            2,
            0,
        ),
        (
            "2x96GiB@cc10.0",
            "mistral-small-3.2-24b-instruct-2506",
            Precision::Bf16,
            1,
            2,
            0,
        ),
        // Mixed: the larger identical group (4× H100) serves; the A100s are reported, not used.
        (
            "4xH100,2xA100-80",
            "mistral-small-3.2-24b-instruct-2506",
            Precision::Bf16,
            1,
            4,
            2,
        ),
    ];
    let c = catalog();
    for &(gpus, model, precision, tp, dp, left) in cases {
        let m = Machine::what_if(&c, Some(gpus), None, Some(256)).unwrap();
        let p = recommend(&c, &m, &version("18.11")).unwrap();
        let d = p
            .recommendation
            .clone()
            .unwrap_or_else(|| panic!("{gpus}: no plan"));
        assert_sound(&d, &m, gpus);
        assert_eq!(
            (
                d.model.as_str(),
                d.precision,
                d.tensor_parallel_size,
                d.data_parallel_size
            ),
            (model, precision, tp, dp),
            "{gpus}: {}",
            d.summary
        );
        assert_eq!(
            d.gpus.len() + p.spare_gpus.len(),
            m.gpus.len(),
            "{gpus}: every GPU accounted for"
        );
        assert_eq!(p.spare_gpus.len(), left, "{gpus}: {:?}", p.spare_gpus);
        assert!(
            (d.total_concurrency - d.concurrency * f64::from(dp)).abs() <= 0.01 * f64::from(dp),
            "{gpus}: per replica {} × {dp} vs total {}",
            d.concurrency,
            d.total_concurrency
        );
        if dp > 1 {
            assert!(d.summary.contains(&format!("DP={dp}")), "{}", d.summary);
            assert!(
                p.explanation
                    .iter()
                    .any(|l| l.starts_with(&format!("DP={dp}"))),
                "{gpus}: {:#?}",
                p.explanation
            );
        }
    }
    // The same machines under WSL2 keep one replica: DP coordinates over NCCL there.
    let m = Machine::what_if(&c, Some("8xH100"), Some("windows-wsl2"), Some(256)).unwrap();
    let d = recommend(&c, &m, &version("18.11"))
        .unwrap()
        .recommendation
        .unwrap();
    assert_eq!((d.tensor_parallel_size, d.data_parallel_size), (1, 1));
}

/// A card known only by its numbers is planned from them, and the plan says so.
#[test]
fn unknown_cards_are_planned_from_their_numbers() {
    let c = catalog();
    let m = Machine::what_if(&c, Some("2x96GiB@cc10.0"), None, Some(256)).unwrap();
    let p = recommend(&c, &m, &version("18.11")).unwrap();
    assert!(
        p.explanation
            .iter()
            .any(|l| l.contains("96GiB@cc10.0") && l.contains("not in the catalog")),
        "{:#?}",
        p.explanation
    );
    // Blackwell: FP8 is W8A8, and FP4 is refused with its reason.
    assert!(
        p.explanation
            .iter()
            .any(|l| l.contains("FP4") && l.contains("not offered")),
        "{:#?}",
        p.explanation
    );
    let e = "nvfp4".parse::<Precision>().unwrap_err();
    assert!(e.contains("not offered") && e.contains("fp8"), "{e}");
}

/// Real detection of a card the catalog does not know (a MADE-UP fixture): NVML's memory and compute
/// capability decide, and the report says the card was not in the catalog.
#[test]
fn detected_unknown_cards_plan_from_nvml() {
    let m = fixture("madeup-unknown-x2");
    assert!(m
        .gpus
        .iter()
        .all(|g| !g.in_catalog && g.label == "NVIDIA Made-Up B9000"));
    let p = recommend(&catalog(), &m, &version("18.11")).unwrap();
    assert!(
        p.explanation
            .iter()
            .any(|l| l.starts_with("GPU 0, 1 (NVIDIA Made-Up B9000): not in the catalog")),
        "{:#?}",
        p.explanation
    );
    let d = p.recommendation.unwrap();
    assert_sound(&d, &m, "madeup-unknown-x2");
    assert_eq!((d.tensor_parallel_size, d.data_parallel_size), (1, 2));
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(json["gpus"][0]["in_catalog"], false);
}
