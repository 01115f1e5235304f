//! The kinds of observation, as type parameters: they decide which setters a builder,
//! an update and a handle have (model, usage, cost, completion start and prompt exist
//! only on generation-like ones).

/// Marker: a span-like observation (`span`, `agent`, `tool`, `chain`, `retriever`,
/// `evaluator`, `guardrail`). It has no generation fields.
#[derive(Clone, Copy, Debug)]
pub enum SpanLike {}
/// Marker: a generation-like observation (`generation`, `embedding`).
#[derive(Clone, Copy, Debug)]
pub enum GenerationLike {}
/// Marker: an `event`, a point in time that ends when it is created.
#[derive(Clone, Copy, Debug)]
pub enum EventLike {}
