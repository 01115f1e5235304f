//! Turns a finished [`ObservationState`] into an OpenTelemetry `SpanData` with the exact
//! attribute set of the wire reference (§2). Runs on the export thread only.

use std::borrow::Cow;
use std::time::SystemTime;

use langfuse_core::attributes as attr;
use langfuse_core::state::{AttrValue, ObservationState};
use langfuse_core::Level;
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

use crate::config::LangfuseConfig;

/// Holds what every span of one layer shares: scope, environment, release.
#[derive(Clone, Debug)]
pub(crate) struct Converter {
    scope: InstrumentationScope,
    environment: Option<String>,
    release: Option<String>,
}

impl Default for Converter {
    fn default() -> Self {
        Converter {
            scope: scope(None),
            environment: None,
            release: None,
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

fn s(key: &'static str, value: String) -> KeyValue {
    KeyValue::new(key, value)
}

fn prefixed(prefix: &str, key: &str, value: String) -> KeyValue {
    KeyValue::new(format!("{prefix}.{key}"), value)
}

/// Puts `(key, value)` into an ordered map, a later value replacing an earlier one.
fn upsert(pairs: &mut Vec<(String, String)>, key: &str, value: &str) {
    match pairs.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value.to_owned(),
        None => pairs.push((key.to_owned(), value.to_owned())),
    }
}

impl Converter {
    pub(crate) fn new(config: &LangfuseConfig) -> Self {
        Converter {
            scope: scope(config.public_key.as_deref()),
            environment: config.environment.clone(),
            release: config.release.clone(),
        }
    }

    pub(crate) fn convert(&self, st: Box<ObservationState>) -> SpanData {
        let st = *st;
        let mut attrs: Vec<KeyValue> = Vec::with_capacity(8 + st.metadata.len() + st.extra.len());
        let generation_like = st.as_type.is_generation_like();
        let prop = st.propagated.as_deref();

        attrs.push(KeyValue::new(attr::OBSERVATION_TYPE, st.as_type.as_str()));

        // Environment: a propagated one wins, then the observation's, then the client's.
        let environment = prop
            .and_then(|p| p.environment.clone())
            .or(st.environment)
            .or_else(|| self.environment.clone());
        if let Some(env) = environment {
            attrs.push(s(attr::ENVIRONMENT, env));
        }
        if let Some(release) = st.release.or_else(|| self.release.clone()) {
            attrs.push(s(attr::RELEASE, release));
        }

        // Trace-level values: propagated first, then the observation's own updates win.
        let trace = st.trace.as_deref();
        let pick = |own: Option<&String>, propagated: Option<&String>| own.or(propagated).cloned();
        if let Some(v) = pick(
            trace.and_then(|t| t.name.as_ref()),
            prop.and_then(|p| p.trace_name.as_ref()),
        ) {
            attrs.push(s(attr::TRACE_NAME, v));
        }
        if let Some(v) = pick(
            trace.and_then(|t| t.user_id.as_ref()),
            prop.and_then(|p| p.user_id.as_ref()),
        ) {
            attrs.push(s(attr::TRACE_USER_ID, v));
        }
        if let Some(v) = pick(
            trace.and_then(|t| t.session_id.as_ref()),
            prop.and_then(|p| p.session_id.as_ref()),
        ) {
            attrs.push(s(attr::TRACE_SESSION_ID, v));
        }
        // Propagated tags go as they are (duplicates within one call stay, as in the
        // other SDKs); the observation's own trace tags are added when not present.
        let mut tags: Vec<StringValue> = prop
            .map(|p| p.tags.iter().cloned().map(StringValue::from).collect())
            .unwrap_or_default();
        for tag in trace.map(|t| t.tags.as_slice()).unwrap_or_default() {
            if !tags.iter().any(|t| t.as_str() == tag) {
                tags.push(StringValue::from(tag.clone()));
            }
        }
        // An empty array would reach the server as a bogus tag: never send one.
        if !tags.is_empty() {
            attrs.push(KeyValue::new(
                attr::TRACE_TAGS,
                Value::Array(Array::String(tags)),
            ));
        }
        let mut trace_metadata: Vec<(String, String)> =
            prop.map(|p| p.metadata.clone()).unwrap_or_default();
        if let Some(t) = trace {
            for (k, v) in &t.metadata {
                upsert(&mut trace_metadata, k, v);
            }
        }
        for (k, v) in trace_metadata {
            attrs.push(prefixed(attr::TRACE_METADATA, &k, v));
        }
        if let Some(t) = trace {
            if t.public {
                attrs.push(KeyValue::new(attr::TRACE_PUBLIC, true));
            }
            if let Some(v) = &t.input {
                attrs.push(s(attr::TRACE_INPUT, v.clone()));
            }
            if let Some(v) = &t.output {
                attrs.push(s(attr::TRACE_OUTPUT, v.clone()));
            }
        }

        // One key for both: the observation's version wins over a propagated one.
        if let Some(v) = st.version.or_else(|| prop.and_then(|p| p.version.clone())) {
            attrs.push(s(attr::VERSION, v));
        }
        if let Some(level) = st.level {
            attrs.push(KeyValue::new(attr::OBSERVATION_LEVEL, level.as_str()));
        }
        if let Some(m) = &st.status_message {
            attrs.push(s(attr::OBSERVATION_STATUS_MESSAGE, m.clone()));
        }
        if let Some(v) = st.input {
            attrs.push(s(attr::OBSERVATION_INPUT, v));
        }
        if let Some(v) = st.output {
            attrs.push(s(attr::OBSERVATION_OUTPUT, v));
        }
        for (k, v) in st.metadata {
            attrs.push(prefixed(attr::OBSERVATION_METADATA, &k, v));
        }
        if let Some(v) = st.metadata_value {
            attrs.push(s(attr::OBSERVATION_METADATA, v));
        }

        let own_prompt = st.generation.as_ref().and_then(|g| g.prompt.clone());
        if let Some(g) = st.generation.filter(|_| generation_like) {
            let g = *g;
            if let Some(v) = g.model {
                attrs.push(s(attr::OBSERVATION_MODEL, v));
            }
            if let Some(v) = g.model_parameters {
                attrs.push(s(attr::OBSERVATION_MODEL_PARAMETERS, v));
            }
            if let Some(v) = g.usage_details {
                attrs.push(s(attr::OBSERVATION_USAGE_DETAILS, v));
            }
            if let Some(v) = g.cost_details {
                attrs.push(s(attr::OBSERVATION_COST_DETAILS, v));
            }
            if let Some(v) = g.completion_start_time {
                attrs.push(s(attr::OBSERVATION_COMPLETION_START_TIME, v));
            }
        }
        // A propagated prompt goes on every span (the server applies it to generations
        // only), unless the observation names its own.
        let prompt = if generation_like {
            own_prompt.or_else(|| prop.and_then(|p| p.prompt.clone()))
        } else {
            prop.and_then(|p| p.prompt.clone())
        };
        if let Some((name, version)) = prompt.filter(|(name, _)| !name.is_empty()) {
            attrs.push(s(attr::OBSERVATION_PROMPT_NAME, name));
            attrs.push(KeyValue::new(attr::OBSERVATION_PROMPT_VERSION, version));
        }

        if st.as_root {
            attrs.push(KeyValue::new(attr::AS_ROOT, true));
        }
        if st.is_app_root {
            attrs.push(KeyValue::new(attr::IS_APP_ROOT, true));
        }
        for (k, v) in st.extra {
            let value = match v {
                AttrValue::Str(s) => Value::from(s),
                AttrValue::Bool(b) => Value::Bool(b),
                AttrValue::I64(i) => Value::I64(i),
                AttrValue::F64(f) => Value::F64(f),
                AttrValue::StrArray(a) => Value::Array(Array::String(
                    a.into_iter().map(StringValue::from).collect(),
                )),
            };
            attrs.push(KeyValue::new(k, value));
        }

        let status = if st.level == Some(Level::Error) {
            Status::error(st.status_message.unwrap_or_default())
        } else {
            Status::Unset
        };
        let name: Cow<'static, str> = st.name.unwrap_or(Cow::Borrowed("observation"));
        let end_time = st.end_time.unwrap_or_else(SystemTime::now);
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
            end_time: end_time.max(st.start_time),
            attributes: attrs,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status,
            instrumentation_scope: self.scope.clone(),
        }
    }
}
