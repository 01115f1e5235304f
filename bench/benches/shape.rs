//! How the cost of an `#[observe]` call moves with its payload and with the shape of its
//! trace (issue 18's table in `BENCHMARKS.md`): `#[observe]` + `LangfuseLayer` + the
//! discarding exporter, time on the calling thread, the pipeline flushed after each
//! sample outside the timing (so the queue never fills and nothing is dropped).
//!
//! | id | what one iteration is |
//! |---|---|
//! | `payload/40`, `payload/4096`, `payload/65536` | one call with that many bytes in and out |
//! | `tree/wide_101` | a root with 100 children (time per observation) |
//! | `tree/deep_101` | a root over a chain of 100 nested generations (time per observation) |
//!
//! Run: `cargo bench -p langfuse-bench --bench shape -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use langfuse_bench::{
    observed, observed_chain_root, observed_root, pipelines, query_of, NoopExporter, N,
};

fn shape(c: &mut Criterion) {
    let exporter = NoopExporter::default();
    // A 2 GiB queue: a 64 KiB sample queues more than the default 128 MiB before the
    // flush that ends it, and a dropped observation would look cheaper.
    let layer = langfuse_tracing::LangfuseLayer::builder()
        .exporter(exporter.clone())
        .max_queue_bytes(2 << 30)
        .build()
        .expect("langfuse layer");
    let (dispatch, handle) = pipelines::langfuse_dispatch(layer);
    let flush = || {
        handle.flush().expect("flush");
    };
    tracing::dispatcher::with_default(&dispatch, || {
        let mut group = c.benchmark_group("payload");
        for bytes in [40usize, 4096, 65536] {
            let q = query_of(bytes);
            group.bench_function(bytes.to_string(), |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for i in 0..iters {
                        black_box(observed(black_box(&q), N + i));
                    }
                    let elapsed = start.elapsed();
                    flush();
                    elapsed
                })
            });
        }
        group.finish();

        let q = query_of(40);
        let mut group = c.benchmark_group("tree");
        // Time per observation: each iteration makes 101 of them.
        let per_observation = |iters: u64, run: &dyn Fn()| -> Duration {
            let start = Instant::now();
            for _ in 0..iters {
                run();
            }
            let elapsed = start.elapsed();
            flush();
            elapsed / 101
        };
        group.bench_function("wide_101", |b| {
            b.iter_custom(|iters| {
                per_observation(iters, &|| {
                    black_box(observed_root(black_box(&q), N));
                })
            })
        });
        group.bench_function("deep_101", |b| {
            b.iter_custom(|iters| {
                per_observation(iters, &|| {
                    black_box(observed_chain_root(black_box(&q), N));
                })
            })
        });
        group.finish();
    });
    handle.shutdown().expect("shutdown");
    eprintln!(
        "shape: {} observations exported, {} dropped",
        exporter.spans(),
        handle.dropped_observations()
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = shape
}
criterion_main!(benches);
