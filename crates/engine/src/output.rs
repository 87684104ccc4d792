//! The output: turns encoded packets into FLV tags on an RTMP connection, and
//! owns the drop policy and reconnection (as OBS's RTMP output does).
//!
//! Drop policy: audio is never dropped by policy. When a video packet is
//! older than [`DROP_VIDEO_AFTER`] on reaching the output (the network cannot
//! keep up), video frames are dropped until the next keyframe, and the
//! encoder is asked for one at once. After a reconnect the decoder
//! configuration is sent again and video resumes at a fresh keyframe.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rml_rtmp::sessions::StreamMetadata;

use crate::encode::{AudioPacket, AudioSettings, VideoPacket, VideoSettings};
use crate::flv;
use crate::rtmp::{Connection, RtmpError, TlsOptions};
use crate::service::Service;

/// Past this queue delay, video is dropped until the next keyframe (OBS: ~900 ms).
pub const DROP_VIDEO_AFTER: Duration = Duration::from_millis(900);
/// A connection the server closes this soon after accepting the publish was
/// refused (nginx-rtmp's `deny publish` says Publish.Start, then closes).
pub const EARLY_CLOSE_IS_DENIAL: Duration = Duration::from_millis(1500);

pub enum MediaPacket {
    Video(VideoPacket),
    Audio(AudioPacket),
}

/// What the drop policy says about one video packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Send,
    /// Drop it; `started` is true for the first drop of a run.
    Drop {
        started: bool,
    },
}

/// Video drop policy: past [`DROP_VIDEO_AFTER`] of queue delay, drop until
/// the next keyframe (every P-frame is a reference, so a single dropped
/// frame would corrupt the rest of the GOP); keyframes always go.
#[derive(Debug, Default)]
pub struct VideoDropPolicy {
    waiting_for_keyframe: bool,
}

impl VideoDropPolicy {
    /// From now on, send nothing until a keyframe (after a reconnect or a lost packet).
    pub fn wait_for_keyframe(&mut self) {
        self.waiting_for_keyframe = true;
    }

    pub fn admit(&mut self, keyframe: bool, queue_delay_us: i64) -> Admit {
        if keyframe {
            self.waiting_for_keyframe = false;
            return Admit::Send;
        }
        if self.waiting_for_keyframe {
            return Admit::Drop { started: false };
        }
        if queue_delay_us > DROP_VIDEO_AFTER.as_micros() as i64 {
            self.waiting_for_keyframe = true;
            return Admit::Drop { started: true };
        }
        Admit::Send
    }
}

/// Reconnect with exponential backoff and jitter. OBS: 2 s, ×1.5, 25 tries;
/// we start sooner because mentors notice every second off air.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ReconnectPolicy {
    pub max_attempts: u32,
    pub first_delay: Duration,
    pub multiplier: f64,
    pub max_delay: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            first_delay: Duration::from_secs(1),
            multiplier: 1.5,
            max_delay: Duration::from_secs(30),
        }
    }
}

impl ReconnectPolicy {
    pub fn none() -> Self {
        Self { max_attempts: 0, ..Self::default() }
    }

    /// The wait before attempt `n` (1-based), with ±20% jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self.first_delay.as_secs_f64() * self.multiplier.powi(attempt.saturating_sub(1) as i32);
        let base = base.min(self.max_delay.as_secs_f64());
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let jitter = 0.8 + 0.4 * (nanos % 1000) as f64 / 1000.0;
        Duration::from_secs_f64(base * jitter)
    }
}

/// Counters the output keeps (the session turns them into stats).
#[derive(Debug, Default, Clone)]
pub struct OutputCounters {
    pub video_frames_sent: u64,
    pub audio_frames_sent: u64,
    pub video_dropped: u64,
    pub audio_dropped: u64,
    pub video_payload_bytes: u64,
    pub audio_payload_bytes: u64,
    pub last_video_delay_us: i64,
    pub reconnects: u32,
}

pub struct Output {
    service: Service,
    tls: TlsOptions,
    video: Option<VideoSettings>,
    audio: Option<AudioSettings>,
    conn: Option<Connection>,
    /// Bytes sent on connections that have since closed.
    bytes_sent_before: u64,
    video_config: Option<Bytes>,
    audio_config: Option<[u8; 2]>,
    video_header_sent: bool,
    audio_header_sent: bool,
    drop_policy: VideoDropPolicy,
    /// Shared with the video encoder thread: "make the next frame an IDR".
    pub keyframe_request: Arc<AtomicBool>,
    pub counters: OutputCounters,
    published_at: Option<tokio::time::Instant>,
    pub first_video_sent_at: Option<tokio::time::Instant>,
}

impl Output {
    pub fn new(service: Service, tls: TlsOptions, video: Option<VideoSettings>, audio: Option<AudioSettings>) -> Self {
        Self {
            service,
            tls,
            video,
            audio,
            conn: None,
            bytes_sent_before: 0,
            video_config: None,
            audio_config: None,
            video_header_sent: false,
            audio_header_sent: false,
            drop_policy: VideoDropPolicy::default(),
            keyframe_request: Arc::new(AtomicBool::new(false)),
            counters: OutputCounters::default(),
            published_at: None,
            first_video_sent_at: None,
        }
    }

    pub fn set_audio_config(&mut self, asc: [u8; 2]) {
        self.audio_config = Some(asc);
    }

    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent_before + self.conn.as_ref().map(|c| c.bytes_sent()).unwrap_or(0)
    }

    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Connects, publishes and sends onMetaData.
    pub async fn connect(&mut self) -> Result<(), RtmpError> {
        self.close_quietly();
        // `Service`'s Display masks the key.
        tracing::debug!(service = %self.service, "connecting to {}", self.service.addr());
        let mut conn = Connection::connect(&self.service, &self.tls).await?;
        conn.publish(self.service.key()).await?;
        let mut meta = StreamMetadata::new();
        if let Some(v) = self.video {
            meta.video_width = Some(v.width);
            meta.video_height = Some(v.height);
            meta.video_codec_id = Some(7);
            meta.video_frame_rate = Some(v.fps as f32);
            meta.video_bitrate_kbps = Some(v.kbps);
        }
        if let Some(a) = self.audio {
            meta.audio_codec_id = Some(10);
            meta.audio_bitrate_kbps = Some(a.kbps);
            meta.audio_sample_rate = Some(mentorcast_media::AUDIO_SAMPLE_RATE);
            meta.audio_channels = Some(mentorcast_media::AUDIO_CHANNELS as u32);
            meta.audio_is_stereo = Some(true);
        }
        meta.encoder = Some(format!("Mentorcast {}", env!("CARGO_PKG_VERSION")));
        conn.send_metadata(&meta).await?;
        self.conn = Some(conn);
        self.published_at = Some(tokio::time::Instant::now());
        self.video_header_sent = false;
        self.audio_header_sent = false;
        // A new connection starts at a keyframe with the decoder config.
        if self.video_config.is_some() {
            self.drop_policy.wait_for_keyframe();
            self.keyframe_request.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    fn close_quietly(&mut self) {
        if let Some(c) = self.conn.take() {
            self.bytes_sent_before += c.bytes_sent();
        }
    }

    /// Classifies a failure of a live connection: a close right after the
    /// publish was accepted is the server refusing the key.
    pub fn classify_loss(&self, err: RtmpError) -> RtmpError {
        match (&err, self.published_at) {
            (RtmpError::ConnectionLost { .. }, Some(t)) if t.elapsed() < EARLY_CLOSE_IS_DENIAL => {
                RtmpError::PublishDenied {
                    detail: "the server accepted the publish, then closed the connection at once".into(),
                }
            }
            _ => err,
        }
    }

    /// Marks the connection as gone (after a send or read error).
    pub fn disconnect(&mut self) {
        self.close_quietly();
    }

    /// Counts a packet that arrived while there was no connection.
    pub fn drop_packet(&mut self, packet: &MediaPacket) {
        match packet {
            MediaPacket::Video(v) => {
                if let Some(c) = &v.config {
                    self.video_config = Some(c.clone());
                }
                self.counters.video_dropped += 1;
                self.drop_policy.wait_for_keyframe();
            }
            MediaPacket::Audio(_) => self.counters.audio_dropped += 1,
        }
    }

    /// Sends one packet, applying the drop policy. `now_us` is the session clock.
    pub async fn send(&mut self, packet: MediaPacket, now_us: i64) -> Result<(), RtmpError> {
        if self.conn.is_none() {
            self.drop_packet(&packet);
            return Ok(());
        }
        match packet {
            MediaPacket::Video(v) => self.send_video(v, now_us).await,
            MediaPacket::Audio(a) => self.send_audio(a).await,
        }
    }

    async fn send_video(&mut self, v: VideoPacket, now_us: i64) -> Result<(), RtmpError> {
        if let Some(c) = &v.config {
            self.video_config = Some(c.clone());
            self.video_header_sent = false;
        }
        let delay = now_us - v.pts_us;
        self.counters.last_video_delay_us = delay;
        match self.drop_policy.admit(v.keyframe, delay) {
            Admit::Send => {}
            Admit::Drop { started } => {
                if started {
                    tracing::warn!(
                        delay_ms = delay / 1000,
                        "video queue too deep: dropping frames until the next keyframe"
                    );
                    self.keyframe_request.store(true, Ordering::Relaxed);
                }
                self.counters.video_dropped += 1;
                return Ok(());
            }
        }
        let ts = (v.pts_us.max(0) / 1000) as u32;
        let conn = self.conn.as_mut().expect("checked by send");
        if !self.video_header_sent {
            match &self.video_config {
                Some(cfg) => conn.send_video(ts, flv::video_sequence_header(cfg)).await?,
                None => {
                    // No decoder config yet: nothing decodable to send.
                    self.counters.video_dropped += 1;
                    self.keyframe_request.store(true, Ordering::Relaxed);
                    return Ok(());
                }
            }
            self.video_header_sent = true;
        }
        let body = flv::video_nalus(v.keyframe, 0, v.nals.iter().map(|n| n.as_ref()));
        tracing::trace!(ts, bytes = body.len(), keyframe = v.keyframe, delay_ms = delay / 1000, "video sent");
        self.counters.video_payload_bytes += body.len() as u64;
        conn.send_video(ts, body).await?;
        self.counters.video_frames_sent += 1;
        if self.first_video_sent_at.is_none() {
            self.first_video_sent_at = Some(tokio::time::Instant::now());
        }
        Ok(())
    }

    async fn send_audio(&mut self, a: AudioPacket) -> Result<(), RtmpError> {
        let ts = (a.pts_us.max(0) / 1000) as u32;
        let conn = self.conn.as_mut().expect("checked by send");
        if !self.audio_header_sent {
            let asc =
                self.audio_config.unwrap_or_else(|| flv::audio_specific_config(mentorcast_media::AUDIO_SAMPLE_RATE, 2));
            conn.send_audio(ts, flv::audio_sequence_header(&asc)).await?;
            self.audio_header_sent = true;
        }
        let body = flv::audio_frame(&a.data);
        tracing::trace!(ts, bytes = body.len(), "audio sent");
        self.counters.audio_payload_bytes += body.len() as u64;
        conn.send_audio(ts, body).await?;
        self.counters.audio_frames_sent += 1;
        Ok(())
    }

    /// Answers what the server sends (pings, acks). Cancel-safe.
    pub async fn service_incoming(&mut self) -> Result<(), RtmpError> {
        match self.conn.as_mut() {
            Some(c) => c.service_incoming().await,
            None => std::future::pending().await,
        }
    }

    /// Unpublishes cleanly and closes.
    pub async fn finish(&mut self) -> Result<(), RtmpError> {
        if let Some(conn) = self.conn.take() {
            let sent = conn.bytes_sent();
            let key = self.service.key().to_string();
            let r = conn.unpublish(&key).await;
            self.bytes_sent_before += sent;
            r?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_video_from_a_deep_queue_until_the_next_keyframe() {
        let mut p = VideoDropPolicy::default();
        let ms = |m: i64| m * 1000;
        assert_eq!(p.admit(true, ms(10)), Admit::Send);
        assert_eq!(p.admit(false, ms(800)), Admit::Send);
        assert_eq!(p.admit(false, ms(950)), Admit::Drop { started: true });
        // Even once the queue drains, P-frames wait for a keyframe.
        assert_eq!(p.admit(false, ms(10)), Admit::Drop { started: false });
        // A late keyframe still goes: it restarts the picture.
        assert_eq!(p.admit(true, ms(2000)), Admit::Send);
        assert_eq!(p.admit(false, ms(10)), Admit::Send);
        p.wait_for_keyframe();
        assert_eq!(p.admit(false, ms(0)), Admit::Drop { started: false });
        assert_eq!(p.admit(true, ms(0)), Admit::Send);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = ReconnectPolicy {
            max_attempts: 25,
            first_delay: Duration::from_secs(2),
            multiplier: 1.5,
            max_delay: Duration::from_secs(10),
        };
        let d1 = p.delay(1).as_secs_f64();
        let d3 = p.delay(3).as_secs_f64();
        let d20 = p.delay(20).as_secs_f64();
        assert!((1.6..=2.4).contains(&d1), "{d1}");
        assert!((3.6..=5.4).contains(&d3), "{d3}");
        assert!((8.0..=12.0).contains(&d20), "{d20}");
    }
}
