//! The one table of presets and bitrate limits. The app offers the presets;
//! the CLI takes any size and rate within the limits; both check against the
//! same values ([`check_video`]), and the app's UI reads them from the
//! generated bindings instead of repeating them.

pub use mentorcast_media::{FormatLimits, FORMAT_LIMITS};

/// A preset the app offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum PresetId {
    P1080p30,
    P720p30,
    P480p30,
}

/// A preset's format and its default video bitrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Preset {
    pub id: PresetId,
    pub label: &'static str,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// The platform's typical bitrate for the rung.
    pub default_kbps: u32,
}

/// The presets, largest first.
pub const PRESETS: [Preset; 3] = [
    Preset { id: PresetId::P1080p30, label: "1080p30", width: 1920, height: 1080, fps: 30, default_kbps: 5000 },
    Preset { id: PresetId::P720p30, label: "720p30", width: 1280, height: 720, fps: 30, default_kbps: 3000 },
    Preset { id: PresetId::P480p30, label: "480p30", width: 854, height: 480, fps: 30, default_kbps: 1500 },
];

impl PresetId {
    pub fn preset(self) -> Preset {
        // The table holds every id.
        PRESETS.iter().copied().find(|p| p.id == self).unwrap_or(PRESETS[1])
    }
}

/// Bitrates a broadcast may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct BitrateLimits {
    pub min_video_kbps: u32,
    pub max_video_kbps: u32,
    pub min_audio_kbps: u32,
    /// Ingests accept up to 160; AAC-LC stereo allows up to 320.
    pub max_audio_kbps: u32,
}

pub const BITRATE_LIMITS: BitrateLimits =
    BitrateLimits { min_video_kbps: 100, max_video_kbps: 50_000, min_audio_kbps: 32, max_audio_kbps: 320 };

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("{0}")]
    Format(#[from] mentorcast_media::FormatError),
    #[error("video bitrate {0} kbps is out of range: use {min} to {max}", min = BITRATE_LIMITS.min_video_kbps, max = BITRATE_LIMITS.max_video_kbps)]
    VideoKbps(u32),
    #[error(
        "audio bitrate {0} kbps is out of range: use {min} to {max} (ingests accept up to 160)",
        min = BITRATE_LIMITS.min_audio_kbps,
        max = BITRATE_LIMITS.max_audio_kbps
    )]
    AudioKbps(u32),
}

/// Checks a video format and bitrate against the limits.
pub fn check_video(width: u32, height: u32, fps: u32, kbps: u32) -> Result<(), LimitError> {
    mentorcast_media::check_format(width, height, fps)?;
    check_video_kbps(kbps)
}

pub fn check_video_kbps(kbps: u32) -> Result<(), LimitError> {
    let l = BITRATE_LIMITS;
    if !(l.min_video_kbps..=l.max_video_kbps).contains(&kbps) {
        return Err(LimitError::VideoKbps(kbps));
    }
    Ok(())
}

pub fn check_audio_kbps(kbps: u32) -> Result<(), LimitError> {
    let l = BITRATE_LIMITS;
    if !(l.min_audio_kbps..=l.max_audio_kbps).contains(&kbps) {
        return Err(LimitError::AudioKbps(kbps));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_within_the_limits() {
        for p in PRESETS {
            check_video(p.width, p.height, p.fps, p.default_kbps).unwrap();
            assert_eq!(p.id.preset(), p);
        }
        assert!(check_video(854, 480, 24, 1200).is_ok(), "the CLI's 854x480@24 keeps working");
        assert_eq!(check_video(854, 480, 30, 99), Err(LimitError::VideoKbps(99)));
        assert!(matches!(check_video(853, 480, 30, 1000), Err(LimitError::Format(_))));
        assert_eq!(check_audio_kbps(400), Err(LimitError::AudioKbps(400)));
        assert_eq!(LimitError::VideoKbps(99).to_string(), "video bitrate 99 kbps is out of range: use 100 to 50000");
    }
}
