//! `#[observe]` end to end: observed functions run under the real `LangfuseLayer`, and
//! the spans are read back from the in-process OTLP receiver.

mod support;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;
use futures_util::stream::{self, StreamExt};
use langfuse_tracing::LangfuseLayer;
use langfuse_tracing_core::observe;
use serde::Serialize;
use support::{CapturedSpan, Receiver};
use tracing::instrument::WithSubscriber;
use tracing::Instrument;
use tracing_subscriber::prelude::*;

const TYPE: &str = "langfuse.observation.type";
const INPUT: &str = "langfuse.observation.input";
const OUTPUT: &str = "langfuse.observation.output";
const LEVEL: &str = "langfuse.observation.level";
const STATUS: &str = "langfuse.observation.status_message";
const COMPLETION_START: &str = "langfuse.observation.completion_start_time";
const OTEL_STATUS_ERROR: i32 = 2;

/// A subscriber with a Langfuse layer exporting to `receiver`, and the layer's handle,
/// for tests that switch it on and off around their calls.
fn dispatch_to(receiver: &Receiver) -> (tracing::Dispatch, langfuse_tracing::LangfuseHandle) {
    let layer = support::layer(receiver);
    let handle = layer.handle();
    (
        tracing::Dispatch::new(tracing_subscriber::registry().with(layer)),
        handle,
    )
}

/// Runs `f` with a Langfuse layer as the default subscriber and returns the spans
/// that were exported (waits for `n`).
fn capture(n: usize, f: impl FnOnce()) -> Vec<CapturedSpan> {
    let receiver = Receiver::start();
    let layer = support::layer(&receiver);
    let handle = layer.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
    handle.flush().unwrap();
    let spans = receiver.wait_for_spans(n, Duration::from_secs(10));
    assert_eq!(spans.len(), n, "exported spans: {:#?}", names(&spans));
    spans
}

/// Like [`capture`], with a multi-thread tokio runtime running `f`'s future.
fn capture_async<F: std::future::Future<Output = ()> + Send + 'static>(
    n: usize,
    f: impl FnOnce() -> F,
) -> Vec<CapturedSpan> {
    capture(n, || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        // No global subscriber in tests: the root future (and every spawned task, see
        // `with_current_subscriber` below) carries the dispatcher onto worker threads.
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        rt.block_on(f().with_subscriber(dispatch));
    })
}

fn names(spans: &[CapturedSpan]) -> Vec<&str> {
    spans.iter().map(|s| s.name.as_str()).collect()
}

fn named<'a>(spans: &'a [CapturedSpan], name: &str) -> &'a CapturedSpan {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span named {name:?} in {:?}", names(spans)))
}

fn assert_child(child: &CapturedSpan, parent: &CapturedSpan) {
    assert_eq!(
        child.parent_span_id.as_deref(),
        Some(parent.span_id.as_str()),
        "{} should be a child of {}",
        child.name,
        parent.name
    );
    assert_eq!(child.trace_id, parent.trace_id);
}

// ---------------------------------------------------------------------------
// Observed functions used below
// ---------------------------------------------------------------------------

#[observe]
fn add(a: u32, b: u32) -> u32 {
    a + b
}

#[observe(name = "llm-call", as_type = "generation")]
fn llm(prompt: &str) -> String {
    format!("echo: {prompt}")
}

#[derive(Serialize)]
struct Query {
    text: String,
    k: u32,
}

#[derive(Debug)]
struct DebugOnly(#[allow(dead_code)] u32);

struct Opaque;

#[observe]
fn mixed(query: Query, debug: DebugOnly, opaque: Opaque, text: &str) -> Option<u32> {
    let _ = (debug, opaque, text);
    Some(query.k)
}

#[observe]
fn returns_debug_only() -> DebugOnly {
    DebugOnly(7)
}

#[observe]
fn returns_opaque() -> Opaque {
    Opaque
}

#[observe]
fn returns_unit(_x: u32) {}

#[observe(skip(secret))]
fn with_skip(user: &str, secret: &str, (a, b): (u32, u32)) -> usize {
    user.len() + secret.len() + (a + b) as usize
}

struct Agent {
    name: String,
}

impl Agent {
    #[observe(as_type = "agent")]
    fn run(&self, task: &str) -> String {
        let plan = self.plan(task);
        format!("{}: {}", self.name, add(plan, 1))
    }

    #[observe(as_type = "chain")]
    fn plan(&self, task: &str) -> u32 {
        task.len() as u32
    }
}

#[observe(capture_input = false, capture_output = false)]
fn no_capture(x: u32) -> u32 {
    x
}

#[observe]
fn fails(x: u32) -> Result<u32, String> {
    if x == 0 {
        return Err("x must not be zero".to_owned());
    }
    Ok(x)
}

#[observe]
fn fails_question_mark(s: &str) -> anyhow::Result<u32> {
    let n: u32 = s.parse()?;
    Ok(n)
}

#[derive(Debug)]
struct DebugError {
    #[allow(dead_code)]
    code: u32,
}

#[observe]
fn fails_debug() -> Result<(), DebugError> {
    Err(DebugError { code: 3 })
}

#[observe]
fn fails_opaque() -> Result<(), Opaque> {
    Err(Opaque)
}

#[observe]
fn ok_unit() -> Result<(), String> {
    Ok(())
}

#[observe]
fn panics(message: &str) -> u32 {
    if !message.is_empty() {
        panic!("boom: {message}");
    }
    std::panic::panic_any(42_u32)
}

#[observe]
async fn async_child(x: u32) -> u32 {
    tokio::task::yield_now().await;
    x * 2
}

#[observe(as_type = "agent")]
async fn async_parent(x: u32) -> u32 {
    let a = async_child(x).await;
    tokio::task::yield_now().await;
    let b = async_child(a).await;
    let spawned = tokio::spawn(async_child(b).in_current_span().with_current_subscriber())
        .await
        .unwrap();
    let span = tracing::Span::current();
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    tokio::task::spawn_blocking(move || {
        tracing::dispatcher::with_default(&dispatch, || span.in_scope(|| add(spawned, 1)))
    })
    .await
    .unwrap()
}

#[observe]
async fn async_fails(x: u32) -> Result<u32, std::io::Error> {
    tokio::task::yield_now().await;
    Err(std::io::Error::other(format!("io failed for {x}")))
}

#[observe]
async fn async_panics() -> u32 {
    tokio::task::yield_now().await;
    panic!("async boom")
}

#[observe(as_type = "retriever")]
fn future_returning(k: u32) -> impl std::future::Future<Output = Vec<u32>> + Send {
    let child = async_child(k);
    async move { vec![child.await] }
}

#[observe(name = "boxed-future")]
fn boxed_future(k: u32) -> Pin<Box<dyn std::future::Future<Output = u32> + Send>> {
    Box::pin(async move { async_child(k).await + 1 })
}

#[async_trait::async_trait]
trait Tool: Send + Sync {
    async fn call(&self, input: &str) -> Result<String, String>;
}

struct Upper;

#[async_trait::async_trait]
impl Tool for Upper {
    #[observe(as_type = "tool")]
    async fn call(&self, input: &str) -> Result<String, String> {
        tokio::task::yield_now().await;
        let n = async_child(input.len() as u32).await;
        if input.is_empty() {
            return Err("empty input".to_owned());
        }
        Ok(format!("{}{n}", input.to_uppercase()))
    }
}

#[observe(as_type = "generation")]
fn token_stream(prompt: &str) -> impl Stream<Item = String> + Send + '_ {
    stream::iter(prompt.split(' ').map(|w| format!("{w} ")))
}

#[observe]
fn number_stream(n: u32) -> impl Stream<Item = u32> {
    stream::iter(0..n)
}

#[observe]
fn fallible_stream() -> impl Stream<Item = Result<&'static str, String>> {
    stream::iter(vec![Ok("a"), Err("chunk 2 failed".to_owned()), Ok("c")])
}

#[observe(stream, as_type = "embedding")]
fn boxed_stream(n: u32) -> Pin<Box<dyn Stream<Item = Vec<f32>> + Send>> {
    Box::pin(stream::iter(0..n).map(|i| vec![i as f32, 0.5]))
}

#[observe]
fn word_iter(text: &str) -> impl Iterator<Item = &str> {
    text.split(' ')
}

#[observe(iterator)]
fn boxed_iter(n: u32) -> Box<dyn Iterator<Item = u32>> {
    Box::new((0..n).map(|i| add(i, 10)))
}

// ---------------------------------------------------------------------------
// Names, types, input and output
// ---------------------------------------------------------------------------

#[test]
fn sync_call_records_name_type_input_and_output() {
    let spans = capture(1, || assert_eq!(add(1, 2), 3));
    let s = &spans[0];
    assert_eq!(s.name, "add");
    assert_eq!(s.str_attr(TYPE), Some("span"));
    assert_eq!(s.str_attr(INPUT), Some(r#"{"a": 1, "b": 2}"#));
    assert_eq!(s.str_attr(OUTPUT), Some("3"));
    assert_eq!(s.str_attr(LEVEL), None);
}

#[test]
fn name_and_as_type_override_the_defaults_and_strings_are_written_verbatim() {
    let spans = capture(1, || {
        llm("héllo");
    });
    let s = &spans[0];
    assert_eq!(s.name, "llm-call");
    assert_eq!(s.str_attr(TYPE), Some("generation"));
    assert_eq!(s.str_attr(INPUT), Some(r#"{"prompt": "h\u00e9llo"}"#));
    assert_eq!(s.str_attr(OUTPUT), Some("echo: héllo"));
}

#[test]
fn values_are_captured_as_json_then_debug_then_type_name() {
    let spans = capture(3, || {
        let q = Query {
            text: "what?".into(),
            k: 3,
        };
        mixed(q, DebugOnly(1), Opaque, "t");
        returns_debug_only();
        returns_opaque();
    });
    assert_eq!(
        named(&spans, "mixed").str_attr(INPUT),
        Some(
            r#"{"query": {"text": "what?", "k": 3}, "debug": "DebugOnly(1)", "opaque": "observe_behaviour::Opaque", "text": "t"}"#
        )
    );
    assert_eq!(named(&spans, "mixed").str_attr(OUTPUT), Some("3"));
    assert_eq!(
        named(&spans, "returns_debug_only").str_attr(OUTPUT),
        Some("DebugOnly(7)")
    );
    assert_eq!(
        named(&spans, "returns_opaque").str_attr(OUTPUT),
        Some("observe_behaviour::Opaque")
    );
}

#[test]
fn unit_and_none_outputs_are_not_written() {
    let spans = capture(2, || {
        returns_unit(1);
        ok_unit().unwrap();
    });
    assert_eq!(named(&spans, "returns_unit").str_attr(OUTPUT), None);
    assert_eq!(
        named(&spans, "returns_unit").str_attr(INPUT),
        Some(r#"{"_x": 1}"#)
    );
    assert_eq!(named(&spans, "ok_unit").str_attr(OUTPUT), None);
    assert_eq!(
        named(&spans, "ok_unit").str_attr(INPUT),
        None,
        "no parameters, no input"
    );
}

#[test]
fn skipped_parameters_and_self_are_left_out_and_patterns_use_their_bindings() {
    let spans = capture(4, || {
        with_skip("ann", "hunter2", (1, 2));
        Agent { name: "a".into() }.run("plan it");
    });
    assert_eq!(
        named(&spans, "with_skip").str_attr(INPUT),
        Some(r#"{"user": "ann", "a": 1, "b": 2}"#)
    );
    assert_eq!(
        named(&spans, "run").str_attr(INPUT),
        Some(r#"{"task": "plan it"}"#)
    );
    assert_eq!(named(&spans, "run").str_attr(TYPE), Some("agent"));
    assert_eq!(named(&spans, "plan").str_attr(TYPE), Some("chain"));
}

#[test]
fn capture_arguments_turn_input_and_output_off() {
    let spans = capture(1, || {
        no_capture(5);
    });
    assert_eq!(spans[0].str_attr(INPUT), None);
    assert_eq!(spans[0].str_attr(OUTPUT), None);
}

// ---------------------------------------------------------------------------
// Nesting
// ---------------------------------------------------------------------------

#[test]
fn nested_sync_calls_are_children() {
    let spans = capture(3, || {
        Agent { name: "bot".into() }.run("abc");
    });
    let run = named(&spans, "run");
    assert_eq!(run.parent_span_id, None);
    assert_child(named(&spans, "plan"), run);
    assert_child(named(&spans, "add"), run);
    assert_eq!(run.str_attr(OUTPUT), Some("bot: 4"));
}

/// Recursion 40 deep: more open observations than the layer remembers per thread
/// (32), so the outer levels are found by looking the spans up.
#[observe(name = "level")]
fn level(depth: u32) -> u32 {
    if depth == 0 {
        0
    } else {
        level(depth - 1) + 1
    }
}

#[test]
fn deep_recursion_keeps_every_parent_and_value() {
    let spans = capture(41, || {
        assert_eq!(level(40), 40);
    });
    let by_depth = |d: u32| {
        let input = format!(r#"{{"depth": {d}}}"#);
        spans
            .iter()
            .find(|s| s.str_attr(INPUT) == Some(input.as_str()))
            .unwrap_or_else(|| panic!("no level with depth {d}"))
    };
    assert_eq!(by_depth(40).parent_span_id, None);
    for d in 0..40 {
        let child = by_depth(d);
        assert_child(child, by_depth(d + 1));
        assert_eq!(child.str_attr(OUTPUT), Some(d.to_string().as_str()));
    }
}

/// An observation opened on one thread and closed on another leaves a stale entry in
/// the opening thread's cache; spans created later on that thread (which may reuse its
/// id) must still get their own parent and values.
#[test]
fn observation_closed_on_another_thread_does_not_confuse_later_spans() {
    use langfuse_tracing_core::observation::{span, SpanUpdate};
    let spans = capture(52, || {
        let moved = span("moved").start();
        std::thread::scope(|scope| {
            scope.spawn(move || {
                moved.update(SpanUpdate::new().output(&"closed elsewhere"));
                moved.end();
            });
        });
        // The moved span is closed now; its id is free for reuse on this thread.
        span("root").run(|_| {
            for i in 0..50u32 {
                assert_eq!(add(i, 1), i + 1);
            }
        });
    });
    let root = named(&spans, "root");
    let adds: Vec<_> = spans.iter().filter(|s| s.name == "add").collect();
    assert_eq!(adds.len(), 50);
    let mut inputs: Vec<_> = adds.iter().map(|s| s.str_attr(INPUT).unwrap()).collect();
    inputs.sort();
    inputs.dedup();
    assert_eq!(inputs.len(), 50, "every call has its own input");
    for a in &adds {
        assert_child(a, root);
    }
    assert_eq!(
        named(&spans, "moved").str_attr(OUTPUT),
        Some("closed elsewhere")
    );
    assert_eq!(named(&spans, "moved").parent_span_id, None);
}

/// The layer keeps its own copy of each thread's entered-span stack (to find the
/// current observation without a subscriber lookup); it must agree with `tracing`'s
/// rules: a span entered again while entered is not the current span, exits pop the
/// innermost enter of that span, and an explicit parent wins over the current span.
#[test]
fn current_observation_follows_tracing_enter_rules() {
    use langfuse_tracing_core::observation::{update_current_span, SpanUpdate};
    let spans = capture(5, || {
        let a = tracing::info_span!("a", langfuse.observation.type = "span");
        let b = tracing::info_span!(parent: &a, "b", langfuse.observation.type = "span");
        {
            let _a = a.enter();
            let _b = b.enter();
            // Entering `a` again does not make it current: `b` still is.
            let _a_again = a.enter();
            update_current_span(SpanUpdate::new().output(&"to b"));
            // A child created here (contextual parent) hangs under `b`.
            let c = tracing::info_span!("c", langfuse.observation.type = "span");
            drop(c);
            // An explicit parent wins over the current span.
            let d = tracing::info_span!(parent: &a, "d", langfuse.observation.type = "span");
            drop(d);
        }
        {
            // After every exit, `a` alone is current; a plain span on top of it
            // passes updates through to `a`.
            let _a = a.enter();
            let plain = tracing::info_span!("plain");
            let _plain = plain.enter();
            update_current_span(SpanUpdate::new().output(&"to a"));
            // Entered on another thread, `b` is that thread's current observation.
            std::thread::scope(|scope| {
                let b = b.clone();
                let dispatch = tracing::dispatcher::get_default(Clone::clone);
                scope.spawn(move || {
                    tracing::dispatcher::with_default(&dispatch, || {
                        let _b = b.enter();
                        update_current_span(SpanUpdate::new().metadata("thread", &"other"));
                        let e = tracing::info_span!("e", langfuse.observation.type = "span");
                        drop(e);
                    });
                });
            });
        }
        drop(b);
        drop(a);
    });
    let (a, b) = (named(&spans, "a"), named(&spans, "b"));
    assert_eq!(a.parent_span_id, None);
    assert_child(b, a);
    assert_child(named(&spans, "c"), b);
    assert_child(named(&spans, "d"), a);
    assert_child(named(&spans, "e"), b);
    assert_eq!(b.str_attr(OUTPUT), Some("to b"));
    assert_eq!(a.str_attr(OUTPUT), Some("to a"));
    assert_eq!(
        b.str_attr("langfuse.observation.metadata.thread"),
        Some("\"other\"")
    );
}

/// The OTLP export gives input and output buffers back for reuse
/// (`langfuse_tracing_core::__layer::recycle`): observations made after an export, which write into
/// those buffers, must carry exactly their own values.
#[test]
fn reused_buffers_carry_only_their_own_values() {
    let receiver = Receiver::start();
    let (dispatch, handle) = dispatch_to(&receiver);
    for round in 0..3u32 {
        tracing::dispatcher::with_default(&dispatch, || {
            for i in 0..200u32 {
                // Longer values in earlier rounds, so a reused buffer that kept its
                // old text would show it.
                let n = round * 1000 + i;
                assert_eq!(add(n, 3 - round), n + 3 - round);
            }
        });
        handle.flush().unwrap();
    }
    let spans = receiver.wait_for_spans(600, Duration::from_secs(10));
    assert_eq!(spans.len(), 600);
    for round in 0..3u32 {
        for i in 0..200u32 {
            let n = round * 1000 + i;
            let input = format!(r#"{{"a": {n}, "b": {}}}"#, 3 - round);
            let output = (n + 3 - round).to_string();
            assert!(
                spans
                    .iter()
                    .any(|s| s.str_attr(INPUT) == Some(input.as_str())
                        && s.str_attr(OUTPUT) == Some(output.as_str())),
                "no observation with input {input} and output {output}"
            );
        }
    }
}

#[observe(as_type = "generation")]
fn rich_generation(n: u32) -> u32 {
    use langfuse_tracing_core::observation::{
        update_current_generation, update_current_trace, GenerationUpdate, TraceUpdate,
    };
    use langfuse_tracing_core::Level;
    update_current_generation(
        GenerationUpdate::new()
            .model("reused-model")
            .usage_details(&serde_json::json!({"input": n}))
            .metadata("round", &0)
            .level(Level::Error)
            .status_message("earlier failure")
            .version("v9"),
    );
    update_current_trace(TraceUpdate::new().user_id("earlier-user").tags(["earlier"]));
    n
}

/// The exporter gives exported states back too (`langfuse_tracing_core::__layer::recycle::state`), and
/// new observations are built in them: an observation made after an export must carry
/// nothing of the one exported before it.
#[test]
fn reused_states_carry_nothing_of_earlier_observations() {
    let receiver = Receiver::start();
    let (dispatch, handle) = dispatch_to(&receiver);
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..200u32 {
            assert_eq!(rich_generation(i), i);
        }
    });
    handle.flush().unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..200u32 {
            assert_eq!(add(i, 1), i + 1);
        }
    });
    handle.flush().unwrap();
    let spans = receiver.wait_for_spans(400, Duration::from_secs(10));
    assert_eq!(spans.len(), 400);
    let rich: Vec<&CapturedSpan> = spans
        .iter()
        .filter(|s| s.name == "rich_generation")
        .collect();
    assert_eq!(rich.len(), 200);
    assert!(rich
        .iter()
        .all(
            |s| s.str_attr("langfuse.observation.model.name") == Some("reused-model")
                && s.str_attr("user.id") == Some("earlier-user")
        ));
    let plain: Vec<&CapturedSpan> = spans.iter().filter(|s| s.name == "add").collect();
    assert_eq!(plain.len(), 200);
    let expected = ["langfuse.internal.is_app_root", INPUT, OUTPUT, TYPE];
    let mut span_ids = std::collections::HashSet::new();
    let mut trace_ids = std::collections::HashSet::new();
    for s in plain {
        assert_eq!(s.langfuse_keys(), expected, "{s:?}");
        assert_eq!(s.str_attr(TYPE), Some("span"));
        assert_eq!(s.status_code, 0, "no error status carried over: {s:?}");
        assert!(s.parent_span_id.is_none());
        assert!(span_ids.insert(s.span_id.clone()) && trace_ids.insert(s.trace_id.clone()));
    }
    assert!(rich.iter().all(|s| !trace_ids.contains(&s.trace_id)));
}

/// Model names of every length, in the order the test sends them: short, long (over
/// the buffer a reused state keeps), empty, and short again after a long one.
fn model_for(i: u32) -> String {
    match i % 4 {
        0 => format!("m-{i}"),
        1 => format!("{i}-").repeat(30),
        2 => String::new(),
        _ => format!("après-{i}"),
    }
}

#[observe(as_type = "generation", capture_input = false, capture_output = false)]
fn named_model(i: u32) {
    use langfuse_tracing_core::observation::{update_current_generation, GenerationUpdate};
    update_current_generation(GenerationUpdate::new().model(model_for(i)));
}

/// A reused state keeps the buffer of its last model name for the next one (see
/// `recycle::give_back_observations`): every name arrives whole whatever the length of
/// the one before it in the same box.
#[test]
fn model_names_arrive_whole_through_reused_buffers() {
    let receiver = Receiver::start();
    let (dispatch, handle) = dispatch_to(&receiver);
    for round in 0..3u32 {
        tracing::dispatcher::with_default(&dispatch, || {
            for i in 0..100u32 {
                named_model(round * 100 + i);
            }
        });
        // Exported and given back before the next round reuses the states.
        handle.flush().unwrap();
    }
    let spans = receiver.wait_for_spans(300, Duration::from_secs(10));
    assert_eq!(spans.len(), 300);
    let mut seen = std::collections::HashSet::new();
    for s in &spans {
        let model = s.str_attr("langfuse.observation.model.name").unwrap_or("");
        let i = (0..300u32)
            .find(|i| model_for(*i) == model && !seen.contains(i))
            .unwrap_or_else(|| panic!("unexpected model name {model:?}"));
        seen.insert(i);
    }
    // Every distinct name arrived once (the empty ones are alike, so count them apart).
    assert_eq!(seen.len(), 300);
}

#[observe(as_type = "generation")]
fn model_only() -> u32 {
    use langfuse_tracing_core::observation::{update_current_generation, GenerationUpdate};
    update_current_generation(GenerationUpdate::new().model("second"));
    1
}

/// Update builders reuse this thread's last emptied update (`Fields::spare`): an update
/// that was not applied (nothing current) keeps its values and must not lend them to
/// the next one.
#[test]
fn values_of_an_update_not_applied_do_not_reach_the_next_update() {
    use langfuse_tracing_core::observation::{update_current_generation, GenerationUpdate};
    use langfuse_tracing_core::Level;
    let receiver = Receiver::start();
    let (dispatch, handle) = dispatch_to(&receiver);
    tracing::dispatcher::with_default(&dispatch, || {
        for _ in 0..3 {
            // Nothing is current: not applied (a warning), its values stay in it.
            update_current_generation(
                GenerationUpdate::new()
                    .model("first")
                    .usage_details(&serde_json::json!({"input": 7}))
                    .level(Level::Error),
            );
            assert_eq!(model_only(), 1);
        }
    });
    handle.flush().unwrap();
    let spans = receiver.wait_for_spans(3, Duration::from_secs(10));
    assert_eq!(spans.len(), 3);
    for s in &spans {
        assert_eq!(
            s.str_attr("langfuse.observation.model.name"),
            Some("second")
        );
        assert_eq!(s.attr("langfuse.observation.usage_details"), None, "{s:?}");
        assert_eq!(s.attr(LEVEL), None, "{s:?}");
    }
}

/// Counts the warnings the Langfuse API logs.
struct CountWarnings(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountWarnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() == tracing::Level::WARN && meta.target() == "langfuse" {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// With a Langfuse layer somewhere in the process, `update_current_*` on a thread whose
/// subscriber has none stays silent; with the layer current and nothing open it warns
/// once per call.
#[test]
fn update_current_warns_only_under_a_langfuse_subscriber() {
    use langfuse_tracing_core::observation::{update_current_span, SpanUpdate};
    let receiver = Receiver::start();
    let layer = support::layer(&receiver);
    let handle = layer.handle();
    let warnings = Arc::new(AtomicUsize::new(0));
    let with_langfuse = tracing_subscriber::registry()
        .with(layer)
        .with(CountWarnings(warnings.clone()));
    let without = tracing_subscriber::registry().with(CountWarnings(warnings.clone()));

    tracing::subscriber::with_default(without, || {
        update_current_span(SpanUpdate::new().output(&"lost"));
    });
    assert_eq!(warnings.load(Ordering::SeqCst), 0);

    tracing::subscriber::with_default(with_langfuse, || {
        update_current_span(SpanUpdate::new().output(&"lost"));
    });
    assert_eq!(warnings.load(Ordering::SeqCst), 1);
    handle.shutdown().unwrap();
}

#[test]
fn async_calls_nest_across_await_spawn_and_spawn_blocking() {
    let spans = capture_async(5, || async {
        assert_eq!(async_parent(1).await, 9);
    });
    let parent = named(&spans, "async_parent");
    assert_eq!(parent.str_attr(TYPE), Some("agent"));
    assert_eq!(parent.str_attr(INPUT), Some(r#"{"x": 1}"#));
    assert_eq!(parent.str_attr(OUTPUT), Some("9"));
    let children: Vec<_> = spans.iter().filter(|s| s.name == "async_child").collect();
    assert_eq!(children.len(), 3);
    for child in &children {
        assert_child(child, parent);
    }
    let mut outputs: Vec<_> = children
        .iter()
        .map(|c| c.str_attr(OUTPUT).unwrap())
        .collect();
    outputs.sort();
    assert_eq!(outputs, ["2", "4", "8"]);
    assert_child(named(&spans, "add"), parent);
}

#[test]
fn future_returning_functions_observe_the_future() {
    let spans = capture_async(4, || async {
        assert_eq!(future_returning(2).await, [4]);
        assert_eq!(boxed_future(1).await, 3);
    });
    let retriever = named(&spans, "future_returning");
    assert_eq!(retriever.str_attr(TYPE), Some("retriever"));
    assert_eq!(retriever.str_attr(OUTPUT), Some("[4]"));
    let boxed = named(&spans, "boxed-future");
    assert_eq!(boxed.str_attr(OUTPUT), Some("3"));
    assert_eq!(boxed.str_attr(INPUT), Some(r#"{"k": 1}"#));
    let children: Vec<_> = spans.iter().filter(|s| s.name == "async_child").collect();
    assert_eq!(children.len(), 2);
    assert!(children
        .iter()
        .any(|c| c.parent_span_id.as_deref() == Some(boxed.span_id.as_str())));
}

#[test]
fn async_trait_methods_observe_the_inner_future() {
    let spans = capture_async(4, || async {
        let tool: Box<dyn Tool> = Box::new(Upper);
        assert_eq!(tool.call("ab").await.unwrap(), "AB4");
        assert!(tool.call("").await.is_err());
    });
    let calls: Vec<_> = spans.iter().filter(|s| s.name == "call").collect();
    assert_eq!(calls.len(), 2);
    let ok = calls
        .iter()
        .find(|c| c.str_attr(INPUT) == Some(r#"{"input": "ab"}"#))
        .unwrap();
    assert_eq!(ok.str_attr(TYPE), Some("tool"));
    assert_eq!(ok.str_attr(OUTPUT), Some("AB4"));
    let err = calls
        .iter()
        .find(|c| c.str_attr(INPUT) == Some(r#"{"input": ""}"#))
        .unwrap();
    assert_eq!(err.str_attr(LEVEL), Some("ERROR"));
    assert_eq!(err.str_attr(STATUS), Some("empty input"));
    // The inner future runs inside the observation: its child is nested.
    for child in spans.iter().filter(|s| s.name == "async_child") {
        assert!(calls
            .iter()
            .any(|c| child.parent_span_id.as_deref() == Some(c.span_id.as_str())));
    }
}

// ---------------------------------------------------------------------------
// Errors and panics
// ---------------------------------------------------------------------------

#[test]
fn err_sets_level_error_and_status_message_without_output() {
    let spans = capture(2, || {
        assert!(fails(0).is_err());
        assert_eq!(fails(2), Ok(2));
    });
    let err = spans
        .iter()
        .find(|s| s.str_attr(INPUT) == Some(r#"{"x": 0}"#))
        .unwrap();
    assert_eq!(err.str_attr(LEVEL), Some("ERROR"));
    assert_eq!(err.str_attr(STATUS), Some("x must not be zero"));
    assert_eq!(err.status_code, OTEL_STATUS_ERROR);
    assert_eq!(err.str_attr(OUTPUT), None);
    let ok = spans
        .iter()
        .find(|s| s.str_attr(INPUT) == Some(r#"{"x": 2}"#))
        .unwrap();
    assert_eq!(ok.str_attr(OUTPUT), Some("2"), "Ok(v) captures v");
    assert_eq!(ok.str_attr(LEVEL), None);
}

#[test]
fn error_messages_use_display_then_debug_then_the_type_name() {
    let spans = capture(3, || {
        assert!(fails_question_mark("x").is_err());
        assert!(fails_debug().is_err());
        assert!(fails_opaque().is_err());
    });
    assert_eq!(
        named(&spans, "fails_question_mark").str_attr(STATUS),
        Some("invalid digit found in string")
    );
    assert_eq!(
        named(&spans, "fails_debug").str_attr(STATUS),
        Some("DebugError { code: 3 }")
    );
    assert_eq!(
        named(&spans, "fails_opaque").str_attr(STATUS),
        Some("observe_behaviour::Opaque")
    );
    for s in &spans {
        assert_eq!(s.str_attr(LEVEL), Some("ERROR"));
        assert_eq!(s.status_code, OTEL_STATUS_ERROR);
    }
}

#[test]
fn a_panic_sets_level_error_with_its_message_and_keeps_unwinding() {
    let spans = capture(2, || {
        let payload = catch_unwind(|| panics("bad")).unwrap_err();
        assert_eq!(
            payload.downcast_ref::<String>().map(String::as_str),
            Some("boom: bad")
        );
        let payload = catch_unwind(|| panics("")).unwrap_err();
        assert_eq!(
            payload.downcast_ref::<u32>(),
            Some(&42),
            "the payload is unchanged"
        );
    });
    let with_message = spans
        .iter()
        .find(|s| s.str_attr(INPUT) == Some(r#"{"message": "bad"}"#))
        .unwrap();
    assert_eq!(with_message.str_attr(LEVEL), Some("ERROR"));
    assert_eq!(with_message.str_attr(STATUS), Some("boom: bad"));
    assert_eq!(with_message.str_attr(OUTPUT), None);
    let other = spans
        .iter()
        .find(|s| s.str_attr(INPUT) == Some(r#"{"message": ""}"#))
        .unwrap();
    assert_eq!(other.str_attr(STATUS), Some("panic"));
}

#[test]
fn async_errors_and_panics_are_recorded() {
    let spans = capture_async(2, || async {
        assert!(async_fails(3).await.is_err());
        let joined = tokio::spawn(async_panics().with_current_subscriber()).await;
        assert!(joined.unwrap_err().is_panic());
    });
    let failed = named(&spans, "async_fails");
    assert_eq!(failed.str_attr(STATUS), Some("io failed for 3"));
    assert_eq!(failed.str_attr(LEVEL), Some("ERROR"));
    let panicked = named(&spans, "async_panics");
    assert_eq!(panicked.str_attr(STATUS), Some("async boom"));
    assert_eq!(panicked.status_code, OTEL_STATUS_ERROR);
}

// ---------------------------------------------------------------------------
// Streams and iterators
// ---------------------------------------------------------------------------

#[test]
fn a_string_stream_is_concatenated_and_sets_completion_start_time() {
    let spans = capture_async(1, || async {
        let words: Vec<String> = token_stream("hello big world").collect().await;
        assert_eq!(words.len(), 3);
    });
    let s = &spans[0];
    assert_eq!(s.str_attr(TYPE), Some("generation"));
    assert_eq!(s.str_attr(OUTPUT), Some("hello big world "));
    let start = s.str_attr(COMPLETION_START).expect("completion start time");
    assert!(
        start.starts_with("\"20") && start.ends_with("Z\""),
        "{start}"
    );
}

#[test]
fn other_streams_give_a_json_list_and_span_types_have_no_completion_start() {
    let spans = capture_async(2, || async {
        assert_eq!(number_stream(3).collect::<Vec<_>>().await, [0, 1, 2]);
        assert_eq!(boxed_stream(2).count().await, 2);
    });
    let numbers = named(&spans, "number_stream");
    assert_eq!(numbers.str_attr(OUTPUT), Some("[0, 1, 2]"));
    assert_eq!(numbers.str_attr(COMPLETION_START), None);
    let boxed = named(&spans, "boxed_stream");
    assert_eq!(boxed.str_attr(TYPE), Some("embedding"));
    assert_eq!(boxed.str_attr(OUTPUT), Some("[[0.0, 0.5], [1.0, 0.5]]"));
    assert!(boxed.str_attr(COMPLETION_START).is_some());
}

#[test]
fn the_observation_lasts_until_the_stream_is_exhausted_or_dropped() {
    let spans = capture_async(2, || async {
        let mut s = Box::pin(number_stream(10));
        assert_eq!(s.next().await, Some(0));
        assert_eq!(s.next().await, Some(1));
        drop(s);
        let items: Vec<_> = fallible_stream().collect().await;
        assert_eq!(items.len(), 3);
    });
    assert_eq!(
        named(&spans, "number_stream").str_attr(OUTPUT),
        Some("[0, 1]")
    );
    let fallible = named(&spans, "fallible_stream");
    assert_eq!(fallible.str_attr(OUTPUT), Some("ac"));
    assert_eq!(fallible.str_attr(LEVEL), Some("ERROR"));
    assert_eq!(fallible.str_attr(STATUS), Some("chunk 2 failed"));
    let n = named(&spans, "number_stream");
    assert!(n.end_time_unix_nano >= n.start_time_unix_nano);
}

#[test]
fn iterators_are_observed_until_exhausted_and_items_made_inside_are_children() {
    let spans = capture(4, || {
        assert_eq!(word_iter("a b c").collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(boxed_iter(2).collect::<Vec<_>>(), [10, 11]);
    });
    assert_eq!(named(&spans, "word_iter").str_attr(OUTPUT), Some("abc"));
    let boxed = named(&spans, "boxed_iter");
    assert_eq!(boxed.str_attr(OUTPUT), Some("[10, 11]"));
    for add in spans.iter().filter(|s| s.name == "add") {
        assert_child(add, boxed);
    }
}

// ---------------------------------------------------------------------------
// Cost: nothing is serialised unless the observation is recorded
// ---------------------------------------------------------------------------

static SERIALIZED: AtomicUsize = AtomicUsize::new(0);

struct Counted;

impl Serialize for Counted {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SERIALIZED.fetch_add(1, Ordering::SeqCst);
        s.serialize_unit()
    }
}

#[observe]
fn counted(c: Counted) -> Counted {
    c
}

#[test]
fn nothing_is_serialised_without_a_subscriber_or_when_sampled_out() {
    SERIALIZED.store(0, Ordering::SeqCst);
    counted(Counted);
    assert_eq!(SERIALIZED.load(Ordering::SeqCst), 0, "no subscriber");

    let receiver = Receiver::start();
    let layer = LangfuseLayer::builder()
        .public_key("pk-lf-test")
        .secret_key("sk-lf-test")
        .base_url(receiver.base_url())
        .console(false)
        .sample_rate(0.0)
        .build()
        .unwrap();
    let handle = layer.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        counted(Counted);
    });
    handle.flush().unwrap();
    assert_eq!(SERIALIZED.load(Ordering::SeqCst), 0, "sampled out");
    assert!(receiver.spans().is_empty());

    // A subscriber without the Langfuse layer: the span is enabled but not recorded.
    tracing::subscriber::with_default(tracing_subscriber::registry(), || {
        counted(Counted);
    });
    assert_eq!(SERIALIZED.load(Ordering::SeqCst), 0, "no Langfuse layer");

    let spans = capture(1, || {
        counted(Counted);
    });
    assert_eq!(SERIALIZED.load(Ordering::SeqCst), 2, "input and output");
    assert_eq!(spans[0].str_attr(INPUT), Some(r#"{"c": null}"#));
}

#[test]
fn observed_functions_work_without_any_subscriber() {
    assert_eq!(add(2, 2), 4);
    assert!(fails(0).is_err());
    assert!(catch_unwind(AssertUnwindSafe(|| panics("x"))).is_err());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(async_child(2).await, 4);
        assert_eq!(number_stream(2).count().await, 2);
    });
    assert_eq!(word_iter("a b").count(), 2);
    let shared = Arc::new(Agent { name: "x".into() });
    assert_eq!(shared.plan("ab"), 2);
}

#[observe]
fn cache_inner(tag: &str) -> String {
    format!("inner-{tag}")
}

#[observe]
fn cache_outer(tag: &str, other: &tracing::Dispatch) -> String {
    // Span ids are per subscriber: the inner call in the other subscriber gets the same
    // id as this one. Input and output must still land on the right observation.
    let inner = tracing::dispatcher::with_default(other, || cache_inner(tag));
    format!("outer-{tag}-{inner}")
}

#[test]
fn input_and_output_land_on_the_right_observation_across_subscribers_with_equal_span_ids() {
    let receiver_b = Receiver::start();
    let layer_b = support::layer(&receiver_b);
    let handle_b = layer_b.handle();
    let dispatch_b = tracing::Dispatch::new(tracing_subscriber::registry().with(layer_b));
    let spans_a = capture(3, || {
        cache_outer("x", &dispatch_b);
        // The same id again after the first observation closed.
        cache_outer("y", &dispatch_b);
        cache_inner("z");
    });
    handle_b.flush().unwrap();
    let spans_b = receiver_b.wait_for_spans(2, Duration::from_secs(10));
    let by_output = |spans: &[CapturedSpan], out: &str| {
        spans
            .iter()
            .find(|s| s.str_attr(OUTPUT) == Some(out))
            .unwrap_or_else(|| panic!("no span with output {out}: {:#?}", names(spans)))
            .clone()
    };
    let outer_x = by_output(&spans_a, "outer-x-inner-x");
    assert_eq!(outer_x.name, "cache_outer");
    assert!(outer_x
        .str_attr(INPUT)
        .unwrap()
        .starts_with(r#"{"tag": "x", "other": "#));
    let outer_y = by_output(&spans_a, "outer-y-inner-y");
    assert!(outer_y
        .str_attr(INPUT)
        .unwrap()
        .starts_with(r#"{"tag": "y""#));
    let inner_z = by_output(&spans_a, "inner-z");
    assert_eq!(inner_z.str_attr(INPUT), Some(r#"{"tag": "z"}"#));
    for (tag, span) in [
        ("x", by_output(&spans_b, "inner-x")),
        ("y", by_output(&spans_b, "inner-y")),
    ] {
        assert_eq!(span.name, "cache_inner");
        assert_eq!(
            span.str_attr(INPUT),
            Some(format!(r#"{{"tag": "{tag}"}}"#).as_str())
        );
        // A root of its own subscriber: no parent from the other one.
        assert!(span.parent_span_id.is_none(), "{span:#?}");
    }
    assert_eq!(spans_b.len(), 2);
}

#[test]
fn updates_reach_their_own_subscribers_observation_while_another_with_the_same_id_is_open() {
    use langfuse_tracing_core::observation::{span, SpanUpdate};
    let receiver_b = Receiver::start();
    let layer_b = support::layer(&receiver_b);
    let handle_b = layer_b.handle();
    let dispatch_b = tracing::Dispatch::new(tracing_subscriber::registry().with(layer_b));
    let spans_a = capture(1, || {
        let x = span("x").start();
        // Opened last on this thread, in the other subscriber, with the same span id.
        let y = tracing::dispatcher::with_default(&dispatch_b, || span("y").start());
        x.update(SpanUpdate::new().output("for x"));
        tracing::dispatcher::with_default(&dispatch_b, || {
            y.update(SpanUpdate::new().output("for y"));
            y.end();
        });
        x.end();
    });
    handle_b.flush().unwrap();
    let spans_b = receiver_b.wait_for_spans(1, Duration::from_secs(10));
    assert_eq!(spans_a[0].name, "x");
    assert_eq!(spans_a[0].str_attr(OUTPUT), Some("for x"));
    assert_eq!(spans_b.len(), 1);
    assert_eq!(spans_b[0].name, "y");
    assert_eq!(spans_b[0].str_attr(OUTPUT), Some("for y"));
}

// ---------------------------------------------------------------------------
// transform_to_string: the collected items, joined by the user's function
// ---------------------------------------------------------------------------

fn join_tokens(items: &[String]) -> String {
    items.iter().map(|s| s.trim()).collect::<Vec<_>>().join("|")
}

fn sum_numbers(items: &[u32]) -> String {
    format!("sum={}", items.iter().sum::<u32>())
}

#[observe(as_type = "generation", transform_to_string = join_tokens)]
fn joined_token_stream(prompt: &str) -> impl Stream<Item = String> + Send + '_ {
    stream::iter(prompt.split(' ').map(|w| format!("{w} ")))
}

#[observe(iterator, transform_to_string = sum_numbers)]
fn summed_boxed_iter(n: u32) -> Box<dyn Iterator<Item = u32>> {
    Box::new(1..=n)
}

#[observe(transform_to_string = sum_numbers)]
fn summed_iter(n: u32) -> impl Iterator<Item = u32> {
    1..=n
}

#[test]
fn transform_to_string_makes_the_output_of_a_stream_and_an_iterator() {
    let spans = capture_async(3, || async {
        let words: Vec<String> = joined_token_stream("hello big world").collect().await;
        assert_eq!(words, ["hello ", "big ", "world "]);
        assert_eq!(summed_boxed_iter(3).collect::<Vec<_>>(), [1, 2, 3]);
        // Dropped early: the items seen so far.
        let mut it = summed_iter(10);
        assert_eq!((it.next(), it.next()), (Some(1), Some(2)));
        drop(it);
    });
    let s = named(&spans, "joined_token_stream");
    assert_eq!(s.str_attr(OUTPUT), Some("hello|big|world"));
    assert!(s.str_attr(COMPLETION_START).is_some());
    assert_eq!(
        named(&spans, "summed_boxed_iter").str_attr(OUTPUT),
        Some("sum=6")
    );
    assert_eq!(named(&spans, "summed_iter").str_attr(OUTPUT), Some("sum=3"));
}

// The application-facing re-export, and what it generates: paths through the subscriber
// crate only (moved here from the trybuild pass cases, whose package depends on
// langfuse-tracing-core alone).
#[langfuse_tracing::observe]
fn through_subscriber(x: u32) -> u32 {
    x
}

#[langfuse_tracing_core::observe(crate = ::langfuse_tracing)]
async fn subscriber_paths(x: u32) -> Result<u32, String> {
    Ok(x)
}

#[test]
fn observe_through_the_subscriber_crate_records_like_the_core_macro() {
    let spans = capture(2, || {
        assert_eq!(through_subscriber(7), 7);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(rt.block_on(subscriber_paths(8)), Ok(8));
    });
    let sync = named(&spans, "through_subscriber");
    assert_eq!(sync.str_attr(INPUT), Some(r#"{"x": 7}"#));
    assert_eq!(sync.str_attr(OUTPUT), Some("7"));
    let r#async = named(&spans, "subscriber_paths");
    assert_eq!(r#async.str_attr(INPUT), Some(r#"{"x": 8}"#));
    assert_eq!(r#async.str_attr(OUTPUT), Some("8"));
}

#[observe]
fn kilobyte_chunks(n: usize) -> impl Iterator<Item = String> {
    (0..n).map(|_| "x".repeat(1024))
}

#[observe]
fn kilobyte_lists(n: usize) -> impl Iterator<Item = Vec<u8>> {
    (0..n).map(|_| vec![7u8; 600])
}

/// An iterator (or stream) whose items outgrow 8 MiB: its output is cut there and says
/// how many items were left out, instead of growing without bound while it runs.
#[test]
fn a_huge_iterator_output_is_cut_with_a_count() {
    let spans = capture(2, || {
        assert_eq!(kilobyte_chunks(9 * 1024).count(), 9 * 1024);
        assert_eq!(kilobyte_lists(9 * 1024).count(), 9 * 1024);
    });
    let limit = 8 << 20; // MAX_COLLECTED_BYTES
    let text = spans.iter().find(|s| s.name == "kilobyte_chunks").unwrap();
    let out = text.str_attr(OUTPUT).unwrap();
    assert!(out.len() < limit + 2048, "{}", out.len());
    assert!(out.ends_with("... 1024 more items not captured (output cut at 8388608 bytes)"));
    let json = spans.iter().find(|s| s.name == "kilobyte_lists").unwrap();
    let out = json.str_attr(OUTPUT).unwrap();
    assert!(out.len() < 2 * limit, "{}", out.len());
    assert!(
        out.ends_with(" more items not captured (output cut at 8388608 bytes)\"]"),
        "{}",
        &out[out.len() - 80..]
    );
}
