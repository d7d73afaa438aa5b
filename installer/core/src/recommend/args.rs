//! The exact vLLM command-line arguments for a deployment (`vllm serve` / the vllm-openai image).

use crate::catalog::gpu::ComputeCapability;
use crate::catalog::gpu::CC_BF16;
use crate::catalog::{Checkpoint, Precision, QuantMethod, TokenizerMode, WeightsFormat};

pub(super) struct VllmConfig<'a> {
    pub checkpoint: &'a Checkpoint,
    pub served_name: &'a str,
    pub precision: Precision,
    pub tp: u32,
    /// Data-parallel replicas; 1 emits no flag.
    pub dp: u32,
    pub max_model_len: u32,
    pub gmu_pct: u32,
    pub kv_fp8: bool,
    pub cc: ComputeCapability,
}

/// `--dtype`: activations in bf16 from compute capability 8.0, fp16 below (vLLM `supported_dtypes`), or
/// when the admin asked for fp16.
pub(super) fn dtype(precision: Precision, cc: ComputeCapability) -> &'static str {
    if precision == Precision::Fp16 || cc < CC_BF16 {
        "float16"
    } else {
        "bfloat16"
    }
}

/// `--quantization`: what the checkpoint declares; AWQ/GPTQ get the Marlin kernels where they exist (≥ 8.0).
pub(super) fn quantization(
    method: Option<QuantMethod>,
    cc: ComputeCapability,
) -> Option<&'static str> {
    let marlin = cc >= CC_BF16;
    method.map(|m| match m {
        QuantMethod::Awq if marlin => "awq_marlin",
        QuantMethod::Awq => "awq",
        QuantMethod::Gptq if marlin => "gptq_marlin",
        QuantMethod::Gptq => "gptq",
        QuantMethod::Fp8 => "fp8",
        QuantMethod::CompressedTensors => "compressed-tensors",
    })
}

pub(super) fn vllm_args(c: &VllmConfig<'_>) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let mut push = |k: &str, v: String| {
        a.push(k.to_string());
        a.push(v);
    };
    push("--model", c.checkpoint.hf_repo.clone());
    push("--served-model-name", c.served_name.to_string());
    push("--tensor-parallel-size", c.tp.to_string());
    if c.dp > 1 {
        push("--data-parallel-size", c.dp.to_string());
    }
    push("--max-model-len", c.max_model_len.to_string());
    push(
        "--gpu-memory-utilization",
        format!("{:.2}", f64::from(c.gmu_pct) / 100.0),
    );
    push("--dtype", dtype(c.precision, c.cc).to_string());
    if let Some(q) = quantization(c.checkpoint.quant_method, c.cc) {
        push("--quantization", q.to_string());
    }
    if c.kv_fp8 {
        push("--kv-cache-dtype", "fp8".to_string());
    }
    if c.checkpoint.tokenizer == TokenizerMode::Mistral {
        push("--tokenizer-mode", "mistral".to_string());
    }
    match c.checkpoint.format {
        // Mistral's own layout: consolidated.safetensors + params.json (Mistral's vLLM page).
        WeightsFormat::Mistral => {
            push("--config-format", "mistral".to_string());
            push("--load-format", "mistral".to_string());
        }
        // GitLab's Mixtral recipe: HF shards, Mistral tokenizer, safetensors only (skip the .pt copies).
        WeightsFormat::Hf if c.checkpoint.tokenizer == TokenizerMode::Mistral => {
            push("--load-format", "safetensors".to_string());
        }
        WeightsFormat::Hf => {}
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marlin_only_from_ampere() {
        let t4 = ComputeCapability::new(7, 5);
        let a100 = ComputeCapability::new(8, 0);
        assert_eq!(quantization(Some(QuantMethod::Awq), t4), Some("awq"));
        assert_eq!(
            quantization(Some(QuantMethod::Awq), a100),
            Some("awq_marlin")
        );
        assert_eq!(
            quantization(Some(QuantMethod::Gptq), a100),
            Some("gptq_marlin")
        );
        assert_eq!(quantization(None, a100), None);
        assert_eq!(dtype(Precision::Bf16, a100), "bfloat16");
        assert_eq!(dtype(Precision::Fp16, t4), "float16");
        assert_eq!(dtype(Precision::Awq, t4), "float16");
        assert_eq!(dtype(Precision::Fp16, a100), "float16");
    }
}
