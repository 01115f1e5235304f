//! Starting observations: the builder (`ObservationBuilder`) its constructors return
//! (`span`, `generation`, `tool`, ..., `span_of_type`), the children a started
//! observation starts, and the future of an observation run asynchronously.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;

use tracing::Span;

use super::fields::Fields;
use super::handle::Observation;
use super::kind::{EventLike, GenerationLike, SpanLike};
use super::setters::{common_setters, generation_setters};
use super::trace_context::TraceContext;
use crate::__layer::context::in_frame;
use crate::__layer::hooks::{layer_installed, with_span_state};
use crate::types::ObservationType;

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
        fields: Fields::new(),
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

    common_setters!("span", "span(\"fetch-weather\")", ".run(|_| ())");

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
                in_frame(
                    ctx.frame(None),
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
        let mut fields = self.fields;
        fields.name = Some(self.name);
        fields.apply_to_span(&span, "observation builder");
        Observation::new(span)
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
        self.create(None).run_as_current(f)
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
        self.create(None).run_as_current_async(f)
    }
}

impl ObservationBuilder<GenerationLike> {
    generation_setters!("generation", "generation(\"llm-call\")", ".run(|_| ())");
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

// A started observation starts its children here, next to the builder they come from.
impl<K> Observation<K> {
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
        let obs = child.create(Some(self.span()));
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
        child.create(Some(self.span())).run_as_current(f)
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
        child.create(Some(self.span())).run_as_current_async(f)
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

    /// Runs `f` with this (new) observation current, and ends it when `f` returns.
    fn run_as_current<R>(self, f: impl FnOnce(&Observation<K>) -> R) -> R {
        let _entered = self.span().enter();
        crate::__private::observe::run(true, self.span(), || f(&self))
    }

    /// The future of `f`, polled with this (new) observation current.
    fn run_as_current_async<F, Fut>(self, f: F) -> ObservationFuture<Fut>
    where
        F: FnOnce(Observation<K>) -> Fut,
        Fut: Future,
    {
        let span = self.span().clone();
        ObservationFuture::new(f(self), span)
    }

    fn finish_if_event(&self) {
        with_span_state(self.span(), |s| {
            if s.as_type == ObservationType::Event && s.end_time.is_none() {
                s.end_time = Some(s.start_time);
            }
        });
    }
}
