//! Adaptive bitrate: the output measures congestion end to end — how long
//! the newest bytes wait to leave this machine, counting its own queue, its
//! buffer and the kernel's send buffer — and the send rate the link achieves,
//! and moves the video encoder's target between a floor and the configured
//! bitrate.
//!
//! - Down: when the queue delay stays at or above [`CONGESTED`] for two ticks
//!   (or reaches twice that at once),
//!   the target drops to what the link carried (80 % of the send rate measured
//!   while congested — a saturated link sends at its capacity — less the audio,
//!   and less what it takes to drain the delay beyond [`CONGESTED`] within
//!   [`DRAIN_WITHIN`]), at least 10 % below the current target, never below the
//!   floor. Again after [`HOLD_DOWN`] if the delay is not going down, or after
//!   [`HOLD_DOWN_GROWING`] if it is still growing (the first cut is made before
//!   the rate under congestion can be measured); never while it drains.
//! - Up: after [`CLEAR_FOR`] with the delay under [`CLEAR`], +10 % of the
//!   configured bitrate every [`STEP_UP_EVERY`] (about ten seconds from 40 %
//!   back to 85 %; OBS takes about a minute at +10 % per 4 s).
//!
//! A clean link never lowers the target: content that does not fill the
//! bitrate sends less, but nothing waits, so there is no delay.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Queue delay that counts as congestion.
pub const CONGESTED: Duration = Duration::from_millis(250);
/// Queue delay under which the link counts as clear.
pub const CLEAR: Duration = Duration::from_millis(80);
/// Clear for this long before stepping up.
pub const CLEAR_FOR: Duration = Duration::from_secs(2);
pub const STEP_UP_EVERY: Duration = Duration::from_secs(2);
/// After a step down, wait this long before the next one.
pub const HOLD_DOWN: Duration = Duration::from_millis(1500);
/// After a step down, a delay that is still growing allows the next one this soon.
pub const HOLD_DOWN_GROWING: Duration = Duration::from_millis(500);
/// The send rate is measured over this window.
const RATE_WINDOW: Duration = Duration::from_secs(1);
/// A backlog found at a step down is planned away in this long.
pub const DRAIN_WITHIN: Duration = Duration::from_secs(3);

/// The mentor's choice: on or off, and the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct AdaptiveConfig {
    pub enabled: bool,
    /// The configured video bitrate: the ceiling.
    pub target_kbps: u32,
    /// The floor (default: 25 % of the target, at least 300 kbps, at most the target).
    pub floor_kbps: u32,
}

impl AdaptiveConfig {
    pub fn new(enabled: bool, target_kbps: u32, floor_kbps: Option<u32>) -> Self {
        let floor = floor_kbps.unwrap_or_else(|| (target_kbps / 4).max(300)).min(target_kbps);
        Self { enabled, target_kbps, floor_kbps: floor }
    }
}

/// What the controller sees every tick.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub now: Instant,
    /// Bytes that have left this machine on this connection so far.
    pub delivered: u64,
    /// How long the newest bytes wait to leave (capture → out of the kernel).
    pub delay: Duration,
}

#[derive(Debug)]
pub struct Controller {
    cfg: AdaptiveConfig,
    audio_kbps: u32,
    current: u32,
    rates: VecDeque<(Instant, u64)>,
    congested_ticks: u32,
    clear_since: Option<Instant>,
    last_down: Option<Instant>,
    /// The delay when the target last went down.
    delay_at_down: Duration,
    /// Bytes delivered when the current congestion began.
    congested_from: Option<(Instant, u64)>,
    last_up: Option<Instant>,
}

impl Controller {
    pub fn new(cfg: AdaptiveConfig, audio_kbps: u32) -> Self {
        Self {
            cfg,
            audio_kbps,
            current: cfg.target_kbps,
            rates: VecDeque::new(),
            congested_ticks: 0,
            clear_since: None,
            last_down: None,
            delay_at_down: Duration::ZERO,
            congested_from: None,
            last_up: None,
        }
    }

    pub fn config(&self) -> AdaptiveConfig {
        self.cfg
    }

    /// The video bitrate the encoder should use now.
    pub fn current_kbps(&self) -> u32 {
        self.current
    }

    /// The link's achieved send rate (all tracks), kbit/s, over the last second.
    pub fn send_rate_kbps(&self) -> Option<f64> {
        let (t0, b0) = *self.rates.front()?;
        let (t1, b1) = *self.rates.back()?;
        let dt = t1.duration_since(t0).as_secs_f64();
        (dt >= 0.5).then(|| b1.saturating_sub(b0) as f64 * 8.0 / dt / 1000.0)
    }

    /// A new connection: its byte count starts again.
    pub fn reset_link(&mut self) {
        self.rates.clear();
        self.congested_ticks = 0;
        self.clear_since = None;
        self.congested_from = None;
    }

    /// The send rate since the congestion began (the link's capacity), once it
    /// covers half a second; before that, over the last second.
    fn capacity_kbps(&self, now: Instant, delivered: u64) -> Option<f64> {
        self.congested_from
            .and_then(|(t0, b0)| {
                let dt = now.duration_since(t0).as_secs_f64();
                (dt >= 0.5).then(|| delivered.saturating_sub(b0) as f64 * 8.0 / dt / 1000.0)
            })
            .or_else(|| self.send_rate_kbps())
    }

    /// One tick; returns the new target when it changes.
    pub fn tick(&mut self, s: Sample) -> Option<u32> {
        self.rates.push_back((s.now, s.delivered));
        while self.rates.len() > 2 && self.rates.front().is_some_and(|(t, _)| s.now.duration_since(*t) > RATE_WINDOW) {
            self.rates.pop_front();
        }
        if !self.cfg.enabled {
            return None;
        }
        if s.delay >= CONGESTED {
            self.congested_ticks += 1;
            self.clear_since = None;
            let prev = self.rates.iter().rev().nth(1).copied().unwrap_or((s.now, s.delivered));
            self.congested_from.get_or_insert(prev);
            // After a cut: wait while the backlog drains; cut again if it still grows.
            let held = self.last_down.map(|t| s.now.duration_since(t)).is_some_and(|d| {
                let growing = s.delay > self.delay_at_down + CONGESTED / 2;
                let draining = s.delay < self.delay_at_down;
                d < HOLD_DOWN_GROWING || (d < HOLD_DOWN && !growing) || draining
            });
            // Two ticks in a row, or one far past the mark (a link that just got much
            // slower: every tick of waiting adds a second's backlog to drain or drop).
            let sure = self.congested_ticks >= 2 || s.delay >= 2 * CONGESTED;
            if sure && !held && self.current > self.cfg.floor_kbps {
                let by_rate = self.capacity_kbps(s.now, s.delivered).map(|rate| {
                    let backlog = s.delay.saturating_sub(CONGESTED).as_secs_f64() / DRAIN_WITHIN.as_secs_f64();
                    (rate * (0.8 - backlog)).max(0.0) as u32
                });
                let by_rate = by_rate.map(|r| r.saturating_sub(self.audio_kbps));
                let ceiling = self.current * 9 / 10;
                let next = by_rate.map_or(ceiling, |r| r.min(ceiling)).clamp(self.cfg.floor_kbps, self.cfg.target_kbps);
                self.last_down = Some(s.now);
                self.delay_at_down = s.delay;
                return self.set(next);
            }
            return None;
        }
        self.congested_from = None;
        self.congested_ticks = 0;
        if s.delay < CLEAR {
            let since = *self.clear_since.get_or_insert(s.now);
            let stepped = self.last_up.max(self.last_down).is_some_and(|t| s.now.duration_since(t) < STEP_UP_EVERY);
            if s.now.duration_since(since) >= CLEAR_FOR && !stepped && self.current < self.cfg.target_kbps {
                self.last_up = Some(s.now);
                let next = (self.current + self.cfg.target_kbps / 10).min(self.cfg.target_kbps);
                return self.set(next);
            }
        } else {
            self.clear_since = None;
        }
        None
    }

    fn set(&mut self, kbps: u32) -> Option<u32> {
        (kbps != self.current).then(|| {
            self.current = kbps;
            kbps
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `secs` of ticks every 250 ms, the link carrying `link_kbps` while
    /// `delay` says how long the newest bytes wait; returns the targets set.
    fn run(
        c: &mut Controller,
        t: &mut Instant,
        delivered: &mut u64,
        secs: f64,
        link_kbps: f64,
        delay_ms: u64,
    ) -> Vec<u32> {
        let mut set = Vec::new();
        for _ in 0..(secs * 4.0) as u32 {
            *t += Duration::from_millis(250);
            *delivered += (link_kbps * 1000.0 / 8.0 / 4.0) as u64;
            if let Some(k) = c.tick(Sample { now: *t, delivered: *delivered, delay: Duration::from_millis(delay_ms) }) {
                set.push(k);
            }
        }
        set
    }

    #[test]
    fn a_clean_link_never_lowers_the_target() {
        let mut c = Controller::new(AdaptiveConfig::new(true, 1500, None), 128);
        let (mut t, mut d) = (Instant::now(), 0);
        // Content that fills a third of the bitrate: little is sent, nothing waits.
        assert!(run(&mut c, &mut t, &mut d, 600.0, 500.0, 5).is_empty());
        assert_eq!(c.current_kbps(), 1500);
    }

    #[test]
    fn congestion_lowers_to_what_the_link_carries_and_clear_air_brings_it_back() {
        let mut c = Controller::new(AdaptiveConfig::new(true, 1500, None), 128);
        let (mut t, mut d) = (Instant::now(), 0);
        run(&mut c, &mut t, &mut d, 5.0, 1628.0, 10);
        // A 650 kbit/s link: the queue grows.
        let down = run(&mut c, &mut t, &mut d, 6.0, 650.0, 900);
        assert!(!down.is_empty());
        let low = c.current_kbps();
        assert!(low <= 650 * 80 / 100 - 128 + 1, "lowered to what fits: {low}");
        assert!(low >= 375, "not below the floor (25 % of 1500): {low}");
        // The throttle ends: within 20 s the target is back to ≥ 85 %.
        let mut secs = 0.0;
        while c.current_kbps() < 1500 * 85 / 100 {
            run(&mut c, &mut t, &mut d, 0.25, 1700.0, 20);
            secs += 0.25;
            assert!(secs <= 20.0, "not recovered after 20 s: {}", c.current_kbps());
        }
        assert!(secs >= CLEAR_FOR.as_secs_f64(), "not before the link was clear for a while");
    }

    #[test]
    fn a_sudden_throttle_is_met_within_two_seconds_even_before_the_rate_settles() {
        let mut c = Controller::new(AdaptiveConfig::new(true, 1500, None), 128);
        let (mut t, mut d) = (Instant::now(), 0);
        run(&mut c, &mut t, &mut d, 5.0, 1628.0, 10);
        // The link falls to 650 kbit/s: the backlog (and so the delay) grows by what does
        // not fit, 0.6 s a second at the full rate, less as the target comes down.
        let mut delay_ms = 10.0;
        for tick in 1..=8 {
            t += Duration::from_millis(250);
            d += 650 * 1000 / 8 / 4;
            let sent = c.current_kbps() as f64 + 128.0;
            delay_ms += ((sent - 650.0) / sent).max(-1.0) * 250.0;
            c.tick(Sample { now: t, delivered: d, delay: Duration::from_millis(delay_ms.max(0.0) as u64) });
            if tick == 8 {
                assert!(c.current_kbps() <= 650 * 80 / 100 - 128, "after 2 s: {} kbps", c.current_kbps());
            }
        }
        assert!(delay_ms < 900.0, "the drop policy's threshold was not reached: {delay_ms} ms");
    }

    #[test]
    fn one_tick_far_past_the_mark_is_enough_one_just_past_it_is_not() {
        let mut c = Controller::new(AdaptiveConfig::new(true, 1500, None), 128);
        let (mut t, mut d) = (Instant::now(), 0);
        run(&mut c, &mut t, &mut d, 5.0, 1628.0, 10);
        assert!(run(&mut c, &mut t, &mut d, 0.25, 1628.0, 300).is_empty(), "one tick just past 250 ms");
        run(&mut c, &mut t, &mut d, 1.0, 1628.0, 10);
        assert_eq!(run(&mut c, &mut t, &mut d, 0.25, 650.0, 500).len(), 1, "one tick at 500 ms");
        assert!(c.current_kbps() < 1500);
    }

    #[test]
    fn a_draining_backlog_is_not_cut_again() {
        let mut c = Controller::new(AdaptiveConfig::new(true, 3000, Some(300)), 128);
        let (mut t, mut d) = (Instant::now(), 0);
        run(&mut c, &mut t, &mut d, 3.0, 1000.0, 10);
        let first = run(&mut c, &mut t, &mut d, 0.5, 1000.0, 600);
        assert_eq!(first.len(), 1, "{first:?}");
        // The delay falls after the cut: no further cut while it drains.
        for ms in [580, 520, 470, 420, 380, 340, 300, 270] {
            assert!(run(&mut c, &mut t, &mut d, 0.25, 1000.0, ms).is_empty(), "cut again at {ms} ms");
        }
    }

    #[test]
    fn the_floor_holds_and_off_means_off() {
        let mut c = Controller::new(AdaptiveConfig::new(true, 2000, Some(800)), 128);
        let (mut t, mut d) = (Instant::now(), 0);
        run(&mut c, &mut t, &mut d, 30.0, 100.0, 3000);
        assert_eq!(c.current_kbps(), 800);
        let mut off = Controller::new(AdaptiveConfig::new(false, 2000, None), 128);
        assert!(run(&mut off, &mut t, &mut d, 30.0, 100.0, 3000).is_empty());
        assert_eq!(AdaptiveConfig::new(true, 1000, None).floor_kbps, 300, "25 %, at least 300");
        assert_eq!(AdaptiveConfig::new(true, 200, None).floor_kbps, 200, "never above the target");
    }

    #[test]
    fn a_single_slow_tick_is_not_congestion() {
        let mut c = Controller::new(AdaptiveConfig::new(true, 1500, None), 128);
        let (mut t, mut d) = (Instant::now(), 0);
        run(&mut c, &mut t, &mut d, 3.0, 1600.0, 10);
        assert!(run(&mut c, &mut t, &mut d, 0.25, 1600.0, 400).is_empty());
        assert!(run(&mut c, &mut t, &mut d, 3.0, 1600.0, 10).is_empty());
    }
}
