//! Raw media for the Mentorcast engine: frame and sample types, the one clock
//! every source stamps from, the source traits, and the synthetic test sources.
//!
//! The synthetic video burns a machine-readable frame counter into every
//! frame ([`counter`]), so a verifier can read back, from whatever the ingest
//! received, which frames arrived — even after another encoder re-encoded or
//! scaled the stream. [`compose`] draws the scenes (camera, screen, screen
//! with the camera in a corner) the encoder sees as its one video source.

pub mod clock;
pub mod compose;
pub mod counter;
pub mod frame;
pub mod limits;
pub mod scale;
pub mod source;
pub mod synthetic;

pub use clock::{FramePacer, MediaClock};
pub use frame::{AudioChunk, PixelFormat, VideoFormat, VideoFrame, AUDIO_CHANNELS, AUDIO_SAMPLE_RATE};
pub use limits::{check_format, FormatError, FormatLimits, FORMAT_LIMITS};
pub use source::{AudioSource, DeviceState, DeviceStatus, SourceError, SourceStatus, VideoSource};
pub use synthetic::{SyntheticAudio, SyntheticVideo, BEEP_FREQ_HZ, BEEP_MS, TONE_FREQ_HZ};
