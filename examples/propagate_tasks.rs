//! `propagate_attributes` across spawned Tokio tasks: the user, session and tags of a
//! request reach every observation, also in the tasks it spawns.
//!
//! ```text
//! cargo run --example propagate_tasks
//! ```
//!
//! A spawned task does not inherit the caller's context by itself (it may run on
//! another thread): wrap it with `propagation::current().instrument(..)`. Runs with
//! no credentials (the trace is printed to stderr).

use langfuse_tracing::observe;
use langfuse_tracing::propagation::{self, PropagateAttributes};

#[observe(as_type = "retriever")]
async fn search(shard: u32, query: String) -> Vec<String> {
    tokio::task::yield_now().await;
    vec![format!("shard {shard}: a result for {query:?}")]
}

/// Fans out to three shards in spawned tasks; each task's observation is a child of
/// this one and carries the request's user, session and tags.
#[observe(as_type = "agent")]
async fn handle_request(query: &str) -> usize {
    let mut tasks = Vec::new();
    for shard in 0..3 {
        let query = query.to_owned();
        tasks.push(tokio::spawn(
            propagation::current().instrument(search(shard, query)),
        ));
    }
    let mut hits = 0;
    for task in tasks {
        hits += task.await.map(|h| h.len()).unwrap_or(0);
    }
    hits
}

#[tokio::main]
async fn main() {
    let _langfuse = match langfuse_tracing::init() {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("langfuse: {e}");
            std::process::exit(1);
        }
    };
    let hits = PropagateAttributes::new()
        .user_id("user_123")
        .session_id("session_abc")
        .tags(["fan-out"])
        .instrument(handle_request("capital of France"))
        .await;
    println!("{hits} hits");
}
