//! Every fixture parses into the types the engine uses, and each GPU profile names its machine and source.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_engine::hardware::gpu::LoadProfile;
use aigw_engine::hardware::gpu::{GpuProfile, NvmlReading};
use aigw_engine::hardware::SystemReport;

#[test]
fn gpu_profiles_parse_and_say_where_they_come_from() {
    let dir = aigw_e2e::fixtures().join("gpus");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        // `nvidia-smi/` holds the probe's CSV outputs, read by the core's tests.
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let p = GpuProfile::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !p.machine.is_empty() && !p.source.is_empty(),
            "{}",
            path.display()
        );
        if let NvmlReading::Available(s) = &p.nvml {
            for (i, d) in s.devices.iter().enumerate() {
                assert_eq!(d.index as usize, i, "{}: indices in order", path.display());
                assert!(
                    d.memory.free + d.memory.used <= d.memory.total,
                    "{}",
                    path.display()
                );
            }
        }
        n += 1;
    }
    assert!(n >= 11, "expected the 11 profiles of issue 2, found {n}");
}

#[test]
fn report_fixtures_parse() {
    for entry in std::fs::read_dir(aigw_e2e::fixtures().join("reports")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let r: SystemReport =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            r.schema_version,
            aigw_engine::hardware::REPORT_SCHEMA_VERSION
        );
    }
}
