//! Properties of the recommender over random machines (proptest).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseResult, TestRunner};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

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
                in_catalog: true,
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

/// 512 random machines per property; proptest's own runner, so that the cases can be counted.
fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: 512,
        source_file: Some(file!()),
        ..Config::default()
    })
}

/// Counts the cases that reached a property's assertions. A property that holds because its premise never
/// held would pass on nothing, so each property requires a share of its cases to get there.
#[derive(Default)]
struct Reached {
    cases: Cell<u32>,
    counts: RefCell<BTreeMap<&'static str, u32>>,
}

impl Reached {
    fn case(&self) {
        self.cases.set(self.cases.get() + 1);
    }

    fn hit(&self, what: &'static str) {
        *self.counts.borrow_mut().entry(what).or_default() += 1;
    }

    /// At least `min_pct` % of the cases reached `what`.
    fn require(&self, what: &'static str, min_pct: u32) {
        let cases = self.cases.get();
        let n = self.counts.borrow().get(what).copied().unwrap_or(0);
        assert!(
            cases > 0 && n * 100 >= min_pct * cases,
            "only {n} of {cases} generated cases reached {what:?} (at least {min_pct} % must): {:?}",
            self.counts.borrow()
        );
    }
}

fn run<S: Strategy>(strategy: S, test: impl Fn(S::Value) -> TestCaseResult) {
    if let Err(e) = runner().run(&strategy, test) {
        panic!("{e}");
    }
}

#[test]
fn every_recommendation_fits_its_budget_with_a_valid_tp() {
    let c = Catalog::builtin().unwrap();
    let reached = Reached::default();
    let strategy = (
        8u64..200,
        0u64..50,
        prop::sample::select(CCS.to_vec()),
        1u32..=8,
        prop::sample::select(VERSIONS.to_vec()),
        0usize..8,
    );
    run(strategy, |(memory_gib, used_pct, cc, count, v, mi)| {
        reached.case();
        let total = memory_gib * 1024;
        let m = machine(total, total * (100 - used_pct) / 100, cc, count);
        let model = pick_model(&c, v, mi);
        let Some(d) = plan(&c, &m, &request(v, model.as_deref())) else {
            return Ok(());
        };
        prop_assert_eq!(
            d.engine == Engine::Vllm,
            ComputeCapability::new(cc.0, cc.1) >= CC_VLLM_MIN
        );
        // Ollama plans (pre-Turing) size a layer split over free memory; the rest is about vLLM.
        if d.engine != Engine::Vllm {
            reached.hit("an Ollama plan");
            return Ok(());
        }
        reached.hit("a vLLM plan");
        let spec = c.model(&d.model).unwrap();
        // Fits: weights + overhead + KV within gmu × total, two full-length sequences, ≥ 16k.
        let budget = sizing::budget_bytes(total, (d.gpu_memory_utilization * 100.0).round() as u32);
        let gb = |x: f64| x * sizing::GIB as f64;
        let mem = &d.memory_per_gpu;
        prop_assert!(
            gb(mem.weights_gib + mem.overhead_gib + mem.kv_cache_gib) <= budget as f64 + gb(0.02)
        );
        prop_assert!(d.capacity_tokens >= 2 * u64::from(d.max_model_len));
        prop_assert!(d.max_model_len >= sizing::MIN_CONTEXT && d.max_model_len <= spec.max_context);
        // vLLM's start-up check on free memory.
        let free = m.gpus[0].memory_free_mib;
        prop_assert!(free as f64 >= d.gpu_memory_utilization * total as f64);
        // TP valid.
        let tp = d.tensor_parallel_size;
        prop_assert!(sizing::TP_SIZES.contains(&tp) && tp <= count);
        prop_assert!(sizing::check_tp(&spec.architecture(), tp).is_ok());
        // One replica per TP group; data parallelism adds whole replicas on the identical GPUs.
        let dp = d.data_parallel_size;
        prop_assert!(dp >= 1);
        prop_assert_eq!(d.gpus.len(), (tp * dp) as usize);
        prop_assert!(tp * dp <= count);
        prop_assert_eq!(d.total_capacity_tokens, d.capacity_tokens * u64::from(dp));
        if tp > 1 {
            reached.hit("a vLLM plan with TP > 1");
        }
        // Compute capability < 8.0 never gets bf16.
        if ComputeCapability::new(cc.0, cc.1) < CC_BF16 {
            reached.hit("a vLLM plan without bf16");
            prop_assert_ne!(d.precision, Precision::Bf16);
            prop_assert_ne!(d.dtype.as_str(), "bfloat16");
        }
        Ok(())
    });
    // About 5 in 6 machines are vLLM-capable (compute capability ≥ 7.5) and most of those get a plan: a
    // run of 512 reaches the vLLM checks some 400 times (TP > 1: about 200; no bf16, 7.5 only: about
    // 65). The floors sit far below that, so they fail only when the checks stop being reached.
    reached.require("a vLLM plan", 50);
    reached.require("a vLLM plan with TP > 1", 15);
    reached.require("a vLLM plan without bf16", 5);
}

#[test]
fn more_memory_never_gives_a_smaller_context_or_a_lower_precision() {
    let c = Catalog::builtin().unwrap();
    let reached = Reached::default();
    let strategy = (
        10u64..150,
        1u64..100,
        prop::sample::select(CCS.to_vec()),
        1u32..=8,
        prop::sample::select(VERSIONS.to_vec()),
        0usize..8,
    );
    run(strategy, |(small_gib, extra_gib, cc, count, v, mi)| {
        reached.case();
        let (a, b) = (small_gib * 1024, (small_gib + extra_gib) * 1024);
        let req = request(v, pick_model(&c, v, mi).as_deref());
        let small = plan(&c, &machine(a, a, cc, count), &req);
        let big = plan(&c, &machine(b, b, cc, count), &req);
        let Some(s) = small else { return Ok(()) };
        reached.hit("a plan on the smaller machine");
        let Some(l) = big else {
            return Err(TestCaseError::fail("more memory lost the plan"));
        };
        let rank = |id: &str| c.model(id).unwrap().rank;
        prop_assert!(
            rank(&l.model) >= rank(&s.model),
            "a less capable model with more memory"
        );
        if l.model == s.model {
            reached.hit("the same model on both");
            prop_assert!(
                l.max_model_len >= s.max_model_len,
                "{} < {}",
                l.max_model_len,
                s.max_model_len
            );
            prop_assert!(
                l.precision.tier() <= s.precision.tier(),
                "{:?} below {:?}",
                l.precision,
                s.precision
            );
        }
        Ok(())
    });
    // Most smaller machines already plan (about 490 of 512), most with the same model on both (about 460).
    reached.require("a plan on the smaller machine", 70);
    reached.require("the same model on both", 60);
}
