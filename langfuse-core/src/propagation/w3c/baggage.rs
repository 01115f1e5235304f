//! The W3C Baggage header: the `langfuse_*` members a scope sends (and their W3C
//! limits), reading them back into validated attributes, the trace claim, and the
//! percent-encoding of values.

use crate::encoding::encode_metadata;
use crate::propagation::attributes::{
    check_environment, check_metadata, check_prompt, check_value, upsert, PropagatedAttributes,
};

/// The W3C Baggage header name: where an outgoing request carries the propagated
/// attributes (see `current_baggage`).
///
/// ```
/// use langfuse_tracing_core::propagation::{current_baggage, BAGGAGE_HEADER};
///
/// let mut request = http::Request::builder().uri("http://127.0.0.1:8080/next");
/// if let Some(baggage) = current_baggage() {
///     request = request.header(BAGGAGE_HEADER, baggage);
/// }
/// let request = request.body(()).unwrap();
/// # let _ = request;
/// ```
pub const BAGGAGE_HEADER: &str = "baggage";

/// W3C Baggage limits: a longer header is ignored on extraction, and injection stops
/// adding Langfuse entries before reaching them.
pub(super) const MAX_BAGGAGE_BYTES: usize = 8192;
pub(super) const MAX_BAGGAGE_MEMBERS: usize = 64;
/// Members read from one incoming header at most (as the Python propagator).
pub(super) const MAX_READ_MEMBERS: usize = 180;

/// The baggage entry by which a Langfuse SDK claims a trace for the observations it
/// has open: the receiving service does not mark its first observation in that trace
/// as an app root (`langfuse.internal.is_app_root`, reference §6.6).
pub(super) const TRACE_CLAIM: &str = "langfuse_trace_id";

impl PropagatedAttributes {
    /// The W3C baggage entries for the values `given` sets, taken from `self` (the
    /// merged attributes): what an `as_baggage` scope adds (reference §3).
    pub(in crate::propagation) fn baggage_entries_for(
        &self,
        given: &PropagatedAttributes,
    ) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let scalars = [
            ("langfuse_user_id", &given.user_id, &self.user_id),
            ("langfuse_session_id", &given.session_id, &self.session_id),
            ("langfuse_version", &given.version, &self.version),
            ("langfuse_trace_name", &given.trace_name, &self.trace_name),
            (
                "langfuse_environment",
                &given.environment,
                &self.environment,
            ),
        ];
        for (name, given, merged) in scalars {
            if let (Some(_), Some(v)) = (given, merged) {
                out.push((name.to_owned(), v.clone()));
            }
        }
        if !given.tags.is_empty() {
            out.push(("langfuse_tags".to_owned(), encode_metadata(&self.tags)));
        }
        if !given.metadata.is_empty() {
            for (k, v) in &self.metadata {
                out.push((format!("langfuse_metadata_{k}"), v.clone()));
            }
        }
        if let (Some(_), Some((name, version))) = (&given.prompt, &self.prompt) {
            out.push(("langfuse_prompt_name".to_owned(), name.clone()));
            out.push(("langfuse_prompt_version".to_owned(), version.to_string()));
        }
        out
    }
}

/// Appends `entries` to a baggage header that already has `existing` members, within
/// the W3C limits; warns once if some had to be left out.
pub(super) fn append_baggage(out: &mut String, mut existing: usize, entries: &[(String, String)]) {
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
        crate::__layer::warn::emit(
            "propagate_attributes: some baggage entries were not sent: the W3C limits are 64 entries and 8192 bytes",
        );
    }
}
/// Percent-encodes everything but the RFC 3986 unreserved characters. `%20` for a
/// space and `%2B` for `+`, so the Python SDK (which decodes `+` as a space) and the
/// OpenTelemetry propagators all read the value back unchanged.
pub(super) fn percent_encode(out: &mut String, value: &str) {
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

/// Decodes `%XX` and reads `+` as a space (see [`RemoteContext::from_w3c`](super::RemoteContext::from_w3c)); `None` if
/// the result is not UTF-8. A `%` not followed by two hex digits stays as it is.
pub(super) fn percent_decode(value: &str) -> Option<String> {
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

pub(super) fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}
/// The trace id of a `langfuse_trace_id` member (32 hex digits), if there is one.
pub(super) fn parse_trace_claim(header: &str) -> Option<u128> {
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
/// (reference §3), validating them like [`PropagateAttributes`](crate::propagation::PropagateAttributes).
/// The accepted members are kept as baggage, so they travel on to the next service.
pub(super) fn parse_baggage(header: &str) -> PropagatedAttributes {
    let mut attrs = PropagatedAttributes::default();
    if header.len() > MAX_BAGGAGE_BYTES {
        crate::__layer::warn::emit(
            "baggage header ignored: longer than the W3C limit of 8192 bytes",
        );
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
            // The key as a quoted, escaped string: it is another service's text.
            crate::__layer::warn::emit(&format!("baggage {name:?} dropped: not UTF-8"));
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
                None => crate::__layer::warn::emit(
                    "baggage `langfuse_prompt_version` dropped: not a decimal integer",
                ),
            }
        }
        _ => crate::__layer::warn::emit(
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
        "tags" => Some(encode_metadata(&attrs.tags)),
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
pub(super) fn parse_tags(value: &str) -> Vec<String> {
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
