//! The README's masking snippet, verbatim. `tests/readme_snippets.rs` checks that the
//! README still holds this code, and `tests/examples_run.rs` runs it against the
//! in-process receiver (the key never reaches it).
//!
//! ```text
//! cargo run --example readme_masking
//! ```

use langfuse_tracing::{observe, LangfuseLayer};
use serde_json::Value;

/// Redacts every string that holds an API key, at any depth.
fn redact(value: Value) -> Value {
    match value {
        Value::String(s) if s.contains("sk-") => Value::String("<redacted>".into()),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        Value::Object(map) => map.into_iter().map(|(k, v)| (k, redact(v))).collect(),
        other => other,
    }
}

#[observe]
fn call_api(api_key: &str, question: &str) -> String {
    format!("{question} -> 42 ({} chars of key)", api_key.len())
}

fn main() {
    // `init_with` is `init()` with builder options; `with_env()` keeps the LANGFUSE_* variables.
    let _langfuse = langfuse_tracing::init_with(LangfuseLayer::builder().with_env().mask(redact))
        .expect("langfuse config");
    call_api("sk-live-123", "why?"); // input: {"api_key": "<redacted>", "question": "why?"}
}
