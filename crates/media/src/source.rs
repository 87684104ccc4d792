//! The source interface. A source is pulled from its own thread: `next_*`
//! blocks until the next frame or chunk is ready (a camera waits for the
//! device, the synthetic sources wait for the clock), so the engine never
//! blocks its async runtime on a device.

use crate::clock::MediaClock;
use crate::frame::{AudioChunk, VideoFormat, VideoFrame};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("the source has ended")]
    Ended,
    #[error("no {kind} found")]
    NotFound { kind: &'static str },
    #[error("unsupported format: {0}")]
    UnsupportedFormat(String),
    #[error("device error: {0}")]
    Device(String),
}

pub trait VideoSource: Send {
    /// Called once when the session goes live: from then on frames are
    /// stamped on `clock`. Opening the device happens before (at creation),
    /// so a missing device is reported before any connection is made.
    fn start(&mut self, clock: MediaClock);
    fn format(&self) -> VideoFormat;
    fn name(&self) -> &str;
    fn next_frame(&mut self) -> Result<VideoFrame, SourceError>;
}

pub trait AudioSource: Send {
    /// As [`VideoSource::start`].
    fn start(&mut self, clock: MediaClock);
    fn name(&self) -> &str;
    fn next_chunk(&mut self) -> Result<AudioChunk, SourceError>;
}
