//! Verifies a stream that a real ingest received.
//!
//! Input: an FLV file (what nginx-rtmp records), an MP4 file, or the tags of a
//! live RTMP play session. The video is decoded (openh264) and the burned-in
//! counter of the synthetic source ([`mentorcast_media::counter`]) is read from
//! every frame; the audio is decoded (fdk-aac) and the 1 kHz beeps found. The
//! [`Report`] says which frames were lost or duplicated and the A/V offset
//! (beep onset − flash frame PTS, positive = audio late).
//!
//! Timing conventions: a video frame's time is its PTS (FLV: tag timestamp +
//! composition offset; MP4: decode time + composition offset, after the edit
//! list). An AAC frame's time is the time of the first sample of *its* audio,
//! i.e. what the sender's encoder delay makes it: with fdk-aac sending, stamp
//! the n-th packet the encoder returns (n from 0, one per 1024-sample call) at
//! `(n·1024 − nDelay) / rate` seconds, `nDelay` from `aacEncInfo()` (2048 for
//! AAC-LC 48 kHz; equal to `nDelayCore` without SBR). The first two packets
//! then fall before 0. On the receiving side this crate removes fdk-aac's own
//! decoder delay (`CStreamInfo::outputDelay`, 1744 samples: its PCM limiter).
//!
//! Decoding is CPU work: [`verify_rtmp`] runs it on a blocking thread; the
//! file functions are synchronous (call them from `spawn_blocking` in async code).

mod analyzer;
mod beep;
mod mp4file;
mod rtmp;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use analyzer::Analyzer;
pub use rtmp::{verify_rtmp, verify_rtmp_until, PlayLimits};

/// What the analyzer may assume about the stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Nominal frame rate, if known; otherwise inferred from the video timestamps.
    pub fps: Option<u32>,
}

/// The verdict on a received stream. Field names are the JSON keys.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Report {
    /// Highest counter − lowest counter + 1, over frames whose counter read.
    pub frames_expected: u64,
    /// Distinct counters read.
    pub frames_received: u64,
    /// `frames_expected − frames_received`.
    pub frames_lost: u64,
    /// Where they are: runs of missing counters, `[first, last]` inclusive, in
    /// order (the first 1000 runs). A counter over the frame rate is the frame's time.
    pub lost_ranges: Vec<[u64; 2]>,
    /// Frames whose counter had already been seen.
    pub frames_duplicated: u64,
    /// Decoded frames whose counter did not read.
    pub frames_unreadable: u64,
    /// Pictures the H.264 decoder produced.
    pub frames_decoded: u64,
    /// Received frames per second of video duration.
    pub fps: f64,
    /// The frame rate used for the duration: as given, or inferred from timestamps.
    pub nominal_fps: Option<f64>,
    /// Median over flash/beep pairs of (beep onset − flash PTS), ms; positive = audio late.
    pub av_offset_ms: Option<f64>,
    pub av_offset_min_ms: Option<f64>,
    pub av_offset_max_ms: Option<f64>,
    /// Flashes that had a beep within ±500 ms.
    pub av_pairs: u64,
    /// Each pair's offset (beep − flash, ms), in flash order: how the A/V offset moved over the stream.
    pub av_offsets_ms: Vec<f64>,
    /// Video PTS span plus one frame, seconds.
    pub duration_s: f64,
    /// The largest picture decoded (a sender may step its size down for a while).
    pub width: u32,
    pub height: u32,
    /// e.g. "h264 Constrained Baseline"; None without video.
    pub video_codec: Option<String>,
    /// H.264 level, e.g. "3.1".
    pub video_level: Option<String>,
    /// "aac-lc" (or another AAC object type); None without audio.
    pub audio_codec: Option<String>,
    pub audio_sample_rate: Option<u32>,
    pub audio_channels: Option<u32>,
    /// Median spacing of keyframes, seconds; None with fewer than two keyframes.
    pub keyframe_interval_s: Option<f64>,
    /// Flash frames seen.
    pub flashes: u64,
    /// Beeps found (a beep at the very start of the audio, with no silence before it, is not counted).
    pub beeps: u64,
    /// Lowest and highest counter read.
    pub first_frame: Option<u64>,
    pub last_frame: Option<u64>,
    /// Coded video frames received (tags/samples, not sequence headers).
    pub video_frames: u64,
    pub video_decode_errors: u64,
    /// Coded audio frames received.
    pub audio_frames: u64,
    pub audio_decode_errors: u64,
    /// Tags that could not be parsed.
    pub malformed_tags: u64,
    /// The decoded audio, second by second: level and dominant frequency.
    pub audio_windows: Vec<AudioWindow>,
    /// Audio frames that started later (gap) or earlier (overlap) than the
    /// previous frame's end, by more than 5 ms.
    pub audio_gaps: u64,
    /// The longest of those gaps, ms (0 without one).
    pub audio_gap_max_ms: f64,
    pub audio_overlaps: u64,
    /// End of the last audio frame and of the last video frame (PTS + one frame), ms.
    pub audio_end_ms: Option<f64>,
    pub video_end_ms: Option<f64>,
    /// Playing over RTMP: how far the picture fell behind live at worst, from
    /// arrival times against timestamps (each publish its own baseline). None for files.
    pub live_delay_max_s: Option<f64>,
}

/// One second of decoded audio (channels mixed to mono).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AudioWindow {
    /// Time of the window's first sample, ms.
    pub start_ms: f64,
    /// RMS and peak in dBFS (None: digital silence).
    pub rms_dbfs: Option<f64>,
    pub peak_dbfs: Option<f64>,
    /// Frequency of the strongest spectral peak (Hann window, interpolated), Hz; None in silence.
    pub dominant_hz: Option<f64>,
}

/// Level and dominant frequency of mono samples (full scale ±1.0).
pub fn analyze_window(mono: &[f32], rate: u32, start_ms: f64) -> AudioWindow {
    analyzer::analyze_window(mono, rate, start_ms)
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("file not found: {0}")]
    NotFound(PathBuf),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("not an FLV or MP4 file")]
    UnknownFormat,
    #[error("malformed MP4: {0}")]
    Mp4(String),
    #[error("the stream has no H.264 video")]
    NoVideo,
    #[error("the video could not be decoded ({0})")]
    Undecodable(String),
    #[error("malformed tag: {0}")]
    Malformed(String),
    #[error(transparent)]
    Rtmp(#[from] mentorcast_protocol::RtmpError),
    #[error("no stream arrived at {url} within {secs} s")]
    NoStream { url: String, secs: u64 },
}

/// Verifies an FLV file held in memory. Tags that cannot be parsed are
/// skipped (and counted); a file cut short is read up to its last whole tag.
pub fn verify_flv_bytes(data: &[u8], opts: VerifyOptions) -> Result<Report, VerifyError> {
    let tags = mentorcast_protocol::flv::read_file(data).map_err(|_| VerifyError::UnknownFormat)?;
    let mut analyzer = Analyzer::new(opts);
    for tag in &tags {
        if let Err(e) = analyzer.push(tag) {
            tracing::debug!("{e}");
        }
    }
    finish_checked(analyzer)
}

/// Verifies a recording: FLV or MP4, told apart by content.
pub fn verify_file(path: impl AsRef<Path>, opts: VerifyOptions) -> Result<Report, VerifyError> {
    let path = path.as_ref();
    let read_err = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::NotFound {
            VerifyError::NotFound(path.to_path_buf())
        } else {
            VerifyError::Read { path: path.to_path_buf(), source }
        }
    };
    let mut head = [0u8; 12];
    let n = {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(read_err)?;
        let mut n = 0;
        while n < head.len() {
            match f.read(&mut head[n..]).map_err(read_err)? {
                0 => break,
                k => n += k,
            }
        }
        n
    };
    if n >= 3 && &head[..3] == b"FLV" {
        let data = std::fs::read(path).map_err(read_err)?;
        tracing::info!("verifying FLV {} ({} bytes)", path.display(), data.len());
        verify_flv_bytes(&data, opts)
    } else if n >= 8 && &head[4..8] == b"ftyp" {
        tracing::info!("verifying MP4 {}", path.display());
        mp4file::verify_mp4(path, opts)
    } else {
        Err(VerifyError::UnknownFormat)
    }
}

/// Finishes and turns "nothing usable" into errors.
pub(crate) fn finish_checked(analyzer: Analyzer) -> Result<Report, VerifyError> {
    let pushed = analyzer.video_frames_pushed();
    let report = analyzer.finish();
    if pushed == 0 {
        return Err(VerifyError::NoVideo);
    }
    if report.frames_decoded == 0 {
        return Err(VerifyError::Undecodable(format!(
            "{} video frames, {} decode errors, none decoded",
            report.video_frames, report.video_decode_errors
        )));
    }
    Ok(report)
}
