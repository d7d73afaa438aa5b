//! Model entries of the catalog (`models.toml`).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use super::gitlab::GitlabVersion;
use crate::sizing::{self, Architecture, WeightFormat};

const B: f64 = 1e9;

/// How the weights are stored. `Fp16` is the bf16 checkpoint run with `--dtype half` on GPUs without bf16;
/// `Q4KM` is Ollama's GGUF quantisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    Bf16,
    Fp16,
    Fp8,
    Awq,
    Gptq,
    #[serde(rename = "q4_k_m")]
    Q4KM,
}

impl Precision {
    pub const CLI_VALUES: &'static str = "bf16, fp16, fp8, awq, gptq";
    /// What an admin may ask for (`CLI_VALUES`); Q4_K_M is Ollama's, chosen by the recommender only.
    pub const OVERRIDES: [Precision; 5] = [
        Precision::Bf16,
        Precision::Fp16,
        Precision::Fp8,
        Precision::Awq,
        Precision::Gptq,
    ];

    /// The serde name, which `FromStr` accepts for the overrides.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Bf16 => "bf16",
            Precision::Fp16 => "fp16",
            Precision::Fp8 => "fp8",
            Precision::Awq => "awq",
            Precision::Gptq => "gptq",
            Precision::Q4KM => "q4_k_m",
        }
    }

    /// 0 = 16-bit, 1 = 8-bit, 2 = 4-bit: the ladder the recommender walks down.
    pub fn tier(self) -> u8 {
        match self {
            Precision::Bf16 | Precision::Fp16 => 0,
            Precision::Fp8 => 1,
            Precision::Awq | Precision::Gptq | Precision::Q4KM => 2,
        }
    }

    /// The checkpoint that holds this precision's weights.
    pub fn checkpoint(self) -> Precision {
        match self {
            Precision::Fp16 => Precision::Bf16,
            p => p,
        }
    }

    pub fn weight_format(self) -> WeightFormat {
        match self.tier() {
            0 => WeightFormat::Bits16,
            1 => WeightFormat::Fp8,
            _ => WeightFormat::Int4G128,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Precision::Bf16 => "bf16",
            Precision::Fp16 => "fp16",
            Precision::Fp8 => "FP8",
            Precision::Awq => "4-bit AWQ",
            Precision::Gptq => "4-bit GPTQ",
            Precision::Q4KM => "GGUF Q4_K_M",
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Why FP4 is not offered (docs/sources.md, "Blackwell and FP4"): the pinned vLLM runs NVFP4 on Blackwell
/// (compute capability 10.x/12.x), but no FP4 checkpoint of a catalog model is published by Mistral AI or
/// verified here against that release.
pub const FP4_REFUSAL: &str = "FP4 (NVFP4/MXFP4) is not offered: the pinned vLLM runs NVFP4 only on Blackwell, \
     and no FP4 checkpoint of a catalog model is published by Mistral AI or verified against that vLLM release; \
     on Blackwell use fp8 (W8A8), which halves the weights";

impl FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            "fp16" | "float16" | "half" => Ok(Precision::Fp16),
            "fp8" => Ok(Precision::Fp8),
            "awq" => Ok(Precision::Awq),
            "gptq" => Ok(Precision::Gptq),
            "fp4" | "nvfp4" | "mxfp4" => Err(FP4_REFUSAL.to_string()),
            other => Err(format!(
                "unknown precision '{other}'; valid values: {}",
                Precision::CLI_VALUES
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum License {
    #[serde(rename = "apache-2.0")]
    Apache2,
    /// Mistral AI Non-Production License: the admin must accept it explicitly.
    #[serde(rename = "mnpl-0.1")]
    Mnpl,
}

impl License {
    pub fn id(self) -> &'static str {
        match self {
            License::Apache2 => "apache-2.0",
            License::Mnpl => "mnpl-0.1",
        }
    }

    pub fn requires_acceptance(self) -> bool {
        matches!(self, License::Mnpl)
    }

    pub fn describe(self) -> &'static str {
        match self {
            License::Apache2 => "Apache 2.0",
            License::Mnpl => {
                "Mistral AI Non-Production License (MNPL): no production use without a commercial licence"
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuoFeature {
    CodeCompletion,
    CodeGeneration,
    DuoChat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupportStatus {
    Ga,
    Beta,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitlabSupport {
    /// The model family to pick in Admin > GitLab Duo > Add self-hosted model.
    pub family: String,
    pub since: GitlabVersion,
    /// First version without support; absent while supported.
    #[serde(default)]
    pub until: Option<GitlabVersion>,
    pub status: SupportStatus,
}

impl GitlabSupport {
    pub fn covers(&self, v: GitlabVersion) -> bool {
        v >= self.since && self.until.is_none_or(|u| v < u)
    }

    /// "17.1–18.4" / "18.3 and later".
    pub fn range(&self) -> String {
        match self.until {
            Some(u) if u.minor > 0 => format!("{}–{}.{}", self.since, u.major, u.minor - 1),
            Some(u) => format!("{} up to (not including) {u}", self.since),
            None => format!("{} and later", self.since),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightsFormat {
    /// consolidated.safetensors + params.json.
    Mistral,
    Hf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenizerMode {
    Mistral,
    Hf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QuantMethod {
    Awq,
    Gptq,
    Fp8,
    CompressedTensors,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub precision: Precision,
    pub hf_repo: String,
    pub format: WeightsFormat,
    pub tokenizer: TokenizerMode,
    #[serde(default)]
    pub quant_method: Option<QuantMethod>,
    /// A known problem the admin must hear about before using it.
    #[serde(default)]
    pub caution: Option<String>,
    /// A preparation step before vLLM can load it.
    #[serde(default)]
    pub setup: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub id: String,
    pub name: String,
    pub aliases: Vec<String>,
    pub served_name: String,
    pub rank: u32,
    pub published_params_b: f64,
    pub active_params_b: f64,
    pub layers: u32,
    pub hidden: u32,
    pub attention_heads: u32,
    pub kv_heads: u32,
    pub head_dim: u32,
    pub ffn: u32,
    pub experts: u32,
    pub vocab: u32,
    #[serde(default)]
    pub extra_params_b: f64,
    pub max_context: u32,
    pub license: License,
    pub features: Vec<DuoFeature>,
    pub note: String,
    pub ollama_tag: String,
    pub gguf_q4_k_m_gb: f64,
    pub gitlab: GitlabSupport,
    #[serde(rename = "checkpoint")]
    pub checkpoints: Vec<Checkpoint>,
}

impl ModelSpec {
    pub fn architecture(&self) -> Architecture {
        Architecture {
            layers: self.layers.into(),
            hidden: self.hidden.into(),
            attention_heads: self.attention_heads.into(),
            kv_heads: self.kv_heads.into(),
            head_dim: self.head_dim.into(),
            ffn: self.ffn.into(),
            experts: self.experts.into(),
            vocab: self.vocab.into(),
            extra_params: (self.extra_params_b * B).round() as u64,
        }
    }

    pub fn is_moe(&self) -> bool {
        self.experts > 1
    }

    pub fn checkpoint(&self, p: Precision) -> Option<&Checkpoint> {
        self.checkpoints
            .iter()
            .find(|c| c.precision == p.checkpoint())
    }

    /// Bytes of weights at `p` (all GPUs together). GGUF sizes are the published file sizes.
    pub fn weight_bytes(&self, p: Precision) -> u64 {
        if p == Precision::Q4KM {
            return (self.gguf_q4_k_m_gb * B).round() as u64;
        }
        sizing::weight_bytes(
            &sizing::param_counts(&self.architecture()),
            p.weight_format(),
        )
    }

    /// The model identifier GitLab expects for an OpenAI-compatible endpoint.
    pub fn gitlab_identifier(&self, served_name: &str) -> String {
        format!("custom_openai/{served_name}")
    }

    /// Whether `name` (id or alias, any case) names this model.
    pub fn answers_to(&self, name: &str) -> bool {
        let n = name.trim().to_ascii_lowercase();
        self.id == n || self.aliases.contains(&n)
    }

    /// Problems with this entry; empty when it is sound.
    pub(super) fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let kebab = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        };
        if !kebab(&self.id) {
            p.push("id must be lower-case letters, digits, '-' and '.'".to_string());
        }
        for a in &self.aliases {
            if !kebab(a) {
                p.push(format!(
                    "alias '{a}' must be lower-case letters, digits, '-' and '.'"
                ));
            }
        }
        if !kebab(&self.served_name) {
            p.push("served_name must be lower-case letters, digits, '-' and '.'".to_string());
        }
        for (what, v) in [
            ("layers", self.layers),
            ("hidden", self.hidden),
            ("attention_heads", self.attention_heads),
            ("kv_heads", self.kv_heads),
            ("head_dim", self.head_dim),
            ("ffn", self.ffn),
            ("experts", self.experts),
            ("vocab", self.vocab),
        ] {
            if v == 0 {
                p.push(format!("{what} must be positive"));
            }
        }
        if self.kv_heads > 0 && self.attention_heads % self.kv_heads != 0 {
            p.push(format!(
                "{} attention heads are not a multiple of {} KV heads",
                self.attention_heads, self.kv_heads
            ));
        }
        if p.is_empty() {
            let computed = sizing::param_counts(&self.architecture()).total() as f64 / B;
            if (computed - self.published_params_b).abs() > 0.02 * self.published_params_b {
                p.push(format!(
                    "the architecture gives {computed:.2} B parameters, the published figure is {} B: \
                     check layers/hidden/ffn/vocab",
                    self.published_params_b
                ));
            }
        }
        if self.active_params_b <= 0.0 || self.active_params_b > self.published_params_b {
            p.push("active_params_b must be in (0, published_params_b]".to_string());
        }
        if self.experts == 1 && self.active_params_b != self.published_params_b {
            p.push("a dense model's active parameters equal its total".to_string());
        }
        if self.max_context < sizing::MIN_CONTEXT {
            p.push(format!(
                "max_context {} is below the {} tokens GitLab Duo needs",
                self.max_context,
                sizing::MIN_CONTEXT
            ));
        }
        if self.features.is_empty() {
            p.push("features must name at least one Duo feature".to_string());
        }
        if self.gitlab.family.trim().is_empty() {
            p.push("gitlab.family is empty".to_string());
        }
        if self.gitlab.until.is_some_and(|u| u <= self.gitlab.since) {
            p.push("gitlab.until must be after gitlab.since".to_string());
        }
        if self.ollama_tag.trim().is_empty() || self.gguf_q4_k_m_gb <= 0.0 {
            p.push("ollama_tag and gguf_q4_k_m_gb are required".to_string());
        }
        p.extend(self.checkpoint_problems());
        p
    }

    fn checkpoint_problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.checkpoint(Precision::Bf16).is_none() {
            p.push("a bf16 checkpoint (the original weights) is required".to_string());
        }
        for (i, c) in self.checkpoints.iter().enumerate() {
            let at = format!("checkpoint {} ({})", i + 1, c.precision);
            if self.checkpoints[..i]
                .iter()
                .any(|o| o.precision == c.precision)
            {
                p.push(format!("{at}: a second checkpoint for the same precision"));
            }
            let mut parts = c.hf_repo.split('/');
            let well_formed = matches!((parts.next(), parts.next(), parts.next()),
                (Some(o), Some(n), None) if !o.is_empty() && !n.is_empty() && !c.hf_repo.contains(' '));
            if !well_formed {
                p.push(format!("{at}: hf_repo '{}' is not OWNER/NAME", c.hf_repo));
            }
            use QuantMethod as Q;
            let consistent = match (c.precision, c.quant_method) {
                (Precision::Bf16, None) => true,
                (Precision::Fp8, Some(Q::Fp8 | Q::CompressedTensors)) => true,
                (Precision::Awq, Some(Q::Awq | Q::CompressedTensors)) => true,
                (Precision::Gptq, Some(Q::Gptq | Q::CompressedTensors)) => true,
                (Precision::Fp16 | Precision::Q4KM, _) => false,
                _ => false,
            };
            if !consistent {
                p.push(format!(
                    "{at}: quant_method {:?} does not match the precision (bf16 has none; fp16 and \
                     q4_k_m are not checkpoints)",
                    c.quant_method
                ));
            }
            if c.format == WeightsFormat::Mistral && c.tokenizer != TokenizerMode::Mistral {
                p.push(format!(
                    "{at}: Mistral-format weights come with the Mistral tokenizer"
                ));
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn precision_parses_cli_values_and_lists_them_on_error() {
        assert_eq!("BF16".parse::<Precision>(), Ok(Precision::Bf16));
        assert_eq!("half".parse::<Precision>(), Ok(Precision::Fp16));
        let e = "int3".parse::<Precision>().unwrap_err();
        assert!(e.contains("bf16, fp16, fp8, awq, gptq"), "{e}");
    }

    #[test]
    fn overrides_are_the_cli_values_and_parse_back() {
        let names: Vec<&str> = Precision::OVERRIDES.iter().map(|p| p.as_str()).collect();
        assert_eq!(names.join(", "), Precision::CLI_VALUES);
        for p in Precision::OVERRIDES {
            assert_eq!(p.as_str().parse::<Precision>(), Ok(p));
        }
        for p in [Precision::OVERRIDES.as_slice(), &[Precision::Q4KM]].concat() {
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
    }

    #[test]
    fn tiers_order_the_ladder() {
        assert!(Precision::Bf16.tier() < Precision::Fp8.tier());
        assert!(Precision::Fp8.tier() < Precision::Awq.tier());
        assert_eq!(Precision::Fp16.checkpoint(), Precision::Bf16);
    }

    #[test]
    fn support_ranges_read_naturally() {
        let s = GitlabSupport {
            family: "mixtral".into(),
            since: GitlabVersion::new(17, 1),
            until: Some(GitlabVersion::new(18, 5)),
            status: SupportStatus::Ga,
        };
        assert_eq!(s.range(), "17.1–18.4");
        assert!(s.covers(GitlabVersion::new(18, 4)));
        assert!(!s.covers(GitlabVersion::new(18, 5)));
        assert!(!s.covers(GitlabVersion::new(17, 0)));
    }
}
