//! A broadcast session: wires sources → encoders → output, runs the state
//! machine (idle → connecting → live → ending → ended, or failed with a
//! reason; reconnecting while live) and publishes stats about once a second.
//! Callers (CLI, app) only subscribe to [`SessionState`] and [`Stats`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mentorcast_media::{AudioChunk, AudioSource, MediaClock, SourceStatus, VideoSource};
use tokio::sync::{mpsc, watch};

use crate::encode::{AudioEncoder, AudioSettings, VideoEncoder, VideoOutput, VideoSettings};
use crate::output::{MediaPacket, Output, ReconnectPolicy};
use crate::queue::DropOldest;
use crate::rtmp::{FailureKind, RtmpError, TlsOptions};
use crate::service::Service;

/// Raw frames waiting for the encoder (about 130 ms at 30 fps).
const RAW_VIDEO_QUEUE: usize = 4;
/// Encoded packets waiting for the output (a few seconds of both tracks).
const PACKET_QUEUE: usize = 512;
const STATS_INTERVAL: Duration = Duration::from_millis(1000);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct BroadcastConfig {
    pub service: Service,
    pub tls: TlsOptions,
    pub video: Option<VideoSettings>,
    pub audio: Option<AudioSettings>,
    /// Stop by itself after this long live (None: until stopped).
    pub duration: Option<Duration>,
    pub reconnect: ReconnectPolicy,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SessionState {
    Idle,
    Connecting,
    Live,
    Reconnecting { attempt: u32, max_attempts: u32, reason: String },
    Ending,
    Ended,
    Failed { kind: FailureKind, reason: String },
}

impl SessionState {
    pub fn name(&self) -> &'static str {
        match self {
            SessionState::Idle => "idle",
            SessionState::Connecting => "connecting",
            SessionState::Live => "live",
            SessionState::Reconnecting { .. } => "reconnecting",
            SessionState::Ending => "ending",
            SessionState::Ended => "ended",
            SessionState::Failed { .. } => "failed",
        }
    }
}

/// Peak and RMS of the audio sent (after mute), dBFS, over the last 100 ms
/// window; −inf (serialized as null) for digital silence.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct AudioLevel {
    pub peak_dbfs: Option<f64>,
    pub rms_dbfs: Option<f64>,
}

impl AudioLevel {
    /// Level of interleaved 16-bit samples (all channels together).
    pub fn of(samples: &[i16]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        let (mut peak, mut sum) = (0f64, 0f64);
        for &s in samples {
            let v = s as f64 / 32768.0;
            peak = peak.max(v.abs());
            sum += v * v;
        }
        let rms = (sum / samples.len() as f64).sqrt();
        let db = |x: f64| (x > 0.0).then(|| 20.0 * x.log10());
        Self { peak_dbfs: db(peak), rms_dbfs: db(rms) }
    }
}

/// Audio level window: 100 ms (the meter updates at 10 Hz).
const LEVEL_WINDOW_FRAMES: usize = 4800;

/// Stats, refreshed about once a second while live.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Stats {
    pub state: String,
    /// Seconds since going live.
    pub elapsed_s: f64,
    pub frames_captured: u64,
    pub frames_encoded: u64,
    pub frames_sent: u64,
    /// Dropped anywhere: at capture (source fell behind or the encoder lagged) and by the output's policy.
    pub frames_dropped: u64,
    /// Skipped by the encoder's rate control.
    pub frames_skipped: u64,
    pub audio_frames_sent: u64,
    pub audio_frames_dropped: u64,
    /// Video frames sent per second over the last interval.
    pub fps: f64,
    pub video_kbps: f64,
    pub audio_kbps: f64,
    /// Age of the last video frame when it was sent (capture → socket).
    pub queue_delay_ms: f64,
    pub bytes_sent: u64,
    pub reconnects: u32,
    /// Time from going live to the first video frame written to the socket.
    pub first_frame_ms: Option<f64>,
    /// The last 100 ms of audio sent (None without audio).
    pub audio_level: Option<AudioLevel>,
    /// Audio is being replaced by silence ([`Broadcast::set_muted`]).
    pub muted: bool,
    /// "active" or "unavailable: …" for device sources; None for synthetic or absent ones.
    pub mic_state: Option<String>,
    pub camera_state: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct BroadcastFailure {
    pub kind: FailureKind,
    pub message: String,
}

impl From<RtmpError> for BroadcastFailure {
    fn from(e: RtmpError) -> Self {
        Self { kind: e.kind(), message: e.to_string() }
    }
}

#[derive(Default)]
struct Counters {
    captured: AtomicU64,
    capture_dropped: AtomicU64,
    encoded: AtomicU64,
    skipped: AtomicU64,
    encode_dropped: AtomicU64,
}

/// A running broadcast.
pub struct Broadcast {
    muted: Arc<AtomicBool>,
    level: watch::Receiver<Option<AudioLevel>>,
    state: watch::Receiver<SessionState>,
    stats: watch::Receiver<Stats>,
    stop: Arc<watch::Sender<bool>>,
    task: tokio::task::JoinHandle<Result<Stats, BroadcastFailure>>,
}

/// Ends a broadcast cleanly from anywhere (e.g. a Ctrl-C handler).
#[derive(Clone)]
pub struct StopHandle(Arc<watch::Sender<bool>>);

impl StopHandle {
    pub fn stop(&self) {
        let _ = self.0.send(true);
    }
}

impl Broadcast {
    /// Starts the session on the current tokio runtime. Sources were opened by
    /// the caller; they get the session clock once the ingest accepts the publish.
    pub fn start(
        config: BroadcastConfig,
        video: Option<Box<dyn VideoSource>>,
        audio: Option<Box<dyn AudioSource>>,
    ) -> Self {
        let (state_tx, state) = watch::channel(SessionState::Idle);
        let (stats_tx, stats) = watch::channel(Stats { state: "idle".into(), ..Stats::default() });
        let (stop_tx, stop_rx) = watch::channel(false);
        let muted = Arc::new(AtomicBool::new(false));
        let (level_tx, level) = watch::channel(None);
        let io = SessionIo { state_tx, stats_tx, level_tx, muted: muted.clone() };
        let task = tokio::spawn(run(config, video, audio, io, stop_rx));
        Self { muted, level, state, stats, stop: Arc::new(stop_tx), task }
    }

    /// Mutes or unmutes the audio: while muted, silence is sent in its place
    /// (the audio track goes on, with no gap).
    pub fn set_muted(&self, muted: bool) {
        self.muted.store(muted, Ordering::Relaxed);
    }

    /// A handle to mute from elsewhere (e.g. a control task).
    pub fn mute_handle(&self) -> Arc<AtomicBool> {
        self.muted.clone()
    }

    /// The audio level meter, updated every 100 ms of audio (None until the first window).
    pub fn audio_level(&self) -> watch::Receiver<Option<AudioLevel>> {
        self.level.clone()
    }

    pub fn state(&self) -> watch::Receiver<SessionState> {
        self.state.clone()
    }

    pub fn stats(&self) -> watch::Receiver<Stats> {
        self.stats.clone()
    }

    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(self.stop.clone())
    }

    /// Waits for the end; returns the final stats, or why it failed.
    pub async fn wait(self) -> Result<Stats, BroadcastFailure> {
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(BroadcastFailure {
                kind: FailureKind::ConnectionLost,
                message: format!("the session task failed: {e}"),
            }),
        }
    }
}

struct SessionIo {
    state_tx: watch::Sender<SessionState>,
    stats_tx: watch::Sender<Stats>,
    level_tx: watch::Sender<Option<AudioLevel>>,
    muted: Arc<AtomicBool>,
}

struct Pipeline {
    stop_sources: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    video_status: Option<SourceStatus>,
    audio_status: Option<SourceStatus>,
}

/// Applies mute and measures the level of one chunk on its way to the encoder.
struct AudioTap {
    muted: Arc<AtomicBool>,
    level_tx: watch::Sender<Option<AudioLevel>>,
    window: Vec<i16>,
}

impl AudioTap {
    fn process(&mut self, chunk: &mut AudioChunk) {
        if self.muted.load(Ordering::Relaxed) {
            chunk.samples.fill(0);
        }
        let per = mentorcast_media::AUDIO_CHANNELS as usize;
        let mut rest = &chunk.samples[..];
        while !rest.is_empty() {
            let want = LEVEL_WINDOW_FRAMES * per - self.window.len();
            let take = want.min(rest.len());
            self.window.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.window.len() == LEVEL_WINDOW_FRAMES * per {
                let _ = self.level_tx.send(Some(AudioLevel::of(&self.window)));
                self.window.clear();
            }
        }
    }
}

fn spawn_pipeline(
    config: &BroadcastConfig,
    clock: MediaClock,
    video: Option<Box<dyn VideoSource>>,
    audio: Option<Box<dyn AudioSource>>,
    tx: mpsc::Sender<MediaPacket>,
    counters: Arc<Counters>,
    keyframe_request: Arc<AtomicBool>,
    mut tap: AudioTap,
) -> Result<(Pipeline, Option<[u8; 2]>), BroadcastFailure> {
    let stop_sources = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    let video_status = video.as_ref().and_then(|v| v.status());
    let audio_status = audio.as_ref().and_then(|a| a.status());
    let enc_err =
        |e: crate::encode::EncodeError| BroadcastFailure { kind: FailureKind::Config, message: e.to_string() };
    let mut asc = None;

    if let (Some(mut src), Some(settings)) = (video, config.video) {
        let mut encoder = VideoEncoder::new(settings).map_err(enc_err)?;
        let queue = Arc::new(DropOldest::new(RAW_VIDEO_QUEUE));
        src.start(clock);
        let (q, stop, c) = (queue.clone(), stop_sources.clone(), counters.clone());
        threads.push(spawn_named("video-capture", move || {
            let mut last_index: Option<u64> = None;
            while !stop.load(Ordering::Relaxed) {
                match src.next_frame() {
                    Ok(frame) => {
                        if let Some(last) = last_index {
                            // The source fell behind and skipped frames: they count as dropped.
                            let gap = frame.index.saturating_sub(last + 1);
                            c.capture_dropped.fetch_add(gap, Ordering::Relaxed);
                        }
                        last_index = Some(frame.index);
                        c.captured.fetch_add(1, Ordering::Relaxed);
                        if q.push(frame).is_some() {
                            c.capture_dropped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        tracing::warn!("video source ended: {e}");
                        break;
                    }
                }
            }
            q.close();
        }));
        let (tx, c, kf) = (tx.clone(), counters.clone(), keyframe_request);
        threads.push(spawn_named("video-encode", move || {
            while let Some(frame) = queue.pop() {
                if kf.swap(false, Ordering::Relaxed) {
                    encoder.force_keyframe();
                    encoder.resend_config();
                }
                match encoder.encode(&frame) {
                    Ok(VideoOutput::Packet(p)) => {
                        c.encoded.fetch_add(1, Ordering::Relaxed);
                        match tx.try_send(MediaPacket::Video(p)) {
                            Ok(()) => {}
                            Err(mpsc::error::TrySendError::Full(_)) => {
                                // The output is far behind: drop, and restart at a keyframe.
                                c.encode_dropped.fetch_add(1, Ordering::Relaxed);
                                kf.store(true, Ordering::Relaxed);
                            }
                            Err(mpsc::error::TrySendError::Closed(_)) => break,
                        }
                    }
                    Ok(VideoOutput::Skipped) => {
                        c.skipped.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        tracing::error!("video encoder failed: {e}");
                        break;
                    }
                }
            }
        }));
    }

    if let (Some(mut src), Some(settings)) = (audio, config.audio) {
        let mut encoder = AudioEncoder::new(settings).map_err(enc_err)?;
        asc = Some(encoder.specific_config());
        let (raw_tx, raw_rx) = std::sync::mpsc::sync_channel(100);
        src.start(clock);
        let stop = stop_sources.clone();
        threads.push(spawn_named("audio-capture", move || {
            while !stop.load(Ordering::Relaxed) {
                match src.next_chunk() {
                    Ok(mut chunk) => {
                        tap.process(&mut chunk);
                        if raw_tx.send(chunk).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!("audio source ended: {e}");
                        break;
                    }
                }
            }
        }));
        let tx = tx.clone();
        threads.push(spawn_named("audio-encode", move || {
            while let Ok(chunk) = raw_rx.recv() {
                match encoder.encode(&chunk) {
                    Ok(packets) => {
                        for p in packets {
                            // Audio is never dropped here: wait for room.
                            if tx.blocking_send(MediaPacket::Audio(p)).is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        tracing::error!("audio encoder failed: {e}");
                        return;
                    }
                }
            }
        }));
    }
    Ok((Pipeline { stop_sources, threads, video_status, audio_status }, asc))
}

fn spawn_named(name: &str, f: impl FnOnce() + Send + 'static) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new().name(name.into()).spawn(f).expect("spawning a thread")
}

async fn run(
    config: BroadcastConfig,
    video: Option<Box<dyn VideoSource>>,
    audio: Option<Box<dyn AudioSource>>,
    io: SessionIo,
    mut stop_rx: watch::Receiver<bool>,
) -> Result<Stats, BroadcastFailure> {
    let SessionIo { state_tx, stats_tx, level_tx, muted } = io;
    let level_rx = level_tx.subscribe();
    let tap = AudioTap { muted: muted.clone(), level_tx, window: Vec::new() };
    let set_state = |s: SessionState| {
        tracing::info!(state = s.name(), "session state");
        let _ = state_tx.send(s);
    };
    let fail = |f: BroadcastFailure| {
        let _ = state_tx.send(SessionState::Failed { kind: f.kind, reason: f.message.clone() });
        f
    };
    set_state(SessionState::Connecting);
    let mut output = Output::new(config.service.clone(), config.tls.clone(), config.video, config.audio);
    tokio::select! {
        r = output.connect() => r.map_err(|e| fail(e.into()))?,
        _ = stop_rx.wait_for(|s| *s) => {
            set_state(SessionState::Ended);
            return Ok(Stats { state: "ended".into(), ..Stats::default() });
        }
    }

    let clock = MediaClock::start();
    let counters = Arc::new(Counters::default());
    let (tx, mut rx) = mpsc::channel(PACKET_QUEUE);
    let (pipeline, asc) =
        spawn_pipeline(&config, clock, video, audio, tx, counters.clone(), output.keyframe_request.clone(), tap)
            .map_err(fail)?;
    let (video_status, audio_status) = (pipeline.video_status.clone(), pipeline.audio_status.clone());
    let has_audio = config.audio.is_some() && asc.is_some();
    if let Some(asc) = asc {
        output.set_audio_config(asc);
    }
    let live_at = tokio::time::Instant::now();
    set_state(SessionState::Live);

    let mut stats = Stats::default();
    let mut last = (live_at, 0u64, 0u64, 0u64);
    let mut ticker = tokio::time::interval_at(live_at + STATS_INTERVAL, STATS_INTERVAL);
    let deadline = config.duration.map(|d| live_at + d);
    let mut ending = false;
    let mut drain_deadline = None;
    let mut failure: Option<BroadcastFailure> = None;
    let mut reconnect_attempt = 0u32;
    let mut next_reconnect: Option<tokio::time::Instant> = None;

    let make_stats = |output: &Output, state: &str, last: &mut (tokio::time::Instant, u64, u64, u64)| {
        let now = tokio::time::Instant::now();
        let dt = now.duration_since(last.0).as_secs_f64().max(1e-3);
        let c = &output.counters;
        let s = Stats {
            state: state.into(),
            elapsed_s: now.duration_since(live_at).as_secs_f64(),
            frames_captured: counters.captured.load(Ordering::Relaxed),
            frames_encoded: counters.encoded.load(Ordering::Relaxed),
            frames_sent: c.video_frames_sent,
            frames_dropped: counters.capture_dropped.load(Ordering::Relaxed)
                + counters.encode_dropped.load(Ordering::Relaxed)
                + c.video_dropped,
            frames_skipped: counters.skipped.load(Ordering::Relaxed),
            audio_frames_sent: c.audio_frames_sent,
            audio_frames_dropped: c.audio_dropped,
            fps: (c.video_frames_sent - last.1) as f64 / dt,
            video_kbps: (c.video_payload_bytes - last.2) as f64 * 8.0 / dt / 1000.0,
            audio_kbps: (c.audio_payload_bytes - last.3) as f64 * 8.0 / dt / 1000.0,
            queue_delay_ms: c.last_video_delay_us as f64 / 1000.0,
            bytes_sent: output.bytes_sent(),
            reconnects: c.reconnects,
            first_frame_ms: output.first_video_sent_at.map(|t| t.duration_since(live_at).as_secs_f64() * 1000.0),
            audio_level: if has_audio { Some((*level_rx.borrow()).unwrap_or_default()) } else { None },
            muted: muted.load(Ordering::Relaxed),
            mic_state: audio_status.as_ref().map(|s| s.get().describe()),
            camera_state: video_status.as_ref().map(|s| s.get().describe()),
        };
        *last = (now, c.video_frames_sent, c.video_payload_bytes, c.audio_payload_bytes);
        s
    };

    loop {
        let stop_now = async {
            if ending {
                std::future::pending::<()>().await
            }
            tokio::select! {
                _ = stop_rx.wait_for(|s| *s) => {},
                _ = sleep_until_opt(deadline) => {},
            }
        };
        tokio::select! {
            biased;
            _ = stop_now => {
                ending = true;
                set_state(SessionState::Ending);
                pipeline.stop_sources.store(true, Ordering::Relaxed);
                drain_deadline = Some(tokio::time::Instant::now() + DRAIN_TIMEOUT);
            }
            _ = sleep_until_opt(drain_deadline) => {
                tracing::warn!("encoders did not finish in time; ending anyway");
                break;
            }
            _ = sleep_until_opt(next_reconnect) => {
                next_reconnect = None;
                reconnect_attempt += 1;
                set_state(SessionState::Reconnecting {
                    attempt: reconnect_attempt,
                    max_attempts: config.reconnect.max_attempts,
                    reason: "connecting again".into(),
                });
                match output.connect().await {
                    Ok(()) => {
                        output.counters.reconnects += 1;
                        reconnect_attempt = 0;
                        tracing::info!("reconnected");
                        set_state(SessionState::Live);
                    }
                    Err(e) if e.kind() == FailureKind::Rejected => {
                        failure = Some(e.into());
                        break;
                    }
                    Err(e) => {
                        if reconnect_attempt >= config.reconnect.max_attempts {
                            failure = Some(BroadcastFailure { kind: FailureKind::ConnectionLost, message: format!("connection lost and {} reconnect attempts failed (last: {e})", reconnect_attempt) });
                            break;
                        }
                        let wait = config.reconnect.delay(reconnect_attempt + 1);
                        set_state(SessionState::Reconnecting { attempt: reconnect_attempt, max_attempts: config.reconnect.max_attempts, reason: e.to_string() });
                        next_reconnect = Some(tokio::time::Instant::now() + wait);
                    }
                }
            }
            packet = rx.recv() => {
                let Some(packet) = packet else { break };
                if let Err(e) = output.send(packet, clock.now_us()).await {
                    if let Some(f) = handle_loss(&mut output, e, &config, &mut next_reconnect, &set_state) { failure = Some(f); break; }
                }
            }
            r = output.service_incoming() => {
                if let Err(e) = r {
                    if let Some(f) = handle_loss(&mut output, e, &config, &mut next_reconnect, &set_state) { failure = Some(f); break; }
                }
            }
            _ = ticker.tick() => {
                let name = state_tx.borrow().name();
                stats = make_stats(&output, name, &mut last);
                let _ = stats_tx.send(stats.clone());
            }
        }
    }

    pipeline.stop_sources.store(true, Ordering::Relaxed);
    drop(rx); // unblocks encoder threads waiting to send
    let threads = pipeline.threads;
    let _ = tokio::task::spawn_blocking(move || {
        for t in threads {
            let _ = t.join();
        }
    })
    .await;

    if let Some(f) = failure {
        output.disconnect();
        let mut s = make_stats(&output, "failed", &mut last);
        s.state = "failed".into();
        let _ = stats_tx.send(s);
        return Err(fail(f));
    }
    if let Err(e) = output.finish().await {
        tracing::warn!("unpublish did not complete cleanly: {e}");
    }
    let mut s = make_stats(&output, "ended", &mut last);
    // Rates over the whole session for the final report.
    let total = s.elapsed_s.max(1e-3);
    s.fps = output.counters.video_frames_sent as f64 / total;
    s.video_kbps = output.counters.video_payload_bytes as f64 * 8.0 / total / 1000.0;
    s.audio_kbps = output.counters.audio_payload_bytes as f64 * 8.0 / total / 1000.0;
    let _ = stats_tx.send(s.clone());
    set_state(SessionState::Ended);
    let _ = stats;
    Ok(s)
}

/// A live connection broke: refuse-type errors end the session; others schedule a reconnect.
fn handle_loss(
    output: &mut Output,
    err: RtmpError,
    config: &BroadcastConfig,
    next_reconnect: &mut Option<tokio::time::Instant>,
    set_state: &impl Fn(SessionState),
) -> Option<BroadcastFailure> {
    let err = output.classify_loss(err);
    output.disconnect();
    if err.kind() == FailureKind::Rejected {
        return Some(err.into());
    }
    if config.reconnect.max_attempts == 0 {
        return Some(BroadcastFailure { kind: FailureKind::ConnectionLost, message: err.to_string() });
    }
    tracing::warn!("connection lost: {err}; reconnecting");
    set_state(SessionState::Reconnecting {
        attempt: 0,
        max_attempts: config.reconnect.max_attempts,
        reason: err.to_string(),
    });
    *next_reconnect = Some(tokio::time::Instant::now() + config.reconnect.delay(1));
    None
}

async fn sleep_until_opt(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
