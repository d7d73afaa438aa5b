//! Table tests over sibling lists as the Hub lists the catalog's repositories.

use super::*;
use crate::weights::hub::{Gated, Lfs};

const GB: u64 = 1_000_000_000;

/// A deterministic digest of `len` hex digits for `name`.
fn hex(name: &str, len: usize) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    format!("{h:016x}").repeat(4)[..len].to_string()
}

/// Weights and other large files are LFS; small text files are plain git blobs.
fn sib(name: &str, size: u64) -> Sibling {
    let lfs = [
        ".safetensors",
        ".bin",
        ".pt",
        ".pth",
        ".gguf",
        "tokenizer.model",
        "tokenizer.json",
        "tekken.json",
    ]
    .iter()
    .any(|e| name.ends_with(e) || name.contains(".model.v"));
    Sibling {
        rfilename: name.into(),
        size: Some(if lfs { 135 } else { size }),
        blob_id: Some(hex(&format!("blob {name}"), 40)),
        lfs: lfs.then(|| Lfs {
            sha256: hex(name, 64),
            size,
            pointer_size: Some(135),
        }),
    }
}

fn repo(id: &str, files: &[(&str, u64)]) -> RepoInfo {
    RepoInfo {
        id: id.into(),
        sha: hex(id, 40),
        siblings: files.iter().map(|(n, s)| sib(n, *s)).collect(),
        gated: Gated::Flag(false),
        private: false,
    }
}

fn names(s: &Selection) -> Vec<&str> {
    s.files.iter().map(|f| f.name.as_str()).collect()
}

fn mistral_small() -> RepoInfo {
    let mut files = vec![
        (".gitattributes", 1_519),
        ("README.md", 24_000),
        ("SYSTEM_PROMPT.txt", 1_200),
        ("config.json", 1_400),
        ("consolidated.safetensors", 48_033_000_000),
        ("generation_config.json", 155),
        ("model.safetensors.index.json", 88_000),
        ("params.json", 640),
        ("tekken.json", 19_400_000),
    ];
    let shards: Vec<String> = (1..=10)
        .map(|i| format!("model-{i:05}-of-00010.safetensors"))
        .collect();
    files.extend(shards.iter().map(|s| (s.as_str(), 4_800_000_000)));
    repo("mistralai/Mistral-Small-3.2-24B-Instruct-2506", &files)
}

fn mistral_7b() -> RepoInfo {
    repo(
        "mistralai/Mistral-7B-Instruct-v0.3",
        &[
            (".gitattributes", 1_519),
            ("README.md", 7_000),
            ("config.json", 601),
            ("consolidated.safetensors", 14_496_078_512),
            ("generation_config.json", 116),
            ("model-00001-of-00003.safetensors", 4_949_453_792),
            ("model-00002-of-00003.safetensors", 4_999_819_336),
            ("model-00003-of-00003.safetensors", 4_546_807_800),
            ("model.safetensors.index.json", 23_950),
            ("params.json", 202),
            ("special_tokens_map.json", 414),
            ("tokenizer.json", 1_961_548),
            ("tokenizer.model", 587_404),
            ("tokenizer.model.v3", 587_404),
            ("tokenizer_config.json", 137_751),
        ],
    )
}

fn codestral() -> RepoInfo {
    repo(
        "mistralai/Codestral-22B-v0.1",
        &[
            (".gitattributes", 1_519),
            ("README.md", 9_000),
            ("consolidated.safetensors", 44_494_340_576),
            ("params.json", 193),
            ("tokenizer.model.v3", 587_591),
        ],
    )
}

fn mixtral_8x7b() -> RepoInfo {
    let mut files: Vec<(String, u64)> = vec![
        (".gitattributes".into(), 1_519),
        ("README.md".into(), 6_000),
        ("config.json".into(), 720),
        ("generation_config.json".into(), 116),
        ("model.safetensors.index.json".into(), 92_658),
        ("special_tokens_map.json".into(), 72),
        ("tokenizer.json".into(), 1_795_303),
        ("tokenizer.model".into(), 493_443),
        ("tokenizer_config.json".into(), 1_466),
    ];
    files.extend((0..8).map(|i| (format!("consolidated.0{i}.pt"), 11_674_000_000)));
    files.extend((1..=19).map(|i| (format!("model-{i:05}-of-00019.safetensors"), 4_900_000_000)));
    let refs: Vec<(&str, u64)> = files.iter().map(|(n, s)| (n.as_str(), *s)).collect();
    repo("mistralai/Mixtral-8x7B-Instruct-v0.1", &refs)
}

#[test]
fn mistral_format_takes_consolidated_weights_and_params_not_the_shards() {
    let s = select(&mistral_small(), WeightsFormat::Mistral).unwrap();
    assert_eq!(
        names(&s),
        [
            "config.json",
            "consolidated.safetensors",
            "generation_config.json",
            "params.json",
            "tekken.json"
        ]
    );
    assert_eq!(s.total, 1_400 + 48_033_000_000 + 155 + 640 + 19_400_000);
    assert_eq!(
        s.commit,
        hex("mistralai/Mistral-Small-3.2-24B-Instruct-2506", 40)
    );
}

#[test]
fn each_catalog_repository_selects_exactly_what_vllm_reads() {
    let cases: Vec<(RepoInfo, WeightsFormat, Vec<&str>, u64)> = vec![
        (
            mistral_7b(),
            WeightsFormat::Mistral,
            vec![
                "config.json",
                "consolidated.safetensors",
                "generation_config.json",
                "params.json",
                "special_tokens_map.json",
                "tokenizer.json",
                "tokenizer.model",
                "tokenizer.model.v3",
                "tokenizer_config.json",
            ],
            14 * GB,
        ),
        (
            mistral_7b(),
            WeightsFormat::Hf,
            vec![
                "config.json",
                "generation_config.json",
                "model-00001-of-00003.safetensors",
                "model-00002-of-00003.safetensors",
                "model-00003-of-00003.safetensors",
                "model.safetensors.index.json",
                "params.json",
                "special_tokens_map.json",
                "tokenizer.json",
                "tokenizer.model",
                "tokenizer.model.v3",
                "tokenizer_config.json",
            ],
            14 * GB,
        ),
        (
            codestral(),
            WeightsFormat::Mistral,
            vec![
                "consolidated.safetensors",
                "params.json",
                "tokenizer.model.v3",
            ],
            44 * GB,
        ),
    ];
    for (info, format, want, at_least) in cases {
        let s = select(&info, format).unwrap();
        assert_eq!(names(&s), want, "{} {format:?}", info.id);
        assert!(
            s.total > at_least && s.total < at_least + GB,
            "{} {}",
            info.id,
            s.total
        );
    }
}

#[test]
fn pickled_originals_are_never_taken_when_safetensors_exist() {
    let s = select(&mixtral_8x7b(), WeightsFormat::Hf).unwrap();
    assert!(
        s.files.iter().all(|f| !f.name.ends_with(".pt")),
        "{:?}",
        names(&s)
    );
    assert_eq!(
        s.files
            .iter()
            .filter(|f| f.name.ends_with(".safetensors"))
            .count(),
        19
    );
    assert!(names(&s).contains(&"model.safetensors.index.json"));
    assert_eq!(
        s.total,
        19 * 4_900_000_000 + 720 + 116 + 92_658 + 72 + 1_795_303 + 493_443 + 1_466
    );
}

#[test]
fn nested_copies_and_other_formats_are_left_out() {
    let info = repo(
        "TheBloke/Mixtral-8x7B-Instruct-v0.1-AWQ",
        &[
            ("config.json", 900),
            ("model.safetensors", 24_650_000_000),
            ("pytorch_model.bin", 24_650_000_000),
            ("original/consolidated.safetensors", 90 * GB),
            ("original/params.json", 200),
            ("model-q4_k_m.gguf", 26 * GB),
            ("quant_config.json", 120),
            ("tokenizer.json", 1_795_303),
            ("tokenizer_config.json", 1_466),
        ],
    );
    let s = select(&info, WeightsFormat::Hf).unwrap();
    assert_eq!(
        names(&s),
        [
            "config.json",
            "model.safetensors",
            "quant_config.json",
            "tokenizer.json",
            "tokenizer_config.json"
        ]
    );
}

#[test]
fn etags_are_the_lfs_sha256_or_the_git_blob_id() {
    let s = select(&codestral(), WeightsFormat::Mistral).unwrap();
    let weights = &s.files[0];
    assert_eq!(weights.etag, hex("consolidated.safetensors", 64));
    assert_eq!(weights.sha256(), Some(weights.etag.as_str()));
    let params = &s.files[1];
    assert_eq!(params.digest, Digest::GitBlob(hex("blob params.json", 40)));
    assert_eq!(params.etag, hex("blob params.json", 40));
    assert_eq!(params.sha256(), None);
    assert_eq!(params.size, 193);
}

#[test]
fn a_repository_without_the_format_or_its_configuration_is_refused_by_name() {
    let e = select(&mixtral_8x7b(), WeightsFormat::Mistral).unwrap_err();
    assert!(matches!(e, SelectError::NoWeights { .. }), "{e}");
    assert!(e.to_string().contains("consolidated"), "{e}");

    let mut info = mistral_7b();
    info.siblings
        .retain(|s| s.rfilename != "model.safetensors.index.json");
    let e = select(&info, WeightsFormat::Hf).unwrap_err();
    assert!(
        e.to_string().contains("model.safetensors.index.json"),
        "{e}"
    );

    let mut info = codestral();
    info.siblings.retain(|s| s.rfilename != "params.json");
    let e = select(&info, WeightsFormat::Mistral).unwrap_err();
    assert_eq!(e.code(), "weights_incomplete");
    assert!(e.to_string().contains("params.json"), "{e}");

    let bins = repo("x/y", &[("config.json", 10), ("pytorch_model.bin", GB)]);
    assert!(matches!(
        select(&bins, WeightsFormat::Hf),
        Err(SelectError::NoWeights { .. })
    ));
}

#[test]
fn a_file_without_a_checksum_is_refused() {
    let mut info = codestral();
    info.siblings[2].lfs = None;
    info.siblings[2].blob_id = None;
    let e = select(&info, WeightsFormat::Mistral).unwrap_err();
    assert!(matches!(e, SelectError::NoDigest { .. }), "{e}");
}
