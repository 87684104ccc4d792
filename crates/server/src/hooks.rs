//! What the ingest (nginx-rtmp) calls: form POSTs with `call, app, name (the
//! stream key), addr, clientid, tcurl, …`; only 2xx accepts, 3xx redirects.
//!
//! - `on_publish` (and the platform's original `POST /store-live?appName=`):
//!   accepts only the channel's current key, answering **302 `Location: {app}`**:
//!   nginx-rtmp then renames the stream to the app, so the recording is
//!   `{app}-{ts}.flv` and the key appears in no file name. (nginx-rtmp's HLS
//!   module runs before that rename and would name the playlist after the key,
//!   so the channel template does not run HLS itself: it `push`es the renamed
//!   stream to a shared HLS application whose `on_publish` is [`on_relay`].)
//!   A live session starts, or continues after a reconnect ([`crate::sessions`]).
//! - `on_relay`: the HLS application accepts only nginx's own push (its
//!   `relay=` argument carries the hook secret) for a channel that is live.
//! - `on_publish_done`: the live session ends with the viewer statistics (a
//!   reconnect soon after continues it).
//! - `on_record_done`: the FLV, a piece of its live session's recording, is
//!   joined with the session's other pieces into one MP4 (faststart) plus a JPEG
//!   thumbnail, stored through [`crate::storage`], in the background
//!   ([`crate::processing`]).
//!
//! Access: `hooks.secret` must be the `secret` query argument, and with
//! `hooks.loopback_only` the caller must be on loopback; else 403.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::channels::{by_app, ct_eq, valid_app};
use crate::error::{ApiErr, ApiResult};
use crate::identity::now_unix;
use crate::processing::process_recording;
use crate::AppState;

/// The ingest's hook routes: `/hooks/*` and `POST /store-live`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(on_publish))
        .routes(routes!(on_publish_done))
        .routes(routes!(on_record_done))
        .routes(routes!(on_relay))
        // `GET /store-live` is the recordings listing: the path is shared with recordings.rs.
        .routes(routes!(store_live_publish))
}

/// The form nginx-rtmp posts (unknown fields ignored).
#[derive(Debug, Default, serde::Deserialize)]
pub struct HookForm {
    #[serde(default)]
    pub call: Option<String>,
    #[serde(default)]
    pub app: Option<String>,
    /// The stream name: on `publish`, the key (never logged).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub addr: Option<String>,
    #[serde(default)]
    pub clientid: Option<String>,
    /// `on_record_done`: the recorded file.
    #[serde(default)]
    pub path: Option<String>,
    /// The HLS relay's proof (the hook secret).
    #[serde(default)]
    pub relay: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct HookQuery {
    #[serde(default)]
    secret: Option<String>,
    /// `POST /store-live?appName=APP` (the platform's original hook).
    #[serde(default, rename = "appName")]
    app_name: Option<String>,
}

/// A verified hook call: the caller passed the access check; the form is parsed.
pub struct Hook {
    pub form: HookForm,
    app_name: Option<String>,
}

impl FromRequest<AppState> for Hook {
    type Rejection = ApiErr;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiErr> {
        let cfg = &state.config.hooks;
        let q: HookQuery = serde_urlencoded::from_str(req.uri().query().unwrap_or(""))
            .map_err(|_| ApiErr::BadRequest("bad query string".into()))?;
        if let Some(want) = cfg.secret.as_deref().filter(|s| !s.is_empty()) {
            let ok = q.secret.as_deref().map(|got| ct_eq(got.as_bytes(), want.as_bytes())).unwrap_or(false);
            if !ok {
                state.metrics.hook("access", "rejected");
                tracing::warn!(path = %req.uri().path(), "hook call without the right secret");
                return Err(ApiErr::Forbidden("hooks are for the ingest only".into()));
            }
        }
        if cfg.loopback_only {
            let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
            if !peer.map(|p| p.ip().is_loopback()).unwrap_or(false) {
                state.metrics.hook("access", "rejected");
                tracing::warn!(peer = ?peer, "hook call from outside loopback");
                return Err(ApiErr::Forbidden("hooks are for the ingest only".into()));
            }
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiErr::BadRequest("the body could not be read".into()))?;
        let form: HookForm = serde_urlencoded::from_bytes(&body).map_err(|_| {
            ApiErr::BadRequest("the body is not the ingest's form (application/x-www-form-urlencoded)".into())
        })?;
        Ok(Hook { form, app_name: q.app_name })
    }
}

fn rejected(state: &AppState, hook: &str, app: &str, why: &str) -> ApiErr {
    state.metrics.hook(hook, "rejected");
    tracing::warn!(%app, reason = why, "{hook} rejected");
    ApiErr::Forbidden("stream key rejected".into())
}

/// The 302 that renames the stream to `app` (nginx-rtmp: a non-`rtmp://` Location renames).
fn rename_to(app: &str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(app) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Accepts or rejects a publish. Shared by `on_publish` and `POST /store-live`.
pub async fn publish(state: &AppState, app: &str, form: &HookForm) -> ApiResult<Response> {
    if !valid_app(app) {
        return Err(rejected(state, "publish", app, "no such application"));
    }
    let key = form.name.as_deref().unwrap_or("");
    let Some(ch) = by_app(&state.db, app).await? else {
        return Err(rejected(state, "publish", app, "no such channel"));
    };
    if key.is_empty() || !ct_eq(key.as_bytes(), ch.stream_key.as_bytes()) {
        return Err(rejected(state, "publish", app, "stream key does not match"));
    }
    // A session still open: either someone is publishing the channel now (a
    // second encoder — nginx would refuse it after this hook anyway, and the
    // live session must not end), or its publish_done never came (stale).
    let open: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM live_sessions WHERE app = ? AND ended_at IS NULL LIMIT 1")
            .bind(app)
            .fetch_optional(&state.db)
            .await?;
    if open.is_some() && state.ingest.publishing(app).await.unwrap_or(state.ingest.live(app).is_some()) {
        state.metrics.hook("publish", "rejected");
        tracing::warn!(%app, "publish refused: the channel is already live from another encoder");
        return Err(ApiErr::Conflict("this channel is already live from another encoder".into()));
    }
    let (session_id, continued) = crate::sessions::begin(state, &ch, form.clientid.as_deref().unwrap_or("")).await?;
    state.metrics.hook("publish", "accepted");
    tracing::info!(
        %app,
        session = session_id,
        continued,
        mentor = %ch.mentor_username,
        addr = form.addr.as_deref().unwrap_or(""),
        "publish accepted"
    );
    Ok(rename_to(app))
}

/// nginx-rtmp `on_publish`: accept the channel's current key (302 renaming the stream to the app) or refuse (403).
#[utoipa::path(
    post,
    path = "/hooks/on_publish",
    tag = "hooks",
    params(("secret" = Option<String>, Query, description = "The hook secret (hooks.secret)")),
    request_body(
        content_type = "application/x-www-form-urlencoded",
        description = "nginx-rtmp's form: call, app, name (the stream key), addr, clientid, tcurl, …"
    ),
    responses(
        (
            status = 302,
            description = "Accepted; `Location: {app}` renames the stream so the key appears in no file or URL"
        ),
        (
            status = 403,
            description = "Stream key rejected, or not called by the ingest",
            body = mentorcast_api::ErrorBody
        )
    )
)]
pub async fn on_publish(State(state): State<AppState>, hook: Hook) -> ApiResult<Response> {
    let app = hook.form.app.clone().unwrap_or_default();
    publish(&state, &app, &hook.form).await
}

/// The platform's original publish hook: `POST /store-live?appName=APP` with on_publish's form.
#[utoipa::path(
    post,
    path = "/store-live",
    tag = "hooks",
    params(
        ("appName" = Option<String>, Query, description = "The channel's app (else the form's `app`)"),
        ("secret" = Option<String>, Query, description = "The hook secret")
    ),
    request_body(content_type = "application/x-www-form-urlencoded", description = "As on_publish"),
    responses(
        (status = 302, description = "Accepted (as on_publish)"),
        (
            status = 403,
            description = "Stream key rejected, or not called by the ingest",
            body = mentorcast_api::ErrorBody
        )
    )
)]
pub async fn store_live_publish(State(state): State<AppState>, hook: Hook) -> ApiResult<Response> {
    let app = hook.app_name.clone().or_else(|| hook.form.app.clone()).unwrap_or_default();
    publish(&state, &app, &hook.form).await
}

/// The shared HLS application's `on_publish`: only nginx's own push (`relay=` the hook secret) of a live channel.
#[utoipa::path(
    post,
    path = "/hooks/on_relay",
    tag = "hooks",
    params(("secret" = Option<String>, Query, description = "The hook secret")),
    request_body(
        content_type = "application/x-www-form-urlencoded",
        description = "nginx-rtmp's form; `name` is the channel's app, `relay` the proof"
    ),
    responses(
        (status = 200, description = "Accepted"),
        (status = 403, description = "Not nginx's push of a live channel", body = mentorcast_api::ErrorBody)
    )
)]
pub async fn on_relay(State(state): State<AppState>, hook: Hook) -> ApiResult<StatusCode> {
    let app = hook.form.name.clone().unwrap_or_default();
    if let Some(want) = state.config.hooks.secret.as_deref().filter(|s| !s.is_empty()) {
        let ok = hook.form.relay.as_deref().map(|g| ct_eq(g.as_bytes(), want.as_bytes())).unwrap_or(false);
        if !ok {
            return Err(rejected(&state, "relay", &app, "not the ingest's own push"));
        }
    }
    if !valid_app(&app) {
        return Err(rejected(&state, "relay", &app, "no such application"));
    }
    let open: Option<(i64,)> = sqlx::query_as("SELECT id FROM live_sessions WHERE app = ? AND ended_at IS NULL")
        .bind(&app)
        .fetch_optional(&state.db)
        .await?;
    if open.is_none() {
        return Err(rejected(&state, "relay", &app, "the channel is not live"));
    }
    state.metrics.hook("relay", "accepted");
    Ok(StatusCode::OK)
}

/// nginx-rtmp `on_publish_done`: the live session ends (viewer statistics kept on it).
#[utoipa::path(
    post,
    path = "/hooks/on_publish_done",
    tag = "hooks",
    params(("secret" = Option<String>, Query, description = "The hook secret")),
    request_body(content_type = "application/x-www-form-urlencoded", description = "nginx-rtmp's form"),
    responses(
        (status = 200, description = "Done"),
        (status = 403, description = "Not called by the ingest", body = mentorcast_api::ErrorBody)
    )
)]
pub async fn on_publish_done(State(state): State<AppState>, hook: Hook) -> ApiResult<StatusCode> {
    let app = hook.form.app.clone().unwrap_or_default();
    if !valid_app(&app) {
        state.metrics.hook("publish_done", "rejected");
        return Err(ApiErr::NotFound("no such application".into()));
    }
    let ended = crate::sessions::end(&state, &app, hook.form.clientid.as_deref()).await?;
    state.metrics.hook("publish_done", if ended { "accepted" } else { "ignored" });
    Ok(StatusCode::OK)
}

/// nginx-rtmp `on_record_done`: the FLV at `path` becomes a stored MP4 + thumbnail (in the background).
#[utoipa::path(
    post,
    path = "/hooks/on_record_done",
    tag = "hooks",
    params(("secret" = Option<String>, Query, description = "The hook secret")),
    request_body(
        content_type = "application/x-www-form-urlencoded",
        description = "nginx-rtmp's form with `path`, the recorded FLV"
    ),
    responses(
        (status = 200, description = "Accepted; processing runs in the background"),
        (status = 400, description = "No usable path", body = mentorcast_api::ErrorBody),
        (status = 403, description = "Not called by the ingest", body = mentorcast_api::ErrorBody)
    )
)]
pub async fn on_record_done(State(state): State<AppState>, hook: Hook) -> ApiResult<StatusCode> {
    let app = hook.form.app.clone().unwrap_or_default();
    if !valid_app(&app) {
        state.metrics.hook("record_done", "rejected");
        return Err(ApiErr::NotFound("no such application".into()));
    }
    let path = match check_record_path(&state, &app, hook.form.path.as_deref()) {
        Ok(p) => p,
        Err(why) => {
            state.metrics.hook("record_done", "rejected");
            tracing::warn!(%app, reason = why, "record_done with an unusable path");
            return Err(ApiErr::BadRequest(format!("unusable recording path: {why}")));
        }
    };
    let closed_at = now_unix();
    let st = state.clone();
    tokio::spawn(async move {
        match process_recording(&st, &app, &path, closed_at).await {
            Ok(Some(id)) => {
                st.metrics.hook("record_done", "accepted");
                tracing::info!(%app, recording = id, "recording stored");
            }
            Ok(None) => st.metrics.hook("record_done", "skipped"),
            Err(e) => {
                st.metrics.hook("record_done", "error");
                tracing::error!(%app, file = %path.display(), error = %e, "recording could not be processed");
            }
        }
    });
    Ok(StatusCode::OK)
}

/// The recorded file must be an absolute `.flv` named `{app}-…`, inside `ingest.record_dir` when set.
fn check_record_path(state: &AppState, app: &str, path: Option<&str>) -> Result<PathBuf, &'static str> {
    let p = Path::new(path.ok_or("no path")?);
    if !p.is_absolute() || p.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err("not an absolute path");
    }
    let name = p.file_name().and_then(|n| n.to_str()).ok_or("no file name")?;
    if !name.starts_with(&format!("{app}-")) || !name.ends_with(".flv") {
        return Err("not a recording of this application");
    }
    if let Some(dir) = &state.config.ingest.record_dir {
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.clone());
        let parent = p.parent().map(|d| d.canonicalize().unwrap_or_else(|_| d.to_path_buf()));
        if parent.as_deref() != Some(dir.as_path()) {
            return Err("outside the recording folder");
        }
    }
    Ok(p.to_path_buf())
}
