//! `LangfuseSpanProcessor` on an application's own `opentelemetry_sdk` tracer provider,
//! beside another processor: Langfuse-bound spans reach the in-process OTLP receiver
//! with the Langfuse path, auth and headers; other spans do not; the other processor
//! still sees every span.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use langfuse_tracing::{LangfuseConfig, LangfuseSpanProcessor};
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer, TracerProvider as _};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, Span, SpanData, SpanProcessor};
use opentelemetry_sdk::Resource;
use support::{AttrValue, Receiver};

const PK: &str = "pk-lf-proc";
const SK: &str = "sk-lf-proc-secret";

/// The application's other processor: records every span it is given.
#[derive(Debug, Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl SpanProcessor for Recorder {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}
    fn on_end(&self, span: SpanData) {
        self.0.lock().unwrap().push(span.name.to_string());
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

fn config(receiver: &Receiver) -> LangfuseConfig {
    LangfuseConfig::builder()
        .public_key(PK)
        .secret_key(SK)
        .base_url(receiver.base_url())
        .environment("staging")
        .build()
        .unwrap()
}

#[test]
fn langfuse_spans_reach_langfuse_others_do_not_and_the_other_processor_sees_all() {
    let receiver = Receiver::start();
    let recorder = Recorder::default();
    let provider = SdkTracerProvider::builder()
        .with_resource(
            Resource::builder_empty()
                .with_attribute(KeyValue::new("service.name", "my-app"))
                .build(),
        )
        .with_span_processor(recorder.clone())
        .with_span_processor(LangfuseSpanProcessor::new(config(&receiver)).unwrap())
        .build();

    let app = provider.tracer("my-app");
    let llm = provider.tracer_with_scope(
        InstrumentationScope::builder("opentelemetry.instrumentation.openai")
            .with_version("0.40.0")
            .build(),
    );
    app.in_span("handle request", |cx| {
        let mut chat = app
            .span_builder("chat gpt-4o")
            .with_kind(SpanKind::Client)
            .with_attributes([
                KeyValue::new("gen_ai.operation.name", "chat"),
                KeyValue::new("gen_ai.request.model", "gpt-4o"),
                KeyValue::new("gen_ai.usage.input_tokens", 12i64),
            ])
            .start_with_context(&app, &cx);
        chat.add_event(
            "gen_ai.user.message",
            vec![KeyValue::new("content", "2+2?")],
        );
        chat.set_status(Status::error("rate limited"));
        chat.end();
        let _db = app.start_with_context("db query", &cx);
        let mut scoped = llm.start_with_context("openai.chat", &cx);
        scoped.end();
    });
    provider.force_flush().unwrap();

    let spans = receiver.wait_for_spans(2, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(100));
    let mut names: Vec<_> = receiver.spans().into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(
        names,
        ["chat gpt-4o", "openai.chat"],
        "only Langfuse-bound spans"
    );

    let mut seen = recorder.0.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        ["chat gpt-4o", "db query", "handle request", "openai.chat"],
        "the other processor sees every span"
    );

    let r = &receiver.requests()[0];
    assert_eq!(r.path, "/api/public/otel/v1/traces");
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{PK}:{SK}"))
    );
    assert_eq!(r.header("authorization"), Some(auth.as_str()));
    assert_eq!(r.header("x-langfuse-ingestion-version"), Some("4"));
    assert_eq!(r.header("x-langfuse-public-key"), Some(PK));
    assert_eq!(r.header("x-langfuse-sdk-name"), Some("rust"));
    assert!(r.gzip);

    let chat = spans.iter().find(|s| s.name == "chat gpt-4o").unwrap();
    let scoped = receiver.span_named("openai.chat");
    assert_eq!(chat.scope_name, "my-app");
    assert_eq!(scoped.scope_name, "opentelemetry.instrumentation.openai");
    assert_eq!(scoped.scope_version, "0.40.0");
    assert_eq!(chat.trace_id, scoped.trace_id);
    assert_eq!(chat.parent_span_id, scoped.parent_span_id);
    assert!(
        chat.parent_span_id.is_some(),
        "parent kept even if not exported"
    );
    assert_eq!(chat.kind, 3, "SPAN_KIND_CLIENT");
    assert_eq!(chat.attr("langfuse.observation.type"), None);
    assert_eq!(chat.str_attr("gen_ai.request.model"), Some("gpt-4o"));
    assert_eq!(chat.int_attr("gen_ai.usage.input_tokens"), Some(12));
    assert_eq!(
        (chat.status_code, chat.status_message.as_str()),
        (2, "rate limited")
    );
    let events = chat.events_named("gen_ai.user.message");
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].get("content"),
        Some(&AttrValue::Str("2+2?".into()))
    );
    assert_eq!(
        chat.resource_attributes.get("service.name"),
        Some(&AttrValue::Str("my-app".into()))
    );
    assert_eq!(
        chat.resource_attributes.get("langfuse.environment"),
        Some(&AttrValue::Str("staging".into()))
    );
    provider.shutdown().unwrap();
}

#[test]
fn a_user_filter_replaces_the_default_and_failures_are_counted() {
    let receiver = Receiver::start();
    let processor = LangfuseSpanProcessor::new(config(&receiver))
        .unwrap()
        .with_filter(|span| span.name.starts_with("keep"));
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .build();
    let tracer = provider.tracer("my-app");
    tracer.in_span("keep me", |_| {});
    tracer
        .span_builder("gen_ai but filtered")
        .with_attributes([KeyValue::new("gen_ai.request.model", "m")])
        .start(&tracer)
        .end();
    provider.force_flush().unwrap();
    let spans = receiver.wait_for_spans(1, Duration::from_secs(10));
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name, "keep me");
    provider.shutdown().unwrap();

    // An endpoint that refuses the keys: the spans are counted as dropped.
    let refusing = Receiver::start_with_status(401);
    let processor = Arc::new(LangfuseSpanProcessor::new(config(&refusing)).unwrap());
    #[derive(Debug)]
    struct Shared(Arc<LangfuseSpanProcessor>);
    impl SpanProcessor for Shared {
        fn on_start(&self, span: &mut Span, cx: &Context) {
            self.0.on_start(span, cx)
        }
        fn on_end(&self, span: SpanData) {
            self.0.on_end(span)
        }
        fn force_flush(&self) -> OTelSdkResult {
            self.0.force_flush()
        }
        fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
            self.0.shutdown_with_timeout(timeout)
        }
    }
    let provider = SdkTracerProvider::builder()
        .with_span_processor(Shared(processor.clone()))
        .build();
    let tracer = provider.tracer("my-app");
    for _ in 0..3 {
        tracer
            .span_builder("chat")
            .with_attributes([KeyValue::new("gen_ai.request.model", "m")])
            .start(&tracer)
            .end();
    }
    assert!(
        provider.force_flush().is_err(),
        "a refused export is an error"
    );
    assert_eq!(processor.dropped_spans(), 3);
    let _ = provider.shutdown();
    // After shutdown, spans are refused and counted.
    processor.on_end(gen_ai_span());
    assert_eq!(processor.dropped_spans(), 4);
}

/// A finished, sampled gen_ai span, handed to the processor directly.
fn gen_ai_span() -> SpanData {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    SpanData {
        span_context: SpanContext::new(
            TraceId::from_bytes((1u128).to_be_bytes()),
            SpanId::from_bytes((1u64).to_be_bytes()),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: "late".into(),
        start_time: std::time::SystemTime::now(),
        end_time: std::time::SystemTime::now(),
        attributes: vec![KeyValue::new("gen_ai.request.model", "m")],
        dropped_attributes_count: 0,
        events: Default::default(),
        links: Default::default(),
        status: Status::Unset,
        instrumentation_scope: InstrumentationScope::builder("my-app").build(),
    }
}

/// Spans ended on several threads while the processor shuts down: when the threads are
/// done, every span was delivered or counted in `dropped_spans()`. (One accepted just
/// as the shutdown began could sit behind the shutdown message and vanish uncounted.)
#[test]
fn spans_ended_during_shutdown_are_delivered_or_counted() {
    let receiver = Receiver::start();
    let (threads, per_thread) = (4, 25);
    for trial in 0..100 {
        let processor = Arc::new(LangfuseSpanProcessor::new(config(&receiver)).unwrap());
        let name = format!("trial-{trial}");
        let enders: Vec<_> = (0..threads)
            .map(|_| {
                let processor = processor.clone();
                let name = name.clone();
                std::thread::spawn(move || {
                    for _ in 0..per_thread {
                        let mut span = gen_ai_span();
                        span.name = name.clone().into();
                        processor.on_end(span);
                    }
                })
            })
            .collect();
        let _ = processor.shutdown_with_timeout(Duration::from_secs(10));
        for t in enders {
            t.join().unwrap();
        }
        let delivered = receiver.spans().iter().filter(|s| s.name == name).count() as u64;
        assert_eq!(
            delivered + processor.dropped_spans(),
            (threads * per_thread) as u64,
            "trial {trial}: {delivered} delivered, {} dropped",
            processor.dropped_spans()
        );
    }
}
