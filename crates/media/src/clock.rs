//! One monotonic clock for a whole session: every frame and every audio chunk
//! is stamped in microseconds since the same start instant.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct MediaClock {
    start: Instant,
}

impl MediaClock {
    pub fn start() -> Self {
        Self { start: Instant::now() }
    }

    pub fn from_instant(start: Instant) -> Self {
        Self { start }
    }

    pub fn start_instant(&self) -> Instant {
        self.start
    }

    /// Microseconds since the clock started.
    pub fn now_us(&self) -> i64 {
        self.start.elapsed().as_micros() as i64
    }

    /// The instant that corresponds to `us` microseconds on this clock.
    pub fn instant_at(&self, us: i64) -> Instant {
        self.start + Duration::from_micros(us.max(0) as u64)
    }

    /// Sleeps until `us` on this clock (returns at once if it has passed).
    pub fn sleep_until(&self, us: i64) {
        let target = self.instant_at(us);
        let now = Instant::now();
        if target > now {
            std::thread::sleep(target - now);
        }
    }
}

/// Frames at `fps` on a [`MediaClock`]: frame `n` is due at `n / fps` s. A
/// caller more than a frame behind skips to the current frame, as a camera
/// would (the skipped frames are counted).
#[derive(Debug, Clone, Copy)]
pub struct FramePacer {
    fps: u32,
    next_index: u64,
    skipped: u64,
}

impl FramePacer {
    pub fn new(fps: u32) -> Self {
        Self { fps: fps.max(1), next_index: 0, skipped: 0 }
    }

    /// Presentation time of frame `index`, microseconds.
    pub fn pts_of(&self, index: u64) -> i64 {
        (index as i128 * 1_000_000 / self.fps as i128) as i64
    }

    /// Waits until the next frame is due on `clock`; returns its index.
    pub fn wait_next(&mut self, clock: &MediaClock) -> u64 {
        let current = (clock.now_us() as i128 * self.fps as i128 / 1_000_000) as u64;
        if current > self.next_index + 1 {
            self.skipped += current - self.next_index;
            self.next_index = current;
        }
        let index = self.next_index;
        self.next_index += 1;
        clock.sleep_until(self.pts_of(index));
        index
    }

    /// Frames skipped because the caller fell behind the clock.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}
