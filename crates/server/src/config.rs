//! The server's config file (TOML; `scripts/stack.sh up` writes
//! `.stack/server/server.toml`). Only `[cognito]` differs between the local
//! endpoint and AWS.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct ServerConfig {
    /// Where to listen, e.g. `127.0.0.1:8940`.
    pub listen: SocketAddr,
    /// How clients reach us (used in signed media URLs, watch URLs, hook URLs).
    pub public_url: String,
    /// `sqlite://path/to/db.sqlite` (created when missing).
    pub database_url: String,
    /// Root of the local recording storage (MP4s and thumbnails).
    pub data_dir: PathBuf,
    /// The Cognito pool whose tokens we accept (same section as the CLI's config).
    pub cognito: mentorcast_auth::CognitoConfig,
    pub ingest: IngestConfig,
    #[serde(default)]
    pub hooks: HooksConfig,
    #[serde(default)]
    pub media: MediaConfig,
    #[serde(default)]
    pub viewers: ViewersConfig,
    /// hls.js (the watch page's player), served by us: `hls.min.js` from the npm package.
    #[serde(default)]
    pub hlsjs_path: Option<PathBuf>,
    /// ffmpeg and ffprobe for remuxing recordings and thumbnails.
    #[serde(default = "default_ffmpeg")]
    pub ffmpeg: PathBuf,
    #[serde(default = "default_ffprobe")]
    pub ffprobe: PathBuf,
}

fn default_ffmpeg() -> PathBuf {
    "ffmpeg".into()
}
fn default_ffprobe() -> PathBuf {
    "ffprobe".into()
}

/// The RTMP ingest in front of us (nginx-rtmp).
#[derive(Debug, Clone, Deserialize)]
pub struct IngestConfig {
    /// `rtmp://host:port` (no app): a channel's ingest URL is this plus `/{app}`.
    pub rtmp_url: String,
    /// Optional `rtmps://host:port` shown to clients as well.
    #[serde(default)]
    pub rtmps_url: Option<String>,
    /// Base of the live HLS: a channel plays at `{hls_url}/{app}.m3u8`.
    pub hls_url: String,
    /// nginx-rtmp's `/stat` (to wait until a new channel's application is live).
    #[serde(default)]
    pub stat_url: Option<String>,
    /// The file of generated `application {app} {…}` blocks that nginx includes.
    #[serde(default)]
    pub apps_file: Option<PathBuf>,
    /// Template of one block; `{app}` is replaced by the channel's app name.
    #[serde(default)]
    pub app_template_file: Option<PathBuf>,
    /// The command that makes nginx re-read its config (argv).
    #[serde(default)]
    pub reload_command: Vec<String>,
    /// Where the channel applications record (`record_path` of the template):
    /// `on_record_done` paths outside it are refused. Unset: any absolute `.flv` path.
    #[serde(default)]
    pub record_dir: Option<PathBuf>,
}

/// Who may call the ingest hooks (`/hooks/*`, `POST /store-live`).
#[derive(Debug, Clone, Deserialize)]
pub struct HooksConfig {
    /// The hook URLs must carry `?secret=` with this value (when set).
    #[serde(default)]
    pub secret: Option<String>,
    /// Only connections from loopback may call the hooks.
    #[serde(default = "yes")]
    pub loopback_only: bool,
}

impl Default for HooksConfig {
    fn default() -> Self {
        HooksConfig { secret: None, loopback_only: true }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct MediaConfig {
    /// HMAC key for signed media URLs (hex or any string). Random per start when unset.
    #[serde(default)]
    pub signing_key: Option<String>,
    /// Lifetime of a signed media URL, seconds.
    #[serde(default = "default_url_ttl")]
    pub url_ttl_s: u64,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig { signing_key: None, url_ttl_s: default_url_ttl() }
    }
}

fn default_url_ttl() -> u64 {
    3600
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
pub struct ViewersConfig {
    /// A player counts as active this long after its last heartbeat, ms.
    #[serde(default = "default_active_ms")]
    pub active_window_ms: u64,
    /// The heartbeat interval we ask players for, ms.
    #[serde(default = "default_interval_ms")]
    pub heartbeat_interval_ms: u64,
    /// Concurrent devices per signed-in account.
    #[serde(default = "default_max_devices")]
    pub max_devices_per_account: usize,
}

impl Default for ViewersConfig {
    fn default() -> Self {
        ViewersConfig {
            active_window_ms: default_active_ms(),
            heartbeat_interval_ms: default_interval_ms(),
            max_devices_per_account: default_max_devices(),
        }
    }
}

fn default_active_ms() -> u64 {
    2000
}
fn default_interval_ms() -> u64 {
    750
}
fn default_max_devices() -> usize {
    2
}

impl ServerConfig {
    pub fn load(path: &Path) -> anyhow::Result<ServerConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let cfg: ServerConfig = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{} is not a valid server config: {e}", path.display()))?;
        Ok(cfg)
    }

    pub fn public_url(&self) -> &str {
        self.public_url.trim_end_matches('/')
    }
}
