//! The direct encoder against the SDK path it replaces: `Converter::convert` then
//! opentelemetry-proto's own conversion, decoded and compared field by field, then
//! byte for byte.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use langfuse_tracing_core::__layer::state::{
    AttrValue, GenerationFields, ObservationState, TraceFields,
};
use langfuse_tracing_core::propagation::PropagatedAttributes;
use langfuse_tracing_core::{Level, ObservationType};
use opentelemetry::KeyValue;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use prost::Message as _;

use super::encode::RequestEncoder;
use super::gzip::Gzip;
use super::transport::tests::{response, ScriptedServer};
use super::wire as pb;
use super::*;
use crate::convert::Converter;

fn config() -> LangfuseConfig {
    LangfuseConfig::builder()
        .public_key("pk-lf-test")
        .secret_key("sk-lf-test")
        .environment("production")
        .release("r1")
        .build()
        .expect("valid config")
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs) + Duration::from_nanos(123)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, s)| (k.to_string(), s.to_string()))
        .collect()
}

/// A state with the ids and times every case needs (an explicit end: `now` differs
/// between two conversions).
fn state(span_id: u64, parent: Option<u64>) -> ObservationState {
    let mut st = ObservationState::new(0x0af7651916cd43dd8448eb211c80319c, span_id, parent, true);
    st.start_time = at(0);
    st.end_time = Some(at(1));
    st
}

fn propagated() -> Arc<PropagatedAttributes> {
    Arc::new(PropagatedAttributes {
        user_id: Some("prop-user".into()),
        session_id: Some("prop-session".into()),
        version: Some("prop-v".into()),
        trace_name: Some("prop-trace".into()),
        environment: Some("staging".into()),
        tags: strings(&["a", "b", "a"]),
        metadata: pairs(&[("k1", "\"p1\""), ("k2", "\"p2\"")]),
        prompt: Some(("prop-prompt".into(), 3)),
        baggage: pairs(&[("not", "sent")]),
    })
}

fn generation() -> GenerationFields {
    GenerationFields {
        model: Some("gpt-4o".into()),
        model_parameters: Some("{\"temperature\":0}".into()),
        usage_details: Some("{\"input\":3}".into()),
        cost_details: Some("{\"total\":0.1}".into()),
        completion_start_time: Some("\"2024-01-01T00:00:00Z\"".into()),
        prompt: Some(("own-prompt".into(), 7)),
    }
}

/// One state per case: each attribute kind, each precedence rule, each span field.
fn cases() -> Vec<ObservationState> {
    let mut all = Vec::new();

    // Bare root: defaults only (client environment and release), name "observation".
    all.push(state(1, None));

    // Everything on a generation: trace fields over propagated ones, own prompt.
    let mut st = state(2, Some(1));
    st.name = Some(Cow::Borrowed("llm-call"));
    st.as_type = ObservationType::Generation;
    st.input = Some("\"in\"".into());
    st.output = Some("{\"out\":1}".into());
    st.level = Some(Level::Warning);
    st.status_message = Some("careful".into());
    st.version = Some("own-v".into());
    st.environment = Some("ignored-when-propagated".into());
    st.release = Some("own-release".into());
    st.metadata = pairs(&[("m1", "1"), ("m2", "\"two\"")]);
    st.metadata_value = Some("[1,2]".into());
    st.generation = Some(generation());
    st.trace = Some(Box::new(TraceFields {
        name: Some("own-trace".into()),
        user_id: Some("own-user".into()),
        session_id: None,
        tags: strings(&["b", "c", "c"]),
        metadata: pairs(&[("k2", "\"own2\""), ("k3", "\"own3\"")]),
        public: true,
        input: Some("\"trace-in\"".into()),
        output: Some("\"trace-out\"".into()),
    }));
    st.propagated = Some(propagated());
    st.as_root = true;
    st.is_app_root = true;
    st.extra = vec![
        (
            Cow::Borrowed("gen_ai.system"),
            AttrValue::Str("openai".into()),
        ),
        (Cow::Owned("owned.key".into()), AttrValue::Bool(false)),
        (Cow::Borrowed("int"), AttrValue::I64(-42)),
        (Cow::Borrowed("zero"), AttrValue::I64(0)),
        (Cow::Borrowed("float"), AttrValue::F64(0.25)),
        (Cow::Borrowed("nan"), AttrValue::F64(f64::NAN)),
        (
            Cow::Borrowed("list"),
            AttrValue::StrArray(strings(&["x", "", "x"])),
        ),
        (Cow::Borrowed("empty.list"), AttrValue::StrArray(Vec::new())),
        (Cow::Borrowed("empty.string"), AttrValue::Str(String::new())),
    ];
    all.push(st);

    // Generation fields on a non-generation type are dropped; the propagated prompt stays.
    let mut st = state(3, Some(2));
    st.as_type = ObservationType::Tool;
    st.generation = Some(generation());
    st.propagated = Some(propagated());
    all.push(st);

    // An embedding without its own prompt takes the propagated one.
    let mut st = state(4, Some(2));
    st.as_type = ObservationType::Embedding;
    st.generation = Some(GenerationFields {
        model: Some("text-embedding-3".into()),
        ..Default::default()
    });
    st.propagated = Some(propagated());
    all.push(st);

    // An empty prompt name is not sent; own trace tags alone; trace fields without a
    // propagated scope.
    let mut st = state(5, Some(2));
    st.as_type = ObservationType::Generation;
    st.generation = Some(GenerationFields {
        prompt: Some((String::new(), 1)),
        ..Default::default()
    });
    st.trace = Some(Box::new(TraceFields {
        session_id: Some("s".into()),
        tags: strings(&["t", "t"]),
        metadata: pairs(&[("a", "1"), ("a", "2")]),
        ..Default::default()
    }));
    all.push(st);

    // Error: status ERROR with the message; an error without a message.
    let mut st = state(6, Some(2));
    st.set_error("boom: ünïcode".into());
    all.push(st);
    let mut st = state(7, Some(2));
    st.level = Some(Level::Error);
    all.push(st);

    // An end before the start ends at the start; an empty name; a zero parent id; an
    // event; a start before the epoch.
    let mut st = state(8, Some(0));
    st.end_time = Some(at(0) - Duration::from_secs(5));
    st.name = Some(Cow::Owned(String::new()));
    st.as_type = ObservationType::Event;
    st.level = Some(Level::Debug);
    all.push(st);
    let mut st = state(9, Some(u64::MAX));
    st.start_time = UNIX_EPOCH - Duration::from_secs(1);
    st.end_time = Some(UNIX_EPOCH - Duration::from_secs(1));
    all.push(st);

    // A propagated scope with empty tags and metadata only.
    let mut st = state(10, None);
    st.propagated = Some(Arc::new(PropagatedAttributes {
        metadata: pairs(&[("only", "1")]),
        ..Default::default()
    }));
    all.push(st);
    all
}

fn resource() -> Resource {
    Resource::builder_empty()
        .with_attributes([
            KeyValue::new("service.name", "svc"),
            KeyValue::new("langfuse.environment", "production"),
            KeyValue::new("count", 3_i64),
            KeyValue::new("ratio", 0.5),
            KeyValue::new("flag", true),
            KeyValue::new(
                "langs",
                opentelemetry::Value::Array(
                    vec![opentelemetry::StringValue::from("en"), "fr".into()].into(),
                ),
            ),
            KeyValue::new("ints", opentelemetry::Value::Array(vec![1_i64, 2].into())),
        ])
        .with_schema_url(
            Vec::<KeyValue>::new(),
            "https://opentelemetry.io/schemas/1.0.0",
        )
        .build()
}

/// What the SDK path sends for `states`.
fn sdk_request(
    config: &LangfuseConfig,
    resource: &Resource,
    states: &[ObservationState],
) -> ExportTraceServiceRequest {
    let converter = Converter::new(config);
    let spans = states
        .iter()
        .map(|st| converter.convert(&mut st.clone()))
        .collect();
    let resource = ResourceAttributesWithSchema::from(resource);
    ExportTraceServiceRequest {
        resource_spans: group_spans_by_resource_and_scope(spans, &resource),
    }
}

/// What the direct encoder writes for `states`, uncompressed.
fn direct_body(
    config: &LangfuseConfig,
    resource: &Resource,
    states: &[ObservationState],
) -> Vec<u8> {
    let defaults = Defaults {
        environment: config.environment.clone(),
        release: config.release.clone(),
    };
    let mut encoder = RequestEncoder::new(resource, config.public_key.as_deref(), defaults);
    let batch: Vec<ObservationState> = states.to_vec();
    encoder.encode_spans(&batch);
    let all = 0..encoder.spans.len();
    encoder.request(all).concat()
}

/// NaN != NaN: a NaN double becomes a string of its bits, so two NaNs compare equal
/// exactly when their bits do.
fn normalized(mut req: ExportTraceServiceRequest) -> ExportTraceServiceRequest {
    for rs in &mut req.resource_spans {
        for ss in &mut rs.scope_spans {
            for span in &mut ss.spans {
                for kv in &mut span.attributes {
                    if let Some(AnyValue { value: Some(v) }) = &mut kv.value {
                        if let any_value::Value::DoubleValue(d) = *v {
                            if d.is_nan() {
                                *v =
                                    any_value::Value::StringValue(format!("NaN {:x}", d.to_bits()));
                            }
                        }
                    }
                }
            }
        }
    }
    req
}

#[test]
fn direct_encoding_equals_the_sdk_path_field_by_field() {
    let (config, resource) = (config(), resource());
    let states = cases();
    let expected = normalized(sdk_request(&config, &resource, &states));
    let body = direct_body(&config, &resource, &states);
    let got = normalized(ExportTraceServiceRequest::decode(body.as_slice()).expect("decodes"));

    assert_eq!(got.resource_spans.len(), 1);
    let (g, e) = (&got.resource_spans[0], &expected.resource_spans[0]);
    assert_eq!(g.resource, e.resource, "resource");
    assert_eq!(g.schema_url, e.schema_url, "resource schema url");
    assert_eq!(g.scope_spans.len(), 1);
    let (g, e) = (&g.scope_spans[0], &e.scope_spans[0]);
    assert_eq!(g.scope, e.scope, "scope");
    assert_eq!(g.schema_url, e.schema_url, "scope schema url");
    assert_eq!(g.spans.len(), states.len());
    for (i, (g, e)) in g.spans.iter().zip(&e.spans).enumerate() {
        assert_eq!(g.trace_id, e.trace_id, "case {i}: trace_id");
        assert_eq!(g.span_id, e.span_id, "case {i}: span_id");
        assert_eq!(
            g.parent_span_id, e.parent_span_id,
            "case {i}: parent_span_id"
        );
        assert_eq!(g.trace_state, e.trace_state, "case {i}: trace_state");
        assert_eq!(g.flags, e.flags, "case {i}: flags");
        assert_eq!(g.name, e.name, "case {i}: name");
        assert_eq!(g.kind, e.kind, "case {i}: kind");
        assert_eq!(
            g.start_time_unix_nano, e.start_time_unix_nano,
            "case {i}: start"
        );
        assert_eq!(g.end_time_unix_nano, e.end_time_unix_nano, "case {i}: end");
        let keys = |s: &opentelemetry_proto::tonic::trace::v1::Span| {
            s.attributes
                .iter()
                .map(|kv| kv.key.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(g), keys(e), "case {i}: attribute keys and order");
        for (ga, ea) in g.attributes.iter().zip(&e.attributes) {
            assert_eq!(ga, ea, "case {i}: attribute {}", ea.key);
        }
        assert_eq!(g.status, e.status, "case {i}: status");
        assert_eq!(g, e, "case {i}: the whole span");
    }
    assert_eq!(got, expected);
}

#[test]
fn direct_encoding_equals_the_sdk_path_byte_for_byte() {
    let (config, resource) = (config(), resource());
    let states = cases();
    // NaN aside (prost writes the same bits), the SDK's own encoding is the reference.
    let expected = sdk_request(&config, &resource, &states).encode_to_vec();
    assert_eq!(direct_body(&config, &resource, &states), expected);
    // One span at a time too (each message's length prefix on its own).
    for st in &states {
        let one = std::slice::from_ref(st);
        let expected = sdk_request(&config, &resource, one).encode_to_vec();
        assert_eq!(direct_body(&config, &resource, one), expected);
    }
}

#[test]
fn the_default_resource_and_no_public_key_match_too() {
    let config = LangfuseConfig::builder().build().expect("valid config");
    let resource = crate::export::resource(&config);
    let states = cases();
    let expected = sdk_request(&config, &resource, &states).encode_to_vec();
    assert_eq!(direct_body(&config, &resource, &states), expected);
}

#[test]
fn varint_lengths_match_the_encoding() {
    for v in [
        0,
        1,
        127,
        128,
        16_383,
        16_384,
        u32::MAX as u64,
        u64::MAX,
        -1_i64 as u64,
    ] {
        let mut buf = Vec::new();
        pb::varint(&mut buf, v);
        assert_eq!(buf.len(), pb::varint_len(v), "{v}");
        assert_eq!(prost::encoding::encoded_len_varint(v), buf.len(), "{v}");
    }
}

#[test]
fn batches_over_the_request_limit_go_in_parts_and_oversized_spans_apart() {
    let (config, resource) = (config(), resource());
    let defaults = Defaults::default();
    let mut encoder = RequestEncoder::new(&resource, config.public_key.as_deref(), defaults);
    let mut batch: Vec<ObservationState> = Vec::new();
    for i in 0..20u64 {
        let mut st = state(i + 1, None);
        let size = if i == 7 { 5_000 } else { 300 };
        st.input = Some("x".repeat(size));
        batch.push(st);
    }
    encoder.encode_spans(&batch);
    let max = 2_000;
    let (parts, oversized) = encoder.parts(max);
    assert_eq!(oversized, vec![7]);
    assert!(parts.len() > 1, "{parts:?}");
    assert_eq!(parts.iter().map(|p| p.len()).sum::<usize>(), 19);
    let mut span_ids = Vec::new();
    for part in parts {
        let count = part.len();
        let body = encoder.request(encoder.byte_range(part)).concat();
        assert!(body.len() <= max, "{} > {max}", body.len());
        let req = ExportTraceServiceRequest::decode(body.as_slice()).expect("decodes");
        let spans = &req.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans.len(), count);
        span_ids.extend(spans.iter().map(|s| s.span_id.clone()));
    }
    let expected: Vec<Vec<u8>> = (1..=20u64)
        .filter(|i| *i != 8)
        .map(|i| i.to_be_bytes().to_vec())
        .collect();
    assert_eq!(span_ids, expected, "every span once, in order");

    // Under the limit: one part.
    let (parts, oversized) = encoder.parts(64 << 20);
    assert_eq!((parts.len(), oversized.len()), (1, 0));
}

#[test]
fn debug_output_holds_no_secret() {
    let config = LangfuseConfig::builder()
        .public_key("pk-lf-test")
        .secret_key("sk-lf-secret")
        .header("X-Extra", "extra-secret")
        .build()
        .expect("valid config");
    let destination =
        OtlpDestination::new(&config, &crate::export::resource(&config)).expect("destination");
    let debug = format!("{destination:?}");
    assert!(!debug.contains("sk-lf-secret"), "{debug}");
    assert!(!debug.contains("extra-secret"), "{debug}");
    assert!(!debug.contains("Basic"), "{debug}");
    assert!(debug.contains("/api/public/otel/v1/traces"), "{debug}");

    // A URL with credentials never gets this far: the configuration rejects it.
    let err = LangfuseConfig::builder()
        .public_key("pk-lf-test")
        .secret_key("sk-lf-secret")
        .base_url("https://user:url-secret@langfuse.example.com")
        .build()
        .expect_err("credentials in the URL");
    assert!(!err.to_string().contains("url-secret"), "{err}");
}

/// The throughput benchmark's child observation: a generation with input, output and
/// model, random ids, 100 children per trace and parent.
fn benchmark_like(n: u64) -> ObservationState {
    let mut rng = fastrand::Rng::with_seed(n / 100);
    let (trace_id, parent) = (rng.u128(..), rng.u64(..));
    let mut st = ObservationState::new(trace_id, fastrand::u64(..), Some(parent), true);
    st.name = Some(Cow::Borrowed("observed_child"));
    st.as_type = ObservationType::Generation;
    st.input = Some(format!(
        "{{\"query\":\"Summarise the attached report in 3 lines\",\"n\":{n}}}"
    ));
    st.output = Some(format!("\"Summarise the attached report in 3 lines {n}\""));
    st.generation_mut().model = Some("gpt-4o".into());
    st.end_time = Some(SystemTime::now());
    st
}

/// Wire bytes and export-thread CPU per span: the SDK path (what opentelemetry-otlp did,
/// gzip level 6) against the direct encoder at gzip levels 1 and 6. Each figure is the
/// best of 5 rounds (the machine is shared); the states are boxed outside the timing.
/// `cargo test --profile bench -p langfuse-tracing --lib measure_ -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, not a check"]
fn measure_encode_and_gzip_per_span() {
    use std::io::Write as _;
    use std::time::Instant;
    const BATCH: usize = 512;
    const BATCHES: usize = 200;
    let config = config();
    let resource = crate::export::resource(&config);
    let states: Vec<Vec<ObservationState>> = (0..BATCHES)
        .map(|b| {
            (0..BATCH)
                .map(|i| benchmark_like((b * BATCH + i) as u64))
                .collect()
        })
        .collect();
    let spans = (BATCH * BATCHES) as f64;
    let defaults = || Defaults {
        environment: config.environment.clone(),
        release: config.release.clone(),
    };
    // Runs `export` on every batch, 5 times; prints the best time and the bytes.
    let measure = |what: &str, export: &mut dyn FnMut(Vec<ObservationState>) -> (usize, usize)| {
        let mut best = f64::MAX;
        let (mut wire, mut raw) = (0, 0);
        for _ in 0..5 {
            let batches: Vec<Vec<ObservationState>> = states.iter().map(|b| b.to_vec()).collect();
            (wire, raw) = (0, 0);
            let started = Instant::now();
            for batch in batches {
                let (w, r) = export(batch);
                wire += w;
                raw += r;
            }
            best = best.min(started.elapsed().as_nanos() as f64 / spans);
        }
        println!(
            "{what:<28} {best:>6.0} ns/span  {:>6.1} wire bytes/span  {:>6.1} protobuf bytes/span",
            wire as f64 / spans,
            raw as f64 / spans
        );
    };

    let converter = Converter::new(&config);
    let sdk_resource = ResourceAttributesWithSchema::from(&resource);
    measure("SDK path, gzip 6", &mut |batch| {
        let spans = batch
            .into_iter()
            .map(|mut s| converter.convert(&mut s))
            .collect();
        let body = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(spans, &sdk_resource),
        }
        .encode_to_vec();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&body).expect("gzip");
        (gz.finish().expect("gzip").len(), body.len())
    });
    let mut encoder = RequestEncoder::new(&resource, config.public_key.as_deref(), defaults());
    measure("direct, encode only", &mut |batch| {
        encoder.encode_spans(&batch);
        (
            0,
            encoder
                .request(0..encoder.spans.len())
                .iter()
                .map(|p| p.len())
                .sum(),
        )
    });
    for level in [1, 2, 3, 6] {
        let mut encoder = RequestEncoder::new(&resource, config.public_key.as_deref(), defaults());
        let mut gzip = Gzip::new(flate2::Compression::new(level));
        measure(&format!("direct, gzip {level}"), &mut |batch| {
            encoder.encode_spans(&batch);
            drop(batch);
            let pieces = encoder.request(0..encoder.spans.len());
            let raw = pieces.iter().map(|p| p.len()).sum();
            (gzip.compress(&pieces).expect("gzip").len(), raw)
        });
    }
}

fn destination_to(url: &str) -> OtlpDestination {
    let config = LangfuseConfig::builder()
        .public_key("pk-lf-test")
        .secret_key("sk-lf-test")
        .base_url(url)
        .compression(Compression::None)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("valid config");
    OtlpDestination::new(&config, &resource()).expect("destination")
}

fn batch_of(n: u64) -> Batch {
    (1..=n).map(|i| Box::new(state(i, None))).collect()
}

#[test]
fn a_batch_rejected_as_too_large_is_split_in_halves_until_it_passes() {
    // 4 spans: all four -> 413; the first half -> 413; then each single span and the
    // second half are accepted.
    let server = ScriptedServer::start(vec![
        response("413 Payload Too Large", ""),
        response("413 Payload Too Large", ""),
        response("200 OK", ""),
    ]);
    let mut destination = destination_to(&server.url);
    let mut batch = batch_of(4);
    assert_eq!(destination.export(&mut batch), Ok(()));
    assert_eq!(server.arrivals().len(), 5, "4, 2, 1, 1, 2 spans");
}

#[test]
fn one_observation_too_large_on_its_own_is_dropped_and_counted_with_its_size() {
    let server = ScriptedServer::start(vec![response("413 Payload Too Large", "")]);
    let mut destination = destination_to(&server.url);
    let mut batch = batch_of(2);
    let error = destination.export(&mut batch).expect_err("rejected");
    assert_eq!(error.lost, 2);
    assert!(error.reason.contains("too large"), "{}", error.reason);
    assert!(error.reason.contains("bytes"), "{}", error.reason);
    // 2 spans, then each alone.
    assert_eq!(server.arrivals().len(), 3);
}
