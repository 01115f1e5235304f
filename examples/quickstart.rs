//! A small RAG + tool-calling pipeline, traced to Langfuse with `#[observe]`.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! Without credentials every finished trace is printed to stderr as a tree. With
//! `LANGFUSE_PUBLIC_KEY` and `LANGFUSE_SECRET_KEY` set (plus `LANGFUSE_BASE_URL` for a
//! self-hosted Langfuse) the same run is exported to Langfuse.

use std::time::Duration;

use langfuse_tracing::observation::{
    update_current_generation, update_current_trace, GenerationUpdate, TraceUpdate,
};
use langfuse_tracing::observe;
use serde::Serialize;
use serde_json::json;

#[derive(Debug, Serialize)]
struct Document {
    id: u32,
    text: &'static str,
}

#[derive(Debug)]
struct ModerationError(&'static str);

impl std::fmt::Display for ModerationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "moderation service unavailable: {}", self.0)
    }
}

impl std::error::Error for ModerationError {}

/// Retrieval: input `{"question": ..., "k": 2}`, output the documents as JSON.
#[observe(as_type = "retriever")]
fn retrieve(question: &str, k: usize) -> Vec<Document> {
    let _ = question;
    vec![
        Document {
            id: 1,
            text: "Paris is the capital of France.",
        },
        Document {
            id: 7,
            text: "France is in Europe.",
        },
    ]
    .into_iter()
    .take(k)
    .collect()
}

/// The LLM call: a generation with model, usage and cost (set from inside the call).
#[observe(name = "llm-call", as_type = "generation")]
async fn generate(question: &str, docs: &[Document]) -> String {
    let _context = docs.iter().map(|d| d.text).collect::<Vec<_>>().join(" ");
    tokio::time::sleep(Duration::from_millis(30)).await; // the model thinks
    update_current_generation(
        GenerationUpdate::new()
            .model("gpt-4o-mini")
            .model_parameters(&json!({"temperature": 0.2}))
            .usage_details(&json!({"input": 42, "output": 3}))
            .cost_details(&json!({"input": 0.0000063, "output": 0.0000018})),
    );
    format!("Paris. ({question})")
}

/// A tool call.
#[observe(as_type = "tool")]
fn get_weather(city: &str) -> String {
    format!("15°C and cloudy in {city}")
}

/// A failing step: `Err` gives the observation level ERROR and the error message.
#[observe(as_type = "guardrail")]
fn moderate(answer: &str) -> Result<(), ModerationError> {
    let _ = answer;
    Err(ModerationError("503"))
}

/// The root: an agent that uses all of the above.
#[observe(as_type = "agent")]
async fn answer_question(question: &str) -> String {
    update_current_trace(
        TraceUpdate::new()
            .user_id("user_123")
            .session_id("session_abc")
            .tags(["quickstart"]),
    );
    let docs = retrieve(question, 2);
    let answer = generate(question, &docs).await;
    let weather = get_weather("Paris");
    if let Err(e) = moderate(&answer) {
        eprintln!("(continuing without moderation: {e})");
    }
    format!("{answer} Weather there: {weather}.")
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // Reads LANGFUSE_*; without keys, traces go to stderr. Flushes when dropped.
    let _langfuse = match langfuse_tracing::init() {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("langfuse: {e}");
            std::process::exit(1);
        }
    };
    let reply = answer_question("What is the capital of France?").await;
    println!("{reply}");
}
