//! Connection hygiene on the gRPC listener: what keeps one client from holding the broker's
//! descriptors. Every accepted connection
//!
//! - counts against a cap in total and per remote address (beyond either it is closed at once
//!   and counted in `xiezhi_requests_rejected_total{reason="connection_limit"}`);
//! - must send its first bytes — the HTTP/2 preface (on TLS: finish the handshake and then send
//!   the preface) — within the preface deadline of its accept (a half-sent preface used to hold
//!   a connection forever, and on TLS a finished handshake followed by silence held it until
//!   the idle limit);
//! - must keep sending: a connection that sends nothing for the idle limit is closed. The
//!   server pings every live HTTP/2 connection more often than that, and every live client
//!   answers, so only dead or silent peers reach it.
//!
//! On TLS the server does the handshake itself ([`tls`]), so that the preface it checks is the
//! decrypted one. The accept loop itself backs off when the process is out of descriptors (EMFILE, ENFILE)
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

mod tls;
pub use tls::incoming_tls;

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

/// A connection's place in the counts, given back when it is dropped.
struct Place {
    remote: SocketAddr,
    counts: Arc<Mutex<Counts>>,
}

/// A connection (TCP, or TLS over it) that keeps its place in the counts until dropped and
/// enforces the deadlines on the bytes it reads.
pub struct Guarded<S = TcpStream> {
    inner: S,
    place: Place,
    hygiene: Hygiene,
    received: usize,
    /// When bytes last arrived (once the preface is in).
    last_read: Option<Instant>,
    /// Wakes the reader to check the deadline: the preface deadline first, then the idle limit
    /// from `last_read`. Moved only when it fires, not on every read: a busy connection reads
    /// far more often than it could time out.
    timer: Pin<Box<Sleep>>,
}

impl Drop for Place {
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

impl<S> Guarded<S> {
    /// Guards `inner`, whose preface is due by `due`.
    fn new(inner: S, place: Place, hygiene: Hygiene, due: Instant) -> Self {
        Guarded {
            inner,
            place,
            hygiene,
            received: 0,
            last_read: None,
            timer: Box::pin(tokio::time::sleep_until(due)),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
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
                        "sent no complete HTTP/2 preface"
                    } else {
                        "sent nothing"
                    };
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "connection from {} {what} in time: closed",
                            this.place.remote
                        ),
                    )));
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
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

impl<S: tonic::transport::server::Connected> tonic::transport::server::Connected for Guarded<S> {
    type ConnectInfo = S::ConnectInfo;

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
    use futures_util::StreamExt as _;
    accepted(listener, hygiene).map(move |(stream, place)| {
        let due = Instant::now() + hygiene.preface_deadline;
        Ok(Guarded::new(stream, place, hygiene, due))
    })
}

/// Accepted TCP connections within the caps, each with its place in the counts.
fn accepted(
    listener: TcpListener,
    hygiene: Hygiene,
) -> impl Stream<Item = (TcpStream, Place)> + Send + 'static {
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
            let place = Place {
                remote,
                counts: counts.clone(),
            };
            return Some(((stream, place), (listener, counts, warned)));
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
                let remote = guarded.place.remote;
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
mod tests;
