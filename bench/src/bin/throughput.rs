//! End-to-end throughput: many Tokio tasks on several worker threads create
//! observations (by default 1,000 roots × 100 children, each with input, output, type
//! and model), exported with gzip to the loopback receiver, until `shutdown()` returns.
//!
//! ```text
//! throughput                         # both pipelines, each in a child process, one table
//! throughput --pipeline langfuse     # one pipeline in this process (needs --base-url)
//! throughput --serve-only 4318       # only the receiver (for the Python SDK run)
//! ```
//!
//! Options: `--roots N` (1000), `--children N` (100), `--threads N` (4, Tokio workers),
//! `--runs N` (3, runs per pipeline; the table shows each and the median).
//!
//! Pipelines: `langfuse` is `#[observe]` + `LangfuseLayer` with default settings;
//! `otel` is `#[tracing::instrument]` + `tracing-opentelemetry` 0.34 +
//! `opentelemetry-otlp` 0.33 with the default batch span processor (2,048-span queue),
//! recording the same four values as span attributes; `otel-lossless` is the same with a
//! queue of 1,048,576 spans. Each runs in its own process with
//! a global default subscriber, as an application would, while this process hosts the
//! receiver.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use langfuse_bench::receiver::Receiver;
use langfuse_bench::{pipelines, tasks, QUERY_40};

/// `otel-lossless` is `otel` with a 1 Mi-span queue: what it delivers when told not to drop.
const PIPELINES: [&str; 3] = ["langfuse", "otel", "otel-lossless"];

#[derive(Clone, Debug)]
struct Args {
    pipeline: Option<String>,
    base_url: Option<String>,
    serve_only: Option<u16>,
    roots: u64,
    children: u64,
    threads: usize,
    runs: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        pipeline: None,
        base_url: None,
        serve_only: None,
        roots: 1000,
        children: 100,
        threads: 4,
        runs: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--pipeline" => a.pipeline = Some(value()),
            "--base-url" => a.base_url = Some(value()),
            "--serve-only" => a.serve_only = Some(number(&value())),
            "--roots" => a.roots = number(&value()),
            "--children" => a.children = number(&value()),
            "--threads" => a.threads = number(&value()),
            "--runs" => a.runs = number(&value()),
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    a
}

fn number<T: std::str::FromStr>(s: &str) -> T {
    s.parse()
        .unwrap_or_else(|_| usage(&format!("not a number: {s}")))
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("throughput: {problem}");
    }
    eprintln!(
        "usage: throughput [--roots N] [--children N] [--threads N] [--runs N]\n       \
         throughput --pipeline langfuse|otel|otel-lossless --base-url URL [--roots N] [--children N] [--threads N]\n       \
         throughput --serve-only PORT"
    );
    std::process::exit(2)
}

fn main() {
    let args = parse_args();
    if let Some(port) = args.serve_only {
        serve_only(port);
    } else if let Some(pipeline) = args.pipeline.clone() {
        let base_url = args
            .base_url
            .clone()
            .unwrap_or_else(|| usage("--pipeline needs --base-url"));
        run_pipeline(&pipeline, &base_url, &args);
    } else {
        drive(&args);
    }
}

/// The receiver alone, printing its counters whenever they change.
fn serve_only(port: u16) -> ! {
    let receiver = Receiver::start_on(port).unwrap_or_else(|e| {
        eprintln!("throughput: cannot listen on 127.0.0.1:{port}: {e}");
        std::process::exit(1)
    });
    println!("listening on {}", receiver.base_url());
    let mut last = receiver.counts();
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let c = receiver.counts();
        if c != last {
            println!("{}", c.to_json());
            last = c;
        }
    }
}

/// One pipeline, in this process; prints one JSON line for the driver.
fn run_pipeline(pipeline: &str, base_url: &str, args: &Args) {
    let otel = match pipeline {
        "langfuse" => false,
        "otel" | "otel-lossless" => true,
        other => usage(&format!("unknown pipeline {other}")),
    };
    let mut handle = None;
    let mut provider = None;
    if otel {
        let url = format!("{base_url}/v1/traces");
        let p = if pipeline == "otel" {
            pipelines::otel_provider(&url)
        } else {
            pipelines::otel_provider_lossless(&url)
        };
        let dispatch = pipelines::otel_dispatch(&p);
        tracing::dispatcher::set_global_default(dispatch).expect("global subscriber");
        provider = Some(p);
    } else {
        let (dispatch, h) = pipelines::langfuse_dispatch(pipelines::langfuse_layer(base_url));
        tracing::dispatcher::set_global_default(dispatch).expect("global subscriber");
        handle = Some(h);
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .expect("runtime");
    let (roots, children) = (args.roots, args.children);
    let start = Instant::now();
    rt.block_on(async move {
        let mut joins = Vec::with_capacity(roots as usize);
        for r in 0..roots {
            joins.push(tokio::spawn(tasks::request(
                otel,
                QUERY_40,
                r * 1000,
                children,
            )));
        }
        for j in joins {
            std::hint::black_box(j.await.expect("task"));
        }
    });
    let created = start.elapsed();
    let mut dropped = 0;
    if let Some(h) = &handle {
        dropped = h.dropped_observations();
        h.shutdown().expect("langfuse shutdown");
    }
    if let Some(p) = &provider {
        if let Err(e) = p.shutdown() {
            eprintln!("throughput: otel shutdown: {e}");
        }
    }
    let total = start.elapsed();
    println!(
        r#"{{"pipeline": "{pipeline}", "spans": {}, "create_s": {}, "total_s": {}, "dropped_reported": {dropped}}}"#,
        roots * (children + 1),
        created.as_secs_f64(),
        total.as_secs_f64()
    );
}

#[derive(Debug)]
struct RunResult {
    pipeline: String,
    created: u64,
    delivered: u64,
    create_s: f64,
    total_s: f64,
    wire_bytes: u64,
    decoded_bytes: u64,
    dropped_reported: u64,
}

fn json_field(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("\"{key}\": "))? + key.len() + 4;
    let rest = &line[start..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim().trim_matches('"').to_owned())
}

/// Runs each pipeline `runs` times in a child process against one receiver.
fn drive(args: &Args) {
    let receiver = Receiver::start();
    let exe = std::env::current_exe().expect("current exe");
    let mut results: Vec<RunResult> = Vec::new();
    for run in 0..args.runs {
        for pipeline in PIPELINES {
            receiver.reset();
            let output = Command::new(&exe)
                .args([
                    "--pipeline",
                    pipeline,
                    "--base-url",
                    &receiver.base_url(),
                    "--roots",
                    &args.roots.to_string(),
                    "--children",
                    &args.children.to_string(),
                    "--threads",
                    &args.threads.to_string(),
                ])
                .stderr(Stdio::inherit())
                .output()
                .expect("run child");
            let line = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            if !output.status.success() {
                eprintln!("throughput: {pipeline} run failed: {line}");
                std::process::exit(1);
            }
            let counts = receiver.wait_quiet(Duration::from_millis(300), Duration::from_secs(10));
            let f = |k: &str| json_field(&line, k).unwrap_or_default();
            let r = RunResult {
                pipeline: pipeline.to_owned(),
                created: f("spans").parse().unwrap_or(0),
                delivered: counts.spans,
                create_s: f("create_s").parse().unwrap_or(f64::NAN),
                total_s: f("total_s").parse().unwrap_or(f64::NAN),
                wire_bytes: counts.wire_bytes,
                decoded_bytes: counts.decoded_bytes,
                dropped_reported: f("dropped_reported").parse().unwrap_or(0),
            };
            eprintln!(
                "run {}: {:<8} created {} delivered {} in {:.3} s",
                run + 1,
                r.pipeline,
                r.created,
                r.delivered,
                r.total_s
            );
            results.push(r);
        }
    }

    println!(
        "\n{} roots x {} children = {} spans per run, {} Tokio worker threads, gzip, {} runs\n",
        args.roots,
        args.children,
        args.roots * (args.children + 1),
        args.threads,
        args.runs
    );
    println!(
        "| pipeline | run | created | delivered | lost | create phase | until shutdown done | delivered spans/s | wire B/span | protobuf B/span |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut medians = Vec::new();
    for pipeline in PIPELINES {
        let mut rates = Vec::new();
        for (i, r) in results
            .iter()
            .filter(|r| r.pipeline == pipeline)
            .enumerate()
        {
            let rate = r.delivered as f64 / r.total_s;
            rates.push(rate);
            let lost = r.created.saturating_sub(r.delivered);
            println!(
                "| {} | {} | {} | {} | {} ({:.1}%) | {:.3} s | {:.3} s | {:.0} | {:.1} | {:.1} |",
                pipeline,
                i + 1,
                r.created,
                r.delivered,
                lost,
                100.0 * lost as f64 / r.created.max(1) as f64,
                r.create_s,
                r.total_s,
                rate,
                r.wire_bytes as f64 / r.delivered.max(1) as f64,
                r.decoded_bytes as f64 / r.delivered.max(1) as f64,
            );
            if pipeline == "langfuse" && (lost > 0 || r.dropped_reported > 0) {
                println!(
                    "|   | | langfuse lost spans: dropped_observations() = {} | | | | | | | |",
                    r.dropped_reported
                );
            }
        }
        rates.sort_by(f64::total_cmp);
        let median = rates.get(rates.len() / 2).copied().unwrap_or(f64::NAN);
        medians.push((pipeline, median));
    }
    println!();
    for (p, m) in &medians {
        println!("median delivered spans/s, {p}: {m:.0}");
    }
    if let [(_, ours), (_, otel), (_, lossless)] = medians[..] {
        println!("ratio langfuse / otel: {:.2}", ours / otel);
        println!("ratio langfuse / otel-lossless: {:.2}", ours / lossless);
    }
}
