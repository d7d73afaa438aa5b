//! A blob fetched as byte ranges, and the resume record kept beside its `.incomplete` file: how many bytes
//! of each range are on disk. The fetcher records progress at least every [`checkpoint`] bytes of a range,
//! so after a SIGKILL each range in flight loses less than one checkpoint, and a file's ranges together
//! lose less than one range. Pure: the engine reads and writes the record (atomically).

use serde::{Deserialize, Serialize};

/// Ranges of 32 MiB: large enough that a request's round trip is small beside its transfer, small enough
/// that several of them share one file.
pub const DEFAULT_CHUNK: u64 = 32 << 20;

/// A half-open byte range `[start, end)` of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }
    /// The `Range` header's value (`bytes=a-b`, inclusive end).
    pub fn header(&self) -> String {
        format!("bytes={}-{}", self.start, self.end.saturating_sub(1))
    }
}

/// `size` split into ranges of `chunk` bytes (the last one shorter); none for an empty file.
pub fn split(size: u64, chunk: u64) -> Vec<ByteRange> {
    let chunk = chunk.max(1);
    (0..size.div_ceil(chunk))
        .map(|i| ByteRange {
            start: i * chunk,
            end: ((i + 1) * chunk).min(size),
        })
        .collect()
}

/// How often (in bytes of one range) the fetcher records progress: a quarter range, so that the ranges of
/// one file in flight together lose less than one range when the process dies.
pub fn checkpoint(chunk: u64, ranges_in_flight: usize) -> u64 {
    (chunk / (4 * ranges_in_flight.max(1) as u64)).max(64 << 10)
}

/// The resume record of one blob: its size, the range size, and the bytes written at the start of each
/// range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    pub size: u64,
    pub chunk: u64,
    /// `done[i]`: bytes of range `i` on disk, from its start.
    pub done: Vec<u64>,
}

impl Progress {
    /// Nothing on disk yet.
    pub fn new(size: u64, chunk: u64) -> Self {
        let n = split(size, chunk).len();
        Self {
            size,
            chunk: chunk.max(1),
            done: vec![0; n],
        }
    }

    /// The record read back for a blob of `size`: kept only when it describes that blob with these ranges
    /// and no range claims more than it holds; anything else starts over (a record that lies would leave
    /// a hole in the file, which the SHA-256 would catch only after the whole download).
    pub fn resume(text: Option<&str>, size: u64, chunk: u64) -> Self {
        let fresh = Self::new(size, chunk);
        let Some(p) = text.and_then(|t| serde_json::from_str::<Progress>(t).ok()) else {
            return fresh;
        };
        let ranges = split(size, chunk);
        let fits = p.size == size
            && p.chunk == fresh.chunk
            && p.done.len() == ranges.len()
            && p.done.iter().zip(&ranges).all(|(d, r)| *d <= r.len());
        if fits {
            p
        } else {
            fresh
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn ranges(&self) -> Vec<ByteRange> {
        split(self.size, self.chunk)
    }

    /// What is still to fetch: each unfinished range from where it stopped, with its index.
    pub fn remaining(&self) -> Vec<(usize, ByteRange)> {
        self.ranges()
            .into_iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let rest = ByteRange {
                    start: r.start + self.done.get(i).copied().unwrap_or(0),
                    end: r.end,
                };
                (!rest.is_empty()).then_some((i, rest))
            })
            .collect()
    }

    /// Bytes on disk.
    pub fn have(&self) -> u64 {
        self.done.iter().sum()
    }

    pub fn is_complete(&self) -> bool {
        self.have() == self.size
    }

    /// `n` more bytes of range `i` written; never past the range's end.
    pub fn advance(&mut self, i: usize, n: u64) {
        let len = self.ranges().get(i).map_or(0, ByteRange::len);
        if let Some(d) = self.done.get_mut(i) {
            *d = (*d + n).min(len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_splits_into_bounded_ranges_covering_it_once() {
        let r = split(10, 4);
        assert_eq!(
            r,
            vec![
                ByteRange { start: 0, end: 4 },
                ByteRange { start: 4, end: 8 },
                ByteRange { start: 8, end: 10 }
            ]
        );
        assert_eq!(r[2].header(), "bytes=8-9");
        assert!(split(0, 4).is_empty());
        assert_eq!(split(8, 4).len(), 2);
        for (size, chunk) in [(1u64, 1u64), (1000, 7), (1 << 30, DEFAULT_CHUNK)] {
            let r = split(size, chunk);
            assert_eq!(r.iter().map(ByteRange::len).sum::<u64>(), size);
            assert!(r.iter().all(|x| x.len() <= chunk && !x.is_empty()));
            assert!(r.windows(2).all(|w| w[0].end == w[1].start));
        }
    }

    #[test]
    fn a_resume_fetches_only_what_is_missing_of_each_range() {
        let mut p = Progress::new(10, 4);
        p.advance(0, 4);
        p.advance(1, 1);
        p.advance(2, 99);
        assert_eq!(p.done, vec![4, 1, 2]);
        assert_eq!(p.have(), 7);
        assert_eq!(p.remaining(), vec![(1, ByteRange { start: 5, end: 8 })]);
        let back = Progress::resume(Some(&p.to_json()), 10, 4);
        assert_eq!(back, p);
        p.advance(1, 3);
        assert!(p.is_complete() && p.remaining().is_empty());
    }

    #[test]
    fn a_record_for_another_blob_or_range_size_starts_over() {
        let mut p = Progress::new(10, 4);
        p.advance(0, 4);
        let json = p.to_json();
        assert_eq!(Progress::resume(Some(&json), 11, 4).have(), 0);
        assert_eq!(Progress::resume(Some(&json), 10, 5).have(), 0);
        assert_eq!(Progress::resume(Some("{garbage"), 10, 4).have(), 0);
        assert_eq!(Progress::resume(None, 10, 4).remaining().len(), 3);
        let lying = r#"{"size":10,"chunk":4,"done":[5,0,0]}"#;
        assert_eq!(Progress::resume(Some(lying), 10, 4).have(), 0);
    }

    #[test]
    fn checkpoints_keep_a_files_loss_under_one_range() {
        for inflight in [1usize, 4, 8] {
            let c = checkpoint(DEFAULT_CHUNK, inflight);
            assert!(c * inflight as u64 <= DEFAULT_CHUNK / 4, "{inflight}");
        }
        assert_eq!(checkpoint(1024, 4), 64 << 10);
    }
}
