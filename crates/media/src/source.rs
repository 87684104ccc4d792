//! The source interface. A source is pulled from its own thread: `next_*`
//! blocks until the next frame or chunk is ready (a camera waits for the
//! device, the synthetic sources wait for the clock), so the engine never
//! blocks its async runtime on a device.

use std::sync::{Arc, Mutex};

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

/// Whether a device source is delivering, as shown in the session's stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    Active,
    /// The device vanished or failed: the source fills in (silence, a slate)
    /// and keeps the timeline going.
    Unavailable,
}

/// A device's state and, when it is unavailable, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceStatus {
    pub state: DeviceState,
    pub reason: Option<String>,
}

impl DeviceStatus {
    pub const ACTIVE: DeviceStatus = DeviceStatus { state: DeviceState::Active, reason: None };

    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self { state: DeviceState::Unavailable, reason: Some(reason.into()) }
    }
}

/// A source's live state, shared between the capture thread and whoever
/// reports it (the session's stats).
#[derive(Debug, Clone)]
pub struct SourceStatus(Arc<Mutex<DeviceStatus>>);

impl Default for SourceStatus {
    fn default() -> Self {
        Self::new()
    }
}

impl SourceStatus {
    pub fn new() -> Self {
        Self(Arc::new(Mutex::new(DeviceStatus::ACTIVE)))
    }

    pub fn set(&self, status: DeviceStatus) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = status;
    }

    pub fn get(&self) -> DeviceStatus {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

pub trait VideoSource: Send {
    /// Called once when the session goes live: from then on frames are
    /// stamped on `clock`. Opening the device happens before (at creation),
    /// so a missing device is reported before any connection is made.
    fn start(&mut self, clock: MediaClock);
    fn format(&self) -> VideoFormat;
    fn name(&self) -> &str;
    fn next_frame(&mut self) -> Result<VideoFrame, SourceError>;
    /// A device source's live state (None: always active, e.g. synthetic).
    fn status(&self) -> Option<SourceStatus> {
        None
    }
}

pub trait AudioSource: Send {
    /// As [`VideoSource::start`].
    fn start(&mut self, clock: MediaClock);
    fn name(&self) -> &str;
    fn next_chunk(&mut self) -> Result<AudioChunk, SourceError>;
    /// As [`VideoSource::status`].
    fn status(&self) -> Option<SourceStatus> {
        None
    }
}
