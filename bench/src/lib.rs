//! Benchmarks of the Langfuse Rust toolkit against other `tracing`/OpenTelemetry
//! pipelines. Not published; see `BENCHMARKS.md` at the workspace root.
//!
//! This library holds what the criterion benches (`benches/observe.rs`) and the
//! programs (`src/bin/throughput.rs`, `src/bin/memory.rs`) share: the loopback
//! [`receiver`], the measured functions, and the pipelines under test.
//!
//! Every observed function does the same work as [`plain`] (a 40-character `&str` and a
//! `u64` in, a 40-character `String` out) and records the same four things: the input
//! `{"query": "...", "n": 42}` (IO encoding), the output (the string itself), the
//! observation type `generation` and the model name `gpt-4o`.
#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use langfuse_tracing_core::encoding::{encode_io, write_json, write_json_str, JsonStyle};
use langfuse_tracing_core::observation::GenerationUpdate;
use langfuse_tracing_core::{observe, update_current_generation};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};

pub mod receiver;

/// The 40-character query every call gets.
pub const QUERY_40: &str = "Summarise the attached report in 3 lines";
const _: () = assert!(QUERY_40.len() == 40);

/// The integer every call gets.
pub const N: u64 = 42;

/// A 4 KiB query (the large-payload variants: 4 KiB in, 4 KiB out).
pub fn query_4k() -> String {
    QUERY_40.repeat(103)[..4096].to_owned()
}

/// Attribute keys of the Langfuse vocabulary, as the OpenTelemetry pipelines write them.
pub mod keys {
    /// Observation type.
    pub const TYPE: &str = "langfuse.observation.type";
    /// Model name.
    pub const MODEL: &str = "langfuse.observation.model.name";
    /// IO-encoded input.
    pub const INPUT: &str = "langfuse.observation.input";
    /// IO-encoded output.
    pub const OUTPUT: &str = "langfuse.observation.output";
}

/// The work of every measured function: `query` upper-cased (40 bytes copied and mapped).
#[inline(always)]
fn answer(query: &str, n: u64) -> String {
    let mut out = query.to_ascii_uppercase();
    if n % 2 == 1 {
        out.make_ascii_lowercase();
    }
    out
}

/// Scenario a: the plain function.
#[inline(never)]
pub fn plain(query: &str, n: u64) -> String {
    answer(query, n)
}

/// The input object `{"query": "...", "n": 42}` in the IO encoding, as `#[observe]`
/// writes it.
#[inline]
pub fn input_json(query: &str, n: u64) -> String {
    let style = JsonStyle::Io;
    let (item, key) = style.separators();
    let mut s = String::with_capacity(query.len() + 24);
    s.push('{');
    write_json_str(&mut s, "query", style);
    s.push_str(key);
    write_json_str(&mut s, query, style);
    s.push_str(item);
    write_json_str(&mut s, "n", style);
    s.push_str(key);
    write_json(&mut s, &n, style);
    s.push('}');
    s
}

/// Scenario e': the plain function plus building the input and output strings, no
/// tracing (the floor any pipeline that records them pays).
#[inline(never)]
pub fn floor(query: &str, n: u64) -> (String, String, String) {
    let input = input_json(query, n);
    let out = answer(query, n);
    let output = encode_io(out.as_str());
    (out, input, output)
}

/// Scenarios b and c: `#[observe]`, model set through `update_current_generation`.
#[observe(as_type = "generation")]
#[inline(never)]
pub fn observed(query: &str, n: u64) -> String {
    update_current_generation(GenerationUpdate::new().model("gpt-4o"));
    answer(query, n)
}

/// Scenario b without the model update: `#[observe]` around the plain body, the
/// macro's own cost.
#[observe(as_type = "generation")]
#[inline(never)]
pub fn observed_bare(query: &str, n: u64) -> String {
    answer(query, n)
}

/// Scenario b's reference: `#[tracing::instrument]` around the plain body with the same
/// span name and type field, no subscriber installed (what `tracing` itself costs when
/// nothing listens).
#[tracing::instrument(level = "info", skip_all, fields(langfuse.observation.type = "generation"))]
#[inline(never)]
pub fn instrumented_bare(query: &str, n: u64) -> String {
    answer(query, n)
}

/// Scenario c, hand-written: the span `#[observe]` creates, with the model declared as a
/// static field (no `update_current_generation` lookup), input and output set through
/// `langfuse_tracing_core::__private`.
#[inline(never)]
pub fn observed_manual(query: &str, n: u64) -> String {
    use langfuse_tracing_core::__private::{is_recording, set_input, set_output};
    let span = tracing::info_span!(
        "observed_manual",
        langfuse.observation.type = "generation",
        langfuse.observation.model.name = "gpt-4o",
        langfuse.observation.input = tracing::field::Empty,
        langfuse.observation.output = tracing::field::Empty,
    );
    let _entered = span.enter();
    let recording = is_recording(&span);
    if recording {
        set_input(&span, input_json(query, n));
    }
    let out = answer(query, n);
    if recording {
        set_output(&span, encode_io(out.as_str()));
    }
    out
}

/// The root of the tight loop (scenario g, c-style): an observation with 100 children.
#[observe]
#[inline(never)]
pub fn observed_root(query: &str, n: u64) -> String {
    let mut last = String::new();
    for i in 0..100 {
        last = observed(query, n + i);
    }
    last
}

/// The tree-shape benchmark's chain: a root whose 100 generations are nested each in
/// the one before (the deep counterpart of [`observed_root`]: the same 101 observations,
/// each generation with its input, model update and output).
#[observe]
#[inline(never)]
pub fn observed_chain_root(query: &str, n: u64) -> String {
    observed_link(query, n, 99)
}

/// One generation of the chain; the `depth` below it are its descendants.
#[observe(as_type = "generation")]
#[inline(never)]
pub fn observed_link(query: &str, n: u64, depth: u64) -> String {
    update_current_generation(GenerationUpdate::new().model("gpt-4o"));
    if depth == 0 {
        return answer(query, n);
    }
    observed_link(query, n + 1, depth - 1)
}

/// A query of `bytes` bytes (the payload-size benchmark: that much in, that much out).
pub fn query_of(bytes: usize) -> String {
    QUERY_40.repeat(bytes / QUERY_40.len() + 1)[..bytes].to_owned()
}

/// Scenario d: `#[tracing::instrument]`, the same four values as span attributes.
#[tracing::instrument(
    level = "info",
    skip_all,
    fields(
        langfuse.observation.type = "generation",
        langfuse.observation.model.name = "gpt-4o",
        langfuse.observation.input = tracing::field::Empty,
        langfuse.observation.output = tracing::field::Empty,
    )
)]
#[inline(never)]
pub fn instrumented(query: &str, n: u64) -> String {
    let span = tracing::Span::current();
    span.record(keys::INPUT, input_json(query, n).as_str());
    let out = answer(query, n);
    span.record(keys::OUTPUT, encode_io(out.as_str()).as_str());
    out
}

/// The root of the tight loop (scenario g, d-style).
#[tracing::instrument(
    level = "info",
    skip_all,
    fields(
        langfuse.observation.type = "span",
        langfuse.observation.input = tracing::field::Empty,
        langfuse.observation.output = tracing::field::Empty,
    )
)]
#[inline(never)]
pub fn instrumented_root(query: &str, n: u64) -> String {
    let span = tracing::Span::current();
    span.record(keys::INPUT, input_json(query, n).as_str());
    let mut last = String::new();
    for i in 0..100 {
        last = instrumented(query, n + i);
    }
    span.record(keys::OUTPUT, encode_io(last.as_str()).as_str());
    last
}

/// Scenario e: `fastrace`'s `#[trace]`, the same four values as properties.
#[fastrace::trace]
#[inline(never)]
pub fn traced(query: &str, n: u64) -> String {
    let input = input_json(query, n);
    let out = answer(query, n);
    let output = encode_io(out.as_str());
    fastrace::local::LocalSpan::add_properties(|| {
        [
            (keys::TYPE, Cow::Borrowed("generation")),
            (keys::MODEL, Cow::Borrowed("gpt-4o")),
            (keys::INPUT, Cow::Owned(input)),
            (keys::OUTPUT, Cow::Owned(output)),
        ]
    });
    out
}

/// The root of the tight loop (scenario g, e-style): a fastrace root span with 100
/// `#[trace]` children.
#[inline(never)]
pub fn traced_root(query: &str, n: u64) -> String {
    use fastrace::prelude::*;
    let root = Span::root("traced_root", SpanContext::random());
    let _guard = root.set_local_parent();
    let input = input_json(query, n);
    let mut last = String::new();
    for i in 0..100 {
        last = traced(query, n + i);
    }
    let output = encode_io(last.as_str());
    root.add_properties(|| {
        [
            (keys::TYPE, Cow::Borrowed("span")),
            (keys::INPUT, Cow::Owned(input)),
            (keys::OUTPUT, Cow::Owned(output)),
        ]
    });
    last
}

/// The async twins used by the throughput program: a request with 100 awaited children.
pub mod tasks {
    use super::*;

    /// One child: `#[observe]` on an `async fn`.
    #[observe(as_type = "generation")]
    pub async fn observed_child(query: &str, n: u64) -> String {
        update_current_generation(GenerationUpdate::new().model("gpt-4o"));
        answer(query, n)
    }

    /// One request: a root observation awaiting `children` children, yielding to the
    /// scheduler every 25 so tasks interleave across worker threads.
    #[observe]
    pub async fn observed_request(query: &str, n: u64, children: u64) -> String {
        let mut last = String::new();
        for i in 0..children {
            last = observed_child(query, n + i).await;
            if i % 25 == 24 {
                tokio::task::yield_now().await;
            }
        }
        last
    }

    /// One child: `#[tracing::instrument]` on an `async fn` (scenario d's pipeline).
    #[tracing::instrument(
        level = "info",
        skip_all,
        fields(
            langfuse.observation.type = "generation",
            langfuse.observation.model.name = "gpt-4o",
            langfuse.observation.input = tracing::field::Empty,
            langfuse.observation.output = tracing::field::Empty,
        )
    )]
    pub async fn instrumented_child(query: &str, n: u64) -> String {
        let span = tracing::Span::current();
        span.record(keys::INPUT, input_json(query, n).as_str());
        let out = answer(query, n);
        span.record(keys::OUTPUT, encode_io(out.as_str()).as_str());
        out
    }

    /// One request with `#[tracing::instrument]`.
    #[tracing::instrument(
        level = "info",
        skip_all,
        fields(
            langfuse.observation.type = "span",
            langfuse.observation.input = tracing::field::Empty,
            langfuse.observation.output = tracing::field::Empty,
        )
    )]
    pub async fn instrumented_request(query: &str, n: u64, children: u64) -> String {
        let span = tracing::Span::current();
        span.record(keys::INPUT, input_json(query, n).as_str());
        let mut last = String::new();
        for i in 0..children {
            last = instrumented_child(query, n + i).await;
            if i % 25 == 24 {
                tokio::task::yield_now().await;
            }
        }
        span.record(keys::OUTPUT, encode_io(last.as_str()).as_str());
        last
    }

    /// Boxes either request future, so a driver can pick the pipeline at run time.
    pub fn request(
        otel: bool,
        query: &'static str,
        n: u64,
        children: u64,
    ) -> std::pin::Pin<Box<dyn Future<Output = String> + Send>> {
        if otel {
            Box::pin(instrumented_request(query, n, children))
        } else {
            Box::pin(observed_request(query, n, children))
        }
    }
}

/// A `SpanExporter` that counts and discards: isolates the layer's own cost.
#[derive(Clone, Debug, Default)]
pub struct NoopExporter {
    spans: Arc<AtomicU64>,
}

impl NoopExporter {
    /// Spans received so far.
    pub fn spans(&self) -> u64 {
        self.spans.load(Ordering::Relaxed)
    }
}

impl SpanExporter for NoopExporter {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        self.spans.fetch_add(batch.len() as u64, Ordering::Relaxed);
        drop(batch);
        std::future::ready(Ok(()))
    }
}

/// Splits each export into requests of at most `chunk` spans. `fastrace`'s reporter
/// hands the exporter everything collected since the last report (hundreds of thousands
/// of spans in a tight loop), which `opentelemetry-otlp` refuses to send as one request
/// over 64 MiB: without this wrapper the fastrace pipeline loses almost every span.
#[derive(Debug)]
pub struct Chunked<E> {
    inner: E,
    chunk: usize,
}

impl<E> Chunked<E> {
    /// Wraps `inner`, `chunk` spans per request.
    pub fn new(inner: E, chunk: usize) -> Self {
        Chunked {
            inner,
            chunk: chunk.max(1),
        }
    }
}

impl<E: SpanExporter> SpanExporter for Chunked<E> {
    async fn export(&self, mut batch: Vec<SpanData>) -> OTelSdkResult {
        let mut result = Ok(());
        while !batch.is_empty() {
            let rest = batch.split_off(batch.len().min(self.chunk));
            if let Err(e) = self.inner.export(batch).await {
                result = Err(e);
            }
            batch = rest;
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: std::time::Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

/// The pipelines under test.
pub mod pipelines {
    use super::*;
    use langfuse_tracing::{LangfuseHandle, LangfuseLayer};
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
    use tracing::Dispatch;
    use tracing_subscriber::prelude::*;

    /// Our layer exporting to a Langfuse-compatible base URL (gzip, defaults otherwise).
    pub fn langfuse_layer(base_url: &str) -> LangfuseLayer {
        langfuse_builder(base_url).build().expect("langfuse layer")
    }

    /// Our layer to the receiver, waiting for room when the queue is full instead of
    /// dropping (`queue_full_wait`): the calling thread slows to the export's pace.
    pub fn langfuse_layer_lossless(base_url: &str) -> LangfuseLayer {
        langfuse_builder(base_url)
            .queue_full_wait(std::time::Duration::MAX)
            .build()
            .expect("langfuse layer")
    }

    fn langfuse_builder(base_url: &str) -> langfuse_tracing::LayerBuilder {
        LangfuseLayer::builder()
            .public_key("pk-lf-bench")
            .secret_key("sk-lf-bench")
            .base_url(base_url)
            .console(false)
    }

    /// Our layer with the discarding exporter.
    pub fn langfuse_layer_noop(exporter: NoopExporter) -> LangfuseLayer {
        LangfuseLayer::builder()
            .exporter(exporter)
            .build()
            .expect("langfuse layer")
    }

    /// A dispatcher with only our layer, and its handle.
    pub fn langfuse_dispatch(layer: LangfuseLayer) -> (Dispatch, LangfuseHandle) {
        let handle = layer.handle();
        (
            Dispatch::new(tracing_subscriber::registry().with(layer)),
            handle,
        )
    }

    /// The OTLP/HTTP protobuf exporter of `opentelemetry-otlp` 0.33, gzip.
    pub fn otlp_exporter(traces_url: &str) -> opentelemetry_otlp::SpanExporter {
        opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(traces_url)
            .with_compression(opentelemetry_otlp::Compression::Gzip)
            .build()
            .expect("otlp exporter")
    }

    /// Scenario d's provider: the default batch span processor (2,048-span queue).
    pub fn otel_provider(traces_url: &str) -> SdkTracerProvider {
        SdkTracerProvider::builder()
            .with_batch_exporter(otlp_exporter(traces_url))
            .build()
    }

    /// Scenario d with a queue large enough to lose nothing (1,048,576 spans), for the
    /// comparison at equal delivery; everything else default.
    pub fn otel_provider_lossless(traces_url: &str) -> SdkTracerProvider {
        use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor};
        let processor = BatchSpanProcessor::builder(otlp_exporter(traces_url))
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_max_queue_size(1 << 20)
                    .build(),
            )
            .build();
        SdkTracerProvider::builder()
            .with_span_processor(processor)
            .build()
    }

    /// A dispatcher with `tracing-opentelemetry` 0.34 over `provider`.
    pub fn otel_dispatch(provider: &SdkTracerProvider) -> Dispatch {
        let tracer = provider.tracer("langfuse-bench");
        Dispatch::new(
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer)),
        )
    }

    /// Installs fastrace's OpenTelemetry reporter (process-wide, once), its exports split
    /// into requests of 512 spans (see [`Chunked`]).
    pub fn install_fastrace(traces_url: &str) {
        let reporter = fastrace_opentelemetry::OpenTelemetryReporter::new(
            Chunked::new(otlp_exporter(traces_url), 512),
            Cow::Owned(opentelemetry_sdk::Resource::builder().build()),
            opentelemetry::InstrumentationScope::builder("langfuse-bench").build(),
        );
        fastrace::set_reporter(reporter, fastrace::collector::Config::default());
    }
}
