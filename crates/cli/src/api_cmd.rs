//! The backend API as the signed-in user: `mentorcast channel` (the mentor's
//! channel, key masked unless `--show-key`; `channel rotate-key`),
//! `mentorcast recordings [--app] [--json]`, and the channel lookup behind
//! `mentorcast broadcast` with no URL.

use std::path::Path;

use anyhow::Result;
use mentorcast_api::{ApiError, Channel, Client, Recording};
use mentorcast_auth::{Auth, AuthError, Options, WithTokenError};

use crate::config::Config;
use crate::exit::{self, exit};

#[derive(clap::Args)]
pub struct ChannelArgs {
    #[command(subcommand)]
    pub command: Option<ChannelCommand>,
    /// The channel as a JSON object (the key masked unless --show-key).
    #[arg(long, global = true)]
    pub json: bool,
    /// Show the secret stream key.
    #[arg(long, global = true)]
    pub show_key: bool,
    /// The backend's URL (default: the config's `[api] url`, else http://127.0.0.1:8940).
    #[arg(long, env = "MENTORCAST_API_URL", global = true)]
    pub api: Option<String>,
}

#[derive(clap::Subcommand)]
pub enum ChannelCommand {
    /// Issue a new stream key; the old one stops working at once.
    RotateKey,
}

#[derive(clap::Args)]
pub struct RecordingsArgs {
    /// Only this channel's app (e.g. room-mentor1).
    #[arg(long)]
    pub app: Option<String>,
    /// A JSON array (`[]` when nothing is visible).
    #[arg(long)]
    pub json: bool,
    /// The backend's URL (default: the config's `[api] url`, else http://127.0.0.1:8940).
    #[arg(long, env = "MENTORCAST_API_URL")]
    pub api: Option<String>,
}

const DEFAULT_API: &str = "http://127.0.0.1:8940";

/// The backend's URL: the flag, else the config's `[api] url`, else the local default.
pub fn api_base(config: &Config, flag: Option<&str>) -> String {
    flag.map(str::to_string)
        .or_else(|| config.api.as_ref().and_then(|a| a.url.clone()))
        .unwrap_or_else(|| DEFAULT_API.to_string())
}

pub fn api_fail(e: ApiError) -> anyhow::Error {
    match e {
        ApiError::Unreachable { .. } => {
            exit(exit::CANNOT_CONNECT, format!("{e}. Is the backend running (make stack-up)?"))
        }
        ApiError::Unauthorized(m) => exit(
            exit::SIGNED_OUT,
            format!("The backend did not accept the sign-in ({m}); run `mentorcast login` again."),
        ),
        ApiError::Forbidden(m) => exit(exit::NOT_MENTOR, format!("Not allowed: {m}.")),
        ApiError::NotFound(m) => {
            exit(exit::FAILED, format!("Not found: {m}. Check the app name (`mentorcast channel` shows yours)."))
        }
        other => exit(exit::FAILED, format!("{other}.")),
    }
}

pub(crate) fn auth_fail(e: AuthError) -> anyhow::Error {
    match e {
        AuthError::NotSignedIn => {
            exit(exit::SIGNED_OUT, "Not signed in: run `mentorcast login --username NAME` first.")
        }
        other => exit(exit::SIGNED_OUT, format!("Signing in failed: {other}; run `mentorcast login` again.")),
    }
}

pub(crate) async fn open_auth(config: &Config) -> Result<Auth> {
    let cfg = config.cognito.clone().ok_or_else(|| exit(exit::MISCONFIGURED, "No [cognito] section in the config: run `make stack-up` (it writes .stack/config.toml), then `mentorcast login`."))?;
    Auth::open(cfg, Options::default()).await.map_err(auth_fail)
}

/// Calls the API with the signed-in user's ID token (refreshed and retried once on a 401).
pub(crate) async fn with_token<T, F, Fut>(auth: &Auth, base: &str, call: F) -> Result<T>
where
    F: Fn(Client) -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    let client = Client::new(base).map_err(api_fail)?;
    let r = mentorcast_api::client::as_signed_in(auth, &client, call).await;
    match r {
        Ok(v) => Ok(v),
        Err(WithTokenError::Call(e)) => Err(api_fail(e)),
        Err(WithTokenError::Auth(e)) => Err(auth_fail(e)),
    }
}

fn masked(c: &Channel, show_key: bool) -> Channel {
    let mut c = c.clone();
    if !show_key {
        c.stream_key = "****".into();
    }
    c
}

fn print_channel(c: &Channel, show_key: bool, json: bool) -> Result<()> {
    let shown = masked(c, show_key);
    if json {
        println!("{}", serde_json::to_string(&shown)?);
        return Ok(());
    }
    println!("app          {}", shown.app);
    println!("ingest URL   {}", shown.ingest_url);
    if show_key {
        println!("stream key   {}", shown.stream_key);
    } else {
        println!("stream key   **** (--show-key shows it)");
    }
    println!("key issued   {} (unix)", shown.key_issued_at);
    println!("live HLS     {}", shown.hls_url);
    println!("watch page   {}", shown.watch_url);
    Ok(())
}

pub async fn channel(config_path: Option<&Path>, args: ChannelArgs) -> Result<i32> {
    let config = Config::load(config_path)?;
    let base = api_base(&config, args.api.as_deref());
    let auth = open_auth(&config).await?;
    let ch = match args.command {
        None => with_token(&auth, &base, |c| async move { c.channel().await }).await?,
        Some(ChannelCommand::RotateKey) => {
            let ch = with_token(&auth, &base, |c| async move { c.rotate_key().await }).await?;
            if !args.json {
                eprintln!("New stream key issued: the old one no longer works.");
            }
            ch
        }
    };
    print_channel(&ch, args.show_key, args.json)?;
    Ok(exit::OK)
}

fn print_recordings(list: &[Recording]) {
    for r in list {
        println!(
            "#{:<5} {}  by {}  started {} (unix)  {:.1} s  {:.1} MB  viewers {} (peak {})",
            r.id,
            r.app,
            r.mentor,
            r.started_at,
            r.duration_s,
            r.size_bytes as f64 / 1e6,
            r.viewers_total,
            r.viewers_peak
        );
        println!("       video      {}", r.url);
        println!("       thumbnail  {}", r.thumbnail_url);
    }
}

pub async fn recordings(config_path: Option<&Path>, args: RecordingsArgs) -> Result<i32> {
    let config = Config::load(config_path)?;
    let base = api_base(&config, args.api.as_deref());
    let auth = open_auth(&config).await?;
    let app = args.app.clone();
    let list = with_token(&auth, &base, |c| {
        let app = app.clone();
        async move { c.recordings(app.as_deref()).await }
    })
    .await?;
    if args.json {
        println!("{}", serde_json::to_string(&list)?);
    } else if list.is_empty() {
        eprintln!(
            "No recordings visible to you{}.",
            args.app.as_deref().map(|a| format!(" for {a}")).unwrap_or_default()
        );
    } else {
        print_recordings(&list);
    }
    Ok(exit::OK)
}

/// For `broadcast` with no URL: the signed-in mentor's channel, or None when
/// nobody is signed in (or no Cognito/API is configured): then the config's
/// `[ingest] url` is used as before.
pub async fn own_channel(config: &Config) -> Result<Option<Channel>> {
    let Some(cfg) = config.cognito.clone() else { return Ok(None) };
    if config.api.as_ref().and_then(|a| a.url.as_ref()).is_none() {
        return Ok(None);
    }
    let auth = Auth::open(cfg, Options::default()).await.map_err(auth_fail)?;
    match auth.session().await {
        Err(AuthError::NotSignedIn) => return Ok(None),
        Err(e) => return Err(auth_fail(e)),
        Ok(s) => {
            if !s.identity.groups.iter().any(|g| g == "mentor") {
                // check_may_broadcast says why (exit 19)
                return Ok(None);
            }
        }
    }
    let base = api_base(config, None);
    let ch = with_token(&auth, &base, |c| async move { c.channel().await }).await?;
    Ok(Some(ch))
}
