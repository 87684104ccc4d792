//! Live sessions: one class on a channel, from the first accepted publish to the
//! end of the last one.
//!
//! A session continues over the encoder's reconnects: a publish accepted within
//! `recordings.join_within_s` of the channel's last publish ending (or while the
//! ingest never reported that end) continues the same session, as a new
//! segment (`publish_segments`). The viewer statistics go on, and the pieces the
//! ingest records (one FLV per publish) make one recording
//! ([`crate::processing`]).

use crate::channels::ChannelRow;
use crate::error::{ApiErr, ApiResult};
use crate::identity::now_unix;
use crate::ingest::LiveEntry;
use crate::AppState;

/// A session whose end the ingest never reported (it was restarted, or its
/// `publish_done` was lost) is continued only this soon after its last segment
/// started: a class is not longer than this.
const STALE_JOIN_MAX_S: i64 = 6 * 3600;

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Whether a new publish at `now` continues the last session, which ended at
/// `ended_at` (None: never reported) and whose last segment started at `last_start`.
/// A window of 0 never continues a session.
fn continues(now: i64, ended_at: Option<i64>, last_start: i64, join_within_s: u64) -> bool {
    if join_within_s == 0 {
        return false;
    }
    match ended_at {
        Some(end) => now - end <= join_within_s as i64,
        None => now - last_start <= STALE_JOIN_MAX_S,
    }
}

/// An accepted publish of `ch`: continues the channel's last live session when it
/// is a reconnect, else starts one. Returns the session's id and whether it continued.
pub async fn begin(state: &AppState, ch: &ChannelRow, clientid: &str) -> ApiResult<(i64, bool)> {
    let app = ch.app.as_str();
    let (now, now_ms) = (now_unix(), now_ms());
    let last: Option<(i64, Option<i64>, i64)> = sqlx::query_as(
        "SELECT s.id, s.ended_at, COALESCE(MAX(g.started_ms) / 1000, s.started_at) \
         FROM live_sessions s LEFT JOIN publish_segments g ON g.live_session_id = s.id \
         WHERE s.app = ? GROUP BY s.id ORDER BY s.id DESC LIMIT 1",
    )
    .bind(app)
    .fetch_optional(&state.db)
    .await?;
    let was_live = last.is_some_and(|(_, ended, _)| ended.is_none());
    let joined = last
        .filter(|&(_, ended, last_start)| continues(now, ended, last_start, state.config.recordings.join_within_s))
        .map(|(id, ..)| id);
    let mut tx = state.db.begin().await?;
    // Every other open session of the channel is over (their end was never reported).
    let stale = sqlx::query("UPDATE live_sessions SET ended_at = ? WHERE app = ? AND ended_at IS NULL AND id != ?")
        .bind(now)
        .bind(app)
        .bind(joined.unwrap_or(-1))
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE publish_segments SET ended_ms = ? WHERE ended_ms IS NULL AND live_session_id IN \
                 (SELECT id FROM live_sessions WHERE app = ?)",
    )
    .bind(now_ms)
    .bind(app)
    .execute(&mut *tx)
    .await?;
    let session_id = match joined {
        Some(id) => {
            sqlx::query("UPDATE live_sessions SET ended_at = NULL WHERE id = ?").bind(id).execute(&mut *tx).await?;
            id
        }
        None => {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO live_sessions (channel_id, app, mentor_sub, started_at) VALUES (?, ?, ?, ?) RETURNING id",
            )
            .bind(ch.id)
            .bind(app)
            .bind(&ch.mentor_sub)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            id
        }
    };
    sqlx::query("INSERT INTO publish_segments (live_session_id, started_ms) VALUES (?, ?)")
        .bind(session_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    if stale.rows_affected() > 0 {
        tracing::warn!(%app, n = stale.rows_affected(), "closed live sessions whose end was never reported");
    }
    state.ingest.set_live(app, LiveEntry { session_id, clientid: clientid.to_string() });
    if joined.is_some() {
        state.presence.resume_stream(app).await;
    } else {
        state.presence.start_stream(app).await;
    }
    if !was_live {
        state.metrics.active_streams.inc();
    }
    Ok((session_id, joined.is_some()))
}

/// Ends the open live session of `app` with the viewer statistics (a later
/// publish may still continue it). Returns whether one was open.
pub async fn end(state: &AppState, app: &str, clientid: Option<&str>) -> ApiResult<bool> {
    if let (Some(live), Some(cid)) = (state.ingest.live(app), clientid) {
        if !live.clientid.is_empty() && live.clientid != cid {
            // Not the publisher that owns the session (e.g. a refused duplicate).
            tracing::info!(%app, "publish_done of another publisher: the live session goes on");
            return Ok(false);
        }
    }
    let open: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM live_sessions WHERE app = ? AND ended_at IS NULL ORDER BY id DESC LIMIT 1")
            .bind(app)
            .fetch_optional(&state.db)
            .await?;
    let Some((id,)) = open else { return Ok(false) };
    let mut stats = state.presence.stats(app).await;
    stats.live = false;
    let json = serde_json::to_string(&stats).map_err(ApiErr::internal)?;
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "UPDATE live_sessions SET ended_at = ?, viewers_total = ?, viewers_peak = ?, stats_json = ? \
         WHERE app = ? AND ended_at IS NULL",
    )
    .bind(now_unix())
    .bind(stats.total as i64)
    .bind(stats.peak as i64)
    .bind(json)
    .bind(app)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE publish_segments SET ended_ms = ? WHERE live_session_id = ? AND ended_ms IS NULL")
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    state.ingest.clear_live(app);
    state.presence.end_stream(app).await;
    state.metrics.active_streams.dec();
    tracing::info!(%app, session = id, viewers_total = stats.total, viewers_peak = stats.peak, "live session ended");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_publish_soon_after_the_last_one_continues_its_session() {
        let now = 1_000_000;
        assert!(continues(now, Some(now - 30), now - 3600, 660), "a reconnect 30 s after the drop");
        assert!(continues(now, Some(now - 660), now - 3600, 660), "at the edge of the window");
        assert!(!continues(now, Some(now - 661), now - 3600, 660), "a new class after the window");
        assert!(!continues(now, Some(now - 30), now - 60, 0), "joining turned off");
        assert!(!continues(now, None, now - 60, 0), "joining turned off, the end never reported");
        assert!(continues(now, None, now - 3600, 660), "the end was never reported: the class goes on");
        assert!(!continues(now, None, now - STALE_JOIN_MAX_S - 1, 660), "a session left open since yesterday");
    }
}
