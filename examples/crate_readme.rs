//! The `langfuse-tracing` crate's README snippet (what crates.io shows), verbatim.
//! `tests/readme_snippets.rs` checks that the crate's README still holds this code, and
//! `tests/examples_run.rs` runs it against the in-process receiver.
//!
//! ```text
//! cargo run --example crate_readme
//! ```

use langfuse_tracing::observation::{update_current_generation, GenerationUpdate};
use langfuse_tracing::observe;

/// One generation per call: input `{"prompt": ...}`, the returned text as output.
#[observe(as_type = "generation")]
fn complete(prompt: &str) -> String {
    update_current_generation(GenerationUpdate::new().model("gpt-4o-mini"));
    format!("echo: {prompt}") // call your model here
}

fn main() {
    // Reads LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY and LANGFUSE_BASE_URL; without keys
    // every finished trace is printed to stderr. Flushes and shuts down when dropped.
    let _langfuse = langfuse_tracing::init().expect("langfuse config");
    complete("What is the capital of France?");
}
