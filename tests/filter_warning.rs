//! A global filter that disables the observation spans (an `EnvFilter` with no
//! `RUST_LOG` keeps only ERROR) leaves the Langfuse layer nothing to record: the first
//! such observation prints one warning saying how to fix it. Run in a child process
//! (the warning is once per process and goes to stderr).

mod support;

use std::process::Command;

use langfuse_tracing::observe;
use support::Receiver;
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

#[observe]
fn filtered_out(n: u32) -> u32 {
    n + 1
}

const CHILD: &str = "LANGFUSE_FILTER_WARNING_CHILD";

#[test]
fn child() {
    let Ok(base_url) = std::env::var(CHILD) else {
        return; // only runs as the child of the test below
    };
    let layer = support_layer(&base_url);
    let handle = layer.handle();
    let subscriber = tracing_subscriber::registry()
        .with(EnvFilter::new("error"))
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for n in 0..3 {
            filtered_out(n);
        }
        langfuse_tracing::observation::span("manual").start().end();
    });
    handle.shutdown().unwrap();
}

fn support_layer(base_url: &str) -> langfuse_tracing::LangfuseLayer {
    langfuse_tracing::LangfuseLayer::builder()
        .public_key("pk-lf-test")
        .secret_key("sk-lf-test")
        .base_url(base_url)
        .console(false)
        .build()
        .expect("valid config")
}

#[test]
fn a_global_filter_that_disables_observations_is_reported_once() {
    let receiver = Receiver::start();
    let output = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, receiver.base_url())
        .output()
        .expect("child runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("langfuse:") && l.contains("disabled by a filter"))
        .collect();
    assert_eq!(lines.len(), 1, "one warning: {stderr}");
    assert!(lines[0].contains("with_filter"), "{}", lines[0]);
    assert!(receiver.spans().is_empty(), "nothing was recorded");
}
