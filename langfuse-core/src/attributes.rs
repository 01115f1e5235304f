//! Every span attribute key the Langfuse server reads (wire reference §2, §2.3, §2.4).
//!
//! They double as `tracing` field names: a plain span can carry
//! `langfuse.observation.type = "generation"` and the layer maps it.
//!
//! ```
//! use langfuse_tracing_core::attributes as attr;
//!
//! // A span made elsewhere (here a plain `tracing` span) read back by its attribute keys,
//! // for example in a custom exporter or a test of your own instrumentation.
//! fn is_generation(attributes: &[(&str, &str)]) -> bool {
//!     attributes.contains(&(attr::OBSERVATION_TYPE, "generation"))
//! }
//! assert!(is_generation(&[(attr::OBSERVATION_TYPE, "generation"), (attr::OBSERVATION_MODEL, "gpt-4o")]));
//! ```

// Observation level (§2.2).
/// The observation type (`span`, `generation`, ...).
pub const OBSERVATION_TYPE: &str = "langfuse.observation.type";
/// `DEBUG` / `DEFAULT` / `WARNING` / `ERROR`.
pub const OBSERVATION_LEVEL: &str = "langfuse.observation.level";
/// Free text explaining the level (the error message).
pub const OBSERVATION_STATUS_MESSAGE: &str = "langfuse.observation.status_message";
/// The observation input (IO encoding).
pub const OBSERVATION_INPUT: &str = "langfuse.observation.input";
/// The observation output (IO encoding).
pub const OBSERVATION_OUTPUT: &str = "langfuse.observation.output";
/// Prefix of one metadata key: `langfuse.observation.metadata.<key>` (metadata encoding).
pub const OBSERVATION_METADATA: &str = "langfuse.observation.metadata";
/// Model name of a generation.
pub const OBSERVATION_MODEL: &str = "langfuse.observation.model.name";
/// Model parameters of a generation (IO encoding).
pub const OBSERVATION_MODEL_PARAMETERS: &str = "langfuse.observation.model.parameters";
/// Token usage of a generation (IO encoding).
pub const OBSERVATION_USAGE_DETAILS: &str = "langfuse.observation.usage_details";
/// Cost of a generation (IO encoding).
pub const OBSERVATION_COST_DETAILS: &str = "langfuse.observation.cost_details";
/// When the first token arrived (IO encoding of an ISO-8601 string).
pub const OBSERVATION_COMPLETION_START_TIME: &str = "langfuse.observation.completion_start_time";
/// Name of the Langfuse prompt used by a generation.
pub const OBSERVATION_PROMPT_NAME: &str = "langfuse.observation.prompt.name";
/// Version (an integer) of the Langfuse prompt used by a generation.
pub const OBSERVATION_PROMPT_VERSION: &str = "langfuse.observation.prompt.version";
/// The version of the observation, or of the trace when propagated (one key for both).
pub const VERSION: &str = "langfuse.version";
/// The environment (`production`, `staging`, ...).
pub const ENVIRONMENT: &str = "langfuse.environment";
/// The release (a git sha, a deploy id).
pub const RELEASE: &str = "langfuse.release";

// Trace level (§2.3).
/// The trace name.
pub const TRACE_NAME: &str = "langfuse.trace.name";
/// The user the trace belongs to.
pub const TRACE_USER_ID: &str = "user.id";
/// The session the trace belongs to.
pub const TRACE_SESSION_ID: &str = "session.id";
/// Trace tags, a string array.
pub const TRACE_TAGS: &str = "langfuse.trace.tags";
/// Prefix of one trace metadata key: `langfuse.trace.metadata.<key>`.
pub const TRACE_METADATA: &str = "langfuse.trace.metadata";
/// `true` makes the trace public.
pub const TRACE_PUBLIC: &str = "langfuse.trace.public";
/// Trace input (deprecated in the SDKs; IO encoding).
pub const TRACE_INPUT: &str = "langfuse.trace.input";
/// Trace output (deprecated in the SDKs; IO encoding).
pub const TRACE_OUTPUT: &str = "langfuse.trace.output";

// Internal (§2.4).
/// The span is the root of its Langfuse trace although it has a parent id (linked trace).
pub const AS_ROOT: &str = "langfuse.internal.as_root";
/// The first exported span of this process in its trace.
pub const IS_APP_ROOT: &str = "langfuse.internal.is_app_root";

// Experiments (§2.5): written only by experiment runners.
/// Experiment id.
pub const EXPERIMENT_ID: &str = "langfuse.experiment.id";
/// Experiment name.
pub const EXPERIMENT_NAME: &str = "langfuse.experiment.name";
/// Experiment description.
pub const EXPERIMENT_DESCRIPTION: &str = "langfuse.experiment.description";
/// Experiment metadata.
pub const EXPERIMENT_METADATA: &str = "langfuse.experiment.metadata";
/// Dataset of the experiment.
pub const EXPERIMENT_DATASET_ID: &str = "langfuse.experiment.dataset.id";
/// Dataset item of the experiment.
pub const EXPERIMENT_ITEM_ID: &str = "langfuse.experiment.item.id";
/// Version of the dataset item.
pub const EXPERIMENT_ITEM_VERSION: &str = "langfuse.experiment.item.version";
/// Expected output of the dataset item.
pub const EXPERIMENT_ITEM_EXPECTED_OUTPUT: &str = "langfuse.experiment.item.expected_output";
/// Metadata of the dataset item.
pub const EXPERIMENT_ITEM_METADATA: &str = "langfuse.experiment.item.metadata";
/// Root observation of the experiment item.
pub const EXPERIMENT_ITEM_ROOT_OBSERVATION_ID: &str =
    "langfuse.experiment.item.root_observation_id";

/// The instrumentation scope name every Langfuse SDK uses.
pub const SCOPE_NAME: &str = "langfuse-sdk";
/// The scope attribute holding the public key.
pub const SCOPE_PUBLIC_KEY: &str = "public_key";
