//! `mentorcast run SCENARIO.toml`: scripted QA broadcasts, each verified from
//! what the ingest received, with thresholds, JSON and JUnit reports.
//!
//! A scenario may make the network misbehave: `[[scenario.fault]]` steps are
//! played by a fault proxy ([`crate::faults`]) the CLI puts in front of the
//! scenario's ingest (the verifier subscribes to the ingest directly), at
//! times counted from going live; the report gives the fault timeline and what
//! was measured against it (time back on air, bitrate recovery, the longest
//! audio gap, how far the picture fell behind live).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use mentorcast_engine::{ReconnectPolicy, Service, SessionPhase, SessionState, Stats, TlsOptions};
use mentorcast_verify::{PlayLimits, Report, VerifyOptions};

use crate::broadcast::{BroadcastPlan, Observed, Progress};
use crate::exit::{self, exit};
use crate::faults::{Fault, FaultProxy};
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
    /// Adaptive bitrate (on by default, as in `broadcast`).
    #[serde(default = "default_true")]
    pub adaptive: bool,
    #[serde(default)]
    pub expect: Expect,
    /// Network faults, in time order, none overlapping.
    #[serde(default)]
    pub fault: Vec<FaultStep>,
}

fn default_true() -> bool {
    true
}

/// One fault: `kind` from `at_s` (seconds after going live) for `duration_s`.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultStep {
    pub at_s: f64,
    /// down, reset, throttle, latency or blackhole.
    pub kind: String,
    pub duration_s: f64,
    /// throttle: the rate, kbit/s.
    pub kbps: Option<u32>,
    /// latency: the delay each way, ms.
    pub ms: Option<u32>,
}

impl FaultStep {
    fn fault(&self) -> Option<Fault> {
        Some(match self.kind.as_str() {
            "down" => Fault::Down,
            "reset" => Fault::Reset,
            "throttle" => Fault::Throttle { kbps: self.kbps? },
            "latency" => Fault::Latency { ms: self.ms? },
            "blackhole" => Fault::Blackhole,
            _ => return None,
        })
    }

    fn end_s(&self) -> f64 {
        self.at_s + self.duration_s
    }
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
    /// After a down, reset or blackhole fault ends: back on air within this many seconds.
    pub max_reconnect_s: Option<f64>,
    /// No audio gap in the received stream longer than this.
    pub max_audio_gap_ms: Option<f64>,
    /// After a throttle ends: the encoder's target back to ≥ 85 % of the bitrate within this.
    pub max_bitrate_recovery_s: Option<f64>,
    /// The picture never further behind live than this (the verifier's subscriber, by arrival times).
    pub max_live_delay_s: Option<f64>,
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
            max_reconnect_s: None,
            max_audio_gap_ms: None,
            max_bitrate_recovery_s: None,
            max_live_delay_s: None,
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
    /// The faults as they were played (times from going live).
    pub faults: Vec<FaultRecord>,
    /// What was measured against the faults.
    pub measured: Measured,
}

/// A fault as it happened.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FaultRecord {
    pub fault: Fault,
    /// When it began and ended, seconds after going live (as played, not as planned).
    pub began_s: f64,
    pub ended_s: f64,
    /// down/reset/blackhole: from the fault's end to live again (0: the broadcast never noticed it).
    pub reconnect_s: Option<f64>,
    /// throttle: from its end until the encoder's target was back to ≥ 85 % of the bitrate.
    pub bitrate_recovery_s: Option<f64>,
    /// throttle: the lowest target the adaptive bitrate chose during it, kbps.
    pub lowest_target_kbps: Option<u32>,
}

/// The figures the fault expectations are checked against.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Measured {
    pub max_reconnect_s: Option<f64>,
    pub max_bitrate_recovery_s: Option<f64>,
    pub max_audio_gap_ms: Option<f64>,
    pub max_live_delay_s: Option<f64>,
    /// The lowest video target the adaptive bitrate chose over the whole broadcast, kbps.
    pub lowest_target_kbps: Option<u32>,
    /// This process's resident memory and open files a minute into the broadcast
    /// (after warming up) and at its end: a long run shows whether they grow.
    pub usage_warm: Option<ProcessUsage>,
    pub usage_end: Option<ProcessUsage>,
}

/// Resident memory and open file descriptors of this process.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ProcessUsage {
    pub rss_mb: f64,
    pub open_fds: usize,
}

impl ProcessUsage {
    /// From /proc (None elsewhere).
    pub fn now() -> Option<ProcessUsage> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let kb: f64 =
            status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count();
        Some(ProcessUsage { rss_mb: kb / 1024.0, open_fds })
    }
}

/// What the director saw of a broadcast: each fault, and the run as a whole.
struct Directed {
    faults: Vec<FaultRecord>,
    lowest_target_kbps: Option<u32>,
    usage_warm: Option<ProcessUsage>,
    usage_end: Option<ProcessUsage>,
}

/// The broadcast is warm (buffers grown, caches filled) this long after going live.
const WARM_AFTER: Duration = Duration::from_secs(60);

pub fn load(path: &Path) -> Result<ScenarioFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| exit(exit::BAD_ARGS, format!("cannot read {}: {e}", path.display())))?;
    let file: ScenarioFile = toml::from_str(&text)
        .map_err(|e| exit(exit::BAD_ARGS, format!("{} is not a valid scenario file: {e}", path.display())))?;
    if file.scenario.is_empty() {
        return Err(exit(exit::BAD_ARGS, format!("{} has no [[scenario]]", path.display())));
    }
    for sc in &file.scenario {
        check_faults(sc)
            .map_err(|e| exit(exit::BAD_ARGS, format!("{}: scenario '{}': {e}", path.display(), sc.name)))?;
    }
    Ok(file)
}

/// Refuses fault steps that cannot be played, naming the key.
pub fn check_faults(s: &Scenario) -> Result<(), String> {
    let mut last_end = 0.0f64;
    for (i, f) in s.fault.iter().enumerate() {
        let n = i + 1;
        if f.fault().is_none() {
            return Err(match f.kind.as_str() {
                "throttle" => format!("fault {n}: kind 'throttle' needs kbps (the rate, kbit/s)"),
                "latency" => format!("fault {n}: kind 'latency' needs ms (the delay each way)"),
                k => format!("fault {n}: kind '{k}' is not one of down, reset, throttle, latency, blackhole"),
            });
        }
        if f.kbps == Some(0) {
            return Err(format!("fault {n}: kbps = 0 is not a throttle: use kind = \"blackhole\" for no traffic"));
        }
        if !(f.at_s >= 0.0 && f.at_s.is_finite()) {
            return Err(format!("fault {n}: at_s = {} must be 0 or more seconds after going live", f.at_s));
        }
        if !(f.duration_s > 0.0 && f.duration_s.is_finite()) {
            return Err(format!("fault {n}: duration_s = {} must be a positive number of seconds", f.duration_s));
        }
        if f.end_s() > s.duration_s {
            return Err(format!(
                "fault {n}: at_s + duration_s = {} s is past the broadcast's duration_s = {} s",
                f.end_s(),
                s.duration_s
            ));
        }
        if f.at_s < last_end {
            return Err(format!(
                "fault {n}: at_s = {} overlaps the fault before it (which ends at {last_end} s)",
                f.at_s
            ));
        }
        last_end = f.end_s();
    }
    Ok(())
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
    if let Some(max) = e.max_audio_gap_ms {
        if r.audio_gap_max_ms > max {
            f.push(format!("max_audio_gap_ms: an audio gap of {:.0} ms, longer than {max} ms", r.audio_gap_max_ms));
        }
    }
    if let Some(max) = e.max_live_delay_s {
        match r.live_delay_max_s {
            Some(d) if d > max => {
                f.push(format!("max_live_delay_s: the picture fell {d:.2} s behind live, more than {max} s"))
            }
            None => f.push("max_live_delay_s: not measured (it needs an rtmp:// verify URL)".to_string()),
            _ => {}
        }
    }
    f
}

/// Checks what was measured against the faults.
pub fn judge_faults(s: &Scenario, faults: &[FaultRecord]) -> Vec<String> {
    let e = &s.expect;
    let mut f = Vec::new();
    for (i, rec) in faults.iter().enumerate() {
        if let (Some(max), Some(r)) = (e.max_reconnect_s, rec.reconnect_s) {
            if r > max {
                f.push(format!(
                    "max_reconnect_s: fault {} ({}): back on air {r:.2} s after it ended, more than {max} s",
                    i + 1,
                    kind_name(rec.fault)
                ));
            }
        }
        if let Some(max) = e.max_reconnect_s {
            if matches!(rec.fault, Fault::Down | Fault::Reset | Fault::Blackhole) && rec.reconnect_s.is_none() {
                f.push(format!("max_reconnect_s: fault {} ({}): never back on air", i + 1, kind_name(rec.fault)));
                let _ = max;
            }
        }
        if let (Some(max), Fault::Throttle { .. }) = (e.max_bitrate_recovery_s, rec.fault) {
            match rec.bitrate_recovery_s {
                Some(r) if r > max => f.push(format!(
                    "max_bitrate_recovery_s: fault {}: the bitrate took {r:.1} s to recover to 85 %, more than {max} s",
                    i + 1
                )),
                None => f.push(format!("max_bitrate_recovery_s: fault {}: the bitrate never recovered to 85 %", i + 1)),
                _ => {}
            }
        }
    }
    f
}

fn kind_name(f: Fault) -> &'static str {
    match f {
        Fault::None => "none",
        Fault::Down => "down",
        Fault::Reset => "reset",
        Fault::Throttle { .. } => "throttle",
        Fault::Latency { .. } => "latency",
        Fault::Blackhole => "blackhole",
    }
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
        faults: vec![],
        measured: Measured::default(),
    };
    match run_inner(s, &mut result).await {
        Ok(report) => {
            result.failures.extend(judge(s, &report));
            result.measured.max_audio_gap_ms = Some(report.audio_gap_max_ms);
            result.measured.max_live_delay_s = report.live_delay_max_s;
            result.report = Some(report);
        }
        Err(e) => result.failures.push(e.to_string()),
    }
    result.failures.extend(judge_faults(s, &result.faults));
    let max = |v: Vec<f64>| v.into_iter().fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    result.measured.max_reconnect_s = max(result.faults.iter().filter_map(|f| f.reconnect_s).collect());
    result.measured.max_bitrate_recovery_s = max(result.faults.iter().filter_map(|f| f.bitrate_recovery_s).collect());
    result.passed = result.failures.is_empty();
    result.time_s = started.elapsed().as_secs_f64();
    result
}

async fn run_inner(s: &Scenario, result: &mut ScenarioResult) -> Result<Report> {
    // With faults, the broadcast goes through a fault proxy; the verifier plays from the ingest directly.
    let service =
        Service::parse(&s.url, s.key.as_deref()).map_err(|e| exit(exit::BAD_ARGS, format!("Bad ingest URL: {e}.")))?;
    let proxy = if s.fault.is_empty() { None } else { Some(start_proxy(&service).await?) };
    let url = proxy.as_ref().map(|(_, url)| url.clone()).unwrap_or_else(|| s.url.clone());
    let mut plan = BroadcastPlan::new(
        &url,
        Some(service.key()),
        &s.resolution,
        s.fps,
        s.video_kbps,
        s.audio_kbps,
        Some(s.duration_s),
        s.ca_file.clone(),
        ReconnectPolicy::default(),
    )?;
    plan.adaptive = s.adaptive;
    let (observe_tx, observe_rx) = tokio::sync::mpsc::unbounded_channel();
    let director = tokio::spawn(direct(s.fault.clone(), proxy.map(|(p, _)| p), observe_rx));
    let broadcast = run_broadcast(s, &plan, observe_tx, result).await;
    let directed = director.await.context("fault director")?;
    result.faults = directed.faults;
    result.measured.lowest_target_kbps = directed.lowest_target_kbps;
    result.measured.usage_warm = directed.usage_warm;
    result.measured.usage_end = directed.usage_end;
    broadcast
}

/// Starts a fault proxy in front of `service`'s ingest; returns it and the URL to publish to.
async fn start_proxy(service: &Service) -> Result<(FaultProxy, String)> {
    let upstream = tokio::net::lookup_host(service.addr())
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| exit(exit::CANNOT_CONNECT, format!("cannot resolve the ingest {}", service.addr())))?;
    let listen: std::net::SocketAddr =
        if upstream.is_ipv4() { ([127, 0, 0, 1], 0).into() } else { (std::net::Ipv6Addr::LOCALHOST, 0).into() };
    let proxy = FaultProxy::start(listen, upstream)
        .await
        .map_err(|e| exit(exit::FAILED, format!("cannot start the fault proxy: {e}")))?;
    let port = proxy.addr().port();
    // rtmps keeps its host name (the certificate names it); it must resolve to this machine.
    let host = match service.scheme {
        mentorcast_protocol::service::Scheme::Rtmps => service.host.clone(),
        _ => match proxy.addr().ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        },
    };
    Ok((proxy, format!("{}://{host}:{port}/{}", service.scheme.as_str(), service.app)))
}

/// What the director has seen so far; the process's usage is sampled once the broadcast is warm.
#[derive(Default)]
struct Seen {
    log: Vec<Observed>,
    warm_at: Option<Instant>,
    warm: Option<ProcessUsage>,
}

impl Seen {
    fn push(&mut self, o: Observed) {
        if self.warm.is_none() && self.warm_at.is_some_and(|w| observed_at(&o) >= w) {
            self.warm = ProcessUsage::now();
        }
        self.log.push(o);
    }
}

/// Plays the faults against the broadcast's timeline (from going live) and
/// measures what they did. Returns when the broadcast has ended.
async fn direct(
    steps: Vec<FaultStep>,
    proxy: Option<FaultProxy>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Observed>,
) -> Directed {
    let mut seen = Seen::default();
    let live_at = loop {
        match rx.recv().await {
            Some(o) => {
                let live = matches!(&o, Observed::State(_, SessionState::Live)).then(|| observed_at(&o));
                seen.push(o);
                if let Some(t) = live {
                    break t;
                }
            }
            None => {
                return Directed { faults: Vec::new(), lowest_target_kbps: None, usage_warm: None, usage_end: None }
            }
        }
    };
    seen.warm_at = Some(live_at + WARM_AFTER);
    let mut played = Vec::new();
    if let Some(proxy) = &proxy {
        for step in &steps {
            let Some(fault) = step.fault() else { continue };
            if !wait_logging(&mut rx, &mut seen, live_at + Duration::from_secs_f64(step.at_s)).await {
                break;
            }
            proxy.set(fault);
            let began = Instant::now();
            let open = wait_logging(&mut rx, &mut seen, began + Duration::from_secs_f64(step.duration_s)).await;
            proxy.set(Fault::None);
            played.push((fault, began, Instant::now()));
            if !open {
                break;
            }
        }
    }
    while let Some(o) = rx.recv().await {
        seen.push(o);
    }
    drop(proxy);
    let log = &seen.log;
    let lowest_target_kbps = log
        .iter()
        .filter_map(|o| match o {
            Observed::Stats(_, st) if st.state == SessionPhase::Live => Some(st.target_kbps),
            _ => None,
        })
        .min();
    Directed {
        faults: played.iter().map(|&(fault, began, ended)| measure(fault, began, ended, live_at, log)).collect(),
        lowest_target_kbps,
        usage_warm: seen.warm,
        usage_end: ProcessUsage::now(),
    }
}

fn observed_at(o: &Observed) -> Instant {
    match o {
        Observed::State(t, _) | Observed::Stats(t, _) => *t,
    }
}

/// Logs what arrives until `until`; false when the broadcast ended first.
async fn wait_logging(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Observed>,
    seen: &mut Seen,
    until: Instant,
) -> bool {
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(until.into()) => return true,
            o = rx.recv() => match o {
                Some(o) => seen.push(o),
                None => return false,
            },
        }
    }
}

/// What one fault did, from the broadcast's states and stats.
fn measure(fault: Fault, began: Instant, ended: Instant, live_at: Instant, log: &[Observed]) -> FaultRecord {
    let secs = |t: Instant| t.saturating_duration_since(live_at).as_secs_f64();
    let mut rec = FaultRecord {
        fault,
        began_s: secs(began),
        ended_s: secs(ended),
        reconnect_s: None,
        bitrate_recovery_s: None,
        lowest_target_kbps: None,
    };
    match fault {
        Fault::Down | Fault::Reset | Fault::Blackhole => {
            let lost = log.iter().find_map(|o| match o {
                Observed::State(t, SessionState::Reconnecting { .. }) if *t >= began => Some(*t),
                _ => None,
            });
            rec.reconnect_s = match lost {
                // The broadcast never noticed (a short blackhole the kernel's buffers hid).
                None => Some(0.0),
                Some(lost) => log.iter().find_map(|o| match o {
                    Observed::State(t, SessionState::Live) if *t > lost => {
                        Some(t.saturating_duration_since(ended).as_secs_f64())
                    }
                    _ => None,
                }),
            };
        }
        Fault::Throttle { .. } => {
            rec.lowest_target_kbps = log
                .iter()
                .filter_map(|o| match o {
                    Observed::Stats(t, st) if *t >= began => Some(st.target_kbps),
                    _ => None,
                })
                .min();
            rec.bitrate_recovery_s = log.iter().find_map(|o| match o {
                Observed::Stats(t, st) if *t >= ended && st.target_kbps as f64 >= 0.85 * st.configured_kbps as f64 => {
                    Some(t.saturating_duration_since(ended).as_secs_f64())
                }
                _ => None,
            });
        }
        Fault::Latency { .. } | Fault::None => {}
    }
    rec
}

/// The broadcast, verified as the scenario says; states and stats go to `observe`.
async fn run_broadcast(
    s: &Scenario,
    plan: &BroadcastPlan,
    observe: tokio::sync::mpsc::UnboundedSender<Observed>,
    result: &mut ScenarioResult,
) -> Result<Report> {
    let opts = VerifyOptions { fps: Some(s.fps) };
    let since = SystemTime::now() - Duration::from_secs(1);
    if is_rtmp_url(&s.verify) {
        // Subscribe first, so the player sees the stream from its first frame.
        let play = Service::parse(&s.verify, None).map_err(|e| exit(exit::BAD_ARGS, format!("bad verify URL: {e}")))?;
        let tls = TlsOptions { extra_ca_file: s.ca_file.clone() };
        // Through faults the publisher may leave and come back: the player stays.
        let longest_fault = s.fault.iter().map(|f| f.duration_s).fold(0.0, f64::max);
        let limits = PlayLimits {
            start_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs_f64(if s.fault.is_empty() { 5.0 } else { longest_fault + 15.0 }),
            max_duration: Duration::from_secs_f64(s.duration_s + 30.0),
            follow_republish: !s.fault.is_empty(),
        };
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let (playing_tx, playing_rx) = tokio::sync::oneshot::channel();
        let verifier = tokio::spawn(async move {
            mentorcast_verify::verify_rtmp_until(&play, &tls, opts, limits, stop_rx, Some(playing_tx)).await
        });
        // Publish once the ingest accepted the player's request (or the player gave up:
        // its error is the report's), so the player sees the stream from its first frame.
        let _ = tokio::time::timeout(limits.start_timeout, playing_rx).await;
        let broadcast = crate::broadcast::run_observed(plan, Progress::Quiet, Some(observe)).await;
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
        let stats = crate::broadcast::run_observed(plan, Progress::Quiet, Some(observe)).await?;
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
        let props = properties(r);
        if r.passed && props.is_empty() {
            x += " />\n";
            continue;
        }
        x += ">\n";
        if !props.is_empty() {
            x += "      <properties>\n";
            for (k, v) in props {
                x += &format!("        <property name=\"{}\" value=\"{}\" />\n", xml_escape(&k), xml_escape(&v));
            }
            x += "      </properties>\n";
        }
        if !r.passed {
            let msg = r.failures.join("; ");
            x += &format!(
                "      <failure message=\"{}\" type=\"threshold\">{}</failure>\n",
                xml_escape(&msg),
                xml_escape(&r.failures.join("\n"))
            );
        }
        x += "    </testcase>\n";
    }
    x += "  </testsuite>\n</testsuites>\n";
    x
}

/// The fault timeline and the measured times, as JUnit properties.
fn properties(r: &ScenarioResult) -> Vec<(String, String)> {
    let mut p = Vec::new();
    for (i, f) in r.faults.iter().enumerate() {
        let n = i + 1;
        p.push((format!("fault.{n}.kind"), kind_name(f.fault).to_string()));
        p.push((format!("fault.{n}.began_s"), format!("{:.2}", f.began_s)));
        p.push((format!("fault.{n}.ended_s"), format!("{:.2}", f.ended_s)));
        if let Some(v) = f.reconnect_s {
            p.push((format!("fault.{n}.reconnect_s"), format!("{v:.2}")));
        }
        if let Some(v) = f.bitrate_recovery_s {
            p.push((format!("fault.{n}.bitrate_recovery_s"), format!("{v:.1}")));
        }
        if let Some(v) = f.lowest_target_kbps {
            p.push((format!("fault.{n}.lowest_target_kbps"), v.to_string()));
        }
    }
    if !r.faults.is_empty() {
        let m = &r.measured;
        for (k, v) in [
            ("measured.max_audio_gap_ms", m.max_audio_gap_ms),
            ("measured.max_live_delay_s", m.max_live_delay_s),
            ("measured.max_reconnect_s", m.max_reconnect_s),
            ("measured.max_bitrate_recovery_s", m.max_bitrate_recovery_s),
            ("measured.lowest_target_kbps", m.lowest_target_kbps.map(f64::from)),
        ] {
            if let Some(v) = v {
                p.push((k.to_string(), format!("{v:.2}")));
            }
        }
    }
    p
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
    for (i, f) in r.faults.iter().enumerate() {
        let mut line = format!("     fault {}: {} {:.1}–{:.1} s", i + 1, kind_name(f.fault), f.began_s, f.ended_s);
        if let Some(v) = f.reconnect_s {
            line += &format!(", back on air {v:.2} s after");
        }
        if let Some(v) = f.lowest_target_kbps {
            line += &format!(", video lowered to {v} kbps");
        }
        if let Some(v) = f.bitrate_recovery_s {
            line += &format!(", bitrate recovered {v:.1} s after");
        }
        println!("{line}");
    }
    if !r.faults.is_empty() {
        let m = &r.measured;
        let opt = |v: Option<f64>, unit: &str| v.map(|v| format!("{v:.2} {unit}")).unwrap_or_else(|| "n/a".into());
        println!(
            "     longest audio gap {}, picture at worst {} behind live",
            opt(m.max_audio_gap_ms, "ms"),
            opt(m.max_live_delay_s, "s")
        );
    }
    for f in &r.failures {
        println!("     - {f}");
    }
}
