//! `mentorcast broadcast`: the synthetic sources to an ingest, with a live
//! progress line (or JSON stats lines), Ctrl-C to end cleanly.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use mentorcast_engine::{AudioSettings, Broadcast, BroadcastConfig, ReconnectPolicy, Service, SessionState, Stats, TlsOptions, VideoSettings};
use mentorcast_media::synthetic::check_format;
use mentorcast_media::{AudioSource, MediaClock, SyntheticAudio, SyntheticVideo, VideoSource};

use crate::exit::{self, exit};

/// Everything a synthetic broadcast needs (from flags or a scenario).
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
            return Err(exit(exit::BAD_ARGS, format!("video bitrate {video_kbps} kbps is out of range: use 100 to 50000")));
        }
        if !(32..=320).contains(&audio_kbps) {
            return Err(exit(exit::BAD_ARGS, format!("audio bitrate {audio_kbps} kbps is out of range: use 32 to 320 (ingests accept up to 160)")));
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
        })
    }

    pub fn start(&self) -> Result<Broadcast> {
        let video = SyntheticVideo::new(self.width, self.height, self.fps, MediaClock::start())
            .map_err(|e| exit(exit::BAD_ARGS, e.to_string()))?;
        let audio = SyntheticAudio::new(MediaClock::start());
        let config = BroadcastConfig {
            service: self.service.clone(),
            tls: self.tls.clone(),
            video: Some(VideoSettings { width: self.width, height: self.height, fps: self.fps, kbps: self.video_kbps, keyframe_secs: 2 }),
            audio: Some(AudioSettings { kbps: self.audio_kbps }),
            duration: self.duration,
            reconnect: ReconnectPolicy { max_attempts: self.reconnect_attempts, ..ReconnectPolicy::default() },
        };
        Ok(Broadcast::start(config, Some(Box::new(video) as Box<dyn VideoSource>), Some(Box::new(audio) as Box<dyn AudioSource>)))
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
    format!(
        "{} {} | {:.1} fps | video {:.0} kbps, audio {:.0} kbps | sent {} dropped {} skipped {} | delay {:.0} ms | {:.1} MB",
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

/// Runs a broadcast to its end (duration, Ctrl-C or failure), reporting as asked.
pub async fn run(plan: &BroadcastPlan, progress: Progress) -> Result<Stats> {
    if progress != Progress::Quiet && progress != Progress::Json {
        eprintln!(
            "Broadcasting synthetic {}x{}@{} ({} kbps video, {} kbps audio) to {}{}",
            plan.width,
            plan.height,
            plan.fps,
            plan.video_kbps,
            plan.audio_kbps,
            plan.service,
            plan.duration.map(|d| format!(" for {} s", d.as_secs_f64())).unwrap_or_else(|| " until Ctrl-C".into())
        );
    }
    let broadcast = plan.start()?;
    let stop = broadcast.stop_handle();
    let mut state = broadcast.state();
    let mut stats = broadcast.stats();
    let bar = (progress == Progress::Bar).then(|| {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_style(indicatif::ProgressStyle::with_template("{spinner} {msg}").unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()));
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
