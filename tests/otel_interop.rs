//! One trace, two backends: `LangfuseLayer` (with its `tracing-opentelemetry` feature)
//! and `tracing_opentelemetry::OpenTelemetryLayer` in one registry. Langfuse exports to
//! one in-process OTLP receiver, OpenTelemetry (`opentelemetry-otlp`, http-proto) to a
//! second one, and the ids each received are compared: same trace id and span id per
//! observation, in both layer orders, for entered, nested and never-entered spans, for a
//! span continued from a `traceparent` with `set_parent`, under sampling, and when the
//! OpenTelemetry layer filters a span out. The last test runs `examples/axum_service.rs`.

mod support;

#[path = "../examples/axum_service.rs"]
#[allow(dead_code)]
mod axum_service;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use langfuse_tracing::__layer::hooks::LayerHooks;
use langfuse_tracing::observe;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use support::{layer_builder, CapturedSpan, Receiver};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::prelude::*;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const UPSTREAM_SPAN: &str = "00f067aa0ba902b7";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Order {
    /// `registry().with(langfuse).with(otel)`, the recommended order.
    LangfuseFirst,
    /// `registry().with(otel).with(langfuse)`.
    OtelFirst,
}

struct Setup {
    order: Order,
    sampler: Sampler,
    sample_rate: f64,
    /// Spans the OpenTelemetry layer sees (a per-layer filter).
    otel_sees: fn(&tracing::Metadata<'_>) -> bool,
}

impl Setup {
    fn new(order: Order) -> Setup {
        Setup {
            order,
            sampler: Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            sample_rate: 1.0,
            otel_sees: |_| true,
        }
    }
}

/// What each backend received.
struct Exports {
    langfuse: Vec<CapturedSpan>,
    otel: Vec<CapturedSpan>,
}

impl Exports {
    fn langfuse(&self, name: &str) -> &CapturedSpan {
        one(&self.langfuse, name)
    }
    fn otel(&self, name: &str) -> &CapturedSpan {
        one(&self.otel, name)
    }
    /// Same trace id, span id and parent span id in both exports.
    fn assert_same_ids(&self, name: &str) {
        let (l, o) = (self.langfuse(name), self.otel(name));
        assert_eq!(
            (&l.trace_id, &l.span_id, &l.parent_span_id),
            (&o.trace_id, &o.span_id, &o.parent_span_id),
            "ids of {name} (langfuse, otel)"
        );
    }
}

fn one<'a>(spans: &'a [CapturedSpan], name: &str) -> &'a CapturedSpan {
    let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one span {name} in {:?}", names(spans));
    found[0]
}

fn names(spans: &[CapturedSpan]) -> Vec<&str> {
    let mut names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    names
}

fn otel_endpoint(receiver: &Receiver) -> String {
    format!("{}/v1/traces", receiver.base_url())
}

/// Runs `f` under both layers, flushes both, and returns what each receiver got.
fn run(setup: Setup, f: impl FnOnce()) -> Exports {
    let (langfuse_rx, otel_rx) = (Receiver::start(), Receiver::start());
    let langfuse = layer_builder(&langfuse_rx)
        .sample_rate(setup.sample_rate)
        .build()
        .expect("langfuse layer");
    let handle = langfuse.handle();
    let provider = SdkTracerProvider::builder()
        .with_sampler(setup.sampler)
        .with_simple_exporter(axum_service::otlp_exporter(&otel_endpoint(&otel_rx)))
        .build();
    let tracer = provider.tracer("otel-interop");
    match setup.order {
        Order::LangfuseFirst => tracing::subscriber::with_default(
            tracing_subscriber::registry()
                .with(langfuse)
                .with(otel_layer(tracer, setup.otel_sees)),
            f,
        ),
        Order::OtelFirst => tracing::subscriber::with_default(
            tracing_subscriber::registry()
                .with(otel_layer(tracer, setup.otel_sees))
                .with(langfuse),
            f,
        ),
    }
    provider.force_flush().expect("otel flush");
    provider.shutdown().expect("otel shutdown");
    handle.flush().expect("langfuse flush");
    Exports {
        langfuse: langfuse_rx.spans(),
        otel: otel_rx.spans(),
    }
}

fn otel_layer<S>(
    tracer: opentelemetry_sdk::trace::SdkTracer,
    sees: fn(&tracing::Metadata<'_>) -> bool,
) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(filter_fn(sees))
}

/// The context a `tower-http` app extracts from an incoming request.
fn incoming(traceparent: &str) -> opentelemetry::Context {
    let headers = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    TraceContextPropagator::new().extract(&headers)
}

fn observation(name: &'static str) -> tracing::Span {
    match name {
        "root" => tracing::info_span!("root", langfuse.observation.type = "span"),
        "child" => tracing::info_span!("child", langfuse.observation.type = "agent"),
        "leaf" => tracing::info_span!("leaf", langfuse.observation.type = "span"),
        "server" => tracing::info_span!("server", langfuse.observation.type = "span"),
        "hidden" => tracing::info_span!("hidden", langfuse.observation.type = "span"),
        "inner" => tracing::info_span!("inner", langfuse.observation.type = "span"),
        _ => unreachable!(),
    }
}

#[observe(as_type = "generation")]
fn generate(prompt: &str) -> String {
    format!("{prompt}!")
}

/// root > child > (generate, leaf never entered)
fn nested() {
    observation("root").in_scope(|| {
        observation("child").in_scope(|| {
            generate("hi");
            drop(observation("leaf"));
        });
    });
}

#[test]
fn langfuse_first_every_observation_has_the_same_ids_in_both_exports() {
    let exports = run(Setup::new(Order::LangfuseFirst), nested);
    assert_eq!(
        names(&exports.langfuse),
        ["child", "generate", "leaf", "root"]
    );
    assert_eq!(names(&exports.otel), ["child", "generate", "leaf", "root"]);
    for name in ["root", "child", "generate", "leaf"] {
        exports.assert_same_ids(name);
    }
    assert_eq!(exports.langfuse("root").parent_span_id, None);
    assert_eq!(
        exports.langfuse("generate").parent_span_id.as_ref(),
        Some(&exports.langfuse("child").span_id)
    );
    assert_eq!(
        exports
            .langfuse("generate")
            .str_attr("langfuse.observation.type"),
        Some("generation")
    );
}

#[test]
fn otel_first_entered_spans_share_ids_and_a_never_entered_leaf_keeps_its_trace() {
    let exports = run(Setup::new(Order::OtelFirst), nested);
    assert_eq!(
        names(&exports.langfuse),
        ["child", "generate", "leaf", "root"]
    );
    for name in ["root", "child", "generate"] {
        exports.assert_same_ids(name);
    }
    // OpenTelemetry forgot the leaf before Langfuse's `on_close` ran: same trace and
    // parent, a span id of its own (documented; the recommended order avoids it).
    let (l, o) = (exports.langfuse("leaf"), exports.otel("leaf"));
    assert_eq!(
        (&l.trace_id, &l.parent_span_id),
        (&o.trace_id, &o.parent_span_id)
    );
    assert_ne!(l.span_id, o.span_id);
}

#[test]
fn a_span_given_an_incoming_traceparent_with_set_parent_continues_in_both() {
    for order in [Order::LangfuseFirst, Order::OtelFirst] {
        // A `tower-http` request span (no observation), then an observation as the
        // request span itself.
        let exports = run(Setup::new(order), || {
            let request = tracing::info_span!("http_request", http.request.method = "POST");
            request
                .set_parent(incoming(&format!("00-{TRACE}-{UPSTREAM_SPAN}-01")))
                .expect("set_parent before the span is entered");
            request.in_scope(|| generate("q"));

            let server = observation("server");
            server
                .set_parent(incoming(&format!("00-{TRACE}-{UPSTREAM_SPAN}-01")))
                .expect("set_parent works on an observation span too");
            server.in_scope(|| observation("child").in_scope(|| {}));
        });
        assert_eq!(names(&exports.langfuse), ["child", "generate", "server"]);
        for name in ["generate", "server", "child"] {
            let l = exports.langfuse(name);
            assert_eq!(l.trace_id, TRACE, "{order:?} {name}");
            assert_eq!(l.span_id, exports.otel(name).span_id, "{order:?} {name}");
        }
        // Langfuse roots: the request span and the upstream span are not observations.
        assert_eq!(exports.langfuse("generate").parent_span_id, None);
        assert_eq!(exports.langfuse("server").parent_span_id, None);
        assert_eq!(
            exports.otel("http_request").parent_span_id.as_deref(),
            Some(UPSTREAM_SPAN)
        );
        assert_eq!(
            exports.otel("generate").parent_span_id.as_ref(),
            Some(&exports.otel("http_request").span_id)
        );
        exports.assert_same_ids("child");
    }
}

#[test]
fn an_unsampled_incoming_traceparent_is_exported_by_neither() {
    for order in [Order::LangfuseFirst, Order::OtelFirst] {
        let exports = run(Setup::new(order), || {
            let request = tracing::info_span!("http_request");
            let _ = request.set_parent(incoming(&format!("00-{TRACE}-{UPSTREAM_SPAN}-00")));
            request.in_scope(nested);
        });
        assert!(
            exports.langfuse.is_empty(),
            "{order:?}: {:?}",
            names(&exports.langfuse)
        );
        assert!(
            exports.otel.is_empty(),
            "{order:?}: {:?}",
            names(&exports.otel)
        );
    }
}

/// Traces (with every observation of each) that each backend received, for 64 roots.
fn sampled_traces(sample_rate: f64, otel_ratio: f64) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut setup = Setup::new(Order::LangfuseFirst);
    setup.sample_rate = sample_rate;
    setup.sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(otel_ratio)));
    let exports = run(setup, || {
        for _ in 0..64 {
            observation("root").in_scope(|| generate("x"));
        }
    });
    let traces = |spans: &[CapturedSpan]| {
        let set: BTreeSet<String> = spans.iter().map(|s| s.trace_id.clone()).collect();
        for trace in &set {
            let n = spans.iter().filter(|s| &s.trace_id == trace).count();
            assert_eq!(n, 2, "no half trace: {trace}");
        }
        set
    };
    (traces(&exports.langfuse), traces(&exports.otel))
}

/// The low 64 bits of a trace id, as both samplers read them.
fn low64(trace: &str) -> u64 {
    u64::from_str_radix(&trace[16..], 16).expect("hex trace id")
}

#[test]
fn sample_rate_and_a_ratio_sampler_agree_on_the_same_trace_id() {
    let (langfuse, otel) = sampled_traces(0.5, 0.5);
    assert!(!otel.is_empty() && otel.len() < 64, "{} of 64", otel.len());
    assert_eq!(langfuse, otel);

    // A lower Langfuse rate keeps a subset: exactly the OpenTelemetry-sampled traces
    // that also pass `sample_rate` on their (OpenTelemetry) trace id.
    let (langfuse, otel) = sampled_traces(0.25, 0.5);
    let expected: BTreeSet<String> = otel
        .iter()
        .filter(|t| low64(t) < 1 << 62)
        .cloned()
        .collect();
    assert_eq!(langfuse, expected);
    assert!(langfuse.len() < otel.len());
}

#[test]
fn a_span_the_otel_layer_filters_out_keeps_its_own_span_id_in_the_same_trace() {
    for order in [Order::LangfuseFirst, Order::OtelFirst] {
        let mut setup = Setup::new(order);
        setup.otel_sees = |m| m.name() != "hidden";
        let exports = run(setup, || {
            // The first observation is one OpenTelemetry does not see...
            observation("hidden").in_scope(|| {});
            // ...and one in the middle of a trace.
            observation("root").in_scope(|| {
                observation("hidden").in_scope(|| observation("inner").in_scope(|| {}));
            });
        });
        assert_eq!(names(&exports.otel), ["inner", "root"], "{order:?}");
        exports.assert_same_ids("root");
        let root = exports.langfuse("root");
        let hidden: Vec<_> = exports
            .langfuse
            .iter()
            .filter(|s| s.name == "hidden" && s.parent_span_id.is_some())
            .collect();
        assert_eq!(hidden.len(), 1, "{order:?}");
        let (hidden, inner) = (hidden[0], exports.langfuse("inner"));
        assert_eq!(hidden.trace_id, root.trace_id, "{order:?}");
        assert_eq!(hidden.parent_span_id.as_ref(), Some(&root.span_id));
        assert_eq!(
            (&inner.trace_id, &inner.span_id),
            (
                &exports.otel("inner").trace_id,
                &exports.otel("inner").span_id
            ),
            "{order:?}"
        );
        assert_eq!(inner.parent_span_id.as_ref(), Some(&hidden.span_id));
    }
}

fn records_every_observation() -> bool {
    tracing::dispatcher::get_default(|d| {
        d.downcast_ref::<LayerHooks>()
            .expect("a Langfuse layer")
            .records_every_observation
            .load(std::sync::atomic::Ordering::Relaxed)
    })
}

#[test]
fn without_an_otel_layer_nothing_changes_and_the_fast_path_stays() {
    let receiver = Receiver::start();
    let layer = layer_builder(&receiver).build().expect("layer");
    let handle = layer.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        assert!(records_every_observation());
        nested();
        assert!(
            records_every_observation(),
            "no OpenTelemetryLayer was found"
        );
    });
    handle.flush().expect("flush");
    let spans = receiver.spans();
    assert_eq!(names(&spans), ["child", "generate", "leaf", "root"]);
    let root = one(&spans, "root");
    for span in &spans {
        assert_eq!(span.trace_id, root.trace_id);
    }
    assert_eq!(
        one(&spans, "leaf").parent_span_id.as_ref(),
        Some(&one(&spans, "child").span_id)
    );

    // With one, the macro asks per observation whether it is sampled.
    let exports = run(Setup::new(Order::LangfuseFirst), || {
        nested();
        assert!(!records_every_observation());
    });
    assert_eq!(exports.langfuse.len(), 4);
}

#[test]
fn handles_read_the_otel_ids_of_spans_not_entered_yet() {
    let mut ids = Vec::new();
    let exports = run(Setup::new(Order::LangfuseFirst), || {
        observation("root").in_scope(|| {
            let obs = langfuse_tracing::span("manual").start();
            ids.push(obs.trace_id().expect("trace id").to_string());
            ids.push(obs.id().expect("id").to_string());
            obs.end();
        });
    });
    // The builder's `tracing` span is named `langfuse.observation` (the observation's
    // name is a Langfuse attribute), which is the name OpenTelemetry exports.
    let (l, o) = (
        exports.langfuse("manual"),
        exports.otel("langfuse.observation"),
    );
    assert_eq!(ids, [o.trace_id.clone(), o.span_id.clone()]);
    assert_eq!((&l.trace_id, &l.span_id), (&o.trace_id, &o.span_id));
    assert_eq!(
        l.parent_span_id.as_ref(),
        Some(&exports.otel("root").span_id)
    );
}

/// `examples/axum_service.rs`, its own wiring (fmt, tower-http, Langfuse, OTLP over
/// ureq), with both backends pointed at in-process receivers and one request that
/// carries a `traceparent`.
#[test]
fn the_axum_service_example_continues_the_callers_trace_in_both_backends() {
    let (langfuse_rx, otel_rx) = (Receiver::start(), Receiver::start());
    let langfuse = layer_builder(&langfuse_rx).build().expect("langfuse layer");
    let handle = langfuse.handle();
    let provider = axum_service::otel_provider(Some(&otel_endpoint(&otel_rx)));
    let dispatch = tracing::Dispatch::new(axum_service::subscriber(langfuse, &provider));

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let url = format!("http://{}/ask", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        tracing::dispatcher::with_default(&dispatch, || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                axum::serve(listener, axum_service::app())
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("serve");
            });
        });
    });
    let answer = ureq::post(&url)
        .header("traceparent", format!("00-{TRACE}-{UPSTREAM_SPAN}-01"))
        .send("What is the capital of France?")
        .expect("request")
        .body_mut()
        .read_to_string()
        .expect("answer");
    assert_eq!(answer, "What is the capital of France? Paris.");
    let _ = stop.send(());
    server.join().expect("server thread");
    provider.force_flush().expect("otel flush");
    provider.shutdown().expect("otel shutdown");
    handle.flush().expect("langfuse flush");

    let (langfuse, otel) = (
        langfuse_rx.wait_for_spans(1, Duration::from_secs(5)),
        otel_rx.wait_for_spans(2, Duration::from_secs(5)),
    );
    assert_eq!(names(&langfuse), ["complete"]);
    assert_eq!(names(&otel), ["complete", "http_request"]);
    let (l, o) = (one(&langfuse, "complete"), one(&otel, "complete"));
    assert_eq!((&l.trace_id, &l.span_id), (&o.trace_id, &o.span_id));
    assert_eq!(l.trace_id, TRACE);
    assert_eq!(l.parent_span_id, None, "the Langfuse root of this service");
    assert_eq!(l.str_attr("langfuse.observation.type"), Some("generation"));
    assert_eq!(
        l.str_attr("langfuse.observation.model.name"),
        Some("gpt-4o-mini")
    );
    assert!(l
        .str_attr("langfuse.observation.output")
        .is_some_and(|out| out.contains("Paris")));

    // The OpenTelemetry backend gets its spans as without Langfuse: the request span
    // under the caller's span, the generation under the request span, and no
    // `langfuse.*` attribute but the one field the observed function's span carries.
    let request = one(&otel, "http_request");
    assert_eq!(request.trace_id, TRACE);
    assert_eq!(request.parent_span_id.as_deref(), Some(UPSTREAM_SPAN));
    assert_eq!(o.parent_span_id.as_ref(), Some(&request.span_id));
    assert!(request
        .attributes
        .keys()
        .all(|k| !k.starts_with("langfuse.")));
    let langfuse_keys: Vec<&String> = o
        .attributes
        .keys()
        .filter(|k| k.starts_with("langfuse."))
        .collect();
    assert_eq!(langfuse_keys, ["langfuse.observation.type"]);
    assert_eq!(
        request.str_attr("http.request.method"),
        Some("POST"),
        "{:?}",
        request.attributes
    );
}

fn read(relative: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The versions of `name` in the lock file.
fn locked(lock: &str, name: &str) -> Vec<String> {
    lock.split("[[package]]")
        .filter(|p| p.contains(&format!("\nname = \"{name}\"\n")))
        .filter_map(|p| {
            let after = p.split("\nversion = \"").nth(1)?;
            Some(after[..after.find('"')?].to_owned())
        })
        .collect()
}

/// The `version` requirement of `name` on its dependency line in a manifest.
fn requirement(manifest: &str, name: &str) -> String {
    let line = manifest
        .lines()
        .find(|l| l.starts_with(&format!("{name} = {{")))
        .unwrap_or_else(|| panic!("a {name} dependency"));
    let after = line.split("version = \"").nth(1).expect("a version");
    after[..after.find('"').expect("closing quote")].to_owned()
}

/// The README's table of supported versions: (crate, supported, tested with). This test
/// file builds the feature against exactly those (the tests above run it).
#[test]
fn the_readme_states_the_opentelemetry_versions_the_feature_is_built_against() {
    let readme = read("README.md");
    let start = readme
        .find("## OpenTelemetry interop")
        .expect("README section `## OpenTelemetry interop`");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let rows: Vec<Vec<&str>> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    let crates: Vec<&str> = rows.iter().map(|r| r[0].trim_matches('`')).collect();
    assert_eq!(
        crates,
        [
            "tracing-opentelemetry",
            "opentelemetry",
            "opentelemetry_sdk"
        ]
    );

    let lock = read("Cargo.lock");
    let subscriber = read("langfuse-subscriber/Cargo.toml");
    let workspace = read("Cargo.toml");
    for row in &rows {
        let (name, supported, tested) = (row[0].trim_matches('`'), row[1], row[2]);
        assert_eq!(locked(&lock, name), [tested], "{name}: Cargo.lock");
        assert!(tested.starts_with(&format!("{supported}.")), "{name}");
        // What langfuse-tracing asks for (its own line, or the workspace's).
        let required = if name == "tracing-opentelemetry" {
            requirement(&subscriber, name)
        } else {
            requirement(&workspace, name)
        };
        assert!(
            required == supported || required.starts_with(&format!("{supported}.")),
            "{name}: langfuse-tracing requires {required}, the README says {supported}"
        );
    }
}
