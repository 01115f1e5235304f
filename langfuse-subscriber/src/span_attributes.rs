//! The span attributes of one finished observation, in wire order (reference §2).
//!
//! One walk, two encoders: `convert.rs` builds OpenTelemetry `KeyValue`s from it (for
//! user-supplied exporters) and `otlp/encode.rs` writes protobuf straight from it. Keeping the
//! precedence rules in one place keeps the two paths identical on the wire.

use std::borrow::Cow;
use std::time::SystemTime;

use langfuse_tracing_core::__layer::state::{AttrValue, ObservationState};
use langfuse_tracing_core::attributes as attr;
use langfuse_tracing_core::Level;

/// An attribute key, borrowed from the observation where possible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AttrKey<'a> {
    /// A key known at compile time.
    Static(&'static str),
    /// A key owned by the observation (a field name of a plain `tracing` span).
    Borrowed(&'a str),
    /// `<prefix>.<name>`: one metadata entry.
    Prefixed(&'static str, &'a str),
}

impl AttrKey<'_> {
    /// Length in bytes of the key as sent.
    pub(crate) fn len(self) -> usize {
        match self {
            AttrKey::Static(k) | AttrKey::Borrowed(k) => k.len(),
            AttrKey::Prefixed(p, k) => p.len() + 1 + k.len(),
        }
    }
}

/// A typed attribute value, borrowed from the observation.
#[derive(Clone, Copy, Debug)]
pub(crate) enum AttrRef<'a> {
    Str(&'a str),
    /// A string known at compile time (spares `convert.rs` a copy).
    StaticStr(&'static str),
    Bool(bool),
    I64(i64),
    F64(f64),
    StrList(StrList<'a>),
}

/// A string array without a copy: `head` as it is, then each entry of `tail` that is not
/// already in the array (trace tags: propagated ones first, then the observation's own).
#[derive(Clone, Copy, Debug)]
pub(crate) struct StrList<'a> {
    head: &'a [String],
    tail: &'a [String],
}

impl<'a> StrList<'a> {
    /// The entries, in order.
    pub(crate) fn iter(self) -> impl Iterator<Item = &'a str> + Clone {
        let StrList { head, tail } = self;
        let fresh = tail
            .iter()
            .enumerate()
            .filter(move |&(i, t)| !head.contains(t) && !tail[..i].contains(t))
            .map(|(_, t)| t.as_str());
        head.iter().map(String::as_str).chain(fresh)
    }

    fn is_empty(self) -> bool {
        self.head.is_empty() && self.tail.is_empty()
    }
}

/// Receives the attributes of one observation, in wire order.
pub(crate) trait AttrSink {
    fn attr(&mut self, key: AttrKey<'_>, value: AttrRef<'_>);
}

/// Client-wide values used when an observation names none.
#[derive(Clone, Debug, Default)]
pub(crate) struct Defaults {
    pub(crate) environment: Option<String>,
    pub(crate) release: Option<String>,
}

/// The span name: the updated one, else the span's own, else `observation`.
pub(crate) fn span_name(st: &ObservationState) -> &str {
    st.name.as_deref().unwrap_or("observation")
}

/// The end time: never before the start (an observation not ended yet ends now).
pub(crate) fn end_time(st: &ObservationState) -> SystemTime {
    st.end_time
        .unwrap_or_else(SystemTime::now)
        .max(st.start_time)
}

/// `Some(message)` when the OTel status is ERROR (level ERROR), else `None` (UNSET).
pub(crate) fn error_message(st: &ObservationState) -> Option<&str> {
    (st.level == Some(Level::Error)).then(|| st.status_message.as_deref().unwrap_or_default())
}

/// Calls `sink` once per attribute of `st`, in the order and with the precedence of the
/// wire reference.
pub(crate) fn walk(st: &ObservationState, defaults: &Defaults, sink: &mut impl AttrSink) {
    use AttrKey::{Prefixed, Static};
    use AttrRef::{Bool, Str, I64};
    let mut out = Emit(sink);
    let prop = st.propagated.as_deref();
    let trace = st.trace.as_deref();
    // A span that asked for no type gets none: the server infers it from the
    // attributes, and keeps model and usage for the generation-like types it infers.
    let generation_like = st.as_type.is_generation_like() || st.infer_type;

    if !st.infer_type {
        out.put(
            Static(attr::OBSERVATION_TYPE),
            AttrRef::StaticStr(st.as_type.as_str()),
        );
    }
    // Environment: a propagated one wins, then the observation's, then the client's.
    let environment = prop
        .and_then(|p| p.environment.as_deref())
        .or(st.environment.as_deref())
        .or(defaults.environment.as_deref());
    out.str(attr::ENVIRONMENT, environment);
    let release = st.release.as_deref().or(defaults.release.as_deref());
    out.str(attr::RELEASE, release);

    // Trace-level values: propagated first, then the observation's own updates win.
    let name = trace.and_then(|t| t.name.as_deref());
    out.str(
        attr::TRACE_NAME,
        name.or(prop.and_then(|p| p.trace_name.as_deref())),
    );
    let user = trace.and_then(|t| t.user_id.as_deref());
    out.str(
        attr::TRACE_USER_ID,
        user.or(prop.and_then(|p| p.user_id.as_deref())),
    );
    let session = trace.and_then(|t| t.session_id.as_deref());
    out.str(
        attr::TRACE_SESSION_ID,
        session.or(prop.and_then(|p| p.session_id.as_deref())),
    );
    // Propagated tags go as they are (duplicates within one call stay, as in the other
    // SDKs); the observation's own trace tags are added when not present. An empty array
    // would reach the server as a bogus tag: never send one.
    let tags = StrList {
        head: prop.map(|p| p.tags.as_slice()).unwrap_or_default(),
        tail: trace.map(|t| t.tags.as_slice()).unwrap_or_default(),
    };
    if !tags.is_empty() {
        out.put(Static(attr::TRACE_TAGS), AttrRef::StrList(tags));
    }
    merge_trace_metadata(
        prop.map(|p| p.metadata.as_slice()).unwrap_or_default(),
        trace.map(|t| t.metadata.as_slice()).unwrap_or_default(),
        |k, v| out.put(Prefixed(attr::TRACE_METADATA, k), Str(v)),
    );
    if let Some(t) = trace {
        if t.public {
            out.put(Static(attr::TRACE_PUBLIC), Bool(true));
        }
        out.str(attr::TRACE_INPUT, t.input.as_deref());
        out.str(attr::TRACE_OUTPUT, t.output.as_deref());
    }

    // One key for both: the observation's version wins over a propagated one.
    let version = st.version.as_deref();
    out.str(
        attr::VERSION,
        version.or(prop.and_then(|p| p.version.as_deref())),
    );
    if let Some(level) = st.level {
        out.put(
            Static(attr::OBSERVATION_LEVEL),
            AttrRef::StaticStr(level.as_str()),
        );
    }
    out.str(
        attr::OBSERVATION_STATUS_MESSAGE,
        st.status_message.as_deref(),
    );
    out.str(attr::OBSERVATION_INPUT, st.input.as_deref());
    out.str(attr::OBSERVATION_OUTPUT, st.output.as_deref());
    for (k, v) in &st.metadata {
        out.put(Prefixed(attr::OBSERVATION_METADATA, k), Str(v));
    }
    out.str(attr::OBSERVATION_METADATA, st.metadata_value.as_deref());

    let generation = st.generation.as_ref().filter(|_| generation_like);
    if let Some(g) = generation {
        out.str(attr::OBSERVATION_MODEL, g.model.as_deref());
        out.str(
            attr::OBSERVATION_MODEL_PARAMETERS,
            g.model_parameters.as_deref(),
        );
        out.str(attr::OBSERVATION_USAGE_DETAILS, g.usage_details.as_deref());
        out.str(attr::OBSERVATION_COST_DETAILS, g.cost_details.as_deref());
        let first_token = g.completion_start_time.as_deref();
        out.str(attr::OBSERVATION_COMPLETION_START_TIME, first_token);
    }
    // A propagated prompt goes on every span (the server applies it to generations
    // only), unless a generation names its own.
    let own_prompt = generation.and_then(|g| g.prompt.as_ref());
    let prompt = own_prompt.or(prop.and_then(|p| p.prompt.as_ref()));
    if let Some((name, version)) = prompt.filter(|(name, _)| !name.is_empty()) {
        out.put(Static(attr::OBSERVATION_PROMPT_NAME), Str(name));
        out.put(Static(attr::OBSERVATION_PROMPT_VERSION), I64(*version));
    }

    if st.as_root {
        out.put(Static(attr::AS_ROOT), Bool(true));
    }
    if st.is_app_root {
        out.put(Static(attr::IS_APP_ROOT), Bool(true));
    }
    for (k, v) in &st.extra {
        let key = match k {
            Cow::Borrowed(k) => Static(k),
            Cow::Owned(k) => AttrKey::Borrowed(k),
        };
        let value = match v {
            AttrValue::Str(s) => Str(s),
            AttrValue::Bool(b) => Bool(*b),
            AttrValue::I64(i) => I64(*i),
            AttrValue::F64(f) => AttrRef::F64(*f),
            AttrValue::StrArray(a) => AttrRef::StrList(StrList { head: a, tail: &[] }),
        };
        out.put(key, value);
    }
}

/// Shorthands over a sink.
struct Emit<'s, S>(&'s mut S);

impl<S: AttrSink> Emit<'_, S> {
    fn put(&mut self, key: AttrKey<'_>, value: AttrRef<'_>) {
        self.0.attr(key, value);
    }

    /// A string attribute, when there is a value.
    fn str(&mut self, key: &'static str, value: Option<&str>) {
        if let Some(v) = value {
            self.0.attr(AttrKey::Static(key), AttrRef::Str(v));
        }
    }
}

/// Trace metadata as an ordered map: the propagated entries, each first occurrence of a
/// key taking the observation's own (last) value for it, then the observation's own keys
/// that were not propagated, in order of first appearance, with their last value.
fn merge_trace_metadata<'a>(
    propagated: &'a [(String, String)],
    own: &'a [(String, String)],
    mut emit: impl FnMut(&'a str, &'a str),
) {
    let last_own = |key: &str| own.iter().rev().find(|(k, _)| k == key);
    for (i, (k, v)) in propagated.iter().enumerate() {
        let first = !propagated[..i].iter().any(|(p, _)| p == k);
        let value = last_own(k).filter(|_| first).map_or(v, |(_, own)| own);
        emit(k, value);
    }
    for (i, (k, v)) in own.iter().enumerate() {
        let seen = propagated.iter().any(|(p, _)| p == k) || own[..i].iter().any(|(o, _)| o == k);
        if !seen {
            emit(k, last_own(k).map_or(v, |(_, last)| last));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The reference: an ordered map, a later value replacing an earlier one.
    fn upserted(
        propagated: &[(String, String)],
        own: &[(String, String)],
    ) -> Vec<(String, String)> {
        let mut out = propagated.to_vec();
        for (k, v) in own {
            match out.iter_mut().find(|(o, _)| o == k) {
                Some(slot) => slot.1 = v.clone(),
                None => out.push((k.clone(), v.clone())),
            }
        }
        out
    }

    #[test]
    fn trace_metadata_merges_like_an_ordered_map() {
        let cases = [
            (vec![], vec![]),
            (vec![("a", "1")], vec![]),
            (vec![], vec![("a", "1"), ("b", "2"), ("a", "3")]),
            (
                vec![("a", "1"), ("b", "1"), ("a", "2")],
                vec![("a", "9"), ("c", "1")],
            ),
            (
                vec![("x", "1")],
                vec![("y", "1"), ("x", "2"), ("x", "3"), ("y", "4")],
            ),
        ];
        for (p, o) in cases {
            let (p, o) = (pairs(&p), pairs(&o));
            let mut got = Vec::new();
            merge_trace_metadata(&p, &o, |k, v| got.push((k.to_string(), v.to_string())));
            assert_eq!(got, upserted(&p, &o), "{p:?} + {o:?}");
        }
    }

    #[test]
    fn tags_keep_propagated_duplicates_and_add_new_own_ones() {
        let head = vec!["a".to_string(), "b".into(), "a".into()];
        let tail = vec!["b".to_string(), "c".into(), "c".into(), "d".into()];
        let list = StrList {
            head: &head,
            tail: &tail,
        };
        assert_eq!(list.iter().collect::<Vec<_>>(), ["a", "b", "a", "c", "d"]);
        let list = StrList {
            head: &[],
            tail: &tail,
        };
        assert_eq!(list.iter().collect::<Vec<_>>(), ["b", "c", "d"]);
    }
}
