//! The server's config file (TOML; `scripts/stack.sh up` writes
//! `.stack/server/server.toml`). Only `[cognito]` differs between the local
//! endpoint and AWS.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::ServerError;

/// The server's config, as [`ServerConfig::load`] reads it from its TOML file.
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
    #[serde(default)]
    pub recordings: RecordingsConfig,
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

/// Signed media URLs (`[media]`).
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

/// Live viewer counting (`[viewers]`).
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

/// How a class becomes a recording (`[recordings]`).
#[derive(Debug, Clone, Deserialize)]
pub struct RecordingsConfig {
    /// A publish of a channel this soon (seconds) after its last one ended continues
    /// that live session: the encoder reconnected, and the recording is one, with the
    /// outage as a gap. The default covers the broadcaster's 10 minutes of reconnects
    /// plus the ingest's idle-publisher timeout.
    #[serde(default = "default_join_within_s")]
    pub join_within_s: u64,
}

impl Default for RecordingsConfig {
    fn default() -> Self {
        RecordingsConfig { join_within_s: default_join_within_s() }
    }
}

fn default_join_within_s() -> u64 {
    660
}

impl ServerConfig {
    /// Reads and checks the config file at `path`.
    pub fn load(path: &Path) -> Result<ServerConfig, ServerError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ServerError::ConfigRead { path: path.to_path_buf(), source })?;
        toml::from_str(&text)
            .map_err(|e| ServerError::Config { path: path.to_path_buf(), detail: toml_error_detail(&text, &e) })
    }

    /// `public_url` without a trailing `/`.
    pub fn public_url(&self) -> &str {
        self.public_url.trim_end_matches('/')
    }
}

/// What is wrong in a config file and where (line, column), without the file's
/// text: toml's own report quotes the offending line, and serde's names the
/// value it did not expect; either may be a secret (`hooks.secret`,
/// `media.signing_key`).
fn toml_error_detail(text: &str, e: &toml::de::Error) -> String {
    let what = without_value(&e.message().trim().replace('\n', "; "));
    let Some(before) = e.span().and_then(|s| text.get(..s.start)) else { return what };
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{what} (line {line}, column {column})")
}

/// serde's "invalid type: string \"x\", expected u64" without the value:
/// "invalid type: string, expected u64". Other messages are kept whole.
fn without_value(message: &str) -> String {
    let kind_at = ["invalid type: ", "invalid value: "].iter().find(|p| message.starts_with(**p)).map(|p| p.len());
    let (Some(kind_at), Some(expected)) = (kind_at, message.rfind(", expected")) else { return message.to_string() };
    // "integer `5`", "string \"x\"": the value starts at the first quote after its kind.
    match message.get(kind_at..expected).and_then(|kind| kind.find(['`', '"'])) {
        Some(quote) => format!("{}{}", message[..kind_at + quote].trim_end(), &message[expected..]),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
listen = "127.0.0.1:8940"
public_url = "http://127.0.0.1:8940"
database_url = "sqlite://db.sqlite"
data_dir = "data"
[cognito]
region = "eu-west-1"
user_pool_id = "eu-west-1_TestPool"
client_id = "c"
[ingest]
rtmp_url = "rtmp://127.0.0.1:1935"
hls_url = "http://127.0.0.1:8935/hls"
"#;

    fn load(text: &str) -> Result<ServerConfig, ServerError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.toml");
        std::fs::write(&path, text).unwrap();
        ServerConfig::load(&path)
    }

    #[test]
    fn loads_with_defaults() {
        let cfg = load(GOOD).unwrap();
        assert_eq!(cfg.listen.port(), 8940);
        assert!(cfg.hooks.loopback_only && cfg.hooks.secret.is_none());
        assert_eq!(cfg.media.url_ttl_s, 3600);
    }

    #[test]
    fn errors_say_where_without_quoting_secrets() {
        for (extra, line) in [
            ("[hooks]\nsecret = 73519264\n", 14),
            ("[media]\nsigning_key = \"k3y-73519264\"\nurl_ttl_s = \"x-73519264\"\n", 15),
            ("[hooks]\nsecret = \"73519264\n", 14),
        ] {
            let e = load(&format!("{GOOD}{extra}")).unwrap_err();
            let msg = e.to_string();
            assert!(matches!(e, ServerError::Config { .. }), "{msg}");
            assert!(!msg.contains("73519264"), "{msg}");
            assert!(msg.contains(&format!("line {line},")), "{msg}");
        }
        let e = load("listen = 1").unwrap_err().to_string();
        assert!(e.contains("invalid type: integer, expected"), "{e}");
        assert!(matches!(
            ServerConfig::load(Path::new("/nonexistent/server.toml")),
            Err(ServerError::ConfigRead { .. })
        ));
    }
}
