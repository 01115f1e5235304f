//! The README's scores snippet, verbatim. `tests/readme_snippets.rs` checks that the
//! README still holds this code, and `tests/examples_run.rs` runs it against an
//! in-process server that validates every score against the OpenAPI schema.
//!
//! ```text
//! cargo run --example readme_scores
//! ```

use langfuse_tracing::create_trace_id;
use langfuse_tracing::observation::TraceContext;
use langfuse_tracing::observe;
use langfuse_tracing::score::{create_score, score_current_trace, Score, ScoreValue};

#[observe(as_type = "generation")]
fn answer(question: &str) -> String {
    let reply = format!("{question} Paris.");
    // An inline evaluator's verdict on this trace (a typed value: bool, number or label).
    let verdict = ScoreValue::Categorical("grounded".into());
    score_current_trace(Score::new("groundedness", verdict)).expect("a valid score");
    reply
}

fn main() {
    let _langfuse = langfuse_tracing::init().expect("langfuse config");
    // Request `req_42` is traced under a trace id derived from it...
    let trace = create_trace_id(Some("req_42"));
    TraceContext::from_ids(trace, None).run(|| answer("What is the capital of France?"));
    // ...so feedback can be scored later, elsewhere, from ids alone. Sending the same
    // `id` again (with the same timestamp) updates the score instead of adding one.
    create_score(
        Score::new("helpful", true)
            .trace_id(trace)
            .id("req_42-helpful")
            .comment("thumbs up"),
    )
    .expect("a valid score");
}
