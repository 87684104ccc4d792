//! The preview's way to the window: a loopback HTTP server that serves the
//! newest JPEG frames as one `multipart/x-mixed-replace` (MJPEG) response.
//!
//! The web view's own image loader decodes such a stream in an `<img>`: no
//! script runs per frame, no Blob or object URL is made, and nothing passes
//! through the app's main thread (a Tauri channel costs an `eval`, an IPC fetch
//! on the main thread and a Blob per frame: measured, that was most of the app's
//! CPU above the CLI's while live). Frames are binary JPEG parts, never base64.
//!
//! Only `127.0.0.1` is bound, and only `/preview/{token}` is served (any query
//! is ignored: the window adds one to make each load a new request), the token
//! being 128 random bits made at start: another local user cannot guess it. A
//! slow reader skips frames (it always gets the newest), it never queues them.
//!
//! One window shows the preview, so the newest reader wins: a new request ends
//! the responses before it, and [`PreviewStream::close_readers`] ends them all.
//! WebKit does not cancel an `<img>`'s multipart load when its `src` changes or
//! the element leaves the page (seen: frames kept flowing to a removed image),
//! so the app, not the web view, decides when a stream ends — and with no reader
//! left, no preview frame is scaled or encoded.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const BOUNDARY: &str = "mentorcast-frame";
/// How long a client may take to send its request line and headers.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection whose reader has stalled this long is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

type Frame = Option<Arc<Vec<u8>>>;

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("the preview stream could not listen on 127.0.0.1: {0}")]
    Bind(std::io::Error),
    #[error("no randomness for the preview stream's token: {0}")]
    Random(std::io::Error),
}

/// The server's address and the way frames reach it. Dropping it stops serving.
pub struct PreviewStream {
    url: String,
    origin: String,
    tx: watch::Sender<Frame>,
    /// Bumped to end every response started before.
    epoch: watch::Sender<u64>,
    listener: Option<std::net::TcpListener>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl PreviewStream {
    /// Binds now (so that the origin is known before the window's CSP is set);
    /// serving starts with [`PreviewStream::serve`] inside a Tokio runtime.
    pub fn bind() -> Result<Self, StreamError> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(StreamError::Bind)?;
        listener.set_nonblocking(true).map_err(StreamError::Bind)?;
        let port = listener.local_addr().map_err(StreamError::Bind)?.port();
        let token = random_token().map_err(StreamError::Random)?;
        let origin = format!("http://127.0.0.1:{port}");
        let (tx, _) = watch::channel(None);
        let (epoch, _) = watch::channel(0);
        Ok(Self { url: format!("{origin}/preview/{token}"), origin, tx, epoch, listener: Some(listener), task: None })
    }

    /// The stream's URL (with its token): what the `<img>` loads.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `http://127.0.0.1:{port}`, for the CSP's `img-src`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Starts accepting connections (call once, inside a Tokio runtime).
    pub fn serve(&mut self) -> Result<(), StreamError> {
        let Some(std_listener) = self.listener.take() else { return Ok(()) };
        let listener = TcpListener::from_std(std_listener).map_err(StreamError::Bind)?;
        let path = self.url.trim_start_matches(&self.origin).to_string();
        let (rx, epoch) = (self.tx.subscribe(), self.epoch.clone());
        self.task = Some(tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((sock, _)) => {
                        let (path, rx, epoch) = (path.clone(), rx.clone(), epoch.clone());
                        tokio::spawn(async move {
                            if let Err(e) = serve_one(sock, &path, rx, &epoch).await {
                                tracing::debug!("preview stream connection ended: {e}");
                            }
                        });
                    }
                    Err(e) => {
                        tracing::warn!("preview stream: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        }));
        Ok(())
    }

    /// Offers a frame to every connected reader (the newest replaces any unsent one).
    pub fn send(&self, jpeg: Vec<u8>) {
        self.tx.send_replace(Some(Arc::new(jpeg)));
    }

    /// Readers connected now.
    pub fn readers(&self) -> usize {
        self.tx.receiver_count().saturating_sub(1)
    }

    /// Ends every open response (each with the closing boundary: an image keeps
    /// its last frame); frames stop being made until a reader comes again.
    pub fn close_readers(&self) {
        self.epoch.send_modify(|e| *e += 1);
    }
}

impl crate::preview::PreviewOut for PreviewStream {
    fn wanted(&self) -> bool {
        self.readers() > 0
    }
    fn frame(&self, jpeg: Vec<u8>) {
        self.send(jpeg)
    }
}

impl Drop for PreviewStream {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

fn random_token() -> std::io::Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Reads the request head (up to 8 KiB) and answers: the stream for `GET {path}`, 404 otherwise.
async fn serve_one(
    mut sock: TcpStream,
    path: &str,
    mut rx: watch::Receiver<Frame>,
    epoch: &watch::Sender<u64>,
) -> std::io::Result<()> {
    sock.set_nodelay(true)?;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    tokio::time::timeout(REQUEST_TIMEOUT, async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = sock.read(&mut buf).await?;
            if n == 0 || head.len() + n > 8192 {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "no complete request head"));
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok(())
    })
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "request head too slow"))??;
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, target) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let target = target.split(|&b| b == b'?').next().unwrap_or_default();
    if method != b"GET" || target != path.as_bytes() {
        sock.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await?;
        return Ok(());
    }
    let header = format!("HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary={BOUNDARY}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n");
    sock.write_all(header.as_bytes()).await?;
    // the newest reader wins: the responses before this one end
    epoch.send_modify(|e| *e += 1);
    let mut ended = epoch.subscribe();
    // the newest frame at once (if any), then each new one
    rx.mark_changed();
    loop {
        tokio::select! {
            biased;
            _ = ended.changed() => {
                sock.write_all(format!("--{BOUNDARY}--\r\n").as_bytes()).await?;
                return sock.shutdown().await;
            }
            r = rx.changed() => if r.is_err() {
                return Ok(()); // the stream was dropped
            }
        }
        let frame = rx.borrow_and_update().clone();
        let Some(jpeg) = frame else { continue };
        let part = format!("--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n", jpeg.len());
        tokio::time::timeout(WRITE_TIMEOUT, async {
            sock.write_all(part.as_bytes()).await?;
            sock.write_all(&jpeg).await?;
            sock.write_all(b"\r\n").await
        })
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "reader stalled"))??;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(url: &str) -> TcpStream {
        let rest = url.trim_start_matches("http://");
        let (addr, path) = rest.split_at(rest.find('/').unwrap());
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
        s
    }

    async fn read_until(s: &mut TcpStream, acc: &mut Vec<u8>, needle: &[u8]) {
        let mut buf = [0u8; 4096];
        tokio::time::timeout(Duration::from_secs(5), async {
            while !acc.windows(needle.len()).any(|w| w == needle) {
                let n = s.read(&mut buf).await.unwrap();
                assert!(n > 0, "closed before {:?}", String::from_utf8_lossy(needle));
                acc.extend_from_slice(&buf[..n]);
            }
        })
        .await
        .expect("in time");
    }

    #[tokio::test]
    async fn frames_arrive_as_jpeg_parts_of_one_multipart_response() {
        let mut st = PreviewStream::bind().unwrap();
        st.serve().unwrap();
        assert!(st.url().starts_with("http://127.0.0.1:") && st.url().len() > st.origin().len() + 40);
        st.send(b"\xff\xd8first\xff\xd9".to_vec());
        let mut s = get(st.url()).await;
        let mut acc = Vec::new();
        read_until(&mut s, &mut acc, b"first\xff\xd9").await;
        let text = String::from_utf8_lossy(&acc);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("multipart/x-mixed-replace; boundary=mentorcast-frame"), "{text}");
        assert!(
            text.contains(
                "--mentorcast-frame\r\nContent-Type: image/jpeg\r\nContent-Length: 9\r\n\r\n\u{fffd}\u{fffd}first"
            ),
            "{text}"
        );
        st.send(b"\xff\xd8second\xff\xd9".to_vec());
        read_until(&mut s, &mut acc, b"second\xff\xd9").await;
        assert_eq!(st.readers(), 1);
    }

    #[tokio::test]
    async fn a_wrong_path_or_method_gets_404_and_no_frame() {
        let mut st = PreviewStream::bind().unwrap();
        st.serve().unwrap();
        st.send(b"secret-frame".to_vec());
        for req in [format!("{}/preview/not-the-token", st.origin()), format!("{}/", st.origin())] {
            let mut s = get(&req).await;
            let mut acc = Vec::new();
            s.read_to_end(&mut acc).await.unwrap();
            let text = String::from_utf8_lossy(&acc);
            assert!(text.starts_with("HTTP/1.1 404"), "{text}");
            assert!(!text.contains("secret-frame"));
        }
        let addr = st.origin().trim_start_matches("http://").to_string();
        let mut s = TcpStream::connect(&addr).await.unwrap();
        let path = st.url().trim_start_matches(st.origin()).to_string();
        s.write_all(format!("POST {path} HTTP/1.1\r\n\r\n").as_bytes()).await.unwrap();
        let mut acc = Vec::new();
        s.read_to_end(&mut acc).await.unwrap();
        assert!(String::from_utf8_lossy(&acc).starts_with("HTTP/1.1 404"));
    }

    async fn wait_readers(st: &PreviewStream, n: usize) {
        tokio::time::timeout(Duration::from_secs(5), async {
            while st.readers() != n {
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{} readers, not {n}", st.readers()));
    }

    /// WebKit keeps reading a multipart `<img>` load after the image is gone: the
    /// server must end it, when a newer load comes and when the window asks.
    #[tokio::test]
    async fn a_newer_reader_ends_the_older_response_and_close_readers_ends_all() {
        let mut st = PreviewStream::bind().unwrap();
        st.serve().unwrap();
        st.send(b"\xff\xd8one\xff\xd9".to_vec());
        let mut first = get(&format!("{}?v=1", st.url())).await;
        read_until(&mut first, &mut Vec::new(), b"one\xff\xd9").await;
        wait_readers(&st, 1).await;

        let mut second = get(&format!("{}?v=2", st.url())).await;
        read_until(&mut second, &mut Vec::new(), b"one\xff\xd9").await;
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), first.read_to_end(&mut rest))
            .await
            .expect("the older response ends")
            .unwrap();
        assert!(rest.ends_with(b"--mentorcast-frame--\r\n"), "{:?}", String::from_utf8_lossy(&rest));
        wait_readers(&st, 1).await;
        st.send(b"\xff\xd8two\xff\xd9".to_vec());
        read_until(&mut second, &mut Vec::new(), b"two\xff\xd9").await;

        st.close_readers();
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), second.read_to_end(&mut rest)).await.expect("closed").unwrap();
        assert!(rest.ends_with(b"--mentorcast-frame--\r\n"));
        wait_readers(&st, 0).await;
        assert!(!crate::preview::PreviewOut::wanted(&st), "no reader: no frame is wanted");
    }

    #[tokio::test]
    async fn tokens_differ_between_streams() {
        let (a, b) = (PreviewStream::bind().unwrap(), PreviewStream::bind().unwrap());
        assert_ne!(a.url().rsplit('/').next(), b.url().rsplit('/').next());
    }
}
