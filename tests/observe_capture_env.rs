//! `LANGFUSE_OBSERVE_DECORATOR_IO_CAPTURE_ENABLED=false` turns capture off for observed
//! functions without an explicit `capture_input` / `capture_output`.
//!
//! The switch is read once per process, so this is its own test binary with a single
//! test that sets the variable before any observed function runs.

mod support;

use std::time::Duration;

use langfuse_tracing_core::observe;
use support::Receiver;
use tracing_subscriber::prelude::*;

const INPUT: &str = "langfuse.observation.input";
const OUTPUT: &str = "langfuse.observation.output";
const STATUS: &str = "langfuse.observation.status_message";

#[observe]
fn defaults(x: u32) -> u32 {
    x
}

#[observe(capture_input = true)]
fn input_forced_on(x: u32) -> u32 {
    x
}

#[observe(capture_output = true)]
fn output_forced_on(x: u32) -> u32 {
    x
}

#[observe]
fn still_reports_errors(x: u32) -> Result<u32, String> {
    Err(format!("failed for {x}"))
}

#[observe]
fn iterator(n: u32) -> impl Iterator<Item = u32> {
    0..n
}

#[test]
fn the_env_switch_turns_default_capture_off_and_explicit_arguments_win() {
    // Before any observed call: the value is read once, on first use.
    std::env::set_var("LANGFUSE_OBSERVE_DECORATOR_IO_CAPTURE_ENABLED", "False");

    let receiver = Receiver::start();
    let layer = support::layer_builder(&receiver).build().unwrap();
    let handle = layer.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        defaults(1);
        input_forced_on(2);
        output_forced_on(3);
        let _ = still_reports_errors(4);
        assert_eq!(iterator(2).count(), 2);
    });
    handle.flush().unwrap();
    let spans = receiver.wait_for_spans(5, Duration::from_secs(10));
    let span = |name: &str| spans.iter().find(|s| s.name == name).unwrap();

    assert_eq!(span("defaults").str_attr(INPUT), None);
    assert_eq!(span("defaults").str_attr(OUTPUT), None);
    assert_eq!(span("input_forced_on").str_attr(INPUT), Some(r#"{"x": 2}"#));
    assert_eq!(span("input_forced_on").str_attr(OUTPUT), None);
    assert_eq!(span("output_forced_on").str_attr(INPUT), None);
    assert_eq!(span("output_forced_on").str_attr(OUTPUT), Some("3"));
    assert_eq!(
        span("still_reports_errors").str_attr(STATUS),
        Some("failed for 4")
    );
    assert_eq!(span("iterator").str_attr(OUTPUT), None);
}
