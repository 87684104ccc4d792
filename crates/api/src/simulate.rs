//! Simulated players: N viewers sending heartbeats to a server at a fixed
//! interval for a bounded time, with varied agents and bitrates, over one
//! shared connection pool. Used by `mentorcast simulate-viewers` and by the
//! heartbeat load bench (`mentorcast bench viewers`).
//!
//! Each player has its own phase (spread evenly over the interval) and a
//! fixed schedule; a player whose answer comes after its next beat was due
//! skips the beats it missed (counted in `missed`). Latency is measured two
//! ways: `service` from sending to the answer, and `response` from when the
//! beat was *due* to the answer, which also includes any delay of the load
//! generator itself (so an overloaded generator cannot hide behind its own
//! slowness: no coordinated omission).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::{Agent, ApiError, Client, Heartbeat};

/// At most this many players in one simulation.
pub const MAX_PLAYERS: usize = 200_000;
/// At most this long.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Default cap on requests in flight (= connections).
pub const DEFAULT_CONNECTIONS: usize = 256;

/// What to simulate: how many players beat to which backend and app, how often and for how long.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// The backend, e.g. `http://127.0.0.1:8940`.
    pub base: String,
    pub app: String,
    pub players: usize,
    /// How long the players play.
    pub duration: Duration,
    /// Between two beats of a player (750 ms on the platform).
    pub interval: Duration,
    /// Beats due before this much time has passed are not measured (ramp-up).
    pub warmup: Duration,
    /// Sent by every player when set (signed-in viewers; the device limit then applies).
    pub token: Option<String>,
    /// Prefix of the players' ids (a random one when empty).
    pub id_prefix: String,
    /// At most this many requests in flight, hence connections, over all players
    /// (like a proxy's upstream pool); 0: no limit (a new connection whenever all are busy).
    pub max_connections: usize,
}

impl Simulation {
    /// `players` anonymous players of `app` at `base` for `duration`: every 750 ms, no warm-up,
    /// at most [`DEFAULT_CONNECTIONS`] connections.
    pub fn new(base: &str, app: &str, players: usize, duration: Duration) -> Simulation {
        Simulation {
            base: base.to_string(),
            app: app.to_string(),
            players,
            duration,
            interval: Duration::from_millis(750),
            warmup: Duration::ZERO,
            token: None,
            id_prefix: String::new(),
            max_connections: DEFAULT_CONNECTIONS,
        }
    }
}

/// Percentiles of a latency sample, milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// From microsecond samples (sorted in place).
    pub fn from_us(samples: &mut [u32]) -> Latency {
        if samples.is_empty() {
            return Latency::default();
        }
        samples.sort_unstable();
        let at =
            |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1] as f64 / 1000.0;
        Latency {
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: *samples.last().unwrap_or(&0) as f64 / 1000.0,
        }
    }
}

/// How a simulation went: beats sent, answered and missed, errors by kind, rates and latencies.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SimReport {
    pub players: usize,
    /// Beats sent (all of them, warm-up included).
    pub sent: u64,
    /// Answered 200.
    pub ok: u64,
    /// Answered with an error status or not at all.
    pub failed: u64,
    /// Beats skipped because the previous answer came too late.
    pub missed: u64,
    /// Errors by kind (`409`, `404`, `unreachable`, …).
    pub errors: BTreeMap<String, u64>,
    /// One of the error messages, for the user.
    pub first_error: Option<String>,
    /// Measured beats (after the warm-up).
    pub measured: u64,
    /// Measured beats per second.
    pub rate_per_s: f64,
    /// The rate the schedule asks for: players / interval.
    pub target_rate_per_s: f64,
    /// Due → answered (includes the generator's own delay).
    pub response: Latency,
    /// Sent → answered.
    pub service: Latency,
    /// The server's last `active` count seen.
    pub last_active: u64,
}

const AGENTS: &[(&str, &str, &str)] = &[
    ("Windows", "Chrome", "desktop"),
    ("Windows", "Edge", "desktop"),
    ("macOS", "Safari", "desktop"),
    ("macOS", "Chrome", "desktop"),
    ("Linux", "Firefox", "desktop"),
    ("Android", "Chrome", "mobile"),
    ("iOS", "Safari", "mobile"),
    ("iOS", "Safari", "tablet"),
    ("Android", "Chrome", "tablet"),
    ("ChromeOS", "Chrome", "desktop"),
];
const BITRATES: &[u32] = &[400, 800, 1500, 2500, 4500];

/// Live progress shared with the caller (e.g. for a progress line).
#[derive(Debug, Default)]
pub struct Progress {
    pub sent: AtomicU64,
    pub ok: AtomicU64,
    pub failed: AtomicU64,
    pub last_active: AtomicU64,
}

struct PlayerResult {
    response_us: Vec<u32>,
    service_us: Vec<u32>,
    sent: u64,
    ok: u64,
    failed: u64,
    missed: u64,
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
}

fn error_kind(e: &ApiError) -> String {
    match e.status() {
        Some(s) => s.to_string(),
        None => match e {
            ApiError::Unreachable { .. } => "unreachable".into(),
            ApiError::Malformed(_) => "malformed".into(),
            _ => "other".into(),
        },
    }
}

/// A reqwest client suited to many players on one host.
pub fn http_client(players: usize) -> Result<reqwest::Client, ApiError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(players.clamp(16, 4096))
        .pool_idle_timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .build()
        .map_err(|e| ApiError::Unreachable { base: String::new(), detail: e.to_string() })
}

/// Runs the simulation to its end.
pub async fn run(sim: &Simulation, progress: Arc<Progress>) -> Result<SimReport, ApiError> {
    if sim.players == 0 || sim.players > MAX_PLAYERS {
        return Err(ApiError::BadRequest(format!("players must be 1–{MAX_PLAYERS}")));
    }
    if sim.duration.is_zero() || sim.duration > MAX_DURATION || sim.interval < Duration::from_millis(10) {
        return Err(ApiError::BadRequest(format!(
            "the duration must be 1 s – {} s and the interval ≥ 10 ms",
            MAX_DURATION.as_secs()
        )));
    }
    let http = http_client(if sim.max_connections > 0 { sim.max_connections } else { sim.players })?;
    let gate = Arc::new(tokio::sync::Semaphore::new(if sim.max_connections > 0 {
        sim.max_connections
    } else {
        tokio::sync::Semaphore::MAX_PERMITS
    }));
    let mut client = Client::with_http(&sim.base, http);
    if let Some(t) = &sim.token {
        client = client.with_token(t.clone());
    }
    let prefix = if sim.id_prefix.is_empty() {
        format!("sim-{:08x}", rand::thread_rng().gen::<u32>())
    } else {
        sim.id_prefix.clone()
    };
    let t0 = Instant::now() + Duration::from_millis(50);
    let end = t0 + sim.duration;
    let measure_from = t0 + sim.warmup;
    let mut tasks = Vec::with_capacity(sim.players);
    for i in 0..sim.players {
        let client = client.clone();
        let progress = progress.clone();
        let (os, browser, device) = AGENTS[i % AGENTS.len()];
        let hb = Heartbeat {
            player_id: format!("{prefix}-{i}"),
            app: sim.app.clone(),
            bitrate: BITRATES[(i / AGENTS.len()) % BITRATES.len()],
            play_time: 0.0,
            agent: Agent { os: os.into(), browser: browser.into(), device: device.into() },
        };
        let phase = sim.interval.mul_f64(i as f64 / sim.players as f64);
        let schedule = Schedule { first: t0 + phase, interval: sim.interval, end, measure_from };
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move { player(client, hb, schedule, progress, gate).await }));
    }
    let mut report = SimReport {
        players: sim.players,
        target_rate_per_s: sim.players as f64 / sim.interval.as_secs_f64(),
        ..Default::default()
    };
    let (mut response, mut service) = (Vec::new(), Vec::new());
    for t in tasks {
        let Ok(r) = t.await else { continue };
        report.sent += r.sent;
        report.ok += r.ok;
        report.failed += r.failed;
        report.missed += r.missed;
        for (k, v) in r.errors {
            *report.errors.entry(k).or_default() += v;
        }
        if report.first_error.is_none() {
            report.first_error = r.first_error;
        }
        response.extend(r.response_us);
        service.extend(r.service_us);
    }
    report.measured = response.len() as u64;
    let measured_s = sim.duration.saturating_sub(sim.warmup).as_secs_f64();
    report.rate_per_s = if measured_s > 0.0 { report.measured as f64 / measured_s } else { 0.0 };
    report.response = Latency::from_us(&mut response);
    report.service = Latency::from_us(&mut service);
    report.last_active = progress.last_active.load(Ordering::Relaxed);
    Ok(report)
}

/// When one player beats: from `first` every `interval` until `end`; beats due
/// from `measure_from` on are measured.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    first: Instant,
    interval: Duration,
    end: Instant,
    measure_from: Instant,
}

async fn player(
    client: Client,
    mut hb: Heartbeat,
    schedule: Schedule,
    progress: Arc<Progress>,
    gate: Arc<tokio::sync::Semaphore>,
) -> PlayerResult {
    let Schedule { first, interval, end, measure_from } = schedule;
    let mut r = PlayerResult {
        response_us: Vec::new(),
        service_us: Vec::new(),
        sent: 0,
        ok: 0,
        failed: 0,
        missed: 0,
        errors: BTreeMap::new(),
        first_error: None,
    };
    let mut due = first;
    while due < end {
        tokio::time::sleep_until(due).await;
        let Ok(_permit) = gate.acquire().await else { break };
        let sent_at = Instant::now();
        hb.play_time = sent_at.saturating_duration_since(first).as_secs_f64();
        r.sent += 1;
        progress.sent.fetch_add(1, Ordering::Relaxed);
        let result = client.heartbeat(&hb).await;
        let done = Instant::now();
        match result {
            Ok(ack) => {
                r.ok += 1;
                progress.ok.fetch_add(1, Ordering::Relaxed);
                progress.last_active.store(ack.active, Ordering::Relaxed);
            }
            Err(e) => {
                r.failed += 1;
                progress.failed.fetch_add(1, Ordering::Relaxed);
                *r.errors.entry(error_kind(&e)).or_default() += 1;
                if r.first_error.is_none() {
                    r.first_error = Some(e.to_string());
                }
            }
        }
        if due >= measure_from {
            r.response_us.push(done.saturating_duration_since(due).as_micros().min(u32::MAX as u128) as u32);
            r.service_us.push(done.saturating_duration_since(sent_at).as_micros().min(u32::MAX as u128) as u32);
        }
        due += interval;
        while due <= done {
            r.missed += 1;
            due += interval;
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let mut v: Vec<u32> = (1..=1000).map(|x| x * 1000).collect();
        let l = Latency::from_us(&mut v);
        assert_eq!((l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms), (500.0, 900.0, 990.0, 1000.0));
        assert_eq!(Latency::from_us(&mut []), Latency::default());
        assert_eq!(Latency::from_us(&mut [7000]).p99_ms, 7.0);
    }

    #[tokio::test]
    async fn bounds_are_checked() {
        let p = Arc::new(Progress::default());
        assert!(run(&Simulation::new("http://127.0.0.1:1", "a", 0, Duration::from_secs(1)), p.clone()).await.is_err());
        assert!(run(&Simulation::new("http://127.0.0.1:1", "a", MAX_PLAYERS + 1, Duration::from_secs(1)), p.clone())
            .await
            .is_err());
        assert!(run(&Simulation::new("http://127.0.0.1:1", "a", 1, Duration::from_secs(7200)), p).await.is_err());
    }

    #[tokio::test]
    async fn an_unreachable_server_is_counted_not_fatal() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut sim = Simulation::new(&format!("http://127.0.0.1:{port}"), "a", 3, Duration::from_millis(1000));
        sim.interval = Duration::from_millis(400);
        let r = run(&sim, Arc::new(Progress::default())).await.unwrap();
        assert!(r.sent >= 3, "{r:?}");
        assert_eq!(r.ok, 0);
        assert_eq!(r.failed, r.sent);
        assert_eq!(r.errors.get("unreachable"), Some(&r.sent));
    }
}
