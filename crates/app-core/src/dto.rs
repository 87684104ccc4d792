//! Everything that crosses to the UI: commands' arguments and results, and event
//! payloads. `specta::Type` lets `src-tauri` generate `ui/src/bindings.ts` from these.

use mentorcast_engine::{PresetId, SessionPhase};
use serde::{Deserialize, Serialize};
use specta::Type;

/// An error for a person: a stable kind for the UI to branch on, one sentence to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type, thiserror::Error)]
#[error("{message}")]
pub struct UiError {
    pub kind: ErrorKindDto,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKindDto {
    WrongCredentials,
    NotConfirmed,
    Disabled,
    PasswordPolicy,
    WrongMfaCode,
    TooManyAttempts,
    Network,
    Misconfigured,
    SignedOut,
    Forbidden,
    Storage,
    NotFound,
    BadInput,
    Busy,
    Device,
    Other,
}

impl UiError {
    pub fn new(kind: ErrorKindDto, message: impl Into<String>) -> Self {
        Self { kind, message: sentence(message.into()) }
    }
}

/// Capitalised, ending with a full stop.
pub fn sentence(mut s: String) -> String {
    if let Some(first) = s.get(0..1) {
        let up = first.to_uppercase();
        s.replace_range(0..1, &up);
    }
    if !s.ends_with(['.', '!', '?']) {
        s.push('.');
    }
    s
}

/// Who is signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Me {
    pub username: String,
    pub email: Option<String>,
    pub groups: Vec<String>,
    pub is_mentor: bool,
    /// Where the tokens are kept, e.g. "the system keyring".
    pub token_store: String,
}

/// Where sign-in got to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum SignInStepDto {
    SignedIn {
        me: Me,
    },
    /// First sign-in with a temporary password: choose a new one. `rules` describes the pool's policy.
    NewPasswordRequired {
        rules: String,
    },
    /// The 6-digit code of the authenticator app.
    MfaRequired,
}

/// The mentor's channel, key masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct ChannelView {
    pub app: String,
    pub ingest_url: String,
    /// e.g. `sk_A…••••••••`: never the key.
    pub key_masked: String,
    pub hls_url: String,
    pub watch_url: String,
    pub key_issued_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type)]
pub struct RecordingView {
    pub id: i64,
    pub app: String,
    pub mentor: String,
    pub started_at: i64,
    pub ended_at: i64,
    pub duration_s: f64,
    pub size_bytes: i64,
    /// Signed MP4 URL on the backend's origin (range-served: seekable).
    pub url: String,
    pub thumbnail_url: String,
    pub viewers_total: i64,
    pub viewers_peak: i64,
    pub avg_play_time_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct DeviceOption {
    /// What `go_live` takes: "synthetic", "none", "default" or a device id.
    pub id: String,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct DeviceList {
    pub cameras: Vec<DeviceOption>,
    pub microphones: Vec<DeviceOption>,
    /// Why a list is short (e.g. "no camera found"), for the picker's hint.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct GoLiveRequest {
    pub camera: String,
    pub microphone: String,
    pub preset: PresetId,
    pub video_kbps: u32,
}

/// OBS-like warning colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Good,
    Warning,
    Danger,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, Default)]
pub struct Health {
    pub fps: f64,
    pub target_fps: u32,
    pub fps_level: Option<Level>,
    pub video_kbps: f64,
    pub audio_kbps: f64,
    /// The video bitrate asked for.
    pub target_kbps: u32,
    /// The encoder's video bitrate now (adaptive bitrate lowers it on a slow link).
    pub encoder_kbps: u32,
    /// "Your connection is slow — quality lowered to 1.2 Mb/s" while adaptive bitrate holds it lower.
    pub slow_notice: Option<String>,
    pub frames_sent: u32,
    pub frames_dropped: u32,
    pub dropped_pct: f64,
    pub dropped_level: Option<Level>,
    pub queue_delay_ms: f64,
    /// Video kbps sent, one sample a second, the last 5 minutes.
    pub bitrate_history: Vec<f64>,
    /// The encoder's target at the same samples.
    pub encoder_history: Vec<f64>,
}

/// What the Studio shows about the broadcast, in plain language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type)]
pub struct BroadcastStatus {
    pub state: SessionPhase,
    /// e.g. "Live 00:12:03", "Reconnecting… attempt 3 · next try in 2 s · off air 00:00:05", "Stream key rejected".
    pub title: String,
    /// What it means and what to do.
    pub detail: String,
    pub elapsed_s: f64,
    /// `elapsed_s` as `HH:MM:SS`.
    pub elapsed_text: String,
    pub health: Health,
    /// Where it goes (URL without the key).
    pub destination: Option<String>,
}

impl Default for BroadcastStatus {
    fn default() -> Self {
        Self {
            state: SessionPhase::Idle,
            title: "Ready".into(),
            detail: "Choose your camera and microphone, then Go Live.".into(),
            elapsed_s: 0.0,
            elapsed_text: mentorcast_engine::format_elapsed(0.0),
            health: Health::default(),
            destination: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Type, Default)]
pub struct MicLevel {
    /// dBFS; null for silence.
    pub peak_dbfs: Option<f64>,
    pub rms_dbfs: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type, Default)]
pub struct ViewerCountView {
    pub active: u32,
    pub peak: u32,
    pub total: u32,
    /// False while the count cannot be followed (not live, or the backend is unreachable).
    pub connected: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum TokenStoreDto {
    Auto,
    Keyring,
    File,
}

/// What the user can change in Settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type, Default)]
pub struct SettingsView {
    /// QA: send here instead of the channel's ingest (rtmp[s]://host[:port]/app).
    pub ingest_override_url: Option<String>,
    /// Whether an override key is stored (never the key itself).
    pub ingest_override_has_key: bool,
    pub token_store: Option<TokenStoreDto>,
    /// Keep a copy of every broadcast on this computer.
    pub local_copy: bool,
    /// Where the copies go (None: no folder could be found).
    pub local_copy_dir: Option<String>,
    /// Lower the quality when the connection is slow (adaptive bitrate).
    pub adaptive: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct SettingsUpdate {
    pub ingest_override_url: Option<String>,
    /// None: keep the stored key; Some(""): remove it.
    pub ingest_override_key: Option<String>,
    pub token_store: Option<TokenStoreDto>,
    /// None: keep as it is.
    pub local_copy: Option<bool>,
    /// None: keep as it is.
    pub adaptive: Option<bool>,
}

/// A local copy of a broadcast, in Recordings' "On this computer".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type)]
pub struct LocalCopyView {
    /// The file (what `open_local_copy` takes).
    pub path: String,
    pub name: String,
    /// When it ended, seconds since the epoch.
    pub ended_at: i64,
    pub duration_s: Option<f64>,
    pub size_bytes: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct CognitoView {
    pub region: String,
    pub user_pool_id: String,
    pub client_id: String,
    pub endpoint: Option<String>,
    pub auth_flow: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct AppInfo {
    pub version: String,
    pub config_path: Option<String>,
    pub api_url: String,
    pub cognito: Option<CognitoView>,
    pub token_store: String,
    pub licences: Vec<Licence>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Licence {
    pub name: String,
    pub licence: String,
}
