//! A loopback OTLP/HTTP receiver that counts what arrives.
//!
//! It answers every `POST` with `200 {}` (as Langfuse does), gunzips the body when the
//! request says `content-encoding: gzip`, counts the spans of the OTLP
//! `ExportTraceServiceRequest` (walking the protobuf structure, see [`count_spans`]) and
//! adds the spans and bytes to its counters. Any path is
//! accepted, so Langfuse's `/api/public/otel/v1/traces` and plain OTLP's `/v1/traces`
//! both work. `GET /stats` returns the counters as JSON and `POST /reset` zeroes them, so
//! a process in another language (the Python SDK run) can be checked against it too.
//!
//! It runs a current-thread Tokio runtime on its own OS thread: one core's worth of
//! work at most, the same for every pipeline measured against it.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::sync::oneshot;

/// What the receiver has counted so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Export requests (POSTs) received.
    pub requests: u64,
    /// Spans decoded from those requests.
    pub spans: u64,
    /// Request body bytes as sent (compressed when the client gzips).
    pub wire_bytes: u64,
    /// Request body bytes after gunzip (the protobuf size).
    pub decoded_bytes: u64,
    /// Requests whose body could not be gunzipped or decoded.
    pub bad_requests: u64,
}

impl Counts {
    /// The counts as a JSON object.
    pub fn to_json(&self) -> String {
        format!(
            r#"{{"requests": {}, "spans": {}, "wire_bytes": {}, "decoded_bytes": {}, "bad_requests": {}}}"#,
            self.requests, self.spans, self.wire_bytes, self.decoded_bytes, self.bad_requests
        )
    }
}

#[derive(Debug, Default)]
struct Stats {
    requests: AtomicU64,
    spans: AtomicU64,
    wire_bytes: AtomicU64,
    decoded_bytes: AtomicU64,
    bad_requests: AtomicU64,
}

impl Stats {
    fn counts(&self) -> Counts {
        Counts {
            requests: self.requests.load(Ordering::Acquire),
            spans: self.spans.load(Ordering::Acquire),
            wire_bytes: self.wire_bytes.load(Ordering::Acquire),
            decoded_bytes: self.decoded_bytes.load(Ordering::Acquire),
            bad_requests: self.bad_requests.load(Ordering::Acquire),
        }
    }

    fn reset(&self) {
        for c in [
            &self.requests,
            &self.spans,
            &self.wire_bytes,
            &self.decoded_bytes,
            &self.bad_requests,
        ] {
            c.store(0, Ordering::Release);
        }
    }
}

/// The receiver; dropping it stops the server.
///
/// ```no_run
/// let receiver = langfuse_bench::receiver::Receiver::start();
/// println!("{}", receiver.base_url());
/// assert_eq!(receiver.counts().spans, 0);
/// ```
#[derive(Debug)]
pub struct Receiver {
    addr: SocketAddr,
    stats: Arc<Stats>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Starts on `127.0.0.1` and a free port.
    pub fn start() -> Receiver {
        Self::start_on(0).expect("bind 127.0.0.1:0")
    }

    /// Starts on `127.0.0.1:port` (0: any free port).
    pub fn start_on(port: u16) -> std::io::Result<Receiver> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(Stats::default());
        let (tx, rx) = oneshot::channel::<()>();
        let state = stats.clone();
        let thread = std::thread::Builder::new()
            .name("otlp-receiver".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("receiver runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("receiver listener");
                    let app = Router::new()
                        .fallback(handle)
                        .layer(DefaultBodyLimit::disable())
                        .with_state(state);
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = rx.await;
                        })
                        .await;
                });
            })?;
        Ok(Receiver {
            addr,
            stats,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`, the base URL to give an exporter.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The plain OTLP traces endpoint, `http://127.0.0.1:PORT/v1/traces`.
    pub fn otlp_traces_url(&self) -> String {
        format!("http://{}/v1/traces", self.addr)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The counters now.
    pub fn counts(&self) -> Counts {
        self.stats.counts()
    }

    /// Zeroes the counters.
    pub fn reset(&self) {
        self.stats.reset();
    }

    /// Waits until at least `spans` spans have arrived, or `timeout` passes; returns the
    /// counts either way.
    pub fn wait_for_spans(&self, spans: u64, timeout: Duration) -> Counts {
        let deadline = Instant::now() + timeout;
        loop {
            let c = self.counts();
            if c.spans >= spans || Instant::now() >= deadline {
                return c;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until no span has arrived for `quiet`, or `timeout` passes.
    pub fn wait_quiet(&self, quiet: Duration, timeout: Duration) -> Counts {
        let deadline = Instant::now() + timeout;
        let mut last = self.counts();
        let mut since = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(20));
            let c = self.counts();
            if c != last {
                last = c;
                since = Instant::now();
            } else if since.elapsed() >= quiet || Instant::now() >= deadline {
                return c;
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn handle(
    State(stats): State<Arc<Stats>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json = |status: StatusCode, body: String| {
        (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    };
    match (&method, uri.path()) {
        (&Method::GET, "/stats") => return json(StatusCode::OK, stats.counts().to_json()),
        (&Method::POST, "/reset") => {
            stats.reset();
            return json(StatusCode::OK, "{}".into());
        }
        (&Method::POST, _) => {}
        // Anything else a client may probe (health checks, auth checks): fine.
        _ => return json(StatusCode::OK, "{}".into()),
    }
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("gzip"));
    stats
        .wire_bytes
        .fetch_add(body.len() as u64, Ordering::AcqRel);
    stats.requests.fetch_add(1, Ordering::AcqRel);
    match decode(&body, gzip) {
        Some((spans, decoded)) => {
            stats.decoded_bytes.fetch_add(decoded, Ordering::AcqRel);
            stats.spans.fetch_add(spans, Ordering::AcqRel);
            json(StatusCode::OK, "{}".into())
        }
        None => {
            stats.bad_requests.fetch_add(1, Ordering::AcqRel);
            json(StatusCode::BAD_REQUEST, "{}".into())
        }
    }
}

/// `(spans, protobuf bytes)` of one request body.
fn decode(body: &[u8], gzip: bool) -> Option<(u64, u64)> {
    let mut unzipped = Vec::new();
    let raw: &[u8] = if gzip {
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut unzipped)
            .ok()?;
        &unzipped
    } else {
        body
    };
    Some((count_spans(raw)?, raw.len() as u64))
}

/// Counts the spans of an `ExportTraceServiceRequest` by walking the protobuf wire
/// format (`resource_spans` = 1 → `scope_spans` = 2 → `spans` = 2) without decoding
/// the spans themselves; `None` if the structure is malformed.
///
/// Decoding every span into `prost` types took a third of both cores in the per-call
/// benchmarks, time the receiver then took from the pipeline being measured. Counting
/// is all the receiver reports, and it is the same receiver for every pipeline.
pub fn count_spans(request: &[u8]) -> Option<u64> {
    let mut spans = 0;
    for_each_message(request, 1, &mut |resource_spans| {
        for_each_message(resource_spans, 2, &mut |scope_spans| {
            for_each_message(scope_spans, 2, &mut |_span| {
                spans += 1;
                Some(())
            })
        })
    })?;
    Some(spans)
}

/// Calls `f` on the body of every length-delimited field numbered `field` of one
/// message, skipping the other fields; `None` on a malformed message.
fn for_each_message(
    mut msg: &[u8],
    field: u64,
    f: &mut dyn FnMut(&[u8]) -> Option<()>,
) -> Option<()> {
    while !msg.is_empty() {
        let key = varint(&mut msg)?;
        let len = match key & 7 {
            0 => {
                varint(&mut msg)?;
                0
            }
            1 => 8,
            2 => usize::try_from(varint(&mut msg)?).ok()?,
            5 => 4,
            _ => return None,
        };
        if len > msg.len() {
            return None;
        }
        let (body, rest) = msg.split_at(len);
        if key & 7 == 2 && key >> 3 == field {
            f(body)?;
        }
        msg = rest;
    }
    Some(())
}

fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::count_spans;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;

    fn span(i: u64) -> Span {
        Span {
            trace_id: vec![1; 16],
            span_id: i.to_be_bytes().to_vec(),
            name: format!("span {i}"),
            start_time_unix_nano: i,
            end_time_unix_nano: i + 1,
            attributes: vec![KeyValue {
                key: "langfuse.observation.input".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue("x".repeat(i as usize * 40))),
                }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn counts_what_prost_decodes_and_rejects_truncated_bodies() {
        let request = ExportTraceServiceRequest {
            resource_spans: (0..3)
                .map(|r| ResourceSpans {
                    resource: Some(Resource::default()),
                    scope_spans: (0..r + 1)
                        .map(|s| ScopeSpans {
                            spans: (0..(r * 10 + s * 3 + 1)).map(span).collect(),
                            ..Default::default()
                        })
                        .collect(),
                    schema_url: "https://example.com".into(),
                })
                .collect(),
        };
        let body = request.encode_to_vec();
        let decoded = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
        let expected: usize = decoded
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        assert_eq!(expected, 1 + (11 + 14) + (21 + 24 + 27));
        assert_eq!(count_spans(&body), Some(expected as u64));
        assert_eq!(count_spans(&[]), Some(0));
        assert_eq!(count_spans(&body[..body.len() - 1]), None);
        assert_eq!(count_spans(&[0x0f]), None, "wire type 7 does not exist");
    }
}
