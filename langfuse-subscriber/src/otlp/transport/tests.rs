//! The transport against scripted HTTP servers on 127.0.0.1: which answers are retried,
//! `Retry-After`, redirects, rejected keys, and TLS. [`ScriptedServer`] also serves the
//! destination's tests in `otlp/tests.rs`.

use std::io::Read as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;

/// A server (or proxy) that echoes the request in its error answer: the credentials in
/// it never reach the user's message, whatever form the echo takes.
#[test]
fn server_answers_hide_echoed_credentials() {
    let auth = base64::engine::general_purpose::STANDARD.encode("pk-lf-1:sk-lf-SECRET");
    let echoes = [
        format!(r#"{{"headers": {{"authorization": "Basic {auth}"}}}}"#),
        format!(r#"{{"authorization":["Basic {auth}"]}}"#),
        "bad credentials pk-lf-1:sk-lf-SECRET".to_owned(),
        "Authorization: Basic b3duOnNlY3JldA== rejected".to_owned(), // not a Langfuse key
        "Authorization: Bearer abc.SECRET.def".to_owned(),
    ];
    for echo in echoes {
        let shown = server_answer(echo.as_bytes());
        assert!(
            !shown.contains("SECRET") && !shown.contains(&auth),
            "{shown}"
        );
        assert!(!shown.contains("b3duOnNlY3JldA"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }
    // Nothing else is touched.
    assert_eq!(
        server_answer(b"{\"error\": \"basic validation failed\"}"),
        "{\"error\": \"basic validation failed\"}"
    );
}

#[test]
fn retry_after_is_seconds_or_an_http_date() {
    let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
    let parse = |v: &str| parse_retry_after(v, now);
    assert_eq!(parse("120"), Some(Duration::from_secs(120)));
    assert_eq!(parse(" 0 "), Some(Duration::ZERO));
    // The three date forms RFC 9110 requires recipients to accept.
    assert_eq!(
        parse("Sun, 06 Nov 1994 08:50:07 GMT"),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        parse("Sunday, 06-Nov-94 08:50:07 GMT"),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        parse("Sun Nov  6 08:50:07 1994"),
        Some(Duration::from_secs(30))
    );
    // A date already past: retry at once.
    assert_eq!(parse("Sun, 06 Nov 1994 08:00:00 GMT"), Some(Duration::ZERO));
    for bad in ["", "-1", "1.5", "soon", "Sun, 06 Nov 1994 25:00:00 GMT"] {
        assert_eq!(parse(bad), None, "{bad:?}");
    }
}

/// An HTTP/1.1 server on 127.0.0.1 that answers the requests it gets, over kept-alive
/// connections, with the given responses in turn (the last one repeated), and notes
/// when each arrived, on which connection, and its head (request line and headers).
pub(crate) struct ScriptedServer {
    pub(crate) url: String,
    arrivals: Arc<std::sync::Mutex<Vec<Arrival>>>,
}

#[derive(Clone)]
struct Arrival {
    at: SystemTime,
    connection: usize,
    head: String,
}

impl ScriptedServer {
    pub(crate) fn start(responses: Vec<String>) -> ScriptedServer {
        use std::io::{BufRead as _, BufReader, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let arrivals = Arc::new(std::sync::Mutex::new(Vec::new()));
        let noted = Arc::clone(&arrivals);
        std::thread::spawn(move || {
            for (connection, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut writer = stream;
                loop {
                    let mut length = 0;
                    let mut line = String::new();
                    let mut head = String::new();
                    let mut started = false;
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            break;
                        }
                        started = true;
                        head.push_str(&line);
                        if let Some((name, value)) = line.split_once(':') {
                            if name.eq_ignore_ascii_case("content-length") {
                                length = value.trim().parse().unwrap_or(0);
                            }
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    if !started || line != "\r\n" {
                        break;
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        break;
                    }
                    let n = {
                        let mut noted = noted.lock().expect("arrivals");
                        noted.push(Arrival {
                            at: SystemTime::now(),
                            connection,
                            head,
                        });
                        noted.len() - 1
                    };
                    let response = &responses[n.min(responses.len() - 1)];
                    if writer.write_all(response.as_bytes()).is_err() {
                        break;
                    }
                }
            }
        });
        ScriptedServer { url, arrivals }
    }

    pub(crate) fn arrivals(&self) -> Vec<SystemTime> {
        let arrivals = self.arrivals.lock().expect("arrivals");
        arrivals.iter().map(|a| a.at).collect()
    }

    /// The connection (in order of acceptance) each request came on.
    fn connections(&self) -> Vec<usize> {
        let arrivals = self.arrivals.lock().expect("arrivals");
        arrivals.iter().map(|a| a.connection).collect()
    }

    /// The request lines and headers of the requests, lower-cased.
    fn heads(&self) -> Vec<String> {
        let arrivals = self.arrivals.lock().expect("arrivals");
        arrivals
            .iter()
            .map(|a| a.head.to_ascii_lowercase())
            .collect()
    }
}

pub(crate) fn response(status: &str, extra: &str) -> String {
    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n{extra}\r\n")
}

fn transport_to(url: &str) -> Transport {
    let config = LangfuseConfig::builder()
        .public_key("pk-lf-test")
        .secret_key("sk-lf-test")
        .base_url(url)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("valid config");
    Transport::new(&config).expect("transport")
}

/// Batches go over one kept-alive connection, with the Langfuse headers (Basic auth
/// of the keys, `x-langfuse-*`, the configured extra headers, the content type, gzip
/// when compressed) and the crate's `User-Agent`.
#[test]
fn requests_carry_the_langfuse_headers_over_one_kept_alive_connection() {
    let server = ScriptedServer::start(vec![response("200 OK", "")]);
    let config = LangfuseConfig::builder()
        .public_key("pk-lf-test")
        .secret_key("sk-lf-test")
        .base_url(&server.url)
        .header("X-Extra", "yes")
        .timeout(Duration::from_secs(20))
        .build()
        .expect("valid config");
    let transport = Transport::new(&config).expect("transport");
    transport.post(b"one".to_vec(), false).expect("delivered");
    transport.post(b"two".to_vec(), true).expect("delivered");
    assert_eq!(server.connections(), vec![0, 0], "one connection, reused");
    let heads = server.heads();
    let auth = base64::engine::general_purpose::STANDARD.encode("pk-lf-test:sk-lf-test");
    for (i, head) in heads.iter().enumerate() {
        assert!(
            head.starts_with("post /api/public/otel/v1/traces http/1.1\r\n"),
            "{head}"
        );
        for expected in [
            format!("authorization: basic {}", auth.to_ascii_lowercase()),
            "x-langfuse-sdk-name: rust".to_owned(),
            format!("x-langfuse-sdk-version: {}", env!("CARGO_PKG_VERSION")),
            "x-langfuse-public-key: pk-lf-test".to_owned(),
            "x-langfuse-ingestion-version: 4".to_owned(),
            "x-extra: yes".to_owned(),
            "content-type: application/x-protobuf".to_owned(),
            "content-length: 3".to_owned(),
        ] {
            assert!(
                head.contains(&format!("{expected}\r\n")),
                "{expected} in {head}"
            );
        }
        assert!(
            head.contains(&format!(
                "user-agent: langfuse-tracing/{}\r\n",
                env!("CARGO_PKG_VERSION")
            )),
            "{head}"
        );
        assert_eq!(
            head.contains("content-encoding: gzip\r\n"),
            i == 1,
            "{head}"
        );
    }
}

/// The environment's proxy for the endpoint's scheme is used, and a host on `NO_PROXY`
/// is reached directly. (ureq tunnels through an HTTP proxy with `CONNECT` also for an
/// `http://` endpoint, where reqwest sent the absolute URL to the proxy.)
#[test]
fn requests_go_through_the_proxy_for_their_scheme_unless_no_proxy_names_the_host() {
    let proxy = ScriptedServer::start(vec![response("200 OK", "")]);
    let vars = |list: Vec<(&str, String)>| {
        ProxyEnv::from_vars(false, move |name| {
            list.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        })
    };
    let config = |base: &str| {
        LangfuseConfig::builder()
            .public_key("pk-lf-test")
            .secret_key("sk-lf-test")
            .base_url(base)
            .timeout(Duration::from_secs(20))
            .build()
            .expect("valid config")
    };
    let via_proxy = vec![
        ("HTTP_PROXY", proxy.url.clone()),
        ("HTTPS_PROXY", "http://127.0.0.1:1".to_owned()),
    ];
    let transport =
        Transport::with_proxy_env(&config("http://collector.invalid:4318"), &vars(via_proxy))
            .expect("transport");
    transport
        .post(b"body".to_vec(), false)
        .expect("delivered through the proxy");
    let heads = proxy.heads();
    assert_eq!(heads.len(), 2, "{heads:?}");
    assert!(
        heads[0].starts_with("connect collector.invalid:4318 http/1.1\r\n"),
        "{}",
        heads[0]
    );
    assert!(
        heads[1].starts_with("post /api/public/otel/v1/traces http/1.1\r\n"),
        "{}",
        heads[1]
    );

    // NO_PROXY names the collector: the proxy (a closed port) is not tried.
    let collector = ScriptedServer::start(vec![response("200 OK", "")]);
    let bypass = vec![
        ("HTTP_PROXY", "http://127.0.0.1:1".to_owned()),
        ("NO_PROXY", "localhost, 127.0.0.0/8".to_owned()),
    ];
    let transport =
        Transport::with_proxy_env(&config(&collector.url), &vars(bypass)).expect("transport");
    transport
        .post(b"body".to_vec(), false)
        .expect("delivered directly");
    assert_eq!(collector.arrivals().len(), 1);
    assert_eq!(proxy.arrivals().len(), 2, "the proxy saw nothing more");
}

#[test]
fn throttling_and_gateway_errors_are_retried_and_others_are_not() {
    // At least a second ahead (the format has whole seconds), far beyond the exporter's
    // own first backoff (100 ms plus up to 100 ms of jitter).
    let soon = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    let not_before = httpdate::parse_http_date(&soon).expect("date");
    let cases = [
        // Throttled until a date, then accepted.
        (
            vec![
                response("429 Too Many Requests", &format!("retry-after: {soon}\r\n")),
                response("200 OK", ""),
            ],
            Ok(()),
            2,
        ),
        // Unavailable with seconds, then a gateway error, then accepted.
        (
            vec![
                response("503 Service Unavailable", "retry-after: 0\r\n"),
                response("502 Bad Gateway", ""),
                response("200 OK", ""),
            ],
            Ok(()),
            3,
        ),
        // Always unavailable: three retries, then the error.
        (
            vec![response("503 Service Unavailable", "retry-after: 0\r\n")],
            Err(503),
            4,
        ),
        // A rejected request is not sent again.
        (vec![response("400 Bad Request", "")], Err(400), 1),
    ];
    for (i, (script, expected, requests)) in cases.into_iter().enumerate() {
        let server = ScriptedServer::start(script.clone());
        let transport = transport_to(&server.url);
        let got = transport
            .post(b"body".to_vec(), false)
            .map_err(|e| e.message);
        match (&got, expected) {
            (Ok(()), Ok(())) => {}
            (Err(message), Err(code)) => {
                // The message names the endpoint and the status.
                let endpoint = format!("{}/api/public/otel/v1/traces", server.url);
                assert!(
                    message.contains(&endpoint) && message.contains(&format!("status {code}")),
                    "{message}"
                );
            }
            _ => panic!("{script:?}: got {got:?}, expected {expected:?}"),
        }
        let arrivals = server.arrivals();
        assert_eq!(arrivals.len(), requests, "{script:?}");
        if i == 0 {
            // The retry waited for the server's date (not a timing measurement: an
            // earlier retry would mean the date was ignored).
            assert!(
                arrivals[1] >= not_before,
                "retried before the Retry-After date"
            );
        }
    }
}

#[test]
fn a_redirect_is_a_failed_export_naming_the_location_and_is_not_followed() {
    let server = ScriptedServer::start(vec![
        response(
            "301 Moved Permanently",
            "location: https://elsewhere.example/\r\n",
        ),
        response("200 OK", ""),
    ]);
    let transport = transport_to(&server.url);
    let error = transport
        .post(b"body".to_vec(), false)
        .expect_err("a 301 is not a delivery");
    assert!(error.message.contains("301"), "{}", error.message);
    assert!(
        error.message.contains("https://elsewhere.example/"),
        "{}",
        error.message
    );
    assert_eq!(server.arrivals().len(), 1, "no second request");
}

#[test]
fn rejected_keys_are_named_as_such_with_the_public_key_and_never_the_secret() {
    for status in ["401 Unauthorized", "403 Forbidden"] {
        let server = ScriptedServer::start(vec![response(status, "")]);
        let transport = transport_to(&server.url);
        let error = transport
            .post(b"body".to_vec(), false)
            .expect_err("rejected");
        assert!(
            error.message.contains("keys were rejected"),
            "{}",
            error.message
        );
        assert!(error.message.contains("pk-lf-test"), "{}", error.message);
        assert!(error.message.contains(&server.url), "{}", error.message);
        assert!(!error.message.contains("sk-lf-test"), "{}", error.message);
        assert_eq!(server.arrivals().len(), 1, "not retried");
    }
}

/// An `https` endpoint gets a working TLS client (ring provider, no process-wide
/// provider needed); a plain-HTTP listener then fails the handshake, reported as
/// an error naming the endpoint, never a panic.
#[cfg(feature = "rustls")]
#[test]
fn https_builds_a_tls_client_and_a_failed_handshake_is_an_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(8) {
            use std::io::Write as _;
            if let Ok(mut s) = stream {
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
            }
        }
    });
    let config = LangfuseConfig::builder()
        .public_key("pk-lf-test")
        .secret_key("sk-lf-test")
        .base_url(format!("https://127.0.0.1:{port}"))
        .timeout(Duration::from_secs(5))
        .build()
        .expect("valid config");
    let transport = Transport::new(&config).expect("a TLS client");
    let error = transport
        .post(b"body".to_vec(), false)
        .expect_err("no TLS on the other side");
    assert!(
        error.message.contains(&format!("127.0.0.1:{port}")),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("cannot connect"),
        "{}",
        error.message
    );
}

/// A refused connection is named as such (the port is closed as soon as it is known).
#[test]
fn a_refused_connection_is_a_failed_export_naming_the_endpoint() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let config = LangfuseConfig::builder()
        .public_key("pk-lf-test")
        .secret_key("sk-lf-test")
        .base_url(format!("http://127.0.0.1:{port}"))
        .timeout(Duration::from_secs(2))
        .build()
        .expect("valid config");
    let error = Transport::new(&config)
        .expect("transport")
        .post(b"body".to_vec(), false)
        .expect_err("nobody listens");
    assert!(
        error.message.contains(&format!("127.0.0.1:{port}"))
            && error.message.contains("cannot connect"),
        "{}",
        error.message
    );
    assert!(!error.message.contains("sk-lf-test"), "{}", error.message);
}
