//! How the API reaches the layer's per-span state without depending on it.
//!
//! The layer answers `downcast_raw(TypeId::of::<LayerHooks>())` with a `LayerHooks`
//! whose function pointers are monomorphised for the concrete subscriber, the way
//! `tracing-opentelemetry` exposes its `WithContext`. Everything here is a no-op when no
//! Langfuse layer is installed, so libraries can annotate code unconditionally.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use tracing::span::Id;
use tracing::{Dispatch, Span};

use crate::state::{ObservationState, StateCell};

/// Runs a closure on the state of one observation span; false if there is none.
#[doc(hidden)]
pub type WithStateFn = fn(&Dispatch, &Id, &mut dyn FnMut(&mut ObservationState)) -> bool;

/// Runs a closure on the state of the current observation; false if there is none.
#[doc(hidden)]
pub type WithCurrentStateFn =
    fn(&Dispatch, &LayerHooks, &mut dyn FnMut(&mut ObservationState)) -> bool;

/// Function pointers a Langfuse layer exposes through `downcast_raw`.
#[doc(hidden)]
#[derive(Clone, Debug)]
pub struct LayerHooks {
    /// Tells layers apart in the per-thread cache of [`remember_opened`] (span ids are
    /// only unique within one subscriber).
    pub layer_id: usize,
    /// Runs the closure on the state of observation span `id`; false if `id` is not an
    /// observation of this layer (filtered out, closed, or another subscriber's span).
    pub with_state: WithStateFn,
    /// Runs the closure on the nearest observation at or above the current span of
    /// this thread, with one walk of the span tree.
    pub with_current_state: WithCurrentStateFn,
    /// The nearest observation at or above the current span of this thread.
    pub current_observation: fn(&Dispatch) -> Option<Id>,
    /// True when every enabled observation span is recorded (no sampling): callers
    /// can skip the per-span lookup that `with_state` costs.
    pub records_every_observation: bool,
    /// Queues a finished observation for export: the layer's end of [`end_span`].
    pub submit: fn(&Dispatch, Box<ObservationState>),
    /// The layer's mask: applied to input, output and metadata before they are stored
    /// (see [`crate::mask`]).
    pub mask: Option<crate::mask::Mask>,
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
            Some(hooks) => match with_opened(hooks.layer_id, id, &mut f) {
                Some(ran) => ran,
                None => (hooks.with_state)(dispatch, id, &mut f),
            },
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
/// assert!(!langfuse_core::hooks::end_span(&span, std::time::SystemTime::now()));
/// ```
pub fn end_span(span: &Span, at: SystemTime) -> bool {
    let mut ended = false;
    let mut taken = None;
    with_span_state(span, |s| {
        ended = !s.ended;
        taken = s.end_now(at);
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

/// An observation this thread opened and has not seen close, as the layer left it.
struct Opened {
    layer_id: usize,
    span: u64,
    cell: Arc<StateCell>,
}

/// How many open observations a thread remembers; deeper nesting (or observations
/// closed on another thread, which this thread cannot forget) falls back to lookups.
const MAX_OPENED: usize = 32;

thread_local! {
    /// The observations this thread opened and has not closed, innermost last: a
    /// new child's parent, the input `#[observe]` writes right after creating its span
    /// and a leaf call's output are all found here without a subscriber lookup.
    static OPENED: RefCell<Vec<Opened>> = const { RefCell::new(Vec::new()) };
}

/// Called by a layer when it opens an observation: code on this thread that writes to
/// the span it just created (the input right after creation, the output of a leaf
/// call) or creates children of it then reaches the state without looking the span up
/// in the subscriber.
///
/// ```
/// use std::sync::Arc;
/// use langfuse_core::state::{ObservationState, StateCell};
/// let cell = Arc::new(StateCell::new(ObservationState::boxed(1, 2, None, true)));
/// langfuse_core::hooks::remember_opened(1, &tracing::span::Id::from_u64(5), cell);
/// ```
#[doc(hidden)]
#[inline]
pub fn remember_opened(layer_id: usize, span: &Id, cell: Arc<StateCell>) {
    let _ = OPENED.try_with(|opened| {
        if let Ok(mut opened) = opened.try_borrow_mut() {
            if opened.len() >= MAX_OPENED {
                // Entries of spans closed elsewhere first, then the outermost.
                opened.retain(|o| !o.cell.is_closed());
                if opened.len() >= MAX_OPENED {
                    opened.remove(0);
                }
            }
            opened.push(Opened {
                layer_id,
                span: span.into_u64(),
                cell,
            });
        }
    });
}

/// Called by a layer when it closes an observation: if this thread opened it, forgets
/// it and closes its cell, returning the state, so the layer need not look the span
/// up. `None` when the caller must look the span up: this thread did not open it, or
/// the entry was of a span closed on another thread whose id was then reused (its
/// cell is already empty).
///
/// ```
/// use std::sync::Arc;
/// use langfuse_core::hooks::{close_opened, remember_opened};
/// use langfuse_core::state::{ObservationState, StateCell};
/// let id = tracing::span::Id::from_u64(5);
/// let cell = Arc::new(StateCell::new(ObservationState::boxed(1, 2, None, true)));
/// remember_opened(1, &id, Arc::clone(&cell));
/// assert_eq!(close_opened(1, &id).map(|s| s.span_id), Some(2));
/// assert!(cell.is_closed());
/// assert!(close_opened(1, &id).is_none());
/// ```
#[doc(hidden)]
#[inline]
pub fn close_opened(layer_id: usize, span: &Id) -> Option<Box<ObservationState>> {
    let span = span.into_u64();
    OPENED
        .try_with(|opened| {
            let mut opened = opened.try_borrow_mut().ok()?;
            let entry =
                remove_innermost(&mut opened, |o| o.span == span && o.layer_id == layer_id)?;
            // One lock: an already closed cell (the stale entry above) gives `None`.
            entry.cell.close_and_take()
        })
        .ok()
        .flatten()
}

/// Removes the last entry of a per-thread stack that matches; usually the innermost,
/// so a pop without shifting.
fn remove_innermost<T>(stack: &mut Vec<T>, matches: impl Fn(&T) -> bool) -> Option<T> {
    let i = stack.iter().rposition(matches)?;
    if i + 1 == stack.len() {
        stack.pop()
    } else {
        Some(stack.remove(i))
    }
}

/// Runs `f` on span `id` of layer `layer_id` if this thread opened it and it is still
/// open; `None` when the caller must look the span up.
///
/// Sound because span ids are unique among the open spans of one subscriber: an open
/// cell remembered under (`layer_id`, `id`) belongs to that span.
#[doc(hidden)]
#[inline]
pub fn with_opened(
    layer_id: usize,
    id: &Id,
    f: &mut dyn FnMut(&mut ObservationState),
) -> Option<bool> {
    let span = id.into_u64();
    OPENED
        .try_with(|opened| {
            let opened = opened.try_borrow().ok()?;
            let found = opened
                .iter()
                .rev()
                .find(|o| o.span == span && o.layer_id == layer_id)?;
            found.cell.with(|s| f(s)).then_some(true)
        })
        .ok()
        .flatten()
}

/// One `enter` of a span, as a layer saw it.
struct Entered {
    layer_id: usize,
    span: u64,
    /// Entered again while already entered: not the current span (as in `tracing`'s
    /// `Registry`, whose stack this mirrors).
    duplicate: bool,
}

thread_local! {
    /// The spans each layer saw this thread enter and not yet exit, innermost last: the
    /// current span without asking the subscriber, which costs a span lookup.
    static ENTERED: RefCell<Vec<Entered>> = const { RefCell::new(Vec::new()) };
}

/// Called by a layer from `on_enter`.
///
/// ```
/// use langfuse_core::hooks::{current_entered, note_entered, note_exited};
/// let id = tracing::span::Id::from_u64(9);
/// note_entered(3, &id);
/// assert_eq!(current_entered(3), Some(id.clone()));
/// note_exited(3, &id);
/// assert_eq!(current_entered(3), None);
/// ```
#[doc(hidden)]
#[inline]
pub fn note_entered(layer_id: usize, span: &Id) {
    let span = span.into_u64();
    let _ = ENTERED.try_with(|entered| {
        if let Ok(mut entered) = entered.try_borrow_mut() {
            let duplicate = entered
                .iter()
                .any(|e| e.span == span && e.layer_id == layer_id);
            entered.push(Entered {
                layer_id,
                span,
                duplicate,
            });
        }
    });
}

/// Called by a layer from `on_exit`: forgets the innermost enter of `span`.
///
/// ```
/// langfuse_core::hooks::note_exited(3, &tracing::span::Id::from_u64(9));
/// ```
#[doc(hidden)]
#[inline]
pub fn note_exited(layer_id: usize, span: &Id) {
    let span = span.into_u64();
    let _ = ENTERED.try_with(|entered| {
        if let Ok(mut entered) = entered.try_borrow_mut() {
            remove_innermost(&mut entered, |e| e.span == span && e.layer_id == layer_id);
        }
    });
}

/// The span layer `layer_id` last saw this thread enter and not exit (its current
/// span), if any.
///
/// ```
/// assert_eq!(langfuse_core::hooks::current_entered(4), None);
/// ```
#[doc(hidden)]
#[inline]
pub fn current_entered(layer_id: usize) -> Option<Id> {
    ENTERED
        .try_with(|entered| {
            let entered = entered.try_borrow().ok()?;
            entered
                .iter()
                .rev()
                .find(|e| e.layer_id == layer_id && !e.duplicate)
                .and_then(|e| std::num::NonZeroU64::new(e.span))
                .map(Id::from_non_zero_u64)
        })
        .ok()
        .flatten()
}

/// Runs `f` on the state of the current observation of this thread (the nearest
/// observation span at or above `Span::current()`); returns whether it ran.
///
/// ```
/// assert!(!langfuse_core::hooks::with_current_state(|_| {}));
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
/// assert!(langfuse_core::hooks::current_observation_span_id().is_none());
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
/// assert!(!langfuse_core::hooks::layer_installed());
/// ```
#[inline]
pub fn layer_installed() -> bool {
    LAYER_ATTACHED.load(Ordering::Relaxed)
}

/// True when the current thread's subscriber has a Langfuse layer (a dispatcher
/// lookup; for cold paths).
///
/// ```
/// assert!(!langfuse_core::hooks::current_dispatcher_has_layer());
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
/// langfuse_core::hooks::note_layer_attached();
/// assert!(langfuse_core::hooks::layer_installed());
/// ```
#[doc(hidden)]
pub fn note_layer_attached() {
    LAYER_ATTACHED.store(true, Ordering::Relaxed);
}
