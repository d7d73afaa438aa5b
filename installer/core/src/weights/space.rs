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
}
