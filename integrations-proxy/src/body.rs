//! The body type the proxy answers with, and a wrapper that keeps a gauge up for as
//! long as a streamed body is alive (so a client that hangs up mid-stream releases it).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use http_body_util::combinators::BoxBody;
use hyper::body::{Body, Frame, SizeHint};

use crate::metrics::GaugeGuard;

/// A boxed error of a streamed body.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Every response body the proxy sends.
pub(crate) type ProxyBody = BoxBody<Bytes, BoxError>;

/// Boxes any body whose error converts into [`BoxError`].
pub(crate) fn boxed<B>(body: B) -> ProxyBody
where
    B: Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed()
}

/// A body that holds a gauge guard until it ends or is dropped.
#[derive(Debug)]
pub(crate) struct Guarded<B> {
    inner: B,
    guard: Option<GaugeGuard>,
}

impl<B> Guarded<B> {
    pub(crate) fn new(inner: B, guard: GaugeGuard) -> Self {
        Self {
            inner,
            guard: Some(guard),
        }
    }
}

impl<B> Body for Guarded<B>
where
    B: Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            self.guard = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
