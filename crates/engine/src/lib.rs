//! The Mentorcast broadcast engine, in the shape of OBS:
//! sources (`mentorcast-media`) → encoders ([`encode`]) → output ([`output`],
//! which owns reconnect and drop policy) → service ([`service`], where to send).
//! A [`session::Broadcast`] wires them, runs the state machine and publishes
//! stats; the CLI and the app only subscribe.

pub mod encode;
pub mod flv;
pub mod output;
pub mod queue;
pub mod rtmp;
pub mod service;
pub mod session;

pub use encode::{AudioSettings, VideoSettings};
pub use output::ReconnectPolicy;
pub use rtmp::{FailureKind, RtmpError, TlsOptions};
pub use service::{Service, ServiceError};
pub use session::{AudioLevel, Broadcast, BroadcastConfig, BroadcastFailure, SessionState, Stats, StopHandle};
