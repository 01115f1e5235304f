//! How the API reaches the layer's per-span state without depending on it.
//!
//! The layer answers `downcast_raw(TypeId::of::<LayerHooks>())` with a `LayerHooks`
//! whose function pointers are monomorphised for the concrete subscriber, the way
//! `tracing-opentelemetry` exposes its `WithContext`. Everything here is a no-op when no
//! Langfuse layer is installed, so libraries can annotate code unconditionally.

use tracing::span::Id;
use tracing::{Dispatch, Span};

use crate::state::ObservationState;

/// Runs a closure on the state of one observation span; false if there is none.
#[doc(hidden)]
pub type WithStateFn = fn(&Dispatch, &Id, &mut dyn FnMut(&mut ObservationState)) -> bool;

/// Function pointers a Langfuse layer exposes through `downcast_raw`.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct LayerHooks {
    /// Runs the closure on the state of observation span `id`; false if `id` is not an
    /// observation of this layer (filtered out, closed, or another subscriber's span).
    pub with_state: WithStateFn,
    /// The nearest observation at or above the current span of this thread.
    pub current_observation: fn(&Dispatch) -> Option<Id>,
    /// True when every enabled observation span is recorded (no sampling): callers
    /// can skip the per-span lookup that `with_state` costs.
    pub records_every_observation: bool,
}

/// Runs `f` on the state of `span` if it is an observation; returns whether it ran.
///
/// Sampled-out observations are passed too (check `state.sampled`).
///
/// ```
/// // Without a Langfuse layer nothing runs.
/// let span = tracing::info_span!("x");
/// assert!(!langfuse_core::hooks::with_span_state(&span, |_| {}));
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

/// Runs `f` on the state of the current observation of this thread (the nearest
/// observation span at or above `Span::current()`); returns whether it ran.
///
/// ```
/// assert!(!langfuse_core::hooks::with_current_state(|_| {}));
/// ```
pub fn with_current_state(mut f: impl FnMut(&mut ObservationState)) -> bool {
    tracing::dispatcher::get_default(|dispatch| {
        let Some(hooks) = dispatch.downcast_ref::<LayerHooks>() else {
            return false;
        };
        match (hooks.current_observation)(dispatch) {
            Some(id) => (hooks.with_state)(dispatch, &id, &mut f),
            None => false,
        }
    })
}

/// The id of the current observation span, if a Langfuse layer is installed and one is current.
///
/// ```
/// assert!(langfuse_core::hooks::current_observation_span_id().is_none());
/// ```
pub fn current_observation_span_id() -> Option<Id> {
    tracing::dispatcher::get_default(|dispatch| {
        let hooks = dispatch.downcast_ref::<LayerHooks>()?;
        (hooks.current_observation)(dispatch)
    })
}

/// True when the current dispatcher has a Langfuse layer.
///
/// ```
/// assert!(!langfuse_core::hooks::layer_installed());
/// ```
pub fn layer_installed() -> bool {
    tracing::dispatcher::get_default(|d| d.downcast_ref::<LayerHooks>().is_some())
}
