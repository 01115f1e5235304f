//! OTLP request encoding straight from the observations: each span written once into
//! buffers reused across batches, the resource and scope encoded once, and a batch
//! split into requests of at most `max_request_bytes`.

use std::time::{SystemTime, UNIX_EPOCH};

use langfuse_tracing_core::__layer::state::ObservationState;
use langfuse_tracing_core::attributes as attr;
use opentelemetry::{Array, Value};
use opentelemetry_sdk::Resource;

use super::wire::{self as pb, field::*};
use crate::span_attributes::{self as attributes, AttrKey, AttrRef, AttrSink, Defaults, StrList};

const SPAN_KIND_INTERNAL: u64 = 1;
const STATUS_CODE_ERROR: u64 = 2;
/// W3C `sampled` plus `SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK` (the parent is local):
/// what the SDK exporter writes for our spans.
const SPAN_FLAGS_VALUE: u32 = 0x1 | 0x100;

/// Bytes of one AnyValue holding a string.
fn any_string_len(s: &str) -> usize {
    pb::len_field(s.len())
}

fn any_value_len(value: AttrRef<'_>) -> usize {
    match value {
        AttrRef::Str(s) | AttrRef::StaticStr(s) => any_string_len(s),
        AttrRef::Bool(_) => 2,
        AttrRef::I64(i) => 1 + pb::varint_len(i as u64),
        AttrRef::F64(_) => 9,
        AttrRef::StrList(list) => pb::len_field(array_len(list)),
    }
}

/// Bytes of the ArrayValue of a string list.
fn array_len(list: StrList<'_>) -> usize {
    list.iter().map(|s| pb::len_field(any_string_len(s))).sum()
}

fn put_any_value(buf: &mut Vec<u8>, value: AttrRef<'_>) {
    match value {
        AttrRef::Str(s) | AttrRef::StaticStr(s) => pb::bytes(buf, ANY_STRING, s.as_bytes()),
        AttrRef::Bool(b) => {
            pb::tag(buf, ANY_BOOL, pb::VARINT);
            buf.push(u8::from(b));
        }
        AttrRef::I64(i) => {
            pb::tag(buf, ANY_INT, pb::VARINT);
            pb::varint(buf, i as u64);
        }
        AttrRef::F64(f) => {
            pb::tag(buf, ANY_DOUBLE, pb::FIXED64);
            buf.extend_from_slice(&f.to_le_bytes());
        }
        AttrRef::StrList(list) => {
            pb::len_prefix(buf, ANY_ARRAY, array_len(list));
            for s in list.iter() {
                pb::len_prefix(buf, ARRAY_VALUES, any_string_len(s));
                pb::bytes(buf, ANY_STRING, s.as_bytes());
            }
        }
    }
}

/// Writes each attribute as a `KeyValue` field (`field`) of the message in `buf`.
struct KeyValueWriter<'b> {
    buf: &'b mut Vec<u8>,
    field: u32,
}

impl AttrSink for KeyValueWriter<'_> {
    fn attr(&mut self, key: AttrKey<'_>, value: AttrRef<'_>) {
        let key_len = key.len();
        let value_len = any_value_len(value);
        let key_field = if key_len == 0 {
            0
        } else {
            pb::len_field(key_len)
        };
        let buf = &mut *self.buf;
        pb::len_prefix(buf, self.field, key_field + pb::len_field(value_len));
        if key_len > 0 {
            pb::len_prefix(buf, KEY_VALUE_KEY, key_len);
            match key {
                AttrKey::Static(k) | AttrKey::Borrowed(k) => buf.extend_from_slice(k.as_bytes()),
                AttrKey::Prefixed(prefix, k) => {
                    buf.extend_from_slice(prefix.as_bytes());
                    buf.push(b'.');
                    buf.extend_from_slice(k.as_bytes());
                }
            }
        }
        pb::len_prefix(buf, KEY_VALUE_VALUE, value_len);
        put_any_value(buf, value);
    }
}

/// A `KeyValue` of any OpenTelemetry value (resource attributes; encoded once, so
/// simplicity wins over speed here).
pub(crate) fn put_otel_key_value(buf: &mut Vec<u8>, field: u32, key: &str, value: &Value) {
    fn any(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        match value {
            Value::Bool(b) => put_any_value(&mut out, AttrRef::Bool(*b)),
            Value::I64(i) => put_any_value(&mut out, AttrRef::I64(*i)),
            Value::F64(f) => put_any_value(&mut out, AttrRef::F64(*f)),
            Value::String(s) => put_any_value(&mut out, AttrRef::Str(s.as_str())),
            Value::Array(array) => {
                let items: Vec<Value> = match array {
                    Array::Bool(v) => v.iter().map(|b| Value::Bool(*b)).collect(),
                    Array::I64(v) => v.iter().map(|i| Value::I64(*i)).collect(),
                    Array::F64(v) => v.iter().map(|f| Value::F64(*f)).collect(),
                    Array::String(v) => v.iter().cloned().map(Value::String).collect(),
                    other => vec![Value::from(other.to_string())],
                };
                let mut values = Vec::new();
                for item in &items {
                    pb::bytes(&mut values, ARRAY_VALUES, &any(item));
                }
                pb::bytes(&mut out, ANY_ARRAY, &values);
            }
            other => put_any_value(&mut out, AttrRef::Str(&other.as_str())),
        }
        out
    }
    let mut kv = Vec::new();
    pb::string(&mut kv, KEY_VALUE_KEY, key);
    pb::bytes(&mut kv, KEY_VALUE_VALUE, &any(value));
    pb::bytes(buf, field, &kv);
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Builds request bodies; every buffer is kept and reused from batch to batch.
pub(crate) struct RequestEncoder {
    /// `ResourceSpans.resource`, tag and length included.
    pub(crate) resource: Vec<u8>,
    /// `ResourceSpans.schema_url`, tag included, or nothing.
    pub(crate) resource_schema_url: Vec<u8>,
    /// `ScopeSpans.scope`, tag and length included.
    pub(crate) scope: Vec<u8>,
    pub(crate) defaults: Defaults,
    /// The spans of the batch, each a complete `ScopeSpans.spans` field.
    pub(crate) spans: Vec<u8>,
    /// Where each span ends in `spans`.
    pub(crate) span_ends: Vec<usize>,
    /// One span while its length is not known yet.
    pub(crate) span: Vec<u8>,
    /// The part of one request before its spans.
    pub(crate) head: Vec<u8>,
}

impl RequestEncoder {
    pub(crate) fn new(resource: &Resource, public_key: Option<&str>, defaults: Defaults) -> Self {
        let mut attributes = Vec::new();
        for (key, value) in resource.iter() {
            put_otel_key_value(&mut attributes, RESOURCE_ATTRIBUTES, key.as_str(), value);
        }
        let mut encoded_resource = Vec::new();
        pb::bytes(&mut encoded_resource, RESOURCE_SPANS_RESOURCE, &attributes);
        let mut resource_schema_url = Vec::new();
        if let Some(url) = resource.schema_url() {
            pb::string(&mut resource_schema_url, RESOURCE_SPANS_SCHEMA_URL, url);
        }

        let mut scope_body = Vec::new();
        pb::string(&mut scope_body, SCOPE_NAME, attr::SCOPE_NAME);
        pb::string(&mut scope_body, SCOPE_VERSION, env!("CARGO_PKG_VERSION"));
        if let Some(pk) = public_key {
            let mut w = KeyValueWriter {
                buf: &mut scope_body,
                field: SCOPE_ATTRIBUTES,
            };
            w.attr(AttrKey::Static(attr::SCOPE_PUBLIC_KEY), AttrRef::Str(pk));
        }
        let mut scope = Vec::new();
        pb::bytes(&mut scope, SCOPE_SPANS_SCOPE, &scope_body);

        RequestEncoder {
            resource: encoded_resource,
            resource_schema_url,
            scope,
            defaults,
            spans: Vec::new(),
            span_ends: Vec::new(),
            span: Vec::new(),
            head: Vec::new(),
        }
    }

    /// Encodes every observation of the batch (into `spans` / `span_ends`).
    pub(crate) fn encode_spans<S: std::borrow::Borrow<ObservationState>>(&mut self, batch: &[S]) {
        self.spans.clear();
        self.span_ends.clear();
        for st in batch {
            self.encode_span(st.borrow());
        }
    }

    fn encode_span(&mut self, st: &ObservationState) {
        let b = &mut self.span;
        b.clear();
        pb::bytes(b, SPAN_TRACE_ID, &st.trace_id.to_be_bytes());
        pb::bytes(b, SPAN_SPAN_ID, &st.span_id.to_be_bytes());
        if let Some(parent) = st.parent_span_id.filter(|p| *p != 0) {
            pb::bytes(b, SPAN_PARENT_SPAN_ID, &parent.to_be_bytes());
        }
        pb::string(b, SPAN_NAME, attributes::span_name(st));
        pb::tag(b, SPAN_KIND, pb::VARINT);
        pb::varint(b, SPAN_KIND_INTERNAL);
        pb::fixed64(b, SPAN_START, unix_nanos(st.start_time));
        pb::fixed64(b, SPAN_END, unix_nanos(attributes::end_time(st)));
        let mut attrs = KeyValueWriter {
            buf: b,
            field: SPAN_ATTRIBUTES,
        };
        attributes::walk(st, &self.defaults, &mut attrs);
        // The SDK always writes a status, empty when UNSET.
        match attributes::error_message(st) {
            Some(message) => {
                let message_len = if message.is_empty() {
                    0
                } else {
                    pb::len_field(message.len())
                };
                pb::len_prefix(b, SPAN_STATUS, message_len + 2);
                pb::string(b, STATUS_MESSAGE, message);
                pb::tag(b, STATUS_CODE, pb::VARINT);
                pb::varint(b, STATUS_CODE_ERROR);
            }
            None => pb::len_prefix(b, SPAN_STATUS, 0),
        }
        pb::tag(b, SPAN_FLAGS, pb::FIXED32);
        b.extend_from_slice(&SPAN_FLAGS_VALUE.to_le_bytes());

        pb::bytes(&mut self.spans, SCOPE_SPANS_SPANS, &self.span);
        self.span_ends.push(self.spans.len());
    }

    /// Request bytes besides the spans, at most (lengths take up to 10 bytes each).
    fn overhead(&self) -> usize {
        self.resource.len() + self.scope.len() + self.resource_schema_url.len() + 3 * 11
    }

    /// The request holding `spans[range]`, as three pieces to send one after the other:
    /// head, spans, tail.
    pub(crate) fn request(&mut self, range: std::ops::Range<usize>) -> [&[u8]; 3] {
        let spans_len = range.len();
        let scope_spans_len = self.scope.len() + spans_len;
        let resource_spans_len =
            self.resource.len() + pb::len_field(scope_spans_len) + self.resource_schema_url.len();
        let head = &mut self.head;
        head.clear();
        pb::len_prefix(head, REQUEST_RESOURCE_SPANS, resource_spans_len);
        head.extend_from_slice(&self.resource);
        pb::len_prefix(head, RESOURCE_SPANS_SCOPE_SPANS, scope_spans_len);
        head.extend_from_slice(&self.scope);
        [&self.head, &self.spans[range], &self.resource_schema_url]
    }

    /// The bytes of spans `first..end` in `spans`.
    pub(crate) fn byte_range(&self, spans: std::ops::Range<usize>) -> std::ops::Range<usize> {
        let start = match spans.start {
            0 => 0,
            i => self.span_ends[i - 1],
        };
        let end = match spans.end {
            0 => 0,
            i => self.span_ends[i - 1],
        };
        start..end
    }

    /// The encoded size of span `i`.
    pub(crate) fn span_len(&self, i: usize) -> usize {
        self.byte_range(i..i + 1).len()
    }

    /// Splits the encoded spans into requests of at most `max_bytes`, as ranges of span
    /// indices; a span that alone exceeds the limit is returned apart (it cannot be sent).
    pub(crate) fn parts(&self, max_bytes: usize) -> (Vec<std::ops::Range<usize>>, Vec<usize>) {
        let budget = max_bytes.saturating_sub(self.overhead());
        let mut parts = Vec::new();
        let mut oversized = Vec::new();
        let mut first = 0usize;
        for i in 0..self.span_ends.len() {
            if self.span_len(i) > budget {
                if first < i {
                    parts.push(first..i);
                }
                oversized.push(i);
                first = i + 1;
            } else if self.byte_range(first..i + 1).len() > budget {
                parts.push(first..i);
                first = i;
            }
        }
        if first < self.span_ends.len() {
            parts.push(first..self.span_ends.len());
        }
        (parts, oversized)
    }
}
