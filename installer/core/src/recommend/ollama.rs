//! Where vLLM cannot serve: Ollama on Apple silicon (Metal), AMD (ROCm) or pre-Turing NVIDIA GPUs, and the
//! no-GPU case (no production serving; a CPU evaluation setup at most).

use super::{
    contexts, ctx_label, vllm, Accelerator, Ctx, Deployment, Engine, GitlabModel, KvCacheDtype,
    MemoryPerGpu, Outcome, Platform, RecommendError, Rejection, SpareGpu, SpareRole,
};
use crate::catalog::gpu::ComputeCapability;
use crate::catalog::gpu::CC_VLLM_MIN;
use crate::catalog::{ModelSpec, Precision};
use crate::sizing::{self, gib, ktokens, GpuShare, GIB, MIB};

/// Ollama's own floor for NVIDIA GPUs.
const OLLAMA_CC_MIN: ComputeCapability = ComputeCapability::new(5, 0);
/// Metal lets a process wire about 65–75 % of unified memory (community figures); plan with the low end.
const METAL_PCT: u32 = 65;
const VRAM_PCT: u32 = 90;
/// A CPU evaluation leaves half the RAM to the OS, Docker and the gateway.
const CPU_PCT: u32 = 50;

struct Target {
    accelerator: Accelerator,
    label: String,
    gpus: Vec<u32>,
    memory_mib: u64,
    pct: u32,
    /// "unified memory", "VRAM", "RAM".
    what: &'static str,
}

fn target(ctx: &Ctx<'_>) -> Result<Target, String> {
    let m = ctx.machine;
    if m.platform == Platform::MacosArm64 {
        return match m.ram_mib {
            Some(ram) => Ok(Target {
                accelerator: Accelerator::AppleMetal,
                label: "Apple silicon".to_string(),
                gpus: Vec::new(),
                memory_mib: ram,
                pct: METAL_PCT,
                what: "unified memory",
            }),
            None => Err("the Mac's memory is unknown (pass --ram-gib)".to_string()),
        };
    }
    if !m.platform.runs_vllm() {
        return Err(format!(
            "containers on {} get no GPU",
            m.platform.describe()
        ));
    }
    // Pre-Turing NVIDIA cards: the largest group of identical ones, split by layers across them.
    let old: Vec<_> = m
        .gpus
        .iter()
        .filter(|g| {
            g.compute_capability >= OLLAMA_CC_MIN
                && g.compute_capability < CC_VLLM_MIN
                && !g.mig_enabled
        })
        .collect();
    if let Some(first) = old.iter().max_by_key(|g| g.memory_total_mib) {
        let same: Vec<_> = old
            .iter()
            .filter(|g| g.label == first.label && g.memory_total_mib == first.memory_total_mib)
            .collect();
        return Ok(Target {
            accelerator: Accelerator::NvidiaCuda,
            label: format!("{}× {}", same.len(), first.label),
            gpus: same.iter().map(|g| g.index).collect(),
            memory_mib: same
                .iter()
                .map(|g| g.memory_free_mib.min(g.memory_total_mib))
                .sum(),
            pct: VRAM_PCT,
            what: "VRAM",
        });
    }
    if let Some(amd) = m
        .amd_gpus
        .iter()
        .filter(|a| a.memory_mib.is_some())
        .max_by_key(|a| a.memory_mib)
    {
        return Ok(Target {
            accelerator: Accelerator::AmdRocm,
            label: amd.name.clone(),
            gpus: Vec::new(),
            memory_mib: amd.memory_mib.unwrap_or(0),
            pct: VRAM_PCT,
            what: "VRAM",
        });
    }
    if m.gpus.iter().any(|g| g.mig_enabled) {
        return Err(
            "every NVIDIA GPU has MIG enabled; disable MIG (nvidia-smi -mig 0) to serve from it"
                .to_string(),
        );
    }
    Err("no GPU".to_string())
}

struct OllamaFit<'a> {
    model: &'a ModelSpec,
    context: u32,
    share: GpuShare,
    capacity: u64,
}

fn try_model<'a>(ctx: &Ctx<'_>, m: &'a ModelSpec, t: &Target) -> Result<OllamaFit<'a>, Rejection> {
    let budget = t.memory_mib * MIB * u64::from(t.pct) / 100;
    let share = GpuShare {
        budget,
        weights: m.weight_bytes(Precision::Q4KM),
        overhead: 3 * GIB / 2,
        kv_per_token: sizing::kv_bytes_per_token(&m.architecture(), 1, 2),
    };
    let capacity = share.capacity_tokens();
    let ctxs = contexts(ctx.request.context, m);
    for &c in &ctxs {
        if sizing::fits(capacity, c) {
            return Ok(OllamaFit {
                model: m,
                context: c,
                share,
                capacity,
            });
        }
    }
    let last = ctxs.last().copied().unwrap_or(sizing::MIN_CONTEXT);
    let reason = if share.shortfall() > 0 {
        format!(
            "GGUF Q4_K_M needs {} ({} weights + {} overhead), budget {} ({} % of {} {})",
            gib(share.weights + share.overhead),
            gib(share.weights),
            gib(share.overhead),
            gib(budget),
            t.pct,
            gib(t.memory_mib * MIB),
            t.what
        )
    } else {
        format!(
            "{} KV ≈ {} tokens, fewer than the {} that 2 concurrent {} sequences need",
            gib(share.kv_bytes()),
            ktokens(capacity),
            ktokens(2 * u64::from(last)),
            ctx_label(last)
        )
    };
    Err(Rejection {
        candidate: format!("{} GGUF Q4_K_M on {}", m.id, t.label),
        reason,
    })
}

fn deployment(f: &OllamaFit<'_>, t: &Target) -> Deployment {
    let m = f.model;
    let tag = m.ollama_tag.clone();
    let conc = sizing::concurrency(f.capacity, f.context);
    let parallel = (f.capacity / u64::from(f.context)).clamp(1, sizing::TARGET_CONCURRENCY);
    let mut notes = vec![format!(
        "GitLab documents vLLM for self-hosted models; Ollama serves an OpenAI-compatible endpoint \
         (http://<host>:11434/v1, model identifier custom_openai/{tag}) fit for evaluation and small teams."
    )];
    if m.license.requires_acceptance() {
        notes.push(format!("Licence accepted: {}.", m.license.describe()));
    }
    Deployment {
        model: m.id.clone(),
        model_name: m.name.clone(),
        engine: Engine::Ollama,
        accelerator: t.accelerator,
        hf_repo: None,
        ollama_model: Some(tag.clone()),
        precision: Precision::Q4KM,
        dtype: "float16".to_string(),
        kv_cache_dtype: KvCacheDtype::Auto,
        tensor_parallel_size: 1,
        data_parallel_size: 1,
        gpus: t.gpus.clone(),
        gpu_name: t.label.clone(),
        max_model_len: f.context,
        largest_context: sizing::largest_fitting_context(f.capacity, m.max_context),
        gpu_memory_utilization: f64::from(t.pct) / 100.0,
        capacity_tokens: f.capacity,
        concurrency: (conc * 100.0).round() / 100.0,
        total_capacity_tokens: f.capacity,
        total_concurrency: (conc * 100.0).round() / 100.0,
        memory_per_gpu: MemoryPerGpu::of(&f.share),
        served_model_name: tag.clone(),
        gitlab: GitlabModel::of(m, &tag),
        features: m.features.clone(),
        license: m.license.id().to_string(),
        vllm_args: Vec::new(),
        ollama_env: vec![
            "OLLAMA_HOST=0.0.0.0:11434".to_string(),
            format!("OLLAMA_CONTEXT_LENGTH={}", f.context),
            format!("OLLAMA_NUM_PARALLEL={parallel}"),
        ],
        notes,
        summary: format!(
            "{} GGUF Q4_K_M under Ollama ({}) on {}: {} weights + {} overhead of a {} budget ({} % of {} {}) → {} KV ≈ {} tokens = {:.1} concurrent {} sequences",
            m.name,
            t.accelerator.describe(),
            t.label,
            gib(f.share.weights),
            gib(f.share.overhead),
            gib(f.share.budget),
            t.pct,
            gib(t.memory_mib * MIB),
            t.what,
            gib(f.share.kv_bytes()),
            ktokens(f.capacity),
            conc,
            ctx_label(f.context)
        ),
    }
}

/// Most capable model that fits `t`, alternatives, and why the more capable ones did not.
fn choose(ctx: &Ctx<'_>, t: &Target) -> (Option<Deployment>, Vec<Deployment>, Vec<Rejection>) {
    let mut chosen = None;
    let mut alternatives = Vec::new();
    let mut rejected = Vec::new();
    for m in &ctx.models {
        match try_model(ctx, m, t) {
            Ok(f) if chosen.is_none() => chosen = Some(deployment(&f, t)),
            Ok(f) if alternatives.len() < 3 => alternatives.push(deployment(&f, t)),
            Ok(_) => {}
            Err(r) if chosen.is_none() => rejected.push(r),
            Err(_) => {}
        }
    }
    (chosen, alternatives, rejected)
}

pub(super) fn plan(ctx: &Ctx<'_>) -> Result<Outcome, RecommendError> {
    let m = ctx.machine;
    let mut out = Outcome::default();
    let target = target(ctx);
    for (flag, set) in [
        ("precision", ctx.request.precision.is_some()),
        ("tp", ctx.request.tp.is_some()),
    ] {
        if set {
            return Err(RecommendError::NotApplicable {
                flag: flag.to_string(),
                why: format!(
                    "it sets vLLM's precision and tensor parallelism, and this machine has no GPU vLLM can \
                     use ({}); its plan uses Ollama's GGUF Q4_K_M on one device",
                    target
                        .as_ref()
                        .map(|t| t.label.clone())
                        .unwrap_or_else(|e| e.clone())
                ),
            });
        }
    }
    let served: Vec<u32> = target.as_ref().map(|t| t.gpus.clone()).unwrap_or_default();
    for g in m.gpus.iter().filter(|g| !served.contains(&g.index)) {
        if let Err(why) = vllm::usable(g) {
            out.spare_gpus.push(SpareGpu {
                index: g.index,
                name: g.label.clone(),
                role: SpareRole::Unusable,
                note: format!("not used: {why}"),
            });
        }
    }
    match target {
        Ok(t) => {
            out.had_target = true;
            out.explanation.push(match t.accelerator {
                Accelerator::AppleMetal => format!(
                    "Engine: Ollama on Apple silicon (Metal), natively: Docker containers on macOS get no \
                     GPU. Only the gateway runs in Docker, as linux/amd64 under emulation. Budget: {} % of \
                     {} unified memory (Metal's working-set limit).",
                    t.pct,
                    gib(t.memory_mib * MIB)
                ),
                Accelerator::AmdRocm => format!(
                    "Engine: Ollama with ROCm on {}: the vLLM image this installer runs is built for NVIDIA \
                     CUDA.",
                    t.label
                ),
                _ => format!(
                    "Engine: Ollama (CUDA) on {}: current vLLM cannot serve compute capability below \
                     {CC_VLLM_MIN} (no attention backend supports Volta); Ollama splits the model's layers \
                     across the cards.",
                    t.label
                ),
            });
            let (rec, alts, rejected) = choose(ctx, &t);
            out.rejected = rejected;
            match &rec {
                Some(d) => {
                    out.explanation.push(format!("Recommended: {}.", d.summary));
                    out.explanation.push(format!(
                        "Context {} tokens; KV capacity {} tokens ≥ 2 × {}; Ollama settings: {}.",
                        d.max_model_len,
                        d.capacity_tokens,
                        d.max_model_len,
                        d.ollama_env.join(" ")
                    ));
                    out.explanation.extend(d.notes.iter().cloned());
                }
                None => out.explanation.push(format!(
                    "Nothing fits {}: see rejected. Options: a machine with more memory, an older GitLab \
                     version's smaller models (--gitlab-version), or an existing OpenAI-compatible endpoint.",
                    t.label
                )),
            }
            out.recommendation = rec;
            out.alternatives = alts;
        }
        Err(why) => {
            out.explanation.push(format!(
                "No production serving on this machine: {why}. A model server for GitLab Duo needs an \
                 NVIDIA GPU with compute capability ≥ {CC_VLLM_MIN} on Linux or WSL2 (vLLM), Apple silicon, \
                 or an AMD GPU (Ollama)."
            ));
            out.explanation.push(
                "Options: point the gateway at an existing OpenAI-compatible endpoint (vLLM, Ollama or a \
                 cloud provider) elsewhere in your network, or try a CPU evaluation setup (slow: a few \
                 tokens a second)."
                    .to_string(),
            );
            if let Some(ram) = m.ram_mib.filter(|_| m.platform != Platform::MacosArm64) {
                let cpu = Target {
                    accelerator: Accelerator::Cpu,
                    label: "CPU".to_string(),
                    gpus: Vec::new(),
                    memory_mib: ram,
                    pct: CPU_PCT,
                    what: "RAM",
                };
                let (eval, _, _) = choose(ctx, &cpu);
                match eval {
                    Some(d) => {
                        out.explanation
                            .push(format!("CPU evaluation (alternative, not for production): {}.", d.summary));
                        out.alternatives.push(d);
                    }
                    None => out.explanation.push(format!(
                        "Not even a CPU evaluation fits {} of RAM with the models GitLab {} supports.",
                        gib(ram * MIB),
                        ctx.version
                    )),
                }
            }
        }
    }
    Ok(out)
}
