//! An in-process Langfuse prompt server on 127.0.0.1 for the prompt tests.
//!
//! It keeps prompt versions as the server does (`latest` on the newest version, labels
//! unique across versions, `production` by default), answers
//! `GET /api/public/v2/prompts/{name}?version|label`, `POST /api/public/v2/prompts` and
//! `PATCH /api/public/v2/prompts/{name}/versions/{version}`, and checks every request
//! body and every prompt it serves against the schemas of
//! `tests/spec/langfuse-public-api.openapi.yml` (via `rest_support`, with `allOf`
//! resolved here). Requests are counted; answers can be made to fail (a status for the
//! next N requests, or all) or to wait at a gate until the test opens it (to hold a
//! background refresh in flight while other calls arrive).
#![allow(dead_code)]

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::rest_support::{openapi, request_schema, validate, Served};

pub const PUBLIC_KEY: &str = "pk-lf-prompts";
pub const SECRET_KEY: &str = "sk-lf-prompts-secret";

/// `schema` with `$ref` and `allOf` resolved into one object schema (properties and
/// required merged), `oneOf` options resolved each.
pub fn resolve(schema: &Value) -> Value {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/components/schemas/");
        return resolve(&openapi()["components"]["schemas"][name]);
    }
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        return json!({"oneOf": options.iter().map(resolve).collect::<Vec<_>>()});
    }
    let Some(parts) = schema.get("allOf").and_then(Value::as_array) else {
        return schema.clone();
    };
    let mut props = Map::new();
    let mut required: Vec<Value> = Vec::new();
    let mut merge = |s: &Value| {
        if let Some(p) = s.get("properties").and_then(Value::as_object) {
            for (k, v) in p {
                props.insert(k.clone(), v.clone());
            }
        }
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !required.contains(r) {
                required.push(r.clone());
            }
        }
    };
    merge(schema);
    for part in parts {
        merge(&resolve(part));
    }
    json!({"type": "object", "properties": props, "required": required})
}

/// Validates against a schema that may use `allOf` (the `Prompt` family): exactly one
/// `oneOf` option must match.
pub fn validate_resolved(value: &Value, schema: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(schema);
    match schema.get("oneOf").and_then(Value::as_array) {
        Some(options) => {
            let errors: Vec<String> = options
                .iter()
                .filter_map(|o| validate(value, o, at).err())
                .collect();
            if options.len() - errors.len() == 1 {
                Ok(())
            } else {
                Err(format!(
                    "{at}: {value} matches {} of the oneOf options ({errors:?})",
                    options.len() - errors.len()
                ))
            }
        }
        None => validate(value, &schema, at),
    }
}

pub fn prompt_schema() -> Value {
    json!({"$ref": "#/components/schemas/Prompt"})
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Value,
    pub status: u16,
    pub user_agent: Option<String>,
}

#[derive(Default)]
struct Inner {
    /// Every stored version (the `Prompt` JSON).
    versions: Vec<Value>,
    seen: Vec<Seen>,
    violations: Vec<String>,
    /// Answer the next N GETs with this status (N = u32::MAX: all).
    fail: Option<(u16, u32)>,
    gate_closed: bool,
    /// Requests waiting at the gate.
    waiting: usize,
}

#[derive(Clone, Default)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    cond: Arc<Condvar>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The server; stops when dropped.
pub struct PromptServer {
    served: Served,
    shared: Shared,
}

impl PromptServer {
    pub fn start() -> PromptServer {
        let shared = Shared::default();
        let state = shared.clone();
        let served = Served::start(Some(2), move |_| {
            Router::new().fallback(handle).with_state(state)
        });
        PromptServer { served, shared }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.served.addr)
    }

    /// Stores a version as a create request would (`CreatePromptRequest` body).
    pub fn add(&self, create_request: Value) -> Value {
        let mut g = self.shared.lock();
        create(&mut g, create_request)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.shared.lock().seen.clone()
    }

    /// GETs of prompt `name` (decoded) seen so far.
    pub fn gets_of(&self, name: &str) -> usize {
        let encoded = format!("/api/public/v2/prompts/{}", encode(name));
        self.shared
            .lock()
            .seen
            .iter()
            .filter(|s| s.method == "GET" && s.path == encoded)
            .count()
    }

    /// The next `n` GETs (u32::MAX: all) are answered with `status`.
    pub fn fail_next(&self, status: u16, n: u32) {
        self.shared.lock().fail = Some((status, n));
    }

    pub fn heal(&self) {
        self.shared.lock().fail = None;
    }

    /// Requests wait until [`open_gate`](Self::open_gate).
    pub fn close_gate(&self) {
        self.shared.lock().gate_closed = true;
    }

    pub fn open_gate(&self) {
        self.shared.lock().gate_closed = false;
        self.shared.cond.notify_all();
    }

    /// Requests waiting at the gate now.
    pub fn waiting(&self) -> usize {
        self.shared.lock().waiting
    }

    /// Waits (bounded) until `pred` holds.
    pub fn wait_until(&self, timeout: Duration, pred: impl Fn(&PromptServer) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if pred(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        pred(self)
    }

    pub fn assert_valid(&self) {
        let v = self.shared.lock().violations.clone();
        assert!(v.is_empty(), "invalid requests or answers: {v:#?}");
    }
}

impl Drop for PromptServer {
    fn drop(&mut self) {
        // A request held at the gate would keep the server from stopping (`served`
        // stops and joins it when it is dropped, after this).
        self.open_gate();
    }
}

pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| decode(v))
    })
}

/// A new version from a create request, stored; `latest` and the given labels move to it.
fn create(g: &mut Inner, req: Value) -> Value {
    let name = req["name"].as_str().unwrap_or_default().to_owned();
    let version = g
        .versions
        .iter()
        .filter(|v| v["name"] == json!(name))
        .filter_map(|v| v["version"].as_i64())
        .max()
        .unwrap_or(0)
        + 1;
    let mut labels: Vec<String> = req["labels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str().map(str::to_owned))
        .collect();
    labels.push("latest".to_owned());
    take_labels(g, &name, &labels);
    let kind = if req["prompt"].is_array() {
        "chat"
    } else {
        "text"
    };
    let prompt = match &req["prompt"] {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|m| {
                    let mut m = m.clone();
                    if m.get("type").is_none() {
                        m["type"] = json!(if m.get("role").is_some() {
                            "chatmessage"
                        } else {
                            "placeholder"
                        });
                    }
                    m
                })
                .collect(),
        ),
        other => other.clone(),
    };
    let stored = json!({
        "type": kind,
        "name": name,
        "version": version,
        "prompt": prompt,
        "config": req.get("config").cloned().unwrap_or(json!({})),
        "labels": labels,
        "tags": req.get("tags").cloned().filter(|t| !t.is_null()).unwrap_or(json!([])),
        "commitMessage": req.get("commitMessage").cloned().unwrap_or(Value::Null),
    });
    g.versions.push(stored.clone());
    stored
}

/// Removes `labels` from every version of `name` (labels are unique across versions).
fn take_labels(g: &mut Inner, name: &str, labels: &[String]) {
    for v in g.versions.iter_mut().filter(|v| v["name"] == json!(name)) {
        if let Some(list) = v["labels"].as_array_mut() {
            list.retain(|l| !labels.iter().any(|x| l == x));
        }
    }
}

fn json_answer(status: u16, body: Value) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        code,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn check_auth(headers: &HeaderMap, violations: &mut Vec<String>, what: &str) {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{PUBLIC_KEY}:{SECRET_KEY}"))
    );
    let got = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if got != expected {
        violations.push(format!("{what}: wrong or missing Basic auth"));
    }
}

async fn handle(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The gate: wait (off the runtime's threads) until it opens.
    {
        let shared = state.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let mut g = shared.lock();
            if g.gate_closed {
                g.waiting += 1;
                let deadline = Instant::now() + Duration::from_secs(60);
                while g.gate_closed && Instant::now() < deadline {
                    g = match shared.cond.wait_timeout(g, Duration::from_millis(50)) {
                        Ok((g, _)) => g,
                        Err(p) => p.into_inner().0,
                    };
                }
                g.waiting -= 1;
            }
        })
        .await;
    }
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or_default().to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut g = state.lock();
    let (status, answer) = answer(&mut g, &method, &path, &query, &headers, &body);
    if (200..300).contains(&status) {
        if let Err(e) = validate_resolved(&answer, &prompt_schema(), "answer") {
            g.violations.push(e);
        }
    }
    g.seen.push(Seen {
        method: method.to_string(),
        path,
        query,
        body,
        status,
        user_agent: headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    });
    json_answer(status, answer)
}

fn answer(
    g: &mut Inner,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &Value,
) -> (u16, Value) {
    let Some(rest) = path.strip_prefix("/api/public/v2/prompts") else {
        return (404, json!({"error": "not found"}));
    };
    check_auth(headers, &mut g.violations, path);
    if rest.is_empty() && method == Method::POST {
        let schema = request_schema("/api/public/v2/prompts", "post");
        if let Err(e) = validate_resolved(body, &schema, "create") {
            g.violations.push(e);
            return (400, json!({"error": "invalid body"}));
        }
        return (200, create(g, body.clone()));
    }
    let rest = rest.trim_start_matches('/');
    let segments: Vec<&str> = rest.split('/').collect();
    match (method, segments.as_slice()) {
        (&Method::GET, [name]) => {
            if let Some((status, n)) = g.fail {
                g.fail = match n {
                    u32::MAX => Some((status, n)),
                    1 => None,
                    n => Some((status, n - 1)),
                };
                return (status, json!({"error": format!("scripted {status}")}));
            }
            let name = decode(name);
            let version = query_param(query, "version").and_then(|v| v.parse::<i64>().ok());
            let label = query_param(query, "label");
            if version.is_some() && label.is_some() {
                return (400, json!({"error": "version and label"}));
            }
            let label = label.unwrap_or_else(|| "production".to_owned());
            let found = g.versions.iter().find(|v| {
                v["name"] == json!(name)
                    && match version {
                        Some(n) => v["version"] == json!(n),
                        None => v["labels"]
                            .as_array()
                            .is_some_and(|l| l.contains(&json!(label))),
                    }
            });
            match found {
                Some(v) => (200, v.clone()),
                None => (
                    404,
                    json!({"error": "LangfuseNotFoundError", "message": "Prompt not found"}),
                ),
            }
        }
        (&Method::PATCH, [name, "versions", version]) => {
            let name = decode(name);
            let schema =
                request_schema("/api/public/v2/prompts/{name}/versions/{version}", "patch");
            if let Err(e) = validate(body, &schema, "patch") {
                g.violations.push(e);
                return (400, json!({"error": "invalid body"}));
            }
            let Ok(version) = version.parse::<i64>() else {
                return (400, json!({"error": "version"}));
            };
            let new: Vec<String> = body["newLabels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l.as_str().map(str::to_owned))
                .filter(|l| l != "latest")
                .collect();
            take_labels(g, &name, &new);
            let Some(v) = g
                .versions
                .iter_mut()
                .find(|v| v["name"] == json!(name) && v["version"] == json!(version))
            else {
                return (404, json!({"error": "not found"}));
            };
            let keep_latest = v["labels"]
                .as_array()
                .is_some_and(|l| l.contains(&json!("latest")));
            let mut labels = new;
            if keep_latest {
                labels.push("latest".to_owned());
            }
            v["labels"] = json!(labels);
            (200, v.clone())
        }
        _ => (405, json!({"error": "method not allowed"})),
    }
}
