#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
// Denied, not forbidden: `Layer::downcast_raw` is an `unsafe fn` to implement.
#![deny(unsafe_code)]

/// `eprintln!` that never panics (see `__layer::warn::stderr_line`): a closed stderr
/// loses the line, nothing else.
macro_rules! stderr_line {
    ($($arg:tt)*) => {
        langfuse_tracing_core::__layer::warn::stderr_line(format_args!($($arg)*))
    };
}

mod builder;
mod config;
mod console;
mod convert;
mod export;
#[cfg(feature = "async-openai")]
mod integrations;
mod layer;
pub mod media;
mod otlp;
mod processor;
pub mod prompts;
mod rest;
mod scores;
mod span_attributes;

pub use builder::{LangfuseBuilder, LangfuseConfigBuilder, LayerBuilder};
pub use config::{Compression, ConfigError, LangfuseConfig, SpanFilter, DEFAULT_BASE_URL};
pub use export::{flush, shutdown, ExportError, LangfuseHandle};
pub use layer::LangfuseLayer;
pub use processor::{is_default_export_span, LangfuseSpanProcessor};
pub use scores::ScoreCounts;

#[cfg(feature = "async-openai")]
pub use integrations::openai;

pub use langfuse_tracing_core;
pub use langfuse_tracing_core::*;

#[doc(inline)]
pub use langfuse_tracing_macros::observe_in_subscriber as observe;

#[doc(hidden)]
pub use langfuse_tracing_core::__private;

use tracing_subscriber::prelude::*;

/// Flushes and shuts down the export when dropped (end of `main`).
///
/// ```no_run
/// let guard = langfuse_tracing::init().unwrap();
/// // ... the application ...
/// drop(guard); // everything is sent before the process exits
/// ```
#[must_use = "keep the guard in a named binding until the end of `main` \
              (`let _langfuse = ...`): `let _ = ...` drops it at once, which shuts the \
              export down, and every later observation is dropped"]
#[derive(Debug)]
pub struct LangfuseGuard {
    handle: LangfuseHandle,
}

impl LangfuseGuard {
    /// The handle, for an explicit `flush()` before the end.
    ///
    /// ```no_run
    /// let guard = langfuse_tracing::init().unwrap();
    /// guard.handle().flush().unwrap();
    /// ```
    pub fn handle(&self) -> &LangfuseHandle {
        &self.handle
    }
}

impl Drop for LangfuseGuard {
    fn drop(&mut self) {
        match self.handle.shutdown() {
            // A failed export was reported on stderr when it failed.
            Ok(()) | Err(ExportError::Failed(_)) => {}
            Err(e) => stderr_line!("langfuse: at shutdown: {e}"),
        }
    }
}

/// Installs a global subscriber with a [`LangfuseLayer`] configured from the
/// environment, and returns the guard that flushes on drop.
///
/// Fails if the configuration is invalid or a global subscriber is already set (then
/// add [`LangfuseLayer::from_env`] to your own subscriber instead).
///
/// ```no_run
/// let _langfuse = langfuse_tracing::init().expect("langfuse");
/// // instrumented code; the guard flushes when `main` returns
/// ```
pub fn init() -> Result<LangfuseGuard, ConfigError> {
    install(LangfuseLayer::from_env()?)
}

/// [`init`] with options from a [`LayerBuilder`]: start from
/// `LangfuseLayer::builder().with_env()` to keep reading the `LANGFUSE_*` variables.
///
/// ```no_run
/// let _langfuse = langfuse_tracing::init_with(
///     langfuse_tracing::LangfuseLayer::builder()
///         .with_env()
///         .mask(|v| if v.to_string().contains("password") { "<redacted>".into() } else { v }),
/// )
/// .expect("langfuse");
/// ```
pub fn init_with(builder: LayerBuilder) -> Result<LangfuseGuard, ConfigError> {
    install(builder.build()?)
}

/// A [`LangfuseLayer`] configured from the environment, with the guard that flushes
/// and shuts its export down when dropped: the way to add Langfuse to a subscriber you
/// build yourself. Keep the guard until the end of `main` (`let (layer, _guard) = ..`;
/// a `_` pattern would drop it at once, and every observation after that is dropped and
/// counted).
///
/// ```no_run
/// use tracing_subscriber::prelude::*;
/// let (langfuse, _guard) = langfuse_tracing::layer().expect("langfuse config");
/// tracing_subscriber::registry().with(langfuse).init();
/// ```
pub fn layer() -> Result<(LangfuseLayer, LangfuseGuard), ConfigError> {
    let layer = LangfuseLayer::from_env()?;
    let guard = layer.guard();
    Ok((layer, guard))
}

impl LangfuseLayer {
    /// A guard that flushes and shuts this layer's export down when dropped (at the
    /// end of `main`), for a layer built with [`LangfuseLayer::builder`].
    ///
    /// ```
    /// let layer = langfuse_tracing::LangfuseLayer::builder().console(false).build().unwrap();
    /// let guard = layer.guard();
    /// drop(guard); // flushed and shut down
    /// assert_eq!(layer.handle().flush(), Err(langfuse_tracing::ExportError::ShutDown));
    /// ```
    pub fn guard(&self) -> LangfuseGuard {
        LangfuseGuard {
            handle: self.handle(),
        }
    }
}

fn install(layer: LangfuseLayer) -> Result<LangfuseGuard, ConfigError> {
    let handle = layer.handle();
    tracing_subscriber::registry()
        .with(layer)
        .try_init()
        .map_err(|e| {
            ConfigError::other(
                "subscriber",
                format!(
                    "cannot install the global subscriber ({e}): `init()` was already \
                     called, or another global subscriber is set; add the layer of \
                     `langfuse_tracing::layer()` to that subscriber instead"
                ),
            )
        })?;
    Ok(LangfuseGuard { handle })
}
