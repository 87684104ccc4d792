//! RTMP client sessions (publish and play) over a [`Link`], driven with
//! rml_rtmp's session. rml_rtmp does no networking: this module does the
//! handshake, hands the bytes read to the session, and keeps what the session
//! wants to send in a buffer of its own.
//!
//! Two ways of writing, for two phases:
//! - commands (connect, publish, play, unpublish) write everything and wait
//!   for the server's answer, each step with a timeout;
//! - media is only queued ([`Connection::queue_video`] …) and leaves through
//!   [`Connection::drive`], one cancel-safe write or read at a time, so the
//!   output that calls it in a `select!` never sits in a write it cannot leave.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use rml_rtmp::chunk_io::ChunkSerializer;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::messages::RtmpMessage;
use rml_rtmp::rml_amf0::Amf0Value;
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType, StreamMetadata,
};
use rml_rtmp::time::RtmpTimestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadBuf};

pub use crate::error::{FailureKind, RtmpError};
use crate::flv;
use crate::service::Service;
use crate::transport::{Connector, Delivery, Link};

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(8);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// Outgoing chunk size: large chunks cost less per byte than the default 128.
pub const CHUNK_SIZE: u32 = 4096;

/// What the server said while media flows (see [`Connection::next_event`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// The answer to one of our pings ([`Connection::queue_ping`]).
    PingAnswered,
    /// An `onStatus` code, e.g. `NetStream.Publish.BadName`.
    Status(String),
}

/// What happens to a play session ([`Connection::next_play_event`]).
#[derive(Debug, Clone)]
pub enum PlayEvent {
    Tag(flv::Tag),
    /// The publisher left (the server keeps the player attached).
    Unpublished,
    /// A publisher started (again).
    Published,
    /// The connection ended.
    Ended,
}

/// What one [`Connection::drive`] step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Wrote this many queued bytes to the link.
    Wrote(usize),
    /// Read and handled this many bytes from the server.
    Read(usize),
}

/// A connected RTMP client session (after `connect` was accepted).
pub struct Connection {
    link: Box<dyn Link>,
    session: ClientSession,
    /// For the few commands rml_rtmp's session does not send (releaseStream,
    /// FCPublish, FCUnpublish); always full headers, so it never disturbs the
    /// session's header compression.
    extra: ChunkSerializer,
    events: VecDeque<ClientSessionEvent>,
    read_buf: Vec<u8>,
    /// Serialized, not yet written to the link.
    out: BytesMut,
    /// Written to the link since the last flush (TLS may hold some back).
    unflushed: bool,
    bytes_sent: u64,
    addr: String,
}

impl Connection {
    /// Opens a link with `connector` (waiting at most `connect_timeout` for it),
    /// completes the RTMP handshake and the `connect` command for the service's app.
    pub async fn connect(
        service: &Service,
        connector: &dyn Connector,
        connect_timeout: Duration,
    ) -> Result<Self, RtmpError> {
        let addr = service.addr();
        let mut link = connector.connect(service, connect_timeout).await?;
        let leftover = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&mut link, &addr))
            .await
            .map_err(|_| RtmpError::NotRtmp { addr: addr.clone(), detail: "no RTMP handshake reply".into() })??;

        let mut config = ClientSessionConfig::new();
        config.tc_url = Some(service.tc_url.clone());
        config.chunk_size = CHUNK_SIZE;
        config.flash_version = "FMLE/3.0 (compatible; Mentorcast)".into();
        let (session, initial) = ClientSession::new(config).map_err(protocol)?;
        let mut conn = Connection {
            link,
            session,
            extra: ChunkSerializer::new(),
            events: VecDeque::new(),
            read_buf: vec![0u8; 64 * 1024],
            out: BytesMut::with_capacity(64 * 1024),
            unflushed: false,
            bytes_sent: 0,
            addr,
        };
        conn.apply(initial)?;
        if !leftover.is_empty() {
            let results = conn.handle_input(&leftover)?;
            conn.apply(results)?;
        }
        let req = conn.session.request_connection(service.app.clone()).map_err(protocol)?;
        conn.apply(vec![req])?;
        let app = service.app.clone();
        conn.wait_for(
            "accept the connection",
            |ev| match ev {
                ClientSessionEvent::ConnectionRequestAccepted => Some(Ok(())),
                ClientSessionEvent::ConnectionRequestRejected { description } => {
                    Some(Err(RtmpError::AppRejected { app: app.clone(), detail: description.clone() }))
                }
                _ => None,
            },
            |e| match e {
                RtmpError::ConnectionLost { detail } => {
                    RtmpError::AppRejected { app: app.clone(), detail: format!("closed the connection ({detail})") }
                }
                other => other,
            },
        )
        .await?;
        Ok(conn)
    }

    /// Bytes written to the link so far.
    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent
    }

    /// Bytes queued here and not yet written to the link.
    pub fn pending(&self) -> usize {
        self.out.len()
    }

    /// What the link says of the bytes written to it.
    pub fn delivery(&self) -> Delivery {
        self.link.delivery()
    }

    /// Asks to publish `key` live: releaseStream, FCPublish, createStream, publish.
    pub async fn publish(&mut self, key: &str) -> Result<(), RtmpError> {
        for (name, txn) in [("releaseStream", 1001.0), ("FCPublish", 1002.0)] {
            self.queue_extra_command(name, txn, key)?;
        }
        let req = self.session.request_publishing(key.to_string(), PublishRequestType::Live).map_err(protocol)?;
        self.apply(vec![req])?;
        self.wait_for(
            "accept the publish request",
            |ev| match ev {
                ClientSessionEvent::PublishRequestAccepted => Some(Ok(())),
                ClientSessionEvent::UnhandleableOnStatusCode { code } if is_failure_code(code) => {
                    Some(Err(publish_refusal(code)))
                }
                _ => None,
            },
            |e| match e {
                // nginx-rtmp (and most ingests) drop the connection to refuse a key.
                RtmpError::ConnectionLost { .. } => {
                    RtmpError::PublishDenied { detail: "the server closed the connection when asked to publish".into() }
                }
                other => other,
            },
        )
        .await
    }

    /// Asks to play `key`; media then arrives through [`Connection::next_media`].
    pub async fn play(&mut self, key: &str) -> Result<(), RtmpError> {
        let req = self.session.request_playback(key.to_string()).map_err(protocol)?;
        self.apply(vec![req])?;
        self.wait_for(
            "start playback",
            |ev| match ev {
                ClientSessionEvent::PlaybackRequestAccepted => Some(Ok(())),
                ClientSessionEvent::UnhandleableOnStatusCode { code } if is_failure_code(code) => {
                    Some(Err(RtmpError::PlayDenied { detail: code.clone() }))
                }
                _ => None,
            },
            |e| match e {
                RtmpError::ConnectionLost { .. } => {
                    RtmpError::PlayDenied { detail: "the server closed the connection when asked to play".into() }
                }
                other => other,
            },
        )
        .await
    }

    /// Queues the stream's metadata (`@setDataFrame onMetaData`).
    pub fn queue_metadata(&mut self, meta: &StreamMetadata) -> Result<(), RtmpError> {
        let r = self.session.publish_metadata(meta).map_err(protocol)?;
        self.apply(vec![r])
    }

    /// Queues one video tag body at `timestamp_ms`.
    pub fn queue_video(&mut self, timestamp_ms: u32, body: Bytes) -> Result<(), RtmpError> {
        let r = self.session.publish_video_data(body, RtmpTimestamp::new(timestamp_ms), false).map_err(protocol)?;
        self.apply(vec![r])
    }

    /// Queues one audio tag body at `timestamp_ms`.
    pub fn queue_audio(&mut self, timestamp_ms: u32, body: Bytes) -> Result<(), RtmpError> {
        let r = self.session.publish_audio_data(body, RtmpTimestamp::new(timestamp_ms), false).map_err(protocol)?;
        self.apply(vec![r])
    }

    /// Queues a ping request; [`ServerEvent::PingAnswered`] follows when the server answers.
    pub fn queue_ping(&mut self) -> Result<(), RtmpError> {
        let (packet, _) = self.session.send_ping_request().map_err(protocol)?;
        self.out.extend_from_slice(&packet.bytes);
        Ok(())
    }

    /// One step of I/O: writes some of what is queued, or reads and handles
    /// what the server sent (its answers are queued). Cancel-safe: dropped
    /// before it completes, it has written and read nothing.
    pub async fn drive(&mut self) -> Result<Step, RtmpError> {
        let Connection { link, out, read_buf, unflushed, .. } = self;
        let step = poll_fn(|cx| {
            if !out.is_empty() {
                match Pin::new(&mut **link).poll_write(cx, out) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(closed())),
                    Poll::Ready(Ok(n)) => {
                        out.advance(n);
                        *unflushed = true;
                        return Poll::Ready(Ok(Step::Wrote(n)));
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(lost(e))),
                    Poll::Pending => {}
                }
            } else if *unflushed {
                match Pin::new(&mut **link).poll_flush(cx) {
                    Poll::Ready(Ok(())) => *unflushed = false,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(lost(e))),
                    Poll::Pending => {}
                }
            }
            let mut buf = ReadBuf::new(read_buf);
            match Pin::new(&mut **link).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => Poll::Ready(Err(closed())),
                Poll::Ready(Ok(())) => Poll::Ready(Ok(Step::Read(buf.filled().len()))),
                Poll::Ready(Err(e)) => Poll::Ready(Err(lost(e))),
                Poll::Pending => Poll::Pending,
            }
        })
        .await?;
        match step {
            Step::Wrote(n) => self.bytes_sent += n as u64,
            Step::Read(n) => {
                // Lend the buffer out instead of copying each read (the play path reads media here).
                let buf = std::mem::take(&mut self.read_buf);
                let results = self.handle_input(&buf[..n]);
                self.read_buf = buf;
                self.apply(results?)?;
            }
        }
        Ok(step)
    }

    /// The next thing the server said that a publisher cares about, if any.
    pub fn next_event(&mut self) -> Option<ServerEvent> {
        while let Some(ev) = self.events.pop_front() {
            match ev {
                ClientSessionEvent::PingResponseReceived { .. } => return Some(ServerEvent::PingAnswered),
                ClientSessionEvent::UnhandleableOnStatusCode { code } => return Some(ServerEvent::Status(code)),
                _ => {}
            }
        }
        None
    }

    /// Writes everything queued (no deadline of its own: wrap it in one).
    pub async fn flush(&mut self) -> Result<(), RtmpError> {
        while !self.out.is_empty() {
            let n = self.link.write(&self.out).await.map_err(lost)?;
            if n == 0 {
                return Err(closed());
            }
            self.out.advance(n);
            self.bytes_sent += n as u64;
        }
        self.link.flush().await.map_err(lost)?;
        self.unflushed = false;
        Ok(())
    }

    /// Ends publishing cleanly: FCUnpublish, deleteStream, everything queued
    /// written, then the socket shut down (no deadline of its own).
    pub async fn unpublish(mut self, key: &str) -> Result<(), RtmpError> {
        self.queue_extra_command("FCUnpublish", 1003.0, key)?;
        let results = self.session.stop_publishing().map_err(protocol)?;
        self.apply(results)?;
        self.flush().await?;
        let _ = self.link.shutdown().await;
        Ok(())
    }

    /// The next media tag when playing; `None` when the server ends the stream.
    pub async fn next_media(&mut self) -> Result<Option<flv::Tag>, RtmpError> {
        match self.next_play_event().await? {
            PlayEvent::Tag(t) => Ok(Some(t)),
            PlayEvent::Unpublished | PlayEvent::Ended => Ok(None),
            PlayEvent::Published => Box::pin(self.next_media()).await,
        }
    }

    /// The next thing that happens to a play session: a tag, the publisher
    /// leaving or (again) starting, or the end of the connection.
    pub async fn next_play_event(&mut self) -> Result<PlayEvent, RtmpError> {
        loop {
            while let Some(ev) = self.events.pop_front() {
                match ev {
                    ClientSessionEvent::VideoDataReceived { timestamp, data } => {
                        return Ok(PlayEvent::Tag(flv::Tag {
                            kind: flv::TAG_VIDEO,
                            timestamp_ms: timestamp.value,
                            body: data,
                        }))
                    }
                    ClientSessionEvent::AudioDataReceived { timestamp, data } => {
                        return Ok(PlayEvent::Tag(flv::Tag {
                            kind: flv::TAG_AUDIO,
                            timestamp_ms: timestamp.value,
                            body: data,
                        }))
                    }
                    ClientSessionEvent::UnhandleableOnStatusCode { code }
                        if code == "NetStream.Play.UnpublishNotify" || code == "NetStream.Play.Stop" =>
                    {
                        return Ok(PlayEvent::Unpublished)
                    }
                    ClientSessionEvent::UnhandleableOnStatusCode { code } if code == "NetStream.Play.PublishNotify" => {
                        return Ok(PlayEvent::Published)
                    }
                    _ => {}
                }
            }
            match self.drive().await {
                Ok(_) => {}
                Err(RtmpError::ConnectionLost { .. }) => return Ok(PlayEvent::Ended),
                Err(e) => return Err(e),
            }
        }
    }

    /// Feeds received bytes to the session. rml_rtmp 0.8 panics on AMF
    /// commands with fewer than three values (ffmpeg's listener answers
    /// FCPublish with a bare `onFCPublish`); such a message is skipped and the
    /// messages buffered after it are still processed.
    fn handle_input(&mut self, bytes: &[u8]) -> Result<Vec<ClientSessionResult>, RtmpError> {
        let mut input = bytes;
        for _ in 0..64 {
            let session = &mut self.session;
            CONTAINED.with(|c| c.set(true));
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| session.handle_input(input)));
            CONTAINED.with(|c| c.set(false));
            match outcome {
                Ok(r) => return r.map_err(protocol),
                Err(_) => {
                    tracing::debug!("skipped a malformed RTMP message from the server");
                    input = &[];
                }
            }
        }
        Err(RtmpError::Protocol { detail: "the server keeps sending malformed messages".into() })
    }

    fn queue_extra_command(&mut self, name: &str, transaction_id: f64, key: &str) -> Result<(), RtmpError> {
        let msg = RtmpMessage::Amf0Command {
            command_name: name.to_string(),
            transaction_id,
            command_object: Amf0Value::Null,
            additional_arguments: vec![Amf0Value::Utf8String(key.to_string())],
        };
        let payload = msg.into_message_payload(RtmpTimestamp::new(0), 0).map_err(protocol)?;
        let packet = self.extra.serialize(&payload, true, false).map_err(protocol)?;
        self.out.extend_from_slice(&packet.bytes);
        Ok(())
    }

    /// Queues every outbound packet, and the events for later.
    fn apply(&mut self, results: Vec<ClientSessionResult>) -> Result<(), RtmpError> {
        for r in results {
            match r {
                ClientSessionResult::OutboundResponse(p) => self.out.extend_from_slice(&p.bytes),
                ClientSessionResult::RaisedEvent(ev) => self.events.push_back(ev),
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        Ok(())
    }

    /// Writes what is queued, then reads until `check` decides (command phase).
    async fn wait_for(
        &mut self,
        stage: &'static str,
        mut check: impl FnMut(&ClientSessionEvent) -> Option<Result<(), RtmpError>>,
        map_err: impl Fn(RtmpError) -> RtmpError,
    ) -> Result<(), RtmpError> {
        let deadline = tokio::time::Instant::now() + COMMAND_TIMEOUT;
        match tokio::time::timeout_at(deadline, self.flush()).await {
            Err(_) => return Err(RtmpError::Timeout { stage }),
            Ok(Err(e)) => return Err(map_err(e)),
            Ok(Ok(())) => {}
        }
        loop {
            while let Some(ev) = self.events.pop_front() {
                // Only the event's kind: servers may echo the stream name in their payloads.
                tracing::debug!(event = event_kind(&ev), "rtmp event while waiting to {stage}");
                if let Some(r) = check(&ev) {
                    return r.map_err(&map_err);
                }
            }
            match tokio::time::timeout_at(deadline, self.drive()).await {
                Err(_) => return Err(RtmpError::Timeout { stage }),
                Ok(Err(e)) => return Err(map_err(e)),
                Ok(Ok(_)) => {}
            }
        }
    }

    /// `host:port` of the server.
    pub fn peer(&self) -> &str {
        &self.addr
    }
}

/// How a refused publish reads: "already publishing" is the ingest still
/// holding the name (a dead connection of ours it has not noticed yet).
fn publish_refusal(code: &str) -> RtmpError {
    if code.contains("BadName") {
        RtmpError::AlreadyPublishing { detail: code.to_string() }
    } else {
        RtmpError::PublishDenied { detail: code.to_string() }
    }
}

thread_local! {
    /// True while this thread runs rml_rtmp input handling under `catch_unwind`.
    static CONTAINED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Keeps the panics that [`Connection`] contains inside rml_rtmp (see
/// `handle_input`) out of the user's terminal; every other panic is reported
/// as before. Call once at start-up.
pub fn quiet_contained_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if CONTAINED.with(|c| c.get()) {
            tracing::debug!("contained a panic inside rml_rtmp: {info}");
        } else {
            previous(info);
        }
    }));
}

fn event_kind(ev: &ClientSessionEvent) -> &'static str {
    match ev {
        ClientSessionEvent::ConnectionRequestAccepted => "connection accepted",
        ClientSessionEvent::ConnectionRequestRejected { .. } => "connection rejected",
        ClientSessionEvent::PlaybackRequestAccepted => "playback accepted",
        ClientSessionEvent::PublishRequestAccepted => "publish accepted",
        ClientSessionEvent::StreamMetadataReceived { .. } => "metadata",
        ClientSessionEvent::VideoDataReceived { .. } => "video",
        ClientSessionEvent::AudioDataReceived { .. } => "audio",
        ClientSessionEvent::UnhandleableAmf0Command { .. } => "other command",
        ClientSessionEvent::UnknownTransactionResultReceived { .. } => "other transaction result",
        ClientSessionEvent::UnhandleableOnStatusCode { .. } => "other onStatus",
        ClientSessionEvent::AcknowledgementReceived { .. } => "acknowledgement",
        ClientSessionEvent::PingResponseReceived { .. } => "ping response",
    }
}

fn is_failure_code(code: &str) -> bool {
    ["BadName", "Failed", "Unauthorized", "Rejected", "Denied", "Forbidden", "StreamNotFound"]
        .iter()
        .any(|w| code.contains(w))
}

fn lost(e: std::io::Error) -> RtmpError {
    RtmpError::ConnectionLost { detail: e.to_string() }
}

fn closed() -> RtmpError {
    RtmpError::ConnectionLost { detail: "the server closed the connection".into() }
}

fn protocol(e: impl std::fmt::Display) -> RtmpError {
    RtmpError::Protocol { detail: e.to_string() }
}

async fn handshake(io: &mut Box<dyn Link>, addr: &str) -> Result<Vec<u8>, RtmpError> {
    let mut hs = Handshake::new(PeerType::Client);
    let p0p1 = hs.generate_outbound_p0_and_p1().map_err(protocol)?;
    io.write_all(&p0p1).await.map_err(|e| RtmpError::Connect { addr: addr.into(), detail: e.to_string() })?;
    let mut buf = vec![0u8; 8192];
    loop {
        let n = match io.read(&mut buf).await {
            Ok(0) => return Err(RtmpError::ClosedDuringHandshake { addr: addr.into() }),
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::BrokenPipe
                        | std::io::ErrorKind::UnexpectedEof
                ) =>
            {
                return Err(RtmpError::ClosedDuringHandshake { addr: addr.into() })
            }
            Err(e) => return Err(RtmpError::Connect { addr: addr.into(), detail: e.to_string() }),
        };
        match hs.process_bytes(&buf[..n]) {
            Ok(HandshakeProcessResult::InProgress { response_bytes }) => {
                if !response_bytes.is_empty() {
                    io.write_all(&response_bytes).await.map_err(lost)?;
                }
            }
            Ok(HandshakeProcessResult::Completed { response_bytes, remaining_bytes }) => {
                if !response_bytes.is_empty() {
                    io.write_all(&response_bytes).await.map_err(lost)?;
                }
                return Ok(remaining_bytes);
            }
            Err(e) => {
                let first = buf[0];
                let detail = if first.is_ascii_graphic() {
                    let text: String = buf[..n.min(24)]
                        .iter()
                        .map(|&b| if b.is_ascii_graphic() || b == b' ' { b as char } else { '.' })
                        .collect();
                    format!("it answered '{text}'")
                } else {
                    format!("bad handshake: {e}")
                };
                return Err(RtmpError::NotRtmp { addr: addr.into(), detail });
            }
        }
    }
}

/// A play session for verifying what an ingest serves.
pub struct Player {
    conn: Connection,
}

/// Connects to `service` with `connector` and plays its stream key.
pub async fn play(service: &Service, connector: &dyn Connector) -> Result<Player, RtmpError> {
    let mut conn = Connection::connect(service, connector, crate::transport::CONNECT_TIMEOUT).await?;
    conn.play(service.key()).await?;
    Ok(Player { conn })
}

impl Player {
    /// The next audio/video tag; `None` when the stream ended or the server closed.
    pub async fn next_tag(&mut self) -> Result<Option<flv::Tag>, RtmpError> {
        self.conn.next_media().await
    }

    /// The next play event (a publisher that leaves and comes back is followed).
    pub async fn next_event(&mut self) -> Result<PlayEvent, RtmpError> {
        self.conn.next_play_event().await
    }
}
