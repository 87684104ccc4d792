//! `mentorcast broadcast`: camera and microphone (or the synthetic sources) to
//! an ingest, with a live progress line (or JSON stats lines), Ctrl-C to end cleanly.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use mentorcast_devices::{DeviceError, SourceKind, SourceSpec, Sources, VideoRequest};
use mentorcast_engine::{
    check_audio_kbps, check_video, format_elapsed, AudioSettings, Broadcast, BroadcastConfig, ReconnectPolicy, Service,
    SessionState, Stats, TlsOptions, VideoEncoding,
};
use mentorcast_media::DeviceState;

use crate::exit::{self, exit};

/// Everything a broadcast needs (from flags or a scenario).
#[derive(Debug, Clone)]
pub struct BroadcastPlan {
    pub service: Service,
    pub tls: TlsOptions,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub video_kbps: u32,
    pub audio_kbps: u32,
    pub duration: Option<Duration>,
    pub reconnect: ReconnectPolicy,
    /// Adaptive bitrate (on unless --no-adaptive) and its floor.
    pub adaptive: bool,
    pub adaptive_floor_kbps: Option<u32>,
    /// Keep a local copy here (a file, or a folder).
    pub record: Option<PathBuf>,
    /// Synthetic unless set otherwise (scenarios and the bench always use synthetic).
    pub camera: SourceSpec,
    pub mic: SourceSpec,
    /// Read `mute` / `unmute` lines on stdin.
    pub control_stdin: bool,
}

/// Parses a duration: `90s`, `10m`, `1h`, `500ms`, or a number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len()));
    let n: f64 = num.parse().map_err(|_| format!("'{s}' is not a duration: use e.g. 90s, 10m, 1h or 0"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        other => return Err(format!("'{other}' is not a unit of time: use ms, s, m or h")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("'{s}' is not a duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The reconnect policy from the flags (`--reconnect-attempts` is the old spelling).
pub fn reconnect_policy(reconnect_for: Duration, no_reconnect: bool, attempts: Option<u32>) -> ReconnectPolicy {
    if no_reconnect {
        return ReconnectPolicy::none();
    }
    match attempts {
        Some(0) => ReconnectPolicy::none(),
        Some(n) => {
            eprintln!(
                "note: --reconnect-attempts is deprecated: use --reconnect-for DURATION (it keeps trying that long)"
            );
            ReconnectPolicy { max_attempts: Some(n), ..ReconnectPolicy::for_duration(reconnect_for) }
        }
        None => ReconnectPolicy::for_duration(reconnect_for),
    }
}

/// Parses `WxH`.
pub fn parse_resolution(s: &str) -> Result<(u32, u32)> {
    let (w, h) = s
        .to_ascii_lowercase()
        .split_once('x')
        .and_then(|(w, h)| Some((w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?)))
        .ok_or_else(|| exit(exit::BAD_ARGS, format!("'{s}' is not a resolution: use WIDTHxHEIGHT, e.g. 1280x720")))?;
    Ok((w, h))
}

impl BroadcastPlan {
    #[allow(clippy::too_many_arguments)] // one per flag of `broadcast` and key of a scenario
    pub fn new(
        url: &str,
        key: Option<&str>,
        resolution: &str,
        fps: u32,
        video_kbps: u32,
        audio_kbps: u32,
        duration_s: Option<f64>,
        ca_file: Option<PathBuf>,
        reconnect: ReconnectPolicy,
    ) -> Result<Self> {
        let service = Service::parse(url, key).map_err(|e| exit(exit::BAD_ARGS, format!("Bad ingest URL: {e}.")))?;
        let (width, height) = parse_resolution(resolution)?;
        check_video(width, height, fps, video_kbps).map_err(|e| exit(exit::BAD_ARGS, format!("{e}.")))?;
        check_audio_kbps(audio_kbps).map_err(|e| exit(exit::BAD_ARGS, e.to_string()))?;
        if let Some(d) = duration_s {
            if !(d > 0.0 && d.is_finite()) {
                return Err(exit(exit::BAD_ARGS, "the duration must be a positive number of seconds"));
            }
        }
        if let Some(ca) = &ca_file {
            if !ca.is_file() {
                return Err(exit(exit::BAD_ARGS, format!("the CA file {} does not exist", ca.display())));
            }
        }
        Ok(Self {
            service,
            tls: TlsOptions { extra_ca_file: ca_file },
            width,
            height,
            fps,
            video_kbps,
            audio_kbps,
            duration: duration_s.map(Duration::from_secs_f64),
            reconnect,
            adaptive: true,
            adaptive_floor_kbps: None,
            record: None,
            camera: SourceSpec::Synthetic,
            mic: SourceSpec::Synthetic,
            control_stdin: false,
        })
    }

    /// Opens the sources (devices first, so a missing one fails before connecting).
    pub fn open_sources(&self) -> Result<Sources> {
        let want = VideoRequest { width: self.width, height: self.height, fps: self.fps };
        mentorcast_devices::open(&self.camera, &self.mic, want).map_err(|e| match e {
            DeviceError::NothingToSend => {
                exit(exit::BAD_ARGS, "--camera none and --mic none leave nothing to send: keep at least one source")
            }
            DeviceError::Format(f) => exit(exit::BAD_ARGS, format!("{f}.")),
            e => {
                let flag = if e.kind() == Some(SourceKind::Microphone) { "--mic" } else { "--camera" };
                exit(
                    exit::NO_DEVICE,
                    format!(
                        "{e}. List devices with `mentorcast devices`; use {flag} synthetic or {flag} none to go without."
                    ),
                )
            }
        })
    }

    pub fn start(&self, sources: Sources) -> Result<Broadcast> {
        let config = BroadcastConfig {
            service: self.service.clone(),
            tls: self.tls.clone(),
            video: Some(VideoEncoding::kbps(self.video_kbps)),
            audio: Some(AudioSettings { kbps: self.audio_kbps }),
            duration: self.duration,
            reconnect: self.reconnect,
            adaptive: self.adaptive,
            adaptive_floor_kbps: self.adaptive_floor_kbps,
            record: self.record.clone(),
        };
        Ok(Broadcast::start(config, sources.video, sources.audio))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A live progress line on a terminal.
    Bar,
    /// One JSON stats object per line.
    Json,
    /// State changes only (not a terminal).
    Plain,
    /// Nothing (used by `run`).
    Quiet,
}

impl Progress {
    pub fn choose(json: bool) -> Self {
        if json {
            Progress::Json
        } else if std::io::stderr().is_terminal() {
            Progress::Bar
        } else {
            Progress::Plain
        }
    }
}

pub fn stats_line(s: &Stats) -> String {
    let mut extra = String::new();
    if let Some(l) = s.audio_level {
        let db = |v: Option<f64>| v.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-inf".into());
        extra += &format!(
            " | level {} dB peak, {} dB rms{}",
            db(l.peak_dbfs),
            db(l.rms_dbfs),
            if s.muted { " (muted)" } else { "" }
        );
    }
    if s.mic_state == Some(DeviceState::Unavailable) {
        extra += &format!(" | mic unavailable: {}", s.mic_reason.as_deref().unwrap_or("no reason given"));
    }
    if s.camera_state == Some(DeviceState::Unavailable) {
        extra += &format!(" | camera unavailable: {}", s.camera_reason.as_deref().unwrap_or("no reason given"));
    }
    if s.adaptive && s.target_kbps < s.configured_kbps {
        extra += &format!(" | network slow: video lowered to {} kbps", s.target_kbps);
    }
    if let Some(o) = s.outages.last() {
        match o.lasted_s {
            Some(l) => extra += &format!(" | {} outage(s), last {l:.1} s", s.outages.len()),
            None => extra += " | off air",
        }
    }
    if let Some(c) = &s.local_copy {
        if c.state == mentorcast_engine::CopyState::Stopped {
            extra += &format!(" | local copy stopped: {}", c.reason.as_deref().unwrap_or("unknown"));
        }
    }
    format!(
        "{} {} | {:.1} fps | video {:.0} kbps, audio {:.0} kbps | sent {} dropped {} skipped {} | delay {:.0} ms | {:.1} MB{extra}",
        s.state.as_str().to_uppercase(),
        format_elapsed(s.elapsed_s),
        s.fps,
        s.video_kbps,
        s.audio_kbps,
        s.frames_sent,
        s.frames_dropped,
        s.frames_skipped,
        s.queue_delay_ms,
        s.bytes_sent as f64 / 1e6
    )
}

/// Reads `mute` / `unmute` lines from stdin and applies them (until EOF).
fn spawn_stdin_control(muted: std::sync::Arc<std::sync::atomic::AtomicBool>, json: bool) {
    std::thread::Builder::new()
        .name("stdin-control".into())
        .spawn(move || {
            use std::io::BufRead;
            for line in std::io::stdin().lock().lines().map_while(Result::ok) {
                let on = match line.trim() {
                    "mute" => true,
                    "unmute" => false,
                    "" => continue,
                    other => {
                        eprintln!("unknown control '{other}': use mute or unmute");
                        continue;
                    }
                };
                muted.store(on, std::sync::atomic::Ordering::Relaxed);
                if json {
                    println!("{}", serde_json::json!({"event": "control", "muted": on}));
                } else {
                    eprintln!("{}", if on { "muted" } else { "unmuted" });
                }
            }
        })
        .ok();
}

/// What a watcher of a running broadcast hears (scenarios time faults against it).
#[derive(Debug, Clone)]
pub enum Observed {
    State(std::time::Instant, SessionState),
    Stats(std::time::Instant, Box<Stats>),
}

/// Runs a broadcast to its end (duration, Ctrl-C or failure), reporting as asked.
pub async fn run(plan: &BroadcastPlan, progress: Progress) -> Result<Stats> {
    run_observed(plan, progress, None).await
}

/// [`run`], telling `observer` every state and stats as they come.
pub async fn run_observed(
    plan: &BroadcastPlan,
    progress: Progress,
    observer: Option<tokio::sync::mpsc::UnboundedSender<Observed>>,
) -> Result<Stats> {
    let p = plan.clone();
    let sources = tokio::task::spawn_blocking(move || p.open_sources())
        .await
        .map_err(|e| exit(exit::FAILED, format!("opening the sources failed: {e}")))??;
    match progress {
        Progress::Quiet => {}
        Progress::Json => println!(
            "{}",
            serde_json::json!({"event": "sources", "camera": sources.camera, "mic": sources.microphone, "notes": sources.notes})
        ),
        _ => {
            for n in &sources.notes {
                eprintln!("note: {n}");
            }
            eprintln!(
                "Broadcasting camera: {}, microphone: {} ({} kbps video, {} kbps audio) to {}{}",
                sources.camera,
                sources.microphone,
                plan.video_kbps,
                plan.audio_kbps,
                plan.service,
                plan.duration.map(|d| format!(" for {} s", d.as_secs_f64())).unwrap_or_else(|| " until Ctrl-C".into())
            );
        }
    }
    let broadcast = plan.start(sources)?;
    if plan.control_stdin {
        spawn_stdin_control(broadcast.mute_handle(), progress == Progress::Json);
    }
    let stop = broadcast.stop_handle();
    let mut state = broadcast.state();
    let mut stats = broadcast.stats();
    let bar = (progress == Progress::Bar).then(|| {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        pb.enable_steady_tick(Duration::from_millis(250));
        pb.set_message("connecting…");
        pb
    });
    let reporter = tokio::spawn(async move {
        loop {
            tokio::select! {
                r = state.changed() => {
                    if r.is_err() { break; }
                    let s = state.borrow_and_update().clone();
                    if let Some(o) = &observer {
                        let _ = o.send(Observed::State(std::time::Instant::now(), s.clone()));
                    }
                    match (&s, progress) {
                        (_, Progress::Json) => println!("{}", serde_json::json!({"event": "state", "state": s})),
                        (SessionState::Reconnecting { attempt, next_in_ms, off_air_ms, reason }, Progress::Plain | Progress::Bar) => {
                            let line = format!(
                                "reconnecting (attempt {attempt}, off air {:.1} s, next try in {:.1} s): {reason}",
                                *off_air_ms as f64 / 1000.0,
                                *next_in_ms as f64 / 1000.0
                            );
                            match &bar { Some(b) => b.println(line), None => eprintln!("{line}") }
                        }
                        (_, Progress::Plain) => eprintln!("state: {}", s.phase().as_str()),
                        _ => {}
                    }
                }
                r = stats.changed() => {
                    if r.is_err() { break; }
                    let s = stats.borrow_and_update().clone();
                    if let Some(o) = &observer {
                        let _ = o.send(Observed::Stats(std::time::Instant::now(), Box::new(s.clone())));
                    }
                    match progress {
                        Progress::Json => println!("{}", serde_json::json!({"event": "stats", "stats": s})),
                        Progress::Bar => if let Some(b) = &bar { b.set_message(stats_line(&s)) },
                        _ => {}
                    }
                }
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
    });
    let ctrl_c = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.stop();
        }
    });
    let result = broadcast.wait().await;
    ctrl_c.abort();
    let _ = reporter.await;
    match result {
        Ok(s) => Ok(s),
        Err(f) => Err(exit(exit::code_for(f.kind), exit::explain(f.kind, &f.message))),
    }
}
