//! An in-process fake of the OpenAI chat completions API on 127.0.0.1, run on the test's
//! tokio runtime. What it answers depends on the request's `model`:
//!
//! | model | plain (`stream` unset) | streamed (`stream: true`) |
//! |---|---|---|
//! | `fake-plain` | one message | the same message in deltas, usage last with `include_usage` |
//! | `fake-tools` | two tool calls | the same tool calls in deltas |
//! | `fake-two-choices` | two messages | (not served) |
//! | `fake-hang` | (not served) | two deltas, then the stream stays open |
//! | `fake-bad-chunk` | (not served) | a delta, an event that is not JSON, a delta |
//! | anything else | 404 with OpenAI's error object | the same |
#![allow(dead_code)]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use async_openai::config::OpenAIConfig;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};

/// The model the fake's responses name (the requests name `fake-*`).
pub const RESPONSE_MODEL: &str = "gpt-4o-mini-2024-07-18";

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Clone, Default)]
struct Requests(Arc<Mutex<Vec<Seen>>>);

/// The running fake; it stops with the runtime it was started on.
pub struct FakeOpenAI {
    base_url: String,
    requests: Requests,
}

impl FakeOpenAI {
    /// Binds 127.0.0.1 on a free port and serves on the current tokio runtime.
    pub async fn start() -> FakeOpenAI {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let requests = Requests::default();
        let app = Router::new().fallback(handle).with_state(requests.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeOpenAI {
            base_url: format!("http://{addr}/v1"),
            requests,
        }
    }

    /// A client of the fake: its base URL and a test key.
    pub fn client(&self) -> async_openai::Client<OpenAIConfig> {
        async_openai::Client::with_config(
            OpenAIConfig::new()
                .with_api_base(&self.base_url)
                .with_api_key("sk-fake"),
        )
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.requests.0.lock().unwrap().clone()
    }
}

async fn handle(
    State(requests): State<Requests>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    requests.0.lock().unwrap().push(Seen {
        path: uri.path().to_owned(),
        headers,
        body: body.clone(),
    });
    if uri.path() != "/v1/chat/completions" {
        return error(
            StatusCode::NOT_FOUND,
            "Unknown path",
            "invalid_request_error",
        );
    }
    let model = body["model"].as_str().unwrap_or_default();
    let include_usage = body["stream_options"]["include_usage"] == json!(true);
    if body["stream"] == json!(true) {
        match model {
            "fake-plain" => sse(plain_deltas(include_usage), false),
            "fake-tools" => sse(tool_deltas(), false),
            "fake-hang" => sse(plain_deltas(false)[..2].to_vec(), true),
            "fake-bad-chunk" => {
                let deltas = plain_deltas(false);
                sse(
                    vec![deltas[0].clone(), "{not json".to_owned(), deltas[1].clone()],
                    false,
                )
            }
            _ => model_not_found(model),
        }
    } else {
        match model {
            "fake-plain" => completion(vec![message("Hello! How can I help?")]),
            "fake-tools" => completion(vec![json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}
                ]
            })]),
            "fake-two-choices" => completion(vec![message("Heads."), message("Tails.")]),
            _ => model_not_found(model),
        }
    }
}

fn message(content: &str) -> Value {
    json!({"role": "assistant", "content": content, "refusal": null})
}

/// The usage both the plain and the streamed answers report.
pub fn usage() -> Value {
    json!({
        "prompt_tokens": 19,
        "completion_tokens": 7,
        "total_tokens": 26,
        "prompt_tokens_details": {"cached_tokens": 3, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 2,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0
        }
    })
}

fn completion(messages: Vec<Value>) -> Response {
    let finish = if messages[0].get("tool_calls").is_some() {
        "tool_calls"
    } else {
        "stop"
    };
    let choices: Vec<Value> = messages
        .into_iter()
        .enumerate()
        .map(|(index, message)| {
            json!({"index": index, "message": message, "logprobs": null, "finish_reason": finish})
        })
        .collect();
    let body = json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": RESPONSE_MODEL,
        "system_fingerprint": "fp_fake",
        "choices": choices,
        "usage": usage(),
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn chunk(delta: Value, finish_reason: Value) -> String {
    json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": RESPONSE_MODEL,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
    })
    .to_string()
}

/// "Hello, world!" in four deltas, then the finish, then usage if asked for.
fn plain_deltas(include_usage: bool) -> Vec<String> {
    let mut events = vec![
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        chunk(json!({"content": "Hello"}), Value::Null),
        chunk(json!({"content": ", world"}), Value::Null),
        chunk(json!({"content": "!"}), Value::Null),
        chunk(json!({}), json!("stop")),
    ];
    if include_usage {
        events.push(
            json!({
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 1_700_000_000,
                "model": RESPONSE_MODEL,
                "choices": [],
                "usage": usage(),
            })
            .to_string(),
        );
    }
    events
}

/// Two tool calls, their arguments split over several deltas.
fn tool_deltas() -> Vec<String> {
    let delta = |call: Value| chunk(json!({"tool_calls": [call]}), Value::Null);
    vec![
        chunk(json!({"role": "assistant", "content": null}), Value::Null),
        delta(
            json!({"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}),
        ),
        delta(json!({"index": 0, "function": {"arguments": "{\"city\":"}})),
        delta(json!({"index": 0, "function": {"arguments": "\"Paris\"}"}})),
        delta(
            json!({"index": 1, "id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}),
        ),
        chunk(json!({}), json!("tool_calls")),
    ]
}

/// Server-sent events: `data: <event>` each, then `data: [DONE]`, or no end at all.
fn sse(events: Vec<String>, hang: bool) -> Response {
    let events: Vec<Result<String, Infallible>> = events
        .into_iter()
        .map(|e| Ok(format!("data: {e}\n\n")))
        .collect();
    let body = if hang {
        Body::from_stream(stream::iter(events).chain(stream::pending()))
    } else {
        let done = stream::iter([Ok("data: [DONE]\n\n".to_owned())]);
        Body::from_stream(stream::iter(events).chain(done))
    };
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn model_not_found(model: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("The model `{model}` does not exist or you do not have access to it."),
        "invalid_request_error",
    )
}

fn error(status: StatusCode, message: &str, kind: &str) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": "model_not_found"}});
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
