//! Configuration (wire reference §9): the validated [`LangfuseConfig`] and the types of
//! its settings. They are set through the one builder (`crate::builder`, which also
//! holds `LangfuseConfig::builder()`), read from the environment in [`env`], and
//! checked in [`validate`].

pub(crate) mod env;
mod error;
mod settings;
mod validate;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tracing::Metadata;

pub use error::ConfigError;
pub(crate) use settings::Settings;

/// The Langfuse Cloud endpoint used when no base URL is configured.
pub const DEFAULT_BASE_URL: &str = "https://cloud.langfuse.com";
/// The OTLP traces path below the base URL.
pub const DEFAULT_EXPORT_PATH: &str = "/api/public/otel/v1/traces";

/// How request bodies are compressed.
///
/// ```
/// use langfuse_tracing::Compression;
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
/// use langfuse_tracing::SpanFilter;
/// let keep_my_crate = SpanFilter::new(|meta| meta.target().starts_with("my_crate"));
/// # let _ = keep_my_crate;
/// ```
#[derive(Clone)]
pub struct SpanFilter(pub(crate) Arc<dyn Fn(&Metadata<'_>) -> bool + Send + Sync>);

impl SpanFilter {
    /// Wraps a predicate over the span's static metadata (name, target, fields).
    ///
    /// ```
    /// let all = langfuse_tracing::SpanFilter::new(|_| true);
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

/// A validated configuration. Build it with [`LangfuseConfig::builder`] or read it with
/// [`LangfuseConfig::from_env`]. Its `Debug` output never shows the secret key.
///
/// ```
/// use langfuse_tracing::LangfuseConfig;
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
    /// Reads every `LANGFUSE_*` variable. An invalid value is reported once on stderr
    /// (and in [`LangfuseConfig::warnings`]) and its default is used instead, except
    /// the base URL: an invalid `LANGFUSE_BASE_URL` / `LANGFUSE_HOST` is an error, never
    /// a fallback to another host (that would send the keys and data there).
    ///
    /// ```
    /// let c = langfuse_tracing::LangfuseConfig::from_env().expect("valid LANGFUSE_* settings");
    /// let _ = c.endpoint();
    /// ```
    pub fn from_env() -> Result<LangfuseConfig, ConfigError> {
        Settings::default().resolve(true, crate::config::env::process_var)
    }

    /// The full OTLP endpoint, `{base_url}/api/public/otel/v1/traces` (one slash).
    ///
    /// ```
    /// let c = langfuse_tracing::LangfuseConfig::builder().base_url("https://x.io").build().unwrap();
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
    /// let c = langfuse_tracing::LangfuseConfig::builder().public_key("pk").secret_key("sk").build().unwrap();
    /// assert!(c.has_credentials());
    /// ```
    pub fn has_credentials(&self) -> bool {
        self.public_key.is_some() && self.secret_key.is_some()
    }

    /// Whether finished traces are printed to stderr: explicitly set, or by default
    /// only when there are no credentials.
    ///
    /// ```
    /// let c = langfuse_tracing::LangfuseConfig::builder().build().unwrap();
    /// assert!(c.console_enabled());
    /// ```
    pub fn console_enabled(&self) -> bool {
        self.console.unwrap_or(!self.has_credentials())
    }

    /// The public key, if any.
    ///
    /// ```
    /// let c = langfuse_tracing::LangfuseConfig::builder().public_key("pk-1").build().unwrap();
    /// assert_eq!(c.public_key(), Some("pk-1"));
    /// ```
    pub fn public_key(&self) -> Option<&str> {
        self.public_key.as_deref()
    }

    /// The environment written on every observation, if any.
    ///
    /// ```
    /// let c = langfuse_tracing::LangfuseConfig::builder().environment("staging").build().unwrap();
    /// assert_eq!(c.environment(), Some("staging"));
    /// ```
    pub fn environment(&self) -> Option<&str> {
        self.environment.as_deref()
    }

    /// The release written on every observation, if any.
    ///
    /// ```
    /// let c = langfuse_tracing::LangfuseConfig::builder().release("abc123").build().unwrap();
    /// assert_eq!(c.release(), Some("abc123"));
    /// ```
    pub fn release(&self) -> Option<&str> {
        self.release.as_deref()
    }

    /// The trace sampling rate in `[0, 1]`.
    ///
    /// ```
    /// assert_eq!(langfuse_tracing::LangfuseConfig::builder().build().unwrap().sample_rate(), 1.0);
    /// ```
    pub fn sample_rate(&self) -> f64 {
        self.sample_rate
    }

    /// Whether tracing is enabled at all.
    ///
    /// ```
    /// assert!(langfuse_tracing::LangfuseConfig::builder().build().unwrap().tracing_enabled());
    /// ```
    pub fn tracing_enabled(&self) -> bool {
        self.enabled
    }

    /// Spans per export request.
    ///
    /// ```
    /// assert_eq!(langfuse_tracing::LangfuseConfig::builder().build().unwrap().flush_at(), 512);
    /// ```
    pub fn flush_at(&self) -> usize {
        self.flush_at
    }

    /// The longest a finished span waits before it is sent.
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(langfuse_tracing::LangfuseConfig::builder().build().unwrap().flush_interval(), Duration::from_secs(5));
    /// ```
    pub fn flush_interval(&self) -> Duration {
        self.flush_interval
    }

    /// The HTTP timeout, also the bound of `flush` and `shutdown`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(langfuse_tracing::LangfuseConfig::builder().build().unwrap().timeout(), Duration::from_secs(5));
    /// ```
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Request compression.
    ///
    /// ```
    /// use langfuse_tracing::{Compression, LangfuseConfig};
    /// assert_eq!(LangfuseConfig::builder().build().unwrap().compression(), Compression::Gzip);
    /// ```
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The most bytes of finished observations held in memory while waiting for export;
    /// beyond it new observations are dropped and counted.
    ///
    /// ```
    /// assert_eq!(langfuse_tracing::LangfuseConfig::builder().build().unwrap().max_queue_bytes(), 128 << 20);
    /// ```
    pub fn max_queue_bytes(&self) -> usize {
        self.max_queue_bytes
    }

    /// How long a thread waits for room in a full export queue before dropping its
    /// observation (zero by default: it drops at once).
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(langfuse_tracing::LangfuseConfig::builder().build().unwrap().queue_full_wait(), Duration::ZERO);
    /// ```
    pub fn queue_full_wait(&self) -> Duration {
        self.queue_full_wait
    }

    /// Whether `LANGFUSE_DEBUG` diagnostics are on.
    ///
    /// ```
    /// assert!(!langfuse_tracing::LangfuseConfig::builder().build().unwrap().debug());
    /// ```
    pub fn debug(&self) -> bool {
        self.debug
    }

    /// What was wrong with the environment variables (also printed once to stderr).
    ///
    /// ```
    /// assert!(langfuse_tracing::LangfuseConfig::builder().build().unwrap().warnings().is_empty());
    /// ```
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}
