//! Carrying the Langfuse context: [`PropagationContext`] (a snapshot of the current
//! `tracing` span and scope for another thread or task), [`current`], and the
//! [`Propagated`] future every scope around a future returns.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use tracing::instrument::Instrumented;
use tracing::Instrument as _;

use super::attributes::PropagatedAttributes;
use crate::__layer::context::{current_frame, in_frame, Frame, WithFrame};

pin_project_lite::pin_project! {
    /// A future running inside a Langfuse context (propagated attributes, remote parent):
    /// returned by [`PropagateAttributes::instrument`](super::PropagateAttributes::instrument),
    /// [`RemoteContext::instrument`](super::RemoteContext::instrument) and
    /// [`PropagationContext::instrument`].
    ///
    /// ```
    /// use langfuse_tracing_core::propagation::{PropagateAttributes, Propagated};
    /// let fut: Propagated<_> = PropagateAttributes::new().user_id("u").instrument(async { 1 });
    /// # drop(fut);
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Propagated<F> {
        #[pin]
        inner: WithFrame<F>,
    }
}

impl<F> Propagated<F> {
    pub(crate) fn new(future: F, frame: Frame) -> Self {
        Propagated {
            inner: WithFrame::new(future, frame),
        }
    }
}

impl<F> fmt::Debug for Propagated<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Propagated").finish_non_exhaustive()
    }
}

impl<F: Future> Future for Propagated<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}

/// A snapshot of the current context: the `tracing` span and the Langfuse scope
/// (propagated attributes, remote parent). Carry it into a spawned task or another
/// thread so that work there stays in the same trace with the same attributes.
///
/// ```
/// use langfuse_tracing_core::propagation::{PropagateAttributes, PropagationContext};
///
/// let handle = PropagateAttributes::new().user_id("user_123").run(|| {
///     let cx = PropagationContext::current();
///     std::thread::spawn(move || {
///         cx.run(|| PropagationContext::current().attributes().unwrap().user_id.clone())
///     })
/// });
/// assert_eq!(handle.join().unwrap().as_deref(), Some("user_123"));
/// ```
#[derive(Clone, Debug)]
pub struct PropagationContext {
    frame: Frame,
    span: tracing::Span,
}

impl PropagationContext {
    /// Captures the current `tracing` span and Langfuse scope.
    ///
    /// ```
    /// let cx = langfuse_tracing_core::propagation::PropagationContext::current();
    /// assert!(cx.attributes().is_none());
    /// ```
    pub fn current() -> Self {
        PropagationContext {
            frame: current_frame(),
            span: tracing::Span::current(),
        }
    }

    /// The propagated attributes in effect, if any scope set some.
    ///
    /// ```
    /// use langfuse_tracing_core::propagation::{PropagateAttributes, PropagationContext};
    /// PropagateAttributes::new().tag("a").run(|| {
    ///     assert_eq!(PropagationContext::current().attributes().unwrap().tags, ["a"]);
    /// });
    /// ```
    pub fn attributes(&self) -> Option<&PropagatedAttributes> {
        self.frame.propagated.as_deref()
    }

    /// Runs `f` inside the captured span and scope (on any thread).
    ///
    /// ```
    /// let cx = langfuse_tracing_core::propagation::PropagationContext::current();
    /// assert_eq!(std::thread::spawn(move || cx.run(|| 7)).join().unwrap(), 7);
    /// ```
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let _entered = self.span.enter();
        in_frame(self.frame.clone(), f)
    }

    /// Wraps a future so that each poll runs inside the captured span and scope: the
    /// way to carry the context into `tokio::spawn`.
    ///
    /// ```
    /// use langfuse_tracing_core::propagation;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let task = tokio::spawn(propagation::current().instrument(async { 1 }));
    /// assert_eq!(task.await.unwrap(), 1);
    /// # }
    /// ```
    pub fn instrument<F: Future>(self, future: F) -> Propagated<Instrumented<F>> {
        Propagated::new(future.instrument(self.span), self.frame)
    }
}

/// Captures the current context; shorthand for [`PropagationContext::current`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let handle = tokio::spawn(langfuse_tracing_core::propagation::current().instrument(async { "done" }));
/// assert_eq!(handle.await.unwrap(), "done");
/// # }
/// ```
pub fn current() -> PropagationContext {
    PropagationContext::current()
}
