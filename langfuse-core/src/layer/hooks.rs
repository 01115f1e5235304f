//! How the API reaches the layer's per-span state without depending on it.
//!
//! The layer answers `downcast_raw(TypeId::of::<LayerHooks>())` with a `LayerHooks`
//! whose function pointers are monomorphised for the concrete subscriber, the way
//! `tracing-opentelemetry` exposes its `WithContext`. Everything here is a no-op when no
//! Langfuse layer is installed, so libraries can annotate code unconditionally.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use tracing::span::Id;
use tracing::{Dispatch, Span};

use crate::__layer::state::ObservationState;

/// Runs a closure on the state of one observation span; false if there is none.
#[doc(hidden)]
pub type WithStateFn = fn(&Dispatch, &Id, &mut dyn FnMut(&mut ObservationState)) -> bool;

/// Runs a closure on the state of the current observation; false if there is none.
#[doc(hidden)]
pub type WithCurrentStateFn =
    fn(&Dispatch, &LayerHooks, &mut dyn FnMut(&mut ObservationState)) -> bool;

/// Settles the ids of observation span `id` before they are read (see
/// [`LayerHooks::resolve_ids`]).
#[doc(hidden)]
pub type ResolveIdsFn = fn(&Dispatch, &Id);

/// Function pointers a Langfuse layer exposes through `downcast_raw`.
#[doc(hidden)]
#[derive(Debug)]
pub struct LayerHooks {
    /// Runs the closure on the state of observation span `id`; false if `id` is not an
    /// observation of this layer (filtered out, closed, or another subscriber's span).
    pub with_state: WithStateFn,
    /// Runs the closure on the nearest observation at or above the current span of
    /// this thread, with one walk of the span tree.
    pub with_current_state: WithCurrentStateFn,
    /// The nearest observation at or above the current span of this thread.
    pub current_observation: fn(&Dispatch) -> Option<Id>,
    /// True when every enabled observation span is recorded (no sampling): callers
    /// can skip the per-span lookup that `with_state` costs. Atomic because a layer
    /// following `tracing-opentelemetry` clears it once it finds an
    /// `OpenTelemetryLayer` (whose sampler may drop traces); a relaxed load, as cheap
    /// as reading a `bool`.
    pub records_every_observation: AtomicBool,
    /// `Some` when the layer may take its ids from `tracing-opentelemetry`: called
    /// (with no span's extensions held) before an observation's ids or sampling
    /// decision are read through a handle, so they are final. Plain updates never
    /// call it: settling the ids starts the OpenTelemetry span, after which
    /// `set_parent` no longer applies.
    pub resolve_ids: Option<ResolveIdsFn>,
    /// Queues a finished observation for export: the layer's end of [`end_span`].
    pub submit: fn(&Dispatch, Box<ObservationState>),
    /// The layer's mask: applied to input, output and metadata before they are stored
    /// (see [`crate::mask`]).
    pub mask: Option<crate::mask::Mask>,
}

/// Runs `f` on the state of `span` if it is an observation; returns whether it ran.
/// The state lives in the span's extensions only, reached through the subscriber.
///
/// Sampled-out observations are passed too (check `state.sampled`).
///
/// ```
/// // Without a Langfuse layer nothing runs.
/// let span = tracing::info_span!("x");
/// assert!(!langfuse_tracing_core::__layer::hooks::with_span_state(&span, |_| {}));
/// ```
pub fn with_span_state(span: &Span, mut f: impl FnMut(&mut ObservationState)) -> bool {
    span.with_subscriber(
        |(id, dispatch)| match dispatch.downcast_ref::<LayerHooks>() {
            Some(hooks) => (hooks.with_state)(dispatch, id, &mut f),
            None => false,
        },
    )
    .unwrap_or(false)
}

/// Runs `f` on the state of `span` once its ids are final (an observation whose ids
/// the layer takes from `tracing-opentelemetry` gets them first): for reading ids and
/// the sampling decision. Returns whether it ran.
///
/// ```
/// let span = tracing::info_span!("x");
/// assert!(!langfuse_tracing_core::__layer::hooks::with_span_ids(&span, |_| {}));
/// ```
pub fn with_span_ids(span: &Span, mut f: impl FnMut(&mut ObservationState)) -> bool {
    span.with_subscriber(
        |(id, dispatch)| match dispatch.downcast_ref::<LayerHooks>() {
            Some(hooks) => {
                if let Some(resolve) = hooks.resolve_ids {
                    resolve(dispatch, id);
                }
                (hooks.with_state)(dispatch, id, &mut f)
            }
            None => false,
        },
    )
    .unwrap_or(false)
}

/// Ends the observation of `span` now and queues it for export, whatever handles or
/// child spans still keep the span open (`Observation::end`): waiting for the span to
/// close lost it when `flush()` or shutdown came first. Closing the span later exports
/// nothing more. False if `span` is no open observation or was already ended.
///
/// ```
/// // Without a Langfuse layer there is nothing to end.
/// let span = tracing::info_span!("x");
/// assert!(!langfuse_tracing_core::__layer::hooks::end_span(&span, std::time::SystemTime::now()));
/// ```
pub fn end_span(span: &Span, at: SystemTime) -> bool {
    let mut ended = false;
    let mut taken = None;
    with_span_ids(span, |s| {
        ended = !s.ended;
        taken = s.end_now(at, crate::__layer::recycle::state);
    });
    if let Some(state) = taken {
        span.with_subscriber(|(_, dispatch)| {
            if let Some(hooks) = dispatch.downcast_ref::<LayerHooks>() {
                (hooks.submit)(dispatch, state);
            }
        });
    }
    ended
}

/// Runs `f` on the state of the current observation of this thread (the nearest
/// observation span at or above `Span::current()`); returns whether it ran.
///
/// ```
/// assert!(!langfuse_tracing_core::__layer::hooks::with_current_state(|_| {}));
/// ```
pub fn with_current_state(mut f: impl FnMut(&mut ObservationState)) -> bool {
    tracing::dispatcher::get_default(|dispatch| match dispatch.downcast_ref::<LayerHooks>() {
        Some(hooks) => (hooks.with_current_state)(dispatch, hooks, &mut f),
        None => false,
    })
}

/// The id of the current observation span, if a Langfuse layer is installed and one is current.
///
/// ```
/// assert!(langfuse_tracing_core::__layer::hooks::current_observation_span_id().is_none());
/// ```
pub fn current_observation_span_id() -> Option<Id> {
    tracing::dispatcher::get_default(|dispatch| {
        let hooks = dispatch.downcast_ref::<LayerHooks>()?;
        (hooks.current_observation)(dispatch)
    })
}

/// True once a Langfuse layer has been attached to a subscriber in this process.
///
/// Builders and updates encode their values only then, so a library annotated with
/// `#[observe]` costs an app without Langfuse one relaxed load per update. Deliberately
/// not "the current dispatcher has a Langfuse layer": an observation handle moved to a
/// thread whose default subscriber is another one must still carry its updates.
///
/// ```
/// assert!(!langfuse_tracing_core::__layer::hooks::layer_installed());
/// ```
#[inline]
pub fn layer_installed() -> bool {
    LAYER_ATTACHED.load(Ordering::Relaxed)
}

/// True when the current thread's subscriber has a Langfuse layer (a dispatcher
/// lookup; for cold paths).
///
/// ```
/// assert!(!langfuse_tracing_core::__layer::hooks::current_dispatcher_has_layer());
/// ```
pub fn current_dispatcher_has_layer() -> bool {
    tracing::dispatcher::get_default(|d| d.downcast_ref::<LayerHooks>().is_some())
}

/// Set once any Langfuse layer is attached to a subscriber; never cleared.
static LAYER_ATTACHED: AtomicBool = AtomicBool::new(false);

/// Called by a layer when it is attached to a subscriber (`Layer::on_layer`), before
/// any span can reach it.
///
/// ```
/// langfuse_tracing_core::__layer::hooks::note_layer_attached();
/// assert!(langfuse_tracing_core::__layer::hooks::layer_installed());
/// ```
#[doc(hidden)]
pub fn note_layer_attached() {
    LAYER_ATTACHED.store(true, Ordering::Relaxed);
}
