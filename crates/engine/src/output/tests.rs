//! The output against the in-process ingest ([`super::testing`]), on paused
//! time: what a minute of network trouble does runs in milliseconds, and every
//! wait is on an event or on virtual time.

use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::testing::{Mode, Received, TestIngest};
use super::*;
use crate::encode::{AudioPacket, AudioSettings, VideoPacket, VideoSettings};
use tokio::sync::mpsc;

fn config(ingest: &TestIngest) -> OutputConfig {
    OutputConfig {
        service: Service::parse("rtmp://test-ingest/live/sk_secret", None).unwrap(),
        connector: ingest.connector(),
        reconnect: ReconnectPolicy::default(),
        timings: Timings::default(),
        video: Some(VideoSettings { width: 320, height: 180, fps: 30, kbps: 500, keyframe_secs: 2 }),
        audio: Some(AudioSettings { kbps: 128 }),
        audio_config: Some([0x11, 0x90]),
        adaptive: AdaptiveConfig::new(true, 500, None),
    }
}

fn with_attempts(mut c: OutputConfig, n: u32) -> OutputConfig {
    c.reconnect.max_attempts = Some(n);
    c
}

/// Plays the encoders: 30 fps video (a keyframe every 60 frames or when asked)
/// and 50 audio packets a second, stamped in stream time as they are made.
struct Feed {
    tx: Option<mpsc::UnboundedSender<MediaPacket>>,
    keyframe: KeyframeRequest,
    origin: Instant,
    frame: u64,
    sent_video: u64,
}

impl Feed {
    fn new(tx: mpsc::UnboundedSender<MediaPacket>, keyframe: KeyframeRequest, origin: Instant) -> Self {
        Self { tx: Some(tx), keyframe, origin, frame: 0, sent_video: 0 }
    }

    fn pts_us(&self) -> i64 {
        Instant::now().duration_since(self.origin).as_micros() as i64
    }

    fn send(&mut self, p: MediaPacket) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(p);
        }
    }

    fn video_packet(&mut self, pts_us: i64) -> MediaPacket {
        let keyframe = self.frame.is_multiple_of(60) || self.keyframe.take();
        let config =
            (self.frame == 0).then(|| Bytes::from_static(&[1, 0x42, 0xc0, 0x1f, 0xff, 0xe1, 0, 1, 0x67, 1, 0x68]));
        let nal = Bytes::from(vec![if keyframe { 0x65 } else { 0x41 }; 400]);
        self.frame += 1;
        self.sent_video += 1;
        MediaPacket::Video(VideoPacket { pts_us, keyframe, nals: vec![nal], config, index: self.frame - 1 })
    }

    /// Sends media in real (virtual) time for `d`.
    async fn run_for(&mut self, d: Duration) {
        let end = Instant::now() + d;
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        let mut next_video = 0i64;
        let mut next_audio = 0i64;
        while Instant::now() < end {
            tick.tick().await;
            let now = self.pts_us();
            if now >= next_video {
                let p = self.video_packet(now);
                self.send(p);
                next_video = now + 33_333;
            }
            if now >= next_audio {
                self.send(MediaPacket::Audio(AudioPacket { pts_us: now, data: Bytes::from(vec![0x21; 40]) }));
                next_audio = now + 20_000;
            }
        }
    }

    /// The encoders end: the output sees its input close.
    fn close(&mut self) {
        self.tx = None;
    }
}

async fn next(h: &mut OutputHandle) -> OutputEvent {
    tokio::time::timeout(Duration::from_secs(120), h.event())
        .await
        .expect("an output event in time")
        .expect("the output ended")
}

/// Starts the output and waits until it is live; returns the feed for its input.
async fn live(cfg: OutputConfig) -> (OutputHandle, Feed) {
    let (mut h, tx, control) = spawn(cfg);
    assert_eq!(next(&mut h).await, OutputEvent::Connecting);
    match next(&mut h).await {
        OutputEvent::Live { origin, reconnected: false } => (h, Feed::new(tx, control.keyframe, origin)),
        other => panic!("expected Live, got {other:?}"),
    }
}

fn videos(r: &[Received], connection: usize) -> Vec<&Received> {
    r.iter().filter(|m| m.video && m.connection == connection).collect()
}

/// `[keyframe|codec, avc packet type]` of a video tag body.
fn kind(m: &Received) -> (bool, u8) {
    (m.body[0] >> 4 == 1, m.body[1])
}

#[tokio::test(start_paused = true)]
async fn publishes_then_drains_and_unpublishes_on_stop() {
    let ingest = TestIngest::new(Mode::Accept);
    let (h, mut feed) = live(config(&ingest)).await;
    feed.run_for(Duration::from_secs(2)).await;
    h.stop_by(Instant::now() + Duration::from_secs(2));
    feed.close();
    let stats = h.stats();
    assert_eq!(h.end().await, OutputEnd::Finished { unsent: 0 });
    let r = ingest.received();
    let v = videos(&r, 1);
    assert_eq!(kind(v[0]), (true, 0), "the decoder config comes first");
    assert_eq!(kind(v[1]), (true, 1), "then a keyframe");
    assert_eq!(v.len() as u64, feed.sent_video + 1, "every frame arrived (and one sequence header)");
    assert!(r.iter().any(|m| !m.video && m.body[1] == 0), "the audio sequence header");
    assert_eq!(ingest.unpublished(), 1);
    let s = stats.borrow().clone();
    assert_eq!((s.video_frames_sent, s.video_dropped, s.audio_dropped), (feed.sent_video, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_refused_first_connection_ends_at_once() {
    let ingest = TestIngest::new(Mode::Refuse);
    let (mut h, _tx, _control) = spawn(config(&ingest));
    assert_eq!(next(&mut h).await, OutputEvent::Connecting);
    match h.end().await {
        OutputEnd::Failed { kind: FailureKind::CannotConnect, message } => {
            assert!(message.contains("refused"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_rejected_key_is_never_retried() {
    let ingest = TestIngest::new(Mode::RejectPublish("NetStream.Publish.Unauthorized"));
    let (h, _tx, _control) = spawn(config(&ingest));
    match h.end().await {
        OutputEnd::Failed { kind: FailureKind::Rejected, message } => {
            assert!(message.starts_with("stream key rejected"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ingest.connections(), 1);
}

/// The reconnect events up to the next Live: (when, attempt, next_in).
async fn until_live(h: &mut OutputHandle) -> Vec<(Instant, u32, Duration, String)> {
    let mut seen = Vec::new();
    loop {
        match next(h).await {
            OutputEvent::Reconnecting { attempt, next_in, reason, .. } => {
                assert_eq!(attempt as usize, seen.len() + 1, "attempts count up");
                seen.push((Instant::now(), attempt, next_in, reason));
            }
            OutputEvent::Live { reconnected: true, .. } => return seen,
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn reconnects_and_resumes_at_a_keyframe_in_stream_time() {
    let ingest = TestIngest::new(Mode::Accept);
    ingest.then([Mode::CloseAfter(200), Mode::Refuse, Mode::Refuse]);
    let (mut h, mut feed) = live(config(&ingest)).await;
    let feeder = tokio::spawn(async move {
        feed.run_for(Duration::from_secs(10)).await;
        feed
    });
    let seen = until_live(&mut h).await;
    // At once, then every 500 ms while the ingest refuses.
    let waits: Vec<u128> = seen.iter().map(|s| s.2.as_millis()).collect();
    assert_eq!(waits, vec![0, 500, 500], "{seen:?}");
    let lost_at = seen[0].0;
    let off_air = Instant::now().duration_since(lost_at).as_secs_f64();
    assert!((off_air - 1.0).abs() < 0.05, "back after the two refusals: {off_air} s");

    let mut feed = feeder.await.unwrap();
    h.stop_by(Instant::now() + Duration::from_secs(2));
    feed.close();
    let stats = h.stats();
    assert_eq!(h.end().await, OutputEnd::Finished { unsent: 0 });
    let r = ingest.received();
    let first = videos(&r, 1);
    let second = videos(&r, 2);
    assert_eq!(kind(second[0]), (true, 0), "the decoder config again after the reconnect");
    assert_eq!(kind(second[1]), (true, 1), "and video resumes at a keyframe");
    let gap_ms = second[1].timestamp_ms as i64 - first.last().unwrap().timestamp_ms as i64;
    let expect_ms = (off_air * 1000.0) as i64;
    assert!(
        (gap_ms - expect_ms).abs() < 200,
        "timestamps go on in stream time: gap {gap_ms} ms, off air {expect_ms} ms"
    );
    let s = stats.borrow().clone();
    assert_eq!(s.reconnects, 1);
    assert_eq!(s.outages.len(), 1);
    assert!((s.outages[0].lasted_s.unwrap() - off_air).abs() < 0.01, "{:?}", s.outages);
}

#[tokio::test(start_paused = true)]
async fn a_reconnect_request_from_the_server_reconnects_at_once() {
    let ingest = TestIngest::new(Mode::Accept);
    ingest.then([Mode::AskReconnectAfter(100)]);
    let (mut h, mut feed) = live(config(&ingest)).await;
    let feeder = tokio::spawn(async move {
        feed.run_for(Duration::from_secs(6)).await;
        feed
    });

    let seen = until_live(&mut h).await;
    assert_eq!(seen.len(), 1, "one attempt: {seen:?}");
    assert!(seen[0].3.contains("asked us to reconnect"), "{seen:?}");
    assert_eq!(seen[0].2, Duration::ZERO, "at once");
    let mut feed = feeder.await.unwrap();
    h.stop_by(Instant::now() + Duration::from_secs(2));
    feed.close();
    assert_eq!(h.end().await, OutputEnd::Finished { unsent: 0 });
    assert_eq!(ingest.connections(), 2);
    assert_eq!(kind(videos(&ingest.received(), 2)[1]), (true, 1), "the new connection starts at a keyframe");
}

#[tokio::test(start_paused = true)]
async fn an_ingest_that_answers_but_fails_is_backed_off() {
    let ingest = TestIngest::new(Mode::Accept);
    ingest.then([Mode::CloseAfter(200), Mode::NotRtmp, Mode::NotRtmp]);
    let (mut h, mut feed) = live(config(&ingest)).await;
    tokio::spawn(async move { feed.run_for(Duration::from_secs(30)).await });
    let seen = until_live(&mut h).await;
    let secs: Vec<f64> = seen.iter().map(|s| s.2.as_secs_f64()).collect();
    assert_eq!(secs.len(), 3, "{seen:?}");
    assert_eq!(secs[0], 0.0);
    assert!((0.8..=1.2).contains(&secs[1]) && (1.2..=1.8).contains(&secs[2]), "1 s × 1.5ⁿ ± 20 %: {secs:?}");
    assert!(seen[1].3.contains("does not speak RTMP"), "{}", seen[1].3);
}

#[tokio::test(start_paused = true)]
async fn back_within_half_a_second_of_the_ingest_returning() {
    let ingest = TestIngest::new(Mode::Accept);
    ingest.then([Mode::CloseAfter(200)]);
    let (mut h, mut feed) = live(config(&ingest)).await;
    tokio::spawn(async move { feed.run_for(Duration::from_secs(60)).await });
    ingest.set_default(Mode::Refuse);
    assert!(matches!(next(&mut h).await, OutputEvent::Reconnecting { attempt: 1, .. }));
    // The ingest is away for 6 s (every attempt refused), then takes connections again.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let back = Instant::now();
    ingest.set_default(Mode::Accept);
    loop {
        if let OutputEvent::Live { reconnected: true, .. } = next(&mut h).await {
            break;
        }
    }
    let after = Instant::now().duration_since(back);
    assert!(after <= Duration::from_millis(510), "live again {after:?} after the ingest returned");
}

#[tokio::test(start_paused = true)]
async fn keeps_trying_for_the_configured_time_then_gives_up() {
    let ingest = TestIngest::new(Mode::Refuse);
    ingest.then([Mode::CloseAfter(200)]);
    let mut cfg = config(&ingest);
    cfg.reconnect.give_up_after = Some(Duration::from_secs(30));
    let (mut h, mut feed) = live(cfg).await;
    tokio::spawn(async move { feed.run_for(Duration::from_secs(120)).await });
    let lost = match next(&mut h).await {
        OutputEvent::Reconnecting { attempt: 1, .. } => Instant::now(),
        other => panic!("{other:?}"),
    };
    while h.event().await.is_some() {}
    let gave_up = Instant::now().duration_since(lost);
    match h.end().await {
        OutputEnd::Failed { kind: FailureKind::ConnectionLost, message } => {
            assert!(message.contains("has not taken the stream back"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(gave_up >= Duration::from_secs(30) && gave_up <= Duration::from_millis(30_600), "{gave_up:?}");
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_the_last_attempt() {
    let ingest = TestIngest::new(Mode::Refuse);
    ingest.then([Mode::CloseAfter(200)]);
    let (mut h, mut feed) = live(with_attempts(config(&ingest), 3)).await;
    tokio::spawn(async move { feed.run_for(Duration::from_secs(30)).await });
    for attempt in 1..=3 {
        assert!(matches!(next(&mut h).await, OutputEvent::Reconnecting { attempt: a, .. } if a == attempt));
    }
    match h.end().await {
        OutputEnd::Failed { kind: FailureKind::ConnectionLost, message } => {
            assert!(message.contains("3 reconnect attempts failed"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn already_publishing_after_a_drop_is_retried() {
    let ingest = TestIngest::new(Mode::Accept);
    ingest.then([Mode::CloseAfter(200), Mode::RejectPublish("NetStream.Publish.BadName")]);
    let (mut h, mut feed) = live(config(&ingest)).await;
    tokio::spawn(async move { feed.run_for(Duration::from_secs(30)).await });
    assert!(matches!(next(&mut h).await, OutputEvent::Reconnecting { attempt: 1, .. }));
    match next(&mut h).await {
        OutputEvent::Reconnecting { attempt: 2, reason, next_in, .. } => {
            assert!(reason.contains("already"), "{reason}");
            assert_eq!(next_in, Duration::from_millis(500), "tried again soon: the ingest frees the name");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(next(&mut h).await, OutputEvent::Live { reconnected: true, .. }));
}

#[tokio::test(start_paused = true)]
async fn a_stalled_link_counts_as_lost_within_five_seconds() {
    let ingest = TestIngest::new(Mode::Accept);
    ingest.then([Mode::StallAfter(60)]);
    let (mut h, mut feed) = live(config(&ingest)).await;
    tokio::spawn(async move { feed.run_for(Duration::from_secs(60)).await });
    let reason = match next(&mut h).await {
        OutputEvent::Reconnecting { attempt: 1, reason, .. } => reason,
        other => panic!("{other:?}"),
    };
    let last = ingest.received().last().unwrap().at;
    let noticed = Instant::now().duration_since(last);
    assert!(reason.contains("stalled"), "{reason}");
    assert!(noticed >= Duration::from_secs(5) && noticed <= Duration::from_millis(5500), "noticed after {noticed:?}");
    assert!(matches!(next(&mut h).await, OutputEvent::Live { reconnected: true, .. }));
}

#[tokio::test(start_paused = true)]
async fn stop_completes_within_two_seconds_on_a_stalled_link() {
    let ingest = TestIngest::new(Mode::StallAfter(30));
    let (h, mut feed) = live(config(&ingest)).await;
    feed.run_for(Duration::from_secs(3)).await;
    let asked = Instant::now();
    h.stop_by(asked + Duration::from_secs(2));
    feed.close();
    let end = h.end().await;
    let took = Instant::now().duration_since(asked);
    assert!(matches!(end, OutputEnd::Finished { .. }), "{end:?}");
    assert!(took <= Duration::from_secs(2), "stop took {took:?}");
    assert_eq!(ingest.unpublished(), 0, "nothing could reach the server");
}

#[tokio::test(start_paused = true)]
async fn a_server_that_stops_answering_pings_counts_as_lost() {
    let ingest = TestIngest::new(Mode::Accept);
    ingest.then([Mode::SilentAfter(400)]);
    let (mut h, mut feed) = live(config(&ingest)).await;
    tokio::spawn(async move { feed.run_for(Duration::from_secs(60)).await });
    let reason = match next(&mut h).await {
        OutputEvent::Reconnecting { attempt: 1, reason, .. } => reason,
        other => panic!("{other:?}"),
    };
    assert!(reason.contains("ping"), "{reason}");
    let silent_since = ingest.received().last().unwrap().at;
    let noticed = Instant::now().duration_since(silent_since);
    // A ping leaves every 2 s; the one after the silence gets 5 s to be answered.
    assert!(noticed <= Duration::from_millis(7500), "noticed after {noticed:?}");
}

#[tokio::test(start_paused = true)]
async fn late_video_is_dropped_to_the_next_keyframe_and_one_is_asked_for() {
    let ingest = TestIngest::new(Mode::Accept);
    let (h, mut feed) = live(config(&ingest)).await;
    feed.run_for(Duration::from_millis(1500)).await;
    // The encoder fell a second behind: these frames are 1 s old on arrival.
    let burst_ms = (feed.pts_us() / 1000) as u32;
    let stale = feed.pts_us() - 1_000_000;
    for i in 0..5 {
        let p = feed.video_packet(stale + i * 33_333);
        feed.send(p);
    }
    let stats = h.stats();
    feed.run_for(Duration::from_millis(300)).await;
    assert!(stats.borrow().video_dropped >= 5, "{:?}", stats.borrow());
    feed.run_for(Duration::from_millis(700)).await;
    h.stop_by(Instant::now() + Duration::from_secs(2));
    feed.close();
    assert_eq!(h.end().await, OutputEnd::Finished { unsent: 0 });
    let r = ingest.received();
    let v = videos(&r, 1);
    // After the dropped run, the next video that arrived is a keyframe (asked for, not the 2 s one).
    let after: Vec<_> = v.iter().filter(|m| m.timestamp_ms > burst_ms && m.body[1] == 1).collect();
    assert!(kind(after[0]).0, "video resumed at a keyframe");
    assert!(after[0].timestamp_ms < burst_ms + 100, "the keyframe was asked for, not waited for");
    assert!(r.iter().filter(|m| !m.video).count() > 50, "audio was never dropped");
    assert_eq!(stats.borrow().audio_dropped, 0);
}

#[tokio::test(start_paused = true)]
async fn a_slow_server_is_waited_for_and_stop_leaves_at_once() {
    let ingest = TestIngest::new(Mode::SlowAccept(Duration::from_secs(3)));
    let t0 = Instant::now();
    let (h, _feed) = live(config(&ingest)).await;
    assert!(Instant::now().duration_since(t0) >= Duration::from_secs(3));
    drop(h);

    let (h, _tx, _control) = spawn(config(&ingest));
    let asked = Instant::now();
    h.stop_by(asked + Duration::from_secs(2));
    assert_eq!(h.end().await, OutputEnd::Finished { unsent: 0 });
    assert!(Instant::now().duration_since(asked) < Duration::from_millis(100), "a stop while connecting ends at once");
}
