//! The bytes a fetch still needs, and whether the disk holds them: checked before the first byte.

use std::collections::{BTreeMap, BTreeSet};

use super::select::FileToFetch;
use crate::problem::Explain;

/// What the cache already holds of a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Present {
    /// The blob is there and matches its checksum: nothing to fetch.
    Verified,
    /// This many bytes of it are on disk (an `.incomplete` download, or an unverified blob): a resume
    /// fetches the rest.
    Partial(u64),
}

/// Bytes still to write: every distinct blob's size less what is present of it. Two files with the same
/// content (the same etag) are one blob.
pub fn needed_bytes(files: &[FileToFetch], present: &BTreeMap<String, Present>) -> u64 {
    let mut seen = BTreeSet::new();
    files
        .iter()
        .filter(|f| seen.insert(f.etag.as_str()))
        .map(|f| match present.get(&f.etag) {
            Some(Present::Verified) => 0,
            Some(Present::Partial(have)) => f.size.saturating_sub(*have),
            None => f.size,
        })
        .sum()
}

/// Space kept free beyond the download: a full disk stops Docker and the logs too.
pub const RESERVE_BYTES: u64 = 1 << 30;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "the weights need {} more in {dir} but only {} is free",
    super::human_bytes(*needed),
    super::human_bytes(*free)
)]
pub struct SpaceError {
    pub needed: u64,
    pub free: u64,
    pub dir: String,
}

impl Explain for SpaceError {
    fn code(&self) -> &'static str {
        "disk_full"
    }
    fn fix(&self) -> Option<String> {
        Some(format!(
            "free {} there (1 GiB is kept in reserve), or choose another cache directory",
            super::human_bytes((self.needed + RESERVE_BYTES).saturating_sub(self.free))
        ))
    }
    fn field(&self) -> Option<String> {
        Some("model.weights.cache_dir".into())
    }
}

/// Refuses a fetch the free space cannot hold (with [`RESERVE_BYTES`] to spare).
pub fn check(needed: u64, free: u64, dir: &str) -> Result<(), SpaceError> {
    if needed == 0 || needed.saturating_add(RESERVE_BYTES) <= free {
        Ok(())
    } else {
        Err(SpaceError {
            needed,
            free,
            dir: dir.to_string(),
        })
    }
}

/// The free bytes of the file system `df -P <dir>` describes (POSIX output: GNU with `-B1`, busybox,
/// any block size its header names, `1-blocks`, `1024-blocks`, `1K-blocks`): the `Available` column of
/// the line below the header, times the block size. `None` for anything else. Pure.
pub fn parse_df(out: &str) -> Option<u64> {
    let mut lines = out.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next()?;
    let unit = header.split_whitespace().find_map(|w| {
        let n = w.strip_suffix("-blocks")?;
        let (digits, scale) = match n.as_bytes().last()? {
            b'K' | b'k' => (&n[..n.len() - 1], 1u64 << 10),
            b'M' => (&n[..n.len() - 1], 1 << 20),
            b'G' => (&n[..n.len() - 1], 1 << 30),
            _ => (n, 1),
        };
        // A busybox build may print the unit with a fraction ("1.0K").
        let n: f64 = digits.parse().ok()?;
        (n.is_finite() && n >= 1.0).then(|| (n * scale as f64).round() as u64)
    })?;
    // The capacity column ends in `%`; `Available` is just before it (a file system's name or a mount
    // point with spaces cannot shift it).
    let fields: Vec<&str> = lines.next()?.split_whitespace().collect();
    let capacity = fields.iter().position(|f| f.ends_with('%'))?;
    let available: u64 = fields.get(capacity.checked_sub(1)?)?.parse().ok()?;
    available.checked_mul(unit)
}

/// A remote engine's server has too little free space in the file system that holds the weights'
/// `cache_dir` for what the upload still sends (with [`RESERVE_BYTES`] to spare).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "the weights need {} more on {host}:{dir} but only {} is free there",
    super::human_bytes(*needed),
    super::human_bytes(*free)
)]
pub struct ServerSpaceError {
    pub needed: u64,
    pub free: u64,
    pub host: String,
    pub dir: String,
}

impl Explain for ServerSpaceError {
    fn code(&self) -> &'static str {
        "disk_full"
    }
    fn fix(&self) -> Option<String> {
        Some(format!(
            "free {} on {}:{} (1 GiB is kept in reserve) or choose another cache_dir",
            super::human_bytes((self.needed + RESERVE_BYTES).saturating_sub(self.free)),
            self.host,
            self.dir
        ))
    }
    fn field(&self) -> Option<String> {
        Some("model.weights.cache_dir".into())
    }
}

/// [`check`] for the server of a remote engine.
pub fn check_server(needed: u64, free: u64, host: &str, dir: &str) -> Result<(), ServerSpaceError> {
    check(needed, free, dir).map_err(|e| ServerSpaceError {
        needed: e.needed,
        free: e.free,
        host: host.to_string(),
        dir: e.dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::select::Digest;

    fn file(name: &str, size: u64, etag: &str) -> FileToFetch {
        FileToFetch {
            name: name.into(),
            size,
            digest: Digest::Sha256(etag.into()),
            etag: etag.into(),
        }
    }

    #[test]
    fn verified_and_partial_blobs_are_subtracted_and_shared_blobs_counted_once() {
        let files = [
            file("a.safetensors", 1_000, "a"),
            file("b.safetensors", 2_000, "b"),
            file("c.safetensors", 3_000, "c"),
            file("tokenizer.model", 10, "t"),
            file("tokenizer.model.v3", 10, "t"),
        ];
        assert_eq!(needed_bytes(&files, &BTreeMap::new()), 6_010);
        let present = BTreeMap::from([
            ("a".to_string(), Present::Verified),
            ("b".to_string(), Present::Partial(500)),
            ("c".to_string(), Present::Partial(9_999)),
        ]);
        assert_eq!(needed_bytes(&files, &present), 1_500 + 10);
    }

    #[test]
    fn the_check_keeps_a_reserve_and_names_the_shortfall() {
        assert!(check(10 << 30, 12 << 30, "/srv/hf").is_ok());
        assert!(check(0, 0, "/srv/hf").is_ok());
        let e = check(10 << 30, (11 << 30) - 1, "/srv/hf").unwrap_err();
        assert_eq!(e.code(), "disk_full");
        assert!(e.to_string().contains("/srv/hf"), "{e}");
        assert!(e.to_string().contains("10.7 GB"), "{e}");
    }

    #[test]
    fn df_output_of_gnu_and_busybox_gives_the_available_bytes() {
        // GNU coreutils, `df -P -B1 /srv`.
        let gnu = "Filesystem         1-blocks        Used   Available Capacity Mounted on\n\
                   /dev/vda       270553174016 25497866240 72074883072      27% /\n";
        assert_eq!(parse_df(gnu), Some(72_074_883_072));
        // GNU without -B1 (1024-byte blocks), a mount point with a space.
        let gnu_k = "Filesystem     1024-blocks     Used Available Capacity Mounted on\n\
                     /dev/sdb1        264212084 24900264  70385624      27% /mnt/model disk\n";
        assert_eq!(parse_df(gnu_k), Some(70_385_624 * 1024));
        // BusyBox `df -P` (an Alpine-based image), and `-B1`.
        let busybox = "Filesystem           1024-blocks    Used Available Capacity Mounted on\n\
                       overlay               61255492  38236488  19877680  66% /\n";
        assert_eq!(parse_df(busybox), Some(19_877_680 * 1024));
        let busybox_b1 = "Filesystem           1-blocks      Used Available Capacity Mounted on\n\
                          /dev/sda1            1000000 400000    600000  40% /data\n";
        assert_eq!(parse_df(busybox_b1), Some(600_000));
        // `df -k` style header.
        assert_eq!(
            parse_df(
                "Filesystem 1K-blocks Used Available Use% Mounted on\ntmpfs 100 1 99 1% /tmp\n"
            ),
            Some(99 * 1024)
        );
        assert_eq!(
            parse_df("Filesystem 1.0K-blocks Used Available Use% Mounted on\nroot 10 1 9 10% /\n"),
            Some(9 * 1024)
        );
        // Not df's output: an error, nothing, a missing line.
        assert_eq!(
            parse_df("df: /aigw-space: No such file or directory\n"),
            None
        );
        assert_eq!(parse_df(""), None);
        assert_eq!(
            parse_df("Filesystem 1-blocks Used Available Capacity Mounted on\n"),
            None
        );
    }

    #[test]
    fn too_little_on_the_server_names_host_directory_and_the_fix() {
        assert!(check_server(10 << 30, 12 << 30, "gpu01", "/srv/hf").is_ok());
        let e = check_server(10 << 30, 5 << 30, "gpu01", "/srv/hf").unwrap_err();
        assert_eq!(e.code(), "disk_full");
        let said = e.to_string();
        assert!(
            said.contains("gpu01:/srv/hf") && said.contains("10.7 GB"),
            "{said}"
        );
        assert!(said.contains("5.4 GB"), "{said}");
        let fix = e.fix().unwrap();
        assert!(
            fix.starts_with("free 6.4 GB on gpu01:/srv/hf") && fix.contains("another cache_dir"),
            "{fix}"
        );
    }
}
