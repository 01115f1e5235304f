//! The small blocking REST client of the score and media workers: the span exporter's
//! credentials, headers, timeout, TLS and redirect policy (see `otlp/transport.rs`), for the JSON
//! endpoints of the Langfuse public API and for presigned upload URLs.
//!
//! The Langfuse headers (Basic auth, `x-langfuse-*`, the configured extra headers) are
//! added per API request, never as client defaults: a presigned upload URL points at
//! object storage and must not receive the keys. Messages name the URL without its
//! query (a presigned URL's signature) and never the secret key.

use std::time::{Duration, Instant, SystemTime};

use http::header::{HeaderMap, HeaderValue};
use http::Method;

use crate::config::{ConfigError, LangfuseConfig};
use crate::otlp::transport::{
    failure, parse_retry_after, read_answer, server_answer, Agents, ProxyEnv,
};

/// Tries of one request (the first and two retries), as the reference SDK's REST client.
const MAX_TRIES: u32 = 3;
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(300);

/// One answer from the server.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    pub(crate) retry_after: Option<Duration>,
}

impl Answer {
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The start of the body on one line (for messages).
    pub(crate) fn text(&self) -> String {
        server_answer(&self.body)
    }
}

/// The REST side: one blocking client per proxy (connections kept alive).
pub(crate) struct RestClient {
    agents: Agents,
    base: String,
    api_headers: HeaderMap,
    public_key: String,
    pub(crate) timeout: Duration,
}

impl std::fmt::Debug for RestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No headers: they hold the secret key.
        f.debug_struct("RestClient")
            .field("base", &self.base)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Builds a client for `config` and starts thread `name` running `work` with it. A
/// configuration error comes back to the caller. (The client has no async runtime: it
/// may be built and dropped anywhere, also inside `#[tokio::main]`.)
pub(crate) fn spawn_with_client(
    name: &str,
    config: &LangfuseConfig,
    work: impl FnOnce(RestClient) + Send + 'static,
) -> Result<std::thread::JoinHandle<()>, ConfigError> {
    let client = RestClient::new(config)?;
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || work(client))
        .map_err(|e| ConfigError::other("rest", format!("cannot start {name}: {e}")))
}

impl RestClient {
    pub(crate) fn new(config: &LangfuseConfig) -> Result<RestClient, ConfigError> {
        let base = config.base_url.trim_end_matches('/').to_owned();
        url::Url::parse(&base)
            .map_err(|e| ConfigError::other("base_url", format!("invalid base URL: {e}")))?;
        let public_key = config.public_key.clone().unwrap_or_default();
        let headers = crate::otlp::transport::langfuse_headers(config)?;
        Ok(RestClient {
            // As for exports: no redirects (one would turn the POST into a GET
            // elsewhere), statuses returned as answers, the same TLS.
            agents: Agents::new(config.timeout, ProxyEnv::from_env()),
            base,
            api_headers: headers,
            public_key,
            timeout: config.timeout,
        })
    }

    /// `{base}/{path}` with one slash.
    pub(crate) fn api_url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    /// The base URL (identifies the server, e.g. for the remembered score form).
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// One request to the Langfuse API with a JSON body, within `timeout` (`None`: the
    /// configured timeout).
    pub(crate) fn api_once(
        &self,
        method: Method,
        path: &str,
        json: Option<&[u8]>,
        timeout: Option<Duration>,
    ) -> Result<Answer, String> {
        let url = self.api_url(path);
        let mut headers = self.api_headers.clone();
        match json {
            Some(body) => {
                headers.insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                self.send(method, &url, headers, body, timeout)
            }
            None => self.send(method, &url, headers, (), timeout),
        }
    }

    /// One request to the API, retried on 429 (after `Retry-After`), 5xx and network
    /// errors: at most three tries, all within the configured timeout.
    pub(crate) fn api(
        &self,
        method: Method,
        path: &str,
        json: Option<Vec<u8>>,
    ) -> Result<Answer, String> {
        with_retries(self.timeout, |timeout| {
            self.api_once(method.clone(), path, json.as_deref(), timeout)
        })
    }

    /// A `PUT` of bytes to a presigned upload URL: no Langfuse headers.
    pub(crate) fn upload(
        &self,
        url: &str,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<Answer, String> {
        with_retries(self.timeout, |timeout| {
            self.send(Method::PUT, url, headers.clone(), body.as_slice(), timeout)
        })
    }

    /// One request, its answer read (at most 4 MiB of the body).
    fn send(
        &self,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: impl ureq::AsSendBody,
        timeout: Option<Duration>,
    ) -> Result<Answer, String> {
        // Never the error's text: it carries the URL (a presigned one has a signature).
        let failed = |what: &str| format!("request to {} failed: {what}", display_url(url));
        let (url, uri) = request_target(url).ok_or_else(|| failed("network error"))?;
        let mut request = http::Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        let agent = self.agents.for_url(&url);
        let response = crate::otlp::transport::send(&agent, request, timeout)
            .map_err(|e| failed(failure(&e)))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body = read_answer(response);
        Ok(Answer {
            status,
            body,
            retry_after,
        })
    }

    /// The message for a request the server did not accept.
    pub(crate) fn refusal(&self, url: &str, answer: &Answer) -> String {
        let url = display_url(url);
        let code = answer.status;
        match code {
            401 | 403 => format!(
                "the Langfuse keys were rejected by {url} (status {code}, public key {:?}): \
                 check LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY for this host; the server \
                 answered: {}",
                self.public_key,
                answer.text()
            ),
            300..=399 => format!("{url} answered {code} (a redirect); redirects are not followed"),
            // A server error's body may differ per request: not shown, so that a burst
            // of them is reported once.
            500..=599 => format!("{url} failed with status {code}"),
            _ => {
                let text = answer.text();
                let sep = if text.is_empty() { "" } else { ": " };
                format!("{url} answered status {code}{sep}{text}")
            }
        }
    }
}

/// The request target for `url`, parsed as a URL first (as a browser would: an
/// international host in punycode, percent-encoding what needs it, no fragment).
fn request_target(url: &str) -> Option<(url::Url, http::Uri)> {
    let mut url = url::Url::parse(url).ok()?;
    url.set_fragment(None);
    let uri = http::Uri::try_from(url.as_str()).ok()?;
    Some((url, uri))
}

/// Scheme, host and path of a URL: no user info, no query (a signature), no fragment.
pub(crate) fn display_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "<invalid URL>".to_owned(),
    }
}

/// Runs `attempt` until it is answered with neither 429 nor 5xx, at most [`MAX_TRIES`]
/// times and within `budget`. Returns the last answer or error. `attempt` is given the
/// time left, or `None` on the first try (the whole budget, the client's own timeout).
pub(crate) fn with_retries(
    budget: Duration,
    mut attempt: impl FnMut(Option<Duration>) -> Result<Answer, String>,
) -> Result<Answer, String> {
    let started = Instant::now();
    let mut delay = FIRST_RETRY_DELAY;
    let mut tries = 0;
    loop {
        let remaining = budget.saturating_sub(started.elapsed());
        let limit = (tries > 0).then(|| remaining.max(Duration::from_millis(1)));
        let result = attempt(limit);
        tries += 1;
        let retry_after = match &result {
            Ok(a) if a.status == 429 || a.status >= 500 => a.retry_after,
            Ok(_) => return result,
            Err(_) => None,
        };
        if tries >= MAX_TRIES {
            return result;
        }
        let jitter = Duration::from_millis(fastrand::u64(0..=100));
        let wait = retry_after.unwrap_or(delay + jitter);
        if wait >= budget.saturating_sub(started.elapsed()) {
            return result;
        }
        std::thread::sleep(wait);
        delay *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_query_or_credentials() {
        assert_eq!(
            display_url("http://u:p@127.0.0.1:9/up?X-Amz-Signature=abc#f"),
            "http://127.0.0.1:9/up"
        );
        assert_eq!(display_url("::"), "<invalid URL>");
    }

    #[test]
    fn request_targets_are_urls_as_a_browser_sends_them() {
        let target = |u: &str| request_target(u).map(|(_, u)| u.to_string());
        // A presigned URL is sent as given.
        let s3 = "https://b.s3.amazonaws.com/k/a%2Fb?X-Amz-Signature=ab%2B&X-Amz-Date=1";
        assert_eq!(target(s3).as_deref(), Some(s3));
        // What a URL may hold but a request line may not is encoded.
        assert_eq!(
            target("http://Bücher.example:80/a b/ä?q=x y|{z}^#frag").as_deref(),
            Some("http://xn--bcher-kva.example/a%20b/%C3%A4?q=x%20y|{z}^")
        );
        assert_eq!(target("not a url"), None);
    }

    #[test]
    fn retries_stop_at_three_tries_and_on_success() {
        let mut n = 0;
        let r = with_retries(Duration::from_secs(30), |_| {
            n += 1;
            Ok(Answer {
                status: 503,
                body: Vec::new(),
                retry_after: Some(Duration::from_millis(1)),
            })
        });
        assert_eq!(n, 3);
        assert_eq!(r.unwrap().status, 503);
        let mut n = 0;
        let r = with_retries(Duration::from_secs(30), |_| {
            n += 1;
            Ok(Answer {
                status: 400,
                body: Vec::new(),
                retry_after: None,
            })
        });
        assert_eq!((n, r.unwrap().status), (1, 400));
    }

    #[test]
    fn a_retry_after_beyond_the_budget_is_not_waited_for() {
        let mut n = 0;
        let r = with_retries(Duration::from_millis(200), |_| {
            n += 1;
            Ok(Answer {
                status: 429,
                body: Vec::new(),
                retry_after: Some(Duration::from_secs(60)),
            })
        });
        assert_eq!((n, r.unwrap().status), (1, 429));
    }
}
