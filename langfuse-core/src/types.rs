//! The Langfuse vocabulary: observation types and levels.

use std::fmt;
use std::str::FromStr;

/// The kind of an observation, as Langfuse shows it (`langfuse.observation.type`).
///
/// `Generation` and `Embedding` are *generation-like*: only they carry model, usage,
/// cost, completion start time and prompt. `Event` is a point in time (zero duration).
///
/// ```
/// use langfuse_tracing_core::ObservationType;
/// let t: ObservationType = "tool".parse().unwrap();
/// assert_eq!(t, ObservationType::Tool);
/// assert_eq!(t.as_str(), "tool");
/// assert!(ObservationType::Embedding.is_generation_like());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ObservationType {
    /// A unit of work (the default).
    #[default]
    Span,
    /// An LLM call: model, usage, cost, prompt.
    Generation,
    /// An embedding model call: model, usage, cost.
    Embedding,
    /// An agent deciding on the next step.
    Agent,
    /// A tool call.
    Tool,
    /// A link between steps of an application.
    Chain,
    /// A retrieval step (vector store, search).
    Retriever,
    /// An evaluation of another observation.
    Evaluator,
    /// A guardrail check (jailbreak, PII, ...).
    Guardrail,
    /// A point in time without duration.
    Event,
}

impl ObservationType {
    /// All ten types, in the order of the Langfuse docs.
    pub const ALL: [ObservationType; 10] = [
        ObservationType::Span,
        ObservationType::Generation,
        ObservationType::Embedding,
        ObservationType::Agent,
        ObservationType::Tool,
        ObservationType::Chain,
        ObservationType::Retriever,
        ObservationType::Evaluator,
        ObservationType::Guardrail,
        ObservationType::Event,
    ];

    /// The lowercase wire name (`"generation"`).
    ///
    /// ```
    /// assert_eq!(langfuse_tracing_core::ObservationType::Guardrail.as_str(), "guardrail");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            ObservationType::Span => "span",
            ObservationType::Generation => "generation",
            ObservationType::Embedding => "embedding",
            ObservationType::Agent => "agent",
            ObservationType::Tool => "tool",
            ObservationType::Chain => "chain",
            ObservationType::Retriever => "retriever",
            ObservationType::Evaluator => "evaluator",
            ObservationType::Guardrail => "guardrail",
            ObservationType::Event => "event",
        }
    }

    /// Parses the wire name exactly (lowercase); `None` for anything else.
    ///
    /// ```
    /// use langfuse_tracing_core::ObservationType;
    /// assert_eq!(ObservationType::from_wire("agent"), Some(ObservationType::Agent));
    /// assert_eq!(ObservationType::from_wire("Agent"), None);
    /// ```
    pub fn from_wire(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.as_str() == s)
    }

    /// True for `generation` and `embedding`, the types that carry model fields.
    ///
    /// ```
    /// assert!(!langfuse_tracing_core::ObservationType::Tool.is_generation_like());
    /// ```
    pub const fn is_generation_like(self) -> bool {
        matches!(
            self,
            ObservationType::Generation | ObservationType::Embedding
        )
    }
}

impl fmt::Display for ObservationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown observation type or level.
///
/// ```
/// assert!("nope".parse::<langfuse_tracing_core::ObservationType>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    what: &'static str,
    value: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} `{}`", self.what, self.value)
    }
}

impl std::error::Error for ParseError {}

impl FromStr for ObservationType {
    type Err = ParseError;

    /// Case-insensitive, like the Python client's `start_observation`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_wire(&s.to_ascii_lowercase()).ok_or_else(|| ParseError {
            what: "observation type",
            value: s.to_owned(),
        })
    }
}

/// The severity of an observation (`langfuse.observation.level`).
///
/// `Error` also sets the OpenTelemetry span status to ERROR.
///
/// ```
/// use langfuse_tracing_core::Level;
/// assert_eq!(Level::Warning.as_str(), "WARNING");
/// assert_eq!("error".parse::<Level>().unwrap(), Level::Error);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// Verbose detail.
    Debug,
    /// The normal level.
    #[default]
    Default,
    /// Something to look at.
    Warning,
    /// A failure; Langfuse highlights it.
    Error,
}

impl Level {
    /// The uppercase wire name.
    ///
    /// ```
    /// assert_eq!(langfuse_tracing_core::Level::Default.as_str(), "DEFAULT");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Default => "DEFAULT",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "DEBUG" => Ok(Level::Debug),
            "DEFAULT" => Ok(Level::Default),
            "WARNING" | "WARN" => Ok(Level::Warning),
            "ERROR" => Ok(Level::Error),
            _ => Err(ParseError {
                what: "level",
                value: s.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_its_wire_name() {
        for t in ObservationType::ALL {
            assert_eq!(ObservationType::from_wire(t.as_str()), Some(t));
            assert_eq!(t.as_str().to_uppercase().parse::<ObservationType>(), Ok(t));
        }
        assert_eq!(ObservationType::ALL.len(), 10);
    }

    #[test]
    fn only_generation_and_embedding_are_generation_like() {
        let like: Vec<_> = ObservationType::ALL
            .iter()
            .filter(|t| t.is_generation_like())
            .collect();
        assert_eq!(
            like,
            [&ObservationType::Generation, &ObservationType::Embedding]
        );
    }
}
