//! What the layer keeps about one open observation, and how updates merge into it.
//!
//! The layer stores one [`ObservationState`] in each observation span's extensions, its
//! only home while the observation is open; the API in this crate reaches it through
//! the hooks the layer exposes (a span lookup in the subscriber). Values are already encoded
//! (IO or metadata encoding) when they land here, so closing a span only moves data.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use crate::propagation::attributes::PropagatedAttributes;
use crate::types::{Level, ObservationType};

/// A typed attribute value that is not one of the Langfuse fields (for example a
/// `gen_ai.*` field of a plain `tracing` span), exported as is.
///
/// ```
/// use langfuse_tracing_core::__layer::state::AttrValue;
/// assert_eq!(AttrValue::from("x"), AttrValue::Str("x".into()));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// An integer.
    I64(i64),
    /// A float.
    F64(f64),
    /// An array of strings.
    StrArray(Vec<String>),
}

impl From<&str> for AttrValue {
    fn from(s: &str) -> Self {
        AttrValue::Str(s.to_owned())
    }
}

/// Model, usage, cost, first-token time and prompt: only generation-like types have them.
///
/// ```
/// let g = langfuse_tracing_core::__layer::state::GenerationFields::default();
/// assert!(g.model.is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GenerationFields {
    /// `langfuse.observation.model.name`.
    pub model: Option<String>,
    /// IO-encoded model parameters.
    pub model_parameters: Option<String>,
    /// IO-encoded usage details.
    pub usage_details: Option<String>,
    /// IO-encoded cost details.
    pub cost_details: Option<String>,
    /// IO-encoded completion start time (a quoted ISO-8601 string).
    pub completion_start_time: Option<String>,
    /// Prompt name and integer version.
    pub prompt: Option<(String, i64)>,
}

/// Trace-level values written by `update_trace` (reference §2.3).
///
/// ```
/// let t = langfuse_tracing_core::__layer::state::TraceFields::default();
/// assert!(t.tags.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TraceFields {
    /// `langfuse.trace.name`.
    pub name: Option<String>,
    /// `user.id`.
    pub user_id: Option<String>,
    /// `session.id`.
    pub session_id: Option<String>,
    /// `langfuse.trace.tags` (never sent empty).
    pub tags: Vec<String>,
    /// `langfuse.trace.metadata.<key>`, metadata-encoded, merged per key.
    pub metadata: Vec<(String, String)>,
    /// `langfuse.trace.public`.
    pub public: bool,
    /// `langfuse.trace.input` (deprecated), IO-encoded.
    pub input: Option<String>,
    /// `langfuse.trace.output` (deprecated), IO-encoded.
    pub output: Option<String>,
}

/// Where an observation's ids come from. Only a layer that follows
/// `tracing-opentelemetry` (its `tracing-opentelemetry` feature, with an
/// `OpenTelemetryLayer` in the same subscriber) sets anything but `Own`.
///
/// ```
/// use langfuse_tracing_core::__layer::state::{IdSource, ObservationState};
/// assert_eq!(ObservationState::EMPTY.id_source, IdSource::Own);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IdSource {
    /// Drawn by the layer (or taken from its parent / remote parent); final.
    #[default]
    Own,
    /// Drawn by the layer for now; replaced by the OpenTelemetry span's ids (and its
    /// sampling decision) before they are first read or exported.
    Provisional,
    /// Taken from the OpenTelemetry span of the same `tracing` span; final.
    OpenTelemetry,
}

/// Finished observations on their way to export. Boxed on purpose: a state is a few
/// hundred bytes and moves from its span to the export queue as one pointer, and the
/// boxes go round (the exporter gives them back to the pools for new observations).
///
/// ```
/// use langfuse_tracing_core::__layer::state::{Batch, ObservationState};
/// let batch: Batch = vec![Box::new(ObservationState::new(1, 2, None, true))];
/// assert_eq!(batch.len(), 1);
/// ```
#[allow(clippy::vec_box)]
pub type Batch = Vec<Box<ObservationState>>;

/// Everything known about one observation while it is open.
///
/// ```
/// use langfuse_tracing_core::__layer::state::ObservationState;
/// let mut s = ObservationState::new(1, 2, None, true);
/// s.merge_metadata("step".into(), "1".into());
/// s.merge_metadata("step".into(), "2".into());
/// assert_eq!(s.metadata, vec![("step".to_string(), "2".to_string())]);
/// ```
#[derive(Clone, Debug)]
pub struct ObservationState {
    /// W3C trace id.
    pub trace_id: u128,
    /// W3C span id of this observation.
    pub span_id: u64,
    /// The parent span id (local or remote), if any.
    pub parent_span_id: Option<u64>,
    /// False when the trace was sampled out: nothing is recorded or exported.
    pub sampled: bool,
    /// Where the ids (and `sampled`) come from: the layer's own, or still provisional
    /// until the OpenTelemetry span of the same `tracing` span gives its ids (see
    /// [`IdSource`]).
    pub id_source: IdSource,
    /// When the observation started.
    pub start_time: SystemTime,
    /// Set by an explicit `end()` (or for events, to the start time).
    pub end_time: Option<SystemTime>,
    /// A new name given by `update(name)`; otherwise the span's own name.
    pub name: Option<Cow<'static, str>>,
    /// The observation type.
    pub as_type: ObservationType,
    /// No type was asked for (a plain `tracing` span without a
    /// `langfuse.observation.type` field): the export writes no type, and the server
    /// infers it from the attributes (`gen_ai.*`: a generation, a tool, ...), as for
    /// spans of any other OpenTelemetry instrumentation. `as_type` is then only the
    /// local default (`Span`).
    pub infer_type: bool,
    /// IO-encoded input.
    pub input: Option<String>,
    /// IO-encoded output.
    pub output: Option<String>,
    /// The level; `Error` also sets the OTel status.
    pub level: Option<Level>,
    /// Free text explaining the level.
    pub status_message: Option<String>,
    /// `langfuse.version`.
    pub version: Option<String>,
    /// `langfuse.environment` given for this observation.
    pub environment: Option<String>,
    /// `langfuse.release` given for this observation.
    pub release: Option<String>,
    /// Observation metadata per top-level key, metadata-encoded, later values win.
    pub metadata: Vec<(String, String)>,
    /// Where each key of `metadata` is, once it is long (see [`KeyIndex`]).
    #[doc(hidden)]
    pub metadata_index: KeyIndex,
    /// Metadata given as a non-object value (`langfuse.observation.metadata`).
    pub metadata_value: Option<String>,
    /// Generation-only fields. Inline rather than boxed: the box was one more block
    /// allocated on the calling thread and freed on the export thread per generation.
    pub generation: Option<GenerationFields>,
    /// Trace-level fields set on this observation.
    pub trace: Option<Box<TraceFields>>,
    /// Attributes propagated by `propagate_attributes` scopes.
    pub propagated: Option<Arc<PropagatedAttributes>>,
    /// `langfuse.internal.as_root`: joined an existing trace through a trace context.
    pub as_root: bool,
    /// `langfuse.internal.is_app_root`: the first observation of this process in its trace.
    pub is_app_root: bool,
    /// Other attributes (fields of plain `tracing` spans).
    pub extra: Vec<(Cow<'static, str>, AttrValue)>,
    /// Set on what `Observation::end` leaves in the span when it hands the observation
    /// to the export queue: only its ids and times remain (for children started
    /// later, and `id()`); updates are ignored and closing the span exports nothing.
    pub ended: bool,
    /// Counted among its layer's open observations: set when the layer counts it, and
    /// taken back once, when it is submitted or discarded (it moves with the state).
    pub counted_open: bool,
}

impl ObservationState {
    /// A state with nothing set (ids 0, started at the Unix epoch, not sampled): what
    /// the pools of emptied states keep, so a reused state carries nothing of the
    /// previous one.
    ///
    /// ```
    /// let s = langfuse_tracing_core::__layer::state::ObservationState::EMPTY;
    /// assert!(s.input.is_none() && !s.sampled);
    /// ```
    pub const EMPTY: ObservationState = ObservationState {
        trace_id: 0,
        span_id: 0,
        parent_span_id: None,
        sampled: false,
        id_source: IdSource::Own,
        start_time: SystemTime::UNIX_EPOCH,
        end_time: None,
        name: None,
        as_type: ObservationType::Span,
        infer_type: false,
        input: None,
        output: None,
        level: None,
        status_message: None,
        version: None,
        environment: None,
        release: None,
        metadata: Vec::new(),
        metadata_index: KeyIndex::EMPTY,
        metadata_value: None,
        generation: None,
        trace: None,
        propagated: None,
        as_root: false,
        is_app_root: false,
        extra: Vec::new(),
        ended: false,
        counted_open: false,
    };

    /// A fresh state that starts now.
    ///
    /// ```
    /// let s = langfuse_tracing_core::__layer::state::ObservationState::new(7, 8, Some(9), true);
    /// assert_eq!((s.trace_id, s.span_id, s.parent_span_id), (7, 8, Some(9)));
    /// ```
    #[inline]
    pub fn new(trace_id: u128, span_id: u64, parent_span_id: Option<u64>, sampled: bool) -> Self {
        let mut state = Self::EMPTY;
        state.begin(trace_id, span_id, parent_span_id, sampled);
        state
    }

    /// Gives an empty state (`EMPTY`, or one emptied for reuse) its ids and sampling
    /// decision, and starts it now.
    ///
    /// ```
    /// use langfuse_tracing_core::__layer::state::ObservationState;
    /// let mut s = Box::new(ObservationState::EMPTY);
    /// s.begin(7, 8, Some(9), true);
    /// assert_eq!((s.trace_id, s.span_id, s.parent_span_id, s.sampled), (7, 8, Some(9), true));
    /// ```
    #[inline]
    pub fn begin(
        &mut self,
        trace_id: u128,
        span_id: u64,
        parent_span_id: Option<u64>,
        sampled: bool,
    ) {
        self.trace_id = trace_id;
        self.span_id = span_id;
        self.parent_span_id = parent_span_id;
        self.sampled = sampled;
        self.start_time = SystemTime::now();
    }

    /// Sets one metadata key; a later value for the same key replaces the earlier one.
    ///
    /// ```
    /// let mut s = langfuse_tracing_core::__layer::state::ObservationState::new(1, 1, None, true);
    /// s.merge_metadata("a".into(), "1".into());
    /// s.merge_metadata("b".into(), "2".into());
    /// assert_eq!(s.metadata.len(), 2);
    /// ```
    pub fn merge_metadata(&mut self, key: String, encoded: String) {
        self.metadata_index.merge(&mut self.metadata, key, encoded);
    }

    /// Takes the observation out for export now (`Observation::end`), ended at `at`
    /// unless it has an end time, and leaves its ids and times here, marked
    /// [`ended`](Self::ended). `None` if it was already ended or is sampled out.
    /// `empty` gives the box the observation moves into (the layer's pool hands out
    /// emptied ones); it is called only when the observation is taken out.
    ///
    /// ```
    /// use langfuse_tracing_core::__layer::state::ObservationState;
    /// let empty = || Box::new(ObservationState::EMPTY);
    /// let mut s = ObservationState::new(1, 2, None, true);
    /// s.input = Some("q".into());
    /// let out = s.end_now(std::time::SystemTime::now(), empty).unwrap();
    /// assert_eq!((out.span_id, out.input.as_deref()), (2, Some("q")));
    /// assert!(s.ended && s.span_id == 2 && s.input.is_none());
    /// assert!(s.end_now(std::time::SystemTime::now(), empty).is_none());
    /// ```
    pub fn end_now(
        &mut self,
        at: SystemTime,
        empty: impl FnOnce() -> Box<Self>,
    ) -> Option<Box<Self>> {
        if self.ended {
            return None;
        }
        if self.end_time.is_none() {
            // Not before the start: the system clock may have been set back meanwhile.
            self.end_time = Some(at.max(self.start_time));
        }
        if !self.sampled {
            self.ended = true;
            return None;
        }
        let mut state = empty();
        std::mem::swap(&mut *state, self);
        self.trace_id = state.trace_id;
        self.span_id = state.span_id;
        self.parent_span_id = state.parent_span_id;
        self.sampled = true;
        self.start_time = state.start_time;
        self.end_time = state.end_time;
        self.as_type = state.as_type;
        self.ended = true;
        Some(state)
    }

    /// The generation fields, created on first use.
    ///
    /// ```
    /// let mut s = langfuse_tracing_core::__layer::state::ObservationState::new(1, 1, None, true);
    /// s.generation_mut().model = Some("gpt-4o".into());
    /// assert!(s.generation.is_some());
    /// ```
    pub fn generation_mut(&mut self) -> &mut GenerationFields {
        self.generation.get_or_insert_with(Default::default)
    }

    /// The trace fields, created on first use.
    ///
    /// ```
    /// let mut s = langfuse_tracing_core::__layer::state::ObservationState::new(1, 1, None, true);
    /// s.trace_mut().public = true;
    /// assert!(s.trace.unwrap().public);
    /// ```
    pub fn trace_mut(&mut self) -> &mut TraceFields {
        self.trace.get_or_insert_with(Default::default)
    }

    /// Records an error: level ERROR and the message (the OTel status follows at export).
    ///
    /// ```
    /// let mut s = langfuse_tracing_core::__layer::state::ObservationState::new(1, 1, None, true);
    /// s.set_error("boom".into());
    /// assert_eq!(s.level, Some(langfuse_tracing_core::Level::Error));
    /// ```
    pub fn set_error(&mut self, message: String) {
        self.level = Some(Level::Error);
        self.status_message = Some(message);
    }

    /// A rough size in bytes, used to bound the export queue.
    ///
    /// ```
    /// let s = langfuse_tracing_core::__layer::state::ObservationState::new(1, 1, None, true);
    /// assert!(s.approx_size() >= std::mem::size_of_val(&s));
    /// ```
    pub fn approx_size(&self) -> usize {
        /// What the allocator hands out for a block of `n` bytes: the request plus an
        /// 8-byte header, rounded up to 16, at least 32 (glibc's malloc; others are
        /// close): counting `len` alone undercounts the queue's real memory.
        fn block(n: usize) -> usize {
            if n == 0 {
                0
            } else {
                ((n + 8 + 15) & !15).max(32)
            }
        }
        fn o(s: &Option<String>) -> usize {
            s.as_ref().map_or(0, |s| block(s.capacity()))
        }
        fn pairs(p: &[(String, String)]) -> usize {
            p.iter()
                .map(|(k, v)| block(k.capacity()) + block(v.capacity()))
                .sum::<usize>()
                + block(std::mem::size_of_val(p))
        }
        // The boxed state, plus its pointer and size in the queue.
        let mut n = block(std::mem::size_of::<Self>())
            + 16
            + o(&self.input)
            + o(&self.output)
            + o(&self.status_message)
            + o(&self.version)
            + o(&self.environment)
            + o(&self.release)
            + o(&self.metadata_value)
            + pairs(&self.metadata)
            + block(self.extra.capacity() * std::mem::size_of::<(Cow<'static, str>, AttrValue)>())
            + self
                .extra
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Cow::Owned(k) => block(k.capacity()),
                        Cow::Borrowed(_) => 0,
                    };
                    let value = match v {
                        AttrValue::Str(s) => block(s.capacity()),
                        AttrValue::StrArray(a) => {
                            block(a.capacity() * 24)
                                + a.iter().map(|s| block(s.capacity())).sum::<usize>()
                        }
                        _ => 0,
                    };
                    key + value
                })
                .sum::<usize>();
        if let Some(Cow::Owned(name)) = &self.name {
            n += block(name.capacity());
        }
        if let Some(g) = &self.generation {
            n += o(&g.model)
                + o(&g.model_parameters)
                + o(&g.usage_details)
                + o(&g.cost_details)
                + o(&g.completion_start_time)
                + g.prompt.as_ref().map_or(0, |p| block(p.0.capacity()));
        }
        if let Some(t) = &self.trace {
            n += block(std::mem::size_of::<TraceFields>())
                + o(&t.name)
                + o(&t.user_id)
                + o(&t.session_id)
                + o(&t.input)
                + o(&t.output)
                + block(t.tags.capacity() * 24)
                + t.tags.iter().map(|s| block(s.capacity())).sum::<usize>()
                + pairs(&t.metadata);
        }
        n
    }
}

/// Replaces the value of `key` in a small ordered map, or appends it (one scan: for
/// lists that stay short, or merges that go through a [`KeyIndex`]).
pub(crate) fn merge_pair(pairs: &mut Vec<(String, String)>, key: String, value: String) {
    if let Some(slot) = pairs.iter_mut().find(|(k, _)| *k == key) {
        slot.1 = value;
    } else {
        pairs.push((key, value));
    }
}

/// Merges every pair of `from` into `into` (later values win per key), in time linear
/// in both lengths.
pub(crate) fn merge_pairs(into: &mut Vec<(String, String)>, from: Vec<(String, String)>) {
    let mut index = KeyIndex::default();
    for (k, v) in from {
        index.merge(into, k, v);
    }
}

/// The position of each key of an ordered list of `(key, value)` pairs, built once the
/// list is long: scanning the list on every merge made 30,000 metadata keys on one
/// observation take seconds (quadratic). Short lists are scanned (no hashing, no
/// allocation). Derived data: two indexes always compare equal.
///
/// ```
/// use langfuse_tracing_core::__layer::state::KeyIndex;
/// let (mut pairs, mut index) = (Vec::new(), KeyIndex::default());
/// for i in 0..100 {
///     index.merge(&mut pairs, format!("k{}", i % 50), i.to_string());
/// }
/// assert_eq!(pairs.len(), 50);
/// assert_eq!(pairs[3], ("k3".to_string(), "53".to_string()));
/// ```
#[derive(Clone, Default)]
// Boxed: one word in every state rather than six; few states ever have an index.
#[allow(clippy::box_collection)]
pub struct KeyIndex(Option<Box<HashMap<String, usize>>>);

impl KeyIndex {
    /// No index (the list is scanned until it grows long).
    pub const EMPTY: KeyIndex = KeyIndex(None);

    /// Lists shorter than this are scanned.
    const FROM_LEN: usize = 16;

    /// Replaces the value of `key` in `pairs`, or appends the pair; `pairs` must only
    /// grow through this index (another change to it makes the index rebuild).
    pub fn merge(&mut self, pairs: &mut Vec<(String, String)>, key: String, value: String) {
        if pairs.len() < Self::FROM_LEN {
            self.0 = None;
            merge_pair(pairs, key, value);
            return;
        }
        let index = self.0.get_or_insert_with(Default::default);
        if index.len() != pairs.len() {
            // New, or `pairs` changed behind the index' back: (re)build it. The first
            // of duplicate keys wins, as in a scan.
            index.clear();
            for (i, (k, _)) in pairs.iter().enumerate() {
                index.entry(k.clone()).or_insert(i);
            }
        }
        match index.get(&key) {
            Some(&i) => pairs[i].1 = value,
            None => {
                index.insert(key.clone(), pairs.len());
                pairs.push((key, value));
            }
        }
    }
}

impl std::fmt::Debug for KeyIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyIndex")
    }
}

impl PartialEq for KeyIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 30,000 keys merge into one observation with the semantics of the scan: first
    /// insertion order, later values win (issue 17: this took seconds when each
    /// merge scanned the list).
    #[test]
    fn many_metadata_keys_merge_in_order_with_later_values_winning() {
        const N: usize = 30_000;
        let mut s = ObservationState::new(1, 2, None, true);
        for i in 0..N {
            s.merge_metadata(format!("key-{i}"), i.to_string());
        }
        for i in (0..N).step_by(2) {
            s.merge_metadata(format!("key-{i}"), format!("\"again-{i}\""));
        }
        // A pair added behind the index' back is found after a rebuild.
        s.metadata.push(("pushed".into(), "1".into()));
        s.merge_metadata("pushed".into(), "2".into());
        s.merge_metadata("last".into(), "3".into());
        assert_eq!(s.metadata.len(), N + 2);
        for (i, (k, v)) in s.metadata.iter().take(N).enumerate() {
            assert_eq!(*k, format!("key-{i}"));
            let want = if i % 2 == 0 {
                format!("\"again-{i}\"")
            } else {
                i.to_string()
            };
            assert_eq!(*v, want);
        }
        assert_eq!(s.metadata[N], ("pushed".to_string(), "2".to_string()));
        assert_eq!(s.metadata[N + 1], ("last".to_string(), "3".to_string()));
    }

    #[test]
    fn merging_pairs_keeps_order_and_lets_later_values_win() {
        let mut into: Vec<(String, String)> =
            (0..40).map(|i| (format!("k{i}"), "old".into())).collect();
        let from = (30..50)
            .map(|i| (format!("k{i}"), "new".into()))
            .chain([("k49".to_string(), "newest".to_string())])
            .collect();
        merge_pairs(&mut into, from);
        assert_eq!(into.len(), 50);
        assert!(into
            .iter()
            .enumerate()
            .all(|(i, (k, _))| *k == format!("k{i}")));
        assert_eq!(into[29].1, "old");
        assert_eq!(into[30].1, "new");
        assert_eq!(into[49].1, "newest");
    }
}
