//! The wire formats and protocols Mentorcast speaks, shared by the engine
//! (which publishes) and the verifier (which plays and reads recordings):
//!
//! - [`h264`]: Annex B, NAL unit types, the decoder configuration record
//! - [`flv`]: FLV tag bodies (mux and demux) and FLV files
//! - [`service`]: an RTMP(S) ingest address and its stream key (masked in logs)
//! - [`transport`]: the byte streams RTMP runs over (TCP, TLS; a seam for tests)
//! - [`rtmp`]: RTMP client sessions, publish and play
//! - [`error`]: what can go wrong reaching an ingest, grouped for the user

pub mod error;
pub mod flv;
pub mod h264;
pub mod rtmp;
pub mod service;
pub mod transport;

pub use error::{FailureKind, RtmpError};
pub use service::{Service, ServiceError};
pub use transport::{Connector, Delivery, Link, NetConnector, TlsOptions};
