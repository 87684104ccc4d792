//! An in-process RTMP ingest for the output's tests: a [`Connector`] whose
//! links are in-memory pipes to a server task built on rml_rtmp's server
//! session. Each connection follows the [`Mode`] set when it is made, so a
//! test can accept, refuse, reject, stall, close mid-stream or answer slowly,
//! all on paused tokio time.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use mentorcast_protocol::rtmp::RtmpError;
use mentorcast_protocol::transport::{Connecting, Connector, Delivery, Link};
use mentorcast_protocol::Service;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::time::Instant;

/// The pipe's buffer: what a kernel's send buffer would hold.
pub const PIPE_BYTES: usize = 64 * 1024;

/// How the next connections behave.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Accept and read everything.
    Accept,
    /// Nothing listens: connection refused.
    Refuse,
    /// Accept the connection, refuse the publish with this onStatus code.
    RejectPublish(&'static str),
    /// Accept, then close after this many media messages.
    CloseAfter(usize),
    /// Accept, then stop reading after this many media messages (a blackholed link).
    StallAfter(usize),
    /// Accept, then after this many media messages read on but answer nothing (pings included).
    SilentAfter(usize),
    /// Wait this long before answering the connect command.
    SlowAccept(Duration),
    /// Accept the TCP connection, answer the handshake with something that is not RTMP.
    NotRtmp,
    /// Accept, then after this many media messages ask the publisher to reconnect
    /// (Enhanced RTMP's `NetConnection.Connect.ReconnectRequest`) and read on.
    AskReconnectAfter(usize),
}

/// One media message the server received.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub connection: usize,
    pub video: bool,
    pub timestamp_ms: u32,
    pub body: Vec<u8>,
    pub at: Instant,
}

#[derive(Default)]
struct State {
    modes: VecDeque<Mode>,
    default: Option<Mode>,
    connections: usize,
    received: Vec<Received>,
    unpublished: usize,
}

/// The test ingest; clone it to keep a view while the output owns the connector.
#[derive(Clone, Default)]
pub struct TestIngest(Arc<Mutex<State>>);

impl TestIngest {
    pub fn new(mode: Mode) -> Self {
        let s = Self::default();
        s.lock().default = Some(mode);
        s
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The modes of the next connections, in order (then the default again).
    pub fn then(&self, modes: impl IntoIterator<Item = Mode>) {
        self.lock().modes.extend(modes);
    }

    pub fn set_default(&self, mode: Mode) {
        self.lock().default = Some(mode);
    }

    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    pub fn connections(&self) -> usize {
        self.lock().connections
    }

    pub fn unpublished(&self) -> usize {
        self.lock().unpublished
    }

    pub fn connector(&self) -> Arc<dyn Connector> {
        Arc::new(self.clone())
    }
}

impl Connector for TestIngest {
    fn connect<'a>(&'a self, _service: &'a Service, _timeout: Duration) -> Connecting<'a> {
        let this = self.clone();
        Box::pin(async move {
            let (mode, connection) = {
                let mut s = this.lock();
                let mode = s.modes.pop_front().or(s.default.clone()).unwrap_or(Mode::Accept);
                if mode != Mode::Refuse {
                    s.connections += 1;
                }
                (mode, s.connections)
            };
            if mode == Mode::Refuse {
                return Err(RtmpError::Refused { addr: "test-ingest".into() });
            }
            let (client, server) = tokio::io::duplex(PIPE_BYTES);
            let read = Arc::new(AtomicU64::new(0));
            let server = Counted { stream: server, read: read.clone() };
            tokio::spawn(serve(this, mode, connection, server));
            Ok(Box::new(MemLink { stream: client, written: 0, read }) as Box<dyn Link>)
        })
    }
}

/// The client's end of a pipe: what the server has read is what was delivered.
struct MemLink {
    stream: DuplexStream,
    written: u64,
    read: Arc<AtomicU64>,
}

impl Link for MemLink {
    fn delivery(&self) -> Delivery {
        let read = self.read.load(Ordering::Relaxed);
        Delivery { written: self.written, unsent: self.written.saturating_sub(read) }
    }
}

impl AsyncRead for MemLink {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for MemLink {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.stream).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            self.written += *n as u64;
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The server's end, counting what it reads.
struct Counted {
    stream: DuplexStream,
    read: Arc<AtomicU64>,
}

impl Counted {
    async fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stream.read(buf).await?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

async fn serve(ingest: TestIngest, mode: Mode, connection: usize, mut io: Counted) {
    let _ = serve_inner(&ingest, &mode, connection, &mut io).await;
    if let Mode::StallAfter(_) = mode {
        // A blackholed link: hold the pipe open and read nothing, forever.
        std::future::pending::<()>().await;
    }
}

async fn serve_inner(ingest: &TestIngest, mode: &Mode, connection: usize, io: &mut Counted) -> io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    if *mode == Mode::NotRtmp {
        let _ = io.read_some(&mut buf).await?;
        io.stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await?;
        return Ok(());
    }
    let mut hs = Handshake::new(PeerType::Server);
    let leftover = loop {
        let n = io.read_some(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        match hs.process_bytes(&buf[..n]).map_err(io::Error::other)? {
            HandshakeProcessResult::InProgress { response_bytes } => io.stream.write_all(&response_bytes).await?,
            HandshakeProcessResult::Completed { response_bytes, remaining_bytes } => {
                io.stream.write_all(&response_bytes).await?;
                break remaining_bytes;
            }
        }
    };
    let (mut session, initial) = ServerSession::new(ServerSessionConfig::new()).map_err(io::Error::other)?;
    let mut media = 0usize;
    let mut asked = false;
    let mut pending = initial;
    let mut input = leftover;
    loop {
        if !input.is_empty() {
            pending.extend(session.handle_input(&input).map_err(io::Error::other)?);
            input.clear();
        }
        let mut out = Vec::new();
        for r in std::mem::take(&mut pending) {
            match r {
                ServerSessionResult::OutboundResponse(p) => out.extend_from_slice(&p.bytes),
                ServerSessionResult::RaisedEvent(ev) => match ev {
                    ServerSessionEvent::ConnectionRequested { request_id, .. } => {
                        if let Mode::SlowAccept(d) = mode {
                            tokio::time::sleep(*d).await;
                        }
                        pending.extend(session.accept_request(request_id).map_err(io::Error::other)?);
                    }
                    ServerSessionEvent::PublishStreamRequested { request_id, .. } => match mode {
                        Mode::RejectPublish(code) => {
                            // As nginx-rtmp refuses: an error onStatus on the stream, then the connection closed.
                            io.stream.write_all(&out).await?;
                            io.stream.write_all(&on_status_error(code)?).await?;
                            return Ok(());
                        }
                        _ => pending.extend(session.accept_request(request_id).map_err(io::Error::other)?),
                    },
                    ServerSessionEvent::PublishStreamFinished { .. } => ingest.lock().unpublished += 1,
                    ServerSessionEvent::VideoDataReceived { data, timestamp, .. }
                    | ServerSessionEvent::AudioDataReceived { data, timestamp, .. } => {
                        let video = data.first().is_some_and(|b| b & 0x0f == 7);
                        ingest.lock().received.push(Received {
                            connection,
                            video,
                            timestamp_ms: timestamp.value,
                            body: data.to_vec(),
                            at: Instant::now(),
                        });
                        media += 1;
                    }
                    _ => {}
                },
                ServerSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        if !out.is_empty() {
            io.stream.write_all(&out).await?;
        }
        if !pending.is_empty() {
            continue;
        }
        match mode {
            Mode::CloseAfter(n) if media >= *n => return Ok(()),
            Mode::StallAfter(n) if media >= *n => return Ok(()),
            Mode::AskReconnectAfter(n) if media >= *n && !asked => {
                io.stream.write_all(&on_status(0, "status", "NetConnection.Connect.ReconnectRequest")?).await?;
                asked = true;
            }
            Mode::SilentAfter(n) if media >= *n => {
                // Reads on (the bytes are delivered) but answers nothing, pings included.
                while io.read_some(&mut buf).await? > 0 {}
                return Ok(());
            }
            _ => {}
        }
        let n = io.read_some(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        input.extend_from_slice(&buf[..n]);
    }
}

/// An `onStatus` error with `code` on message stream 1 (the publish stream),
/// as one uncompressed chunk.
fn on_status_error(code: &str) -> io::Result<Vec<u8>> {
    on_status(1, "error", code)
}

/// An `onStatus` of `level` with `code` on message `stream`, as one uncompressed chunk.
fn on_status(stream: u32, level: &str, code: &str) -> io::Result<Vec<u8>> {
    use rml_rtmp::chunk_io::ChunkSerializer;
    use rml_rtmp::messages::RtmpMessage;
    use rml_rtmp::rml_amf0::Amf0Value;
    use rml_rtmp::time::RtmpTimestamp;
    let mut info = std::collections::HashMap::new();
    info.insert("level".to_string(), Amf0Value::Utf8String(level.into()));
    info.insert("code".to_string(), Amf0Value::Utf8String(code.into()));
    let msg = RtmpMessage::Amf0Command {
        command_name: "onStatus".into(),
        transaction_id: 0.0,
        command_object: Amf0Value::Null,
        additional_arguments: vec![Amf0Value::Object(info)],
    };
    let payload = msg.into_message_payload(RtmpTimestamp::new(0), stream).map_err(io::Error::other)?;
    let packet = ChunkSerializer::new().serialize(&payload, true, false).map_err(io::Error::other)?;
    Ok(packet.bytes)
}
