//! Who is watching: live presence from player heartbeats, as the platform counts its viewers.
//!
//! Per stream (app): every player ordered by the time of its last heartbeat
//! (`BTreeSet<(ms, playerId)>`) plus its latest heartbeat; a player is active
//! while its last heartbeat is at most `active_window_ms` old, and expired
//! players are swept from the front of that order. `total` counts the distinct
//! players seen since the stream's live session started, `peak` the most
//! active at once.
//!
//! Behind the [`Presence`] trait so that a shared store (Redis sorted sets:
//! `ZADD app ms playerId`, `ZREMRANGEBYSCORE` to sweep, `ZCOUNT` for active,
//! a HyperLogLog or set for total) can replace [`MemoryPresence`] when several
//! server instances run; callers never see the difference.
//!
//! Time comes from a [`Clock`] (injected in tests, so no test sleeps).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use mentorcast_api::{Agent, BitrateStats, Heartbeat, StreamStats, ViewerCount};

use crate::config::ViewersConfig;

/// Milliseconds on some clock (unix time for [`SystemClock`]).
pub trait Clock: Send + Sync {
    /// Milliseconds now.
    fn now_ms(&self) -> u64;
}

/// Wall-clock unix milliseconds.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }
}

/// A clock that moves only when told to (tests).
#[derive(Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock standing at `start_ms`.
    pub fn new(start_ms: u64) -> ManualClock {
        ManualClock(AtomicU64::new(start_ms))
    }
    /// Moves the clock to `ms`.
    pub fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }
    /// Moves the clock `ms` forward.
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Why a heartbeat was not counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresenceError {
    /// The account already has `max` other devices playing.
    #[error(
        "this account is already watching on {max} devices (the limit); \
         stop playback on one of them, then try again within a few seconds"
    )]
    TooManyDevices { max: usize },
}

/// The presence store.
#[async_trait]
pub trait Presence: Send + Sync {
    /// The store's clock, ms.
    fn now_ms(&self) -> u64;
    /// Records a heartbeat; `account` is the signed-in viewer's Cognito `sub`.
    /// Returns the stream's active viewers after it, or [`PresenceError::TooManyDevices`]
    /// when the account already has `max_devices_per_account` other active players.
    async fn beat(&self, hb: &Heartbeat, account: Option<&str>, now_ms: u64) -> Result<u64, PresenceError>;
    /// The stream's statistics now.
    async fn stats(&self, app: &str) -> StreamStats;
    /// The stream's active / peak / total now.
    async fn count(&self, app: &str) -> ViewerCount;
    /// A live session of `app` starts: totals and peak start again (from the players active now).
    async fn start_stream(&self, app: &str);
    /// The live session of `app` continues after a reconnect of its encoder: live
    /// again, with the totals and peak it had.
    async fn resume_stream(&self, app: &str);
    /// The live session of `app` ended: not live any more (its stats stay readable until the next start).
    async fn end_stream(&self, app: &str);
    /// Whether `app` is live (between `start_stream` and `end_stream`).
    async fn is_live(&self, app: &str) -> bool;
    /// Changes every time `app` starts or ends a live session (0 before the first).
    async fn epoch(&self, app: &str) -> u64;
    /// Drops players whose last heartbeat is older than the active window; returns every
    /// stream's [`ViewerCount`] now (callers publish the ones that changed) and the total active.
    async fn sweep(&self, now_ms: u64) -> SweepReport;
}

/// What a sweep leaves: each stream's count and the active total.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SweepReport {
    /// (app, its count now) for every stream known.
    pub counts: Vec<(String, ViewerCount)>,
    /// Active players over all streams.
    pub active_total: u64,
}

struct Player {
    last_ms: u64,
    bitrate: u32,
    play_time: f64,
    agent: Agent,
    account: Option<Arc<str>>,
}

#[derive(Default)]
struct StreamState {
    players: HashMap<Arc<str>, Player>,
    /// (last heartbeat ms, playerId): oldest first.
    order: BTreeSet<(u64, Arc<str>)>,
    /// Distinct players since the live session started.
    seen: HashSet<Arc<str>>,
    peak: u64,
    live: bool,
    epoch: u64,
}

impl StreamState {
    fn count(&self) -> ViewerCount {
        ViewerCount { active: self.players.len() as u64, peak: self.peak, total: self.seen.len() as u64 }
    }
}

#[derive(Default)]
struct Inner {
    streams: HashMap<String, StreamState>,
    /// account sub → (playerId → last heartbeat ms) of its players.
    devices: HashMap<Arc<str>, HashMap<Arc<str>, u64>>,
}

/// In-process presence (one server instance).
pub struct MemoryPresence {
    window_ms: u64,
    max_devices: usize,
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
}

impl MemoryPresence {
    /// Presence on the system clock, with the `[viewers]` window and device limit.
    pub fn new(cfg: &ViewersConfig) -> MemoryPresence {
        MemoryPresence::with_clock(cfg, Arc::new(SystemClock))
    }

    /// Presence on `clock` (tests move a [`ManualClock`]).
    pub fn with_clock(cfg: &ViewersConfig, clock: Arc<dyn Clock>) -> MemoryPresence {
        MemoryPresence {
            window_ms: cfg.active_window_ms,
            max_devices: cfg.max_devices_per_account.max(1),
            clock,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Oldest heartbeat time that still counts as active at `now`.
    fn cutoff(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.window_ms)
    }
}

/// Removes the players of `s` last seen before `cutoff` (and their device entries).
fn expire(s: &mut StreamState, devices: &mut HashMap<Arc<str>, HashMap<Arc<str>, u64>>, cutoff: u64) {
    while let Some((ms, _)) = s.order.first() {
        if *ms >= cutoff {
            break;
        }
        let Some((_, id)) = s.order.pop_first() else { break };
        if let Some(p) = s.players.remove(&id) {
            if let Some(acc) = p.account {
                if let Some(d) = devices.get_mut(&acc) {
                    if d.get(&id).is_some_and(|t| *t < cutoff) {
                        d.remove(&id);
                    }
                    if d.is_empty() {
                        devices.remove(&acc);
                    }
                }
            }
        }
    }
}

fn label(s: &str) -> String {
    let s = s.trim();
    if s.is_empty() {
        "unknown".into()
    } else {
        s.to_string()
    }
}

/// The statistics of a stream's players (all of them are active after [`expire`]).
fn compute_stats(app: &str, s: Option<&StreamState>) -> StreamStats {
    let Some(s) = s else { return StreamStats { app: app.to_string(), ..Default::default() } };
    let n = s.players.len();
    let mut by_device = BTreeMap::new();
    let mut by_os = BTreeMap::new();
    let mut by_browser = BTreeMap::new();
    let (mut min, mut max, mut sum_br, mut sum_play) = (u32::MAX, 0u32, 0f64, 0f64);
    for p in s.players.values() {
        min = min.min(p.bitrate);
        max = max.max(p.bitrate);
        sum_br += p.bitrate as f64;
        sum_play += p.play_time;
        *by_device.entry(label(&p.agent.device)).or_insert(0u64) += 1;
        *by_os.entry(label(&p.agent.os)).or_insert(0u64) += 1;
        *by_browser.entry(label(&p.agent.browser)).or_insert(0u64) += 1;
    }
    let c = s.count();
    StreamStats {
        app: app.to_string(),
        live: s.live,
        active: c.active,
        total: c.total,
        peak: c.peak,
        avg_play_time_s: if n == 0 { 0.0 } else { sum_play / n as f64 },
        bitrate: if n == 0 { BitrateStats::default() } else { BitrateStats { min, avg: sum_br / n as f64, max } },
        by_device,
        by_os,
        by_browser,
    }
}

#[async_trait]
impl Presence for MemoryPresence {
    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    async fn beat(&self, hb: &Heartbeat, account: Option<&str>, now_ms: u64) -> Result<u64, PresenceError> {
        let cutoff = self.cutoff(now_ms);
        let mut guard = self.lock();
        let inner = &mut *guard;
        // The device limit: distinct active players per account, over all streams.
        let account: Option<Arc<str>> = match account {
            None => None,
            Some(sub) => {
                let d = inner.devices.entry(Arc::from(sub)).or_default();
                d.retain(|_, t| *t >= cutoff);
                if !d.contains_key(hb.player_id.as_str()) && d.len() >= self.max_devices {
                    return Err(PresenceError::TooManyDevices { max: self.max_devices });
                }
                let id: Arc<str> = d
                    .get_key_value(hb.player_id.as_str())
                    .map(|(k, _)| k.clone())
                    .unwrap_or_else(|| Arc::from(hb.player_id.as_str()));
                d.insert(id, now_ms);
                inner.devices.get_key_value(sub).map(|(k, _)| k.clone())
            }
        };
        let s = inner.streams.entry(hb.app.clone()).or_default();
        expire(s, &mut inner.devices, cutoff);
        let id: Arc<str> = match s.players.get_key_value(hb.player_id.as_str()) {
            Some((k, p)) => {
                let k = k.clone();
                s.order.remove(&(p.last_ms, k.clone()));
                k
            }
            None => s.seen.get(hb.player_id.as_str()).cloned().unwrap_or_else(|| Arc::from(hb.player_id.as_str())),
        };
        // A clock that went backwards must not reorder the set: never move a player back in time.
        let last_ms = s.players.get(&id).map_or(now_ms, |p| p.last_ms.max(now_ms));
        s.order.insert((last_ms, id.clone()));
        s.seen.insert(id.clone());
        let player = Player {
            last_ms,
            bitrate: hb.bitrate,
            play_time: if hb.play_time.is_finite() { hb.play_time.max(0.0) } else { 0.0 },
            agent: hb.agent.clone(),
            account,
        };
        s.players.insert(id, player);
        let active = s.players.len() as u64;
        s.peak = s.peak.max(active);
        Ok(active)
    }

    async fn stats(&self, app: &str) -> StreamStats {
        let cutoff = self.cutoff(self.clock.now_ms());
        let mut guard = self.lock();
        let inner = &mut *guard;
        if let Some(s) = inner.streams.get_mut(app) {
            expire(s, &mut inner.devices, cutoff);
        }
        compute_stats(app, inner.streams.get(app))
    }

    async fn count(&self, app: &str) -> ViewerCount {
        let cutoff = self.cutoff(self.clock.now_ms());
        let mut guard = self.lock();
        let inner = &mut *guard;
        match inner.streams.get_mut(app) {
            Some(s) => {
                expire(s, &mut inner.devices, cutoff);
                s.count()
            }
            None => ViewerCount::default(),
        }
    }

    async fn start_stream(&self, app: &str) {
        let cutoff = self.cutoff(self.clock.now_ms());
        let mut guard = self.lock();
        let inner = &mut *guard;
        let s = inner.streams.entry(app.to_string()).or_default();
        expire(s, &mut inner.devices, cutoff);
        s.seen = s.players.keys().cloned().collect();
        s.peak = s.players.len() as u64;
        s.live = true;
        s.epoch += 1;
    }

    async fn resume_stream(&self, app: &str) {
        let mut guard = self.lock();
        let s = guard.streams.entry(app.to_string()).or_default();
        s.live = true;
        s.epoch += 1;
    }

    async fn end_stream(&self, app: &str) {
        let mut guard = self.lock();
        let s = guard.streams.entry(app.to_string()).or_default();
        s.live = false;
        s.epoch += 1;
    }

    async fn is_live(&self, app: &str) -> bool {
        self.lock().streams.get(app).is_some_and(|s| s.live)
    }

    async fn epoch(&self, app: &str) -> u64 {
        self.lock().streams.get(app).map_or(0, |s| s.epoch)
    }

    async fn sweep(&self, now_ms: u64) -> SweepReport {
        let cutoff = self.cutoff(now_ms);
        let mut guard = self.lock();
        let inner = &mut *guard;
        let mut report = SweepReport::default();
        for (app, s) in inner.streams.iter_mut() {
            expire(s, &mut inner.devices, cutoff);
            let c = s.count();
            report.active_total += c.active;
            report.counts.push((app.clone(), c));
        }
        // Accounts whose players all expired.
        inner.devices.retain(|_, d| {
            d.retain(|_, t| *t >= cutoff);
            !d.is_empty()
        });
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Arc<ManualClock>, MemoryPresence) {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let p = MemoryPresence::with_clock(&ViewersConfig::default(), clock.clone());
        (clock, p)
    }

    fn hb(app: &str, id: &str, bitrate: u32, play: f64, dev: (&str, &str, &str)) -> Heartbeat {
        Heartbeat {
            player_id: id.into(),
            app: app.into(),
            bitrate,
            play_time: play,
            agent: Agent { os: dev.0.into(), browser: dev.1.into(), device: dev.2.into() },
        }
    }

    const PC: (&str, &str, &str) = ("Linux", "Chrome", "desktop");
    const PHONE: (&str, &str, &str) = ("Android", "Chrome", "mobile");

    #[tokio::test]
    async fn active_window_is_two_seconds() {
        let (clock, p) = setup();
        let t0 = clock.now_ms();
        assert_eq!(p.beat(&hb("a", "p1", 1000, 0.0, PC), None, t0).await, Ok(1));
        assert_eq!(p.beat(&hb("a", "p2", 1000, 0.0, PC), None, t0 + 500).await, Ok(2));
        // p1 is still active exactly at the edge of its window …
        clock.set(t0 + 2000);
        assert_eq!(p.count("a").await.active, 2);
        // … and expires one millisecond later; p2 is still there.
        clock.set(t0 + 2001);
        assert_eq!(p.count("a").await.active, 1);
        clock.set(t0 + 2501);
        assert_eq!(p.count("a").await.active, 0);
        // a beat keeps a player active
        assert_eq!(p.beat(&hb("a", "p3", 1000, 0.0, PC), None, t0 + 3000).await, Ok(1));
        assert_eq!(p.beat(&hb("a", "p3", 1000, 0.7, PC), None, t0 + 4500).await, Ok(1));
        clock.set(t0 + 6000);
        assert_eq!(p.count("a").await.active, 1);
        // unrelated streams are separate
        assert_eq!(p.count("b").await, ViewerCount::default());
    }

    #[tokio::test]
    async fn sweep_expires_and_reports_counts() {
        let (clock, p) = setup();
        let t0 = clock.now_ms();
        p.beat(&hb("a", "p1", 1, 0.0, PC), None, t0).await.unwrap();
        p.beat(&hb("b", "q1", 1, 0.0, PC), None, t0).await.unwrap();
        p.beat(&hb("b", "q2", 1, 0.0, PC), None, t0 + 1000).await.unwrap();
        let r = p.sweep(t0 + 1000).await;
        assert_eq!(r.active_total, 3);
        let mut counts = r.counts.clone();
        counts.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(
            counts,
            vec![
                ("a".to_string(), ViewerCount { active: 1, peak: 1, total: 1 }),
                ("b".to_string(), ViewerCount { active: 2, peak: 2, total: 2 })
            ]
        );
        assert_eq!(p.sweep(t0 + 1500).await.active_total, 3);
        // p1 and q1 expire
        let r = p.sweep(t0 + 2001).await;
        assert_eq!(r.active_total, 1);
        let mut counts = r.counts;
        counts.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(
            counts,
            vec![
                ("a".to_string(), ViewerCount { active: 0, peak: 1, total: 1 }),
                ("b".to_string(), ViewerCount { active: 1, peak: 2, total: 2 })
            ]
        );
    }

    #[tokio::test]
    async fn totals_and_peak_per_live_session() {
        let (clock, p) = setup();
        let t0 = clock.now_ms();
        p.start_stream("a").await;
        assert!(p.is_live("a").await);
        for i in 0..5 {
            p.beat(&hb("a", &format!("p{i}"), 1, 0.0, PC), None, t0).await.unwrap();
        }
        // the same player again is not a new viewer
        p.beat(&hb("a", "p0", 1, 0.0, PC), None, t0 + 100).await.unwrap();
        clock.set(t0 + 3000);
        assert_eq!(p.count("a").await, ViewerCount { active: 0, peak: 5, total: 5 });
        // two come back, three new ones: total counts distinct players, peak the most at once
        for id in ["p0", "p1", "n1", "n2", "n3"] {
            p.beat(&hb("a", id, 1, 0.0, PC), None, t0 + 3000).await.unwrap();
        }
        assert_eq!(p.count("a").await, ViewerCount { active: 5, peak: 5, total: 8 });
        p.beat(&hb("a", "n4", 1, 0.0, PC), None, t0 + 3100).await.unwrap();
        assert_eq!(p.count("a").await, ViewerCount { active: 6, peak: 6, total: 9 });
        // the stream ends: stats stay readable, not live
        p.end_stream("a").await;
        assert!(!p.is_live("a").await);
        let s = p.stats("a").await;
        assert_eq!((s.live, s.total, s.peak), (false, 9, 6));
        // the encoder reconnects: the same live session goes on with its totals
        let e = p.epoch("a").await;
        p.resume_stream("a").await;
        assert!(p.is_live("a").await && p.epoch("a").await > e);
        assert_eq!(p.count("a").await, ViewerCount { active: 6, peak: 6, total: 9 });
        p.end_stream("a").await;
        // a new live session starts from the players active now
        clock.set(t0 + 4000);
        let e = p.epoch("a").await;
        p.start_stream("a").await;
        assert!(p.epoch("a").await > e);
        assert_eq!(p.count("a").await, ViewerCount { active: 6, peak: 6, total: 6 });
        clock.set(t0 + 6000);
        assert_eq!(p.count("a").await, ViewerCount { active: 0, peak: 6, total: 6 });
        p.start_stream("a").await;
        assert_eq!(p.count("a").await, ViewerCount { active: 0, peak: 0, total: 0 });
    }

    #[tokio::test]
    async fn two_devices_per_account() {
        let (clock, p) = setup();
        let t0 = clock.now_ms();
        assert!(p.beat(&hb("a", "laptop", 1, 0.0, PC), Some("alice"), t0).await.is_ok());
        assert!(p.beat(&hb("b", "phone", 1, 0.0, PHONE), Some("alice"), t0).await.is_ok());
        // the third device of the same account, on any stream, is refused
        let e = p.beat(&hb("a", "tablet", 1, 0.0, PHONE), Some("alice"), t0 + 100).await.unwrap_err();
        assert_eq!(e, PresenceError::TooManyDevices { max: 2 });
        assert!(e.to_string().contains("2 devices"), "{e}");
        // it was not counted
        assert_eq!(p.count("a").await.active, 1);
        // the devices already in keep beating; another account and anonymous players are not limited
        assert!(p.beat(&hb("a", "laptop", 1, 0.0, PC), Some("alice"), t0 + 700).await.is_ok());
        assert!(p.beat(&hb("a", "bob1", 1, 0.0, PC), Some("bob"), t0 + 700).await.is_ok());
        for i in 0..5 {
            assert!(p.beat(&hb("a", &format!("anon{i}"), 1, 0.0, PC), None, t0 + 700).await.is_ok());
        }
        // once the phone stops beating for longer than the window, the tablet may join
        assert!(p.beat(&hb("a", "tablet", 1, 0.0, PHONE), Some("alice"), t0 + 2000).await.is_err());
        p.sweep(t0 + 2001).await;
        assert!(p.beat(&hb("a", "tablet", 1, 0.0, PHONE), Some("alice"), t0 + 2001).await.is_ok());
        // and now the phone is the third
        assert!(p.beat(&hb("b", "phone", 1, 0.0, PHONE), Some("alice"), t0 + 2100).await.is_err());
    }

    #[tokio::test]
    async fn device_limit_without_a_sweep() {
        let (clock, p) = setup();
        let t0 = clock.now_ms();
        p.beat(&hb("a", "d1", 1, 0.0, PC), Some("u"), t0).await.unwrap();
        p.beat(&hb("a", "d2", 1, 0.0, PC), Some("u"), t0).await.unwrap();
        assert!(p.beat(&hb("a", "d3", 1, 0.0, PC), Some("u"), t0 + 1999).await.is_err());
        // expired by time alone (the beat checks the window itself)
        assert!(p.beat(&hb("a", "d3", 1, 0.0, PC), Some("u"), t0 + 2001).await.is_ok());
    }

    #[tokio::test]
    async fn stats_maths() {
        let (clock, p) = setup();
        let t0 = clock.now_ms();
        p.start_stream("a").await;
        p.beat(&hb("a", "p1", 800, 10.0, PC), None, t0).await.unwrap();
        p.beat(&hb("a", "p2", 2500, 20.0, PHONE), None, t0).await.unwrap();
        p.beat(&hb("a", "p3", 1200, 30.0, ("iOS", "Safari", "mobile")), None, t0).await.unwrap();
        p.beat(&hb("a", "p4", 0, 0.0, ("", "", "")), None, t0 - 1000).await.unwrap();
        // the latest heartbeat of a player is what counts
        p.beat(&hb("a", "p1", 1000, 12.0, PC), None, t0 + 10).await.unwrap();
        let s = p.stats("a").await;
        assert!(s.live);
        assert_eq!((s.active, s.total, s.peak), (4, 4, 4));
        assert_eq!(s.bitrate.min, 0);
        assert_eq!(s.bitrate.max, 2500);
        assert!((s.bitrate.avg - (1000.0 + 2500.0 + 1200.0 + 0.0) / 4.0).abs() < 1e-9);
        assert!((s.avg_play_time_s - (12.0 + 20.0 + 30.0) / 4.0).abs() < 1e-9);
        assert_eq!(s.by_device, BTreeMap::from([("desktop".into(), 1), ("mobile".into(), 2), ("unknown".into(), 1)]));
        assert_eq!(
            s.by_os,
            BTreeMap::from([("Linux".into(), 1), ("Android".into(), 1), ("iOS".into(), 1), ("unknown".into(), 1)])
        );
        assert_eq!(s.by_browser, BTreeMap::from([("Chrome".into(), 2), ("Safari".into(), 1), ("unknown".into(), 1)]));
        // counts are over active players only: p4 (seen at t0-1000) expires first
        clock.set(t0 + 1001);
        let s = p.stats("a").await;
        assert_eq!((s.active, s.total, s.peak), (3, 4, 4));
        assert_eq!(s.by_device.get("unknown"), None);
        assert_eq!(s.bitrate.min, 1000);
        // no players: zeros, never NaN
        clock.set(t0 + 5000);
        let s = p.stats("a").await;
        assert_eq!(s.active, 0);
        assert_eq!(s.avg_play_time_s, 0.0);
        assert_eq!(s.bitrate, BitrateStats::default());
        // a stream never seen
        let s = p.stats("nobody").await;
        assert_eq!((s.app.as_str(), s.live, s.active), ("nobody", false, 0));
    }

    #[tokio::test]
    async fn bad_numbers_and_backwards_clock() {
        let (clock, p) = setup();
        let t0 = clock.now_ms();
        p.beat(&hb("a", "p1", 1, f64::NAN, PC), None, t0).await.unwrap();
        p.beat(&hb("a", "p2", 1, -5.0, PC), None, t0).await.unwrap();
        assert_eq!(p.stats("a").await.avg_play_time_s, 0.0);
        // an older timestamp does not move a player back
        p.beat(&hb("a", "p1", 1, 1.0, PC), None, t0 - 10_000).await.unwrap();
        clock.set(t0 + 1500);
        assert_eq!(p.count("a").await.active, 2);
    }

    #[tokio::test]
    async fn many_players_sweep_in_order() {
        let (clock, p) = setup();
        let t0 = clock.now_ms();
        for i in 0..10_000u64 {
            p.beat(&hb("a", &format!("p{i}"), 1, 0.0, PC), None, t0 + i / 10).await.unwrap();
        }
        assert_eq!(p.count("a").await.active, 10_000);
        // at t0+2500, the players seen before t0+500 (i < 5000) have expired
        let r = p.sweep(t0 + 2500).await;
        assert_eq!(r.active_total, 5000);
        clock.set(t0 + 2500);
        assert_eq!(p.count("a").await, ViewerCount { active: 5000, peak: 10_000, total: 10_000 });
    }
}
