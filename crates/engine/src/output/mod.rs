//! The output: one task that owns the connection to the ingest and
//! everything about it, as OBS's RTMP output does — connect and publish,
//! write with deadlines, notice a stalled or silent link, reconnect with
//! backoff, the drop policy, keyframe requests to the video encoder, and the
//! counters. The session only wires it: encoders hand it packets (an
//! unbounded channel: they never block and never drop), it reports
//! [`OutputEvent`]s and [`OutputStats`].
//!
//! The task never awaits a write it cannot leave: packets wait in its own
//! queue, are turned into RTMP bytes only while little is buffered, and leave
//! through [`Connection::drive`], one cancel-safe write or read at a time,
//! beside the stop signal and a 250 ms tick in the same `select!`.
//!
//! Drop policy ([`policy`]): audio is never dropped by policy. When a video
//! packet's queue delay passes [`DROP_VIDEO_AFTER`], video is dropped until
//! the next keyframe and the encoder is asked for one at once. While there is
//! no connection every packet is dropped (and counted). After a reconnect the
//! decoder configuration is sent again and video resumes at a fresh keyframe;
//! timestamps go on in stream time.
//!
//! A link counts as lost when it delivers nothing for [`Timings::stall_after`]
//! while bytes wait (ours or the kernel's send buffer), or when a server that
//! answers pings stops answering them ([`Timings::ping_timeout`] after the ping
//! left), besides any read or write error.
//!
//! Congestion ([`adapt`]): the queue delay counts everything between capture
//! and leaving this machine — the packet queue, our buffer and the kernel's
//! send buffer (`SIOCOUTQ`), the last two converted to time at the link's
//! measured send rate. Packets become bytes only while less than
//! [`MAX_BUFFERED`] waits below the queue, so a slow link's backlog stays in
//! the queue, where the drop policy sees it, instead of in the kernel. The
//! adaptive bitrate moves the encoder's target on that delay.

pub mod adapt;
pub mod policy;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mentorcast_protocol::flv;
use mentorcast_protocol::rtmp::{Connection, RtmpError, ServerEvent, Step};
use mentorcast_protocol::transport::CONNECT_TIMEOUT;
use mentorcast_protocol::{Connector, FailureKind, Service};
use rml_rtmp::sessions::StreamMetadata;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

pub use adapt::AdaptiveConfig;
pub use policy::{Admit, ReconnectPolicy, VideoDropPolicy, DEFAULT_RECONNECT_FOR, DROP_VIDEO_AFTER};

use adapt::{Controller, Sample};

use crate::encode::{AudioPacket, AudioSettings, VideoPacket, VideoSettings};

/// A connection the server closes this soon after accepting the publish was
/// refused (nginx-rtmp's `deny publish` says Publish.Start, then closes).
pub const EARLY_CLOSE_IS_DENIAL: Duration = Duration::from_millis(1500);
/// Packets become RTMP bytes only while fewer than this many wait to be
/// written: the backlog stays in the packet queue, where the drop policy sees it.
const FEED_BELOW: usize = 32 * 1024;
/// At most this much (as time at the link's send rate, and at least [`FEED_BELOW`]
/// bytes) waits in our buffer and the kernel's: the rest waits as packets.
pub const MAX_BUFFERED: Duration = Duration::from_millis(300);
const TICK: Duration = Duration::from_millis(250);
/// A reconnect waits less for TCP than a first connect: it tries again soon anyway,
/// and a SYN lost to a dead link must not hold the next try.
const RECONNECT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// A whole reconnect (connect, handshake, publish) that takes longer is given up
/// and tried again: a link that went silent can accept a connection and carry nothing.
const RECONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// One encoded packet on its way to the output.
#[derive(Debug, Clone)]
pub enum MediaPacket {
    Video(VideoPacket),
    Audio(AudioPacket),
}

/// "Make the next frame an IDR", from the output to the video encoder.
#[derive(Debug, Clone, Default)]
pub struct KeyframeRequest(Arc<AtomicBool>);

impl KeyframeRequest {
    pub fn request(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    /// Whether a keyframe was asked for since the last call (and clears it).
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::Relaxed)
    }
}

/// The video encoder's target bitrate, set by the output's adaptive bitrate.
#[derive(Debug, Clone)]
pub struct TargetBitrate(Arc<AtomicU32>);

impl TargetBitrate {
    pub fn new(kbps: u32) -> Self {
        Self(Arc::new(AtomicU32::new(kbps)))
    }
    pub fn set(&self, kbps: u32) {
        self.0.store(kbps, Ordering::Relaxed);
    }
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What the output asks of the video encoder.
#[derive(Debug, Clone)]
pub struct EncoderControl {
    pub keyframe: KeyframeRequest,
    pub bitrate: TargetBitrate,
}

/// The output's deadlines.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timings {
    /// Nothing delivered for this long while bytes wait: the link is lost.
    pub stall_after: Duration,
    /// A ping every this long while live.
    pub ping_every: Duration,
    /// A ping that left and got no answer in this long: the server is gone
    /// (only once that server has answered a ping on this connection).
    pub ping_timeout: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            stall_after: Duration::from_secs(5),
            ping_every: Duration::from_secs(2),
            ping_timeout: Duration::from_secs(5),
        }
    }
}

/// What the output needs to know.
#[derive(Clone)]
pub struct OutputConfig {
    pub service: Service,
    pub connector: Arc<dyn Connector>,
    pub reconnect: ReconnectPolicy,
    pub timings: Timings,
    /// For the stream's metadata.
    pub video: Option<VideoSettings>,
    pub audio: Option<AudioSettings>,
    /// The AAC AudioSpecificConfig (the audio sequence header).
    pub audio_config: Option<[u8; 2]>,
    /// Adaptive bitrate (its target is the video's configured bitrate).
    pub adaptive: AdaptiveConfig,
}

/// What the output tells the session.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputEvent {
    /// The first connection is being made.
    Connecting,
    /// Publishing. `origin` is the instant stream time 0 stands for (set at
    /// the first publish; every packet's pts counts from it).
    Live { origin: Instant, reconnected: bool },
    /// The connection was lost `off_air` ago; attempt `attempt` comes in `next_in`.
    Reconnecting { attempt: u32, next_in: Duration, off_air: Duration, reason: String },
}

/// How the output ended.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputEnd {
    /// Stopped and drained (or abandoned at the stop deadline: `unsent` packets were left).
    Finished { unsent: u64 },
    /// It could not go on.
    Failed { kind: FailureKind, message: String },
}

/// The output's counters, refreshed every tick and at the end.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutputStats {
    pub video_frames_sent: u64,
    pub audio_frames_sent: u64,
    pub video_dropped: u64,
    pub audio_dropped: u64,
    pub video_payload_bytes: u64,
    pub audio_payload_bytes: u64,
    /// Bytes written to connections, all of them.
    pub bytes_sent: u64,
    /// Capture → leaving this machine (estimated: the packet's age plus what waits
    /// in our buffer and the kernel's at the send rate), of the last video packet sent.
    pub queue_delay: Duration,
    pub reconnects: u32,
    /// From stream time 0 to the first video packet written.
    pub first_video_after: Option<Duration>,
    /// The encoder's video bitrate now (the adaptive bitrate moves it).
    pub target_kbps: u32,
    /// What the link carried over the last two seconds (all tracks).
    pub send_rate_kbps: Option<f64>,
    /// Every time the connection was lost.
    pub outages: Vec<Outage>,
}

/// One loss of the connection.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Outage {
    /// When it was lost, in stream time (seconds).
    pub at_s: f64,
    /// How long until live again (None: not back yet).
    pub lasted_s: Option<f64>,
    pub reason: String,
}

/// The running output, as the session holds it.
pub struct OutputHandle {
    events: mpsc::UnboundedReceiver<OutputEvent>,
    stats: watch::Receiver<OutputStats>,
    stop: watch::Sender<Option<Instant>>,
    task: tokio::task::JoinHandle<OutputEnd>,
}

impl OutputHandle {
    /// The next event; `None` once the output has ended (then see [`OutputHandle::end`]).
    pub async fn event(&mut self) -> Option<OutputEvent> {
        self.events.recv().await
    }

    pub fn stats(&self) -> watch::Receiver<OutputStats> {
        self.stats.clone()
    }

    /// Send what is queued and end by `deadline`; whatever is not out by
    /// then is abandoned with the connection.
    pub fn stop_by(&self, deadline: Instant) {
        let _ = self.stop.send(Some(deadline));
    }

    /// Waits for the task's end.
    pub async fn end(self) -> OutputEnd {
        match self.task.await {
            Ok(end) => end,
            Err(e) => {
                OutputEnd::Failed { kind: FailureKind::ConnectionLost, message: format!("the output task failed: {e}") }
            }
        }
    }
}

/// Starts the output task; returns its handle, where encoders send, and what
/// the video encoder must honour (keyframe requests, the target bitrate).
pub fn spawn(config: OutputConfig) -> (OutputHandle, mpsc::UnboundedSender<MediaPacket>, EncoderControl) {
    let (packets_tx, packets) = mpsc::unbounded_channel();
    let (events_tx, events) = mpsc::unbounded_channel();
    let (stats_tx, stats) = watch::channel(OutputStats::default());
    let (stop, stop_rx) = watch::channel(None);
    let control = EncoderControl {
        keyframe: KeyframeRequest::default(),
        bitrate: TargetBitrate::new(config.adaptive.target_kbps),
    };
    let task = Output::new(config, control.clone(), events_tx, stats_tx);
    let task = tokio::spawn(task.run(packets, stop_rx));
    (OutputHandle { events, stats, stop, task }, packets_tx, control)
}

type Opening = Pin<Box<dyn Future<Output = Result<Connection, RtmpError>> + Send>>;

/// Where a pending reconnect stands.
struct Retry {
    attempt: u32,
    at: Instant,
    /// When the connection was lost.
    since: Instant,
    /// Attempts that failed on an ingest that answered (they back off).
    backoff: u32,
}

/// Pings on one connection.
#[derive(Default)]
struct Pings {
    /// When the next one goes.
    next_at: Option<Instant>,
    /// The one in flight: written to the link up to this many bytes
    /// (`Delivery::written` once its bytes were written), and since when it
    /// has left (delivered), if it has.
    outstanding: Option<(u64, Option<Instant>)>,
    /// This server answers pings (so silence means something).
    answered: u32,
}

/// The live connection and what is known about it.
struct Live {
    conn: Connection,
    published_at: Instant,
    video_header_sent: bool,
    audio_header_sent: bool,
    /// Delivered bytes at the last progress, and when.
    delivered: u64,
    progress_at: Instant,
    pings: Pings,
}

struct Output {
    cfg: OutputConfig,
    keyframe: KeyframeRequest,
    bitrate: TargetBitrate,
    adapt: Controller,
    events: mpsc::UnboundedSender<OutputEvent>,
    stats_tx: watch::Sender<OutputStats>,
    stats: OutputStats,
    /// Bytes written on connections that have closed.
    bytes_before: u64,
    origin: Option<Instant>,
    queue: VecDeque<MediaPacket>,
    drop_policy: VideoDropPolicy,
    video_config: Option<Bytes>,
    live: Option<Live>,
    opening: Option<Opening>,
    retry: Option<Retry>,
}

impl Output {
    fn new(
        cfg: OutputConfig,
        control: EncoderControl,
        events: mpsc::UnboundedSender<OutputEvent>,
        stats_tx: watch::Sender<OutputStats>,
    ) -> Self {
        let audio_kbps = cfg.audio.map(|a| a.kbps).unwrap_or(0);
        let adapt = Controller::new(cfg.adaptive, audio_kbps);
        let stats = OutputStats { target_kbps: cfg.adaptive.target_kbps, ..OutputStats::default() };
        Self {
            cfg,
            keyframe: control.keyframe,
            bitrate: control.bitrate,
            adapt,
            events,
            stats_tx,
            stats,
            bytes_before: 0,
            origin: None,
            queue: VecDeque::new(),
            drop_policy: VideoDropPolicy::default(),
            video_config: None,
            live: None,
            opening: None,
            retry: None,
        }
    }

    fn emit(&self, e: OutputEvent) {
        let _ = self.events.send(e);
    }

    /// A future that connects and publishes (owned: it lives in the loop's state).
    fn open(&self, connect_timeout: Duration) -> Opening {
        let (service, connector) = (self.cfg.service.clone(), self.cfg.connector.clone());
        let meta = metadata(self.cfg.video, self.cfg.audio);
        Box::pin(async move {
            tracing::debug!(%service, "connecting to {}", service.addr());
            let mut conn = Connection::connect(&service, connector.as_ref(), connect_timeout).await?;
            conn.publish(service.key()).await?;
            conn.queue_metadata(&meta)?;
            Ok(conn)
        })
    }

    async fn run(
        mut self,
        mut packets: mpsc::UnboundedReceiver<MediaPacket>,
        mut stop: watch::Receiver<Option<Instant>>,
    ) -> OutputEnd {
        self.emit(OutputEvent::Connecting);
        // The first connection: a failure ends the output (a wrong URL or key
        // should say so at once, not after minutes of retries).
        let first = tokio::select! {
            r = self.open(CONNECT_TIMEOUT) => r,
            _ = stop.wait_for(Option::is_some) => return OutputEnd::Finished { unsent: 0 },
        };
        match first {
            Ok(conn) => self.went_live(conn, false),
            Err(e) => return OutputEnd::Failed { kind: e.kind(), message: e.to_string() },
        }

        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stop_at: Option<Instant> = None;
        let mut input_open = true;
        loop {
            if let Some(end) = self.finished(stop_at, input_open).await {
                self.publish_stats();
                return end;
            }
            let retry_at = self.retry.as_ref().filter(|_| self.opening.is_none()).map(|r| r.at);
            tokio::select! {
                biased;
                _ = sleep_until_opt(stop_at) => {
                    let unsent = self.queue.len() as u64;
                    tracing::warn!(unsent, "could not send everything before the stop deadline; leaving the rest");
                    self.close();
                    self.publish_stats();
                    return OutputEnd::Finished { unsent };
                }
                r = stop.changed(), if stop_at.is_none() => {
                    stop_at = match r { Ok(()) => *stop.borrow_and_update(), Err(_) => Some(Instant::now()) };
                    // Reconnecting when asked to stop: nothing will go out, stop trying.
                    if self.live.is_none() {
                        self.retry = None;
                        self.opening = None;
                    }
                }
                p = packets.recv(), if input_open => match p {
                    Some(p) => self.take(p),
                    None => input_open = false,
                },
                r = drive_opt(&mut self.live) => {
                    if let Err(e) = r.and_then(|_| self.after_io()) {
                        if let Some(end) = self.lost(e) { self.publish_stats(); return end; }
                    }
                }
                r = poll_opt(&mut self.opening) => {
                    self.opening = None;
                    match r {
                        Ok(conn) => {
                            self.stats.reconnects += 1;
                            tracing::info!("reconnected");
                            self.went_live(conn, true);
                        }
                        Err(e) => if let Some(end) = self.attempt_failed(e) { self.publish_stats(); return end; },
                    }
                }
                _ = sleep_until_opt(retry_at) => {
                    let open = self.open(RECONNECT_CONNECT_TIMEOUT);
                    let addr = self.cfg.service.addr();
                    self.opening = Some(Box::pin(async move {
                        tokio::time::timeout(RECONNECT_TIMEOUT, open)
                            .await
                            .unwrap_or(Err(RtmpError::ConnectTimeout { addr }))
                    }));
                }
                _ = ticker.tick() => {
                    if let Err(e) = self.watchdog() {
                        if let Some(end) = self.lost(e) { self.publish_stats(); return end; }
                    }
                    self.publish_stats();
                }
            }
            if let Err(e) = self.feed() {
                if let Some(end) = self.lost(e) {
                    self.publish_stats();
                    return end;
                }
            }
        }
    }

    /// When stopping and everything is out: unpublish (by the deadline) and end.
    async fn finished(&mut self, stop_at: Option<Instant>, input_open: bool) -> Option<OutputEnd> {
        let deadline = stop_at?;
        let Some(live) = self.live.as_ref() else {
            // Stopped while reconnecting: nothing queued can go out.
            return Some(OutputEnd::Finished { unsent: 0 });
        };
        if input_open || !self.queue.is_empty() || live.conn.pending() > 0 {
            return None;
        }
        let live = self.live.take()?;
        self.bytes_before += live.conn.bytes_sent();
        let key = self.cfg.service.key().to_string();
        match tokio::time::timeout_at(deadline, live.conn.unpublish(&key)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("unpublish did not complete cleanly: {e}"),
            Err(_) => tracing::warn!("unpublish did not complete before the stop deadline"),
        }
        Some(OutputEnd::Finished { unsent: 0 })
    }

    fn went_live(&mut self, conn: Connection, reconnected: bool) {
        let now = Instant::now();
        let origin = *self.origin.get_or_insert(now);
        if let Some(r) = self.retry.take() {
            if let Some(o) = self.stats.outages.last_mut() {
                o.lasted_s = Some(now.duration_since(r.since).as_secs_f64());
            }
        }
        self.adapt.reset_link();
        self.live = Some(Live {
            conn,
            published_at: now,
            video_header_sent: false,
            audio_header_sent: false,
            delivered: 0,
            progress_at: now,
            pings: Pings { next_at: Some(now + self.cfg.timings.ping_every), ..Pings::default() },
        });
        // A new connection starts at a keyframe with the decoder config.
        self.drop_policy.wait_for_keyframe();
        if reconnected {
            self.keyframe.request();
        }
        self.emit(OutputEvent::Live { origin, reconnected });
    }

    /// A packet from an encoder: queued while live, else dropped.
    fn take(&mut self, p: MediaPacket) {
        if self.live.is_some() {
            self.queue.push_back(p);
        } else {
            self.count_drop(&p);
        }
    }

    /// A video packet leaves the queue (sent or dropped): a decoder config it
    /// carries is the stream's from here on, sent before the next frame that goes
    /// out (and after a reconnect). Taken in queue order, so frames still queued
    /// from before a change of picture size go out under their own config.
    fn note_config(&mut self, v: &VideoPacket) {
        if let Some(c) = &v.config {
            self.video_config = Some(c.clone());
            if let Some(l) = self.live.as_mut() {
                l.video_header_sent = false;
            }
        }
    }

    fn count_drop(&mut self, p: &MediaPacket) {
        match p {
            MediaPacket::Video(v) => {
                self.note_config(v);
                self.stats.video_dropped += 1;
                self.drop_policy.wait_for_keyframe();
            }
            MediaPacket::Audio(_) => self.stats.audio_dropped += 1,
        }
    }

    fn now_us(&self) -> i64 {
        self.origin.map(|o| Instant::now().saturating_duration_since(o).as_micros() as i64).unwrap_or(0)
    }

    /// The link's send rate, or the configured rates while it is not known yet.
    fn rate_kbps(&self) -> f64 {
        let configured = self.cfg.adaptive.target_kbps + self.cfg.audio.map(|a| a.kbps).unwrap_or(0);
        self.adapt.send_rate_kbps().filter(|r| *r > 1.0).unwrap_or(configured.max(100) as f64)
    }

    /// Bytes in our buffer and the kernel's, and the time they take to leave at the send rate.
    fn buffered(&self) -> (u64, Duration) {
        let Some(live) = self.live.as_ref() else { return (0, Duration::ZERO) };
        let bytes = live.conn.pending() as u64 + live.conn.delivery().unsent;
        (bytes, Duration::from_secs_f64(bytes as f64 * 8.0 / (self.rate_kbps() * 1000.0)).min(Duration::from_secs(30)))
    }

    /// How long the newest bytes wait to leave: the oldest queued packet's age plus what is buffered.
    fn queue_delay(&self) -> Duration {
        let now = self.now_us();
        let oldest = self.queue.front().map(|p| match p {
            MediaPacket::Video(v) => v.pts_us,
            MediaPacket::Audio(a) => a.pts_us,
        });
        let age = oldest.map(|pts| Duration::from_micros((now - pts).max(0) as u64)).unwrap_or(Duration::ZERO);
        age + self.buffered().1
    }

    /// Turns queued packets into RTMP bytes while little is buffered, applying the drop policy.
    fn feed(&mut self) -> Result<(), RtmpError> {
        if self.live.is_none() || self.queue.is_empty() {
            return Ok(());
        }
        let (mut bytes, wait) = self.buffered();
        let limit = ((self.rate_kbps() * 1000.0 / 8.0 * MAX_BUFFERED.as_secs_f64()) as u64).max(FEED_BELOW as u64);
        while bytes < limit && self.live.as_ref().is_some_and(|l| l.conn.pending() < FEED_BELOW) {
            let Some(p) = self.queue.pop_front() else { break };
            let before = self.live.as_ref().map(|l| l.conn.pending()).unwrap_or(0);
            match p {
                MediaPacket::Video(v) => self.send_video(v, wait)?,
                MediaPacket::Audio(a) => self.send_audio(a)?,
            }
            let after = self.live.as_ref().map(|l| l.conn.pending()).unwrap_or(0);
            bytes += after.saturating_sub(before) as u64;
        }
        Ok(())
    }

    /// `buffered`: how long what is already buffered below the queue takes to leave.
    fn send_video(&mut self, v: VideoPacket, buffered: Duration) -> Result<(), RtmpError> {
        self.note_config(&v);
        let delay = Duration::from_micros((self.now_us() - v.pts_us).max(0) as u64) + buffered;
        match self.drop_policy.admit(v.keyframe, delay) {
            Admit::Send => {}
            Admit::Drop { started } => {
                self.stats.video_dropped += 1;
                if started {
                    // Every queued video frame is as late or later behind: drop them all now
                    // (one run, one keyframe asked for) instead of sending them to find the
                    // next one late too. Audio stays.
                    let before = self.queue.len();
                    let purged_configs: Vec<VideoPacket> = self
                        .queue
                        .iter()
                        .filter_map(|p| match p {
                            MediaPacket::Video(v) if v.config.is_some() => Some(v.clone()),
                            _ => None,
                        })
                        .collect();
                    for v in &purged_configs {
                        self.note_config(v);
                    }
                    self.queue.retain(|p| matches!(p, MediaPacket::Audio(_)));
                    let purged = (before - self.queue.len()) as u64;
                    self.stats.video_dropped += purged;
                    tracing::warn!(
                        delay_ms = delay.as_millis() as u64,
                        purged,
                        "video queue too deep: dropping the queued video and asking for a keyframe"
                    );
                    self.keyframe.request();
                }
                return Ok(());
            }
        }
        let Some(live) = self.live.as_mut() else { return Ok(()) };
        let ts = (v.pts_us.max(0) / 1000) as u32;
        if !live.video_header_sent {
            match &self.video_config {
                Some(cfg) => live.conn.queue_video(ts, flv::video_sequence_header(cfg))?,
                None => {
                    // No decoder config yet: nothing decodable to send.
                    self.stats.video_dropped += 1;
                    self.keyframe.request();
                    return Ok(());
                }
            }
            live.video_header_sent = true;
        }
        let body = flv::video_nalus(v.keyframe, 0, v.nals.iter().map(|n| n.as_ref()));
        tracing::trace!(
            ts,
            bytes = body.len(),
            keyframe = v.keyframe,
            delay_ms = delay.as_millis() as u64,
            "video sent"
        );
        self.stats.video_payload_bytes += body.len() as u64;
        live.conn.queue_video(ts, body)?;
        self.stats.video_frames_sent += 1;
        self.stats.queue_delay = delay;
        if self.stats.first_video_after.is_none() {
            self.stats.first_video_after = Some(Duration::from_micros(self.now_us().max(0) as u64));
        }
        Ok(())
    }

    fn send_audio(&mut self, a: AudioPacket) -> Result<(), RtmpError> {
        let Some(live) = self.live.as_mut() else { return Ok(()) };
        let ts = (a.pts_us.max(0) / 1000) as u32;
        if !live.audio_header_sent {
            let asc = self
                .cfg
                .audio_config
                .unwrap_or_else(|| flv::audio_specific_config(mentorcast_media::AUDIO_SAMPLE_RATE, 2));
            live.conn.queue_audio(ts, flv::audio_sequence_header(&asc))?;
            live.audio_header_sent = true;
        }
        let body = flv::audio_frame(&a.data);
        tracing::trace!(ts, bytes = body.len(), "audio sent");
        self.stats.audio_payload_bytes += body.len() as u64;
        live.conn.queue_audio(ts, body)?;
        self.stats.audio_frames_sent += 1;
        Ok(())
    }

    /// After a read or a write: what the server said.
    fn after_io(&mut self) -> Result<(), RtmpError> {
        let Some(live) = self.live.as_mut() else { return Ok(()) };
        while let Some(ev) = live.conn.next_event() {
            match ev {
                ServerEvent::PingAnswered => {
                    live.pings.answered += 1;
                    live.pings.outstanding = None;
                }
                ServerEvent::Status(code) => {
                    tracing::debug!(%code, "status from the server while publishing");
                    // Enhanced RTMP: the server asks the publisher to reconnect (e.g. before it
                    // restarts). rml_rtmp hands over only the code, not the tcUrl it may carry:
                    // we reconnect at once to the same address.
                    if code.contains("ReconnectRequest") {
                        return Err(RtmpError::ReconnectRequested);
                    }
                    if code.contains("Publish.BadName") || code.contains("Publish.Failed") || code.contains("Unpublish")
                    {
                        return Err(RtmpError::ConnectionLost {
                            detail: format!("the server ended the publish ({code})"),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Every tick: stall and ping checks, and the next ping.
    fn watchdog(&mut self) -> Result<(), RtmpError> {
        let t = self.cfg.timings;
        let Some(live) = self.live.as_mut() else { return Ok(()) };
        let now = Instant::now();
        let d = live.conn.delivery();
        let waiting = live.conn.pending() as u64 + d.unsent;
        if d.delivered() > live.delivered || waiting == 0 {
            live.delivered = d.delivered();
            live.progress_at = now;
        } else if now.duration_since(live.progress_at) >= t.stall_after {
            return Err(RtmpError::ConnectionLost {
                detail: format!(
                    "nothing left for {} s while {waiting} bytes waited (the link stalled)",
                    t.stall_after.as_secs()
                ),
            });
        }
        let pings = &mut live.pings;
        match pings.outstanding {
            // Its bytes are written once nothing queued before it is left here.
            Some((mark, None)) if d.delivered() >= mark => pings.outstanding = Some((mark, Some(now))),
            Some((_, Some(left))) if pings.answered > 0 && now.duration_since(left) >= t.ping_timeout => {
                return Err(RtmpError::ConnectionLost {
                    detail: format!("the server answered no ping for {} s", t.ping_timeout.as_secs()),
                });
            }
            None if pings.next_at.is_some_and(|at| now >= at) => {
                live.conn.queue_ping()?;
                // The ping leaves after everything queued before it: everything now written and pending.
                let mark = d.written + live.conn.pending() as u64;
                pings.outstanding = Some((mark, None));
                pings.next_at = Some(now + t.ping_every);
            }
            _ => {}
        }
        let delivered = d.delivered();
        let delay = self.queue_delay();
        if let Some(kbps) = self.adapt.tick(Sample { now, delivered, delay }) {
            tracing::info!(kbps, delay_ms = delay.as_millis() as u64, "adaptive bitrate: new video target");
            self.bitrate.set(kbps);
        }
        self.stats.target_kbps = self.adapt.current_kbps();
        self.stats.send_rate_kbps = self.adapt.send_rate_kbps();
        Ok(())
    }

    /// A live connection broke. Returns the end when it cannot go on.
    fn lost(&mut self, err: RtmpError) -> Option<OutputEnd> {
        let early = self.live.as_ref().is_some_and(|l| l.published_at.elapsed() < EARLY_CLOSE_IS_DENIAL);
        let err = match err {
            RtmpError::ConnectionLost { .. } if early && self.stats.reconnects == 0 => RtmpError::PublishDenied {
                detail: "the server accepted the publish, then closed the connection at once".into(),
            },
            other => other,
        };
        self.close();
        if err.kind() == FailureKind::Rejected {
            return Some(OutputEnd::Failed { kind: err.kind(), message: err.to_string() });
        }
        if !self.cfg.reconnect.enabled() {
            return Some(OutputEnd::Failed { kind: FailureKind::ConnectionLost, message: err.to_string() });
        }
        tracing::warn!("connection lost: {err}; reconnecting");
        let now = Instant::now();
        self.stats.outages.push(Outage {
            at_s: Duration::from_micros(self.now_us().max(0) as u64).as_secs_f64(),
            lasted_s: None,
            reason: err.to_string(),
        });
        // The first attempt goes at once: most losses are a reset link that answers again.
        self.retry = Some(Retry { attempt: 1, at: now, since: now, backoff: 0 });
        self.emit(OutputEvent::Reconnecting {
            attempt: 1,
            next_in: Duration::ZERO,
            off_air: Duration::ZERO,
            reason: err.to_string(),
        });
        None
    }

    /// A reconnect attempt failed. Returns the end when there is no next one.
    fn attempt_failed(&mut self, err: RtmpError) -> Option<OutputEnd> {
        let now = Instant::now();
        let Some(retry) = self.retry.as_mut() else {
            return Some(OutputEnd::Failed { kind: err.kind(), message: err.to_string() });
        };
        // "Already publishing": the ingest still holds our dead publish; it frees the name soon.
        if err.kind() == FailureKind::Rejected && !matches!(err, RtmpError::AlreadyPublishing { .. }) {
            return Some(OutputEnd::Failed { kind: err.kind(), message: err.to_string() });
        }
        let policy = self.cfg.reconnect;
        let attempt = retry.attempt;
        let off_air = now.duration_since(retry.since);
        if policy.max_attempts.is_some_and(|m| attempt >= m) {
            return Some(OutputEnd::Failed {
                kind: FailureKind::ConnectionLost,
                message: format!("connection lost and {attempt} reconnect attempts failed (last: {err})"),
            });
        }
        if policy.give_up_after.is_some_and(|d| off_air >= d) {
            return Some(OutputEnd::Failed {
                kind: FailureKind::ConnectionLost,
                message: format!(
                    "connection lost {} ago and the ingest has not taken the stream back since (last: {err})",
                    crate::elapsed::format_elapsed(off_air.as_secs_f64())
                ),
            });
        }
        let next_in = if err.is_unanswered() {
            policy.retry_every
        } else {
            retry.backoff += 1;
            policy.delay(retry.backoff)
        };
        retry.attempt += 1;
        retry.at = now + next_in;
        let attempt = retry.attempt;
        self.emit(OutputEvent::Reconnecting { attempt, next_in, off_air, reason: err.to_string() });
        None
    }

    /// Drops the connection (and what waited for it), counting its bytes.
    fn close(&mut self) {
        if let Some(l) = self.live.take() {
            self.bytes_before += l.conn.bytes_sent();
        }
        for p in std::mem::take(&mut self.queue) {
            self.count_drop(&p);
        }
    }

    fn publish_stats(&mut self) {
        self.stats.bytes_sent = self.bytes_before + self.live.as_ref().map(|l| l.conn.bytes_sent()).unwrap_or(0);
        let _ = self.stats_tx.send(self.stats.clone());
    }
}

fn metadata(video: Option<VideoSettings>, audio: Option<AudioSettings>) -> StreamMetadata {
    let mut meta = StreamMetadata::new();
    if let Some(v) = video {
        meta.video_width = Some(v.width);
        meta.video_height = Some(v.height);
        meta.video_codec_id = Some(7);
        meta.video_frame_rate = Some(v.fps as f32);
        meta.video_bitrate_kbps = Some(v.kbps);
    }
    if let Some(a) = audio {
        meta.audio_codec_id = Some(10);
        meta.audio_bitrate_kbps = Some(a.kbps);
        meta.audio_sample_rate = Some(mentorcast_media::AUDIO_SAMPLE_RATE);
        meta.audio_channels = Some(mentorcast_media::AUDIO_CHANNELS as u32);
        meta.audio_is_stereo = Some(true);
    }
    meta.encoder = Some(format!("Mentorcast {}", env!("CARGO_PKG_VERSION")));
    meta
}

async fn drive_opt(live: &mut Option<Live>) -> Result<Step, RtmpError> {
    match live {
        Some(l) => l.conn.drive().await,
        None => std::future::pending().await,
    }
}

async fn poll_opt(opening: &mut Option<Opening>) -> Result<Connection, RtmpError> {
    match opening {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
