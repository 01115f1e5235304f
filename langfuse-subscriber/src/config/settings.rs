//! The settings as given, before validation, and how two sources of them combine.

use std::fmt;
use std::time::Duration;

use super::{Compression, SpanFilter};

/// Every setting as given (by the builder or the environment), before validation;
/// `None` is "not set", so that two sources can be merged.
#[derive(Clone, Default)]
pub(crate) struct Settings {
    pub(crate) public_key: Option<String>,
    pub(crate) secret_key: Option<String>,
    pub(crate) base_url: Option<String>,
    /// The variable `base_url` was read from, so that an invalid value is reported
    /// under the name the user set.
    pub(crate) base_url_variable: Option<&'static str>,
    pub(crate) export_path: Option<String>,
    pub(crate) enabled: Option<bool>,
    pub(crate) environment: Option<String>,
    pub(crate) release: Option<String>,
    pub(crate) sample_rate: Option<f64>,
    pub(crate) flush_at: Option<usize>,
    pub(crate) flush_interval: Option<Duration>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) compression: Option<Compression>,
    pub(crate) max_request_bytes: Option<usize>,
    pub(crate) max_queue_bytes: Option<usize>,
    pub(crate) queue_full_wait: Option<Duration>,
    pub(crate) debug: Option<bool>,
    pub(crate) console: Option<bool>,
    pub(crate) span_filter: Option<SpanFilter>,
    pub(crate) additional_headers: Vec<(String, String)>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("public_key", &self.public_key)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "base_url",
                &format_args!(
                    "{}",
                    self.base_url.as_deref().map_or("None".to_owned(), |url| {
                        super::validate::shown_base_url(url, self.secret_key.as_deref())
                    })
                ),
            )
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Overrides these values with every value set in `other`.
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
}
