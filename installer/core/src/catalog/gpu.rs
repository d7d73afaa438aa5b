//! GPU entries of the catalog (`gpus.toml`), for what-if planning and for naming detected cards.

use serde::{Deserialize, Deserializer, Serialize};

use std::fmt;

// Compute capabilities that gate vLLM and its precisions (docs/sources.md, "vLLM on NVIDIA GPUs").

/// Current vLLM's floor: its GPU install docs dropped V100 (7.0); T4 (7.5) is the oldest card it lists.
/// The recommendation and the preflight findings both read it here.
pub const CC_VLLM_MIN: ComputeCapability = ComputeCapability::new(7, 5);
/// bf16 (and the Marlin kernels) from Ampere.
pub const CC_BF16: ComputeCapability = ComputeCapability::new(8, 0);
/// FP8 W8A8 and an FP8 KV cache from Ada.
pub const CC_FP8_W8A8: ComputeCapability = ComputeCapability::new(8, 9);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuSpec {
    pub id: String,
    pub name: String,
    pub aliases: Vec<String>,
    pub nvml_names: Vec<String>,
    /// Total memory as NVML reports it, MiB.
    pub memory_mib: u64,
    #[serde(deserialize_with = "cc_from_str", serialize_with = "cc_to_str")]
    pub compute_capability: ComputeCapability,
    pub bf16: bool,
    pub fp8: bool,
    /// False where the NVML total is an estimate, not read from a log.
    pub memory_verified: bool,
}

fn cc_from_str<'de, D: Deserializer<'de>>(d: D) -> Result<ComputeCapability, D::Error> {
    let s = String::deserialize(d)?;
    parse_cc(&s).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "compute_capability '{s}' must be MAJOR.MINOR, e.g. \"8.9\""
        ))
    })
}

fn cc_to_str<S: serde::Serializer>(cc: &ComputeCapability, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(cc)
}

pub fn parse_cc(s: &str) -> Option<ComputeCapability> {
    let (a, b) = s.trim().split_once('.')?;
    Some(ComputeCapability::new(a.parse().ok()?, b.parse().ok()?))
}

/// Lower-case with separators removed: "A100-80", "a100 80" and "A100_80" are one name.
pub fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// NVML device names as upper-case tokens: "NVIDIA A100-SXM4-80GB" → [NVIDIA, A100, SXM4, 80GB].
pub fn tokens(name: &str) -> Vec<String> {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_ascii_uppercase)
        .collect()
}

impl GpuSpec {
    pub fn answers_to(&self, name: &str) -> bool {
        let n = normalize(name);
        normalize(&self.id) == n || self.aliases.iter().any(|a| normalize(a) == n)
    }

    /// Whether an NVML device name holds one of this card's token sequences.
    pub fn matches_nvml(&self, device_name: &str) -> bool {
        let have = tokens(device_name);
        self.nvml_names.iter().any(|pattern| {
            let want = tokens(pattern);
            !want.is_empty() && have.windows(want.len()).any(|w| w == want.as_slice())
        })
    }

    pub(super) fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.memory_mib < 1024 {
            p.push(format!(
                "memory_mib {} is not a GPU's memory",
                self.memory_mib
            ));
        }
        if self.nvml_names.is_empty() {
            p.push("nvml_names must list how NVML names the card".to_string());
        }
        if self.bf16 != (self.compute_capability >= CC_BF16) {
            p.push(format!(
                "bf16 = {} disagrees with compute capability {} (bf16 needs ≥ {CC_BF16})",
                self.bf16, self.compute_capability
            ));
        }
        if self.fp8 != (self.compute_capability >= CC_FP8_W8A8) {
            p.push(format!(
                "fp8 = {} disagrees with compute capability {} (FP8 W8A8 needs ≥ {CC_FP8_W8A8})",
                self.fp8, self.compute_capability
            ));
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_matching_tells_a10_from_a100_and_l4_from_l40s() {
        let spec = |pattern: &str| GpuSpec {
            id: "x".into(),
            name: "x".into(),
            aliases: vec![],
            nvml_names: vec![pattern.into()],
            memory_mib: 24000,
            compute_capability: ComputeCapability::new(8, 6),
            bf16: true,
            fp8: false,
            memory_verified: true,
        };
        assert!(spec("A10").matches_nvml("NVIDIA A10"));
        assert!(!spec("A10").matches_nvml("NVIDIA A100-PCIE-40GB"));
        assert!(spec("A100").matches_nvml("NVIDIA A100-PCIE-40GB"));
        assert!(!spec("L4").matches_nvml("NVIDIA L40S"));
        assert!(spec("RTX 4090").matches_nvml("NVIDIA GeForce RTX 4090"));
        assert!(!spec("RTX 6000 Ada").matches_nvml("NVIDIA RTX A6000"));
        assert!(!spec("H100").matches_nvml("NVIDIA GH200 480GB"));
    }

    #[test]
    fn names_normalise() {
        assert_eq!(normalize("A100-80"), normalize("a100 80"));
        assert_eq!(parse_cc("8.9"), Some(ComputeCapability::new(8, 9)));
        assert_eq!(parse_cc("89"), None);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ComputeCapability {
    pub major: u32,
    pub minor: u32,
}

impl ComputeCapability {
    pub const fn new(major: u32, minor: u32) -> Self {
        Self { major, minor }
    }
}

impl fmt::Display for ComputeCapability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}
