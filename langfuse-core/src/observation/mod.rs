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

// One job a file, and no two import each other: `kind`, `setters` (macros) and
// `fields` at the bottom; `update` and `trace` over `fields`; `trace_context` on its
// own; `handle` over `update` and `trace`; `builder` over `handle` and `trace_context`;
// `current` over `update` and `trace`.
mod builder;
mod current;
mod fields;
mod handle;
mod kind;
mod setters;
mod trace;
mod trace_context;
mod update;

pub use builder::{
    agent, chain, embedding, evaluator, event, generation, guardrail, retriever, span,
    span_of_type, tool, ObservationBuilder, ObservationFuture,
};
// Re-exporting the deprecated function is no use of it.
#[allow(deprecated)]
pub use current::set_current_trace_io;
pub use current::{
    set_current_trace_as_public, update_current_generation, update_current_span,
    update_current_trace,
};
pub use handle::Observation;
pub use kind::{EventLike, GenerationLike, SpanLike};
pub use trace::TraceUpdate;
pub use trace_context::TraceContext;
pub use update::{GenerationUpdate, SpanUpdate, Update};
