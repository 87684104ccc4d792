//! The Mentorcast broadcast engine, in the shape of OBS:
//! sources (`mentorcast-media`, `mentorcast-devices`) → encoders ([`encode`],
//! with smaller picture sizes at low bitrates ([`ladder`]), run by [`pipeline`]) → output ([`output`]: the connection, reconnect, drop
//! policy, stall detection) → service (where to send: [`Service`], from
//! `mentorcast-protocol`). A [`Broadcast`] ([`session`]) wires them and
//! reports [`SessionState`] and [`Stats`] ([`stats`]); the CLI and the app only
//! subscribe. [`presets`] holds the presets and limits both check against;
//! [`record`] writes the local copy of every broadcast.

pub mod connection_test;
pub mod elapsed;
pub mod encode;
pub mod ladder;
pub mod output;
pub mod pipeline;
pub mod presets;
pub mod queue;
pub mod record;
pub mod session;
pub mod stats;

pub use elapsed::format_elapsed;
pub use encode::{AudioSettings, VideoSettings};
pub use mentorcast_protocol::{FailureKind, RtmpError, Service, ServiceError, TlsOptions};
pub use output::{AdaptiveConfig, Outage, ReconnectPolicy, DEFAULT_RECONNECT_FOR};
pub use presets::{
    check_audio_kbps, check_video, check_video_kbps, LimitError, Preset, PresetId, BITRATE_LIMITS, PRESETS,
};
pub use record::CopyState;
pub use session::{Broadcast, BroadcastConfig, BroadcastFailure, StopHandle, VideoEncoding, STOP_WITHIN};
pub use stats::{AudioLevel, LevelMeter, LocalCopyStats, SessionPhase, SessionState, Stats};
