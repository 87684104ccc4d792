//! The recording pipeline, run in the background when `on_record_done` arrives:
//! the ingest's FLV is remuxed by ffmpeg into a faststart MP4, a JPEG thumbnail
//! is taken from it, ffprobe measures its duration, and both files are stored
//! through [`crate::storage`] with a `recordings` row tied to the live session
//! they came from ([`process_recording`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::identity::now_unix;
use crate::AppState;

/// Why a recording could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("{tool} failed: {detail}")]
    Tool { tool: String, detail: String },
    #[error("storage: {0}")]
    Storage(#[from] crate::storage::StorageError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

const TOOL_TIMEOUT: Duration = Duration::from_secs(600);

async fn run_tool(prog: &Path, args: &[&std::ffi::OsStr]) -> Result<String, ProcessError> {
    let tool = prog.display().to_string();
    let run =
        tokio::process::Command::new(prog).args(args).stdin(std::process::Stdio::null()).kill_on_drop(true).output();
    let out = tokio::time::timeout(TOOL_TIMEOUT, run)
        .await
        .map_err(|_| ProcessError::Tool { tool: tool.clone(), detail: "timed out".into() })?
        .map_err(|e| ProcessError::Tool { tool: tool.clone(), detail: e.to_string() })?;
    if !out.status.success() {
        let mut detail = String::from_utf8_lossy(&out.stderr).trim().to_string();
        detail.truncate(500);
        return Err(ProcessError::Tool { tool, detail: format!("{}: {detail}", out.status) });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

/// Video packets in the file (0 when it has no video stream).
async fn video_packets(state: &AppState, file: &Path) -> Result<u64, ProcessError> {
    let out = run_tool(
        &state.config.ffprobe,
        &[
            os("-v"),
            os("error"),
            os("-count_packets"),
            os("-select_streams"),
            os("v:0"),
            os("-show_entries"),
            os("stream=nb_read_packets"),
            os("-of"),
            os("csv=p=0"),
            file.as_os_str(),
        ],
    )
    .await?;
    Ok(out.lines().next().and_then(|l| l.trim().trim_end_matches(',').parse().ok()).unwrap_or(0))
}

async fn duration_s(state: &AppState, file: &Path) -> Result<f64, ProcessError> {
    let out = run_tool(
        &state.config.ffprobe,
        &[
            os("-v"),
            os("error"),
            os("-show_entries"),
            os("format=duration"),
            os("-of"),
            os("csv=p=0"),
            file.as_os_str(),
        ],
    )
    .await?;
    out.trim()
        .parse::<f64>()
        .map_err(|_| ProcessError::Tool { tool: "ffprobe".into(), detail: format!("no duration in {out:?}") })
}

/// Unix seconds in a recorded file's name (`{app}-{ts}.flv`), if any.
fn ts_from_name(app: &str, file: &Path) -> Option<i64> {
    let stem = file.file_stem()?.to_str()?;
    stem.strip_prefix(app)?.strip_prefix('-')?.parse().ok()
}

/// Removes the listed files when dropped (the work files of one recording).
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Turns the FLV into a stored MP4 + thumbnail and a `recordings` row.
/// `Ok(None)`: nothing to keep (no video, or already done).
pub async fn process_recording(
    state: &AppState,
    app: &str,
    flv: &Path,
    closed_at: i64,
) -> Result<Option<i64>, ProcessError> {
    let source = flv.display().to_string();
    let done: Option<(i64,)> = sqlx::query_as("SELECT id FROM recordings WHERE source_path = ?")
        .bind(&source)
        .fetch_optional(&state.db)
        .await?;
    if let Some((id,)) = done {
        tracing::info!(%app, recording = id, "this file was already processed");
        return Ok(None);
    }
    let Some(ch) = crate::channels::by_app(&state.db, app).await? else {
        tracing::warn!(%app, "a recording of an application without a channel: skipped");
        return Ok(None);
    };
    let packets = video_packets(state, flv).await.unwrap_or(0);
    if packets == 0 {
        tracing::warn!(%app, file = %flv.display(), "the recording has no video frames: skipped");
        return Ok(None);
    }
    let stem = flv.file_stem().and_then(|s| s.to_str()).unwrap_or("recording").to_string();
    let work = state.config.data_dir.join("work");
    tokio::fs::create_dir_all(&work).await?;
    let mp4 = work.join(format!("{stem}.mp4"));
    let jpg = work.join(format!("{stem}.jpg"));
    let _cleanup = Cleanup(vec![mp4.clone(), jpg.clone()]);
    let ff = &state.config.ffmpeg;
    run_tool(
        ff,
        &[
            os("-nostdin"),
            os("-y"),
            os("-v"),
            os("error"),
            os("-i"),
            flv.as_os_str(),
            os("-map"),
            os("0"),
            os("-c"),
            os("copy"),
            os("-movflags"),
            os("+faststart"),
            mp4.as_os_str(),
        ],
    )
    .await?;
    let duration = duration_s(state, &mp4).await?;
    // A frame 1 s in (or from the middle of a shorter recording).
    let at = format!("{:.3}", (duration / 2.0).min(1.0));
    run_tool(
        ff,
        &[
            os("-nostdin"),
            os("-y"),
            os("-v"),
            os("error"),
            os("-ss"),
            os(&at),
            os("-i"),
            mp4.as_os_str(),
            os("-frames:v"),
            os("1"),
            os("-vf"),
            os("scale=320:-2"),
            os("-q:v"),
            os("4"),
            jpg.as_os_str(),
        ],
    )
    .await?;
    if tokio::fs::metadata(&jpg).await.map(|m| m.len() == 0).unwrap_or(true) {
        return Err(ProcessError::Tool { tool: "ffmpeg".into(), detail: "no thumbnail was written".into() });
    }
    // The live session it belongs to: the latest of this app that started before the file was closed.
    let session: Option<(i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT id, started_at, ended_at FROM live_sessions WHERE app = ? AND started_at <= ? \
         ORDER BY started_at DESC, id DESC LIMIT 1",
    )
    .bind(app)
    .bind(closed_at)
    .fetch_optional(&state.db)
    .await?;
    let (session_id, started_at) = match session {
        Some((id, started, _)) => (Some(id), started),
        None => (None, ts_from_name(app, flv).unwrap_or(closed_at - duration.round() as i64)),
    };
    let ended_at = session.and_then(|s| s.2).unwrap_or(closed_at).max(started_at);
    let media_key = format!("{app}/{stem}.mp4");
    let thumb_key = format!("{app}/{stem}.jpg");
    let size = state.storage.put_file(&media_key, &mp4).await?;
    state.storage.put_file(&thumb_key, &jpg).await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO recordings (live_session_id, app, mentor_sub, mentor_username, started_at, ended_at, \
         duration_s, size_bytes, media_key, thumbnail_key, source_path, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(session_id)
    .bind(app)
    .bind(&ch.mentor_sub)
    .bind(&ch.mentor_username)
    .bind(started_at)
    .bind(ended_at)
    .bind(duration)
    .bind(size as i64)
    .bind(&media_key)
    .bind(&thumb_key)
    .bind(&source)
    .bind(now_unix())
    .fetch_one(&state.db)
    .await?;
    tracing::info!(
        %app,
        recording = id,
        duration_s = duration,
        size_bytes = size,
        session = ?session_id,
        "recording processed"
    );
    Ok(Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_from_file_names() {
        assert_eq!(ts_from_name("room-a", Path::new("/r/room-a-1795562609.flv")), Some(1795562609));
        assert_eq!(ts_from_name("room-a", Path::new("/r/room-a-2-1795562609.flv")), None);
        assert_eq!(ts_from_name("room-a", Path::new("/r/other-1.flv")), None);
    }
}
