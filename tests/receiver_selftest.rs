//! Self-test of the test receiver in `tests/support`: it must decode a real gzip'd
//! OTLP/HTTP protobuf request.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use flate2::write::GzEncoder;
use flate2::Compression;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use support::{AttrValue, Receiver};

const PATH: &str = "/api/public/otel/v1/traces";

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn str_value(s: &str) -> any_value::Value {
    any_value::Value::StringValue(s.to_string())
}

/// Minimal HTTP/1.1 POST over a raw TCP stream; returns the whole response text.
fn post(base_url: &str, path: &str, extra_headers: &[(&str, &str)], body: &[u8]) -> String {
    let host = base_url.strip_prefix("http://").expect("http base url");
    let mut stream = TcpStream::connect(host).expect("connect to receiver");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in extra_headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    stream.flush().unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read response");
    String::from_utf8_lossy(&response).into_owned()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn sample_request() -> ExportTraceServiceRequest {
    let span = Span {
        trace_id: (1u8..=16).collect(),
        span_id: vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0xff],
        name: "generation".to_string(),
        kind: 1,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_500_000_000,
        attributes: vec![
            kv("langfuse.observation.type", str_value("generation")),
            kv("gen_ai.usage.input_tokens", any_value::Value::IntValue(42)),
            kv(
                "langfuse.trace.tags",
                any_value::Value::ArrayValue(ArrayValue {
                    values: vec![
                        AnyValue {
                            value: Some(str_value("a")),
                        },
                        AnyValue {
                            value: Some(str_value("b")),
                        },
                    ],
                }),
            ),
        ],
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", str_value("selftest"))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "langfuse-sdk".to_string(),
                    version: "0.1.0".to_string(),
                    ..Default::default()
                }),
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn decodes_gzipped_protobuf_request() {
    let receiver = Receiver::start();
    let raw = sample_request().encode_to_vec();
    let body = gzip(&raw);

    let response = post(
        &receiver.base_url(),
        PATH,
        &[
            ("Content-Encoding", "gzip"),
            ("Content-Type", "application/x-protobuf"),
        ],
        &body,
    );
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "unexpected response: {response}"
    );
    assert!(
        response
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{response}"
    );
    assert!(response.ends_with("{}"), "{response}");

    let spans = receiver.wait_for_spans(1, Duration::from_secs(5));
    assert_eq!(spans.len(), 1);
    assert_eq!(receiver.request_count(), 1);

    let requests = receiver.requests();
    let req = &requests[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, PATH);
    assert!(req.gzip);
    assert_eq!(req.header("content-encoding"), Some("gzip"));
    assert_eq!(req.header("Content-Type"), Some("application/x-protobuf"));
    assert_eq!(req.raw_body_len, body.len());
    assert_eq!(req.decoded_body_len, raw.len());
    assert_eq!(req.request, sample_request());

    let span = receiver.span_named("generation");
    assert_eq!(span.trace_id, "0102030405060708090a0b0c0d0e0f10");
    assert_eq!(span.span_id, "deadbeef000102ff");
    assert_eq!(span.parent_span_id, None);
    assert_eq!(span.kind, 1);
    assert_eq!(span.start_time_unix_nano, 1_700_000_000_000_000_000);
    assert_eq!(span.end_time_unix_nano, 1_700_000_000_500_000_000);
    assert_eq!(span.scope_name, "langfuse-sdk");
    assert_eq!(span.scope_version, "0.1.0");
    assert_eq!(
        span.resource_attributes.get("service.name"),
        Some(&AttrValue::Str("selftest".into()))
    );
    assert_eq!(
        span.str_attr("langfuse.observation.type"),
        Some("generation")
    );
    assert_eq!(
        span.attr("gen_ai.usage.input_tokens"),
        Some(&AttrValue::Int(42))
    );
    assert_eq!(span.str_attr("gen_ai.usage.input_tokens"), None);
    assert_eq!(
        span.attr("langfuse.trace.tags"),
        Some(&AttrValue::Array(vec![
            AttrValue::Str("a".into()),
            AttrValue::Str("b".into())
        ]))
    );
    assert_eq!(
        span.langfuse_keys(),
        vec![
            "gen_ai.usage.input_tokens",
            "langfuse.observation.type",
            "langfuse.trace.tags"
        ]
    );
}

#[test]
fn corrupted_gzip_body_is_recorded_and_answered_400() {
    let receiver = Receiver::start();
    let mut body = gzip(&sample_request().encode_to_vec());
    // Break the gzip magic and the deflate stream.
    body[0] ^= 0xff;
    let mid = body.len() / 2;
    body[mid] ^= 0xff;

    let response = post(
        &receiver.base_url(),
        PATH,
        &[
            ("Content-Encoding", "gzip"),
            ("Content-Type", "application/x-protobuf"),
        ],
        &body,
    );
    assert!(
        response.starts_with("HTTP/1.1 400"),
        "unexpected response: {response}"
    );

    let requests = receiver.wait_for_requests(1, Duration::from_secs(5));
    assert_eq!(requests.len(), 1);
    assert!(requests[0].gzip);
    assert_eq!(requests[0].raw_body_len, body.len());
    assert_eq!(requests[0].request, ExportTraceServiceRequest::default());
    assert!(receiver.spans().is_empty());
}

#[test]
fn fixed_status_and_sync_use_inside_tokio() {
    let receiver = Receiver::start_with_status(503);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let base = receiver.base_url();
    let response = rt.block_on(async move {
        tokio::task::spawn_blocking(move || {
            post(
                &base,
                "/anything",
                &[("Content-Type", "application/x-protobuf")],
                &sample_request().encode_to_vec(),
            )
        })
        .await
        .unwrap()
    });
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    // Still decoded and captured.
    assert_eq!(receiver.wait_for_spans(1, Duration::from_secs(5)).len(), 1);
    assert!(!receiver.requests()[0].gzip);
    drop(receiver);
}

#[tokio::test]
async fn usable_and_droppable_inside_tokio_test() {
    let receiver = Receiver::start();
    let base = receiver.base_url();
    let response = tokio::task::spawn_blocking(move || {
        post(&base, "/x", &[], &sample_request().encode_to_vec())
    })
    .await
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert_eq!(receiver.span_named("generation").scope_name, "langfuse-sdk");
    drop(receiver);
}

#[test]
fn drop_does_not_hang_on_open_keep_alive_connection() {
    let receiver = Receiver::start();
    let host = receiver
        .base_url()
        .trim_start_matches("http://")
        .to_string();
    let mut stream = TcpStream::connect(&host).unwrap();
    let body = sample_request().encode_to_vec();
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body).unwrap();
    assert_eq!(receiver.wait_for_spans(1, Duration::from_secs(5)).len(), 1);
    let started = std::time::Instant::now();
    drop(receiver);
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(stream);
}
