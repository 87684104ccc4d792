//! `mentorcast broadcast`: camera and microphone (or the synthetic sources) to
//! an ingest, with a live progress line (or JSON stats lines), Ctrl-C to end cleanly.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use mentorcast_devices::{CameraSelector, CameraSource, MicSelector, MicSource};
use mentorcast_engine::{
    AudioSettings, Broadcast, BroadcastConfig, ReconnectPolicy, Service, SessionState, Stats, TlsOptions, VideoSettings,
};
use mentorcast_media::synthetic::check_format;
use mentorcast_media::{AudioSource, MediaClock, SourceError, SyntheticAudio, SyntheticVideo, VideoSource};

use crate::exit::{self, exit};

/// `--camera` / `--mic`: a device, the synthetic source, or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceArg {
    /// Not given: the default device if there is one, else synthetic (and say so).
    Auto,
    Synthetic,
    None,
    /// The system's default device; fail if there is none.
    Default,
    /// A device by id (see `mentorcast devices`); fail if it is not there.
    Id(String),
}

impl std::str::FromStr for SourceArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "" => return Err("empty source: use an id, default, synthetic or none".into()),
            "auto" => SourceArg::Auto,
            "synthetic" => SourceArg::Synthetic,
            "none" => SourceArg::None,
            "default" => SourceArg::Default,
            id => SourceArg::Id(id.to_string()),
        })
    }
}

/// Sources opened for a broadcast, and what to tell the user about them.
pub struct OpenedSources {
    pub video: Option<Box<dyn VideoSource>>,
    pub video_settings: Option<VideoSettings>,
    pub audio: Option<Box<dyn AudioSource>>,
    pub camera: String,
    pub mic: String,
    /// Fallbacks taken (e.g. no camera found: synthetic).
    pub notes: Vec<String>,
}

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
    pub reconnect_attempts: u32,
    /// Synthetic unless set otherwise (scenarios and the bench always use synthetic).
    pub camera: SourceArg,
    pub mic: SourceArg,
    /// Read `mute` / `unmute` lines on stdin.
    pub control_stdin: bool,
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
    pub fn new(
        url: &str,
        key: Option<&str>,
        resolution: &str,
        fps: u32,
        video_kbps: u32,
        audio_kbps: u32,
        duration_s: Option<f64>,
        ca_file: Option<PathBuf>,
        reconnect_attempts: u32,
    ) -> Result<Self> {
        let service = Service::parse(url, key).map_err(|e| exit(exit::BAD_ARGS, format!("Bad ingest URL: {e}.")))?;
        let (width, height) = parse_resolution(resolution)?;
        check_format(width, height, fps).map_err(|e| exit(exit::BAD_ARGS, format!("{e}.")))?;
        if !(100..=50_000).contains(&video_kbps) {
            return Err(exit(
                exit::BAD_ARGS,
                format!("video bitrate {video_kbps} kbps is out of range: use 100 to 50000"),
            ));
        }
        if !(32..=320).contains(&audio_kbps) {
            return Err(exit(
                exit::BAD_ARGS,
                format!("audio bitrate {audio_kbps} kbps is out of range: use 32 to 320 (ingests accept up to 160)"),
            ));
        }
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
            reconnect_attempts,
            camera: SourceArg::Synthetic,
            mic: SourceArg::Synthetic,
            control_stdin: false,
        })
    }

    /// Opens the sources (devices first, so a missing one fails before connecting).
    pub fn open_sources(&self) -> Result<OpenedSources> {
        if self.camera == SourceArg::None && self.mic == SourceArg::None {
            return Err(exit(
                exit::BAD_ARGS,
                "--camera none and --mic none leave nothing to send: keep at least one source",
            ));
        }
        let mut notes = Vec::new();
        let synthetic_video = |plan: &Self| -> Result<(Box<dyn VideoSource>, VideoSettings)> {
            let v = SyntheticVideo::new(plan.width, plan.height, plan.fps, MediaClock::start())
                .map_err(|e| exit(exit::BAD_ARGS, e.to_string()))?;
            Ok((
                Box::new(v),
                VideoSettings {
                    width: plan.width,
                    height: plan.height,
                    fps: plan.fps,
                    kbps: plan.video_kbps,
                    keyframe_secs: 2,
                },
            ))
        };
        let (video, video_settings, camera) = match &self.camera {
            SourceArg::None => (None, None, "none".to_string()),
            SourceArg::Synthetic => {
                let (v, s) = synthetic_video(self)?;
                (Some(v), Some(s), format!("synthetic {}x{}@{}", self.width, self.height, self.fps))
            }
            arg => {
                let sel = match arg {
                    SourceArg::Id(id) => CameraSelector::Id(id.clone()),
                    _ => CameraSelector::Default,
                };
                match CameraSource::open(sel, self.width, self.height, self.fps) {
                    Ok(cam) => {
                        let m = cam.mode();
                        let desc = format!("{} {}x{}@{} {}", cam.name(), m.width, m.height, m.fps, m.format.as_str());
                        let s = VideoSettings { width: m.width, height: m.height, fps: m.fps, kbps: self.video_kbps, keyframe_secs: 2 };
                        (Some(Box::new(cam) as Box<dyn VideoSource>), Some(s), desc)
                    }
                    Err(e) if *arg == SourceArg::Auto => {
                        notes.push(format!("camera: {}; using the synthetic video", device_error("camera", &e)));
                        let (v, s) = synthetic_video(self)?;
                        (Some(v), Some(s), format!("synthetic {}x{}@{}", self.width, self.height, self.fps))
                    }
                    Err(e) => {
                        return Err(exit(
                            exit::NO_DEVICE,
                            format!("{}. List devices with `mentorcast devices`; use --camera synthetic or --camera none to go without.", device_error("camera", &e)),
                        ))
                    }
                }
            }
        };
        let (audio, mic) = match &self.mic {
            SourceArg::None => (None, "none".to_string()),
            SourceArg::Synthetic => (
                Some(Box::new(SyntheticAudio::new(MediaClock::start())) as Box<dyn AudioSource>),
                "synthetic tone + beeps".to_string(),
            ),
            arg => {
                let sel = match arg {
                    SourceArg::Id(id) => MicSelector::Name(id.clone()),
                    _ => MicSelector::Default,
                };
                match MicSource::open(sel) {
                    Ok(mic) => {
                        let n = mic.native_config();
                        let desc = format!("{} ({} Hz, {} ch)", mic.name(), n.sample_rate, n.channels);
                        (Some(Box::new(mic) as Box<dyn AudioSource>), desc)
                    }
                    Err(e) if *arg == SourceArg::Auto => {
                        notes.push(format!("microphone: {}; using the synthetic tone", device_error("microphone", &e)));
                        (Some(Box::new(SyntheticAudio::new(MediaClock::start())) as Box<dyn AudioSource>), "synthetic tone + beeps".to_string())
                    }
                    Err(e) => {
                        return Err(exit(
                            exit::NO_DEVICE,
                            format!("{}. List devices with `mentorcast devices`; use --mic synthetic or --mic none to go without.", device_error("microphone", &e)),
                        ))
                    }
                }
            }
        };
        Ok(OpenedSources { video, video_settings, audio, camera, mic, notes })
    }

    pub fn start(&self, sources: OpenedSources) -> Result<Broadcast> {
        let config = BroadcastConfig {
            service: self.service.clone(),
            tls: self.tls.clone(),
            video: sources.video_settings,
            audio: sources.audio.as_ref().map(|_| AudioSettings { kbps: self.audio_kbps }),
            duration: self.duration,
            reconnect: ReconnectPolicy { max_attempts: self.reconnect_attempts, ..ReconnectPolicy::default() },
        };
        Ok(Broadcast::start(config, sources.video, sources.audio))
    }
}

/// "no camera found" / "cannot open …" in one phrase.
fn device_error(kind: &str, e: &SourceError) -> String {
    match e {
        SourceError::NotFound { .. } => format!("no {kind} found"),
        other => format!("{kind} unavailable: {other}"),
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

pub fn format_elapsed(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
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
    if let Some(m) = s.mic_state.as_ref().filter(|m| *m != "active") {
        extra += &format!(" | mic {m}");
    }
    if let Some(c) = s.camera_state.as_ref().filter(|c| *c != "active") {
        extra += &format!(" | camera {c}");
    }
    format!(
        "{} {} | {:.1} fps | video {:.0} kbps, audio {:.0} kbps | sent {} dropped {} skipped {} | delay {:.0} ms | {:.1} MB{extra}",
        s.state.to_uppercase(),
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

/// Runs a broadcast to its end (duration, Ctrl-C or failure), reporting as asked.
pub async fn run(plan: &BroadcastPlan, progress: Progress) -> Result<Stats> {
    let p = plan.clone();
    let sources = tokio::task::spawn_blocking(move || p.open_sources())
        .await
        .map_err(|e| exit(exit::FAILED, format!("opening the sources failed: {e}")))??;
    match progress {
        Progress::Quiet => {}
        Progress::Json => println!(
            "{}",
            serde_json::json!({"event": "sources", "camera": sources.camera, "mic": sources.mic, "notes": sources.notes})
        ),
        _ => {
            for n in &sources.notes {
                eprintln!("note: {n}");
            }
            eprintln!(
                "Broadcasting camera: {}, microphone: {} ({} kbps video, {} kbps audio) to {}{}",
                sources.camera,
                sources.mic,
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
                    match (&s, progress) {
                        (_, Progress::Json) => println!("{}", serde_json::json!({"event": "state", "state": s})),
                        (SessionState::Reconnecting { attempt, max_attempts, reason }, Progress::Plain | Progress::Bar) => {
                            let line = format!("reconnecting (attempt {attempt} of {max_attempts}): {reason}");
                            match &bar { Some(b) => b.println(line), None => eprintln!("{line}") }
                        }
                        (_, Progress::Plain) => eprintln!("state: {}", s.name()),
                        _ => {}
                    }
                }
                r = stats.changed() => {
                    if r.is_err() { break; }
                    let s = stats.borrow_and_update().clone();
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
