//! The machine a plan is for: built from this host's detection report, or from what-if flags
//! (`--gpus 2xL4 --platform linux-amd64 --ram-gib 64`).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use super::error::{RecommendError, MAX_GPUS};
use crate::catalog::gpu::ComputeCapability;
use crate::catalog::Catalog;
use crate::report::accel::{Accelerator, Vendor};
use crate::report::gpu::{MigState, NvidiaGpu};
use crate::report::platform::{Arch, OsFamily};
use crate::report::SystemReport;

/// Where the model server's containers (or Ollama) run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Platform {
    LinuxAmd64,
    LinuxArm64,
    MacosArm64,
    WindowsWsl2,
    /// Intel Macs, 32-bit or exotic hosts: containers get no GPU.
    Other,
}

impl Platform {
    pub fn id(self) -> &'static str {
        match self {
            Platform::LinuxAmd64 => "linux-amd64",
            Platform::LinuxArm64 => "linux-arm64",
            Platform::MacosArm64 => "macos-arm64",
            Platform::WindowsWsl2 => "windows-wsl2",
            Platform::Other => "other",
        }
    }

    /// Where vLLM can run containers with NVIDIA GPUs.
    pub fn runs_vllm(self) -> bool {
        matches!(
            self,
            Platform::LinuxAmd64 | Platform::LinuxArm64 | Platform::WindowsWsl2
        )
    }

    pub fn describe(self) -> &'static str {
        match self {
            Platform::LinuxAmd64 => "Linux (amd64)",
            Platform::LinuxArm64 => "Linux (arm64)",
            Platform::MacosArm64 => "macOS on Apple silicon",
            Platform::WindowsWsl2 => "Windows (WSL2)",
            Platform::Other => "a platform whose containers get no GPU",
        }
    }

    pub fn from_host(os: OsFamily, arch: Arch, wsl2: bool) -> Self {
        match (os, arch) {
            _ if wsl2 => Platform::WindowsWsl2,
            (OsFamily::Linux, Arch::X86_64) => Platform::LinuxAmd64,
            (OsFamily::Linux, Arch::Aarch64) => Platform::LinuxArm64,
            (OsFamily::Macos, Arch::Aarch64) => Platform::MacosArm64,
            // Docker Desktop on Windows runs GPU containers in its WSL2 VM.
            (OsFamily::Windows, Arch::X86_64) => Platform::WindowsWsl2,
            _ => Platform::Other,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Platform {
    type Err = RecommendError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "linux-amd64" | "linux-x86_64" => Ok(Platform::LinuxAmd64),
            "linux-arm64" | "linux-aarch64" => Ok(Platform::LinuxArm64),
            "macos-arm64" | "macos-aarch64" => Ok(Platform::MacosArm64),
            "windows-wsl2" | "wsl2" => Ok(Platform::WindowsWsl2),
            _ => Err(RecommendError::UnknownPlatform {
                value: s.to_string(),
            }),
        }
    }
}

/// One NVIDIA GPU as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuSlot {
    pub index: u32,
    /// Catalog id when the card is known ("H100"), else NVML's name.
    pub label: String,
    pub memory_total_mib: u64,
    pub memory_free_mib: u64,
    pub compute_capability: ComputeCapability,
    /// MIG slices are separate smaller GPUs: the whole card is not available to one vLLM.
    pub mig_enabled: bool,
    /// False for a card the catalog does not know: planned from NVML's memory and compute capability (or
    /// the numbers of a what-if `96GiB@cc10.0`).
    #[serde(default = "yes")]
    pub in_catalog: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmdGpu {
    pub name: String,
    pub memory_mib: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    pub platform: Platform,
    pub gpus: Vec<GpuSlot>,
    pub amd_gpus: Vec<AmdGpu>,
    pub ram_mib: Option<u64>,
    /// "this machine" or "what-if".
    pub source: String,
}

impl Machine {
    /// This host, from `detect`.
    pub fn from_report(r: &SystemReport, catalog: &Catalog) -> Self {
        Self::from_parts(
            Platform::from_host(r.host.os, r.host.arch, r.host.wsl2),
            &r.gpus.devices,
            &r.other_accelerators,
            r.memory.map(|m| m.total_mib),
            catalog,
        )
    }

    /// A machine from detected parts (a recorded GPU profile in tests and support cases).
    pub fn from_parts(
        platform: Platform,
        devices: &[NvidiaGpu],
        other_accelerators: &[Accelerator],
        ram_mib: Option<u64>,
        catalog: &Catalog,
    ) -> Self {
        let gpus = devices
            .iter()
            .map(|d| {
                let known =
                    catalog.gpu_for_device(&d.name, d.memory_total_mib, d.compute_capability);
                (d, known)
            })
            .map(|(d, known)| GpuSlot {
                index: d.index,
                label: known
                    .map(|g| g.id.clone())
                    .unwrap_or_else(|| d.name.clone()),
                in_catalog: known.is_some(),
                memory_total_mib: d.memory_total_mib,
                memory_free_mib: d.memory_free_mib,
                compute_capability: d.compute_capability,
                mig_enabled: matches!(
                    d.mig,
                    MigState::Enabled
                        | MigState::PendingChange {
                            enabled_after_reset: true
                        }
                ),
            })
            .collect();
        Machine {
            platform,
            gpus,
            amd_gpus: other_accelerators
                .iter()
                .filter(|a| a.vendor == Vendor::Amd)
                .map(|a| AmdGpu {
                    name: a.name.clone(),
                    memory_mib: a.memory_mib,
                })
                .collect(),
            ram_mib,
            source: "this machine".to_string(),
        }
    }

    /// "3× L40S, 1× T4" or "no NVIDIA GPU".
    pub fn gpu_summary(&self) -> String {
        let mut parts: Vec<(String, usize)> = Vec::new();
        for g in &self.gpus {
            match parts.iter_mut().find(|(l, _)| *l == g.label) {
                Some((_, n)) => *n += 1,
                None => parts.push((g.label.clone(), 1)),
            }
        }
        if parts.is_empty() {
            return "no NVIDIA GPU".to_string();
        }
        parts
            .iter()
            .map(|(l, n)| format!("{n}× {l}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Another machine, described by flags. Unset parts default to: no GPU, linux-amd64, RAM unknown.
    pub fn what_if(
        catalog: &Catalog,
        gpus: Option<&str>,
        platform: Option<&str>,
        ram_gib: Option<u64>,
    ) -> Result<Self, RecommendError> {
        let platform = platform
            .map(str::parse::<Platform>)
            .transpose()?
            .unwrap_or(Platform::LinuxAmd64);
        let gpus = gpus
            .map(|s| parse_gpus(catalog, s))
            .transpose()?
            .unwrap_or_default();
        if platform == Platform::MacosArm64 {
            if !gpus.is_empty() {
                return Err(RecommendError::PlatformMismatch {
                    platform: platform.to_string(),
                    why: "Macs have no NVIDIA GPUs (Apple silicon runs the model on its own GPU through \
                          Metal); plan for no GPUs"
                        .to_string(),
                });
            }
            if ram_gib.is_none() {
                return Err(RecommendError::PlatformMismatch {
                    platform: platform.to_string(),
                    why: "Apple silicon shares RAM with its GPU: give the Mac's memory in GiB, e.g. 64"
                        .to_string(),
                });
            }
        }
        Ok(Machine {
            platform,
            gpus,
            amd_gpus: Vec::new(),
            ram_mib: ram_gib.map(|g| g * 1024),
            source: "what-if".to_string(),
        })
    }
}

/// `2xL4`, `1xA100-80,1xA100-40`, `L40S`, `none`.
pub fn parse_gpus(catalog: &Catalog, spec: &str) -> Result<Vec<GpuSlot>, RecommendError> {
    let bad = |reason: String| RecommendError::GpuSpec {
        spec: spec.to_string(),
        reason,
        valid: catalog.gpu_ids(),
    };
    let trimmed = spec.trim();
    if trimmed.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    if trimmed.is_empty() {
        return Err(bad("it is empty".to_string()));
    }
    let mut out = Vec::new();
    let mut total: u64 = 0;
    for item in trimmed.split(',') {
        let item = item.trim();
        if item.eq_ignore_ascii_case("none") {
            return Err(bad("'none' cannot be combined with GPUs".to_string()));
        }
        let (count, name) = split_count(item);
        let count = match count {
            None => 1,
            Some(Ok(n)) => n,
            Some(Err(())) => return Err(bad(format!("'{item}' has a count that is not a number"))),
        };
        if name.is_empty() {
            return Err(bad(format!("'{item}' names no GPU")));
        }
        total += count;
        if count == 0 || total > u64::from(MAX_GPUS) {
            return Err(RecommendError::ImpossibleCount {
                spec: spec.to_string(),
                count: if count == 0 { 0 } else { total },
            });
        }
        let (label, memory_mib, cc, in_catalog) = if name.contains('@') {
            let (mib, cc) = by_numbers(name).map_err(|why| bad(format!("'{item}': {why}")))?;
            (format!("{}GiB@cc{cc}", mib / 1024), mib, cc, false)
        } else {
            let g = catalog.gpu(name)?;
            (g.id.clone(), g.memory_mib, g.compute_capability, true)
        };
        for _ in 0..count {
            let index = u32::try_from(out.len()).unwrap_or(u32::MAX);
            out.push(GpuSlot {
                index,
                label: label.clone(),
                memory_total_mib: memory_mib,
                memory_free_mib: memory_mib,
                compute_capability: cc,
                mig_enabled: false,
                in_catalog,
            });
        }
    }
    Ok(out)
}

/// A card by its numbers: `96GiB@cc10.0` → (98304 MiB, 10.0). Whole GiB, 1 to 1024; a compute capability
/// MAJOR.MINOR from 3.0 to 19.9.
fn by_numbers(name: &str) -> Result<(u64, ComputeCapability), String> {
    let (mem, cc) = name
        .split_once('@')
        .ok_or_else(|| "write MEMGiB@ccX.Y".to_string())?;
    let mem = mem.trim();
    let digits = mem.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &mem[digits.len()..];
    if !unit.eq_ignore_ascii_case("gib") {
        return Err(format!(
            "memory '{mem}' must be whole GiB, as in 96GiB (NVML's total divided by 1024)"
        ));
    }
    let gib: u64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("memory '{mem}' is not a whole number of GiB"))?;
    if !(1..=1024).contains(&gib) {
        return Err(format!(
            "memory {gib} GiB is not a GPU's memory (1 to 1024 GiB)"
        ));
    }
    let cc = cc.trim();
    let cc_num = cc
        .strip_prefix("cc")
        .or_else(|| cc.strip_prefix("CC"))
        .ok_or_else(|| {
            format!("'{cc}' must be a compute capability written ccX.Y, as in cc10.0")
        })?;
    let parsed = crate::catalog::gpu::parse_cc(cc_num)
        .filter(|c| c.major >= 3 && c.major <= 19 && c.minor <= 9)
        .ok_or_else(|| {
            format!("compute capability '{cc_num}' must be MAJOR.MINOR between 3.0 and 19.9, as in 10.0")
        })?;
    Ok((gib * 1024, parsed))
}

/// "2xL4" → (Some(2), "L4"); "L4" → (None, "L4"); "3090" → (None, "3090") (a name, not a count).
fn split_count(item: &str) -> (Option<Result<u64, ()>>, &str) {
    let digits = item.chars().take_while(char::is_ascii_digit).count();
    let rest = &item[digits..];
    let rest_trim = rest.trim_start();
    let sep = ['x', 'X', '×', '*']
        .into_iter()
        .find(|c| rest_trim.starts_with(*c));
    match sep {
        Some(c) if digits > 0 => (
            Some(item[..digits].parse::<u64>().map_err(|_| ())),
            rest_trim[c.len_utf8()..].trim(),
        ),
        _ => (None, item),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn catalog() -> Catalog {
        Catalog::builtin().unwrap()
    }

    #[test]
    fn gpu_lists_parse() {
        let c = catalog();
        let g = parse_gpus(&c, "2xL4").unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g[1].index, 1);
        assert_eq!(g[0].memory_total_mib, 23034);
        let g = parse_gpus(&c, "1xA100-80, 1 x A100-40").unwrap();
        assert_eq!(g[0].label, "A100-80");
        assert_eq!(g[1].label, "A100-40");
        assert_eq!(parse_gpus(&c, "2x3090").unwrap().len(), 2);
        assert_eq!(parse_gpus(&c, "3090").unwrap().len(), 1);
        assert!(parse_gpus(&c, "none").unwrap().is_empty());
    }

    #[test]
    fn bad_gpu_lists_say_what_is_valid() {
        let c = catalog();
        let e = parse_gpus(&c, "2xMI300X").unwrap_err().to_string();
        assert!(e.contains("MI300X") && e.contains("RTX6000ADA"), "{e}");
        assert!(matches!(
            parse_gpus(&c, "0xL4"),
            Err(RecommendError::ImpossibleCount { count: 0, .. })
        ));
        let e = parse_gpus(&c, "9xH100,9xL4").unwrap_err().to_string();
        assert!(e.contains("18 GPUs is impossible"), "{e}");
        assert!(parse_gpus(&c, "none,1xL4").is_err());
        assert!(parse_gpus(&c, "").is_err());
        assert!(parse_gpus(&c, "2x").is_err());
    }

    #[test]
    fn unknown_cards_parse_by_their_numbers() {
        let c = catalog();
        let g = parse_gpus(&c, "2x96GiB@cc10.0").unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g[1].index, 1);
        assert_eq!(g[0].memory_total_mib, 96 * 1024);
        assert_eq!(g[0].compute_capability, ComputeCapability::new(10, 0));
        assert_eq!(g[0].label, "96GiB@cc10.0");
        assert!(!g[0].in_catalog);
        // Mixed with catalog names, and the count optional.
        let g = parse_gpus(&c, "1xH100, 48GiB@cc8.9").unwrap();
        assert!(g[0].in_catalog && !g[1].in_catalog);
        assert_eq!(g[1].memory_total_mib, 49152);
        for bad in [
            "2x96@cc10.0",
            "2x96GB@cc10.0",
            "2x96GiB@10.0",
            "2x96GiB@cc10",
            "2x0GiB@cc10.0",
            "2x96GiB@cc2.0",
            "2x4096GiB@cc9.0",
        ] {
            let e = parse_gpus(&c, bad).unwrap_err().to_string();
            assert!(e.contains("96GiB@cc10.0"), "{bad}: {e}");
        }
    }

    #[test]
    fn platforms_parse_and_map_from_hosts() {
        assert_eq!("macos-arm64".parse::<Platform>(), Ok(Platform::MacosArm64));
        let e = "solaris".parse::<Platform>().unwrap_err().to_string();
        assert!(
            e.contains("linux-amd64") && e.contains("windows-wsl2"),
            "{e}"
        );
        assert_eq!(
            Platform::from_host(OsFamily::Linux, Arch::X86_64, true),
            Platform::WindowsWsl2
        );
        assert_eq!(
            Platform::from_host(OsFamily::Macos, Arch::X86_64, false),
            Platform::Other
        );
    }

    #[test]
    fn mac_what_if_needs_ram_and_no_nvidia() {
        let c = catalog();
        assert!(Machine::what_if(&c, Some("1xL4"), Some("macos-arm64"), Some(64)).is_err());
        assert!(Machine::what_if(&c, None, Some("macos-arm64"), None).is_err());
        let m = Machine::what_if(&c, None, Some("macos-arm64"), Some(64)).unwrap();
        assert_eq!(m.ram_mib, Some(65536));
    }
}
