//! The floor rule ARCHITECTURE.md states, checked where a reviewer would look: the core's manifest names
//! data crates only, so no I/O dependency (tokio, bollard, NVML, sysinfo, clap, anyhow, an HTTP client)
//! can reach it, directly or through another crate.

/// The dependencies the core may have: data formats, hashing, errors, URLs.
const ALLOWED: [&str; 7] = [
    "serde",
    "serde_json",
    "sha1",
    "sha2",
    "thiserror",
    "toml",
    "url",
];

#[test]
fn the_core_depends_on_data_crates_only() {
    let manifest: toml::Table = toml::from_str(include_str!("../../Cargo.toml")).unwrap();
    let deps = manifest["dependencies"].as_table().unwrap();
    assert!(!deps.is_empty(), "the manifest was read");
    let extra: Vec<&String> = deps
        .keys()
        .filter(|k| !ALLOWED.contains(&k.as_str()))
        .collect();
    assert!(
        extra.is_empty(),
        "aigw-core must stay free of I/O: {extra:?} do not belong in installer/core/Cargo.toml \
         (move the code that needs them into aigw-engine)"
    );
    for k in ["build-dependencies", "target"] {
        assert!(manifest.get(k).is_none(), "no {k} in the core");
    }
}
