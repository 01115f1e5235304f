//! Configuration: `LANGFUSE_*` environment variables and a builder (wire reference §9).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tracing::Metadata;

/// The Langfuse Cloud endpoint used when no base URL is configured.
pub const DEFAULT_BASE_URL: &str = "https://cloud.langfuse.com";
/// The OTLP traces path below the base URL.
pub const DEFAULT_EXPORT_PATH: &str = "/api/public/otel/v1/traces";
/// CI variables read, in order, when no release is configured.
pub const RELEASE_FALLBACK_VARS: [&str; 10] = [
    "RENDER_GIT_COMMIT",
    "CI_COMMIT_SHA",
    "CIRCLE_SHA1",
    "SOURCE_VERSION",
    "TRAVIS_COMMIT",
    "GIT_COMMIT",
    "GITHUB_SHA",
    "BITBUCKET_COMMIT",
    "BUILD_SOURCEVERSION",
    "DRONE_COMMIT_SHA",
];

/// How request bodies are compressed.
///
/// ```
/// use langfuse_subscriber::Compression;
/// assert_eq!("GZIP".parse::<Compression>(), Ok(Compression::Gzip));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// gzip (the default).
    #[default]
    Gzip,
    /// No compression.
    None,
}

impl std::str::FromStr for Compression {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "gzip" => Ok(Compression::Gzip),
            "none" => Ok(Compression::None),
            _ => Err(ConfigError::invalid(
                "compression",
                s,
                "expected `gzip` or `none`",
            )),
        }
    }
}

/// Decides which spans *without* Langfuse fields become observations.
///
/// ```
/// use langfuse_subscriber::SpanFilter;
/// let keep_my_crate = SpanFilter::new(|meta| meta.target().starts_with("my_crate"));
/// # let _ = keep_my_crate;
/// ```
#[derive(Clone)]
pub struct SpanFilter(pub(crate) Arc<dyn Fn(&Metadata<'_>) -> bool + Send + Sync>);

impl SpanFilter {
    /// Wraps a predicate over the span's static metadata (name, target, fields).
    ///
    /// ```
    /// let all = langfuse_subscriber::SpanFilter::new(|_| true);
    /// # let _ = all;
    /// ```
    pub fn new(f: impl Fn(&Metadata<'_>) -> bool + Send + Sync + 'static) -> Self {
        SpanFilter(Arc::new(f))
    }
}

impl fmt::Debug for SpanFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SpanFilter(..)")
    }
}

/// An invalid setting. It names the setting and the reason, never a secret value.
///
/// ```
/// let err = langfuse_subscriber::LangfuseConfig::builder().sample_rate(2.0).build().unwrap_err();
/// assert!(err.to_string().contains("sample_rate"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    setting: &'static str,
    message: String,
}

impl ConfigError {
    pub(crate) fn invalid(setting: &'static str, value: &str, why: &str) -> Self {
        let shown: String = value.chars().take(80).collect();
        ConfigError {
            setting,
            message: format!("invalid {setting} {shown:?}: {why}"),
        }
    }

    pub(crate) fn other(setting: &'static str, message: impl Into<String>) -> Self {
        ConfigError {
            setting,
            message: message.into(),
        }
    }

    /// The name of the setting that is wrong (`sample_rate`, `base_url`, ...).
    ///
    /// ```
    /// let err = langfuse_subscriber::LangfuseConfig::builder().flush_at(0).build().unwrap_err();
    /// assert_eq!(err.setting(), "flush_at");
    /// ```
    pub fn setting(&self) -> &'static str {
        self.setting
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A validated configuration. Build it with [`LangfuseConfig::builder`] or read it with
/// [`LangfuseConfig::from_env`]. Its `Debug` output never shows the secret key.
///
/// ```
/// use langfuse_subscriber::LangfuseConfig;
/// let config = LangfuseConfig::builder()
///     .public_key("pk-lf-1")
///     .secret_key("sk-lf-secret")
///     .base_url("http://127.0.0.1:3000/")
///     .build()
///     .unwrap();
/// assert_eq!(config.endpoint(), "http://127.0.0.1:3000/api/public/otel/v1/traces");
/// assert!(!format!("{config:?}").contains("sk-lf-secret"));
/// ```
#[derive(Clone)]
pub struct LangfuseConfig {
    pub(crate) public_key: Option<String>,
    pub(crate) secret_key: Option<String>,
    pub(crate) base_url: String,
    pub(crate) export_path: String,
    pub(crate) enabled: bool,
    pub(crate) environment: Option<String>,
    pub(crate) release: Option<String>,
    pub(crate) sample_rate: f64,
    pub(crate) flush_at: usize,
    pub(crate) flush_interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) compression: Compression,
    pub(crate) max_request_bytes: usize,
    pub(crate) max_queue_bytes: usize,
    pub(crate) queue_full_wait: Duration,
    pub(crate) debug: bool,
    pub(crate) console: Option<bool>,
    pub(crate) span_filter: Option<SpanFilter>,
    pub(crate) additional_headers: Vec<(String, String)>,
    pub(crate) warnings: Vec<String>,
}

impl fmt::Debug for LangfuseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LangfuseConfig")
            .field("public_key", &self.public_key)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("base_url", &self.base_url)
            .field("export_path", &self.export_path)
            .field("enabled", &self.enabled)
            .field("environment", &self.environment)
            .field("release", &self.release)
            .field("sample_rate", &self.sample_rate)
            .field("flush_at", &self.flush_at)
            .field("flush_interval", &self.flush_interval)
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .field("max_request_bytes", &self.max_request_bytes)
            .field("max_queue_bytes", &self.max_queue_bytes)
            .field("queue_full_wait", &self.queue_full_wait)
            .field("debug", &self.debug)
            .field("console", &self.console)
            .field("span_filter", &self.span_filter)
            .field(
                "additional_headers",
                &self
                    .additional_headers
                    .iter()
                    .map(|(k, _)| k)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl LangfuseConfig {
    /// A builder with every setting at its default (nothing read from the environment).
    ///
    /// ```
    /// let c = langfuse_subscriber::LangfuseConfig::builder().build().unwrap();
    /// assert!(!c.has_credentials());
    /// ```
    pub fn builder() -> LangfuseConfigBuilder {
        LangfuseConfigBuilder::default()
    }

    /// Reads every `LANGFUSE_*` variable. An invalid value is reported once on stderr
    /// (and in [`LangfuseConfig::warnings`]) and its default is used instead, except
    /// the base URL: an invalid `LANGFUSE_BASE_URL` / `LANGFUSE_HOST` is an error, never
    /// a fallback to another host (that would send the keys and data there).
    ///
    /// ```
    /// let c = langfuse_subscriber::LangfuseConfig::from_env().expect("valid LANGFUSE_* settings");
    /// let _ = c.endpoint();
    /// ```
    pub fn from_env() -> Result<LangfuseConfig, ConfigError> {
        let (builder, warnings) = LangfuseConfigBuilder::from_env_vars(|k| std::env::var(k).ok());
        for w in &warnings {
            eprintln!("langfuse: {w}");
        }
        let mut config = builder.build()?;
        config.warnings.extend(warnings);
        Ok(config)
    }

    /// The full OTLP endpoint, `{base_url}/api/public/otel/v1/traces` (one slash).
    ///
    /// ```
    /// let c = langfuse_subscriber::LangfuseConfig::builder().base_url("https://x.io").build().unwrap();
    /// assert_eq!(c.endpoint(), "https://x.io/api/public/otel/v1/traces");
    /// ```
    pub fn endpoint(&self) -> String {
        format!(
            "{}/{}",
            self.base_url.trim_end_matches('/'),
            self.export_path.trim_start_matches('/')
        )
    }

    /// True when both keys are set, i.e. spans go to Langfuse over the network.
    ///
    /// ```
    /// let c = langfuse_subscriber::LangfuseConfig::builder().public_key("pk").secret_key("sk").build().unwrap();
    /// assert!(c.has_credentials());
    /// ```
    pub fn has_credentials(&self) -> bool {
        self.public_key.is_some() && self.secret_key.is_some()
    }

    /// Whether finished traces are printed to stderr: explicitly set, or by default
    /// only when there are no credentials.
    ///
    /// ```
    /// let c = langfuse_subscriber::LangfuseConfig::builder().build().unwrap();
    /// assert!(c.console_enabled());
    /// ```
    pub fn console_enabled(&self) -> bool {
        self.console.unwrap_or(!self.has_credentials())
    }

    /// The public key, if any.
    ///
    /// ```
    /// let c = langfuse_subscriber::LangfuseConfig::builder().public_key("pk-1").build().unwrap();
    /// assert_eq!(c.public_key(), Some("pk-1"));
    /// ```
    pub fn public_key(&self) -> Option<&str> {
        self.public_key.as_deref()
    }

    /// The environment written on every observation, if any.
    ///
    /// ```
    /// let c = langfuse_subscriber::LangfuseConfig::builder().environment("staging").build().unwrap();
    /// assert_eq!(c.environment(), Some("staging"));
    /// ```
    pub fn environment(&self) -> Option<&str> {
        self.environment.as_deref()
    }

    /// The release written on every observation, if any.
    ///
    /// ```
    /// let c = langfuse_subscriber::LangfuseConfig::builder().release("abc123").build().unwrap();
    /// assert_eq!(c.release(), Some("abc123"));
    /// ```
    pub fn release(&self) -> Option<&str> {
        self.release.as_deref()
    }

    /// The trace sampling rate in `[0, 1]`.
    ///
    /// ```
    /// assert_eq!(langfuse_subscriber::LangfuseConfig::builder().build().unwrap().sample_rate(), 1.0);
    /// ```
    pub fn sample_rate(&self) -> f64 {
        self.sample_rate
    }

    /// Whether tracing is enabled at all.
    ///
    /// ```
    /// assert!(langfuse_subscriber::LangfuseConfig::builder().build().unwrap().tracing_enabled());
    /// ```
    pub fn tracing_enabled(&self) -> bool {
        self.enabled
    }

    /// Spans per export request.
    ///
    /// ```
    /// assert_eq!(langfuse_subscriber::LangfuseConfig::builder().build().unwrap().flush_at(), 512);
    /// ```
    pub fn flush_at(&self) -> usize {
        self.flush_at
    }

    /// The longest a finished span waits before it is sent.
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(langfuse_subscriber::LangfuseConfig::builder().build().unwrap().flush_interval(), Duration::from_secs(5));
    /// ```
    pub fn flush_interval(&self) -> Duration {
        self.flush_interval
    }

    /// The HTTP timeout, also the bound of `flush` and `shutdown`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(langfuse_subscriber::LangfuseConfig::builder().build().unwrap().timeout(), Duration::from_secs(5));
    /// ```
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Request compression.
    ///
    /// ```
    /// use langfuse_subscriber::{Compression, LangfuseConfig};
    /// assert_eq!(LangfuseConfig::builder().build().unwrap().compression(), Compression::Gzip);
    /// ```
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The most bytes of finished observations held in memory while waiting for export;
    /// beyond it new observations are dropped and counted.
    ///
    /// ```
    /// assert_eq!(langfuse_subscriber::LangfuseConfig::builder().build().unwrap().max_queue_bytes(), 128 << 20);
    /// ```
    pub fn max_queue_bytes(&self) -> usize {
        self.max_queue_bytes
    }

    /// How long a thread waits for room in a full export queue before dropping its
    /// observation (zero by default: it drops at once).
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(langfuse_subscriber::LangfuseConfig::builder().build().unwrap().queue_full_wait(), Duration::ZERO);
    /// ```
    pub fn queue_full_wait(&self) -> Duration {
        self.queue_full_wait
    }

    /// Whether `LANGFUSE_DEBUG` diagnostics are on.
    ///
    /// ```
    /// assert!(!langfuse_subscriber::LangfuseConfig::builder().build().unwrap().debug());
    /// ```
    pub fn debug(&self) -> bool {
        self.debug
    }

    /// What was wrong with the environment variables (also printed once to stderr).
    ///
    /// ```
    /// assert!(langfuse_subscriber::LangfuseConfig::builder().build().unwrap().warnings().is_empty());
    /// ```
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

/// Builds a [`LangfuseConfig`]; `build()` validates every value.
///
/// ```
/// use std::time::Duration;
/// use langfuse_subscriber::{Compression, LangfuseConfig};
/// let config = LangfuseConfig::builder()
///     .public_key("pk-lf-1")
///     .secret_key("sk-lf-1")
///     .environment("production")
///     .release("v1.2.3")
///     .sample_rate(0.5)
///     .flush_at(100)
///     .flush_interval(Duration::from_secs(1))
///     .timeout(Duration::from_secs(3))
///     .compression(Compression::None)
///     .build()
///     .unwrap();
/// assert_eq!(config.flush_at(), 100);
/// ```
#[derive(Clone, Default)]
pub struct LangfuseConfigBuilder {
    public_key: Option<String>,
    secret_key: Option<String>,
    base_url: Option<String>,
    /// The variable `base_url` was read from, so that an invalid value is reported
    /// under the name the user set.
    base_url_variable: Option<&'static str>,
    export_path: Option<String>,
    enabled: Option<bool>,
    environment: Option<String>,
    release: Option<String>,
    sample_rate: Option<f64>,
    flush_at: Option<usize>,
    flush_interval: Option<Duration>,
    timeout: Option<Duration>,
    compression: Option<Compression>,
    max_request_bytes: Option<usize>,
    max_queue_bytes: Option<usize>,
    queue_full_wait: Option<Duration>,
    debug: Option<bool>,
    console: Option<bool>,
    span_filter: Option<SpanFilter>,
    additional_headers: Vec<(String, String)>,
}

impl fmt::Debug for LangfuseConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LangfuseConfigBuilder")
            .field("public_key", &self.public_key)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("base_url", &self.base_url.as_deref().map(redact_user_info))
            .finish_non_exhaustive()
    }
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.$name = Some(value);
            self
        }
    };
}

impl LangfuseConfigBuilder {
    /// The project's public key (`pk-lf-...`).
    ///
    /// ```
    /// let b = langfuse_subscriber::LangfuseConfig::builder().public_key("pk-lf-1");
    /// # let _ = b;
    /// ```
    pub fn public_key(mut self, key: impl Into<String>) -> Self {
        self.public_key = Some(key.into());
        self
    }

    /// The project's secret key (`sk-lf-...`). Never printed.
    ///
    /// ```
    /// let b = langfuse_subscriber::LangfuseConfig::builder().secret_key("sk-lf-1");
    /// assert!(!format!("{b:?}").contains("sk-lf-1"));
    /// ```
    pub fn secret_key(mut self, key: impl Into<String>) -> Self {
        self.secret_key = Some(key.into());
        self
    }

    /// The Langfuse base URL (`https://cloud.langfuse.com`, `http://localhost:3000`);
    /// a trailing slash makes no difference.
    ///
    /// ```
    /// let b = langfuse_subscriber::LangfuseConfig::builder().base_url("http://localhost:3000/");
    /// # let _ = b;
    /// ```
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self.base_url_variable = None;
        self
    }

    /// The OTLP path below the base URL (default `/api/public/otel/v1/traces`).
    ///
    /// ```
    /// let b = langfuse_subscriber::LangfuseConfig::builder().export_path("/custom/v1/traces");
    /// # let _ = b;
    /// ```
    pub fn export_path(mut self, path: impl Into<String>) -> Self {
        self.export_path = Some(path.into());
        self
    }

    /// The environment (`production`, `staging`): lowercase letters, digits, `_` and `-`,
    /// at most 40 characters, not starting with `langfuse`.
    ///
    /// ```
    /// assert!(langfuse_subscriber::LangfuseConfig::builder().environment("Prod").build().is_err());
    /// ```
    pub fn environment(mut self, env: impl Into<String>) -> Self {
        self.environment = Some(env.into());
        self
    }

    /// The release (a version or a git sha).
    ///
    /// ```
    /// let b = langfuse_subscriber::LangfuseConfig::builder().release("v1");
    /// # let _ = b;
    /// ```
    pub fn release(mut self, release: impl Into<String>) -> Self {
        self.release = Some(release.into());
        self
    }

    /// Adds an HTTP header to every export request (after the Langfuse ones).
    ///
    /// ```
    /// let b = langfuse_subscriber::LangfuseConfig::builder().header("x-team", "search");
    /// # let _ = b;
    /// ```
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.additional_headers.push((name.into(), value.into()));
        self
    }

    /// Which spans without Langfuse fields are exported (default: those with `gen_ai.*`
    /// fields). Spans that carry Langfuse fields are always exported.
    ///
    /// ```
    /// use langfuse_subscriber::{LangfuseConfig, SpanFilter};
    /// let b = LangfuseConfig::builder().span_filter(SpanFilter::new(|m| m.target().starts_with("my_app")));
    /// # let _ = b;
    /// ```
    pub fn span_filter(mut self, filter: SpanFilter) -> Self {
        self.span_filter = Some(filter);
        self
    }

    setter!(
        /// `false` turns tracing off: no observation is recorded or sent.
        ///
        /// ```
        /// let c = langfuse_subscriber::LangfuseConfig::builder().tracing_enabled(false).build().unwrap();
        /// assert!(!c.tracing_enabled());
        /// ```
        enabled: bool
    );

    /// Same as [`LangfuseConfigBuilder::enabled`], with the Langfuse docs' name.
    ///
    /// ```
    /// let b = langfuse_subscriber::LangfuseConfig::builder().tracing_enabled(true);
    /// # let _ = b;
    /// ```
    pub fn tracing_enabled(self, enabled: bool) -> Self {
        self.enabled(enabled)
    }

    setter!(
        /// The fraction of traces kept, in `[0, 1]` (decided from the trace id, so a
        /// trace is kept or dropped whole).
        ///
        /// ```
        /// assert!(langfuse_subscriber::LangfuseConfig::builder().sample_rate(-0.1).build().is_err());
        /// ```
        sample_rate: f64
    );
    setter!(
        /// Spans per export request (at least 1).
        ///
        /// ```
        /// assert!(langfuse_subscriber::LangfuseConfig::builder().flush_at(0).build().is_err());
        /// ```
        flush_at: usize
    );
    setter!(
        /// The longest a finished span waits before it is sent (more than zero).
        ///
        /// ```
        /// # use std::time::Duration;
        /// assert!(langfuse_subscriber::LangfuseConfig::builder().flush_interval(Duration::ZERO).build().is_err());
        /// ```
        flush_interval: Duration
    );
    setter!(
        /// The HTTP request timeout, also the bound of `flush()` and `shutdown()`.
        ///
        /// ```
        /// # use std::time::Duration;
        /// assert!(langfuse_subscriber::LangfuseConfig::builder().timeout(Duration::ZERO).build().is_err());
        /// ```
        timeout: Duration
    );
    setter!(
        /// Request compression (gzip by default).
        ///
        /// ```
        /// let b = langfuse_subscriber::LangfuseConfig::builder().compression(langfuse_subscriber::Compression::None);
        /// # let _ = b;
        /// ```
        compression: langfuse_subscriber_compression::Compression
    );
    setter!(
        /// The largest uncompressed request body; a larger batch is split.
        ///
        /// ```
        /// let b = langfuse_subscriber::LangfuseConfig::builder().max_request_bytes(1 << 20);
        /// # let _ = b;
        /// ```
        max_request_bytes: usize
    );
    setter!(
        /// The memory bound of the export queue in bytes (default 128 MiB).
        ///
        /// ```
        /// let b = langfuse_subscriber::LangfuseConfig::builder().max_queue_bytes(16 << 20);
        /// # let _ = b;
        /// ```
        max_queue_bytes: usize
    );
    setter!(
        /// How long a thread that closes an observation while the export queue is full
        /// ([`max_queue_bytes`](Self::max_queue_bytes)) waits for room before the
        /// observation is dropped and counted. Default zero: drop at once, so a slow or
        /// unreachable collector never stalls the application. Set it when losing an
        /// observation is worse than a paused thread (batch jobs, evaluation runs);
        /// `Duration::MAX` waits as long as the export thread runs. The export thread
        /// itself never waits (it would wait for itself), and neither does any thread
        /// once the layer is shut down. A Tokio worker that waits blocks its other
        /// tasks for that long.
        ///
        /// ```
        /// # use std::time::Duration;
        /// let c = langfuse_subscriber::LangfuseConfig::builder()
        ///     .queue_full_wait(Duration::from_secs(2))
        ///     .build()
        ///     .unwrap();
        /// assert_eq!(c.queue_full_wait(), Duration::from_secs(2));
        /// ```
        queue_full_wait: Duration
    );
    setter!(
        /// Diagnostics on stderr: every export and its result.
        ///
        /// ```
        /// let b = langfuse_subscriber::LangfuseConfig::builder().debug(true);
        /// # let _ = b;
        /// ```
        debug: bool
    );
    setter!(
        /// Print each finished trace to stderr as a tree. Default: on exactly when no
        /// credentials are set.
        ///
        /// ```
        /// let c = langfuse_subscriber::LangfuseConfig::builder().console(false).build().unwrap();
        /// assert!(!c.console_enabled());
        /// ```
        console: bool
    );

    /// Validates and builds.
    ///
    /// ```
    /// let err = langfuse_subscriber::LangfuseConfig::builder().base_url("not a url").build().unwrap_err();
    /// assert_eq!(err.setting(), "base_url");
    /// ```
    pub fn build(self) -> Result<LangfuseConfig, ConfigError> {
        let base_url = self.base_url.unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        validate_base_url(&base_url, self.base_url_variable.unwrap_or("base_url"))?;
        let mut warnings = Vec::new();
        let export_path = self
            .export_path
            .unwrap_or_else(|| DEFAULT_EXPORT_PATH.to_owned());
        if let Some(env) = &self.environment {
            validate_environment(env)?;
        }
        let sample_rate = self.sample_rate.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&sample_rate) {
            return Err(ConfigError::invalid(
                "sample_rate",
                &sample_rate.to_string(),
                "expected a number in [0, 1]",
            ));
        }
        let flush_at = self.flush_at.unwrap_or(512);
        if flush_at == 0 {
            return Err(ConfigError::invalid("flush_at", "0", "expected at least 1"));
        }
        let flush_interval = self.flush_interval.unwrap_or(Duration::from_secs(5));
        if flush_interval.is_zero() {
            return Err(ConfigError::invalid(
                "flush_interval",
                "0",
                "expected more than zero",
            ));
        }
        let flush_interval = clamp(
            "flush_interval",
            flush_interval,
            FLUSH_INTERVAL_BOUNDS,
            &mut warnings,
        );
        let timeout = self.timeout.unwrap_or(Duration::from_secs(5));
        if timeout.is_zero() {
            return Err(ConfigError::invalid(
                "timeout",
                "0",
                "expected more than zero",
            ));
        }
        let timeout = clamp("timeout", timeout, TIMEOUT_BOUNDS, &mut warnings);
        let max_request_bytes = self.max_request_bytes.unwrap_or(64 << 20);
        if max_request_bytes < 1024 {
            return Err(ConfigError::invalid(
                "max_request_bytes",
                &max_request_bytes.to_string(),
                "expected at least 1024",
            ));
        }
        let max_queue_bytes = self.max_queue_bytes.unwrap_or(128 << 20);
        if max_queue_bytes < 4096 {
            return Err(ConfigError::invalid(
                "max_queue_bytes",
                &max_queue_bytes.to_string(),
                "expected at least 4096",
            ));
        }
        for (name, value) in &self.additional_headers {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(ConfigError::invalid(
                    "header",
                    name,
                    "not a valid header name",
                ));
            }
            if http::HeaderValue::from_str(value).is_err() {
                return Err(ConfigError::other(
                    "header",
                    format!("invalid header value for {name:?}"),
                ));
            }
        }
        let non_empty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let public_key = non_empty(self.public_key);
        let secret_key = non_empty(self.secret_key);
        for (what, key) in [("public_key", &public_key), ("secret_key", &secret_key)] {
            if key
                .as_deref()
                .is_some_and(|k| http::HeaderValue::from_str(k).is_err())
            {
                return Err(ConfigError::other(
                    what,
                    format!("invalid {what}: it contains characters not allowed in HTTP headers"),
                ));
            }
        }
        Ok(LangfuseConfig {
            public_key,
            secret_key,
            base_url,
            export_path,
            enabled: self.enabled.unwrap_or(true),
            environment: self.environment,
            release: non_empty(self.release),
            sample_rate,
            flush_at,
            flush_interval,
            timeout,
            compression: self.compression.unwrap_or_default(),
            max_request_bytes,
            max_queue_bytes,
            queue_full_wait: self.queue_full_wait.unwrap_or(Duration::ZERO),
            debug: self.debug.unwrap_or(false),
            console: self.console,
            span_filter: self.span_filter,
            additional_headers: self.additional_headers,
            warnings,
        })
    }

    /// Overrides this builder's values with every value set in `other`.
    pub(crate) fn merge(mut self, other: Self) -> Self {
        macro_rules! take {
            ($($f:ident),*) => {$( if other.$f.is_some() { self.$f = other.$f; } )*};
        }
        if other.base_url.is_some() {
            self.base_url_variable = other.base_url_variable;
        }
        take!(
            public_key,
            secret_key,
            base_url,
            export_path,
            enabled,
            environment,
            release,
            sample_rate,
            flush_at,
            flush_interval,
            timeout,
            compression,
            max_request_bytes,
            max_queue_bytes,
            queue_full_wait,
            debug,
            console,
            span_filter
        );
        self.additional_headers.extend(other.additional_headers);
        self
    }

    /// Fills a builder from variables; invalid values become warnings and are skipped.
    pub(crate) fn from_env_vars(var: impl Fn(&str) -> Option<String>) -> (Self, Vec<String>) {
        let mut b = LangfuseConfigBuilder::default();
        let mut warnings = Vec::new();
        let var = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let mut warn = |name: &str, why: &str| {
            warnings.push(format!("ignoring {name}: {why}; using the default"));
        };
        b.public_key = var("LANGFUSE_PUBLIC_KEY");
        b.secret_key = var("LANGFUSE_SECRET_KEY");
        // An invalid URL is kept, so that `build()` fails naming it: falling back to
        // the default host would send a self-hosted project's keys and data elsewhere.
        for name in ["LANGFUSE_BASE_URL", "LANGFUSE_HOST"] {
            if let Some(url) = var(name) {
                b.base_url = Some(url);
                b.base_url_variable = Some(name);
                break;
            }
        }
        b.export_path = var("LANGFUSE_OTEL_TRACES_EXPORT_PATH");
        if let Some(v) = var("LANGFUSE_TRACING_ENABLED") {
            // Like the other SDKs, only "false" disables.
            b.enabled = Some(!v.trim().eq_ignore_ascii_case("false"));
        }
        if let Some(env) = var("LANGFUSE_TRACING_ENVIRONMENT") {
            match validate_environment(&env) {
                Ok(()) => b.environment = Some(env),
                Err(e) => warn("LANGFUSE_TRACING_ENVIRONMENT", &e.to_string()),
            }
        }
        b.release =
            var("LANGFUSE_RELEASE").or_else(|| RELEASE_FALLBACK_VARS.iter().find_map(|k| var(k)));
        if let Some(v) = var("LANGFUSE_SAMPLE_RATE") {
            match v.trim().parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => b.sample_rate = Some(r),
                _ => warn("LANGFUSE_SAMPLE_RATE", "expected a number in [0, 1]"),
            }
        }
        if let Some(v) = var("LANGFUSE_FLUSH_AT") {
            match v.trim().parse::<usize>() {
                Ok(n) if n > 0 => b.flush_at = Some(n),
                _ => warn("LANGFUSE_FLUSH_AT", "expected a positive integer"),
            }
        }
        if let Some(v) = var("LANGFUSE_FLUSH_INTERVAL") {
            match v.trim().parse::<f64>() {
                Ok(s) if s.is_finite() && s > 0.0 && s < 1e9 => {
                    b.flush_interval = Some(Duration::from_secs_f64(s))
                }
                _ => warn(
                    "LANGFUSE_FLUSH_INTERVAL",
                    "expected a positive number of seconds",
                ),
            }
        }
        if let Some(v) = var("LANGFUSE_TIMEOUT") {
            match v.trim().parse::<f64>() {
                Ok(s) if s.is_finite() && s > 0.0 && s < 1e9 => {
                    b.timeout = Some(Duration::from_secs_f64(s))
                }
                _ => warn("LANGFUSE_TIMEOUT", "expected a positive number of seconds"),
            }
        }
        for name in [
            "LANGFUSE_OTEL_COMPRESSION",
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
            "OTEL_EXPORTER_OTLP_COMPRESSION",
        ] {
            if let Some(v) = var(name) {
                match v.parse::<Compression>() {
                    Ok(c) => {
                        b.compression = Some(c);
                        break;
                    }
                    Err(_) => warn(name, "expected `gzip` or `none`"),
                }
            }
        }
        if let Some(v) = var("LANGFUSE_OTEL_MAX_BATCH_SIZE_BYTES") {
            match v.trim().parse::<usize>() {
                Ok(n) if n >= 1024 => b.max_request_bytes = Some(n),
                _ => warn(
                    "LANGFUSE_OTEL_MAX_BATCH_SIZE_BYTES",
                    "expected an integer of at least 1024",
                ),
            }
        }
        if let Some(v) = var("LANGFUSE_MAX_QUEUE_BYTES") {
            match v.trim().parse::<usize>() {
                Ok(n) if n >= 4096 => b.max_queue_bytes = Some(n),
                _ => warn(
                    "LANGFUSE_MAX_QUEUE_BYTES",
                    "expected an integer of at least 4096",
                ),
            }
        }
        if let Some(v) = var("LANGFUSE_QUEUE_FULL_WAIT_MS") {
            match v.trim().parse::<u64>() {
                Ok(ms) => b.queue_full_wait = Some(Duration::from_millis(ms)),
                _ => warn(
                    "LANGFUSE_QUEUE_FULL_WAIT_MS",
                    "expected a whole number of milliseconds",
                ),
            }
        }
        if let Some(v) = var("LANGFUSE_DEBUG") {
            b.debug = Some(v.trim().eq_ignore_ascii_case("true") || v.trim() == "1");
        }
        if let Some(v) = var("LANGFUSE_CONSOLE") {
            match parse_bool(&v) {
                Some(on) => b.console = Some(on),
                None => warn("LANGFUSE_CONSOLE", "expected true or false"),
            }
        }
        (b, warnings)
    }
}

/// `langfuse_subscriber_compression` keeps the setter macro's type path short.
mod langfuse_subscriber_compression {
    pub use super::Compression;
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Checks a base URL; `name` is what the user set (`base_url`, `LANGFUSE_BASE_URL`,
/// `LANGFUSE_HOST`), and the error names it with the value, its user info hidden.
fn validate_base_url(url: &str, name: &'static str) -> Result<(), ConfigError> {
    let fail = |why: &str| {
        ConfigError::other(
            "base_url",
            format!(
                "invalid {name} {:?}: {why}",
                redact_user_info(url).chars().take(120).collect::<String>()
            ),
        )
    };
    let trimmed = url.trim();
    let lower = trimmed.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(fail(
            "expected an http:// or https:// URL, such as https://cloud.langfuse.com or \
             http://localhost:3000",
        ));
    }
    let parsed =
        reqwest::Url::parse(trimmed).map_err(|e| fail(&format!("not a valid URL ({e})")))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(fail("the URL has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(fail(
            "credentials in the URL are not accepted; set public_key and secret_key \
             (LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY) instead",
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(fail("a base URL has no query or fragment"));
    }
    if parsed.scheme() == "https" && !cfg!(feature = "rustls") {
        return Err(fail(
            "this build has no TLS support: enable the `rustls` feature of \
             langfuse-subscriber (on by default), or use an http:// URL",
        ));
    }
    Ok(())
}

/// `url` with anything between the scheme and an `@` replaced, so that a password in
/// it is never shown.
fn redact_user_info(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after_scheme + i);
    match url[after_scheme..authority_end].rfind('@') {
        Some(at) => format!(
            "{}***@{}",
            &url[..after_scheme],
            &url[after_scheme + at + 1..]
        ),
        None => url.to_owned(),
    }
}

/// Sane bounds of the durations: a flush interval of a nanosecond would spin the
/// export thread on a core, a timeout of a microsecond would fail every export.
const FLUSH_INTERVAL_BOUNDS: (Duration, Duration) =
    (Duration::from_millis(10), Duration::from_secs(3600));
const TIMEOUT_BOUNDS: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(600));

/// `value` within `(min, max)`; a value outside gives one warning on stderr (and in
/// [`LangfuseConfig::warnings`]).
fn clamp(
    setting: &str,
    value: Duration,
    (min, max): (Duration, Duration),
    warnings: &mut Vec<String>,
) -> Duration {
    let clamped = value.clamp(min, max);
    if clamped != value {
        let w = format!("{setting} {value:?} is outside {min:?}..={max:?}; using {clamped:?}");
        eprintln!("langfuse: {w}");
        warnings.push(w);
    }
    clamped
}

/// The environment rule of the Langfuse SDKs: at most 40 characters of `[a-z0-9_-]`,
/// not starting with `langfuse`.
pub(crate) fn validate_environment(env: &str) -> Result<(), ConfigError> {
    let ok = !env.is_empty()
        && env.len() <= 40
        && !env.starts_with("langfuse")
        && env
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            "environment",
            env,
            "expected at most 40 characters of a-z, 0-9, `_`, `-`, not starting with `langfuse`",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> (LangfuseConfig, Vec<String>) {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (b, w) = LangfuseConfigBuilder::from_env_vars(|k| map.get(k).cloned());
        (b.build().expect("env builder validates"), w)
    }

    #[test]
    fn defaults_match_the_reference() {
        let (c, w) = from(&[]);
        assert!(w.is_empty());
        assert_eq!(
            c.endpoint(),
            "https://cloud.langfuse.com/api/public/otel/v1/traces"
        );
        assert_eq!(
            (c.flush_at, c.flush_interval, c.timeout),
            (512, Duration::from_secs(5), Duration::from_secs(5))
        );
        assert_eq!(c.compression, Compression::Gzip);
        assert_eq!(c.sample_rate, 1.0);
        assert!(c.enabled && !c.debug && c.console_enabled());
    }

    #[test]
    fn base_url_then_host_then_default_and_slashes_do_not_matter() {
        let (c, _) = from(&[
            ("LANGFUSE_HOST", "http://h:1"),
            ("LANGFUSE_BASE_URL", "http://b:2/"),
        ]);
        assert_eq!(c.endpoint(), "http://b:2/api/public/otel/v1/traces");
        let (c, _) = from(&[("LANGFUSE_HOST", "http://h:1/")]);
        assert_eq!(c.endpoint(), "http://h:1/api/public/otel/v1/traces");
        let (c, _) = from(&[
            ("LANGFUSE_BASE_URL", "http://b:2"),
            ("LANGFUSE_OTEL_TRACES_EXPORT_PATH", "/custom/v1/traces"),
        ]);
        assert_eq!(c.endpoint(), "http://b:2/custom/v1/traces");
    }

    #[test]
    fn only_false_disables_tracing() {
        assert!(!from(&[("LANGFUSE_TRACING_ENABLED", "FALSE")]).0.enabled);
        assert!(from(&[("LANGFUSE_TRACING_ENABLED", "0")]).0.enabled);
    }

    #[test]
    fn invalid_env_values_warn_once_each_and_keep_defaults() {
        let (c, w) = from(&[
            ("LANGFUSE_SAMPLE_RATE", "1.5"),
            ("LANGFUSE_FLUSH_AT", "-3"),
            ("LANGFUSE_FLUSH_INTERVAL", "soon"),
            ("LANGFUSE_TIMEOUT", "0"),
            ("LANGFUSE_OTEL_COMPRESSION", "brotli"),
            ("LANGFUSE_TRACING_ENVIRONMENT", "Production!"),
            ("LANGFUSE_QUEUE_FULL_WAIT_MS", "1.5s"),
        ]);
        assert_eq!(w.len(), 7, "{w:#?}");
        assert_eq!(c.queue_full_wait, Duration::ZERO);
        assert_eq!(c.sample_rate, 1.0);
        assert_eq!(c.flush_at, 512);
        assert_eq!(c.compression, Compression::Gzip);
        assert_eq!(c.environment, None);
        assert!(c.endpoint().starts_with(DEFAULT_BASE_URL));
    }

    #[test]
    fn valid_env_values_are_used() {
        let (c, w) = from(&[
            ("LANGFUSE_PUBLIC_KEY", "pk"),
            ("LANGFUSE_SECRET_KEY", "sk"),
            ("LANGFUSE_SAMPLE_RATE", "0.25"),
            ("LANGFUSE_FLUSH_AT", "10"),
            ("LANGFUSE_FLUSH_INTERVAL", "0.5"),
            ("LANGFUSE_TIMEOUT", "2"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
            ("LANGFUSE_TRACING_ENVIRONMENT", "staging-2"),
            ("LANGFUSE_DEBUG", "true"),
            ("LANGFUSE_QUEUE_FULL_WAIT_MS", "250"),
        ]);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.queue_full_wait, Duration::from_millis(250));
        assert!(c.has_credentials() && !c.console_enabled());
        assert_eq!(c.sample_rate, 0.25);
        assert_eq!(c.flush_at, 10);
        assert_eq!(c.flush_interval, Duration::from_millis(500));
        assert_eq!(c.timeout, Duration::from_secs(2));
        assert_eq!(c.compression, Compression::None);
        assert_eq!(c.environment.as_deref(), Some("staging-2"));
        assert!(c.debug);
    }

    #[test]
    fn release_falls_back_to_ci_variables_in_order() {
        let (c, _) = from(&[("GITHUB_SHA", "gh"), ("CI_COMMIT_SHA", "gl")]);
        assert_eq!(c.release.as_deref(), Some("gl"));
        let (c, _) = from(&[("GITHUB_SHA", "gh"), ("LANGFUSE_RELEASE", "r1")]);
        assert_eq!(c.release.as_deref(), Some("r1"));
    }

    #[test]
    fn environment_rule() {
        for ok in ["production", "staging_2", "a-b"] {
            assert!(validate_environment(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Prod", "langfuse-x", "a b", &"x".repeat(41)] {
            assert!(validate_environment(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_output_and_errors_never_show_the_secret() {
        let b = LangfuseConfig::builder()
            .public_key("pk-lf-1")
            .secret_key("sk-lf-TOPSECRET");
        assert!(!format!("{b:?}").contains("TOPSECRET"));
        let c = b.clone().build().unwrap();
        assert!(!format!("{c:?}").contains("TOPSECRET"));
        let err = b.secret_key("sk-lf-TOPSECRET\n").build().unwrap_err();
        assert!(!err.to_string().contains("TOPSECRET"));
    }

    #[test]
    fn builder_rejects_bad_values_with_the_setting_name() {
        let cases: Vec<(LangfuseConfigBuilder, &str)> = vec![
            (
                LangfuseConfig::builder().sample_rate(f64::NAN),
                "sample_rate",
            ),
            (LangfuseConfig::builder().flush_at(0), "flush_at"),
            (LangfuseConfig::builder().timeout(Duration::ZERO), "timeout"),
            (
                LangfuseConfig::builder().base_url("localhost:3000"),
                "base_url",
            ),
            (
                LangfuseConfig::builder().environment("langfuse-prod"),
                "environment",
            ),
            (
                LangfuseConfig::builder().header("bad header", "v"),
                "header",
            ),
        ];
        for (b, setting) in cases {
            assert_eq!(b.build().unwrap_err().setting(), setting);
        }
    }
}

#[cfg(test)]
mod base_url_tests {
    use super::*;
    use std::collections::HashMap;

    fn from_env(vars: &[(&str, &str)]) -> Result<LangfuseConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        LangfuseConfigBuilder::from_env_vars(|k| map.get(k).cloned())
            .0
            .build()
    }

    #[test]
    fn an_invalid_base_url_variable_is_an_error_naming_it_never_a_fallback() {
        for (name, value) in [
            ("LANGFUSE_BASE_URL", "langfuse.internal:3000"),
            ("LANGFUSE_BASE_URL", "ftp://x"),
            ("LANGFUSE_HOST", "http://"),
            ("LANGFUSE_HOST", "http://exa mple.com"),
        ] {
            let err = from_env(&[
                ("LANGFUSE_PUBLIC_KEY", "pk-lf-1"),
                ("LANGFUSE_SECRET_KEY", "sk-lf-1"),
                (name, value),
            ])
            .expect_err(value);
            assert_eq!(err.setting(), "base_url");
            let message = err.to_string();
            assert!(
                message.contains(name) && message.contains(value),
                "{message}"
            );
        }
    }

    #[test]
    fn a_url_with_credentials_is_rejected_and_the_secret_never_shown() {
        let url = "http://pk-lf-1:sk-lf-TOPSECRET@langfuse.internal:3000";
        let err = LangfuseConfig::builder().base_url(url).build().unwrap_err();
        assert!(!err.to_string().contains("TOPSECRET"), "{err}");
        assert!(err.to_string().contains("langfuse.internal:3000"), "{err}");
        assert!(!format!("{err:?}").contains("TOPSECRET"));
        let b = LangfuseConfig::builder().base_url(url);
        assert!(!format!("{b:?}").contains("TOPSECRET"));
        let err = from_env(&[("LANGFUSE_BASE_URL", url)]).unwrap_err();
        assert!(!err.to_string().contains("TOPSECRET"), "{err}");
    }

    #[test]
    fn a_valid_builder_url_overrides_an_invalid_variable() {
        let (env, _) = LangfuseConfigBuilder::from_env_vars(|k| {
            (k == "LANGFUSE_BASE_URL").then(|| "nope".to_owned())
        });
        let c = env
            .merge(LangfuseConfig::builder().base_url("http://127.0.0.1:1"))
            .build()
            .expect("the builder's URL wins");
        assert!(c.endpoint().starts_with("http://127.0.0.1:1/"));
    }

    #[test]
    fn degenerate_durations_are_clamped_with_one_warning_each() {
        let c = from_env(&[
            ("LANGFUSE_FLUSH_INTERVAL", "0.000000001"),
            ("LANGFUSE_TIMEOUT", "0.000001"),
        ])
        .unwrap();
        assert_eq!(c.flush_interval, FLUSH_INTERVAL_BOUNDS.0);
        assert_eq!(c.timeout, TIMEOUT_BOUNDS.0);
        assert_eq!(c.warnings().len(), 2, "{:?}", c.warnings());
        let c = LangfuseConfig::builder()
            .timeout(Duration::from_secs(86_400))
            .build()
            .unwrap();
        assert_eq!(c.timeout, TIMEOUT_BOUNDS.1);
        assert_eq!(c.warnings().len(), 1);
    }

    #[test]
    fn https_needs_the_tls_feature() {
        let built = LangfuseConfig::builder()
            .base_url("https://cloud.langfuse.com")
            .build();
        if cfg!(feature = "rustls") {
            assert!(built.is_ok());
        } else {
            let err = built.unwrap_err();
            assert!(err.to_string().contains("TLS"), "{err}");
        }
    }
}
