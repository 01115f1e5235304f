//! A small RAG + tool-calling pipeline, traced to Langfuse.
//!
//! Without credentials it prints each finished trace to stderr:
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! With `LANGFUSE_PUBLIC_KEY`, `LANGFUSE_SECRET_KEY` (and `LANGFUSE_BASE_URL` for a
//! self-hosted instance) set, the same run is exported to Langfuse.

use tracing::field::Empty;

#[derive(Debug)]
struct Document {
    id: u32,
    text: &'static str,
}

/// Retrieval step: finds documents for the question.
fn retrieve(question: &str) -> Vec<Document> {
    let span = tracing::info_span!(
        "retrieve",
        langfuse.observation.type = "retriever",
        langfuse.observation.input = question,
        langfuse.observation.output = Empty,
    );
    let _enter = span.enter();
    let docs = vec![
        Document {
            id: 1,
            text: "Paris is the capital of France.",
        },
        Document {
            id: 7,
            text: "France is in Europe.",
        },
    ];
    let output = format!(
        "[{}]",
        docs.iter()
            .map(|d| format!("{{\"id\": {}, \"text\": {:?}}}", d.id, d.text))
            .collect::<Vec<_>>()
            .join(", ")
    );
    span.record("langfuse.observation.output", output.as_str());
    docs
}

/// The LLM call: a generation with model, usage and cost.
fn generate(question: &str, docs: &[Document]) -> String {
    let span = tracing::info_span!(
        "llm-call",
        langfuse.observation.type = "generation",
        langfuse.observation.model.name = "gpt-4o-mini",
        langfuse.observation.model.parameters = r#"{"temperature": 0.2}"#,
        langfuse.observation.input = Empty,
        langfuse.observation.output = Empty,
        langfuse.observation.usage_details = Empty,
        langfuse.observation.cost_details = Empty,
    );
    let _enter = span.enter();
    let prompt = format!(
        "Context: {}\nQuestion: {question}",
        docs.iter().map(|d| d.text).collect::<Vec<_>>().join(" ")
    );
    span.record("langfuse.observation.input", prompt.as_str());
    std::thread::sleep(std::time::Duration::from_millis(30)); // the model thinks
    let answer = "Paris.".to_string();
    span.record("langfuse.observation.output", answer.as_str());
    span.record(
        "langfuse.observation.usage_details",
        r#"{"input": 42, "output": 3}"#,
    );
    span.record(
        "langfuse.observation.cost_details",
        r#"{"input": 0.0000063, "output": 0.0000018}"#,
    );
    answer
}

/// A tool call.
fn weather(city: &str) -> String {
    let _span = tracing::info_span!("get-weather", langfuse.observation.type = "tool", langfuse.observation.input = city, langfuse.observation.output = "15°C, cloudy").entered();
    "15°C, cloudy".into()
}

/// A step that fails: the observation gets level ERROR and the message.
fn moderate(answer: &str) -> Result<(), String> {
    let span = tracing::info_span!("moderation", langfuse.observation.type = "guardrail", langfuse.observation.input = answer, langfuse.observation.level = Empty, langfuse.observation.status_message = Empty);
    let _enter = span.enter();
    let err = "moderation service unavailable (503)".to_string();
    span.record("langfuse.observation.level", "ERROR");
    span.record("langfuse.observation.status_message", err.as_str());
    Err(err)
}

fn answer(question: &str) -> String {
    let span = tracing::info_span!(
        "answer-question",
        langfuse.observation.type = "agent",
        langfuse.observation.input = question,
        langfuse.observation.output = Empty,
        user.id = "user_123",
        session.id = "session_abc",
    );
    let _enter = span.enter();
    let docs = retrieve(question);
    let answer = generate(question, &docs);
    let forecast = weather("Paris");
    if let Err(e) = moderate(&answer) {
        tracing::warn!("moderation skipped: {e}");
    }
    let output = format!("{answer} (weather there: {forecast})");
    span.record("langfuse.observation.output", output.as_str());
    output
}

fn main() {
    let _langfuse = match langfuse_subscriber::init() {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("langfuse: {e}");
            std::process::exit(1);
        }
    };
    let reply = answer("What is the capital of France?");
    println!("{reply}");
    // `_langfuse` flushes on drop: every observation is sent (or printed) before exit.
}
