//! What a broadcast reports: its state machine ([`SessionState`], and its
//! plain [`SessionPhase`]), the stats refreshed about once a second, and the
//! audio level. All of it serializes as stable snake_case JSON (the CLI's
//! `--json`) and, with the `specta` feature, crosses to the app's TypeScript.

use mentorcast_media::DeviceState;
use mentorcast_protocol::FailureKind;

use crate::output::Outage;
use crate::record::{CopyState, CopyStatus};

/// Where a broadcast is: idle → connecting → live ⇄ reconnecting → ending →
/// ended, or failed with a reason.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SessionState {
    Idle,
    Connecting,
    Live,
    /// The connection was lost `off_air_ms` ago: attempt `attempt` comes in `next_in_ms`.
    Reconnecting {
        attempt: u32,
        next_in_ms: u32,
        off_air_ms: u32,
        reason: String,
    },
    Ending,
    Ended,
    Failed {
        kind: FailureKind,
        reason: String,
    },
}

/// [`SessionState`] without its details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum SessionPhase {
    #[default]
    Idle,
    Connecting,
    Live,
    Reconnecting,
    Ending,
    Ended,
    Failed,
}

impl SessionState {
    pub fn phase(&self) -> SessionPhase {
        match self {
            SessionState::Idle => SessionPhase::Idle,
            SessionState::Connecting => SessionPhase::Connecting,
            SessionState::Live => SessionPhase::Live,
            SessionState::Reconnecting { .. } => SessionPhase::Reconnecting,
            SessionState::Ending => SessionPhase::Ending,
            SessionState::Ended => SessionPhase::Ended,
            SessionState::Failed { .. } => SessionPhase::Failed,
        }
    }
}

impl SessionPhase {
    /// The snake_case name (as in JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            SessionPhase::Idle => "idle",
            SessionPhase::Connecting => "connecting",
            SessionPhase::Live => "live",
            SessionPhase::Reconnecting => "reconnecting",
            SessionPhase::Ending => "ending",
            SessionPhase::Ended => "ended",
            SessionPhase::Failed => "failed",
        }
    }
}

/// Peak and RMS of the audio sent (after mute), dBFS, over the last 100 ms
/// window; −inf (serialized as null) for digital silence.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct AudioLevel {
    pub peak_dbfs: Option<f64>,
    pub rms_dbfs: Option<f64>,
}

impl AudioLevel {
    /// Level of interleaved 16-bit samples (all channels together).
    pub fn of(samples: &[i16]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        let (mut peak, mut sum) = (0f64, 0f64);
        for &s in samples {
            let v = s as f64 / 32768.0;
            peak = peak.max(v.abs());
            sum += v * v;
        }
        let rms = (sum / samples.len() as f64).sqrt();
        let db = |x: f64| (x > 0.0).then(|| 20.0 * x.log10());
        Self { peak_dbfs: db(peak), rms_dbfs: db(rms) }
    }
}

/// The meter: 100 ms windows of interleaved 48 kHz audio → one [`AudioLevel`] each.
#[derive(Debug, Default)]
pub struct LevelMeter {
    window: Vec<i16>,
}

/// One meter window: 100 ms of 48 kHz stereo (the meter updates at 10 Hz).
const LEVEL_WINDOW: usize = 4800 * mentorcast_media::AUDIO_CHANNELS as usize;

impl LevelMeter {
    /// Adds samples; returns the level of every window they completed.
    pub fn push(&mut self, mut samples: &[i16]) -> Vec<AudioLevel> {
        let mut out = Vec::new();
        while !samples.is_empty() {
            let take = (LEVEL_WINDOW - self.window.len()).min(samples.len());
            self.window.extend_from_slice(&samples[..take]);
            samples = &samples[take..];
            if self.window.len() == LEVEL_WINDOW {
                out.push(AudioLevel::of(&self.window));
                self.window.clear();
            }
        }
        out
    }
}

/// Stats, refreshed about once a second while live.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Stats {
    pub state: SessionPhase,
    /// Seconds since going live.
    pub elapsed_s: f64,
    pub frames_captured: u64,
    pub frames_encoded: u64,
    pub frames_sent: u64,
    /// Dropped anywhere: at capture (source fell behind or the encoder lagged) and by the output's policy.
    pub frames_dropped: u64,
    /// Skipped by the encoder's rate control.
    pub frames_skipped: u64,
    pub audio_frames_sent: u64,
    pub audio_frames_dropped: u64,
    /// Video frames sent per second over the last interval.
    pub fps: f64,
    pub video_kbps: f64,
    pub audio_kbps: f64,
    /// Age of the last video frame when it was sent (capture → socket).
    pub queue_delay_ms: f64,
    pub bytes_sent: u64,
    pub reconnects: u32,
    /// Time from going live to the first video frame written to the socket.
    pub first_frame_ms: Option<f64>,
    /// The last 100 ms of audio sent (None without audio).
    pub audio_level: Option<AudioLevel>,
    /// Audio is being replaced by silence ([`crate::Broadcast::set_muted`]).
    pub muted: bool,
    /// The microphone's state (None for the synthetic source or none), and why it is unavailable.
    pub mic_state: Option<DeviceState>,
    pub mic_reason: Option<String>,
    /// The camera's state, as the microphone's.
    pub camera_state: Option<DeviceState>,
    pub camera_reason: Option<String>,
    /// Adaptive bitrate is on: `target_kbps` moves between the floor and `configured_kbps`.
    pub adaptive: bool,
    /// The video bitrate asked for.
    pub configured_kbps: u32,
    /// The encoder's video bitrate now.
    pub target_kbps: u32,
    /// The picture size the encoder runs at now: under the configured one while
    /// the target is far under the configured bitrate (None without video).
    pub encoded_width: Option<u32>,
    pub encoded_height: Option<u32>,
    /// What the link carried over the last second (all tracks).
    pub send_rate_kbps: Option<f64>,
    /// Every loss of the connection: when, and how long until live again.
    pub outages: Vec<Outage>,
    /// The local copy, when one was asked for.
    pub local_copy: Option<LocalCopyStats>,
}

/// The local copy, as the stats show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LocalCopyStats {
    /// None: it could not even start.
    pub path: Option<std::path::PathBuf>,
    pub state: CopyState,
    pub reason: Option<String>,
    pub bytes: u64,
}

impl From<CopyStatus> for LocalCopyStats {
    fn from(c: CopyStatus) -> Self {
        Self { path: Some(c.path), state: c.state, reason: c.reason, bytes: c.bytes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_serialize_as_snake_case() {
        let s = SessionState::Reconnecting { attempt: 2, next_in_ms: 1500, off_air_ms: 2000, reason: "reset".into() };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"state": "reconnecting", "attempt": 2, "next_in_ms": 1500, "off_air_ms": 2000, "reason": "reset"})
        );
        assert_eq!(s.phase(), SessionPhase::Reconnecting);
        assert_eq!(serde_json::to_value(SessionPhase::Live).unwrap(), "live");
        let f = SessionState::Failed { kind: FailureKind::Rejected, reason: "no".into() };
        assert_eq!(serde_json::to_value(&f).unwrap()["kind"], "rejected");
        for p in [SessionPhase::Idle, SessionPhase::Ended, SessionPhase::Failed] {
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
    }

    #[test]
    fn audio_levels() {
        let l = AudioLevel::of(&[16384, -16384]);
        assert!((l.peak_dbfs.unwrap() + 6.02).abs() < 0.01);
        assert_eq!(AudioLevel::of(&[0, 0]).peak_dbfs, None);
        let mut m = LevelMeter::default();
        assert!(m.push(&[100; 9000]).is_empty(), "less than a window");
        assert_eq!(m.push(&[100; 10_200]).len(), 2, "two windows of 9600 samples completed");
        assert!(m.push(&[100; 9599]).is_empty());
    }
}
