//! vLLM on NVIDIA GPUs: groups of identical GPUs, the precision/context ladder, the tensor-parallel choice,
//! and the explanation of each.

use std::cmp::Reverse;

use super::args::{self, VllmConfig};
use super::{
    ctx_label, Accelerator, Ctx, Deployment, Engine, GitlabModel, KvCacheDtype, MemoryPerGpu,
    Outcome, Rejection, SpareGpu, SpareRole,
};
use super::{GpuSlot, Platform, RecommendError};
use crate::catalog::gpu::ComputeCapability;
use crate::catalog::gpu::{CC_BF16, CC_FP8_W8A8, CC_VLLM_MIN};
use crate::catalog::{ModelSpec, Precision, QuantMethod};
use crate::sizing::{self, gib, ktokens, GpuShare};

/// Whether current vLLM can use this GPU at all.
pub(super) fn usable(g: &GpuSlot) -> Result<(), String> {
    if g.compute_capability < CC_VLLM_MIN {
        return Err(format!(
            "compute capability {}: current vLLM needs ≥ {CC_VLLM_MIN} (no attention backend supports Volta)",
            g.compute_capability
        ));
    }
    if g.mig_enabled {
        return Err(
            "MIG is enabled: its slices are separate smaller GPUs; disable MIG (nvidia-smi -mig 0) to use \
             the whole card"
                .to_string(),
        );
    }
    if g.memory_total_mib == 0 {
        return Err("NVML reports no memory".to_string());
    }
    Ok(())
}

/// GPUs that may form one tensor-parallel group: same card, same memory, same compute capability.
pub(super) struct Group<'m> {
    /// Most free memory first, so a partial group takes the emptiest cards.
    pub gpus: Vec<&'m GpuSlot>,
}

impl Group<'_> {
    fn first(&self) -> Option<&GpuSlot> {
        self.gpus.first().copied()
    }

    fn label(&self) -> String {
        self.first().map(|g| g.label.clone()).unwrap_or_default()
    }

    fn cc(&self) -> ComputeCapability {
        self.first()
            .map(|g| g.compute_capability)
            .unwrap_or(ComputeCapability::new(0, 0))
    }

    fn describe(&self) -> String {
        let total = self.first().map(|g| g.memory_total_mib).unwrap_or(0);
        format!(
            "{}× {} (compute capability {}, {} each)",
            self.gpus.len(),
            self.label(),
            self.cc(),
            gib(total * sizing::MIB)
        )
    }
}

fn groups(gpus: &[GpuSlot]) -> Vec<Group<'_>> {
    let mut out: Vec<Group<'_>> = Vec::new();
    for g in gpus.iter().filter(|g| usable(g).is_ok()) {
        let same = |o: &&GpuSlot| {
            o.label == g.label
                && o.memory_total_mib == g.memory_total_mib
                && o.compute_capability == g.compute_capability
        };
        match out
            .iter_mut()
            .find(|grp| grp.gpus.first().is_some_and(same))
        {
            Some(grp) => grp.gpus.push(g),
            None => out.push(Group { gpus: vec![g] }),
        }
    }
    for grp in &mut out {
        grp.gpus
            .sort_by_key(|g| (Reverse(g.memory_free_mib), g.index));
    }
    // Biggest pool of memory first: the likeliest home of the most capable model.
    out.sort_by_key(|grp| {
        Reverse(grp.gpus.len() as u64 * grp.first().map(|g| g.memory_total_mib).unwrap_or(0))
    });
    out
}

/// One rung of the ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Step {
    pub precision: Precision,
    pub context: u32,
    pub kv_fp8: bool,
}

impl Step {
    fn describe(&self, m: &ModelSpec) -> String {
        format!(
            "{} {}{} at {}",
            m.id,
            self.precision.label(),
            if self.kv_fp8 { " + FP8 KV cache" } else { "" },
            ctx_label(self.context)
        )
    }
}

/// Whether vLLM has kernels for `p` of `m` on `cc` (docs/sources.md, "vLLM on NVIDIA GPUs").
pub(super) fn precision_support(
    m: &ModelSpec,
    p: Precision,
    cc: ComputeCapability,
) -> Result<(), String> {
    let Some(ckpt) = m.checkpoint(p) else {
        return Err(format!("no {} checkpoint in the catalog", p.label()));
    };
    match p {
        Precision::Bf16 if cc < CC_BF16 => Err(format!(
            "bf16 needs compute capability ≥ {CC_BF16}; this GPU has {cc} (the bf16 weights run as fp16)"
        )),
        Precision::Bf16 | Precision::Fp16 => Ok(()),
        Precision::Fp8 if cc >= CC_FP8_W8A8 => Ok(()),
        Precision::Fp8 if cc >= CC_BF16 && !m.is_moe() => Ok(()), // weight-only W8A16 via FP8 Marlin
        Precision::Fp8 if cc >= CC_BF16 => Err(format!(
            "FP8 for a mixture-of-experts model needs FP8 W8A8 (compute capability ≥ {CC_FP8_W8A8}); \
             this GPU has {cc}"
        )),
        Precision::Fp8 => Err(format!(
            "FP8 needs compute capability ≥ {CC_BF16} (weight-only) or ≥ {CC_FP8_W8A8} (W8A8); this GPU has {cc}"
        )),
        Precision::Awq | Precision::Gptq if cc < CC_BF16 => {
            if m.is_moe() {
                Err(format!(
                    "4-bit mixture-of-experts runs on the Marlin MoE kernels, which need compute \
                     capability ≥ {CC_BF16}; this GPU has {cc}"
                ))
            } else if ckpt.quant_method == Some(QuantMethod::CompressedTensors) {
                Err(format!(
                    "this 4-bit checkpoint runs on Marlin kernels, which need compute capability ≥ \
                     {CC_BF16}; this GPU has {cc}"
                ))
            } else {
                Ok(()) // AWQ / GPTQ (exllama) kernels exist from Turing
            }
        }
        Precision::Awq | Precision::Gptq => Ok(()),
        Precision::Q4KM => Err("GGUF is served by Ollama, not this vLLM plan".to_string()),
    }
}

/// The 16-bit precision a GPU runs natively.
fn native_16bit(cc: ComputeCapability) -> Precision {
    if cc >= CC_BF16 {
        Precision::Bf16
    } else {
        Precision::Fp16
    }
}

/// The ladder for one model on one kind of GPU, best first, and the precisions it cannot use.
///
/// At the preferred context every precision is tried (16-bit, FP8, 4-bit), then 4-bit with an FP8 KV cache;
/// only then is the context halved, at the lowest precision tier. This is a chain in (precision, context):
/// each rung is no better than the one before in either, so more memory never yields a smaller context or a
/// lower precision for the same request.
pub(super) fn ladder(
    m: &ModelSpec,
    cc: ComputeCapability,
    precision: Option<Precision>,
    context: Option<u32>,
) -> (Vec<Step>, Vec<(Precision, String)>) {
    let wanted = match precision {
        Some(p) => vec![p],
        None => vec![
            native_16bit(cc),
            Precision::Fp8,
            Precision::Awq,
            Precision::Gptq,
        ],
    };
    let mut ok = Vec::new();
    let mut unsupported = Vec::new();
    for p in wanted {
        match precision_support(m, p, cc) {
            Ok(()) => ok.push(p),
            Err(why) => unsupported.push((p, why)),
        }
    }
    let contexts = super::contexts(context, m);
    let lowest_tier = ok.iter().map(|p| p.tier()).max().unwrap_or(0);
    let kv_options: &[bool] = if cc >= CC_FP8_W8A8 {
        &[false, true]
    } else {
        &[false]
    };
    let mut steps = Vec::new();
    for (i, &c) in contexts.iter().enumerate() {
        for &kv_fp8 in kv_options {
            for &p in &ok {
                if (i > 0 || kv_fp8) && p.tier() != lowest_tier {
                    continue;
                }
                steps.push(Step {
                    precision: p,
                    context: c,
                    kv_fp8,
                });
            }
        }
    }
    (steps, unsupported)
}

/// A configuration that fits.
#[derive(Clone)]
pub(super) struct Fit<'a> {
    pub model: &'a ModelSpec,
    pub step: Step,
    pub tp: u32,
    pub gpus: Vec<&'a GpuSlot>,
    pub gmu_pct: u32,
    pub share: GpuShare,
    /// KV capacity of one replica, tokens.
    pub capacity: u64,
    /// Why this TP size.
    pub tp_reason: String,
    /// Data-parallel replicas (`--data-parallel-size`): `gpus` holds `tp × dp` GPUs.
    pub dp: u32,
}

impl Fit<'_> {
    fn concurrency(&self) -> f64 {
        sizing::concurrency(self.capacity, self.step.context)
    }

    /// Higher is better: model, then precision, context, no FP8 KV, fewer GPUs per replica, more room in all
    /// replicas together (so of two GPU groups the one holding more replicas serves).
    fn key(&self) -> (u32, Reverse<u8>, u32, bool, Reverse<u32>, u64) {
        (
            self.model.rank,
            Reverse(self.step.precision.tier()),
            self.step.context,
            !self.step.kv_fp8,
            Reverse(self.tp),
            self.capacity * u64::from(self.dp),
        )
    }
}

fn share_for(m: &ModelSpec, step: Step, gpus: &[&GpuSlot], tp: u32) -> (GpuShare, u32) {
    let gmu_pct = gpus
        .iter()
        .map(|g| sizing::gpu_memory_utilization_pct(g.memory_total_mib, g.memory_free_mib))
        .min()
        .unwrap_or(0);
    let total = gpus.first().map(|g| g.memory_total_mib).unwrap_or(0);
    let share = sizing::gpu_share(
        m.weight_bytes(step.precision),
        tp,
        sizing::budget_bytes(total, gmu_pct),
        m.is_moe(),
        sizing::kv_bytes_per_token(&m.architecture(), tp, if step.kv_fp8 { 1 } else { 2 }),
    );
    (share, gmu_pct)
}

/// Why a share does not fit, with its numbers.
fn no_fit_reason(m: &ModelSpec, step: Step, share: &GpuShare, tp: u32, gmu_pct: u32) -> String {
    let per = if tp > 1 {
        format!(" per GPU with TP={tp}")
    } else {
        String::new()
    };
    if share.shortfall() > 0 {
        return format!(
            "{} needs {} ({} weights + {} overhead){per} before any KV cache, budget {} ({:.2} × NVML total)",
            step.precision.label(),
            gib(share.weights + share.overhead),
            gib(share.weights),
            gib(share.overhead),
            gib(share.budget),
            f64::from(gmu_pct) / 100.0
        );
    }
    let cap = share.capacity_tokens();
    let mut reason = format!(
        "{} leaves {} KV{per} ≈ {} tokens, fewer than the {} that 2 concurrent {} sequences need",
        step.precision.label(),
        gib(share.kv_bytes()),
        ktokens(cap),
        ktokens(2 * u64::from(step.context)),
        ctx_label(step.context)
    );
    if !sizing::vllm_starts(cap, step.context) {
        reason.push_str(" (vLLM would refuse to start: KV capacity below max_model_len)");
    }
    if let Some(l) = sizing::largest_fitting_context(cap, m.max_context) {
        reason.push_str(&format!("; the largest context that fits is {l}"));
    }
    reason
}

/// The TP rule: the smallest valid size giving ≥ 4 concurrent full-length sequences, else the largest valid
/// size giving ≥ 2. `sizes` are the valid sizes to consider, ascending.
fn evaluate<'a>(
    m: &'a ModelSpec,
    step: Step,
    group: &Group<'a>,
    sizes: &[u32],
    tp_fixed: bool,
) -> Result<Fit<'a>, String> {
    let mut best: Option<Fit<'a>> = None;
    let mut last_failure = None;
    for &tp in sizes {
        let n = usize::try_from(tp).unwrap_or(usize::MAX);
        let Some(gpus) = group.gpus.get(..n) else {
            break;
        };
        let (share, gmu_pct) = share_for(m, step, gpus, tp);
        let capacity = share.capacity_tokens();
        if !sizing::fits(capacity, step.context) {
            last_failure = Some(no_fit_reason(m, step, &share, tp, gmu_pct));
            continue;
        }
        let fit = Fit {
            model: m,
            step,
            tp,
            gpus: gpus.to_vec(),
            gmu_pct,
            share,
            capacity,
            tp_reason: String::new(),
            dp: 1,
        };
        let target = sizing::TARGET_CONCURRENCY * u64::from(step.context);
        if capacity >= target {
            return Ok(Fit {
                tp_reason: if tp_fixed {
                    format!("TP={tp}, fixed by --tp")
                } else if tp == 1 {
                    format!(
                        "TP=1: one GPU already holds ≥ {} concurrent sequences",
                        sizing::TARGET_CONCURRENCY
                    )
                } else {
                    format!(
                        "TP={tp}: the smallest valid size giving ≥ {} concurrent sequences",
                        sizing::TARGET_CONCURRENCY
                    )
                },
                ..fit
            });
        }
        best = Some(fit);
    }
    match best {
        Some(f) => {
            let tp = f.tp;
            let reason = if tp_fixed {
                format!("TP={tp}, fixed by --tp")
            } else {
                format!(
                    "TP={tp}: no valid size on {} GPU(s) reaches {} concurrent sequences; the largest gives {:.1} (≥ {})",
                    group.gpus.len(),
                    sizing::TARGET_CONCURRENCY,
                    f.concurrency(),
                    sizing::MIN_CONCURRENCY
                )
            };
            Ok(Fit {
                tp_reason: reason,
                ..f
            })
        }
        None => Err(last_failure.unwrap_or_else(|| {
            format!(
                "no valid tensor-parallel size fits in {} GPU(s)",
                group.gpus.len()
            )
        })),
    }
}

/// Data parallelism: as many whole replicas of `fit` as the identical GPUs of `group` hold, in one vLLM
/// (`--data-parallel-size`, the server balancing requests across them). One `--gpu-memory-utilization`
/// serves every GPU, so each extra GPU must leave the replica fitting at the lowest free share. WSL2 keeps one
/// replica: vLLM's data parallelism coordinates its ranks over NCCL/Gloo, which fails there (vLLM #5161).
pub(super) fn widen<'a>(ctx: &Ctx<'_>, group: &Group<'a>, fit: Fit<'a>) -> Fit<'a> {
    if ctx.machine.platform == Platform::WindowsWsl2 || fit.tp == 0 {
        return fit;
    }
    let t = usize::try_from(fit.tp).unwrap_or(usize::MAX);
    let most = group.gpus.len() / t.max(1);
    for dp in (2..=most).rev() {
        let Some(gpus) = group.gpus.get(..dp * t) else {
            continue;
        };
        let (share, gmu_pct) = share_for(fit.model, fit.step, gpus, fit.tp);
        let capacity = share.capacity_tokens();
        if !sizing::fits(capacity, fit.step.context) {
            continue;
        }
        return Fit {
            gpus: gpus.to_vec(),
            gmu_pct,
            share,
            capacity,
            dp: u32::try_from(dp).unwrap_or(1),
            ..fit
        };
    }
    fit
}

/// Tensor-parallel sizes to try on a group.
fn tp_sizes(ctx: &Ctx<'_>, m: &ModelSpec, group: &Group<'_>) -> Result<Vec<u32>, String> {
    let n = u32::try_from(group.gpus.len()).unwrap_or(u32::MAX);
    if let Some(t) = ctx.request.tp {
        if t > n {
            return Err(format!(
                "tensor parallelism {t} needs {t} identical GPUs; this group has {}",
                group.describe()
            ));
        }
        sizing::check_tp(&m.architecture(), t).map_err(|p| p.to_string())?;
        return Ok(vec![t]);
    }
    // Multi-GPU NCCL under WSL2 fails repeatedly (vLLM #5161, #4411; microsoft/WSL #12467).
    let cap = if ctx.machine.platform == Platform::WindowsWsl2 {
        1
    } else {
        n
    };
    Ok(super::valid_tps(m)
        .into_iter()
        .filter(|t| *t <= cap)
        .collect())
}

/// Per (group, model): the best fit, or the failures of every rung.
struct Search<'a> {
    group_index: usize,
    model: &'a ModelSpec,
    fit: Option<Fit<'a>>,
    /// Rungs tried before the fit (or all of them), with reasons.
    failures: Vec<Failure>,
}

#[derive(Clone)]
struct Failure {
    /// The rung, when the failure is about one (not about precision support or TP).
    step: Option<Step>,
    rejection: Rejection,
}

fn search<'a>(
    ctx: &Ctx<'a>,
    group_index: usize,
    group: &Group<'a>,
    m: &'a ModelSpec,
) -> Search<'a> {
    let on = format!("on {}× {}", group.gpus.len(), group.label());
    let mut failures = Vec::new();
    let (steps, unsupported) = ladder(m, group.cc(), ctx.request.precision, ctx.request.context);
    for (p, why) in unsupported {
        // Missing community checkpoints are not worth a line unless the admin asked for that precision.
        if why.starts_with("no ") && ctx.request.precision.is_none() {
            continue;
        }
        failures.push(Failure {
            step: None,
            rejection: Rejection {
                candidate: format!("{} {} {on}", m.id, p.label()),
                reason: why,
            },
        });
    }
    let sizes = match tp_sizes(ctx, m, group) {
        Ok(s) => s,
        Err(why) => {
            failures.push(Failure {
                step: None,
                rejection: Rejection {
                    candidate: format!("{} {on}", m.id),
                    reason: why,
                },
            });
            return Search {
                group_index,
                model: m,
                fit: None,
                failures,
            };
        }
    };
    for step in steps {
        match evaluate(m, step, group, &sizes, ctx.request.tp.is_some()) {
            Ok(fit) => {
                return Search {
                    group_index,
                    model: m,
                    fit: Some(widen(ctx, group, fit)),
                    failures,
                }
            }
            Err(reason) => failures.push(Failure {
                step: Some(step),
                rejection: Rejection {
                    candidate: format!("{} {on}", step.describe(m)),
                    reason,
                },
            }),
        }
    }
    Search {
        group_index,
        model: m,
        fit: None,
        failures,
    }
}

pub(super) fn deployment(fit: &Fit<'_>) -> Result<Deployment, RecommendError> {
    let m = fit.model;
    let ckpt =
        m.checkpoint(fit.step.precision)
            .ok_or_else(|| RecommendError::PrecisionUnavailable {
                model: m.id.clone(),
                precision: super::serde_name(fit.step.precision),
                available: String::new(),
            })?;
    let cc = fit
        .gpus
        .first()
        .map(|g| g.compute_capability)
        .unwrap_or(ComputeCapability::new(0, 0));
    let label = fit
        .gpus
        .first()
        .map(|g| g.label.clone())
        .unwrap_or_default();
    let served = m.served_name.clone();
    let mut notes = Vec::new();
    if let Some(c) = &ckpt.caution {
        notes.push(format!("{}: {c}", ckpt.hf_repo));
    }
    if m.license.requires_acceptance() {
        notes.push(format!("Licence accepted: {}.", m.license.describe()));
    }
    if let Some(step) = &ckpt.setup {
        notes.push(format!("Before the first start: {step}."));
    }
    if m.gitlab.status == crate::catalog::SupportStatus::Beta {
        notes.push(format!(
            "Beta in GitLab: register it with model family '{}'.",
            m.gitlab.family
        ));
    }
    let vllm_args = args::vllm_args(&VllmConfig {
        checkpoint: ckpt,
        served_name: &served,
        precision: fit.step.precision,
        tp: fit.tp,
        dp: fit.dp,
        max_model_len: fit.step.context,
        gmu_pct: fit.gmu_pct,
        kv_fp8: fit.step.kv_fp8,
        cc,
    });
    Ok(Deployment {
        model: m.id.clone(),
        model_name: m.name.clone(),
        engine: Engine::Vllm,
        accelerator: Accelerator::NvidiaCuda,
        hf_repo: Some(ckpt.hf_repo.clone()),
        ollama_model: None,
        precision: fit.step.precision,
        dtype: args::dtype(fit.step.precision, cc).to_string(),
        kv_cache_dtype: if fit.step.kv_fp8 {
            KvCacheDtype::Fp8
        } else {
            KvCacheDtype::Auto
        },
        tensor_parallel_size: fit.tp,
        data_parallel_size: fit.dp,
        gpus: fit.gpus.iter().map(|g| g.index).collect(),
        gpu_name: label.clone(),
        max_model_len: fit.step.context,
        largest_context: sizing::largest_fitting_context(fit.capacity, m.max_context),
        gpu_memory_utilization: f64::from(fit.gmu_pct) / 100.0,
        capacity_tokens: fit.capacity,
        concurrency: (fit.concurrency() * 100.0).round() / 100.0,
        total_capacity_tokens: fit.capacity * u64::from(fit.dp),
        total_concurrency: (fit.concurrency() * f64::from(fit.dp) * 100.0).round() / 100.0,
        memory_per_gpu: MemoryPerGpu::of(&fit.share),
        served_model_name: served.clone(),
        gitlab: GitlabModel::of(m, &served),
        features: m.features.clone(),
        license: m.license.id().to_string(),
        vllm_args,
        ollama_env: Vec::new(),
        notes,
        summary: summary(fit, &label),
    })
}

/// "Mixtral 8x7B Instruct v0.1 FP8 on 1× H100: 43.7 GiB weights + 2.0 GiB overhead of a 71.7 GiB budget
/// → 25.9 GiB KV ≈ 213k tokens = 6.5 concurrent 32k sequences"; with data parallelism the replicas and the
/// total follow ("…; ×8 replicas (DP=8) on 8 GPUs ≈ 1705k tokens = 52.0 concurrent 32k sequences").
fn summary(fit: &Fit<'_>, label: &str) -> String {
    let s = &fit.share;
    let mut line = format!(
        "{} {}{} on {}× {label}{}: {}{} weights + {} overhead of a {} budget → {} KV ≈ {} tokens = {:.1} concurrent {} sequences",
        fit.model.name,
        fit.step.precision.label(),
        if fit.step.kv_fp8 { " (FP8 KV cache)" } else { "" },
        fit.tp,
        if fit.tp > 1 { format!(" (TP={})", fit.tp) } else { String::new() },
        if fit.tp > 1 { "per GPU " } else { "" },
        gib(s.weights),
        gib(s.overhead),
        gib(s.budget),
        gib(s.kv_bytes()),
        ktokens(fit.capacity),
        fit.concurrency(),
        ctx_label(fit.step.context)
    );
    if fit.dp > 1 {
        line.push_str(&format!(
            " per replica; ×{dp} replicas (DP={dp}) on {n} GPUs ≈ {} tokens = {:.1} concurrent {} sequences",
            ktokens(fit.capacity * u64::from(fit.dp)),
            fit.concurrency() * f64::from(fit.dp),
            ctx_label(fit.step.context),
            dp = fit.dp,
            n = fit.gpus.len(),
        ));
    }
    line
}

pub(super) fn plan(ctx: &Ctx<'_>) -> Result<Outcome, RecommendError> {
    let groups = groups(&ctx.machine.gpus);
    let mut searches: Vec<Search<'_>> = Vec::new();
    for (gi, group) in groups.iter().enumerate() {
        for m in &ctx.models {
            searches.push(search(ctx, gi, group, m));
        }
    }
    let chosen = searches
        .iter()
        .filter_map(|s| s.fit.as_ref().map(|f| (s, f)))
        .max_by_key(|(s, f)| (f.key(), Reverse(s.group_index)))
        .map(|(s, f)| (s.group_index, s.model.id.clone(), f.clone()));

    let mut out = Outcome {
        had_target: true,
        ..Outcome::default()
    };
    out.explanation.push(format!(
        "Engine: vLLM on {} with {}.",
        ctx.machine.platform.describe(),
        groups
            .iter()
            .map(Group::describe)
            .collect::<Vec<_>>()
            .join(" and ")
    ));
    platform_notes(ctx, &mut out.explanation);
    if groups.iter().any(|g| g.cc().major >= 10) {
        out.explanation.push(format!(
            "Blackwell: FP8 runs as W8A8 (compute capability ≥ {CC_FP8_W8A8}). {}.",
            crate::catalog::model::FP4_REFUSAL
        ));
    }

    let Some((gi, model_id, fit)) = chosen else {
        for s in &searches {
            out.rejected
                .extend(s.failures.iter().map(|f| f.rejection.clone()));
        }
        out.explanation.push(
            "Nothing fits: no candidate model reaches 2 concurrent sequences of at least 16384 tokens \
             on these GPUs (see rejected). Options: more or larger GPUs, an older GitLab version's \
             smaller models (--gitlab-version), or an existing OpenAI-compatible endpoint."
                .to_string(),
        );
        out.spare_gpus = spares(ctx, &groups, None);
        return Ok(out);
    };

    let rank = fit.model.rank;
    let mut own_failures: Vec<(Step, Rejection)> = Vec::new();
    for s in &searches {
        if s.group_index == gi && s.model.id == model_id {
            out.rejected
                .extend(s.failures.iter().map(|f| f.rejection.clone()));
            own_failures.extend(
                s.failures
                    .iter()
                    .filter_map(|f| f.step.map(|st| (st, f.rejection.clone()))),
            );
        } else if s.model.rank > rank {
            // A more capable model that fits nowhere: its most lenient rung says why.
            if let Some(last) = s.failures.last() {
                out.rejected.push(last.rejection.clone());
            }
        }
    }
    let rec = deployment(&fit)?;
    out.explanation
        .push(format!("Recommended: {}.", rec.summary));
    out.explanation.push(precision_line(
        &fit,
        &own_failures,
        ctx.request.precision.is_some(),
    ));
    out.explanation.push(format!("{}.", fit.tp_reason));
    out.explanation.extend(dp_line(ctx, &groups[gi], &fit));
    let group = &groups[gi];
    let n = group.gpus.len();
    if let Ok(n32) = u32::try_from(n) {
        if ctx.request.tp.is_none() && fit.tp < n32 {
            if let Err(p) = sizing::check_tp(&fit.model.architecture(), n32) {
                out.explanation.push(format!("{p}."));
                out.rejected.push(Rejection {
                    candidate: format!("{} on {n}× {}", fit.model.id, group.label()),
                    reason: p.to_string(),
                });
            }
        }
    }
    out.explanation
        .push(context_line(&fit, &rec, &own_failures));
    if fit.step.kv_fp8 {
        out.explanation.push(
            "FP8 KV cache halves the memory per token (compute capability ≥ 8.9); uncalibrated scales \
             can cost some accuracy."
                .to_string(),
        );
    }
    out.explanation.extend(rec.notes.iter().cloned());
    out.recommendation = Some(rec);

    // Alternatives: the best fit of every other model (and other GPU groups), best first.
    let mut others: Vec<&Fit<'_>> = searches
        .iter()
        .filter_map(|s| s.fit.as_ref())
        .filter(|f| !(f.model.id == model_id && same_gpus(f, &fit)))
        .collect();
    others.sort_by_key(|f| Reverse(f.key()));
    let mut seen = vec![model_id.clone()];
    for f in others {
        if seen.contains(&f.model.id) {
            continue;
        }
        seen.push(f.model.id.clone());
        out.alternatives.push(deployment(f)?);
        if out.alternatives.len() == 3 {
            break;
        }
    }
    out.spare_gpus = spares(ctx, &groups, Some((gi, &fit)));
    Ok(out)
}

/// Why this many replicas; nothing when the replica already uses the whole group.
fn dp_line(ctx: &Ctx<'_>, group: &Group<'_>, fit: &Fit<'_>) -> Option<String> {
    let n = group.gpus.len();
    let used = fit.gpus.len();
    let left = n.saturating_sub(used);
    let tp = usize::try_from(fit.tp).unwrap_or(usize::MAX);
    if ctx.machine.platform == Platform::WindowsWsl2 && left >= tp {
        return Some(
            "DP=1: data parallelism coordinates its replicas over NCCL, which fails under WSL2 (vLLM \
             #5161); the other GPUs stay spare."
                .to_string(),
        );
    }
    if fit.dp > 1 {
        return Some(format!(
            "DP={dp}: {dp} replicas of TP={tp} use {used} of the {n} identical GPUs in one vLLM server \
             (--data-parallel-size {dp}; it balances requests across its replicas){}.",
            if left > 0 {
                format!("; {left} left over (a replica needs {tp})")
            } else {
                String::new()
            },
            dp = fit.dp,
        ));
    }
    if left == 0 {
        None
    } else if left >= tp {
        Some(format!(
            "DP=1: another replica does not fit on the remaining GPUs at --gpu-memory-utilization {:.2}.",
            f64::from(fit.gmu_pct) / 100.0
        ))
    } else {
        Some(format!(
            "DP=1: {left} GPU(s) left over; another replica of TP={tp} needs {tp}."
        ))
    }
}

fn same_gpus(a: &Fit<'_>, b: &Fit<'_>) -> bool {
    a.gpus
        .iter()
        .map(|g| g.index)
        .eq(b.gpus.iter().map(|g| g.index))
}

fn precision_line(fit: &Fit<'_>, failures: &[(Step, Rejection)], fixed: bool) -> String {
    let p = fit.step.precision;
    if fixed {
        return format!("Precision {}: fixed by --precision.", p.label());
    }
    // Only the higher rungs explain the precision; same-tier failures explain the context (below).
    let higher: Vec<String> = failures
        .iter()
        .filter(|(st, _)| st.precision.tier() < p.tier())
        .map(|(_, r)| r.reason.clone())
        .collect();
    let chosen = match p {
        Precision::Bf16 => "bf16: the original weights, first choice".to_string(),
        Precision::Fp16 => {
            "fp16: the original weights; this GPU has no bf16 (compute capability < 8.0)"
                .to_string()
        }
        Precision::Fp8 => "FP8: a pre-quantised checkpoint, second choice".to_string(),
        _ => format!("{}: the last rung of the ladder", p.label()),
    };
    if higher.is_empty() {
        format!("Precision {chosen}.")
    } else {
        format!("Precision {chosen}, because {}.", higher.join("; "))
    }
}

fn context_line(fit: &Fit<'_>, rec: &Deployment, failures: &[(Step, Rejection)]) -> String {
    let largest = rec
        .largest_context
        .map(|l| {
            format!(" The largest context this configuration fits is {l} tokens (--context {l}).")
        })
        .unwrap_or_default();
    let longer: Vec<String> = failures
        .iter()
        .filter(|(st, _)| {
            st.context > fit.step.context && st.precision.tier() == fit.step.precision.tier()
        })
        .map(|(st, r)| {
            if st.kv_fp8 {
                format!("with an FP8 KV cache, {}", r.reason)
            } else {
                r.reason.clone()
            }
        })
        .collect();
    let why = if !longer.is_empty() {
        format!(
            "{} did not fit ({})",
            ctx_label(sizing::PREFERRED_CONTEXT),
            longer.join("; ")
        )
    } else if fit.step.context == sizing::PREFERRED_CONTEXT {
        "the preferred context".to_string()
    } else if fit.step.context == fit.model.max_context {
        "the model's maximum".to_string()
    } else {
        "as requested".to_string()
    };
    format!(
        "Context {} tokens: {why}; KV capacity {} tokens ≥ 2 × {}.{largest}",
        fit.step.context, fit.capacity, fit.step.context
    )
}

fn platform_notes(ctx: &Ctx<'_>, lines: &mut Vec<String>) {
    match ctx.machine.platform {
        Platform::WindowsWsl2 => lines.push(
            "WSL2: multi-GPU NCCL fails repeatedly there (vLLM #5161, #4411), so plans use one GPU \
             unless --tp says otherwise."
                .to_string(),
        ),
        Platform::LinuxArm64 => lines.push(
            "arm64: the vllm/vllm-openai image is published for linux/amd64 only; use a build for \
             aarch64 (recent releases ship aarch64 CUDA wheels) and run the gateway under amd64 emulation."
                .to_string(),
        ),
        _ => {}
    }
    for g in &ctx.machine.gpus {
        if g.memory_free_mib * 100 < g.memory_total_mib * 91 && usable(g).is_ok() {
            lines.push(format!(
                "GPU {} ({}): {} of {} already in use, so --gpu-memory-utilization drops to {:.2} \
                 (vLLM refuses to start unless that share is free).",
                g.index,
                g.label,
                gib((g.memory_total_mib - g.memory_free_mib) * sizing::MIB),
                gib(g.memory_total_mib * sizing::MIB),
                f64::from(sizing::gpu_memory_utilization_pct(
                    g.memory_total_mib,
                    g.memory_free_mib
                )) / 100.0
            ));
        }
    }
}

/// Every GPU not in the recommendation: another replica, spare, or unusable — never silently used.
fn spares(ctx: &Ctx<'_>, groups: &[Group<'_>], chosen: Option<(usize, &Fit<'_>)>) -> Vec<SpareGpu> {
    let mut out = Vec::new();
    for g in &ctx.machine.gpus {
        if let Err(why) = usable(g) {
            out.push(SpareGpu {
                index: g.index,
                name: g.label.clone(),
                role: SpareRole::Unusable,
                note: format!("not used by vLLM: {why}"),
            });
        }
    }
    let Some((gi, fit)) = chosen else {
        return out;
    };
    for (i, group) in groups.iter().enumerate() {
        let used: Vec<u32> = if i == gi {
            fit.gpus.iter().map(|g| g.index).collect()
        } else {
            Vec::new()
        };
        let left: Vec<&GpuSlot> = group
            .gpus
            .iter()
            .copied()
            .filter(|g| !used.contains(&g.index))
            .collect();
        let t = usize::try_from(fit.tp).unwrap_or(usize::MAX);
        let mut rest = left.as_slice();
        // Whole replicas of the same configuration on identical leftovers.
        if i == gi {
            while rest.len() >= t {
                let (take, tail) = rest.split_at(t);
                let (share, _) = share_for(fit.model, fit.step, take, fit.tp);
                if !sizing::fits(share.capacity_tokens(), fit.step.context) {
                    break;
                }
                let idx: Vec<String> = take.iter().map(|g| g.index.to_string()).collect();
                for g in take {
                    out.push(SpareGpu {
                        index: g.index,
                        name: g.label.clone(),
                        role: SpareRole::SecondReplica,
                        note: format!(
                            "can run another replica of the same configuration on GPU(s) {} (a separate \
                             vLLM behind a load balancer)",
                            idx.join(", ")
                        ),
                    });
                }
                rest = tail;
            }
        } else if !rest.is_empty() {
            // A different kind of GPU: the same model as a separate deployment, if it fits there.
            let sub = Group {
                gpus: rest.to_vec(),
            };
            let s = search(ctx, i, &sub, fit.model);
            if let Some(f) = s.fit {
                for g in &f.gpus {
                    out.push(SpareGpu {
                        index: g.index,
                        name: g.label.clone(),
                        role: SpareRole::SecondReplica,
                        note: format!(
                            "different GPU type, so not in the same tensor-parallel group; can run a second \
                             replica: {}",
                            summary(&f, &g.label)
                        ),
                    });
                }
                let used2: Vec<u32> = f.gpus.iter().map(|g| g.index).collect();
                let remaining: Vec<&GpuSlot> = rest
                    .iter()
                    .copied()
                    .filter(|g| !used2.contains(&g.index))
                    .collect();
                push_spare(&mut out, &remaining, "left over");
                continue;
            }
            push_spare(
                &mut out,
                rest,
                &format!(
                    "different GPU type, so not in the same tensor-parallel group, and too small for \
                     another replica of {}",
                    fit.model.id
                ),
            );
            continue;
        }
        push_spare(
            &mut out,
            rest,
            &format!(
                "left over: tensor parallelism for {} uses 1, 2, 4 or 8 identical GPUs",
                fit.model.id
            ),
        );
    }
    out.sort_by_key(|s| s.index);
    out
}

fn push_spare(out: &mut Vec<SpareGpu>, gpus: &[&GpuSlot], note: &str) {
    for g in gpus {
        out.push(SpareGpu {
            index: g.index,
            name: g.label.clone(),
            role: SpareRole::Spare,
            note: format!("spare ({note})"),
        });
    }
}
