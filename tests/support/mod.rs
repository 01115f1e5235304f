//! Shared integration-test support: an in-process OTLP/HTTP (protobuf) receiver.
//!
//! The receiver runs its own tokio runtime on a dedicated std thread, so it can be
//! used both from plain `#[test]` functions and from inside `#[tokio::test]`s. All
//! accessors are synchronous.
#![allow(dead_code)]

/// The scriptable, fault-injecting receiver of the fault and load suites.
pub mod faulty;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use prost::Message;
use tokio::sync::oneshot;

/// How long a dropped receiver waits for open connections before forcing shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// One HTTP request as seen by the [`Receiver`].
#[derive(Clone, Debug)]
pub struct CapturedRequest {
    pub method: String,
    pub path: String,
    /// Header names are lowercased; values that are not valid UTF-8 are lossily converted.
    pub headers: Vec<(String, String)>,
    pub raw_body_len: usize,
    pub decoded_body_len: usize,
    /// `content-encoding` contained `gzip`.
    pub gzip: bool,
    /// Empty when the body could not be gunzipped or decoded (the receiver then answered 400).
    pub request: ExportTraceServiceRequest,
}

impl CapturedRequest {
    /// First header value with that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Spans of this request, flattened.
    pub fn spans(&self) -> Vec<CapturedSpan> {
        flatten_spans(&self.request)
    }
}

/// An OTLP attribute value, simplified.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    Str(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    Array(Vec<AttrValue>),
    /// Kvlist, bytes, or missing values, rendered with `Debug`.
    Other(String),
}

impl AttrValue {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            AttrValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            AttrValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            AttrValue::Double(d) => Some(*d),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[AttrValue]> {
        match self {
            AttrValue::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// One span, flattened together with its scope and resource.
#[derive(Clone, Debug)]
pub struct CapturedSpan {
    /// Lowercase hex.
    pub trace_id: String,
    /// Lowercase hex.
    pub span_id: String,
    /// Lowercase hex; `None` when the parent id bytes are empty.
    pub parent_span_id: Option<String>,
    pub name: String,
    pub kind: i32,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
    pub flags: u32,
    pub trace_state: String,
    pub attributes: BTreeMap<String, AttrValue>,
    pub status_code: i32,
    pub status_message: String,
    /// `(name, attributes)` per event, in order.
    pub events: Vec<(String, BTreeMap<String, AttrValue>)>,
    pub scope_name: String,
    pub scope_version: String,
    pub scope_attributes: BTreeMap<String, AttrValue>,
    pub resource_attributes: BTreeMap<String, AttrValue>,
}

impl CapturedSpan {
    pub fn attr(&self, key: &str) -> Option<&AttrValue> {
        self.attributes.get(key)
    }

    /// `Some` only for string values.
    pub fn str_attr(&self, key: &str) -> Option<&str> {
        self.attr(key).and_then(AttrValue::as_str)
    }

    /// `Some` only for int values.
    pub fn int_attr(&self, key: &str) -> Option<i64> {
        self.attr(key).and_then(AttrValue::as_i64)
    }

    /// `Some` only for bool values.
    pub fn bool_attr(&self, key: &str) -> Option<bool> {
        self.attr(key).and_then(AttrValue::as_bool)
    }

    /// All attribute keys, sorted.
    pub fn langfuse_keys(&self) -> Vec<String> {
        // BTreeMap keys are already sorted.
        self.attributes.keys().cloned().collect()
    }

    /// Events with that name.
    pub fn events_named(&self, name: &str) -> Vec<&BTreeMap<String, AttrValue>> {
        self.events
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, a)| a)
            .collect()
    }
}

#[derive(Default)]
struct Captured {
    requests: Vec<CapturedRequest>,
    spans: Vec<CapturedSpan>,
}

#[derive(Default)]
struct Shared {
    data: Mutex<Captured>,
    cond: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Captured> {
        // A panicking test thread must not make the receiver unusable.
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Clone)]
struct AppState {
    shared: Arc<Shared>,
    /// `None`: 200 (or 400 on undecodable bodies); `Some`: always that status.
    fixed_status: Option<StatusCode>,
    /// How long each request waits before it is answered (a slow collector).
    delay: Duration,
}

/// In-process OTLP/HTTP receiver on `127.0.0.1:<random port>`. Dropping it stops the server.
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Answers 200 `{}` (application/json) to POST on any path; 400 if the body is undecodable.
    pub fn start() -> Receiver {
        Self::spawn(None, Duration::ZERO)
    }

    /// Like [`Receiver::start`], but answers each request only after `delay`: a slow
    /// collector (requests are still captured as they arrive).
    pub fn start_with_delay(delay: Duration) -> Receiver {
        Self::spawn(None, delay)
    }

    /// Always answers `status` (the request is still captured and decoded).
    pub fn start_with_status(status: u16) -> Receiver {
        Self::start_with_status_after(status, Duration::ZERO)
    }

    /// Always answers `status`, each time after `delay`: an export's outcome (and so
    /// the dropped count, for a status that fails it) is known only then.
    pub fn start_with_status_after(status: u16, delay: Duration) -> Receiver {
        let status = StatusCode::from_u16(status).expect("valid HTTP status code");
        Self::spawn(Some(status), delay)
    }

    fn spawn(fixed_status: Option<StatusCode>, delay: Duration) -> Receiver {
        let shared = Arc::new(Shared::default());
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel::<std::io::Result<SocketAddr>>();
        let state = AppState {
            shared: shared.clone(),
            fixed_status,
            delay,
        };

        let thread = std::thread::Builder::new()
            .name("otlp-test-receiver".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = addr_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(serve(state, addr_tx, shutdown_rx));
                rt.shutdown_timeout(Duration::from_millis(100));
            })
            .expect("spawn receiver thread");

        let addr = match addr_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(addr)) => addr,
            Ok(Err(e)) => panic!("test receiver failed to start: {e}"),
            Err(e) => panic!("test receiver did not report its address: {e}"),
        };

        Receiver {
            addr,
            shared,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// All requests so far, in arrival order.
    pub fn requests(&self) -> Vec<CapturedRequest> {
        self.shared.lock().requests.clone()
    }

    pub fn request_count(&self) -> usize {
        self.shared.lock().requests.len()
    }

    /// All spans of all requests, flattened, in arrival order.
    pub fn spans(&self) -> Vec<CapturedSpan> {
        self.shared.lock().spans.clone()
    }

    /// Waits until at least `n` spans arrived or `timeout` elapsed; returns all spans so far.
    pub fn wait_for_spans(&self, n: usize, timeout: Duration) -> Vec<CapturedSpan> {
        self.wait_until(timeout, |c| c.spans.len() >= n)
            .spans
            .clone()
    }

    /// Waits until at least `n` requests arrived or `timeout` elapsed; returns all requests so far.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<CapturedRequest> {
        self.wait_until(timeout, |c| c.requests.len() >= n)
            .requests
            .clone()
    }

    fn wait_until(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&Captured) -> bool,
    ) -> MutexGuard<'_, Captured> {
        let deadline = Instant::now() + timeout;
        let mut guard = self.shared.lock();
        while !done(&guard) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            guard = match self.shared.cond.wait_timeout(guard, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
        guard
    }

    /// Spans with that name.
    pub fn spans_named(&self, name: &str) -> Vec<CapturedSpan> {
        self.spans()
            .into_iter()
            .filter(|s| s.name == name)
            .collect()
    }

    /// The single span with that name; panics listing all names if missing or ambiguous.
    pub fn span_named(&self, name: &str) -> CapturedSpan {
        let spans = self.spans();
        let mut matching: Vec<&CapturedSpan> = spans.iter().filter(|s| s.name == name).collect();
        match matching.len() {
            1 => matching.remove(0).clone(),
            0 => panic!(
                "no span named {name:?}; {} span(s) received: {:?}",
                spans.len(),
                spans.iter().map(|s| s.name.as_str()).collect::<Vec<_>>()
            ),
            k => panic!(
                "{k} spans named {name:?} (expected exactly one); ids: {:?}; all names: {:?}",
                matching
                    .iter()
                    .map(|s| s.span_id.as_str())
                    .collect::<Vec<_>>(),
                spans.iter().map(|s| s.name.as_str()).collect::<Vec<_>>()
            ),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            // Never double-panic while a failing test unwinds.
            let _ = thread.join();
        }
    }
}

async fn serve(
    state: AppState,
    addr_tx: std::sync::mpsc::Sender<std::io::Result<SocketAddr>>,
    shutdown_rx: oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => {
            let _ = addr_tx.send(Err(e));
            return;
        }
    };
    match listener.local_addr() {
        Ok(addr) => {
            let _ = addr_tx.send(Ok(addr));
        }
        Err(e) => {
            let _ = addr_tx.send(Err(e));
            return;
        }
    }

    let app = Router::new()
        .fallback(handle)
        .layer(DefaultBodyLimit::disable())
        .with_state(state);

    // Graceful shutdown waits for open (keep-alive) connections; bound that wait.
    let (signal_tx, signal_rx) = oneshot::channel::<()>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = signal_rx.await;
    });
    let server = async move {
        let _ = server.await;
    };
    let forced = async move {
        let _ = shutdown_rx.await; // also resolves if the Receiver was dropped without sending
        let _ = signal_tx.send(());
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        _ = server => {}
        _ = forced => {}
    }
}

async fn handle(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header_list: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let gzip = headers.get_all(header::CONTENT_ENCODING).iter().any(|v| {
        String::from_utf8_lossy(v.as_bytes())
            .to_ascii_lowercase()
            .contains("gzip")
    });

    let (request, decoded_body_len, error) = match decode_export(&body, gzip) {
        Ok((request, len)) => (request, len, None),
        Err(e) => (ExportTraceServiceRequest::default(), 0, Some(e)),
    };

    let spans = flatten_spans(&request);
    let captured = CapturedRequest {
        method: method.to_string(),
        path: uri.path().to_string(),
        headers: header_list,
        raw_body_len: body.len(),
        decoded_body_len,
        gzip,
        request,
    };
    {
        let mut guard = state.shared.lock();
        guard.requests.push(captured);
        guard.spans.extend(spans);
    }
    state.shared.cond.notify_all();
    if !state.delay.is_zero() {
        tokio::time::sleep(state.delay).await;
    }

    let (status, body) = match (state.fixed_status, error) {
        (Some(status), _) => (status, "{}".to_string()),
        (None, Some(err)) => (
            StatusCode::BAD_REQUEST,
            format!("{{\"error\":{}}}", json_string(&err)),
        ),
        (None, None) if method != Method::POST => (
            StatusCode::METHOD_NOT_ALLOWED,
            "{\"error\":\"method not allowed\"}".to_string(),
        ),
        (None, None) => (StatusCode::OK, "{}".to_string()),
    };
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Lowercase hex of `bytes`.
/// Decodes an OTLP/HTTP protobuf export body (gunzipped first when `gzip`): the
/// request and the decoded length, or what was wrong with it.
pub fn decode_export(
    body: &[u8],
    gzip: bool,
) -> Result<(ExportTraceServiceRequest, usize), String> {
    let bytes = if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut out)
            .map_err(|e| format!("gunzip failed: {e}"))?;
        out
    } else {
        body.to_vec()
    };
    let request = ExportTraceServiceRequest::decode(&bytes[..])
        .map_err(|e| format!("protobuf decode failed: {e}"))?;
    Ok((request, bytes.len()))
}

pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0x0f) as usize] as char);
    }
    s
}

/// Converts an OTLP `AnyValue` to an [`AttrValue`].
pub fn attr_value(v: Option<&AnyValue>) -> AttrValue {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => AttrValue::Str(s.clone()),
        Some(any_value::Value::BoolValue(b)) => AttrValue::Bool(*b),
        Some(any_value::Value::IntValue(i)) => AttrValue::Int(*i),
        Some(any_value::Value::DoubleValue(d)) => AttrValue::Double(*d),
        Some(any_value::Value::ArrayValue(a)) => {
            AttrValue::Array(a.values.iter().map(|v| attr_value(Some(v))).collect())
        }
        Some(other) => AttrValue::Other(format!("{other:?}")),
        None => AttrValue::Other("<none>".to_string()),
    }
}

/// Converts OTLP key-values to a sorted map (a later duplicate key wins).
pub fn attr_map(kvs: &[KeyValue]) -> BTreeMap<String, AttrValue> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), attr_value(kv.value.as_ref())))
        .collect()
}

/// All spans of an export request, flattened with their scope and resource.
pub fn flatten_spans(req: &ExportTraceServiceRequest) -> Vec<CapturedSpan> {
    let mut out = Vec::new();
    for rs in &req.resource_spans {
        let resource_attributes = rs
            .resource
            .as_ref()
            .map(|r| attr_map(&r.attributes))
            .unwrap_or_default();
        for ss in &rs.scope_spans {
            let (scope_name, scope_version, scope_attributes) = match &ss.scope {
                Some(s) => (s.name.clone(), s.version.clone(), attr_map(&s.attributes)),
                None => (String::new(), String::new(), BTreeMap::new()),
            };
            for span in &ss.spans {
                let (status_code, status_message) = span
                    .status
                    .as_ref()
                    .map(|s| (s.code, s.message.clone()))
                    .unwrap_or((0, String::new()));
                out.push(CapturedSpan {
                    trace_id: to_hex(&span.trace_id),
                    span_id: to_hex(&span.span_id),
                    parent_span_id: if span.parent_span_id.is_empty() {
                        None
                    } else {
                        Some(to_hex(&span.parent_span_id))
                    },
                    name: span.name.clone(),
                    kind: span.kind,
                    start_time_unix_nano: span.start_time_unix_nano,
                    end_time_unix_nano: span.end_time_unix_nano,
                    flags: span.flags,
                    trace_state: span.trace_state.clone(),
                    attributes: attr_map(&span.attributes),
                    status_code,
                    status_message,
                    events: span
                        .events
                        .iter()
                        .map(|e| (e.name.clone(), attr_map(&e.attributes)))
                        .collect(),
                    scope_name: scope_name.clone(),
                    scope_version: scope_version.clone(),
                    scope_attributes: scope_attributes.clone(),
                    resource_attributes: resource_attributes.clone(),
                });
            }
        }
    }
    out
}

/// The test layer's public key.
pub const PUBLIC_KEY: &str = "pk-lf-test";
/// The test layer's secret key.
pub const SECRET_KEY: &str = "sk-lf-test";

/// A Langfuse layer builder pointed at `receiver`, with test keys and no console output.
pub fn layer_builder(receiver: &Receiver) -> langfuse_tracing::LayerBuilder {
    layer_builder_to(receiver.base_url())
}

/// The test layer's builder for any base URL (a dead port, a scripted server): test
/// keys, no console.
pub fn layer_builder_to(base_url: impl Into<String>) -> langfuse_tracing::LayerBuilder {
    langfuse_tracing::LangfuseLayer::builder()
        .public_key(PUBLIC_KEY)
        .secret_key(SECRET_KEY)
        .base_url(base_url)
        .console(false)
}

/// The test layer, built: exports to `receiver`.
pub fn layer(receiver: &Receiver) -> langfuse_tracing::LangfuseLayer {
    layer_builder(receiver).build().expect("valid test config")
}

/// The test layer of one service among several sending to `receiver`, told apart by
/// its public key.
pub fn service_layer(receiver: &Receiver, public_key: &str) -> langfuse_tracing::LangfuseLayer {
    layer_builder(receiver)
        .public_key(public_key)
        .build()
        .expect("valid test config")
}

/// Runs `f` under a registry with `layer` as the current subscriber, then flushes.
pub fn run(layer: langfuse_tracing::LangfuseLayer, f: impl FnOnce()) {
    use tracing_subscriber::prelude::*;
    let handle = layer.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
    handle.flush().expect("flush");
}

/// Runs `f` under a registry with a Langfuse layer exporting to a fresh receiver,
/// flushes, and returns the receiver with every span it got.
pub fn capture(f: impl FnOnce()) -> (Receiver, Vec<CapturedSpan>) {
    let receiver = Receiver::start();
    run(layer(&receiver), f);
    let spans = receiver.spans();
    (receiver, spans)
}
