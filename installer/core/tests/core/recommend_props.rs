//! Properties of the recommender over random machines (proptest).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use aigw_core::catalog::gpu::ComputeCapability;
use aigw_core::catalog::gpu::{CC_BF16, CC_VLLM_MIN};
use aigw_core::catalog::{Catalog, Precision};
use aigw_core::recommend::{recommend, Deployment, Engine, GpuSlot, Machine, Platform, Request};
use aigw_core::sizing;

const CCS: [(u32, u32); 6] = [(7, 5), (8, 0), (8, 6), (8, 9), (9, 0), (7, 0)];
const VERSIONS: [&str; 4] = ["17.6", "18.2", "18.4", "18.11"];

fn machine(memory_mib: u64, free_mib: u64, cc: (u32, u32), count: u32) -> Machine {
    Machine {
        platform: Platform::LinuxAmd64,
        gpus: (0..count)
            .map(|index| GpuSlot {
                index,
                label: "TestGPU".into(),
                memory_total_mib: memory_mib,
                memory_free_mib: free_mib.min(memory_mib),
                compute_capability: ComputeCapability::new(cc.0, cc.1),
                mig_enabled: false,
            })
            .collect(),
        amd_gpus: Vec::new(),
        ram_mib: Some(256 * 1024),
        source: "proptest".into(),
    }
}

fn request(version: &str, model: Option<&str>) -> Request {
    Request {
        gitlab_version: Some(version.parse().unwrap()),
        model: model.map(str::to_string),
        ..Request::default()
    }
}

fn plan(c: &Catalog, m: &Machine, r: &Request) -> Option<Deployment> {
    recommend(c, m, r).ok().and_then(|p| p.recommendation)
}

/// A model GitLab `version` supports, by index, or none (automatic choice).
fn pick_model(c: &Catalog, version: &str, i: usize) -> Option<String> {
    let v = version.parse().unwrap();
    let ok: Vec<_> = c
        .models
        .iter()
        .filter(|m| m.gitlab.covers(v) && !m.license.requires_acceptance())
        .collect();
    (i < ok.len()).then(|| ok[i].id.clone())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_recommendation_fits_its_budget_with_a_valid_tp(
        memory_gib in 8u64..200,
        used_pct in 0u64..50,
        cc in prop::sample::select(CCS.to_vec()),
        count in 1u32..=8,
        v in prop::sample::select(VERSIONS.to_vec()),
        mi in 0usize..8,
    ) {
        let c = Catalog::builtin().unwrap();
        let total = memory_gib * 1024;
        let m = machine(total, total * (100 - used_pct) / 100, cc, count);
        let model = pick_model(&c, v, mi);
        if let Some(d) = plan(&c, &m, &request(v, model.as_deref())) {
            prop_assert_eq!(d.engine == Engine::Vllm, ComputeCapability::new(cc.0, cc.1) >= CC_VLLM_MIN);
            // Ollama plans (pre-Turing) size a layer split over free memory; the rest is about vLLM.
            if d.engine != Engine::Vllm {
                return Ok(());
            }
            let spec = c.model(&d.model).unwrap();
            // Fits: weights + overhead + KV within gmu × total, two full-length sequences, ≥ 16k.
            let budget = sizing::budget_bytes(total, (d.gpu_memory_utilization * 100.0).round() as u32);
            let gb = |x: f64| x * sizing::GIB as f64;
            let mem = &d.memory_per_gpu;
            prop_assert!(gb(mem.weights_gib + mem.overhead_gib + mem.kv_cache_gib) <= budget as f64 + gb(0.02));
            prop_assert!(d.capacity_tokens >= 2 * u64::from(d.max_model_len));
            prop_assert!(d.max_model_len >= sizing::MIN_CONTEXT && d.max_model_len <= spec.max_context);
            // vLLM's start-up check on free memory.
            let free = m.gpus[0].memory_free_mib;
            prop_assert!(free as f64 >= d.gpu_memory_utilization * total as f64);
            // TP valid.
            let tp = d.tensor_parallel_size;
            prop_assert!(sizing::TP_SIZES.contains(&tp) && tp <= count);
            prop_assert!(sizing::check_tp(&spec.architecture(), tp).is_ok());
            prop_assert_eq!(d.gpus.len(), tp as usize);
            // Compute capability < 8.0 never gets bf16.
            if ComputeCapability::new(cc.0, cc.1) < CC_BF16 {
                prop_assert_ne!(d.precision, Precision::Bf16);
                prop_assert_ne!(d.dtype.as_str(), "bfloat16");
            }
        }
    }

    #[test]
    fn more_memory_never_gives_a_smaller_context_or_a_lower_precision(
        small_gib in 10u64..150,
        extra_gib in 1u64..100,
        cc in prop::sample::select(CCS.to_vec()),
        count in 1u32..=8,
        v in prop::sample::select(VERSIONS.to_vec()),
        mi in 0usize..8,
    ) {
        let c = Catalog::builtin().unwrap();
        let (a, b) = (small_gib * 1024, (small_gib + extra_gib) * 1024);
        let req = request(v, pick_model(&c, v, mi).as_deref());
        let small = plan(&c, &machine(a, a, cc, count), &req);
        let big = plan(&c, &machine(b, b, cc, count), &req);
        if let Some(s) = small {
            let Some(l) = big else {
                return Err(TestCaseError::fail("more memory lost the plan"));
            };
            let rank = |id: &str| c.model(id).unwrap().rank;
            prop_assert!(rank(&l.model) >= rank(&s.model), "a less capable model with more memory");
            if l.model == s.model {
                prop_assert!(l.max_model_len >= s.max_model_len, "{} < {}", l.max_model_len, s.max_model_len);
                prop_assert!(l.precision.tier() <= s.precision.tier(), "{:?} below {:?}", l.precision, s.precision);
            }
        }
    }
}
