//! This host's operating system, CPU and binfmt handlers, read into the core's platform facts.

pub use aigw_core::report::platform::*;
use std::path::Path;

/// Reads the binfmt_misc directory; absent or unreadable means no handler.
pub fn read_binfmt(dir: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    let entries: Vec<(String, String)> = rd
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if name == "register" || name == "status" {
                return None;
            }
            std::fs::read_to_string(e.path()).ok().map(|c| (name, c))
        })
        .collect();
    has_x86_64_binfmt(entries.iter().map(|(n, c)| (n.as_str(), c.as_str())))
}

pub fn host_os_family() -> OsFamily {
    match std::env::consts::OS {
        "linux" => OsFamily::Linux,
        "macos" => OsFamily::Macos,
        "windows" => OsFamily::Windows,
        _ => OsFamily::Other,
    }
}

/// Reads this host's platform facts (cheap: no process is started).
pub fn probe_host() -> HostPlatform {
    use sysinfo::System;
    let os = host_os_family();
    let wsl = os == OsFamily::Linux
        && std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|r| is_wsl(&r))
            .unwrap_or(false);
    let arch_name = System::cpu_arch();
    let arch = Arch::parse(&arch_name);
    let cpus = System::new()
        .map(|mut s| {
            s.refresh_cpu_list(sysinfo::CpuRefreshKind::nothing());
            s
        })
        .ok();
    let cpu_model = cpus
        .as_ref()
        .and_then(|s| s.cpus().first().map(|c| c.brand().trim().to_string()))
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    let logical_cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    HostPlatform {
        os,
        os_name: System::long_os_version()
            .or_else(|_| System::name())
            .unwrap_or_else(|_| std::env::consts::OS.to_string()),
        os_version: System::os_version().ok(),
        kernel: System::kernel_version().ok(),
        wsl2: wsl,
        arch,
        arch_name,
        cpu_model,
        logical_cores,
        x86_64_emulation: os == OsFamily::Linux
            && arch != Arch::X86_64
            && read_binfmt(Path::new("/proc/sys/fs/binfmt_misc")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binfmt_directory_is_read_from_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("status"), "enabled\n").expect("write");
        assert!(!read_binfmt(dir.path()));
        std::fs::write(
            dir.path().join("qemu-x86_64"),
            "enabled\nmagic 7f454c4602010100000000000000000002003e00\n",
        )
        .expect("write");
        assert!(read_binfmt(dir.path()));
        assert!(!read_binfmt(&dir.path().join("missing")));
    }
}
