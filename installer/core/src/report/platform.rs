//! Operating system, CPU architecture and what they mean for the gateway image, which is published for
//! linux/amd64 only (GitLab docs, 17.1 onwards; see docs/sources.md, "Gateway image").

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OsFamily {
    Linux,
    Macos,
    Windows,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    X86_64,
    Aarch64,
    Other,
}

impl Arch {
    /// Maps Rust's `std::env::consts::ARCH` and Docker's `Architecture` field (which uses `uname -m`
    /// names, or `amd64`/`arm64` on some engines).
    pub fn parse(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "x86_64" | "amd64" | "x86-64" => Arch::X86_64,
            "aarch64" | "arm64" | "armv8" => Arch::Aarch64,
            _ => Arch::Other,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostPlatform {
    pub os: OsFamily,
    /// e.g. "Debian GNU/Linux 12 (bookworm)".
    pub os_name: String,
    pub os_version: Option<String>,
    pub kernel: Option<String>,
    pub wsl2: bool,
    pub arch: Arch,
    /// `uname -m` style name as found.
    pub arch_name: String,
    pub cpu_model: String,
    pub logical_cores: usize,
    /// A binfmt_misc handler that runs x86-64 binaries (qemu-user or Rosetta) is registered.
    pub x86_64_emulation: bool,
}

/// How the linux/amd64 gateway image can run on this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlatformDecision {
    /// x86-64 Linux (or WSL2): the image runs natively.
    NativeAmd64,
    /// Apple silicon: Docker Desktop runs amd64 images under Rosetta/QEMU with `--platform linux/amd64`.
    AppleSiliconEmulation { docker_platform: String },
    /// arm64 Linux with an x86-64 binfmt handler: runs under emulation with `--platform linux/amd64`, slowly.
    Arm64Emulation { docker_platform: String },
    /// arm64 Linux without a handler: the gateway cannot start until one is registered.
    Arm64NoEmulation,
    /// Anything else (32-bit, RISC-V, native Windows containers…).
    Unsupported { reason: String },
}

impl PlatformDecision {
    /// The `--platform` value every create/pull must carry, if any.
    pub fn docker_platform(&self) -> Option<&str> {
        match self {
            PlatformDecision::AppleSiliconEmulation { docker_platform }
            | PlatformDecision::Arm64Emulation { docker_platform } => Some(docker_platform),
            _ => None,
        }
    }
}

pub const GATEWAY_PLATFORM: &str = "linux/amd64";

/// The decision is about where containers run: the Docker engine's OS and architecture when known (it may
/// be a remote host or a VM, as with Docker Desktop), else this host's.
pub fn decide(os: OsFamily, arch: Arch, x86_64_emulation: bool) -> PlatformDecision {
    let platform = || GATEWAY_PLATFORM.to_string();
    match (os, arch) {
        (OsFamily::Linux, Arch::X86_64) => PlatformDecision::NativeAmd64,
        // Docker Desktop on an Intel Mac or Windows runs a Linux VM of the host's architecture.
        (OsFamily::Macos | OsFamily::Windows, Arch::X86_64) => PlatformDecision::NativeAmd64,
        (OsFamily::Macos, Arch::Aarch64) => PlatformDecision::AppleSiliconEmulation {
            docker_platform: platform(),
        },
        (OsFamily::Linux | OsFamily::Windows, Arch::Aarch64) if x86_64_emulation => {
            PlatformDecision::Arm64Emulation {
                docker_platform: platform(),
            }
        }
        (OsFamily::Linux | OsFamily::Windows, Arch::Aarch64) => PlatformDecision::Arm64NoEmulation,
        (os, arch) => PlatformDecision::Unsupported {
            reason: format!(
                "the gateway image is published for linux/amd64 only; {os:?}/{arch:?} cannot run it"
            ),
        },
    }
}

/// WSL kernels carry "microsoft" in their release string ("5.15.153.1-microsoft-standard-WSL2").
pub fn is_wsl(kernel_release: &str) -> bool {
    let k = kernel_release.to_ascii_lowercase();
    k.contains("microsoft") || k.contains("wsl")
}

/// Whether any enabled binfmt_misc entry runs x86-64 ELF binaries. `entries` are (file name, contents)
/// of `/proc/sys/fs/binfmt_misc/*`.
pub fn has_x86_64_binfmt<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> bool {
    entries.into_iter().any(|(name, contents)| {
        let enabled = contents.lines().next().map(str::trim) == Some("enabled");
        let n = name.to_ascii_lowercase();
        // qemu-user-static registers "qemu-x86_64"; Rosetta for Linux VMs registers "rosetta".
        // The ELF magic with e_machine 0x3e (x86-64) identifies any other handler.
        let x86 = n.contains("x86_64")
            || n.contains("x86-64")
            || n == "rosetta"
            || contents.contains("7f454c4602010100000000000000000002003e00");
        enabled && x86
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_cover_the_documented_cases() {
        assert_eq!(
            decide(OsFamily::Linux, Arch::X86_64, false),
            PlatformDecision::NativeAmd64
        );
        let apple = decide(OsFamily::Macos, Arch::Aarch64, false);
        assert_eq!(apple.docker_platform(), Some("linux/amd64"));
        assert!(matches!(
            decide(OsFamily::Linux, Arch::Aarch64, true),
            PlatformDecision::Arm64Emulation { .. }
        ));
        assert_eq!(
            decide(OsFamily::Linux, Arch::Aarch64, false),
            PlatformDecision::Arm64NoEmulation
        );
        assert!(matches!(
            decide(OsFamily::Linux, Arch::Other, true),
            PlatformDecision::Unsupported { .. }
        ));
    }

    #[test]
    fn arch_names_from_rust_and_docker() {
        assert_eq!(Arch::parse("x86_64"), Arch::X86_64);
        assert_eq!(Arch::parse("amd64"), Arch::X86_64);
        assert_eq!(Arch::parse("aarch64"), Arch::Aarch64);
        assert_eq!(Arch::parse("arm64"), Arch::Aarch64);
        assert_eq!(Arch::parse("riscv64"), Arch::Other);
    }

    #[test]
    fn wsl_kernels_are_recognised() {
        assert!(is_wsl("5.15.153.1-microsoft-standard-WSL2"));
        assert!(!is_wsl("6.1.0-28-amd64"));
    }

    #[test]
    fn binfmt_handlers() {
        let qemu = "enabled\ninterpreter /usr/libexec/qemu-binfmt/x86_64-binfmt-P\nflags: POCF\noffset 0\nmagic 7f454c4602010100000000000000000002003e00\n";
        assert!(has_x86_64_binfmt([("qemu-x86_64", qemu)]));
        let disabled = qemu.replacen("enabled", "disabled", 1);
        assert!(!has_x86_64_binfmt([("qemu-x86_64", disabled.as_str())]));
        assert!(has_x86_64_binfmt([(
            "rosetta",
            "enabled\ninterpreter /mnt/lima-rosetta/rosetta\n"
        )]));
        let arm = "enabled\ninterpreter /usr/bin/qemu-aarch64\nmagic 7f454c460201010000000000000000000200b700\n";
        assert!(!has_x86_64_binfmt([("qemu-aarch64", arm)]));
        // A handler registered under another name is still found by its ELF magic.
        assert!(has_x86_64_binfmt([("box64", qemu)]));
    }
}
