//! `LangfuseLayer::builder()`: every configuration setting, plus where spans go.

use std::time::Duration;

use opentelemetry_sdk::trace::SpanExporter;

use crate::config::{Compression, ConfigError, LangfuseConfigBuilder, SpanFilter};
use crate::export::destination::{BoxedDestination, ExporterDestination};
use crate::layer::LangfuseLayer;
use langfuse_core::mask::Mask;

/// Builds a [`LangfuseLayer`]. It has every setting of
/// [`LangfuseConfigBuilder`](crate::LangfuseConfigBuilder), and [`LayerBuilder::exporter`]
/// to send to any OpenTelemetry `SpanExporter` instead of Langfuse.
///
/// ```
/// let layer = langfuse_subscriber::LangfuseLayer::builder()
///     .public_key("pk-lf-1")
///     .secret_key("sk-lf-1")
///     .base_url("http://127.0.0.1:9")
///     .build()
///     .unwrap();
/// layer.handle().shutdown().ok();
/// ```
#[derive(Debug)]
pub struct LayerBuilder {
    config: LangfuseConfigBuilder,
    from_env: bool,
    destination: Option<BoxedDestination>,
    mask: Option<Mask>,
}

macro_rules! forward {
    ($($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*);)*) => {$(
        $(#[$doc])*
        pub fn $name(mut self, $($arg: $ty),*) -> Self {
            self.config = self.config.$name($($arg),*);
            self
        }
    )*};
}

impl LayerBuilder {
    pub(crate) fn new(config: LangfuseConfigBuilder) -> Self {
        LayerBuilder {
            config,
            from_env: false,
            destination: None,
            mask: None,
        }
    }

    /// Starts from the `LANGFUSE_*` environment variables; later calls override them.
    ///
    /// ```
    /// let layer = langfuse_subscriber::LangfuseLayer::builder().with_env().console(false).build().unwrap();
    /// # layer.handle().shutdown().ok();
    /// ```
    pub fn with_env(mut self) -> Self {
        self.from_env = true;
        self
    }

    forward! {
        /// See [`LangfuseConfigBuilder::public_key`](crate::LangfuseConfigBuilder::public_key).
        public_key(key: impl Into<String>);
        /// See [`LangfuseConfigBuilder::secret_key`](crate::LangfuseConfigBuilder::secret_key).
        secret_key(key: impl Into<String>);
        /// See [`LangfuseConfigBuilder::base_url`](crate::LangfuseConfigBuilder::base_url).
        base_url(url: impl Into<String>);
        /// See [`LangfuseConfigBuilder::export_path`](crate::LangfuseConfigBuilder::export_path).
        export_path(path: impl Into<String>);
        /// See [`LangfuseConfigBuilder::environment`](crate::LangfuseConfigBuilder::environment).
        environment(env: impl Into<String>);
        /// See [`LangfuseConfigBuilder::release`](crate::LangfuseConfigBuilder::release).
        release(release: impl Into<String>);
        /// See [`LangfuseConfigBuilder::header`](crate::LangfuseConfigBuilder::header).
        header(name: impl Into<String>, value: impl Into<String>);
        /// See [`LangfuseConfigBuilder::span_filter`](crate::LangfuseConfigBuilder::span_filter).
        span_filter(filter: SpanFilter);
        /// See [`LangfuseConfigBuilder::tracing_enabled`](crate::LangfuseConfigBuilder::tracing_enabled).
        tracing_enabled(enabled: bool);
        /// See [`LangfuseConfigBuilder::sample_rate`](crate::LangfuseConfigBuilder::sample_rate).
        sample_rate(rate: f64);
        /// See [`LangfuseConfigBuilder::flush_at`](crate::LangfuseConfigBuilder::flush_at).
        flush_at(n: usize);
        /// See [`LangfuseConfigBuilder::flush_interval`](crate::LangfuseConfigBuilder::flush_interval).
        flush_interval(interval: Duration);
        /// See [`LangfuseConfigBuilder::timeout`](crate::LangfuseConfigBuilder::timeout).
        timeout(timeout: Duration);
        /// See [`LangfuseConfigBuilder::compression`](crate::LangfuseConfigBuilder::compression).
        compression(compression: Compression);
        /// See [`LangfuseConfigBuilder::max_request_bytes`](crate::LangfuseConfigBuilder::max_request_bytes).
        max_request_bytes(bytes: usize);
        /// See [`LangfuseConfigBuilder::max_queue_bytes`](crate::LangfuseConfigBuilder::max_queue_bytes).
        max_queue_bytes(bytes: usize);
        /// See [`LangfuseConfigBuilder::queue_full_wait`](crate::LangfuseConfigBuilder::queue_full_wait).
        queue_full_wait(wait: Duration);
        /// See [`LangfuseConfigBuilder::debug`](crate::LangfuseConfigBuilder::debug).
        debug(on: bool);
        /// See [`LangfuseConfigBuilder::console`](crate::LangfuseConfigBuilder::console).
        console(on: bool);
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
    /// let layer = langfuse_subscriber::LangfuseLayer::builder().exporter(CountSpans(count.clone())).build().unwrap();
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
    /// [`langfuse_core::mask`]).
    ///
    /// ```
    /// use serde_json::Value;
    /// let layer = langfuse_subscriber::LangfuseLayer::builder()
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

    /// Like [`LayerBuilder::mask`] with a fallible function: an `Err` (never printed)
    /// yields `"<fully masked due to failed mask function>"`.
    ///
    /// ```
    /// use serde_json::Value;
    /// let layer = langfuse_subscriber::LangfuseLayer::builder()
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
    /// let err = langfuse_subscriber::LangfuseLayer::builder().flush_at(0).build().unwrap_err();
    /// assert_eq!(err.setting(), "flush_at");
    /// ```
    pub fn build(self) -> Result<LangfuseLayer, ConfigError> {
        let config = if self.from_env {
            let (mut env, warnings) =
                LangfuseConfigBuilder::from_env_vars(|k| std::env::var(k).ok());
            for w in &warnings {
                eprintln!("langfuse: {w}");
            }
            env = env.merge(self.config);
            env.build()?
        } else {
            self.config.build()?
        };
        let console = self.destination.is_none() && config.console_enabled();
        let mut config = config;
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
