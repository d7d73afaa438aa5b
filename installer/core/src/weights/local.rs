//! The judgement of an admin's local checkpoint folder (air-gapped sites), given its listing: a
//! configuration (`config.json` or `params.json`), the safetensors weights of the checkpoint's format,
//! every shard its index names, and a total near the catalog's expected size. What is missing is named.

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::catalog::WeightsFormat;
use crate::problem::Explain;

/// One file of the folder (path relative to it, size in bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    pub name: String,
    pub size: u64,
}

/// How far the weights may be from the catalog's size: the catalog computes it from the architecture,
/// the files carry headers, tied embeddings and the odd unquantised layer.
pub const SIZE_TOLERANCE: f64 = 0.25;

const INDEX: &str = "model.safetensors.index.json";

/// What the check found, for Review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCheckpoint {
    pub weight_files: usize,
    pub weight_bytes: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LocalError {
    #[error("the weights folder {dir} lacks {}", missing.join(", "))]
    Missing { dir: String, missing: Vec<String> },
    #[error(
        "the weights folder {dir} holds {} of weights where about {} are expected",
        super::human_bytes(*found),
        super::human_bytes(*expected)
    )]
    Size {
        dir: String,
        found: u64,
        expected: u64,
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
/// `model.safetensors.index.json` when the folder has one; `expected` the catalog's weight bytes for
/// the model and precision, when known.
pub fn judge(
    dir: &str,
    files: &[LocalFile],
    index: Option<&str>,
    format: WeightsFormat,
    expected: Option<u64>,
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
    if let Some(expected) = expected.filter(|e| *e > 0) {
        let ratio = weight_bytes as f64 / expected as f64;
        if (ratio - 1.0).abs() > SIZE_TOLERANCE {
            return Err(LocalError::Size {
                dir: dir.to_string(),
                found: weight_bytes,
                expected,
            });
        }
    }
    Ok(LocalCheckpoint {
        weight_files: weights.len(),
        weight_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GB: u64 = 1_000_000_000;

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
            Some(14_500_000_000),
        )
        .unwrap();
        assert_eq!(ok.weight_files, 3);
        assert_eq!(ok.weight_bytes, 14_496_080_928);
        let mistral = [
            f("params.json", 202),
            f("consolidated.safetensors", 14_496_078_512),
            f("tokenizer.model.v3", 587_404),
        ];
        assert!(judge("/m", &mistral, None, WeightsFormat::Mistral, Some(14 * GB)).is_ok());
        // Unknown expected size: the files decide alone.
        assert!(judge("/m", &mistral, None, WeightsFormat::Mistral, None).is_ok());
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
            let e = judge("/srv/m", &files, index, format, None).unwrap_err();
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
            Some(14_500_000_000),
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
            Some(48 * GB)
        )
        .is_err());
    }

    #[test]
    fn an_unreadable_index_is_an_error_of_its_own() {
        let e = judge("/m", &hf_folder(), Some("{"), WeightsFormat::Hf, None).unwrap_err();
        assert!(matches!(e, LocalError::Index { .. }));
    }
}
