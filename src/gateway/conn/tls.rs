//! TLS on the gRPC listener, done here rather than by tonic: the handshake runs in a task of
//! its own per connection (a slow one holds up no other), must finish within the preface
//! deadline of the accept, and the HTTP/2 preface that follows is checked decrypted, by the
//! same deadline. tonic reads the client certificates from the `TlsStream` as with its own TLS.

use std::io;
use std::sync::Arc;

use futures_util::{Stream, StreamExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_rustls::server::TlsStream;
use tokio_rustls::{TlsAcceptor, rustls};
use tracing::debug;

use super::{Guarded, Hygiene, accepted};

/// Handshakes finished and not yet taken by the server.
const READY: usize = 64;

/// Accepted connections of `listener` after their TLS handshake with `config`, guarded.
pub fn incoming_tls(
    listener: TcpListener,
    hygiene: Hygiene,
    config: Arc<rustls::ServerConfig>,
) -> impl Stream<Item = io::Result<Guarded<TlsStream<TcpStream>>>> + Send + 'static {
    let (ready, taken) = tokio::sync::mpsc::channel(READY);
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        let mut accepted = std::pin::pin!(accepted(listener, hygiene));
        loop {
            // Ends, closing the listener, when the server drops the stream.
            let next = tokio::select! {
                next = accepted.next() => next,
                () = ready.closed() => return,
            };
            let Some((tcp, place)) = next else { return };
            let (ready, acceptor) = (ready.clone(), acceptor.clone());
            tokio::spawn(async move {
                let due = Instant::now() + hygiene.preface_deadline;
                match tokio::time::timeout_at(due, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = ready.send(Ok(Guarded::new(tls, place, hygiene, due))).await;
                    }
                    Ok(Err(err)) => {
                        debug!(remote = %place.remote, error = %err, "TLS handshake failed");
                    }
                    Err(_) => {
                        debug!(remote = %place.remote, "TLS handshake not finished in time: closed");
                    }
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(taken)
}
