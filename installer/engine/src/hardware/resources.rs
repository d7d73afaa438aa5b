//! Host memory and the free space where images, model weights and gateway logs will live.

pub use aigw_core::report::resources::*;
use std::path::Path;

const MIB: u64 = 1024 * 1024;

pub fn probe_memory() -> Option<Memory> {
    let mut sys = sysinfo::System::new().ok()?;
    sys.refresh_memory();
    Some(Memory {
        total_mib: sys.total_memory() / MIB,
        available_mib: sys.available_memory() / MIB,
    })
}

/// Free space for `path`, measured at its nearest existing ancestor, since the installer creates the
/// directories later. `None` if nothing on the way up can be measured.
pub fn probe_disk(purpose: DiskPurpose, path: &Path) -> Option<DiskSpace> {
    let measured_at = path.ancestors().find(|p| p.exists())?.to_path_buf();
    let st = rustix::fs::statvfs(&measured_at).ok()?;
    let frsize = if st.f_frsize > 0 {
        st.f_frsize
    } else {
        st.f_bsize
    };
    Some(DiskSpace {
        purpose,
        path: path.to_path_buf(),
        measured_at,
        total_mib: st.f_blocks.saturating_mul(frsize) / MIB,
        // f_bavail: what an unprivileged writer may use (root's reserve excluded).
        available_mib: st.f_bavail.saturating_mul(frsize) / MIB,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_read() {
        let m = probe_memory().expect("memory");
        assert!(m.total_mib > 0 && m.available_mib <= m.total_mib);
    }

    #[test]
    fn missing_directory_is_measured_at_its_parent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("not/yet/created");
        let d = probe_disk(DiskPurpose::Logs, &target).expect("measured");
        assert_eq!(d.measured_at, dir.path());
        assert_eq!(d.path, target);
        assert!(d.total_mib > 0 && d.available_mib <= d.total_mib);
    }
}
