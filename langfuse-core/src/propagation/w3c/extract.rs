//! Inbound: [`RemoteContext`], what another service sent (trace to continue and
//! propagated attributes), and its scope.

use std::future::Future;
use std::sync::Arc;

use http::header::HeaderMap;

use super::baggage::{parse_baggage, parse_trace_claim, BAGGAGE_HEADER};
use super::traceparent::{invalid, parse_traceparent, TraceContextError, TRACEPARENT_HEADER};

use crate::__layer::context::{in_frame, Frame, RemoteParent};
use crate::ids::{ObservationId, TraceId};
use crate::propagation::attributes::PropagatedAttributes;
use crate::propagation::carry::Propagated;

/// What another service sent along with a request: the trace and observation to
/// continue (`traceparent`) and the propagated attributes (`baggage`).
///
/// Its scope ([`run`](Self::run) / [`instrument`](Self::instrument)) makes the
/// *top-level* observations started inside it children of the remote observation, in
/// the remote trace (not marked `as_root`), and gives every observation the propagated
/// attributes. The scope replaces the Langfuse context around it (outer
/// `propagate_attributes` values do not apply inside), as an extracted OpenTelemetry
/// context does. Values set by `propagate_attributes` inside the scope apply on top.
///
/// Enter it before the request's own observation is created (in the handler, or in a
/// middleware that then creates the observation inside the scope): only observations
/// created directly under the observation current at entry take the remote parent.
///
/// ```
/// use langfuse_tracing_core::propagation::{self, RemoteContext};
/// let cx = RemoteContext::from_w3c(
///     Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
///     Some("langfuse_user_id=user_123,other=x"),
/// )
/// .unwrap();
/// assert_eq!(cx.trace_id().unwrap().to_string(), "0af7651916cd43dd8448eb211c80319c");
/// cx.run(|| {
///     let attrs = propagation::current().attributes().cloned().unwrap();
///     assert_eq!(attrs.user_id.as_deref(), Some("user_123"));
/// });
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RemoteContext {
    parent: Option<(u128, u64, bool)>,
    attributes: Option<Arc<PropagatedAttributes>>,
    /// The trace the caller's `langfuse_trace_id` baggage entry claims.
    claimed_trace: Option<u128>,
}

impl RemoteContext {
    /// Reads the two W3C header values (from any carrier).
    ///
    /// * No `traceparent`: `Ok` with no parent; observations start a new trace (the
    ///   baggage still applies). This is the normal case of an uninstrumented caller.
    /// * An invalid `traceparent` (wrong shape, uppercase hex, all-zero ids, version
    ///   `ff`): an error, never a silently guessed trace. Use
    ///   `.unwrap_or_default()` to fall back to a new trace.
    /// * The sampled flag is read but not obeyed: sampling depends on the trace id
    ///   alone, so both services make the same decision.
    /// * `baggage`: only `langfuse_*` members are read; each
    ///   value is validated as in `propagate_attributes` and an invalid one is dropped
    ///   with a warning. `langfuse_metadata_<k>` and any other `langfuse_<x>` become
    ///   trace metadata `<k>` / `<x>`, with the value as sent. A `+` is read as a space,
    ///   as both other Langfuse SDKs mean it (Python form-encodes, JS escapes `+`).
    /// * `langfuse_trace_id` in the baggage (the caller has observations open in the
    ///   trace it names): when it names the `traceparent`'s trace, the first
    ///   observation here is not marked as an app root, as the Python SDK decides.
    ///
    /// ```
    /// use langfuse_tracing_core::propagation::RemoteContext;
    /// assert!(RemoteContext::from_w3c(None, None).unwrap().trace_id().is_none());
    /// assert!(RemoteContext::from_w3c(
    ///     Some("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"), None
    /// ).is_err());
    /// ```
    pub fn from_w3c(
        traceparent: Option<&str>,
        baggage: Option<&str>,
    ) -> Result<RemoteContext, TraceContextError> {
        let parent = traceparent.map(parse_traceparent).transpose()?;
        let claimed_trace = baggage.and_then(parse_trace_claim);
        let attributes = baggage
            .map(parse_baggage)
            .filter(|a| !a.is_empty() || !a.baggage.is_empty())
            .map(Arc::new);
        Ok(RemoteContext {
            parent,
            attributes,
            claimed_trace,
        })
    }

    /// The trace to continue, if a `traceparent` was received.
    ///
    /// ```
    /// let cx = langfuse_tracing_core::propagation::RemoteContext::default();
    /// assert!(cx.trace_id().is_none());
    /// ```
    pub fn trace_id(&self) -> Option<TraceId> {
        self.parent.and_then(|p| TraceId::from_u128(p.0))
    }

    /// The remote observation that becomes the parent, if a `traceparent` was received.
    ///
    /// ```
    /// use langfuse_tracing_core::propagation::RemoteContext;
    /// let cx = RemoteContext::from_w3c(
    ///     Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"), None,
    /// ).unwrap();
    /// assert_eq!(cx.parent_observation_id().unwrap().to_string(), "b7ad6b7169203331");
    /// ```
    pub fn parent_observation_id(&self) -> Option<ObservationId> {
        self.parent.and_then(|p| ObservationId::from_u64(p.1))
    }

    /// The sampled flag of the `traceparent`, if one was received (informational).
    ///
    /// ```
    /// use langfuse_tracing_core::propagation::RemoteContext;
    /// let cx = RemoteContext::from_w3c(
    ///     Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"), None,
    /// ).unwrap();
    /// assert_eq!(cx.sampled(), Some(false));
    /// ```
    pub fn sampled(&self) -> Option<bool> {
        self.parent.map(|p| p.2)
    }

    /// The attributes received as baggage, if any.
    ///
    /// ```
    /// use langfuse_tracing_core::propagation::RemoteContext;
    /// let cx = RemoteContext::from_w3c(None, Some("langfuse_session_id=s-1")).unwrap();
    /// assert_eq!(cx.attributes().unwrap().session_id.as_deref(), Some("s-1"));
    /// ```
    pub fn attributes(&self) -> Option<&PropagatedAttributes> {
        self.attributes.as_deref()
    }

    fn frame(&self) -> Frame {
        Frame {
            remote_parent: self.parent.map(|(trace_id, span_id, _)| RemoteParent {
                trace_id,
                span_id,
                as_root: false,
                claimed: self.claimed_trace == Some(trace_id),
                anchor: crate::__layer::hooks::current_observation_span_id(),
            }),
            propagated: self.attributes.clone(),
        }
    }

    /// Runs `f` in the remote context (see the type's documentation).
    ///
    /// ```
    /// let cx = langfuse_tracing_core::propagation::RemoteContext::default();
    /// assert_eq!(cx.run(|| 3), 3);
    /// ```
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        in_frame(self.frame(), f)
    }

    /// Scopes a future in the remote context: a request handler's body.
    ///
    /// Observations must be *created* inside the future (see
    /// [`PropagateAttributes::instrument`](crate::propagation::PropagateAttributes::instrument)):
    /// `cx.instrument(async { work().instrument(span).await })`, or an `#[observe]`
    /// async function, `cx.instrument(handle(request))`.
    ///
    /// ```
    /// use langfuse_tracing_core::propagation::extract_trace_headers;
    /// async fn handler(headers: http::HeaderMap) -> &'static str {
    ///     let cx = extract_trace_headers(&headers).unwrap_or_default();
    ///     cx.instrument(async {
    ///         // observations here continue the caller's trace
    ///         "ok"
    ///     })
    ///     .await
    /// }
    /// # let _ = handler(http::HeaderMap::new());
    /// ```
    pub fn instrument<F: Future>(self, future: F) -> Propagated<F> {
        let frame = self.frame();
        Propagated::new(future, frame)
    }
}

/// Reads `traceparent` and `baggage` from an incoming request's headers; see
/// [`RemoteContext::from_w3c`] for the rules. Several `baggage` header fields are read
/// as one list; several `traceparent` fields are an error.
///
/// ```
/// use langfuse_tracing_core::propagation::extract_trace_headers;
/// let mut headers = http::HeaderMap::new();
/// headers.insert("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".parse().unwrap());
/// headers.insert("baggage", "langfuse_user_id=user_123".parse().unwrap());
/// let cx = extract_trace_headers(&headers).unwrap();
/// assert_eq!(cx.attributes().unwrap().user_id.as_deref(), Some("user_123"));
/// assert!(extract_trace_headers(&http::HeaderMap::new()).unwrap().trace_id().is_none());
/// ```
pub fn extract_trace_headers(headers: &HeaderMap) -> Result<RemoteContext, TraceContextError> {
    let mut tps = headers.get_all(TRACEPARENT_HEADER).iter();
    let traceparent = match (tps.next(), tps.next()) {
        (None, _) => None,
        (Some(v), None) => Some(v.to_str().map_err(|_| invalid("not ASCII"))?),
        (Some(_), Some(_)) => return Err(invalid("several traceparent headers")),
    };
    let mut baggage = String::new();
    for v in headers.get_all(BAGGAGE_HEADER) {
        if let Ok(v) = v.to_str() {
            if !baggage.is_empty() {
                baggage.push(',');
            }
            baggage.push_str(v);
        }
    }
    RemoteContext::from_w3c(
        traceparent,
        (!baggage.is_empty()).then_some(baggage.as_str()),
    )
}
