#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use crate::catalog::Catalog;

fn catalog() -> Catalog {
    Catalog::builtin().unwrap()
}

fn request(version: &str) -> Request {
    Request {
        gitlab_version: Some(version.parse().unwrap()),
        ..Request::default()
    }
}

fn plan_for(gpus: &str, req: &Request) -> Result<Recommendation, RecommendError> {
    let c = catalog();
    let m = Machine::what_if(&c, Some(gpus), None, Some(64)).unwrap();
    recommend(&c, &m, req)
}

fn rec(gpus: &str, req: &Request) -> Deployment {
    plan_for(gpus, req)
        .unwrap()
        .recommendation
        .expect("a recommendation")
}

#[test]
fn newest_gitlab_gets_mistral_small_on_an_h100() {
    let d = rec("1xH100", &Request::default());
    assert_eq!(d.model, "mistral-small-3.2-24b-instruct-2506");
    assert_eq!(d.precision, Precision::Bf16);
    assert_eq!(d.engine, Engine::Vllm);
    assert_eq!(d.gitlab.model_family, "mistral");
    assert_eq!(
        d.gitlab.model_identifier,
        "custom_openai/mistral-small-3.2-24b-instruct-2506"
    );
}

#[test]
fn the_issue_example_mixtral_fp8_on_one_h100() {
    // GitLab 18.2 predates Mistral Small 3.2; Mixtral 8x22B does not fit one H100 even at 4-bit.
    let d = rec("1xH100", &request("18.2"));
    assert_eq!(d.model, "mixtral-8x7b-instruct-v0.1");
    assert_eq!(d.precision, Precision::Fp8);
    assert_eq!(d.tensor_parallel_size, 1);
    assert_eq!(d.max_model_len, 32768);
    assert!(
        d.summary
            .contains("43.7 GiB weights + 2.0 GiB overhead of a 71.7 GiB budget"),
        "{}",
        d.summary
    );
    assert!(
        d.summary
            .contains("213k tokens = 6.5 concurrent 32k sequences"),
        "{}",
        d.summary
    );
}

#[test]
fn vllm_args_carry_every_setting() {
    let d = rec("1xH100", &request("18.2"));
    let a = d.vllm_args.join(" ");
    for want in [
        "--model neuralmagic/Mixtral-8x7B-Instruct-v0.1-FP8",
        "--served-model-name mixtral-8x7b-instruct-v0.1",
        "--tensor-parallel-size 1",
        "--max-model-len 32768",
        "--gpu-memory-utilization 0.90",
        "--dtype bfloat16",
        "--quantization fp8",
    ] {
        assert!(a.contains(want), "{want} missing from {a}");
    }
    let small = rec("1xH100", &Request::default()).vllm_args.join(" ");
    assert!(
        small.contains("--tokenizer-mode mistral --config-format mistral --load-format mistral"),
        "{small}"
    );
}

#[test]
fn an_old_gitlab_never_gets_a_newer_model() {
    for gpus in ["1xH200", "8xH100", "1xL4"] {
        let p = plan_for(gpus, &request("18.2")).unwrap();
        for d in p.recommendation.iter().chain(&p.alternatives) {
            assert_ne!(d.model, "mistral-small-3.2-24b-instruct-2506", "{gpus}");
            assert_ne!(d.model, "mistral-nemo-instruct-2407", "{gpus}");
        }
        assert!(p
            .rejected
            .iter()
            .any(|r| r.candidate == "mistral-small-3.2-24b-instruct-2506"
                && r.reason.contains("18.3 and later")));
    }
}

#[test]
fn versions_before_self_hosted_are_refused() {
    let e = plan_for("1xH100", &request("16.11")).unwrap_err();
    assert!(matches!(e, RecommendError::VersionTooOld { .. }));
    assert!(e.to_string().contains("17.1"));
}

#[test]
fn a_removed_model_is_an_error_when_asked_for_by_name() {
    let req = Request {
        model: Some("mixtral-8x7b".into()),
        ..Request::default()
    };
    let e = plan_for("2xA100-80", &req).unwrap_err().to_string();
    assert!(e.contains("not supported by GitLab 18.11"), "{e}");
    assert!(e.contains("17.1–18.4"), "{e}");
    assert!(e.contains("mistral-small-3.2-24b-instruct-2506"), "{e}");
}

#[test]
fn codestral_needs_an_explicit_request_and_its_licence() {
    let auto = plan_for("2xA100-80", &Request::default()).unwrap();
    assert_ne!(auto.recommendation.unwrap().model, "codestral-22b-v0.1");
    let mut req = Request {
        model: Some("codestral".into()),
        ..Request::default()
    };
    let e = plan_for("2xA100-80", &req).unwrap_err();
    assert!(
        matches!(e, RecommendError::LicenseNotAccepted { .. }),
        "{e}"
    );
    // The problem names the model to accept, as a field each front end turns into its own control.
    let p = crate::problem::Explain::problem(&e);
    assert_eq!(p.code, "license_required");
    assert_eq!(p.field.as_deref(), Some("license:codestral-22b-v0.1"));
    req.accept_licenses = vec!["codestral-22b-v0.1".into()];
    let d = rec("2xA100-80", &req);
    assert_eq!(d.model, "codestral-22b-v0.1");
    assert!(d.notes.iter().any(|n| n.contains("Non-Production")));
    let bad = Request {
        accept_licenses: vec!["gpl".into()],
        ..Request::default()
    };
    let e = plan_for("1xL4", &bad).unwrap_err().to_string();
    assert!(e.contains("codestral-22b-v0.1 (mnpl-0.1)"), "{e}");
}

#[test]
fn overrides_are_validated_by_the_same_arithmetic() {
    // bf16 Mixtral 8x7B cannot load on one A100 80 GB: an error with the numbers, not a config.
    let req = Request {
        gitlab_version: Some("18.2".parse().unwrap()),
        model: Some("mixtral-8x7b".into()),
        precision: Some(Precision::Bf16),
        ..Request::default()
    };
    let e = plan_for("1xA100-80", &req).unwrap_err().to_string();
    assert!(e.contains("cannot start"), "{e}");
    assert!(
        e.contains("87.0 GiB weights") && e.contains("budget 72.0 GiB"),
        "{e}"
    );

    // A context larger than fits: the error names the largest that does.
    let req = Request {
        model: Some("mistral-small".into()),
        precision: Some(Precision::Fp8),
        context: Some(131072),
        ..Request::default()
    };
    let e = plan_for("1xL40S", &req).unwrap_err().to_string();
    assert!(e.contains("the largest context that fits is"), "{e}");

    // …and asking for exactly that context works.
    let largest: u32 = e
        .split("the largest context that fits is ")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok())
        .expect("a number in the error");
    let d = rec(
        "1xL40S",
        &Request {
            context: Some(largest),
            ..req
        },
    );
    assert_eq!(d.max_model_len, largest);
    assert!(d.capacity_tokens >= 2 * u64::from(largest));
}

#[test]
fn bad_overrides_list_valid_values() {
    let tp3 = Request {
        model: Some("mistral-small".into()),
        tp: Some(3),
        ..Request::default()
    };
    let e = plan_for("4xL4", &tp3).unwrap_err().to_string();
    assert!(
        e.contains("TP=3 invalid: 8 KV heads are not divisible by 3"),
        "{e}"
    );
    assert!(e.contains("1, 2, 4, 8"), "{e}");

    let gptq = Request {
        model: Some("mistral-small".into()),
        precision: Some(Precision::Gptq),
        ..Request::default()
    };
    let e = plan_for("1xL4", &gptq).unwrap_err().to_string();
    assert!(e.contains("bf16, fp16, fp8, awq"), "{e}");

    let short = Request {
        context: Some(8192),
        ..Request::default()
    };
    assert!(matches!(
        plan_for("1xL4", &short),
        Err(RecommendError::InvalidContext { .. })
    ));

    let too_many = Request {
        model: Some("mistral-small".into()),
        tp: Some(4),
        ..Request::default()
    };
    let e = plan_for("2xL4", &too_many).unwrap_err().to_string();
    assert!(
        e.contains("tensor parallelism 4 needs 4 identical GPUs"),
        "{e}"
    );
}

#[test]
fn bf16_on_turing_is_refused_fp16_offered() {
    let req = Request {
        gitlab_version: Some("18.2".parse().unwrap()),
        model: Some("mistral-7b".into()),
        precision: Some(Precision::Bf16),
        ..Request::default()
    };
    let e = plan_for("2xT4", &req).unwrap_err().to_string();
    assert!(e.contains("bf16 needs compute capability ≥ 8.0"), "{e}");
    let d = rec(
        "2xT4",
        &Request {
            precision: Some(Precision::Fp16),
            ..req
        },
    );
    assert_eq!(d.dtype, "float16");
    assert_eq!(d.tensor_parallel_size, 2);
}

#[test]
fn three_gpus_use_two_and_report_the_third() {
    let p = plan_for("3xL40S", &Request::default()).unwrap();
    let d = p.recommendation.as_ref().unwrap();
    assert_eq!(d.tensor_parallel_size, 2);
    assert!(p
        .explanation
        .iter()
        .any(|l| l.contains("TP=3 invalid: 8 KV heads are not divisible by 3")));
    let unused: Vec<u32> = p.spare_gpus.iter().map(|s| s.index).collect();
    assert_eq!(unused.len(), 1);
    assert!(!d.gpus.contains(&unused[0]));
}

#[test]
fn wsl2_plans_one_gpu_unless_told() {
    let c = catalog();
    let m = Machine::what_if(&c, Some("2xL4"), Some("windows-wsl2"), None).unwrap();
    let p = recommend(&c, &m, &Request::default()).unwrap();
    let d = p.recommendation.unwrap();
    assert_eq!(d.tensor_parallel_size, 1);
    assert!(p.explanation.iter().any(|l| l.contains("WSL2")));
    let forced = Request {
        tp: Some(2),
        ..Request::default()
    };
    assert_eq!(
        recommend(&c, &m, &forced)
            .unwrap()
            .recommendation
            .unwrap()
            .tensor_parallel_size,
        2
    );
}

#[test]
fn apple_silicon_runs_ollama_natively() {
    let c = catalog();
    let m = Machine::what_if(&c, None, Some("macos-arm64"), Some(64)).unwrap();
    let p = recommend(&c, &m, &Request::default()).unwrap();
    let d = p.recommendation.unwrap();
    assert_eq!(d.engine, Engine::Ollama);
    assert_eq!(d.accelerator, Accelerator::AppleMetal);
    assert_eq!(
        d.ollama_model.as_deref(),
        Some("mistral-small3.2:24b-instruct-2506-q4_K_M")
    );
    assert!(d.vllm_args.is_empty());
    assert!(p
        .explanation
        .iter()
        .any(|l| l.contains("linux/amd64 under emulation")));
    // A 16 GB Mac cannot hold Mistral Small with 16k of context twice over.
    let small = Machine::what_if(&c, None, Some("macos-arm64"), Some(16)).unwrap();
    let p = recommend(&c, &small, &Request::default()).unwrap();
    assert_eq!(p.verdict, Verdict::CannotServe);
    assert!(p
        .rejected
        .iter()
        .any(|r| r.reason.contains("unified memory")));
    // --tp means nothing to Ollama.
    let e = recommend(
        &c,
        &m,
        &Request {
            tp: Some(2),
            ..Request::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, RecommendError::NotApplicable { .. }));
}

#[test]
fn volta_is_offered_ollama_and_amd_rocm() {
    let p = plan_for("2xV100-32", &request("18.2")).unwrap();
    let d = p.recommendation.unwrap();
    assert_eq!(d.engine, Engine::Ollama);
    assert_eq!(d.accelerator, Accelerator::NvidiaCuda);
    assert!(p
        .explanation
        .iter()
        .any(|l| l.contains("current vLLM cannot serve compute capability below 7.5")));
    // Ollama splits the layers over both cards: none is left over.
    assert_eq!(d.gpus, vec![0, 1]);
    assert!(p.spare_gpus.is_empty(), "{:?}", p.spare_gpus);
    // A smaller Volta card beside them is not part of the split, and vLLM cannot use it either.
    let p = plan_for("2xV100-32,1xV100-16", &request("18.2")).unwrap();
    assert_eq!(p.recommendation.unwrap().gpus, vec![0, 1]);
    let spare: Vec<_> = p.spare_gpus.iter().map(|s| (s.index, s.role)).collect();
    assert_eq!(spare, vec![(2, SpareRole::Unusable)], "{:?}", p.spare_gpus);
    assert!(
        p.spare_gpus[0].note.contains("compute capability 7.0"),
        "{}",
        p.spare_gpus[0].note
    );

    let c = catalog();
    let mut m = Machine::what_if(&c, Some("none"), None, Some(128)).unwrap();
    m.amd_gpus.push(machine::AmdGpu {
        name: "AMD Instinct MI210".into(),
        memory_mib: Some(65520),
    });
    let d = recommend(&c, &m, &Request::default())
        .unwrap()
        .recommendation
        .unwrap();
    assert_eq!(d.accelerator, Accelerator::AmdRocm);
}

#[test]
fn no_gpu_cannot_serve_but_offers_cpu_evaluation() {
    let p = plan_for("none", &Request::default()).unwrap();
    assert_eq!(p.verdict, Verdict::CannotServe);
    assert!(p.recommendation.is_none());
    assert!(p
        .explanation
        .iter()
        .any(|l| l.contains("existing OpenAI-compatible endpoint")));
    let eval = p.alternatives.first().expect("a CPU evaluation setup");
    assert_eq!(eval.accelerator, Accelerator::Cpu);
}

#[test]
fn mig_cards_are_not_used_whole() {
    let c = catalog();
    let mut m = Machine::what_if(&c, Some("2xA100-80"), None, None).unwrap();
    m.gpus[0].mig_enabled = true;
    let p = recommend(&c, &m, &Request::default()).unwrap();
    let d = p.recommendation.unwrap();
    assert_eq!(d.gpus, vec![1]);
    assert!(p
        .spare_gpus
        .iter()
        .any(|s| s.index == 0 && s.role == SpareRole::Unusable && s.note.contains("MIG")));
}
