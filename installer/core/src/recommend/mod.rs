//! The recommendation policy: which engine, model, precision, tensor-parallel size and context, with the
//! arithmetic that justifies each choice and each rejection. Pure functions over a [`Machine`] (built from
//! `detect` or from what-if flags) and a [`Request`] (the admin's overrides). See docs/recommend.md.

mod to_spec;
pub use to_spec::{from_deployment, Answers};
mod args;
pub mod demand;
pub mod error;
pub mod machine;
mod ollama;
mod vllm;

use serde::Serialize;

pub use error::RecommendError;
pub use machine::{GpuSlot, Machine, Platform};

use crate::catalog::gitlab::FIRST_SELF_HOSTED;
use crate::catalog::{
    Catalog, DuoFeature, GitlabVersion, ModelSpec, Precision, SupportStatus, NEWEST_KNOWN,
};
use crate::sizing::{self, GpuShare, GIB};

/// Bumped when a field of the recommendation's JSON changes meaning or disappears.
pub const RECOMMENDATION_SCHEMA_VERSION: u32 = 1;

/// What the admin asked for; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// Default: the newest version the catalog knows.
    pub gitlab_version: Option<GitlabVersion>,
    pub model: Option<String>,
    pub precision: Option<Precision>,
    pub tp: Option<u32>,
    pub context: Option<u32>,
    /// Model ids (or licence ids) whose licence the admin accepts.
    pub accept_licenses: Vec<String>,
    /// Developers who will use Duo: sizes the expected peak (docs/sizing.md). Without it, no demand check.
    pub developers: Option<u32>,
}

impl Request {
    fn has_overrides(&self) -> bool {
        self.model.is_some()
            || self.precision.is_some()
            || self.tp.is_some()
            || self.context.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    CannotServe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    Vllm,
    Ollama,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Accelerator {
    NvidiaCuda,
    AppleMetal,
    AmdRocm,
    Cpu,
}

impl Accelerator {
    fn describe(self) -> &'static str {
        match self {
            Accelerator::NvidiaCuda => "CUDA",
            Accelerator::AppleMetal => "Metal",
            Accelerator::AmdRocm => "ROCm",
            Accelerator::Cpu => "CPU only",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KvCacheDtype {
    /// The model's dtype (bf16 or fp16).
    Auto,
    Fp8,
}

/// One GPU's memory, in GiB (two decimals).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemoryPerGpu {
    pub budget_gib: f64,
    pub weights_gib: f64,
    pub overhead_gib: f64,
    pub kv_cache_gib: f64,
}

impl MemoryPerGpu {
    fn of(s: &GpuShare) -> Self {
        let g = |b: u64| (b as f64 / GIB as f64 * 100.0).round() / 100.0;
        MemoryPerGpu {
            budget_gib: g(s.budget),
            weights_gib: g(s.weights),
            overhead_gib: g(s.overhead),
            kv_cache_gib: g(s.kv_bytes()),
        }
    }
}

/// What to enter in GitLab (Admin > GitLab Duo > Add self-hosted model).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GitlabModel {
    pub model_family: String,
    pub model_identifier: String,
    pub support: SupportStatus,
}

impl GitlabModel {
    /// What GitLab's registration needs for `m` served under `served`.
    pub(crate) fn of(m: &ModelSpec, served: &str) -> Self {
        Self {
            model_family: m.gitlab.family.clone(),
            model_identifier: m.gitlab_identifier(served),
            support: m.gitlab.status,
        }
    }
}

/// A complete, startable serving configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deployment {
    /// Catalog id.
    pub model: String,
    pub model_name: String,
    pub engine: Engine,
    pub accelerator: Accelerator,
    /// The checkpoint vLLM loads; absent for Ollama.
    pub hf_repo: Option<String>,
    /// The Ollama library tag; absent for vLLM.
    pub ollama_model: Option<String>,
    pub precision: Precision,
    /// Activation dtype (`--dtype`).
    pub dtype: String,
    pub kv_cache_dtype: KvCacheDtype,
    pub tensor_parallel_size: u32,
    /// Replicas of the TP group in the one vLLM server (`--data-parallel-size`; 1 for one replica).
    pub data_parallel_size: u32,
    /// NVML indices of the GPUs used, `tensor_parallel_size × data_parallel_size` of them (empty for
    /// Metal/CPU).
    pub gpus: Vec<u32>,
    pub gpu_name: String,
    pub max_model_len: u32,
    /// The largest context this same configuration fits (what `--context` may be raised to).
    pub largest_context: Option<u32>,
    pub gpu_memory_utilization: f64,
    /// KV capacity of one replica, tokens.
    pub capacity_tokens: u64,
    /// Full-length sequences one replica holds at once.
    pub concurrency: f64,
    /// KV capacity of all replicas together.
    pub total_capacity_tokens: u64,
    /// Full-length sequences all replicas hold at once.
    pub total_concurrency: f64,
    pub memory_per_gpu: MemoryPerGpu,
    pub served_model_name: String,
    pub gitlab: GitlabModel,
    pub features: Vec<DuoFeature>,
    pub license: String,
    pub vllm_args: Vec<String>,
    /// Environment for `ollama serve`; empty for vLLM.
    pub ollama_env: Vec<String>,
    /// Caveats the admin must read (licence, community checkpoint, tokenizer preparation).
    pub notes: Vec<String>,
    /// The choice in one line, with its numbers.
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub candidate: String,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpareRole {
    /// Can run another copy of the model (behind a load balancer).
    SecondReplica,
    /// Usable, but not part of the recommendation.
    Spare,
    /// Cannot serve with the recommended engine.
    Unusable,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpareGpu {
    pub index: u32,
    pub name: String,
    pub role: SpareRole,
    pub note: String,
}

/// What [`recommend`] advises for a machine: the deployment to run, the alternatives, what was rejected and
/// why. (Not to be confused with `plan::Plan`, the steps that make a deployment spec real.)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub schema_version: u32,
    pub verdict: Verdict,
    pub gitlab_version: GitlabVersion,
    pub machine: Machine,
    pub recommendation: Option<Deployment>,
    pub alternatives: Vec<Deployment>,
    pub rejected: Vec<Rejection>,
    pub spare_gpus: Vec<SpareGpu>,
    pub explanation: Vec<String>,
    /// The team's expected peak against the recommendation; present when the number of developers was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub demand: Option<demand::Demand>,
}

/// Shared inputs of the planners.
pub(crate) struct Ctx<'a> {
    pub machine: &'a Machine,
    pub request: &'a Request,
    pub version: GitlabVersion,
    /// Models that may be chosen, most capable first.
    pub models: Vec<&'a ModelSpec>,
}

/// What a planner found.
#[derive(Default)]
pub(crate) struct Outcome {
    pub recommendation: Option<Deployment>,
    pub alternatives: Vec<Deployment>,
    pub rejected: Vec<Rejection>,
    pub spare_gpus: Vec<SpareGpu>,
    pub explanation: Vec<String>,
    /// Whether the machine has something to serve with (so an unmet override is an error, not a verdict).
    pub had_target: bool,
}

/// The recommendation for `machine` under `request`.
pub fn recommend(
    catalog: &Catalog,
    machine: &Machine,
    request: &Request,
) -> Result<Recommendation, RecommendError> {
    let version = request.gitlab_version.unwrap_or(NEWEST_KNOWN);
    if version < FIRST_SELF_HOSTED {
        return Err(RecommendError::VersionTooOld {
            version: version.to_string(),
        });
    }
    if let Some(c) = request.context {
        if c < sizing::MIN_CONTEXT {
            return Err(RecommendError::InvalidContext {
                context: c,
                reason: format!(
                    "GitLab Duo prompts need at least {} tokens of context; ask for {} or more",
                    sizing::MIN_CONTEXT,
                    sizing::MIN_CONTEXT
                ),
            });
        }
    }
    if let Some(n) = request.developers {
        if n == 0 || n > demand::MAX_DEVELOPERS {
            return Err(RecommendError::InvalidDevelopers {
                value: n,
                reason: format!(
                    "give the number of developers who will use GitLab Duo, 1 to {}",
                    demand::MAX_DEVELOPERS
                ),
            });
        }
    }
    check_accepts(catalog, request)?;
    let mut rejected = Vec::new();
    let models = match &request.model {
        Some(name) => vec![pinned_model(catalog, name, version, request)?],
        None => eligible_models(catalog, version, request, &mut rejected),
    };
    let ctx = Ctx {
        machine,
        request,
        version,
        models,
    };

    let mut explanation = vec![gitlab_line(&ctx)];
    if version > NEWEST_KNOWN {
        explanation.push(format!(
            "GitLab {version} is newer than this catalog's data ({NEWEST_KNOWN}): model support is assumed \
             unchanged since {NEWEST_KNOWN}."
        ));
    }
    explanation.extend(unknown_gpu_notes(machine));
    let usable_nvidia =
        machine.platform.runs_vllm() && machine.gpus.iter().any(|g| vllm::usable(g).is_ok());
    let mut outcome = if usable_nvidia {
        vllm::plan(&ctx)?
    } else {
        ollama::plan(&ctx)?
    };
    rejected.append(&mut outcome.rejected);

    if outcome.recommendation.is_none() && outcome.had_target && request.has_overrides() {
        return Err(RecommendError::CannotStart {
            summary: override_summary(request),
            details: rejected
                .iter()
                .map(|r| format!("{}: {}", r.candidate, r.reason))
                .collect(),
        });
    }
    explanation.append(&mut outcome.explanation);
    explanation.extend(
        outcome
            .spare_gpus
            .iter()
            .map(|s| format!("GPU {} ({}): {}.", s.index, s.name, s.note)),
    );
    explanation.extend(ram_notes(&ctx, outcome.recommendation.as_ref()));
    let demand = match (request.developers, outcome.recommendation.as_ref()) {
        (Some(n), Some(rec)) => {
            let d = team_demand(catalog, machine, request, n, rec, &outcome.alternatives);
            explanation.push(format!("Sized for the team: {}.", d.summary));
            if !d.enough {
                explanation.push(format!(
                    "Short of the expected peak; what would close the gap: {}.",
                    d.to_close_gap.join("; ")
                ));
            }
            Some(d)
        }
        _ => None,
    };
    Ok(Recommendation {
        schema_version: RECOMMENDATION_SCHEMA_VERSION,
        verdict: if outcome.recommendation.is_some() {
            Verdict::Ok
        } else {
            Verdict::CannotServe
        },
        gitlab_version: version,
        machine: machine.clone(),
        recommendation: outcome.recommendation,
        alternatives: outcome.alternatives,
        rejected,
        spare_gpus: outcome.spare_gpus,
        explanation,
        demand,
    })
}

/// The team's peak against `rec`; when it falls short, FP8 weights (same model, same machine) and the
/// alternatives are measured too.
fn team_demand(
    catalog: &Catalog,
    machine: &Machine,
    request: &Request,
    developers: u32,
    rec: &Deployment,
    alternatives: &[Deployment],
) -> demand::Demand {
    let p = demand::peak(developers);
    let held =
        |d: &Deployment| demand::requests_held(d.total_capacity_tokens, p.tokens_per_request);
    let mut better = Vec::new();
    if held(rec) < p.concurrent_requests {
        if request.precision.is_none() && rec.precision.tier() == 0 {
            let fp8 = Request {
                model: Some(rec.model.clone()),
                precision: Some(Precision::Fp8),
                developers: None,
                ..request.clone()
            };
            if let Ok(Some(d)) = recommend(catalog, machine, &fp8).map(|r| r.recommendation) {
                better.push((
                    format!("FP8 weights ({}, --precision fp8)", d.summary),
                    held(&d),
                ));
            }
        }
        for a in alternatives.iter().filter(|a| a.engine == rec.engine) {
            better.push((format!("a smaller model: {}", a.summary), held(a)));
        }
    }
    let fp8_kv = machine
        .gpus
        .iter()
        .filter(|g| rec.gpus.contains(&g.index))
        .all(|g| g.compute_capability >= crate::catalog::gpu::CC_FP8_W8A8)
        && !rec.gpus.is_empty();
    demand::assess(developers, rec, &better, fp8_kv)
}

/// Cards the catalog does not know: planned from their numbers, said once per kind.
fn unknown_gpu_notes(machine: &Machine) -> Vec<String> {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for g in machine.gpus.iter().filter(|g| !g.in_catalog) {
        if seen.contains(&g.label.as_str()) {
            continue;
        }
        seen.push(&g.label);
        let indices: Vec<String> = machine
            .gpus
            .iter()
            .filter(|o| o.label == g.label)
            .map(|o| o.index.to_string())
            .collect();
        out.push(format!(
            "GPU {} ({}): not in the catalog; planned from its memory total ({}) and compute capability \
             {} alone (its precisions follow from the compute capability; no measured figures).",
            indices.join(", "),
            g.label,
            sizing::gib(g.memory_total_mib * sizing::MIB),
            g.compute_capability
        ));
    }
    out
}

fn override_summary(r: &Request) -> String {
    let mut parts = Vec::new();
    if let Some(m) = &r.model {
        parts.push(format!("--model {m}"));
    }
    if let Some(p) = r.precision {
        parts.push(format!("--precision {}", serde_name(p)));
    }
    if let Some(t) = r.tp {
        parts.push(format!("--tp {t}"));
    }
    if let Some(c) = r.context {
        parts.push(format!("--context {c}"));
    }
    if parts.is_empty() {
        parts.push("the request".to_string());
    }
    format!(
        "nothing that satisfies {} fits this machine (vLLM would refuse it, or it would hold fewer \
         than {} full-length sequences); the reasons, with their numbers:",
        parts.join(" "),
        sizing::MIN_CONCURRENCY
    )
}

pub(crate) fn serde_name(p: Precision) -> String {
    serde_json::to_value(p)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| p.label().to_string())
}

fn check_accepts(catalog: &Catalog, request: &Request) -> Result<(), RecommendError> {
    let gated: Vec<&ModelSpec> = catalog
        .models
        .iter()
        .filter(|m| m.license.requires_acceptance())
        .collect();
    for value in &request.accept_licenses {
        let known = gated
            .iter()
            .any(|m| m.answers_to(value) || m.license.id() == value.to_ascii_lowercase());
        if !known {
            return Err(RecommendError::UnknownLicense {
                value: value.clone(),
                valid: gated
                    .iter()
                    .map(|m| format!("{} ({})", m.id, m.license.id()))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    Ok(())
}

fn accepted(m: &ModelSpec, request: &Request) -> bool {
    !m.license.requires_acceptance()
        || request
            .accept_licenses
            .iter()
            .any(|a| m.answers_to(a) || m.license.id() == a.to_ascii_lowercase())
}

fn pinned_model<'c>(
    catalog: &'c Catalog,
    name: &str,
    version: GitlabVersion,
    request: &Request,
) -> Result<&'c ModelSpec, RecommendError> {
    let m = catalog.model(name)?;
    if !m.gitlab.covers(version) {
        let alternatives: Vec<&str> = catalog
            .models
            .iter()
            .filter(|o| o.gitlab.covers(version))
            .map(|o| o.id.as_str())
            .collect();
        return Err(RecommendError::NotSupportedByGitlab {
            model: m.id.clone(),
            version: version.to_string(),
            range: m.gitlab.range(),
            hint: format!(
                "Models GitLab {version} supports: {}; or plan for another --gitlab-version",
                alternatives.join(", ")
            ),
        });
    }
    if !accepted(m, request) {
        return Err(RecommendError::LicenseNotAccepted {
            model: m.id.clone(),
            license: m.license.describe().to_string(),
        });
    }
    if let Some(p) = request.precision {
        if m.checkpoint(p).is_none() {
            return Err(RecommendError::PrecisionUnavailable {
                model: m.id.clone(),
                precision: serde_name(p),
                available: available_precisions(m),
            });
        }
    }
    if let Some(c) = request.context {
        if c > m.max_context {
            return Err(RecommendError::InvalidContext {
                context: c,
                reason: format!(
                    "{} supports at most {} tokens; ask for {} or less",
                    m.name, m.max_context, m.max_context
                ),
            });
        }
    }
    if let Some(t) = request.tp {
        sizing::check_tp(&m.architecture(), t).map_err(|p| RecommendError::InvalidTp {
            tp: t,
            reason: format!(
                "{p}. Valid sizes for {}: {}",
                m.id,
                valid_tps(m)
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;
    }
    Ok(m)
}

pub(crate) fn valid_tps(m: &ModelSpec) -> Vec<u32> {
    sizing::TP_SIZES
        .into_iter()
        .filter(|t| sizing::check_tp(&m.architecture(), *t).is_ok())
        .collect()
}

fn available_precisions(m: &ModelSpec) -> String {
    let mut v: Vec<String> = m
        .checkpoints
        .iter()
        .map(|c| serde_name(c.precision))
        .collect();
    // The bf16 checkpoint also runs as fp16.
    v.insert(1.min(v.len()), "fp16".to_string());
    v.join(", ")
}

/// Models chosen automatically for `version`, most capable first; the others become rejections.
fn eligible_models<'c>(
    catalog: &'c Catalog,
    version: GitlabVersion,
    request: &Request,
    rejected: &mut Vec<Rejection>,
) -> Vec<&'c ModelSpec> {
    let mut out = Vec::new();
    for m in &catalog.models {
        let reason = if !m.gitlab.covers(version) {
            Some(format!(
                "not supported by GitLab {version} (supported {})",
                m.gitlab.range()
            ))
        } else if m.license.requires_acceptance() {
            Some(format!(
                "{}: chosen only on request, with --model {} --accept-license {}",
                m.license.describe(),
                m.id,
                m.id
            ))
        } else if m.gitlab.status == SupportStatus::Beta {
            Some(format!(
                "beta in GitLab ({} family): chosen only on request, with --model {}",
                m.gitlab.family, m.id
            ))
        } else {
            None
        };
        match reason {
            Some(reason) => rejected.push(Rejection {
                candidate: m.id.clone(),
                reason,
            }),
            None => {
                if let Some(c) = request.context.filter(|c| *c > m.max_context) {
                    rejected.push(Rejection {
                        candidate: m.id.clone(),
                        reason: format!("--context {c} exceeds its {} tokens", m.max_context),
                    });
                } else {
                    out.push(m);
                }
            }
        }
    }
    out
}

fn gitlab_line(ctx: &Ctx<'_>) -> String {
    let names: Vec<&str> = ctx.models.iter().map(|m| m.name.as_str()).collect();
    if ctx.request.model.is_some() {
        format!(
            "GitLab {}: model fixed by --model: {}.",
            ctx.version,
            names.join(", ")
        )
    } else if names.is_empty() {
        format!(
            "GitLab {}: no catalog model is chosen automatically for this version.",
            ctx.version
        )
    } else {
        format!(
            "GitLab {}: candidates, most capable first: {}.",
            ctx.version,
            names.join(", ")
        )
    }
}

/// Host-RAM advice (GitLab: ≥ 32 GB for the serving host; loading wants the checkpoint to fit in RAM).
fn ram_notes(ctx: &Ctx<'_>, rec: Option<&Deployment>) -> Vec<String> {
    let Some(ram) = ctx.machine.ram_mib else {
        return Vec::new();
    };
    let mut notes = Vec::new();
    let ram_gib = ram as f64 / 1024.0;
    if rec.is_some_and(|d| d.engine == Engine::Vllm) && ram_gib < 30.0 {
        notes.push(format!(
            "Host RAM {ram_gib:.0} GiB is below the 32 GB GitLab asks of a model-serving host."
        ));
    }
    if let Some(d) = rec.filter(|d| d.engine == Engine::Vllm) {
        let weights = d.memory_per_gpu.weights_gib * f64::from(d.tensor_parallel_size);
        if ram_gib < weights {
            notes.push(format!(
                "Host RAM {ram_gib:.0} GiB is less than the {weights:.1} GiB checkpoint; at least the \
                 checkpoint's size makes loading comfortable."
            ));
        }
    }
    notes
}

/// The contexts to try for `m`, longest first: the one asked for, else the preferred context (capped at the
/// model's maximum) and then the minimum a fit needs. Both engines climb down this same ladder.
pub(crate) fn contexts(requested: Option<u32>, m: &ModelSpec) -> Vec<u32> {
    if let Some(c) = requested {
        return vec![c];
    }
    let hi = sizing::PREFERRED_CONTEXT.min(m.max_context);
    if hi > sizing::MIN_CONTEXT {
        vec![hi, sizing::MIN_CONTEXT]
    } else {
        vec![hi]
    }
}

/// "32k" for multiples of 1024, else the number.
pub(crate) fn ctx_label(tokens: u32) -> String {
    if tokens % 1024 == 0 {
        format!("{}k", tokens / 1024)
    } else {
        tokens.to_string()
    }
}

#[cfg(test)]
mod tests;
