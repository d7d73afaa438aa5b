//! Progress and cancel of the offline kit's copies (export and import, folder and .tar): the same events
//! as the fetch (each file, and the total with its rate and time left, about four times a second), and
//! a token checked at every read so a cancel stops within a second.

use std::io::Read;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::docker::events::{emit, Event, Sink, WeightsFileState};

use super::WeightsError;

/// How often the total and the file under way are reported.
const TICK: Duration = Duration::from_millis(250);
/// The longest a capped copy sleeps before it looks at the token again.
const NAP: Duration = Duration::from_millis(50);

/// Where an export or import reports, what stops it, and how fast it may go.
#[derive(Debug, Clone, Default)]
pub struct KitControl {
    pub sink: Sink,
    pub cancel: CancellationToken,
    /// Bytes per second at most (tests, and a slow disk shared with others); `None`: as fast as the
    /// disks go.
    pub max_bytes_per_sec: Option<u64>,
}

impl KitControl {
    pub fn new(sink: &Sink, cancel: &CancellationToken) -> Self {
        Self {
            sink: sink.clone(),
            cancel: cancel.clone(),
            max_bytes_per_sec: None,
        }
    }
}

/// Which copy was cancelled: the error says what was undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KitOp {
    Export,
    Import,
}

/// One run's bytes: the file under way, the total, the throttled events, the cap and the token.
pub(super) struct Tracker<'a> {
    ctl: &'a KitControl,
    op: KitOp,
    total: u64,
    /// Bytes of the files finished.
    base: u64,
    /// The file under way: (name, size, bytes copied).
    file: Option<(String, u64, u64)>,
    /// Bytes copied by this run, for the cap.
    copied: u64,
    /// The last total reported: never goes back, even for a file longer than its manifest says.
    reported: u64,
    started: Instant,
    last: Instant,
    last_bytes: u64,
    rate: f64,
}

impl<'a> Tracker<'a> {
    pub(super) fn new(ctl: &'a KitControl, op: KitOp, total: u64) -> Self {
        let now = Instant::now();
        let t = Self {
            ctl,
            op,
            total,
            base: 0,
            file: None,
            copied: 0,
            reported: 0,
            started: now,
            last: now,
            last_bytes: 0,
            rate: 0.0,
        };
        t.total_event(0, 0, None);
        t
    }

    /// `Err(Cancelled)` once the token is cancelled.
    pub(super) fn check(&self) -> Result<(), WeightsError> {
        if self.ctl.cancel.is_cancelled() {
            Err(WeightsError::Cancelled(self.op))
        } else {
            Ok(())
        }
    }

    /// `e`, or `Cancelled` when the token is what stopped the copy (a read or write fails with it).
    pub(super) fn or_cancelled(&self, e: WeightsError) -> WeightsError {
        if self.ctl.cancel.is_cancelled() {
            WeightsError::Cancelled(self.op)
        } else {
            e
        }
    }

    pub(super) fn start_file(&mut self, name: &str, size: u64) -> Result<(), WeightsError> {
        self.check()?;
        self.file = Some((name.to_string(), size, 0));
        self.file_event(WeightsFileState::Copying);
        Ok(())
    }

    /// `n` more bytes of the file under way: waits out the cap, looks at the token, reports when a
    /// tick has passed.
    pub(super) fn advance(&mut self, n: usize) -> Result<(), WeightsError> {
        let n = n as u64;
        self.copied += n;
        if let Some((_, _, current)) = &mut self.file {
            *current += n;
        }
        if let Some(cap) = self.ctl.max_bytes_per_sec.filter(|c| *c > 0) {
            let due = self.started + Duration::from_secs_f64(self.copied as f64 / cap as f64);
            loop {
                self.check()?;
                let now = Instant::now();
                if now >= due {
                    break;
                }
                std::thread::sleep((due - now).min(NAP));
            }
        }
        self.check()?;
        if self.last.elapsed() >= TICK {
            self.tick();
        }
        Ok(())
    }

    /// The file under way is copied (and matched, or not: the caller says so in its error).
    pub(super) fn end_file(&mut self) {
        if let Some((name, size, _)) = self.file.take() {
            self.base += size;
            emit(
                &self.ctl.sink,
                Event::WeightsFile {
                    file: name,
                    current: size,
                    total: size,
                    state: WeightsFileState::Done,
                },
            );
        }
    }

    /// Every byte is in place: the total at its end.
    pub(super) fn finish(&self) {
        self.total_event(self.total, 0, Some(0));
    }

    fn current(&mut self) -> u64 {
        let under_way = self.file.as_ref().map_or(0, |(_, size, c)| (*c).min(*size));
        self.reported = self.reported.max((self.base + under_way).min(self.total));
        self.reported
    }

    fn tick(&mut self) {
        let current = self.current();
        let dt = self.last.elapsed().as_secs_f64().max(1e-3);
        let now = current.saturating_sub(self.last_bytes) as f64 / dt;
        // Smoothed as the fetch's is, so the time left does not jump with every read.
        self.rate = if self.rate == 0.0 {
            now
        } else {
            0.7 * self.rate + 0.3 * now
        };
        (self.last, self.last_bytes) = (Instant::now(), current);
        self.file_event(WeightsFileState::Copying);
        let eta = (self.rate >= 1.0)
            .then(|| (self.total.saturating_sub(current) as f64 / self.rate) as u64);
        self.total_event(current, self.rate as u64, eta);
    }

    fn file_event(&self, state: WeightsFileState) {
        if let Some((name, size, current)) = &self.file {
            emit(
                &self.ctl.sink,
                Event::WeightsFile {
                    file: name.clone(),
                    current: (*current).min(*size),
                    total: *size,
                    state,
                },
            );
        }
    }

    fn total_event(&self, current: u64, bytes_per_sec: u64, eta_s: Option<u64>) {
        emit(
            &self.ctl.sink,
            Event::Weights {
                current,
                total: self.total,
                bytes_per_sec,
                eta_s,
            },
        );
    }
}

/// A reader that reports each read to the tracker and fails once the token is cancelled (the caller
/// turns that failure into `Cancelled` with [`Tracker::or_cancelled`]).
pub(super) struct Tracked<'t, 'a, R> {
    pub(super) inner: R,
    pub(super) tracker: &'t mut Tracker<'a>,
}

impl<R: Read> Read for Tracked<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.tracker
            .advance(n)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(n)
    }
}
