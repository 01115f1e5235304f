#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod attributes;
pub mod encoding;
pub mod ids;
pub mod mask;
pub mod observation;
pub mod prompt;
pub mod propagation;
pub mod score;
mod types;

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
