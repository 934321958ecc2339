//! Catching a tool's panic, so that a bug in one tool is an error result, never a
//! runtime that unwinds (without an async runtime's `spawn` or a futures crate).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The future of a tool panicked.
pub(super) struct Panicked;

/// Polls a boxed future inside `catch_unwind`: a panic in a tool becomes an error instead
/// of unwinding through the runtime. After a panic the future is never polled again (it
/// is dropped with this wrapper), so no broken state is observed: asserting unwind safety
/// is sound.
pub(super) struct CatchPanic<'a, T> {
    pub(super) inner: Pin<Box<dyn Future<Output = T> + Send + 'a>>,
}

impl<T> Future for CatchPanic<'_, T> {
    type Output = Result<T, Panicked>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.get_mut().inner;
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll(cx))) {
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(Panicked)),
        }
    }
}
