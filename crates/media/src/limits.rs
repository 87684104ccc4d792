//! The one table of frame limits every video source and encoder is held to:
//! even sizes within a sane range, 1–60 fps. The engine adds its bitrate
//! limits and presets beside it; the app shows both from the same values.

/// What a video format may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct FormatLimits {
    pub min_width: u32,
    pub max_width: u32,
    pub min_height: u32,
    pub max_height: u32,
    pub min_fps: u32,
    pub max_fps: u32,
}

/// The limits: 160×90 to 4096×2304, even sides, 1 to 60 fps.
pub const FORMAT_LIMITS: FormatLimits =
    FormatLimits { min_width: 160, max_width: 4096, min_height: 90, max_height: 2304, min_fps: 1, max_fps: 60 };

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    #[error(
        "resolution {0}x{1} is not supported: width and height must be even and between {min_w}x{min_h} and {max_w}x{max_h}",
        min_w = FORMAT_LIMITS.min_width,
        min_h = FORMAT_LIMITS.min_height,
        max_w = FORMAT_LIMITS.max_width,
        max_h = FORMAT_LIMITS.max_height
    )]
    Resolution(u32, u32),
    #[error("frame rate {0} is not supported: use {min} to {max} fps", min = FORMAT_LIMITS.min_fps, max = FORMAT_LIMITS.max_fps)]
    Fps(u32),
}

/// Checks a video format against [`FORMAT_LIMITS`].
pub fn check_format(width: u32, height: u32, fps: u32) -> Result<(), FormatError> {
    let l = FORMAT_LIMITS;
    if !width.is_multiple_of(2)
        || !height.is_multiple_of(2)
        || !(l.min_width..=l.max_width).contains(&width)
        || !(l.min_height..=l.max_height).contains(&height)
    {
        return Err(FormatError::Resolution(width, height));
    }
    if !(l.min_fps..=l.max_fps).contains(&fps) {
        return Err(FormatError::Fps(fps));
    }
    Ok(())
}
