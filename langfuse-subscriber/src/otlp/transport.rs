//! The HTTP side of the export: one blocking client (a `ureq` agent: no async runtime)
//! with the Langfuse headers, the retry policy (throttling, gateway and network errors,
//! `Retry-After`), and the messages a failed request gives the user. `rest.rs` shares
//! the agent setup (timeout, redirects, TLS) and the answer helpers.

use std::io::Read as _;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::config::{ConfigError, LangfuseConfig};

mod proxy;
pub(crate) use proxy::ProxyEnv;

/// Retries, as the OTLP exporter's recommended policy: 3, from 100 ms doubling to 1.6 s,
/// plus up to 100 ms of jitter, all within the timeout of the request.
const MAX_RETRIES: u32 = 3;
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
const MAX_RETRY_DELAY: Duration = Duration::from_millis(1600);
/// A `Retry-After` longer than this is not waited for (the timeout bounds it anyway).
const MAX_THROTTLE: Duration = Duration::from_secs(600);

/// The HTTP side: one blocking client (connections are kept alive across batches).
pub(crate) struct Transport {
    pub(crate) client: ureq::Agent,
    /// The endpoint as parsed (and normalized) at configuration time, for messages.
    pub(crate) endpoint: url::Url,
    /// The same, as the request target.
    uri: http::Uri,
    /// Sent with every request; never printed (the authorization is the secret key).
    headers: HeaderMap,
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

/// The headers of every request to Langfuse: Basic auth (marked sensitive), the SDK's
/// `x-langfuse-*` headers and the configured extra headers (sensitive too). Errors
/// name the header, never its value (it may hold the secret key).
pub(crate) fn langfuse_headers(config: &LangfuseConfig) -> Result<HeaderMap, ConfigError> {
    let public_key = config.public_key.as_deref().unwrap_or_default();
    let secret_key = config.secret_key.as_deref().unwrap_or_default();
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("{public_key}:{secret_key}"));
    let value = |name: &str, v: &str| {
        HeaderValue::from_str(v)
            .map_err(|_| ConfigError::other("header", format!("invalid value for {name:?}")))
    };
    let mut authorization = value("authorization", &format!("Basic {auth}"))?;
    authorization.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert(http::header::AUTHORIZATION, authorization);
    let fixed = [
        ("x-langfuse-sdk-name", "rust"),
        ("x-langfuse-sdk-version", env!("CARGO_PKG_VERSION")),
        ("x-langfuse-public-key", public_key),
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
    Ok(headers)
}

impl Transport {
    pub(crate) fn new(config: &LangfuseConfig) -> Result<Self, ConfigError> {
        Transport::with_proxy_env(config, &ProxyEnv::from_env())
    }

    /// [`Transport::new`] with the proxy variables `proxies`.
    pub(crate) fn with_proxy_env(
        config: &LangfuseConfig,
        proxies: &ProxyEnv,
    ) -> Result<Self, ConfigError> {
        let endpoint = config.endpoint();
        let endpoint = url::Url::parse(&endpoint)
            .map_err(|e| ConfigError::other("base_url", format!("invalid endpoint: {e}")))?;
        let uri = http::Uri::try_from(endpoint.as_str())
            .map_err(|e| ConfigError::other("base_url", format!("invalid endpoint: {e}")))?;
        let public_key = config.public_key.clone().unwrap_or_default();
        let mut headers = langfuse_headers(config)?;
        headers.insert(
            HeaderName::from_static("x-langfuse-ingestion-version"),
            HeaderValue::from_static("4"),
        );
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        let proxy = proxies.proxy_for(&endpoint).map(|(_, proxy)| proxy);
        Ok(Transport {
            client: agent(config.timeout, proxy),
            endpoint,
            uri,
            headers,
            public_key,
            timeout: config.timeout,
        })
    }

    /// POSTs one body, retrying throttling, gateway and network errors until `timeout`.
    pub(crate) fn post(&self, body: Vec<u8>, gzip: bool) -> Result<(), PostError> {
        let started = Instant::now();
        let mut delay = FIRST_RETRY_DELAY;
        let mut cap = MAX_RETRY_DELAY;
        let mut retries = 0;
        loop {
            let remaining = self.timeout.saturating_sub(started.elapsed());
            // The first try has the whole timeout: the agent's own (see `agent`).
            let limit = (retries > 0).then_some(remaining);
            let (error, attempt) = match self.post_once(&body, gzip, limit) {
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

    /// One try, within `timeout` (`None`: the agent's, the whole configured timeout).
    fn post_once(
        &self,
        body: &[u8],
        gzip: bool,
        timeout: Option<Duration>,
    ) -> Result<(), (PostError, Attempt)> {
        let endpoint = &self.endpoint;
        if timeout.is_some_and(|t| t.is_zero()) {
            let message = format!("export to {endpoint} timed out");
            return Err((PostError::new(message), Attempt::Fail));
        }
        let mut request = http::Request::new(body);
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        if gzip {
            request.headers_mut().insert(
                http::header::CONTENT_ENCODING,
                HeaderValue::from_static("gzip"),
            );
        }
        let response = send(&self.client, request, timeout).map_err(|e| {
            // Never the error's text: it may carry the URL, which may hold credentials.
            let message = format!("export to {endpoint} failed: {}", failure(&e));
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
        let retry_after = header(http::header::RETRY_AFTER)
            .and_then(|v| parse_retry_after(&v, SystemTime::now()));
        let location = header(http::header::LOCATION);
        // Read the (small) answer so the connection can be reused; what it says about
        // partial success is not acted on.
        let answer = read_answer(response);
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

/// The blocking client of the export, score and media threads: one connection pool
/// (kept alive across requests), `timeout` for a whole request (connection, sending,
/// the answer), and the answers as they are.
///
/// * A status other than 2xx is an answer, not an error, so that the caller reads its
///   headers (`Retry-After`, `Location`) and body.
/// * No redirect is followed: it would turn a POST into a GET elsewhere (without the
///   body), and the page it lands on would answer 200, while an export or score is
///   delivered only when the endpoint itself accepts it. A 3xx is returned as is.
/// * `User-Agent: langfuse-tracing/<version>` (see [`USER_AGENT`]) on every request,
///   to Langfuse and to upload URLs alike; no compressed answers asked for.
/// * `proxy` (see [`ProxyEnv`]: which one depends on the URL) or none, never ureq's
///   own reading of the environment.
/// * With the `rustls` feature: rustls with the `ring` provider, handed to the agent
///   (no process-wide crypto provider is installed, required or used), and the
///   platform's certificate verifier (the OS trust store).
///
/// A request with its own, shorter timeout (a retry, see [`send`]) shares the
/// pool; the first try of each request uses the agent's timeout, so that the TLS
/// setup built for the agent is the one kept (a request-level configuration would
/// build it again for each new connection).
/// The `User-Agent` of every request: the crate and its version.
pub(crate) const USER_AGENT: &str = concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION"));

pub(crate) fn agent(timeout: Duration, proxy: Option<ureq::Proxy>) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .proxy(proxy)
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(ureq::config::AutoHeaderValue::Provided(
            std::sync::Arc::new(USER_AGENT.to_owned()),
        ));
    #[cfg(feature = "rustls")]
    let config = config.tls_config(
        ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(ureq::tls::RootCerts::PlatformVerifier)
            .unversioned_rustls_crypto_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .build(),
    );
    config.build().new_agent()
}

/// Agents for requests to any URL: one per proxy (see [`ProxyEnv`]), made when first
/// needed, each with its own connection pool.
pub(crate) struct Agents {
    timeout: Duration,
    proxies: ProxyEnv,
    made: std::sync::Mutex<Vec<(Option<String>, ureq::Agent)>>,
}

impl Agents {
    pub(crate) fn new(timeout: Duration, proxies: ProxyEnv) -> Agents {
        Agents {
            timeout,
            proxies,
            made: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The agent for requests to `url` (a clone: it shares the pool).
    pub(crate) fn for_url(&self, url: &url::Url) -> ureq::Agent {
        let (key, proxy) = match self.proxies.proxy_for(url) {
            Some((value, proxy)) => (Some(value), Some(proxy)),
            None => (None, None),
        };
        let mut made = self
            .made
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, agent)) = made.iter().find(|(k, _)| *k == key) {
            return agent.clone();
        }
        let agent = agent(self.timeout, proxy);
        made.push((key, agent.clone()));
        agent
    }
}

/// Sends `request` with `agent`, bounded by `timeout` (`None`: the agent's timeout).
pub(crate) fn send<B: ureq::AsSendBody>(
    agent: &ureq::Agent,
    request: http::Request<B>,
    timeout: Option<Duration>,
) -> Result<http::Response<ureq::Body>, ureq::Error> {
    let request = match timeout {
        Some(timeout) => agent
            .configure_request(request)
            .timeout_global(Some(timeout))
            .build(),
        None => request,
    };
    agent.run(request)
}

/// What went wrong with a request that got no answer, for the user's message. Never
/// the error's text: it may carry the URL, which may hold credentials or a signature.
pub(crate) fn failure(error: &ureq::Error) -> &'static str {
    use std::io::ErrorKind;
    match error {
        ureq::Error::Timeout(_) => "timed out",
        ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::ConnectProxyFailed(_)
        | ureq::Error::Tls(_)
        | ureq::Error::TlsRequired => "cannot connect",
        #[cfg(feature = "rustls")]
        ureq::Error::Rustls(_) | ureq::Error::Pem(_) => "cannot connect",
        ureq::Error::Io(e) => match e.kind() {
            ErrorKind::TimedOut | ErrorKind::WouldBlock => "timed out",
            ErrorKind::ConnectionRefused
            | ErrorKind::AddrNotAvailable
            | ErrorKind::HostUnreachable
            | ErrorKind::NetworkUnreachable
            | ErrorKind::NotConnected => "cannot connect",
            // A failed TLS handshake (rustls reports it as an I/O error).
            #[cfg(feature = "rustls")]
            _ if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) => "cannot connect",
            _ => "network error",
        },
        _ => "network error",
    }
}

/// The body of an answer, at most 4 MiB of it (read so that the connection is
/// reused; an error while reading it leaves what was read).
pub(crate) fn read_answer(response: http::Response<ureq::Body>) -> Vec<u8> {
    let mut answer = Vec::new();
    let _ = response
        .into_body()
        .into_reader()
        .take(4 << 20)
        .read_to_end(&mut answer);
    answer
}

/// The start of a server's error answer, on one line, for the user's message. A server
/// (or a proxy before it) may echo the request: credentials in it are hidden (see
/// [`hides_credentials`]).
pub(crate) fn server_answer(body: &[u8]) -> String {
    const MAX_CHARS: usize = 200;
    let text = String::from_utf8_lossy(body);
    let mut after_scheme = false;
    let words: Vec<&str> = text
        .split_whitespace()
        .map(|word| {
            let hidden = (after_scheme && looks_like_a_token(word)) || hides_credentials(word);
            let bare = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
            after_scheme =
                bare.eq_ignore_ascii_case("basic") || bare.eq_ignore_ascii_case("bearer");
            if hidden {
                "[redacted]"
            } else {
                word
            }
        })
        .collect();
    let mut out: String = words.join(" ").chars().take(MAX_CHARS + 1).collect();
    if out.chars().count() > MAX_CHARS {
        out = out.chars().take(MAX_CHARS).collect::<String>() + "...";
    }
    out
}

/// A word of a server's answer that holds Langfuse credentials: a secret key
/// (`sk-lf-...`), or the base64 of `pk-lf-...:sk-lf-...` (an echoed `Authorization`
/// header; the word after `Basic`/`Bearer` is hidden too, whatever the keys look like).
fn hides_credentials(word: &str) -> bool {
    // "cGstbGYt" is the base64 of "pk-lf-", how every Basic credential of Langfuse starts.
    word.contains("sk-lf-") || word.contains("cGstbGYt")
}

/// The word after `Basic`/`Bearer` is a credential if it looks like one: 8 or more
/// token characters, not a plain lower-case word ("basic validation failed").
fn looks_like_a_token(word: &str) -> bool {
    let token = word.trim_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '='));
    let token_chars = token
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+/=-._~".contains(c));
    let lower_word = token.chars().all(|c| c.is_ascii_lowercase());
    token.len() >= 8 && token_chars && !lower_word
}

#[cfg(test)]
pub(crate) mod tests;
