//! `propagate_attributes` through the real layer and the in-process OTLP receiver:
//! which observations carry the trace-level attributes, across closures, `.await`,
//! spawned tasks and nested scopes, and how invalid values are dropped.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use langfuse_tracing::propagation::{
    self, current_traceparent, extract_trace_headers, inject_trace_headers, PropagateAttributes,
    RemoteContext,
};
use langfuse_tracing::LangfuseLayer;
use support::{CapturedSpan, Receiver};
use tracing::Instrument as _;
use tracing_subscriber::prelude::*;

const USER: &str = "user.id";
const SESSION: &str = "session.id";

/// Runs `f` under a fresh layer and returns every exported span.
fn capture(f: impl FnOnce()) -> Vec<CapturedSpan> {
    support::capture(f).1
}

fn named<'a>(spans: &'a [CapturedSpan], name: &str) -> &'a CapturedSpan {
    spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
        panic!(
            "no span {name:?} in {:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        )
    })
}

/// A plain `tracing` span with a Langfuse field, named `name` on the wire.
macro_rules! observation {
    ($name:literal) => {
        tracing::info_span!($name, langfuse.observation.type = "span")
    };
}

fn tags(span: &CapturedSpan) -> Option<Vec<String>> {
    span.attr("langfuse.trace.tags").map(|v| {
        v.as_array()
            .expect("tags are a string array")
            .iter()
            .map(|t| t.as_str().expect("string tag").to_owned())
            .collect()
    })
}

#[test]
fn a_closure_scope_reaches_every_observation_started_inside_and_the_current_one() {
    let spans = capture(|| {
        let _sibling = observation!("closed-before").entered();
        drop(_sibling);
        let root = observation!("root");
        root.in_scope(|| {
            PropagateAttributes::new()
                .user_id("user_123")
                .session_id("session_abc")
                .metadata("experiment", "variant_a")
                .metadata("attempt", &2)
                .version("1.0")
                .trace_name("user-workflow")
                .environment("production")
                .tags(["beta", "rag"])
                .prompt("qa-prompt", 3)
                .run(|| {
                    let _child = observation!("child").entered();
                    let _grandchild =
                        tracing::info_span!("llm", langfuse.observation.type = "generation")
                            .entered();
                });
            let _after = observation!("after-scope").entered();
        });
    });
    assert_eq!(spans.len(), 5);
    for name in ["root", "child", "llm"] {
        let s = named(&spans, name);
        assert_eq!(s.str_attr(USER), Some("user_123"), "{name}");
        assert_eq!(s.str_attr(SESSION), Some("session_abc"), "{name}");
        assert_eq!(
            s.str_attr("langfuse.trace.metadata.experiment"),
            Some("\"variant_a\""),
            "{name}"
        );
        assert_eq!(
            s.str_attr("langfuse.trace.metadata.attempt"),
            Some("2"),
            "{name}"
        );
        assert_eq!(s.str_attr("langfuse.version"), Some("1.0"), "{name}");
        assert_eq!(
            s.str_attr("langfuse.trace.name"),
            Some("user-workflow"),
            "{name}"
        );
        assert_eq!(
            s.str_attr("langfuse.environment"),
            Some("production"),
            "{name}"
        );
        assert_eq!(
            tags(s),
            Some(vec!["beta".to_string(), "rag".into()]),
            "{name}"
        );
        assert_eq!(
            s.str_attr("langfuse.observation.prompt.name"),
            Some("qa-prompt"),
            "{name}"
        );
        assert_eq!(
            s.int_attr("langfuse.observation.prompt.version"),
            Some(3),
            "{name}"
        );
    }
    for name in ["closed-before", "after-scope"] {
        let s = named(&spans, name);
        assert_eq!(s.attr(USER), None, "{name}");
        assert_eq!(s.attr("langfuse.trace.tags"), None, "{name}");
        assert_eq!(s.attr("langfuse.trace.metadata.experiment"), None, "{name}");
    }
    // The scope changes attributes, not the tree.
    let root = named(&spans, "root");
    assert_eq!(
        named(&spans, "child").parent_span_id.as_ref(),
        Some(&root.span_id)
    );
    assert_eq!(
        named(&spans, "after-scope").parent_span_id.as_ref(),
        Some(&root.span_id)
    );
}

#[test]
fn the_free_function_and_the_builder_api_observations() {
    let spans = capture(|| {
        propagation::propagate_attributes(PropagateAttributes::new().user_id("u-free"), || {
            langfuse_tracing::observation::span("builder-obs").run(|_| {
                langfuse_tracing::observation::generation("builder-gen")
                    .start()
                    .end();
            });
            // A non-observation span in between stays transparent.
            let _plain = tracing::info_span!("plain").entered();
            let _o = observation!("under-plain").entered();
        });
    });
    for name in ["builder-obs", "builder-gen", "under-plain"] {
        assert_eq!(named(&spans, name).str_attr(USER), Some("u-free"), "{name}");
    }
}

#[langfuse_tracing::observe]
fn observed_inner() -> u32 {
    7
}

#[langfuse_tracing::observe]
fn observed_outer(user: &str) -> u32 {
    PropagateAttributes::new()
        .user_id(user)
        .session_id("s-observe")
        .run(observed_inner)
}

#[test]
fn observed_functions_get_the_values_current_at_entry_and_inside() {
    let spans = capture(|| {
        assert_eq!(observed_outer("u-observe"), 7);
    });
    for name in ["observed_outer", "observed_inner"] {
        let s = named(&spans, name);
        assert_eq!(s.str_attr(USER), Some("u-observe"), "{name}");
        assert_eq!(s.str_attr(SESSION), Some("s-observe"), "{name}");
    }
}

#[tokio::test]
async fn a_future_scope_survives_await_and_ends_with_the_future() {
    let receiver = Receiver::start();
    let layer = support::layer(&receiver);
    let handle = layer.handle();
    let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    let root = observation!("async-root");
    async {
        PropagateAttributes::new()
            .user_id("u-async")
            .session_id("s-async")
            .instrument(async {
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(2)).await;
                async {
                    tokio::task::yield_now().await;
                }
                .instrument(observation!("after-await"))
                .await;
            })
            .await;
        async {}.instrument(observation!("after-future")).await;
    }
    .instrument(root)
    .await;
    drop(guard);
    handle.flush().unwrap();
    let spans = receiver.spans();
    for name in ["async-root", "after-await"] {
        assert_eq!(
            named(&spans, name).str_attr(USER),
            Some("u-async"),
            "{name}"
        );
        assert_eq!(
            named(&spans, name).str_attr(SESSION),
            Some("s-async"),
            "{name}"
        );
    }
    assert_eq!(named(&spans, "after-future").attr(USER), None);
}

#[tokio::test]
async fn a_spawned_task_is_in_scope_only_when_wrapped() {
    let receiver = Receiver::start();
    let layer = support::layer(&receiver);
    let handle = layer.handle();
    let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    async {
        PropagateAttributes::new()
            .user_id("u-spawn")
            .instrument(async {
                let wrapped = tokio::spawn(propagation::current().instrument(async {
                    tokio::task::yield_now().await;
                    let _s = observation!("wrapped-task").entered();
                }));
                let bare = tokio::spawn(async {
                    tokio::task::yield_now().await;
                    let _s = observation!("bare-task").entered();
                });
                wrapped.await.unwrap();
                bare.await.unwrap();
            })
            .await;
    }
    .instrument(observation!("spawner"))
    .await;
    drop(guard);
    handle.flush().unwrap();
    let spans = receiver.spans();
    let spawner = named(&spans, "spawner");
    let wrapped = named(&spans, "wrapped-task");
    let bare = named(&spans, "bare-task");
    assert_eq!(wrapped.str_attr(USER), Some("u-spawn"));
    assert_eq!(wrapped.trace_id, spawner.trace_id);
    assert_eq!(wrapped.parent_span_id.as_ref(), Some(&spawner.span_id));
    assert_eq!(bare.attr(USER), None);
    assert_ne!(
        bare.trace_id, spawner.trace_id,
        "an unwrapped task starts its own trace"
    );
}

#[test]
fn nested_scopes_override_scalars_merge_metadata_and_append_new_tags() {
    let spans = capture(|| {
        let _root = observation!("nest-root").entered();
        PropagateAttributes::new()
            .user_id("outer-user")
            .session_id("outer-session")
            .metadata("a", "outer")
            .metadata("b", "outer")
            .tags(["tag-a", "tag-b", "tag-a"])
            .run(|| {
                let _o = observation!("in-outer").entered();
                drop(_o);
                PropagateAttributes::new()
                    .user_id("inner-user")
                    .metadata("b", "inner")
                    .metadata("c", "inner")
                    .tags(["tag-c", "tag-a"])
                    .run(|| {
                        let _i = observation!("in-inner").entered();
                    });
                let _b = observation!("back-in-outer").entered();
            });
    });
    let inner = named(&spans, "in-inner");
    assert_eq!(inner.str_attr(USER), Some("inner-user"));
    assert_eq!(inner.str_attr(SESSION), Some("outer-session"));
    assert_eq!(
        inner.str_attr("langfuse.trace.metadata.a"),
        Some("\"outer\"")
    );
    assert_eq!(
        inner.str_attr("langfuse.trace.metadata.b"),
        Some("\"inner\"")
    );
    assert_eq!(
        inner.str_attr("langfuse.trace.metadata.c"),
        Some("\"inner\"")
    );
    // The exact tag lists (duplicates kept) are pinned by
    // `nested_tags_keep_duplicates_on_the_wire` below; here only the merge order.
    let inner_tags = tags(inner).unwrap();
    assert_eq!(inner_tags.first().map(String::as_str), Some("tag-a"));
    assert_eq!(inner_tags.last().map(String::as_str), Some("tag-c"));
    for name in ["in-outer", "back-in-outer"] {
        let s = named(&spans, name);
        assert_eq!(s.str_attr(USER), Some("outer-user"), "{name}");
        assert_eq!(
            s.str_attr("langfuse.trace.metadata.b"),
            Some("\"outer\""),
            "{name}"
        );
        assert_eq!(s.attr("langfuse.trace.metadata.c"), None, "{name}");
        assert!(!tags(s).unwrap().contains(&"tag-c".to_string()), "{name}");
    }
    // The root was current at the entry of both scopes: it has the values of both.
    let root = named(&spans, "nest-root");
    assert_eq!(root.str_attr(USER), Some("inner-user"));
    assert_eq!(
        root.str_attr("langfuse.trace.metadata.c"),
        Some("\"inner\"")
    );
}

/// Reference §3 (captured): `["tag-a","tag-b","tag-a"]` then `["tag-c","tag-a"]` is
/// `["tag-a","tag-b","tag-a","tag-c"]` on the wire. The scope computes exactly that
/// list (see the unit tests of `propagation`), but the converter currently removes
/// duplicates when it writes `langfuse.trace.tags`.
#[test]
fn nested_tags_keep_duplicates_on_the_wire() {
    let spans = capture(|| {
        PropagateAttributes::new()
            .tags(["tag-a", "tag-b", "tag-a"])
            .run(|| {
                let _o = observation!("tags-outer").entered();
                drop(_o);
                PropagateAttributes::new().tags(["tag-c", "tag-a"]).run(|| {
                    let _i = observation!("tags-inner").entered();
                });
            });
    });
    assert_eq!(
        tags(named(&spans, "tags-outer")),
        Some(["tag-a", "tag-b", "tag-a"].map(String::from).to_vec())
    );
    assert_eq!(
        tags(named(&spans, "tags-inner")),
        Some(
            ["tag-a", "tag-b", "tag-a", "tag-c"]
                .map(String::from)
                .to_vec()
        )
    );
}

#[test]
fn invalid_entries_are_dropped_and_the_rest_still_applies() {
    let spans = capture(|| {
        let _root = observation!("validated").entered();
        PropagateAttributes::new()
            .user_id("x".repeat(201))
            .session_id("s-ok")
            .metadata("bad key", &1)
            .metadata("long", &"y".repeat(199))
            .metadata("good", &true)
            .environment("langfuse-internal")
            .tags(["ok".to_string(), "z".repeat(201)])
            .prompt("", 1)
            .trace_name("é".repeat(200))
            .run(|| {
                let _c = observation!("validated-child").entered();
            });
    });
    for name in ["validated", "validated-child"] {
        let s = named(&spans, name);
        assert_eq!(s.attr(USER), None, "{name}");
        assert_eq!(s.str_attr(SESSION), Some("s-ok"), "{name}");
        assert_eq!(s.attr("langfuse.trace.metadata.bad key"), None, "{name}");
        assert_eq!(s.attr("langfuse.trace.metadata.long"), None, "{name}");
        assert_eq!(
            s.str_attr("langfuse.trace.metadata.good"),
            Some("true"),
            "{name}"
        );
        assert_eq!(s.attr("langfuse.environment"), None, "{name}");
        assert_eq!(tags(s), Some(vec!["ok".to_string()]), "{name}");
        assert_eq!(s.attr("langfuse.observation.prompt.name"), None, "{name}");
        assert_eq!(
            s.str_attr("langfuse.trace.name").map(|n| n.chars().count()),
            Some(200),
            "{name}"
        );
    }
}

#[test]
fn injected_traceparent_names_the_current_observation() {
    let receiver = Receiver::start();
    let layer = support::layer(&receiver);
    let handle = layer.handle();
    let mut headers = http::HeaderMap::new();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        assert_eq!(
            current_traceparent(),
            None,
            "no observation, no remote parent"
        );
        let _s = observation!("caller").entered();
        let _plain = tracing::info_span!("not-an-observation").entered();
        PropagateAttributes::new()
            .user_id("u-hdr")
            .as_baggage(true)
            .run(|| inject_trace_headers(&mut headers));
    });
    handle.flush().unwrap();
    let caller = receiver.span_named("caller");
    assert_eq!(
        headers["traceparent"].to_str().unwrap(),
        format!("00-{}-{}-01", caller.trace_id, caller.span_id)
    );
    assert_eq!(
        headers["baggage"],
        format!(
            "langfuse_trace_id={},langfuse_user_id=u-hdr",
            caller.trace_id
        )
    );
    let cx = extract_trace_headers(&headers).unwrap();
    assert_eq!(cx.trace_id().unwrap().to_string(), caller.trace_id);
    assert_eq!(
        cx.parent_observation_id().unwrap().to_string(),
        caller.span_id
    );
}

#[test]
fn a_sampled_out_observation_sends_the_unsampled_flag() {
    let receiver = Receiver::start();
    let layer = LangfuseLayer::builder()
        .public_key("pk")
        .secret_key("sk")
        .base_url(receiver.base_url())
        .sample_rate(0.0)
        .console(false)
        .build()
        .unwrap();
    let tp = tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let _s = observation!("unsampled").entered();
        current_traceparent()
    });
    assert!(tp.unwrap().ends_with("-00"));
}

#[test]
fn a_remote_context_continues_the_trace_under_the_remote_parent() {
    let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let spans = capture(|| {
        let mut h = http::HeaderMap::new();
        h.insert("traceparent", tp.parse().unwrap());
        h.insert(
            "baggage",
            "langfuse_user_id=remote-user,langfuse_metadata_experiment=%22variant_a%22,langfuse_tier=gold"
                .parse()
                .unwrap(),
        );
        let cx = extract_trace_headers(&h).unwrap();
        cx.run(|| {
            let _top = observation!("server-root").entered();
            let _child = observation!("server-child").entered();
        });
        let _later = observation!("outside").entered();
    });
    let top = named(&spans, "server-root");
    let child = named(&spans, "server-child");
    assert_eq!(top.trace_id, "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(top.parent_span_id.as_deref(), Some("b7ad6b7169203331"));
    assert_eq!(top.attr("langfuse.internal.as_root"), None);
    assert_eq!(child.trace_id, top.trace_id);
    assert_eq!(child.parent_span_id.as_ref(), Some(&top.span_id));
    for s in [top, child] {
        assert_eq!(s.str_attr(USER), Some("remote-user"));
        assert_eq!(
            s.str_attr("langfuse.trace.metadata.experiment"),
            Some("\"variant_a\"")
        );
        assert_eq!(s.str_attr("langfuse.trace.metadata.tier"), Some("gold"));
    }
    let outside = named(&spans, "outside");
    assert_ne!(outside.trace_id, top.trace_id);
    assert_eq!(outside.attr(USER), None);
}

/// The hand-written W3C code against the OpenTelemetry SDK's propagators, both ways.
#[test]
fn headers_interoperate_with_the_opentelemetry_sdk_propagators() {
    use opentelemetry::baggage::BaggageExt as _;
    use opentelemetry::propagation::TextMapPropagator as _;
    use opentelemetry::trace::TraceContextExt as _;
    use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

    // Ours -> SDK.
    let mut headers = http::HeaderMap::new();
    let receiver = Receiver::start();
    let layer = support::layer(&receiver);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let _s = observation!("interop").entered();
        PropagateAttributes::new()
            .user_id("José Doe+1")
            .session_id("a=b;c,d")
            .tags(["x y", "z"])
            .metadata("m", "v")
            .as_baggage(true)
            .run(|| inject_trace_headers(&mut headers));
    });
    let carrier: HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    let cx = TraceContextPropagator::new().extract(&carrier);
    let sc = cx.span().span_context().clone();
    assert!(sc.is_valid() && sc.is_remote() && sc.is_sampled());
    let ours = extract_trace_headers(&headers).unwrap();
    assert_eq!(
        sc.trace_id().to_string(),
        ours.trace_id().unwrap().to_string()
    );
    assert_eq!(
        sc.span_id().to_string(),
        ours.parent_observation_id().unwrap().to_string()
    );
    let cx = BaggagePropagator::new().extract(&carrier);
    let bag = cx.baggage();
    assert_eq!(
        bag.get("langfuse_user_id")
            .map(|v| v.as_str().to_owned())
            .as_deref(),
        Some("José Doe+1")
    );
    assert_eq!(
        bag.get("langfuse_session_id")
            .map(|v| v.as_str().to_owned())
            .as_deref(),
        Some("a=b;c,d")
    );
    assert_eq!(
        bag.get("langfuse_tags")
            .map(|v| v.as_str().to_owned())
            .as_deref(),
        Some(r#"["x y","z"]"#)
    );
    assert_eq!(
        bag.get("langfuse_metadata_m")
            .map(|v| v.as_str().to_owned())
            .as_deref(),
        Some("\"v\"")
    );

    // SDK -> ours.
    let span_context = opentelemetry::trace::SpanContext::new(
        opentelemetry::trace::TraceId::from(0x4bf92f3577b34da6a3ce929d0e0e4736),
        opentelemetry::trace::SpanId::from(0x00f067aa0ba902b7),
        opentelemetry::trace::TraceFlags::SAMPLED,
        false,
        Default::default(),
    );
    let cx = opentelemetry::Context::new()
        .with_remote_span_context(span_context)
        .with_baggage([
            opentelemetry::KeyValue::new("langfuse_user_id", "Zoë Q"),
            opentelemetry::KeyValue::new("langfuse_session_id", "s;1,2=3"),
            opentelemetry::KeyValue::new("unrelated", "kept-out"),
        ]);
    let mut carrier: HashMap<String, String> = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    BaggagePropagator::new().inject_context(&cx, &mut carrier);
    let mut headers = http::HeaderMap::new();
    for (k, v) in &carrier {
        headers.insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let ours = extract_trace_headers(&headers).unwrap();
    assert_eq!(
        ours.trace_id().unwrap().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(
        ours.parent_observation_id().unwrap().to_string(),
        "00f067aa0ba902b7"
    );
    let a = ours.attributes().unwrap();
    assert_eq!(a.user_id.as_deref(), Some("Zoë Q"));
    assert_eq!(a.session_id.as_deref(), Some("s;1,2=3"));
    assert!(a.metadata.is_empty());
}

/// The header the Python SDK sends (reference §3, captured), read by this crate.
#[test]
fn a_python_sdk_baggage_header_is_understood() {
    let mut h = http::HeaderMap::new();
    h.insert(
        "traceparent",
        "00-a5fd0b5d1a8bf0c4e0c5e2f5ef2d40bd-1111111111111111-01"
            .parse()
            .unwrap(),
    );
    h.insert(
        "baggage",
        "langfuse_trace_id=a5fd0b5d1a8bf0c4e0c5e2f5ef2d40bd,langfuse_user_id=baggage-user,\
         langfuse_session_id=baggage-session,langfuse_tags=%5B%27tag-a%27%2C+%27tag-b%27%5D,\
         langfuse_metadata_experiment=%22variant_a%22"
            .parse()
            .unwrap(),
    );
    let cx = extract_trace_headers(&h).unwrap();
    let a = cx.attributes().unwrap();
    assert_eq!(a.user_id.as_deref(), Some("baggage-user"));
    assert_eq!(a.session_id.as_deref(), Some("baggage-session"));
    assert_eq!(a.tags, ["tag-a", "tag-b"]);
    assert_eq!(
        a.metadata,
        [("experiment".to_string(), "\"variant_a\"".to_string())]
    );
    assert!(a.baggage.iter().all(|(k, _)| k != "langfuse_trace_id"));
}

/// The app-root mark under a remote parent follows the caller's trace claim
/// (`langfuse_trace_id` baggage, reference §6.6): a caller with Langfuse observations
/// open in the trace keeps the mark for itself; a caller without (or one that claims
/// another trace, or sends a malformed claim) leaves it to this service.
#[test]
fn a_trace_claimed_by_the_caller_is_not_rooted_here_again() {
    const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
    let traceparent = format!("00-{TRACE}-b7ad6b7169203331-01");
    let cases = [
        ("unclaimed", None),
        (
            "claimed",
            Some(format!("other=1,langfuse_trace_id={TRACE}")),
        ),
        (
            "claims-another",
            Some("langfuse_trace_id=11111111111111111111111111111111".to_string()),
        ),
        (
            "malformed-claim",
            Some(format!("langfuse_trace_id={TRACE}0")),
        ),
    ];
    let receiver = Receiver::start();
    let layer = support::layer(&receiver);
    let handle = layer.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for (name, baggage) in &cases {
            let cx = RemoteContext::from_w3c(Some(&traceparent), baggage.as_deref()).unwrap();
            cx.run(|| {
                let _root = tracing::info_span!(
                    "root",
                    langfuse.observation.type = "span",
                    langfuse.observation.metadata.case = *name
                )
                .entered();
                let _child = observation!("child").entered();
            });
        }
    });
    handle.flush().unwrap();
    let spans = receiver.wait_for_spans(2 * cases.len(), Duration::from_secs(10));
    for (name, _) in &cases {
        let case = format!("{name:?}");
        let s = spans
            .iter()
            .find(|s| s.str_attr("langfuse.observation.metadata.case") == Some(case.as_str()))
            .unwrap_or_else(|| panic!("no root for {name}: {spans:#?}"));
        assert_eq!(s.trace_id, TRACE);
        let expected = (*name != "claimed").then_some(true);
        assert_eq!(
            s.bool_attr("langfuse.internal.is_app_root"),
            expected,
            "{name}"
        );
    }
    for s in spans.iter().filter(|s| s.name == "child") {
        assert_eq!(s.attr("langfuse.internal.is_app_root"), None);
    }
}
