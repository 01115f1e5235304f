//! Manual observations: start them, hand them around, end them yourself. The Rust twin
//! of the Langfuse docs' sibling example (a root with a tool call and a generation).
//!
//! ```text
//! cargo run --example manual_observations
//! ```
//!
//! `start()` returns a handle; `end()` sends the observation even while other handles
//! or child observations still refer to it. Runs with no credentials (the trace is
//! printed to stderr).

use langfuse_tracing::observation::{generation, span, tool, GenerationUpdate, SpanUpdate};
use serde_json::json;

fn main() {
    let _langfuse = match langfuse_tracing::init() {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("langfuse: {e}");
            std::process::exit(1);
        }
    };

    let root = span("user-request")
        .input(&json!({"query": "What is the capital of France?"}))
        .start();

    // Two siblings under the root.
    let tool_call = root.start_observation(tool("fetch-weather").input(&json!({"city": "Paris"})));
    tool_call.update(SpanUpdate::new().output(&json!({"temperature": "15°C"})));
    tool_call.end();

    let llm = root.start_observation(
        generation("llm-call")
            .model("gpt-4o")
            .input(&json!([{"role": "user", "content": "What is the capital of France?"}])),
    );
    llm.update(
        GenerationUpdate::new()
            .usage_details(&json!({"input": 10, "output": 5}))
            .output(&json!({"content": "The capital of France is Paris."})),
    );
    llm.end();

    root.update(SpanUpdate::new().output(&"Successfully answered user request."));
    root.end();
}
