//! Outbound: the `traceparent` and `baggage` values for the current context, and
//! writing them into a request's headers.

use http::header::{HeaderMap, HeaderValue};

use super::baggage::{append_baggage, is_ows, BAGGAGE_HEADER, TRACE_CLAIM};
use super::traceparent::TRACEPARENT_HEADER;
use crate::__layer::context::with_current_frame;

/// The `traceparent` value for the current observation: `00-<trace id>-<observation
/// id>-01` (`-00` when the trace is sampled out). Without a current observation, the
/// remote parent of the current [`RemoteContext`](super::RemoteContext) scope, if any, is passed on. `None`
/// when there is neither (or no Langfuse layer is installed).
///
/// Use it for carriers other than HTTP headers (message queues, job payloads).
///
/// ```
/// assert!(langfuse_tracing_core::propagation::current_traceparent().is_none());
/// ```
pub fn current_traceparent() -> Option<String> {
    let (trace_id, span_id, sampled) = current_parent()?.0;
    Some(format!(
        "00-{trace_id:032x}-{span_id:016x}-{}",
        if sampled { "01" } else { "00" }
    ))
}

/// The parent an outbound request gets (trace id, span id, sampled), and the trace
/// claimed with the `langfuse_trace_id` baggage entry: the current observation's trace
/// (as every Python SDK observation claims it while it is current), or, passed on
/// without one of ours, the remote parent and the claim received with it.
fn current_parent() -> Option<((u128, u64, bool), Option<u128>)> {
    let mut found = None;
    crate::__layer::hooks::with_current_state(|s| found = Some((s.trace_id, s.span_id, s.sampled)));
    if let Some(parent) = found {
        return Some((parent, Some(parent.0)));
    }
    with_current_frame(|f| {
        f.and_then(|f| f.remote_parent.as_ref())
            .filter(|r| r.anchor.is_none())
            .map(|r| {
                let claim = r.claimed.then_some(r.trace_id);
                ((r.trace_id, r.span_id, true), claim)
            })
    })
}
/// The scope's baggage entries, after the trace claim when there is one.
fn outbound_entries() -> Vec<(String, String)> {
    let claim = current_parent().and_then(|(_, claim)| claim);
    with_current_frame(|f| {
        let scope = f.and_then(|f| f.propagated.as_ref());
        let mut entries = Vec::with_capacity(scope.map_or(0, |p| p.baggage.len()) + 1);
        if let Some(trace_id) = claim {
            entries.push((TRACE_CLAIM.to_owned(), format!("{trace_id:032x}")));
        }
        if let Some(p) = scope {
            entries.extend(p.baggage.iter().cloned());
        }
        entries
    })
}

/// The `baggage` value carrying the Langfuse entries of the current scope (those of
/// [`as_baggage`](crate::propagation::PropagateAttributes::as_baggage) scopes and those received in
/// an incoming `baggage` header); `None` when there are none. While an observation is
/// current it starts with `langfuse_trace_id=<trace id>`, as the Python SDK sends it.
///
/// Values are percent-encoded: everything but ASCII letters, digits and `-._~`.
///
/// **Security warning**: this is what leaves the process with every request you
/// inject it into. Only propagate non-sensitive values as baggage.
///
/// ```
/// use langfuse_tracing_core::propagation::{current_baggage, PropagateAttributes};
/// assert!(current_baggage().is_none());
/// PropagateAttributes::new().session_id("s/1").as_baggage(true).run(|| {
///     assert_eq!(current_baggage().as_deref(), Some("langfuse_session_id=s%2F1"));
/// });
/// ```
pub fn current_baggage() -> Option<String> {
    let entries = outbound_entries();
    let mut out = String::new();
    append_baggage(&mut out, 0, &entries);
    (!out.is_empty()).then_some(out)
}
/// Writes `traceparent` (the current observation, see [`current_traceparent`]) and
/// `baggage` (see [`current_baggage`]: the trace claim `langfuse_trace_id` while an
/// observation is current, and the current scope's entries) into an outbound
/// request's headers, so that the service receiving it continues this trace.
///
/// An existing `traceparent` is replaced. Existing `baggage` members are kept, except
/// `langfuse_*` ones, which are replaced by the current scope's. Nothing is written
/// when there is nothing to propagate.
///
/// **Security warning**: with [`as_baggage`](crate::propagation::PropagateAttributes::as_baggage)
/// the propagated values leave the process in the `baggage` header of every request
/// passed here, third-party ones included.
///
/// ```
/// use langfuse_tracing_core::propagation::{inject_trace_headers, PropagateAttributes};
///
/// let mut headers = http::HeaderMap::new();
/// PropagateAttributes::new().user_id("user_123").as_baggage(true).run(|| {
///     inject_trace_headers(&mut headers);
/// });
/// // No observation is current here (no layer installed), so only the baggage.
/// assert!(headers.get("traceparent").is_none());
/// assert_eq!(headers["baggage"], "langfuse_user_id=user_123");
/// ```
pub fn inject_trace_headers(headers: &mut HeaderMap) {
    if let Some(tp) = current_traceparent() {
        if let Ok(v) = HeaderValue::try_from(tp) {
            headers.insert(TRACEPARENT_HEADER, v);
        }
    }
    let entries = outbound_entries();
    if entries.is_empty() {
        return;
    }
    // Keep the members other propagators wrote, minus ours.
    let mut out = String::new();
    let mut kept = 0;
    for value in headers.get_all(BAGGAGE_HEADER) {
        let Ok(value) = value.to_str() else { continue };
        for member in value.split(',') {
            let member = member.trim_matches(is_ows);
            let name = member
                .split(['=', ';'])
                .next()
                .unwrap_or("")
                .trim_matches(is_ows);
            if member.is_empty() || name.starts_with("langfuse_") {
                continue;
            }
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(member);
            kept += 1;
        }
    }
    append_baggage(&mut out, kept, &entries);
    if let Ok(v) = HeaderValue::try_from(out) {
        headers.insert(BAGGAGE_HEADER, v);
    }
}
