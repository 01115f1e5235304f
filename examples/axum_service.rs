//! An `axum` service that already traces with `tower-http`, logs with `fmt` and exports
//! to an OpenTelemetry backend through `tracing-opentelemetry`, with Langfuse added to
//! the same registry: one trace, two backends. Every observation has the same trace id
//! and span id in both, and a request that arrives with a `traceparent` continues its
//! trace in both. The OpenTelemetry backend receives its spans as before.
//!
//! ```text
//! cargo run --example axum_service
//! ```
//!
//! The service listens on 127.0.0.1, sends itself one request carrying a `traceparent`
//! (as an upstream service would), prints the answer and stops. OpenTelemetry spans go
//! to `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (OTLP/HTTP, for example
//! `http://127.0.0.1:4318/v1/traces`) when it is set, else they are printed one a line
//! with their ids; without `LANGFUSE_*` keys Langfuse prints its tree to stderr: the
//! ids are the same. Needs `langfuse-tracing`'s `tracing-opentelemetry` feature.
//! `tests/otel_interop.rs` runs this wiring against two in-process OTLP receivers.

use std::future::IntoFuture;

use axum::body::Body;
use axum::http::Request;
use axum::routing::post;
use axum::Router;
use langfuse_tracing::{observe, update_current_generation, GenerationUpdate, LangfuseLayer};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HeaderExtractor, HttpError, Response};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tower_http::trace::TraceLayer;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{fmt, EnvFilter};

/// The model call: a Langfuse generation, and an ordinary span for OpenTelemetry.
#[observe(as_type = "generation")]
async fn complete(question: String) -> String {
    update_current_generation(
        GenerationUpdate::new()
            .model("gpt-4o-mini")
            .usage_details(&serde_json::json!({"input": 12, "output": 3})),
    );
    tracing::info!("calling the model");
    format!("{question} Paris.")
}

async fn ask(question: String) -> String {
    complete(question).await
}

/// The service: `tower-http` makes one span per request and continues the caller's
/// trace from its `traceparent`, before the span is entered (as `set_parent` requires).
pub fn app() -> Router {
    Router::new()
        .route("/ask", post(ask))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<Body>| {
                let span = tracing::info_span!(
                    "http_request",
                    http.request.method = %request.method(),
                    url.path = request.uri().path(),
                );
                let upstream =
                    TraceContextPropagator::new().extract(&HeaderExtractor(request.headers()));
                let _ = span.set_parent(upstream);
                span
            }),
        )
}

/// One registry: `fmt` logs, Langfuse, then OpenTelemetry (Langfuse added before the
/// OpenTelemetry layer gives identical ids even to spans that are never entered).
pub fn subscriber(
    langfuse: LangfuseLayer,
    otel: &SdkTracerProvider,
) -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::registry()
        .with(fmt::layer().with_writer(std::io::stderr).with_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        ))
        .with(langfuse)
        .with(tracing_opentelemetry::layer().with_tracer(otel.tracer("axum_service")))
}

/// The OpenTelemetry pipeline: OTLP/HTTP to `endpoint` (the full traces URL), else a
/// line per span on stdout.
pub fn otel_provider(endpoint: Option<&str>) -> SdkTracerProvider {
    let builder = SdkTracerProvider::builder();
    match endpoint {
        Some(endpoint) => builder.with_batch_exporter(otlp_exporter(endpoint)).build(),
        None => builder.with_simple_exporter(PrintSpans).build(),
    }
}

/// `opentelemetry-otlp`'s OTLP/HTTP (protobuf) exporter to `endpoint`, with the client below.
pub fn otlp_exporter(endpoint: &str) -> opentelemetry_otlp::SpanExporter {
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
    opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(UreqClient::default())
        .with_endpoint(endpoint)
        .build()
        .expect("OTLP exporter")
}

/// `opentelemetry-otlp`'s HTTP client, over the blocking `ureq` (the exporter runs on
/// the batch processor's own thread).
#[derive(Debug)]
pub struct UreqClient(ureq::Agent);

impl Default for UreqClient {
    fn default() -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build();
        UreqClient(config.into())
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for UreqClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let response = self.0.run(request.map(|body| body.to_vec()))?;
        let (parts, mut body) = response.into_parts();
        Ok(Response::from_parts(parts, body.read_to_vec()?.into()))
    }
}

/// Prints each OpenTelemetry span with its ids (when there is no endpoint).
#[derive(Debug)]
struct PrintSpans;

impl SpanExporter for PrintSpans {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        for span in batch {
            let cx = &span.span_context;
            println!(
                "otel span {} trace={} span={} parent={}",
                span.name,
                cx.trace_id(),
                cx.span_id(),
                span.parent_span_id
            );
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let langfuse = LangfuseLayer::from_env()?;
    let langfuse_handle = langfuse.handle();
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").ok();
    let otel = otel_provider(endpoint.as_deref());
    tracing::subscriber::set_global_default(subscriber(langfuse, &otel))?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/ask", listener.local_addr()?);
    let server = tokio::spawn(axum::serve(listener, app()).into_future());

    // An upstream service's request, in trace 4bf92f35... (its span 00f067aa...).
    let answer = tokio::task::spawn_blocking(move || {
        ureq::post(&url)
            .header(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )
            .send("What is the capital of France?")?
            .body_mut()
            .read_to_string()
    })
    .await??;
    println!("{answer}");

    server.abort();
    otel.shutdown()?;
    langfuse_handle.shutdown()?;
    Ok(())
}
