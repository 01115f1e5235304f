//! Joining an existing trace (`TraceContext`): a trace id from another system, and
//! optionally the parent observation there.

use std::future::Future;

use crate::__layer::context::{current_frame, in_frame, Frame, RemoteParent, WithFrame};
use crate::__layer::hooks::current_observation_span_id;
use crate::ids::{random_u64, InvalidId, ObservationId, TraceId};

/// An existing trace to join: its id and optionally the parent observation id.
///
/// An invalid id is an error, never silently replaced. Without a parent id a random one
/// is used (as the other SDKs do), and the observation is marked `as_root`, so Langfuse
/// shows it as the trace's root.
///
/// ```
/// use langfuse_tracing_core::observation::TraceContext;
/// let ctx = TraceContext::new("6cec55478a541a9eb2b3bfd6c8ba5670").unwrap().with_parent("6cec55478a541a9e").unwrap();
/// assert!(TraceContext::new("not-hex").is_err());
/// # let _ = ctx;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: TraceId,
    parent_span_id: Option<ObservationId>,
}

impl TraceContext {
    /// From a 32-character lowercase hex trace id.
    ///
    /// ```
    /// assert!(langfuse_tracing_core::observation::TraceContext::new("6CEC55478A541A9EB2B3BFD6C8BA5670").is_err());
    /// ```
    pub fn new(trace_id: &str) -> Result<Self, InvalidId> {
        Ok(TraceContext {
            trace_id: trace_id.parse()?,
            parent_span_id: None,
        })
    }

    /// From ids already parsed (for example `create_trace_id(Some("req_12345"))`).
    ///
    /// ```
    /// use langfuse_tracing_core::{create_trace_id, observation::TraceContext};
    /// let ctx = TraceContext::from_ids(create_trace_id(Some("req_12345")), None);
    /// # let _ = ctx;
    /// ```
    pub fn from_ids(trace_id: TraceId, parent_span_id: Option<ObservationId>) -> Self {
        TraceContext {
            trace_id,
            parent_span_id,
        }
    }

    /// Sets the parent observation id (16 lowercase hex characters).
    ///
    /// ```
    /// let ctx = langfuse_tracing_core::observation::TraceContext::new("6cec55478a541a9eb2b3bfd6c8ba5670").unwrap();
    /// assert!(ctx.with_parent("xyz").is_err());
    /// ```
    pub fn with_parent(mut self, parent_span_id: &str) -> Result<Self, InvalidId> {
        self.parent_span_id = Some(parent_span_id.parse()?);
        Ok(self)
    }

    /// The trace id.
    ///
    /// ```
    /// let ctx = langfuse_tracing_core::observation::TraceContext::new("6cec55478a541a9eb2b3bfd6c8ba5670").unwrap();
    /// assert_eq!(ctx.trace_id().to_string(), "6cec55478a541a9eb2b3bfd6c8ba5670");
    /// ```
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    fn remote_parent(&self, anchor: Option<tracing::span::Id>) -> RemoteParent {
        RemoteParent {
            trace_id: self.trace_id.to_u128(),
            span_id: self
                .parent_span_id
                .map_or_else(random_u64, ObservationId::to_u64),
            as_root: true,
            // Marked as an app root, as the Python SDK marks trace_context-linked spans.
            claimed: false,
            anchor,
        }
    }

    /// The context frame in which observations join this trace, keeping the current
    /// propagated attributes. `anchor`: the observation current when the scope is
    /// entered, under which alone the remote parent applies (none for the one
    /// observation a builder creates, which has no local parent).
    pub(super) fn frame(&self, anchor: Option<tracing::span::Id>) -> Frame {
        Frame {
            remote_parent: Some(self.remote_parent(anchor)),
            propagated: current_frame().propagated,
        }
    }

    /// Runs `f` so that the observations it starts at its top level (for example an
    /// `#[observe]` function) join this trace.
    ///
    /// ```
    /// use langfuse_tracing_core::observation::{span, TraceContext};
    /// let ctx = TraceContext::new("6cec55478a541a9eb2b3bfd6c8ba5670").unwrap();
    /// ctx.run(|| span("joins-the-trace").run(|_| ()));
    /// ```
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        in_frame(self.frame(current_observation_span_id()), f)
    }

    /// The async form of [`TraceContext::run`]: observations started at the future's
    /// top level join this trace.
    ///
    /// ```
    /// let ctx = langfuse_tracing_core::observation::TraceContext::new("6cec55478a541a9eb2b3bfd6c8ba5670").unwrap();
    /// let fut = ctx.instrument(async { 1 });
    /// # drop(fut);
    /// ```
    pub fn instrument<F: Future>(&self, fut: F) -> WithFrame<F> {
        WithFrame::new(fut, self.frame(current_observation_span_id()))
    }
}
