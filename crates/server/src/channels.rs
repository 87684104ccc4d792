//! A mentor's channel: the RTMP application (`room-{username}`) and its
//! secret stream key. Created on the mentor's first `GET /api/v1/channel`
//! (which also makes the ingest serve the new application before it answers);
//! `POST /api/v1/channel/rotate-key` replaces the key, and the next
//! `on_publish` with the old one is refused. Only the channel's mentor ever
//! receives its key.

use axum::extract::State;
use mentorcast_api::Channel;
use rand::Rng;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiErr, ApiResult};
use crate::identity::{now_unix, User};
use crate::AppState;

/// A row of `channels`.
#[derive(Clone, sqlx::FromRow)]
pub struct ChannelRow {
    pub id: i64,
    pub mentor_sub: String,
    pub mentor_username: String,
    pub app: String,
    pub stream_key: String,
    pub key_issued_at: i64,
}

impl std::fmt::Debug for ChannelRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelRow")
            .field("id", &self.id)
            .field("app", &self.app)
            .field("mentor", &self.mentor_username)
            .finish_non_exhaustive()
    }
}

/// The channel routes: `GET /api/v1/channel` and `POST /api/v1/channel/rotate-key`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_channel)).routes(routes!(rotate_key))
}

/// The application name for a username: lower-cased, anything outside
/// `[a-z0-9-]` becomes `-`, prefixed `room-` (at most 48 characters).
pub fn base_app_name(username: &str) -> String {
    let mut s: String = username
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' { c } else { '-' })
        .collect();
    s.truncate(40);
    let s = s.trim_matches('-');
    if s.is_empty() {
        "room-mentor".to_string()
    } else {
        format!("room-{s}")
    }
}

/// Whether `app` can be a channel's application name (what we generate).
pub fn valid_app(app: &str) -> bool {
    !app.is_empty() && app.len() <= 64 && app.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `sk_` + 32 random URL-safe characters.
pub fn new_key() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rngs::OsRng;
    let tail: String = (0..32).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect();
    format!("sk_{tail}")
}

/// Constant-time equality (for stream keys and secrets).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The channel whose application is `app`, if there is one.
pub async fn by_app(db: &sqlx::SqlitePool, app: &str) -> Result<Option<ChannelRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, mentor_sub, mentor_username, app, stream_key, key_issued_at FROM channels WHERE app = ?")
        .bind(app)
        .fetch_optional(db)
        .await
}

async fn by_mentor(db: &sqlx::SqlitePool, sub: &str) -> Result<Option<ChannelRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, mentor_sub, mentor_username, app, stream_key, key_issued_at FROM channels WHERE mentor_sub = ?",
    )
    .bind(sub)
    .fetch_optional(db)
    .await
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// The mentor's channel, created on first use (app `room-{name}`, `-2`, `-3`… on collision).
/// Returns (row, created).
pub async fn get_or_create(state: &AppState, user: &User) -> ApiResult<(ChannelRow, bool)> {
    if let Some(row) = by_mentor(&state.db, &user.sub).await? {
        return Ok((row, false));
    }
    let base = base_app_name(&user.username);
    let now = now_unix();
    for n in 1..=1000u32 {
        let app = if n == 1 { base.clone() } else { format!("{base}-{n}") };
        let r = sqlx::query(
            "INSERT INTO channels (mentor_sub, mentor_username, app, stream_key, key_issued_at, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&user.sub)
        .bind(&user.username)
        .bind(&app)
        .bind(new_key())
        .bind(now)
        .bind(now)
        .execute(&state.db)
        .await;
        match r {
            Ok(_) => {
                let row = by_mentor(&state.db, &user.sub)
                    .await?
                    .ok_or_else(|| ApiErr::internal("the new channel vanished"))?;
                tracing::info!(app = %row.app, mentor = %user.username, "channel created");
                return Ok((row, true));
            }
            Err(e) if is_unique_violation(&e) => {
                // Either the same mentor raced us (then use theirs) or the app name is taken.
                if let Some(row) = by_mentor(&state.db, &user.sub).await? {
                    return Ok((row, false));
                }
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiErr::internal(format!("no free application name for {base}")))
}

/// The ingest's application for connection tests (no recording, no relay, no live session).
pub const TEST_APP: &str = "probe";

/// The API view of a channel (with its key: only for its mentor).
pub fn to_api(state: &AppState, row: &ChannelRow) -> Channel {
    let ingest = &state.config.ingest;
    Channel {
        app: row.app.clone(),
        ingest_url: format!("{}/{}", ingest.rtmp_url.trim_end_matches('/'), row.app),
        test_url: format!("{}/{TEST_APP}", ingest.rtmp_url.trim_end_matches('/')),
        stream_key: row.stream_key.clone(),
        hls_url: format!("{}/{}.m3u8", ingest.hls_url.trim_end_matches('/'), row.app),
        watch_url: format!("{}/watch/{}", state.config.public_url(), row.app),
        key_issued_at: row.key_issued_at,
    }
}

/// Makes sure the ingest serves the channel's application; a failure is logged
/// (the channel exists; the next call or server start tries again).
async fn ensure_ingest(state: &AppState, app: &str) {
    if let Err(e) = state.ingest.ensure(&state.db, app).await {
        tracing::error!(%app, error = %e, "the ingest does not serve this channel yet");
    }
}

/// The signed-in mentor's channel (created on the first call).
#[utoipa::path(
    get,
    path = "/api/v1/channel",
    tag = "channels",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The mentor's channel, with its secret key", body = mentorcast_api::Channel),
        (status = 401, description = "No or an invalid token", body = mentorcast_api::ErrorBody),
        (status = 403, description = "Not in the mentor group", body = mentorcast_api::ErrorBody)
    )
)]
pub async fn get_channel(State(state): State<AppState>, user: User) -> ApiResult<axum::Json<Channel>> {
    user.require_mentor()?;
    let (row, _created) = get_or_create(&state, &user).await?;
    ensure_ingest(&state, &row.app).await;
    Ok(axum::Json(to_api(&state, &row)))
}

/// A new stream key for the signed-in mentor's channel; the old one is refused from now on.
/// No body is needed (any is ignored).
#[utoipa::path(
    post,
    path = "/api/v1/channel/rotate-key",
    tag = "channels",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The channel with its new key", body = mentorcast_api::Channel),
        (status = 401, description = "No or an invalid token", body = mentorcast_api::ErrorBody),
        (status = 403, description = "Not in the mentor group", body = mentorcast_api::ErrorBody)
    )
)]
pub async fn rotate_key(State(state): State<AppState>, user: User) -> ApiResult<axum::Json<Channel>> {
    user.require_mentor()?;
    let (row, _) = get_or_create(&state, &user).await?;
    let now = now_unix();
    sqlx::query("UPDATE channels SET stream_key = ?, key_issued_at = ? WHERE id = ?")
        .bind(new_key())
        .bind(now)
        .bind(row.id)
        .execute(&state.db)
        .await?;
    let row = by_mentor(&state.db, &user.sub).await?.ok_or_else(|| ApiErr::internal("the channel vanished"))?;
    tracing::info!(app = %row.app, mentor = %user.username, "stream key rotated");
    ensure_ingest(&state, &row.app).await;
    Ok(axum::Json(to_api(&state, &row)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names() {
        assert_eq!(base_app_name("mentor1"), "room-mentor1");
        assert_eq!(base_app_name("Jane.Doe@Example"), "room-jane-doe-example");
        assert_eq!(base_app_name("__"), "room-mentor");
        assert_eq!(base_app_name("élan"), "room-lan");
        assert!(valid_app(&base_app_name("A b/c?d")));
        assert!(!valid_app("room/x") && !valid_app("") && !valid_app("Room"));
    }

    #[test]
    fn keys() {
        let k = new_key();
        assert!(k.starts_with("sk_") && k.len() == 35, "{k}");
        assert!(k[3..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(new_key(), k);
        assert!(ct_eq(b"abc", b"abc") && !ct_eq(b"abc", b"abd") && !ct_eq(b"abc", b"ab"));
    }
}
