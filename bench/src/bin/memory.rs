//! Peak memory while exporting many observations, with the collector up or down.
//!
//! ```text
//! /usr/bin/time -v memory --base-url http://127.0.0.1:4318   # collector up
//! /usr/bin/time -v memory --blackhole     # collector down: accepts, never answers
//! /usr/bin/time -v memory --refused       # collector down: nothing listening
//! ```
//!
//! Options: `--spans N` (1,000,000, as roots of 100 observations), `--threads N` (2),
//! `--max-queue-bytes N` (the layer's default unless given; `LANGFUSE_MAX_QUEUE_BYTES`
//! is read too, as is `LANGFUSE_QUEUE_FULL_WAIT_MS`: with it the loop waits for room
//! instead of dropping). Every observation records input, output, type and model, like the
//! other programs. Prints one JSON line: spans created, dropped (as
//! `dropped_observations()` counts them), the time, and the peak RSS from
//! `/proc/self/status` (`VmHWM`), which `/usr/bin/time -v` reports as "Maximum resident
//! set size".

use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use langfuse_bench::{observed_root, pipelines, QUERY_40};
use langfuse_tracing::LangfuseLayer;

fn main() {
    let mut spans: u64 = 1_000_000;
    let mut threads: u64 = 2;
    let mut base_url: Option<String> = None;
    let mut mode = "up";
    let mut max_queue_bytes: Option<usize> = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next().unwrap_or_else(|| {
                eprintln!("memory: {arg} needs a value");
                std::process::exit(2)
            })
        };
        match arg.as_str() {
            "--spans" => spans = value().parse().expect("--spans"),
            "--threads" => threads = value().parse().expect("--threads"),
            "--base-url" => base_url = Some(value()),
            "--max-queue-bytes" => max_queue_bytes = Some(value().parse().expect("bytes")),
            "--blackhole" => mode = "blackhole",
            "--refused" => mode = "refused",
            other => {
                eprintln!(
                    "memory: unknown argument {other}\nusage: memory [--spans N] [--threads N] \
                     [--max-queue-bytes N] (--base-url URL | --blackhole | --refused)"
                );
                std::process::exit(2)
            }
        }
    }
    let base_url = match mode {
        "blackhole" => blackhole(),
        "refused" => refused_url(),
        _ => base_url.unwrap_or_else(|| {
            eprintln!("memory: give --base-url of a running receiver (throughput --serve-only PORT), or --blackhole / --refused");
            std::process::exit(2)
        }),
    };

    let mut builder = LangfuseLayer::builder()
        .with_env()
        .public_key("pk-lf-bench")
        .secret_key("sk-lf-bench")
        .base_url(&base_url)
        .console(false);
    if let Some(bytes) = max_queue_bytes {
        builder = builder.max_queue_bytes(bytes);
    }
    let layer = builder.build().expect("layer");
    let (dispatch, handle) = pipelines::langfuse_dispatch(layer);
    tracing::dispatcher::set_global_default(dispatch).expect("global subscriber");

    let roots = spans.div_ceil(101);
    let per_thread = roots.div_ceil(threads);
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::spawn(move || {
                for r in 0..per_thread {
                    std::hint::black_box(observed_root(QUERY_40, (t * per_thread + r) * 1000));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let created = start.elapsed();
    let dropped_before_shutdown = handle.dropped_observations();
    let peak_before_shutdown = vm_hwm_kib();
    let shutdown = handle.shutdown();
    let total = start.elapsed();
    println!(
        r#"{{"mode": "{mode}", "spans": {}, "create_s": {:.3}, "total_s": {:.3}, "dropped_at_end_of_creation": {dropped_before_shutdown}, "dropped_total": {}, "shutdown": "{}", "peak_rss_kib_before_shutdown": {}, "peak_rss_kib": {}}}"#,
        threads * per_thread * 101,
        created.as_secs_f64(),
        total.as_secs_f64(),
        handle.dropped_observations(),
        match shutdown {
            Ok(()) => "ok".to_owned(),
            Err(e) => e.to_string(),
        },
        peak_before_shutdown,
        vm_hwm_kib(),
    );
    // With a collector that never answers, the export thread is still blocked: leave.
    std::process::exit(0);
}

/// A collector that accepts connections and reads requests but never answers.
fn blackhole() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 64 * 1024];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                }
                std::thread::sleep(Duration::from_secs(3600));
            });
        }
    });
    format!("http://{addr}")
}

/// A loopback address where nothing listens (a port just released).
fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

/// Peak resident set size of this process so far, in KiB.
fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
