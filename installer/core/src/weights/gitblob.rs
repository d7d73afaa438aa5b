//! Git blob ids: how the Hub names and checks the small files it keeps in git rather than LFS
//! (`config.json`, tokenizer files). The id is the SHA-1 of `"blob <len>\0"` followed by the bytes, so a
//! file is checked against the Hub's `blobId` without trusting a digest computed at fetch time.

use sha1::{Digest, Sha1};

/// A git blob id computed as the bytes arrive; the length goes first, so it is known up front.
#[derive(Clone)]
pub struct GitBlobHasher(Sha1);

impl GitBlobHasher {
    /// For content of `len` bytes (a different number fed makes a different, hence failing, id).
    pub fn new(len: u64) -> Self {
        let mut h = Sha1::new();
        h.update(format!("blob {len}\0").as_bytes());
        Self(h)
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Lower-case hex, 40 digits: the Hub's `blobId`.
    pub fn finish(self) -> String {
        self.0
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The git blob id of `bytes`.
pub fn git_blob_id(bytes: &[u8]) -> String {
    let mut h = GitBlobHasher::new(bytes.len() as u64);
    h.update(bytes);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_what_git_hash_object_prints() {
        // `printf 'hello\n' | git hash-object --stdin`, and the empty blob every git knows.
        assert_eq!(
            git_blob_id(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(git_blob_id(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    }

    #[test]
    fn the_streaming_form_equals_the_one_shot_form() {
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut h = GitBlobHasher::new(bytes.len() as u64);
        for part in bytes.chunks(333) {
            h.update(part);
        }
        assert_eq!(h.finish(), git_blob_id(&bytes));
        // A length announced wrong gives another id: a short read cannot pass.
        let mut h = GitBlobHasher::new(bytes.len() as u64 + 1);
        h.update(&bytes);
        assert_ne!(h.finish(), git_blob_id(&bytes));
    }
}
