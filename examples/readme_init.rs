//! The README's first snippet ("Use it"), verbatim: `#[observe]` and `init()`.
//! `tests/readme_snippets.rs` checks that the README still holds this code, and
//! `tests/examples_run.rs` runs it against the in-process receiver.
//!
//! ```text
//! cargo run --example readme_init
//! ```

use langfuse_tracing::observe;

#[observe(as_type = "generation")]
async fn llm_call(prompt: &str) -> Result<String, std::io::Error> {
    Ok(format!("echo: {prompt}")) // call your model here
}

#[tokio::main]
async fn main() {
    // Reads the LANGFUSE_* variables; flushes and shuts down when dropped.
    let _langfuse = langfuse_tracing::init().expect("langfuse config");
    let answer = llm_call("What is the capital of France?").await;
    println!("{answer:?}");
}
