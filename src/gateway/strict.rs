//! Strict decoding for the reflection service, which runs on tonic's stock codec: a streamed
//! request that does not decode ended the stream OK with no answer, so a client could not tell
//! its own mistake from an empty reply. Here each request message is decoded on its way in;
//! if one does not decode, the call's closing status becomes INVALID_ARGUMENT naming the error.
//! (The health service's unary calls are set right in `clarify_transport_errors`.)

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::{Buf, Bytes, BytesMut};
use http_body::Frame;
use prost::Message as _;
use tonic_reflection::pb::v1::ServerReflectionRequest;

/// Whether `path` is a reflection method (v1 or v1alpha: the same messages on the wire).
pub(super) fn is_reflection(path: &str) -> bool {
    path.starts_with("/grpc.reflection.v1")
}

/// The first decode error seen on a call's request stream.
type Failure = Arc<Mutex<Option<String>>>;

/// Wraps a reflection call's request and response bodies: see the module docs.
pub(super) fn guard(request: Body) -> (Body, impl FnOnce(Body) -> Body) {
    let failure: Failure = Arc::default();
    let incoming = Body::new(Requests {
        inner: request,
        buffer: BytesMut::new(),
        failure: failure.clone(),
    });
    let outgoing = move |response: Body| {
        Body::new(Answers {
            inner: response,
            failure,
        })
    };
    (incoming, outgoing)
}

/// The request body, decoding each gRPC message frame as it passes.
struct Requests {
    inner: Body,
    buffer: BytesMut,
    failure: Failure,
}

impl Requests {
    /// Decodes the complete frames in the buffer; keeps a partial one for the next data.
    fn check_frames(&mut self) {
        while self.buffer.len() >= 5 {
            let compressed = self.buffer[0] != 0;
            let len = u32::from_be_bytes([
                self.buffer[1],
                self.buffer[2],
                self.buffer[3],
                self.buffer[4],
            ]) as usize;
            if self.buffer.len() < 5 + len {
                return;
            }
            self.buffer.advance(5);
            let message = self.buffer.split_to(len);
            // Compressed frames are tonic's to refuse; the message is checked when plain.
            if !compressed && let Err(err) = ServerReflectionRequest::decode(message.freeze()) {
                let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
                failure.get_or_insert_with(|| err.to_string());
            }
        }
    }
}

impl http_body::Body for Requests {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            this.buffer.extend_from_slice(data);
            this.check_frames();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The response body, whose closing status says INVALID_ARGUMENT if a request did not decode.
struct Answers {
    inner: Body,
    failure: Failure,
}

impl http_body::Body for Answers {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) if frame.is_trailers() => {
                let failure = this
                    .failure
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                let Some(error) = failure else {
                    return Poll::Ready(Some(Ok(frame)));
                };
                let status =
                    tonic::Status::invalid_argument(format!("malformed protobuf: {error}"));
                let mut trailers = frame.into_trailers().unwrap_or_default();
                let http = status.into_http::<()>();
                for name in ["grpc-status", "grpc-message"] {
                    if let Some(value) = http.headers().get(name) {
                        trailers.insert(name, value.clone());
                    }
                }
                Poll::Ready(Some(Ok(Frame::trailers(trailers))))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
}
