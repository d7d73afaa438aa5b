//! The judgement of an admin's local checkpoint folder (air-gapped sites), given its listing: a
//! configuration (`config.json` or `params.json`), the safetensors weights of the checkpoint's format,
//! every shard its index names, and a total near the catalog's expected size. What is missing is named.

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::catalog::{ModelSpec, Precision, WeightsFormat};
use crate::problem::Explain;

/// One file of the folder (path relative to it, size in bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    pub name: String,
    pub size: u64,
}

/// Below this share of the catalog's size the folder is refused: a shard is missing, or it is a smaller
/// model. The catalog computes the size from the architecture; real files add headers, a vision encoder
/// or an unquantised layer, so they come out at or above it, rarely below.
pub const SIZE_FLOOR: f64 = 0.90;
/// Above this share a warning: another model, or a precision other than the one the spec runs.
pub const SIZE_CEILING: f64 = 1.15;

/// What the folder's safetensors are compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SizeBasis {
    /// The catalog's weight bytes, and what they are of ("Mistral Small 3.2 24B Instruct 2506 in bf16").
    Catalog { bytes: u64, what: String },
    /// Not checked, and why (said in Review).
    Unknown(String),
}

const INDEX: &str = "model.safetensors.index.json";

/// What the check found, for Review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCheckpoint {
    pub weight_files: usize,
    pub weight_bytes: u64,
    /// About the size: a warning (more than the catalog's size), or why it was not checked.
    pub size_note: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LocalError {
    #[error("the weights folder {dir} lacks {}", missing.join(", "))]
    Missing { dir: String, missing: Vec<String> },
    #[error(
        "the weights folder {dir} holds {} of safetensors; {what} needs ≈ {}: a shard is missing or it is another model",
        super::human_bytes(*found),
        super::human_bytes(*expected)
    )]
    Size {
        dir: String,
        found: u64,
        expected: u64,
        what: String,
    },
    #[error("{INDEX} in {dir} could not be read: {reason}")]
    Index { dir: String, reason: String },
}

impl Explain for LocalError {
    fn code(&self) -> &'static str {
        "weights_incomplete"
    }
    fn fix(&self) -> Option<String> {
        Some(match self {
            LocalError::Missing { .. } | LocalError::Index { .. } => {
                "copy the whole checkpoint (or import it with the weights import command) and try again".into()
            }
            LocalError::Size { .. } => {
                "check that the folder holds the checkpoint of the chosen model and precision, completely copied".into()
            }
        })
    }
    fn field(&self) -> Option<String> {
        Some("model.weights.path".into())
    }
}

#[derive(Deserialize)]
struct Index {
    weight_map: std::collections::BTreeMap<String, String>,
}

/// Judges the folder `dir` (named in errors) from its listing. `index` is the content of
/// `model.safetensors.index.json` when the folder has one; `size` what its safetensors are compared with.
pub fn judge(
    dir: &str,
    files: &[LocalFile],
    index: Option<&str>,
    format: WeightsFormat,
    size: &SizeBasis,
) -> Result<LocalCheckpoint, LocalError> {
    let names: BTreeSet<&str> = files.iter().map(|f| f.name.as_str()).collect();
    let mut missing = Vec::new();
    if !names.contains("config.json") && !names.contains("params.json") {
        missing.push("config.json (or params.json)".to_string());
    }
    let is_weight = |n: &str| match format {
        WeightsFormat::Mistral => n.starts_with("consolidated") && n.ends_with(".safetensors"),
        WeightsFormat::Hf => {
            n.ends_with(".safetensors") && !n.starts_with("consolidated") && !n.contains('/')
        }
    };
    let weights: Vec<&LocalFile> = files.iter().filter(|f| is_weight(&f.name)).collect();
    if format == WeightsFormat::Mistral && !names.contains("params.json") {
        missing.push("params.json".into());
    }
    if weights.is_empty() {
        missing.push(match format {
            WeightsFormat::Mistral => "consolidated*.safetensors".into(),
            WeightsFormat::Hf => "*.safetensors weights".into(),
        });
    }
    if format == WeightsFormat::Hf {
        match index {
            Some(text) => {
                let idx: Index = serde_json::from_str(text).map_err(|e| LocalError::Index {
                    dir: dir.to_string(),
                    reason: e.to_string(),
                })?;
                let shards: BTreeSet<&str> = idx.weight_map.values().map(String::as_str).collect();
                missing.extend(
                    shards
                        .into_iter()
                        .filter(|s| !names.contains(s))
                        .map(String::from),
                );
            }
            None if weights.len() > 1 => missing.push(INDEX.into()),
            None => {}
        }
    }
    missing.dedup();
    if !missing.is_empty() {
        return Err(LocalError::Missing {
            dir: dir.to_string(),
            missing,
        });
    }
    let weight_bytes: u64 = weights.iter().map(|f| f.size).sum();
    let size_note = match size {
        SizeBasis::Catalog { bytes, what } if *bytes > 0 => {
            let ratio = weight_bytes as f64 / *bytes as f64;
            if ratio < SIZE_FLOOR {
                return Err(LocalError::Size {
                    dir: dir.to_string(),
                    found: weight_bytes,
                    expected: *bytes,
                    what: what.clone(),
                });
            }
            (ratio > SIZE_CEILING).then(|| {
                format!(
                    "the folder holds {} of safetensors, more than the ≈ {} of {what}: check it is that model in that precision",
                    super::human_bytes(weight_bytes),
                    super::human_bytes(*bytes)
                )
            })
        }
        SizeBasis::Catalog { .. } => None,
        SizeBasis::Unknown(why) => Some(why.clone()),
    };
    Ok(LocalCheckpoint {
        weight_files: weights.len(),
        weight_bytes,
        size_note,
    })
}

/// The size a folder's weights should have: the catalog model's bytes at the precision its own
/// configuration declares (`config.json`'s `quantization_config`, or `params.json`'s `quantization`;
/// none is 16-bit — a `--quantization fp8` then quantises on load, the files stay 16-bit). Where the
/// model or the quantisation is unknown, the size is not checked and the basis says why.
pub fn size_basis(model: Option<&ModelSpec>, served_name: &str, config: Option<&str>) -> SizeBasis {
    let Some(model) = model else {
        return SizeBasis::Unknown(format!(
            "size not checked: the catalog does not know the model \"{served_name}\""
        ));
    };
    match declared_precision(config) {
        Ok(p) => SizeBasis::Catalog {
            bytes: model.weight_bytes(p),
            what: format!("{} in {}", model.name, p.label()),
        },
        Err(why) => SizeBasis::Unknown(format!("size not checked: {why}")),
    }
}

/// The precision a checkpoint's configuration declares, as far as size goes (AWQ and GPTQ, and 4-bit
/// compressed-tensors, weigh the same; 8-bit compressed-tensors is FP8's size).
pub fn declared_precision(config: Option<&str>) -> Result<Precision, String> {
    let Some(text) = config else {
        return Ok(Precision::Bf16);
    };
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| format!("the checkpoint's configuration could not be read ({e})"))?;
    let q = v
        .get("quantization_config")
        .or_else(|| v.get("quantization"));
    let Some(q) = q.filter(|q| !q.is_null()) else {
        return Ok(Precision::Bf16);
    };
    let method = q
        .get("quant_method")
        .and_then(|m| m.as_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match method.as_str() {
        "awq" => Ok(Precision::Awq),
        "gptq" => Ok(Precision::Gptq),
        "fp8" => Ok(Precision::Fp8),
        "compressed-tensors" => {
            let bits: BTreeSet<u64> = q
                .get("config_groups")
                .and_then(|g| g.as_object())
                .into_iter()
                .flat_map(|g| g.values())
                .filter_map(|g| g.pointer("/weights/num_bits").and_then(|b| b.as_u64()))
                .collect();
            match bits.iter().copied().collect::<Vec<_>>().as_slice() {
                [8] => Ok(Precision::Fp8),
                [4] => Ok(Precision::Awq),
                _ => Err("the checkpoint's compressed-tensors weights are of a width the catalog has no size for".into()),
            }
        }
        "" => Err("the checkpoint declares a quantisation without its method".into()),
        other => Err(format!("the catalog has no size for {other} weights")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GB: u64 = 1_000_000_000;

    fn cat(bytes: u64) -> SizeBasis {
        SizeBasis::Catalog {
            bytes,
            what: "the model in bf16".into(),
        }
    }

    fn unknown() -> SizeBasis {
        SizeBasis::Unknown("size not checked: test".into())
    }

    fn f(name: &str, size: u64) -> LocalFile {
        LocalFile {
            name: name.into(),
            size,
        }
    }

    const INDEX_3: &str = r#"{"metadata":{"total_size":14496047104},"weight_map":{
        "model.embed_tokens.weight":"model-00001-of-00003.safetensors",
        "model.layers.0.mlp.down_proj.weight":"model-00001-of-00003.safetensors",
        "model.layers.15.mlp.down_proj.weight":"model-00002-of-00003.safetensors",
        "lm_head.weight":"model-00003-of-00003.safetensors"}}"#;

    fn hf_folder() -> Vec<LocalFile> {
        vec![
            f("config.json", 601),
            f("model-00001-of-00003.safetensors", 4_949_453_792),
            f("model-00002-of-00003.safetensors", 4_999_819_336),
            f("model-00003-of-00003.safetensors", 4_546_807_800),
            f(INDEX, 23_950),
            f("tokenizer.json", 1_961_548),
        ]
    }

    #[test]
    fn a_complete_folder_passes_in_either_format() {
        let ok = judge(
            "/m",
            &hf_folder(),
            Some(INDEX_3),
            WeightsFormat::Hf,
            &cat(14_500_000_000),
        )
        .unwrap();
        assert_eq!(ok.weight_files, 3);
        assert_eq!(ok.weight_bytes, 14_496_080_928);
        let mistral = [
            f("params.json", 202),
            f("consolidated.safetensors", 14_496_078_512),
            f("tokenizer.model.v3", 587_404),
        ];
        assert!(judge("/m", &mistral, None, WeightsFormat::Mistral, &cat(14 * GB)).is_ok());
        // Unknown expected size: the files decide alone.
        assert!(judge("/m", &mistral, None, WeightsFormat::Mistral, &unknown()).is_ok());
    }

    #[test]
    fn what_is_missing_is_named() {
        type Case<'a> = (Vec<LocalFile>, Option<&'a str>, WeightsFormat, Vec<&'a str>);
        let cases: Vec<Case<'_>> = vec![
            (
                hf_folder()
                    .into_iter()
                    .filter(|x| x.name != "model-00002-of-00003.safetensors")
                    .collect(),
                Some(INDEX_3),
                WeightsFormat::Hf,
                vec!["model-00002-of-00003.safetensors"],
            ),
            (
                hf_folder()
                    .into_iter()
                    .filter(|x| x.name != "config.json")
                    .collect(),
                Some(INDEX_3),
                WeightsFormat::Hf,
                vec!["config.json (or params.json)"],
            ),
            (
                hf_folder()
                    .into_iter()
                    .filter(|x| x.name != INDEX)
                    .collect(),
                None,
                WeightsFormat::Hf,
                vec![INDEX],
            ),
            (
                vec![f("README.md", 10)],
                None,
                WeightsFormat::Hf,
                vec!["config.json (or params.json)", "*.safetensors weights"],
            ),
            (
                vec![
                    f("config.json", 601),
                    f("consolidated.safetensors", 14 * GB),
                ],
                None,
                WeightsFormat::Mistral,
                vec!["params.json"],
            ),
            (
                vec![f("params.json", 202), f("pytorch_model.bin", 14 * GB)],
                None,
                WeightsFormat::Mistral,
                vec!["consolidated*.safetensors"],
            ),
        ];
        for (files, index, format, want) in cases {
            let e = judge("/srv/m", &files, index, format, &unknown()).unwrap_err();
            let LocalError::Missing { missing, .. } = &e else {
                panic!("{e}")
            };
            assert_eq!(missing, &want);
            assert!(
                e.to_string()
                    .starts_with("the weights folder /srv/m lacks "),
                "{e}"
            );
            assert_eq!(e.field().as_deref(), Some("model.weights.path"));
        }
    }

    #[test]
    fn a_folder_far_from_the_catalog_size_is_refused() {
        // Half the shards' bytes: an interrupted copy with the right names.
        let mut files = hf_folder();
        for x in files
            .iter_mut()
            .filter(|x| x.name.ends_with(".safetensors"))
        {
            x.size /= 2;
        }
        let e = judge(
            "/m",
            &files,
            Some(INDEX_3),
            WeightsFormat::Hf,
            &cat(14_500_000_000),
        )
        .unwrap_err();
        assert!(matches!(e, LocalError::Size { .. }), "{e}");
        assert!(
            e.to_string().contains("7.2 GB") && e.to_string().contains("14.5 GB"),
            "{e}"
        );
        // Another model's checkpoint (three times the size).
        assert!(judge(
            "/m",
            &hf_folder(),
            Some(INDEX_3),
            WeightsFormat::Hf,
            &cat(48 * GB)
        )
        .is_err());
    }

    #[test]
    fn an_unreadable_index_is_an_error_of_its_own() {
        let e = judge("/m", &hf_folder(), Some("{"), WeightsFormat::Hf, &unknown()).unwrap_err();
        assert!(matches!(e, LocalError::Index { .. }));
    }

    #[test]
    fn the_size_is_judged_against_the_catalog_model_at_the_declared_precision() {
        let catalog = crate::catalog::Catalog::builtin().unwrap();
        let model = catalog
            .model("mistral-small-3.2-24b-instruct-2506")
            .unwrap();
        let bf16 = size_basis(Some(model), "x", None);
        let SizeBasis::Catalog { bytes, what } = &bf16 else {
            panic!("{bf16:?}")
        };
        assert_eq!(what, "Mistral Small 3.2 24B Instruct 2506 in bf16");
        assert!((44 * GB..52 * GB).contains(bytes), "{bytes}");
        // A quarter of it: refused, saying what it holds and what the model needs.
        let quarter = [
            f("params.json", 202),
            f("consolidated.safetensors", bytes / 4),
        ];
        let e = judge("/srv/m", &quarter, None, WeightsFormat::Mistral, &bf16).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("holds 12.")
                && msg.contains("Mistral Small 3.2 24B Instruct 2506 in bf16 needs ≈ ")
                && msg.contains("a shard is missing or it is another model"),
            "{msg}"
        );
        // 89 % refused, 91 % and 115 % pass silently, 120 % passes with a warning.
        let at = |pct: u64| {
            let files = [
                f("params.json", 202),
                f("consolidated.safetensors", bytes * pct / 100),
            ];
            judge("/m", &files, None, WeightsFormat::Mistral, &bf16)
        };
        assert!(at(89).is_err());
        assert_eq!(at(91).unwrap().size_note, None);
        assert_eq!(at(115).unwrap().size_note, None);
        let note = at(120).unwrap().size_note.unwrap();
        assert!(note.contains("more than the ≈"), "{note}");
        // An AWQ checkpoint is judged at 4-bit size: a bf16 basis would refuse it.
        let awq_config = r#"{"quantization_config":{"quant_method":"awq","bits":4}}"#;
        let awq = size_basis(Some(model), "x", Some(awq_config));
        let SizeBasis::Catalog {
            bytes: awq_bytes,
            what,
        } = &awq
        else {
            panic!("{awq:?}")
        };
        assert_eq!(*awq_bytes, model.weight_bytes(Precision::Awq));
        assert!(what.ends_with("in 4-bit AWQ"), "{what}");
        assert!(*awq_bytes < bytes / 2);
    }

    #[test]
    fn the_precision_comes_from_the_checkpoint_configuration() {
        let cases = [
            (None, Ok(Precision::Bf16)),
            (
                Some(r#"{"architectures":["MistralForCausalLM"]}"#),
                Ok(Precision::Bf16),
            ),
            (Some(r#"{"quantization_config":null}"#), Ok(Precision::Bf16)),
            (
                Some(r#"{"quantization_config":{"quant_method":"gptq"}}"#),
                Ok(Precision::Gptq),
            ),
            (
                Some(r#"{"quantization_config":{"quant_method":"fp8"}}"#),
                Ok(Precision::Fp8),
            ),
            (
                Some(
                    r#"{"quantization_config":{"quant_method":"compressed-tensors","config_groups":{"group_0":{"weights":{"num_bits":8}}}}}"#,
                ),
                Ok(Precision::Fp8),
            ),
            (
                Some(
                    r#"{"quantization_config":{"quant_method":"compressed-tensors","config_groups":{"group_0":{"weights":{"num_bits":4}}}}}"#,
                ),
                Ok(Precision::Awq),
            ),
        ];
        for (config, want) in cases {
            assert_eq!(declared_precision(config), want, "{config:?}");
        }
        for unknown in [
            r#"{"quantization_config":{"quant_method":"bitsandbytes"}}"#,
            r#"{"quantization_config":{"quant_method":"compressed-tensors","config_groups":{}}}"#,
            "{",
        ] {
            let basis = size_basis(None, "x", Some(unknown));
            assert!(matches!(basis, SizeBasis::Unknown(_)), "{unknown}");
            let catalog = crate::catalog::Catalog::builtin().unwrap();
            let model = catalog.model("codestral-22b-v0.1").unwrap();
            let SizeBasis::Unknown(why) = size_basis(Some(model), "x", Some(unknown)) else {
                panic!("{unknown}")
            };
            assert!(why.starts_with("size not checked: "), "{why}");
        }
        let SizeBasis::Unknown(why) = size_basis(None, "my-model", None) else {
            panic!()
        };
        assert!(why.contains("\"my-model\""), "{why}");
    }
}
