//! The HTTP side of the export: one blocking client with the Langfuse headers, the
//! retry policy (throttling, gateway and network errors, `Retry-After`), and the
//! messages a failed request gives the user. `rest.rs` shares the TLS setup and the
//! answer helpers.

use std::io::Read as _;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::config::{ConfigError, LangfuseConfig};

/// Retries, as the OTLP exporter's recommended policy: 3, from 100 ms doubling to 1.6 s,
/// plus up to 100 ms of jitter, all within the timeout of the request.
const MAX_RETRIES: u32 = 3;
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
const MAX_RETRY_DELAY: Duration = Duration::from_millis(1600);
/// A `Retry-After` longer than this is not waited for (the timeout bounds it anyway).
const MAX_THROTTLE: Duration = Duration::from_secs(600);

/// The HTTP side: one blocking client (connections are kept alive across batches).
pub(crate) struct Transport {
    pub(crate) client: reqwest::blocking::Client,
    pub(crate) endpoint: reqwest::Url,
    /// The public key, shown when the endpoint rejects the keys (never the secret).
    pub(crate) public_key: String,
    pub(crate) timeout: Duration,
}

enum Attempt {
    Retry(Option<Duration>),
    Fail,
}

/// Why one request was not accepted: the message for the user, and whether the
/// endpoint said the body was too large (413), which the caller answers by splitting.
#[derive(Debug)]
pub(crate) struct PostError {
    pub(crate) message: String,
    pub(crate) too_large: bool,
}

impl PostError {
    pub(crate) fn new(message: String) -> Self {
        PostError {
            message,
            too_large: false,
        }
    }
}

/// A `Retry-After` value (RFC 9110 §10.2.3): a number of seconds, or an HTTP date,
/// read as the time from `now` until then (zero once it has passed). `None` for
/// anything else, which leaves the exporter's own backoff in charge.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

impl Transport {
    pub(crate) fn new(config: &LangfuseConfig) -> Result<Self, ConfigError> {
        let endpoint = config.endpoint();
        let endpoint = reqwest::Url::parse(&endpoint)
            .map_err(|e| ConfigError::other("base_url", format!("invalid endpoint: {e}")))?;
        let public_key = config.public_key.clone().unwrap_or_default();
        let secret_key = config.secret_key.as_deref().unwrap_or_default();
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("{public_key}:{secret_key}"));
        // The messages name the header, never its value (it may hold the secret key).
        let value = |name: &str, v: &str| {
            HeaderValue::from_str(v)
                .map_err(|_| ConfigError::other("header", format!("invalid value for {name:?}")))
        };
        let mut authorization = value("authorization", &format!("Basic {auth}"))?;
        authorization.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, authorization);
        let fixed = [
            ("x-langfuse-sdk-name", "rust"),
            ("x-langfuse-sdk-version", env!("CARGO_PKG_VERSION")),
            ("x-langfuse-public-key", public_key.as_str()),
            ("x-langfuse-ingestion-version", "4"),
        ];
        for (name, v) in fixed {
            headers.insert(HeaderName::from_static(name), value(name, v)?);
        }
        for (name, v) in &config.additional_headers {
            let name = name.to_ascii_lowercase();
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ConfigError::invalid("header", &name, "not a valid header name"))?;
            let mut v = value(&name, v)?;
            v.set_sensitive(true);
            headers.insert(header, v);
        }
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        // Sent with every request; the client never prints them.
        let client = reqwest::blocking::Client::builder()
            .default_headers(headers)
            .timeout(config.timeout)
            // A redirect would be followed as a GET without the body, and the page it
            // lands on would answer 200: an export is delivered only when the OTLP
            // endpoint itself accepts it, so a 3xx is a failure (see `post_once`).
            .redirect(reqwest::redirect::Policy::none());
        #[cfg(feature = "rustls")]
        let client = client.tls_backend_preconfigured(tls_config()?);
        let client = client.build().map_err(|e| {
            ConfigError::other("exporter", format!("cannot build the HTTP client: {e}"))
        })?;
        Ok(Transport {
            client,
            endpoint,
            public_key,
            timeout: config.timeout,
        })
    }

    /// POSTs one body, retrying throttling, gateway and network errors until `timeout`.
    pub(crate) fn post(&self, body: Vec<u8>, gzip: bool) -> Result<(), PostError> {
        let body = bytes::Bytes::from(body);
        let started = Instant::now();
        let mut delay = FIRST_RETRY_DELAY;
        let mut cap = MAX_RETRY_DELAY;
        let mut retries = 0;
        loop {
            let remaining = self.timeout.saturating_sub(started.elapsed());
            let (error, attempt) = match self.post_once(body.clone(), gzip, remaining) {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let wait = match attempt {
                Attempt::Retry(_) if retries >= MAX_RETRIES => return Err(error),
                Attempt::Fail => return Err(error),
                Attempt::Retry(Some(server_delay)) => {
                    // A server's Retry-After may lengthen, never shorten, the backoff.
                    let server_delay = server_delay.min(MAX_THROTTLE);
                    if server_delay > cap {
                        cap = MAX_THROTTLE;
                    }
                    delay = delay.max(server_delay);
                    delay.min(cap)
                }
                Attempt::Retry(None) => {
                    let jitter = Duration::from_millis(fastrand::u64(0..=100));
                    (delay + jitter).min(cap)
                }
            };
            if wait >= self.timeout.saturating_sub(started.elapsed()) {
                return Err(error);
            }
            std::thread::sleep(wait);
            delay = (delay * 2).min(cap);
            retries += 1;
        }
    }

    fn post_once(
        &self,
        body: bytes::Bytes,
        gzip: bool,
        timeout: Duration,
    ) -> Result<(), (PostError, Attempt)> {
        let endpoint = &self.endpoint;
        if timeout.is_zero() {
            let message = format!("export to {endpoint} timed out");
            return Err((PostError::new(message), Attempt::Fail));
        }
        let mut request = self
            .client
            .post(self.endpoint.clone())
            .timeout(timeout)
            .body(body);
        if gzip {
            request = request.header(
                reqwest::header::CONTENT_ENCODING,
                HeaderValue::from_static("gzip"),
            );
        }
        let response = request.send().map_err(|e| {
            // Never the error's text: it carries the URL, which may hold credentials.
            let what = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "cannot connect"
            } else {
                "network error"
            };
            let message = format!("export to {endpoint} failed: {what}");
            (PostError::new(message), Attempt::Retry(None))
        })?;
        let status = response.status();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let retry_after = header(reqwest::header::RETRY_AFTER)
            .and_then(|v| parse_retry_after(&v, SystemTime::now()));
        let location = header(reqwest::header::LOCATION);
        // Read the (small) answer so the connection can be reused; what it says about
        // partial success is not acted on.
        let mut answer = Vec::new();
        let _ = response.take(4 << 20).read_to_end(&mut answer);
        if status.is_success() {
            return Ok(());
        }
        let code = status.as_u16();
        let attempt = match code {
            429 | 503 => Attempt::Retry(retry_after),
            502 | 504 => Attempt::Retry(None),
            _ => Attempt::Fail,
        };
        let message = match code {
            300..=399 => format!(
                "export to {endpoint} was answered {code} redirecting to {}; redirects are \
                 not followed for exports: set the base URL to the address Langfuse answers on",
                location.as_deref().unwrap_or("(no Location)")
            ),
            401 | 403 => format!(
                "the Langfuse keys were rejected by {endpoint} (status {code}, public key \
                 {:?}): check LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY for this host",
                self.public_key
            ),
            // A server error's body may differ per request (ids, times): not shown, so
            // that a burst of them is reported once.
            500..=599 => format!("export to {endpoint} failed with status {code}"),
            _ => {
                let answer = server_answer(&answer);
                let sep = if answer.is_empty() { "" } else { ": " };
                format!("export to {endpoint} failed with status {code}{sep}{answer}")
            }
        };
        let error = PostError {
            message,
            too_large: code == 413,
        };
        Err((error, attempt))
    }
}

/// rustls with the `ring` provider and the platform's certificate verifier, passed to
/// the client as is: no process-wide crypto provider is installed or required.
#[cfg(feature = "rustls")]
pub(crate) fn tls_config() -> Result<rustls::ClientConfig, ConfigError> {
    use rustls_platform_verifier::BuilderVerifierExt as _;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_platform_verifier())
        .map(|builder| builder.with_no_client_auth())
        .map_err(|e| ConfigError::other("exporter", format!("cannot set up TLS: {e}")))
}

/// The start of a server's error answer, on one line, for the user's message.
pub(crate) fn server_answer(body: &[u8]) -> String {
    const MAX_CHARS: usize = 200;
    let text = String::from_utf8_lossy(body);
    let mut out: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(MAX_CHARS + 1)
        .collect();
    if out.chars().count() > MAX_CHARS {
        out = out.chars().take(MAX_CHARS).collect::<String>() + "...";
    }
    out
}

#[cfg(test)]
pub(crate) mod tests;
