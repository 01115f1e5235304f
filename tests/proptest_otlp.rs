//! Property test (issue 17) of the hand-written OTLP encoder (`langfuse-tracing`'s
//! `otlp/encode.rs`, crate-private), end to end through the public API: random observations
//! go through a real layer and exporter to the in-process receiver, which decodes the
//! protobuf with `prost`; every attribute must arrive exactly as the core encoders
//! wrote it (`encode_io` / `encode_metadata`, themselves property-tested against
//! `serde_json` in `langfuse-core/tests/proptest_core.rs`).
//!
//! `CASES` cases, each 1 to 6 observations (strings with control characters, astral
//! characters, and lengths across the protobuf varint boundaries 128 and 16,384).
//! Run: `cargo test --test proptest_otlp`.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use langfuse_tracing::langfuse_tracing_core::encoding::{encode_io, encode_metadata};
use langfuse_tracing::observation::{generation, span_of_type};
use langfuse_tracing::{Level, ObservationType};
use proptest::prelude::*;
use serde_json::Value;
use support::{layer_builder, AttrValue, Receiver};
use tracing_subscriber::prelude::*;

const CASES: u32 = 64;

#[derive(Clone, Debug)]
struct Obs {
    /// `None`: a generation (model and usage); else that span-like type.
    span_type: Option<ObservationType>,
    name: String,
    input: Value,
    output: Option<Value>,
    metadata: BTreeMap<String, Value>,
    level: Option<Level>,
    status_message: Option<String>,
    version: Option<String>,
    model: String,
    usage: BTreeMap<String, u32>,
}

fn text() -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        4 => any::<char>(),
        2 => proptest::char::range('a', 'z'),
        1 => Just('"'),
        1 => Just('\\'),
        1 => Just('\u{0}'),
        1 => Just('😀'),
    ];
    let short = proptest::collection::vec(ch, 0..40).prop_map(String::from_iter);
    // Lengths across the varint boundaries of protobuf length prefixes.
    let long = (
        short.clone(),
        prop_oneof![100usize..200, 16_300usize..16_500],
    )
        .prop_map(|(s, n)| format!("{s}{}", "é".repeat(n / 2)));
    prop_oneof![6 => short, 1 => long]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{1,6}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn obs() -> impl Strategy<Value = Obs> {
    let span_type = prop_oneof![
        Just(None),
        Just(Some(ObservationType::Span)),
        Just(Some(ObservationType::Agent)),
        Just(Some(ObservationType::Tool)),
        Just(Some(ObservationType::Chain)),
        Just(Some(ObservationType::Retriever)),
        Just(Some(ObservationType::Evaluator)),
        Just(Some(ObservationType::Guardrail)),
    ];
    let level = proptest::option::of(prop_oneof![
        Just(Level::Debug),
        Just(Level::Warning),
        Just(Level::Error)
    ]);
    (
        span_type,
        "[ -~]{1,30}",
        value(),
        proptest::option::of(value()),
        proptest::collection::btree_map("[a-z][a-z0-9_]{0,11}", value(), 0..6),
        level,
        proptest::option::of(text()),
        proptest::option::of("[ -~]{1,20}"),
        "[a-z0-9.-]{1,20}",
        proptest::collection::btree_map("[a-z_]{1,12}", any::<u32>(), 0..4),
    )
        .prop_map(
            |(
                span_type,
                name,
                input,
                output,
                metadata,
                level,
                status_message,
                version,
                model,
                usage,
            )| Obs {
                span_type,
                name,
                input,
                output,
                metadata,
                level,
                status_message,
                version,
                model,
                usage,
            },
        )
}

/// Creates `o` (ended at once); its (trace id, observation id) as hex.
fn create(o: &Obs) -> (String, String) {
    macro_rules! fill {
        ($b:expr) => {{
            let mut b = $b.input(&o.input);
            if let Some(out) = &o.output {
                b = b.output(out);
            }
            for (k, v) in &o.metadata {
                b = b.metadata(k.clone(), v);
            }
            if let Some(l) = o.level {
                b = b.level(l);
            }
            if let Some(m) = &o.status_message {
                b = b.status_message(m.clone());
            }
            if let Some(v) = &o.version {
                b = b.version(v.clone());
            }
            b
        }};
    }
    let ids = |trace: Option<langfuse_tracing::TraceId>,
               id: Option<langfuse_tracing::ObservationId>| {
        (
            trace.expect("trace id").to_string(),
            id.expect("observation id").to_string(),
        )
    };
    match o.span_type {
        None => {
            let b = fill!(generation(o.name.clone()))
                .model(o.model.clone())
                .usage_details(&o.usage);
            b.run(|g| ids(g.trace_id(), g.id()))
        }
        Some(t) => {
            let b = fill!(span_of_type(o.name.clone(), t).expect("a span-like type"));
            b.run(|s| ids(s.trace_id(), s.id()))
        }
    }
}

fn str_attr<'a>(s: &'a support::CapturedSpan, key: &str) -> Option<&'a str> {
    s.attr(key).and_then(AttrValue::as_str)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn random_observations_arrive_exactly(batch in proptest::collection::vec(obs(), 1..7)) {
        let receiver = Receiver::start();
        let layer = layer_builder(&receiver).build().expect("valid config");
        let handle = layer.handle();
        let ids: Vec<(String, String)> = tracing::subscriber::with_default(
            tracing_subscriber::registry().with(layer),
            || batch.iter().map(create).collect(),
        );
        prop_assert_eq!(handle.flush(), Ok(()));
        let spans = receiver.wait_for_spans(batch.len(), Duration::from_secs(10));
        prop_assert_eq!(spans.len(), batch.len());
        prop_assert_eq!(handle.dropped_observations(), 0);
        handle.shutdown().ok();
        for (o, (trace_id, span_id)) in batch.iter().zip(&ids) {
            let s = spans
                .iter()
                .find(|s| &s.span_id == span_id)
                .expect("every observation arrives");
            prop_assert_eq!(&s.trace_id, trace_id);
            prop_assert_eq!(&s.name, &o.name);
            prop_assert_eq!(s.parent_span_id.as_deref(), None);
            let kind = o.span_type.map_or("generation", ObservationType::as_str);
            prop_assert_eq!(str_attr(s, "langfuse.observation.type"), Some(kind));
            let input = encode_io(&o.input);
            prop_assert_eq!(str_attr(s, "langfuse.observation.input"), Some(input.as_str()));
            let output = o.output.as_ref().map(encode_io);
            prop_assert_eq!(str_attr(s, "langfuse.observation.output"), output.as_deref());
            for (k, v) in &o.metadata {
                let key = format!("langfuse.observation.metadata.{k}");
                let want = encode_metadata(v);
                prop_assert_eq!(str_attr(s, &key), Some(want.as_str()), "{}", key);
            }
            let metadata_keys = s
                .attributes
                .keys()
                .filter(|k| k.starts_with("langfuse.observation.metadata."))
                .count();
            prop_assert_eq!(metadata_keys, o.metadata.len());
            prop_assert_eq!(str_attr(s, "langfuse.observation.level"), o.level.map(Level::as_str));
            prop_assert_eq!(s.status_code == 2, o.level == Some(Level::Error));
            prop_assert_eq!(
                str_attr(s, "langfuse.observation.status_message"),
                o.status_message.as_deref()
            );
            prop_assert_eq!(str_attr(s, "langfuse.version"), o.version.as_deref());
            if o.span_type.is_none() {
                prop_assert_eq!(str_attr(s, "langfuse.observation.model.name"), Some(o.model.as_str()));
                let usage = encode_io(&o.usage);
                prop_assert_eq!(
                    str_attr(s, "langfuse.observation.usage_details"),
                    Some(usage.as_str())
                );
            }
            prop_assert!(s.end_time_unix_nano >= s.start_time_unix_nano);
        }
    }
}
