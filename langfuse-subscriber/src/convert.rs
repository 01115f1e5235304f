//! Turns a finished [`ObservationState`] into an OpenTelemetry `SpanData` with the exact
//! attribute set of the wire reference (§2), for user-supplied exporters (the Langfuse
//! OTLP path encodes protobuf directly, `otlp/`). Runs on the export thread only.

use std::borrow::Cow;

use langfuse_tracing_core::__layer::state::ObservationState;
use langfuse_tracing_core::attributes as attr;
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, Key, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

use crate::config::LangfuseConfig;
use crate::span_attributes::{self as attributes, AttrKey, AttrRef, AttrSink, Defaults};

/// Holds what every span of one layer shares: scope, environment, release.
#[derive(Clone, Debug)]
pub(crate) struct Converter {
    scope: InstrumentationScope,
    defaults: Defaults,
}

impl Default for Converter {
    fn default() -> Self {
        Converter {
            scope: scope(None),
            defaults: Defaults::default(),
        }
    }
}

fn scope(public_key: Option<&str>) -> InstrumentationScope {
    let builder =
        InstrumentationScope::builder(attr::SCOPE_NAME).with_version(env!("CARGO_PKG_VERSION"));
    match public_key {
        Some(pk) => builder
            .with_attributes([KeyValue::new(attr::SCOPE_PUBLIC_KEY, pk.to_owned())])
            .build(),
        None => builder.build(),
    }
}

/// Collects the attribute walk as OpenTelemetry key-values.
struct KeyValues(Vec<KeyValue>);

impl AttrSink for KeyValues {
    fn attr(&mut self, key: AttrKey<'_>, value: AttrRef<'_>) {
        let key = match key {
            AttrKey::Static(k) => Key::from_static_str(k),
            AttrKey::Borrowed(k) => Key::new(k.to_owned()),
            AttrKey::Prefixed(prefix, k) => Key::new(format!("{prefix}.{k}")),
        };
        let value = match value {
            AttrRef::Str(s) => Value::from(s.to_owned()),
            AttrRef::StaticStr(s) => Value::from(s),
            AttrRef::Bool(b) => Value::Bool(b),
            AttrRef::I64(i) => Value::I64(i),
            AttrRef::F64(f) => Value::F64(f),
            AttrRef::StrList(list) => Value::Array(Array::String(
                list.iter()
                    .map(|s| StringValue::from(s.to_owned()))
                    .collect(),
            )),
        };
        self.0.push(KeyValue::new(key, value));
    }
}

impl Converter {
    pub(crate) fn new(config: &LangfuseConfig) -> Self {
        Converter {
            scope: scope(config.public_key.as_deref()),
            defaults: Defaults {
                environment: config.environment.clone(),
                release: config.release.clone(),
            },
        }
    }

    /// The `SpanData` of one observation. Takes only the name: the attributes are
    /// copies, so the caller can recycle the state's input and output buffers.
    pub(crate) fn convert(&self, st: &mut ObservationState) -> SpanData {
        let mut attrs = KeyValues(Vec::with_capacity(8 + st.metadata.len() + st.extra.len()));
        attributes::walk(st, &self.defaults, &mut attrs);
        let status = match attributes::error_message(st) {
            Some(message) => Status::error(message.to_owned()),
            None => Status::Unset,
        };
        let end_time = attributes::end_time(st);
        let name: Cow<'static, str> = st.name.take().unwrap_or(Cow::Borrowed("observation"));
        SpanData {
            span_context: SpanContext::new(
                TraceId::from(st.trace_id),
                SpanId::from(st.span_id),
                TraceFlags::SAMPLED,
                false,
                TraceState::NONE,
            ),
            parent_span_id: st.parent_span_id.map_or(SpanId::INVALID, SpanId::from),
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name,
            start_time: st.start_time,
            end_time,
            attributes: attrs.0,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status,
            instrumentation_scope: self.scope.clone(),
        }
    }
}
