//! `langfuse_tracing::openai` end to end: an `async-openai` client talks to the
//! in-process fake OpenAI API (`fake/`), the real `LangfuseLayer` exports to the
//! in-process OTLP receiver (`tests/support`), and the assertions read the decoded
//! protobuf attributes.

#[path = "../../support/mod.rs"]
mod support;

mod fake;

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_openai::config::{Config, OpenAIConfig};
use async_openai::error::OpenAIError;
use async_openai::traits::RequestOptionsBuilder;
use async_openai::types::chat::{
    ChatCompletionRequestSystemMessageArgs, ChatCompletionRequestUserMessageArgs,
    ChatCompletionStreamOptions, ChatCompletionToolChoiceOption, ChatCompletionTools,
    CreateChatCompletionRequest, CreateChatCompletionRequestArgs, FunctionObjectArgs,
    ToolChoiceOptions,
};
use fake::{FakeOpenAI, RESPONSE_MODEL};
use futures_util::StreamExt;
use langfuse_tracing::attributes::{
    OBSERVATION_COMPLETION_START_TIME as COMPLETION_START, OBSERVATION_COST_DETAILS as COST,
    OBSERVATION_INPUT as INPUT, OBSERVATION_LEVEL as LEVEL, OBSERVATION_MODEL as MODEL,
    OBSERVATION_MODEL_PARAMETERS as PARAMETERS, OBSERVATION_OUTPUT as OUTPUT,
    OBSERVATION_STATUS_MESSAGE as STATUS, OBSERVATION_TYPE as TYPE,
    OBSERVATION_USAGE_DETAILS as USAGE,
};
use langfuse_tracing::observation::generation;
use langfuse_tracing::observe;
use langfuse_tracing::openai::{Observed, DEFAULT_GENERATION_NAME};
use serde_json::{json, Value};
use support::{CapturedSpan, Receiver};

const FINISH_REASON: &str = "langfuse.observation.metadata.finish_reason";
const OTEL_STATUS_ERROR: i32 = 2;

/// Runs `test` on a tokio runtime, with the fake OpenAI API started on it and a
/// Langfuse layer exporting to an OTLP receiver; returns the receiver, flushed, and
/// the requests the fake received.
fn capture<F, Fut>(test: F) -> (Receiver, Vec<fake::Seen>)
where
    F: FnOnce(Observed<OpenAIConfig>) -> Fut,
    Fut: Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let fake = rt.block_on(FakeOpenAI::start());
    let client = Observed::new(fake.client());
    let (receiver, _) = support::capture(|| rt.block_on(test(client)));
    let seen = fake.requests();
    rt.shutdown_timeout(Duration::from_secs(1));
    (receiver, seen)
}

/// An attribute holding JSON, parsed.
fn json_attr(span: &CapturedSpan, key: &str) -> Value {
    let text = span
        .str_attr(key)
        .unwrap_or_else(|| panic!("no {key} on {:?}: {:#?}", span.name, span.attributes));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{key} is not JSON ({e}): {text}"))
}

/// The generation is a child of the observation that made the call, in its trace.
fn assert_child_of(generation: &CapturedSpan, parent: &CapturedSpan) {
    assert_eq!(
        generation.parent_span_id.as_deref(),
        Some(parent.span_id.as_str())
    );
    assert_eq!(generation.trace_id, parent.trace_id);
}

fn messages() -> Vec<async_openai::types::chat::ChatCompletionRequestMessage> {
    vec![
        ChatCompletionRequestSystemMessageArgs::default()
            .content("You are terse.")
            .build()
            .unwrap()
            .into(),
        ChatCompletionRequestUserMessageArgs::default()
            .content("Say hello.")
            .build()
            .unwrap()
            .into(),
    ]
}

fn request(model: &str) -> CreateChatCompletionRequest {
    CreateChatCompletionRequestArgs::default()
        .model(model)
        .messages(messages())
        .build()
        .unwrap()
}

/// The messages of [`messages`] as OpenAI's API takes them.
fn messages_json() -> Value {
    json!([
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Say hello."}
    ])
}

/// The two tool calls of `fake-tools`, plain or streamed.
fn tool_calls_message() -> Value {
    let call = |id: &str, city: &str| json!({"id": id, "type": "function", "function": {"name": "get_weather", "arguments": format!("{{\"city\":\"{city}\"}}")}});
    json!({"role": "assistant", "tool_calls": [call("call_1", "Paris"), call("call_2", "Rome")]})
}

fn expected_usage() -> Value {
    json!({
        "prompt_tokens": 19,
        "completion_tokens": 7,
        "total_tokens": 26,
        "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 3},
        "completion_tokens_details": {
            "accepted_prediction_tokens": 0,
            "audio_tokens": 0,
            "reasoning_tokens": 2,
            "rejected_prediction_tokens": 0
        }
    })
}

/// A generation that answered `content` to [`messages`], with the fake's model and usage
/// (the model the response names, more precise than the request's).
fn assert_answered(g: &CapturedSpan, content: &str) {
    assert_eq!(g.str_attr(TYPE), Some("generation"));
    assert_eq!(g.str_attr(MODEL), Some(RESPONSE_MODEL));
    assert_eq!(json_attr(g, INPUT), messages_json());
    assert_eq!(
        json_attr(g, OUTPUT),
        json!({"role": "assistant", "content": content})
    );
    assert_eq!(json_attr(g, USAGE), expected_usage());
    assert_eq!(g.str_attr(FINISH_REASON), Some("\"stop\""));
    assert_eq!(g.str_attr(LEVEL), None);
    assert_ne!(g.status_code, OTEL_STATUS_ERROR);
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// Unix nanoseconds as the layer writes timestamps (`2025-01-02T03:04:05.678901Z`).
fn iso8601(unix_nanos: u64) -> String {
    langfuse_tracing::langfuse_tracing_core::__layer::time::iso8601(
        UNIX_EPOCH + Duration::from_nanos(unix_nanos),
    )
}

#[observe(capture_input = false)]
async fn answer(client: &Observed<OpenAIConfig>, request: CreateChatCompletionRequest) -> String {
    let response = client.chat().create(request).await.expect("completion");
    response.choices[0]
        .message
        .content
        .clone()
        .unwrap_or_default()
}

#[test]
fn a_chat_completion_is_a_generation_under_the_current_observation() {
    let (otlp, seen) = capture(|client| async move {
        #[allow(deprecated)] // `max_tokens` and `seed`: still sent, so still recorded
        let request = CreateChatCompletionRequestArgs::default()
            .model("fake-plain")
            .messages(messages())
            .temperature(0.2)
            .top_p(0.9)
            .max_completion_tokens(50u32)
            .frequency_penalty(0.5)
            .presence_penalty(-0.25)
            .seed(7)
            .stop(["\n\n", "END"])
            .build()
            .unwrap();
        assert_eq!(answer(&client, request).await, "Hello! How can I help?");
    });
    assert_eq!(otlp.spans().len(), 2);
    let parent = otlp.span_named("answer");
    let g = otlp.span_named(DEFAULT_GENERATION_NAME);
    assert_child_of(&g, &parent);
    assert_answered(&g, "Hello! How can I help?");
    assert_eq!(
        json_attr(&g, PARAMETERS),
        json!({
            "temperature": 0.2,
            "top_p": 0.9,
            "max_completion_tokens": 50,
            "frequency_penalty": 0.5,
            "presence_penalty": -0.25,
            "seed": 7,
            "stop": ["\n\n", "END"]
        })
    );
    assert_eq!(g.str_attr(COMPLETION_START), None, "not streamed");
    // The generation covers the call, inside its parent.
    assert!(parent.start_time_unix_nano <= g.start_time_unix_nano);
    assert!(g.start_time_unix_nano < g.end_time_unix_nano);
    assert!(g.end_time_unix_nano <= parent.end_time_unix_nano);
    // The request reached the API as the caller wrote it.
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(seen[0].body["messages"], messages_json());
    assert_eq!(seen[0].body["seed"], json!(7));
    assert_eq!(seen[0].body.get("stream"), None);
}

#[test]
fn offered_tools_join_the_input_and_tool_calls_are_the_output() {
    let (otlp, _) = capture(|client| async move {
        let tool = ChatCompletionTools::Function(async_openai::types::chat::ChatCompletionTool {
            function: FunctionObjectArgs::default()
                .name("get_weather")
                .description("The weather in a city")
                .parameters(json!({
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"]
                }))
                .build()
                .unwrap(),
        });
        let request = CreateChatCompletionRequestArgs::default()
            .model("fake-tools")
            .messages(messages())
            .tools(vec![tool])
            .tool_choice(ChatCompletionToolChoiceOption::Mode(
                ToolChoiceOptions::Auto,
            ))
            .parallel_tool_calls(true)
            .build()
            .unwrap();
        let response = client.chat().create(request).await.unwrap();
        assert_eq!(
            response.choices[0]
                .message
                .tool_calls
                .as_ref()
                .unwrap()
                .len(),
            2
        );
    });
    let g = otlp.span_named(DEFAULT_GENERATION_NAME);
    assert_eq!(g.parent_span_id, None, "no current observation: a root");
    assert_eq!(
        json_attr(&g, INPUT),
        json!({
            "messages": messages_json(),
            "tools": [{
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "The weather in a city",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"]
                    }
                }
            }],
            "tool_choice": "auto"
        })
    );
    assert_eq!(
        json_attr(&g, PARAMETERS),
        json!({"parallel_tool_calls": true})
    );
    assert_eq!(json_attr(&g, OUTPUT), tool_calls_message());
    assert_eq!(g.str_attr(FINISH_REASON), Some("\"tool_calls\""));
}

#[test]
fn several_choices_are_an_array_of_messages() {
    let (otlp, _) = capture(|client| async move {
        let mut request = request("fake-two-choices");
        request.n = Some(2);
        client.chat().create(request).await.unwrap();
    });
    let g = otlp.span_named(DEFAULT_GENERATION_NAME);
    assert_eq!(json_attr(&g, PARAMETERS), json!({"n": 2}));
    assert_eq!(
        json_attr(&g, OUTPUT),
        json!([
            {"role": "assistant", "content": "Heads."},
            {"role": "assistant", "content": "Tails."}
        ])
    );
    assert_eq!(g.str_attr(FINISH_REASON), None, "one per choice: none");
}

#[test]
fn an_api_error_is_an_error_generation_with_the_request() {
    let (otlp, _) = capture(|client| async move {
        langfuse_tracing::observation::span("handler")
            .run_async(|_| async move {
                let error = client
                    .chat()
                    .create(request("gpt-missing"))
                    .await
                    .unwrap_err();
                match error {
                    OpenAIError::ApiError(e) => assert_eq!(e.status_code.as_u16(), 404),
                    other => panic!("not an API error: {other:?}"),
                }
            })
            .await;
    });
    let g = otlp.span_named(DEFAULT_GENERATION_NAME);
    assert_child_of(&g, &otlp.span_named("handler"));
    assert_eq!(g.str_attr(LEVEL), Some("ERROR"));
    assert_eq!(g.status_code, OTEL_STATUS_ERROR);
    let status = g.str_attr(STATUS).expect("status message");
    assert!(
        status.contains("404")
            && status.contains("The model `gpt-missing` does not exist")
            && status.contains("model_not_found"),
        "{status}"
    );
    assert_eq!(g.str_attr(MODEL), Some("gpt-missing"), "the request's");
    assert_eq!(json_attr(&g, INPUT), messages_json());
    assert_eq!(g.str_attr(OUTPUT), None);
    assert_eq!(
        json_attr(&g, COST),
        json!({"input": 0, "output": 0, "total": 0})
    );
}

#[test]
fn a_stream_is_one_generation_with_joined_output_usage_and_time_to_first_token() {
    let (otlp, seen) = capture(|client| async move {
        langfuse_tracing::observation::span("handler")
            .run_async(|_| async move {
                let mut request = request("fake-plain");
                request.stream_options = Some(ChatCompletionStreamOptions {
                    include_usage: Some(true),
                    include_obfuscation: None,
                });
                request.temperature = Some(0.7);
                let mut stream = client.chat().create_stream(request).await.unwrap();
                let mut text = String::new();
                let mut chunks = 0;
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.unwrap();
                    chunks += 1;
                    for choice in chunk.choices {
                        text.push_str(choice.delta.content.as_deref().unwrap_or_default());
                    }
                }
                // Every chunk reached the caller unchanged.
                assert_eq!((text.as_str(), chunks), ("Hello, world!", 6));
            })
            .await;
    });
    assert_eq!(otlp.spans().len(), 2);
    let g = otlp.span_named(DEFAULT_GENERATION_NAME);
    assert_child_of(&g, &otlp.span_named("handler"));
    assert_answered(&g, "Hello, world!");
    assert_eq!(json_attr(&g, PARAMETERS), json!({"temperature": 0.7}));
    // The first chunk's arrival: after the start, before the end (timestamps of one
    // format compare as strings).
    let first = json_attr(&g, COMPLETION_START);
    let (start, end) = (
        iso8601(g.start_time_unix_nano),
        iso8601(g.end_time_unix_nano),
    );
    let first = first.as_str().expect("a string");
    assert!(
        start.as_str() <= first && first <= end.as_str(),
        "{start} <= {first} <= {end}"
    );
    assert_eq!(seen[0].body["stream"], json!(true));
}

#[test]
fn streamed_tool_calls_are_joined_by_index() {
    let (otlp, _) = capture(|client| async move {
        let stream = client
            .chat()
            .create_stream(request("fake-tools"))
            .await
            .unwrap();
        assert_eq!(stream.count().await, 6);
    });
    let g = otlp.span_named(DEFAULT_GENERATION_NAME);
    assert_eq!(json_attr(&g, OUTPUT), tool_calls_message());
    assert_eq!(g.str_attr(FINISH_REASON), Some("\"tool_calls\""));
    assert_eq!(g.str_attr(USAGE), None, "no include_usage: no usage");
}

#[test]
fn a_stream_dropped_early_ends_the_generation_with_what_arrived() {
    let dropped_at = std::sync::Mutex::new(None);
    let dropped = &dropped_at;
    let (otlp, _) = capture(|client| async move {
        let mut stream = client
            .chat()
            .create_stream(request("fake-hang"))
            .await
            .unwrap();
        stream.next().await.unwrap().unwrap();
        stream.next().await.unwrap().unwrap();
        // The server keeps the stream open; the caller stops reading.
        drop(stream);
        *dropped.lock().unwrap() = Some(nanos(SystemTime::now()));
    });
    let g = otlp.span_named(DEFAULT_GENERATION_NAME);
    assert_eq!(
        json_attr(&g, OUTPUT),
        json!({"role": "assistant", "content": "Hello"})
    );
    assert!(g.str_attr(COMPLETION_START).is_some());
    assert_eq!(g.str_attr(FINISH_REASON), None);
    assert_eq!(g.str_attr(LEVEL), None);
    assert!(g.end_time_unix_nano <= dropped_at.lock().unwrap().unwrap());
}

#[test]
fn a_chunk_that_fails_makes_the_stream_an_error_generation() {
    let (otlp, _) = capture(|client| async move {
        let items: Vec<_> = client
            .chat()
            .create_stream(request("fake-bad-chunk"))
            .await
            .unwrap()
            .collect()
            .await;
        assert_eq!(items.iter().filter(|i| i.is_err()).count(), 1);
        assert_eq!(items.len(), 3);
    });
    let g = otlp.span_named(DEFAULT_GENERATION_NAME);
    assert_eq!(g.str_attr(LEVEL), Some("ERROR"));
    assert_eq!(g.status_code, OTEL_STATUS_ERROR);
    let status = g.str_attr(STATUS).unwrap();
    assert!(status.contains("failed to deserialize"), "{status}");
    // The chunks before and after it are joined all the same.
    assert_eq!(
        json_attr(&g, OUTPUT),
        json!({"role": "assistant", "content": "Hello"})
    );
}

#[test]
fn a_stream_request_that_fails_is_an_error_generation() {
    let (otlp, _) = capture(|client| async move {
        let error = client
            .chat()
            .create_stream(request("gpt-missing"))
            .await
            .err()
            .expect("an error");
        assert!(matches!(error, OpenAIError::ApiError(_)), "{error:?}");
    });
    let g = otlp.span_named(DEFAULT_GENERATION_NAME);
    assert_eq!(g.str_attr(LEVEL), Some("ERROR"));
    assert!(g.str_attr(STATUS).unwrap().contains("does not exist"));
    assert_eq!(g.str_attr(COMPLETION_START), None);
}

#[test]
fn the_generation_builder_and_request_options_are_the_callers() {
    let (otlp, seen) = capture(|client| async move {
        client
            .chat()
            .generation(
                generation("greeting")
                    .metadata("variant", &"b")
                    .version("v2"),
            )
            .header("x-request-tag", "greeting")
            .unwrap()
            .create(request("fake-plain"))
            .await
            .unwrap();
    });
    let g = otlp.span_named("greeting");
    assert_eq!(g.str_attr(TYPE), Some("generation"));
    assert_eq!(
        g.str_attr("langfuse.observation.metadata.variant"),
        Some("\"b\"")
    );
    assert_eq!(g.str_attr("langfuse.version"), Some("v2"));
    assert_eq!(g.str_attr(MODEL), Some(RESPONSE_MODEL));
    assert_eq!(
        seen[0].headers.get("x-request-tag").map(|v| v.as_bytes()),
        Some(&b"greeting"[..])
    );
}

#[test]
fn without_a_subscriber_the_client_works_unchanged() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let fake = FakeOpenAI::start().await;
        let client = Observed::new(fake.client());
        let response = client.chat().create(request("fake-plain")).await.unwrap();
        assert_eq!(
            response.choices[0].message.content.as_deref(),
            Some("Hello! How can I help?")
        );
        let stream = client
            .chat()
            .create_stream(request("fake-plain"))
            .await
            .unwrap();
        assert_eq!(stream.count().await, 5);
        // The plain client's API is still there.
        assert!(client
            .inner()
            .config()
            .api_base()
            .starts_with("http://127.0.0.1:"));
    });
}

#[test]
fn the_calls_and_the_stream_can_cross_threads() {
    fn send<T: Send>(_: &T) {}
    let client = Observed::new(async_openai::Client::with_config(OpenAIConfig::new()));
    // Futures never polled: only their types are checked (`tokio::spawn`, axum handlers).
    send(&client.chat().create(request("fake-plain")));
    send(&client.chat().create_stream(request("fake-plain")));
}
