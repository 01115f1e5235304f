//! Scores end to end: the real layer and score queue against an in-process REST server
//! that validates every body against the OpenAPI file (tests/spec, a copy of ../shared/spec) and checks the
//! headers, answering 202/207/429/500/400/401 to exercise each branch.

mod rest_support;

use std::time::Duration;

use langfuse_tracing::score::{Score, ScoreError, ScoreValue};
use langfuse_tracing::{create_trace_id, LangfuseHandle, LangfuseLayer};
use rest_support::{Answer, RestServer, PUBLIC_KEY, SECRET_KEY};
use serde_json::json;
use tracing_subscriber::prelude::*;

const WAIT: Duration = Duration::from_secs(30);

/// Runs `f` with the layer as the current subscriber; returns the handle.
fn with_layer(layer: LangfuseLayer, f: impl FnOnce(&LangfuseHandle)) -> LangfuseHandle {
    let handle = layer.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || f(&handle));
    handle
}

/// The handle of a layer whose server is a port nothing listens on.
fn unreachable_server_handle(timeout: Duration) -> LangfuseHandle {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    LangfuseLayer::builder()
        .public_key(PUBLIC_KEY)
        .secret_key(SECRET_KEY)
        .base_url(format!("http://127.0.0.1:{port}"))
        .timeout(timeout)
        .build()
        .unwrap()
        .handle()
}

fn assert_accounted(handle: &LangfuseHandle) {
    let c = handle.score_counts();
    assert_eq!(c.created, c.sent + c.dropped, "{c:?}");
}

#[test]
fn every_kind_of_score_reaches_the_server_as_a_valid_batch() {
    let server = RestServer::start();
    let trace_seed = create_trace_id(Some("req_12345"));
    let handle = with_layer(rest_support::layer(&server), |handle| {
        let generation = langfuse_tracing::observation::generation("llm").start();
        let trace = generation.trace_id().expect("trace id");
        let obs = generation.id().expect("observation id");
        generation
            .score(Score::new("relevance", 0.95).comment("good"))
            .unwrap();
        generation
            .score_trace(Score::new("resolved", true))
            .unwrap();
        let root = langfuse_tracing::observation::span("request").start();
        let _entered = root.span().enter();
        langfuse_tracing::score::score_current_span(Score::new("tone", "friendly")).unwrap();
        langfuse_tracing::score::score_current_trace(Score::new(
            "summary",
            ScoreValue::Text("Clear and short.".into()),
        ))
        .unwrap();
        drop(_entered);
        generation.end();
        root.end();
        // Only ids, no handle: a session, a dataset run, a seeded trace, a correction.
        handle
            .create_score(Score::new("csat", 4).session_id("chat-1"))
            .unwrap();
        handle
            .create_score(
                Score::new("accuracy", 0.5)
                    .dataset_run_id("run-1")
                    .config_id("cfg-1"),
            )
            .unwrap();
        handle
            .create_score(
                Score::new("fixed", ScoreValue::Correction("Paris".into()))
                    .trace_id(trace_seed)
                    .environment("staging")
                    .metadata(json!({"reviewer": "ana", "n": 2})),
            )
            .unwrap();
        handle
            .create_score(
                Score::new("feedback", false)
                    .trace_id(trace)
                    .observation_id(obs),
            )
            .unwrap();
    });
    handle.flush().unwrap();
    server.assert_valid();
    let scores = server.scores();
    assert_eq!(scores.len(), 8, "{scores:#?}");
    let by_name = |n: &str| {
        scores
            .iter()
            .find(|s| s["name"] == n)
            .unwrap_or_else(|| panic!("{n}"))
            .clone()
    };
    let relevance = by_name("relevance");
    assert_eq!(relevance["value"], 0.95);
    assert_eq!(relevance["dataType"], "NUMERIC");
    assert_eq!(relevance["comment"], "good");
    assert!(relevance["observationId"].is_string());
    assert!(by_name("resolved").get("observationId").is_none());
    assert_eq!(by_name("resolved")["value"], 1.0);
    assert_eq!(by_name("resolved")["dataType"], "BOOLEAN");
    assert_eq!(by_name("tone")["dataType"], "CATEGORICAL");
    assert_eq!(by_name("summary")["dataType"], "TEXT");
    assert_eq!(by_name("csat")["sessionId"], "chat-1");
    assert_eq!(by_name("accuracy")["configId"], "cfg-1");
    let fixed = by_name("fixed");
    assert_eq!(fixed["traceId"], "6cec55478a541a9eb2b3bfd6c8ba5670");
    assert_eq!(fixed["environment"], "staging");
    assert_eq!(fixed["metadata"], json!({"reviewer": "ana", "n": 2}));
    assert_eq!(by_name("feedback")["value"], 0.0);
    // One array per batch (8 < 15), with the headers of the reference.
    let posts = server.requests_to("/api/public/scores");
    assert!(posts.iter().all(|p| p.json().is_array()));
    assert_eq!(handle.score_counts().sent, 8);
    assert_accounted(&handle);
    handle.shutdown().unwrap();
}

/// A score made from an observation carries the environment that observation is
/// exported with (its own, or a propagated one), as the reference's `span.score()` and
/// `score_current_span()` do; a score's own environment wins.
#[test]
fn scores_from_an_observation_carry_its_environment() {
    let server = RestServer::start();
    let handle = with_layer(rest_support::layer(&server), |_| {
        let staging = langfuse_tracing::observation::span("request")
            .environment("staging")
            .start();
        staging.score(Score::new("own", 1)).unwrap();
        staging
            .score_trace(Score::new("explicit", 1).environment("qa"))
            .unwrap();
        staging.end();
        langfuse_tracing::PropagateAttributes::new()
            .environment("canary")
            .run(|| {
                langfuse_tracing::observation::span("inner").run(|_| {
                    langfuse_tracing::score::score_current_span(Score::new("propagated", 1))
                        .unwrap();
                });
            });
    });
    handle.flush().unwrap();
    server.assert_valid();
    let scores = server.scores();
    let env = |n: &str| {
        scores
            .iter()
            .find(|s| s["name"] == n)
            .unwrap_or_else(|| panic!("{n}: {scores:#?}"))["environment"]
            .clone()
    };
    assert_eq!(env("own"), "staging");
    assert_eq!(env("explicit"), "qa");
    assert_eq!(env("propagated"), "canary");
    handle.shutdown().unwrap();
}

#[test]
fn sending_the_same_id_again_updates_the_score() {
    let server = RestServer::start();
    let handle = rest_support::layer(&server).handle();
    let trace = create_trace_id(Some("request-9"));
    let at = std::time::SystemTime::now();
    let id = handle
        .create_score(
            Score::new("quality", 0.2)
                .trace_id(trace)
                .id("request-9-quality")
                .timestamp(at),
        )
        .unwrap();
    assert_eq!(id, "request-9-quality");
    handle.flush().unwrap();
    handle
        .create_score(
            Score::new("quality", 0.9)
                .trace_id(trace)
                .id(id.clone())
                .timestamp(at),
        )
        .unwrap();
    handle.shutdown().unwrap();
    server.assert_valid();
    let scores = server.scores();
    assert_eq!(scores.len(), 2);
    assert_eq!(scores[0]["id"], scores[1]["id"]);
    assert_eq!(scores[0]["timestamp"], scores[1]["timestamp"]);
    assert_eq!(scores[1]["value"], 0.9);
}

#[test]
fn batches_hold_at_most_fifteen_scores() {
    let server = RestServer::start();
    let handle = rest_support::layer(&server).handle();
    for i in 0..40 {
        handle
            .create_score(Score::new("n", i).session_id("s"))
            .unwrap();
    }
    handle.flush().unwrap();
    server.assert_valid();
    let sizes: Vec<usize> = server
        .requests_to("/api/public/scores")
        .iter()
        .map(|r| r.json().as_array().map_or(0, Vec::len))
        .collect();
    assert!(sizes.iter().all(|&n| n <= 15), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), 40);
    assert_eq!(handle.score_counts().sent, 40);
    handle.shutdown().unwrap();
}

#[test]
fn a_207_drops_only_the_rejected_items_and_is_not_retried() {
    let server = RestServer::start();
    server.script([Answer::RejectNamed("bad".into())]);
    let handle = rest_support::layer(&server).handle();
    for name in ["ok", "bad", "ok", "bad"] {
        handle
            .create_score(Score::new(name, 1).session_id("s"))
            .unwrap();
    }
    handle.flush().unwrap();
    assert_eq!(server.requests_to("/api/public/scores").len(), 1);
    let c = handle.score_counts();
    assert_eq!((c.sent, c.dropped, c.created), (2, 2, 4));
    handle.shutdown().unwrap();
}

/// A 207 whose error list names none of the batch's scores, 10,000 times: the batch
/// counts as dropped (once, never more than the batch), and the list is not echoed.
#[test]
fn a_207_flood_of_unnamed_errors_drops_the_batch_once() {
    let server = RestServer::start();
    server.script([Answer::RejectFlood(10_000)]);
    let handle = rest_support::layer(&server).handle();
    for _ in 0..3 {
        handle
            .create_score(Score::new("q", 1).session_id("s"))
            .unwrap();
    }
    handle.flush().unwrap();
    let c = handle.score_counts();
    assert_eq!((c.sent, c.dropped, c.created), (0, 3, 3));
    handle.shutdown().unwrap();
}

#[test]
fn throttling_and_server_errors_are_retried() {
    let server = RestServer::start();
    server.script([Answer::TooMany(1), Answer::Status(500)]);
    let handle = rest_support::layer(&server).handle();
    handle
        .create_score(Score::new("q", 1).session_id("s"))
        .unwrap();
    handle.flush().unwrap();
    let posts = server.requests_to("/api/public/scores");
    assert_eq!(
        posts.iter().map(|p| p.status).collect::<Vec<_>>(),
        [429, 500, 202]
    );
    assert_eq!(handle.score_counts().sent, 1);
    assert_accounted(&handle);
    handle.shutdown().unwrap();
}

#[test]
fn rejected_keys_are_not_retried_and_counted_as_dropped() {
    for status in [401, 403] {
        let server = RestServer::start();
        server.set_default(Answer::Status(status));
        let handle = rest_support::layer(&server).handle();
        for _ in 0..3 {
            handle
                .create_score(Score::new("q", 1).session_id("s"))
                .unwrap();
        }
        handle.flush().unwrap();
        assert_eq!(server.requests_to("/api/public/scores").len(), 1);
        let c = handle.score_counts();
        assert_eq!((c.sent, c.dropped), (0, 3));
        handle.shutdown().unwrap();
    }
}

#[test]
fn a_server_without_the_batch_form_gets_one_object_per_request_from_then_on() {
    let server = RestServer::start();
    server.set_default(Answer::OnlySingle);
    let handle = rest_support::layer(&server).handle();
    for i in 0..3 {
        handle
            .create_score(Score::new("q", i).session_id("s"))
            .unwrap();
    }
    handle.flush().unwrap();
    let posts = server.requests_to("/api/public/scores");
    assert_eq!(posts.len(), 4, "one array, then three objects");
    assert!(posts[0].json().is_array());
    assert!(posts[1..].iter().all(|p| p.json().is_object()));
    // Remembered: the next batch goes as objects at once.
    handle
        .create_score(Score::new("q", 9).session_id("s"))
        .unwrap();
    handle.flush().unwrap();
    let posts = server.requests_to("/api/public/scores");
    assert_eq!(posts.len(), 5);
    assert!(posts[4].json().is_object());
    server.assert_valid();
    assert_eq!(handle.score_counts().sent, 4);
    assert_accounted(&handle);
    handle.shutdown().unwrap();
}

#[test]
fn a_bad_request_is_reported_and_dropped() {
    let server = RestServer::start();
    server.set_default(Answer::Status(400));
    let handle = rest_support::layer(&server).handle();
    handle
        .create_score(Score::new("q", 1).session_id("s"))
        .unwrap();
    handle.flush().unwrap();
    // The array, then the object (is it an old server?): both refused, nothing retried.
    assert_eq!(server.requests_to("/api/public/scores").len(), 2);
    assert_eq!(handle.dropped_scores(), 1);
    assert_accounted(&handle);
    handle.shutdown().unwrap();
}

#[test]
fn an_unreachable_server_loses_scores_counted() {
    let handle = unreachable_server_handle(Duration::from_secs(3));
    handle
        .create_score(Score::new("q", 1).session_id("s"))
        .unwrap();
    handle.shutdown().unwrap();
    assert_eq!(handle.dropped_scores(), 1);
    assert_accounted(&handle);
}

#[test]
fn invalid_scores_are_errors_and_never_sent() {
    let server = RestServer::start();
    let handle = rest_support::layer(&server).handle();
    let t = "6cec55478a541a9eb2b3bfd6c8ba5670";
    assert_eq!(
        handle.create_score(Score::new("", 1).trace_id(t)),
        Err(ScoreError::EmptyName)
    );
    assert!(matches!(
        handle.create_score(Score::new("q", f64::NAN).trace_id(t)),
        Err(ScoreError::NotFinite(_))
    ));
    assert!(matches!(
        handle.create_score(Score::new("q", 1).trace_id("not-an-id")),
        Err(ScoreError::InvalidTraceId(_))
    ));
    assert!(matches!(
        handle.create_score(Score::new("q", 1).trace_id(t).observation_id("zz")),
        Err(ScoreError::InvalidObservationId(_))
    ));
    assert_eq!(
        handle.create_score(Score::new("q", 1)),
        Err(ScoreError::NoTarget)
    );
    handle.flush().unwrap();
    assert!(server.requests_to("/api/public/scores").is_empty());
    assert_eq!(handle.score_counts().created, 0);
    handle.shutdown().unwrap();
}

#[test]
fn scores_of_sampled_out_traces_are_not_sent() {
    let server = RestServer::start();
    let handle = rest_support::layer_builder(&server)
        .sample_rate(0.5)
        .build()
        .unwrap()
        .handle();
    let below = (0.5f64 * 2f64.powi(64)).round() as u64;
    let mut kept = Vec::new();
    for i in 0..16 {
        let trace = create_trace_id(Some(&format!("seed-{i}")));
        handle
            .create_score(Score::new("q", 1).trace_id(trace))
            .unwrap();
        if (trace.to_u128() as u64) < below {
            kept.push(trace.to_string());
        }
    }
    // A session score has no trace: always kept.
    handle
        .create_score(Score::new("q", 1).session_id("s"))
        .unwrap();
    handle.flush().unwrap();
    let mut sent: Vec<String> = server
        .scores()
        .iter()
        .filter_map(|s| s["traceId"].as_str().map(str::to_owned))
        .collect();
    sent.sort();
    kept.sort();
    assert_eq!(sent, kept);
    assert!(!kept.is_empty() && kept.len() < 16);
    let c = handle.score_counts();
    assert_eq!(c.sampled_out, 16 - kept.len() as u64);
    assert_eq!(c.sent, kept.len() as u64 + 1);
    handle.shutdown().unwrap();
}

#[test]
fn shutdown_sends_what_is_queued_and_refuses_later_scores() {
    let server = RestServer::start();
    let handle = rest_support::layer(&server).handle();
    for i in 0..20 {
        handle
            .create_score(Score::new("q", i).session_id("s"))
            .unwrap();
    }
    handle.shutdown().unwrap();
    assert_eq!(server.scores().len(), 20);
    assert_eq!(
        handle.create_score(Score::new("q", 1).session_id("s")),
        Err(ScoreError::ShutDown)
    );
    assert_accounted(&handle);
    assert!(server.wait_for(WAIT, |seen| !seen.is_empty()));
}

#[test]
fn without_credentials_scores_are_printed_not_sent() {
    let handle = LangfuseLayer::builder().build().unwrap().handle();
    handle
        .create_score(Score::new("q", 1).session_id("s"))
        .unwrap();
    handle.shutdown().unwrap();
    let c = handle.score_counts();
    assert_eq!((c.created, c.sent), (1, 1));
}

#[test]
fn the_validator_catches_a_body_the_api_would_reject() {
    let schema = rest_support::request_schema("/api/public/scores", "post");
    assert!(rest_support::validate(&json!({"name": "q", "value": 1}), &schema, "s").is_ok());
    assert!(rest_support::validate(&json!({"name": "q"}), &schema, "s").is_err());
    assert!(rest_support::validate(&json!({"name": "q", "value": true}), &schema, "s").is_err());
    assert!(rest_support::validate(
        &json!({"name": "q", "value": 1, "dataType": "BOOL"}),
        &schema,
        "s"
    )
    .is_err());
    assert!(rest_support::validate(
        &json!({"name": "q", "value": 1, "traceID": "x"}),
        &schema,
        "s"
    )
    .is_err());
}

/// The OpenAPI copy in tests/spec is the project's file, byte for byte, wherever the
/// original sits beside the repository (as in CI).
#[test]
fn the_openapi_copy_matches_the_shared_spec() {
    let original = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/spec/langfuse-public-api.openapi.yml"
    );
    let Ok(original) = std::fs::read(original) else {
        eprintln!("../shared/spec is not beside this checkout; nothing to compare");
        return;
    };
    let copy = std::fs::read(rest_support::OPENAPI).expect("the copy");
    assert!(
        copy == original,
        "tests/spec/langfuse-public-api.openapi.yml differs from ../shared/spec: copy it again"
    );
}

/// The score queue is bounded by bytes too (64 MiB): large scores piling up behind an
/// unreachable server are refused with `QueueFull` and counted, never held without
/// bound (100,000 scores of up to 1 MB each could be waiting before).
#[test]
fn the_score_queue_is_bounded_by_bytes() {
    let handle = unreachable_server_handle(Duration::from_secs(1));
    let comment = "x".repeat(900_000);
    let mut refused = 0;
    for i in 0..90 {
        let score = Score::new("q", i).session_id("s").comment(comment.clone());
        match handle.create_score(score) {
            Ok(_) => {}
            Err(ScoreError::QueueFull) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    // 64 MiB hold 74 of them, and the worker holds a few more in its hands.
    assert!((5..=16).contains(&refused), "{refused} refused");
    let _ = handle.shutdown();
    assert!(handle.dropped_scores() >= refused);
    assert_accounted(&handle);
}
