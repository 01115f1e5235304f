//! Observations created by code: the docs' `start_as_current_observation`,
//! `start_observation`, `update`, `update_current_*` and trace-level updates.
//!
//! An observation is a `tracing` span under the hood, so it nests with `#[observe]`,
//! `#[tracing::instrument]` and plain spans. Handles are typed: model, usage, cost,
//! completion start and prompt exist only on generation-like observations.
//!
//! ```
//! use langfuse_tracing_core::observation::{generation, span, GenerationUpdate, SpanUpdate};
//!
//! let answer = span("user-request-pipeline").input(&"Tell me a joke").run(|root| {
//!     let joke = generation("joke-generation").model("gpt-4o").run(|gen| {
//!         gen.update(GenerationUpdate::new().output(&"Why did the span cross the road?"));
//!         "Why did the span cross the road?"
//!     });
//!     root.update(SpanUpdate::new().output(&serde_json::json!({"final_joke": joke})));
//!     joke
//! });
//! assert!(answer.starts_with("Why"));
//! ```

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::time::SystemTime;

use serde::Serialize;
use tracing::Span;

use crate::__layer::context::{current_frame, in_frame, Frame, RemoteParent};
use crate::__layer::hooks::{
    current_dispatcher_has_layer, current_observation_span_id, layer_installed, with_current_state,
    with_span_state,
};
use crate::__layer::state::{merge_pairs, KeyIndex, ObservationState};
use crate::encoding::{encode_io, encode_metadata};
use crate::ids::{random_u64, InvalidId, ObservationId, TraceId};
use crate::types::{Level, ObservationType};

/// Marker: a span-like observation (`span`, `agent`, `tool`, `chain`, `retriever`,
/// `evaluator`, `guardrail`). It has no generation fields.
#[derive(Clone, Copy, Debug)]
pub enum SpanLike {}
/// Marker: a generation-like observation (`generation`, `embedding`).
#[derive(Clone, Copy, Debug)]
pub enum GenerationLike {}
/// Marker: an `event`, a point in time that ends when it is created.
#[derive(Clone, Copy, Debug)]
pub enum EventLike {}

/// The encoded values of one update; shared by builders and update types.
#[derive(Clone, Debug, Default)]
struct Fields {
    name: Option<String>,
    input: Option<String>,
    output: Option<String>,
    metadata: Vec<(String, String)>,
    /// Keeps merging many metadata keys into one update linear.
    metadata_index: KeyIndex,
    metadata_value: Option<String>,
    level: Option<Level>,
    status_message: Option<String>,
    version: Option<String>,
    environment: Option<String>,
    release: Option<String>,
    model: Option<String>,
    model_parameters: Option<String>,
    usage_details: Option<String>,
    cost_details: Option<String>,
    completion_start_time: Option<String>,
    prompt: Option<(String, i64)>,
    /// A mask exists in this process: input and output are JSON and nothing is masked
    /// yet; [`Fields::mask_for`] finishes them once the observation is known.
    raw: bool,
}

thread_local! {
    /// An emptied `Fields` box from this thread's last `update_current_*`, for the next
    /// update builder: no allocation, zeroing and freeing of ~400 bytes per update.
    static SPARE_FIELDS: std::cell::Cell<Option<Box<Fields>>> = const { std::cell::Cell::new(None) };
}

impl Fields {
    /// An empty box: this thread's spare, or a new one.
    #[inline]
    fn spare() -> Box<Fields> {
        let mut fields: Box<Fields> = SPARE_FIELDS
            .try_with(std::cell::Cell::take)
            .ok()
            .flatten()
            .unwrap_or_default();
        fields.raw = crate::mask::mask_installed();
        fields
    }

    /// IO encoding, or JSON while a mask may still apply (see [`crate::mask`]).
    #[inline]
    fn io<T: Serialize + ?Sized>(&self, value: &T) -> String {
        if self.raw {
            crate::mask::json_io(value)
        } else {
            encode_io(value)
        }
    }

    /// Masks and encodes values kept raw, with the mask of the layer that records `span`
    /// (or, without a span, of the current subscriber's layer). Before the state's lock:
    /// the mask is user code.
    #[inline]
    fn mask_for(&mut self, span: Option<&Span>) {
        if self.raw {
            self.raw = false;
            let mask = match span {
                Some(span) => crate::mask::for_span(span),
                None => crate::mask::for_current(),
            };
            crate::mask::finish_values(
                mask.as_ref(),
                &mut self.input,
                &mut self.output,
                &mut self.metadata,
                Some(&mut self.metadata_value),
            );
        }
    }

    /// Keeps an applied box as this thread's spare if it is empty (an update applied to
    /// a sampled-out observation or to none keeps its values and is dropped instead).
    #[inline]
    fn give_back(self: Box<Self>) {
        let empty = self.name.is_none()
            && self.input.is_none()
            && self.output.is_none()
            && self.metadata.is_empty()
            && self.metadata_value.is_none()
            && self.level.is_none()
            && self.status_message.is_none()
            && self.version.is_none()
            && self.environment.is_none()
            && self.release.is_none()
            && self.model.is_none()
            && self.model_parameters.is_none()
            && self.usage_details.is_none()
            && self.cost_details.is_none()
            && self.completion_start_time.is_none()
            && self.prompt.is_none();
        if empty {
            let _ = SPARE_FIELDS.try_with(|spare| spare.set(Some(self)));
        }
    }

    fn apply(mut self, s: &mut ObservationState) -> Option<ObservationType> {
        self.apply_to(s)
    }

    /// Moves the set fields into `s`, leaving `self` empty (no move of the whole,
    /// ~400-byte struct on the hot path). Returns the observation's type when the update
    /// set generation fields on an observation that is not generation-like (they are
    /// kept, but not exported): the caller warns once the state's lock is released.
    fn apply_to(&mut self, s: &mut ObservationState) -> Option<ObservationType> {
        if !s.sampled || s.ended {
            return None;
        }
        if let Some(name) = self.name.take() {
            s.name = Some(Cow::Owned(name));
        }
        macro_rules! set {
            ($($f:ident),*) => {$( if self.$f.is_some() { s.$f = self.$f.take(); } )*};
        }
        set!(
            input,
            output,
            metadata_value,
            level,
            status_message,
            version,
            environment,
            release
        );
        self.metadata_index = KeyIndex::EMPTY;
        for (k, v) in std::mem::take(&mut self.metadata) {
            s.merge_metadata(k, v);
        }
        if self.model.is_some()
            || self.model_parameters.is_some()
            || self.usage_details.is_some()
            || self.cost_details.is_some()
            || self.completion_start_time.is_some()
            || self.prompt.is_some()
        {
            let model = self.model.take();
            let g = s.generation_mut();
            if model.is_some() {
                g.model = model;
            }
            macro_rules! gen {
                ($($f:ident),*) => {$( if self.$f.is_some() { g.$f = self.$f.take(); } )*};
            }
            gen!(
                model_parameters,
                usage_details,
                cost_details,
                completion_start_time,
                prompt
            );
            if !s.as_type.is_generation_like() {
                return Some(s.as_type);
            }
        }
        None
    }

    /// Splits an object into top-level metadata keys; anything else is one value.
    fn add_metadata_value<T: Serialize + ?Sized>(&mut self, value: &T) {
        match serde_json::to_value(value) {
            Ok(serde_json::Value::Object(map)) => {
                // A null value is written as `null`, as the metadata docs show
                // (`{"step": 2, "status": "started", "error": null}`).
                for (k, v) in map {
                    self.metadata_index
                        .merge(&mut self.metadata, k, encode_metadata(&v));
                }
            }
            Ok(serde_json::Value::Null) => {}
            _ => self.metadata_value = Some(encode_metadata(value)),
        }
    }
}

/// Setters every update and builder has. Values are encoded only when `fields_mut()` is
/// `Some` (a Langfuse layer exists in this process), so unobserved code pays nothing.
macro_rules! common_setters {
    () => {
        /// The input (IO encoding: strings as they are, other values as JSON).
        #[inline]
        pub fn input<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
            if let Some(f) = self.fields_mut() {
                f.input = Some(f.io(value));
            }
            self
        }
        /// The output (IO encoding).
        #[inline]
        pub fn output<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
            if let Some(f) = self.fields_mut() {
                f.output = Some(f.io(value));
            }
            self
        }
        /// One metadata key; a later value for the same key wins, other keys stay.
        #[inline]
        pub fn metadata<T: Serialize + ?Sized>(
            mut self,
            key: impl Into<String>,
            value: &T,
        ) -> Self {
            if let Some(f) = self.fields_mut() {
                f.metadata_index
                    .merge(&mut f.metadata, key.into(), encode_metadata(value));
            }
            self
        }
        /// Metadata from an object (each top-level key separately, merged per key), or
        /// any other value as the observation's single metadata value.
        #[inline]
        pub fn metadata_object<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
            if let Some(f) = self.fields_mut() {
                f.add_metadata_value(value);
            }
            self
        }
        /// The level; `Level::Error` also marks the OpenTelemetry status as error.
        #[inline]
        pub fn level(mut self, level: Level) -> Self {
            if let Some(f) = self.fields_mut() {
                f.level = Some(level);
            }
            self
        }
        /// Text explaining the level (an error message).
        #[inline]
        pub fn status_message(mut self, message: impl Into<String>) -> Self {
            if let Some(f) = self.fields_mut() {
                f.status_message = Some(message.into());
            }
            self
        }
        /// The version of the code or prompt that produced this observation.
        #[inline]
        pub fn version(mut self, version: impl Into<String>) -> Self {
            if let Some(f) = self.fields_mut() {
                f.version = Some(version.into());
            }
            self
        }
        /// The environment of this observation (overrides the configured one).
        #[inline]
        pub fn environment(mut self, environment: impl Into<String>) -> Self {
            if let Some(f) = self.fields_mut() {
                f.environment = Some(environment.into());
            }
            self
        }
        /// The release of this observation (overrides the configured one).
        #[inline]
        pub fn release(mut self, release: impl Into<String>) -> Self {
            if let Some(f) = self.fields_mut() {
                f.release = Some(release.into());
            }
            self
        }
    };
}

macro_rules! generation_setters {
    () => {
        /// The model name (`gpt-4o`).
        #[inline]
        pub fn model(mut self, model: impl Into<String>) -> Self {
            if let Some(f) = self.fields_mut() {
                f.model = Some(model.into());
            }
            self
        }
        /// Model parameters (`{"temperature": 0.2}`), IO-encoded.
        #[inline]
        pub fn model_parameters<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
            if let Some(f) = self.fields_mut() {
                f.model_parameters = Some(encode_io(value));
            }
            self
        }
        /// Token usage (`{"input": 10, "output": 50}`), IO-encoded.
        #[inline]
        pub fn usage_details<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
            if let Some(f) = self.fields_mut() {
                f.usage_details = Some(encode_io(value));
            }
            self
        }
        /// Cost in USD (`{"input": 0.0001, "total": 0.0021}`), IO-encoded.
        #[inline]
        pub fn cost_details<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
            if let Some(f) = self.fields_mut() {
                f.cost_details = Some(encode_io(value));
            }
            self
        }
        /// When the first token arrived (time to first token).
        #[inline]
        pub fn completion_start_time(mut self, at: SystemTime) -> Self {
            if let Some(f) = self.fields_mut() {
                f.completion_start_time = Some(crate::__layer::time::io_encoded_timestamp(at));
            }
            self
        }
        /// The Langfuse prompt (name and version) this generation used.
        #[inline]
        pub fn prompt(mut self, name: impl Into<String>, version: i64) -> Self {
            if let Some(f) = self.fields_mut() {
                f.prompt = Some((name.into(), version));
            }
            self
        }
        /// Links the prompt this generation used: a prompt client of
        /// `langfuse_tracing::prompts` (or a [`PromptLink`](crate::prompt::PromptLink)).
        /// A fallback prompt is never linked (reference §2.2): nothing is written.
        #[inline]
        pub fn link_prompt(mut self, prompt: impl Into<crate::prompt::PromptLink>) -> Self {
            if let Some(link) = prompt.into().into_parts() {
                if let Some(f) = self.fields_mut() {
                    f.prompt = Some(link);
                }
            }
            self
        }
    };
}

/// An update of a span-like observation (every field but the generation ones).
///
/// ```
/// use langfuse_tracing_core::observation::SpanUpdate;
/// use langfuse_tracing_core::Level;
/// let u = SpanUpdate::new().output(&"done").metadata("step", &2).level(Level::Warning);
/// langfuse_tracing_core::observation::update_current_span(u); // nothing current: one warning
/// ```
#[derive(Clone, Debug)]
pub struct SpanUpdate {
    /// `None` without a Langfuse layer: the update is then one pointer wide and every
    /// setter a branch (boxed: `Fields` is ~400 bytes, moved by each setter otherwise).
    fields: Option<Box<Fields>>,
}

/// An update of a generation-like observation: every field, model and usage included.
///
/// ```
/// use langfuse_tracing_core::observation::GenerationUpdate;
/// let u = GenerationUpdate::new()
///     .output(&"Rayleigh scattering...")
///     .usage_details(&serde_json::json!({"input_tokens": 5, "output_tokens": 50}))
///     .metadata("confidence", &0.9);
/// # let _ = u;
/// ```
#[derive(Clone, Debug)]
pub struct GenerationUpdate {
    /// `None` without a Langfuse layer: the update is then one pointer wide and every
    /// setter a branch (boxed: `Fields` is ~400 bytes, moved by each setter otherwise).
    fields: Option<Box<Fields>>,
}

impl SpanUpdate {
    /// An empty update. Values are only encoded once a Langfuse layer exists in this process.
    ///
    /// ```
    /// let u = langfuse_tracing_core::observation::SpanUpdate::new().name("renamed");
    /// # let _ = u;
    /// ```
    #[inline]
    pub fn new() -> Self {
        SpanUpdate {
            fields: layer_installed().then(Fields::spare),
        }
    }

    #[inline]
    fn fields_mut(&mut self) -> Option<&mut Fields> {
        self.fields.as_deref_mut()
    }

    /// Renames the observation.
    ///
    /// ```
    /// let u = langfuse_tracing_core::observation::SpanUpdate::new().name("step-2");
    /// # let _ = u;
    /// ```
    #[inline]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        if let Some(f) = self.fields_mut() {
            f.name = Some(name.into());
        }
        self
    }

    common_setters!();
}

impl Default for SpanUpdate {
    fn default() -> Self {
        Self::new()
    }
}

impl GenerationUpdate {
    /// An empty update.
    ///
    /// ```
    /// let u = langfuse_tracing_core::observation::GenerationUpdate::new().model("gpt-4o");
    /// # let _ = u;
    /// ```
    #[inline]
    pub fn new() -> Self {
        GenerationUpdate {
            fields: layer_installed().then(Fields::spare),
        }
    }

    #[inline]
    fn fields_mut(&mut self) -> Option<&mut Fields> {
        self.fields.as_deref_mut()
    }

    /// Renames the observation.
    ///
    /// ```
    /// let u = langfuse_tracing_core::observation::GenerationUpdate::new().name("llm-2");
    /// # let _ = u;
    /// ```
    #[inline]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        if let Some(f) = self.fields_mut() {
            f.name = Some(name.into());
        }
        self
    }

    common_setters!();
    generation_setters!();
}

impl Default for GenerationUpdate {
    fn default() -> Self {
        Self::new()
    }
}

impl From<SpanUpdate> for GenerationUpdate {
    fn from(u: SpanUpdate) -> Self {
        GenerationUpdate { fields: u.fields }
    }
}

/// Options of a new observation; start it with [`ObservationBuilder::start`] (the docs'
/// `start_observation`) or [`ObservationBuilder::run`] / [`ObservationBuilder::run_async`]
/// (the docs' `start_as_current_observation`).
///
/// ```
/// use langfuse_tracing_core::observation::tool;
/// let weather = tool("fetch-weather").input(&serde_json::json!({"city": "Paris"})).start();
/// weather.update(langfuse_tracing_core::observation::SpanUpdate::new().output(&"15°C"));
/// weather.end();
/// ```
#[must_use = "an observation builder does nothing until started"]
pub struct ObservationBuilder<K> {
    name: String,
    as_type: ObservationType,
    fields: Fields,
    trace_context: Option<TraceContext>,
    on: bool,
    _kind: PhantomData<K>,
}

impl<K> fmt::Debug for ObservationBuilder<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObservationBuilder")
            .field("name", &self.name)
            .field("as_type", &self.as_type)
            .finish_non_exhaustive()
    }
}

fn builder<K>(name: impl Into<String>, as_type: ObservationType) -> ObservationBuilder<K> {
    ObservationBuilder {
        name: name.into(),
        as_type,
        fields: Fields {
            raw: crate::mask::mask_installed(),
            ..Fields::default()
        },
        trace_context: None,
        on: layer_installed(),
        _kind: PhantomData,
    }
}

macro_rules! constructors {
    ($($(#[$doc:meta])* $fn:ident => $kind:ty, $t:ident;)*) => {$(
        $(#[$doc])*
        pub fn $fn(name: impl Into<String>) -> ObservationBuilder<$kind> {
            builder(name, ObservationType::$t)
        }
    )*};
}

constructors! {
    /// A `span`: a unit of work.
    ///
    /// ```
    /// let n = langfuse_tracing_core::observation::span("parse").run(|_| 1 + 1);
    /// assert_eq!(n, 2);
    /// ```
    #[doc(alias = "start_span")]
    span => SpanLike, Span;
    /// A `generation`: an LLM call with model, usage, cost and prompt.
    ///
    /// ```
    /// let g = langfuse_tracing_core::observation::generation("llm").model("gpt-4o").start();
    /// g.end();
    /// ```
    #[doc(alias = "start_generation")]
    generation => GenerationLike, Generation;
    /// An `embedding`: an embedding model call (generation-like).
    ///
    /// ```
    /// let e = langfuse_tracing_core::observation::embedding("embed").model("text-embedding-3-small").start();
    /// e.end();
    /// ```
    embedding => GenerationLike, Embedding;
    /// An `agent`: decides on the next steps.
    ///
    /// ```
    /// langfuse_tracing_core::observation::agent("planner").run(|_| ());
    /// ```
    agent => SpanLike, Agent;
    /// A `tool`: a tool call.
    ///
    /// ```
    /// langfuse_tracing_core::observation::tool("search").run(|_| ());
    /// ```
    tool => SpanLike, Tool;
    /// A `chain`: links steps of an application.
    ///
    /// ```
    /// langfuse_tracing_core::observation::chain("rag").run(|_| ());
    /// ```
    chain => SpanLike, Chain;
    /// A `retriever`: a retrieval step.
    ///
    /// ```
    /// langfuse_tracing_core::observation::retriever("vector-search").run(|_| ());
    /// ```
    retriever => SpanLike, Retriever;
    /// An `evaluator`: judges another observation.
    ///
    /// ```
    /// langfuse_tracing_core::observation::evaluator("judge").run(|_| ());
    /// ```
    evaluator => SpanLike, Evaluator;
    /// A `guardrail`: a safety check.
    ///
    /// ```
    /// langfuse_tracing_core::observation::guardrail("pii-filter").run(|_| ());
    /// ```
    guardrail => SpanLike, Guardrail;
    /// An `event`: a point in time, ended as soon as it is started.
    ///
    /// ```
    /// langfuse_tracing_core::observation::event("cache-miss").input(&"key-1").start();
    /// ```
    event => EventLike, Event;
}

/// A span-like observation whose type is chosen at run time; `event` and the
/// generation-like types are rejected here (use [`event`], [`generation`], [`embedding`]).
///
/// ```
/// use langfuse_tracing_core::{observation::span_of_type, ObservationType};
/// assert!(span_of_type("step", ObservationType::Tool).is_some());
/// assert!(span_of_type("step", ObservationType::Generation).is_none());
/// ```
pub fn span_of_type(
    name: impl Into<String>,
    as_type: ObservationType,
) -> Option<ObservationBuilder<SpanLike>> {
    (!as_type.is_generation_like() && as_type != ObservationType::Event)
        .then(|| builder(name, as_type))
}

impl<K> ObservationBuilder<K> {
    #[inline]
    fn fields_mut(&mut self) -> Option<&mut Fields> {
        self.on.then_some(&mut self.fields)
    }

    common_setters!();

    /// Joins an existing trace (for example one whose id came from another system)
    /// instead of the current one; the observation gets `langfuse.internal.as_root`.
    ///
    /// ```
    /// use langfuse_tracing_core::observation::{span, TraceContext};
    /// let ctx = TraceContext::new("6cec55478a541a9eb2b3bfd6c8ba5670").unwrap();
    /// span("linked").trace_context(ctx).run(|_| ());
    /// ```
    pub fn trace_context(mut self, ctx: TraceContext) -> Self {
        self.trace_context = Some(ctx);
        self
    }

    fn create(self, parent: Option<&Span>) -> Observation<K> {
        let as_type = self.as_type;
        let span = match (&self.trace_context, parent) {
            (Some(ctx), _) => {
                // No local parent: the layer takes the remote parent from the frame.
                let frame = Frame {
                    remote_parent: Some(ctx.remote_parent(None)),
                    propagated: current_frame().propagated,
                };
                in_frame(
                    frame,
                    || tracing::info_span!(target: "langfuse", parent: None, "langfuse.observation", langfuse.observation.type = as_type.as_str()),
                )
            }
            (None, Some(p)) => {
                tracing::info_span!(target: "langfuse", parent: p, "langfuse.observation", langfuse.observation.type = as_type.as_str())
            }
            (None, None) => {
                tracing::info_span!(target: "langfuse", "langfuse.observation", langfuse.observation.type = as_type.as_str())
            }
        };
        if span.is_disabled() && layer_installed() {
            crate::__private::warn_disabled_by_filter(&span);
        }
        let mut fields = Fields {
            name: Some(self.name),
            ..self.fields
        };
        fields.mask_for(Some(&span));
        let mut fields = Some(fields);
        let mut ignored = None;
        with_span_state(&span, |s| {
            if let Some(f) = fields.take() {
                ignored = f.apply(s);
            }
        });
        if let Some(as_type) = ignored {
            warn_generation_fields("observation builder", as_type);
        }
        Observation {
            span,
            _kind: PhantomData,
        }
    }

    /// Starts the observation without making it current (the docs' `start_observation`):
    /// its parent is the current observation; end it with [`Observation::end`] (dropping
    /// the handle ends it too).
    ///
    /// ```
    /// let side = langfuse_tracing_core::observation::span("manual-side-task").start();
    /// side.end();
    /// ```
    #[doc(alias = "start_observation")]
    #[doc(alias = "start_span")]
    #[doc(alias = "start_generation")]
    #[doc(alias = "startObservation")]
    pub fn start(self) -> Observation<K> {
        let obs = self.create(None);
        obs.finish_if_event();
        obs
    }

    /// Runs `f` with the new observation current and ends it when `f` returns (the
    /// docs' `start_as_current_observation`). Children created inside are its children.
    ///
    /// ```
    /// use langfuse_tracing_core::observation::{span, SpanUpdate};
    /// let n = span("outer").run(|outer| {
    ///     outer.update(SpanUpdate::new().output(&"done"));
    ///     21 * 2
    /// });
    /// assert_eq!(n, 42);
    /// ```
    ///
    /// A panic in `f` is recorded as `#[observe]` records one (level ERROR, the panic
    /// message), then continues.
    #[doc(alias = "start_as_current_observation")]
    #[doc(alias = "start_as_current_span")]
    #[doc(alias = "start_as_current_generation")]
    #[doc(alias = "startActiveObservation")]
    pub fn run<R>(self, f: impl FnOnce(&Observation<K>) -> R) -> R {
        let obs = self.create(None);
        let _entered = obs.span.enter();
        crate::__private::observe::run(true, &obs.span, || f(&obs))
    }

    /// The async form of [`ObservationBuilder::run`]: the observation is current in
    /// every poll of the future (across `.await`) and ends when it completes.
    ///
    /// ```
    /// # futures_executor_block_on(async {
    /// use langfuse_tracing_core::observation::span;
    /// let v = span("fetch").run_async(|obs| async move { obs.id(); 7 }).await;
    /// assert_eq!(v, 7);
    /// # });
    /// # fn futures_executor_block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let waker = std::task::Waker::noop();
    /// #     let mut cx = std::task::Context::from_waker(&waker);
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
    /// # }
    /// ```
    #[doc(alias = "start_as_current_observation")]
    #[doc(alias = "start_as_current_span")]
    #[doc(alias = "start_as_current_generation")]
    #[doc(alias = "startActiveObservation")]
    pub fn run_async<F, Fut>(self, f: F) -> ObservationFuture<Fut>
    where
        F: FnOnce(Observation<K>) -> Fut,
        Fut: Future,
    {
        let obs = self.create(None);
        let span = obs.span.clone();
        ObservationFuture::new(f(obs), span)
    }
}

impl ObservationBuilder<GenerationLike> {
    generation_setters!();
}

pin_project_lite::pin_project! {
    /// The future of [`ObservationBuilder::run_async`]: polls the inner future with the
    /// observation current, and records a panic escaping it as `#[observe]` does
    /// (level ERROR, the panic message) before the panic continues.
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct ObservationFuture<F> {
        #[pin]
        inner: F,
        span: Span,
    }
}

impl<F> ObservationFuture<F> {
    fn new(inner: F, span: Span) -> Self {
        ObservationFuture { inner, span }
    }

    /// The span the future is polled in.
    ///
    /// ```
    /// let fut = langfuse_tracing_core::observation::span("s").run_async(|_| async { 1 });
    /// assert!(fut.span().is_disabled()); // no subscriber in this example
    /// ```
    pub fn span(&self) -> &Span {
        &self.span
    }
}

impl<F: Future> Future for ObservationFuture<F> {
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let inner = this.inner;
        crate::__private::observe::run(true, this.span, || inner.poll(cx))
    }
}

/// A started observation. Dropping it (or its last clone) ends it, like `end()`.
///
/// ```
/// use langfuse_tracing_core::observation::{generation, span, GenerationUpdate};
/// let parent = span("manual-parent").start();
/// let child = parent.start_observation(generation("manual-child-generation"));
/// child.update(GenerationUpdate::new().model("gpt-4o").usage_details(&serde_json::json!({"input": 10})));
/// child.end();
/// parent.end();
/// ```
pub struct Observation<K = SpanLike> {
    span: Span,
    _kind: PhantomData<K>,
}

impl<K> Clone for Observation<K> {
    fn clone(&self) -> Self {
        Observation {
            span: self.span.clone(),
            _kind: PhantomData,
        }
    }
}

impl<K> fmt::Debug for Observation<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observation")
            .field("id", &self.id())
            .field("trace_id", &self.trace_id())
            .finish()
    }
}

impl<K> Observation<K> {
    /// The `tracing` span behind the observation (to `.instrument()` a future with it,
    /// or to pass into `spawn_blocking`).
    ///
    /// ```
    /// let obs = langfuse_tracing_core::observation::span("s").start();
    /// let _entered = obs.span().enter();
    /// ```
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// The observation id, as on the wire; `None` without a Langfuse layer.
    ///
    /// ```
    /// let obs = langfuse_tracing_core::observation::span("s").start();
    /// assert!(obs.id().is_none()); // no layer installed in this example
    /// ```
    pub fn id(&self) -> Option<ObservationId> {
        let mut id = None;
        with_span_state(&self.span, |s| id = ObservationId::from_u64(s.span_id));
        id
    }

    /// The trace id, as on the wire; `None` without a Langfuse layer.
    ///
    /// ```
    /// let obs = langfuse_tracing_core::observation::span("s").start();
    /// assert!(obs.trace_id().is_none());
    /// ```
    pub fn trace_id(&self) -> Option<TraceId> {
        let mut id = None;
        with_span_state(&self.span, |s| id = TraceId::from_u128(s.trace_id));
        id
    }

    /// Ends the observation now and queues it for export (the next `flush()` sends
    /// it), even while clones of the handle or children still hold its span. Later
    /// updates and ends of it are ignored; its id stays readable.
    ///
    /// ```
    /// langfuse_tracing_core::observation::span("s").start().end();
    /// ```
    pub fn end(self) {
        crate::__layer::hooks::end_span(&self.span, std::time::SystemTime::now());
    }

    fn finish_if_event(&self) {
        with_span_state(&self.span, |s| {
            if s.as_type == ObservationType::Event && s.end_time.is_none() {
                s.end_time = Some(s.start_time);
            }
        });
    }

    /// Starts a child of this observation without making it current.
    ///
    /// ```
    /// use langfuse_tracing_core::observation::{span, tool};
    /// let parent = span("user-request").start();
    /// parent.start_observation(tool("fetch-weather")).end();
    /// ```
    #[doc(alias = "start_span")]
    #[doc(alias = "start_generation")]
    #[doc(alias = "startObservation")]
    pub fn start_observation<C>(&self, child: ObservationBuilder<C>) -> Observation<C> {
        let obs = child.create(Some(&self.span));
        obs.finish_if_event();
        obs
    }

    /// Runs `f` with a new child of this observation current.
    ///
    /// ```
    /// use langfuse_tracing_core::observation::span;
    /// span("outer-process").run(|outer| {
    ///     outer.start_as_current_observation(span("intermediate-step"), |mid| {
    ///         mid.start_as_current_observation(langfuse_tracing_core::observation::generation("llm-step-2"), |_| ());
    ///     });
    /// });
    /// ```
    #[doc(alias = "start_as_current_span")]
    #[doc(alias = "start_as_current_generation")]
    #[doc(alias = "startActiveObservation")]
    pub fn start_as_current_observation<C, R>(
        &self,
        child: ObservationBuilder<C>,
        f: impl FnOnce(&Observation<C>) -> R,
    ) -> R {
        let obs = child.create(Some(&self.span));
        let _entered = obs.span.enter();
        crate::__private::observe::run(true, &obs.span, || f(&obs))
    }

    /// The async form of [`Observation::start_as_current_observation`].
    ///
    /// ```
    /// use langfuse_tracing_core::observation::span;
    /// let parent = span("p").start();
    /// let fut = parent.start_as_current_observation_async(span("c"), |_c| async { 1 });
    /// # drop(fut);
    /// ```
    #[doc(alias = "start_as_current_observation")]
    #[doc(alias = "start_as_current_span")]
    #[doc(alias = "start_as_current_generation")]
    #[doc(alias = "startActiveObservation")]
    pub fn start_as_current_observation_async<C, F, Fut>(
        &self,
        child: ObservationBuilder<C>,
        f: F,
    ) -> ObservationFuture<Fut>
    where
        F: FnOnce(Observation<C>) -> Fut,
        Fut: Future,
    {
        let obs = child.create(Some(&self.span));
        let span = obs.span.clone();
        ObservationFuture::new(f(obs), span)
    }

    /// Records an event (zero duration) as a child of this observation.
    ///
    /// ```
    /// let obs = langfuse_tracing_core::observation::span("s").start();
    /// obs.create_event(langfuse_tracing_core::observation::event("retry").metadata("attempt", &2));
    /// ```
    #[doc(alias = "createEvent")]
    pub fn create_event(&self, event: ObservationBuilder<EventLike>) -> Observation<EventLike> {
        self.start_observation(event)
    }

    /// Sets trace-level values (name, user, session, tags, ...) from this observation.
    ///
    /// ```
    /// use langfuse_tracing_core::observation::{span, TraceUpdate};
    /// span("root").run(|root| {
    ///     root.update_trace(TraceUpdate::new().user_id("user_123").tags(["beta"]));
    /// });
    /// ```
    #[doc(alias = "updateTrace")]
    pub fn update_trace(&self, mut update: TraceUpdate) -> &Self {
        update.mask_for(Some(&self.span));
        let mut update = Some(update);
        with_span_state(&self.span, |s| {
            if let Some(u) = update.take() {
                u.apply(s);
            }
        });
        self
    }

    /// Sets the trace's input and output (deprecated in the Langfuse SDKs: set them on
    /// the root observation instead).
    ///
    /// ```
    /// # #![allow(deprecated)]
    /// let root = langfuse_tracing_core::observation::span("complex-pipeline").start();
    /// root.set_trace_io(Some(&serde_json::json!({"original_query": "q"})), Some(&serde_json::json!({"final_answer": "a"})));
    /// ```
    #[deprecated(
        note = "set input and output on the root observation instead, as the Langfuse docs advise"
    )]
    pub fn set_trace_io<I: Serialize + ?Sized, O: Serialize + ?Sized>(
        &self,
        input: Option<&I>,
        output: Option<&O>,
    ) -> &Self {
        let mut u = TraceUpdate::new();
        if let Some(i) = input {
            u = u.input(i);
        }
        if let Some(o) = output {
            u = u.output(o);
        }
        self.update_trace(u)
    }

    /// Makes the trace public (viewable by anyone with the link).
    ///
    /// ```
    /// langfuse_tracing_core::observation::span("root").start().set_trace_as_public();
    /// ```
    pub fn set_trace_as_public(&self) -> &Self {
        self.update_trace(TraceUpdate::new().public(true))
    }

    fn apply(&self, mut fields: Fields) -> &Self {
        fields.mask_for(Some(&self.span));
        let mut fields = Some(fields);
        let mut ignored = None;
        with_span_state(&self.span, |s| {
            if let Some(f) = fields.take() {
                ignored = f.apply(s);
            }
        });
        if let Some(as_type) = ignored {
            warn_generation_fields("update", as_type);
        }
        self
    }
}

impl Observation<SpanLike> {
    /// Updates the observation; later values win per field and per metadata key.
    ///
    /// ```
    /// use langfuse_tracing_core::observation::{span, SpanUpdate};
    /// let obs = span("data-processing").start();
    /// obs.update(SpanUpdate::new().metadata("step1_complete", &true));
    /// obs.update(SpanUpdate::new().output(&serde_json::json!({"result": "final_data"})));
    /// ```
    #[doc(alias = "update_span")]
    pub fn update(&self, update: SpanUpdate) -> &Self {
        match update.fields {
            Some(fields) => self.apply(*fields),
            None => self,
        }
    }
}

impl Observation<GenerationLike> {
    /// Updates the generation, model and usage fields included.
    ///
    /// ```
    /// use langfuse_tracing_core::observation::{generation, GenerationUpdate};
    /// let g = generation("llm-call").start();
    /// g.update(GenerationUpdate::new().output(&"Paris").cost_details(&serde_json::json!({"total": 0.002})));
    /// ```
    #[doc(alias = "update_generation")]
    pub fn update(&self, update: impl Into<GenerationUpdate>) -> &Self {
        match update.into().fields {
            Some(fields) => self.apply(*fields),
            None => self,
        }
    }
}

/// Trace-level values: name, user, session, tags, metadata, version, release, public,
/// and the (deprecated) trace input and output.
///
/// ```
/// use langfuse_tracing_core::observation::TraceUpdate;
/// let u = TraceUpdate::new().name("checkout").session_id("session_abc").metadata("plan", &"premium");
/// langfuse_tracing_core::observation::update_current_trace(u);
/// ```
#[derive(Clone, Debug)]
pub struct TraceUpdate {
    name: Option<String>,
    user_id: Option<String>,
    session_id: Option<String>,
    tags: Vec<String>,
    metadata: Vec<(String, String)>,
    metadata_index: KeyIndex,
    version: Option<String>,
    release: Option<String>,
    public: Option<bool>,
    input: Option<String>,
    output: Option<String>,
    on: bool,
    /// As [`Fields`]'s `raw`.
    raw: bool,
}

impl Default for TraceUpdate {
    fn default() -> Self {
        Self::new()
    }
}

impl TraceUpdate {
    /// An empty trace update.
    ///
    /// ```
    /// let u = langfuse_tracing_core::observation::TraceUpdate::new().user_id("u1");
    /// # let _ = u;
    /// ```
    pub fn new() -> Self {
        TraceUpdate {
            name: None,
            user_id: None,
            session_id: None,
            tags: Vec::new(),
            metadata: Vec::new(),
            metadata_index: KeyIndex::EMPTY,
            version: None,
            release: None,
            public: None,
            input: None,
            output: None,
            on: layer_installed(),
            raw: crate::mask::mask_installed(),
        }
    }

    /// The trace name.
    ///
    /// ```
    /// let u = langfuse_tracing_core::observation::TraceUpdate::new().name("rag-query");
    /// # let _ = u;
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The user the trace belongs to.
    ///
    /// ```
    /// let u = langfuse_tracing_core::observation::TraceUpdate::new().user_id("user_123");
    /// # let _ = u;
    /// ```
    pub fn user_id(mut self, id: impl Into<String>) -> Self {
        self.user_id = Some(id.into());
        self
    }

    /// The session the trace belongs to.
    ///
    /// ```
    /// let u = langfuse_tracing_core::observation::TraceUpdate::new().session_id("session_abc");
    /// # let _ = u;
    /// ```
    pub fn session_id(mut self, id: impl Into<String>) -> Self {
        self.session_id = Some(id.into());
        self
    }

    /// Adds tags (duplicates are ignored).
    ///
    /// ```
    /// let u = langfuse_tracing_core::observation::TraceUpdate::new().tags(["beta", "eu"]);
    /// # let _ = u;
    /// ```
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for t in tags {
            let t = t.into();
            if !self.tags.contains(&t) {
                self.tags.push(t);
            }
        }
        self
    }

    /// One trace metadata key (metadata encoding); later values win per key.
    ///
    /// ```
    /// let u = langfuse_tracing_core::observation::TraceUpdate::new().metadata("plan", &"premium");
    /// # let _ = u;
    /// ```
    pub fn metadata<T: Serialize + ?Sized>(mut self, key: impl Into<String>, value: &T) -> Self {
        if self.on {
            self.metadata_index
                .merge(&mut self.metadata, key.into(), encode_metadata(value));
        }
        self
    }

    /// The version (`langfuse.version`, shared with the observation version).
    ///
    /// ```
    /// let u = langfuse_tracing_core::observation::TraceUpdate::new().version("1.0");
    /// # let _ = u;
    /// ```
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// The release (`langfuse.release`).
    ///
    /// ```
    /// let u = langfuse_tracing_core::observation::TraceUpdate::new().release("2024-06-01");
    /// # let _ = u;
    /// ```
    pub fn release(mut self, release: impl Into<String>) -> Self {
        self.release = Some(release.into());
        self
    }

    /// Whether the trace is public.
    ///
    /// ```
    /// let u = langfuse_tracing_core::observation::TraceUpdate::new().public(true);
    /// # let _ = u;
    /// ```
    pub fn public(mut self, public: bool) -> Self {
        self.public = Some(public);
        self
    }

    /// The trace input (deprecated in the SDKs; IO encoding).
    ///
    /// ```
    /// let u = langfuse_tracing_core::observation::TraceUpdate::new().input(&"question");
    /// # let _ = u;
    /// ```
    pub fn input<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        if self.on {
            self.input = Some(if self.raw {
                crate::mask::json_io(value)
            } else {
                encode_io(value)
            });
        }
        self
    }

    /// The trace output (deprecated in the SDKs; IO encoding).
    ///
    /// ```
    /// let u = langfuse_tracing_core::observation::TraceUpdate::new().output(&"answer");
    /// # let _ = u;
    /// ```
    pub fn output<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        if self.on {
            self.output = Some(if self.raw {
                crate::mask::json_io(value)
            } else {
                encode_io(value)
            });
        }
        self
    }

    /// As [`Fields::mask_for`].
    fn mask_for(&mut self, span: Option<&Span>) {
        if self.raw {
            self.raw = false;
            let mask = match span {
                Some(span) => crate::mask::for_span(span),
                None => crate::mask::for_current(),
            };
            crate::mask::finish_values(
                mask.as_ref(),
                &mut self.input,
                &mut self.output,
                &mut self.metadata,
                None,
            );
        }
    }

    fn apply(self, s: &mut ObservationState) {
        if !s.sampled || s.ended {
            return;
        }
        if self.version.is_some() {
            s.version = self.version;
        }
        if self.release.is_some() {
            s.release = self.release;
        }
        let t = s.trace_mut();
        macro_rules! set {
            ($($f:ident),*) => {$( if self.$f.is_some() { t.$f = self.$f; } )*};
        }
        set!(name, user_id, session_id, input, output);
        if let Some(p) = self.public {
            t.public = p;
        }
        for tag in self.tags {
            if !t.tags.contains(&tag) {
                t.tags.push(tag);
            }
        }
        merge_pairs(&mut t.metadata, self.metadata);
    }
}

/// Warns when a Langfuse layer is the current subscriber but no observation is
/// current. Silent under a subscriber without one (another thread's default, a test's
/// scoped subscriber): nothing there could have been current.
#[cold]
fn warn_nothing_current(what: &str) {
    if current_dispatcher_has_layer() {
        crate::warn::emit(&format!(
            "{what}: no observation is current; nothing was updated"
        ));
    }
}

/// Updates whatever observation is current (the docs' `update_current_span`).
/// With nothing current it logs one warning and does nothing else.
///
/// ```
/// use langfuse_tracing_core::observation::{span, update_current_span, SpanUpdate};
/// span("data-processing").run(|_| {
///     update_current_span(SpanUpdate::new().metadata("step1_complete", &true));
/// });
/// ```
#[inline]
#[doc(alias = "update_current_observation")]
#[doc(alias = "updateActiveObservation")]
#[doc(alias = "updateActiveSpan")]
pub fn update_current_span(update: SpanUpdate) {
    // Built without a Langfuse layer: nothing was recorded, nothing to look up.
    if let Some(fields) = update.fields {
        update_current(fields, "update_current_span");
    }
}

/// The lookup behind `update_current_span` and `update_current_generation`, out of line.
fn update_current(mut fields: Box<Fields>, what: &str) {
    fields.mask_for(None);
    let mut ignored = None;
    if !with_current_state(|s| ignored = fields.apply_to(s)) {
        warn_nothing_current(what);
    }
    fields.give_back();
    if let Some(as_type) = ignored {
        warn_generation_fields(what, as_type);
    }
}

/// Generation fields were set on an observation that is not generation-like: kept, but
/// the exporter does not send them (see `span_attributes.rs` in the subscriber).
#[cold]
fn warn_generation_fields(what: &str, as_type: ObservationType) {
    crate::warn::emit(&crate::warn::generation_fields_not_exported(what, as_type));
}

/// Updates the current generation, model and usage included (the docs'
/// `update_current_generation`). Generation fields on an observation that is not
/// generation-like (the current observation is a span, a tool, ...) are not exported:
/// the update gives a warning saying so.
///
/// ```
/// use langfuse_tracing_core::observation::{generation, update_current_generation, GenerationUpdate};
/// generation("llm").run(|_| update_current_generation(GenerationUpdate::new().model("gpt-4o")));
/// ```
#[inline]
#[doc(alias = "updateActiveGeneration")]
#[doc(alias = "updateActiveObservation")]
pub fn update_current_generation(update: GenerationUpdate) {
    // Built without a Langfuse layer: nothing was recorded, nothing to look up.
    if let Some(fields) = update.fields {
        update_current(fields, "update_current_generation");
    }
}

/// Sets trace-level values through the current observation.
///
/// ```
/// use langfuse_tracing_core::observation::{span, update_current_trace, TraceUpdate};
/// span("request").run(|_| update_current_trace(TraceUpdate::new().user_id("user_123").session_id("s1")));
/// ```
#[doc(alias = "updateActiveTrace")]
pub fn update_current_trace(mut update: TraceUpdate) {
    update.mask_for(None);
    let mut update = Some(update);
    if layer_installed()
        && !with_current_state(|s| {
            if let Some(u) = update.take() {
                u.apply(s);
            }
        })
    {
        warn_nothing_current("update_current_trace");
    }
}

/// Sets the current trace's input and output (deprecated in the Langfuse SDKs).
///
/// ```
/// # #![allow(deprecated)]
/// langfuse_tracing_core::observation::set_current_trace_io(Some(&"question"), Some(&"answer"));
/// ```
#[deprecated(
    note = "set input and output on the root observation instead, as the Langfuse docs advise"
)]
pub fn set_current_trace_io<I: Serialize + ?Sized, O: Serialize + ?Sized>(
    input: Option<&I>,
    output: Option<&O>,
) {
    let mut u = TraceUpdate::new();
    if let Some(i) = input {
        u = u.input(i);
    }
    if let Some(o) = output {
        u = u.output(o);
    }
    update_current_trace(u);
}

/// Makes the current trace public.
///
/// ```
/// langfuse_tracing_core::observation::set_current_trace_as_public();
/// ```
pub fn set_current_trace_as_public() {
    update_current_trace(TraceUpdate::new().public(true));
}

/// An existing trace to join: its id and optionally the parent observation id.
///
/// An invalid id is an error, never silently replaced. Without a parent id a random one
/// is used (as the other SDKs do), and the observation is marked `as_root`, so Langfuse
/// shows it as the trace's root.
///
/// ```
/// use langfuse_tracing_core::observation::TraceContext;
/// let ctx = TraceContext::new("6cec55478a541a9eb2b3bfd6c8ba5670").unwrap().with_parent("6cec55478a541a9e").unwrap();
/// assert!(TraceContext::new("not-hex").is_err());
/// # let _ = ctx;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: TraceId,
    parent_span_id: Option<ObservationId>,
}

impl TraceContext {
    /// From a 32-character lowercase hex trace id.
    ///
    /// ```
    /// assert!(langfuse_tracing_core::observation::TraceContext::new("6CEC55478A541A9EB2B3BFD6C8BA5670").is_err());
    /// ```
    pub fn new(trace_id: &str) -> Result<Self, InvalidId> {
        Ok(TraceContext {
            trace_id: trace_id.parse()?,
            parent_span_id: None,
        })
    }

    /// From ids already parsed (for example `create_trace_id(Some("req_12345"))`).
    ///
    /// ```
    /// use langfuse_tracing_core::{create_trace_id, observation::TraceContext};
    /// let ctx = TraceContext::from_ids(create_trace_id(Some("req_12345")), None);
    /// # let _ = ctx;
    /// ```
    pub fn from_ids(trace_id: TraceId, parent_span_id: Option<ObservationId>) -> Self {
        TraceContext {
            trace_id,
            parent_span_id,
        }
    }

    /// Sets the parent observation id (16 lowercase hex characters).
    ///
    /// ```
    /// let ctx = langfuse_tracing_core::observation::TraceContext::new("6cec55478a541a9eb2b3bfd6c8ba5670").unwrap();
    /// assert!(ctx.with_parent("xyz").is_err());
    /// ```
    pub fn with_parent(mut self, parent_span_id: &str) -> Result<Self, InvalidId> {
        self.parent_span_id = Some(parent_span_id.parse()?);
        Ok(self)
    }

    /// The trace id.
    ///
    /// ```
    /// let ctx = langfuse_tracing_core::observation::TraceContext::new("6cec55478a541a9eb2b3bfd6c8ba5670").unwrap();
    /// assert_eq!(ctx.trace_id().to_string(), "6cec55478a541a9eb2b3bfd6c8ba5670");
    /// ```
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    fn remote_parent(&self, anchor: Option<tracing::span::Id>) -> RemoteParent {
        RemoteParent {
            trace_id: self.trace_id.to_u128(),
            span_id: self
                .parent_span_id
                .map_or_else(random_u64, ObservationId::to_u64),
            as_root: true,
            // Marked as an app root, as the Python SDK marks trace_context-linked spans.
            claimed: false,
            anchor,
        }
    }

    fn frame(&self) -> Frame {
        Frame {
            remote_parent: Some(self.remote_parent(current_observation_span_id())),
            propagated: current_frame().propagated,
        }
    }

    /// Runs `f` so that the observations it starts at its top level (for example an
    /// `#[observe]` function) join this trace.
    ///
    /// ```
    /// use langfuse_tracing_core::observation::{span, TraceContext};
    /// let ctx = TraceContext::new("6cec55478a541a9eb2b3bfd6c8ba5670").unwrap();
    /// ctx.run(|| span("joins-the-trace").run(|_| ()));
    /// ```
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        in_frame(self.frame(), f)
    }

    /// The async form of [`TraceContext::run`]: observations started at the future's
    /// top level join this trace.
    ///
    /// ```
    /// let ctx = langfuse_tracing_core::observation::TraceContext::new("6cec55478a541a9eb2b3bfd6c8ba5670").unwrap();
    /// let fut = ctx.instrument(async { 1 });
    /// # drop(fut);
    /// ```
    pub fn instrument<F: Future>(&self, fut: F) -> crate::__layer::context::WithFrame<F> {
        crate::__layer::context::WithFrame::new(fut, self.frame())
    }
}
