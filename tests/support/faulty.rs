//! A scriptable, fault-injecting OTLP/HTTP receiver on `127.0.0.1` for the fault and
//! load suites.
//!
//! It speaks just enough HTTP/1.1 by hand (on raw tokio sockets) to misbehave in ways a
//! framework would not let it: per request, a [`Script`] decides to answer a status
//! (with `Retry-After`, `Location` or any header, after a delay), to accept the request
//! and never answer ([`Action::Hang`]), or to reset the connection ([`Action::Reset`]).
//! The receiver can be stopped and started again on the same port mid-run, or created
//! with its port reserved but nothing listening ("down at start").
//!
//! Every request body is gunzipped (when `content-encoding: gzip`) and decoded as an
//! OTLP `ExportTraceServiceRequest`. A span counts as **delivered** only when the
//! receiver answered 2xx to a `POST` on the export path whose body decoded, and the
//! client was still connected when the answer was due (a client that timed out and hung
//! up during a slow answer did not get it, so the batch is not delivered). Delivered
//! spans are counted by (trace id, span id); a span delivered twice is a duplicate.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Langfuse's OTLP path (the only path whose 2xx answers count as delivered).
pub const EXPORT_PATH: &str = "/api/public/otel/v1/traces";

/// Largest request head (request line and headers) read.
const MAX_HEAD: usize = 64 << 10;

/// What the receiver does with one request (after reading it whole).
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Answer `status` with these extra headers, after `delay`.
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        delay: Duration,
    },
    /// Never answer; keep the connection open until the client closes it.
    Hang,
    /// Close the connection with a TCP reset (`SO_LINGER` 0), without an answer.
    Reset,
}

impl Action {
    /// 200 `{}`.
    pub fn ok() -> Action {
        Action::status(200)
    }

    /// That status, at once.
    pub fn status(status: u16) -> Action {
        Action::Respond {
            status,
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    /// Adds a header to a [`Action::Respond`].
    pub fn header(mut self, name: &str, value: &str) -> Action {
        if let Action::Respond { headers, .. } = &mut self {
            headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    /// Answers only after `delay` (a slow collector).
    pub fn after(mut self, wait: Duration) -> Action {
        if let Action::Respond { delay, .. } = &mut self {
            *delay = wait;
        }
        self
    }
}

/// What a [`Script`] knows about one request when it decides.
#[derive(Clone, Debug)]
pub struct RequestView {
    /// 0-based, over every request this receiver has read (all paths, all runs).
    pub index: usize,
    pub method: String,
    pub path: String,
    /// Spans in the body (0 when it did not decode).
    pub spans: usize,
    /// Body size after gunzip.
    pub decoded_len: usize,
    pub decoded: bool,
}

impl RequestView {
    /// A `POST` on [`EXPORT_PATH`].
    pub fn is_export(&self) -> bool {
        self.method == "POST" && self.path == EXPORT_PATH
    }
}

/// Decides the [`Action`] per request. May keep state (it is called once per request,
/// in arrival order, under a lock).
pub type Script = Box<dyn FnMut(&RequestView) -> Action + Send>;

/// A script answering the actions in order, then `then` for every later request.
/// Only export POSTs consume the sequence; other requests get 200.
pub fn sequence(actions: Vec<Action>, then: Action) -> Script {
    let mut next = 0usize;
    Box::new(move |r: &RequestView| {
        if !r.is_export() {
            return Action::ok();
        }
        let a = actions.get(next).cloned().unwrap_or_else(|| then.clone());
        next += 1;
        a
    })
}

/// A script answering every request with `action`.
pub fn always(action: Action) -> Script {
    Box::new(move |_r: &RequestView| action.clone())
}

/// How one request ended, seen from the receiver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Answered with this status.
    Answered(u16),
    /// Answer due after a delay, but the client hung up first.
    Abandoned,
    Hung,
    Reset,
}

/// One request, as logged.
#[derive(Clone, Debug)]
pub struct RequestLog {
    pub index: usize,
    pub method: String,
    pub path: String,
    pub spans: usize,
    pub decoded_len: usize,
    pub gzip: bool,
    /// When the request had been read whole.
    pub at: Instant,
    pub outcome: Option<Outcome>,
    /// The `authorization` header was present (its value is never kept).
    pub had_authorization: bool,
}

/// A delivered span, compactly.
#[derive(Clone, Debug)]
pub struct DeliveredSpan {
    pub trace_id: u128,
    pub span_id: u64,
    pub parent_span_id: Option<u64>,
    pub name: String,
    /// How many times it was delivered (more than 1: duplicates).
    pub count: u32,
    pub first_at: Instant,
}

/// Counters of a [`FaultyReceiver`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Every request read (all paths).
    pub requests: usize,
    /// POSTs on the export path.
    pub export_posts: usize,
    /// Requests on any other path or with another method (a followed redirect).
    pub other_requests: usize,
    /// Spans in every export POST, whatever the answer (a retried batch counts again).
    pub received_spans: usize,
    /// Unique (trace id, span id) delivered.
    pub delivered: usize,
    /// Deliveries beyond the first of the same span.
    pub duplicates: usize,
    /// Export POSTs whose client hung up before a delayed answer.
    pub abandoned: usize,
    /// Bodies that did not gunzip or decode.
    pub undecodable: usize,
}

#[derive(Default)]
struct Data {
    log: Vec<RequestLog>,
    delivered: HashMap<(u128, u64), DeliveredSpan>,
    stats: Stats,
    first_delivery: Option<Instant>,
}

struct Shared {
    data: Mutex<Data>,
    cond: Condvar,
    script: Mutex<Script>,
    next_index: Mutex<usize>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Running {
    accept: JoinHandle<()>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// The fault-injecting receiver. Dropping it stops everything (hung connections too).
pub struct FaultyReceiver {
    port: u16,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
    running: Mutex<Option<Running>>,
}

impl FaultyReceiver {
    /// Listening on a fresh port, answering per `script`.
    pub fn start(script: Script) -> FaultyReceiver {
        let r = Self::down(script);
        r.up();
        r
    }

    /// A port is chosen but nothing listens on it yet (connections are refused) until
    /// [`FaultyReceiver::up`].
    pub fn down(script: Script) -> FaultyReceiver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("reserve a loopback port")
            .port();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("faulty-receiver")
            .enable_all()
            .build()
            .expect("receiver runtime");
        FaultyReceiver {
            port,
            shared: Arc::new(Shared {
                data: Mutex::new(Data::default()),
                cond: Condvar::new(),
                script: Mutex::new(script),
                next_index: Mutex::new(0),
            }),
            runtime: Some(runtime),
            running: Mutex::new(None),
        }
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("runtime lives until drop")
    }

    /// Starts listening on the receiver's port (again). Panics if the port cannot be bound
    /// within a few seconds.
    pub fn up(&self) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if running.is_some() {
            return;
        }
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(5);
        // std sets SO_REUSEADDR on Unix, so the port can be bound again at once after
        // a stop even with connections in TIME_WAIT.
        let std_listener = loop {
            match std::net::TcpListener::bind(addr) {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("cannot listen on {addr} again: {e}"),
            }
        };
        std_listener.set_nonblocking(true).expect("nonblocking");
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let shared = self.shared.clone();
        let conns2 = conns.clone();
        let accept = {
            let _guard = self.rt().enter();
            let listener = TcpListener::from_std(std_listener).expect("tokio listener");
            self.rt().spawn(accept_loop(listener, shared, conns2))
        };
        *running = Some(Running { accept, conns });
    }

    /// Stops listening and closes every open connection (hung ones too); requests in
    /// progress get no answer. [`FaultyReceiver::up`] starts it again on the same port.
    pub fn stop(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(running) = running else { return };
        running.accept.abort();
        let conns: Vec<JoinHandle<()>> =
            std::mem::take(&mut *running.conns.lock().unwrap_or_else(|e| e.into_inner()));
        for c in &conns {
            c.abort();
        }
        // Wait until the listener and the sockets are really closed.
        self.rt().block_on(async move {
            let _ = running.accept.await;
            for c in conns {
                let _ = c.await;
            }
        });
    }

    /// Replaces the script (later requests only).
    pub fn set_script(&self, script: Script) {
        *self.shared.script.lock().unwrap_or_else(|e| e.into_inner()) = script;
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The full export URL.
    pub fn endpoint(&self) -> String {
        format!("{}{}", self.base_url(), EXPORT_PATH)
    }

    pub fn stats(&self) -> Stats {
        self.shared.lock().stats.clone()
    }

    pub fn requests(&self) -> Vec<RequestLog> {
        self.shared.lock().log.clone()
    }

    /// Every delivered span once (with its delivery count).
    pub fn delivered(&self) -> Vec<DeliveredSpan> {
        self.shared.lock().delivered.values().cloned().collect()
    }

    /// Whether that (trace id, span id) was delivered.
    pub fn is_delivered(&self, trace_id: u128, span_id: u64) -> bool {
        self.shared
            .lock()
            .delivered
            .contains_key(&(trace_id, span_id))
    }

    /// When the first span was delivered at all.
    pub fn first_delivery(&self) -> Option<Instant> {
        self.shared.lock().first_delivery
    }

    /// When the first span was delivered at or after `since`.
    pub fn first_delivery_since(&self, since: Instant) -> Option<Instant> {
        self.shared
            .lock()
            .delivered
            .values()
            .map(|d| d.first_at)
            .filter(|t| *t >= since)
            .min()
    }

    /// Waits until `done(stats)` or `timeout`; returns the stats then.
    pub fn wait_until(&self, timeout: Duration, mut done: impl FnMut(&Stats) -> bool) -> Stats {
        let deadline = Instant::now() + timeout;
        let mut guard = self.shared.lock();
        while !done(&guard.stats) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            guard = match self.shared.cond.wait_timeout(guard, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
        guard.stats.clone()
    }
}

impl Drop for FaultyReceiver {
    fn drop(&mut self) {
        if let Some(running) = self
            .running
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            running.accept.abort();
            for c in running
                .conns
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
            {
                c.abort();
            }
        }
        // Never blocks (also fine inside a runtime); the tasks and sockets go with it.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
) {
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let _ = sock.set_nodelay(true);
        let task = tokio::spawn(connection(sock, shared.clone()));
        let mut conns = conns.lock().unwrap_or_else(|e| e.into_inner());
        conns.retain(|c| !c.is_finished());
        conns.push(task);
    }
}

/// One parsed request.
struct Request {
    method: String,
    path: String,
    gzip: bool,
    had_authorization: bool,
    body: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads more into `buf`; false on EOF or error.
async fn fill(sock: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 16 << 10];
    match sock.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

/// Reads one request from `sock` (bytes beyond it stay in `buf`); `None` when the client
/// closed the connection or sent something that is not HTTP/1.1.
async fn read_request(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Request> {
    let head_end = loop {
        if let Some(p) = find(buf, b"\r\n\r\n") {
            break p + 4;
        }
        if buf.len() > MAX_HEAD || !fill(sock, buf).await {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let path = request_line.next()?.to_owned();
    let mut content_length = 0usize;
    let mut chunked = false;
    let mut gzip = false;
    let mut had_authorization = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim();
        match name.as_str() {
            "content-length" => content_length = value.parse().ok()?,
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            "content-encoding" => gzip = value.to_ascii_lowercase().contains("gzip"),
            "authorization" => had_authorization = true,
            _ => {}
        }
    }
    buf.drain(..head_end);
    let body = if chunked {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(p) = find(buf, b"\r\n") {
                    break p;
                }
                if !fill(sock, buf).await {
                    return None;
                }
            };
            let size_text = String::from_utf8_lossy(&buf[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            buf.drain(..line_end + 2);
            while buf.len() < size + 2 {
                if !fill(sock, buf).await {
                    return None;
                }
            }
            body.extend_from_slice(&buf[..size]);
            buf.drain(..size + 2);
            if size == 0 {
                // (No trailers are sent by the clients under test.)
                break body;
            }
        }
    } else {
        while buf.len() < content_length {
            if !fill(sock, buf).await {
                return None;
            }
        }
        buf.drain(..content_length).collect()
    };
    Some(Request {
        method,
        path,
        gzip,
        had_authorization,
        body,
    })
}

/// (trace id, span id, parent, name) of every span of a decodable body.
type SpanKey = (u128, u64, Option<u64>, String);

fn decode(req: &Request) -> (usize, Option<Vec<SpanKey>>) {
    let decoded = if req.gzip {
        let mut out = Vec::new();
        match flate2::read::GzDecoder::new(&req.body[..]).read_to_end(&mut out) {
            Ok(_) => Some(out),
            Err(_) => None,
        }
    } else {
        Some(req.body.clone())
    };
    let Some(bytes) = decoded else {
        return (0, None);
    };
    let len = bytes.len();
    let Ok(request) = ExportTraceServiceRequest::decode(&bytes[..]) else {
        return (len, None);
    };
    let be_u128 = |b: &[u8]| -> u128 {
        let mut a = [0u8; 16];
        let n = b.len().min(16);
        a[16 - n..].copy_from_slice(&b[..n]);
        u128::from_be_bytes(a)
    };
    let be_u64 = |b: &[u8]| -> u64 {
        let mut a = [0u8; 8];
        let n = b.len().min(8);
        a[8 - n..].copy_from_slice(&b[..n]);
        u64::from_be_bytes(a)
    };
    let mut spans = Vec::new();
    for rs in &request.resource_spans {
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                let parent = (!s.parent_span_id.is_empty()).then(|| be_u64(&s.parent_span_id));
                spans.push((
                    be_u128(&s.trace_id),
                    be_u64(&s.span_id),
                    parent,
                    s.name.clone(),
                ));
            }
        }
    }
    (len, Some(spans))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

async fn connection(mut sock: TcpStream, shared: Arc<Shared>) {
    let mut buf = Vec::new();
    while let Some(req) = read_request(&mut sock, &mut buf).await {
        let (decoded_len, spans) = decode(&req);
        let index = {
            let mut next = shared.next_index.lock().unwrap_or_else(|e| e.into_inner());
            let i = *next;
            *next += 1;
            i
        };
        let view = RequestView {
            index,
            method: req.method.clone(),
            path: req.path.clone(),
            spans: spans.as_ref().map_or(0, Vec::len),
            decoded_len,
            decoded: spans.is_some(),
        };
        let action = {
            let mut script = shared.script.lock().unwrap_or_else(|e| e.into_inner());
            (script)(&view)
        };
        let is_export = view.is_export();
        let log_at = {
            let mut data = shared.lock();
            data.stats.requests += 1;
            if is_export {
                data.stats.export_posts += 1;
                data.stats.received_spans += view.spans;
            } else {
                data.stats.other_requests += 1;
            }
            if !view.decoded && is_export {
                data.stats.undecodable += 1;
            }
            data.log.push(RequestLog {
                index,
                method: req.method.clone(),
                path: req.path.clone(),
                spans: view.spans,
                decoded_len,
                gzip: req.gzip,
                at: Instant::now(),
                outcome: None,
                had_authorization: req.had_authorization,
            });
            data.log.len() - 1
        };
        shared.cond.notify_all();
        let set_outcome = |outcome: Outcome| {
            let mut data = shared.lock();
            if let Some(l) = data.log.get_mut(log_at) {
                l.outcome = Some(outcome);
            }
        };
        match action {
            Action::Hang => {
                set_outcome(Outcome::Hung);
                // Read and discard until the client gives up.
                while fill(&mut sock, &mut buf).await {
                    buf.clear();
                }
                return;
            }
            Action::Reset => {
                set_outcome(Outcome::Reset);
                let _ = sock.set_zero_linger();
                drop(sock);
                return;
            }
            Action::Respond {
                status,
                headers,
                delay,
            } => {
                if !delay.is_zero() {
                    // Wait, but notice a client that hangs up meanwhile.
                    let sleep = tokio::time::sleep(delay);
                    tokio::pin!(sleep);
                    loop {
                        let mut chunk = [0u8; 4096];
                        tokio::select! {
                            _ = &mut sleep => break,
                            r = sock.read(&mut chunk) => match r {
                                Ok(0) | Err(_) => {
                                    set_outcome(Outcome::Abandoned);
                                    if is_export {
                                        shared.lock().stats.abandoned += 1;
                                    }
                                    shared.cond.notify_all();
                                    return;
                                }
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            },
                        }
                    }
                }
                set_outcome(Outcome::Answered(status));
                // Counted before the answer is written: a client that sees the answer
                // and asks at once finds the spans counted.
                if (200..300).contains(&status) && is_export {
                    if let Some(spans) = spans {
                        let now = Instant::now();
                        let mut data = shared.lock();
                        data.first_delivery.get_or_insert(now);
                        for (trace_id, span_id, parent_span_id, name) in spans {
                            match data.delivered.get_mut(&(trace_id, span_id)) {
                                Some(d) => {
                                    d.count += 1;
                                    data.stats.duplicates += 1;
                                }
                                None => {
                                    data.delivered.insert(
                                        (trace_id, span_id),
                                        DeliveredSpan {
                                            trace_id,
                                            span_id,
                                            parent_span_id,
                                            name,
                                            count: 1,
                                            first_at: now,
                                        },
                                    );
                                    data.stats.delivered += 1;
                                }
                            }
                        }
                    }
                    shared.cond.notify_all();
                }
                let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
                head.push_str("content-type: application/json\r\ncontent-length: 2\r\n");
                for (k, v) in &headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n{}");
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    }
}
