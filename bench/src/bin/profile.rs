//! A fixed number of observed calls of one scenario, for profilers: run it under
//! `valgrind --tool=callgrind --separate-threads=yes` (instruction counts do not depend
//! on what else the machine is doing) or `perf record`.
//!
//! ```text
//! profile SCENARIO [CALLS]     # CALLS defaults to 100000, in roots of 100
//! ```
//!
//! Scenarios: `plain`, `floor`, `registry-manual` (scenario r: the hand-written span under
//! the Registry alone), `bare-nosub` (`#[observe]` without the model update, no
//! subscriber), `observe-nosub`, `observe-noop` (`#[observe]` + `LangfuseLayer` +
//! discarding exporter), `observe-otlp` (the same, OTLP to an in-process loopback
//! receiver), `manual-noop`, `instrument-noop` (`#[tracing::instrument]` +
//! `tracing-opentelemetry`, discarding exporter), `fastrace-noop`, `flush-latency`
//! (rounds of 1,000 `observe-otlp` calls and a flush; prints the median time of the
//! calls and of the flush, which must not wait for the flush interval).
//!
//! The pipeline is flushed and shut down before exit, so the export thread's work for
//! every call is in the profile too (in its own thread with `--separate-threads=yes`).

use std::borrow::Cow;
use std::hint::black_box;

use langfuse_bench::{pipelines, NoopExporter, N, QUERY_40};

fn main() {
    let mut args = std::env::args().skip(1);
    let scenario = args.next().unwrap_or_else(|| usage());
    let calls: u64 = args
        .next()
        .map(|s| s.parse().unwrap_or_else(|_| usage()))
        .unwrap_or(100_000);

    // Prints the calling thread's time per call (the export drain at shutdown is not in
    // it), for A/B runs of two builds.
    let in_roots = |call: &dyn Fn(u64)| {
        let started = std::time::Instant::now();
        let mut done = 0;
        while done < calls {
            let k = (calls - done).min(100);
            let root = tracing::info_span!("batch", langfuse.observation.type = "span");
            let _entered = root.enter();
            for i in 0..k {
                call(i);
            }
            done += k;
        }
        let per_call = started.elapsed().as_nanos() as f64 / calls.max(1) as f64;
        eprintln!("calls: {per_call:.1} ns per call");
    };
    let q = QUERY_40;
    match scenario.as_str() {
        "plain" => (0..calls).for_each(|i| {
            black_box(langfuse_bench::plain(black_box(q), N + i));
        }),
        "floor" => (0..calls).for_each(|i| {
            black_box(langfuse_bench::floor(black_box(q), N + i));
        }),
        "bare-nosub" => (0..calls).for_each(|i| {
            black_box(langfuse_bench::observed_bare(black_box(q), N + i));
        }),
        "observe-nosub" => (0..calls).for_each(|i| {
            black_box(langfuse_bench::observed(black_box(q), N + i));
        }),
        "registry-manual" => {
            // Scenario r: the hand-written span under the Registry alone (the floor).
            tracing::dispatcher::set_global_default(tracing::Dispatch::new(
                tracing_subscriber::registry(),
            ))
            .expect("subscriber");
            in_roots(&|i| {
                black_box(langfuse_bench::observed_manual(black_box(q), N + i));
            });
        }
        "observe-noop" | "manual-noop" => {
            let exporter = NoopExporter::default();
            let (dispatch, handle) =
                pipelines::langfuse_dispatch(pipelines::langfuse_layer_noop(exporter.clone()));
            tracing::dispatcher::set_global_default(dispatch).expect("subscriber");
            if scenario == "observe-noop" {
                in_roots(&|i| {
                    black_box(langfuse_bench::observed(black_box(q), N + i));
                });
            } else {
                in_roots(&|i| {
                    black_box(langfuse_bench::observed_manual(black_box(q), N + i));
                });
            }
            handle.shutdown().expect("shutdown");
            eprintln!("exported {} spans", exporter.spans());
        }
        "observe-otlp" => {
            let receiver = langfuse_bench::receiver::Receiver::start();
            let (dispatch, handle) =
                pipelines::langfuse_dispatch(pipelines::langfuse_layer(&receiver.base_url()));
            tracing::dispatcher::set_global_default(dispatch).expect("subscriber");
            in_roots(&|i| {
                black_box(langfuse_bench::observed(black_box(q), N + i));
            });
            // Under valgrind one flush may outlast the export timeout: flush until the
            // receiver has every span (bounded), so the profile holds all the export work.
            let expected = calls + calls.div_ceil(100);
            for _ in 0..100 {
                if handle.flush().is_ok() && receiver.counts().spans >= expected {
                    break;
                }
            }
            handle.shutdown().expect("shutdown");
            eprintln!("received {} spans", receiver.counts().spans);
        }
        "flush-latency" => {
            let receiver = langfuse_bench::receiver::Receiver::start();
            let (dispatch, handle) =
                pipelines::langfuse_dispatch(pipelines::langfuse_layer(&receiver.base_url()));
            tracing::dispatcher::set_global_default(dispatch).expect("subscriber");
            let mut calls_t = Vec::new();
            let mut flush_t = Vec::new();
            for _ in 0..(calls / 1000).max(1) {
                let t = std::time::Instant::now();
                for i in 0..1000 {
                    black_box(langfuse_bench::observed(black_box(q), N + i));
                }
                calls_t.push(t.elapsed());
                let t = std::time::Instant::now();
                handle.flush().expect("flush");
                flush_t.push(t.elapsed());
            }
            calls_t.sort();
            flush_t.sort();
            eprintln!(
                "calls per 1000: median {:?}; flush: median {:?} max {:?}",
                calls_t[calls_t.len() / 2],
                flush_t[flush_t.len() / 2],
                flush_t[flush_t.len() - 1]
            );
        }
        "instrument-noop" => {
            let exporter = NoopExporter::default();
            let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
                .with_batch_exporter(exporter.clone())
                .build();
            tracing::dispatcher::set_global_default(pipelines::otel_dispatch(&provider))
                .expect("subscriber");
            in_roots(&|i| {
                black_box(langfuse_bench::instrumented(black_box(q), N + i));
            });
            let _ = provider.shutdown();
            eprintln!("exported {} spans", exporter.spans());
        }
        "fastrace-noop" => {
            use fastrace::prelude::*;
            let exporter = NoopExporter::default();
            let reporter = fastrace_opentelemetry::OpenTelemetryReporter::new(
                exporter.clone(),
                Cow::Owned(opentelemetry_sdk::Resource::builder().build()),
                opentelemetry::InstrumentationScope::builder("langfuse-bench").build(),
            );
            fastrace::set_reporter(reporter, fastrace::collector::Config::default());
            let mut done = 0;
            while done < calls {
                let k = (calls - done).min(100);
                let root = Span::root("batch", SpanContext::random());
                let _guard = root.set_local_parent();
                for i in 0..k {
                    black_box(langfuse_bench::traced(black_box(q), N + i));
                }
                done += k;
            }
            fastrace::flush();
            eprintln!("exported {} spans", exporter.spans());
        }
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: profile SCENARIO [CALLS]\nscenarios: plain floor bare-nosub observe-nosub \
         registry-manual observe-noop observe-otlp manual-noop instrument-noop fastrace-noop"
    );
    std::process::exit(2)
}
