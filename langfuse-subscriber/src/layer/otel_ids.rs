//! One trace in two backends: with the `tracing-opentelemetry` feature, an observation
//! takes the trace id, span id and sampling decision of the OpenTelemetry span that
//! `tracing_opentelemetry::OpenTelemetryLayer` keeps for the same `tracing` span.
//!
//! `tracing-opentelemetry` decides its ids late: `on_new_span` only stores a builder,
//! and the span starts (ids drawn, sampler run) at its first enter, when a child is
//! created, at close, or when someone asks for its context. `set_parent` (as
//! `tower-http` apps call it with an extracted `traceparent`) works only before that.
//! So `on_new_span` keeps drawing provisional ids ([`IdSource::Provisional`], recorded
//! as sampled), and they are replaced by the OpenTelemetry span's
//! ([`get_otel_context`]) the first time they matter: at this layer's `on_enter`, at its
//! `on_close`, and before a handle reads them (`LayerHooks::resolve_ids`). Never in
//! `on_new_span` (that would start the span and break a later `set_parent`), never with
//! any span's extensions held (`get_otel_context` takes them and runs SDK code: sampler,
//! id generator, span processors), never re-entered from that SDK code.
//!
//! Whether an `OpenTelemetryLayer` is in the subscriber at all is found out at the first
//! observation entered; without one, `on_enter` returns after one relaxed load and
//! observations are exactly as without the feature.
//!
//! Sampling: exported iff the OpenTelemetry span is sampled and the trace passes
//! `sample_rate` on the (OpenTelemetry) trace id, the same low 64 bits that
//! `TraceIdRatioBased` tests.
//!
//! Layer order: in `registry().with(langfuse).with(otel)` this layer's callbacks run
//! first, so even a span that is never entered is resolved at close. In the other order
//! `OpenTelemetryLayer::on_close` has removed its data by then: such a span keeps its
//! own span id (in its parent's trace), and one warning names the fix.

use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::OnceLock;

use langfuse_tracing_core::__layer::state::{IdSource, ObservationState};
use opentelemetry::trace::{SpanContext, TraceContextExt};
use tracing::dispatcher::WeakDispatch;
use tracing::span::Id;
use tracing::{Dispatch, Subscriber};
use tracing_opentelemetry::{get_otel_context, OpenTelemetrySpanExt, SetParentError};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use super::{LangfuseLayer, Slot};

/// Whether the subscriber has an `OpenTelemetryLayer`.
const UNKNOWN: u8 = 0;
const PRESENT: u8 = 1;
const ABSENT: u8 = 2;

/// Which layer's `on_close` runs first (known once an OpenTelemetry-resolved span closes).
const LANGFUSE_FIRST: u8 = 1;
const OTEL_FIRST: u8 = 2;

thread_local! {
    /// Set while `get_otel_context` runs SDK code on this thread: spans that code
    /// enters or closes keep their ids as they are (no re-entry).
    static RESOLVING: Cell<bool> = const { Cell::new(false) };
}

/// What this layer knows about the `OpenTelemetryLayer` beside it.
#[derive(Debug, Default)]
pub(super) struct OtelIds {
    /// The subscriber this layer is part of (`Layer::on_register_dispatch`).
    dispatch: OnceLock<WeakDispatch>,
    mode: AtomicU8,
    order: AtomicU8,
    warned_order: AtomicBool,
    warned_remote: AtomicBool,
}

impl OtelIds {
    pub(super) fn register(&self, dispatch: &Dispatch) {
        let _ = self.dispatch.set(dispatch.downgrade());
    }

    /// New observations get provisional ids: an `OpenTelemetryLayer` is, or may be, there.
    #[inline]
    pub(super) fn may_follow(&self) -> bool {
        self.mode.load(Ordering::Relaxed) != ABSENT
    }
}

/// Final ids of one observation.
#[derive(Clone, Copy, Debug)]
struct Ids {
    trace_id: u128,
    span_id: u64,
    sampled: bool,
}

impl Ids {
    fn of(s: &ObservationState) -> Ids {
        Ids {
            trace_id: s.trace_id,
            span_id: s.span_id,
            sampled: s.sampled,
        }
    }
}

/// The provisional ids, as `on_new_span` drew them.
#[derive(Clone, Copy, Debug)]
struct Drawn {
    trace_id: u128,
    span_id: u64,
    /// A remote parent (no observation above), or the Langfuse parent's span id.
    parent_span_id: Option<u64>,
}

impl Drawn {
    fn of(s: &ObservationState) -> Drawn {
        Drawn {
            trace_id: s.trace_id,
            span_id: s.span_id,
            parent_span_id: s.parent_span_id,
        }
    }
}

/// The ids a provisional observation settles on.
struct Settled {
    ids: Ids,
    parent_span_id: Option<u64>,
    source: IdSource,
}

impl Settled {
    fn apply(&self, s: &mut ObservationState) {
        s.trace_id = self.ids.trace_id;
        s.span_id = self.ids.span_id;
        s.sampled = self.ids.sampled;
        s.parent_span_id = self.parent_span_id;
        s.id_source = self.source;
    }
}

/// Resets [`RESOLVING`] even if SDK code panics.
struct Resolving;

impl Drop for Resolving {
    fn drop(&mut self) {
        RESOLVING.set(false);
    }
}

/// The span context of `id`'s OpenTelemetry span, started if it was not yet; `None`
/// without an `OpenTelemetryLayer`, for a span it does not see (per-layer filter) or
/// has already closed, or one whose tracer gives no span of its own (no-op tracer).
fn otel_span_context(dispatch: &Dispatch, id: &Id) -> Option<SpanContext> {
    RESOLVING.set(true);
    let guard = Resolving;
    let cx = get_otel_context(id, dispatch);
    drop(guard);
    let sc = cx?.span().span_context().clone();
    (sc.is_valid() && !sc.is_remote()).then_some(sc)
}

fn trace_id_of(sc: &SpanContext) -> u128 {
    u128::from_be_bytes(sc.trace_id().to_bytes())
}

fn span_id_of(sc: &SpanContext) -> u64 {
    u64::from_be_bytes(sc.span_id().to_bytes())
}

impl LangfuseLayer {
    /// `LayerHooks::resolve_ids`: a handle is about to read the ids of span `id`.
    pub(super) fn resolve_ids_hook<S>(dispatch: &Dispatch, id: &Id)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let Some(layer) = dispatch.downcast_ref::<LangfuseLayer>() else {
            return;
        };
        if !layer.otel.may_follow() || RESOLVING.get() {
            return;
        }
        if let Some(sub) = dispatch.downcast_ref::<S>() {
            layer.resolve_ids(sub, dispatch, id);
        }
    }

    /// `on_enter`: the ids of an entered observation are settled (the
    /// OpenTelemetry layer starts its span at its first enter anyway).
    #[inline]
    pub(super) fn otel_on_enter<S>(&self, id: &Id)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        if !self.otel.may_follow() {
            return;
        }
        self.otel_on_enter_slow::<S>(id);
    }

    #[cold]
    fn otel_on_enter_slow<S>(&self, id: &Id)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        if RESOLVING.get() {
            return;
        }
        let Some(dispatch) = self.otel_dispatch() else {
            return;
        };
        let Some(sub) = dispatch.downcast_ref::<S>() else {
            return;
        };
        let resolved = self.resolve_ids(sub, &dispatch, id);
        if resolved.is_some() && self.otel.mode.load(Ordering::Relaxed) == UNKNOWN {
            self.probe_otel_layer(id);
        }
    }

    /// `on_close` (the state already out of the extensions): settles a provisional
    /// observation, and learns the layer order from one resolved earlier.
    pub(super) fn otel_at_close<S>(&self, id: &Id, state: &mut ObservationState)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let dispatch = self.otel_dispatch();
        let sub = dispatch.as_ref().and_then(|d| d.downcast_ref::<S>());
        let (Some(dispatch), Some(sub)) = (dispatch.as_ref(), sub) else {
            if state.id_source == IdSource::Provisional {
                self.settle_own(state);
            }
            return;
        };
        match state.id_source {
            IdSource::Provisional => {
                let Some(span) = sub.span(id).filter(|_| !RESOLVING.get()) else {
                    self.settle_own(state);
                    return;
                };
                let settled = self.settle(sub, dispatch, &span, Drawn::of(state));
                settled.apply(state);
                if settled.source == IdSource::OpenTelemetry {
                    // Its data was still there at our close: we close first.
                    let _ = self.otel.order.compare_exchange(
                        UNKNOWN,
                        LANGFUSE_FIRST,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                } else if self.otel.order.load(Ordering::Relaxed) == OTEL_FIRST {
                    self.warn_order();
                }
            }
            IdSource::OpenTelemetry if self.otel.order.load(Ordering::Relaxed) == UNKNOWN => {
                // Started already, so asking again has no side effect: gone means the
                // OpenTelemetry layer closed it before this layer's `on_close` ran.
                let order = if otel_span_context(dispatch, id).is_some() {
                    LANGFUSE_FIRST
                } else {
                    OTEL_FIRST
                };
                self.otel.order.store(order, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    /// The dispatch this layer is registered in; else the current default, if it is
    /// the one holding this very layer (`Option<LangfuseLayer>` does not forward
    /// `on_register_dispatch`). Never another one: `get_otel_context` must look the
    /// span up in the registry that holds it.
    fn otel_dispatch(&self) -> Option<Dispatch> {
        if let Some(dispatch) = self.otel.dispatch.get().and_then(WeakDispatch::upgrade) {
            return Some(dispatch);
        }
        tracing::dispatcher::get_default(|d| {
            d.downcast_ref::<LangfuseLayer>()
                .is_some_and(|l| ptr::eq(l, self))
                .then(|| d.clone())
        })
    }

    fn mark_otel_present(&self) {
        if self.otel.mode.swap(PRESENT, Ordering::Relaxed) != PRESENT {
            // Its sampler decides too: the macro asks per observation from now on.
            if let Some(hooks) = &self.hooks {
                hooks
                    .records_every_observation
                    .store(false, Ordering::Relaxed);
            }
        }
    }

    /// The first observation entered had no OpenTelemetry span: tells "no
    /// `OpenTelemetryLayer`" (never look again) from "it filtered this span out".
    /// `set_parent` on a span without OpenTelemetry data changes nothing; it only
    /// answers `LayerNotFound` when there is no such layer. Needs the span as a
    /// `tracing::Span`: the current one, which it is inside `on_enter`.
    fn probe_otel_layer(&self, id: &Id) {
        let current = tracing::Span::current();
        if current.id().as_ref() != Some(id) {
            return;
        }
        let ours = current
            .with_subscriber(|(_, d)| {
                d.downcast_ref::<LangfuseLayer>()
                    .is_some_and(|l| ptr::eq(l, self))
            })
            .unwrap_or(false);
        if !ours {
            return;
        }
        match current.set_parent(opentelemetry::Context::new()) {
            Err(SetParentError::LayerNotFound) => {
                let _ = self.otel.mode.compare_exchange(
                    UNKNOWN,
                    ABSENT,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
            Err(SetParentError::SpanDisabled) => {}
            Ok(()) | Err(SetParentError::AlreadyStarted) => self.mark_otel_present(),
        }
    }

    /// The final ids of observation span `id` (`None` if it is no observation of this
    /// layer, or while SDK code runs on this thread), settling them first if needed.
    fn resolve_ids<S>(&self, sub: &S, dispatch: &Dispatch, id: &Id) -> Option<Ids>
    where
        S: for<'a> LookupSpan<'a>,
    {
        let span = sub.span(id)?;
        let drawn = {
            let ext = span.extensions();
            let s = ext.get::<Slot>()?;
            if s.id_source != IdSource::Provisional {
                return Some(Ids::of(s));
            }
            // What `settle` needs, copied out: it calls into OpenTelemetry unlocked.
            Drawn::of(s)
        };
        if RESOLVING.get() {
            return None;
        }
        let settled = self.settle(sub, dispatch, &span, drawn);
        let mut ext = span.extensions_mut();
        let s = ext.get_mut::<Slot>()?;
        if s.id_source == IdSource::Provisional {
            settled.apply(s);
        }
        Some(Ids::of(s))
    }

    /// The ids of a provisional observation: its OpenTelemetry span's, else its own
    /// span id in its parent's trace (the Langfuse parent's, else that of the nearest
    /// ancestor OpenTelemetry knows), else its own as drawn.
    fn settle<S>(
        &self,
        sub: &S,
        dispatch: &Dispatch,
        span: &SpanRef<'_, S>,
        drawn: Drawn,
    ) -> Settled
    where
        S: for<'a> LookupSpan<'a>,
    {
        let otel = self.otel.mode.load(Ordering::Relaxed) != ABSENT;
        // The nearest observation above, settled first: it is still open (parents close
        // after their children), and its span id is this one's parent on the wire.
        let parent = span
            .scope()
            .skip(1)
            .find(|a| a.extensions().get::<Slot>().is_some())
            .and_then(|a| self.resolve_ids(sub, dispatch, &a.id()));
        let own = otel
            .then(|| otel_span_context(dispatch, &span.id()))
            .flatten()
            // A no-op tracer hands back its parent's context.
            .filter(|sc| parent.is_none_or(|p| p.span_id != span_id_of(sc)));
        let (trace_id, span_id, otel_sampled, source) = match (&own, &parent) {
            (Some(sc), _) => {
                self.mark_otel_present();
                let source = IdSource::OpenTelemetry;
                (trace_id_of(sc), span_id_of(sc), sc.is_sampled(), source)
            }
            (None, Some(p)) => (p.trace_id, drawn.span_id, p.sampled, IdSource::Own),
            // No observation above: the trace of the nearest span OpenTelemetry knows
            // (a `tower-http` request span, say), if any.
            (None, None) => match span
                .scope()
                .skip(1)
                .filter(|_| otel)
                .find_map(|a| otel_span_context(dispatch, &a.id()))
            {
                Some(sc) => (
                    trace_id_of(&sc),
                    drawn.span_id,
                    sc.is_sampled(),
                    IdSource::Own,
                ),
                None => (drawn.trace_id, drawn.span_id, true, IdSource::Own),
            },
        };
        // The wire parent: the Langfuse parent (if in the same trace), else the remote
        // parent this observation was created under, if that trace goes on.
        let parent_span_id = match &parent {
            Some(p) => (p.trace_id == trace_id).then_some(p.span_id),
            None if trace_id == drawn.trace_id => drawn.parent_span_id,
            None => {
                if drawn.parent_span_id.is_some() {
                    self.warn_remote_parent();
                }
                None
            }
        };
        let sampled = match (&parent, source) {
            // The parent's decision already includes `sample_rate` on this trace.
            (Some(p), IdSource::Own) if p.trace_id == trace_id => p.sampled,
            _ => otel_sampled && self.sample(trace_id),
        };
        Settled {
            ids: Ids {
                trace_id,
                span_id,
                sampled,
            },
            parent_span_id,
            source,
        }
    }

    /// Settles with what this layer drew (no OpenTelemetry span to ask).
    fn settle_own(&self, s: &mut ObservationState) {
        s.sampled = self.sample(s.trace_id);
        s.id_source = IdSource::Own;
    }

    #[cold]
    fn warn_order(&self) {
        if !self.otel.warned_order.swap(true, Ordering::Relaxed) {
            langfuse_tracing_core::__layer::warn::emit(
                "an observation closed without being entered and got ids of its own, not \
                 its OpenTelemetry span's: the OpenTelemetryLayer is added before the \
                 Langfuse layer, so it forgets the span first; add the Langfuse layer \
                 first for identical ids (`registry().with(langfuse).with(otel)`)",
            );
        }
    }

    #[cold]
    fn warn_remote_parent(&self) {
        if !self.otel.warned_remote.swap(true, Ordering::Relaxed) {
            langfuse_tracing_core::__layer::warn::emit(
                "an observation continues a remote trace given to Langfuse only \
                 (`extract_trace_headers`), but its OpenTelemetry span started another \
                 trace, whose ids it takes; give the extracted context to the \
                 `tracing` span as well (`tracing_opentelemetry::OpenTelemetrySpanExt::set_parent`)",
            );
        }
    }
}
