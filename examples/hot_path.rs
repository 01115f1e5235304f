//! The per-call hot path, for profilers: 2,000 roots x 100 `#[observe]` children into
//! a discarding exporter, printing the time per span on the calling thread.
//!
//! ```text
//! cargo build --release --example hot_path
//! ROOTS=200 valgrind --tool=callgrind ./target/release/examples/hot_path
//! ```
use langfuse_tracing::observe;
use std::hint::black_box;
use tracing_subscriber::prelude::*;

/// Drops every batch: isolates the layer and the queue from OTLP encoding and HTTP.
#[derive(Debug)]
struct Noop;
impl opentelemetry_sdk::trace::SpanExporter for Noop {
    async fn export(
        &self,
        _b: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }
}

#[observe(as_type = "generation")]
fn call(query: &str, n: u64) -> String {
    let mut s = String::with_capacity(40);
    s.push_str(&query[..20]);
    s.push_str(&n.to_string());
    s
}

fn main() {
    let layer = langfuse_tracing::LangfuseLayer::builder()
        .exporter(Noop)
        .build()
        .unwrap();
    let h = layer.handle();
    let sub = tracing_subscriber::registry().with(layer);
    let q = "0123456789012345678901234567890123456789";
    let roots: u64 = std::env::var("ROOTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    const CHILDREN: u64 = 100;
    let t = std::time::Instant::now();
    tracing::subscriber::with_default(sub, || {
        for _ in 0..roots {
            let root = tracing::info_span!("root", langfuse.observation.type = "span");
            let _e = root.enter();
            for i in 0..CHILDREN {
                black_box(call(black_box(q), black_box(i)));
            }
        }
    });
    let el = t.elapsed();
    h.shutdown().unwrap();
    // Each root and each child is one span.
    let spans = roots * (CHILDREN + 1);
    eprintln!(
        "{:.0} ns per span on the calling thread ({spans} spans); total incl. shutdown {:?}",
        el.as_nanos() as f64 / spans.max(1) as f64,
        t.elapsed()
    );
}
