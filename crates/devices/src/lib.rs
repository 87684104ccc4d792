//! Real capture devices for Mentorcast behind the media source traits, so the
//! encoders and the output do not change: cameras through nokhwa (V4L2),
//! microphones through cpal (ALSA), frame conversion to I420 and resampling
//! to 48 kHz.
//!
//! A crate of its own (not a feature of `mentorcast-media`) so that the crates
//! that only need the media types — the engine, the verifier — never build
//! the ALSA and V4L2 bindings.

pub mod camera;
pub mod convert;
pub mod devices;
pub mod mic;
pub mod spec;

pub use camera::{choose_format, CameraMode, CameraSelector, CameraSource};
pub use convert::{CaptureFormat, ConvertError, Converter};
pub use mic::{MicSelector, MicSource};
pub use spec::{open, DeviceError, SourceKind, SourceSpec, Sources, VideoRequest};
