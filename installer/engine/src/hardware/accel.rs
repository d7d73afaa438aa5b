//! AMD and NVIDIA boards seen on the PCI bus through `/sys/class/drm` (even without a driver).

pub use aigw_core::report::accel::*;
use std::path::Path;

const PCI_NVIDIA: &str = "0x10de";

const PCI_AMD: &str = "0x1002";

/// Scans `<sysfs>/class/drm/card*/device` for display-class PCI devices of NVIDIA and AMD.
/// `sysfs` is `/sys` on a real host; tests point it at a fixture tree.
pub fn scan_drm(sysfs: &Path) -> Vec<Accelerator> {
    let Ok(rd) = std::fs::read_dir(sysfs.join("class/drm")) else {
        return Vec::new();
    };
    let mut cards: Vec<_> = rd
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        // card0, card1… (not card0-DP-1 connectors, not renderD128)
        .filter(|n| {
            n.strip_prefix("card")
                .is_some_and(|r| r.chars().all(|c| c.is_ascii_digit()))
        })
        .collect();
    cards.sort();
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for card in cards {
        let dev = sysfs.join("class/drm").join(&card).join("device");
        let read = |f: &str| {
            std::fs::read_to_string(dev.join(f))
                .ok()
                .map(|s| s.trim().to_string())
        };
        let Some(vendor_id) = read("vendor") else {
            continue;
        };
        // `device` links to /sys/devices/pci…/0000:03:00.0; uevent names the slot too.
        let slot = read("uevent")
            .and_then(|u| pci_slot_from_uevent(&u))
            .or_else(|| {
                std::fs::canonicalize(&dev)
                    .ok()
                    .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .filter(|n| n.contains(':'))
            });
        if let Some(s) = &slot {
            if !seen.insert(s.clone()) {
                continue;
            }
        }
        let device_id = read("device").unwrap_or_default();
        let accel = match vendor_id.as_str() {
            PCI_AMD => Accelerator {
                vendor: Vendor::Amd,
                name: read("product_name")
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| format!("AMD GPU (device {device_id})")),
                pci_slot: slot,
                memory_mib: read("mem_info_vram_total")
                    .and_then(|v| v.parse::<u64>().ok())
                    .map(|b| b / (1024 * 1024)),
                serving_note:
                    "AMD GPUs are not served by the NVIDIA vLLM image; use Ollama with ROCm \
                               (or a ROCm build of vLLM) and point the gateway at it"
                        .to_string(),
            },
            PCI_NVIDIA => Accelerator {
                vendor: Vendor::Nvidia,
                name: format!("NVIDIA GPU (device {device_id})"),
                pci_slot: slot,
                memory_mib: None,
                serving_note:
                    "seen on the PCI bus; NVML describes it once the NVIDIA driver is loaded"
                        .to_string(),
            },
            _ => continue,
        };
        out.push(accel);
    }
    out
}

fn pci_slot_from_uevent(uevent: &str) -> Option<String> {
    uevent
        .lines()
        .find_map(|l| l.strip_prefix("PCI_SLOT_NAME="))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// Lays out a card as sysfs does: `class/drm/cardN/device` links to the PCI device directory.
    fn card(root: &Path, name: &str, vendor: &str, extra: &[(&str, &str)]) {
        let slot = format!(
            "0000:{:02x}:00.0",
            name.len() * 16 + name.as_bytes()[name.len() - 1] as usize
        );
        let dev = root.join("devices/pci0000:00").join(&slot);
        fs::create_dir_all(&dev).expect("mkdir");
        fs::create_dir_all(root.join("class/drm").join(name)).expect("mkdir");
        std::os::unix::fs::symlink(&dev, root.join("class/drm").join(name).join("device"))
            .expect("symlink");
        fs::write(dev.join("vendor"), format!("{vendor}\n")).expect("write");
        fs::write(dev.join("device"), "0x740f\n").expect("write");
        fs::write(
            dev.join("uevent"),
            format!("DRIVER=x\nPCI_SLOT_NAME={slot}\n"),
        )
        .expect("write");
        for (f, v) in extra {
            fs::write(dev.join(f), v).expect("write");
        }
    }

    #[test]
    fn amd_and_nvidia_cards_are_named_others_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        card(
            root,
            "card0",
            "0x1002",
            &[
                ("mem_info_vram_total", "68702699520\n"),
                ("product_name", "AMD Instinct MI210\n"),
            ],
        );
        card(root, "card12", "0x10de", &[]);
        card(root, "card2", "0x8086", &[]); // Intel iGPU: not an accelerator for serving
        fs::create_dir_all(root.join("class/drm/card0-DP-1")).expect("mkdir");
        fs::create_dir_all(root.join("class/drm/renderD128")).expect("mkdir");

        let found = scan_drm(root);
        assert_eq!(found.len(), 2, "{found:#?}");
        let amd = found
            .iter()
            .find(|a| a.vendor == Vendor::Amd)
            .expect("amd card");
        assert_eq!(amd.name, "AMD Instinct MI210");
        assert_eq!(amd.memory_mib, Some(65520));
        assert!(amd.serving_note.contains("ROCm"));
        assert!(found.iter().any(|a| a.vendor == Vendor::Nvidia));
    }

    #[test]
    fn missing_sysfs_is_empty_not_an_error() {
        assert!(scan_drm(Path::new("/nonexistent-sysfs")).is_empty());
    }
}
