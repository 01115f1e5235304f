//! `LangfuseLayer`: turns `tracing` spans that carry Langfuse fields into observations.
//!
//! The hot path per span: decide once from the static field set whether the span is an
//! observation (others cost nothing), draw ids from a thread-local generator, keep one
//! [`ObservationState`] in the span's extensions, and on close move it into the export
//! queue. No lock is shared by all threads on this path except the queue itself, and
//! nothing is serialised here: values arrive already encoded.

use std::any::TypeId;
use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use langfuse_tracing_core::__layer::context::with_current_frame;
use langfuse_tracing_core::__layer::hooks::{note_layer_attached, LayerHooks};
use langfuse_tracing_core::__layer::state::{AttrValue, IdSource, ObservationState};
use langfuse_tracing_core::__layer::warn::generation_fields_not_exported;
use langfuse_tracing_core::attributes as attr;
use langfuse_tracing_core::encoding::{encode_metadata, write_json_str, JsonStyle};
use langfuse_tracing_core::ids::{random_u128, random_u64};
use langfuse_tracing_core::mask::{
    mask_field_io, mask_field_metadata, mask_field_metadata_value, note_mask_installed, Mask,
};

/// An observation's state, in its span's extensions: its one home from `on_new_span`
/// until `on_close` (or `Observation::end`) takes it out for export. Everything else
/// (the `#[observe]` expansion, handles, `update_current_*`) reaches it through the
/// subscriber's span lookup, under the extensions' lock.
type Slot = Box<ObservationState>;
use langfuse_tracing_core::{Level, ObservationType};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Dispatch, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, SpanRef};
use tracing_subscriber::Layer;

use crate::builder::LayerBuilder;
use crate::config::{ConfigError, LangfuseConfig, SpanFilter};
use crate::export::{LangfuseHandle, Pipeline};

#[cfg(feature = "tracing-opentelemetry")]
mod otel_ids;

/// A `tracing_subscriber` layer that exports Langfuse observations.
///
/// Every span with a `langfuse.*` field (as `#[observe]` and the builders create) becomes
/// one observation; other spans are kept only if the span filter says so (by default:
/// spans with `gen_ai.*` fields), and otherwise are transparent: their children attach
/// to the nearest observation above them.
///
/// ```
/// use tracing_subscriber::prelude::*;
/// let layer = langfuse_tracing::LangfuseLayer::builder().console(false).build().unwrap();
/// let handle = layer.handle();
/// let subscriber = tracing_subscriber::registry().with(layer);
/// tracing::subscriber::with_default(subscriber, || {
///     let span = tracing::info_span!("work", langfuse.observation.type = "span");
///     let _entered = span.enter();
/// });
/// handle.shutdown().unwrap();
/// ```
pub struct LangfuseLayer {
    shared: Arc<Shared>,
    hooks: Option<LayerHooks>,
    /// Applied to input, output and metadata before they are stored (see
    /// `langfuse_tracing_core::mask`); reaches the API through `hooks`.
    mask: Option<Mask>,
    /// The `OpenTelemetryLayer` beside this one, whose ids observations take.
    #[cfg(feature = "tracing-opentelemetry")]
    otel: otel_ids::OtelIds,
}

struct Shared {
    pipeline: Option<Arc<Pipeline>>,
    handle: LangfuseHandle,
    /// Keep a trace iff the low 64 bits of its id are below this (None: keep all).
    sample_below: Option<u64>,
    filter: Option<SpanFilter>,
}

impl fmt::Debug for LangfuseLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LangfuseLayer")
            .field("enabled", &self.shared.pipeline.is_some())
            .field("sample_below", &self.shared.sample_below)
            .finish_non_exhaustive()
    }
}

impl LangfuseLayer {
    /// A builder starting from defaults (no environment variables read).
    ///
    /// ```
    /// let layer = langfuse_tracing::LangfuseLayer::builder().console(false).build().unwrap();
    /// # layer.handle().shutdown().unwrap();
    /// ```
    pub fn builder() -> LayerBuilder {
        LayerBuilder::new(LangfuseConfig::builder())
    }

    /// A layer configured from the `LANGFUSE_*` environment variables. Without
    /// credentials it prints each finished trace to stderr instead of sending it.
    ///
    /// ```no_run
    /// use tracing_subscriber::prelude::*;
    /// tracing_subscriber::registry()
    ///     .with(langfuse_tracing::LangfuseLayer::from_env().unwrap())
    ///     .init();
    /// ```
    pub fn from_env() -> Result<LangfuseLayer, ConfigError> {
        Self::from_config(LangfuseConfig::from_env()?)
    }

    /// A layer from a finished configuration; starts the export thread.
    ///
    /// ```
    /// let config = langfuse_tracing::LangfuseConfig::builder().console(false).build().unwrap();
    /// let layer = langfuse_tracing::LangfuseLayer::from_config(config).unwrap();
    /// # layer.handle().shutdown().unwrap();
    /// ```
    pub fn from_config(config: LangfuseConfig) -> Result<LangfuseLayer, ConfigError> {
        Self::from_parts(config, None)
    }

    pub(crate) fn from_parts(
        config: LangfuseConfig,
        custom: Option<crate::export::BoxedDestination>,
    ) -> Result<LangfuseLayer, ConfigError> {
        let sample_below = if config.sample_rate >= 1.0 {
            None
        } else {
            Some(
                (config.sample_rate * 2f64.powi(64))
                    .round()
                    .min(u64::MAX as f64) as u64,
            )
        };
        let filter = config.span_filter.clone();
        let uploader = crate::media::Uploader::for_config(&config)?.map(Arc::new);
        // Media found in what the layer exports is replaced by the export thread, off
        // the application's threads.
        let media = uploader.clone().filter(|_| crate::media::upload_enabled());
        let pipeline = if config.enabled {
            Some(Pipeline::start(&config, custom, media)?)
        } else {
            None
        };
        let handle = LangfuseHandle::new(pipeline.clone())
            .with_scores(crate::scores::Scores::start(&config, sample_below)?)
            .with_uploader(uploader);
        Ok(LangfuseLayer {
            shared: Arc::new(Shared {
                pipeline,
                handle,
                sample_below,
                filter,
            }),
            hooks: None,
            mask: None,
            #[cfg(feature = "tracing-opentelemetry")]
            otel: otel_ids::OtelIds::default(),
        })
    }

    /// Sets the mask (from the builder, before the layer is attached).
    pub(crate) fn set_mask(&mut self, mask: Option<Mask>) {
        if mask.is_some() {
            note_mask_installed();
        }
        self.mask = mask;
    }

    /// The handle to flush or shut down this layer's export, usable after the layer
    /// has moved into a subscriber.
    ///
    /// ```
    /// let layer = langfuse_tracing::LangfuseLayer::builder().console(false).build().unwrap();
    /// let handle = layer.handle();
    /// handle.flush().unwrap();
    /// handle.shutdown().unwrap();
    /// ```
    pub fn handle(&self) -> LangfuseHandle {
        self.shared.handle.clone()
    }

    fn is_observation(&self, meta: &tracing::Metadata<'_>) -> bool {
        let fields = meta.fields();
        if fields.iter().any(|f| f.name().starts_with("langfuse.")) {
            return true;
        }
        match &self.shared.filter {
            // The filter is user code called at every span's creation: a panic there is
            // a span not recorded and one warning, never a panic at every `span!`.
            Some(filter) => {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (filter.0)(meta)))
                    .unwrap_or_else(|_| {
                        langfuse_tracing_core::__layer::warn::emit(
                            "the span filter panicked; the span it was deciding is not recorded",
                        );
                        false
                    })
            }
            None => fields.iter().any(|f| f.name().starts_with("gen_ai.")),
        }
    }
}

impl<S> Layer<S> for LangfuseLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_layer(&mut self, _subscriber: &mut S) {
        note_layer_attached();
        self.hooks = Some(LayerHooks {
            with_state: with_state::<S>,
            with_current_state: with_current_state::<S>,
            current_observation: current_observation::<S>,
            records_every_observation: AtomicBool::new(
                self.shared.pipeline.is_some() && self.shared.sample_below.is_none(),
            ),
            #[cfg(feature = "tracing-opentelemetry")]
            resolve_ids: Some(LangfuseLayer::resolve_ids_hook::<S>),
            #[cfg(not(feature = "tracing-opentelemetry"))]
            resolve_ids: None,
            submit: submit_ended,
            mask: self.mask.clone(),
        });
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if self.shared.pipeline.is_none() || !self.is_observation(attrs.metadata()) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };

        // The nearest observation above this span in the `tracing` tree (the Registry
        // has resolved the parent: explicit, or the current span; under a per-layer
        // filter, the nearest span this layer sees).
        let parent: Option<(u128, u64, bool, Id, IdSource)> = span.parent().and_then(|direct| {
            find_up(direct, |ancestor| {
                let ext = ancestor.extensions();
                let s = ext.get::<Slot>()?;
                Some((s.trace_id, s.span_id, s.sampled, ancestor.id(), s.id_source))
            })
        });

        let (remote, propagated) = with_current_frame(|frame| match frame {
            Some(f) => {
                let anchor = parent.as_ref().map(|p| &p.3);
                let remote = f
                    .remote_parent
                    .as_ref()
                    .filter(|r| r.anchor.as_ref() == anchor)
                    .cloned();
                (remote, f.propagated.clone())
            }
            None => (None, None),
        });

        let (trace_id, parent_span_id, sampled, app_root, as_root) = match (remote, &parent) {
            // The first observation under a remote parent is this process's app root
            // in the trace, unless the caller claimed the trace for its own open
            // observations (`langfuse_trace_id` baggage, reference §6.6).
            (Some(r), _) => (
                r.trace_id,
                Some(r.span_id),
                self.sample(r.trace_id),
                !r.claimed,
                r.as_root,
            ),
            (None, Some((trace_id, span_id, sampled, _, _))) => {
                (*trace_id, Some(*span_id), *sampled, false, false)
            }
            (None, None) => {
                let trace_id = random_u128();
                (trace_id, None, self.sample(trace_id), true, false)
            }
        };
        // Boxed (usually in a box the exporter gave back): the state is a few hundred
        // bytes, and from here to the export queue it moves as one pointer.
        // Following OpenTelemetry, these ids (and the sampling decision) are
        // provisional: recorded as sampled until the OpenTelemetry span gives its own.
        let provisional = self.follows_otel()
            || parent
                .as_ref()
                .is_some_and(|p| p.4 == IdSource::Provisional);
        let mut state = langfuse_tracing_core::__layer::recycle::new_state(
            trace_id,
            random_u64(),
            parent_span_id,
            sampled || provisional,
        );
        if provisional {
            state.id_source = IdSource::Provisional;
        }
        let mut warnings = Vec::new();
        state.is_app_root = app_root;
        state.as_root = as_root;
        state.name = Some(Cow::Borrowed(attrs.metadata().name()));
        if state.sampled {
            state.propagated = propagated;
            // Until a `langfuse.observation.type` field says otherwise, the server
            // infers the type (a third-party `gen_ai.*` span becomes a generation).
            state.infer_type = true;
            let mut visitor = FieldVisitor {
                state: &mut state,
                warnings: Vec::new(),
                mask: self.mask.as_ref(),
            };
            attrs.record(&mut visitor);
            warnings = visitor.warnings;
            if state.as_type == ObservationType::Event {
                state.end_time = Some(state.start_time);
            }
        }
        if state.sampled {
            if let Some(pipeline) = &self.shared.pipeline {
                pipeline.opened(&mut state);
            }
        }
        span.extensions_mut().insert::<Slot>(state);
        log_warnings(warnings);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let recording = span
            .extensions()
            .get::<Slot>()
            .is_some_and(|state| state.sampled && !state.ended);
        if !recording {
            return;
        }
        // The user's code (`Debug`, `Display`, the mask) runs first, with no lock held:
        // a panic there must not poison the span's extensions (every later access, the
        // close included, would panic), and a mask may call back into the SDK.
        let mut collect = Collect {
            mask: self.mask.as_ref(),
            recorded: Vec::new(),
        };
        values.record(&mut collect);
        let mut warnings = Vec::new();
        if let Some(state) = span.extensions_mut().get_mut::<Slot>() {
            if state.sampled && !state.ended {
                let mut visitor = FieldVisitor {
                    state,
                    warnings: Vec::new(),
                    mask: None,
                };
                for recorded in collect.recorded {
                    visitor.apply(recorded);
                }
                warnings = visitor.warnings;
            }
        }
        log_warnings(warnings);
    }

    #[cfg(feature = "tracing-opentelemetry")]
    fn on_register_dispatch(&self, dispatch: &Dispatch) {
        self.otel.register(dispatch);
    }

    #[cfg(feature = "tracing-opentelemetry")]
    #[inline]
    fn on_enter(&self, id: &Id, _ctx: Context<'_, S>) {
        self.otel_on_enter::<S>(id);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(mut state) = span.extensions_mut().remove::<Slot>() else {
            return;
        };
        #[cfg(feature = "tracing-opentelemetry")]
        if state.id_source != IdSource::Own {
            drop(span);
            self.otel_at_close::<S>(&id, &mut state);
        }
        // An ended observation was queued by `end()`; only its ids were left here.
        if !state.sampled || state.ended {
            if let Some(pipeline) = &self.shared.pipeline {
                pipeline.finished(&mut state);
            }
            return;
        }
        if state.end_time.is_none() {
            // Not before the start: the system clock may have been set back meanwhile.
            state.end_time = Some(std::time::SystemTime::now().max(state.start_time));
        }
        self.submit(state);
    }

    // The one `unsafe` of the workspace: the trait method is `unsafe fn` in
    // `tracing_subscriber::Layer` (its callers cast the pointer back to the type whose
    // `TypeId` they asked for).
    #[allow(unsafe_code)]
    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        // SAFETY: each branch returns a pointer to a value of exactly the type whose
        // `TypeId` matched (`Self`, `LayerHooks`, `ScoreHook`), borrowed from `self`,
        // which the subscriber keeps alive as long as callers use the pointer; this
        // is the contract of `downcast_raw` (see `Layer::downcast_raw`).
        if id == TypeId::of::<Self>() {
            Some(self as *const Self as *const ())
        } else if id == TypeId::of::<LayerHooks>() {
            self.hooks
                .as_ref()
                .map(|h| h as *const LayerHooks as *const ())
        } else if id == TypeId::of::<langfuse_tracing_core::score::ScoreHook>() {
            let hook = self.shared.handle.score_hook();
            hook.map(|h| h as *const langfuse_tracing_core::score::ScoreHook as *const ())
        } else {
            None
        }
    }
}

impl LangfuseLayer {
    /// Queues a finished observation for export.
    #[inline]
    fn submit(&self, state: Box<ObservationState>) {
        if let Some(pipeline) = &self.shared.pipeline {
            let size = state.approx_size();
            pipeline.submit(state, size);
        }
    }

    /// New observations take their ids from `tracing-opentelemetry` (provisional
    /// until then): the feature is on and an `OpenTelemetryLayer` is, or may be, there.
    #[inline]
    fn follows_otel(&self) -> bool {
        #[cfg(feature = "tracing-opentelemetry")]
        return self.otel.may_follow();
        #[cfg(not(feature = "tracing-opentelemetry"))]
        return false;
    }

    #[inline]
    fn sample(&self, trace_id: u128) -> bool {
        match self.shared.sample_below {
            None => true,
            Some(below) => (trace_id as u64) < below,
        }
    }
}

/// `LayerHooks::submit`: an observation ended by `end()` while its span stays open.
fn submit_ended(dispatch: &Dispatch, state: Box<ObservationState>) {
    if let Some(layer) = dispatch.downcast_ref::<LangfuseLayer>() {
        layer.submit(state);
    }
}

fn with_state<S>(dispatch: &Dispatch, id: &Id, f: &mut dyn FnMut(&mut ObservationState)) -> bool
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(span) = dispatch.downcast_ref::<S>().and_then(|s| s.span(id)) else {
        return false;
    };
    let mut ext = span.extensions_mut();
    match ext.get_mut::<Slot>() {
        Some(state) => {
            f(state);
            true
        }
        None => false,
    }
}

fn with_current_state<S>(
    dispatch: &Dispatch,
    _hooks: &LayerHooks,
    f: &mut dyn FnMut(&mut ObservationState),
) -> bool
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(subscriber) = dispatch.downcast_ref::<S>() else {
        return false;
    };
    let current = subscriber.current_span();
    let Some(span) = current.id().and_then(|id| subscriber.span(id)) else {
        return false;
    };
    find_up(span, |s| {
        let mut ext = s.extensions_mut();
        let state = ext.get_mut::<Slot>()?;
        f(state);
        Some(())
    })
    .is_some()
}

fn current_observation<S>(dispatch: &Dispatch) -> Option<Id>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let subscriber = dispatch.downcast_ref::<S>()?;
    let current = subscriber.current_span();
    let span = subscriber.span(current.id()?)?;
    find_up(span, |s| {
        s.extensions().get::<Slot>().is_some().then(|| s.id())
    })
}

/// The first value `f` gives for `start` or, going up, one of its ancestors (those this
/// layer sees, as `SpanRef::parent` and `SpanRef::scope` skip the others). One span
/// lookup a step: `scope()` would look `start` itself up again.
fn find_up<'a, R, T>(
    start: SpanRef<'a, R>,
    mut f: impl FnMut(&SpanRef<'a, R>) -> Option<T>,
) -> Option<T>
where
    R: LookupSpan<'a>,
{
    let mut next = Some(start);
    while let Some(span) = next {
        if let Some(found) = f(&span) {
            return Some(found);
        }
        next = span.parent();
    }
    None
}

/// The fields the exporter only writes for generation-like observations.
const GENERATION_FIELDS: [&str; 7] = [
    attr::OBSERVATION_MODEL,
    attr::OBSERVATION_MODEL_PARAMETERS,
    attr::OBSERVATION_USAGE_DETAILS,
    attr::OBSERVATION_COST_DETAILS,
    attr::OBSERVATION_COMPLETION_START_TIME,
    attr::OBSERVATION_PROMPT_NAME,
    attr::OBSERVATION_PROMPT_VERSION,
];

/// How the warning for generation fields names a `tracing` field update.
const FIELD_UPDATE: &str = "`langfuse.observation.*` span field";

fn is_generation_field(name: &str) -> bool {
    GENERATION_FIELDS.contains(&name)
}

/// Maps `tracing` field values onto the observation state.
///
/// Problems are collected in `warnings` and logged by the caller once the span's
/// extensions are unlocked: logging under the lock could deadlock a formatting layer
/// that reads the same span.
struct FieldVisitor<'a> {
    state: &'a mut ObservationState,
    warnings: Vec<String>,
    /// The layer's mask, applied to input, output and metadata fields (a metadata key
    /// as the object `{key: value}`).
    mask: Option<&'a Mask>,
}

fn log_warnings(warnings: Vec<String>) {
    for w in warnings {
        langfuse_tracing_core::__layer::warn::emit(&w);
    }
}

/// A field value as the visitor received it.
enum Val<'v> {
    Str(&'v str),
    Owned(String),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

impl Val<'_> {
    /// The text form: strings as they are, numbers and booleans printed.
    fn text(self) -> String {
        match self {
            Val::Str(s) => s.to_owned(),
            Val::Owned(s) => s,
            Val::I64(v) => v.to_string(),
            Val::U64(v) => v.to_string(),
            Val::F64(v) => encode_metadata(&v),
            Val::Bool(v) => v.to_string(),
        }
    }

    /// The metadata encoding: strings quoted, numbers and booleans as JSON.
    fn metadata(self) -> String {
        match self {
            Val::Str(s) => json_str(s),
            Val::Owned(s) => json_str(&s),
            Val::I64(v) => encode_metadata(&v),
            Val::U64(v) => encode_metadata(&v),
            Val::F64(v) => encode_metadata(&v),
            Val::Bool(v) => encode_metadata(&v),
        }
    }

    fn as_bool(&self) -> Option<bool> {
        match self {
            Val::Bool(b) => Some(*b),
            Val::Str(s) => s.parse().ok(),
            Val::Owned(s) => s.parse().ok(),
            _ => None,
        }
    }

    fn as_i64(&self) -> Option<i64> {
        match self {
            Val::I64(v) => Some(*v),
            Val::U64(v) => i64::try_from(*v).ok(),
            Val::Str(s) => s.trim().parse().ok(),
            Val::Owned(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    fn into_attr(self) -> AttrValue {
        match self {
            Val::Str(s) => AttrValue::Str(s.to_owned()),
            Val::Owned(s) => AttrValue::Str(s),
            Val::I64(v) => AttrValue::I64(v),
            Val::U64(v) => {
                i64::try_from(v).map_or_else(|_| AttrValue::Str(v.to_string()), AttrValue::I64)
            }
            Val::F64(v) => AttrValue::F64(v),
            Val::Bool(v) => AttrValue::Bool(v),
        }
    }
}

/// An IO-encoded field value, masked when there is a mask.
fn masked_io(mask: Option<&Mask>, text: String) -> String {
    match mask {
        Some(mask) => mask_field_io(mask, text),
        None => text,
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_json_str(&mut out, s, JsonStyle::Metadata);
    out
}

/// Tags from a field: a JSON array of strings, or a comma-separated list.
fn parse_tags(text: &str) -> Vec<String> {
    let t = text.trim();
    if t.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<String>>(t) {
            return v;
        }
    }
    t.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A field value `on_record` collected before taking the span's lock, with the mask
/// already applied where one applies.
enum Recorded {
    /// A value as `set` takes it (an input or output already masked).
    Field(&'static str, Val<'static>),
    /// `langfuse.observation.metadata`, masked.
    MaskedMetadataValue(String),
    /// One `langfuse.{observation,trace}.metadata.<key>` field, masked.
    MaskedMetadata {
        trace: bool,
        pairs: Vec<(String, String)>,
        single: Option<String>,
    },
}

/// Collects a `Record`'s values (running the user's `Debug`/`Display` and the mask).
struct Collect<'a> {
    mask: Option<&'a Mask>,
    recorded: Vec<Recorded>,
}

impl Collect<'_> {
    fn push(&mut self, name: &'static str, value: Val<'static>) {
        let Some(mask) = self.mask else {
            self.recorded.push(Recorded::Field(name, value));
            return;
        };
        let recorded = match name {
            attr::OBSERVATION_INPUT
            | attr::OBSERVATION_OUTPUT
            | attr::TRACE_INPUT
            | attr::TRACE_OUTPUT => {
                Recorded::Field(name, Val::Owned(mask_field_io(mask, value.text())))
            }
            attr::OBSERVATION_METADATA => {
                Recorded::MaskedMetadataValue(mask_field_metadata_value(mask, value.metadata()))
            }
            _ => match metadata_key(name) {
                Some((trace, key)) => {
                    let pairs = vec![(key.to_owned(), value.metadata())];
                    let (pairs, single) = mask_field_metadata(mask, pairs);
                    Recorded::MaskedMetadata {
                        trace,
                        pairs,
                        single,
                    }
                }
                None => Recorded::Field(name, value),
            },
        };
        self.recorded.push(recorded);
    }
}

impl Visit for Collect<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field.name(), Val::Owned(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field.name(), Val::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field.name(), Val::U64(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field.name(), Val::F64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field.name(), Val::Bool(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field.name(), Val::Owned(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field.name(), Val::Owned(format!("{value:?}")));
    }
}

/// `(is trace metadata, key)` of a `langfuse.{observation,trace}.metadata.<key>` field.
fn metadata_key(name: &str) -> Option<(bool, &str)> {
    if let Some(key) = name.strip_prefix("langfuse.observation.metadata.") {
        Some((false, key))
    } else {
        name.strip_prefix("langfuse.trace.metadata.")
            .map(|key| (true, key))
    }
}

impl FieldVisitor<'_> {
    /// Applies one value `on_record` collected (masked already: `self.mask` is `None`).
    fn apply(&mut self, recorded: Recorded) {
        match recorded {
            Recorded::Field(name, value) => self.set(name, value),
            Recorded::MaskedMetadataValue(value) => self.state.metadata_value = Some(value),
            Recorded::MaskedMetadata {
                trace,
                pairs,
                single,
            } => self.put_metadata(trace, pairs, single),
        }
    }

    /// One metadata key (observation or trace), masked; a single value the mask made of
    /// it becomes the observation's metadata value (dropped for the trace).
    fn metadata(&mut self, trace: bool, key: &str, value: String) {
        let (pairs, single) = match self.mask {
            Some(mask) => mask_field_metadata(mask, vec![(key.to_owned(), value)]),
            None => (vec![(key.to_owned(), value)], None),
        };
        self.put_metadata(trace, pairs, single);
    }

    fn put_metadata(&mut self, trace: bool, pairs: Vec<(String, String)>, single: Option<String>) {
        let s = &mut *self.state;
        for (key, value) in pairs {
            if trace {
                let t = s.trace_mut();
                if let Some(slot) = t.metadata.iter_mut().find(|(k, _)| *k == key) {
                    slot.1 = value;
                } else {
                    t.metadata.push((key, value));
                }
            } else {
                s.merge_metadata(key, value);
            }
        }
        if let (Some(single), false) = (single, trace) {
            s.metadata_value = Some(single);
        }
    }

    fn set(&mut self, name: &'static str, v: Val<'_>) {
        let s = &mut *self.state;
        if !s.as_type.is_generation_like() && is_generation_field(name) {
            // Kept (the type may still change), but not exported for this type.
            let w = generation_fields_not_exported(FIELD_UPDATE, s.as_type);
            if !self.warnings.contains(&w) {
                self.warnings.push(w);
            }
        }
        match name {
            attr::OBSERVATION_TYPE => {
                // Parsed from the borrowed text: no allocation in the common case.
                let parsed = match &v {
                    Val::Str(t) => ObservationType::from_wire(t),
                    Val::Owned(t) => ObservationType::from_wire(t),
                    _ => None,
                };
                s.infer_type = false;
                s.as_type = match parsed {
                    Some(t) => t,
                    None => {
                        let text = v.text();
                        self.warnings
                            .push(format!("unknown observation type {text:?}; using `span`"));
                        ObservationType::Span
                    }
                };
                if s.as_type.is_generation_like() && !self.warnings.is_empty() {
                    // Generation fields recorded before the type (field order) are exported.
                    let early = generation_fields_not_exported(FIELD_UPDATE, ObservationType::Span);
                    self.warnings.retain(|w| *w != early);
                }
            }
            attr::OBSERVATION_INPUT => s.input = Some(masked_io(self.mask, v.text())),
            attr::OBSERVATION_OUTPUT => s.output = Some(masked_io(self.mask, v.text())),
            attr::OBSERVATION_LEVEL => {
                let text = v.text();
                match text.parse::<Level>() {
                    Ok(level) => s.level = Some(level),
                    Err(_) => self
                        .warnings
                        .push(format!("unknown level {text:?}; ignored")),
                }
            }
            attr::OBSERVATION_STATUS_MESSAGE => s.status_message = Some(v.text()),
            attr::VERSION => s.version = Some(v.text()),
            attr::ENVIRONMENT => s.environment = Some(v.text()),
            attr::RELEASE => s.release = Some(v.text()),
            attr::OBSERVATION_METADATA => {
                let value = v.metadata();
                s.metadata_value = Some(match self.mask {
                    Some(mask) => mask_field_metadata_value(mask, value),
                    None => value,
                });
            }
            attr::OBSERVATION_MODEL => s.generation_mut().model = Some(v.text()),
            attr::OBSERVATION_MODEL_PARAMETERS => {
                s.generation_mut().model_parameters = Some(v.text())
            }
            attr::OBSERVATION_USAGE_DETAILS => s.generation_mut().usage_details = Some(v.text()),
            attr::OBSERVATION_COST_DETAILS => s.generation_mut().cost_details = Some(v.text()),
            attr::OBSERVATION_COMPLETION_START_TIME => {
                s.generation_mut().completion_start_time = Some(v.text())
            }
            attr::OBSERVATION_PROMPT_NAME => {
                let g = s.generation_mut();
                let version = g.prompt.as_ref().map_or(0, |p| p.1);
                g.prompt = Some((v.text(), version));
            }
            attr::OBSERVATION_PROMPT_VERSION => {
                if let Some(version) = v.as_i64() {
                    let g = s.generation_mut();
                    let name = g.prompt.take().map(|p| p.0).unwrap_or_default();
                    g.prompt = Some((name, version));
                }
            }
            attr::TRACE_NAME => s.trace_mut().name = Some(v.text()),
            attr::TRACE_USER_ID => s.trace_mut().user_id = Some(v.text()),
            attr::TRACE_SESSION_ID => s.trace_mut().session_id = Some(v.text()),
            attr::TRACE_TAGS => {
                let tags = parse_tags(&v.text());
                let t = s.trace_mut();
                for tag in tags {
                    if !t.tags.contains(&tag) {
                        t.tags.push(tag);
                    }
                }
            }
            attr::TRACE_PUBLIC => s.trace_mut().public = v.as_bool().unwrap_or(false),
            attr::TRACE_INPUT => s.trace_mut().input = Some(masked_io(self.mask, v.text())),
            attr::TRACE_OUTPUT => s.trace_mut().output = Some(masked_io(self.mask, v.text())),
            attr::AS_ROOT => s.as_root = v.as_bool().unwrap_or(false),
            _ => {
                if let Some((trace, key)) = metadata_key(name) {
                    self.metadata(trace, key, v.metadata());
                } else {
                    let value = v.into_attr();
                    if let Some(slot) = s.extra.iter_mut().find(|(k, _)| k == name) {
                        slot.1 = value;
                    } else {
                        s.extra.push((Cow::Borrowed(name), value));
                    }
                }
            }
        }
    }
}

impl Visit for FieldVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field.name(), Val::Str(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field.name(), Val::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field.name(), Val::U64(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field.name(), Val::F64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field.name(), Val::Bool(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.set(field.name(), Val::Owned(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.set(field.name(), Val::Owned(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use langfuse_tracing_core::score::ScoreHook;
    use std::sync::atomic::Ordering;
    use tracing_subscriber::prelude::*;

    /// The workspace's one `unsafe fn` (`Layer::downcast_raw`): each type it knows comes
    /// back as a usable value of that type, and any other type as nothing.
    #[test]
    fn downcast_raw_answers_each_type_it_knows_and_nothing_else() {
        let layer = LangfuseLayer::builder().console(false).build().unwrap();
        let handle = layer.handle();
        let has_scores = handle.score_hook().is_some();
        let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));

        let found = dispatch.downcast_ref::<LangfuseLayer>().expect("the layer");
        assert!(found.shared.pipeline.is_some());
        let hooks = dispatch.downcast_ref::<LayerHooks>().expect("the hooks");
        assert!(hooks.records_every_observation.load(Ordering::Relaxed));
        assert_eq!(dispatch.downcast_ref::<ScoreHook>().is_some(), has_scores);
        assert!(dispatch.downcast_ref::<String>().is_none());
        assert!(dispatch.downcast_ref::<Shared>().is_none());

        // The hooks reach a real observation's state through the same pointer.
        tracing::dispatcher::with_default(&dispatch, || {
            let span = tracing::info_span!("x", langfuse.observation.type = "span");
            let mut seen = false;
            assert!((hooks.with_state)(
                &dispatch,
                &span.id().unwrap(),
                &mut |s| seen = s.sampled
            ));
            assert!(seen);
        });
        handle.shutdown().unwrap();
    }
}
