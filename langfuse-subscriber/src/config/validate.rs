//! From [`Settings`] to a [`LangfuseConfig`]: the base URL (never a silent fallback to
//! another host), the environment rule, numeric ranges, header names and values, and
//! the clamps of degenerate durations.

use std::time::Duration;

use super::{ConfigError, LangfuseConfig, Settings, DEFAULT_BASE_URL, DEFAULT_EXPORT_PATH};

impl Settings {
    /// Checks every value and fills in the defaults. An invalid value is an error naming
    /// the setting; a duration outside its sane bounds is clamped with a warning.
    pub(crate) fn validate(self) -> Result<LangfuseConfig, ConfigError> {
        let base_url = self.base_url.unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        validate_base_url(
            &base_url,
            self.base_url_variable.unwrap_or("base_url"),
            self.secret_key.as_deref(),
        )?;
        let mut warnings = Vec::new();
        let export_path = self
            .export_path
            .unwrap_or_else(|| DEFAULT_EXPORT_PATH.to_owned());
        let environment = match self.environment {
            Some(given) => {
                let stored = validate_environment(&given)?;
                if let Some(w) = environment_warning(&given, &stored) {
                    stderr_line!("langfuse: {w}");
                    warnings.push(w);
                }
                Some(stored)
            }
            None => None,
        };
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
        if public_key.is_some() != secret_key.is_some() {
            let (set, missing) = if public_key.is_some() {
                (
                    "public key (LANGFUSE_PUBLIC_KEY)",
                    "secret key (LANGFUSE_SECRET_KEY)",
                )
            } else {
                (
                    "secret key (LANGFUSE_SECRET_KEY)",
                    "public key (LANGFUSE_PUBLIC_KEY)",
                )
            };
            let w = format!(
                "the {set} is set but not the {missing}: nothing is sent to Langfuse, \
                 and finished traces are printed to stderr"
            );
            stderr_line!("langfuse: {w}");
            warnings.push(w);
        }
        Ok(LangfuseConfig {
            public_key,
            secret_key,
            base_url,
            export_path,
            enabled: self.enabled.unwrap_or(true),
            environment,
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
}

/// Checks a base URL; `name` is what the user set (`base_url`, `LANGFUSE_BASE_URL`,
/// `LANGFUSE_HOST`), and the error names it with the value as [`shown_base_url`] shows it.
fn validate_base_url(
    url: &str,
    name: &'static str,
    secret_key: Option<&str>,
) -> Result<(), ConfigError> {
    let fail = |why: &str| {
        ConfigError::other(
            "base_url",
            format!("invalid {name} {}: {why}", shown_base_url(url, secret_key)),
        )
    };
    if url.contains(char::REPLACEMENT_CHARACTER) {
        return Err(fail("it is not valid UTF-8"));
    }
    if holds_secret(url, secret_key) {
        // Sent with every request and named in every export error otherwise.
        return Err(fail(
            "the secret key is not part of a base URL; set secret_key \
             (LANGFUSE_SECRET_KEY) and give the URL alone",
        ));
    }
    let trimmed = url.trim();
    let lower = trimmed.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(fail(
            "expected an http:// or https:// URL, such as https://cloud.langfuse.com or \
             http://localhost:3000",
        ));
    }
    let parsed = url::Url::parse(trimmed).map_err(|e| fail(&format!("not a valid URL ({e})")))?;
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
             langfuse-tracing (on by default), or use an http:// URL",
        ));
    }
    Ok(())
}

/// A base URL as messages and `Debug` show it: quoted, its user info hidden, cut to 120
/// characters; not shown at all when it holds the secret key (or anything that looks
/// like one: `sk-lf-`), wherever in the URL it was pasted.
///
/// ```ignore
/// assert_eq!(shown_base_url("http://localhost:3000", None), "\"http://localhost:3000\"");
/// ```
pub(crate) fn shown_base_url(url: &str, secret_key: Option<&str>) -> String {
    if holds_secret(url, secret_key) {
        return "(not shown: it contains the secret key)".to_owned();
    }
    let redacted = redact_user_info(url);
    format!("{:?}", redacted.chars().take(120).collect::<String>())
}

/// Whether `url`, its user info left out, holds the secret key or something that looks
/// like one (`sk-lf-`).
fn holds_secret(url: &str, secret_key: Option<&str>) -> bool {
    let redacted = redact_user_info(url);
    redacted.contains("sk-lf-")
        || secret_key
            .map(str::trim)
            .is_some_and(|secret| !secret.is_empty() && redacted.contains(secret))
}

/// `url` with anything between the scheme and an `@` replaced, so that a password in
/// it is never shown.
pub(crate) fn redact_user_info(url: &str) -> String {
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
pub(crate) const FLUSH_INTERVAL_BOUNDS: (Duration, Duration) =
    (Duration::from_millis(10), Duration::from_secs(3600));
pub(crate) const TIMEOUT_BOUNDS: (Duration, Duration) =
    (Duration::from_millis(100), Duration::from_secs(600));

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
        stderr_line!("langfuse: {w}");
        warnings.push(w);
    }
    clamped
}

/// The environment as the Langfuse server stores it (server mapping §5): lower-cased,
/// every leading `langfuse`, `langfuse-` or `langfuse_` removed, cut to 40 characters;
/// what is left must be `[a-z0-9_-]+`, otherwise the server stores `default` instead,
/// which is an error here. The reference SDK sends the client's environment unchecked;
/// this one sends the stored form, so that spans, the resource and scores (REST) carry
/// the same value the server keeps. [`environment_warning`] says when it differs.
pub(crate) fn validate_environment(env: &str) -> Result<String, ConfigError> {
    // JavaScript's toLowerCase, as the server: Unicode lower case (the Kelvin sign
    // becomes `k`).
    let lower = env.to_lowercase();
    let mut rest = lower.as_str();
    while let Some(after) = rest.strip_prefix("langfuse") {
        rest = after
            .strip_prefix('-')
            .or_else(|| after.strip_prefix('_'))
            .unwrap_or(after);
    }
    let stored: String = rest.chars().take(40).collect();
    let ok = !stored.is_empty()
        && stored
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'));
    if ok {
        Ok(stored)
    } else {
        Err(ConfigError::invalid(
            "environment",
            env,
            "the Langfuse server would store `default` instead: after lower-casing and \
             removing a leading `langfuse`, expected 1 to 40 characters of a-z, 0-9, `_`, `-`",
        ))
    }
}

/// The one warning for an environment the server will change (`Production` is stored
/// as `production`); `None` when it is kept as given.
pub(crate) fn environment_warning(given: &str, stored: &str) -> Option<String> {
    (given != stored).then(|| {
        format!(
            "environment {:?} is stored by the Langfuse server as {stored:?}; sending {stored:?}",
            given.chars().take(120).collect::<String>()
        )
    })
}
