//! Updates of whatever observation, and trace, is current on this thread: the docs'
//! `update_current_span`, `update_current_generation`, `update_current_trace`.

use serde::Serialize;

use super::fields::Fields;
use super::trace::TraceUpdate;
use super::update::{GenerationUpdate, SpanUpdate};
use crate::__layer::hooks::current_dispatcher_has_layer;

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
    if let Some(fields) = update.into_fields() {
        update_current(fields, "update_current_span");
    }
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
    if let Some(fields) = update.into_fields() {
        update_current(fields, "update_current_generation");
    }
}

/// The lookup behind `update_current_span` and `update_current_generation`, out of line.
fn update_current(fields: Box<Fields>, what: &str) {
    if !fields.apply_to_current(what) {
        warn_nothing_current(what);
    }
}

/// Sets trace-level values through the current observation.
///
/// ```
/// use langfuse_tracing_core::observation::{span, update_current_trace, TraceUpdate};
/// span("request").run(|_| update_current_trace(TraceUpdate::new().user_id("user_123").session_id("s1")));
/// ```
#[doc(alias = "updateActiveTrace")]
pub fn update_current_trace(update: TraceUpdate) {
    if !update.apply_to_current() {
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
    update_current_trace(TraceUpdate::new().with_io(input, output));
}

/// Makes the current trace public.
///
/// ```
/// langfuse_tracing_core::observation::set_current_trace_as_public();
/// ```
pub fn set_current_trace_as_public() {
    update_current_trace(TraceUpdate::new().public(true));
}

/// Warns when a Langfuse layer is the current subscriber but no observation is
/// current. Silent under a subscriber without one (another thread's default, a test's
/// scoped subscriber): nothing there could have been current.
#[cold]
fn warn_nothing_current(what: &str) {
    if current_dispatcher_has_layer() {
        crate::__layer::warn::emit(&format!(
            "{what}: no observation is current; nothing was updated"
        ));
    }
}
