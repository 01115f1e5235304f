//! Langfuse over OTLP/HTTP: encodes a batch of finished observations as one
//! `ExportTraceServiceRequest` and POSTs it, gzip-compressed, to the Langfuse endpoint.
//!
//! The protobuf is written by hand straight from the observations into buffers reused
//! across batches: no OpenTelemetry `SpanData`, no generated structs, no allocation per
//! span. The resource and scope are encoded once. Field numbers and field order are
//! those of opentelemetry-proto (prost writes fields in tag order), so the bytes are the
//! ones the SDK exporter would send.

use std::fmt;
use std::io::Read as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use flate2::{Compress, FlushCompress, Status as DeflateStatus};
use langfuse_core::attributes as attr;
use langfuse_core::state::{Batch, ObservationState};
use opentelemetry::{Array, Value};
use opentelemetry_sdk::Resource;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::config::{Compression, ConfigError, LangfuseConfig};
use crate::export::destination::{Destination, Undelivered};
use crate::span_attributes::{self as attributes, AttrKey, AttrRef, AttrSink, Defaults, StrList};

/// Protobuf wire primitives (only what OTLP traces need).
mod pb {
    pub(super) const VARINT: u8 = 0;
    pub(super) const FIXED64: u8 = 1;
    pub(super) const LEN: u8 = 2;
    pub(super) const FIXED32: u8 = 5;

    pub(super) fn varint(buf: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            buf.push(v as u8 | 0x80);
            v >>= 7;
        }
        buf.push(v as u8);
    }

    pub(super) fn varint_len(v: u64) -> usize {
        // 1 byte per started group of 7 bits; 0 takes one byte.
        (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
    }

    pub(super) fn tag(buf: &mut Vec<u8>, field: u32, wire_type: u8) {
        varint(buf, u64::from(field << 3 | u32::from(wire_type)));
    }

    /// Bytes taken by a length-delimited field of `len` bytes whose tag is one byte
    /// (fields 1 to 15).
    pub(super) fn len_field(len: usize) -> usize {
        1 + varint_len(len as u64) + len
    }

    /// Tag and length of a length-delimited field.
    pub(super) fn len_prefix(buf: &mut Vec<u8>, field: u32, len: usize) {
        tag(buf, field, LEN);
        varint(buf, len as u64);
    }

    pub(super) fn bytes(buf: &mut Vec<u8>, field: u32, value: &[u8]) {
        len_prefix(buf, field, value.len());
        buf.extend_from_slice(value);
    }

    /// A proto3 string: omitted when empty, as prost does.
    pub(super) fn string(buf: &mut Vec<u8>, field: u32, value: &str) {
        if !value.is_empty() {
            bytes(buf, field, value.as_bytes());
        }
    }

    pub(super) fn fixed64(buf: &mut Vec<u8>, field: u32, value: u64) {
        if value != 0 {
            tag(buf, field, FIXED64);
            buf.extend_from_slice(&value.to_le_bytes());
        }
    }
}

// Field numbers (opentelemetry/proto/.../*.proto).
const REQUEST_RESOURCE_SPANS: u32 = 1;
const RESOURCE_SPANS_RESOURCE: u32 = 1;
const RESOURCE_SPANS_SCOPE_SPANS: u32 = 2;
const RESOURCE_SPANS_SCHEMA_URL: u32 = 3;
const RESOURCE_ATTRIBUTES: u32 = 1;
const SCOPE_SPANS_SCOPE: u32 = 1;
const SCOPE_SPANS_SPANS: u32 = 2;
const SCOPE_NAME: u32 = 1;
const SCOPE_VERSION: u32 = 2;
const SCOPE_ATTRIBUTES: u32 = 3;
const SPAN_TRACE_ID: u32 = 1;
const SPAN_SPAN_ID: u32 = 2;
const SPAN_PARENT_SPAN_ID: u32 = 4;
const SPAN_NAME: u32 = 5;
const SPAN_KIND: u32 = 6;
const SPAN_START: u32 = 7;
const SPAN_END: u32 = 8;
const SPAN_ATTRIBUTES: u32 = 9;
const SPAN_STATUS: u32 = 15;
const SPAN_FLAGS: u32 = 16;
const STATUS_MESSAGE: u32 = 2;
const STATUS_CODE: u32 = 3;
const KEY_VALUE_KEY: u32 = 1;
const KEY_VALUE_VALUE: u32 = 2;
const ANY_STRING: u32 = 1;
const ANY_BOOL: u32 = 2;
const ANY_INT: u32 = 3;
const ANY_DOUBLE: u32 = 4;
const ANY_ARRAY: u32 = 5;
const ARRAY_VALUES: u32 = 1;

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
fn put_otel_key_value(buf: &mut Vec<u8>, field: u32, key: &str, value: &Value) {
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
struct RequestEncoder {
    /// `ResourceSpans.resource`, tag and length included.
    resource: Vec<u8>,
    /// `ResourceSpans.schema_url`, tag included, or nothing.
    resource_schema_url: Vec<u8>,
    /// `ScopeSpans.scope`, tag and length included.
    scope: Vec<u8>,
    defaults: Defaults,
    /// The spans of the batch, each a complete `ScopeSpans.spans` field.
    spans: Vec<u8>,
    /// Where each span ends in `spans`.
    span_ends: Vec<usize>,
    /// One span while its length is not known yet.
    span: Vec<u8>,
    /// The part of one request before its spans.
    head: Vec<u8>,
}

impl RequestEncoder {
    fn new(resource: &Resource, public_key: Option<&str>, defaults: Defaults) -> Self {
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
    fn encode_spans<S: std::borrow::Borrow<ObservationState>>(&mut self, batch: &[S]) {
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
    fn request(&mut self, range: std::ops::Range<usize>) -> [&[u8]; 3] {
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
    fn byte_range(&self, spans: std::ops::Range<usize>) -> std::ops::Range<usize> {
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
    fn span_len(&self, i: usize) -> usize {
        self.byte_range(i..i + 1).len()
    }

    /// Splits the encoded spans into requests of at most `max_bytes`, as ranges of span
    /// indices; a span that alone exceeds the limit is returned apart (it cannot be sent).
    fn parts(&self, max_bytes: usize) -> (Vec<std::ops::Range<usize>>, Vec<usize>) {
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

/// gzip with one deflate state for the life of the destination (a fresh encoder per
/// batch would allocate and clear ~300 KiB of tables each time).
struct Gzip {
    deflate: Compress,
}

const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

impl Gzip {
    fn new(level: flate2::Compression) -> Self {
        Gzip {
            deflate: Compress::new(level, false),
        }
    }

    fn compress(&mut self, pieces: &[&[u8]]) -> Result<Vec<u8>, String> {
        self.deflate.reset();
        let total: usize = pieces.iter().map(|p| p.len()).sum();
        let mut out = Vec::with_capacity(total / 4 + 64);
        out.extend_from_slice(&GZIP_HEADER);
        let mut crc = flate2::Crc::new();
        for piece in pieces {
            crc.update(piece);
            self.deflate_into(piece, &mut out, FlushCompress::None)?;
        }
        self.deflate_into(&[], &mut out, FlushCompress::Finish)?;
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&crc.amount().to_le_bytes());
        Ok(out)
    }

    fn deflate_into(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        flush: FlushCompress,
    ) -> Result<(), String> {
        loop {
            if out.capacity() - out.len() < 4096 {
                out.reserve(4096.max(input.len() / 2));
            }
            let (in_before, out_before) = (self.deflate.total_in(), out.len());
            let status = self
                .deflate
                .compress_vec(input, out, flush)
                .map_err(|e| format!("gzip failed: {e}"))?;
            let consumed = (self.deflate.total_in() - in_before) as usize;
            input = input.get(consumed..).unwrap_or_default();
            let done = match flush {
                FlushCompress::Finish => status == DeflateStatus::StreamEnd,
                _ => input.is_empty(),
            };
            if done {
                return Ok(());
            }
            if consumed == 0 && out.len() == out_before && status == DeflateStatus::BufError {
                return Err("gzip made no progress".to_owned());
            }
        }
    }
}

/// Retries, as the OTLP exporter's recommended policy: 3, from 100 ms doubling to 1.6 s,
/// plus up to 100 ms of jitter, all within the timeout of the request.
const MAX_RETRIES: u32 = 3;
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
const MAX_RETRY_DELAY: Duration = Duration::from_millis(1600);
/// A `Retry-After` longer than this is not waited for (the timeout bounds it anyway).
const MAX_THROTTLE: Duration = Duration::from_secs(600);

/// The HTTP side: one blocking client (connections are kept alive across batches).
struct Transport {
    client: reqwest::blocking::Client,
    endpoint: reqwest::Url,
    /// The public key, shown when the endpoint rejects the keys (never the secret).
    public_key: String,
    timeout: Duration,
}

enum Attempt {
    Retry(Option<Duration>),
    Fail,
}

/// Why one request was not accepted: the message for the user, and whether the
/// endpoint said the body was too large (413), which the caller answers by splitting.
#[derive(Debug)]
pub(crate) struct PostError {
    pub(crate) message: String,
    pub(crate) too_large: bool,
}

impl PostError {
    fn new(message: String) -> Self {
        PostError {
            message,
            too_large: false,
        }
    }
}

/// A `Retry-After` value (RFC 9110 §10.2.3): a number of seconds, or an HTTP date,
/// read as the time from `now` until then (zero once it has passed). `None` for
/// anything else, which leaves the exporter's own backoff in charge.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

impl Transport {
    fn new(config: &LangfuseConfig) -> Result<Self, ConfigError> {
        let endpoint = config.endpoint();
        let endpoint = reqwest::Url::parse(&endpoint)
            .map_err(|e| ConfigError::other("base_url", format!("invalid endpoint: {e}")))?;
        let public_key = config.public_key.clone().unwrap_or_default();
        let secret_key = config.secret_key.as_deref().unwrap_or_default();
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("{public_key}:{secret_key}"));
        // The messages name the header, never its value (it may hold the secret key).
        let value = |name: &str, v: &str| {
            HeaderValue::from_str(v)
                .map_err(|_| ConfigError::other("header", format!("invalid value for {name:?}")))
        };
        let mut authorization = value("authorization", &format!("Basic {auth}"))?;
        authorization.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, authorization);
        let fixed = [
            ("x-langfuse-sdk-name", "rust"),
            ("x-langfuse-sdk-version", env!("CARGO_PKG_VERSION")),
            ("x-langfuse-public-key", public_key.as_str()),
            ("x-langfuse-ingestion-version", "4"),
        ];
        for (name, v) in fixed {
            headers.insert(HeaderName::from_static(name), value(name, v)?);
        }
        for (name, v) in &config.additional_headers {
            let name = name.to_ascii_lowercase();
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ConfigError::invalid("header", &name, "not a valid header name"))?;
            let mut v = value(&name, v)?;
            v.set_sensitive(true);
            headers.insert(header, v);
        }
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        // Sent with every request; the client never prints them.
        let client = reqwest::blocking::Client::builder()
            .default_headers(headers)
            .timeout(config.timeout)
            // A redirect would be followed as a GET without the body, and the page it
            // lands on would answer 200: an export is delivered only when the OTLP
            // endpoint itself accepts it, so a 3xx is a failure (see `post_once`).
            .redirect(reqwest::redirect::Policy::none());
        #[cfg(feature = "rustls")]
        let client = client.tls_backend_preconfigured(tls_config()?);
        let client = client.build().map_err(|e| {
            ConfigError::other("exporter", format!("cannot build the HTTP client: {e}"))
        })?;
        Ok(Transport {
            client,
            endpoint,
            public_key,
            timeout: config.timeout,
        })
    }

    /// POSTs one body, retrying throttling, gateway and network errors until `timeout`.
    fn post(&self, body: Vec<u8>, gzip: bool) -> Result<(), PostError> {
        let body = bytes::Bytes::from(body);
        let started = Instant::now();
        let mut delay = FIRST_RETRY_DELAY;
        let mut cap = MAX_RETRY_DELAY;
        let mut retries = 0;
        loop {
            let remaining = self.timeout.saturating_sub(started.elapsed());
            let (error, attempt) = match self.post_once(body.clone(), gzip, remaining) {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let wait = match attempt {
                Attempt::Retry(_) if retries >= MAX_RETRIES => return Err(error),
                Attempt::Fail => return Err(error),
                Attempt::Retry(Some(server_delay)) => {
                    // A server's Retry-After may lengthen, never shorten, the backoff.
                    let server_delay = server_delay.min(MAX_THROTTLE);
                    if server_delay > cap {
                        cap = MAX_THROTTLE;
                    }
                    delay = delay.max(server_delay);
                    delay.min(cap)
                }
                Attempt::Retry(None) => {
                    let jitter = Duration::from_millis(fastrand::u64(0..=100));
                    (delay + jitter).min(cap)
                }
            };
            if wait >= self.timeout.saturating_sub(started.elapsed()) {
                return Err(error);
            }
            std::thread::sleep(wait);
            delay = (delay * 2).min(cap);
            retries += 1;
        }
    }

    fn post_once(
        &self,
        body: bytes::Bytes,
        gzip: bool,
        timeout: Duration,
    ) -> Result<(), (PostError, Attempt)> {
        let endpoint = &self.endpoint;
        if timeout.is_zero() {
            let message = format!("export to {endpoint} timed out");
            return Err((PostError::new(message), Attempt::Fail));
        }
        let mut request = self
            .client
            .post(self.endpoint.clone())
            .timeout(timeout)
            .body(body);
        if gzip {
            request = request.header(
                reqwest::header::CONTENT_ENCODING,
                HeaderValue::from_static("gzip"),
            );
        }
        let response = request.send().map_err(|e| {
            // Never the error's text: it carries the URL, which may hold credentials.
            let what = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "cannot connect"
            } else {
                "network error"
            };
            let message = format!("export to {endpoint} failed: {what}");
            (PostError::new(message), Attempt::Retry(None))
        })?;
        let status = response.status();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let retry_after = header(reqwest::header::RETRY_AFTER)
            .and_then(|v| parse_retry_after(&v, SystemTime::now()));
        let location = header(reqwest::header::LOCATION);
        // Read the (small) answer so the connection can be reused; what it says about
        // partial success is not acted on.
        let mut answer = Vec::new();
        let _ = response.take(4 << 20).read_to_end(&mut answer);
        if status.is_success() {
            return Ok(());
        }
        let code = status.as_u16();
        let attempt = match code {
            429 | 503 => Attempt::Retry(retry_after),
            502 | 504 => Attempt::Retry(None),
            _ => Attempt::Fail,
        };
        let message = match code {
            300..=399 => format!(
                "export to {endpoint} was answered {code} redirecting to {}; redirects are \
                 not followed for exports: set the base URL to the address Langfuse answers on",
                location.as_deref().unwrap_or("(no Location)")
            ),
            401 | 403 => format!(
                "the Langfuse keys were rejected by {endpoint} (status {code}, public key \
                 {:?}): check LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY for this host",
                self.public_key
            ),
            // A server error's body may differ per request (ids, times): not shown, so
            // that a burst of them is reported once.
            500..=599 => format!("export to {endpoint} failed with status {code}"),
            _ => {
                let answer = server_answer(&answer);
                let sep = if answer.is_empty() { "" } else { ": " };
                format!("export to {endpoint} failed with status {code}{sep}{answer}")
            }
        };
        let error = PostError {
            message,
            too_large: code == 413,
        };
        Err((error, attempt))
    }
}

/// rustls with the `ring` provider and the platform's certificate verifier, passed to
/// the client as is: no process-wide crypto provider is installed or required.
#[cfg(feature = "rustls")]
pub(crate) fn tls_config() -> Result<rustls::ClientConfig, ConfigError> {
    use rustls_platform_verifier::BuilderVerifierExt as _;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_platform_verifier())
        .map(|builder| builder.with_no_client_auth())
        .map_err(|e| ConfigError::other("exporter", format!("cannot set up TLS: {e}")))
}

/// The start of a server's error answer, on one line, for the user's message.
pub(crate) fn server_answer(body: &[u8]) -> String {
    const MAX_CHARS: usize = 200;
    let text = String::from_utf8_lossy(body);
    let mut out: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(MAX_CHARS + 1)
        .collect();
    if out.chars().count() > MAX_CHARS {
        out = out.chars().take(MAX_CHARS).collect::<String>() + "...";
    }
    out
}

/// Langfuse's OTLP endpoint as an export destination.
pub(crate) struct OtlpDestination {
    encoder: RequestEncoder,
    gzip: Option<Gzip>,
    transport: Transport,
    max_request_bytes: usize,
}

impl fmt::Debug for OtlpDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No headers (they hold the secret key), no user info of the URL.
        let mut endpoint = self.transport.endpoint.clone();
        let _ = endpoint.set_username("");
        let _ = endpoint.set_password(None);
        f.debug_struct("OtlpDestination")
            .field("endpoint", &endpoint.as_str())
            .field("gzip", &self.gzip.is_some())
            .field("timeout", &self.transport.timeout)
            .field("max_request_bytes", &self.max_request_bytes)
            .finish_non_exhaustive()
    }
}

/// Level 1: on OTLP spans it compresses nearly as well as the default level 6 at a
/// fraction of the CPU (see the measurements in BENCHMARKS.md).
const GZIP_LEVEL: u32 = 1;

impl OtlpDestination {
    pub(crate) fn new(config: &LangfuseConfig, resource: &Resource) -> Result<Self, ConfigError> {
        let defaults = Defaults {
            environment: config.environment.clone(),
            release: config.release.clone(),
        };
        Ok(OtlpDestination {
            encoder: RequestEncoder::new(resource, config.public_key.as_deref(), defaults),
            gzip: (config.compression == Compression::Gzip)
                .then(|| Gzip::new(flate2::Compression::new(GZIP_LEVEL))),
            transport: Transport::new(config)?,
            max_request_bytes: config.max_request_bytes,
        })
    }

    /// The body of the request holding spans `spans`: gzip-compressed, or the pieces
    /// joined.
    fn body(&mut self, spans: std::ops::Range<usize>) -> Result<Vec<u8>, PostError> {
        let pieces = self.encoder.request(self.encoder.byte_range(spans));
        match &mut self.gzip {
            Some(gzip) => gzip.compress(&pieces).map_err(PostError::new),
            None => Ok(pieces.concat()),
        }
    }

    /// Sends spans `spans` in one request; when the endpoint answers 413 the part is
    /// split in halves and each half sent, down to single observations, so one large
    /// observation costs only itself. Adds what could not be delivered to `failure`.
    fn send_part(&mut self, spans: std::ops::Range<usize>, failure: &mut Option<Undelivered>) {
        let sent = self
            .body(spans.clone())
            .and_then(|body| self.transport.post(body, self.gzip.is_some()));
        let Err(error) = sent else {
            return;
        };
        if error.too_large && spans.len() > 1 {
            let mid = spans.start + spans.len() / 2;
            self.send_part(spans.start..mid, failure);
            self.send_part(mid..spans.end, failure);
            return;
        }
        let reason = if error.too_large {
            format!(
                "{}; an observation of {} bytes was too large for the endpoint on its own \
                 and was dropped (max_request_bytes is {} bytes)",
                error.message,
                self.encoder.span_len(spans.start),
                self.max_request_bytes
            )
        } else {
            error.message
        };
        let lost = failure.as_ref().map_or(0, |f| f.lost) + spans.len();
        *failure = Some(Undelivered { lost, reason });
    }
}

impl Destination for OtlpDestination {
    fn export(&mut self, batch: &mut Batch) -> Result<(), Undelivered> {
        self.encoder.encode_spans(batch);
        // The states are encoded: give them and their buffers back for new
        // observations before the network wait (see `recycle`).
        langfuse_core::recycle::give_back_observations(batch);
        let (parts, oversized) = self.encoder.parts(self.max_request_bytes);
        let mut failure: Option<Undelivered> = None;
        if !oversized.is_empty() {
            failure = Some(Undelivered {
                lost: oversized.len(),
                reason: format!(
                    "{} observation(s) not sent: the largest is {} bytes, more than \
                     max_request_bytes ({} bytes)",
                    oversized.len(),
                    oversized
                        .iter()
                        .map(|&i| self.encoder.span_len(i))
                        .max()
                        .unwrap_or(0),
                    self.max_request_bytes
                ),
            });
        }
        for spans in parts {
            self.send_part(spans, &mut failure);
        }
        failure.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests;

#[cfg(all(test, feature = "rustls"))]
mod tls_tests {
    use super::*;

    /// An `https` endpoint gets a working TLS client (ring provider, no process-wide
    /// provider needed); a plain-HTTP listener then fails the handshake, reported as
    /// an error naming the endpoint, never a panic.
    #[test]
    fn https_builds_a_tls_client_and_a_failed_handshake_is_an_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(8) {
                use std::io::Write as _;
                if let Ok(mut s) = stream {
                    let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
                }
            }
        });
        let config = LangfuseConfig::builder()
            .public_key("pk-lf-test")
            .secret_key("sk-lf-test")
            .base_url(format!("https://127.0.0.1:{port}"))
            .timeout(Duration::from_secs(5))
            .build()
            .expect("valid config");
        let transport = Transport::new(&config).expect("a TLS client");
        let error = transport
            .post(b"body".to_vec(), false)
            .expect_err("no TLS on the other side");
        assert!(
            error.message.contains(&format!("127.0.0.1:{port}")),
            "{}",
            error.message
        );
    }
}
