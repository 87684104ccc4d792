//! A broadcast session: builds and wires the stages — sources → encoders
//! ([`crate::pipeline`]) → output ([`crate::output`]) — forwards the output's
//! events as [`SessionState`]s and publishes [`Stats`] about once a second.
//! Callers (CLI, app) only subscribe.
//!
//! The sources start on the session clock once the ingest accepted the
//! publish (stream time 0 is that moment), so the first frame is not already
//! late. Stop (or the configured duration) stops the sources; the encoders
//! finish what they hold and the output sends it, all within [`STOP_WITHIN`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mentorcast_media::{AudioSource, DeviceStatus, MediaClock, VideoSource};
use mentorcast_protocol::{FailureKind, NetConnector, Service, TlsOptions};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::encode::{AudioSettings, VideoSettings};
use crate::output::{
    self, AdaptiveConfig, OutputConfig, OutputEnd, OutputEvent, OutputStats, ReconnectPolicy, Timings,
};
use crate::pipeline::{AudioTap, Encoders, PacketSender, Pipeline};
use crate::presets::check_video;
use crate::record::{CopyStatus, LocalCopy};
use crate::stats::{AudioLevel, LevelMeter, LocalCopyStats, SessionPhase, SessionState, Stats};

const STATS_INTERVAL: Duration = Duration::from_millis(1000);
/// A stop completes within this, whatever the network does.
pub const STOP_WITHIN: Duration = Duration::from_secs(2);

/// How to encode video; the size and rate come from the video source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct VideoEncoding {
    pub kbps: u32,
    /// Keyframe interval in seconds (ingests want 2).
    pub keyframe_secs: u32,
}

impl VideoEncoding {
    /// At `kbps` with a keyframe every 2 s.
    pub fn kbps(kbps: u32) -> Self {
        Self { kbps, keyframe_secs: 2 }
    }
}

#[derive(Debug, Clone)]
pub struct BroadcastConfig {
    pub service: Service,
    pub tls: TlsOptions,
    /// None: no video even if a video source is given.
    pub video: Option<VideoEncoding>,
    pub audio: Option<AudioSettings>,
    /// Stop by itself after this long live (None: until stopped).
    pub duration: Option<Duration>,
    pub reconnect: ReconnectPolicy,
    /// Adaptive bitrate on or off, and its floor (None: 25 % of the video bitrate, at least 300 kbps).
    pub adaptive: bool,
    pub adaptive_floor_kbps: Option<u32>,
    /// Keep a local copy here: a file, or a folder that gets a new file.
    pub record: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct BroadcastFailure {
    pub kind: FailureKind,
    pub message: String,
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
        let (stats_tx, stats) = watch::channel(Stats::default());
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

impl SessionIo {
    fn set_state(&self, s: SessionState) {
        tracing::info!(state = s.phase().as_str(), "session state");
        let _ = self.state_tx.send(s);
    }

    fn fail(&self, f: BroadcastFailure) -> BroadcastFailure {
        let _ = self.state_tx.send(SessionState::Failed { kind: f.kind, reason: f.message.clone() });
        f
    }
}

fn config_failure(message: String) -> BroadcastFailure {
    BroadcastFailure { kind: FailureKind::Config, message }
}

/// The encoders' settings from the sources' formats and the config.
fn settings(
    config: &BroadcastConfig,
    video: Option<Box<dyn VideoSource>>,
    audio: Option<Box<dyn AudioSource>>,
) -> Result<Encoders, BroadcastFailure> {
    let video = match (video, config.video) {
        (Some(src), Some(enc)) => {
            let f = src.format();
            check_video(f.width, f.height, f.fps, enc.kbps).map_err(|e| config_failure(format!("{e}.")))?;
            let s = VideoSettings {
                width: f.width,
                height: f.height,
                fps: f.fps,
                kbps: enc.kbps,
                keyframe_secs: enc.keyframe_secs,
            };
            Some((src, s))
        }
        _ => None,
    };
    let audio = match (audio, config.audio) {
        (Some(src), Some(s)) => Some((src, s)),
        _ => None,
    };
    if video.is_none() && audio.is_none() {
        return Err(config_failure("nothing to send: no video and no audio source".into()));
    }
    Encoders::new(video, audio).map_err(|e| config_failure(e.to_string()))
}

async fn run(
    config: BroadcastConfig,
    video: Option<Box<dyn VideoSource>>,
    audio: Option<Box<dyn AudioSource>>,
    io: SessionIo,
    mut stop_rx: watch::Receiver<bool>,
) -> Result<Stats, BroadcastFailure> {
    let encoders = settings(&config, video, audio).map_err(|f| io.fail(f))?;
    let video_settings = encoders.video_settings();
    let video_kbps = video_settings.map(|v| v.kbps).unwrap_or(0);
    let (mut output, packets, control) = output::spawn(OutputConfig {
        service: config.service.clone(),
        connector: Arc::new(NetConnector::new(config.tls.clone())),
        reconnect: config.reconnect,
        timings: Timings::default(),
        video: video_settings,
        audio: config.audio,
        audio_config: encoders.audio_config(),
        adaptive: AdaptiveConfig::new(
            config.adaptive && video_settings.is_some(),
            video_kbps,
            config.adaptive_floor_kbps,
        ),
    });
    io.set_state(SessionState::Connecting);

    // Until the ingest accepts the publish.
    let origin = loop {
        tokio::select! {
            ev = output.event() => match ev {
                Some(OutputEvent::Live { origin, .. }) => break origin,
                Some(_) => {}
                None => return Err(io.fail(failure_of(output.end().await))),
            },
            _ = stopped(&mut stop_rx) => {
                output.stop_by(Instant::now());
                let _ = output.end().await;
                io.set_state(SessionState::Ended);
                return Ok(Stats { state: SessionPhase::Ended, ..Stats::default() });
            }
        }
    };

    let clock = MediaClock::from_instant(origin.into_std());
    let level_rx = io.level_tx.subscribe();
    let tap = AudioTap { muted: io.muted.clone(), level_tx: io.level_tx.clone(), meter: LevelMeter::default() };
    let has_audio = encoders.audio_config().is_some();
    // The local copy starts with the stream (a copy that cannot start says so; the broadcast goes on).
    let mut copy_error = None;
    let copy = match &config.record {
        Some(target) => match LocalCopy::start(target, video_settings.is_some(), encoders.audio_config()) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!("{e}; broadcasting without a local copy");
                copy_error = Some(e.to_string());
                None
            }
        },
        None => None,
    };
    let sender = PacketSender { output: packets, copy: copy.as_ref().and_then(LocalCopy::sender) };
    let pipeline = encoders.start(clock, sender, control, tap);
    let output_stats = output.stats();
    io.set_state(SessionState::Live);

    let meter = Meter {
        origin,
        has_audio,
        level_rx,
        muted: io.muted.clone(),
        configured_kbps: video_kbps,
        adaptive: config.adaptive && video_settings.is_some(),
        copy_error,
    };
    let mut last = Last { at: origin, video_frames: 0, video_bytes: 0, audio_bytes: 0 };
    let mut ticker = tokio::time::interval_at(origin + STATS_INTERVAL, STATS_INTERVAL);
    let deadline = config.duration.map(|d| origin + d);
    let mut ending = false;
    loop {
        let stop_now = async {
            if ending {
                std::future::pending::<()>().await
            }
            tokio::select! {
                _ = stopped(&mut stop_rx) => {},
                _ = sleep_until_opt(deadline) => {},
            }
        };
        tokio::select! {
            biased;
            _ = stop_now => {
                ending = true;
                io.set_state(SessionState::Ending);
                pipeline.stop_sources();
                output.stop_by(Instant::now() + STOP_WITHIN);
            }
            ev = output.event() => match ev {
                None => break,
                Some(OutputEvent::Reconnecting { attempt, next_in, off_air, reason }) if !ending => {
                    let ms = |d: Duration| d.as_millis().min(u32::MAX as u128) as u32;
                    io.set_state(SessionState::Reconnecting {
                        attempt,
                        next_in_ms: ms(next_in),
                        off_air_ms: ms(off_air),
                        reason,
                    });
                }
                Some(OutputEvent::Live { .. }) if !ending => io.set_state(SessionState::Live),
                Some(_) => {}
            },
            _ = ticker.tick() => {
                let phase = io.state_tx.borrow().phase();
                let copy_status = copy.as_ref().map(LocalCopy::status);
                let s = meter.stats(phase, &output_stats.borrow(), &pipeline, copy_status, &mut last);
                let _ = io.stats_tx.send(s);
            }
        }
    }

    let end = output.end().await;
    let last_out = output_stats.borrow().clone();
    let counters_of = pipeline_snapshot(&pipeline);
    pipeline.join().await;
    // The encoders are gone: the copy writes what it holds and closes.
    let copy_status = match copy {
        Some(c) => Some(tokio::task::spawn_blocking(move || c.finish()).await.map_err(|e| BroadcastFailure {
            kind: FailureKind::Config,
            message: format!("the local copy's writer failed: {e}"),
        })?),
        None => None,
    };
    match end {
        OutputEnd::Failed { .. } => {
            let mut s = meter.stats_from(SessionPhase::Failed, &last_out, &counters_of, copy_status, &mut last);
            s.state = SessionPhase::Failed;
            let _ = io.stats_tx.send(s);
            Err(io.fail(failure_of(end)))
        }
        OutputEnd::Finished { unsent } => {
            if unsent > 0 {
                tracing::warn!(unsent, "ended with packets the network could not take in time");
            }
            let mut s = meter.stats_from(SessionPhase::Ended, &last_out, &counters_of, copy_status, &mut last);
            // Rates over the whole session for the final report.
            let total = s.elapsed_s.max(1e-3);
            s.fps = last_out.video_frames_sent as f64 / total;
            s.video_kbps = last_out.video_payload_bytes as f64 * 8.0 / total / 1000.0;
            s.audio_kbps = last_out.audio_payload_bytes as f64 * 8.0 / total / 1000.0;
            let _ = io.stats_tx.send(s.clone());
            io.set_state(SessionState::Ended);
            Ok(s)
        }
    }
}

fn failure_of(end: OutputEnd) -> BroadcastFailure {
    match end {
        OutputEnd::Failed { kind, message } => BroadcastFailure { kind, message },
        OutputEnd::Finished { .. } => {
            BroadcastFailure { kind: FailureKind::ConnectionLost, message: "the output ended before going live".into() }
        }
    }
}

/// The pipeline's counters at one moment, and the microphone's and camera's status.
type Snapshot = (Counted, Option<DeviceStatus>, Option<DeviceStatus>);

/// The pipeline's counters at one moment.
#[derive(Default, Clone, Copy)]
struct Counted {
    captured: u64,
    capture_dropped: u64,
    encoded: u64,
    skipped: u64,
    size: Option<(u32, u32)>,
}

fn pipeline_snapshot(p: &Pipeline) -> Snapshot {
    let c = &p.counters;
    (
        Counted {
            captured: c.captured.load(Ordering::Relaxed),
            capture_dropped: c.capture_dropped.load(Ordering::Relaxed),
            encoded: c.encoded.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
            size: c.size(),
        },
        p.audio_status.as_ref().map(|s| s.get()),
        p.video_status.as_ref().map(|s| s.get()),
    )
}

/// Where the last stats left off (for per-interval rates).
struct Last {
    at: Instant,
    video_frames: u64,
    video_bytes: u64,
    audio_bytes: u64,
}

/// Turns counters into [`Stats`].
struct Meter {
    origin: Instant,
    has_audio: bool,
    level_rx: watch::Receiver<Option<AudioLevel>>,
    muted: Arc<AtomicBool>,
    configured_kbps: u32,
    adaptive: bool,
    /// Why the local copy could not start.
    copy_error: Option<String>,
}

impl Meter {
    fn stats(
        &self,
        phase: SessionPhase,
        out: &OutputStats,
        pipeline: &Pipeline,
        copy: Option<CopyStatus>,
        last: &mut Last,
    ) -> Stats {
        self.stats_from(phase, out, &pipeline_snapshot(pipeline), copy, last)
    }

    fn stats_from(
        &self,
        phase: SessionPhase,
        out: &OutputStats,
        snap: &Snapshot,
        copy: Option<CopyStatus>,
        last: &mut Last,
    ) -> Stats {
        let (c, mic, camera) = snap;
        let now = Instant::now();
        let dt = now.duration_since(last.at).as_secs_f64().max(1e-3);
        let s = Stats {
            state: phase,
            elapsed_s: now.duration_since(self.origin).as_secs_f64(),
            frames_captured: c.captured,
            frames_encoded: c.encoded,
            frames_sent: out.video_frames_sent,
            frames_dropped: c.capture_dropped + out.video_dropped,
            frames_skipped: c.skipped,
            audio_frames_sent: out.audio_frames_sent,
            audio_frames_dropped: out.audio_dropped,
            fps: out.video_frames_sent.saturating_sub(last.video_frames) as f64 / dt,
            video_kbps: out.video_payload_bytes.saturating_sub(last.video_bytes) as f64 * 8.0 / dt / 1000.0,
            audio_kbps: out.audio_payload_bytes.saturating_sub(last.audio_bytes) as f64 * 8.0 / dt / 1000.0,
            queue_delay_ms: out.queue_delay.as_secs_f64() * 1000.0,
            bytes_sent: out.bytes_sent,
            reconnects: out.reconnects,
            first_frame_ms: out.first_video_after.map(|d| d.as_secs_f64() * 1000.0),
            audio_level: self.has_audio.then(|| (*self.level_rx.borrow()).unwrap_or_default()),
            muted: self.muted.load(Ordering::Relaxed),
            mic_state: mic.as_ref().map(|m| m.state),
            mic_reason: mic.as_ref().and_then(|m| m.reason.clone()),
            camera_state: camera.as_ref().map(|m| m.state),
            camera_reason: camera.as_ref().and_then(|m| m.reason.clone()),
            adaptive: self.adaptive,
            configured_kbps: self.configured_kbps,
            target_kbps: out.target_kbps,
            encoded_width: c.size.map(|s| s.0),
            encoded_height: c.size.map(|s| s.1),
            send_rate_kbps: out.send_rate_kbps,
            outages: out.outages.clone(),
            local_copy: copy.map(LocalCopyStats::from).or_else(|| {
                self.copy_error.as_ref().map(|reason| LocalCopyStats {
                    path: None,
                    state: crate::record::CopyState::Stopped,
                    reason: Some(reason.clone()),
                    bytes: 0,
                })
            }),
        };
        *last = Last {
            at: now,
            video_frames: out.video_frames_sent,
            video_bytes: out.video_payload_bytes,
            audio_bytes: out.audio_payload_bytes,
        };
        s
    }
}

/// Resolves once a stop was asked for (the watch's guard is not held past it).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
