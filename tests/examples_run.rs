//! Every example runs as a user would run it, with the `LANGFUSE_*` variables pointing
//! at the in-process OTLP receiver, and delivers its observations there. The binaries
//! are the ones `cargo test` builds; run alone, this test builds them first.

mod rest_support;
mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

use support::{CapturedSpan, Receiver};

fn example_binary(name: &str) -> PathBuf {
    // target/<profile>/deps/examples_run-<hash> -> target/<profile>/examples/<name>
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>")
        .join("examples");
    let binary = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !binary.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args(["build", "--example", name])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo build --example");
        assert!(status.success(), "cannot build example {name}");
    }
    binary
}

/// Runs an example against `receiver`, as `cargo run --example NAME` with keys set.
fn run_example(name: &str, receiver: &Receiver) -> Output {
    let output = Command::new(example_binary(name))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LANGFUSE_PUBLIC_KEY", "pk-lf-example")
        .env("LANGFUSE_SECRET_KEY", "sk-lf-example")
        .env("LANGFUSE_BASE_URL", receiver.base_url())
        .output()
        .expect("the example runs");
    assert!(
        output.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("sk-lf-example"),
        "no secret on stderr"
    );
    output
}

/// Runs an example as `cargo run --example NAME` with no variables but `PATH`: no
/// credentials, so nothing is sent.
fn run_without_credentials(name: &str) -> Output {
    Command::new(example_binary(name))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("the example runs")
}

fn names(spans: &[CapturedSpan]) -> Vec<&str> {
    let mut names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    names
}

fn parent_name<'a>(spans: &'a [CapturedSpan], name: &str) -> Option<&'a str> {
    let child = spans.iter().find(|s| s.name == name)?;
    spans
        .iter()
        .find(|s| Some(&s.span_id) == child.parent_span_id.as_ref())
        .map(|s| s.name.as_str())
}

#[test]
fn quickstart_delivers_the_whole_pipeline() {
    let receiver = Receiver::start();
    let output = run_example("quickstart", &receiver);
    assert!(String::from_utf8_lossy(&output.stdout).contains("Paris"));
    let spans = receiver.spans();
    assert_eq!(
        names(&spans),
        [
            "answer_question",
            "get_weather",
            "llm-call",
            "moderate",
            "retrieve"
        ]
    );
    let llm = spans
        .iter()
        .find(|s| s.name == "llm-call")
        .expect("llm-call");
    assert_eq!(
        llm.str_attr("langfuse.observation.type"),
        Some("generation")
    );
    assert_eq!(
        llm.str_attr("langfuse.observation.model.name"),
        Some("gpt-4o-mini")
    );
    let moderate = spans
        .iter()
        .find(|s| s.name == "moderate")
        .expect("moderate");
    assert_eq!(
        moderate.str_attr("langfuse.observation.level"),
        Some("ERROR")
    );
    let root = spans
        .iter()
        .find(|s| s.name == "answer_question")
        .expect("root");
    assert_eq!(root.str_attr("user.id"), Some("user_123"));
}

/// The README's first command on a fresh machine: no credentials, so nothing is sent
/// and each finished trace is printed to stderr as a tree.
#[test]
fn quickstart_without_credentials_prints_the_trace_tree() {
    let output = run_without_credentials("quickstart");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("Paris"), "{stdout}");
    for name in [
        "answer_question",
        "retrieve",
        "llm-call",
        "get_weather",
        "moderate",
    ] {
        assert!(
            stderr.contains(name),
            "{name} in the printed tree: {stderr}"
        );
    }
}

#[test]
fn crate_readme_snippet_delivers_a_generation_with_its_model() {
    let receiver = Receiver::start();
    run_example("crate_readme", &receiver);
    let spans = receiver.spans();
    assert_eq!(names(&spans), ["complete"]);
    assert_eq!(
        spans[0].str_attr("langfuse.observation.type"),
        Some("generation")
    );
    assert_eq!(
        spans[0].str_attr("langfuse.observation.model.name"),
        Some("gpt-4o-mini")
    );
}

#[test]
fn streaming_records_the_time_to_first_token() {
    let receiver = Receiver::start();
    run_example("streaming", &receiver);
    let spans = receiver.spans();
    assert_eq!(names(&spans), ["answer", "chat-completion-stream"]);
    let generation = spans
        .iter()
        .find(|s| s.name == "chat-completion-stream")
        .expect("generation");
    assert!(
        generation
            .str_attr("langfuse.observation.completion_start_time")
            .is_some(),
        "{:?}",
        generation.langfuse_keys()
    );
    assert!(generation
        .str_attr("langfuse.observation.output")
        .is_some_and(|o| o.contains("Paris")));
    assert_eq!(
        parent_name(&spans, "chat-completion-stream"),
        Some("answer")
    );
}

#[test]
fn manual_observations_are_siblings_under_the_root() {
    let receiver = Receiver::start();
    run_example("manual_observations", &receiver);
    let spans = receiver.spans();
    assert_eq!(names(&spans), ["fetch-weather", "llm-call", "user-request"]);
    assert_eq!(parent_name(&spans, "fetch-weather"), Some("user-request"));
    assert_eq!(parent_name(&spans, "llm-call"), Some("user-request"));
}

#[test]
fn propagated_attributes_reach_spawned_tasks() {
    let receiver = Receiver::start();
    run_example("propagate_tasks", &receiver);
    let spans = receiver.spans();
    assert_eq!(
        names(&spans),
        ["handle_request", "search", "search", "search"]
    );
    for span in &spans {
        assert_eq!(span.str_attr("user.id"), Some("user_123"), "{}", span.name);
        assert_eq!(
            span.str_attr("session.id"),
            Some("session_abc"),
            "{}",
            span.name
        );
    }
    let root = spans
        .iter()
        .find(|s| s.name == "handle_request")
        .expect("root");
    for search in spans.iter().filter(|s| s.name == "search") {
        assert_eq!(search.parent_span_id.as_ref(), Some(&root.span_id));
        assert_eq!(search.trace_id, root.trace_id);
    }
}

/// Runs an example against the REST test server (it answers the OTLP path too).
fn run_example_rest(name: &str, server: &rest_support::RestServer) -> Output {
    let output = Command::new(example_binary(name))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LANGFUSE_PUBLIC_KEY", rest_support::PUBLIC_KEY)
        .env("LANGFUSE_SECRET_KEY", rest_support::SECRET_KEY)
        .env("LANGFUSE_BASE_URL", server.base_url())
        .output()
        .expect("the example runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{name} failed: {stderr}");
    assert!(
        !stderr.contains(rest_support::SECRET_KEY),
        "no secret on stderr"
    );
    output
}

#[test]
fn feedback_scores_the_generation_and_the_trace_by_id_and_updates_the_score() {
    let server = rest_support::RestServer::start();
    let output = run_example_rest("feedback", &server);
    server.assert_valid();
    let scores = server.scores();
    let trace = "6cec55478a541a9eb2b3bfd6c8ba5670"; // create_trace_id("req_12345")
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        scores.len(),
        3,
        "{scores:#?}\nthe example's stderr:\n{stderr}"
    );
    assert!(scores.iter().all(|s| s["traceId"] == trace));
    let helpful: Vec<_> = scores.iter().filter(|s| s["name"] == "helpful").collect();
    assert_eq!(helpful.len(), 2);
    assert_eq!(helpful[0]["id"], "req_12345-helpful");
    assert_eq!(helpful[0]["id"], helpful[1]["id"]);
    assert_eq!(helpful[0]["timestamp"], helpful[1]["timestamp"]);
    assert_eq!(
        (helpful[0]["value"].as_f64(), helpful[1]["value"].as_f64()),
        (Some(0.0), Some(1.0))
    );
    assert!(helpful[0]["observationId"].is_string());
    let correctness = scores
        .iter()
        .find(|s| s["name"] == "correctness")
        .expect("trace score");
    assert!(correctness.get("observationId").is_none());
    assert!(!server.requests_to("/api/public/otel/v1/traces").is_empty());
}

#[test]
fn prompts_without_credentials_use_the_fallbacks_and_say_so() {
    let output = run_without_credentials("prompts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains("movie-critic: using the fallback prompt"),
        "{stdout}"
    );
    assert!(
        stdout.contains("movie-chat: using the fallback prompt"),
        "{stdout}"
    );
    assert!(
        stdout.contains("prompt: As a expert movie critic, do you like Dune: Part Two?"),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"{"role":"user","content":"Did you like Dune?"}"#),
        "{stdout}"
    );
    assert!(
        stderr.contains(r#"langfuse: prompt "movie-critic": using the fallback prompt"#),
        "{stderr}"
    );
    // The console trace: both generations.
    assert!(stderr.contains("movie-review"), "{stderr}");
    assert!(stderr.contains("movie-chat-turn"), "{stderr}");
}

#[test]
fn feedback_without_credentials_prints_the_scores() {
    let output = run_without_credentials("feedback");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        stderr.matches("langfuse: score helpful").count(),
        2,
        "{stderr}"
    );
    assert!(stderr.contains("langfuse: score correctness"), "{stderr}");
}

#[test]
fn vision_uploads_the_image_and_records_only_its_reference() {
    let server = rest_support::RestServer::start();
    let output = run_example_rest("vision", &server);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("@@@langfuseMedia:type=image/png|id="),
        "{stdout}"
    );
    server.assert_valid();
    let media = server.media();
    assert_eq!(media.len(), 1, "{media:#?}");
    let (post, bytes, patch) = &media[0];
    assert_eq!(post["contentType"], "image/png");
    assert_eq!(post["field"], "input");
    assert_eq!(post["contentLength"], 70);
    assert!(post["observationId"].is_string() && post["traceId"].is_string());
    assert_eq!(bytes.as_ref().map(Vec::len), Some(70));
    let patch = patch.as_ref().expect("the upload status was reported");
    assert_eq!(patch["uploadHttpStatus"], 200);
    // The span carries the reference, not the bytes.
    let otlp = server.requests_to("/api/public/otel/v1/traces");
    assert!(!otlp.is_empty());
    let bodies: Vec<Vec<u8>> = otlp
        .iter()
        .map(|r| {
            use std::io::Read as _;
            let mut out = Vec::new();
            match r.header("content-encoding") {
                Some(e) if e.contains("gzip") => {
                    flate2::read::GzDecoder::new(&r.body[..])
                        .read_to_end(&mut out)
                        .expect("gzip");
                }
                _ => out = r.body.clone(),
            }
            out
        })
        .collect();
    assert!(bodies
        .iter()
        .any(|b| String::from_utf8_lossy(b).contains("@@@langfuseMedia:type=image/png")));
    assert!(bodies
        .iter()
        .all(|b| !String::from_utf8_lossy(b).contains("iVBORw0KGgo")));
}

#[test]
fn readme_init_snippet_delivers() {
    let receiver = Receiver::start();
    run_example("readme_init", &receiver);
    let spans = receiver.spans();
    assert_eq!(names(&spans), ["llm_call"]);
    assert_eq!(
        spans[0].str_attr("langfuse.observation.type"),
        Some("generation")
    );
}

#[test]
fn readme_layers_snippet_delivers_with_the_guard_and_no_rust_log() {
    let receiver = Receiver::start();
    let output = run_example("readme_layers", &receiver);
    let spans = receiver.spans();
    assert_eq!(
        names(&spans),
        ["answer"],
        "the guard flushed at the end of main"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("Paris"), "{stdout}");
    assert!(
        stdout.contains("answering"),
        "fmt printed the log line with RUST_LOG unset: {stdout}"
    );
}

#[test]
fn readme_masking_snippet_never_sends_the_key() {
    let receiver = Receiver::start();
    run_example("readme_masking", &receiver);
    let spans = receiver.spans();
    assert_eq!(names(&spans), ["call_api"]);
    let input = spans[0]
        .str_attr("langfuse.observation.input")
        .expect("input");
    assert!(
        input.contains("<redacted>") && !input.contains("sk-live-123"),
        "{input}"
    );
}

#[test]
fn readme_scores_snippet_sends_both_scores() {
    let server = rest_support::RestServer::start();
    let output = run_example_rest("readme_scores", &server);
    server.assert_valid();
    let scores = server.scores();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        scores.len(),
        2,
        "{scores:#?}\nthe example's stderr:\n{stderr}"
    );
    let helpful = scores
        .iter()
        .find(|s| s["name"] == "helpful")
        .expect("helpful");
    assert_eq!(helpful["id"], "req_42-helpful");
    let trace = langfuse_tracing::create_trace_id(Some("req_42")).to_string();
    assert_eq!(helpful["traceId"], trace.as_str());
    assert_eq!(helpful["value"].as_f64(), Some(1.0));
    let verdict = scores
        .iter()
        .find(|s| s["name"] == "groundedness")
        .expect("groundedness");
    assert_eq!(verdict["value"], "grounded");
    assert_eq!(verdict["dataType"], "CATEGORICAL");
    // Both scores are on the trace that holds the generation, not on an empty one.
    assert_eq!(verdict["traceId"], trace.as_str());
    let spans = exported_spans(&server);
    assert_eq!(names(&spans), ["answer"]);
    assert_eq!(spans[0].trace_id, trace);
}

/// The spans the REST server received on its OTLP endpoint, decoded.
fn exported_spans(server: &rest_support::RestServer) -> Vec<CapturedSpan> {
    server
        .requests_to("/api/public/otel/v1/traces")
        .iter()
        .flat_map(|seen| {
            let gzip = seen.header("content-encoding") == Some("gzip");
            let (request, _) = support::decode_export(&seen.body, gzip).expect("an OTLP body");
            support::flatten_spans(&request)
        })
        .collect()
}

#[test]
fn axum_service_prints_the_otel_spans_with_the_ids_langfuse_received() {
    let receiver = Receiver::start();
    let output = run_example("axum_service", &receiver);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("Paris."), "{stdout}");
    let spans = receiver.spans();
    assert_eq!(names(&spans), ["complete"]);
    let generation = &spans[0];
    assert_eq!(generation.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(
        generation.str_attr("langfuse.observation.type"),
        Some("generation")
    );
    // No OTLP endpoint set: the OpenTelemetry spans are printed, with the same ids.
    let line = format!(
        "otel span complete trace={} span={}",
        generation.trace_id, generation.span_id
    );
    assert!(stdout.contains(&line), "{line} in {stdout}");
    assert!(
        stdout.contains("parent=00f067aa0ba902b7"),
        "the request span continues the caller's: {stdout}"
    );
}

#[test]
fn axum_service_without_credentials_prints_both_sides() {
    let output = run_without_credentials("axum_service");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("langfuse trace 4bf92f3577b34da6a3ce929d0e0e4736"),
        "{stderr}"
    );
    assert!(stderr.contains("calling the model"), "fmt logs: {stderr}");
    assert!(
        stdout.contains("otel span http_request trace=4bf92f3577b34da6a3ce929d0e0e4736"),
        "{stdout}"
    );
}

/// A closed port: the example exits at once and says once, without a doubled prefix,
/// that the export failed (the guard's drop used to print the same failure again).
#[test]
fn an_unreachable_endpoint_is_reported_once() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let output = Command::new(example_binary("readme_init"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LANGFUSE_PUBLIC_KEY", "pk-lf-example")
        .env("LANGFUSE_SECRET_KEY", "sk-lf-example")
        .env("LANGFUSE_BASE_URL", format!("http://127.0.0.1:{port}"))
        .output()
        .expect("the example runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(stderr.matches("cannot connect").count(), 1, "{stderr}");
    assert!(!stderr.contains("langfuse: langfuse"), "{stderr}");
    assert!(!stderr.contains("sk-lf-example"), "{stderr}");
}
