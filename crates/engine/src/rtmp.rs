//! RTMP over a tokio stream (plain TCP or TLS through rustls), driven with
//! rml_rtmp's session. rml_rtmp does no networking: this module resolves,
//! connects, does the handshake, hands leftover bytes to the session, and
//! writes every outgoing packet of a call before reacting to its events.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rml_rtmp::chunk_io::ChunkSerializer;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::messages::RtmpMessage;
use rml_rtmp::rml_amf0::Amf0Value;
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType, StreamMetadata,
};
use rml_rtmp::time::RtmpTimestamp;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::flv;
use crate::service::{Scheme, Service};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(8);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// Outgoing chunk size: large chunks cost less per byte than the default 128.
pub const CHUNK_SIZE: u32 = 4096;

/// Extra trust for RTMPS, on top of the system's root certificates.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// A PEM file with one or more CA certificates to trust as well (private ingests).
    pub extra_ca_file: Option<PathBuf>,
}

/// What went wrong, grouped so a caller can tell the user what to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Nothing RTMP-speaking could be reached: DNS, refused, TLS, not an RTMP server.
    CannotConnect,
    /// The server answered and said no (publish denied, app rejected).
    Rejected,
    /// The connection broke after going live.
    ConnectionLost,
    /// Bad local input (files, settings).
    Config,
}

#[derive(Debug, thiserror::Error)]
pub enum RtmpError {
    #[error("could not resolve host '{host}': {detail}")]
    Dns { host: String, detail: String },
    #[error("connection refused by {addr}: nothing is listening there")]
    Refused { addr: String },
    #[error("could not connect to {addr}: {detail}")]
    Connect { addr: String, detail: String },
    #[error("timed out connecting to {addr}")]
    ConnectTimeout { addr: String },
    #[error("TLS with {host} failed: {detail}")]
    Tls { host: String, detail: String },
    #[error("could not load the CA file {path}: {detail}")]
    CaFile { path: String, detail: String },
    #[error("the server at {addr} does not speak RTMP ({detail})")]
    NotRtmp { addr: String, detail: String },
    #[error("the server at {addr} closed the connection during the RTMP handshake")]
    ClosedDuringHandshake { addr: String },
    #[error("the server rejected the connection to application '{app}': {detail}")]
    AppRejected { app: String, detail: String },
    #[error("stream key rejected: the server refused to publish it ({detail})")]
    PublishDenied { detail: String },
    #[error("the server refused to play this stream ({detail})")]
    PlayDenied { detail: String },
    #[error("timed out waiting for the server to {stage}")]
    Timeout { stage: &'static str },
    #[error("connection lost: {detail}")]
    ConnectionLost { detail: String },
    #[error("RTMP protocol error: {detail}")]
    Protocol { detail: String },
}

impl RtmpError {
    pub fn kind(&self) -> FailureKind {
        use RtmpError::*;
        match self {
            Dns { .. }
            | Refused { .. }
            | Connect { .. }
            | ConnectTimeout { .. }
            | Tls { .. }
            | NotRtmp { .. }
            | ClosedDuringHandshake { .. }
            | Timeout { .. } => FailureKind::CannotConnect,
            CaFile { .. } => FailureKind::Config,
            AppRejected { .. } | PublishDenied { .. } | PlayDenied { .. } => FailureKind::Rejected,
            ConnectionLost { .. } | Protocol { .. } => FailureKind::ConnectionLost,
        }
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A connected RTMP client session (after `connect` was accepted).
pub struct Connection {
    io: Box<dyn Io>,
    session: ClientSession,
    /// For the few commands rml_rtmp's session does not send (releaseStream,
    /// FCPublish, FCUnpublish); always full headers, so it never disturbs the
    /// session's header compression.
    extra: ChunkSerializer,
    events: VecDeque<ClientSessionEvent>,
    read_buf: Vec<u8>,
    bytes_sent: u64,
    addr: String,
}

fn rustls_config(tls: &TlsOptions) -> Result<Arc<rustls::ClientConfig>, RtmpError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = &tls.extra_ca_file {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|e| RtmpError::CaFile { path: shown.clone(), detail: e.to_string() })?;
        let mut added = 0;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| RtmpError::CaFile { path: shown.clone(), detail: e.to_string() })?;
            roots.add(cert).map_err(|e| RtmpError::CaFile { path: shown.clone(), detail: e.to_string() })?;
            added += 1;
        }
        if added == 0 {
            return Err(RtmpError::CaFile { path: shown, detail: "no PEM certificate in it".into() });
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| RtmpError::Tls { host: String::new(), detail: e.to_string() })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

async fn open_stream(service: &Service, tls: &TlsOptions) -> Result<Box<dyn Io>, RtmpError> {
    let addr = service.addr();
    let addrs: Vec<_> = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::lookup_host(addr.clone()))
        .await
        .map_err(|_| RtmpError::Dns { host: service.host.clone(), detail: "timed out".into() })?
        .map_err(|e| RtmpError::Dns { host: service.host.clone(), detail: e.to_string() })?
        .collect();
    if addrs.is_empty() {
        return Err(RtmpError::Dns { host: service.host.clone(), detail: "no addresses".into() });
    }
    let mut last = None;
    let mut tcp = None;
    for a in &addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(a)).await {
            Err(_) => last = Some(RtmpError::ConnectTimeout { addr: addr.clone() }),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                last = Some(RtmpError::Refused { addr: addr.clone() })
            }
            Ok(Err(e)) => last = Some(RtmpError::Connect { addr: addr.clone(), detail: e.to_string() }),
            Ok(Ok(s)) => {
                tcp = Some(s);
                break;
            }
        }
    }
    let tcp = match tcp {
        Some(t) => t,
        None => return Err(last.unwrap_or(RtmpError::Connect { addr, detail: "no address worked".into() })),
    };
    let _ = tcp.set_nodelay(true);
    match service.scheme {
        Scheme::Rtmp => Ok(Box::new(tcp)),
        Scheme::Rtmps => {
            let config = rustls_config(tls)?;
            let name = rustls::pki_types::ServerName::try_from(service.host.clone())
                .map_err(|e| RtmpError::Tls { host: service.host.clone(), detail: e.to_string() })?;
            let connector = tokio_rustls::TlsConnector::from(config);
            let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(name, tcp))
                .await
                .map_err(|_| RtmpError::Tls { host: service.host.clone(), detail: "TLS handshake timed out".into() })?
                .map_err(|e| RtmpError::Tls { host: service.host.clone(), detail: tls_detail(&e) })?;
            Ok(Box::new(stream))
        }
    }
}

fn tls_detail(e: &std::io::Error) -> String {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(c)) => {
            format!("the server's certificate is not trusted ({c:?}); pass its CA with --ca-file")
        }
        Some(other) => other.to_string(),
        None => e.to_string(),
    }
}

impl Connection {
    /// Connects, completes the RTMP handshake and the `connect` command for the service's app.
    pub async fn connect(service: &Service, tls: &TlsOptions) -> Result<Self, RtmpError> {
        let addr = service.addr();
        let mut io = open_stream(service, tls).await?;
        let leftover = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&mut io, &addr))
            .await
            .map_err(|_| RtmpError::NotRtmp { addr: addr.clone(), detail: "no RTMP handshake reply".into() })??;

        let mut config = ClientSessionConfig::new();
        config.tc_url = Some(service.tc_url.clone());
        config.chunk_size = CHUNK_SIZE;
        config.flash_version = "FMLE/3.0 (compatible; Mentorcast)".into();
        let (session, initial) = ClientSession::new(config).map_err(protocol)?;
        let mut conn = Connection {
            io,
            session,
            extra: ChunkSerializer::new(),
            events: VecDeque::new(),
            read_buf: vec![0u8; 64 * 1024],
            bytes_sent: 0,
            addr,
        };
        conn.apply(initial).await?;
        if !leftover.is_empty() {
            let results = conn.handle_input(&leftover)?;
            conn.apply(results).await?;
        }
        let req = conn.session.request_connection(service.app.clone()).map_err(protocol)?;
        conn.apply(vec![req]).await?;
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

    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent
    }

    /// Asks to publish `key` live: releaseStream, FCPublish, createStream, publish.
    pub async fn publish(&mut self, key: &str) -> Result<(), RtmpError> {
        for (name, txn) in [("releaseStream", 1001.0), ("FCPublish", 1002.0)] {
            self.send_extra_command(name, txn, key).await?;
        }
        let req = self.session.request_publishing(key.to_string(), PublishRequestType::Live).map_err(protocol)?;
        self.apply(vec![req]).await?;
        self.wait_for(
            "accept the publish request",
            |ev| match ev {
                ClientSessionEvent::PublishRequestAccepted => Some(Ok(())),
                ClientSessionEvent::UnhandleableOnStatusCode { code } if is_failure_code(code) => {
                    Some(Err(RtmpError::PublishDenied { detail: code.clone() }))
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
        self.apply(vec![req]).await?;
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

    pub async fn send_metadata(&mut self, meta: &StreamMetadata) -> Result<(), RtmpError> {
        let r = self.session.publish_metadata(meta).map_err(protocol)?;
        self.apply(vec![r]).await
    }

    pub async fn send_video(&mut self, timestamp_ms: u32, body: Bytes) -> Result<(), RtmpError> {
        let r = self.session.publish_video_data(body, RtmpTimestamp::new(timestamp_ms), false).map_err(protocol)?;
        self.apply(vec![r]).await
    }

    pub async fn send_audio(&mut self, timestamp_ms: u32, body: Bytes) -> Result<(), RtmpError> {
        let r = self.session.publish_audio_data(body, RtmpTimestamp::new(timestamp_ms), false).map_err(protocol)?;
        self.apply(vec![r]).await
    }

    /// Reads what the server sent (acks, pings) and answers it. Cancel-safe:
    /// use it in `select!` next to the media queue.
    pub async fn service_incoming(&mut self) -> Result<(), RtmpError> {
        let n = self.io.read(&mut self.read_buf).await.map_err(lost)?;
        if n == 0 {
            return Err(RtmpError::ConnectionLost { detail: "the server closed the connection".into() });
        }
        // Lend the buffer out instead of copying each read (the play path reads media here).
        let buf = std::mem::take(&mut self.read_buf);
        let results = self.handle_input(&buf[..n]);
        self.read_buf = buf;
        self.apply(results?).await
    }

    /// Ends publishing cleanly: FCUnpublish, deleteStream, then closes the socket.
    pub async fn unpublish(mut self, key: &str) -> Result<(), RtmpError> {
        self.send_extra_command("FCUnpublish", 1003.0, key).await?;
        let results = self.session.stop_publishing().map_err(protocol)?;
        self.apply(results).await?;
        self.io.flush().await.map_err(lost)?;
        let _ = self.io.shutdown().await;
        Ok(())
    }

    /// The next media tag when playing; `None` when the server ends the stream.
    pub async fn next_media(&mut self) -> Result<Option<flv::Tag>, RtmpError> {
        loop {
            while let Some(ev) = self.events.pop_front() {
                match ev {
                    ClientSessionEvent::VideoDataReceived { timestamp, data } => {
                        return Ok(Some(flv::Tag { kind: flv::TAG_VIDEO, timestamp_ms: timestamp.value, body: data }))
                    }
                    ClientSessionEvent::AudioDataReceived { timestamp, data } => {
                        return Ok(Some(flv::Tag { kind: flv::TAG_AUDIO, timestamp_ms: timestamp.value, body: data }))
                    }
                    ClientSessionEvent::UnhandleableOnStatusCode { code }
                        if code == "NetStream.Play.UnpublishNotify" || code == "NetStream.Play.Stop" =>
                    {
                        return Ok(None)
                    }
                    _ => {}
                }
            }
            match self.service_incoming().await {
                Ok(()) => {}
                Err(RtmpError::ConnectionLost { .. }) => return Ok(None),
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

    async fn send_extra_command(&mut self, name: &str, transaction_id: f64, key: &str) -> Result<(), RtmpError> {
        let msg = RtmpMessage::Amf0Command {
            command_name: name.to_string(),
            transaction_id,
            command_object: Amf0Value::Null,
            additional_arguments: vec![Amf0Value::Utf8String(key.to_string())],
        };
        let payload = msg.into_message_payload(RtmpTimestamp::new(0), 0).map_err(protocol)?;
        let packet = self.extra.serialize(&payload, true, false).map_err(protocol)?;
        self.write(&packet.bytes).await
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), RtmpError> {
        self.io.write_all(bytes).await.map_err(lost)?;
        self.bytes_sent += bytes.len() as u64;
        Ok(())
    }

    /// Writes every outbound packet first, then queues the events.
    async fn apply(&mut self, results: Vec<ClientSessionResult>) -> Result<(), RtmpError> {
        let mut out = Vec::new();
        for r in results {
            match r {
                ClientSessionResult::OutboundResponse(p) => out.extend_from_slice(&p.bytes),
                ClientSessionResult::RaisedEvent(ev) => self.events.push_back(ev),
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        if !out.is_empty() {
            self.write(&out).await?;
        }
        Ok(())
    }

    async fn wait_for(
        &mut self,
        stage: &'static str,
        mut check: impl FnMut(&ClientSessionEvent) -> Option<Result<(), RtmpError>>,
        map_err: impl Fn(RtmpError) -> RtmpError,
    ) -> Result<(), RtmpError> {
        let deadline = tokio::time::Instant::now() + COMMAND_TIMEOUT;
        loop {
            while let Some(ev) = self.events.pop_front() {
                // Only the event's kind: servers may echo the stream name in their payloads.
                tracing::debug!(event = event_kind(&ev), "rtmp event while waiting to {stage}");
                if let Some(r) = check(&ev) {
                    return r.map_err(&map_err);
                }
            }
            match tokio::time::timeout_at(deadline, self.service_incoming()).await {
                Err(_) => return Err(RtmpError::Timeout { stage }),
                Ok(Err(e)) => return Err(map_err(e)),
                Ok(Ok(())) => {}
            }
        }
    }

    pub fn peer(&self) -> &str {
        &self.addr
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

fn protocol(e: impl std::fmt::Display) -> RtmpError {
    RtmpError::Protocol { detail: e.to_string() }
}

async fn handshake(io: &mut Box<dyn Io>, addr: &str) -> Result<Vec<u8>, RtmpError> {
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

/// Connects to `service` and plays its stream key.
pub async fn play(service: &Service, tls: &TlsOptions) -> Result<Player, RtmpError> {
    let mut conn = Connection::connect(service, tls).await?;
    conn.play(service.key()).await?;
    Ok(Player { conn })
}

impl Player {
    /// The next audio/video tag; `None` when the stream ended or the server closed.
    pub async fn next_tag(&mut self) -> Result<Option<flv::Tag>, RtmpError> {
        self.conn.next_media().await
    }
}
