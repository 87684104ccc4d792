//! Raw frame and sample types passed from sources to encoders.

/// Audio leaves every source as interleaved 16-bit PCM at this rate and channel count.
pub const AUDIO_SAMPLE_RATE: u32 = 48_000;
pub const AUDIO_CHANNELS: u16 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// Planar Y, then U and V at quarter size.
    I420,
    /// Planar Y, then interleaved UV at quarter size.
    Nv12,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoFormat {
    pub width: u32,
    pub height: u32,
    /// Nominal frame rate.
    pub fps: u32,
    pub pixel_format: PixelFormat,
}

impl VideoFormat {
    pub fn frame_bytes(&self) -> usize {
        let luma = self.width as usize * self.height as usize;
        luma + luma / 2
    }
}

/// One raw video frame; planes are tightly packed (stride = width).
#[derive(Debug, Clone)]
pub struct VideoFrame {
    pub width: u32,
    pub height: u32,
    pub pixel_format: PixelFormat,
    pub data: Vec<u8>,
    /// Presentation time in microseconds on the session's [`crate::MediaClock`].
    pub pts_us: i64,
    /// The source's own frame index (for the synthetic source: the burned-in counter).
    pub index: u64,
}

impl VideoFrame {
    pub fn y(&self) -> &[u8] {
        &self.data[..(self.width * self.height) as usize]
    }

    /// The frame as I420, converting from NV12 when needed.
    pub fn to_i420(&self) -> std::borrow::Cow<'_, [u8]> {
        match self.pixel_format {
            PixelFormat::I420 => std::borrow::Cow::Borrowed(&self.data),
            PixelFormat::Nv12 => {
                let luma = (self.width * self.height) as usize;
                let quarter = luma / 4;
                let mut out = Vec::with_capacity(luma + 2 * quarter);
                out.extend_from_slice(&self.data[..luma]);
                let uv = &self.data[luma..luma + 2 * quarter];
                out.extend(uv.iter().step_by(2));
                out.extend(uv.iter().skip(1).step_by(2));
                std::borrow::Cow::Owned(out)
            }
        }
    }
}

/// A run of interleaved stereo 16-bit samples at [`AUDIO_SAMPLE_RATE`].
#[derive(Debug, Clone)]
pub struct AudioChunk {
    pub samples: Vec<i16>,
    /// Time of the first sample, microseconds on the session clock.
    pub pts_us: i64,
    /// Index of the first sample frame since the source started.
    pub first_sample: u64,
}

impl AudioChunk {
    pub fn frames(&self) -> usize {
        self.samples.len() / AUDIO_CHANNELS as usize
    }
}
