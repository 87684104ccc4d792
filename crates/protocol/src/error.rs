//! What can go wrong reaching and talking to an ingest, grouped
//! ([`FailureKind`]) so a caller can tell the user what to try.

/// What went wrong, grouped so a caller can tell the user what to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Nothing RTMP-speaking could be reached: DNS, refused, TLS, not an RTMP server.
    CannotConnect,
    /// The server answered and said no (publish denied, app rejected).
    Rejected,
    /// The connection broke after going live.
    ConnectionLost,
    /// Bad local input (files, settings).
    Config,
}

#[derive(Debug, thiserror::Error)]
pub enum RtmpError {
    #[error("could not resolve host '{host}': {detail}")]
    Dns { host: String, detail: String },
    #[error("connection refused by {addr}: nothing is listening there")]
    Refused { addr: String },
    #[error("could not connect to {addr}: {detail}")]
    Connect { addr: String, detail: String },
    #[error("timed out connecting to {addr}")]
    ConnectTimeout { addr: String },
    #[error("TLS with {host} failed: {detail}")]
    Tls { host: String, detail: String },
    #[error("could not load the CA file {path}: {detail}")]
    CaFile { path: String, detail: String },
    #[error("the server at {addr} does not speak RTMP ({detail})")]
    NotRtmp { addr: String, detail: String },
    #[error("the server at {addr} closed the connection during the RTMP handshake")]
    ClosedDuringHandshake { addr: String },
    #[error("the server rejected the connection to application '{app}': {detail}")]
    AppRejected { app: String, detail: String },
    #[error("stream key rejected: the server refused to publish it ({detail})")]
    PublishDenied { detail: String },
    #[error("the server says this stream is already being published ({detail})")]
    AlreadyPublishing { detail: String },
    #[error("the server refused to play this stream ({detail})")]
    PlayDenied { detail: String },
    #[error("timed out waiting for the server to {stage}")]
    Timeout { stage: &'static str },
    #[error("connection lost: {detail}")]
    ConnectionLost { detail: String },
    /// Enhanced RTMP's `NetConnection.Connect.ReconnectRequest`: the server asks the
    /// publisher to connect again (e.g. before it restarts).
    #[error("the server asked us to reconnect")]
    ReconnectRequested,
    #[error("RTMP protocol error: {detail}")]
    Protocol { detail: String },
}

impl RtmpError {
    /// Nothing answered (refused, unreachable, timed out connecting, closed before
    /// speaking, or still holding our old publish): worth trying again soon, as
    /// opposed to an ingest that answers and fails (backed off) or says no.
    pub fn is_unanswered(&self) -> bool {
        use RtmpError::*;
        matches!(
            self,
            Dns { .. }
                | Refused { .. }
                | Connect { .. }
                | ConnectTimeout { .. }
                | ClosedDuringHandshake { .. }
                | ConnectionLost { .. }
                | ReconnectRequested
                | AlreadyPublishing { .. }
        )
    }

    pub fn kind(&self) -> FailureKind {
        use RtmpError::*;
        match self {
            Dns { .. }
            | Refused { .. }
            | Connect { .. }
            | ConnectTimeout { .. }
            | Tls { .. }
            | NotRtmp { .. }
            | ClosedDuringHandshake { .. }
            | Timeout { .. } => FailureKind::CannotConnect,
            CaFile { .. } => FailureKind::Config,
            AppRejected { .. } | PublishDenied { .. } | AlreadyPublishing { .. } | PlayDenied { .. } => {
                FailureKind::Rejected
            }
            ConnectionLost { .. } | ReconnectRequested | Protocol { .. } => FailureKind::ConnectionLost,
        }
    }
}
