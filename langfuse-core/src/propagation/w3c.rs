//! Cross-service propagation: W3C `traceparent` and `baggage` headers.
//!
//! The W3C propagators of OpenTelemetry Rust 0.33 live in `opentelemetry_sdk`, which this
//! crate must not depend on, so the two headers are read and written here by hand, to
//! the W3C Trace Context and Baggage specifications (the tests check the result against
//! the SDK's propagators).

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use http::header::{HeaderMap, HeaderValue};

use super::{
    check_environment, check_metadata, check_prompt, check_value, in_frame, upsert, Propagated,
    PropagatedAttributes,
};
use crate::__layer::context::{with_current_frame, Frame, RemoteParent};
use crate::ids::{ObservationId, TraceId};

/// The W3C Trace Context header name.
///
/// ```
/// assert_eq!(langfuse_tracing_core::propagation::TRACEPARENT_HEADER, "traceparent");
/// ```
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// The W3C Baggage header name.
///
/// ```
/// assert_eq!(langfuse_tracing_core::propagation::BAGGAGE_HEADER, "baggage");
/// ```
pub const BAGGAGE_HEADER: &str = "baggage";

/// W3C Baggage limits: a longer header is ignored on extraction, and injection stops
/// adding Langfuse entries before reaching them.
const MAX_BAGGAGE_BYTES: usize = 8192;
const MAX_BAGGAGE_MEMBERS: usize = 64;
/// Members read from one incoming header at most (as the Python propagator).
const MAX_READ_MEMBERS: usize = 180;

// ---------------------------------------------------------------------------
// Outbound
// ---------------------------------------------------------------------------

/// The `traceparent` value for the current observation: `00-<trace id>-<observation
/// id>-01` (`-00` when the trace is sampled out). Without a current observation, the
/// remote parent of the current [`RemoteContext`] scope, if any, is passed on. `None`
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

/// The baggage entry by which a Langfuse SDK claims a trace for the observations it
/// has open: the receiving service does not mark its first observation in that trace
/// as an app root (`langfuse.internal.is_app_root`, reference §6.6).
const TRACE_CLAIM: &str = "langfuse_trace_id";

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
/// [`as_baggage`](super::PropagateAttributes::as_baggage) scopes and those received in
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

/// Appends `entries` to a baggage header that already has `existing` members, within
/// the W3C limits; warns once if some had to be left out.
fn append_baggage(out: &mut String, mut existing: usize, entries: &[(String, String)]) {
    let mut skipped = false;
    for (name, value) in entries {
        let mut member = String::with_capacity(name.len() + value.len() + 1);
        member.push_str(name);
        member.push('=');
        percent_encode(&mut member, value);
        let sep = usize::from(!out.is_empty());
        if existing >= MAX_BAGGAGE_MEMBERS || out.len() + sep + member.len() > MAX_BAGGAGE_BYTES {
            skipped = true;
            continue;
        }
        if sep == 1 {
            out.push(',');
        }
        out.push_str(&member);
        existing += 1;
    }
    if skipped {
        crate::warn::emit(
            "propagate_attributes: some baggage entries were not sent: the W3C limits are 64 entries and 8192 bytes",
        );
    }
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
/// **Security warning**: with [`as_baggage`](super::PropagateAttributes::as_baggage)
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

/// Percent-encodes everything but the RFC 3986 unreserved characters. `%20` for a
/// space and `%2B` for `+`, so the Python SDK (which decodes `+` as a space) and the
/// OpenTelemetry propagators all read the value back unchanged.
fn percent_encode(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        }
    }
}

/// Decodes `%XX` and reads `+` as a space (see [`RemoteContext::from_w3c`]); `None` if
/// the result is not UTF-8. A `%` not followed by two hex digits stays as it is.
fn percent_decode(value: &str) -> Option<String> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

// ---------------------------------------------------------------------------
// Inbound
// ---------------------------------------------------------------------------

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

fn invalid(reason: &'static str) -> TraceContextError {
    TraceContextError { reason }
}

/// Parses a `traceparent` value: `(trace id, parent id, sampled)`.
fn parse_traceparent(value: &str) -> Result<(u128, u64, bool), TraceContextError> {
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

/// The trace id of a `langfuse_trace_id` member (32 hex digits), if there is one.
fn parse_trace_claim(header: &str) -> Option<u128> {
    if header.len() > MAX_BAGGAGE_BYTES {
        return None;
    }
    header.split(',').take(MAX_READ_MEMBERS).find_map(|member| {
        let (name, value) = member.split(';').next()?.split_once('=')?;
        if name.trim_matches(is_ows) != TRACE_CLAIM {
            return None;
        }
        let value = value.trim_matches(is_ows);
        let hex = value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit());
        hex.then(|| u128::from_str_radix(value, 16).ok())
            .flatten()
            .filter(|id| *id != 0)
    })
}

/// Reads the `langfuse_*` members of a `baggage` header into propagated attributes
/// (reference §3), validating them like [`PropagateAttributes`](super::PropagateAttributes).
/// The accepted members are kept as baggage, so they travel on to the next service.
fn parse_baggage(header: &str) -> PropagatedAttributes {
    let mut attrs = PropagatedAttributes::default();
    if header.len() > MAX_BAGGAGE_BYTES {
        crate::warn::emit("baggage header ignored: longer than the W3C limit of 8192 bytes");
        return attrs;
    }
    let mut prompt_name: Option<String> = None;
    let mut prompt_version: Option<String> = None;
    for member in header.split(',').take(MAX_READ_MEMBERS) {
        let member = member.split(';').next().unwrap_or("");
        let Some((name, value)) = member.split_once('=') else {
            continue;
        };
        let name = name.trim_matches(is_ows);
        let Some(short) = name.strip_prefix("langfuse_") else {
            continue;
        };
        if short == "trace_id" {
            continue;
        }
        let Some(value) = percent_decode(value.trim_matches(is_ows)) else {
            crate::warn::emit(&format!("baggage `{name}` dropped: not UTF-8"));
            continue;
        };
        let key = format!("baggage {name}");
        let accepted = match short {
            "user_id" => check_value(&key, value)
                .map(|v| attrs.user_id = Some(v))
                .is_some(),
            "session_id" => check_value(&key, value)
                .map(|v| attrs.session_id = Some(v))
                .is_some(),
            "version" => check_value(&key, value)
                .map(|v| attrs.version = Some(v))
                .is_some(),
            "trace_name" => check_value(&key, value)
                .map(|v| attrs.trace_name = Some(v))
                .is_some(),
            "environment" => check_environment(&key, value)
                .map(|v| attrs.environment = Some(v))
                .is_some(),
            "tags" => {
                attrs.tags = parse_tags(&value)
                    .into_iter()
                    .filter_map(|t| check_value(&key, t))
                    .collect();
                true
            }
            "prompt_name" => {
                prompt_name = Some(value);
                false
            }
            "prompt_version" => {
                prompt_version = Some(value);
                false
            }
            _ => {
                // `langfuse_metadata_<k>` and any other `langfuse_<x>`: trace metadata,
                // the value as received (the sender already metadata-encoded it).
                let k = short.strip_prefix("metadata_").unwrap_or(short);
                match check_metadata(k, value) {
                    Some((k, v)) => {
                        upsert(&mut attrs.metadata, &k, &v);
                        true
                    }
                    None => false,
                }
            }
        };
        if accepted {
            forward(&mut attrs, name, short);
        }
    }
    match (prompt_name, prompt_version) {
        (None, None) => {}
        (Some(name), Some(version)) => {
            let parsed = version
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| version.parse::<i64>().ok())
                .flatten();
            match parsed {
                Some(v) => {
                    if let Some(p) = check_prompt("baggage langfuse_prompt_name", name, v) {
                        attrs.prompt = Some(p);
                        forward(&mut attrs, "langfuse_prompt_name", "prompt_name");
                        forward(&mut attrs, "langfuse_prompt_version", "prompt_version");
                    }
                }
                None => crate::warn::emit(
                    "baggage `langfuse_prompt_version` dropped: not a decimal integer",
                ),
            }
        }
        _ => crate::warn::emit(
            "baggage prompt dropped: `langfuse_prompt_name` and `langfuse_prompt_version` come together",
        ),
    }
    attrs
}

/// Re-creates the baggage entry for an accepted value, so it travels on.
fn forward(attrs: &mut PropagatedAttributes, name: &str, short: &str) {
    let value = match short {
        "user_id" => attrs.user_id.clone(),
        "session_id" => attrs.session_id.clone(),
        "version" => attrs.version.clone(),
        "trace_name" => attrs.trace_name.clone(),
        "environment" => attrs.environment.clone(),
        "tags" => Some(crate::encoding::encode_metadata(&attrs.tags)),
        "prompt_name" => attrs.prompt.as_ref().map(|p| p.0.clone()),
        "prompt_version" => attrs.prompt.as_ref().map(|p| p.1.to_string()),
        _ => {
            let k = short.strip_prefix("metadata_").unwrap_or(short);
            attrs
                .metadata
                .iter()
                .find(|(mk, _)| mk == k)
                .map(|(_, v)| v.clone())
        }
    };
    if let Some(value) = value {
        upsert(&mut attrs.baggage, name, &value);
    }
}

/// `langfuse_tags`: a JSON array (this crate, JS), a Python list repr (the Python
/// SDK: `['tag-a', 'tag-b']`), or a comma-separated list.
fn parse_tags(value: &str) -> Vec<String> {
    let v = value.trim();
    if v.starts_with('[') {
        if let Ok(tags) = serde_json::from_str::<Vec<String>>(v) {
            return tags;
        }
        if let Some(inner) = v.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            return inner
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    let unq = s
                        .strip_prefix('\'')
                        .and_then(|s| s.strip_suffix('\''))
                        .or_else(|| s.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
                    unq.unwrap_or(s).to_owned()
                })
                .collect();
        }
    }
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

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
    /// [`PropagateAttributes::instrument`](super::PropagateAttributes::instrument)):
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

#[cfg(test)]
mod tests {
    use super::super::tests::warnings;
    use super::super::{current, PropagateAttributes};
    use super::*;

    const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn traceparent_valid_forms() {
        assert_eq!(
            parse_traceparent(TP).unwrap(),
            (0x0af7651916cd43dd8448eb211c80319c, 0xb7ad6b7169203331, true)
        );
        let unsampled = TP.replace("-01", "-00");
        assert!(!parse_traceparent(&unsampled).unwrap().2);
        // Surrounding whitespace; unknown flag bits.
        assert!(parse_traceparent(&format!(" {TP}\t")).is_ok());
        assert!(parse_traceparent(&TP.replace("-01", "-03")).unwrap().2);
        // A future version may append fields.
        let v1 = TP.replacen("00", "01", 1);
        assert!(parse_traceparent(&v1).is_ok());
        assert!(parse_traceparent(&format!("{v1}-extra")).is_ok());
    }

    #[test]
    fn traceparent_invalid_forms() {
        let bad = [
            "",
            "00",
            &TP[..54],
            &format!("{TP}-extra"), // version 00 has 4 fields
            &format!("{}x", TP.replacen("00", "01", 1)), // later version: `-` must follow
            &TP.replacen("00", "ff", 1),
            &TP.to_uppercase(),
            &TP.replace("0af7", "0AF7"),
            &TP.replace("b7ad", "B7AD"),
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",
            "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0x",
            "0g-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ];
        for b in bad {
            assert!(parse_traceparent(b).is_err(), "{b:?} accepted");
        }
    }

    #[test]
    fn percent_encoding_round_trips_and_reads_python_plus() {
        let mut s = String::new();
        percent_encode(&mut s, "a b+c=d,e;f%g\"h'é✓");
        assert_eq!(s, "a%20b%2Bc%3Dd%2Ce%3Bf%25g%22h%27%C3%A9%E2%9C%93");
        assert_eq!(percent_decode(&s).unwrap(), "a b+c=d,e;f%g\"h'é✓");
        assert_eq!(percent_decode("John+Doe").unwrap(), "John Doe");
        assert_eq!(percent_decode("100%").unwrap(), "100%");
        assert_eq!(percent_decode("%zz%4").unwrap(), "%zz%4");
        assert!(percent_decode("%FF").is_none());
    }

    #[test]
    fn baggage_maps_langfuse_members_and_ignores_others() {
        let header = "other=1, langfuse_trace_id=abc,langfuse_user_id=baggage-user;prop=1,\
            langfuse_session_id=baggage-session,langfuse_version=2.0,langfuse_trace_name=t,\
            langfuse_environment=prod,langfuse_tags=%5B%27tag-a%27%2C+%27tag-b%27%5D,\
            langfuse_metadata_experiment=%22variant_a%22,langfuse_custom=x,\
            langfuse_prompt_name=qa,langfuse_prompt_version=3";
        let a = parse_baggage(header);
        assert_eq!(a.user_id.as_deref(), Some("baggage-user"));
        assert_eq!(a.session_id.as_deref(), Some("baggage-session"));
        assert_eq!(a.version.as_deref(), Some("2.0"));
        assert_eq!(a.trace_name.as_deref(), Some("t"));
        assert_eq!(a.environment.as_deref(), Some("prod"));
        assert_eq!(a.tags, ["tag-a", "tag-b"]);
        assert_eq!(
            a.metadata,
            [
                ("experiment".to_string(), "\"variant_a\"".to_string()),
                ("custom".into(), "x".into())
            ]
        );
        assert_eq!(a.prompt, Some(("qa".to_string(), 3)));
        // Forwarded: the accepted langfuse entries only.
        let names: Vec<&str> = a.baggage.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "langfuse_user_id",
                "langfuse_session_id",
                "langfuse_version",
                "langfuse_trace_name",
                "langfuse_environment",
                "langfuse_tags",
                "langfuse_metadata_experiment",
                "langfuse_custom",
                "langfuse_prompt_name",
                "langfuse_prompt_version"
            ]
        );
    }

    #[test]
    fn baggage_values_are_validated() {
        let long = "x".repeat(201);
        let header = format!(
            "langfuse_user_id={long},langfuse_session_id=s,langfuse_environment=Prod,\
             langfuse_metadata_bad-key=1,langfuse_prompt_name=p,langfuse_prompt_version=v1"
        );
        let (a, w) = warnings(|| parse_baggage(&header));
        assert!(a.user_id.is_none());
        assert_eq!(a.session_id.as_deref(), Some("s"));
        assert!(a.environment.is_none());
        assert!(a.metadata.is_empty());
        assert!(a.prompt.is_none());
        assert_eq!(w.len(), 4, "{w:?}");
        assert!(w.iter().all(|m| !m.contains("xxxx")));
    }

    #[test]
    fn tags_in_three_forms() {
        assert_eq!(parse_tags(r#"["a","b,c"]"#), ["a", "b,c"]);
        assert_eq!(parse_tags("['tag-a', 'tag-b']"), ["tag-a", "tag-b"]);
        assert_eq!(parse_tags("a, b"), ["a", "b"]);
    }

    #[test]
    fn oversized_baggage_is_ignored() {
        let header = format!("langfuse_user_id=u,big={}", "x".repeat(9000));
        let (a, w) = warnings(|| parse_baggage(&header));
        assert!(a.user_id.is_none());
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn extract_rules() {
        let mut h = HeaderMap::new();
        assert_eq!(extract_trace_headers(&h).unwrap(), RemoteContext::default());
        h.insert("baggage", HeaderValue::from_static("langfuse_user_id=u"));
        h.append("baggage", HeaderValue::from_static("langfuse_session_id=s"));
        let cx = extract_trace_headers(&h).unwrap();
        assert!(cx.trace_id().is_none());
        assert_eq!(cx.attributes().unwrap().user_id.as_deref(), Some("u"));
        assert_eq!(cx.attributes().unwrap().session_id.as_deref(), Some("s"));
        h.insert("traceparent", HeaderValue::from_static(TP));
        let cx = extract_trace_headers(&h).unwrap();
        assert_eq!(
            cx.trace_id().unwrap().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(
            cx.parent_observation_id().unwrap().to_string(),
            "b7ad6b7169203331"
        );
        h.append("traceparent", HeaderValue::from_static(TP));
        assert!(extract_trace_headers(&h).is_err());
        h.insert("traceparent", HeaderValue::from_static("garbage"));
        assert!(extract_trace_headers(&h).is_err());
    }

    #[test]
    fn remote_context_scope_sets_the_frame_and_replaces_outer_attributes() {
        let cx = RemoteContext::from_w3c(Some(TP), Some("langfuse_user_id=remote")).unwrap();
        PropagateAttributes::new()
            .user_id("local")
            .session_id("local-s")
            .run(|| {
                cx.run(|| {
                    let f = crate::__layer::context::current_frame();
                    let r = f.remote_parent.unwrap();
                    assert_eq!(
                        (r.trace_id, r.span_id, r.as_root, r.anchor),
                        (
                            0x0af7651916cd43dd8448eb211c80319c,
                            0xb7ad6b7169203331,
                            false,
                            None
                        )
                    );
                    let a = f.propagated.unwrap();
                    assert_eq!(a.user_id.as_deref(), Some("remote"));
                    assert!(a.session_id.is_none());
                    // No observation: the remote parent is passed on.
                    assert_eq!(current_traceparent().as_deref(), Some(TP));
                    // Received baggage travels on; a nested scope adds to it.
                    PropagateAttributes::new()
                        .session_id("s2")
                        .as_baggage(true)
                        .run(|| {
                            assert_eq!(
                                current_baggage().as_deref(),
                                Some("langfuse_user_id=remote,langfuse_session_id=s2")
                            );
                        });
                });
            });
        assert!(current().attributes().is_none());
    }

    #[test]
    fn inject_keeps_foreign_baggage_and_replaces_langfuse_members() {
        let mut h = HeaderMap::new();
        h.insert(
            "baggage",
            HeaderValue::from_static("k1=v1;p=1, langfuse_user_id=old,k2=v2"),
        );
        PropagateAttributes::new()
            .user_id("new")
            .as_baggage(true)
            .run(|| inject_trace_headers(&mut h));
        assert_eq!(h["baggage"], "k1=v1;p=1,k2=v2,langfuse_user_id=new");
        // Nothing to propagate: headers untouched.
        let mut h2 = HeaderMap::new();
        inject_trace_headers(&mut h2);
        assert!(h2.is_empty());
    }

    #[test]
    fn inject_respects_the_w3c_limits() {
        let mut p = PropagateAttributes::new().as_baggage(true);
        for i in 0..80 {
            p = p.metadata(format!("k{i}"), &"v".repeat(150));
        }
        let (header, w) = warnings(|| p.run(current_baggage));
        let header = header.unwrap();
        assert!(header.len() <= MAX_BAGGAGE_BYTES);
        assert!(header.split(',').count() <= MAX_BAGGAGE_MEMBERS);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn baggage_round_trip_through_headers() {
        let mut h = HeaderMap::new();
        PropagateAttributes::new()
            .user_id("user 1+2")
            .session_id("sé,ss;ion=1")
            .tags(["a,b", "c"])
            .metadata("m", &serde_json::json!({"k": "v w"}))
            .environment("prod")
            .version("v1")
            .trace_name("tn")
            .prompt("pn", 7)
            .as_baggage(true)
            .run(|| inject_trace_headers(&mut h));
        let a = extract_trace_headers(&h)
            .unwrap()
            .attributes()
            .cloned()
            .unwrap();
        assert_eq!(a.user_id.as_deref(), Some("user 1+2"));
        assert_eq!(a.session_id.as_deref(), Some("sé,ss;ion=1"));
        assert_eq!(a.tags, ["a,b", "c"]);
        assert_eq!(
            a.metadata,
            [("m".to_string(), r#"{"k":"v w"}"#.to_string())]
        );
        assert_eq!(a.environment.as_deref(), Some("prod"));
        assert_eq!(a.version.as_deref(), Some("v1"));
        assert_eq!(a.trace_name.as_deref(), Some("tn"));
        assert_eq!(a.prompt, Some(("pn".to_string(), 7)));
    }
}
