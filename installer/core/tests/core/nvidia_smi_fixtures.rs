//! `nvidia-smi --query-gpu` outputs (`tests/fixtures/gpus/nvidia-smi/*.csv`, as the probe container prints
//! them) read into the same inventory as the NVML profile of the same machine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_core::report::gpu::{inventory, GpuInventory, MigState, NvmlReading};
use aigw_core::report::nvidia_smi::parse;

use crate::fixtures;

fn csv(name: &str) -> String {
    let path = fixtures().join(format!("gpus/nvidia-smi/{name}.csv"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn from_csv(name: &str) -> GpuInventory {
    inventory(&parse(&csv(name)).unwrap_or_else(|e| panic!("{name}: {e}")))
}

/// Each machine with both readings: the inventories are equal but for processes, which the probe does
/// not query.
#[test]
fn csv_and_nvml_profiles_give_the_same_inventory() {
    for name in ["t4-x1", "l4-x1", "a100-80gb-x8", "h100-x1", "mixed"] {
        let mut nvml = inventory(&crate::gpu_profile(name).nvml);
        for d in &mut nvml.devices {
            d.processes.clear();
        }
        assert_eq!(from_csv(name), nvml, "{name}");
    }
}

#[test]
fn not_available_fields_read_as_unknown_not_as_errors() {
    let t4 = from_csv("t4-x1");
    assert_eq!(t4.devices[0].mig, MigState::Unsupported);
    let mig = from_csv("a100-80gb-mig");
    assert_eq!(mig.devices[0].mig, MigState::Enabled);
    assert_eq!(mig.devices[0].memory_used_mib, 0);
    assert_eq!(mig.devices[0].memory_free_mib, 81920);
    assert_eq!(
        mig.devices[1].mig,
        MigState::PendingChange {
            enabled_after_reset: true
        }
    );
    let NvmlReading::Available(raw) = parse(&csv("a100-80gb-mig")).unwrap() else {
        panic!("available")
    };
    assert_eq!(
        raw.devices[0].read_errors,
        ["memory.used: [N/A]", "memory.free: [N/A]"]
    );
}

#[test]
fn inventories_from_csv_snapshot() {
    for name in [
        "t4-x1",
        "l4-x1",
        "a100-80gb-x8",
        "h100-x1",
        "mixed",
        "a100-80gb-mig",
    ] {
        insta::assert_json_snapshot!(format!("nvidia_smi_{name}"), from_csv(name));
    }
}
