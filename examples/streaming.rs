//! A streaming LLM call: the generation's output is the joined tokens, and the first
//! token sets its `completion_start_time`, so Langfuse shows the time to first token.
//!
//! ```text
//! cargo run --example streaming
//! ```
//!
//! Runs with no credentials (the trace is printed to stderr); with `LANGFUSE_*` keys
//! set it is sent to Langfuse.

use std::time::Duration;

use futures_util::stream::{self, Stream, StreamExt};
use langfuse_tracing::observation::{update_current_generation, GenerationUpdate};
use langfuse_tracing::observe;
use serde_json::json;

/// A stand-in for a provider's streaming API: tokens arrive one by one.
fn provider_stream(prompt: &str) -> impl Stream<Item = String> + Send + 'static {
    let words: Vec<String> = format!("You asked: {prompt}. Paris is the answer.")
        .split(' ')
        .map(|w| format!("{w} "))
        .collect();
    stream::iter(words).then(|token| async move {
        tokio::time::sleep(Duration::from_millis(15)).await;
        token
    })
}

/// The observation lasts until the stream is exhausted (or dropped); its output is
/// the items it yielded, and the first one marks the completion start.
#[observe(as_type = "generation", name = "chat-completion-stream")]
fn stream_completion(prompt: &str) -> impl Stream<Item = String> + Send + 'static {
    update_current_generation(
        GenerationUpdate::new()
            .model("gpt-4o-mini")
            .model_parameters(&json!({"temperature": 0.7, "stream": true})),
    );
    provider_stream(prompt)
}

/// The request handler: a span around the streamed generation.
#[observe]
async fn answer(prompt: &str) -> String {
    let mut text = String::new();
    let mut tokens = std::pin::pin!(stream_completion(prompt));
    while let Some(token) = tokens.next().await {
        text.push_str(&token); // forward each token to the client here
    }
    text.trim_end().to_owned()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let _langfuse = match langfuse_tracing::init() {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("langfuse: {e}");
            std::process::exit(1);
        }
    };
    println!("{}", answer("What is the capital of France?").await);
}
