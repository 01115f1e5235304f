//! Masking (reference §8): a mask set on the layer rewrites input, output and metadata
//! of every observation and the trace input and output, at creation and on every update,
//! before they are stored; the in-process OTLP receiver checks what reaches the wire,
//! and a child process checks what reaches stderr with the console tree on.

mod support;

use std::time::Duration;

use langfuse_tracing::observe;
use langfuse_tracing_core::mask::FULLY_MASKED;
use langfuse_tracing_core::observation::{
    generation, span, update_current_generation, update_current_span, update_current_trace,
    GenerationUpdate, SpanUpdate, TraceUpdate,
};
use langfuse_tracing_core::propagation::PropagateAttributes;
use serde_json::{json, Value};
use support::{AttrValue, CapturedSpan, Receiver};

/// The value no test may let through.
const SECRET: &str = "sk-SECRET-4242";
/// What the mask writes instead.
const REDACTED: &str = "[REDACTED]";

/// Replaces the secret in every string of a value, keys included.
fn redact(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace(SECRET, REDACTED)),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k.replace(SECRET, REDACTED), redact(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Runs `f` under a layer with `mask` exporting to a fresh receiver; returns its spans.
fn capture_masked(
    mask: impl Fn(Value) -> Value + Send + Sync + 'static,
    f: impl FnOnce(),
) -> Vec<CapturedSpan> {
    let receiver = Receiver::start();
    let layer = support::layer_builder(&receiver)
        .mask(mask)
        .build()
        .unwrap();
    support::run(layer, f);
    receiver.spans()
}

fn text_of(v: &AttrValue) -> String {
    match v {
        AttrValue::Str(s) => s.clone(),
        AttrValue::Array(items) => items.iter().map(text_of).collect::<Vec<_>>().join(","),
        other => format!("{other:?}"),
    }
}

/// Fails if the secret is in any attribute, event or status of any span.
fn assert_no_secret(spans: &[CapturedSpan]) {
    assert!(!spans.is_empty());
    for s in spans {
        for (k, v) in &s.attributes {
            assert!(
                !text_of(v).contains(SECRET) && !k.contains(SECRET),
                "{}: {k} = {v:?} leaks the secret",
                s.name
            );
        }
        assert!(!s.status_message.contains(SECRET));
        assert!(!format!("{:?}", s.events).contains(SECRET));
    }
}

fn span_named<'a>(spans: &'a [CapturedSpan], name: &str) -> &'a CapturedSpan {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name:?} in {:?}", names(spans)))
}

fn names(spans: &[CapturedSpan]) -> Vec<&str> {
    spans.iter().map(|s| s.name.as_str()).collect()
}

// ---------------------------------------------------------------------------
// Observed functions
// ---------------------------------------------------------------------------

#[derive(serde::Serialize)]
struct Login {
    user: String,
    password: String,
}

#[observe]
fn login(request: Login, attempt: u32) -> String {
    let _ = attempt;
    format!("token for {} is {SECRET}", request.user)
}

#[observe(as_type = "generation")]
fn llm(prompt: &str) -> Value {
    update_current_generation(
        GenerationUpdate::new()
            .model("gpt-4o")
            .metadata("api_key", &SECRET)
            .usage_details(&json!({"input": 3})),
    );
    json!({"completion": format!("the key is {SECRET}"), "prompt": prompt})
}

#[derive(Debug)]
#[allow(dead_code)]
struct DebugOnly(String);

#[observe]
fn debug_output() -> DebugOnly {
    DebugOnly(SECRET.to_owned())
}

#[observe]
fn words() -> impl Iterator<Item = String> {
    vec!["a ".to_owned(), SECRET.to_owned()].into_iter()
}

#[observe]
fn pipeline(question: &str) -> String {
    update_current_span(
        SpanUpdate::new()
            .metadata("password", &SECRET)
            .metadata("plain", &"visible"),
    );
    update_current_trace(
        TraceUpdate::new()
            .input(&json!({"question": question}))
            .output(&SECRET)
            .metadata("token", &SECRET)
            .user_id("user-1"),
    );
    let _ = login(
        Login {
            user: "ann".into(),
            password: SECRET.into(),
        },
        1,
    );
    let _ = llm(&format!("use {SECRET}"));
    let _ = debug_output();
    let _: Vec<String> = words().collect();
    format!("done with {SECRET}")
}

// ---------------------------------------------------------------------------
// The wire
// ---------------------------------------------------------------------------

#[test]
fn observe_capture_and_update_current_helpers_are_masked_on_the_wire() {
    let spans = capture_masked(redact, || {
        pipeline(&format!("what is {SECRET}?"));
    });
    assert_no_secret(&spans);

    let root = span_named(&spans, "pipeline");
    assert_eq!(
        root.str_attr("langfuse.observation.input"),
        Some(r#"{"question": "what is [REDACTED]?"}"#)
    );
    assert_eq!(
        root.str_attr("langfuse.observation.output"),
        Some("done with [REDACTED]"),
        "a string output stays a plain string"
    );
    assert_eq!(
        root.str_attr("langfuse.observation.metadata.password"),
        Some("\"[REDACTED]\"")
    );
    assert_eq!(
        root.str_attr("langfuse.observation.metadata.plain"),
        Some("\"visible\"")
    );
    assert_eq!(
        root.str_attr("langfuse.trace.input"),
        Some(r#"{"question": "what is [REDACTED]?"}"#)
    );
    assert_eq!(root.str_attr("langfuse.trace.output"), Some(REDACTED));
    assert_eq!(
        root.str_attr("langfuse.trace.metadata.token"),
        Some("\"[REDACTED]\"")
    );
    assert_eq!(root.str_attr("user.id"), Some("user-1"));

    let login = span_named(&spans, "login");
    assert_eq!(
        login.str_attr("langfuse.observation.input"),
        Some(r#"{"attempt": 1, "request": {"password": "[REDACTED]", "user": "ann"}}"#),
        "a masked object is re-encoded in the IO style (keys in sorted order)"
    );
    assert_eq!(
        login.str_attr("langfuse.observation.output"),
        Some("token for ann is [REDACTED]")
    );

    let llm = span_named(&spans, "llm");
    assert_eq!(
        llm.str_attr("langfuse.observation.output"),
        Some(r#"{"completion": "the key is [REDACTED]", "prompt": "use [REDACTED]"}"#)
    );
    assert_eq!(
        llm.str_attr("langfuse.observation.metadata.api_key"),
        Some("\"[REDACTED]\"")
    );
    assert_eq!(
        llm.str_attr("langfuse.observation.model.name"),
        Some("gpt-4o")
    );
    assert_eq!(
        llm.str_attr("langfuse.observation.usage_details"),
        Some(r#"{"input": 3}"#)
    );

    assert_eq!(
        span_named(&spans, "debug_output").str_attr("langfuse.observation.output"),
        Some("DebugOnly(\"[REDACTED]\")"),
        "Debug-captured output is masked as a string"
    );
    assert_eq!(
        span_named(&spans, "words").str_attr("langfuse.observation.output"),
        Some("a [REDACTED]"),
        "collected iterator items are masked"
    );
}

#[test]
fn builders_updates_and_trace_io_are_masked_on_the_wire() {
    let spans = capture_masked(redact, || {
        span("manual")
            .input(&json!({"card": SECRET, "amount": 12}))
            .metadata("password", &SECRET)
            .metadata_object(&json!({"nested": {"token": SECRET}, "n": 1}))
            .run(|root| {
                root.update(SpanUpdate::new().output(&SECRET));
                #[allow(deprecated)]
                root.set_trace_io(Some(&SECRET), Some(&json!([SECRET])));
                root.update_trace(TraceUpdate::new().metadata("trace_secret", &SECRET));
                let g = root.start_observation(generation("gen").model("m").input(&SECRET));
                g.update(
                    GenerationUpdate::new()
                        .output(&json!({"text": SECRET}))
                        .metadata_object(&[SECRET]),
                );
                g.end();
                let side = span("side").start();
                side.update(SpanUpdate::new().metadata("late", &SECRET));
                side.end();
            });
    });
    assert_no_secret(&spans);

    let manual = span_named(&spans, "manual");
    assert_eq!(
        manual.str_attr("langfuse.observation.input"),
        Some(r#"{"amount": 12, "card": "[REDACTED]"}"#)
    );
    assert_eq!(
        manual.str_attr("langfuse.observation.output"),
        Some(REDACTED)
    );
    assert_eq!(
        manual.str_attr("langfuse.observation.metadata.password"),
        Some("\"[REDACTED]\"")
    );
    assert_eq!(
        manual.str_attr("langfuse.observation.metadata.nested"),
        Some(r#"{"token":"[REDACTED]"}"#)
    );
    assert_eq!(
        manual.str_attr("langfuse.observation.metadata.n"),
        Some("1")
    );
    assert_eq!(manual.str_attr("langfuse.trace.input"), Some(REDACTED));
    assert_eq!(
        manual.str_attr("langfuse.trace.output"),
        Some(r#"["[REDACTED]"]"#)
    );
    assert_eq!(
        manual.str_attr("langfuse.trace.metadata.trace_secret"),
        Some("\"[REDACTED]\"")
    );

    let gen = span_named(&spans, "gen");
    assert_eq!(gen.str_attr("langfuse.observation.input"), Some(REDACTED));
    assert_eq!(
        gen.str_attr("langfuse.observation.output"),
        Some(r#"{"text": "[REDACTED]"}"#)
    );
    assert_eq!(
        gen.str_attr("langfuse.observation.metadata"),
        Some(r#"["[REDACTED]"]"#),
        "non-object metadata is masked as one value"
    );
    assert_eq!(
        span_named(&spans, "side").str_attr("langfuse.observation.metadata.late"),
        Some("\"[REDACTED]\"")
    );
}

#[test]
fn tracing_fields_are_masked_at_creation_and_on_record() {
    let spans = capture_masked(redact, || {
        let s = tracing::info_span!(
            "fields",
            langfuse.observation.type = "span",
            langfuse.observation.input = SECRET,
            langfuse.observation.metadata.key = SECRET,
            langfuse.trace.metadata.tkey = SECRET,
            langfuse.observation.output = tracing::field::Empty,
            langfuse.trace.output = tracing::field::Empty,
        );
        s.record(
            "langfuse.observation.output",
            format!("out {SECRET}").as_str(),
        );
        s.record(
            "langfuse.trace.output",
            json!({"a": SECRET}).to_string().as_str(),
        );
        drop(s);
    });
    assert_no_secret(&spans);
    let s = span_named(&spans, "fields");
    assert_eq!(s.str_attr("langfuse.observation.input"), Some(REDACTED));
    assert_eq!(
        s.str_attr("langfuse.observation.output"),
        Some("out [REDACTED]")
    );
    assert_eq!(
        s.str_attr("langfuse.observation.metadata.key"),
        Some("\"[REDACTED]\"")
    );
    assert_eq!(
        s.str_attr("langfuse.trace.metadata.tkey"),
        Some("\"[REDACTED]\"")
    );
    assert_eq!(
        s.str_attr("langfuse.trace.output"),
        Some(r#"{"a": "[REDACTED]"}"#)
    );
}

#[test]
fn a_panicking_mask_yields_the_fully_masked_value() {
    let spans = capture_masked(
        |v| {
            if v.to_string().contains("keep") {
                v
            } else {
                panic!("mask failed on purpose")
            }
        },
        || {
            span("p")
                .input(&SECRET)
                .metadata("a", &SECRET)
                .metadata("b", &1)
                .run(|o| {
                    o.update(SpanUpdate::new().output(&json!({"x": SECRET})));
                    update_current_trace(TraceUpdate::new().input(&SECRET));
                });
            span("kept").input(&"keep me").run(|_| ());
            let _ = login(
                Login {
                    user: "u".into(),
                    password: SECRET.into(),
                },
                2,
            );
        },
    );
    assert_no_secret(&spans);
    let p = span_named(&spans, "p");
    let quoted = format!("\"{FULLY_MASKED}\"");
    assert_eq!(p.str_attr("langfuse.observation.input"), Some(FULLY_MASKED));
    assert_eq!(
        p.str_attr("langfuse.observation.output"),
        Some(FULLY_MASKED)
    );
    assert_eq!(p.str_attr("langfuse.trace.input"), Some(FULLY_MASKED));
    assert_eq!(
        p.str_attr("langfuse.observation.metadata.a"),
        Some(quoted.as_str())
    );
    assert_eq!(
        p.str_attr("langfuse.observation.metadata.b"),
        Some(quoted.as_str()),
        "every key of the metadata object gets the fully masked value"
    );
    assert_eq!(
        span_named(&spans, "kept").str_attr("langfuse.observation.input"),
        Some("keep me"),
        "a mask that fails on one value still applies to the others"
    );
    let login = span_named(&spans, "login");
    assert_eq!(
        login.str_attr("langfuse.observation.input"),
        Some(FULLY_MASKED)
    );
    assert_eq!(
        login.str_attr("langfuse.observation.output"),
        Some(FULLY_MASKED)
    );
}

#[test]
fn a_failing_try_mask_yields_the_fully_masked_value() {
    let receiver = Receiver::start();
    let layer = support::layer_builder(&receiver)
        .try_mask(|v: Value| {
            if v.to_string().contains(SECRET) {
                Err(format!("refusing {v}"))
            } else {
                Ok(v)
            }
        })
        .build()
        .unwrap();
    support::run(layer, || {
        span("t")
            .input(&SECRET)
            .output(&"fine")
            .metadata("k", &SECRET)
            .run(|_| ());
    });
    let spans = receiver.spans();
    assert_no_secret(&spans);
    let t = span_named(&spans, "t");
    assert_eq!(t.str_attr("langfuse.observation.input"), Some(FULLY_MASKED));
    assert_eq!(t.str_attr("langfuse.observation.output"), Some("fine"));
    assert_eq!(
        t.str_attr("langfuse.observation.metadata.k"),
        Some(format!("\"{FULLY_MASKED}\"").as_str())
    );
}

#[test]
fn the_mask_sees_input_output_and_metadata_separately_and_not_propagated_attributes() {
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let spans = capture_masked(
        move |v| {
            log.lock().unwrap().push(v.clone());
            v
        },
        || {
            PropagateAttributes::new()
                .metadata("propagated", "p-value")
                .user_id("u-prop")
                .run(|| {
                    span("s")
                        .input(&"in")
                        .output(&7)
                        .metadata("m1", &1)
                        .metadata("m2", &"two")
                        .run(|_| ());
                });
        },
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![json!("in"), json!(7), json!({"m1": 1, "m2": "two"})],
        "one call per value, the metadata of one builder as one object"
    );
    let s = span_named(&spans, "s");
    assert_eq!(s.str_attr("langfuse.observation.input"), Some("in"));
    assert_eq!(s.str_attr("langfuse.observation.output"), Some("7"));
    assert_eq!(
        s.str_attr("langfuse.trace.metadata.propagated"),
        Some("\"p-value\"")
    );
}

#[test]
fn a_layer_without_a_mask_encodes_as_before_when_another_layer_has_one() {
    // Another layer with a mask exists in this process (the flag is global); this one
    // has none: values must be exactly the unmasked encodings, key order included.
    let other = support::layer_builder(&Receiver::start())
        .mask(|v| v)
        .build()
        .unwrap();
    let (_receiver, spans) = support::capture(|| {
        span("plain")
            .input(&"text é")
            .output(&json!({"b": [1, 2.5], "a": "é"}))
            .metadata("m", &"x")
            .run(|_| ());
        let _ = login(
            Login {
                user: "z".into(),
                password: "p".into(),
            },
            3,
        );
    });
    other.handle().shutdown().ok();
    let plain = span_named(&spans, "plain");
    assert_eq!(plain.str_attr("langfuse.observation.input"), Some("text é"));
    assert_eq!(
        plain.str_attr("langfuse.observation.output"),
        Some(r#"{"a": "\u00e9", "b": [1, 2.5]}"#)
    );
    assert_eq!(
        plain.str_attr("langfuse.observation.metadata.m"),
        Some("\"x\"")
    );
    let login = span_named(&spans, "login");
    assert_eq!(
        login.str_attr("langfuse.observation.input"),
        Some(r#"{"request": {"user": "z", "password": "p"}, "attempt": 3}"#),
        "the #[observe] input keeps its parameter order"
    );
    assert_eq!(
        login.str_attr("langfuse.observation.output"),
        Some(&*format!("token for z is {SECRET}"))
    );
}

// ---------------------------------------------------------------------------
// stderr: the console tree, in a child process
// ---------------------------------------------------------------------------

const CHILD_ENV: &str = "LANGFUSE_MASKING_TEST_CHILD";

/// Run by [`the_masked_value_never_reaches_stderr`] in a child process: the console tree
/// and the export to a receiver at once, with a mask; everything the child writes is
/// checked by the parent. Does nothing in a normal test run.
#[test]
fn child_console_and_export_with_mask() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let receiver = Receiver::start();
    let layer = support::layer_builder(&receiver)
        .console(true)
        .debug(true)
        .mask(redact)
        .build()
        .unwrap();
    support::run(layer, || {
        pipeline(&format!("what is {SECRET}?"));
        span("manual")
            .input(&json!({"card": SECRET}))
            .metadata("password", &SECRET)
            .run(|o| {
                o.update(SpanUpdate::new().output(&SECRET));
                update_current_span(SpanUpdate::new().metadata("again", &SECRET));
            });
        let _s = tracing::info_span!(
            "fields",
            langfuse.observation.type = "span",
            langfuse.observation.input = SECRET
        )
        .entered();
    });
    let spans = receiver.wait_for_spans(7, Duration::from_secs(10));
    assert_no_secret(&spans);
    // The parent checks that the console printed masked values.
    eprintln!("child: {} spans received", spans.len());
}

/// Run by [`a_failing_mask_warns_once_on_stderr`] in a child process.
#[test]
fn child_failing_mask() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    std::panic::set_hook(Box::new(|_| {}));
    let receiver = Receiver::start();
    let layer = support::layer_builder(&receiver)
        .console(true)
        .mask(|_| panic!("no"))
        .build()
        .unwrap();
    support::run(layer, || {
        for _ in 0..3 {
            span("f").input(&SECRET).metadata("k", &SECRET).run(|o| {
                o.update(SpanUpdate::new().output(&SECRET));
            });
        }
    });
    let spans = receiver.wait_for_spans(3, Duration::from_secs(10));
    assert_no_secret(&spans);
}

fn run_child(test: &str) -> (String, String) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run the test binary again");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "the child test did not run:\n{stdout}"
    );
    (stdout, stderr)
}

#[test]
fn a_failing_mask_warns_once_on_stderr() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let (stdout, stderr) = run_child("child_failing_mask");
    assert_eq!(
        stderr.matches("the mask function panicked").count(),
        1,
        "one warning for 9 failures:\n{stderr}"
    );
    assert!(stderr.contains(FULLY_MASKED), "{stderr}");
    assert!(!stderr.contains(SECRET) && !stdout.contains(SECRET));
}

#[test]
fn the_masked_value_never_reaches_stderr() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let (stdout, stderr) = run_child("child_console_and_export_with_mask");
    assert!(
        stderr.contains("child: ") && stderr.contains("spans received"),
        "{stderr}"
    );
    assert!(
        stderr.contains(REDACTED),
        "the console tree should show the masked values:\n{stderr}"
    );
    assert!(
        stderr.contains("pipeline") && stderr.contains("manual"),
        "the console tree is missing:\n{stderr}"
    );
    for (name, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        assert!(
            !text.contains(SECRET),
            "the secret reached the child's {name}:\n{text}"
        );
    }
}

/// A mask that calls back into the SDK while a `tracing` span records a field: it sees
/// the current trace, and nothing deadlocks (the mask used to run under the span's
/// lock, which the call back asked for again).
#[test]
fn a_mask_calling_back_into_the_sdk_during_span_record_does_not_deadlock() {
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen_in_mask = seen.clone();
        let spans = capture_masked(
            move |v| {
                let trace = langfuse_tracing::get_current_trace_id().map(|t| t.to_string());
                seen_in_mask.lock().unwrap().push(trace);
                v
            },
            || {
                let span = tracing::info_span!(
                    "reentrant",
                    langfuse.observation.type = "span",
                    langfuse.observation.output = tracing::field::Empty
                );
                let _entered = span.enter();
                span.record("langfuse.observation.output", "done");
            },
        );
        let _ = done.send((spans, seen.lock().unwrap().clone()));
    });
    let (spans, seen) = wait
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("no deadlock");
    let span = spans.iter().find(|s| s.name == "reentrant").expect("span");
    assert_eq!(span.str_attr("langfuse.observation.output"), Some("done"));
    assert_eq!(seen, [Some(span.trace_id.clone())]);
}
