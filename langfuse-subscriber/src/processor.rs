//! `LangfuseSpanProcessor`: Langfuse export for applications that use
//! `opentelemetry_sdk` directly (the model is the JS SDK's `LangfuseSpanProcessor`).
//!
//! Added to the application's own `SdkTracerProvider` beside its other processors, it
//! keeps the spans Langfuse is interested in (reference §6.3: the `langfuse-sdk` scope,
//! known LLM instrumentation scopes, any `gen_ai.*` attribute; or a user filter), and
//! sends them to Langfuse's OTLP endpoint with the Langfuse headers and auth, on its
//! own thread, through the same transport as the layer (retries, no redirects, error
//! messages without the secret). Other processors see every span as before: a
//! processor only receives copies.
//!
//! Accounting, as for the layer: once `force_flush()` returns `Ok` or `shutdown()`
//! returns, every span this processor accepted is delivered or counted in
//! [`LangfuseSpanProcessor::dropped_spans`].

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use langfuse_tracing_core::attributes as attr;
use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};
use opentelemetry_sdk::Resource;

use crate::config::{Compression, ConfigError, LangfuseConfig};
use crate::otlp::encode::put_otel_key_value;
use crate::otlp::gzip::{Gzip, GZIP_LEVEL};
use crate::otlp::transport::Transport;
use crate::otlp::wire::{self as pb, field::*};

/// Spans held between the application's threads and the export thread; when full,
/// new spans are dropped and counted (the OpenTelemetry batch processor's default).
const MAX_QUEUE_SPANS: usize = 2048;

/// Instrumentation scopes whose spans Langfuse exports by default: the name equals one
/// of these or starts with it followed by `.` (reference §6.3).
const KNOWN_LLM_SCOPES: &[&str] = &[
    "langfuse-sdk",
    "agent_framework",
    "autogen-core",
    "ai",
    "haystack",
    "langsmith",
    "litellm",
    "openinference",
    "pydantic-ai",
    "strands-agents",
    "vllm",
    "opentelemetry.instrumentation.agno",
    "opentelemetry.instrumentation.alephalpha",
    "opentelemetry.instrumentation.anthropic",
    "opentelemetry.instrumentation.bedrock",
    "opentelemetry.instrumentation.cohere",
    "opentelemetry.instrumentation.crewai",
    "opentelemetry.instrumentation.google_generativeai",
    "opentelemetry.instrumentation.groq",
    "opentelemetry.instrumentation.haystack",
    "opentelemetry.instrumentation.langchain",
    "opentelemetry.instrumentation.llamaindex",
    "opentelemetry.instrumentation.mistralai",
    "opentelemetry.instrumentation.ollama",
    "opentelemetry.instrumentation.openai",
    "opentelemetry.instrumentation.openai_agents",
    "opentelemetry.instrumentation.openai_v2",
    "opentelemetry.instrumentation.replicate",
    "opentelemetry.instrumentation.sagemaker",
    "opentelemetry.instrumentation.together",
    "opentelemetry.instrumentation.transformers",
    "opentelemetry.instrumentation.vertexai",
    "opentelemetry.instrumentation.voyageai",
    "opentelemetry.instrumentation.watsonx",
    "opentelemetry.instrumentation.writer",
];

/// The default export filter of the official SDKs (reference §6.3): spans of the
/// `langfuse-sdk` scope or of a known LLM instrumentation scope, and spans with any
/// `gen_ai.*` attribute. [`LangfuseSpanProcessor`] uses it unless given a filter.
pub fn is_default_export_span(span: &SpanData) -> bool {
    let scope = span.instrumentation_scope.name();
    KNOWN_LLM_SCOPES.iter().any(|known| {
        scope == *known
            || scope
                .strip_prefix(known)
                .is_some_and(|rest| rest.starts_with('.'))
    }) || span
        .attributes
        .iter()
        .any(|kv| kv.key.as_str().starts_with("gen_ai."))
}

type Filter = Arc<dyn Fn(&SpanData) -> bool + Send + Sync>;

/// A span processor that exports Langfuse-relevant spans of an `opentelemetry_sdk`
/// tracer provider to Langfuse, beside the application's other processors.
///
/// ```
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// let config = langfuse_tracing::LangfuseConfig::builder()
///     .public_key("pk-lf-1")
///     .secret_key("sk-lf-1")
///     .base_url("http://127.0.0.1:9/")
///     .build()
///     .unwrap();
/// let langfuse = langfuse_tracing::LangfuseSpanProcessor::new(config).unwrap();
/// let provider = SdkTracerProvider::builder()
///     // .with_batch_exporter(your_other_exporter)
///     .with_span_processor(langfuse)
///     .build();
/// provider.shutdown().unwrap();
/// ```
pub struct LangfuseSpanProcessor {
    shared: Arc<Shared>,
    queue: Option<SyncSender<Msg>>,
    filter: Option<Filter>,
    public_key: String,
    /// The resource attributes Langfuse reads when the provider's resource lacks them.
    defaults: Vec<KeyValue>,
    flush_timeout: Duration,
}

impl fmt::Debug for LangfuseSpanProcessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LangfuseSpanProcessor")
            .field("enabled", &self.queue.is_some())
            .field("custom_filter", &self.filter.is_some())
            .field("dropped_spans", &self.dropped_spans())
            .finish_non_exhaustive()
    }
}

enum Msg {
    Span(Box<SpanData>),
    Flush(mpsc::Sender<Result<(), String>>),
    Shutdown(mpsc::Sender<Result<(), String>>),
}

#[derive(Default)]
struct Counts {
    delivered: u64,
    failed: u64,
    /// Set when a shutdown gave up waiting: what was still in hand then is counted as
    /// dropped, and the export thread counts nothing more.
    abandoned: Option<u64>,
}

struct Shared {
    /// Spans taken into the queue.
    accepted: AtomicU64,
    /// Spans refused because the queue was full or the processor shut down.
    refused: AtomicU64,
    counts: Mutex<Counts>,
    /// Set once by shutdown, under the write side of `gate`.
    shut_down: AtomicBool,
    /// Held (read) by `on_end` from its `shut_down` check to its send, and taken (write)
    /// by shutdown to set `shut_down`: so every span counted as accepted is in the
    /// queue before the shutdown message, and the export thread sees it.
    gate: RwLock<()>,
    /// The provider's resource, encoded (set by `set_resource` before any span).
    resource: Mutex<Vec<u8>>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl Shared {
    fn count(&self, delivered: u64, failed: u64) {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if c.abandoned.is_none() {
            c.delivered += delivered;
            c.failed += failed;
        }
    }
}

impl LangfuseSpanProcessor {
    /// A processor exporting to the Langfuse project of `config` (keys, base URL,
    /// headers, timeout, compression, `flush_at`, `flush_interval`,
    /// `max_request_bytes`, environment and release); starts its export thread. The
    /// keys are required. A disabled configuration (`enabled(false)`) gives a
    /// processor that drops everything without counting.
    pub fn new(config: LangfuseConfig) -> Result<Self, ConfigError> {
        let public_key = config.public_key.clone().unwrap_or_default();
        let mut defaults = Vec::new();
        if let Some(env) = &config.environment {
            defaults.push(KeyValue::new(attr::ENVIRONMENT, env.clone()));
        }
        if let Some(release) = &config.release {
            defaults.push(KeyValue::new(attr::RELEASE, release.clone()));
        }
        let shared = Arc::new(Shared {
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            counts: Mutex::new(Counts::default()),
            shut_down: AtomicBool::new(false),
            gate: RwLock::new(()),
            resource: Mutex::new(encode_resource(
                &Resource::builder_empty().build(),
                &defaults,
            )),
            worker: Mutex::new(None),
        });
        let flush_timeout = (config.timeout * 3).max(Duration::from_secs(10));
        let mut processor = LangfuseSpanProcessor {
            shared,
            queue: None,
            filter: None,
            public_key,
            defaults,
            flush_timeout,
        };
        if !config.enabled {
            return Ok(processor);
        }
        if config.public_key.is_none() || config.secret_key.is_none() {
            return Err(ConfigError::other(
                "public_key",
                "the Langfuse span processor needs a public key and a secret key",
            ));
        }
        let worker = Worker {
            transport: Transport::new(&config)?,
            gzip: (config.compression == Compression::Gzip)
                .then(|| Gzip::new(flate2::Compression::new(GZIP_LEVEL))),
            flush_at: config.flush_at.max(1),
            flush_interval: config.flush_interval,
            max_request_bytes: config.max_request_bytes,
            shared: processor.shared.clone(),
        };
        let (tx, rx) = mpsc::sync_channel(MAX_QUEUE_SPANS);
        let handle = std::thread::Builder::new()
            .name("langfuse-span-processor".into())
            .spawn(move || worker.run(rx))
            .map_err(|e| ConfigError::other("export", format!("cannot start a thread: {e}")))?;
        *processor
            .shared
            .worker
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(handle);
        processor.queue = Some(tx);
        Ok(processor)
    }

    /// A processor configured from the `LANGFUSE_*` environment variables.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::new(LangfuseConfig::from_env()?)
    }

    /// Replaces the default filter ([`is_default_export_span`]): only spans for which
    /// `filter` returns true are exported to Langfuse.
    ///
    /// ```
    /// let config = langfuse_tracing::LangfuseConfig::builder()
    ///     .public_key("pk-lf-1").secret_key("sk-lf-1").base_url("http://127.0.0.1:9/")
    ///     .build().unwrap();
    /// let p = langfuse_tracing::LangfuseSpanProcessor::new(config)
    ///     .unwrap()
    ///     .with_filter(|span| span.name.starts_with("llm"));
    /// # let _ = p;
    /// ```
    pub fn with_filter(
        mut self,
        filter: impl Fn(&SpanData) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.filter = Some(Arc::new(filter));
        self
    }

    /// Spans accepted for Langfuse and not delivered: refused by a full queue or
    /// after shutdown, rejected or unreachable endpoint, too large, or still held
    /// when a shutdown timed out.
    pub fn dropped_spans(&self) -> u64 {
        let c = self.shared.counts.lock().unwrap_or_else(|e| e.into_inner());
        let in_hand_abandoned = c.abandoned.unwrap_or(0);
        self.shared.refused.load(Ordering::Relaxed) + c.failed + in_hand_abandoned
    }

    fn wants(&self, span: &SpanData) -> bool {
        // A `langfuse-sdk` span of another project's client stays with that client.
        let scope = &span.instrumentation_scope;
        if scope.name() == attr::SCOPE_NAME {
            let other_key = scope.attributes().any(|kv| {
                kv.key.as_str() == attr::SCOPE_PUBLIC_KEY
                    && kv.value.as_str() != self.public_key.as_str()
            });
            if other_key {
                return false;
            }
        }
        match &self.filter {
            // A panicking filter drops the span, as a raising callback does in Python.
            Some(filter) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| filter(span)))
                .unwrap_or(false),
            None => is_default_export_span(span),
        }
    }

    /// Sends a control message and waits for its answer.
    fn control(
        &self,
        make: impl FnOnce(mpsc::Sender<Result<(), String>>) -> Msg,
        timeout: Duration,
    ) -> Result<(), String> {
        let Some(queue) = &self.queue else {
            return Ok(());
        };
        let (tx, rx) = mpsc::channel();
        queue
            .send(make(tx))
            .map_err(|_| "the Langfuse export thread has stopped".to_string())?;
        match rx.recv_timeout(timeout) {
            Ok(result) => result,
            Err(_) => Err(format!(
                "the Langfuse export did not finish within {timeout:?}"
            )),
        }
    }
}

impl SpanProcessor for LangfuseSpanProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        let Some(queue) = &self.queue else { return };
        if !span.span_context.is_sampled() || !self.wants(&span) {
            return;
        }
        let _open = self
            .shared
            .gate
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if self.shared.shut_down.load(Ordering::Acquire) {
            self.shared.refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match queue.try_send(Msg::Span(Box::new(span))) {
            Ok(()) => {
                self.shared.accepted.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.shared.refused.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        if self.shared.shut_down.load(Ordering::Acquire) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        self.control(Msg::Flush, self.flush_timeout)
            .map_err(OTelSdkError::InternalFailure)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        {
            let _closing = self
                .shared
                .gate
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if self.shared.shut_down.swap(true, Ordering::AcqRel) {
                return Err(OTelSdkError::AlreadyShutdown);
            }
        }
        let result = self.control(Msg::Shutdown, timeout);
        if result.is_err() {
            // Whatever the thread still holds is lost: count it now, once.
            let mut c = self.shared.counts.lock().unwrap_or_else(|e| e.into_inner());
            if c.abandoned.is_none() {
                let accepted = self.shared.accepted.load(Ordering::Relaxed);
                c.abandoned = Some(accepted.saturating_sub(c.delivered + c.failed));
            }
        } else if let Some(handle) = self
            .shared
            .worker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = handle.join();
        }
        result.map_err(OTelSdkError::InternalFailure)
    }

    fn set_resource(&mut self, resource: &Resource) {
        let encoded = encode_resource(resource, &self.defaults);
        *self
            .shared
            .resource
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = encoded;
    }
}

/// The export thread: batches of `flush_at`, every `flush_interval`, on flush.
struct Worker {
    transport: Transport,
    gzip: Option<Gzip>,
    flush_at: usize,
    flush_interval: Duration,
    max_request_bytes: usize,
    shared: Arc<Shared>,
}

impl Worker {
    fn run(mut self, rx: mpsc::Receiver<Msg>) {
        let mut batch: Vec<SpanData> = Vec::new();
        let mut next = Instant::now() + self.flush_interval;
        loop {
            let wait = next.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(Msg::Span(span)) => {
                    batch.push(*span);
                    if batch.len() >= self.flush_at {
                        let _ = self.export(&mut batch);
                        next = Instant::now() + self.flush_interval;
                    }
                }
                Ok(Msg::Flush(ack)) => {
                    let _ = ack.send(self.export(&mut batch));
                }
                Ok(Msg::Shutdown(ack)) => {
                    // Spans queued before the shutdown message are in `batch` by now.
                    let _ = ack.send(self.export(&mut batch));
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.export(&mut batch);
                    next = Instant::now() + self.flush_interval;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let _ = self.export(&mut batch);
                    return;
                }
            }
        }
    }

    /// Sends the batch in requests of at most `max_request_bytes`; counts the result.
    fn export(&mut self, batch: &mut Vec<SpanData>) -> Result<(), String> {
        if batch.is_empty() {
            return Ok(());
        }
        let resource = self
            .shared
            .resource
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let spans: Vec<(Vec<u8>, &InstrumentationScope)> = batch
            .iter()
            .map(|s| (encode_span(s), &s.instrumentation_scope))
            .collect();
        let mut error: Option<String> = None;
        let mut start = 0;
        while start < spans.len() {
            // Grow the request while it fits (an approximation of the scope overhead
            // per span keeps it on the safe side).
            let mut end = start;
            let mut size = resource.len() + 64;
            while end < spans.len() {
                let add = spans[end].0.len() + 16 + 128;
                if end > start && size + add > self.max_request_bytes {
                    break;
                }
                size += add;
                end += 1;
            }
            let part = &spans[start..end];
            let n = part.len() as u64;
            if size > self.max_request_bytes {
                self.shared.count(0, n);
                error = Some(format!(
                    "a span of {} bytes is larger than max_request_bytes ({} bytes) and was dropped",
                    part[0].0.len(),
                    self.max_request_bytes
                ));
            } else {
                let body = encode_request(&resource, part);
                let sent = match &mut self.gzip {
                    Some(gzip) => gzip.compress(&[&body]),
                    None => Ok(body),
                }
                .and_then(|body| {
                    self.transport
                        .post(body, self.gzip.is_some())
                        .map_err(|e| e.message)
                });
                match sent {
                    Ok(()) => self.shared.count(n, 0),
                    Err(e) => {
                        self.shared.count(0, n);
                        langfuse_tracing_core::__layer::warn::emit(&format!(
                            "{n} span(s) not delivered to Langfuse: {e}"
                        ));
                        error = Some(e);
                    }
                }
            }
            start = end;
        }
        batch.clear();
        error.map_or(Ok(()), Err)
    }
}

// ---- OTLP protobuf of SDK spans (opentelemetry-proto trace/v1, field numbers) ----

const SPAN_TRACE_STATE: u32 = 3;
const SPAN_DROPPED_ATTRIBUTES: u32 = 10;
const SPAN_EVENTS: u32 = 11;
const SPAN_DROPPED_EVENTS: u32 = 12;
const SPAN_LINKS: u32 = 13;
const SPAN_DROPPED_LINKS: u32 = 14;
const EVENT_TIME: u32 = 1;
const EVENT_NAME: u32 = 2;
const EVENT_ATTRIBUTES: u32 = 3;
const EVENT_DROPPED_ATTRIBUTES: u32 = 4;
const LINK_TRACE_ID: u32 = 1;
const LINK_SPAN_ID: u32 = 2;
const LINK_TRACE_STATE: u32 = 3;
const LINK_ATTRIBUTES: u32 = 4;
const LINK_DROPPED_ATTRIBUTES: u32 = 5;
const LINK_FLAGS: u32 = 6;
const SCOPE_SPANS_SCHEMA_URL: u32 = 3;
/// `SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK` and `SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK`.
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn uint(buf: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        pb::tag(buf, field, pb::VARINT);
        pb::varint(buf, v);
    }
}

fn fixed32(buf: &mut Vec<u8>, field: u32, v: u32) {
    pb::tag(buf, field, pb::FIXED32);
    buf.extend_from_slice(&v.to_le_bytes());
}

fn key_values<'a>(buf: &mut Vec<u8>, field: u32, kvs: impl IntoIterator<Item = &'a KeyValue>) {
    for kv in kvs {
        put_otel_key_value(buf, field, kv.key.as_str(), &kv.value);
    }
}

/// `ResourceSpans.resource`, with the Langfuse environment and release the
/// configuration names when the resource has none.
fn encode_resource(resource: &Resource, defaults: &[KeyValue]) -> Vec<u8> {
    let mut attributes = Vec::new();
    for (key, value) in resource.iter() {
        put_otel_key_value(&mut attributes, RESOURCE_ATTRIBUTES, key.as_str(), value);
    }
    for kv in defaults {
        if resource.get(&kv.key).is_none() {
            put_otel_key_value(
                &mut attributes,
                RESOURCE_ATTRIBUTES,
                kv.key.as_str(),
                &kv.value,
            );
        }
    }
    let mut out = Vec::new();
    pb::bytes(&mut out, RESOURCE_SPANS_RESOURCE, &attributes);
    if let Some(url) = resource.schema_url() {
        pb::string(&mut out, RESOURCE_SPANS_SCHEMA_URL, url);
    }
    out
}

/// One `Span` message (without its field tag).
fn encode_span(s: &SpanData) -> Vec<u8> {
    let cx = &s.span_context;
    let mut b = Vec::with_capacity(256);
    pb::bytes(&mut b, SPAN_TRACE_ID, &cx.trace_id().to_bytes());
    pb::bytes(&mut b, SPAN_SPAN_ID, &cx.span_id().to_bytes());
    pb::string(&mut b, SPAN_TRACE_STATE, &cx.trace_state().header());
    if s.parent_span_id != SpanId::INVALID {
        pb::bytes(&mut b, SPAN_PARENT_SPAN_ID, &s.parent_span_id.to_bytes());
    }
    pb::string(&mut b, SPAN_NAME, &s.name);
    let kind = match s.span_kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    };
    uint(&mut b, SPAN_KIND, kind);
    pb::fixed64(&mut b, SPAN_START, nanos(s.start_time));
    pb::fixed64(&mut b, SPAN_END, nanos(s.end_time));
    key_values(&mut b, SPAN_ATTRIBUTES, &s.attributes);
    uint(
        &mut b,
        SPAN_DROPPED_ATTRIBUTES,
        u64::from(s.dropped_attributes_count),
    );
    for event in s.events.iter() {
        let mut e = Vec::new();
        pb::fixed64(&mut e, EVENT_TIME, nanos(event.timestamp));
        pb::string(&mut e, EVENT_NAME, &event.name);
        key_values(&mut e, EVENT_ATTRIBUTES, &event.attributes);
        uint(
            &mut e,
            EVENT_DROPPED_ATTRIBUTES,
            u64::from(event.dropped_attributes_count),
        );
        pb::bytes(&mut b, SPAN_EVENTS, &e);
    }
    uint(
        &mut b,
        SPAN_DROPPED_EVENTS,
        u64::from(s.events.dropped_count),
    );
    for link in s.links.iter() {
        let lc = &link.span_context;
        let mut l = Vec::new();
        pb::bytes(&mut l, LINK_TRACE_ID, &lc.trace_id().to_bytes());
        pb::bytes(&mut l, LINK_SPAN_ID, &lc.span_id().to_bytes());
        pb::string(&mut l, LINK_TRACE_STATE, &lc.trace_state().header());
        key_values(&mut l, LINK_ATTRIBUTES, &link.attributes);
        uint(
            &mut l,
            LINK_DROPPED_ATTRIBUTES,
            u64::from(link.dropped_attributes_count),
        );
        let remote = if lc.is_remote() { IS_REMOTE } else { 0 };
        fixed32(
            &mut l,
            LINK_FLAGS,
            u32::from(lc.trace_flags().to_u8()) | HAS_IS_REMOTE | remote,
        );
        pb::bytes(&mut b, SPAN_LINKS, &l);
    }
    uint(&mut b, SPAN_DROPPED_LINKS, u64::from(s.links.dropped_count));
    let mut status = Vec::new();
    match &s.status {
        Status::Unset => {}
        Status::Ok => uint(&mut status, STATUS_CODE, 1),
        Status::Error { description } => {
            pb::string(&mut status, STATUS_MESSAGE, description);
            uint(&mut status, STATUS_CODE, 2);
        }
    }
    pb::bytes(&mut b, SPAN_STATUS, &status);
    let remote = if s.parent_span_is_remote {
        IS_REMOTE
    } else {
        0
    };
    fixed32(
        &mut b,
        SPAN_FLAGS,
        u32::from(cx.trace_flags().to_u8()) | HAS_IS_REMOTE | remote,
    );
    b
}

/// One `ExportTraceServiceRequest`: one resource, a `ScopeSpans` per scope (in order
/// of first appearance).
fn encode_request(resource: &[u8], spans: &[(Vec<u8>, &InstrumentationScope)]) -> Vec<u8> {
    let mut scopes: Vec<(&InstrumentationScope, Vec<u8>)> = Vec::new();
    for (span, scope) in spans {
        let i = match scopes.iter().position(|(s, _)| s == scope) {
            Some(i) => i,
            None => {
                let mut head = Vec::new();
                let mut sc = Vec::new();
                pb::string(&mut sc, SCOPE_NAME, scope.name());
                pb::string(&mut sc, SCOPE_VERSION, scope.version().unwrap_or_default());
                key_values(&mut sc, SCOPE_ATTRIBUTES, scope.attributes());
                pb::bytes(&mut head, SCOPE_SPANS_SCOPE, &sc);
                scopes.push((scope, head));
                scopes.len() - 1
            }
        };
        pb::bytes(&mut scopes[i].1, SCOPE_SPANS_SPANS, span);
    }
    let mut rs = resource.to_vec();
    for (scope, mut body) in scopes {
        if let Some(url) = scope.schema_url() {
            pb::string(&mut body, SCOPE_SPANS_SCHEMA_URL, url);
        }
        pb::bytes(&mut rs, RESOURCE_SPANS_SCOPE_SPANS, &body);
    }
    let mut out = Vec::with_capacity(rs.len() + 8);
    pb::bytes(&mut out, REQUEST_RESOURCE_SPANS, &rs);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, TraceFlags, TraceId, TraceState};
    use opentelemetry::Value;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message as _;

    fn span(scope: &'static str, attributes: Vec<KeyValue>) -> SpanData {
        SpanData {
            span_context: SpanContext::new(
                TraceId::from_bytes((0x0102u128).to_be_bytes()),
                SpanId::from_bytes((0x0304u64).to_be_bytes()),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::from_bytes((7u64).to_be_bytes()),
            parent_span_is_remote: true,
            span_kind: SpanKind::Client,
            name: "chat".into(),
            start_time: UNIX_EPOCH + Duration::from_secs(1),
            end_time: UNIX_EPOCH + Duration::from_secs(2),
            attributes,
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: Status::error("boom"),
            instrumentation_scope: InstrumentationScope::builder(scope)
                .with_version("1.2")
                .build(),
        }
    }

    #[test]
    fn default_filter_follows_the_reference() {
        let plain = span("my-app", vec![KeyValue::new("http.method", "GET")]);
        assert!(!is_default_export_span(&plain));
        let gen_ai = span("my-app", vec![KeyValue::new("gen_ai.request.model", "m")]);
        assert!(is_default_export_span(&gen_ai));
        for scope in ["langfuse-sdk", "ai", "openinference.instrumentation.openai"] {
            assert!(is_default_export_span(&span(scope, vec![])), "{scope}");
        }
        for scope in ["aiohttp", "openinferencex", "my.ai"] {
            assert!(!is_default_export_span(&span(scope, vec![])), "{scope}");
        }
    }

    #[test]
    fn requests_decode_as_the_sdk_would_write_them() {
        let a = span(
            "s1",
            vec![KeyValue::new("gen_ai.usage.input_tokens", 12i64)],
        );
        let b = span("s2", vec![KeyValue::new("x", Value::from(1.5))]);
        let c = span("s1", vec![]);
        let resource = encode_resource(
            &Resource::builder_empty()
                .with_attribute(KeyValue::new("service.name", "svc"))
                .build(),
            &[KeyValue::new(attr::ENVIRONMENT, "prod")],
        );
        let encoded: Vec<_> = [&a, &b, &c]
            .iter()
            .map(|s| (encode_span(s), &s.instrumentation_scope))
            .collect();
        let req = ExportTraceServiceRequest::decode(&encode_request(&resource, &encoded)[..])
            .expect("valid protobuf");
        let rs = &req.resource_spans[0];
        let keys: Vec<_> = rs
            .resource
            .as_ref()
            .unwrap()
            .attributes
            .iter()
            .map(|kv| kv.key.as_str())
            .collect();
        assert_eq!(keys, ["service.name", "langfuse.environment"]);
        assert_eq!(rs.scope_spans.len(), 2);
        assert_eq!(rs.scope_spans[0].scope.as_ref().unwrap().name, "s1");
        assert_eq!(rs.scope_spans[0].scope.as_ref().unwrap().version, "1.2");
        assert_eq!(rs.scope_spans[0].spans.len(), 2);
        let s = &rs.scope_spans[0].spans[0];
        assert_eq!(
            s.trace_id,
            TraceId::from_bytes((0x0102u128).to_be_bytes()).to_bytes()
        );
        assert_eq!(
            s.span_id,
            SpanId::from_bytes((0x0304u64).to_be_bytes()).to_bytes()
        );
        assert_eq!(
            s.parent_span_id,
            SpanId::from_bytes((7u64).to_be_bytes()).to_bytes()
        );
        assert_eq!(
            (s.kind, s.start_time_unix_nano, s.end_time_unix_nano),
            (3, 1_000_000_000, 2_000_000_000)
        );
        assert_eq!(s.flags, 0x301);
        let status = s.status.as_ref().unwrap();
        assert_eq!((status.code, status.message.as_str()), (2, "boom"));
        assert_eq!(s.attributes[0].key, "gen_ai.usage.input_tokens");
    }
}
