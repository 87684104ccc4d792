//! The recording pipeline, run in the background when `on_record_done` arrives.
//! The ingest records one FLV per publish; a live session that continued over
//! reconnects ([`crate::sessions`]) has several, its pieces. Each piece is placed
//! on the session's timeline (the start of its publish), and the session's
//! pieces are joined by ffmpeg (concat, stream copy, the time between pieces
//! left as a gap) into one faststart MP4; a JPEG thumbnail is taken from it,
//! ffprobe measures its duration, and both files are stored through
//! [`crate::storage`] with one `recordings` row for the session, replaced as
//! later pieces arrive ([`process_recording`]).

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

/// One FLV of a session's recording, placed on the session's timeline.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
struct Piece {
    source_path: String,
    started_ms: i64,
    duration_s: f64,
}

/// The ffconcat list that joins `pieces` (in start order) with the time between
/// them as gaps: each piece but the last lasts until the next one starts.
fn concat_list(pieces: &[Piece]) -> String {
    let mut out = String::from("ffconcat version 1.0\n");
    for (i, p) in pieces.iter().enumerate() {
        out.push_str(&format!("file '{}'\n", p.source_path.replace('\'', r"'\''")));
        if let Some(next) = pieces.get(i + 1) {
            let until_next = (next.started_ms - p.started_ms) as f64 / 1000.0;
            out.push_str(&format!("duration {:.3}\n", until_next.max(p.duration_s)));
        }
    }
    out
}

/// Processing of one application's pieces, one at a time (they update the same recording).
async fn turn(app: &str) -> tokio::sync::OwnedMutexGuard<()> {
    static TURNS: std::sync::LazyLock<
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    > = std::sync::LazyLock::new(Default::default);
    let lock = TURNS.lock().unwrap_or_else(|e| e.into_inner()).entry(app.to_string()).or_default().clone();
    lock.lock_owned().await
}

/// Where a piece starts on its session's timeline: the start of the publish it
/// recorded (the segment nearest the second in its file name), else that second.
async fn piece_start_ms(state: &AppState, app: &str, flv: &Path, session: Option<i64>, fallback_ms: i64) -> i64 {
    let Some(named_ms) = ts_from_name(app, flv).map(|s| s * 1000) else { return fallback_ms };
    let nearest: Option<(i64,)> = match session {
        Some(id) => sqlx::query_as(
            "SELECT started_ms FROM publish_segments WHERE live_session_id = ? AND ABS(started_ms - ?) <= 5000 \
             ORDER BY ABS(started_ms - ?) LIMIT 1",
        )
        .bind(id)
        .bind(named_ms)
        .bind(named_ms)
        .fetch_optional(&state.db)
        .await
        .ok()
        .flatten(),
        None => None,
    };
    nearest.map_or(named_ms, |(ms,)| ms)
}

/// Makes the session's recording from its pieces: one MP4 (faststart) and a thumbnail in `work`.
async fn join_pieces(state: &AppState, pieces: &[Piece], mp4: &Path, jpg: &Path) -> Result<f64, ProcessError> {
    let ff = &state.config.ffmpeg;
    let list = mp4.with_extension("ffconcat");
    let _list_cleanup = Cleanup(vec![list.clone()]);
    let input: Vec<&std::ffi::OsStr> = if let [one] = pieces {
        vec![os("-i"), os(&one.source_path)]
    } else {
        tokio::fs::write(&list, concat_list(pieces)).await?;
        vec![os("-f"), os("concat"), os("-safe"), os("0"), os("-i"), list.as_os_str()]
    };
    let mut args = vec![os("-nostdin"), os("-y"), os("-v"), os("error")];
    args.extend(input);
    args.extend([os("-map"), os("0"), os("-c"), os("copy"), os("-movflags"), os("+faststart"), mp4.as_os_str()]);
    run_tool(ff, &args).await?;
    let duration = duration_s(state, mp4).await?;
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
    if tokio::fs::metadata(jpg).await.map(|m| m.len() == 0).unwrap_or(true) {
        return Err(ProcessError::Tool { tool: "ffmpeg".into(), detail: "no thumbnail was written".into() });
    }
    Ok(duration)
}

/// Adds the FLV to its live session's recording: the session's pieces joined
/// (outages as gaps) into one stored MP4 + thumbnail and one `recordings` row,
/// made on the first piece and replaced as later pieces arrive.
/// `Ok(None)`: nothing to keep (no video, or already done).
pub async fn process_recording(
    state: &AppState,
    app: &str,
    flv: &Path,
    closed_at: i64,
) -> Result<Option<i64>, ProcessError> {
    let _turn = turn(app).await;
    let source = flv.display().to_string();
    let done: Option<(i64,)> = sqlx::query_as(
        "SELECT 1 FROM recording_pieces WHERE source_path = ? UNION ALL SELECT 1 FROM recordings WHERE source_path = ?",
    )
    .bind(&source)
    .bind(&source)
    .fetch_optional(&state.db)
    .await?;
    if done.is_some() {
        tracing::info!(%app, "this file was already processed");
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
    let piece_duration = duration_s(state, flv).await?;
    // The live session it belongs to: the latest of this app that started before the file was closed.
    let session: Option<(i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT id, started_at, ended_at FROM live_sessions WHERE app = ? AND started_at <= ? \
         ORDER BY started_at DESC, id DESC LIMIT 1",
    )
    .bind(app)
    .bind(closed_at)
    .fetch_optional(&state.db)
    .await?;
    let session_id = session.map(|s| s.0);
    let fallback_ms = closed_at * 1000 - (piece_duration * 1000.0) as i64;
    let started_ms = piece_start_ms(state, app, flv, session_id, fallback_ms).await;
    sqlx::query(
        "INSERT INTO recording_pieces (live_session_id, source_path, started_ms, duration_s, created_at) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(session_id)
    .bind(&source)
    .bind(started_ms)
    .bind(piece_duration)
    .bind(now_unix())
    .execute(&state.db)
    .await?;
    let mut pieces: Vec<Piece> = match session_id {
        Some(id) => {
            sqlx::query_as(
                "SELECT source_path, started_ms, duration_s FROM recording_pieces WHERE live_session_id = ? \
                 ORDER BY started_ms, id",
            )
            .bind(id)
            .fetch_all(&state.db)
            .await?
        }
        None => vec![],
    };
    pieces.retain(|p| {
        let there = Path::new(&p.source_path).is_file();
        if !there {
            tracing::warn!(%app, file = %p.source_path, "a piece of the recording is gone: joined without it");
        }
        there
    });
    if pieces.is_empty() {
        pieces.push(Piece { source_path: source.clone(), started_ms, duration_s: piece_duration });
    }
    let stem = flv.file_stem().and_then(|s| s.to_str()).unwrap_or("recording").to_string();
    let work = state.config.data_dir.join("work");
    tokio::fs::create_dir_all(&work).await?;
    let mp4 = work.join(format!("{stem}.mp4"));
    let jpg = work.join(format!("{stem}.jpg"));
    let _cleanup = Cleanup(vec![mp4.clone(), jpg.clone()]);
    let duration = join_pieces(state, &pieces, &mp4, &jpg).await?;

    let started_at = match session {
        Some((_, started, _)) => started,
        None => ts_from_name(app, flv).unwrap_or(closed_at - duration.round() as i64),
    };
    let ended_at = session.and_then(|s| s.2).unwrap_or(closed_at).max(started_at);
    let existing: Option<(i64, String, String)> = match session_id {
        Some(id) => {
            sqlx::query_as(
                "SELECT id, media_key, thumbnail_key FROM recordings WHERE live_session_id = ? ORDER BY id LIMIT 1",
            )
            .bind(id)
            .fetch_optional(&state.db)
            .await?
        }
        None => None,
    };
    let (media_key, thumb_key) = match &existing {
        Some((_, m, t)) => (m.clone(), t.clone()),
        None => (format!("{app}/{stem}.mp4"), format!("{app}/{stem}.jpg")),
    };
    let size = state.storage.put_file(&media_key, &mp4).await?;
    state.storage.put_file(&thumb_key, &jpg).await?;
    let id = match existing {
        Some((id, ..)) => {
            sqlx::query("UPDATE recordings SET ended_at = ?, duration_s = ?, size_bytes = ? WHERE id = ?")
                .bind(ended_at)
                .bind(duration)
                .bind(size as i64)
                .bind(id)
                .execute(&state.db)
                .await?;
            id
        }
        None => {
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
            id
        }
    };
    tracing::info!(
        %app,
        recording = id,
        pieces = pieces.len(),
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

    fn piece(path: &str, started_ms: i64, duration_s: f64) -> Piece {
        Piece { source_path: path.into(), started_ms, duration_s }
    }

    #[test]
    fn pieces_are_joined_with_the_outage_as_a_gap() {
        let list = concat_list(&[
            piece("/r/room-a-100.flv", 100_000, 40.0),
            piece("/r/room-a-147.flv", 147_250, 30.5),
            piece("/r/room-a-178.flv", 178_000, 12.0),
        ]);
        assert_eq!(
            list,
            "ffconcat version 1.0\nfile '/r/room-a-100.flv'\nduration 47.250\n\
             file '/r/room-a-147.flv'\nduration 30.750\nfile '/r/room-a-178.flv'\n"
        );
        // A piece that runs past the next one's start (clocks a second apart) keeps its length.
        let list = concat_list(&[piece("/r/a-1.flv", 1_000, 5.0), piece("/r/a-5.flv", 5_000, 1.0)]);
        assert!(list.contains("duration 5.000\n"), "{list}");
        // Quotes in a path are escaped as ffconcat wants.
        assert!(concat_list(&[piece("/r/it's.flv", 0, 1.0)]).contains(r"file '/r/it'\''s.flv'"));
    }
}
