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
