//! `end()` on a manual observation hands it to the export queue at once, whatever
//! handles or spans still refer to it (issue 17, defect 3).

mod support;

use std::time::Duration;

use langfuse_tracing::observation::{generation, span, GenerationUpdate, SpanUpdate};
use support::{layer_builder, Receiver};
use tracing_subscriber::prelude::*;

/// The docs' manual-observation example, with the handles kept alive (a clone of the
/// child, as a struct field or another task would hold it): `end()` then `flush()`
/// must deliver both observations, and dropping the handles later adds no duplicate.
#[test]
fn end_exports_while_handles_and_children_live() {
    let receiver = Receiver::start();
    let layer = layer_builder(&receiver).build().expect("valid test config");
    let handle = layer.handle();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let (parent, child, child_clone) = tracing::dispatcher::with_default(&dispatch, || {
        let parent = span("manual-parent").start();
        parent.update(SpanUpdate::new().input(&"question"));
        let child = parent.start_observation(generation("manual-child"));
        child.update(GenerationUpdate::new().model("gpt-4o").output(&"answer"));
        let child_clone = child.clone();
        (parent, child, child_clone)
    });
    tracing::dispatcher::with_default(&dispatch, || {
        child.end();
        parent.end();
    });
    handle.flush().expect("flush");
    let spans = receiver.wait_for_spans(2, Duration::from_secs(10));
    let mut names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["manual-child", "manual-parent"],
        "ended observations are exported by the next flush, while a clone of the child lives"
    );
    let parent_span = receiver.span_named("manual-parent");
    let child_span = receiver.span_named("manual-child");
    assert_eq!(
        child_span.parent_span_id.as_deref(),
        Some(parent_span.span_id.as_str())
    );
    assert_eq!(
        child_span.str_attr("langfuse.observation.output"),
        Some("answer")
    );

    // Updates and ends on an ended observation are harmless, and its span closing
    // later exports nothing again.
    tracing::dispatcher::with_default(&dispatch, || {
        child_clone.update(GenerationUpdate::new().output(&"too late"));
        child_clone.clone().end();
        drop(child_clone);
    });
    handle.flush().expect("flush");
    assert_eq!(
        receiver.spans().len(),
        2,
        "no duplicate when the span closes"
    );
    assert_eq!(
        receiver
            .span_named("manual-child")
            .str_attr("langfuse.observation.output"),
        Some("answer")
    );
    handle.shutdown().expect("shutdown");
}

/// A child started from a handle of an ended parent still belongs to the parent's
/// trace and names it as parent.
#[test]
fn a_child_started_after_its_parent_ended_keeps_its_parent() {
    let receiver = Receiver::start();
    let layer = layer_builder(&receiver).build().expect("valid test config");
    let handle = layer.handle();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        let parent = span("ended-parent").start();
        let keep = parent.clone();
        parent.end();
        keep.start_observation(span("late-child")).end();
    });
    handle.flush().expect("flush");
    let spans = receiver.wait_for_spans(2, Duration::from_secs(10));
    assert_eq!(spans.len(), 2);
    let parent = receiver.span_named("ended-parent");
    let child = receiver.span_named("late-child");
    assert_eq!(child.trace_id, parent.trace_id);
    assert_eq!(
        child.parent_span_id.as_deref(),
        Some(parent.span_id.as_str())
    );
    handle.shutdown().expect("shutdown");
}
