//! A TCP fault proxy: QA scenarios (and the app's end to end) put it in front
//! of an ingest and make the network misbehave on cue, with no root needed.
//!
//! Faults, one at a time ([`Fault`]):
//! - `down`: the port refuses connections and every connection is cut;
//! - `reset`: every connection is cut (RST), the port keeps listening (new
//!   connections are cut as they come, until the fault ends);
//! - `throttle`: the client's bytes are read at `kbps` through a small receive
//!   buffer, so the sender feels the congestion instead of the kernel hiding it;
//! - `latency`: every chunk is delivered `ms` later, both ways;
//! - `blackhole`: connections stay open but nothing is delivered either way
//!   (a link that went silent); when it ends, they carry on.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{watch, Mutex};
use tokio::time::Instant;

/// The receive buffer of the proxy's accepted sockets: small, so a throttle is
/// felt by the sender within a fraction of a second.
const RECV_BUFFER: u32 = 32 * 1024;

/// What the network does now.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    None,
    Down,
    Reset,
    Throttle { kbps: u32 },
    Latency { ms: u32 },
    Blackhole,
}

/// A running proxy; dropping it stops it and cuts every connection.
pub struct FaultProxy {
    addr: SocketAddr,
    fault: watch::Sender<Fault>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on `listen` (port 0: any free port) and forwards to `upstream`.
    pub async fn start(listen: SocketAddr, upstream: SocketAddr) -> std::io::Result<FaultProxy> {
        let listener = bind(listen)?;
        let addr = listener.local_addr()?;
        let (fault, rx) = watch::channel(Fault::None);
        let task = tokio::spawn(serve(Some(listener), addr, upstream, rx));
        Ok(FaultProxy { addr, fault, task })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sets the fault from now on (`Fault::None` ends it).
    pub fn set(&self, fault: Fault) {
        tracing::info!(?fault, "fault proxy");
        let _ = self.fault.send(fault);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    // Inherited by accepted sockets: the window the sender sees stays small.
    socket.set_recv_buffer_size(RECV_BUFFER)?;
    socket.bind(addr)?;
    socket.listen(64)
}

/// Accepts while the fault allows; `down` closes the listener and binds it again after.
async fn serve(
    mut listener: Option<TcpListener>,
    addr: SocketAddr,
    upstream: SocketAddr,
    mut fault: watch::Receiver<Fault>,
) {
    let conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
    loop {
        let now = *fault.borrow_and_update();
        match (now, listener.is_some()) {
            (Fault::Down, true) => {
                listener = None;
                cut_all(&conns).await;
            }
            (Fault::Reset, _) => cut_all(&conns).await,
            (f, false) if f != Fault::Down => match bind(addr) {
                Ok(l) => listener = Some(l),
                Err(e) => {
                    tracing::warn!("fault proxy: cannot listen on {addr} again: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ => {}
        }
        let accept = async {
            match &listener {
                Some(l) => l.accept().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = fault.changed() => if r.is_err() { break },
            r = accept => match r {
                Ok((client, _)) => {
                    if *fault.borrow() == Fault::Reset {
                        reset(client);
                        continue;
                    }
                    let mut list = conns.lock().await;
                    list.retain(|t| !t.is_finished());
                    list.push(tokio::spawn(connection(client, upstream, fault.clone())));
                }
                Err(e) => tracing::debug!("fault proxy accept: {e}"),
            },
        }
    }
    cut_all(&conns).await;
}

async fn cut_all(conns: &Mutex<Vec<tokio::task::JoinHandle<()>>>) {
    for t in conns.lock().await.drain(..) {
        t.abort();
    }
}

/// Closes with an RST (linger 0), as a reset link does.
fn reset(s: TcpStream) {
    rst_on_close(&s);
    drop(s);
}

/// Linger 0: closing sends an RST at once (no wait, so no blocking on drop).
fn rst_on_close(s: &TcpStream) {
    let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
}

async fn connection(client: TcpStream, upstream: SocketAddr, fault: watch::Receiver<Fault>) {
    let server = match TcpStream::connect(upstream).await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!("fault proxy: upstream {upstream}: {e}");
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    // When the proxy cuts a connection, the client sees a reset (as a broken link gives).
    rst_on_close(&client);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = pump(cr, sw, fault.clone(), true);
    let down = pump(sr, cw, fault, false);
    // Either side ending ends the connection (its halves drop with this task, or when it is aborted).
    tokio::select! {
        _ = up => {},
        _ = down => {},
    }
}

/// Copies one direction under the current fault. `upstream`: client → ingest
/// (the direction a throttle limits).
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut fault: watch::Receiver<Fault>,
    upstream: bool,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    // Bytes read but held back by a latency fault: (when they may go, the bytes).
    let mut delayed: std::collections::VecDeque<(Instant, Vec<u8>)> = Default::default();
    // Throttle: when the bytes read so far may have been read at the rate.
    let mut budget_at = Instant::now();
    loop {
        let f = *fault.borrow_and_update();
        if f == Fault::Blackhole {
            // Nothing moves until the fault changes.
            if fault.changed().await.is_err() {
                return Ok(());
            }
            budget_at = Instant::now();
            continue;
        }
        if let Some((due, _)) = delayed.front() {
            let due = *due;
            if due <= Instant::now() {
                if let Some((_, bytes)) = delayed.pop_front() {
                    to.write_all(&bytes).await?;
                }
                continue;
            }
        }
        let limit = match f {
            Fault::Throttle { kbps } if upstream => {
                // Read in slices of about 10 ms of the rate, paced.
                let per_ms = (kbps.max(1) as usize * 1000 / 8) / 1000;
                (per_ms * 10).clamp(256, buf.len())
            }
            _ => buf.len(),
        };
        let next_due = delayed.front().map(|(d, _)| *d);
        let throttled = matches!(f, Fault::Throttle { .. }) && upstream && budget_at > Instant::now();
        tokio::select! {
            r = fault.changed() => {
                if r.is_err() { return Ok(()); }
                budget_at = Instant::now();
            }
            _ = sleep_until_opt(next_due) => {}
            _ = tokio::time::sleep_until(budget_at), if throttled => {}
            n = from.read(&mut buf[..limit]), if !throttled => {
                let n = n?;
                if n == 0 {
                    while let Some((due, bytes)) = delayed.pop_front() {
                        tokio::time::sleep_until(due).await;
                        to.write_all(&bytes).await?;
                    }
                    let _ = to.shutdown().await;
                    return Ok(());
                }
                if let Fault::Throttle { kbps } = f {
                    if upstream {
                        let secs = n as f64 * 8.0 / (kbps.max(1) as f64 * 1000.0);
                        budget_at = budget_at.max(Instant::now() - Duration::from_millis(20)) + Duration::from_secs_f64(secs);
                    }
                }
                match f {
                    Fault::Latency { ms } => delayed.push_back((Instant::now() + Duration::from_millis(ms as u64), buf[..n].to_vec())),
                    _ if !delayed.is_empty() => delayed.push_back((Instant::now(), buf[..n].to_vec())),
                    _ => to.write_all(&buf[..n]).await?,
                }
            }
        }
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// `mentorcast fault-proxy`: prints `listening HOST:PORT`, then applies the
/// faults named on stdin (one per line) until stdin ends.
pub async fn serve_stdin(upstream: &str, listen: SocketAddr) -> anyhow::Result<i32> {
    let up = tokio::net::lookup_host(upstream)
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| crate::exit::exit(crate::exit::BAD_ARGS, format!("cannot resolve {upstream}")))?;
    let proxy = FaultProxy::start(listen, up).await?;
    println!("listening {}", proxy.addr());
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = lines.recv().await {
        match parse_command(&line) {
            Ok(Some(f)) => {
                proxy.set(f);
                println!("fault {}", serde_json::to_string(&f).unwrap_or_default());
            }
            Ok(None) => {}
            Err(e) => eprintln!("{e}"),
        }
    }
    Ok(0)
}

/// One control line: `down`, `reset`, `blackhole`, `throttle KBPS`, `latency MS` or `clear`.
fn parse_command(line: &str) -> Result<Option<Fault>, String> {
    let mut w = line.split_whitespace();
    let n = |w: Option<&str>| w.and_then(|x| x.parse::<u32>().ok()).filter(|v| *v > 0);
    Ok(Some(match w.next() {
        None => return Ok(None),
        Some("clear") => Fault::None,
        Some("down") => Fault::Down,
        Some("reset") => Fault::Reset,
        Some("blackhole") => Fault::Blackhole,
        Some("throttle") => {
            Fault::Throttle { kbps: n(w.next()).ok_or("throttle needs a rate in kbit/s, e.g. throttle 650")? }
        }
        Some("latency") => Fault::Latency { ms: n(w.next()).ok_or("latency needs milliseconds, e.g. latency 150")? },
        Some(other) => {
            return Err(format!(
                "unknown fault '{other}': use down, reset, blackhole, throttle KBPS, latency MS or clear"
            ))
        }
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_lines_parse() {
        assert_eq!(parse_command("throttle 650"), Ok(Some(Fault::Throttle { kbps: 650 })));
        assert_eq!(parse_command("  latency 150 "), Ok(Some(Fault::Latency { ms: 150 })));
        assert_eq!(parse_command("clear"), Ok(Some(Fault::None)));
        assert_eq!(parse_command(""), Ok(None));
        assert!(parse_command("throttle 0").is_err());
        assert!(parse_command("flood").unwrap_err().contains("unknown fault 'flood'"));
    }

    use super::*;

    /// A fault proxy in front of an echo server, and a client connected through it.
    async fn proxied_echo() -> (FaultProxy, TcpStream) {
        let p = FaultProxy::start("127.0.0.1:0".parse().unwrap(), echo().await).await.unwrap();
        let c = TcpStream::connect(p.addr()).await.unwrap();
        (p, c)
    }

    /// An echo server on a free port.
    async fn echo() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut b = vec![0u8; 65536];
                    while let Ok(n) = s.read(&mut b).await {
                        if n == 0 || s.write_all(&b[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(c: &mut TcpStream, n: usize) -> std::io::Result<()> {
        let data = vec![7u8; n];
        c.write_all(&data).await?;
        let mut got = vec![0u8; n];
        c.read_exact(&mut got).await?;
        assert_eq!(got, data);
        Ok(())
    }

    #[tokio::test]
    async fn forwards_then_refuses_when_down_and_listens_again() {
        let (p, mut c) = proxied_echo().await;
        round_trip(&mut c, 1000).await.unwrap();
        p.set(Fault::Down);
        let mut b = [0u8; 1];
        let cut = tokio::time::timeout(Duration::from_secs(2), c.read(&mut b)).await.expect("cut in time");
        assert!(matches!(cut, Ok(0) | Err(_)), "the connection is cut: {cut:?}");
        let refused = async {
            loop {
                if TcpStream::connect(p.addr()).await.is_err() {
                    return;
                }
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(2), refused).await.expect("refused while down");
        p.set(Fault::None);
        let back = async {
            loop {
                if let Ok(mut c) = TcpStream::connect(p.addr()).await {
                    if round_trip(&mut c, 100).await.is_ok() {
                        return;
                    }
                }
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(2), back).await.expect("listening again");
    }

    #[tokio::test]
    async fn throttles_the_upstream_direction() {
        let (p, mut c) = proxied_echo().await;
        p.set(Fault::Throttle { kbps: 800 });
        let t0 = std::time::Instant::now();
        round_trip(&mut c, 50_000).await.unwrap();
        let secs = t0.elapsed().as_secs_f64();
        // 50 kB at 100 kB/s: about half a second.
        assert!((0.4..1.5).contains(&secs), "{secs} s for 50 kB at 800 kbit/s");
    }

    #[tokio::test]
    async fn blackhole_holds_everything_then_lets_it_through() {
        let (p, mut c) = proxied_echo().await;
        round_trip(&mut c, 10).await.unwrap();
        p.set(Fault::Blackhole);
        c.write_all(b"held").await.unwrap();
        let mut b = [0u8; 4];
        assert!(tokio::time::timeout(Duration::from_millis(300), c.read(&mut b)).await.is_err(), "nothing comes back");
        p.set(Fault::None);
        tokio::time::timeout(Duration::from_secs(2), c.read_exact(&mut b)).await.unwrap().unwrap();
        assert_eq!(&b, b"held");
    }

    #[tokio::test]
    async fn latency_delays_each_way() {
        let (p, mut c) = proxied_echo().await;
        p.set(Fault::Latency { ms: 150 });
        let t0 = std::time::Instant::now();
        round_trip(&mut c, 10).await.unwrap();
        let ms = t0.elapsed().as_millis();
        assert!((290..1000).contains(&ms), "{ms} ms round trip with 150 ms each way");
    }

    #[tokio::test]
    async fn reset_cuts_existing_and_new_connections_until_it_ends() {
        let (p, mut c) = proxied_echo().await;
        round_trip(&mut c, 10).await.unwrap();
        p.set(Fault::Reset);
        let mut b = [0u8; 1];
        let r = tokio::time::timeout(Duration::from_secs(2), c.read(&mut b)).await.expect("cut in time");
        assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
        p.set(Fault::None);
        let back = async {
            loop {
                if let Ok(mut c) = TcpStream::connect(p.addr()).await {
                    if round_trip(&mut c, 100).await.is_ok() {
                        return;
                    }
                }
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(2), back).await.expect("connections work again");
    }
}
