//! The `LANGFUSE_*` environment variables (and the OpenTelemetry and CI ones the other
//! SDKs read), as [`Settings`]. An invalid value is a warning and the default is kept,
//! except the base URL: it is kept as given so that validation fails naming it.

use std::time::Duration;

use super::validate::{environment_warning, validate_environment};
use super::{Compression, ConfigError, LangfuseConfig, Settings};

/// CI variables read, in order, when no release is configured.
const RELEASE_FALLBACK_VARS: [&str; 10] = [
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

impl Settings {
    /// The configuration from these settings; with `from_env`, the variables (read
    /// through `var`) come first and every value set here overrides its variable.
    /// What was wrong with the variables is printed once on stderr and kept in
    /// [`LangfuseConfig::warnings`].
    pub(crate) fn resolve(
        self,
        from_env: bool,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<LangfuseConfig, ConfigError> {
        if !from_env {
            return self.validate();
        }
        let (env, warnings) = Settings::from_env_vars(var);
        for w in &warnings {
            stderr_line!("langfuse: {w}");
        }
        let mut config = env.merge(self).validate()?;
        config.warnings.extend(warnings);
        Ok(config)
    }

    /// Reads the settings from variables (`var` is [`process_var`] outside tests);
    /// invalid values become warnings and are skipped.
    pub(crate) fn from_env_vars(var: impl Fn(&str) -> Option<String>) -> (Self, Vec<String>) {
        let mut b = Settings::default();
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
        // A value the server would change (`Production`) is sent as the server will
        // store it, with one warning naming the variable (validation then finds it
        // unchanged); one the server would replace by `default` is ignored.
        let mut environment_changed = None;
        if let Some(env) = var("LANGFUSE_TRACING_ENVIRONMENT") {
            match validate_environment(&env) {
                Ok(stored) => {
                    environment_changed = environment_warning(&env, &stored)
                        .map(|w| format!("LANGFUSE_TRACING_ENVIRONMENT: {w}"));
                    b.environment = Some(stored);
                }
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
                // Below a nanosecond is zero: a warning, as any other bad value.
                Ok(s) if (1e-9..1e9).contains(&s) => {
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
                // Below a nanosecond is zero: a warning, as any other bad value.
                Ok(s) if (1e-9..1e9).contains(&s) => b.timeout = Some(Duration::from_secs_f64(s)),
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
        warnings.extend(environment_changed);
        (b, warnings)
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// A variable of the process, its bytes that are not UTF-8 replaced (U+FFFD): a value
/// that is not UTF-8 then fails its check, with an error for the base URL and a warning
/// for the others, instead of reading as unset (an unset base URL means the cloud
/// default: a self-hosted project's keys and data would go there).
pub(crate) fn process_var(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}
