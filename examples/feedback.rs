//! User feedback after the fact: a traced answer, then a separate feedback step that
//! scores the generation and the trace using only ids, then an update of that score.
//!
//! ```text
//! cargo run --example feedback
//! ```
//!
//! The trace id is derived from the request id with `create_trace_id`, so the feedback
//! step (here a function; in a real app perhaps another service, hours later) needs
//! nothing but the request id and the generation's id. Scores are upserted by id:
//! sending the same id with the same timestamp replaces the score. Runs with no
//! credentials (the console shows the trace and the scores).

use std::time::SystemTime;

use langfuse_tracing::observation::{generation, TraceContext};
use langfuse_tracing::score::{create_score, Score, ScoreValue};
use langfuse_tracing::{create_trace_id, ObservationId};
use serde_json::json;

/// Answers a question; returns the generation's id (an app stores it with the answer).
fn answer(request_id: &str, question: &str) -> Option<ObservationId> {
    let trace = TraceContext::from_ids(create_trace_id(Some(request_id)), None);
    let llm = generation("answer")
        .trace_context(trace)
        .model("gpt-4o-mini")
        .input(&json!([{"role": "user", "content": question}]))
        .output(&json!({"role": "assistant", "content": "Paris."}))
        .start();
    let id = llm.id();
    llm.end();
    id
}

/// The feedback step: only ids, no handle.
fn record_feedback(
    request_id: &str,
    generation_id: ObservationId,
    helpful: bool,
    at: SystemTime,
) -> Result<String, langfuse_tracing::score::ScoreError> {
    let trace_id = create_trace_id(Some(request_id));
    create_score(
        Score::new("helpful", helpful)
            .trace_id(trace_id)
            .observation_id(generation_id)
            // A stable id: sending it again updates this score.
            .id(format!("{request_id}-helpful"))
            .timestamp(at)
            .comment(if helpful { "thumbs up" } else { "thumbs down" }),
    )
}

fn main() {
    let langfuse = match langfuse_tracing::init() {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("langfuse: {e}");
            std::process::exit(1);
        }
    };
    let request_id = "req_12345";
    let Some(generation_id) = answer(request_id, "What is the capital of France?") else {
        eprintln!("no Langfuse layer recorded the generation");
        std::process::exit(1);
    };
    println!(
        "answered {request_id}: trace {}, generation {generation_id}",
        create_trace_id(Some(request_id))
    );

    // Later: the user clicks thumbs down, and an evaluator scores the whole trace.
    let at = SystemTime::now();
    let run = || -> Result<(), langfuse_tracing::score::ScoreError> {
        let id = record_feedback(request_id, generation_id, false, at)?;
        create_score(
            Score::new("correctness", ScoreValue::Categorical("correct".into()))
                .trace_id(create_trace_id(Some(request_id)))
                .comment("Paris is the capital of France"),
        )?;
        // The user changes their mind: same id and timestamp, so the score is replaced.
        let updated = record_feedback(request_id, generation_id, true, at)?;
        assert_eq!(id, updated);
        println!("score {id} updated");
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("feedback not recorded: {e}");
        std::process::exit(1);
    }
    drop(langfuse); // flushes spans and scores
}
