//! The one builder of the crate: `LangfuseConfig::builder()` and
//! `LangfuseLayer::builder()` both return a [`LangfuseBuilder`], so every setting is
//! written once. Its type parameter only chooses what `build()` returns; the layer's
//! builder also takes a custom exporter and a mask.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use opentelemetry_sdk::trace::SpanExporter;

use crate::config::{Compression, ConfigError, LangfuseConfig, Settings, SpanFilter};
use crate::export::destination::{BoxedDestination, ExporterDestination};
use crate::layer::LangfuseLayer;
use langfuse_tracing_core::mask::Mask;

/// Every setting of the Langfuse export, and `build()`: [`LangfuseConfig::builder()`]
/// returns a [`LangfuseConfigBuilder`] whose `build()` validates into a
/// [`LangfuseConfig`], [`LangfuseLayer::builder()`] a [`LayerBuilder`] whose `build()`
/// also starts the export and gives a [`LangfuseLayer`]. Both are this type; the layer's
/// builder adds [`exporter`](LangfuseBuilder::exporter), [`mask`](LangfuseBuilder::mask)
/// and [`try_mask`](LangfuseBuilder::try_mask).
///
/// ```
/// let layer = langfuse_tracing::LangfuseLayer::builder()
///     .public_key("pk-lf-1")
///     .secret_key("sk-lf-1")
///     .base_url("http://127.0.0.1:9")
///     .build()
///     .unwrap();
/// layer.handle().shutdown().ok();
/// ```
///
/// The same settings, validated into a [`LangfuseConfig`]:
///
/// ```
/// use std::time::Duration;
/// use langfuse_tracing::{Compression, LangfuseConfig};
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
pub struct LangfuseBuilder<T = LangfuseLayer> {
    settings: Settings,
    /// Read the `LANGFUSE_*` variables first (see [`LangfuseBuilder::with_env`]).
    from_env: bool,
    /// A custom destination (only the layer's builder sets it).
    destination: Option<BoxedDestination>,
    /// Only the layer's builder sets it.
    mask: Option<Mask>,
    target: PhantomData<fn() -> T>,
}

/// The builder of a [`LangfuseConfig`] (see [`LangfuseBuilder`]).
pub type LangfuseConfigBuilder = LangfuseBuilder<LangfuseConfig>;

/// The builder of a [`LangfuseLayer`] (see [`LangfuseBuilder`]).
pub type LayerBuilder = LangfuseBuilder<LangfuseLayer>;

impl<T> Default for LangfuseBuilder<T> {
    fn default() -> Self {
        LangfuseBuilder {
            settings: Settings::default(),
            from_env: false,
            destination: None,
            mask: None,
            target: PhantomData,
        }
    }
}

impl Clone for LangfuseConfigBuilder {
    fn clone(&self) -> Self {
        // A configuration's builder never holds a destination or a mask.
        LangfuseBuilder {
            settings: self.settings.clone(),
            from_env: self.from_env,
            ..LangfuseBuilder::default()
        }
    }
}

impl<T> fmt::Debug for LangfuseBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Settings` shows neither the secret key nor a password in the URL.
        f.debug_struct("LangfuseBuilder")
            .field("settings", &self.settings)
            .field("from_env", &self.from_env)
            .field("destination", &self.destination)
            .field("mask", &self.mask.is_some())
            .finish()
    }
}

impl<T> LangfuseBuilder<T> {
    /// Starts from the `LANGFUSE_*` environment variables; later calls override them.
    ///
    /// ```
    /// let layer = langfuse_tracing::LangfuseLayer::builder().with_env().console(false).build().unwrap();
    /// # layer.handle().shutdown().ok();
    /// ```
    pub fn with_env(mut self) -> Self {
        self.from_env = true;
        self
    }

    /// The project's public key (`pk-lf-...`).
    ///
    /// ```
    /// let b = langfuse_tracing::LangfuseConfig::builder().public_key("pk-lf-1");
    /// # let _ = b;
    /// ```
    pub fn public_key(mut self, key: impl Into<String>) -> Self {
        self.settings.public_key = Some(key.into());
        self
    }

    /// The project's secret key (`sk-lf-...`). Never printed.
    ///
    /// ```
    /// let b = langfuse_tracing::LangfuseConfig::builder().secret_key("sk-lf-1");
    /// assert!(!format!("{b:?}").contains("sk-lf-1"));
    /// ```
    pub fn secret_key(mut self, key: impl Into<String>) -> Self {
        self.settings.secret_key = Some(key.into());
        self
    }

    /// The Langfuse base URL (`https://cloud.langfuse.com`, `http://localhost:3000`);
    /// a trailing slash makes no difference.
    ///
    /// ```
    /// let b = langfuse_tracing::LangfuseConfig::builder().base_url("http://localhost:3000/");
    /// # let _ = b;
    /// ```
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.settings.base_url = Some(url.into());
        self.settings.base_url_variable = None;
        self
    }

    /// The OTLP path below the base URL (default `/api/public/otel/v1/traces`).
    ///
    /// ```
    /// let b = langfuse_tracing::LangfuseConfig::builder().export_path("/custom/v1/traces");
    /// # let _ = b;
    /// ```
    pub fn export_path(mut self, path: impl Into<String>) -> Self {
        self.settings.export_path = Some(path.into());
        self
    }

    /// The environment (`production`, `staging`), as the Langfuse server stores it:
    /// lower-cased, a leading `langfuse` (`langfuse-`, `langfuse_`) removed, at most 40
    /// characters of a-z, 0-9, `_` and `-`. A value the server would change is sent as
    /// it will be stored, with one warning; one it would replace by `default` is an error.
    ///
    /// ```
    /// use langfuse_tracing::LangfuseConfig;
    /// let c = LangfuseConfig::builder().environment("Production").build().unwrap();
    /// assert_eq!(c.environment(), Some("production"));
    /// assert_eq!(c.warnings().len(), 1);
    /// assert!(LangfuseConfig::builder().environment("prod env").build().is_err());
    /// ```
    pub fn environment(mut self, env: impl Into<String>) -> Self {
        self.settings.environment = Some(env.into());
        self
    }

    /// The release (a version or a git sha).
    ///
    /// ```
    /// let b = langfuse_tracing::LangfuseConfig::builder().release("v1");
    /// # let _ = b;
    /// ```
    pub fn release(mut self, release: impl Into<String>) -> Self {
        self.settings.release = Some(release.into());
        self
    }

    /// Adds an HTTP header to every export request (after the Langfuse ones).
    ///
    /// ```
    /// let b = langfuse_tracing::LangfuseConfig::builder().header("x-team", "search");
    /// # let _ = b;
    /// ```
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings
            .additional_headers
            .push((name.into(), value.into()));
        self
    }

    /// Which spans without Langfuse fields are exported (default: those with `gen_ai.*`
    /// fields). Spans that carry Langfuse fields are always exported.
    ///
    /// ```
    /// use langfuse_tracing::{LangfuseConfig, SpanFilter};
    /// let b = LangfuseConfig::builder().span_filter(SpanFilter::new(|m| m.target().starts_with("my_app")));
    /// # let _ = b;
    /// ```
    pub fn span_filter(mut self, filter: SpanFilter) -> Self {
        self.settings.span_filter = Some(filter);
        self
    }

    /// `false` turns tracing off: no observation is recorded or sent.
    ///
    /// ```
    /// let c = langfuse_tracing::LangfuseConfig::builder().tracing_enabled(false).build().unwrap();
    /// assert!(!c.tracing_enabled());
    /// ```
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.settings.enabled = Some(enabled);
        self
    }

    /// Same as [`LangfuseBuilder::enabled`], with the Langfuse docs' name.
    ///
    /// ```
    /// let b = langfuse_tracing::LangfuseConfig::builder().tracing_enabled(true);
    /// # let _ = b;
    /// ```
    pub fn tracing_enabled(self, enabled: bool) -> Self {
        self.enabled(enabled)
    }

    /// The fraction of traces kept, in `[0, 1]` (decided from the trace id, so a
    /// trace is kept or dropped whole).
    ///
    /// ```
    /// assert!(langfuse_tracing::LangfuseConfig::builder().sample_rate(-0.1).build().is_err());
    /// ```
    pub fn sample_rate(mut self, rate: f64) -> Self {
        self.settings.sample_rate = Some(rate);
        self
    }
    /// Spans per export request (at least 1).
    ///
    /// ```
    /// assert!(langfuse_tracing::LangfuseConfig::builder().flush_at(0).build().is_err());
    /// ```
    pub fn flush_at(mut self, n: usize) -> Self {
        self.settings.flush_at = Some(n);
        self
    }
    /// The longest a finished span waits before it is sent (more than zero).
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert!(langfuse_tracing::LangfuseConfig::builder().flush_interval(Duration::ZERO).build().is_err());
    /// ```
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.settings.flush_interval = Some(interval);
        self
    }
    /// The HTTP request timeout, also the bound of `flush()` and `shutdown()`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert!(langfuse_tracing::LangfuseConfig::builder().timeout(Duration::ZERO).build().is_err());
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = Some(timeout);
        self
    }
    /// Request compression (gzip by default).
    ///
    /// ```
    /// let b = langfuse_tracing::LangfuseConfig::builder().compression(langfuse_tracing::Compression::None);
    /// # let _ = b;
    /// ```
    pub fn compression(mut self, compression: Compression) -> Self {
        self.settings.compression = Some(compression);
        self
    }
    /// The largest uncompressed request body; a larger batch is split.
    ///
    /// ```
    /// let b = langfuse_tracing::LangfuseConfig::builder().max_request_bytes(1 << 20);
    /// # let _ = b;
    /// ```
    pub fn max_request_bytes(mut self, bytes: usize) -> Self {
        self.settings.max_request_bytes = Some(bytes);
        self
    }
    /// The memory bound of the export queue in bytes (default 128 MiB).
    ///
    /// ```
    /// let b = langfuse_tracing::LangfuseConfig::builder().max_queue_bytes(16 << 20);
    /// # let _ = b;
    /// ```
    pub fn max_queue_bytes(mut self, bytes: usize) -> Self {
        self.settings.max_queue_bytes = Some(bytes);
        self
    }
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
    /// let c = langfuse_tracing::LangfuseConfig::builder()
    ///     .queue_full_wait(Duration::from_secs(2))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(c.queue_full_wait(), Duration::from_secs(2));
    /// ```
    pub fn queue_full_wait(mut self, wait: Duration) -> Self {
        self.settings.queue_full_wait = Some(wait);
        self
    }
    /// Diagnostics on stderr: every export and its result.
    ///
    /// ```
    /// let b = langfuse_tracing::LangfuseConfig::builder().debug(true);
    /// # let _ = b;
    /// ```
    pub fn debug(mut self, on: bool) -> Self {
        self.settings.debug = Some(on);
        self
    }
    /// Print each finished trace to stderr as a tree. Default: on exactly when no
    /// credentials are set.
    ///
    /// ```
    /// let c = langfuse_tracing::LangfuseConfig::builder().console(false).build().unwrap();
    /// assert!(!c.console_enabled());
    /// ```
    pub fn console(mut self, on: bool) -> Self {
        self.settings.console = Some(on);
        self
    }

    /// The validated configuration (the variables first with `with_env`).
    fn config(&mut self) -> Result<LangfuseConfig, ConfigError> {
        std::mem::take(&mut self.settings).resolve(self.from_env, crate::config::env::process_var)
    }
}

impl LangfuseConfig {
    /// A builder with every setting at its default (nothing read from the environment).
    ///
    /// ```
    /// let c = langfuse_tracing::LangfuseConfig::builder().build().unwrap();
    /// assert!(!c.has_credentials());
    /// ```
    pub fn builder() -> LangfuseConfigBuilder {
        LangfuseConfigBuilder::default()
    }
}

impl LangfuseConfigBuilder {
    /// Validates and builds.
    ///
    /// ```
    /// let err = langfuse_tracing::LangfuseConfig::builder().base_url("not a url").build().unwrap_err();
    /// assert_eq!(err.setting(), "base_url");
    /// ```
    pub fn build(mut self) -> Result<LangfuseConfig, ConfigError> {
        self.config()
    }
}

impl LayerBuilder {
    /// The layer's builder with the settings of a configuration's.
    pub(crate) fn new(config: LangfuseConfigBuilder) -> Self {
        LangfuseBuilder {
            settings: config.settings,
            from_env: config.from_env,
            ..LangfuseBuilder::default()
        }
    }

    /// Sends observations to `exporter` (any OpenTelemetry `SpanExporter`, for example an
    /// in-memory one in tests) instead of Langfuse's OTLP endpoint.
    ///
    /// ```
    /// use opentelemetry_sdk::error::OTelSdkResult;
    /// use opentelemetry_sdk::trace::{SpanData, SpanExporter};
    ///
    /// #[derive(Debug)]
    /// struct CountSpans(std::sync::Arc<std::sync::atomic::AtomicUsize>);
    ///
    /// impl SpanExporter for CountSpans {
    ///     async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
    ///         self.0.fetch_add(batch.len(), std::sync::atomic::Ordering::Relaxed);
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    /// let layer = langfuse_tracing::LangfuseLayer::builder().exporter(CountSpans(count.clone())).build().unwrap();
    /// # layer.handle().shutdown().unwrap();
    /// ```
    pub fn exporter<E: SpanExporter + 'static>(mut self, exporter: E) -> Self {
        self.destination = Some(Box::new(ExporterDestination::new(exporter)));
        self
    }

    /// Masks input, output and metadata before they are stored (reference §8): `mask`
    /// gets each value as a `serde_json::Value` and returns what is kept. It is called on
    /// the thread that writes the value, separately for the input, the output and the
    /// metadata of one call (as one object), for `#[observe]` capture, builders, updates
    /// and the trace input and output; it never sees propagated attributes. A panic
    /// yields `"<fully masked due to failed mask function>"` (see
    /// [`langfuse_tracing_core::mask`]).
    ///
    /// ```
    /// use serde_json::Value;
    /// let layer = langfuse_tracing::LangfuseLayer::builder()
    ///     .console(false)
    ///     .mask(|v: Value| match v {
    ///         Value::String(s) => Value::String(s.replace("sk-live", "***")),
    ///         other => other,
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # layer.handle().shutdown().unwrap();
    /// ```
    pub fn mask<F>(mut self, mask: F) -> Self
    where
        F: Fn(serde_json::Value) -> serde_json::Value + Send + Sync + 'static,
    {
        self.mask = Some(Mask::new(mask));
        self
    }

    /// Like [`LangfuseBuilder::mask`] with a fallible function: an `Err` (never printed)
    /// yields `"<fully masked due to failed mask function>"`.
    ///
    /// ```
    /// use serde_json::Value;
    /// let layer = langfuse_tracing::LangfuseLayer::builder()
    ///     .console(false)
    ///     .try_mask(|v: Value| if v.to_string().len() > 10_000 { Err("too large to scan") } else { Ok(v) })
    ///     .build()
    ///     .unwrap();
    /// # layer.handle().shutdown().unwrap();
    /// ```
    pub fn try_mask<F, E>(mut self, mask: F) -> Self
    where
        F: Fn(serde_json::Value) -> Result<serde_json::Value, E> + Send + Sync + 'static,
    {
        self.mask = Some(Mask::fallible(mask));
        self
    }

    /// Validates the configuration and starts the export thread.
    ///
    /// ```
    /// let err = langfuse_tracing::LangfuseLayer::builder().flush_at(0).build().unwrap_err();
    /// assert_eq!(err.setting(), "flush_at");
    /// ```
    pub fn build(mut self) -> Result<LangfuseLayer, ConfigError> {
        let mut config = self.config()?;
        let console = self.destination.is_none() && config.console_enabled();
        if self.destination.is_some() {
            config.console = Some(false);
        } else if console {
            config.console = Some(true);
        }
        let mut layer = LangfuseLayer::from_parts(config, self.destination)?;
        layer.set_mask(self.mask);
        Ok(layer)
    }
}
