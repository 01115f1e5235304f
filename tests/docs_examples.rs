//! Rust twins of the examples in the Langfuse docs pages (`shared/reference/`), each
//! checked through the real layer and the in-process OTLP receiver.

mod support;

use std::time::Duration;

use langfuse_tracing::observation::{
    event, generation, span, update_current_generation, update_current_span, update_current_trace,
    GenerationUpdate, SpanUpdate, TraceContext, TraceUpdate,
};
use langfuse_tracing::{create_trace_id, get_current_observation_id, get_current_trace_id};
use serde_json::json;
use support::{capture, layer_builder, AttrValue, CapturedSpan, Receiver};
use tracing_subscriber::prelude::*;

fn parent_of<'a>(spans: &'a [CapturedSpan], child: &CapturedSpan) -> Option<&'a CapturedSpan> {
    spans
        .iter()
        .find(|s| Some(&s.span_id) == child.parent_span_id.as_ref())
}

fn name_of_parent(spans: &[CapturedSpan], name: &str) -> Option<String> {
    let child = spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name}"));
    parent_of(spans, child).map(|p| p.name.clone())
}

/// Instrumentation > Context manager.
#[test]
fn context_manager_example() {
    let (_r, spans) = capture(|| {
        span("user-request-pipeline")
            .input(&json!({"user_query": "Tell me a joke"}))
            .run(|root_span| {
                generation("joke-generation").model("gpt-4o").run(|gen| {
                    gen.update(GenerationUpdate::new().output(&"Why did the span cross the road?"));
                });
                root_span.update(SpanUpdate::new().output(&json!({"final_joke": "..."})));
            });
    });
    assert_eq!(spans.len(), 2);
    let root = spans
        .iter()
        .find(|s| s.name == "user-request-pipeline")
        .unwrap();
    let gen = spans.iter().find(|s| s.name == "joke-generation").unwrap();
    assert_eq!(root.str_attr("langfuse.observation.type"), Some("span"));
    assert_eq!(
        root.str_attr("langfuse.observation.input"),
        Some(r#"{"user_query": "Tell me a joke"}"#)
    );
    assert_eq!(
        root.str_attr("langfuse.observation.output"),
        Some(r#"{"final_joke": "..."}"#)
    );
    assert_eq!(
        gen.str_attr("langfuse.observation.type"),
        Some("generation")
    );
    assert_eq!(
        gen.str_attr("langfuse.observation.model.name"),
        Some("gpt-4o")
    );
    assert_eq!(
        gen.str_attr("langfuse.observation.output"),
        Some("Why did the span cross the road?")
    );
    assert_eq!(gen.parent_span_id.as_deref(), Some(root.span_id.as_str()));
}

/// Instrumentation > Context manager (JS `startActiveObservation` with a nested `startObservation`).
#[test]
fn active_observation_with_manual_child_example() {
    let (_r, spans) = capture(|| {
        span("user-request").run(|s| {
            s.update(SpanUpdate::new().input(&json!({"query": "Capital of France?"})));
            let generation = generation("llm-call")
                .model("gpt-4")
                .input(&json!([{"role": "user", "content": "Capital of France?"}]))
                .start();
            generation.update(GenerationUpdate::new().output(&json!({"content": "Paris."})));
            generation.end();
            s.update(SpanUpdate::new().output(&"Answered."));
        });
    });
    assert_eq!(
        name_of_parent(&spans, "llm-call").as_deref(),
        Some("user-request")
    );
    let gen = spans.iter().find(|s| s.name == "llm-call").unwrap();
    // serde_json's `json!` keeps keys sorted.
    assert_eq!(
        gen.str_attr("langfuse.observation.input"),
        Some(r#"[{"content": "Capital of France?", "role": "user"}]"#)
    );
    assert_eq!(
        gen.str_attr("langfuse.observation.output"),
        Some(r#"{"content": "Paris."}"#)
    );
}

/// Instrumentation > Manual observations.
#[test]
fn manual_observation_example() {
    let (_r, spans) = capture(|| {
        let s = span("manual-span").start();
        s.update(SpanUpdate::new().input(&"Data for side task"));
        let child = s.start_observation(generation("child-span"));
        child.end();
        s.end();
    });
    assert_eq!(
        name_of_parent(&spans, "child-span").as_deref(),
        Some("manual-span")
    );
    let manual = spans.iter().find(|s| s.name == "manual-span").unwrap();
    assert_eq!(
        manual.str_attr("langfuse.observation.input"),
        Some("Data for side task")
    );
    let child = spans.iter().find(|s| s.name == "child-span").unwrap();
    assert_eq!(
        child.str_attr("langfuse.observation.type"),
        Some("generation")
    );
}

/// Instrumentation > Manual observations: "Example with more complex nesting".
#[test]
fn more_complex_nesting_gives_siblings_under_main_operation() {
    let (_r, spans) = capture(|| {
        span("main-operation").run(|main_operation_span| {
            let manual_side_task = span("manual-side-task").start();
            manual_side_task.update(SpanUpdate::new().input(&"Data for side task"));
            span("core-step-within-main").run(|core_step_span| {
                core_step_span.update(SpanUpdate::new().input(&"Data for core step"));
                core_step_span.update(SpanUpdate::new().output(&"Core step finished"));
            });
            manual_side_task.update(SpanUpdate::new().output(&"Side task completed"));
            manual_side_task.end();
            main_operation_span.update(SpanUpdate::new().output(&"Main operation finished"));
        });
    });
    assert_eq!(spans.len(), 3);
    assert_eq!(name_of_parent(&spans, "main-operation"), None);
    assert_eq!(
        name_of_parent(&spans, "manual-side-task").as_deref(),
        Some("main-operation")
    );
    assert_eq!(
        name_of_parent(&spans, "core-step-within-main").as_deref(),
        Some("main-operation")
    );
    let side = spans.iter().find(|s| s.name == "manual-side-task").unwrap();
    assert_eq!(
        side.str_attr("langfuse.observation.input"),
        Some("Data for side task")
    );
    assert_eq!(
        side.str_attr("langfuse.observation.output"),
        Some("Side task completed")
    );
}

/// Instrumentation > Manual observations (JS: tool and generation children of a root).
#[test]
fn manual_children_of_a_root_example() {
    let (_r, spans) = capture(|| {
        let root = span("user-request")
            .input(&json!({"query": "What is the capital of France?"}))
            .start();
        let tool_call = root.start_observation(
            langfuse_tracing::observation::tool("fetch-weather").input(&json!({"city": "Paris"})),
        );
        tool_call.update(SpanUpdate::new().output(&json!({"temperature": "15°C"})));
        tool_call.end();
        let gen = root.start_observation(
            generation("llm-call")
                .model("gpt-4")
                .input(&json!([{"role": "user", "content": "What is the capital of France?"}])),
        );
        gen.update(
            GenerationUpdate::new()
                .usage_details(&json!({"input": 10, "output": 5}))
                .output(&json!({"content": "The capital of France is Paris."})),
        );
        gen.end();
        root.update(SpanUpdate::new().output(&"Successfully answered user request."));
        root.end();
    });
    let tool = spans.iter().find(|s| s.name == "fetch-weather").unwrap();
    assert_eq!(tool.str_attr("langfuse.observation.type"), Some("tool"));
    assert_eq!(
        tool.str_attr("langfuse.observation.output"),
        Some(r#"{"temperature": "15\u00b0C"}"#),
        "IO encoding escapes non-ASCII"
    );
    let gen = spans.iter().find(|s| s.name == "llm-call").unwrap();
    assert_eq!(
        gen.str_attr("langfuse.observation.usage_details"),
        Some(r#"{"input": 10, "output": 5}"#)
    );
    assert_eq!(
        name_of_parent(&spans, "fetch-weather").as_deref(),
        Some("user-request")
    );
    assert_eq!(
        name_of_parent(&spans, "llm-call").as_deref(),
        Some("user-request")
    );
}

/// Nesting observations > Context manager (children through handles).
#[test]
fn nesting_through_handles_example() {
    let (_r, spans) = capture(|| {
        span("outer-process").run(|outer_span| {
            generation("llm-step-1").run(|gen1| {
                gen1.update(GenerationUpdate::new().output(&"LLM 1 output"));
            });
            outer_span.start_as_current_observation(span("intermediate-step"), |mid_span| {
                mid_span.start_as_current_observation(generation("llm-step-2"), |gen2| {
                    gen2.update(GenerationUpdate::new().output(&"LLM 2 output"));
                });
                mid_span.update(SpanUpdate::new().output(&"Intermediate processing done"));
            });
            outer_span.update(SpanUpdate::new().output(&"Outer process finished"));
        });
    });
    assert_eq!(
        name_of_parent(&spans, "llm-step-1").as_deref(),
        Some("outer-process")
    );
    assert_eq!(
        name_of_parent(&spans, "intermediate-step").as_deref(),
        Some("outer-process")
    );
    assert_eq!(
        name_of_parent(&spans, "llm-step-2").as_deref(),
        Some("intermediate-step")
    );
}

/// Nesting observations > Manual observations.
#[test]
fn manual_parent_with_two_children_example() {
    let (_r, spans) = capture(|| {
        let parent = span("manual-parent").start();
        let child_span = parent.start_observation(span("manual-child-span"));
        child_span.end();
        let child_gen = parent.start_observation(generation("manual-child-generation"));
        child_gen.end();
        parent.end();
    });
    assert_eq!(
        name_of_parent(&spans, "manual-child-span").as_deref(),
        Some("manual-parent")
    );
    assert_eq!(
        name_of_parent(&spans, "manual-child-generation").as_deref(),
        Some("manual-parent")
    );
}

/// Instrumentation > Update observations.
#[test]
fn update_observations_example() {
    let (_r, spans) = capture(|| {
        generation("llm-call").model("gpt-5-mini").run(|gen| {
            gen.update(GenerationUpdate::new().input(&json!({"prompt": "Why is the sky blue?"})));
            let response_text = "Rayleigh scattering...";
            gen.update(
                GenerationUpdate::new()
                    .output(&response_text)
                    .usage_details(&json!({"input_tokens": 5, "output_tokens": 50}))
                    .metadata_object(&json!({"confidence": 0.9})),
            );
        });
        span("data-processing").run(|_| {
            update_current_span(
                SpanUpdate::new().metadata_object(&json!({"step1_complete": true})),
            );
            update_current_span(SpanUpdate::new().output(&json!({"result": "final_data"})));
        });
    });
    let gen = spans.iter().find(|s| s.name == "llm-call").unwrap();
    assert_eq!(
        gen.str_attr("langfuse.observation.model.name"),
        Some("gpt-5-mini")
    );
    assert_eq!(
        gen.str_attr("langfuse.observation.input"),
        Some(r#"{"prompt": "Why is the sky blue?"}"#)
    );
    assert_eq!(
        gen.str_attr("langfuse.observation.output"),
        Some("Rayleigh scattering...")
    );
    assert_eq!(
        gen.str_attr("langfuse.observation.usage_details"),
        Some(r#"{"input_tokens": 5, "output_tokens": 50}"#)
    );
    assert_eq!(
        gen.str_attr("langfuse.observation.metadata.confidence"),
        Some("0.9")
    );
    let dp = spans.iter().find(|s| s.name == "data-processing").unwrap();
    assert_eq!(
        dp.str_attr("langfuse.observation.metadata.step1_complete"),
        Some("true")
    );
    assert_eq!(
        dp.str_attr("langfuse.observation.output"),
        Some(r#"{"result": "final_data"}"#)
    );
}

/// Metadata page: repeated updates merge per top-level key.
#[test]
fn metadata_updates_merge_per_top_level_key() {
    let (_r, spans) = capture(|| {
        span("operation").run(|s| {
            s.update(SpanUpdate::new().metadata_object(&json!({"step": 1, "status": "started"})));
            s.update(SpanUpdate::new().metadata_object(&json!({"step": 2, "error": null})));
        });
    });
    let s = &spans[0];
    let metadata: Vec<(String, &str)> = s
        .attributes
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.strip_prefix("langfuse.observation.metadata.")?.to_owned(),
                v.as_str()?,
            ))
        })
        .collect();
    // {"step": 2, "status": "started", "error": null}
    assert_eq!(
        metadata,
        vec![
            ("error".to_owned(), "null"),
            ("status".to_owned(), "\"started\""),
            ("step".to_owned(), "2")
        ]
    );
}

/// Metadata page: trace and span metadata from inside a function, and from handles.
#[test]
fn metadata_at_trace_and_span_level_example() {
    let (_r, spans) = capture(|| {
        span("process_data").run(|_| {
            update_current_trace(
                TraceUpdate::new()
                    .metadata("source", &"api")
                    .metadata("version", &"1.2.3"),
            );
            update_current_span(SpanUpdate::new().metadata("processing_stage", &"initial"));
        });
        span("process-request").run(|root_span| {
            root_span.update_trace(TraceUpdate::new().metadata("request_id", &"req_12345"));
            root_span.update(SpanUpdate::new().metadata("stage", &"parsing"));
            root_span.start_as_current_observation(
                generation("generate-response")
                    .model("gpt-4o")
                    .metadata_object(&json!({"temperature": 0.7, "max_tokens": 1000})),
                |gen| {
                    gen.update(GenerationUpdate::new().metadata("completion_type", &"creative"));
                },
            );
        });
    });
    let pd = spans.iter().find(|s| s.name == "process_data").unwrap();
    assert_eq!(
        pd.str_attr("langfuse.trace.metadata.source"),
        Some("\"api\"")
    );
    assert_eq!(
        pd.str_attr("langfuse.trace.metadata.version"),
        Some("\"1.2.3\"")
    );
    assert_eq!(
        pd.str_attr("langfuse.observation.metadata.processing_stage"),
        Some("\"initial\"")
    );
    let pr = spans.iter().find(|s| s.name == "process-request").unwrap();
    assert_eq!(
        pr.str_attr("langfuse.trace.metadata.request_id"),
        Some("\"req_12345\"")
    );
    assert_eq!(
        pr.str_attr("langfuse.observation.metadata.stage"),
        Some("\"parsing\"")
    );
    let gen = spans
        .iter()
        .find(|s| s.name == "generate-response")
        .unwrap();
    assert_eq!(
        gen.str_attr("langfuse.observation.metadata.temperature"),
        Some("0.7")
    );
    assert_eq!(
        gen.str_attr("langfuse.observation.metadata.max_tokens"),
        Some("1000")
    );
    assert_eq!(
        gen.str_attr("langfuse.observation.metadata.completion_type"),
        Some("\"creative\"")
    );
}

/// Update trace > Default behaviour and the deprecated `set_trace_io` override.
#[test]
#[allow(deprecated)]
fn trace_io_example() {
    let (_r, spans) = capture(|| {
        span("complex-pipeline").run(|root_span| {
            root_span.update(
                SpanUpdate::new()
                    .input(&"Step 1 data")
                    .output(&"Step 1 result"),
            );
            root_span.set_trace_io(
                Some(&json!({"original_query": "User's actual question"})),
                Some(&json!({"final_answer": "Complete response", "confidence": 0.95})),
            );
        });
        span("process_user_query").run(|_| {
            langfuse_tracing::observation::set_current_trace_io(
                Some(&json!({"question": "q"})),
                Some(&json!({"answer": "a"})),
            );
        });
    });
    let root = spans.iter().find(|s| s.name == "complex-pipeline").unwrap();
    assert_eq!(
        root.str_attr("langfuse.observation.input"),
        Some("Step 1 data")
    );
    assert_eq!(
        root.str_attr("langfuse.trace.input"),
        Some(r#"{"original_query": "User's actual question"}"#)
    );
    assert_eq!(
        root.str_attr("langfuse.trace.output"),
        Some(r#"{"confidence": 0.95, "final_answer": "Complete response"}"#)
    );
    let q = spans
        .iter()
        .find(|s| s.name == "process_user_query")
        .unwrap();
    assert_eq!(
        q.str_attr("langfuse.trace.input"),
        Some(r#"{"question": "q"}"#)
    );
}

/// Trace-level updates: every field, and `set_trace_as_public`.
#[test]
fn update_trace_writes_every_trace_attribute() {
    let (_r, spans) = capture(|| {
        span("root").run(|root| {
            root.update_trace(
                TraceUpdate::new()
                    .name("checkout")
                    .user_id("user_123")
                    .session_id("session_abc")
                    .tags(["a", "b"])
                    .tags(["b", "c"])
                    .metadata("plan", &"premium")
                    .version("1.0")
                    .release("r-7"),
            );
            root.set_trace_as_public();
        });
    });
    let s = &spans[0];
    assert_eq!(s.str_attr("langfuse.trace.name"), Some("checkout"));
    assert_eq!(s.str_attr("user.id"), Some("user_123"));
    assert_eq!(s.str_attr("session.id"), Some("session_abc"));
    let tags = ["a", "b", "c"].map(|t| AttrValue::Str(t.into())).to_vec();
    assert_eq!(s.attr("langfuse.trace.tags"), Some(&AttrValue::Array(tags)));
    assert_eq!(
        s.str_attr("langfuse.trace.metadata.plan"),
        Some("\"premium\"")
    );
    assert_eq!(s.str_attr("langfuse.version"), Some("1.0"));
    assert_eq!(s.str_attr("langfuse.release"), Some("r-7"));
    assert_eq!(s.bool_attr("langfuse.trace.public"), Some(true));
}

/// Trace and observation IDs: create_trace_id, get_current_*, handle ids match the wire.
#[test]
fn ids_example() {
    let external_request_id = "req_12345";
    assert_eq!(
        create_trace_id(Some(external_request_id)).to_string(),
        "6cec55478a541a9eb2b3bfd6c8ba5670"
    );
    let mut seen = None;
    let (_r, spans) = capture(|| {
        span("my-op").run(|current_op| {
            let trace_id = get_current_trace_id().unwrap();
            let observation_id = get_current_observation_id().unwrap();
            assert_eq!(Some(trace_id), current_op.trace_id());
            assert_eq!(Some(observation_id), current_op.id());
            seen = Some((trace_id.to_string(), observation_id.to_string()));
        });
    });
    let (trace_id, observation_id) = seen.unwrap();
    assert_eq!(spans[0].trace_id, trace_id);
    assert_eq!(spans[0].span_id, observation_id);
    assert!(
        get_current_trace_id().is_none(),
        "nothing is current outside"
    );
}

/// Link to existing traces, with and without a parent id, and around plain code.
#[test]
fn link_to_existing_trace_example() {
    let existing_trace_id = "abcdef1234567890abcdef1234567890";
    let existing_parent_span_id = "fedcba0987654321";
    let (_r, spans) = capture(|| {
        let ctx = TraceContext::new(existing_trace_id)
            .unwrap()
            .with_parent(existing_parent_span_id)
            .unwrap();
        span("process-downstream-task").trace_context(ctx).run(|_| {
            span("child-of-linked").run(|_| ());
        });
        let seeded = TraceContext::from_ids(create_trace_id(Some("support-ticket-54321")), None);
        span("process-ticket").trace_context(seeded).start().end();
        // Around code that creates its own observations (an #[observe] fn, for example).
        TraceContext::new(existing_trace_id)
            .unwrap()
            .run(|| span("around-code").run(|_| ()));
    });
    let linked = spans
        .iter()
        .find(|s| s.name == "process-downstream-task")
        .unwrap();
    assert_eq!(linked.trace_id, existing_trace_id);
    assert_eq!(
        linked.parent_span_id.as_deref(),
        Some(existing_parent_span_id)
    );
    assert_eq!(linked.bool_attr("langfuse.internal.as_root"), Some(true));
    let child = spans.iter().find(|s| s.name == "child-of-linked").unwrap();
    assert_eq!(child.trace_id, existing_trace_id);
    assert_eq!(
        child.parent_span_id.as_deref(),
        Some(linked.span_id.as_str())
    );
    assert_eq!(child.attr("langfuse.internal.as_root"), None);
    let ticket = spans.iter().find(|s| s.name == "process-ticket").unwrap();
    assert_eq!(
        ticket.trace_id,
        create_trace_id(Some("support-ticket-54321")).to_string()
    );
    assert!(
        ticket
            .parent_span_id
            .as_ref()
            .is_some_and(|p| p.len() == 16),
        "a random parent id when none is given"
    );
    let around = spans.iter().find(|s| s.name == "around-code").unwrap();
    assert_eq!(around.trace_id, existing_trace_id);
    assert_eq!(around.bool_attr("langfuse.internal.as_root"), Some(true));
}

#[test]
fn invalid_trace_context_ids_are_errors() {
    for bad in [
        "",
        "abc",
        "ABCDEF1234567890ABCDEF1234567890",
        "00000000000000000000000000000000",
        "zzcdef1234567890abcdef1234567890",
    ] {
        assert!(TraceContext::new(bad).is_err(), "{bad:?}");
    }
    let ok = TraceContext::new("abcdef1234567890abcdef1234567890").unwrap();
    assert!(ok.with_parent("short").is_err());
}

/// Events: zero duration, ended at once; a handle's event is its child.
#[test]
fn events_have_zero_duration_and_attach_to_their_handle() {
    let (_r, spans) = capture(|| {
        let parent = span("parent").start();
        parent.create_event(event("cache-miss").input(&"key-1").metadata("attempt", &2));
        parent.start_observation(event("second-event"));
        parent.end();
        event("top-level-event").start();
    });
    for name in ["cache-miss", "second-event", "top-level-event"] {
        let e = spans.iter().find(|s| s.name == name).unwrap();
        assert_eq!(e.str_attr("langfuse.observation.type"), Some("event"));
        assert_eq!(e.start_time_unix_nano, e.end_time_unix_nano, "{name}");
    }
    assert_eq!(
        name_of_parent(&spans, "cache-miss").as_deref(),
        Some("parent")
    );
    assert_eq!(
        name_of_parent(&spans, "second-event").as_deref(),
        Some("parent")
    );
    assert_eq!(name_of_parent(&spans, "top-level-event"), None);
}

/// `update(name)` renames; `update_current_generation` reaches the current generation.
#[test]
fn rename_and_update_current_generation() {
    let (_r, spans) = capture(|| {
        generation("draft-name").run(|g| {
            g.update(GenerationUpdate::new().name("final-name"));
            update_current_generation(
                GenerationUpdate::new()
                    .model("gpt-4o")
                    .cost_details(&json!({"total": 0.002}))
                    .prompt("qa-prompt", 3),
            );
        });
    });
    let g = &spans[0];
    assert_eq!(g.name, "final-name");
    assert_eq!(
        g.str_attr("langfuse.observation.model.name"),
        Some("gpt-4o")
    );
    assert_eq!(
        g.str_attr("langfuse.observation.cost_details"),
        Some(r#"{"total": 0.002}"#)
    );
    assert_eq!(
        g.str_attr("langfuse.observation.prompt.name"),
        Some("qa-prompt")
    );
    assert_eq!(g.int_attr("langfuse.observation.prompt.version"), Some(3));
}

/// Updates with nothing current: a warning and nothing else (no panic, nothing sent).
#[test]
fn updates_without_a_current_observation_change_nothing() {
    let (receiver, spans) = capture(|| {
        update_current_span(SpanUpdate::new().output(&"lost"));
        update_current_generation(GenerationUpdate::new().model("m"));
        update_current_trace(TraceUpdate::new().user_id("u"));
    });
    assert!(spans.is_empty());
    assert_eq!(receiver.request_count(), 0);
}

/// Async scopes: the observation is current across `.await`, children attach to it.
#[tokio::test]
async fn async_scopes_keep_the_observation_current_across_await() {
    let receiver = Receiver::start();
    let layer = layer_builder(&receiver).build().unwrap();
    let handle = layer.handle();
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    span("async-parent")
        .run_async(|parent| async move {
            tokio::time::sleep(Duration::from_millis(2)).await;
            span("after-await").run(|_| ());
            parent
                .start_as_current_observation_async(generation("async-child"), |g| async move {
                    tokio::task::yield_now().await;
                    update_current_generation(GenerationUpdate::new().model("m1"));
                    g.id()
                })
                .await;
        })
        .await;
    handle.flush().unwrap();
    let spans = receiver.spans();
    assert_eq!(
        name_of_parent(&spans, "after-await").as_deref(),
        Some("async-parent")
    );
    assert_eq!(
        name_of_parent(&spans, "async-child").as_deref(),
        Some("async-parent")
    );
    let child = spans.iter().find(|s| s.name == "async-child").unwrap();
    assert_eq!(
        child.str_attr("langfuse.observation.model.name"),
        Some("m1")
    );
}
