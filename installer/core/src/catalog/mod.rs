//! The catalog: Mistral-family models and NVIDIA GPUs as versioned data files embedded in the binary
//! (`models.toml`, `gpus.toml`), parsed and validated at load. No I/O: the text is compiled in.

pub mod gitlab;
pub mod gpu;
pub mod model;

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

pub use gitlab::{GitlabVersion, NEWEST_KNOWN};
pub use gpu::GpuSpec;
pub use model::{
    Checkpoint, DuoFeature, License, ModelSpec, Precision, QuantMethod, SupportStatus,
    TokenizerMode, WeightsFormat,
};

use crate::catalog::gpu::ComputeCapability;

pub const MODELS_TOML: &str = include_str!("models.toml");
pub const GPUS_TOML: &str = include_str!("gpus.toml");
/// The catalog format this code reads; bumped when a field changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog file {file} does not parse: {source}")]
    Parse {
        file: &'static str,
        source: toml::de::Error,
    },
    #[error("catalog file {file} has schema_version {found}; this build reads {SCHEMA_VERSION}")]
    Schema { file: &'static str, found: u32 },
    #[error("catalog file {file}, entry '{entry}': {problem}")]
    Invalid {
        file: &'static str,
        entry: String,
        problem: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("unknown model '{name}'. Valid model ids: {valid}")]
    UnknownModel { name: String, valid: String },
    #[error(
        "unknown GPU '{name}'. Valid GPU names: {valid}; or describe the card by its numbers, \
         MEMGiB@ccX.Y (NVML's memory total and compute capability, e.g. 96GiB@cc10.0)"
    )]
    UnknownGpu { name: String, valid: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelsFile {
    schema_version: u32,
    model: Vec<ModelSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GpusFile {
    schema_version: u32,
    gpu: Vec<GpuSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Catalog {
    pub schema_version: u32,
    /// Most capable first (by `rank`).
    pub models: Vec<ModelSpec>,
    pub gpus: Vec<GpuSpec>,
}

impl Catalog {
    /// The catalog compiled into this binary.
    pub fn builtin() -> Result<Self, CatalogError> {
        Self::parse(MODELS_TOML, GPUS_TOML)
    }

    pub fn parse(models_toml: &str, gpus_toml: &str) -> Result<Self, CatalogError> {
        const MODELS: &str = "models.toml";
        const GPUS: &str = "gpus.toml";
        let m: ModelsFile = toml::from_str(models_toml).map_err(|source| CatalogError::Parse {
            file: MODELS,
            source,
        })?;
        let g: GpusFile = toml::from_str(gpus_toml)
            .map_err(|source| CatalogError::Parse { file: GPUS, source })?;
        for (file, found) in [(MODELS, m.schema_version), (GPUS, g.schema_version)] {
            if found != SCHEMA_VERSION {
                return Err(CatalogError::Schema { file, found });
            }
        }
        let invalid = |file, entry: &str, problem: String| CatalogError::Invalid {
            file,
            entry: entry.to_string(),
            problem,
        };

        let mut names = BTreeSet::new();
        let mut ranks = BTreeSet::new();
        for spec in &m.model {
            if let Some(problem) = spec.problems().into_iter().next() {
                return Err(invalid(MODELS, &spec.id, problem));
            }
            for n in std::iter::once(&spec.id).chain(&spec.aliases) {
                if !names.insert(n.clone()) {
                    return Err(invalid(
                        MODELS,
                        &spec.id,
                        format!("name '{n}' is used twice"),
                    ));
                }
            }
            if !ranks.insert(spec.rank) {
                return Err(invalid(
                    MODELS,
                    &spec.id,
                    format!("rank {} is used twice", spec.rank),
                ));
            }
        }
        let mut gpu_names = BTreeSet::new();
        for spec in &g.gpu {
            if let Some(problem) = spec.problems().into_iter().next() {
                return Err(invalid(GPUS, &spec.id, problem));
            }
            for n in std::iter::once(&spec.id).chain(&spec.aliases) {
                if !gpu_names.insert(gpu::normalize(n)) {
                    return Err(invalid(GPUS, &spec.id, format!("name '{n}' is used twice")));
                }
            }
        }
        let mut models = m.model;
        models.sort_by_key(|m| std::cmp::Reverse(m.rank));
        Ok(Catalog {
            schema_version: SCHEMA_VERSION,
            models,
            gpus: g.gpu,
        })
    }

    pub fn model_ids(&self) -> String {
        self.models
            .iter()
            .map(|m| m.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn gpu_ids(&self) -> String {
        self.gpus
            .iter()
            .map(|g| g.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A model by id or alias.
    pub fn model(&self, name: &str) -> Result<&ModelSpec, LookupError> {
        self.models
            .iter()
            .find(|m| m.answers_to(name))
            .ok_or_else(|| LookupError::UnknownModel {
                name: name.to_string(),
                valid: self.model_ids(),
            })
    }

    /// A GPU by id or alias ("L4", "a100-80", "RTX 4090").
    pub fn gpu(&self, name: &str) -> Result<&GpuSpec, LookupError> {
        self.gpus
            .iter()
            .find(|g| g.answers_to(name))
            .ok_or_else(|| LookupError::UnknownGpu {
                name: name.to_string(),
                valid: self.gpu_ids(),
            })
    }

    /// The catalog entry for a detected card: its NVML name, then the closest memory size (A100 40 vs 80),
    /// among entries of the same compute capability.
    pub fn gpu_for_device(
        &self,
        nvml_name: &str,
        total_mib: u64,
        cc: ComputeCapability,
    ) -> Option<&GpuSpec> {
        self.gpus
            .iter()
            .filter(|g| g.compute_capability == cc && g.matches_nvml(nvml_name))
            .min_by_key(|g| g.memory_mib.abs_diff(total_mib))
    }
}

impl crate::problem::Explain for LookupError {
    fn code(&self) -> &'static str {
        "invalid_input"
    }
    fn fix(&self) -> Option<String> {
        Some("use one of the valid names listed".into())
    }
    fn field(&self) -> Option<String> {
        Some(match self {
            Self::UnknownModel { .. } => "model".into(),
            Self::UnknownGpu { .. } => "gpus".into(),
        })
    }
}

impl crate::problem::Explain for CatalogError {
    fn code(&self) -> &'static str {
        "catalog"
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::sizing;

    fn builtin() -> Catalog {
        Catalog::builtin().expect("the embedded catalog is valid")
    }

    #[test]
    fn every_entry_loads_and_validates() {
        let c = builtin();
        assert_eq!(c.models.len(), 7);
        assert_eq!(c.gpus.len(), 25);
        assert!(c.models.windows(2).all(|w| w[0].rank > w[1].rank));
        for m in &c.models {
            assert!(m.problems().is_empty(), "{}: {:?}", m.id, m.problems());
            assert!(m.checkpoint(Precision::Bf16).is_some());
        }
    }

    #[test]
    fn the_issue_lists_every_model() {
        let c = builtin();
        for id in [
            "mistral-7b-instruct-v0.3",
            "mistral-7b-instruct-v0.2",
            "mixtral-8x7b-instruct-v0.1",
            "mixtral-8x22b-instruct-v0.1",
            "codestral-22b-v0.1",
            "mistral-nemo-instruct-2407",
            "mistral-small-3.2-24b-instruct-2506",
        ] {
            assert!(c.model(id).is_ok(), "{id}");
        }
        for g in [
            "T4",
            "V100-16",
            "V100-32",
            "A10",
            "A10G",
            "L4",
            "L40S",
            "A100-40",
            "A100-80",
            "H100",
            "H200",
            "GH200",
            "RTX3090",
            "RTX4090",
            "RTXA6000",
            "RTX6000ADA",
        ] {
            assert!(c.gpu(g).is_ok(), "{g}");
        }
    }

    #[test]
    fn computed_weights_match_the_reference_table() {
        // docs/sources.md, "Models" (bf16 / FP8 / 4-bit GiB), computed here from each entry's architecture.
        // That table rounds its own computation, so allow its last digit to differ by one.
        let c = builtin();
        let close = |b: u64, want: f64| (b as f64 / sizing::GIB as f64 - want).abs() <= 0.1;
        for (id, bf16, fp8, int4) in [
            ("mistral-7b-instruct-v0.3", 13.5, 7.0, 3.9),
            ("mixtral-8x7b-instruct-v0.1", 87.0, 43.7, 23.0),
            ("mixtral-8x22b-instruct-v0.1", 261.9, 131.3, 68.7),
            ("codestral-22b-v0.1", 41.4, 21.1, 11.3),
            ("mistral-nemo-instruct-2407", 22.8, 12.7, 7.8),
            ("mistral-small-3.2-24b-instruct-2506", 44.7, 24.0, 14.1),
        ] {
            let m = c.model(id).unwrap();
            assert!(close(m.weight_bytes(Precision::Bf16), bf16), "{id} bf16");
            assert!(close(m.weight_bytes(Precision::Fp8), fp8), "{id} fp8");
            assert!(close(m.weight_bytes(Precision::Awq), int4), "{id} 4-bit");
        }
    }

    #[test]
    fn kv_per_token_matches_the_reference_table() {
        let c = builtin();
        for (id, kib) in [
            ("mistral-7b-instruct-v0.3", 128),
            ("mixtral-8x22b-instruct-v0.1", 224),
            ("codestral-22b-v0.1", 224),
            ("mistral-nemo-instruct-2407", 160),
            ("mistral-small-3.2-24b-instruct-2506", 160),
        ] {
            let a = c.model(id).unwrap().architecture();
            assert_eq!(sizing::kv_bytes_per_token(&a, 1, 2), kib * 1024, "{id}");
        }
    }

    #[test]
    fn lookups_accept_aliases_and_list_valid_values() {
        let c = builtin();
        assert_eq!(c.model("Codestral").unwrap().id, "codestral-22b-v0.1");
        assert_eq!(c.gpu("a100 80").unwrap().id, "A100-80");
        assert_eq!(c.gpu("rtx-4090").unwrap().id, "RTX4090");
        assert_eq!(c.gpu("rtx pro 6000 blackwell").unwrap().id, "RTXPRO6000");
        assert_eq!(c.gpu("5090").unwrap().id, "RTX5090");
        let e = c.gpu("MI300X").unwrap_err().to_string();
        assert!(
            e.contains("MI300X") && e.contains("B200") && e.contains("H200"),
            "{e}"
        );
        assert!(
            e.contains("96GiB@cc10.0"),
            "the numbers form is offered: {e}"
        );
        let e = c.model("llama-3").unwrap_err().to_string();
        assert!(e.contains("mistral-7b-instruct-v0.3"), "{e}");
    }

    #[test]
    fn detected_names_map_to_entries() {
        let c = builtin();
        let id = |n, mib, cc: (u32, u32)| {
            c.gpu_for_device(n, mib, ComputeCapability::new(cc.0, cc.1))
                .map(|g| g.id.clone())
        };
        assert_eq!(
            id("NVIDIA A100-SXM4-40GB", 40960, (8, 0)).as_deref(),
            Some("A100-40")
        );
        assert_eq!(
            id("NVIDIA A100 80GB PCIe", 81920, (8, 0)).as_deref(),
            Some("A100-80")
        );
        assert_eq!(id("NVIDIA A10G", 23028, (8, 6)).as_deref(), Some("A10G"));
        assert_eq!(id("Tesla T4", 15360, (7, 5)).as_deref(), Some("T4"));
        assert_eq!(
            id("NVIDIA H100 80GB HBM3", 81559, (9, 0)).as_deref(),
            Some("H100")
        );
        // Issue 16: today's cards, by the names NVML gives them (docs/sources.md, "GPUs").
        assert_eq!(id("NVIDIA B200", 183359, (10, 0)).as_deref(), Some("B200"));
        assert_eq!(
            id("NVIDIA GB200", 189471, (10, 0)).as_deref(),
            Some("GB200")
        );
        assert_eq!(
            id("NVIDIA B300 SXM6 AC", 275040, (10, 3)).as_deref(),
            Some("B300")
        );
        assert_eq!(
            id(
                "NVIDIA RTX PRO 6000 Blackwell Server Edition",
                97887,
                (12, 0)
            )
            .as_deref(),
            Some("RTXPRO6000")
        );
        assert_eq!(
            id("NVIDIA GeForce RTX 5090", 32607, (12, 0)).as_deref(),
            Some("RTX5090")
        );
        assert_eq!(id("NVIDIA H20", 97871, (9, 0)).as_deref(), Some("H20"));
        assert_eq!(id("NVIDIA L20", 46068, (8, 9)).as_deref(), Some("L20"));
        assert_eq!(id("NVIDIA A30", 24576, (8, 0)).as_deref(), Some("A30"));
        assert_eq!(id("NVIDIA A40", 46068, (8, 6)).as_deref(), Some("A40"));
        assert_eq!(
            id("NVIDIA RTX 6000 Ada Generation", 49140, (8, 9)).as_deref(),
            Some("RTX6000ADA")
        );
        // An Ada card is not an RTX PRO 6000 Blackwell, nor a GB200 a B200.
        assert_eq!(id("NVIDIA RTX PRO 6000 Blackwell", 97887, (8, 9)), None);
        assert_eq!(
            id("NVIDIA GB200", 189471, (10, 0)).as_deref(),
            Some("GB200")
        );
        assert_eq!(id("NVIDIA Made-Up X9", 65536, (10, 0)), None);
    }

    #[test]
    fn validation_names_the_entry_and_the_problem() {
        let broken = MODELS_TOML.replacen("layers = 40", "layers = 4", 1);
        let e = Catalog::parse(&broken, GPUS_TOML).unwrap_err().to_string();
        assert!(
            e.contains("mistral-small-3.2-24b-instruct-2506") && e.contains("parameters"),
            "{e}"
        );

        let broken = GPUS_TOML.replacen("bf16 = false", "bf16 = true", 1);
        let e = Catalog::parse(MODELS_TOML, &broken)
            .unwrap_err()
            .to_string();
        assert!(e.contains("'T4'") && e.contains("bf16"), "{e}");

        let broken = MODELS_TOML.replacen("schema_version = 1", "schema_version = 2", 1);
        assert!(matches!(
            Catalog::parse(&broken, GPUS_TOML),
            Err(CatalogError::Schema { found: 2, .. })
        ));

        let broken = MODELS_TOML.replacen("rank = 90", "rank = 100", 1);
        let e = Catalog::parse(&broken, GPUS_TOML).unwrap_err().to_string();
        assert!(e.contains("rank 100 is used twice"), "{e}");

        let broken = MODELS_TOML.replacen("hf_repo = \"neuralmagic/", "hf_repo = \"", 1);
        let e = Catalog::parse(&broken, GPUS_TOML).unwrap_err().to_string();
        assert!(e.contains("OWNER/NAME"), "{e}");
    }
}
