//! The README's second snippet ("next to the layers you already have"), verbatim:
//! `langfuse_tracing::layer()` with its guard beside `fmt` and a per-layer
//! `EnvFilter`. `tests/readme_snippets.rs` checks that the README still holds this
//! code, and `tests/examples_run.rs` runs it against the in-process receiver.
//!
//! ```text
//! cargo run --example readme_layers
//! ```

use langfuse_tracing::observe;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{fmt, EnvFilter};

#[observe]
fn answer(question: &str) -> String {
    tracing::info!("answering"); // an ordinary log line, printed by `fmt`
    format!("{question} Paris.")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The guard flushes and shuts the export down when `main` returns.
    let (langfuse, _guard) = langfuse_tracing::layer()?;
    tracing_subscriber::registry()
        // RUST_LOG (`info` when unset) filters the log lines only: a per-layer filter
        // leaves the Langfuse layer every observation.
        .with(fmt::layer().with_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        ))
        .with(langfuse)
        .init();
    println!("{}", answer("What is the capital of France?"));
    Ok(())
}
