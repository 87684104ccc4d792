//! The local copy: every encoded packet also goes to a file on this computer,
//! written on its own thread — no second encode, and every frame the encoder
//! produced, those the network lost included.
//!
//! The file is FLV: append-only, each tag whole in itself, so a copy cut short
//! (a crash, `kill -9`) plays up to its last whole tag, and `mentorcast verify`
//! reads it as it reads the ingest's recordings. It is flushed about every
//! half second, so at most that much sits in the process when it dies (the
//! kernel keeps what was written). A full disk or an unwritable folder stops
//! the copy, never the broadcast, and says so in the stats.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use mentorcast_protocol::flv;

use crate::output::MediaPacket;

const FLUSH_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot create the local copy {path}: {source}")]
    Create { path: String, source: std::io::Error },
    #[error("cannot create the folder {path} for local copies: {source}")]
    Folder { path: String, source: std::io::Error },
}

/// Where the copy stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum CopyState {
    Recording,
    /// It could not go on (the reason says why); the broadcast did.
    Stopped,
    /// The broadcast ended and the file is complete.
    Finished,
}

/// The local copy in the stats.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CopyStatus {
    pub path: PathBuf,
    pub state: CopyState,
    pub reason: Option<String>,
    pub bytes: u64,
    pub video_frames: u64,
    pub audio_frames: u64,
}

/// A running local copy.
pub struct LocalCopy {
    tx: Option<Sender<MediaPacket>>,
    status: Arc<Mutex<CopyStatus>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LocalCopy {
    /// Starts a copy at `target`: a file, or a folder (which is made) that gets
    /// `mentorcast-YYYYMMDD-HHMMSS.flv`. `audio_config` is the AAC sequence header's.
    pub fn start(target: &Path, has_video: bool, audio_config: Option<[u8; 2]>) -> Result<LocalCopy, RecordError> {
        let path = if target.is_dir() || target.to_string_lossy().ends_with('/') {
            std::fs::create_dir_all(target)
                .map_err(|source| RecordError::Folder { path: target.display().to_string(), source })?;
            target.join(format!("mentorcast-{}.flv", utc_stamp(SystemTime::now())))
        } else {
            if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .map_err(|source| RecordError::Folder { path: parent.display().to_string(), source })?;
            }
            target.to_path_buf()
        };
        let file =
            File::create(&path).map_err(|source| RecordError::Create { path: path.display().to_string(), source })?;
        let status = Arc::new(Mutex::new(CopyStatus {
            path: path.clone(),
            state: CopyState::Recording,
            reason: None,
            bytes: 0,
            video_frames: 0,
            audio_frames: 0,
        }));
        let (tx, rx) = std::sync::mpsc::channel();
        let st = status.clone();
        let thread = std::thread::Builder::new()
            .name("local-copy".into())
            .spawn(move || write_loop(BufWriter::with_capacity(256 * 1024, file), rx, st, has_video, audio_config))
            .map_err(|source| RecordError::Create { path: path.display().to_string(), source })?;
        tracing::info!(path = %path.display(), "local copy started");
        Ok(LocalCopy { tx: Some(tx), status, thread: Some(thread) })
    }

    /// Where the copy's packets go (the encoders' hand-over sends a clone of each).
    pub fn sender(&self) -> Option<Sender<MediaPacket>> {
        self.tx.clone()
    }

    pub fn status(&self) -> CopyStatus {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits for the writer to finish what it holds (once every sender is gone) and closes the file.
    pub fn finish(mut self) -> CopyStatus {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.status()
    }
}

impl Drop for LocalCopy {
    fn drop(&mut self) {
        self.tx = None;
    }
}

fn write_loop(
    mut out: BufWriter<File>,
    rx: Receiver<MediaPacket>,
    status: Arc<Mutex<CopyStatus>>,
    has_video: bool,
    audio_config: Option<[u8; 2]>,
) {
    let set = |f: &dyn Fn(&mut CopyStatus)| f(&mut status.lock().unwrap_or_else(|p| p.into_inner()));
    let mut w = FlvWriter { out: &mut out, bytes: 0 };
    let mut failed: Option<String> = w.header(audio_config.is_some(), has_video).err().map(|e| e.to_string());
    let mut audio_header = audio_config.is_none();
    let mut last_flush = Instant::now();
    let (mut video_frames, mut audio_frames) = (0u64, 0u64);
    for p in rx {
        if failed.is_some() {
            // The copy stopped: drain and drop, the broadcast goes on.
            continue;
        }
        let r = match &p {
            MediaPacket::Video(v) => {
                let ts = (v.pts_us.max(0) / 1000) as u32;
                let mut r = Ok(());
                if let Some(cfg) = &v.config {
                    r = w.tag(flv::TAG_VIDEO, ts, &flv::video_sequence_header(cfg));
                }
                video_frames += 1;
                r.and_then(|()| {
                    w.tag(flv::TAG_VIDEO, ts, &flv::video_nalus(v.keyframe, 0, v.nals.iter().map(Bytes::as_ref)))
                })
            }
            MediaPacket::Audio(a) => {
                let ts = (a.pts_us.max(0) / 1000) as u32;
                let mut r = Ok(());
                if !audio_header {
                    audio_header = true;
                    r = w.tag(flv::TAG_AUDIO, ts, &flv::audio_sequence_header(&audio_config.unwrap_or([0x11, 0x90])));
                }
                audio_frames += 1;
                r.and_then(|()| w.tag(flv::TAG_AUDIO, ts, &flv::audio_frame(&a.data)))
            }
        };
        let r = r.and_then(|()| {
            if last_flush.elapsed() >= FLUSH_EVERY {
                last_flush = Instant::now();
                w.out.flush()
            } else {
                Ok(())
            }
        });
        let bytes = w.bytes;
        match r {
            Ok(()) => set(&|s| {
                s.bytes = bytes;
                s.video_frames = video_frames;
                s.audio_frames = audio_frames;
            }),
            Err(e) => {
                let reason = format!("writing the local copy failed ({e}); the broadcast goes on without it");
                tracing::warn!("{reason}");
                failed = Some(reason);
            }
        }
        if let Some(reason) = &failed {
            set(&|s| {
                s.state = CopyState::Stopped;
                s.reason = Some(reason.clone());
            });
        }
    }
    if failed.is_none() {
        match out.flush().and_then(|()| out.get_ref().sync_all()) {
            Ok(()) => set(&|s| s.state = CopyState::Finished),
            Err(e) => set(&|s| {
                s.state = CopyState::Stopped;
                s.reason = Some(format!("closing the local copy failed ({e})"));
            }),
        }
    } else {
        set(&|s| {
            s.state = CopyState::Stopped;
            s.reason = failed.clone();
        });
    }
}

struct FlvWriter<'a> {
    out: &'a mut BufWriter<File>,
    bytes: u64,
}

impl FlvWriter<'_> {
    fn header(&mut self, has_audio: bool, has_video: bool) -> std::io::Result<()> {
        let b = flv::file_header(has_audio, has_video);
        self.out.write_all(&b)?;
        self.bytes += b.len() as u64;
        Ok(())
    }

    fn tag(&mut self, kind: u8, timestamp_ms: u32, body: &[u8]) -> std::io::Result<()> {
        let b = flv::file_tag(kind, timestamp_ms, body);
        self.out.write_all(&b)?;
        self.bytes += b.len() as u64;
        Ok(())
    }
}

/// A local copy on disk, as the app lists them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CopyFile {
    pub path: PathBuf,
    /// When it was last written (the end of the broadcast), seconds since the epoch.
    pub modified_s: u64,
    /// From the first to the last tag's timestamp, plus one frame; None when no tag is whole.
    pub duration_s: Option<f64>,
    pub size_bytes: u64,
}

/// The local copies (`*.flv`) in `dir`, newest first. A folder that does not exist holds none.
pub fn list_copies(dir: &Path) -> std::io::Result<Vec<CopyFile>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "flv") {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let modified_s =
            meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs());
        let duration_s = File::open(&path).ok().and_then(|f| span_ms(std::io::BufReader::new(f)).ok().flatten());
        out.push(CopyFile {
            path,
            modified_s,
            duration_s: duration_s.map(|(a, b)| (b.saturating_sub(a) as f64 + 33.0) / 1000.0),
            size_bytes: meta.len(),
        });
    }
    out.sort_by(|a, b| b.modified_s.cmp(&a.modified_s).then_with(|| b.path.cmp(&a.path)));
    Ok(out)
}

/// The first and last timestamps (ms) of the whole tags of an FLV stream, reading
/// only the tag headers (a copy of an hour is a gigabyte or more).
fn span_ms(mut r: impl std::io::Read + std::io::Seek) -> std::io::Result<Option<(u32, u32)>> {
    use std::io::SeekFrom;
    let end = r.seek(SeekFrom::End(0))?;
    r.seek(SeekFrom::Start(0))?;
    let mut head = [0u8; 9];
    if r.read_exact(&mut head).is_err() || &head[..3] != b"FLV" {
        return Ok(None);
    }
    let mut pos = u64::from(u32::from_be_bytes([head[5], head[6], head[7], head[8]])) + 4;
    let mut span: Option<(u32, u32)> = None;
    let mut tag = [0u8; 11];
    while pos + 11 <= end {
        r.seek(SeekFrom::Start(pos))?;
        r.read_exact(&mut tag)?;
        let size = u64::from(u32::from_be_bytes([0, tag[1], tag[2], tag[3]]));
        if pos + 11 + size > end {
            break; // cut short (a crash): what is whole counts
        }
        let ts = u32::from_be_bytes([tag[7], tag[4], tag[5], tag[6]]);
        span = Some(span.map_or((ts, ts), |(a, b)| (a.min(ts), b.max(ts))));
        pos += 11 + size + 4;
    }
    Ok(span)
}

/// `YYYYMMDD-HHMMSS` in UTC.
pub fn utc_stamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", rem / 3600, rem / 60 % 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{AudioPacket, VideoPacket};

    #[test]
    fn copies_are_listed_newest_first_with_their_duration_even_when_cut_short() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = flv::file_header(true, true).to_vec();
        for ts in [0u32, 33, 66, 5000] {
            bytes.extend(flv::file_tag(9, ts, &[0x17, 1, 0, 0, 0, 0xAA]));
        }
        let whole = bytes.len();
        bytes.extend(&flv::file_tag(9, 9000, &[0x27; 64])[..20]); // a tag cut by kill -9
        std::fs::write(dir.path().join("a.flv"), &bytes).unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"not a copy").unwrap();
        std::fs::write(dir.path().join("b.flv"), b"FLV garbage").unwrap();
        let list = list_copies(dir.path()).unwrap();
        assert_eq!(list.len(), 2, "{list:?}");
        let a = list.iter().find(|c| c.path.ends_with("a.flv")).unwrap();
        assert_eq!(a.duration_s, Some(5.033));
        assert!(a.size_bytes > whole as u64);
        assert_eq!(list.iter().find(|c| c.path.ends_with("b.flv")).unwrap().duration_s, None);
        assert!(list_copies(&dir.path().join("missing")).unwrap().is_empty());
    }

    #[test]
    fn stamps_are_utc_calendar_times() {
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101-000000");
        assert_eq!(utc_stamp(UNIX_EPOCH + Duration::from_secs(1_796_233_311)), "20261202-174151");
        assert_eq!(utc_stamp(UNIX_EPOCH + Duration::from_secs(951_782_400)), "20000229-000000");
    }

    fn video(i: u64, keyframe: bool) -> MediaPacket {
        MediaPacket::Video(VideoPacket {
            pts_us: i as i64 * 33_333,
            keyframe,
            nals: vec![Bytes::from(vec![if keyframe { 0x65 } else { 0x41 }; 100])],
            config: (i == 0).then(|| Bytes::from_static(&[1, 0x42, 0xc0, 0x1f, 0xff, 0xe1, 0, 1, 0x67, 1, 0x68])),
            index: i,
        })
    }

    #[test]
    fn writes_every_packet_as_flv_and_a_cut_file_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let copy = LocalCopy::start(&dir.path().join("copies/"), true, Some([0x11, 0x90])).unwrap();
        let tx = copy.sender().unwrap();
        for i in 0..30 {
            tx.send(video(i, i % 10 == 0)).unwrap();
            tx.send(MediaPacket::Audio(AudioPacket {
                pts_us: i as i64 * 21_333,
                data: Bytes::from_static(&[0x21; 20]),
            }))
            .unwrap();
        }
        drop(tx);
        let st = copy.finish();
        assert_eq!(st.state, CopyState::Finished);
        assert_eq!((st.video_frames, st.audio_frames), (30, 30));
        assert!(st.path.starts_with(dir.path().join("copies")) && st.path.extension().unwrap() == "flv");
        let data = std::fs::read(&st.path).unwrap();
        assert_eq!(data.len() as u64, st.bytes);
        let tags = flv::read_file(&data).unwrap();
        // sequence headers + 30 + 30
        assert_eq!(tags.len(), 62);
        assert_eq!(tags.iter().filter(|t| t.kind == flv::TAG_VIDEO).count(), 31);
        // A file cut in the middle of a tag reads up to its last whole tag.
        assert_eq!(flv::read_file(&data[..data.len() - 20]).unwrap().len(), 61);
    }

    #[test]
    fn a_write_error_stops_the_copy_and_says_why() {
        // /dev/full: every write fails with ENOSPC, as a full disk does.
        let copy = LocalCopy::start(Path::new("/dev/full"), true, None).unwrap();
        let tx = copy.sender().unwrap();
        for i in 0..200 {
            let _ = tx.send(video(i, i % 30 == 0));
        }
        drop(tx);
        let st = copy.finish();
        assert_eq!(st.state, CopyState::Stopped);
        assert!(st.reason.as_deref().unwrap_or("").contains("No space left"), "{:?}", st.reason);
    }

    #[test]
    fn an_unwritable_folder_is_refused_at_once() {
        let e = LocalCopy::start(Path::new("/proc/mentorcast-no/"), true, None).err().unwrap();
        assert!(e.to_string().contains("/proc/mentorcast-no"), "{e}");
    }
}
