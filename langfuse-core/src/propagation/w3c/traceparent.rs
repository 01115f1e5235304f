//! The W3C Trace Context header: parsing `traceparent`, and its error.

use std::fmt;

use super::baggage::is_ows;

/// The W3C Trace Context header name: the header that continues the current trace in
/// the service a request goes to (see `current_traceparent`).
///
/// ```
/// use langfuse_tracing_core::propagation::{current_traceparent, TRACEPARENT_HEADER};
///
/// let mut request = http::Request::builder().uri("http://127.0.0.1:8080/next");
/// if let Some(traceparent) = current_traceparent() {
///     request = request.header(TRACEPARENT_HEADER, traceparent);
/// }
/// let request = request.body(()).unwrap();
/// # let _ = request;
/// ```
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// A `traceparent` header that is present but not valid W3C Trace Context.
///
/// ```
/// use langfuse_tracing_core::propagation::RemoteContext;
/// let err = RemoteContext::from_w3c(Some("00-xyz"), None).unwrap_err();
/// assert!(err.to_string().contains("traceparent"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceContextError {
    reason: &'static str,
}

impl fmt::Display for TraceContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid traceparent header: {}", self.reason)
    }
}

impl std::error::Error for TraceContextError {}

pub(super) fn invalid(reason: &'static str) -> TraceContextError {
    TraceContextError { reason }
}

/// Parses a `traceparent` value: `(trace id, parent id, sampled)`.
pub(super) fn parse_traceparent(value: &str) -> Result<(u128, u64, bool), TraceContextError> {
    let v = value.trim_matches(is_ows);
    let b = v.as_bytes();
    let lower_hex = |s: &[u8]| s.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    if b.len() < 55 {
        return Err(invalid("expected `00-<32 hex>-<16 hex>-<2 hex>`"));
    }
    if !lower_hex(&b[0..2]) || &b[0..2] == b"ff" {
        return Err(invalid("bad version"));
    }
    if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return Err(invalid("expected `00-<32 hex>-<16 hex>-<2 hex>`"));
    }
    // Version 00 has exactly four fields; a later version may append `-<more>`.
    if (&b[0..2] == b"00" && b.len() != 55) || (b.len() > 55 && b[55] != b'-') {
        return Err(invalid("unexpected data after the flags"));
    }
    let (trace, span, flags) = (&b[3..35], &b[36..52], &b[53..55]);
    if !lower_hex(trace) || !lower_hex(span) || !lower_hex(flags) {
        return Err(invalid("ids and flags must be lowercase hex"));
    }
    // The slices are ASCII hex, so these parse.
    let hex =
        |s: &[u8]| u128::from_str_radix(std::str::from_utf8(s).unwrap_or("0"), 16).unwrap_or(0);
    let trace_id = hex(trace);
    let span_id = hex(span) as u64;
    if trace_id == 0 {
        return Err(invalid("all-zero trace id"));
    }
    if span_id == 0 {
        return Err(invalid("all-zero parent id"));
    }
    Ok((trace_id, span_id, hex(flags) & 1 == 1))
}
