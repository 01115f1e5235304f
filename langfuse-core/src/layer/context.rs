//! The Langfuse context of the running code: a linked trace and propagated attributes.
//!
//! `tracing` already tracks the current span; this adds what OpenTelemetry keeps in its
//! `Context` and `tracing` has no place for: a remote parent (a trace context or an
//! incoming `traceparent`) and the attributes of `propagate_attributes` scopes. It lives
//! in a thread-local stack; scopes around futures re-enter it on every poll, so it
//! follows `.await` and wrapped `tokio::spawn`ed tasks.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use tracing::span::Id;

use crate::propagation::attributes::PropagatedAttributes;

/// A parent that is not a span of this process: an existing trace to join.
#[doc(hidden)]
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteParent {
    /// The trace to join.
    pub trace_id: u128,
    /// The parent span id in that trace.
    pub span_id: u64,
    /// Write `langfuse.internal.as_root = true` on the observation (trace-context linking).
    pub as_root: bool,
    /// The caller claimed this trace (`langfuse_trace_id` baggage): the observation is
    /// not this process's app root in it.
    pub claimed: bool,
    /// The observation that was current when the scope was entered: only observations
    /// created directly under it (not deeper descendants) take the remote parent.
    pub anchor: Option<Id>,
}

/// One entry of the thread's Langfuse context.
#[doc(hidden)]
#[derive(Clone, Debug, Default)]
pub struct Frame {
    /// A remote parent for new top-level observations of the scope.
    pub remote_parent: Option<RemoteParent>,
    /// Attributes every observation started in the scope gets.
    pub propagated: Option<Arc<PropagatedAttributes>>,
}

thread_local! {
    static STACK: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
}

/// Reads the innermost frame (the layer calls this for every new observation).
#[doc(hidden)]
pub fn with_current_frame<R>(f: impl FnOnce(Option<&Frame>) -> R) -> R {
    let mut f = Some(f);
    let r = STACK.try_with(|s| match s.try_borrow() {
        Ok(stack) => (f.take().expect("called once"))(stack.last()),
        Err(_) => (f.take().expect("called once"))(None),
    });
    match r {
        Ok(r) => r,
        Err(_) => (f.take().expect("called once"))(None),
    }
}

/// Pops the frame it pushed when dropped (also during unwinding).
#[doc(hidden)]
pub struct FrameGuard {
    _not_send: std::marker::PhantomData<*const ()>,
}

/// Pushes a frame built from the current one; dropped, it restores the previous state.
#[doc(hidden)]
pub fn push_frame(frame: Frame) -> FrameGuard {
    let _ = STACK.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            s.push(frame);
        }
    });
    FrameGuard {
        _not_send: std::marker::PhantomData,
    }
}

impl Drop for FrameGuard {
    fn drop(&mut self) {
        let _ = STACK.try_with(|s| {
            if let Ok(mut s) = s.try_borrow_mut() {
                s.pop();
            }
        });
    }
}

/// A clone of the innermost frame (to carry into another scope or task).
#[doc(hidden)]
pub fn current_frame() -> Frame {
    with_current_frame(|f| f.cloned().unwrap_or_default())
}

/// Runs a closure with `frame` as the innermost context.
#[doc(hidden)]
pub fn in_frame<R>(frame: Frame, f: impl FnOnce() -> R) -> R {
    let _guard = push_frame(frame);
    f()
}

pin_project_lite::pin_project! {
    /// A future that runs every poll of its inner future inside a context frame.
    ///
    /// ```
    /// # use langfuse_tracing_core::__layer::context::WithFrame;
    /// let fut = WithFrame::new(async { 1 }, Default::default());
    /// # let _ = fut;
    /// ```
    #[doc(hidden)]
    #[derive(Debug)]
    pub struct WithFrame<F> {
        #[pin]
        inner: F,
        frame: Frame,
    }
}

impl<F> WithFrame<F> {
    /// Wraps `inner`.
    pub fn new(inner: F, frame: Frame) -> Self {
        WithFrame { inner, frame }
    }
}

impl<F: Future> Future for WithFrame<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _guard = push_frame(this.frame.clone());
        this.inner.poll(cx)
    }
}
