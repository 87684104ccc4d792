//! Verifying a live stream by playing it over RTMP(S).

use std::time::Duration;

use mentorcast_protocol::flv::{self, Tag};
use mentorcast_protocol::rtmp::{self, PlayEvent};
use mentorcast_protocol::Service;
use mentorcast_protocol::{NetConnector, TlsOptions};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep_until, Instant};
use tracing::{debug, info, warn};

use crate::{finish_checked, Analyzer, Report, VerifyError, VerifyOptions};

/// When a play session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlayLimits {
    /// Give up (error "no stream arrived") if no media arrives this long after
    /// the call starts (connecting included).
    pub start_timeout: Duration,
    /// Once media flows, end the session when none arrives for this long.
    pub idle_timeout: Duration,
    /// End the session this long after the first media arrived.
    pub max_duration: Duration,
    /// Stay when the publisher leaves (a reconnecting broadcaster comes back):
    /// only the idle timeout, the maximum duration or a stop end the session.
    pub follow_republish: bool,
}

impl Default for PlayLimits {
    fn default() -> Self {
        PlayLimits {
            start_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(5),
            max_duration: Duration::from_secs(120),
            follow_republish: false,
        }
    }
}

/// Plays `service`'s stream and verifies what arrives, until the server ends
/// the stream, media stops for `limits.idle_timeout`, or `limits.max_duration`
/// passes. Fails with [`VerifyError::NoStream`] when no media arrives within
/// `limits.start_timeout`.
///
/// Cancellation: dropping the future closes the connection and discards the
/// analysis. To stop early *and keep the report*, use [`verify_rtmp_until`].
pub async fn verify_rtmp(
    service: &Service,
    tls: &TlsOptions,
    opts: VerifyOptions,
    limits: PlayLimits,
) -> Result<Report, VerifyError> {
    let (_keep, stop) = watch::channel(false);
    verify_rtmp_until(service, tls, opts, limits, stop, None).await
}

/// [`verify_rtmp`] with a stop signal: when `stop` turns `true` the session
/// ends and the report covers what arrived so far (or, if no media had
/// arrived yet, the result is [`VerifyError::NoStream`]). A dropped sender
/// never stops the session.
///
/// `playing`, when given, hears once the server accepted the play request: a
/// caller that publishes after that knows the player sees the first frame.
///
/// Decoding runs on a blocking thread, so a slow decode never stalls reading
/// from the socket. Needs a Tokio runtime with the blocking pool (any runtime).
pub async fn verify_rtmp_until(
    service: &Service,
    tls: &TlsOptions,
    opts: VerifyOptions,
    limits: PlayLimits,
    mut stop: watch::Receiver<bool>,
    playing: Option<oneshot::Sender<()>>,
) -> Result<Report, VerifyError> {
    let started = Instant::now();
    let start_deadline = started + limits.start_timeout;
    let no_stream =
        || VerifyError::NoStream { url: service.to_string(), secs: limits.start_timeout.as_secs_f64().ceil() as u64 };

    let stop_fut = async move {
        loop {
            if *stop.borrow_and_update() {
                return;
            }
            if stop.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::pin!(stop_fut);

    info!("playing {service} to verify it");
    let connector = NetConnector::new(tls.clone());
    let mut player = tokio::select! {
        biased;
        _ = &mut stop_fut => return Err(no_stream()),
        _ = sleep_until(start_deadline) => return Err(no_stream()),
        p = rtmp::play(service, &connector) => p?,
    };
    if let Some(playing) = playing {
        let _ = playing.send(());
    }

    let (tx, mut rx) = mpsc::unbounded_channel::<Tag>();
    let worker = tokio::task::spawn_blocking(move || {
        let mut analyzer = Analyzer::new(opts);
        while let Some(tag) = rx.blocking_recv() {
            if let Err(e) = analyzer.push(&tag) {
                debug!("{e}");
            }
        }
        analyzer
    });

    let mut first_media: Option<Instant> = None;
    let mut last_media = Instant::now();
    let mut tags = 0u64;
    let mut delay = LiveDelay::default();
    loop {
        let wake = match first_media {
            None => start_deadline,
            Some(t0) => (last_media + limits.idle_timeout).min(t0 + limits.max_duration),
        };
        tokio::select! {
            biased;
            _ = &mut stop_fut => {
                info!("verification stopped after {tags} tags");
                break;
            }
            _ = sleep_until(wake) => {
                match first_media {
                    None => {
                        drop(tx);
                        let _ = worker.await;
                        return Err(no_stream());
                    }
                    Some(t0) if Instant::now() >= t0 + limits.max_duration => {
                        info!("verified for the maximum of {:?}", limits.max_duration);
                    }
                    Some(_) => info!("no media for {:?}: ending", limits.idle_timeout),
                }
                break;
            }
            next = player.next_event() => match next {
                Ok(PlayEvent::Tag(tag)) => {
                    if tag.kind == flv::TAG_AUDIO || tag.kind == flv::TAG_VIDEO {
                        let now = Instant::now();
                        first_media.get_or_insert(now);
                        last_media = now;
                        tags += 1;
                        if tag.kind == flv::TAG_VIDEO {
                            delay.arrived(now, tag.timestamp_ms);
                        }
                    }
                    if tx.send(tag).is_err() {
                        warn!("the analyzer stopped");
                        break;
                    }
                }
                Ok(PlayEvent::Published) => delay.rebase(),
                Ok(PlayEvent::Unpublished) if limits.follow_republish => {
                    info!("the publisher left after {tags} tags; waiting for it to come back");
                    delay.rebase();
                }
                Ok(PlayEvent::Unpublished | PlayEvent::Ended) => {
                    info!("the server ended the stream after {tags} tags");
                    if first_media.is_none() {
                        drop(tx);
                        let _ = worker.await;
                        return Err(no_stream());
                    }
                    break;
                }
                Err(e) => {
                    if first_media.is_none() {
                        return Err(e.into());
                    }
                    warn!("play session broke after {tags} tags: {e}; reporting what arrived");
                    break;
                }
            }
        }
    }
    drop(player);
    drop(tx);
    let analyzer = worker.await.map_err(|e| VerifyError::Undecodable(format!("analyzer thread failed: {e}")))?;
    let mut report = finish_checked(analyzer)?;
    report.live_delay_max_s = delay.max_s();
    Ok(report)
}

/// How far the picture falls behind live, from when video arrives: against the
/// first frame of a publish, a frame stamped `ts` later should arrive `ts`
/// later; whatever more it takes is delay (the stream fell behind). A new
/// publish (a reconnect) starts a new baseline: the outage is not delay.
#[derive(Default)]
struct LiveDelay {
    base: Option<(Instant, u32)>,
    max: Option<Duration>,
}

impl LiveDelay {
    fn arrived(&mut self, at: Instant, ts_ms: u32) {
        let (t0, ts0) = *self.base.get_or_insert((at, ts_ms));
        let expected = Duration::from_millis(ts_ms.saturating_sub(ts0) as u64);
        let late = at.duration_since(t0).saturating_sub(expected);
        // Frames that arrive early (a burst after a stall) pull the baseline back.
        if at.duration_since(t0) < expected {
            self.base = Some((at, ts_ms));
        }
        self.max = Some(self.max.map_or(late, |m| m.max(late)));
    }

    fn rebase(&mut self) {
        self.base = None;
    }

    fn max_s(&self) -> Option<f64> {
        self.max.map(|d| d.as_secs_f64())
    }
}
