//! Langfuse instrumentation for Rust, on top of [`tracing`].
//!
//! This crate is what code that *produces* observations depends on: the `#[observe]`
//! macro, observation builders and handles, updates, ids, and `propagate_attributes`.
//! It has no network code; an application installs `langfuse-tracing`'s layer to
//! export. Without that layer, everything here is a cheap no-op.
//!
//! ```
//! use langfuse_tracing_core::{create_trace_id, ObservationType};
//! assert_eq!(ObservationType::Generation.as_str(), "generation");
//! assert_eq!(create_trace_id(Some("req_12345")).to_string(), "6cec55478a541a9eb2b3bfd6c8ba5670");
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod attributes;
pub mod encoding;
pub mod ids;
pub mod mask;
pub mod observation;
pub mod propagation;
pub mod score;
mod types;
pub mod warn;

#[doc(hidden)]
#[path = "private/mod.rs"]
pub mod __private;

#[doc(hidden)]
#[path = "layer/mod.rs"]
pub mod __layer;

pub use ids::{
    create_trace_id, get_current_observation_id, get_current_trace_id, InvalidId, ObservationId,
    TraceId,
};
/// Turns each call of a function into one Langfuse observation; see the
/// [macro documentation](macro@observe).
pub use langfuse_tracing_macros::observe;
pub use observation::{
    agent, chain, embedding, evaluator, event, generation, guardrail, retriever, span, tool,
    update_current_generation, update_current_span, update_current_trace, GenerationUpdate,
    Observation, ObservationBuilder, SpanUpdate, TraceContext, TraceUpdate,
};
pub use propagation::{
    propagate_attributes, PropagateAttributes, PropagationContext, RemoteContext,
};
pub use score::{
    create_score, score_current_span, score_current_trace, Score, ScoreDataType, ScoreError,
    ScoreValue,
};
pub use types::{Level, ObservationType, ParseError};
