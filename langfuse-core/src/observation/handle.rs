//! The handle of a started observation (`Observation<K>`): its ids, its updates, its
//! end, and the trace-level values set through it. Starting observations, children
//! included, is in `builder.rs`.

use std::fmt;
use std::marker::PhantomData;
use std::time::SystemTime;

use serde::Serialize;
use tracing::Span;

use super::fields::Fields;
use super::kind::{GenerationLike, SpanLike};
use super::trace::TraceUpdate;
use super::update::{GenerationUpdate, SpanUpdate};
use crate::__layer::hooks::{end_span, with_span_ids};
use crate::ids::{ObservationId, TraceId};

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
    /// The handle of the observation `span` was created for.
    pub(super) fn new(span: Span) -> Self {
        Observation {
            span,
            _kind: PhantomData,
        }
    }

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
        with_span_ids(&self.span, |s| id = ObservationId::from_u64(s.span_id));
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
        with_span_ids(&self.span, |s| id = TraceId::from_u128(s.trace_id));
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
        end_span(&self.span, SystemTime::now());
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
    pub fn update_trace(&self, update: TraceUpdate) -> &Self {
        update.apply_to_span(&self.span);
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
        self.update_trace(TraceUpdate::new().with_io(input, output))
    }

    /// Makes the trace public (viewable by anyone with the link).
    ///
    /// ```
    /// langfuse_tracing_core::observation::span("root").start().set_trace_as_public();
    /// ```
    pub fn set_trace_as_public(&self) -> &Self {
        self.update_trace(TraceUpdate::new().public(true))
    }

    fn apply(&self, fields: Option<Box<Fields>>) -> &Self {
        if let Some(fields) = fields {
            (*fields).apply_to_span(&self.span, "update");
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
        self.apply(update.into_fields())
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
        self.apply(update.into().into_fields())
    }
}
