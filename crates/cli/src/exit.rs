//! Exit codes and the one-sentence explanations that go with them.

use mentorcast_engine::FailureKind;

pub const OK: i32 = 0;
/// A QA scenario missed a threshold, or a general error.
pub const FAILED: i32 = 1;
/// Bad arguments (clap uses 2 as well).
pub const BAD_ARGS: i32 = 2;
/// Could not reach an RTMP ingest: refused, DNS, TLS, not RTMP, handshake closed.
pub const CANNOT_CONNECT: i32 = 3;
/// The ingest answered and refused: stream key or app rejected.
pub const REJECTED: i32 = 4;
/// The connection was lost mid-broadcast (after reconnect attempts).
pub const CONNECTION_LOST: i32 = 5;
/// A camera or microphone that was asked for is missing or cannot be opened.
pub const NO_DEVICE: i32 = 6;
// 10–19: sign-in (login, whoami, logout, mfa, token); see auth_cmd.rs.
#[allow(unused_imports)]
pub use crate::auth_cmd::{
    DISABLED, MISCONFIGURED, NETWORK, NOT_CONFIRMED, NOT_MENTOR, PASSWORD_POLICY, SIGNED_OUT, TOO_MANY,
    WRONG_CREDENTIALS, WRONG_MFA,
};

pub fn code_for(kind: FailureKind) -> i32 {
    match kind {
        FailureKind::CannotConnect => CANNOT_CONNECT,
        FailureKind::Rejected => REJECTED,
        FailureKind::ConnectionLost => CONNECTION_LOST,
        FailureKind::Config => BAD_ARGS,
    }
}

/// What happened, and what to try.
pub fn explain(kind: FailureKind, message: &str) -> String {
    match kind {
        FailureKind::CannotConnect => format!(
            "Could not reach the ingest: {message}. Check the URL, port and that the ingest is running (for rtmps://, that its certificate is trusted: --ca-file)."
        ),
        FailureKind::Rejected => format!(
            "The ingest refused the stream: {message}. Check the stream key (it is case-sensitive) and the application name in the URL."
        ),
        FailureKind::ConnectionLost => format!(
            "The connection to the ingest was lost mid-broadcast: {message}. Check the network and the ingest; what was sent before is on the server."
        ),
        FailureKind::Config => format!("Bad settings: {message}."),
    }
}

/// An error that carries its exit code.
#[derive(Debug)]
pub struct Exit {
    pub code: i32,
    pub message: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

pub fn exit(code: i32, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Exit { code, message: message.into() })
}
