//! Accelerators NVML cannot see: AMD GPUs (PCI vendor 0x1002 under `/sys/class/drm`), Apple silicon, and
//! NVIDIA boards that are on the PCI bus while the driver is missing (so the "no driver" finding can say
//! "a GPU is there, install its driver" rather than "no GPU").

use serde::{Deserialize, Serialize};

use super::platform::{Arch, OsFamily};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Vendor {
    Nvidia,
    Amd,
    Apple,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accelerator {
    pub vendor: Vendor,
    pub name: String,
    /// PCI slot ("0000:03:00.0") for PCI devices.
    pub pci_slot: Option<String>,
    /// VRAM as the kernel driver reports it (amdgpu's `mem_info_vram_total`), or unified memory on Apple.
    pub memory_mib: Option<u64>,
    /// What it means for serving, in one sentence.
    pub serving_note: String,
}

/// Apple silicon's GPU is reached through Metal only; containers on macOS get no GPU.
pub fn apple_silicon(
    os: OsFamily,
    arch: Arch,
    cpu_model: &str,
    ram_mib: u64,
) -> Option<Accelerator> {
    (os == OsFamily::Macos && arch == Arch::Aarch64).then(|| Accelerator {
        vendor: Vendor::Apple,
        name: format!("Apple silicon ({cpu_model})"),
        pci_slot: None,
        memory_mib: Some(ram_mib),
        serving_note: "Docker containers on macOS get no GPU: run the model natively under Ollama \
                       (Metal) and only the gateway in Docker, as linux/amd64 under emulation"
            .to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apple_silicon_only_on_arm_macs() {
        assert!(apple_silicon(OsFamily::Macos, Arch::Aarch64, "Apple M2 Ultra", 196608).is_some());
        assert!(apple_silicon(OsFamily::Macos, Arch::X86_64, "Intel", 16384).is_none());
        assert!(apple_silicon(OsFamily::Linux, Arch::Aarch64, "Neoverse", 16384).is_none());
    }
}
