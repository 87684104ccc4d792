//! What RTMP runs over: a [`Link`] (a byte stream that can also say how much of
//! what was written has left this machine) made by a [`Connector`].
//!
//! [`NetConnector`] makes real ones: TCP, or TLS over TCP for `rtmps://`. Tests
//! give the output their own connector (an in-process server over a pipe), so
//! reconnects, stalls and refusals run on paused time with no socket at all.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::error::RtmpError;
use crate::service::{Scheme, Service};

/// The usual wait for a TCP connection (a reconnect waits less: it tries again soon).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const TLS_TIMEOUT: Duration = Duration::from_secs(8);

/// How far the bytes written to a link got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Bytes handed to the transport so far (for TLS: the encrypted bytes).
    pub written: u64,
    /// Of those, still waiting in the transport's send buffer: not yet
    /// acknowledged by the peer (the kernel's `SIOCOUTQ` on a TCP socket).
    pub unsent: u64,
}

impl Delivery {
    /// Bytes that have left: written and no longer waiting.
    pub fn delivered(&self) -> u64 {
        self.written.saturating_sub(self.unsent)
    }
}

/// A connected byte stream under an RTMP session.
pub trait Link: AsyncRead + AsyncWrite + Unpin + Send {
    /// What was written and what of it still waits to leave.
    fn delivery(&self) -> Delivery;
}

/// A boxed future a [`Connector`] returns.
pub type Connecting<'a> = Pin<Box<dyn Future<Output = Result<Box<dyn Link>, RtmpError>> + Send + 'a>>;

/// Opens links to a service.
pub trait Connector: Send + Sync {
    /// Connects, waiting at most `timeout` for the transport (TCP) to connect.
    fn connect<'a>(&'a self, service: &'a Service, timeout: Duration) -> Connecting<'a>;
}

/// Extra trust for RTMPS, on top of the system's root certificates.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// A PEM file with one or more CA certificates to trust as well (private ingests).
    pub extra_ca_file: Option<PathBuf>,
}

/// Real network links: TCP for `rtmp://`, TLS over TCP for `rtmps://`.
#[derive(Debug, Clone, Default)]
pub struct NetConnector {
    pub tls: TlsOptions,
    /// The socket's send buffer (`SO_SNDBUF`), when set: a small one keeps the
    /// backlog where the output can see and drop it instead of in the kernel.
    pub send_buffer: Option<usize>,
}

impl NetConnector {
    pub fn new(tls: TlsOptions) -> Self {
        Self { tls, send_buffer: None }
    }
}

impl Connector for NetConnector {
    fn connect<'a>(&'a self, service: &'a Service, timeout: Duration) -> Connecting<'a> {
        Box::pin(async move {
            let tcp = open_tcp(service, timeout).await?;
            if let Some(size) = self.send_buffer {
                set_send_buffer(&tcp, size);
            }
            let tcp = TcpLink { stream: tcp, written: 0 };
            match service.scheme {
                Scheme::Rtmp => Ok(Box::new(tcp) as Box<dyn Link>),
                Scheme::Rtmps => Ok(Box::new(open_tls(service, &self.tls, tcp).await?) as Box<dyn Link>),
            }
        })
    }
}

async fn open_tcp(service: &Service, timeout: Duration) -> Result<TcpStream, RtmpError> {
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
    for a in &addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(a)).await {
            Err(_) => last = Some(RtmpError::ConnectTimeout { addr: addr.clone() }),
            Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
                last = Some(RtmpError::Refused { addr: addr.clone() })
            }
            Ok(Err(e)) => last = Some(RtmpError::Connect { addr: addr.clone(), detail: e.to_string() }),
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
        }
    }
    Err(last.unwrap_or(RtmpError::Connect { addr, detail: "no address worked".into() }))
}

async fn open_tls(
    service: &Service,
    tls: &TlsOptions,
    tcp: TcpLink,
) -> Result<tokio_rustls::client::TlsStream<TcpLink>, RtmpError> {
    let config = rustls_config(tls)?;
    let name = rustls::pki_types::ServerName::try_from(service.host.clone())
        .map_err(|e| RtmpError::Tls { host: service.host.clone(), detail: e.to_string() })?;
    let connector = tokio_rustls::TlsConnector::from(config);
    tokio::time::timeout(TLS_TIMEOUT, connector.connect(name, tcp))
        .await
        .map_err(|_| RtmpError::Tls { host: service.host.clone(), detail: "TLS handshake timed out".into() })?
        .map_err(|e| RtmpError::Tls { host: service.host.clone(), detail: tls_detail(&e) })
}

fn rustls_config(tls: &TlsOptions) -> Result<Arc<rustls::ClientConfig>, RtmpError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = &tls.extra_ca_file {
        let shown = path.display().to_string();
        let bad = |detail: String| RtmpError::CaFile { path: shown.clone(), detail };
        let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let mut added = 0;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            roots.add(cert.map_err(|e| bad(e.to_string()))?).map_err(|e| bad(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(bad("no PEM certificate in it".into()));
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

/// Checks the TLS options without connecting (a missing or empty CA file is a
/// configuration error the user should hear before going live).
pub fn check_tls(tls: &TlsOptions) -> Result<(), RtmpError> {
    rustls_config(tls).map(|_| ())
}

fn tls_detail(e: &io::Error) -> String {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(c)) => {
            format!("the server's certificate is not trusted ({c:?}); pass its CA with --ca-file")
        }
        Some(other) => other.to_string(),
        None => e.to_string(),
    }
}

/// A TCP stream that counts what it writes and reads the kernel's send queue.
pub struct TcpLink {
    stream: TcpStream,
    written: u64,
}

impl TcpLink {
    fn unsent(&self) -> u64 {
        kernel_unsent(&self.stream).unwrap_or(0)
    }
}

#[cfg(target_os = "linux")]
fn kernel_unsent(stream: &TcpStream) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SIOCOUTQ (= TIOCOUTQ): bytes in the send queue not yet acknowledged by the peer.
    let r = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut n) };
    (r == 0 && n >= 0).then_some(n as u64)
}

#[cfg(not(target_os = "linux"))]
fn kernel_unsent(_stream: &TcpStream) -> Option<u64> {
    None
}

fn set_send_buffer(stream: &TcpStream, size: usize) {
    let sock = socket2::SockRef::from(stream);
    if let Err(e) = sock.set_send_buffer_size(size) {
        tracing::debug!("could not set the socket's send buffer to {size} bytes: {e}");
    }
}

impl Link for TcpLink {
    fn delivery(&self) -> Delivery {
        Delivery { written: self.written, unsent: self.unsent() }
    }
}

impl Link for tokio_rustls::client::TlsStream<TcpLink> {
    fn delivery(&self) -> Delivery {
        self.get_ref().0.delivery()
    }
}

impl AsyncRead for TcpLink {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TcpLink {
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
