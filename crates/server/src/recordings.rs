//! Recordings as the API lists them: `GET /api/v1/recordings[?app=]`, the
//! platform's original `GET /store-live?app=`, and `GET /api/v1/recordings/{id}`,
//! each with fresh signed URLs to the media. (They are made from the ingest's
//! FLV by [`crate::processing`] when `on_record_done` arrives.)
//!
//! Visibility: the mentor who streamed it, `admin`, and the signed-in viewers
//! recorded as participants of its live session (a heartbeat during it). To
//! anyone else it does not exist: an empty list, 404 for its id or media.

use axum::extract::rejection::PathRejection;
use axum::extract::State;
use mentorcast_api::{Recording, RecordingsQuery, StreamStats};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiErr, ApiResult, QueryArgs};
use crate::identity::{now_unix, User};
use crate::media::MediaKind;
use crate::AppState;

/// The recordings listings: `/api/v1/recordings`, `/api/v1/recordings/{id}` and `GET /store-live`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_recordings))
        .routes(routes!(get_recording))
        // `POST /store-live` is the original publish hook: the path is shared with hooks.rs.
        .routes(routes!(store_live_list))
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    app: String,
    mentor_username: String,
    started_at: i64,
    ended_at: i64,
    duration_s: f64,
    size_bytes: i64,
    viewers_total: Option<i64>,
    viewers_peak: Option<i64>,
    stats_json: Option<String>,
}

const SELECT: &str = "SELECT r.id, r.app, r.mentor_username, r.started_at, r.ended_at, r.duration_s, r.size_bytes, \
    s.viewers_total, s.viewers_peak, s.stats_json \
    FROM recordings r LEFT JOIN live_sessions s ON s.id = r.live_session_id \
    WHERE (? OR r.mentor_sub = ? OR EXISTS \
    (SELECT 1 FROM participants p WHERE p.live_session_id = r.live_session_id AND p.user_sub = ?))";

fn to_api(state: &AppState, r: Row, now: i64) -> Recording {
    let exp = state.signer.expiry(now);
    let base = state.config.public_url();
    let stats: Option<StreamStats> = r.stats_json.as_deref().and_then(|j| serde_json::from_str(j).ok());
    Recording {
        id: r.id,
        url: state.signer.url(base, MediaKind::Video, r.id, exp),
        thumbnail_url: state.signer.url(base, MediaKind::Thumbnail, r.id, exp),
        urls_expire_at: exp,
        app: r.app,
        mentor: r.mentor_username,
        started_at: r.started_at,
        ended_at: r.ended_at,
        duration_s: r.duration_s,
        size_bytes: r.size_bytes,
        viewers_total: r.viewers_total.unwrap_or(0),
        viewers_peak: r.viewers_peak.unwrap_or(0),
        stats,
    }
}

/// What `user` may see, optionally of one app, newest first.
pub async fn visible(state: &AppState, user: &User, app: Option<&str>) -> ApiResult<Vec<Recording>> {
    if let Some(a) = app {
        if a.is_empty() || a.len() > 64 || !a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(ApiErr::BadRequest(
                "app must be an application name ([A-Za-z0-9_-], up to 64 characters)".into(),
            ));
        }
    }
    let sql = format!("{SELECT} AND (? IS NULL OR r.app = ?) ORDER BY r.started_at DESC, r.id DESC LIMIT 1000");
    let rows: Vec<Row> = sqlx::query_as(&sql)
        .bind(user.is_admin())
        .bind(&user.sub)
        .bind(&user.sub)
        .bind(app)
        .bind(app)
        .fetch_all(&state.db)
        .await?;
    let now = now_unix();
    Ok(rows.into_iter().map(|r| to_api(state, r, now)).collect())
}

/// Recordings the signed-in user may see (theirs as mentor, those they watched live; all for admin).
#[utoipa::path(
    get,
    path = "/api/v1/recordings",
    tag = "recordings",
    security(("bearer" = [])),
    params(RecordingsQuery),
    responses(
        (
            status = 200,
            description = "Newest first; `[]` when nothing is visible",
            body = Vec<mentorcast_api::Recording>
        ),
        (status = 400, description = "Bad query", body = mentorcast_api::ErrorBody),
        (status = 401, description = "No or an invalid token", body = mentorcast_api::ErrorBody)
    )
)]
pub async fn list_recordings(
    State(state): State<AppState>,
    user: User,
    QueryArgs(q): QueryArgs<RecordingsQuery>,
) -> ApiResult<axum::Json<Vec<Recording>>> {
    Ok(axum::Json(visible(&state, &user, q.app.as_deref()).await?))
}

/// The platform's original listing: `GET /store-live?app=APP` (same rules as `/api/v1/recordings`).
#[utoipa::path(
    get,
    path = "/store-live",
    tag = "recordings",
    security(("bearer" = [])),
    params(RecordingsQuery),
    responses(
        (status = 200, description = "As /api/v1/recordings", body = Vec<mentorcast_api::Recording>),
        (status = 400, description = "Bad query", body = mentorcast_api::ErrorBody),
        (status = 401, description = "No or an invalid token", body = mentorcast_api::ErrorBody)
    )
)]
pub async fn store_live_list(
    State(state): State<AppState>,
    user: User,
    QueryArgs(q): QueryArgs<RecordingsQuery>,
) -> ApiResult<axum::Json<Vec<Recording>>> {
    Ok(axum::Json(visible(&state, &user, q.app.as_deref()).await?))
}

/// One recording, if the signed-in user may see it (else 404).
#[utoipa::path(
    get,
    path = "/api/v1/recordings/{id}",
    tag = "recordings",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Recording id")),
    responses(
        (status = 200, description = "The recording, with fresh signed URLs", body = mentorcast_api::Recording),
        (status = 401, description = "No or an invalid token", body = mentorcast_api::ErrorBody),
        (
            status = 404,
            description = "No such recording (or not visible to the caller)",
            body = mentorcast_api::ErrorBody
        )
    )
)]
pub async fn get_recording(
    State(state): State<AppState>,
    user: User,
    id: Result<axum::extract::Path<String>, PathRejection>,
) -> ApiResult<axum::Json<Recording>> {
    let id: i64 = id.ok().and_then(|p| p.0.parse().ok()).ok_or_else(|| ApiErr::not_found("recording"))?;
    let sql = format!("{SELECT} AND r.id = ?");
    let row: Option<Row> = sqlx::query_as(&sql)
        .bind(user.is_admin())
        .bind(&user.sub)
        .bind(&user.sub)
        .bind(id)
        .fetch_optional(&state.db)
        .await?;
    let row = row.ok_or_else(|| ApiErr::not_found("recording"))?;
    Ok(axum::Json(to_api(&state, row, now_unix())))
}
