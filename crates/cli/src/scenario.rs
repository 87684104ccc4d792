//! `mentorcast run SCENARIO.toml`: scripted QA broadcasts, each verified from
//! what the ingest received, with thresholds, JSON and JUnit reports.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use mentorcast_engine::{ReconnectPolicy, Service, Stats, TlsOptions};
use mentorcast_verify::{PlayLimits, Report, VerifyOptions};

use crate::broadcast::{BroadcastPlan, Progress};
use crate::exit::{self, exit};
use crate::verify_cmd::{is_rtmp_url, verify_exit};

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub scenario: Vec<Scenario>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub url: String,
    pub key: Option<String>,
    /// An rtmp(s):// play URL, or a path / glob (`*`) of the file the ingest records.
    pub verify: String,
    #[serde(default = "default_resolution")]
    pub resolution: String,
    #[serde(default = "default_fps")]
    pub fps: u32,
    #[serde(default = "default_video_kbps")]
    pub video_kbps: u32,
    #[serde(default = "default_audio_kbps")]
    pub audio_kbps: u32,
    pub duration_s: f64,
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub expect: Expect,
}

fn default_resolution() -> String {
    "1280x720".into()
}
fn default_fps() -> u32 {
    30
}
fn default_video_kbps() -> u32 {
    2500
}
fn default_audio_kbps() -> u32 {
    128
}

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(default = "d_loss")]
    pub max_frame_loss_pct: f64,
    #[serde(default = "d_fps")]
    pub min_fps_ratio: f64,
    #[serde(default = "d_av")]
    pub max_av_offset_ms: f64,
    /// Received video must cover at least this share of `duration_s`.
    #[serde(default = "d_cover")]
    pub min_duration_ratio: f64,
    /// Keyframe interval must be within this many seconds of 2 s (unset: not checked).
    pub keyframe_interval_tolerance_s: Option<f64>,
}

fn d_loss() -> f64 {
    1.0
}
fn d_fps() -> f64 {
    0.95
}
fn d_av() -> f64 {
    40.0
}
fn d_cover() -> f64 {
    0.9
}

impl Default for Expect {
    fn default() -> Self {
        Self {
            max_frame_loss_pct: d_loss(),
            min_fps_ratio: d_fps(),
            max_av_offset_ms: d_av(),
            min_duration_ratio: d_cover(),
            keyframe_interval_tolerance_s: None,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ScenarioResult {
    pub name: String,
    pub passed: bool,
    /// One sentence per threshold missed (or the error that stopped the run).
    pub failures: Vec<String>,
    pub time_s: f64,
    pub expect: Expect,
    pub broadcast: Option<Stats>,
    pub report: Option<Report>,
}

pub fn load(path: &Path) -> Result<ScenarioFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| exit(exit::BAD_ARGS, format!("cannot read {}: {e}", path.display())))?;
    let file: ScenarioFile = toml::from_str(&text)
        .map_err(|e| exit(exit::BAD_ARGS, format!("{} is not a valid scenario file: {e}", path.display())))?;
    if file.scenario.is_empty() {
        return Err(exit(exit::BAD_ARGS, format!("{} has no [[scenario]]", path.display())));
    }
    Ok(file)
}

/// Checks a report against the thresholds; returns the failures.
pub fn judge(s: &Scenario, r: &Report) -> Vec<String> {
    let e = &s.expect;
    let mut f = Vec::new();
    if r.frames_received == 0 {
        f.push("no frame with a readable counter arrived".to_string());
        return f;
    }
    let loss = r.frames_lost as f64 * 100.0 / r.frames_expected.max(1) as f64;
    if loss > e.max_frame_loss_pct {
        f.push(format!(
            "max_frame_loss_pct: lost {} of {} frames ({loss:.2}%), more than {}%",
            r.frames_lost, r.frames_expected, e.max_frame_loss_pct
        ));
    }
    let ratio = r.fps / s.fps as f64;
    if ratio < e.min_fps_ratio {
        f.push(format!("min_fps_ratio: {:.2} fps is {ratio:.3} of {} fps, below {}", r.fps, s.fps, e.min_fps_ratio));
    }
    match r.av_offset_ms {
        Some(o) if o.abs() > e.max_av_offset_ms => {
            f.push(format!("max_av_offset_ms: audio is {o:+.1} ms from video, beyond ±{} ms", e.max_av_offset_ms))
        }
        None if r.audio_codec.is_some() => {
            f.push("max_av_offset_ms: no flash/beep pair found to measure A/V offset".to_string())
        }
        None => f.push("max_av_offset_ms: the stream has no audio".to_string()),
        _ => {}
    }
    let cover = r.duration_s / s.duration_s;
    if cover < e.min_duration_ratio {
        f.push(format!(
            "min_duration_ratio: received {:.1} s of video for a {:.1} s broadcast ({cover:.2}), below {}",
            r.duration_s, s.duration_s, e.min_duration_ratio
        ));
    }
    if let Some(tol) = e.keyframe_interval_tolerance_s {
        match r.keyframe_interval_s {
            Some(k) if (k - 2.0).abs() <= tol => {}
            other => f.push(format!(
                "keyframe_interval_tolerance_s: keyframe interval {} is not within {tol} s of 2 s",
                other.map(|k| format!("{k:.2} s")).unwrap_or_else(|| "unknown".into())
            )),
        }
    }
    if (r.width, r.height) != crate::broadcast::parse_resolution(&s.resolution).unwrap_or((0, 0)) {
        f.push(format!("resolution: received {}x{}, sent {}", r.width, r.height, s.resolution));
    }
    f
}

/// The newest file matching `pattern` (a path with `*` wildcards) modified after `since`.
fn newest_match(pattern: &str, since: SystemTime) -> Option<PathBuf> {
    let p = Path::new(pattern);
    let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file_pat = p.file_name()?.to_string_lossy().to_string();
    let mut best: Option<(SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !wildcard(&file_pat, &name) {
            continue;
        }
        let meta = entry.metadata().ok()?;
        let mtime = meta.modified().ok()?;
        if meta.len() == 0 || mtime < since {
            continue;
        }
        if best.as_ref().map(|(t, _)| mtime > *t).unwrap_or(true) {
            best = Some((mtime, entry.path()));
        }
    }
    best.map(|(_, p)| p)
}

fn wildcard(pat: &str, s: &str) -> bool {
    let parts: Vec<&str> = pat.split('*').collect();
    if parts.len() == 1 {
        return pat == s;
    }
    let mut rest = s;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(idx) => rest = &rest[idx + part.len()..],
                None => return false,
            }
        }
    }
    true
}

pub async fn run_one(s: &Scenario) -> ScenarioResult {
    let started = Instant::now();
    let mut result = ScenarioResult {
        name: s.name.clone(),
        passed: false,
        failures: vec![],
        time_s: 0.0,
        expect: s.expect.clone(),
        broadcast: None,
        report: None,
    };
    match run_inner(s, &mut result).await {
        Ok(report) => {
            result.failures.extend(judge(s, &report));
            result.report = Some(report);
        }
        Err(e) => result.failures.push(e.to_string()),
    }
    result.passed = result.failures.is_empty();
    result.time_s = started.elapsed().as_secs_f64();
    result
}

async fn run_inner(s: &Scenario, result: &mut ScenarioResult) -> Result<Report> {
    let plan = BroadcastPlan::new(
        &s.url,
        s.key.as_deref(),
        &s.resolution,
        s.fps,
        s.video_kbps,
        s.audio_kbps,
        Some(s.duration_s),
        s.ca_file.clone(),
        ReconnectPolicy::default(),
    )?;
    let opts = VerifyOptions { fps: Some(s.fps) };
    let since = SystemTime::now() - Duration::from_secs(1);
    if is_rtmp_url(&s.verify) {
        // Subscribe first, so the player sees the stream from its first frame.
        let play = Service::parse(&s.verify, None).map_err(|e| exit(exit::BAD_ARGS, format!("bad verify URL: {e}")))?;
        let tls = TlsOptions { extra_ca_file: s.ca_file.clone() };
        let limits = PlayLimits {
            start_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(5),
            max_duration: Duration::from_secs_f64(s.duration_s + 30.0),
            follow_republish: false,
        };
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let (playing_tx, playing_rx) = tokio::sync::oneshot::channel();
        let verifier = tokio::spawn(async move {
            mentorcast_verify::verify_rtmp_until(&play, &tls, opts, limits, stop_rx, Some(playing_tx)).await
        });
        // Publish once the ingest accepted the player's request (or the player gave up:
        // its error is the report's), so the player sees the stream from its first frame.
        let _ = tokio::time::timeout(limits.start_timeout, playing_rx).await;
        let broadcast = crate::broadcast::run(&plan, Progress::Quiet).await;
        let stats = match broadcast {
            Ok(st) => st,
            Err(e) => {
                let _ = stop_tx.send(true);
                verifier.abort();
                return Err(e);
            }
        };
        result.broadcast = Some(stats);
        // The server ends the play session on unpublish; stop it anyway if it lingers
        // (everything sent has reached the player well within this grace time).
        let stopper = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let _ = stop_tx.send(true);
        });
        let report = verifier.await.context("verifier task")?.map_err(verify_exit)?;
        stopper.abort();
        Ok(report)
    } else {
        let stats = crate::broadcast::run(&plan, Progress::Quiet).await?;
        result.broadcast = Some(stats);
        // The ingest finishes the recording when the publisher leaves; wait for the file to settle.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last_size = None;
        loop {
            if let Some(path) = newest_match(&s.verify, since) {
                let size = std::fs::metadata(&path).map(|m| m.len()).ok();
                if size.is_some() && size == last_size {
                    let report = tokio::task::spawn_blocking(move || mentorcast_verify::verify_file(&path, opts))
                        .await
                        .context("verify task")?;
                    return report.map_err(verify_exit);
                }
                last_size = size;
            }
            if Instant::now() > deadline {
                return Err(exit(exit::FAILED, format!("no recording matching {} appeared", s.verify)));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

pub fn junit(results: &[ScenarioResult]) -> String {
    let failures = results.iter().filter(|r| !r.passed).count();
    let time: f64 = results.iter().map(|r| r.time_s).sum();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x += &format!("<testsuites tests=\"{}\" failures=\"{failures}\" time=\"{time:.3}\">\n", results.len());
    x += &format!(
        "  <testsuite name=\"mentorcast\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{time:.3}\">\n",
        results.len()
    );
    for r in results {
        x += &format!(
            "    <testcase classname=\"mentorcast.scenario\" name=\"{}\" time=\"{:.3}\"",
            xml_escape(&r.name),
            r.time_s
        );
        if r.passed {
            x += " />\n";
        } else {
            x += ">\n";
            let msg = r.failures.join("; ");
            x += &format!(
                "      <failure message=\"{}\" type=\"threshold\">{}</failure>\n",
                xml_escape(&msg),
                xml_escape(&r.failures.join("\n"))
            );
            x += "    </testcase>\n";
        }
    }
    x += "  </testsuite>\n</testsuites>\n";
    x
}

pub fn print_summary(r: &ScenarioResult) {
    let mark = if r.passed { "PASS" } else { "FAIL" };
    match &r.report {
        Some(rep) => println!(
            "{mark} {}: {}x{} {:.2} fps, lost {}/{} frames, dup {}, a/v {}, {:.1} s received in {:.1} s",
            r.name,
            rep.width,
            rep.height,
            rep.fps,
            rep.frames_lost,
            rep.frames_expected,
            rep.frames_duplicated,
            rep.av_offset_ms.map(|o| format!("{o:+.1} ms")).unwrap_or_else(|| "n/a".into()),
            rep.duration_s,
            r.time_s
        ),
        None => println!("{mark} {}", r.name),
    }
    for f in &r.failures {
        println!("     - {f}");
    }
}
