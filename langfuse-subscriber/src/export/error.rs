//! [`ExportError`]: the answer to a flush or a shutdown that did not complete.

use std::fmt;

/// Why a flush or shutdown did not complete.
///
/// ```
/// let e = langfuse_tracing::ExportError::Timeout;
/// assert!(e.to_string().contains("timed out"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportError {
    /// The export did not finish within the configured timeout.
    Timeout,
    /// The collector rejected or failed the export (the message names the reason).
    Failed(String),
    /// The pipeline was already shut down.
    ShutDown,
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Timeout => f.write_str("langfuse export timed out"),
            ExportError::Failed(m) => write!(f, "langfuse export failed: {m}"),
            ExportError::ShutDown => f.write_str("langfuse export was already shut down"),
        }
    }
}

impl std::error::Error for ExportError {}
