//! The data path end to end: `tracing` spans with Langfuse fields go in, and the
//! in-process OTLP receiver checks the exact request, headers, ids and attributes.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine as _;
use langfuse_tracing::Compression;
use support::{AttrValue, Receiver};
use tracing::field::Empty;
use tracing_subscriber::prelude::*;

use support::{PUBLIC_KEY as PK, SECRET_KEY as SK};

/// The test layer with a trailing slash on the base URL (it must not double the path's).
fn builder_with_trailing_slash(receiver: &Receiver) -> langfuse_tracing::LayerBuilder {
    support::layer_builder_to(format!("{}/", receiver.base_url()))
}

#[test]
fn request_path_headers_auth_gzip_scope_and_resource() {
    let receiver = Receiver::start();
    support::run(
        builder_with_trailing_slash(&receiver)
            .environment("staging")
            .release("r-42")
            .build()
            .unwrap(),
        || {
            let _s = tracing::info_span!("root", langfuse.observation.type = "span").entered();
        },
    );
    let requests = receiver.wait_for_requests(1, Duration::from_secs(10));
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/api/public/otel/v1/traces");
    assert!(r.gzip, "gzip is the default");
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    let expected_auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{PK}:{SK}"))
    );
    assert_eq!(r.header("authorization"), Some(expected_auth.as_str()));
    assert_eq!(r.header("x-langfuse-sdk-name"), Some("rust"));
    assert_eq!(
        r.header("x-langfuse-sdk-version"),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(r.header("x-langfuse-public-key"), Some(PK));
    assert_eq!(r.header("x-langfuse-ingestion-version"), Some("4"));

    let span = receiver.span_named("root");
    assert_eq!(span.scope_name, "langfuse-sdk");
    assert_eq!(span.scope_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(
        span.scope_attributes.get("public_key"),
        Some(&AttrValue::Str(PK.into()))
    );
    assert_eq!(span.kind, 1, "SPAN_KIND_INTERNAL");
    assert_eq!(
        span.resource_attributes.get("langfuse.environment"),
        Some(&AttrValue::Str("staging".into()))
    );
    assert_eq!(
        span.resource_attributes.get("langfuse.release"),
        Some(&AttrValue::Str("r-42".into()))
    );
    assert!(span.resource_attributes.contains_key("service.name"));
    assert_eq!(span.str_attr("langfuse.environment"), Some("staging"));
    assert_eq!(span.str_attr("langfuse.release"), Some("r-42"));
    assert_eq!(span.trace_id.len(), 32);
    assert_eq!(span.span_id.len(), 16);
    assert!(span
        .trace_id
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_eq!(span.parent_span_id, None);
    assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
}

#[test]
fn no_compression_sends_plain_protobuf() {
    let receiver = Receiver::start();
    support::run(
        builder_with_trailing_slash(&receiver)
            .compression(Compression::None)
            .build()
            .unwrap(),
        || {
            let _s = tracing::info_span!("plain", langfuse.observation.type = "span").entered();
        },
    );
    let r = &receiver.wait_for_requests(1, Duration::from_secs(10))[0];
    assert!(!r.gzip);
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.raw_body_len, r.decoded_body_len);
}

#[test]
fn parent_links_follow_the_tracing_tree_across_threads_and_skip_plain_spans() {
    let receiver = Receiver::start();
    support::run(
        builder_with_trailing_slash(&receiver).build().unwrap(),
        || {
            let root = tracing::info_span!("root", langfuse.observation.type = "agent");
            let _e = root.enter();
            // A plain span in between is transparent: its child attaches to `root`.
            let plain = tracing::info_span!("plain-middle");
            let _p = plain.enter();
            let child = tracing::info_span!("child", langfuse.observation.type = "tool");
            let for_thread = child.clone();
            // `with_default` is per thread: carry the dispatcher into the new thread.
            let dispatch = tracing::dispatcher::get_default(|d| d.clone());
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    let _c = for_thread.enter();
                    let _g =
                        tracing::info_span!("grandchild", langfuse.observation.type = "generation")
                            .entered();
                })
            })
            .join()
            .unwrap();
            drop(child);
        },
    );
    let spans = receiver.wait_for_spans(3, Duration::from_secs(10));
    assert_eq!(spans.len(), 3, "the plain span is not exported");
    let root = receiver.span_named("root");
    let child = receiver.span_named("child");
    let grandchild = receiver.span_named("grandchild");
    assert_eq!(child.parent_span_id.as_deref(), Some(root.span_id.as_str()));
    assert_eq!(
        grandchild.parent_span_id.as_deref(),
        Some(child.span_id.as_str())
    );
    assert!(spans.iter().all(|s| s.trace_id == root.trace_id));
    assert_eq!(root.bool_attr("langfuse.internal.is_app_root"), Some(true));
    assert_eq!(child.attr("langfuse.internal.is_app_root"), None);
    assert_eq!(root.str_attr("langfuse.observation.type"), Some("agent"));
    assert_eq!(child.str_attr("langfuse.observation.type"), Some("tool"));
}

#[test]
fn gen_ai_spans_are_kept_and_other_plain_spans_dropped_by_default() {
    let receiver = Receiver::start();
    support::run(
        builder_with_trailing_slash(&receiver).build().unwrap(),
        || {
            let _a = tracing::info_span!(
                "chat gpt-4o",
                gen_ai.request.model = "gpt-4o",
                gen_ai.usage.input_tokens = 12i64
            )
            .entered();
            let _b = tracing::info_span!("db-query", table = "users").entered();
        },
    );
    let spans = receiver.wait_for_spans(1, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(receiver.spans().len(), 1);
    let s = &spans[0];
    assert_eq!(s.name, "chat gpt-4o");
    assert_eq!(s.str_attr("gen_ai.request.model"), Some("gpt-4o"));
    assert_eq!(s.int_attr("gen_ai.usage.input_tokens"), Some(12));
    // No Langfuse type was asked for: the server infers it (a generation here).
    assert_eq!(s.str_attr("langfuse.observation.type"), None);
}

#[test]
fn a_user_filter_replaces_the_default() {
    let receiver = Receiver::start();
    let filter = langfuse_tracing::SpanFilter::new(|m| m.name() == "db-query");
    support::run(
        builder_with_trailing_slash(&receiver)
            .span_filter(filter)
            .build()
            .unwrap(),
        || {
            let _a = tracing::info_span!("chat", gen_ai.request.model = "gpt-4o").entered();
            let _b = tracing::info_span!("db-query", table = "users").entered();
        },
    );
    let spans = receiver.wait_for_spans(1, Duration::from_secs(10));
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name, "db-query");
    assert_eq!(spans[0].str_attr("table"), Some("users"));
}

/// A filter that panics on some span: that span is not recorded, the others are, and
/// the panic never reaches the code that created the span.
#[test]
fn a_panicking_user_filter_skips_that_span_only() {
    let receiver = Receiver::start();
    let filter = langfuse_tracing::SpanFilter::new(|m| {
        assert!(m.name() != "bad", "the filter's own bug");
        m.name() == "db-query"
    });
    support::run(
        builder_with_trailing_slash(&receiver)
            .span_filter(filter)
            .build()
            .unwrap(),
        || {
            let _a = tracing::info_span!("bad", table = "x").entered();
            let _b = tracing::info_span!("db-query", table = "users").entered();
        },
    );
    let spans = receiver.wait_for_spans(1, Duration::from_secs(10));
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name, "db-query");
}

#[test]
fn generation_fields_are_exported_exactly_and_updates_merge() {
    let receiver = Receiver::start();
    support::run(
        builder_with_trailing_slash(&receiver).build().unwrap(),
        || {
            let span = tracing::info_span!(
                "llm-call",
                langfuse.observation.type = "generation",
                langfuse.observation.input = "What is 2+2?",
                langfuse.observation.output = Empty,
                langfuse.observation.model.name = "gpt-4o",
                langfuse.observation.model.parameters = r#"{"temperature": 0.2}"#,
                langfuse.observation.usage_details = Empty,
                langfuse.observation.cost_details = Empty,
                langfuse.observation.completion_start_time = "\"2025-01-02T03:04:05.678901Z\"",
                langfuse.observation.prompt.name = "qa",
                langfuse.observation.prompt.version = 3i64,
                langfuse.observation.metadata.attempt = 1i64,
                langfuse.observation.metadata.component = "api",
                langfuse.observation.level = Empty,
                langfuse.version = "v2",
            );
            span.record("langfuse.observation.output", "4");
            span.record(
                "langfuse.observation.usage_details",
                r#"{"input": 10, "output": 50}"#,
            );
            span.record(
                "langfuse.observation.cost_details",
                r#"{"input": 0.0001, "total": 0.0021}"#,
            );
            span.record("langfuse.observation.metadata.attempt", 2i64);
            span.record("langfuse.observation.level", "WARNING");
        },
    );
    let s = receiver
        .wait_for_spans(1, Duration::from_secs(10))
        .remove(0);
    let keys: BTreeSet<String> = s.langfuse_keys().into_iter().collect();
    let expected: BTreeSet<String> = [
        "langfuse.observation.type",
        "langfuse.observation.input",
        "langfuse.observation.output",
        "langfuse.observation.model.name",
        "langfuse.observation.model.parameters",
        "langfuse.observation.usage_details",
        "langfuse.observation.cost_details",
        "langfuse.observation.completion_start_time",
        "langfuse.observation.prompt.name",
        "langfuse.observation.prompt.version",
        "langfuse.observation.metadata.attempt",
        "langfuse.observation.metadata.component",
        "langfuse.observation.level",
        "langfuse.version",
        "langfuse.internal.is_app_root",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(keys, expected);
    assert_eq!(s.str_attr("langfuse.observation.type"), Some("generation"));
    assert_eq!(
        s.str_attr("langfuse.observation.input"),
        Some("What is 2+2?")
    );
    assert_eq!(s.str_attr("langfuse.observation.output"), Some("4"));
    assert_eq!(
        s.str_attr("langfuse.observation.model.name"),
        Some("gpt-4o")
    );
    assert_eq!(
        s.str_attr("langfuse.observation.usage_details"),
        Some(r#"{"input": 10, "output": 50}"#)
    );
    assert_eq!(
        s.str_attr("langfuse.observation.cost_details"),
        Some(r#"{"input": 0.0001, "total": 0.0021}"#)
    );
    assert_eq!(
        s.str_attr("langfuse.observation.completion_start_time"),
        Some("\"2025-01-02T03:04:05.678901Z\"")
    );
    assert_eq!(s.str_attr("langfuse.observation.prompt.name"), Some("qa"));
    assert_eq!(s.int_attr("langfuse.observation.prompt.version"), Some(3));
    assert_eq!(
        s.str_attr("langfuse.observation.metadata.attempt"),
        Some("2"),
        "later value wins"
    );
    assert_eq!(
        s.str_attr("langfuse.observation.metadata.component"),
        Some("\"api\""),
        "metadata strings are JSON"
    );
    assert_eq!(s.str_attr("langfuse.observation.level"), Some("WARNING"));
    assert_eq!(s.status_code, 0, "only ERROR sets the status");
    assert_eq!(s.str_attr("langfuse.version"), Some("v2"));
}

#[test]
fn generation_fields_on_span_like_types_are_dropped() {
    let receiver = Receiver::start();
    support::run(
        builder_with_trailing_slash(&receiver).build().unwrap(),
        || {
            let _s = tracing::info_span!("tool", langfuse.observation.type = "tool", langfuse.observation.model.name = "gpt-4o", langfuse.observation.usage_details = "{}").entered();
        },
    );
    let s = receiver
        .wait_for_spans(1, Duration::from_secs(10))
        .remove(0);
    assert_eq!(s.attr("langfuse.observation.model.name"), None);
    assert_eq!(s.attr("langfuse.observation.usage_details"), None);
}

#[test]
fn error_level_sets_the_otel_status() {
    let receiver = Receiver::start();
    support::run(
        builder_with_trailing_slash(&receiver).build().unwrap(),
        || {
            let _s = tracing::info_span!("failing", langfuse.observation.type = "tool", langfuse.observation.level = "ERROR", langfuse.observation.status_message = "tool failed for 7").entered();
        },
    );
    let s = receiver
        .wait_for_spans(1, Duration::from_secs(10))
        .remove(0);
    assert_eq!(s.str_attr("langfuse.observation.level"), Some("ERROR"));
    assert_eq!(
        s.str_attr("langfuse.observation.status_message"),
        Some("tool failed for 7")
    );
    assert_eq!(s.status_code, 2);
    assert_eq!(s.status_message, "tool failed for 7");
}

#[test]
fn every_observation_type_goes_on_the_wire_with_its_name() {
    let receiver = Receiver::start();
    let types = [
        "span",
        "generation",
        "embedding",
        "agent",
        "tool",
        "chain",
        "retriever",
        "evaluator",
        "guardrail",
        "event",
    ];
    support::run(
        builder_with_trailing_slash(&receiver).build().unwrap(),
        || {
            for t in types {
                let _s = tracing::info_span!("typed", langfuse.observation.type = t).entered();
            }
        },
    );
    let spans = receiver.wait_for_spans(types.len(), Duration::from_secs(10));
    let got: BTreeSet<&str> = spans
        .iter()
        .filter_map(|s| s.str_attr("langfuse.observation.type"))
        .collect();
    assert_eq!(got, types.into_iter().collect());
    let event = spans
        .iter()
        .find(|s| s.str_attr("langfuse.observation.type") == Some("event"))
        .unwrap();
    assert_eq!(
        event.start_time_unix_nano, event.end_time_unix_nano,
        "an event has zero duration"
    );
}

#[test]
fn trace_level_fields_from_span_fields() {
    let receiver = Receiver::start();
    support::run(
        builder_with_trailing_slash(&receiver).build().unwrap(),
        || {
            let _s = tracing::info_span!(
                "request",
                langfuse.observation.type = "span",
                user.id = "user_123",
                session.id = "session_abc",
                langfuse.trace.name = "checkout",
                langfuse.trace.tags = r#"["tag-a","tag-b"]"#,
                langfuse.trace.metadata.plan = "premium",
                langfuse.trace.public = true,
            )
            .entered();
        },
    );
    let s = receiver
        .wait_for_spans(1, Duration::from_secs(10))
        .remove(0);
    assert_eq!(s.str_attr("user.id"), Some("user_123"));
    assert_eq!(s.str_attr("session.id"), Some("session_abc"));
    assert_eq!(s.str_attr("langfuse.trace.name"), Some("checkout"));
    assert_eq!(
        s.attr("langfuse.trace.tags"),
        Some(&AttrValue::Array(vec![
            AttrValue::Str("tag-a".into()),
            AttrValue::Str("tag-b".into())
        ]))
    );
    assert_eq!(
        s.str_attr("langfuse.trace.metadata.plan"),
        Some("\"premium\"")
    );
    assert_eq!(s.bool_attr("langfuse.trace.public"), Some(true));
}

#[test]
fn sampling_keeps_or_drops_whole_traces() {
    let receiver = Receiver::start();
    support::run(
        builder_with_trailing_slash(&receiver)
            .sample_rate(0.0)
            .build()
            .unwrap(),
        || {
            let _s = tracing::info_span!("dropped", langfuse.observation.type = "span").entered();
        },
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(receiver.spans().len(), 0);

    let receiver = Receiver::start();
    support::run(
        builder_with_trailing_slash(&receiver)
            .sample_rate(0.5)
            .build()
            .unwrap(),
        || {
            for _ in 0..200 {
                let _r = tracing::info_span!("r", langfuse.observation.type = "span").entered();
                let _c = tracing::info_span!("c", langfuse.observation.type = "span").entered();
            }
        },
    );
    let spans = receiver.spans(); // flush() returned: everything has arrived
    let roots: Vec<_> = spans.iter().filter(|s| s.name == "r").collect();
    let children: Vec<_> = spans.iter().filter(|s| s.name == "c").collect();
    assert_eq!(
        roots.len(),
        children.len(),
        "children follow their root's decision"
    );
    assert!(
        roots.len() > 50 && roots.len() < 150,
        "about half kept, got {}",
        roots.len()
    );
    for r in roots {
        let low = u64::from_str_radix(&r.trace_id[16..], 16).unwrap();
        assert!(
            low < 1u64 << 63,
            "kept iff the low 64 bits are below rate * 2^64"
        );
    }
}

#[test]
fn disabled_tracing_sends_nothing() {
    let receiver = Receiver::start();
    support::run(
        builder_with_trailing_slash(&receiver)
            .tracing_enabled(false)
            .build()
            .unwrap(),
        || {
            let _s = tracing::info_span!("x", langfuse.observation.type = "span").entered();
        },
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(receiver.request_count(), 0);
}

#[test]
fn flush_at_sends_full_batches_without_an_explicit_flush() {
    let receiver = Receiver::start();
    let layer = builder_with_trailing_slash(&receiver)
        .flush_at(2)
        .flush_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let handle = layer.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for _ in 0..4 {
            let _s = tracing::info_span!("batched", langfuse.observation.type = "span").entered();
        }
    });
    let requests = receiver.wait_for_requests(2, Duration::from_secs(10));
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.spans().len() == 2));
    handle.shutdown().unwrap();
}

#[test]
fn flush_interval_sends_without_an_explicit_flush() {
    let receiver = Receiver::start();
    let layer = builder_with_trailing_slash(&receiver)
        .flush_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    let handle = layer.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let _s = tracing::info_span!("timed", langfuse.observation.type = "span").entered();
    });
    assert_eq!(receiver.wait_for_spans(1, Duration::from_secs(10)).len(), 1);
    handle.shutdown().unwrap();
}

#[test]
fn the_tight_loop_loses_nothing_with_default_settings() {
    let receiver = Receiver::start();
    let layer = builder_with_trailing_slash(&receiver).build().unwrap();
    let handle = layer.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for _ in 0..100 {
            let _root = tracing::info_span!("root", langfuse.observation.type = "span").entered();
            for _ in 0..100 {
                let _c = tracing::info_span!("child", langfuse.observation.type = "generation", langfuse.observation.input = "{\"query\": \"q\"}").entered();
            }
        }
    });
    handle.shutdown().unwrap();
    assert_eq!(handle.dropped_observations(), 0);
    assert_eq!(receiver.spans().len(), 100 * 101);
}

#[test]
fn a_full_queue_drops_new_observations_and_counts_them() {
    let receiver = Receiver::start();
    // A tiny budget and no export until shutdown: most observations cannot be queued.
    let layer = builder_with_trailing_slash(&receiver)
        .max_queue_bytes(8 * 1024)
        .flush_at(1_000_000)
        .flush_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let handle = layer.handle();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    // Keep the worker busy so the queue fills: send from this thread only.
    tracing::dispatcher::with_default(&dispatch, || {
        for _ in 0..2_000 {
            let _s = tracing::info_span!("flood", langfuse.observation.type = "span", langfuse.observation.input = "some input text").entered();
        }
    });
    handle.shutdown().unwrap();
    let arrived = receiver.spans().len() as u64;
    let dropped = handle.dropped_observations();
    assert_eq!(
        arrived + dropped,
        2_000,
        "every observation is either delivered or counted"
    );
    assert!(
        dropped > 0,
        "the 8 KiB budget cannot hold 2,000 observations at once"
    );
}

/// Sends `n` observations through a layer with an 8 KiB queue to a collector that
/// answers each request after 20 ms; returns (delivered, dropped).
fn flood_a_slow_collector(n: usize, queue_full_wait: Duration) -> (usize, u64) {
    let receiver = Receiver::start_with_delay(Duration::from_millis(20));
    let layer = builder_with_trailing_slash(&receiver)
        .max_queue_bytes(8 * 1024)
        .flush_at(20)
        .queue_full_wait(queue_full_wait)
        .build()
        .unwrap();
    let handle = layer.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..n {
            let _s = tracing::info_span!("flood", langfuse.observation.type = "span", langfuse.observation.input = "some input text", i).entered();
        }
    });
    handle.shutdown().unwrap();
    let mut seen: Vec<i64> = receiver
        .spans()
        .iter()
        .filter_map(|s| s.int_attr("i"))
        .collect();
    seen.sort_unstable();
    seen.dedup();
    (seen.len(), handle.dropped_observations())
}

#[test]
fn with_a_queue_full_wait_a_slow_collector_slows_the_caller_instead_of_losing_spans() {
    // The control: the same flood without waiting overflows the queue.
    let (delivered, dropped) = flood_a_slow_collector(400, Duration::ZERO);
    assert!(dropped > 0, "the 8 KiB queue cannot hold the flood");
    assert_eq!(delivered as u64 + dropped, 400);

    let (delivered, dropped) = flood_a_slow_collector(400, Duration::from_secs(30));
    assert_eq!(dropped, 0, "every observation waited for room");
    assert_eq!(delivered, 400, "every observation arrived, once");
}

#[test]
fn a_queue_full_wait_gives_up_after_its_bound() {
    // A collector that never answers, and a request timeout of a minute: the export
    // thread is stuck in its first request, so the queue stays full, and each
    // observation that finds it full is dropped after 20 ms instead of waiting for
    // the export thread.
    let receiver = Receiver::start_with_delay(Duration::from_secs(3600));
    let layer = builder_with_trailing_slash(&receiver)
        .max_queue_bytes(8 * 1024)
        .flush_at(5)
        .timeout(Duration::from_secs(60))
        .queue_full_wait(Duration::from_millis(20))
        .build()
        .unwrap();
    let handle = layer.handle();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            for _ in 0..100 {
                let _s = tracing::info_span!("stuck", langfuse.observation.type = "span", langfuse.observation.input = "some input text").entered();
            }
        });
        let _ = tx.send(());
    });
    // At most 100 waits of 20 ms; a caller that waited for the stuck export thread
    // would not be done before its 60 s request timeout.
    rx.recv_timeout(Duration::from_secs(30))
        .expect("a full queue blocked the caller past queue_full_wait");
    assert!(handle.dropped_observations() > 0);
    // No shutdown, and no drop of the last handle (which shuts down): either would
    // wait for the stuck request, up to its 60 s timeout.
    std::mem::forget(handle);
}

#[test]
fn bad_field_values_warn_without_deadlocking_a_formatting_layer() {
    let receiver = Receiver::start();
    let layer = builder_with_trailing_slash(&receiver).build().unwrap();
    let handle = layer.handle();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink))
            .with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("odd", langfuse.observation.type = "not-a-type", langfuse.observation.level = Empty);
            let _e = span.enter();
            span.record("langfuse.observation.level", "LOUD");
        });
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("recording a bad value hung");
    handle.flush().unwrap();
    let s = receiver.span_named("odd");
    assert_eq!(
        s.str_attr("langfuse.observation.type"),
        Some("span"),
        "an unknown type falls back to span"
    );
    assert_eq!(
        s.attr("langfuse.observation.level"),
        None,
        "an unknown level is ignored"
    );
}

/// A huge `flush_at` (say `LANGFUSE_FLUSH_AT=4611686018427387904`) is a batch that never
/// fills, not an overflow that ends the export thread (debug builds panicked).
#[test]
fn a_huge_flush_at_still_exports_on_flush() {
    let receiver = Receiver::start();
    let layer = builder_with_trailing_slash(&receiver)
        .flush_at(1 << 62)
        .build()
        .unwrap();
    let handle = layer.handle();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    for round in 1..=2 {
        tracing::dispatcher::with_default(&dispatch, || {
            drop(tracing::info_span!("s", langfuse.observation.type = "span"));
        });
        handle.flush().expect("the export thread is alive");
        assert_eq!(
            receiver
                .wait_for_spans(round, Duration::from_secs(10))
                .len(),
            round
        );
    }
    handle.shutdown().unwrap();
}
