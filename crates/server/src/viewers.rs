//! Live viewers: the players' heartbeats in, the platform's viewer counts and statistics out.
//!
//! - `POST /api/v1/heartbeat`: anyone may send one (anonymous players count as
//!   viewers); a token, when sent, must be valid, and then the account is held
//!   to `max_devices_per_account` concurrent players (409 beyond) and recorded
//!   as a participant of the channel's open live session (which is what lets
//!   a mentee see that session's recording later). The app must be a channel
//!   (404 otherwise).
//! - `GET /api/v1/streams/{app}/stats` and `GET /api/v1/streams/{app}/viewers/live`
//!   (SSE, `event: viewers`): for any signed-in user (mentor, mentee or admin).
//!   Counts are not secret on a platform whose viewers see them, but the
//!   breakdowns are the platform's data, so anonymous callers get 401.
//! - The sweeper (every [`SWEEP_EVERY`]) expires silent players, publishes each
//!   stream's count to its SSE subscribers when it changed, and sets
//!   `mentorcast_active_viewers`. A change therefore reaches SSE clients within
//!   one sweep interval (well under the 1 s the API promises).
//!
//! SQLite is kept off the heartbeat path: whether an app is a channel, the
//! open live session of an app and which (session, account) pairs are already
//! recorded are cached here; a beat touches the database only the first time
//! a signed-in account is seen in a live session.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use mentorcast_api::{ErrorBody, Heartbeat, HeartbeatAck, StreamStats, ViewerCount};
use tokio::sync::watch;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiErr, ApiResult, JsonBody};
use crate::identity::{MaybeUser, User};
use crate::presence::PresenceError;
use crate::AppState;

/// How often silent players are swept and counts published.
pub const SWEEP_EVERY: Duration = Duration::from_millis(200);
/// How long "no such channel" is believed before asking the database again.
const NEGATIVE_TTL: Duration = Duration::from_secs(1);
/// How long "no open live session" is believed (the presence epoch also invalidates it).
const NO_SESSION_TTL: Duration = Duration::from_secs(2);
const MAX_ID_LEN: usize = 128;
const MAX_APP_LEN: usize = 128;
const MAX_AGENT_LEN: usize = 64;

/// (presence epoch, open live session id, when looked up).
type SessionEntry = (u64, Option<i64>, Instant);

/// Per-server caches and the SSE channels.
#[derive(Default)]
pub struct Viewers {
    /// Apps known to be channels (channels are never deleted).
    known: Mutex<HashSet<String>>,
    /// Apps known not to be channels, and since when.
    unknown: Mutex<HashMap<String, Instant>>,
    /// app → (presence epoch, open live session id, when looked up).
    sessions: Mutex<HashMap<String, SessionEntry>>,
    /// (live session id, account sub) already in `participants`.
    recorded: Mutex<HashSet<(i64, String)>>,
    /// app → its count, for SSE subscribers.
    live: Mutex<HashMap<String, watch::Sender<ViewerCount>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Viewers {
    /// Empty caches, no SSE subscriber.
    pub fn new() -> Viewers {
        Viewers::default()
    }

    /// Publishes `count` to the subscribers of `app` if it changed; drops channels nobody listens to.
    fn publish(&self, app: &str, count: ViewerCount) {
        let mut live = lock(&self.live);
        if let Some(tx) = live.get(app) {
            if tx.receiver_count() == 0 {
                live.remove(app);
            } else {
                tx.send_if_modified(|c| {
                    if *c == count {
                        false
                    } else {
                        *c = count;
                        true
                    }
                });
            }
        }
    }

    fn subscribe(&self, app: &str, now: ViewerCount) -> watch::Receiver<ViewerCount> {
        let mut live = lock(&self.live);
        match live.get(app) {
            Some(tx) => {
                tx.send_if_modified(|c| {
                    let changed = *c != now;
                    *c = now;
                    changed
                });
                tx.subscribe()
            }
            None => {
                let (tx, rx) = watch::channel(now);
                live.insert(app.to_string(), tx);
                rx
            }
        }
    }
}

/// 404 unless `app` is a channel (cached).
pub async fn require_channel(state: &AppState, app: &str) -> ApiResult<()> {
    let v = &state.viewers;
    if lock(&v.known).contains(app) {
        return Ok(());
    }
    if let Some(t) = lock(&v.unknown).get(app) {
        if t.elapsed() < NEGATIVE_TTL {
            return Err(no_channel(app));
        }
    }
    let found: Option<i64> =
        sqlx::query_scalar("SELECT id FROM channels WHERE app = ?").bind(app).fetch_optional(&state.db).await?;
    if found.is_some() {
        lock(&v.known).insert(app.to_string());
        lock(&v.unknown).remove(app);
        Ok(())
    } else {
        let mut unknown = lock(&v.unknown);
        if unknown.len() > 10_000 {
            unknown.clear();
        }
        unknown.insert(app.to_string(), Instant::now());
        Err(no_channel(app))
    }
}

fn no_channel(app: &str) -> ApiErr {
    ApiErr::NotFound(format!("there is no channel named {app:?}"))
}

/// The open live session of `app` (cached per presence epoch).
async fn open_session(state: &AppState, app: &str) -> ApiResult<Option<i64>> {
    let epoch = state.presence.epoch(app).await;
    if let Some((e, sid, at)) = lock(&state.viewers.sessions).get(app) {
        if *e == epoch && (sid.is_some() || at.elapsed() < NO_SESSION_TTL) {
            return Ok(*sid);
        }
    }
    let sid: Option<i64> =
        sqlx::query_scalar("SELECT id FROM live_sessions WHERE app = ? AND ended_at IS NULL ORDER BY id DESC LIMIT 1")
            .bind(app)
            .fetch_optional(&state.db)
            .await?;
    lock(&state.viewers.sessions).insert(app.to_string(), (epoch, sid, Instant::now()));
    Ok(sid)
}

/// Records a signed-in viewer as a participant of the open live session of `app`, once.
async fn record_participant(state: &AppState, app: &str, user: &User) -> ApiResult<()> {
    let Some(sid) = open_session(state, app).await? else { return Ok(()) };
    let key = (sid, user.sub.clone());
    if lock(&state.viewers.recorded).contains(&key) {
        return Ok(());
    }
    sqlx::query(
        "INSERT OR IGNORE INTO participants (live_session_id, user_sub, username, first_seen) VALUES (?, ?, ?, ?)",
    )
    .bind(sid)
    .bind(&user.sub)
    .bind(&user.username)
    .bind(crate::identity::now_unix())
    .execute(&state.db)
    .await?;
    tracing::info!(app, live_session = sid, user = %user.username, "participant recorded");
    let mut rec = lock(&state.viewers.recorded);
    if rec.len() > 1_000_000 {
        rec.clear();
    }
    rec.insert(key);
    Ok(())
}

fn check_heartbeat(hb: &mut Heartbeat) -> ApiResult<()> {
    let printable = |s: &str| s.chars().all(|c| !c.is_control());
    if hb.player_id.is_empty() || hb.player_id.len() > MAX_ID_LEN || !printable(&hb.player_id) {
        return Err(ApiErr::BadRequest(format!("playerId must be 1–{MAX_ID_LEN} printable characters")));
    }
    if hb.app.is_empty() || hb.app.len() > MAX_APP_LEN || !printable(&hb.app) {
        return Err(ApiErr::BadRequest(format!("app must be 1–{MAX_APP_LEN} printable characters")));
    }
    if !hb.play_time.is_finite() || hb.play_time < 0.0 {
        return Err(ApiErr::BadRequest("playTime must be a number of seconds ≥ 0".into()));
    }
    for f in [&mut hb.agent.os, &mut hb.agent.browser, &mut hb.agent.device] {
        if !printable(f) {
            return Err(ApiErr::BadRequest("agent fields must be printable text".into()));
        }
        if f.len() > MAX_AGENT_LEN {
            let mut cut = MAX_AGENT_LEN;
            while !f.is_char_boundary(cut) {
                cut -= 1;
            }
            f.truncate(cut);
        }
    }
    Ok(())
}

/// A player's heartbeat (about every 750 ms while it plays).
#[utoipa::path(
    post,
    path = "/api/v1/heartbeat",
    tag = "viewers",
    request_body = Heartbeat,
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Counted; the stream's active viewers now", body = HeartbeatAck),
        (status = 400, description = "Malformed heartbeat", body = ErrorBody),
        (status = 401, description = "A token was sent and is not valid", body = ErrorBody),
        (status = 404, description = "No channel with that app", body = ErrorBody),
        (status = 409, description = "The account already plays on the maximum number of devices", body = ErrorBody),
    )
)]
pub async fn heartbeat(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    JsonBody(mut hb): JsonBody<Heartbeat>,
) -> ApiResult<axum::Json<HeartbeatAck>> {
    check_heartbeat(&mut hb)?;
    require_channel(&state, &hb.app).await?;
    let now = state.presence.now_ms();
    let active = match state.presence.beat(&hb, user.as_ref().map(|u| u.sub.as_str()), now).await {
        Ok(n) => n,
        Err(e @ PresenceError::TooManyDevices { .. }) => {
            let username = user.as_ref().map(|u| u.username.as_str()).unwrap_or("");
            tracing::info!(app = %hb.app, user = username, "device limit reached");
            return Err(ApiErr::Conflict(e.to_string()));
        }
    };
    state.metrics.heartbeats.inc();
    if let Some(u) = &user {
        record_participant(&state, &hb.app, u).await?;
    }
    Ok(axum::Json(HeartbeatAck { active, interval_ms: state.config.viewers.heartbeat_interval_ms }))
}

/// A stream's viewer statistics now.
#[utoipa::path(
    get,
    path = "/api/v1/streams/{app}/stats",
    tag = "viewers",
    params(("app" = String, Path, description = "The channel's app name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Active, total, peak, play time, bitrates, devices", body = StreamStats),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No channel with that app", body = ErrorBody),
    )
)]
pub async fn stats(
    State(state): State<AppState>,
    _user: User,
    Path(app): Path<String>,
) -> ApiResult<axum::Json<StreamStats>> {
    require_channel(&state, &app).await?;
    Ok(axum::Json(state.presence.stats(&app).await))
}

/// The live viewer count as Server-Sent Events: `event: viewers` with a
/// [`ViewerCount`] at once, then each time it changes; `:` keep-alive comments.
#[utoipa::path(
    get,
    path = "/api/v1/streams/{app}/viewers/live",
    tag = "viewers",
    params(("app" = String, Path, description = "The channel's app name")),
    security(("bearer" = [])),
    responses(
        (
            status = 200,
            description = "text/event-stream of `event: viewers` / `data: ViewerCount`",
            content_type = "text/event-stream",
            body = ViewerCount
        ),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No channel with that app", body = ErrorBody),
    )
)]
pub async fn viewers_live(
    State(state): State<AppState>,
    _user: User,
    Path(app): Path<String>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    require_channel(&state, &app).await?;
    let now = state.presence.count(&app).await;
    let rx = state.viewers.subscribe(&app, now);
    let events = tokio_stream::wrappers::WatchStream::new(rx).map(|c| {
        Ok(Event::default().event("viewers").json_data(c).unwrap_or_else(|_| Event::default().comment("unencodable")))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)).text("keep-alive")))
}

/// The viewer routes: heartbeat, stats, and the live count over SSE.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(heartbeat)).routes(routes!(stats)).routes(routes!(viewers_live))
}

/// One sweep: expire, publish changed counts, update the gauge.
pub async fn sweep_once(state: &AppState) {
    let now = state.presence.now_ms();
    let report = state.presence.sweep(now).await;
    state.metrics.active_viewers.set(report.active_total as i64);
    for (app, c) in &report.counts {
        state.viewers.publish(app, *c);
    }
}

/// The background sweeper (stops when the runtime does).
pub fn spawn_sweeper(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            sweep_once(&state).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hb(id: &str, app: &str) -> Heartbeat {
        Heartbeat { player_id: id.into(), app: app.into(), bitrate: 1, play_time: 0.0, agent: Default::default() }
    }

    #[test]
    fn heartbeat_validation() {
        assert!(check_heartbeat(&mut hb("p", "room-a")).is_ok());
        assert!(check_heartbeat(&mut hb("", "room-a")).is_err());
        assert!(check_heartbeat(&mut hb("p", "")).is_err());
        assert!(check_heartbeat(&mut hb(&"x".repeat(129), "a")).is_err());
        assert!(check_heartbeat(&mut hb("p\n", "a")).is_err());
        let mut h = hb("p", "a");
        h.play_time = -1.0;
        assert!(check_heartbeat(&mut h).is_err());
        let mut h = hb("p", "a");
        h.agent.os = "é".repeat(100);
        assert!(check_heartbeat(&mut h).is_ok());
        assert!(h.agent.os.len() <= MAX_AGENT_LEN);
    }

    #[test]
    fn publish_only_on_change_and_drop_unwatched() {
        let v = Viewers::new();
        let mut rx = v.subscribe("a", ViewerCount { active: 1, peak: 1, total: 1 });
        assert_eq!(*rx.borrow_and_update(), ViewerCount { active: 1, peak: 1, total: 1 });
        v.publish("a", ViewerCount { active: 1, peak: 1, total: 1 });
        assert!(!rx.has_changed().unwrap());
        v.publish("a", ViewerCount { active: 2, peak: 2, total: 2 });
        assert!(rx.has_changed().unwrap());
        drop(rx);
        v.publish("a", ViewerCount::default());
        assert!(lock(&v.live).is_empty());
    }
}
