//! Panics outside an `#[observe]` body are recorded as `#[observe]` records a panicking
//! body (level ERROR, the panic message, OTel status error) and keep unwinding (issue
//! 17, defect 4): a panic escaping `run` / `run_async` / `start_as_current_observation`,
//! and one raised by a user's `Serialize` or `Debug` impl while `#[observe]` captures
//! an argument or the return value.

mod support;

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use langfuse_tracing::observation::span;
use langfuse_tracing_core::observe;
use serde::{Serialize, Serializer};
use support::{capture, CapturedSpan};

const LEVEL: &str = "langfuse.observation.level";
const STATUS: &str = "langfuse.observation.status_message";
const OTEL_STATUS_ERROR: i32 = 2;

fn assert_error(spans: &[CapturedSpan], name: &str, message: &str) {
    let s = spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name}"));
    assert_eq!(s.str_attr(LEVEL), Some("ERROR"), "{name}");
    assert_eq!(s.str_attr(STATUS), Some(message), "{name}");
    assert_eq!(s.status_code, OTEL_STATUS_ERROR, "{name}");
}

/// The message of a caught panic, to check that the original panic went on.
fn message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[test]
fn a_panic_escaping_run_is_recorded_and_keeps_unwinding() {
    let (_r, spans) = capture(|| {
        let payload =
            catch_unwind(|| span("run-panics").run(|_| -> u32 { panic!("run boom") })).unwrap_err();
        assert_eq!(message(payload), "run boom");
        let payload = catch_unwind(|| {
            span("outer").run(|outer| {
                outer.start_as_current_observation(span("child-panics"), |_| {
                    panic!("child boom {}", 7)
                })
            })
        })
        .unwrap_err();
        assert_eq!(message(payload), "child boom 7");
    });
    assert_error(&spans, "run-panics", "run boom");
    assert_error(&spans, "child-panics", "child boom 7");
    // The outer observation saw the same panic pass through its `run`.
    assert_error(&spans, "outer", "child boom 7");
}

#[test]
fn a_panic_escaping_run_async_is_recorded_and_keeps_unwinding() {
    let (_r, spans) = capture(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let payload = catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(span("run-async-panics").run_async(|_| async {
                tokio::task::yield_now().await;
                panic!("async run boom")
            }))
        }))
        .unwrap_err();
        assert_eq!(message(payload), "async run boom");
        let payload = catch_unwind(AssertUnwindSafe(|| {
            let parent = span("async-parent").start();
            rt.block_on(
                parent.start_as_current_observation_async(span("async-child-panics"), |_| async {
                    panic!("async child boom")
                }),
            )
        }))
        .unwrap_err();
        assert_eq!(message(payload), "async child boom");
    });
    assert_error(&spans, "run-async-panics", "async run boom");
    assert_error(&spans, "async-child-panics", "async child boom");
}

struct SerializePanics;

impl Serialize for SerializePanics {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("serialize boom")
    }
}

struct DebugPanics;

impl fmt::Debug for DebugPanics {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("debug boom")
    }
}

#[observe]
fn takes_a_panicking_serialize(_value: &SerializePanics) -> u32 {
    1
}

#[observe]
fn takes_a_panicking_debug(_value: DebugPanics) -> u32 {
    2
}

#[observe]
fn returns_a_panicking_serialize() -> SerializePanics {
    SerializePanics
}

#[observe]
async fn returns_a_panicking_serialize_async() -> SerializePanics {
    SerializePanics
}

#[observe]
fn yields_a_panicking_serialize() -> impl Iterator<Item = SerializePanics> {
    std::iter::once(SerializePanics)
}

#[test]
fn a_panic_in_capture_is_recorded_and_keeps_unwinding() {
    let (_r, spans) = capture(|| {
        let payload = catch_unwind(|| takes_a_panicking_serialize(&SerializePanics)).unwrap_err();
        assert_eq!(message(payload), "serialize boom");
        let payload = catch_unwind(|| takes_a_panicking_debug(DebugPanics)).unwrap_err();
        assert_eq!(message(payload), "debug boom");
        let payload = catch_unwind(|| {
            let _ = returns_a_panicking_serialize();
        })
        .unwrap_err();
        assert_eq!(message(payload), "serialize boom");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let payload = catch_unwind(AssertUnwindSafe(|| {
            let _ = rt.block_on(returns_a_panicking_serialize_async());
        }))
        .unwrap_err();
        assert_eq!(message(payload), "serialize boom");
        let payload = catch_unwind(|| yields_a_panicking_serialize().count()).unwrap_err();
        assert_eq!(message(payload), "serialize boom");
    });
    assert_error(&spans, "takes_a_panicking_serialize", "serialize boom");
    assert_error(&spans, "takes_a_panicking_debug", "debug boom");
    assert_error(&spans, "returns_a_panicking_serialize", "serialize boom");
    assert_error(&spans, "yields_a_panicking_serialize", "serialize boom");
    assert_error(
        &spans,
        "returns_a_panicking_serialize_async",
        "serialize boom",
    );
}

/// A user's `Debug` that panics while a `tracing` span records a Langfuse field: the
/// panic reaches the caller, and the observation, its close and every later one are
/// intact (the layer ran the user's code before locking the span: a panic under the
/// lock poisoned it, and the close then panicked, aborting the process when the span
/// was dropped during that unwinding).
#[test]
fn a_panicking_debug_in_span_record_leaves_the_observation_intact() {
    let (_receiver, spans) = capture(|| {
        let span = tracing::info_span!(
            "recorded",
            langfuse.observation.type = "span",
            langfuse.observation.input = "kept",
            langfuse.observation.output = tracing::field::Empty
        );
        let caught = catch_unwind(AssertUnwindSafe(|| {
            span.record(
                "langfuse.observation.output",
                tracing::field::debug(DebugPanics),
            );
        }));
        assert_eq!(
            message(caught.expect_err("the panic reaches the caller")),
            "debug boom"
        );
        span.record("langfuse.observation.output", "after");
        drop(span);
        // Dropped while the user's panic unwinds: no second panic, no abort.
        let unwinding = catch_unwind(AssertUnwindSafe(|| {
            let span = tracing::info_span!(
                "dropped-while-unwinding",
                langfuse.observation.type = "span",
                langfuse.observation.output = tracing::field::Empty
            );
            span.record(
                "langfuse.observation.output",
                tracing::field::debug(DebugPanics),
            );
        }));
        assert!(unwinding.is_err());
        drop(tracing::info_span!("later", langfuse.observation.type = "span"));
    });
    let recorded = spans
        .iter()
        .find(|s| s.name == "recorded")
        .expect("recorded");
    assert_eq!(
        recorded.str_attr("langfuse.observation.input"),
        Some("kept")
    );
    assert_eq!(
        recorded.str_attr("langfuse.observation.output"),
        Some("after")
    );
    assert!(spans.iter().any(|s| s.name == "dropped-while-unwinding"));
    assert!(spans.iter().any(|s| s.name == "later"));
}
