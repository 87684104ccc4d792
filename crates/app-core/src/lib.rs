//! The Mentorcast desktop app's logic, kept apart from the window so that it is
//! tested without a display: the sign-in flow over `mentorcast-auth`
//! ([`account`]), the backend calls over `mentorcast-api` ([`backend`]), the
//! connection test before going live ([`connection`]), the
//! broadcast controller that maps the engine's state and stats to what the
//! Studio screen shows ([`studio`], [`health`]), camera preview frames as JPEG
//! ([`preview`], scaled by [`scale`], encoded by libjpeg-turbo: [`jpeg`]) served to the window as an MJPEG stream on loopback
//! ([`stream`]), the app's settings ([`settings`]) and the local copies of past
//! broadcasts ([`local_copies`]).
//!
//! `src-tauri` only turns these into commands and events. Every type the UI
//! sees is in [`dto`]; tokens and the stream key never leave this crate except
//! through [`backend::Backend::reveal_key`], the explicit reveal.

pub mod account;
pub mod backend;
pub mod connection;
pub mod dto;
pub mod health;
pub mod jpeg;
pub mod local_copies;
pub mod preview;
pub mod settings;
pub mod stream;
pub mod studio;

pub use dto::*;
