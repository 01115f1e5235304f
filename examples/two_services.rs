//! Two services, one Langfuse trace: a client ("service A") calls an HTTP service
//! ("service B") and both sides' observations end up in the same trace, under the
//! right parents, with the same user and session.
//!
//! ```text
//! cargo run --example two_services
//! ```
//!
//! The client starts a second copy of this program with `--serve` as service B (a
//! child process: the two share nothing but the HTTP headers), sends it one request,
//! then stops it. Without `LANGFUSE_PUBLIC_KEY` / `LANGFUSE_SECRET_KEY` each process
//! prints its part of the trace to stderr, and both trees show the same trace id
//! (service B also says which observation of the client it continues).
//! With credentials, both parts are exported and Langfuse shows one trace.
//!
//! How it works:
//! * the client opens a `propagate_attributes` scope with `as_baggage(true)`, and
//!   [`inject_trace_headers`] writes `traceparent` (the current observation) and
//!   `baggage` (`langfuse_trace_id`, the trace the client has observations open in,
//!   then `langfuse_user_id`, `langfuse_session_id`, ...) into the request;
//! * the server's handler calls [`extract_trace_headers`] and runs its work inside the
//!   returned `RemoteContext`: its top-level observation becomes a child of the
//!   client's observation, and every observation gets the propagated attributes
//!   (the client's claim on the trace keeps the server's top-level observation from
//!   being marked as a second app root, as between two Python services).
//!
//! Baggage goes out with every request you inject it into, so only propagate
//! non-sensitive values that way.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use langfuse_tracing::observe;
use langfuse_tracing::propagation::{
    extract_trace_headers, inject_trace_headers, PropagateAttributes,
};

fn main() {
    if std::env::args().any(|a| a == "--serve") {
        service_b();
    } else {
        service_a();
    }
}

// ---------------------------------------------------------------------------
// Service A: the client that receives the user request
// ---------------------------------------------------------------------------

fn service_a() {
    let langfuse = langfuse_tracing::init().expect("langfuse");

    // Start service B and read the address it listens on.
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .arg("--serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start service B");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("service B address");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .expect("`listening on <addr>`")
        .to_owned();

    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let answer = runtime.block_on(handle_user_request(
        format!("http://{addr}"),
        "What is the capital of France?".to_owned(),
    ));
    println!("answer: {answer}");

    // Closing stdin asks service B to stop; it flushes its observations first.
    drop(child.stdin.take());
    let _ = stdout.read_to_end(&mut Vec::new());
    let _ = child.wait();
    drop(langfuse); // flushes this process's observations
}

/// One user request: the root observation of the trace.
#[observe(name = "handle-user-request")]
async fn handle_user_request(base_url: String, question: String) -> String {
    PropagateAttributes::new()
        .user_id("user_123")
        .session_id("session_abc")
        .metadata("experiment", "variant_a")
        .trace_name("two-services")
        // Only for non-sensitive values: they travel in the `baggage` header.
        .as_baggage(true)
        .instrument(async move {
            let facts = call_service_b(&base_url, &question)
                .await
                .unwrap_or_else(|e| format!("service B failed: {e}"));
            compose_answer(&facts)
        })
        .await
}

/// The outbound call; its observation is the parent of service B's observations.
#[observe(name = "call-service-b", as_type = "tool")]
async fn call_service_b(base_url: &str, question: &str) -> Result<String, reqwest::Error> {
    let mut headers = reqwest::header::HeaderMap::new();
    inject_trace_headers(&mut headers); // traceparent + baggage
    reqwest::Client::new()
        .post(format!("{base_url}/answer"))
        .body(question.to_owned())
        .headers(headers)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await
}

#[observe]
fn compose_answer(facts: &str) -> String {
    format!("Based on service B: {facts}")
}

// ---------------------------------------------------------------------------
// Service B: an axum HTTP service
// ---------------------------------------------------------------------------

fn service_b() {
    let langfuse = langfuse_tracing::init().expect("langfuse");
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        println!("listening on {}", listener.local_addr().expect("address"));
        std::io::stdout().flush().expect("stdout");

        // Stop when the parent closes our stdin.
        let stop = tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        });
        let app = Router::new().route("/answer", post(answer));
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stop.await;
            })
            .await
            .expect("serve");
    });
    drop(langfuse); // flushes this process's observations
}

async fn answer(headers: HeaderMap, question: String) -> String {
    // Continue the caller's trace; a request without `traceparent` starts a new one,
    // and a malformed one is reported and ignored.
    let remote = extract_trace_headers(&headers).unwrap_or_else(|e| {
        tracing::warn!("{e}");
        Default::default()
    });
    if let (Some(trace), Some(parent)) = (remote.trace_id(), remote.parent_observation_id()) {
        eprintln!("service B: continuing trace {trace} under the client's observation {parent}");
    }
    remote.instrument(service_b_answer(question)).await
}

/// Service B's root observation: a child of the client's `call-service-b`.
#[observe(name = "service-b-answer", as_type = "chain")]
async fn service_b_answer(question: String) -> String {
    let docs = retrieve(&question);
    generate(&question, &docs).await
}

#[observe(as_type = "retriever")]
fn retrieve(question: &str) -> Vec<String> {
    let _ = question;
    vec!["Paris is the capital of France.".to_owned()]
}

#[observe(as_type = "generation")]
async fn generate(question: &str, docs: &[String]) -> String {
    langfuse_tracing::update_current_generation(
        langfuse_tracing::GenerationUpdate::new().model("gpt-4o-mini"),
    );
    tokio::task::yield_now().await;
    format!("{} (asked: {question})", docs.join(" "))
}
