//! Testing the connection before going live (as the IVS SDK's
//! `recommendedVideoSettings` does): publish to the ingest's test
//! application — which neither records nor relays, so no viewer sees it and no
//! live session starts — measure the round trip with RTMP pings and the upload
//! rate by sending filler as fast as the link takes it (paced, and bounded in
//! time), and recommend the highest preset and bitrate that fit in 70 % of
//! what was measured, best first.

use std::time::Duration;

use bytes::Bytes;
use mentorcast_protocol::rtmp::{Connection, RtmpError, ServerEvent};
use mentorcast_protocol::transport::CONNECT_TIMEOUT;
use mentorcast_protocol::{Connector, NetConnector, Service, TlsOptions};
use tokio::time::Instant;

use crate::presets::{PresetId, BITRATE_LIMITS, PRESETS};

/// How long the whole test may take at most.
pub const TEST_WITHIN: Duration = Duration::from_secs(10);
/// How long filler is sent for.
const UPLOAD_FOR: Duration = Duration::from_secs(5);
/// The rate measured is over the last part of the upload (after TCP's slow start).
const MEASURE_LAST: Duration = Duration::from_secs(3);
/// Filler is paced at this rate at most: enough to tell that the top preset fits.
const PACE_KBPS: f64 = 25_000.0;
/// The share of the measured rate a recommendation may use.
const HEADROOM: f64 = 0.7;
/// Filler never waits beyond this in the kernel's buffer (so the measurement
/// ends on time and the rate is what left, not what was buffered).
const MAX_UNSENT: u64 = 256 * 1024;

/// One recommendation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Recommendation {
    pub preset: PresetId,
    pub video_kbps: u32,
}

/// What the test measured and recommends.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ConnectionReport {
    /// Round trip to the ingest (the best of the pings answered), ms.
    pub rtt_ms: Option<f64>,
    /// What the link carried upward, kbit/s.
    pub upload_kbps: f64,
    /// The highest preset first: what fits in 70 % of the upload with the audio.
    pub recommendations: Vec<Recommendation>,
    /// How long the test took, s.
    pub took_s: f64,
}

/// Runs the test against `service` (its test application and a key it accepts).
pub async fn run(service: &Service, connector: &dyn Connector, audio_kbps: u32) -> Result<ConnectionReport, RtmpError> {
    let started = Instant::now();
    let deadline = started + TEST_WITHIN;
    let within = |stage: &'static str| move |_| RtmpError::Timeout { stage };
    let mut conn = tokio::time::timeout_at(deadline, Connection::connect(service, connector, CONNECT_TIMEOUT))
        .await
        .map_err(within("accept the connection"))??;
    tokio::time::timeout_at(deadline, conn.publish(service.key()))
        .await
        .map_err(within("accept the publish request"))??;

    // The round trip: a few pings on an idle connection.
    let mut rtt: Option<Duration> = None;
    for _ in 0..3 {
        let sent = Instant::now();
        conn.queue_ping()?;
        let answered = tokio::time::timeout(Duration::from_secs(1), async {
            loop {
                conn.drive().await?;
                while let Some(ev) = conn.next_event() {
                    if ev == ServerEvent::PingAnswered {
                        return Ok::<_, RtmpError>(());
                    }
                }
            }
        })
        .await;
        match answered {
            Ok(r) => {
                r?;
                let took = sent.elapsed();
                rtt = Some(rtt.map_or(took, |r| r.min(took)));
            }
            Err(_) => break, // a server that does not answer pings: no RTT, the upload still counts
        }
    }

    // The upload: filler video tags, paced and kept from piling up in the kernel.
    let chunk = Bytes::from({
        let mut b = vec![0u8; 16 * 1024];
        b[0] = 0x27; // inter frame, AVC
        b[1] = 1; // NALU payload
        b
    });
    let upload_end = (Instant::now() + UPLOAD_FOR).min(deadline - Duration::from_millis(500));
    let start = Instant::now();
    let mut samples: Vec<(Instant, u64)> = Vec::new();
    let (mut queued, mut ts) = (0u64, 0u32);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    while Instant::now() < upload_end {
        let d = conn.delivery();
        samples.push((Instant::now(), d.delivered()));
        let allowed = (start.elapsed().as_secs_f64() * PACE_KBPS * 1000.0 / 8.0) as u64;
        while queued < allowed && conn.pending() < 64 * 1024 && d.unsent < MAX_UNSENT {
            conn.queue_video(ts, chunk.clone())?;
            queued += chunk.len() as u64;
            ts = ts.wrapping_add(1);
            if conn.pending() >= 64 * 1024 {
                break;
            }
        }
        tokio::select! {
            r = conn.drive() => { r?; }
            _ = tick.tick() => {}
        }
    }
    let upload_kbps = rate_over(&samples, MEASURE_LAST).unwrap_or(0.0);
    // Whatever is still queued is left: the test publish just ends.
    drop(conn);
    Ok(ConnectionReport {
        rtt_ms: rtt.map(|d| d.as_secs_f64() * 1000.0),
        upload_kbps,
        recommendations: recommend(upload_kbps, audio_kbps),
        took_s: started.elapsed().as_secs_f64(),
    })
}

/// [`run`] over TCP (or TLS for `rtmps://`, with `tls`'s extra CA).
pub async fn run_net(service: &Service, tls: TlsOptions, audio_kbps: u32) -> Result<ConnectionReport, RtmpError> {
    run(service, &NetConnector::new(tls), audio_kbps).await
}

/// The ingest's test application beside `url`'s: `rtmp://host:port/probe` for
/// `rtmp://host:port/live` (the stack's and the backend's name for it).
pub fn test_url_beside(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}/{TEST_APP}", rest.split('/').next().unwrap_or(rest)),
        None => url.to_string(),
    }
}

/// The ingest application that takes test publishes.
pub const TEST_APP: &str = "probe";

/// kbit/s delivered over the last `window` of the samples.
fn rate_over(samples: &[(Instant, u64)], window: Duration) -> Option<f64> {
    let (t1, b1) = *samples.last()?;
    let (t0, b0) = *samples.iter().find(|(t, _)| t1.duration_since(*t) <= window)?;
    let dt = t1.duration_since(t0).as_secs_f64();
    (dt > 0.2).then(|| b1.saturating_sub(b0) as f64 * 8.0 / dt / 1000.0)
}

/// The presets that fit in 70 % of `upload_kbps` with `audio_kbps`, highest
/// first, each at its default bitrate or what fits; when none fits at its
/// default, the smallest preset at what is left (never under the minimum).
pub fn recommend(upload_kbps: f64, audio_kbps: u32) -> Vec<Recommendation> {
    let budget = (upload_kbps * HEADROOM) as u32;
    let video = budget.saturating_sub(audio_kbps);
    let mut out: Vec<Recommendation> = PRESETS
        .iter()
        .filter(|p| p.default_kbps <= video)
        .map(|p| Recommendation { preset: p.id, video_kbps: p.default_kbps })
        .collect();
    if out.is_empty() {
        let smallest = PRESETS[PRESETS.len() - 1];
        out.push(Recommendation { preset: smallest.id, video_kbps: video.max(BITRATE_LIMITS.min_video_kbps) });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recommendations_fit_seventy_percent() {
        // A 1 Mbit/s link: 700 kbit/s, less the audio, at 480p.
        let r = recommend(1000.0, 128);
        assert_eq!(r, vec![Recommendation { preset: PresetId::P480p30, video_kbps: 572 }]);
        // Fast: every preset, the top one first.
        let r = recommend(100_000.0, 128);
        assert_eq!(
            r.iter().map(|r| r.preset).collect::<Vec<_>>(),
            vec![PresetId::P1080p30, PresetId::P720p30, PresetId::P480p30]
        );
        // 3 Mbit/s: 2100 − 128 = 1972 kbps: 480p at its 1500.
        assert_eq!(recommend(3000.0, 128)[0], Recommendation { preset: PresetId::P480p30, video_kbps: 1500 });
        // Nearly nothing: the minimum at the smallest preset.
        assert_eq!(recommend(100.0, 128)[0].video_kbps, BITRATE_LIMITS.min_video_kbps);
    }

    #[test]
    fn the_test_application_sits_beside_the_ingest() {
        assert_eq!(test_url_beside("rtmp://127.0.0.1:1935/live"), "rtmp://127.0.0.1:1935/probe");
        assert_eq!(test_url_beside("rtmps://ingest.example:443/room-7/extra"), "rtmps://ingest.example:443/probe");
    }

    #[test]
    fn the_rate_is_over_the_last_window() {
        let t0 = Instant::now();
        let s: Vec<(Instant, u64)> = (0..=50)
            .map(|i| (t0 + Duration::from_millis(i * 100), if i < 20 { i * 100 } else { 2000 + (i - 20) * 12_500 }))
            .collect();
        // The last 3 s: 12.5 kB every 100 ms = 1000 kbit/s.
        let r = rate_over(&s, Duration::from_secs(3)).unwrap();
        assert!((r - 1000.0).abs() < 1.0, "{r}");
    }
}
