//! The Mentorcast broadcast engine, in the shape of OBS:
//! sources (`mentorcast-media`) → encoders ([`encode`]) → output ([`output`],
//! which owns reconnect and drop policy) → service ([`service`], where to send).
//! A [`session::Broadcast`] wires them, runs the state machine and publishes
//! stats; the CLI and the app only subscribe.

pub mod flv;
pub mod rtmp;
pub mod service;
