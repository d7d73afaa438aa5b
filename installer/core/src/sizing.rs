//! The arithmetic of docs/sources.md, "Sizing arithmetic": weight bytes per precision, KV bytes per token,
//! per-GPU budget, overhead, KV capacity and concurrency. Pure integer arithmetic in bytes (no I/O, no
//! floats until display), so a plan computed twice is the same plan.

use std::fmt;

pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;
/// vLLM's paged KV cache allocates in blocks of 16 tokens (default `--block-size`).
pub const BLOCK_TOKENS: u64 = 16;
/// GitLab Duo prompts need room: below this the installer does not call a configuration a fit.
pub const MIN_CONTEXT: u32 = 16_384;
pub const PREFERRED_CONTEXT: u32 = 32_768;
/// A fit holds at least this many full-length sequences at once…
pub const MIN_CONCURRENCY: u64 = 2;
/// …and tensor parallelism grows until this many fit (or the GPUs run out).
pub const TARGET_CONCURRENCY: u64 = 4;
/// `--gpu-memory-utilization` in hundredths: vLLM's released default (0.9), always passed explicitly.
pub const DEFAULT_GMU_PCT: u32 = 90;
/// Tensor-parallel sizes the recommender considers: one node, powers of two (docs/recommend.md, policy 5).
pub const TP_SIZES: [u32; 4] = [1, 2, 4, 8];

/// The figures of a decoder-only transformer that sizing needs (from `config.json` / `params.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Architecture {
    pub layers: u64,
    pub hidden: u64,
    pub attention_heads: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
    /// Feed-forward width of one expert.
    pub ffn: u64,
    /// 1 for dense models.
    pub experts: u64,
    pub vocab: u64,
    /// Parameters outside the decoder that stay 16-bit (a vision tower).
    pub extra_params: u64,
}

/// Parameters split by how quantisation treats them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamCounts {
    /// Attention and MLP projections: what FP8 / 4-bit checkpoints shrink.
    pub linear: u64,
    /// Input embeddings plus the (untied) lm_head: always 16-bit.
    pub embeddings: u64,
    /// Norms, MoE routers, vision tower: always 16-bit.
    pub other: u64,
}

impl ParamCounts {
    pub fn total(&self) -> u64 {
        self.linear + self.embeddings + self.other
    }
}

pub fn param_counts(a: &Architecture) -> ParamCounts {
    let q_and_o = 2 * a.hidden * a.attention_heads * a.head_dim;
    let k_and_v = 2 * a.hidden * a.kv_heads * a.head_dim;
    let mlp = 3 * a.hidden * a.ffn * a.experts; // gate, up, down per expert
    let router = if a.experts > 1 {
        a.hidden * a.experts
    } else {
        0
    };
    ParamCounts {
        linear: a.layers * (q_and_o + k_and_v + mlp),
        embeddings: 2 * a.vocab * a.hidden,
        other: a.layers * (router + 2 * a.hidden) + a.hidden + a.extra_params,
    }
}

/// How the weights are stored, as far as their size goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// bf16 or fp16: 2 bytes a parameter.
    Bits16,
    /// FP8 checkpoint: 1 byte per linear weight, the rest 16-bit.
    Fp8,
    /// 4-bit AWQ/GPTQ, group size 128: 0.52 bytes per linear weight (int4 + fp16 scale/zero per 128).
    Int4G128,
}

pub fn weight_bytes(p: &ParamCounts, format: WeightFormat) -> u64 {
    let kept_16bit = 2 * (p.embeddings + p.other);
    match format {
        WeightFormat::Bits16 => 2 * p.total(),
        WeightFormat::Fp8 => p.linear + kept_16bit,
        WeightFormat::Int4G128 => p.linear * 52 / 100 + kept_16bit,
    }
}

/// KV bytes per token on one GPU of a tensor-parallel group of `tp`:
/// 2 (K and V) · layers · max(1, KV heads / tp) · head_dim · bytes per element.
/// With `tp` > KV heads each GPU keeps a replica of one KV head, so the per-GPU share stops shrinking.
pub fn kv_bytes_per_token(a: &Architecture, tp: u32, element_bytes: u64) -> u64 {
    let heads_per_gpu = (a.kv_heads / u64::from(tp.max(1))).max(1);
    2 * a.layers * heads_per_gpu * a.head_dim * element_bytes
}

/// The `--gpu-memory-utilization` to pass, in hundredths. vLLM refuses to start unless the free memory at
/// start is at least gmu × total, so when NVML shows memory already in use the fraction is lowered to what
/// is free, less 1 % for whatever allocates in the meantime.
pub fn gpu_memory_utilization_pct(total_mib: u64, free_mib: u64) -> u32 {
    if total_mib == 0 {
        return 0;
    }
    let free_pct = u32::try_from(free_mib.min(total_mib) * 100 / total_mib).unwrap_or(0);
    DEFAULT_GMU_PCT.min(free_pct.saturating_sub(1))
}

/// gmu × NVML total: the memory vLLM lets itself use on one GPU.
pub fn budget_bytes(total_mib: u64, gmu_pct: u32) -> u64 {
    total_mib * MIB * u64::from(gmu_pct) / 100
}

/// CUDA context, activation peak for a batch of max_num_batched_tokens and CUDA graphs: ≈ 1.5 GiB on a single
/// GPU, ≈ 2 GiB with tensor parallelism (NCCL buffers). MoE models also get 2 GiB: the fused-MoE kernels'
/// workspace (the issue's worked example, Mixtral 8x7B on one H100, uses 2.0 GiB). vLLM measures the real
/// figure at start-up; this is the planning estimate.
pub fn overhead_bytes(tp: u32, moe: bool) -> u64 {
    if tp > 1 || moe {
        2 * GIB
    } else {
        3 * GIB / 2
    }
}

/// One GPU's share of a configuration, and what is left for the KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuShare {
    pub budget: u64,
    pub weights: u64,
    pub overhead: u64,
    /// KV bytes per token on this GPU.
    pub kv_per_token: u64,
}

impl GpuShare {
    /// Memory left for the KV cache; zero when weights and overhead do not fit at all.
    pub fn kv_bytes(&self) -> u64 {
        self.budget.saturating_sub(self.weights + self.overhead)
    }

    /// How far weights + overhead exceed the budget (zero when they fit).
    pub fn shortfall(&self) -> u64 {
        (self.weights + self.overhead).saturating_sub(self.budget)
    }

    /// Tokens the KV cache holds, in whole 16-token blocks as vLLM allocates them.
    pub fn capacity_tokens(&self) -> u64 {
        if self.kv_per_token == 0 {
            return 0;
        }
        self.kv_bytes() / (self.kv_per_token * BLOCK_TOKENS) * BLOCK_TOKENS
    }

    /// Memory one GPU needs for weights, overhead and `tokens` of KV.
    pub fn needed_for(&self, tokens: u64) -> u64 {
        self.weights + self.overhead + tokens * self.kv_per_token
    }
}

/// Splits `weights_total` over a tensor-parallel group of `tp` GPUs.
pub fn gpu_share(
    weights_total: u64,
    tp: u32,
    budget: u64,
    moe: bool,
    kv_per_token: u64,
) -> GpuShare {
    GpuShare {
        budget,
        weights: weights_total.div_ceil(u64::from(tp.max(1))),
        overhead: overhead_bytes(tp, moe),
        kv_per_token,
    }
}

/// Full-length sequences that fit at once.
pub fn concurrency(capacity_tokens: u64, max_model_len: u32) -> f64 {
    if max_model_len == 0 {
        return 0.0;
    }
    capacity_tokens as f64 / f64::from(max_model_len)
}

/// The installer's rule: at least [`MIN_CONTEXT`] and room for [`MIN_CONCURRENCY`] full-length sequences.
pub fn fits(capacity_tokens: u64, max_model_len: u32) -> bool {
    max_model_len >= MIN_CONTEXT && capacity_tokens >= MIN_CONCURRENCY * u64::from(max_model_len)
}

/// vLLM's own start-up check: "The model's max seq len (…) is larger than the maximum number of tokens that
/// can be stored in KV cache (…)" unless one full-length sequence fits.
pub fn vllm_starts(capacity_tokens: u64, max_model_len: u32) -> bool {
    capacity_tokens >= u64::from(max_model_len)
}

/// The largest context (a multiple of 1024, at most `model_max`) that [`fits`], if any.
pub fn largest_fitting_context(capacity_tokens: u64, model_max: u32) -> Option<u32> {
    let by_capacity = capacity_tokens / MIN_CONCURRENCY / 1024 * 1024;
    let ctx = u32::try_from(by_capacity.min(u64::from(model_max))).unwrap_or(model_max);
    (ctx >= MIN_CONTEXT).then_some(ctx)
}

/// Why a tensor-parallel size cannot serve a model (vLLM `verify_with_parallel_config` and
/// `QKVParallelLinear`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TpProblem {
    Zero,
    /// Beyond one 8-GPU node, or not a power of two.
    NotOffered(u32),
    KvHeads {
        tp: u32,
        kv_heads: u64,
        attention_heads_too: Option<u64>,
    },
    AttentionHeads {
        tp: u32,
        heads: u64,
    },
}

impl fmt::Display for TpProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TpProblem::Zero => write!(f, "TP=0 invalid: at least one GPU is needed"),
            TpProblem::KvHeads {
                tp,
                kv_heads,
                attention_heads_too,
            } => {
                write!(
                    f,
                    "TP={tp} invalid: {kv_heads} KV heads are not divisible by {tp}"
                )?;
                if let Some(h) = attention_heads_too {
                    write!(f, ", nor are {h} attention heads")?;
                }
                Ok(())
            }
            TpProblem::AttentionHeads { tp, heads } => write!(
                f,
                "TP={tp} invalid: {heads} attention heads are not divisible by {tp}"
            ),
            TpProblem::NotOffered(tp) => write!(
                f,
                "TP={tp} invalid: the installer plans tensor parallelism within one node, over 1, 2, 4 or 8 GPUs"
            ),
        }
    }
}

/// vLLM: `tp | attention heads` and (`tp | KV heads` or `KV heads | tp`); the installer also keeps to
/// [`TP_SIZES`]. Vocabulary is padded to a multiple of 64 and never constrains `tp`.
pub fn check_tp(a: &Architecture, tp: u32) -> Result<(), TpProblem> {
    if tp == 0 {
        return Err(TpProblem::Zero);
    }
    let t = u64::from(tp);
    let heads_ok = a.attention_heads % t == 0;
    let kv_ok = a.kv_heads % t == 0 || t % a.kv_heads == 0;
    if !kv_ok {
        return Err(TpProblem::KvHeads {
            tp,
            kv_heads: a.kv_heads,
            attention_heads_too: (!heads_ok).then_some(a.attention_heads),
        });
    }
    if !heads_ok {
        return Err(TpProblem::AttentionHeads {
            tp,
            heads: a.attention_heads,
        });
    }
    if !TP_SIZES.contains(&tp) {
        return Err(TpProblem::NotOffered(tp));
    }
    Ok(())
}

/// Bytes as GiB with one decimal, the unit of every explanation.
pub fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / GIB as f64)
}

/// Tokens as "213k".
pub fn ktokens(tokens: u64) -> String {
    if tokens >= 10_000 {
        format!("{}k", (tokens + 500) / 1000)
    } else {
        format!("{tokens}")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const MISTRAL_7B: Architecture = Architecture {
        layers: 32,
        hidden: 4096,
        attention_heads: 32,
        kv_heads: 8,
        head_dim: 128,
        ffn: 14336,
        experts: 1,
        vocab: 32768,
        extra_params: 0,
    };
    const MIXTRAL_8X7B: Architecture = Architecture {
        experts: 8,
        vocab: 32000,
        ..MISTRAL_7B
    };

    fn gib_f(bytes: u64) -> f64 {
        bytes as f64 / GIB as f64
    }

    #[test]
    fn parameter_counts_match_the_published_totals() {
        let p = param_counts(&MISTRAL_7B).total() as f64 / 1e9;
        assert!((p - 7.25).abs() < 0.01, "{p}");
        let p = param_counts(&MIXTRAL_8X7B).total() as f64 / 1e9;
        assert!((p - 46.70).abs() < 0.01, "{p}");
    }

    #[test]
    fn weight_sizes_match_the_reference_table() {
        // docs/sources.md, "Models": 7B v0.3 13.5 / 7.0 / 3.9 GiB; Mixtral 8x7B 87.0 / 43.7 / 23.0 GiB.
        let p = param_counts(&MISTRAL_7B);
        assert_eq!(
            format!("{:.1}", gib_f(weight_bytes(&p, WeightFormat::Bits16))),
            "13.5"
        );
        assert_eq!(
            format!("{:.1}", gib_f(weight_bytes(&p, WeightFormat::Fp8))),
            "7.0"
        );
        assert_eq!(
            format!("{:.1}", gib_f(weight_bytes(&p, WeightFormat::Int4G128))),
            "3.9"
        );
        let p = param_counts(&MIXTRAL_8X7B);
        assert_eq!(
            format!("{:.1}", gib_f(weight_bytes(&p, WeightFormat::Bits16))),
            "87.0"
        );
        assert_eq!(
            format!("{:.1}", gib_f(weight_bytes(&p, WeightFormat::Fp8))),
            "43.7"
        );
        assert_eq!(
            format!("{:.1}", gib_f(weight_bytes(&p, WeightFormat::Int4G128))),
            "23.0"
        );
    }

    #[test]
    fn kv_per_token_shrinks_with_tp_until_heads_replicate() {
        assert_eq!(kv_bytes_per_token(&MISTRAL_7B, 1, 2), 128 * 1024);
        assert_eq!(kv_bytes_per_token(&MISTRAL_7B, 1, 1), 64 * 1024);
        assert_eq!(kv_bytes_per_token(&MISTRAL_7B, 2, 2), 64 * 1024);
        assert_eq!(kv_bytes_per_token(&MISTRAL_7B, 8, 2), 16 * 1024);
        // 16 GPUs for 8 KV heads: each keeps one head, no further saving.
        assert_eq!(kv_bytes_per_token(&MISTRAL_7B, 16, 2), 16 * 1024);
    }

    #[test]
    fn the_issue_worked_example_mixtral_fp8_on_one_h100() {
        // "43.7 GiB weights + 2.0 GiB overhead of a 71.7 GiB budget → 26.0 GiB KV ≈ 213k tokens
        //  = 6.5 concurrent 32k sequences"
        let w = weight_bytes(&param_counts(&MIXTRAL_8X7B), WeightFormat::Fp8);
        let share = gpu_share(
            w,
            1,
            budget_bytes(81559, 90),
            true,
            kv_bytes_per_token(&MIXTRAL_8X7B, 1, 2),
        );
        assert_eq!(gib(share.budget), "71.7 GiB");
        assert_eq!(gib(share.weights), "43.7 GiB");
        assert_eq!(gib(share.overhead), "2.0 GiB");
        // The issue rounds each term before subtracting (71.7 − 43.7 − 2.0 = 26.0); unrounded it is 25.94.
        assert_eq!(gib(share.kv_bytes()), "25.9 GiB");
        let cap = share.capacity_tokens();
        assert_eq!(ktokens(cap), "213k");
        assert_eq!(format!("{:.1}", concurrency(cap, 32768)), "6.5");
        assert!(fits(cap, 32768));
    }

    #[test]
    fn gmu_drops_when_memory_is_in_use() {
        assert_eq!(gpu_memory_utilization_pct(81920, 81500), 90);
        // 30 GiB held by another process on an 80 GiB card: 61.98 % free → 0.60 (1 % margin).
        assert_eq!(gpu_memory_utilization_pct(81920, 50780), 60);
        assert_eq!(gpu_memory_utilization_pct(0, 0), 0);
    }

    #[test]
    fn capacity_is_whole_blocks_and_fit_needs_two_sequences() {
        let share = GpuShare {
            budget: 10 * GIB,
            weights: 4 * GIB,
            overhead: GIB,
            kv_per_token: 128 * 1024,
        };
        let cap = share.capacity_tokens();
        assert_eq!(cap % BLOCK_TOKENS, 0);
        assert_eq!(cap, 40_960);
        assert!(fits(cap, 16_384));
        assert!(!fits(cap, 32_768));
        assert!(vllm_starts(cap, 32_768));
        assert!(
            !fits(cap * 4, 8_192),
            "below the minimum context never fits"
        );
        assert_eq!(largest_fitting_context(cap, 32_768), Some(20_480));
        assert_eq!(largest_fitting_context(20_000, 32_768), None);
    }

    #[test]
    fn tp_rules_follow_vllm() {
        assert!(check_tp(&MISTRAL_7B, 1).is_ok());
        assert!(check_tp(&MISTRAL_7B, 8).is_ok());
        let three = check_tp(&MISTRAL_7B, 3).unwrap_err();
        assert_eq!(
            three.to_string(),
            "TP=3 invalid: 8 KV heads are not divisible by 3, nor are 32 attention heads"
        );
        let wide = Architecture {
            attention_heads: 48,
            ..MISTRAL_7B
        };
        assert_eq!(
            check_tp(&wide, 3).unwrap_err().to_string(),
            "TP=3 invalid: 8 KV heads are not divisible by 3"
        );
        assert!(matches!(
            check_tp(&wide, 16),
            Err(TpProblem::NotOffered(16))
        ));
        assert_eq!(check_tp(&wide, 0), Err(TpProblem::Zero));
    }
}
