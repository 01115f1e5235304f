//! Scores: evaluations, user feedback and annotations attached to a trace, an
//! observation, a session or a dataset run, at any time after it ran (reference §7).
//!
//! Traces and observations are close to immutable once ingested; enrichment after the
//! fact goes through scores, which are upserted by id: sending a score again with the
//! same [`Score::id`] (and the same [`Score::timestamp`]) replaces it.
//!
//! ```
//! use langfuse_tracing_core::score::{Score, ScoreValue};
//! // Only ids are needed, so feedback can come long after the trace, from another process.
//! let trace_id = langfuse_tracing_core::create_trace_id(Some("req_12345"));
//! let score = Score::new("helpful", true).trace_id(trace_id).comment("thumbs up");
//! assert_eq!(score.value(), &ScoreValue::Boolean(true));
//! // Without a Langfuse layer there is nowhere to send it: an error, never a panic.
//! assert!(langfuse_tracing_core::score::create_score(score).is_err());
//! ```
//!
//! Values are typed: a boolean score holds a `bool` and a categorical one a `String`,
//! so `ScoreValue::Boolean(0.7)` does not compile. A value only known at run time (an
//! evaluator's JSON answer) goes through [`ScoreValue::from_json`], which returns an
//! error instead. An empty name, a NaN, a malformed id or a score without a target is
//! an error returned by [`create_score`] and friends before anything is queued.
//!
//! This crate has no network code: a Langfuse layer (in `langfuse-tracing`)
//! registers a [`ScoreSink`] that batches and sends. The score functions find the sink
//! of the current subscriber (for a handle: the subscriber of its span), else the sink
//! of the most recently built layer still alive.

use std::fmt;
use std::sync::{Arc, RwLock, Weak};
use std::time::SystemTime;

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::ids::{random_u64, ObservationId, TraceId};
use crate::observation::Observation;

/// The data type of a score, as the API names it (`dataType`).
///
/// ```
/// use langfuse_tracing_core::score::ScoreDataType;
/// assert_eq!(ScoreDataType::Boolean.as_str(), "BOOLEAN");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ScoreDataType {
    /// A number.
    Numeric,
    /// True or false (sent as 1 or 0).
    Boolean,
    /// One label out of a set (a string).
    Categorical,
    /// Free text of 1 to 500 characters.
    Text,
    /// A corrected output (a string).
    Correction,
}

impl ScoreDataType {
    /// The API's name for it.
    ///
    /// ```
    /// assert_eq!(langfuse_tracing_core::score::ScoreDataType::Numeric.as_str(), "NUMERIC");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ScoreDataType::Numeric => "NUMERIC",
            ScoreDataType::Boolean => "BOOLEAN",
            ScoreDataType::Categorical => "CATEGORICAL",
            ScoreDataType::Text => "TEXT",
            ScoreDataType::Correction => "CORRECTION",
        }
    }
}

impl fmt::Display for ScoreDataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A score's value; its variant decides the data type sent with it.
///
/// `From` conversions: numbers give `Numeric`, `bool` gives `Boolean`, strings give
/// `Categorical` (use [`ScoreValue::Text`] or [`ScoreValue::Correction`] for the others).
///
/// ```
/// use langfuse_tracing_core::score::{ScoreDataType, ScoreValue};
/// assert_eq!(ScoreValue::from(0.9).data_type(), ScoreDataType::Numeric);
/// assert_eq!(ScoreValue::from(3).data_type(), ScoreDataType::Numeric);
/// assert_eq!(ScoreValue::from(false).data_type(), ScoreDataType::Boolean);
/// assert_eq!(ScoreValue::from("good").data_type(), ScoreDataType::Categorical);
/// assert_eq!(ScoreValue::Text("Clear and short.".into()).data_type(), ScoreDataType::Text);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum ScoreValue {
    /// A finite number.
    Numeric(f64),
    /// True or false.
    Boolean(bool),
    /// A non-empty label.
    Categorical(String),
    /// Free text, 1 to 500 characters.
    Text(String),
    /// A corrected output.
    Correction(String),
}

impl ScoreValue {
    /// The data type this value is sent with.
    ///
    /// ```
    /// use langfuse_tracing_core::score::{ScoreDataType, ScoreValue};
    /// assert_eq!(ScoreValue::Correction("Paris".into()).data_type(), ScoreDataType::Correction);
    /// ```
    pub fn data_type(&self) -> ScoreDataType {
        match self {
            ScoreValue::Numeric(_) => ScoreDataType::Numeric,
            ScoreValue::Boolean(_) => ScoreDataType::Boolean,
            ScoreValue::Categorical(_) => ScoreDataType::Categorical,
            ScoreValue::Text(_) => ScoreDataType::Text,
            ScoreValue::Correction(_) => ScoreDataType::Correction,
        }
    }

    /// A value decided at run time, checked against `data_type`: a boolean accepts
    /// `true`/`false`/`1`/`0`, a numeric a finite number, the string types a string.
    ///
    /// ```
    /// use langfuse_tracing_core::score::{ScoreDataType, ScoreValue};
    /// use serde_json::json;
    /// assert_eq!(ScoreValue::from_json(&json!(1), ScoreDataType::Boolean).unwrap(), ScoreValue::Boolean(true));
    /// assert!(ScoreValue::from_json(&json!(0.7), ScoreDataType::Boolean).is_err());
    /// assert!(ScoreValue::from_json(&json!(3), ScoreDataType::Categorical).is_err());
    /// ```
    pub fn from_json(
        value: &serde_json::Value,
        data_type: ScoreDataType,
    ) -> Result<ScoreValue, ScoreError> {
        use serde_json::Value;
        let wrong = || ScoreError::WrongValueType {
            data_type,
            value: value.to_string().chars().take(80).collect(),
        };
        Ok(match (data_type, value) {
            (ScoreDataType::Numeric, Value::Number(n)) => {
                ScoreValue::Numeric(n.as_f64().ok_or_else(wrong)?)
            }
            (ScoreDataType::Boolean, Value::Bool(b)) => ScoreValue::Boolean(*b),
            (ScoreDataType::Boolean, Value::Number(n)) => match n.as_f64() {
                Some(1.0) => ScoreValue::Boolean(true),
                Some(0.0) => ScoreValue::Boolean(false),
                _ => return Err(wrong()),
            },
            (ScoreDataType::Categorical, Value::String(s)) => ScoreValue::Categorical(s.clone()),
            (ScoreDataType::Text, Value::String(s)) => ScoreValue::Text(s.clone()),
            (ScoreDataType::Correction, Value::String(s)) => ScoreValue::Correction(s.clone()),
            _ => return Err(wrong()),
        })
    }
}

macro_rules! numeric_from {
    ($($t:ty),*) => {$(
        impl From<$t> for ScoreValue {
            fn from(v: $t) -> Self {
                ScoreValue::Numeric(v as f64)
            }
        }
    )*};
}
numeric_from!(f64, f32, i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

impl From<bool> for ScoreValue {
    fn from(v: bool) -> Self {
        ScoreValue::Boolean(v)
    }
}

impl From<&str> for ScoreValue {
    fn from(v: &str) -> Self {
        ScoreValue::Categorical(v.to_owned())
    }
}

impl From<String> for ScoreValue {
    fn from(v: String) -> Self {
        ScoreValue::Categorical(v)
    }
}

/// Why a score was not queued. Nothing is sent when one of these is returned.
///
/// ```
/// let err = langfuse_tracing_core::score::Score::new("", 1.0).validate().unwrap_err();
/// assert_eq!(err, langfuse_tracing_core::score::ScoreError::EmptyName);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ScoreError {
    /// The name is empty (or only whitespace).
    EmptyName,
    /// A numeric value that is NaN or infinite.
    NotFinite(f64),
    /// A text value outside 1 to 500 characters.
    TextLength(usize),
    /// An empty categorical label.
    EmptyLabel,
    /// A run-time value that does not fit the data type.
    WrongValueType {
        /// The data type asked for.
        data_type: ScoreDataType,
        /// The start of the value, as JSON.
        value: String,
    },
    /// A trace id that is not 32 lowercase hex characters (or all zeros).
    InvalidTraceId(String),
    /// An observation id that is not 16 lowercase hex characters (or all zeros).
    InvalidObservationId(String),
    /// An observation id without the trace id it belongs to.
    ObservationWithoutTrace,
    /// Neither a trace, a session nor a dataset run to attach the score to.
    NoTarget,
    /// More than one of trace, session and dataset run.
    SeveralTargets,
    /// A setting that must not be empty when given (`id`, `session_id`, ...).
    Empty(&'static str),
    /// An environment that is not at most 40 characters of `[a-z0-9_-]` not starting
    /// with `langfuse`.
    InvalidEnvironment(String),
    /// Metadata that is not a JSON object.
    MetadataNotObject,
    /// The score's JSON is larger than one request may be.
    TooLarge {
        /// The score's size in bytes.
        bytes: usize,
        /// The largest batch in bytes.
        max: usize,
    },
    /// `score_current_*` outside any observation.
    NoCurrentObservation,
    /// A handle without ids (no Langfuse layer saw its span).
    NoObservation,
    /// No Langfuse layer is installed to send the score.
    NoLayer,
    /// The layer has no destination for scores (no credentials and no console).
    NoDestination,
    /// The layer was shut down.
    ShutDown,
    /// The score queue is full (the score is counted as dropped).
    QueueFull,
}

impl fmt::Display for ScoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScoreError::EmptyName => f.write_str("a score needs a non-empty name"),
            ScoreError::NotFinite(v) => write!(f, "a numeric score must be finite, not {v}"),
            ScoreError::TextLength(n) => {
                write!(f, "a text score must have 1 to 500 characters, not {n}")
            }
            ScoreError::EmptyLabel => f.write_str("a categorical score needs a non-empty label"),
            ScoreError::WrongValueType { data_type, value } => {
                write!(f, "{value} is not a valid {data_type} score value")
            }
            ScoreError::InvalidTraceId(v) => write!(
                f,
                "invalid trace id {v:?}: expected 32 lowercase hex characters, not all zero"
            ),
            ScoreError::InvalidObservationId(v) => write!(
                f,
                "invalid observation id {v:?}: expected 16 lowercase hex characters, not all zero"
            ),
            ScoreError::ObservationWithoutTrace => {
                f.write_str("an observation score needs the observation's trace id too")
            }
            ScoreError::NoTarget => {
                f.write_str("a score needs a trace id, a session id or a dataset run id")
            }
            ScoreError::SeveralTargets => f.write_str(
                "a score belongs to one of a trace, a session or a dataset run, not several",
            ),
            ScoreError::Empty(what) => write!(f, "the score's {what} must not be empty"),
            ScoreError::InvalidEnvironment(v) => write!(
                f,
                "invalid environment {v:?}: expected at most 40 characters of a-z, 0-9, `_`, \
                 `-`, not starting with `langfuse`"
            ),
            ScoreError::MetadataNotObject => f.write_str("score metadata must be a JSON object"),
            ScoreError::TooLarge { bytes, max } => write!(
                f,
                "the score is {bytes} bytes as JSON, more than a score request may be ({max})"
            ),
            ScoreError::NoCurrentObservation => f.write_str("no current observation to score"),
            ScoreError::NoObservation => {
                f.write_str("the handle has no ids: no Langfuse layer recorded its span")
            }
            ScoreError::NoLayer => f.write_str("no Langfuse layer is installed to send the score"),
            ScoreError::NoDestination => f.write_str(
                "the Langfuse layer has no destination for scores (no credentials, console off)",
            ),
            ScoreError::ShutDown => f.write_str("the Langfuse layer is shut down"),
            ScoreError::QueueFull => f.write_str("the score queue is full; the score was dropped"),
        }
    }
}

impl std::error::Error for ScoreError {}

/// A score to create (or to update: same [`Score::id`]). Build it, give it a target
/// (a trace, an observation of a trace, a session or a dataset run) and pass it to
/// [`create_score`], [`Observation::score`] or the `score_current_*` functions.
///
/// ```
/// use langfuse_tracing_core::score::Score;
/// let trace_id = langfuse_tracing_core::create_trace_id(Some("req_42"));
/// let score = Score::new("correctness", 0.8)
///     .trace_id(trace_id)
///     .observation_id("6cec55478a541a9e")
///     .id("req_42-correctness") // sending it again with this id updates it
///     .comment("one fact missing")
///     .metadata(serde_json::json!({"evaluator": "gpt-4o"}));
/// let record = score.validate().unwrap();
/// assert_eq!(record.id(), "req_42-correctness");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    name: String,
    value: ScoreValue,
    id: Option<String>,
    trace_id: Option<String>,
    observation_id: Option<String>,
    session_id: Option<String>,
    dataset_run_id: Option<String>,
    comment: Option<String>,
    metadata: Option<serde_json::Value>,
    config_id: Option<String>,
    timestamp: Option<SystemTime>,
    environment: Option<String>,
}

impl Score {
    /// `env` unless an environment was set on the score.
    fn with_default_environment(mut self, env: Option<String>) -> Score {
        if self.environment.is_none() {
            self.environment = env;
        }
        self
    }

    /// A score named `name` with `value` (see [`ScoreValue`] for the conversions).
    ///
    /// ```
    /// let s = langfuse_tracing_core::score::Score::new("latency-ok", true);
    /// assert_eq!(s.name(), "latency-ok");
    /// ```
    pub fn new(name: impl Into<String>, value: impl Into<ScoreValue>) -> Score {
        Score {
            name: name.into(),
            value: value.into(),
            id: None,
            trace_id: None,
            observation_id: None,
            session_id: None,
            dataset_run_id: None,
            comment: None,
            metadata: None,
            config_id: None,
            timestamp: None,
            environment: None,
        }
    }

    /// The score's id; without one a random 16-hex id is drawn. A score sent again
    /// with the same id (and timestamp) replaces the earlier one.
    ///
    /// ```
    /// let s = langfuse_tracing_core::score::Score::new("q", 1).id("my-score-1");
    /// assert_eq!(s.validate().unwrap_err(), langfuse_tracing_core::score::ScoreError::NoTarget);
    /// ```
    pub fn id(mut self, id: impl Into<String>) -> Score {
        self.id = Some(id.into());
        self
    }

    /// The trace it scores: a [`TraceId`] or its 32-hex string.
    ///
    /// ```
    /// let s = langfuse_tracing_core::score::Score::new("q", 1).trace_id("6cec55478a541a9eb2b3bfd6c8ba5670");
    /// assert!(s.validate().is_ok());
    /// ```
    pub fn trace_id(mut self, id: impl fmt::Display) -> Score {
        self.trace_id = Some(id.to_string());
        self
    }

    /// The observation it scores (with [`Score::trace_id`]): an [`ObservationId`] or
    /// its 16-hex string.
    ///
    /// ```
    /// let s = langfuse_tracing_core::score::Score::new("q", 1).observation_id("6cec55478a541a9e");
    /// assert!(s.validate().is_err()); // the trace id is missing
    /// ```
    pub fn observation_id(mut self, id: impl fmt::Display) -> Score {
        self.observation_id = Some(id.to_string());
        self
    }

    /// The session it scores.
    ///
    /// ```
    /// assert!(langfuse_tracing_core::score::Score::new("csat", 4).session_id("chat-1").validate().is_ok());
    /// ```
    pub fn session_id(mut self, id: impl Into<String>) -> Score {
        self.session_id = Some(id.into());
        self
    }

    /// The dataset run it scores.
    ///
    /// ```
    /// assert!(langfuse_tracing_core::score::Score::new("acc", 0.9).dataset_run_id("run-1").validate().is_ok());
    /// ```
    pub fn dataset_run_id(mut self, id: impl Into<String>) -> Score {
        self.dataset_run_id = Some(id.into());
        self
    }

    /// A comment (for example the evaluator's reasoning).
    ///
    /// ```
    /// let _ = langfuse_tracing_core::score::Score::new("q", 1).comment("good");
    /// ```
    pub fn comment(mut self, comment: impl Into<String>) -> Score {
        self.comment = Some(comment.into());
        self
    }

    /// Metadata: a JSON object (`null` means none).
    ///
    /// ```
    /// let s = langfuse_tracing_core::score::Score::new("q", 1).session_id("s").metadata(serde_json::json!([1]));
    /// assert!(s.validate().is_err());
    /// ```
    pub fn metadata(mut self, metadata: serde_json::Value) -> Score {
        self.metadata = Some(metadata);
        self
    }

    /// A score config's id (the server checks the value against it).
    ///
    /// ```
    /// let _ = langfuse_tracing_core::score::Score::new("q", 1).config_id("cfg-1");
    /// ```
    pub fn config_id(mut self, id: impl Into<String>) -> Score {
        self.config_id = Some(id.into());
        self
    }

    /// When it was scored; default: now. Keep it when updating a score by id.
    ///
    /// ```
    /// let _ = langfuse_tracing_core::score::Score::new("q", 1).timestamp(std::time::SystemTime::now());
    /// ```
    pub fn timestamp(mut self, at: SystemTime) -> Score {
        self.timestamp = Some(at);
        self
    }

    /// The environment; default: the layer's environment.
    ///
    /// ```
    /// let s = langfuse_tracing_core::score::Score::new("q", 1).session_id("s").environment("Prod");
    /// assert!(s.validate().is_err()); // lowercase only
    /// ```
    pub fn environment(mut self, env: impl Into<String>) -> Score {
        self.environment = Some(env.into());
        self
    }

    /// The name.
    ///
    /// ```
    /// assert_eq!(langfuse_tracing_core::score::Score::new("q", 1).name(), "q");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value.
    ///
    /// ```
    /// use langfuse_tracing_core::score::{Score, ScoreValue};
    /// assert_eq!(Score::new("q", 2).value(), &ScoreValue::Numeric(2.0));
    /// ```
    pub fn value(&self) -> &ScoreValue {
        &self.value
    }

    /// Checks every field and fills the defaults (id, timestamp): the record that is
    /// sent. [`create_score`] calls it; call it yourself to check a score early.
    ///
    /// ```
    /// use langfuse_tracing_core::score::{Score, ScoreError};
    /// let t = "6cec55478a541a9eb2b3bfd6c8ba5670";
    /// assert!(matches!(Score::new("q", f64::NAN).trace_id(t).validate(), Err(ScoreError::NotFinite(_))));
    /// assert!(matches!(Score::new("q", 1).trace_id("abc").validate(), Err(ScoreError::InvalidTraceId(_))));
    /// ```
    pub fn validate(&self) -> Result<ScoreRecord, ScoreError> {
        if self.name.trim().is_empty() {
            return Err(ScoreError::EmptyName);
        }
        match &self.value {
            ScoreValue::Numeric(v) if !v.is_finite() => return Err(ScoreError::NotFinite(*v)),
            ScoreValue::Text(t) => {
                let n = t.chars().count();
                if !(1..=500).contains(&n) {
                    return Err(ScoreError::TextLength(n));
                }
            }
            ScoreValue::Categorical(c) if c.is_empty() => return Err(ScoreError::EmptyLabel),
            _ => {}
        }
        let trace_id = match &self.trace_id {
            Some(t) => Some(
                t.parse::<TraceId>()
                    .map_err(|_| ScoreError::InvalidTraceId(t.chars().take(64).collect()))?,
            ),
            None => None,
        };
        let observation_id = match &self.observation_id {
            Some(o) => Some(
                o.parse::<ObservationId>()
                    .map_err(|_| ScoreError::InvalidObservationId(o.chars().take(64).collect()))?,
            ),
            None => None,
        };
        if observation_id.is_some() && trace_id.is_none() {
            return Err(ScoreError::ObservationWithoutTrace);
        }
        for (what, v) in [
            ("id", &self.id),
            ("session_id", &self.session_id),
            ("dataset_run_id", &self.dataset_run_id),
            ("config_id", &self.config_id),
        ] {
            if v.as_deref().is_some_and(|v| v.trim().is_empty()) {
                return Err(ScoreError::Empty(what));
            }
        }
        let targets = usize::from(trace_id.is_some())
            + usize::from(self.session_id.is_some())
            + usize::from(self.dataset_run_id.is_some());
        match targets {
            0 => return Err(ScoreError::NoTarget),
            1 => {}
            _ => return Err(ScoreError::SeveralTargets),
        }
        if let Some(env) = &self.environment {
            if !valid_environment(env) {
                return Err(ScoreError::InvalidEnvironment(
                    env.chars().take(64).collect(),
                ));
            }
        }
        let metadata = match &self.metadata {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Object(m)) => Some(m.clone()),
            Some(_) => return Err(ScoreError::MetadataNotObject),
        };
        Ok(ScoreRecord {
            id: self
                .id
                .clone()
                .unwrap_or_else(|| format!("{:016x}", random_u64())),
            trace_id,
            observation_id,
            session_id: self.session_id.clone(),
            dataset_run_id: self.dataset_run_id.clone(),
            name: self.name.clone(),
            value: self.value.clone(),
            comment: self.comment.clone(),
            environment: self.environment.clone(),
            config_id: self.config_id.clone(),
            timestamp: crate::__layer::time::iso8601(
                self.timestamp.unwrap_or_else(SystemTime::now),
            ),
            metadata,
        })
    }
}

/// The environment rule of the Langfuse SDKs: at most 40 characters of `[a-z0-9_-]`,
/// not starting with `langfuse`.
fn valid_environment(env: &str) -> bool {
    !env.is_empty()
        && env.len() <= 40
        && !env.starts_with("langfuse")
        && env
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
}

/// A validated score with its defaults filled: what goes on the wire. It serialises as
/// one element of the `POST /api/public/scores` body (keys in the reference SDK's
/// order, absent values left out).
///
/// ```
/// use langfuse_tracing_core::score::Score;
/// let r = Score::new("helpful", true).session_id("chat-1").id("s1").validate().unwrap();
/// let json = serde_json::to_value(&r).unwrap();
/// assert_eq!(json["value"], 1.0);
/// assert_eq!(json["dataType"], "BOOLEAN");
/// assert_eq!(json["sessionId"], "chat-1");
/// assert!(json.get("traceId").is_none());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreRecord {
    id: String,
    trace_id: Option<TraceId>,
    observation_id: Option<ObservationId>,
    session_id: Option<String>,
    dataset_run_id: Option<String>,
    name: String,
    value: ScoreValue,
    comment: Option<String>,
    environment: Option<String>,
    config_id: Option<String>,
    timestamp: String,
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ScoreRecord {
    /// The score's id.
    ///
    /// ```
    /// let r = langfuse_tracing_core::score::Score::new("q", 1).session_id("s").id("x").validate().unwrap();
    /// assert_eq!(r.id(), "x");
    /// ```
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The trace it scores, if any (sampling is decided from it).
    ///
    /// ```
    /// let r = langfuse_tracing_core::score::Score::new("q", 1).session_id("s").validate().unwrap();
    /// assert!(r.trace_id().is_none());
    /// ```
    pub fn trace_id(&self) -> Option<TraceId> {
        self.trace_id
    }

    /// The observation it scores, if any.
    ///
    /// ```
    /// let r = langfuse_tracing_core::score::Score::new("q", 1).session_id("s").validate().unwrap();
    /// assert!(r.observation_id().is_none());
    /// ```
    pub fn observation_id(&self) -> Option<ObservationId> {
        self.observation_id
    }

    /// The name.
    ///
    /// ```
    /// let r = langfuse_tracing_core::score::Score::new("q", 1).session_id("s").validate().unwrap();
    /// assert_eq!(r.name(), "q");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value.
    ///
    /// ```
    /// let r = langfuse_tracing_core::score::Score::new("q", 1).session_id("s").validate().unwrap();
    /// assert_eq!(r.value(), &langfuse_tracing_core::score::ScoreValue::Numeric(1.0));
    /// ```
    pub fn value(&self) -> &ScoreValue {
        &self.value
    }

    /// The environment, if one was given or filled in.
    ///
    /// ```
    /// let mut r = langfuse_tracing_core::score::Score::new("q", 1).session_id("s").validate().unwrap();
    /// r.set_default_environment(Some("production"));
    /// assert_eq!(r.environment(), Some("production"));
    /// ```
    pub fn environment(&self) -> Option<&str> {
        self.environment.as_deref()
    }

    /// Fills the environment when the score has none (the layer's environment).
    ///
    /// ```
    /// let mut r = langfuse_tracing_core::score::Score::new("q", 1).session_id("s").environment("dev").validate().unwrap();
    /// r.set_default_environment(Some("production"));
    /// assert_eq!(r.environment(), Some("dev"));
    /// ```
    pub fn set_default_environment(&mut self, env: Option<&str>) {
        if self.environment.is_none() {
            self.environment = env.map(str::to_owned);
        }
    }

    /// One line for the console: `name = value (target) id=...`.
    ///
    /// ```
    /// let r = langfuse_tracing_core::score::Score::new("q", 0.5).session_id("s").id("i").validate().unwrap();
    /// assert_eq!(r.summary(), "q = 0.5 NUMERIC (session s) id=i");
    /// ```
    pub fn summary(&self) -> String {
        let value = match &self.value {
            ScoreValue::Numeric(v) => v.to_string(),
            ScoreValue::Boolean(b) => b.to_string(),
            ScoreValue::Categorical(s) | ScoreValue::Text(s) | ScoreValue::Correction(s) => {
                format!("{s:?}")
            }
        };
        let target = match (&self.trace_id, &self.observation_id) {
            (Some(t), Some(o)) => format!("trace {t}, observation {o}"),
            (Some(t), None) => format!("trace {t}"),
            _ => match (&self.session_id, &self.dataset_run_id) {
                (Some(s), _) => format!("session {s}"),
                (_, Some(d)) => format!("dataset run {d}"),
                _ => String::new(),
            },
        };
        let mut out = format!(
            "{} = {value} {} ({target}) id={}",
            self.name,
            self.value.data_type(),
            self.id
        );
        if let Some(c) = &self.comment {
            out.push_str(&format!(" comment={c:?}"));
        }
        out
    }
}

impl Serialize for ScoreRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut m = serializer.serialize_map(None)?;
        m.serialize_entry("id", &self.id)?;
        if let Some(t) = &self.trace_id {
            m.serialize_entry("traceId", &t.to_string())?;
        }
        if let Some(s) = &self.session_id {
            m.serialize_entry("sessionId", s)?;
        }
        if let Some(o) = &self.observation_id {
            m.serialize_entry("observationId", &o.to_string())?;
        }
        if let Some(d) = &self.dataset_run_id {
            m.serialize_entry("datasetRunId", d)?;
        }
        m.serialize_entry("name", &self.name)?;
        match &self.value {
            ScoreValue::Numeric(v) => m.serialize_entry("value", v)?,
            ScoreValue::Boolean(b) => m.serialize_entry("value", &if *b { 1.0 } else { 0.0 })?,
            ScoreValue::Categorical(s) | ScoreValue::Text(s) | ScoreValue::Correction(s) => {
                m.serialize_entry("value", s)?
            }
        }
        if let Some(c) = &self.comment {
            m.serialize_entry("comment", c)?;
        }
        if let Some(e) = &self.environment {
            m.serialize_entry("environment", e)?;
        }
        m.serialize_entry("dataType", self.value.data_type().as_str())?;
        if let Some(c) = &self.config_id {
            m.serialize_entry("configId", c)?;
        }
        m.serialize_entry("timestamp", &self.timestamp)?;
        if let Some(md) = &self.metadata {
            m.serialize_entry("metadata", md)?;
        }
        m.end()
    }
}

/// Where validated scores go: implemented by the Langfuse layer, which batches and
/// sends them (or prints them on the console without credentials).
#[doc(hidden)]
pub trait ScoreSink: Send + Sync + 'static {
    /// Queues one score (or decides not to send it: sampled out).
    fn submit(&self, score: ScoreRecord) -> Result<(), ScoreError>;
}

/// What a Langfuse layer answers to `downcast_raw(TypeId::of::<ScoreHook>())`: its sink.
#[doc(hidden)]
#[derive(Clone)]
pub struct ScoreHook(pub Arc<dyn ScoreSink>);

impl fmt::Debug for ScoreHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScoreHook")
    }
}

/// The sink of the most recently built layer: used when the current subscriber has no
/// Langfuse layer (a thread without the subscriber, a layer used with `with_default`).
static DEFAULT_SINK: RwLock<Option<Weak<dyn ScoreSink>>> = RwLock::new(None);

/// Called by a layer when it is built.
#[doc(hidden)]
pub fn register_default_sink(sink: &Arc<dyn ScoreSink>) {
    let mut slot = match DEFAULT_SINK.write() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
    };
    *slot = Some(Arc::downgrade(sink));
}

fn sink_of(dispatch: &tracing::Dispatch) -> Option<Arc<dyn ScoreSink>> {
    dispatch.downcast_ref::<ScoreHook>().map(|h| h.0.clone())
}

fn current_sink() -> Option<Arc<dyn ScoreSink>> {
    tracing::dispatcher::get_default(sink_of).or_else(|| {
        let slot = match DEFAULT_SINK.read() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        slot.as_ref().and_then(Weak::upgrade)
    })
}

fn submit_to(sink: Option<Arc<dyn ScoreSink>>, score: &Score) -> Result<String, ScoreError> {
    let record = score.validate()?;
    let sink = sink.ok_or(ScoreError::NoLayer)?;
    let id = record.id.clone();
    sink.submit(record)?;
    Ok(id)
}

/// Creates (or, with an existing id, updates) a score; returns its id. It is sent in
/// the background by the current Langfuse layer; `flush()` waits for it.
///
/// Usable at any time and from any process: only the ids are needed.
///
/// ```
/// use langfuse_tracing_core::score::{create_score, Score, ScoreError};
/// let trace_id = langfuse_tracing_core::create_trace_id(Some("request-7"));
/// let result = create_score(Score::new("user-feedback", 1).trace_id(trace_id));
/// assert_eq!(result.unwrap_err(), ScoreError::NoLayer); // no layer in this doc test
/// ```
pub fn create_score(score: Score) -> Result<String, ScoreError> {
    submit_to(current_sink(), &score)
}

/// Scores the current observation (its trace id and observation id are set).
///
/// ```
/// let err = langfuse_tracing_core::score::score_current_span(langfuse_tracing_core::score::Score::new("q", 1));
/// assert_eq!(err.unwrap_err(), langfuse_tracing_core::score::ScoreError::NoCurrentObservation);
/// ```
pub fn score_current_span(score: Score) -> Result<String, ScoreError> {
    let (Some(trace), Some(obs)) = (
        crate::ids::get_current_trace_id(),
        crate::ids::get_current_observation_id(),
    ) else {
        return Err(ScoreError::NoCurrentObservation);
    };
    let mut env = None;
    crate::__layer::hooks::with_current_state(|s| env = resolved_environment(s));
    create_score(
        score
            .with_default_environment(env)
            .trace_id(trace)
            .observation_id(obs),
    )
}

/// The environment an observation is exported with: its own, else the propagated one
/// (the layer's configured environment applies when neither is set). Scores made from
/// an observation carry it, as the reference's `span.score()` and
/// `score_current_span()` do.
fn resolved_environment(s: &crate::__layer::state::ObservationState) -> Option<String> {
    s.environment
        .clone()
        .or_else(|| s.propagated.as_ref().and_then(|p| p.environment.clone()))
}

/// Scores the trace of the current observation (only the trace id is set).
///
/// ```
/// let err = langfuse_tracing_core::score::score_current_trace(langfuse_tracing_core::score::Score::new("q", 1));
/// assert!(err.is_err());
/// ```
pub fn score_current_trace(score: Score) -> Result<String, ScoreError> {
    let Some(trace) = crate::ids::get_current_trace_id() else {
        return Err(ScoreError::NoCurrentObservation);
    };
    let mut env = None;
    crate::__layer::hooks::with_current_state(|s| env = resolved_environment(s));
    create_score(score.with_default_environment(env).trace_id(trace))
}

impl<K> Observation<K> {
    /// Scores this observation (sets the trace id and the observation id); returns
    /// the score's id. Works after the observation ended, as long as the handle lives.
    ///
    /// ```
    /// use langfuse_tracing_core::score::{Score, ScoreError};
    /// let obs = langfuse_tracing_core::observation::generation("llm").start();
    /// // No layer in this doc test: the handle has no ids.
    /// assert_eq!(obs.score(Score::new("relevance", 0.9)).unwrap_err(), ScoreError::NoObservation);
    /// ```
    pub fn score(&self, score: Score) -> Result<String, ScoreError> {
        let (Some(trace), Some(obs)) = (self.trace_id(), self.id()) else {
            return Err(ScoreError::NoObservation);
        };
        let score = score
            .with_default_environment(self.environment())
            .trace_id(trace)
            .observation_id(obs);
        submit_to(self.sink(), &score)
    }

    /// Scores this observation's trace (sets only the trace id).
    ///
    /// ```
    /// use langfuse_tracing_core::score::Score;
    /// let obs = langfuse_tracing_core::observation::span("request").start();
    /// assert!(obs.score_trace(Score::new("resolved", true)).is_err());
    /// ```
    pub fn score_trace(&self, score: Score) -> Result<String, ScoreError> {
        let Some(trace) = self.trace_id() else {
            return Err(ScoreError::NoObservation);
        };
        let score = score.with_default_environment(self.environment());
        submit_to(self.sink(), &score.trace_id(trace))
    }

    /// The environment this observation is exported with, if it has its own.
    fn environment(&self) -> Option<String> {
        let mut env = None;
        crate::__layer::hooks::with_span_state(self.span(), |s| env = resolved_environment(s));
        env
    }

    /// The sink of the subscriber that recorded this observation's span.
    fn sink(&self) -> Option<Arc<dyn ScoreSink>> {
        self.span()
            .with_subscriber(|(_, dispatch)| sink_of(dispatch))
            .flatten()
            .or_else(current_sink)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "6cec55478a541a9eb2b3bfd6c8ba5670";

    #[test]
    fn invalid_scores_are_errors_not_panics() {
        let bad = [
            (Score::new(" ", 1).trace_id(T), "name"),
            (Score::new("q", f64::NAN).trace_id(T), "nan"),
            (Score::new("q", f64::INFINITY).trace_id(T), "inf"),
            (
                Score::new("q", 1).trace_id("6CEC55478A541A9EB2B3BFD6C8BA5670"),
                "upper",
            ),
            (Score::new("q", 1).trace_id(T).observation_id("xyz"), "obs"),
            (
                Score::new("q", 1).observation_id("6cec55478a541a9e"),
                "no trace",
            ),
            (Score::new("q", 1), "no target"),
            (Score::new("q", 1).trace_id(T).session_id("s"), "two"),
            (
                Score::new("q", ScoreValue::Text(String::new())).trace_id(T),
                "text",
            ),
            (
                Score::new("q", ScoreValue::Text("x".repeat(501))).trace_id(T),
                "text",
            ),
            (Score::new("q", "").trace_id(T), "label"),
            (Score::new("q", 1).trace_id(T).id(""), "id"),
            (
                Score::new("q", 1).trace_id(T).environment("langfuse-x"),
                "env",
            ),
            (
                Score::new("q", 1)
                    .trace_id(T)
                    .metadata(serde_json::json!("x")),
                "md",
            ),
        ];
        for (score, what) in bad {
            assert!(score.validate().is_err(), "{what}");
        }
    }

    #[test]
    fn the_body_matches_the_reference_shape() {
        let r = Score::new("relevance", 0.95)
            .trace_id(T)
            .observation_id("35e9ec507f3846cf")
            .id("77ee5921f23e1596")
            .comment("good")
            .environment("production")
            .validate()
            .unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.starts_with(&format!(
            "{{\"id\":\"77ee5921f23e1596\",\"traceId\":\"{T}\",\"observationId\":\"35e9ec507f3846cf\",\"name\":\"relevance\",\"value\":0.95,\"comment\":\"good\",\"environment\":\"production\",\"dataType\":\"NUMERIC\",\"timestamp\":\""
        )), "{json}");
    }

    #[test]
    fn default_ids_are_16_hex() {
        let r = Score::new("q", 1).trace_id(T).validate().unwrap();
        assert_eq!(r.id().len(), 16);
        assert!(r.id().bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
