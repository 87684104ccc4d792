//! The Mentorcast backend API: the wire types that the server
//! (`mentorcast-server`), the CLI and the desktop app share, and an HTTP
//! client for them ([`Client`]).
//!
//! Field names are the JSON names; the heartbeat keeps the platform's original
//! camelCase (`playerId`, `playTime`), everything else is snake_case.

pub mod client;
pub mod simulate;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use client::{ApiError, Client};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// The signed-in mentor's channel: where to send and with which key.
/// Only that mentor ever receives this (the key is secret).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Channel {
    /// The channel's RTMP application name (the class room).
    pub app: String,
    /// `rtmp[s]://host[:port]/{app}`: send here, with the key as the stream name.
    pub ingest_url: String,
    /// The ingest's test application (`rtmp[s]://host[:port]/probe`): publishing there
    /// with the key tests the connection; it is neither recorded nor shown to anyone.
    #[serde(default)]
    pub test_url: String,
    /// The secret stream key.
    pub stream_key: String,
    /// The live HLS playlist of this channel.
    pub hls_url: String,
    /// The watch page for viewers.
    pub watch_url: String,
    /// Unix seconds at which the current key was issued.
    pub key_issued_at: i64,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("app", &self.app)
            .field("ingest_url", &self.ingest_url)
            .field("stream_key", &"****")
            .field("hls_url", &self.hls_url)
            .finish_non_exhaustive()
    }
}

/// A recorded live session, with short-lived signed URLs to its media.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Recording {
    pub id: i64,
    pub app: String,
    /// The mentor who streamed it (Cognito username).
    pub mentor: String,
    /// Unix seconds.
    pub started_at: i64,
    /// Unix seconds.
    pub ended_at: i64,
    /// Media duration in seconds (from ffprobe on the MP4).
    pub duration_s: f64,
    pub size_bytes: i64,
    /// Playable MP4 (faststart, HTTP range requests), signed, expires at `urls_expire_at`.
    pub url: String,
    /// JPEG thumbnail, signed likewise.
    pub thumbnail_url: String,
    pub urls_expire_at: i64,
    pub viewers_total: i64,
    pub viewers_peak: i64,
    /// The stream's viewer statistics when it ended.
    pub stats: Option<StreamStats>,
}

/// What a device reports about itself in a heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Agent {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub browser: String,
    #[serde(default)]
    pub device: String,
}

/// A player's heartbeat, as the platform's players send it: about every 750 ms while they play.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Heartbeat {
    pub player_id: String,
    pub app: String,
    /// The rendition being played, kbps.
    #[serde(default)]
    pub bitrate: u32,
    /// Seconds played so far.
    #[serde(default)]
    pub play_time: f64,
    #[serde(default)]
    pub agent: Agent,
}

/// What the server answers to a heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HeartbeatAck {
    /// Active viewers of this stream now.
    pub active: u64,
    /// Milliseconds until the next heartbeat is expected.
    pub interval_ms: u64,
}

/// min / avg / max of the active players' bitrates, kbps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct BitrateStats {
    pub min: u32,
    pub avg: f64,
    pub max: u32,
}

/// A stream's viewer statistics (the platform's dashboard metrics).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct StreamStats {
    pub app: String,
    /// Whether the channel is live now.
    pub live: bool,
    /// Players seen in the last 2 s.
    pub active: u64,
    /// Distinct players ever seen during this live session.
    pub total: u64,
    /// Most players active at once.
    pub peak: u64,
    /// Mean of the players' play time, seconds.
    pub avg_play_time_s: f64,
    pub bitrate: BitrateStats,
    pub by_device: BTreeMap<String, u64>,
    pub by_os: BTreeMap<String, u64>,
    pub by_browser: BTreeMap<String, u64>,
}

/// The live viewer count pushed over SSE (`event: viewers`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ViewerCount {
    pub active: u64,
    pub peak: u64,
    pub total: u64,
}

/// Every error the API answers with (4xx/5xx): a stable code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorBody {
    /// Machine-readable: `bad_request`, `unauthorized`, `forbidden`, `not_found`, `conflict`, `internal`, …
    pub error: String,
    /// One sentence for a person.
    pub message: String,
}

/// Query of the recordings listings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct RecordingsQuery {
    pub app: Option<String>,
}
