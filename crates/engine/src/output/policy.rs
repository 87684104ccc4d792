//! The output's two policies: which video to drop when the network falls
//! behind, and how long to wait before each reconnect attempt.

use std::time::Duration;

/// Past this queue delay, video is dropped until the next keyframe (OBS: ~900 ms).
pub const DROP_VIDEO_AFTER: Duration = Duration::from_millis(900);

/// What the drop policy says about one video packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Send,
    /// Drop it; `started` is true for the first drop of a run.
    Drop {
        started: bool,
    },
}

/// Video drop policy: past [`DROP_VIDEO_AFTER`] of queue delay, drop until
/// the next keyframe (every P-frame is a reference, so a single dropped
/// frame would corrupt the rest of the GOP); keyframes always go. Audio is
/// never dropped by policy.
#[derive(Debug, Default)]
pub struct VideoDropPolicy {
    waiting_for_keyframe: bool,
}

impl VideoDropPolicy {
    /// From now on, send nothing until a keyframe (after a reconnect or a lost packet).
    pub fn wait_for_keyframe(&mut self) {
        self.waiting_for_keyframe = true;
    }

    /// Whether a video packet with this queue delay goes out.
    pub fn admit(&mut self, keyframe: bool, queue_delay: Duration) -> Admit {
        if keyframe {
            self.waiting_for_keyframe = false;
            return Admit::Send;
        }
        if self.waiting_for_keyframe {
            return Admit::Drop { started: false };
        }
        if queue_delay > DROP_VIDEO_AFTER {
            self.waiting_for_keyframe = true;
            return Admit::Drop { started: true };
        }
        Admit::Send
    }
}

/// How the output reconnects after losing a live connection.
///
/// While the ingest does not answer (refused, unreachable, timed out) it is
/// tried again every [`ReconnectPolicy::retry_every`] (a refused connect costs
/// nothing), so the stream is back within about that long after the ingest
/// is; "already publishing" (the ingest still holds our dead publish) is
/// retried as often. Against an ingest that answers but fails, the waits
/// back off: [`ReconnectPolicy::first_delay`] × [`ReconnectPolicy::multiplier`]ⁿ
/// ± 20 %, capped. A refused key or app is never retried.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ReconnectPolicy {
    /// Give up this long after the connection was lost; None: keep trying until stopped.
    pub give_up_after: Option<Duration>,
    /// At most this many attempts after a loss (None: no limit); `Some(0)`: never reconnect.
    pub max_attempts: Option<u32>,
    /// How soon to try again an ingest that does not answer.
    pub retry_every: Duration,
    pub first_delay: Duration,
    pub multiplier: f64,
    pub max_delay: Duration,
}

/// Keep trying for 10 minutes by default: an ingest restart or a router reboot must not end a class.
pub const DEFAULT_RECONNECT_FOR: Duration = Duration::from_secs(600);

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            give_up_after: Some(DEFAULT_RECONNECT_FOR),
            max_attempts: None,
            retry_every: Duration::from_millis(500),
            first_delay: Duration::from_secs(1),
            multiplier: 1.5,
            max_delay: Duration::from_secs(15),
        }
    }
}

impl ReconnectPolicy {
    /// No reconnect: a lost connection ends the broadcast.
    pub fn none() -> Self {
        Self { max_attempts: Some(0), ..Self::default() }
    }

    /// Keep trying for `d` after a loss (zero: until stopped).
    pub fn for_duration(d: Duration) -> Self {
        Self { give_up_after: (!d.is_zero()).then_some(d), ..Self::default() }
    }

    /// Whether a lost connection is tried again at all.
    pub fn enabled(&self) -> bool {
        self.max_attempts != Some(0)
    }

    /// The backoff before attempt `n` (1-based) against an ingest that answers but fails, with ±20% jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self.first_delay.as_secs_f64() * self.multiplier.powi(attempt.saturating_sub(1) as i32);
        let base = base.min(self.max_delay.as_secs_f64());
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let jitter = 0.8 + 0.4 * (nanos % 1000) as f64 / 1000.0;
        Duration::from_secs_f64(base * jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_video_from_a_deep_queue_until_the_next_keyframe() {
        let mut p = VideoDropPolicy::default();
        let ms = Duration::from_millis;
        assert_eq!(p.admit(true, ms(10)), Admit::Send);
        assert_eq!(p.admit(false, ms(800)), Admit::Send);
        assert_eq!(p.admit(false, ms(950)), Admit::Drop { started: true });
        // Even once the queue drains, P-frames wait for a keyframe.
        assert_eq!(p.admit(false, ms(10)), Admit::Drop { started: false });
        // A late keyframe still goes: it restarts the picture.
        assert_eq!(p.admit(true, ms(2000)), Admit::Send);
        assert_eq!(p.admit(false, ms(10)), Admit::Send);
        p.wait_for_keyframe();
        assert_eq!(p.admit(false, ms(0)), Admit::Drop { started: false });
        assert_eq!(p.admit(true, ms(0)), Admit::Send);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = ReconnectPolicy {
            first_delay: Duration::from_secs(2),
            multiplier: 1.5,
            max_delay: Duration::from_secs(10),
            ..ReconnectPolicy::default()
        };
        let d1 = p.delay(1).as_secs_f64();
        let d3 = p.delay(3).as_secs_f64();
        let d20 = p.delay(20).as_secs_f64();
        assert!((1.6..=2.4).contains(&d1), "{d1}");
        assert!((3.6..=5.4).contains(&d3), "{d3}");
        assert!((8.0..=12.0).contains(&d20), "{d20}");
        assert!(!ReconnectPolicy::none().enabled() && ReconnectPolicy::default().enabled());
        assert_eq!(ReconnectPolicy::for_duration(Duration::ZERO).give_up_after, None, "0: until stopped");
        assert_eq!(ReconnectPolicy::default().give_up_after, Some(DEFAULT_RECONNECT_FOR));
    }
}
