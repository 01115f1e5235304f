//! `propagate_attributes`: trace-level attributes for every observation of a scope.

/// The validated, merged attributes of the innermost `propagate_attributes` scope.
///
/// ```
/// let p = langfuse_core::propagation::PropagatedAttributes::default();
/// assert!(p.user_id.is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PropagatedAttributes {
    /// `user.id`.
    pub user_id: Option<String>,
    /// `session.id`.
    pub session_id: Option<String>,
    /// `langfuse.version`.
    pub version: Option<String>,
    /// `langfuse.trace.name`.
    pub trace_name: Option<String>,
    /// `langfuse.environment`.
    pub environment: Option<String>,
    /// `langfuse.trace.tags`.
    pub tags: Vec<String>,
    /// `langfuse.trace.metadata.<key>`, metadata-encoded.
    pub metadata: Vec<(String, String)>,
    /// `langfuse.observation.prompt.name` / `.version`.
    pub prompt: Option<(String, i64)>,
}
