//! Connection hygiene on the gRPC listener: what keeps one client from holding the broker's
//! descriptors. Every accepted connection
//!
//! - counts against a cap in total and per remote address (beyond either it is closed at once
//!   and counted in `xiezhi_requests_rejected_total{reason="connection_limit"}`);
//! - must send its first bytes — the HTTP/2 preface, or a TLS ClientHello — within the
//!   preface deadline (a half-sent preface used to hold a connection forever);
//! - must keep sending: a connection that sends nothing for the idle limit is closed. The
//!   server pings every live HTTP/2 connection more often than that, and every live client
//!   answers, so only dead or silent peers reach it.
//!
//! The accept loop itself backs off when the process is out of descriptors (EMFILE, ENFILE)
//! instead of retrying at once, which spun a core while idle, and says so once per interval.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tracing::{info, warn};

/// Bytes of the HTTP/2 client preface (`PRI * HTTP/2.0…`).
const PREFACE: usize = 24;

/// The limits of [`incoming`].
#[derive(Clone, Copy, Debug)]
pub struct Hygiene {
    /// Time for a connection's first [`PREFACE`] bytes.
    pub preface_deadline: Duration,
    /// Time a connection may send nothing.
    pub idle_limit: Duration,
    /// Connections open at once.
    pub max_connections: usize,
    /// Connections open at once from one address.
    pub max_per_address: usize,
}

/// Open connections, in total and per address.
#[derive(Default)]
struct Counts {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// A connection that keeps its place in the counts until dropped and enforces the deadlines.
pub struct Guarded {
    inner: TcpStream,
    remote: SocketAddr,
    counts: Arc<Mutex<Counts>>,
    hygiene: Hygiene,
    received: usize,
    /// When bytes last arrived (once the preface is in).
    last_read: Option<Instant>,
    /// Wakes the reader to check the deadline: the preface deadline first, then the idle limit
    /// from `last_read`. Moved only when it fires, not on every read: a busy connection reads
    /// far more often than it could time out.
    timer: Pin<Box<Sleep>>,
}

impl Drop for Guarded {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.total = counts.total.saturating_sub(1);
        let ip = self.remote.ip();
        if let Some(n) = counts.by_address.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.by_address.remove(&ip);
            }
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let n = buf.filled().len() - before;
            this.received = this.received.saturating_add(n);
            // The preface deadline counts from the accept; the idle limit from the last bytes.
            if n > 0 && this.received >= PREFACE {
                this.last_read = Some(Instant::now());
            }
            return polled;
        }
        if polled.is_ready() {
            return polled;
        }
        loop {
            if this.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            match this.last_read {
                // Bytes came since the timer was set: wait out the rest of the idle limit.
                Some(last) if last + this.hygiene.idle_limit > this.timer.deadline() => {
                    let next = last + this.hygiene.idle_limit;
                    this.timer.as_mut().reset(next);
                }
                _ => {
                    let what = if this.received < PREFACE {
                        "sent no complete HTTP/2 preface or TLS hello"
                    } else {
                        "sent nothing"
                    };
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("connection from {} {what} in time: closed", this.remote),
                    )));
                }
            }
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl tonic::transport::server::Connected for Guarded {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

/// Accepted connections of `listener`, guarded (see the module docs), with Nagle's algorithm
/// off: served from a listener, sockets come as they are, and a streamed delivery then waited
/// for the subscriber's delayed ACK (40 ms on Linux).
pub fn incoming(
    listener: TcpListener,
    hygiene: Hygiene,
) -> impl Stream<Item = io::Result<Guarded>> + Send + 'static {
    let counts = Arc::new(Mutex::new(Counts::default()));
    let state = (listener, counts, None::<Instant>);
    futures_util::stream::unfold(state, move |(listener, counts, mut warned)| async move {
        loop {
            let (stream, remote) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) if out_of_descriptors(&err) => {
                    if warned.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                        warn!(error = %err, "out of file descriptors: accepting again in 100 ms (raise the descriptor limit or lower security.max_connections)");
                        warned = Some(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                // Errors of one connection (reset before accept, …) concern only it.
                Err(err) => {
                    info!(error = %err, "a connection failed before it was accepted");
                    continue;
                }
            };
            if !admit(&counts, remote.ip(), &hygiene) {
                crate::telemetry::metrics::metrics().rejected("connection_limit");
                drop(stream);
                continue;
            }
            let _ = stream.set_nodelay(true);
            let guarded = Guarded {
                inner: stream,
                remote,
                counts: counts.clone(),
                hygiene,
                received: 0,
                last_read: None,
                timer: Box::pin(tokio::time::sleep(hygiene.preface_deadline)),
            };
            return Some((Ok(guarded), (listener, counts, warned)));
        }
    })
}

/// A guarded listener for axum (the console's HTTP port).
pub struct GuardedListener {
    accepted: Pin<Box<dyn Stream<Item = io::Result<Guarded>> + Send>>,
    local: SocketAddr,
}

impl GuardedListener {
    /// Guards `listener`'s connections with `hygiene`.
    pub fn new(listener: TcpListener, hygiene: Hygiene) -> io::Result<Self> {
        let local = listener.local_addr()?;
        Ok(Self {
            accepted: Box::pin(incoming(listener, hygiene)),
            local,
        })
    }
}

impl axum::serve::Listener for GuardedListener {
    type Io = Guarded;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Guarded, SocketAddr) {
        use futures_util::StreamExt as _;
        loop {
            // The stream only ends with the listener, which lives as long as this.
            if let Some(Ok(guarded)) = self.accepted.next().await {
                let remote = guarded.remote;
                return (guarded, remote);
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// Takes a place for a connection from `ip`, if the caps allow one.
fn admit(counts: &Mutex<Counts>, ip: IpAddr, hygiene: &Hygiene) -> bool {
    let mut counts = counts.lock().unwrap_or_else(|p| p.into_inner());
    let from_ip = counts.by_address.get(&ip).copied().unwrap_or(0);
    if counts.total >= hygiene.max_connections || from_ip >= hygiene.max_per_address {
        return false;
    }
    counts.total += 1;
    *counts.by_address.entry(ip).or_insert(0) += 1;
    true
}

fn out_of_descriptors(err: &io::Error) -> bool {
    // EMFILE (24) and ENFILE (23) on Linux.
    matches!(err.raw_os_error(), Some(23 | 24))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hygiene(total: usize, per: usize) -> Hygiene {
        Hygiene {
            preface_deadline: Duration::from_secs(10),
            idle_limit: Duration::from_secs(60),
            max_connections: total,
            max_per_address: per,
        }
    }

    #[test]
    fn caps_hold_in_total_and_per_address() {
        let counts = Mutex::new(Counts::default());
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let h = hygiene(3, 2);
        assert!(admit(&counts, a, &h));
        assert!(admit(&counts, a, &h));
        assert!(!admit(&counts, a, &h), "third from one address");
        assert!(admit(&counts, b, &h));
        assert!(!admit(&counts, b, &h), "fourth in total");
    }

    #[test]
    fn out_of_descriptors_is_told_apart() {
        assert!(out_of_descriptors(&io::Error::from_raw_os_error(24)));
        assert!(out_of_descriptors(&io::Error::from_raw_os_error(23)));
        assert!(!out_of_descriptors(&io::Error::from_raw_os_error(104)));
    }

    #[tokio::test]
    async fn accepted_connections_send_without_waiting_for_acks() {
        use futures_util::StreamExt;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut accepted = Box::pin(incoming(listener, hygiene(10, 10)));
        let _client = TcpStream::connect(addr).await.unwrap();
        let server = accepted.next().await.unwrap().unwrap();
        assert!(server.inner.nodelay().unwrap(), "Nagle's algorithm is on");
    }

    #[tokio::test]
    async fn a_connection_that_keeps_sending_outlives_the_idle_limit_and_a_silent_one_does_not() {
        use futures_util::StreamExt;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let h = Hygiene {
            preface_deadline: Duration::from_millis(150),
            idle_limit: Duration::from_millis(300),
            ..hygiene(10, 10)
        };
        let mut accepted = Box::pin(incoming(listener, h));
        let mut client = TcpStream::connect(addr).await.unwrap();
        let mut server = accepted.next().await.unwrap().unwrap();
        let mut buf = [0u8; 64];
        let started = std::time::Instant::now();
        // Past both limits in total, but never quiet for the idle limit.
        for _ in 0..8 {
            client
                .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                .await
                .unwrap();
            assert!(server.read(&mut buf).await.unwrap() > 0);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(started.elapsed() > Duration::from_millis(700));
        // Then silence: closed after the idle limit, not before.
        let quiet = std::time::Instant::now();
        let err = server.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(
            quiet.elapsed() >= Duration::from_millis(150),
            "{:?}",
            quiet.elapsed()
        );
        assert!(
            quiet.elapsed() < Duration::from_secs(2),
            "{:?}",
            quiet.elapsed()
        );
    }

    #[tokio::test]
    async fn a_half_preface_is_closed_at_the_deadline_and_its_place_freed() {
        use futures_util::StreamExt;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let h = Hygiene {
            preface_deadline: Duration::from_millis(200),
            ..hygiene(10, 10)
        };
        let mut accepted = Box::pin(incoming(listener, h));
        let mut client = TcpStream::connect(addr).await.unwrap();
        client.write_all(b"PRI * HTTP/2.0").await.unwrap();
        let mut server = accepted.next().await.unwrap().unwrap();
        let mut buf = [0u8; 64];
        let n = server.read(&mut buf).await.unwrap();
        assert_eq!(n, 14);
        let started = std::time::Instant::now();
        let err = server.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(server.counts.lock().unwrap().total, 1);
        let counts = server.counts.clone();
        drop(server);
        assert_eq!(counts.lock().unwrap().total, 0, "its place is freed");
    }
}
