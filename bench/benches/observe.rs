//! Per-call cost of an observed function, side by side in one criterion group.
//!
//! | id | what |
//! |---|---|
//! | `a_plain` | the plain function (40-char `&str` + `u64` in, 40-char `String` out) |
//! | `b_observe_bare_no_subscriber` | `#[observe]` around the plain body, no subscriber |
//! | `b_observe_no_subscriber` | `#[observe]` + the model set with `update_current_generation`, no subscriber |
//! | `e0_floor_json` | the plain function + building the input and output strings (the floor) |
//! | `r_registry_only_manual_span` | the hand-written span under `tracing_subscriber::registry()` alone (the substrate) |
//! | `c_observe_langfuse_noop` | `#[observe]` + `LangfuseLayer` + a discarding exporter |
//! | `c_manual_langfuse_noop` | the hand-written `#[observe]` span (model as a static field) |
//! | `c_observe_langfuse_otlp` | `#[observe]` + `LangfuseLayer` to the loopback receiver |
//! | `*_langfuse_otlp*_lossless` | the same with `queue_full_wait`: a full queue slows the caller instead of dropping |
//! | `d_instrument_otel_noop` | `#[tracing::instrument]` + `tracing-opentelemetry`, discarding exporter |
//! | `d_instrument_otel_otlp` | the same with `opentelemetry-otlp` batch export to the receiver |
//! | `d_instrument_otel_otlp_lossless` | the same with a 1 Mi-span queue (loses nothing) |
//! | `e_fastrace_otel_otlp` | `fastrace` `#[trace]` + `fastrace-opentelemetry` to the receiver |
//! | `f_*_4k` | c and d with a 4 KiB input and output |
//! | `g_root100_*` | a root with 100 children, time per span (elapsed / 101) |
//! | `s_*` | the same pipeline scenarios, sustained (below) |
//!
//! How it is measured:
//!
//! * Exported calls run as children of a root opened every 100 calls (fastrace records
//!   nothing without one); the root's cost is inside the timing.
//! * Hot path (no prefix): the timing covers the calls only, what the calling thread
//!   pays; the pipeline is flushed after each sample, outside the timing. Within a
//!   sample a tight loop makes spans faster than any exporter sends them, so queues fill
//!   and bounded ones drop (the losses are printed at the end): a pipeline that drops
//!   looks cheaper here.
//! * Sustained (`s_` prefix): every sample ends with the pipeline's flush, inside the
//!   timing: the cost of observing *and delivering* a call on this machine (the export
//!   thread and the receiver share its cores).
//! * Each scenario's subscriber is a scoped default (`tracing::dispatcher::with_default`).
//!   The no-subscriber scenarios run first, before any subscriber exists.
//! * After the run, the spans created, delivered and lost per scenario are printed to
//!   stderr.
//!
//! Short run: `cargo bench -p langfuse-bench --bench observe -- --warm-up-time 1
//! --measurement-time 3 --sample-size 30` (also the defaults set below).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use langfuse_bench::receiver::Receiver;
use langfuse_bench::{pipelines, NoopExporter, N, QUERY_40};
use tracing::Dispatch;

/// Spans created by the current scenario (children and roots).
static CREATED: AtomicU64 = AtomicU64::new(0);

/// How a scenario opens its roots.
#[derive(Clone, Copy)]
enum Roots {
    /// A `tracing` root span every 100 calls.
    Tracing,
    /// A fastrace root span every 100 calls.
    Fastrace,
    /// The call is itself a root with 100 children: time per span is elapsed / 101.
    Root100,
}

/// Runs `iters` calls the way `roots` says, then `flush` (inside the timing or after it,
/// as `mode` says), and returns the time per call.
fn measure(iters: u64, roots: Roots, mode: Mode, call: &dyn Fn(u64), flush: &dyn Fn()) -> Duration {
    let start = Instant::now();
    let mut done = 0;
    match roots {
        Roots::Tracing => {
            while done < iters {
                let k = (iters - done).min(100);
                let root = tracing::info_span!("batch", langfuse.observation.type = "span");
                let _entered = root.enter();
                for i in 0..k {
                    call(i);
                }
                done += k;
            }
        }
        Roots::Fastrace => {
            use fastrace::prelude::*;
            while done < iters {
                let k = (iters - done).min(100);
                let root = Span::root("batch", SpanContext::random());
                let _guard = root.set_local_parent();
                for i in 0..k {
                    call(i);
                }
                done += k;
            }
        }
        Roots::Root100 => {
            for i in 0..iters {
                call(i);
            }
        }
    }
    let elapsed = match mode {
        Mode::HotPath => {
            let elapsed = start.elapsed();
            flush();
            elapsed
        }
        Mode::Sustained => {
            flush();
            start.elapsed()
        }
    };
    match roots {
        Roots::Root100 => {
            CREATED.fetch_add(iters * 101, Ordering::Relaxed);
            elapsed / 101
        }
        _ => {
            CREATED.fetch_add(iters + iters.div_ceil(100), Ordering::Relaxed);
            elapsed
        }
    }
}

/// One pipeline scenario: id, pipeline, roots, mode, the call.
type Scenario<'a> = (
    &'static str,
    &'a dyn Fn() -> Pipeline,
    Roots,
    Mode,
    &'a dyn Fn(u64),
);

/// What the timing of a pipeline scenario covers.
#[derive(Clone, Copy)]
enum Mode {
    /// Only the calls: what the calling thread pays before handing spans over (the
    /// pipeline's flush follows each sample, outside the timing, so no backlog carries
    /// over). Within a sample the export falls behind; a bounded queue may drop spans.
    HotPath,
    /// The calls and then the pipeline's flush: observing *and delivering* each call.
    Sustained,
}

/// What happened to the spans of one pipeline scenario.
struct Delivery {
    scenario: &'static str,
    created: u64,
    delivered: u64,
    dropped_reported: Option<u64>,
    wire_bytes: u64,
}

struct Suite<'a> {
    receiver: &'a Receiver,
    deliveries: Vec<Delivery>,
}

/// The pipeline a scenario runs on.
enum Pipeline {
    Langfuse {
        dispatch: Dispatch,
        handle: langfuse_tracing::LangfuseHandle,
        noop: Option<NoopExporter>,
    },
    Otel {
        dispatch: Dispatch,
        provider: opentelemetry_sdk::trace::SdkTracerProvider,
        noop: Option<NoopExporter>,
    },
    Fastrace,
    /// `tracing_subscriber::registry()` with no layer: spans are created, entered and
    /// closed in the Registry, nothing is recorded or exported.
    RegistryOnly(Dispatch),
}

impl Pipeline {
    fn langfuse(layer: langfuse_tracing::LangfuseLayer) -> Pipeline {
        let (dispatch, handle) = pipelines::langfuse_dispatch(layer);
        Pipeline::Langfuse {
            dispatch,
            handle,
            noop: None,
        }
    }

    fn langfuse_noop() -> Pipeline {
        let exporter = NoopExporter::default();
        let (dispatch, handle) =
            pipelines::langfuse_dispatch(pipelines::langfuse_layer_noop(exporter.clone()));
        Pipeline::Langfuse {
            dispatch,
            handle,
            noop: Some(exporter),
        }
    }

    fn otel(provider: opentelemetry_sdk::trace::SdkTracerProvider) -> Pipeline {
        Pipeline::Otel {
            dispatch: pipelines::otel_dispatch(&provider),
            provider,
            noop: None,
        }
    }

    fn otel_noop() -> Pipeline {
        let exporter = NoopExporter::default();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(exporter.clone())
            .build();
        Pipeline::Otel {
            dispatch: pipelines::otel_dispatch(&provider),
            provider,
            noop: Some(exporter),
        }
    }
}

impl Suite<'_> {
    /// Benchmarks `call` on `pipeline`, then shuts the pipeline down and records what
    /// arrived.
    fn run(
        &mut self,
        g: &mut BenchmarkGroup<'_, WallTime>,
        id: &'static str,
        pipeline: Pipeline,
        roots: Roots,
        mode: Mode,
        call: &dyn Fn(u64),
    ) {
        CREATED.store(0, Ordering::Relaxed);
        self.receiver.reset();
        let mut bench = |flush: &dyn Fn()| {
            g.bench_function(id, |b| {
                b.iter_custom(|iters| measure(iters, roots, mode, call, flush))
            });
        };
        let (delivered_noop, dropped) = match &pipeline {
            Pipeline::Langfuse {
                dispatch,
                handle,
                noop,
            } => {
                let flush = || handle.flush().expect("flush");
                tracing::dispatcher::with_default(dispatch, || bench(&flush));
                handle.shutdown().expect("shutdown");
                (
                    noop.as_ref().map(NoopExporter::spans),
                    Some(handle.dropped_observations()),
                )
            }
            Pipeline::Otel {
                dispatch,
                provider,
                noop,
            } => {
                let flush = || {
                    let _ = provider.force_flush();
                };
                tracing::dispatcher::with_default(dispatch, || bench(&flush));
                let _ = provider.shutdown();
                (noop.as_ref().map(NoopExporter::spans), None)
            }
            Pipeline::Fastrace => {
                bench(&fastrace::flush);
                (None, None)
            }
            Pipeline::RegistryOnly(dispatch) => {
                tracing::dispatcher::with_default(dispatch, || bench(&|| {}));
                (Some(0), None)
            }
        };
        let counts = self
            .receiver
            .wait_quiet(Duration::from_millis(300), Duration::from_secs(30));
        self.deliveries.push(Delivery {
            scenario: id,
            created: CREATED.load(Ordering::Relaxed),
            delivered: delivered_noop.unwrap_or(counts.spans),
            dropped_reported: dropped,
            wire_bytes: counts.wire_bytes,
        });
    }

    fn report(&self) {
        eprintln!();
        eprintln!("delivery per scenario (all criterion iterations, warm-up included):");
        eprintln!(
            "{:<34} {:>12} {:>12} {:>8} {:>10} {:>11}",
            "scenario", "created", "delivered", "lost %", "dropped*", "wire B/span"
        );
        for d in &self.deliveries {
            let lost = d.created.saturating_sub(d.delivered);
            eprintln!(
                "{:<34} {:>12} {:>12} {:>8.2} {:>10} {:>11.1}",
                d.scenario,
                d.created,
                d.delivered,
                100.0 * lost as f64 / d.created.max(1) as f64,
                d.dropped_reported
                    .map_or_else(|| "-".to_owned(), |n| n.to_string()),
                d.wire_bytes as f64 / d.delivered.max(1) as f64,
            );
        }
        eprintln!(
            "* dropped_observations() of our layer; wire bytes are 0 for discarding exporters"
        );
    }
}

fn observe_group(c: &mut Criterion) {
    let receiver = Receiver::start();
    let q40: &'static str = QUERY_40;
    // Leaked once: the closures below want `'static` queries.
    let q4k: &'static str = Box::leak(langfuse_bench::query_4k().into_boxed_str());
    let mut suite = Suite {
        receiver: &receiver,
        deliveries: Vec::new(),
    };

    let mut g = c.benchmark_group("observe");

    // No subscriber has been set yet: the disabled path as a library user without a
    // Langfuse layer gets it.
    g.bench_function("a_plain", |b| {
        b.iter(|| langfuse_bench::plain(black_box(q40), black_box(N)))
    });
    g.bench_function("b_observe_bare_no_subscriber", |b| {
        b.iter(|| langfuse_bench::observed_bare(black_box(q40), black_box(N)))
    });
    g.bench_function("b_instrument_bare_no_subscriber", |b| {
        b.iter(|| langfuse_bench::instrumented_bare(black_box(q40), black_box(N)))
    });
    g.bench_function("b_observe_no_subscriber", |b| {
        b.iter(|| langfuse_bench::observed(black_box(q40), black_box(N)))
    });
    g.bench_function("e0_floor_json", |b| {
        b.iter(|| langfuse_bench::floor(black_box(q40), black_box(N)))
    });

    let observed = |q: &'static str| {
        move |i: u64| {
            black_box(langfuse_bench::observed(black_box(q), black_box(N + i)));
        }
    };
    let instrumented = |q: &'static str| {
        move |i: u64| {
            black_box(langfuse_bench::instrumented(black_box(q), black_box(N + i)));
        }
    };

    let manual = |i: u64| {
        black_box(langfuse_bench::observed_manual(
            black_box(q40),
            black_box(N + i),
        ));
    };
    let traced = |i: u64| {
        black_box(langfuse_bench::traced(black_box(q40), black_box(N + i)));
    };
    let observed_root = |i: u64| {
        black_box(langfuse_bench::observed_root(black_box(q40), N + i));
    };
    let instrumented_root = |i: u64| {
        black_box(langfuse_bench::instrumented_root(black_box(q40), N + i));
    };
    let traced_root = |i: u64| {
        black_box(langfuse_bench::traced_root(black_box(q40), N + i));
    };
    let (observed40, observed4k) = (observed(q40), observed(q4k));
    let (instrumented40, instrumented4k) = (instrumented(q40), instrumented(q4k));
    let otlp = receiver.otlp_traces_url();
    // fastrace's reporter is process-wide: installed once, for every fastrace scenario.
    pipelines::install_fastrace(&otlp);

    use Mode::{HotPath, Sustained};
    use Roots::{Fastrace, Root100, Tracing};
    let lf = || Pipeline::langfuse(pipelines::langfuse_layer(&receiver.base_url()));
    let lf_lossless =
        || Pipeline::langfuse(pipelines::langfuse_layer_lossless(&receiver.base_url()));
    let otel = || Pipeline::otel(pipelines::otel_provider(&otlp));
    let otel_lossless = || Pipeline::otel(pipelines::otel_provider_lossless(&otlp));
    let scenarios: Vec<Scenario<'_>> = vec![
        // The substrate every `tracing` layer pays: the Registry alone.
        (
            "r_registry_only_manual_span",
            &|| Pipeline::RegistryOnly(Dispatch::new(tracing_subscriber::registry())),
            Tracing,
            HotPath,
            &manual,
        ),
        // The layer's own cost: discarding exporters.
        (
            "c_observe_langfuse_noop",
            &Pipeline::langfuse_noop,
            Tracing,
            HotPath,
            &observed40,
        ),
        (
            "c_manual_langfuse_noop",
            &Pipeline::langfuse_noop,
            Tracing,
            HotPath,
            &manual,
        ),
        (
            "d_instrument_otel_noop",
            &Pipeline::otel_noop,
            Tracing,
            HotPath,
            &instrumented40,
        ),
        // Hot path to the loopback receiver.
        (
            "c_observe_langfuse_otlp",
            &lf,
            Tracing,
            HotPath,
            &observed40,
        ),
        (
            "d_instrument_otel_otlp",
            &otel,
            Tracing,
            HotPath,
            &instrumented40,
        ),
        (
            "e_fastrace_otel_otlp",
            &|| Pipeline::Fastrace,
            Fastrace,
            HotPath,
            &traced,
        ),
        (
            "f_observe_langfuse_otlp_4k",
            &lf,
            Tracing,
            HotPath,
            &observed4k,
        ),
        (
            "f_observe_langfuse_otlp_4k_lossless",
            &lf_lossless,
            Tracing,
            HotPath,
            &observed4k,
        ),
        (
            "f_instrument_otel_otlp_4k",
            &otel,
            Tracing,
            HotPath,
            &instrumented4k,
        ),
        (
            "g_root100_observe_langfuse_otlp",
            &lf,
            Root100,
            HotPath,
            &observed_root,
        ),
        (
            "g_root100_observe_langfuse_otlp_lossless",
            &lf_lossless,
            Root100,
            HotPath,
            &observed_root,
        ),
        (
            "g_root100_instrument_otel_otlp",
            &otel,
            Root100,
            HotPath,
            &instrumented_root,
        ),
        (
            "g_root100_fastrace_otel_otlp",
            &|| Pipeline::Fastrace,
            Root100,
            HotPath,
            &traced_root,
        ),
        // Sustained: each sample ends with the pipeline's flush.
        (
            "s_c_observe_langfuse_otlp",
            &lf,
            Tracing,
            Sustained,
            &observed40,
        ),
        (
            "s_d_instrument_otel_otlp",
            &otel,
            Tracing,
            Sustained,
            &instrumented40,
        ),
        (
            "s_d_instrument_otel_otlp_lossless",
            &otel_lossless,
            Tracing,
            Sustained,
            &instrumented40,
        ),
        (
            "s_e_fastrace_otel_otlp",
            &|| Pipeline::Fastrace,
            Fastrace,
            Sustained,
            &traced,
        ),
        (
            "s_f_observe_langfuse_otlp_4k",
            &lf,
            Tracing,
            Sustained,
            &observed4k,
        ),
        (
            "s_f_instrument_otel_otlp_4k",
            &otel,
            Tracing,
            Sustained,
            &instrumented4k,
        ),
        (
            "s_g_root100_observe_langfuse_otlp",
            &lf,
            Root100,
            Sustained,
            &observed_root,
        ),
        (
            "s_g_root100_instrument_otel_otlp",
            &otel,
            Root100,
            Sustained,
            &instrumented_root,
        ),
        (
            "s_g_root100_fastrace_otel_otlp",
            &|| Pipeline::Fastrace,
            Root100,
            Sustained,
            &traced_root,
        ),
    ];
    for (id, pipeline, roots, mode, call) in scenarios {
        suite.run(&mut g, id, pipeline(), roots, mode, call);
    }

    g.finish();
    suite.report();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = observe_group
}
criterion_main!(benches);
