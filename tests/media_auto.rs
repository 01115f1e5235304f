//! Automatic media (reference §8): data URIs and provider base64 shapes found in the
//! input, output or metadata of an observation (from `#[observe]` capture, builders and
//! updates) are replaced by `@@@langfuseMedia:...@@@` references before export, and
//! their bytes reach the in-process REST server (which validates every media request
//! against the OpenAPI file). `LANGFUSE_MEDIA_UPLOAD_ENABLED=false` keeps values as they
//! are.

mod rest_support;
mod support;

use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use langfuse_tracing::observation::{generation, update_current_generation, GenerationUpdate};
use langfuse_tracing::{observe, LangfuseHandle};
use rest_support::RestServer;
use serde_json::{json, Value};
use support::CapturedSpan;
use tracing_subscriber::prelude::*;

const WAIT: Duration = Duration::from_secs(30);
const OTLP_PATH: &str = "/api/public/otel/v1/traces";

/// The media switch is an environment variable: the tests of this file take turns.
static ENV: Mutex<()> = Mutex::new(());

/// A 1x1 PNG (70 bytes).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn data_uri() -> String {
    format!("data:image/png;base64,{}", b64(PNG))
}

fn openai_messages() -> Value {
    json!([{
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in this image?"},
            {"type": "image_url", "image_url": {"url": data_uri()}}
        ]
    }])
}

#[observe(as_type = "generation")]
fn describe(messages: Value) -> String {
    let _ = messages;
    "A single transparent pixel.".to_owned()
}

/// Runs `f` under a layer sending spans and media to `server`; flushes and shuts down.
fn run(server: &RestServer, f: impl FnOnce()) -> LangfuseHandle {
    let layer = rest_support::layer(server);
    let handle = layer.handle();
    support::run(layer, f);
    assert!(handle.flush_media(WAIT), "the uploads finish");
    handle
}

/// The spans the server received on the OTLP path, decoded from protobuf.
fn otlp_spans(server: &RestServer) -> Vec<CapturedSpan> {
    server
        .requests_to(OTLP_PATH)
        .iter()
        .flat_map(|r| {
            let gzip = r
                .header("content-encoding")
                .is_some_and(|e| e.contains("gzip"));
            let (req, _) = support::decode_export(&r.body, gzip).expect("OTLP protobuf");
            support::flatten_spans(&req)
        })
        .collect()
}

fn span_named(spans: &[CapturedSpan], name: &str) -> CapturedSpan {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name} in {spans:#?}"))
        .clone()
}

fn reference_of(bytes: &[u8]) -> String {
    langfuse_tracing::media::LangfuseMedia::new("image/png", bytes.to_vec())
        .reference()
        .replace("source=bytes", "source=base64_data_uri")
}

#[test]
fn an_observe_generation_input_image_becomes_a_reference_and_is_uploaded() {
    let _env = ENV.lock().unwrap_or_else(|p| p.into_inner());
    std::env::remove_var("LANGFUSE_MEDIA_UPLOAD_ENABLED");
    let server = RestServer::start();
    let handle = run(&server, || {
        describe(openai_messages());
    });
    handle.shutdown().expect("shutdown");
    server.assert_valid();

    let spans = otlp_spans(&server);
    let span = span_named(&spans, "describe");
    let input = span
        .str_attr("langfuse.observation.input")
        .expect("input on the wire");
    assert!(input.contains(&reference_of(PNG)), "{input}");
    assert!(!input.contains(&b64(PNG)), "{input}");
    assert!(input.contains("What is in this image?"), "{input}");

    let media = server.media();
    assert_eq!(media.len(), 1, "{media:#?}");
    let (post, bytes, patch) = &media[0];
    assert_eq!(post["field"], "input");
    assert_eq!(post["contentType"], "image/png");
    assert_eq!(post["contentLength"], PNG.len());
    assert_eq!(post["traceId"], span.trace_id.as_str());
    assert_eq!(post["observationId"], span.span_id.as_str());
    assert_eq!(bytes.as_deref(), Some(PNG));
    assert_eq!(patch.as_ref().expect("patched")["uploadHttpStatus"], 200);
}

/// The global `flush()` (no handle at hand) waits for the uploads too: when it returns,
/// the bytes are uploaded and the upload recorded, even from a slow object storage.
#[test]
fn the_global_flush_waits_for_a_slow_upload() {
    let _env = ENV.lock().unwrap_or_else(|p| p.into_inner());
    std::env::remove_var("LANGFUSE_MEDIA_UPLOAD_ENABLED");
    let server = RestServer::start();
    server.delay_uploads(Duration::from_millis(700));
    let layer = rest_support::layer(&server);
    let handle = layer.handle();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        describe(openai_messages());
    });
    langfuse_tracing::flush().expect("flush");
    let media = server.media();
    assert_eq!(media.len(), 1, "{media:#?}");
    let (_, bytes, patch) = &media[0];
    assert_eq!(
        bytes.as_deref(),
        Some(PNG),
        "uploaded when flush() returned"
    );
    assert!(patch.is_some(), "the upload recorded when flush() returned");
    handle.shutdown().expect("shutdown");
}

#[test]
fn builder_and_update_values_in_provider_shapes_are_replaced() {
    let _env = ENV.lock().unwrap_or_else(|p| p.into_inner());
    std::env::remove_var("LANGFUSE_MEDIA_UPLOAD_ENABLED");
    let server = RestServer::start();
    let pdf = b"%PDF-1.4 tiny".to_vec();
    let wav = b"RIFF....WAVEfmt ".to_vec();
    let handle = run(&server, || {
        let anthropic = json!({"type": "image", "source": {
            "type": "base64", "media_type": "image/png", "data": b64(PNG)}});
        let llm = generation("claude")
            .input(&json!([{"role": "user", "content": [anthropic]}]))
            .start();
        llm.span().in_scope(|| {
            update_current_generation(
                GenerationUpdate::new()
                    .output(&json!({"parts": [{"inline_data": {
                        "mime_type": "application/pdf", "data": b64(&pdf)}}]}))
                    .metadata(
                        "attachment",
                        &json!({"inlineData": {
                        "mimeType": "audio/wav", "data": b64(&wav)}}),
                    ),
            );
        });
        llm.end();
    });
    handle.shutdown().expect("shutdown");
    server.assert_valid();

    let span = span_named(&otlp_spans(&server), "claude");
    let input = span.str_attr("langfuse.observation.input").expect("input");
    let output = span
        .str_attr("langfuse.observation.output")
        .expect("output");
    let meta = span
        .str_attr("langfuse.observation.metadata.attachment")
        .expect("metadata");
    for (text, raw) in [(input, b64(PNG)), (output, b64(&pdf)), (meta, b64(&wav))] {
        assert!(text.contains("@@@langfuseMedia:type="), "{text}");
        assert!(!text.contains(&raw), "{text}");
    }
    // The provider object keeps its other keys.
    assert!(input.contains(r#""media_type": "image/png""#), "{input}");
    let mut fields: Vec<(String, String, usize)> = server
        .media()
        .iter()
        .map(|(post, bytes, _)| {
            assert_eq!(post["traceId"], span.trace_id.as_str());
            assert_eq!(post["observationId"], span.span_id.as_str());
            (
                post["field"].as_str().unwrap_or_default().to_owned(),
                post["contentType"].as_str().unwrap_or_default().to_owned(),
                bytes.as_ref().map_or(0, Vec::len),
            )
        })
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        vec![
            ("input".into(), "image/png".into(), PNG.len()),
            ("metadata".into(), "audio/wav".into(), wav.len()),
            ("output".into(), "application/pdf".into(), pdf.len()),
        ]
    );
}

#[test]
fn ordinary_values_are_left_alone() {
    let _env = ENV.lock().unwrap_or_else(|p| p.into_inner());
    std::env::remove_var("LANGFUSE_MEDIA_UPLOAD_ENABLED");
    let server = RestServer::start();
    let handle = run(&server, || {
        // Mentions the markers but holds no media.
        let g = generation("plain")
            .input(&json!({"note": "base64 is an encoding", "mime_type": 3}))
            .output(&"data:text/plain,not-base64")
            .start();
        g.end();
    });
    handle.shutdown().expect("shutdown");
    let span = span_named(&otlp_spans(&server), "plain");
    assert_eq!(
        span.str_attr("langfuse.observation.input"),
        Some(r#"{"mime_type": 3, "note": "base64 is an encoding"}"#)
    );
    assert_eq!(
        span.str_attr("langfuse.observation.output"),
        Some("data:text/plain,not-base64")
    );
    assert!(server.media().is_empty());
}

#[test]
fn media_upload_disabled_keeps_the_data_uri() {
    let _env = ENV.lock().unwrap_or_else(|p| p.into_inner());
    std::env::set_var("LANGFUSE_MEDIA_UPLOAD_ENABLED", "false");
    let server = RestServer::start();
    let handle = run(&server, || {
        describe(openai_messages());
    });
    std::env::remove_var("LANGFUSE_MEDIA_UPLOAD_ENABLED");
    handle.shutdown().expect("shutdown");
    let span = span_named(&otlp_spans(&server), "describe");
    let input = span.str_attr("langfuse.observation.input").expect("input");
    assert!(input.contains(&data_uri()), "{input}");
    assert!(!input.contains("@@@langfuseMedia"), "{input}");
    assert!(server.media().is_empty());
    assert!(server.requests_to("/api/public/media").is_empty());
}

/// Uploads are bounded by bytes (a quarter of `max_queue_bytes`): with a slow object
/// storage, those beyond the bound are skipped and counted, never queued without
/// bound; every image is uploaded or counted in `dropped_media()`.
#[test]
fn uploads_beyond_their_byte_bound_are_skipped_and_counted() {
    let _env = ENV.lock().unwrap_or_else(|p| p.into_inner());
    std::env::remove_var("LANGFUSE_MEDIA_UPLOAD_ENABLED");
    let server = RestServer::start();
    server.delay_uploads(Duration::from_millis(100));
    let layer = rest_support::layer_builder(&server)
        // Uploads may hold 256 KiB: about 16 of these images. Observations wait for
        // room rather than being dropped, so each image reaches the uploader.
        .max_queue_bytes(1 << 20)
        .queue_full_wait(Duration::from_secs(10))
        .build()
        .unwrap();
    let handle = layer.handle();
    let images: u64 = 100;
    support::run(layer, || {
        for i in 0..images {
            // A distinct image each time (the server asks for each one's bytes once).
            let mut bytes = PNG.to_vec();
            bytes.extend_from_slice(&i.to_be_bytes());
            bytes.resize(16 << 10, 0);
            let uri = format!("data:image/png;base64,{}", b64(&bytes));
            describe(json!([{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": uri}}
            ]}]));
        }
    });
    assert!(handle.flush_media(WAIT), "the uploads finish");
    let uploaded = server.media().iter().filter(|m| m.1.is_some()).count() as u64;
    assert_eq!(handle.dropped_observations(), 0);
    assert!(handle.dropped_media() > 0, "{uploaded} uploaded");
    assert_eq!(uploaded + handle.dropped_media(), images);
    handle.shutdown().expect("shutdown");
}
