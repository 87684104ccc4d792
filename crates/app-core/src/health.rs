//! Engine state and stats → what the Studio shows: plain-language states with
//! what to do, and health figures with OBS's warning thresholds: dropped
//! frames warning > 1 %, danger > 5 %; fps below 95 % / 80 % of target.

use mentorcast_engine::{format_elapsed, FailureKind, SessionPhase, SessionState, Stats};

use crate::dto::{BroadcastStatus, Health, Level};

/// Samples kept for the bitrate chart: 5 minutes at one a second.
pub const HISTORY_LEN: usize = 300;

pub fn dropped_level(sent: u64, dropped: u64) -> Option<Level> {
    let total = sent + dropped;
    if total == 0 {
        return None;
    }
    let pct = dropped as f64 * 100.0 / total as f64;
    Some(if pct > 5.0 {
        Level::Danger
    } else if pct > 1.0 {
        Level::Warning
    } else {
        Level::Good
    })
}

pub fn fps_level(fps: f64, target: u32) -> Option<Level> {
    if target == 0 {
        return None;
    }
    let r = fps / target as f64;
    Some(if r < 0.8 {
        Level::Danger
    } else if r < 0.95 {
        Level::Warning
    } else {
        Level::Good
    })
}

/// The title and the "what to do" line for a state.
pub fn describe(state: &SessionState, elapsed_s: f64) -> (String, String) {
    match state {
        SessionState::Idle => ("Ready".into(), "Choose your camera and microphone, then Go Live.".into()),
        SessionState::Connecting => ("Connecting…".into(), "Reaching the ingest and offering the stream key.".into()),
        SessionState::Live => (format!("Live {}", format_elapsed(elapsed_s)), "Your class is on air. End it with End (Ctrl+E).".into()),
        SessionState::Reconnecting { attempt, next_in_ms, off_air_ms, reason } => (
            format!(
                "Reconnecting… attempt {attempt} · next try in {} s · off air {}",
                next_in_ms.div_ceil(1000),
                format_elapsed(*off_air_ms as f64 / 1000.0)
            ),
            format!("The connection dropped ({reason}). Mentorcast keeps trying; check your network. Viewers see the stream resume by itself."),
        ),
        SessionState::Ending => ("Ending…".into(), "Sending what is left and closing the stream.".into()),
        SessionState::Ended => ("Ended".into(), "The class is over; its recording appears in Recordings within a minute.".into()),
        SessionState::Failed { kind, reason } => failure(*kind, reason),
    }
}

fn failure(kind: FailureKind, reason: &str) -> (String, String) {
    match kind {
        FailureKind::Rejected => (
            "Stream key rejected".into(),
            "The ingest refused the stream key. If you rotated it elsewhere, reopen the Studio to fetch the new one; in Settings, check a QA override key.".into(),
        ),
        FailureKind::CannotConnect => (
            "Ingest unreachable".into(),
            format!("Could not reach the ingest ({reason}). Check your network or the ingest address, then Go Live again."),
        ),
        FailureKind::ConnectionLost => (
            "Connection lost".into(),
            format!("The stream stopped: the connection did not come back ({reason}). Go Live again when the network is back."),
        ),
        FailureKind::Config => ("Cannot start".into(), format!("The broadcast settings were refused: {reason}.")),
    }
}

/// Folds engine stats into the Studio's health block (keeps the history).
#[derive(Debug, Default)]
pub struct HealthTracker {
    target_fps: u32,
    target_kbps: u32,
    history: std::collections::VecDeque<f64>,
    encoder_history: std::collections::VecDeque<f64>,
}

impl HealthTracker {
    pub fn new(target_fps: u32, target_kbps: u32) -> Self {
        Self { target_fps, target_kbps, history: Default::default(), encoder_history: Default::default() }
    }

    pub fn update(&mut self, s: &Stats) -> Health {
        if s.state == SessionPhase::Live {
            self.history.push_back(s.video_kbps);
            self.encoder_history.push_back(s.target_kbps as f64);
            while self.history.len() > HISTORY_LEN {
                self.history.pop_front();
                self.encoder_history.pop_front();
            }
        }
        let total = s.frames_sent + s.frames_dropped;
        let live = s.state == SessionPhase::Live;
        Health {
            fps: s.fps,
            target_fps: self.target_fps,
            fps_level: if live && s.elapsed_s >= 2.0 { fps_level(s.fps, self.target_fps) } else { None },
            video_kbps: s.video_kbps,
            audio_kbps: s.audio_kbps,
            target_kbps: self.target_kbps,
            encoder_kbps: s.target_kbps,
            slow_notice: slow_notice(s),
            frames_sent: s.frames_sent.min(u32::MAX as u64) as u32,
            frames_dropped: s.frames_dropped.min(u32::MAX as u64) as u32,
            dropped_pct: if total == 0 { 0.0 } else { s.frames_dropped as f64 * 100.0 / total as f64 },
            dropped_level: dropped_level(s.frames_sent, s.frames_dropped),
            queue_delay_ms: s.queue_delay_ms,
            bitrate_history: self.history.iter().copied().collect(),
            encoder_history: self.encoder_history.iter().copied().collect(),
        }
    }
}

/// While adaptive bitrate holds the video under 95 % of what was asked for, live:
/// "Your connection is slow — quality lowered to 1.2 Mb/s" (and the picture
/// size the encoder runs at, which steps down at low bitrates: "… at 360p").
pub fn slow_notice(s: &Stats) -> Option<String> {
    let lowered = s.adaptive && s.configured_kbps > 0 && s.target_kbps * 100 < s.configured_kbps * 95;
    (lowered && s.state == SessionPhase::Live).then(|| {
        let rate = if s.target_kbps >= 1000 {
            format!("{:.1} Mb/s", s.target_kbps as f64 / 1000.0)
        } else {
            format!("{} kb/s", s.target_kbps)
        };
        let size = s.encoded_height.map(|h| format!(" at {h}p")).unwrap_or_default();
        format!("Your connection is slow — quality lowered to {rate}{size}")
    })
}

pub fn status(state: &SessionState, stats: &Stats, health: Health, destination: Option<String>) -> BroadcastStatus {
    let (title, detail) = describe(state, stats.elapsed_s);
    BroadcastStatus {
        state: state.phase(),
        title,
        detail,
        elapsed_s: stats.elapsed_s,
        elapsed_text: format_elapsed(stats.elapsed_s),
        health,
        destination,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_frames_follow_obs_thresholds() {
        assert_eq!(dropped_level(0, 0), None);
        assert_eq!(dropped_level(1000, 10), Some(Level::Good)); // 0.99 %
        assert_eq!(dropped_level(1000, 20), Some(Level::Warning)); // 1.96 %
        assert_eq!(dropped_level(1000, 60), Some(Level::Danger)); // 5.7 %
    }

    #[test]
    fn fps_levels() {
        assert_eq!(fps_level(30.0, 30), Some(Level::Good));
        assert_eq!(fps_level(28.0, 30), Some(Level::Warning));
        assert_eq!(fps_level(20.0, 30), Some(Level::Danger));
    }

    #[test]
    fn states_read_as_plain_language() {
        assert_eq!(describe(&SessionState::Live, 754.2).0, "Live 00:12:34");
        let (t, d) = describe(&SessionState::Failed { kind: FailureKind::Rejected, reason: "x".into() }, 0.0);
        assert_eq!(t, "Stream key rejected");
        assert!(d.contains("refused the stream key"));
        assert_eq!(
            describe(&SessionState::Failed { kind: FailureKind::CannotConnect, reason: "refused".into() }, 0.0).0,
            "Ingest unreachable"
        );
        let r =
            SessionState::Reconnecting { attempt: 3, next_in_ms: 1_800, off_air_ms: 65_000, reason: "reset".into() };
        assert_eq!(describe(&r, 0.0).0, "Reconnecting… attempt 3 · next try in 2 s · off air 00:01:05");
    }

    #[test]
    fn a_lowered_bitrate_is_said_while_it_lasts() {
        let live = Stats { state: SessionPhase::Live, adaptive: true, configured_kbps: 2500, ..Default::default() };
        let lowered = Stats { target_kbps: 1200, ..live.clone() };
        assert_eq!(slow_notice(&lowered).as_deref(), Some("Your connection is slow — quality lowered to 1.2 Mb/s"));
        assert_eq!(
            slow_notice(&Stats { target_kbps: 600, ..live.clone() }).unwrap(),
            "Your connection is slow — quality lowered to 600 kb/s"
        );
        assert_eq!(
            slow_notice(&Stats {
                target_kbps: 600,
                encoded_width: Some(640),
                encoded_height: Some(360),
                ..live.clone()
            })
            .unwrap(),
            "Your connection is slow — quality lowered to 600 kb/s at 360p"
        );
        assert_eq!(slow_notice(&Stats { target_kbps: 2500, ..live.clone() }), None, "back to what was asked for");
        assert_eq!(slow_notice(&Stats { adaptive: false, ..lowered.clone() }), None);
        assert_eq!(slow_notice(&Stats { state: SessionPhase::Reconnecting, ..lowered }), None);
        let mut h = HealthTracker::new(30, 2500);
        let out = h.update(&Stats { video_kbps: 1100.0, target_kbps: 1200, ..live });
        assert_eq!((out.bitrate_history, out.encoder_history), (vec![1100.0], vec![1200.0]));
    }

    #[test]
    fn history_is_bounded_and_only_while_live() {
        let mut h = HealthTracker::new(30, 3000);
        let idle = Stats { state: SessionPhase::Connecting, ..Default::default() };
        assert!(h.update(&idle).bitrate_history.is_empty());
        let live = Stats { state: SessionPhase::Live, video_kbps: 2900.0, frames_sent: 100, ..Default::default() };
        for _ in 0..(HISTORY_LEN + 20) {
            h.update(&live);
        }
        let out = h.update(&live);
        assert_eq!(out.bitrate_history.len(), HISTORY_LEN);
        assert_eq!(out.dropped_level, Some(Level::Good));
    }
}
