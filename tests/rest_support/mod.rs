//! An in-process Langfuse REST server on 127.0.0.1 for the score and media tests.
//!
//! Every request body sent to `/api/public/scores` and `/api/public/media[/{id}]` is
//! validated against the schemas of `tests/spec/langfuse-public-api.openapi.yml`,
//! loaded here at run time (not restated by hand). The Basic auth and the Langfuse
//! headers are checked on API requests; an upload (`PUT /upload/{id}`, the URL the media
//! endpoint returns, pointing at this server) must carry none of them. Answers to score
//! requests can be scripted (202, 207, 429 with `Retry-After`, 500, 400, 401, or a
//! server that only takes the single-object form). Any other path (the OTLP endpoint)
//! is answered 200 and counted, so an example can run against this server alone.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Value};

pub const PUBLIC_KEY: &str = "pk-lf-rest";
pub const SECRET_KEY: &str = "sk-lf-rest-secret";

/// A Langfuse layer builder pointed at `server`: its keys, a 10 s timeout (a loaded test
/// machine), no console output.
pub fn layer_builder(server: &RestServer) -> langfuse_tracing::LayerBuilder {
    langfuse_tracing::LangfuseLayer::builder()
        .public_key(PUBLIC_KEY)
        .secret_key(SECRET_KEY)
        .base_url(server.base_url())
        .timeout(Duration::from_secs(10))
        .console(false)
}

/// The layer of [`layer_builder`], built.
pub fn layer(server: &RestServer) -> langfuse_tracing::LangfuseLayer {
    layer_builder(server).build().expect("valid test config")
}

/// Langfuse's public API as published (a copy of the project's
/// `shared/spec/langfuse-public-api.openapi.yml`, kept in the repository so the tests
/// run from a plain clone; `tests/scores.rs` checks the copy against the original
/// where it is present).
pub const OPENAPI: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/spec/langfuse-public-api.openapi.yml"
);

/// The OpenAPI document, parsed once per test binary.
pub fn openapi() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let text =
            std::fs::read_to_string(OPENAPI).expect("tests/spec/langfuse-public-api.openapi.yml");
        serde_yaml::from_str(&text).expect("valid YAML")
    })
}

/// The JSON schema of the request body of `method path` in the OpenAPI file.
pub fn request_schema(path: &str, method: &str) -> Value {
    openapi()["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"].clone()
}

/// Validates `value` against `schema` (the subset of JSON Schema the file uses: `$ref`,
/// `type`, `properties`, `required`, `additionalProperties`, `nullable`, `enum`,
/// `oneOf`, `items`, `format: date-time`). Unknown properties are errors unless
/// `additionalProperties` allows them, so a misspelt key is caught.
pub fn validate(value: &Value, schema: &Value, at: &str) -> Result<(), String> {
    validate_with(value, schema, at, &[])
}

/// [`validate`], allowing the top-level keys in `extra` besides the schema's.
pub fn validate_with(
    value: &Value,
    schema: &Value,
    at: &str,
    extra: &[&str],
) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/components/schemas/");
        let target = &openapi()["components"]["schemas"][name];
        assert!(!target.is_null(), "unresolved $ref {r}");
        if value.is_null() && schema.get("nullable") == Some(&Value::Bool(true)) {
            return Ok(());
        }
        return validate_with(value, target, at, extra);
    }
    if value.is_null() {
        return if schema.get("nullable") == Some(&Value::Bool(true)) || schema_is_empty(schema) {
            Ok(())
        } else {
            Err(format!("{at}: null is not allowed"))
        };
    }
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let ok = options
            .iter()
            .filter(|s| validate(value, s, at).is_ok())
            .count();
        return if ok == 1 {
            Ok(())
        } else {
            Err(format!("{at}: {value} matches {ok} of the oneOf options"))
        };
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        if !values.contains(value) {
            return Err(format!("{at}: {value} is not one of {values:?}"));
        }
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => {
            let obj = value
                .as_object()
                .ok_or_else(|| format!("{at}: expected an object, got {value}"))?;
            let props = schema.get("properties").and_then(Value::as_object);
            for req in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let req = req.as_str().unwrap_or_default();
                if !obj.contains_key(req) {
                    return Err(format!("{at}: missing required {req:?}"));
                }
            }
            let extra_ok = schema.get("additionalProperties") == Some(&Value::Bool(true));
            for (k, v) in obj {
                match props.and_then(|p| p.get(k)) {
                    Some(s) => validate(v, s, &format!("{at}.{k}"))?,
                    None if extra_ok || props.is_none() || extra.contains(&k.as_str()) => {}
                    None => return Err(format!("{at}: unknown property {k:?}")),
                }
            }
        }
        Some("array") => {
            let items = value
                .as_array()
                .ok_or_else(|| format!("{at}: expected an array, got {value}"))?;
            for (i, item) in items.iter().enumerate() {
                validate(item, &schema["items"], &format!("{at}[{i}]"))?;
            }
        }
        Some("string") => {
            let s = value
                .as_str()
                .ok_or_else(|| format!("{at}: expected a string, got {value}"))?;
            if schema.get("format").and_then(Value::as_str) == Some("date-time") && !is_rfc3339(s) {
                return Err(format!("{at}: {s:?} is not an RFC 3339 date-time"));
            }
        }
        Some("number") if !value.is_number() => {
            return Err(format!("{at}: expected a number, got {value}"));
        }
        Some("integer") if !(value.is_i64() || value.is_u64()) => {
            return Err(format!("{at}: expected an integer, got {value}"));
        }
        Some("boolean") if !value.is_boolean() => {
            return Err(format!("{at}: expected a boolean, got {value}"));
        }
        _ => {}
    }
    Ok(())
}

fn schema_is_empty(schema: &Value) -> bool {
    schema.as_object().is_some_and(|o| o.is_empty())
}

/// `2025-01-02T03:04:05.678901Z` and friends.
fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && (s.ends_with('Z') || s[19..].contains('+') || s[19..].contains('-'))
        && s[..4].bytes().all(|c| c.is_ascii_digit())
}

/// How the server answers `POST /api/public/scores`.
#[derive(Clone, Debug)]
pub enum Answer {
    /// 202 `{"message":"Accepted"}` (an array) or 200 `{"id"}` (an object).
    Accept,
    /// 207 rejecting the items whose name is this.
    RejectNamed(String),
    /// 207 listing this many errors with ids of no item of the batch (and text meant
    /// to forge log lines).
    RejectFlood(usize),
    /// 429 with `Retry-After: <secs>`.
    TooMany(u64),
    /// This status with a short JSON error.
    Status(u16),
    /// An old server: 400 for an array, 200 `{"id"}` for an object.
    OnlySingle,
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub status: u16,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// (id, POST body, uploaded bytes, PATCH body)
type MediaRecord = (String, Value, Option<Vec<u8>>, Option<Value>);

#[derive(Default)]
struct Inner {
    seen: Vec<Seen>,
    /// Scores accepted (the objects), in arrival order.
    scores: Vec<Value>,
    /// What each body or header check found wrong.
    violations: Vec<String>,
    script: VecDeque<Answer>,
    default: Option<Answer>,
    /// Media records: (id, POST body, uploaded bytes, PATCH body).
    media: Vec<MediaRecord>,
    /// How long an upload (`PUT /upload/..`) takes before it is answered.
    upload_delay: Duration,
}

#[derive(Clone, Default)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    cond: Arc<Condvar>,
    base: Arc<OnceLock<String>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

/// The server; stops when dropped.
/// An axum app served on 127.0.0.1 from a thread of its own until dropped (the REST
/// server here and the prompt server of `prompt_support`).
pub struct Served {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    /// Binds a port, builds the app with the address known, and serves it on a
    /// current-thread runtime (`workers: None`) or a multi-thread one.
    pub fn start(
        workers: Option<usize>,
        app: impl FnOnce(SocketAddr) -> Router + Send + 'static,
    ) -> Served {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let mut rt = match workers {
                None => tokio::runtime::Builder::new_current_thread(),
                Some(n) => {
                    let mut b = tokio::runtime::Builder::new_multi_thread();
                    b.worker_threads(n);
                    b
                }
            };
            let rt = rt.enable_all().build().expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind 127.0.0.1");
                let addr = listener.local_addr().expect("addr");
                let app = app(addr);
                let _ = addr_tx.send(addr);
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = stop_rx => {}
                }
            });
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server started");
        Served {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub struct RestServer {
    served: Served,
    shared: Shared,
}

impl RestServer {
    pub fn start() -> RestServer {
        let shared = Shared::default();
        let state = shared.clone();
        let served = Served::start(None, move |addr| {
            let _ = state.base.set(format!("http://{addr}"));
            Router::new()
                .fallback(handle)
                .layer(DefaultBodyLimit::disable())
                .with_state(state)
        });
        RestServer { served, shared }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.served.addr)
    }

    /// Every upload from now on is answered after `delay` (a slow object storage).
    pub fn delay_uploads(&self, delay: Duration) {
        self.shared.lock().upload_delay = delay;
    }

    /// Answers to the next score requests, in order; then `default`.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.shared.lock().script.extend(answers);
    }

    pub fn set_default(&self, answer: Answer) {
        self.shared.lock().default = Some(answer);
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.shared.lock().seen.clone()
    }

    pub fn requests_to(&self, path_prefix: &str) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|s| s.path.starts_with(path_prefix))
            .collect()
    }

    /// The scores the server accepted.
    pub fn scores(&self) -> Vec<Value> {
        self.shared.lock().scores.clone()
    }

    pub fn violations(&self) -> Vec<String> {
        self.shared.lock().violations.clone()
    }

    /// (POST body, uploaded bytes, PATCH body) of each media record.
    pub fn media(&self) -> Vec<(Value, Option<Vec<u8>>, Option<Value>)> {
        self.shared
            .lock()
            .media
            .iter()
            .map(|(_, post, bytes, patch)| (post.clone(), bytes.clone(), patch.clone()))
            .collect()
    }

    /// Waits (bounded) until `pred` holds for the requests seen.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&[Seen]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut g = self.shared.lock();
        loop {
            if pred(&g.seen) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            g = match self.shared.cond.wait_timeout(g, deadline - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Panics with the list when a request broke the schema or the header rules.
    pub fn assert_valid(&self) {
        let v = self.violations();
        assert!(v.is_empty(), "invalid requests: {v:#?}");
    }
}

fn check_api_headers(headers: &HeaderMap, violations: &mut Vec<String>, what: &str) {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{PUBLIC_KEY}:{SECRET_KEY}"))
    );
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    if get("authorization") != expected {
        violations.push(format!("{what}: wrong or missing Basic auth"));
    }
    if get("x-langfuse-public-key") != PUBLIC_KEY {
        violations.push(format!("{what}: x-langfuse-public-key missing"));
    }
    if get("x-langfuse-sdk-name").is_empty() || get("x-langfuse-sdk-version").is_empty() {
        violations.push(format!("{what}: x-langfuse-sdk-name/version missing"));
    }
}

fn json_answer(status: u16, body: Value) -> (u16, Response) {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        (
            code,
            [("content-type", HeaderValue::from_static("application/json"))],
            body.to_string(),
        )
            .into_response(),
    )
}

async fn handle(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    if path.starts_with("/upload/") {
        let delay = state.lock().upload_delay;
        tokio::time::sleep(delay).await;
    }
    let (status, response) = answer(&state, &method, &path, &headers, &body);
    let seen = Seen {
        method: method.to_string(),
        path,
        query: uri.query().unwrap_or_default().to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
        status,
    };
    state.lock().seen.push(seen);
    state.cond.notify_all();
    response
}

fn answer(
    state: &Shared,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> (u16, Response) {
    let mut g = state.lock();
    let g = &mut *g;
    let base = state.base.get().cloned().unwrap_or_default();
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if path == "/api/public/scores" && method == Method::POST {
        check_api_headers(headers, &mut g.violations, "scores");
        if !is_json {
            g.violations.push("scores: content-type is not JSON".into());
        }
        let value: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                g.violations.push(format!("scores: body is not JSON: {e}"));
                return json_answer(400, json!({"error": "invalid JSON"}));
            }
        };
        let schema = request_schema("/api/public/scores", "post");
        let items: Vec<Value> = match &value {
            Value::Array(a) => a.clone(),
            other => vec![other.clone()],
        };
        for (i, item) in items.iter().enumerate() {
            // `timestamp` is not in CreateScoreRequest, but the reference SDK 5.0.4 sends
            // it (reference §7) and the upsert rule of the updates page keys scores by
            // id and timestamp: the one key allowed beyond the schema (JSON Schema
            // allows any without `additionalProperties: false`; this check is stricter).
            if let Err(e) = validate_with(item, &schema, &format!("score[{i}]"), &["timestamp"]) {
                g.violations.push(e);
            }
        }
        let answer = g
            .script
            .pop_front()
            .or_else(|| g.default.clone())
            .unwrap_or(Answer::Accept);
        let is_array = value.is_array();
        return match answer {
            Answer::Accept | Answer::OnlySingle if !is_array => {
                let id = items[0]["id"].as_str().unwrap_or("generated").to_owned();
                g.scores.extend(items);
                json_answer(200, json!({ "id": id }))
            }
            Answer::OnlySingle => json_answer(
                400,
                json!({"message": "Invalid request data", "error": "Expected object, received array"}),
            ),
            Answer::Accept => {
                g.scores.extend(items);
                json_answer(202, json!({"message": "Accepted"}))
            }
            Answer::RejectNamed(name) => {
                let mut successes = Vec::new();
                let mut errors = Vec::new();
                for item in items {
                    let id = item["id"].as_str().unwrap_or_default().to_owned();
                    if item["name"] == json!(name) {
                        errors.push(json!({"id": id, "status": 400, "message": format!("score config mismatch for {name}"), "error": null}));
                    } else {
                        successes.push(json!({"id": id, "status": 201}));
                        g.scores.push(item);
                    }
                }
                json_answer(207, json!({"successes": successes, "errors": errors}))
            }
            Answer::RejectFlood(n) => {
                let forged = json!({"id": "x\n[INFO] all scores sent", "status": 400});
                json_answer(207, json!({"errors": vec![forged; n]}))
            }
            Answer::TooMany(secs) => {
                let (status, mut response) = json_answer(429, json!({"error": "rate limited"}));
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    response.headers_mut().insert("retry-after", v);
                }
                (status, response)
            }
            Answer::Status(code) => json_answer(code, json!({"error": format!("scripted {code}")})),
        };
    }
    if path == "/api/public/media" && method == Method::POST {
        check_api_headers(headers, &mut g.violations, "media POST");
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if let Err(e) = validate(
            &value,
            &request_schema("/api/public/media", "post"),
            "media",
        ) {
            g.violations.push(e);
        }
        let id = format!("m{}", g.media.len());
        g.media.push((id.clone(), value, None, None));
        return json_answer(
            200,
            json!({"mediaId": id, "uploadUrl": format!("{base}/upload/{id}?X-Amz-Signature=sig")}),
        );
    }
    if let Some(id) = path.strip_prefix("/upload/") {
        if method != Method::PUT {
            g.violations
                .push(format!("upload: {method} instead of PUT"));
        }
        if headers.contains_key("authorization") || headers.contains_key("x-langfuse-public-key") {
            g.violations
                .push("upload: Langfuse credentials sent to the upload URL".into());
        }
        if headers.get("content-type").is_none() {
            g.violations.push("upload: no content-type".into());
        }
        match g.media.iter_mut().find(|m| m.0 == id) {
            Some(m) => m.2 = Some(body.to_vec()),
            None => g.violations.push(format!("upload: unknown media {id}")),
        }
        return json_answer(200, json!({}));
    }
    if let Some(id) = path.strip_prefix("/api/public/media/") {
        check_api_headers(headers, &mut g.violations, "media PATCH");
        if method != Method::PATCH {
            g.violations
                .push(format!("media/{id}: {method} instead of PATCH"));
        }
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if let Err(e) = validate(
            &value,
            &request_schema("/api/public/media/{mediaId}", "patch"),
            "media patch",
        ) {
            g.violations.push(e);
        }
        match g.media.iter_mut().find(|m| m.0 == id) {
            Some(m) => m.3 = Some(value),
            None => g.violations.push(format!("patch: unknown media {id}")),
        }
        return (204, StatusCode::NO_CONTENT.into_response());
    }
    // The OTLP endpoint (or anything else): accepted.
    json_answer(200, json!({}))
}
