//! The CLI's config file: `--config FILE`, else `MENTORCAST_CONFIG`, else
//! `<user config dir>/mentorcast/config.toml`. `make stack-up` writes one to
//! `.stack/config.toml`.

use std::path::Path;

use anyhow::{Context, Result};

/// The parts of the config file the CLI reads; other sections (the stack's
/// own `[stack]`, `[ingest.tls]`) are ignored.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct Config {
    #[serde(default)]
    pub ingest: Ingest,
    /// Cognito sign-in (`login`, `whoami`, …); `make stack-up` writes the local endpoint's.
    #[serde(default)]
    pub cognito: Option<mentorcast_auth::CognitoConfig>,
    /// The backend (`channel`, `recordings`, `viewers`, `broadcast` with no URL).
    #[serde(default)]
    pub api: Option<Api>,
}

#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct Api {
    /// e.g. `http://127.0.0.1:8940` (`make stack-up` writes it).
    pub url: Option<String>,
}

#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct Ingest {
    /// `rtmp[s]://host[:port]/app` used when `broadcast` gets no URL.
    pub url: Option<String>,
}

impl Config {
    /// Loads the config. An explicitly named file must exist; the default one may not.
    pub fn load(explicit: Option<&Path>) -> Result<Self> {
        let (path, required) = match explicit {
            Some(p) => (p.to_path_buf(), true),
            None => match dirs::config_dir() {
                Some(d) => (d.join("mentorcast").join("config.toml"), false),
                None => return Ok(Config::default()),
            },
        };
        if !path.exists() {
            if required {
                anyhow::bail!(
                    "config file {} does not exist (run `make stack-up` to create .stack/config.toml)",
                    path.display()
                );
            }
            return Ok(Config::default());
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{} is not a valid Mentorcast config", path.display()))
    }
}
