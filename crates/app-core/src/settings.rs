//! The app's configuration: the same config file as the CLI (`MENTORCAST_CONFIG`,
//! else `<config dir>/mentorcast/config.toml`; `make stack-up` writes
//! `.stack/config.toml`) for the backend and Cognito, plus the app's own settings
//! (QA ingest override, token store) in `<config dir>/mentorcast/app-settings.json`.

use std::path::{Path, PathBuf};

use mentorcast_auth::{AuthFlow, CognitoConfig, StoreChoice};
use serde::{Deserialize, Serialize};

use crate::dto::{CognitoView, ErrorKindDto, SettingsUpdate, SettingsView, TokenStoreDto, UiError};

pub const DEFAULT_API: &str = "http://127.0.0.1:8940";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {detail}")]
    Read { path: String, detail: String },
    #[error("{path} is not a valid Mentorcast config: {detail}")]
    Parse { path: String, detail: String },
    #[error("cannot save the settings to {path}: {detail}")]
    Write { path: String, detail: String },
}

/// The parts of the shared config file the app reads.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Config {
    #[serde(default)]
    pub ingest: Section,
    #[serde(default)]
    pub cognito: Option<CognitoConfig>,
    #[serde(default)]
    pub api: Option<Section>,
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct Section {
    pub url: Option<String>,
}

impl Config {
    /// `explicit`, else `MENTORCAST_CONFIG`, else the user's config file; a missing default file is an empty config.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let env = std::env::var_os("MENTORCAST_CONFIG").map(PathBuf::from);
        let (path, required) = match explicit.map(Path::to_path_buf).or(env) {
            Some(p) => (p, true),
            None => match dirs::config_dir() {
                Some(d) => (d.join("mentorcast").join("config.toml"), false),
                None => return Ok(Config::default()),
            },
        };
        if !path.exists() && !required {
            return Ok(Config::default());
        }
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ConfigError::Read { path: shown.clone(), detail: e.to_string() })?;
        let mut c: Config =
            toml::from_str(&text).map_err(|e| ConfigError::Parse { path: shown, detail: e.message().to_string() })?;
        c.path = Some(path);
        Ok(c)
    }

    pub fn api_url(&self) -> String {
        self.api.as_ref().and_then(|a| a.url.clone()).unwrap_or_else(|| DEFAULT_API.to_string())
    }

    pub fn cognito_view(&self) -> Option<CognitoView> {
        self.cognito.as_ref().map(|c| CognitoView {
            region: c.region.clone(),
            user_pool_id: c.user_pool_id.clone(),
            client_id: c.client_id.clone(),
            endpoint: c.endpoint.clone(),
            auth_flow: match c.auth_flow {
                AuthFlow::Srp => "SRP (the password never leaves this computer)".into(),
                AuthFlow::UserPassword => "USER_PASSWORD_AUTH".into(),
            },
        })
    }
}

/// `scheme://host[:port]` of a URL (for the CSP's media-src/img-src), None when it has none.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let host = rest.split(['/', '?', '#']).next()?;
    if host.is_empty() || host.contains('@') || host.contains(char::is_whitespace) {
        return None;
    }
    Some(format!("{scheme}://{host}"))
}

/// The app's own settings file.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSettings {
    #[serde(default)]
    pub ingest_override_url: Option<String>,
    #[serde(default)]
    pub ingest_override_key: Option<String>,
    #[serde(default)]
    pub token_store: Option<TokenStoreDto>,
    /// Keep a local copy of every broadcast (None: yes, the default).
    #[serde(default)]
    pub local_copy: Option<bool>,
    /// Where local copies go (None: [`default_copies_dir`]).
    #[serde(default)]
    pub local_copy_dir: Option<PathBuf>,
    /// Adaptive bitrate (None: on, the default).
    #[serde(default)]
    pub adaptive: Option<bool>,
}

/// The user's videos folder's `Mentorcast`: `$XDG_VIDEOS_DIR`, else the user dirs
/// file's, else `~/Videos`.
pub fn default_copies_dir() -> Option<PathBuf> {
    copies_dir_under(std::env::var_os("XDG_VIDEOS_DIR"))
}

fn copies_dir_under(xdg_videos_dir: Option<std::ffi::OsString>) -> Option<PathBuf> {
    xdg_videos_dir
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(dirs::video_dir)
        .or_else(|| dirs::home_dir().map(|h| h.join("Videos")))
        .map(|d| d.join("Mentorcast"))
}

impl AppSettings {
    /// The folder local copies go to, whether they are on or off.
    pub fn copies_dir(&self) -> Option<PathBuf> {
        self.local_copy_dir.clone().or_else(default_copies_dir)
    }

    /// Where this broadcast's copy goes (None: off, or no folder can be found).
    pub fn record_to(&self) -> Option<PathBuf> {
        self.local_copy.unwrap_or(true).then(|| self.copies_dir()).flatten()
    }

    pub fn adaptive(&self) -> bool {
        self.adaptive.unwrap_or(true)
    }

    pub fn default_path() -> Option<PathBuf> {
        dirs::config_dir().map(|d| d.join("mentorcast").join("app-settings.json"))
    }

    /// A missing or unreadable file is the defaults (logged).
    pub fn load(path: &Path) -> AppSettings {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), "ignoring unreadable app settings: {e}");
                AppSettings::default()
            }),
            Err(_) => AppSettings::default(),
        }
    }

    /// Written with mode 0600 (it may hold a QA stream key), atomically.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let err = |e: std::io::Error| ConfigError::Write { path: path.display().to_string(), detail: e.to_string() };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = path.with_extension("json.tmp");
        let body = serde_json::to_vec_pretty(self)
            .map_err(|e| ConfigError::Write { path: path.display().to_string(), detail: e.to_string() })?;
        {
            use std::io::Write;
            let mut o = std::fs::OpenOptions::new();
            o.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
            let mut f = o.open(&tmp).map_err(err)?;
            f.write_all(&body).map_err(err)?;
        }
        std::fs::rename(&tmp, path).map_err(err)
    }

    pub fn view(&self) -> SettingsView {
        SettingsView {
            ingest_override_url: self.ingest_override_url.clone(),
            ingest_override_has_key: self.ingest_override_key.as_deref().is_some_and(|k| !k.is_empty()),
            token_store: self.token_store,
            local_copy: self.local_copy.unwrap_or(true),
            local_copy_dir: self.copies_dir().map(|d| d.display().to_string()),
            adaptive: self.adaptive(),
        }
    }

    /// Applies an update from the Settings screen (validated).
    pub fn apply(&mut self, u: SettingsUpdate) -> Result<(), UiError> {
        let url = u.ingest_override_url.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        if let Some(url) = &url {
            mentorcast_engine::Service::parse(url, Some("check")).map_err(|e| {
                UiError::new(ErrorKindDto::BadInput, format!("the ingest override is not a usable RTMP/RTMPS URL: {e}"))
            })?;
        }
        self.ingest_override_url = url;
        match u.ingest_override_key {
            None => {}
            Some(k) if k.trim().is_empty() => self.ingest_override_key = None,
            Some(k) => self.ingest_override_key = Some(k.trim().to_string()),
        }
        self.token_store = u.token_store;
        if let Some(on) = u.local_copy {
            self.local_copy = Some(on);
        }
        if let Some(on) = u.adaptive {
            self.adaptive = Some(on);
        }
        Ok(())
    }

    pub fn store_choice(&self) -> Option<StoreChoice> {
        self.token_store.map(|t| match t {
            TokenStoreDto::Auto => StoreChoice::Auto,
            TokenStoreDto::Keyring => StoreChoice::Keyring,
            TokenStoreDto::File => StoreChoice::File,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(origin_of("http://127.0.0.1:8940/api").as_deref(), Some("http://127.0.0.1:8940"));
        assert_eq!(origin_of("https://api.example.com").as_deref(), Some("https://api.example.com"));
        assert_eq!(origin_of("rtmp://x/live"), None);
        assert_eq!(origin_of("http://user@evil"), None);
    }

    #[test]
    fn settings_round_trip_without_showing_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        let mut s = AppSettings::default();
        s.apply(SettingsUpdate {
            ingest_override_url: Some(" rtmp://127.0.0.1:1935/live ".into()),
            ingest_override_key: Some("qa-key".into()),
            token_store: Some(TokenStoreDto::File),
            local_copy: None,
            adaptive: None,
        })
        .unwrap();
        s.save(&p).unwrap();
        let back = AppSettings::load(&p);
        assert_eq!(back, s);
        let v = back.view();
        assert_eq!(v.ingest_override_url.as_deref(), Some("rtmp://127.0.0.1:1935/live"));
        assert!(v.ingest_override_has_key);
        assert!(!serde_json::to_string(&v).unwrap().contains("qa-key"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let mut s2 = back.clone();
        assert!(s2
            .apply(SettingsUpdate {
                ingest_override_url: Some("ftp://x".into()),
                ingest_override_key: None,
                token_store: None,
                local_copy: None,
                adaptive: None,
            })
            .is_err());
    }

    #[test]
    fn the_cli_config_format_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        std::fs::write(
            &p,
            "[ingest]\nurl = \"rtmp://127.0.0.1:1935/live\"\n[api]\nurl = \"http://127.0.0.1:9999\"\n[stack]\nx = 1\n",
        )
        .unwrap();
        let c = Config::load(Some(&p)).unwrap();
        assert_eq!(c.api_url(), "http://127.0.0.1:9999");
        assert!(c.cognito.is_none());
        assert!(Config::load(Some(&dir.path().join("missing.toml"))).is_err());
    }

    #[test]
    fn local_copies_and_adaptive_bitrate_are_on_by_default_and_can_be_turned_off() {
        let mut s = AppSettings { local_copy_dir: Some("/videos/Mentorcast".into()), ..Default::default() };
        assert_eq!(s.record_to(), Some(PathBuf::from("/videos/Mentorcast")));
        assert!(s.adaptive());
        let v = s.view();
        assert!(v.local_copy && v.adaptive);
        assert_eq!(v.local_copy_dir.as_deref(), Some("/videos/Mentorcast"));
        let off = |local_copy, adaptive| SettingsUpdate {
            ingest_override_url: None,
            ingest_override_key: None,
            token_store: None,
            local_copy,
            adaptive,
        };
        s.apply(off(Some(false), Some(false))).unwrap();
        assert_eq!(s.record_to(), None);
        assert!(!s.adaptive());
        assert_eq!(s.view().local_copy_dir.as_deref(), Some("/videos/Mentorcast"), "the folder is still shown");
        s.apply(off(None, None)).unwrap();
        assert!(!s.view().local_copy && !s.adaptive(), "None keeps the choice");
    }

    #[test]
    fn the_default_folder_is_the_videos_folder() {
        assert_eq!(copies_dir_under(Some("/srv/vids".into())), Some(PathBuf::from("/srv/vids/Mentorcast")));
        let fallback = copies_dir_under(Some("relative/ignored".into())).unwrap();
        assert!(fallback.is_absolute() && fallback.ends_with("Mentorcast"), "{fallback:?}");
    }
}
