//! SDK warnings reach the user under `init()`, where the Langfuse layer is the only
//! layer and nothing prints `tracing` events (issue 17, defect 8): each one is a
//! `langfuse: ...` line on stderr, once for repeated identical triggers.
//!
//! The triggers run in a child process (this test binary again), whose stderr the
//! parent reads: `init()` sets the process-wide subscriber.

mod support;

use std::time::Duration;

use langfuse_tracing::observation::{update_current_span, SpanUpdate};
use langfuse_tracing::propagation::{propagate_attributes, PropagateAttributes};
use support::Receiver;

const CHILD_ENV: &str = "LANGFUSE_SDK_WARNINGS_TEST_CHILD";
const SECRET: &str = "SECRET-USER-ID";

/// Runs in the child: `init()` from the environment, then each trigger five times.
#[test]
fn child_triggers_warnings_under_init() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let receiver = Receiver::start();
    std::env::set_var("LANGFUSE_PUBLIC_KEY", "pk-lf-test");
    std::env::set_var("LANGFUSE_SECRET_KEY", "sk-lf-test");
    std::env::set_var("LANGFUSE_BASE_URL", receiver.base_url());
    let guard = langfuse_tracing::init().expect("init");
    let long_user_id = format!("{SECRET}{}", "x".repeat(1000));
    for _ in 0..5 {
        propagate_attributes(PropagateAttributes::new().user_id(&long_user_id), || ());
        update_current_span(SpanUpdate::new().output(&"lost"));
        let span = tracing::info_span!(
            "odd-level",
            langfuse.observation.type = "span",
            langfuse.observation.level = "LOUD"
        );
        drop(span);
        // A model on a tool is not exported: one warning.
        let tool = tracing::info_span!(
            "tool-with-model",
            langfuse.observation.type = "tool",
            langfuse.observation.model.name = "gpt-4o"
        );
        drop(tool);
        // The model before the type: a generation after all, nothing to warn about.
        let generation = tracing::info_span!(
            "model-first",
            langfuse.observation.model.name = "gpt-4o",
            langfuse.observation.type = "generation"
        );
        drop(generation);
    }
    guard.handle().flush().expect("flush");
    assert_eq!(
        receiver.wait_for_spans(15, Duration::from_secs(10)).len(),
        15
    );
}

#[test]
fn each_sdk_warning_reaches_stderr_once_under_init() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_triggers_warnings_under_init",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .env("RUST_BACKTRACE", "0")
        .env_remove("LANGFUSE_BASE_URL")
        .env_remove("LANGFUSE_HOST")
        .output()
        .expect("run the test binary again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "the child test did not run:\n{stdout}"
    );
    for warning in [
        "langfuse: propagate_attributes: `user_id` dropped: longer than 200 characters",
        "langfuse: update_current_span: no observation is current; nothing was updated",
        "langfuse: unknown level \"LOUD\"; ignored",
        "langfuse: `langfuse.observation.*` span field: model, usage, cost, completion start \
         time and prompt are only exported for generation-like observations (generation, \
         embedding); not sent for this `tool` observation\n",
    ] {
        assert_eq!(
            stderr.matches(warning).count(),
            1,
            "once for five triggers: {warning}\n{stderr}"
        );
    }
    assert!(!stderr.contains(SECRET), "never the value:\n{stderr}");
    assert!(
        !stderr.contains("not sent for this `span` observation"),
        "no warning for a generation whose model came before its type:\n{stderr}"
    );
}

const CLOSED_STDERR_ENV: &str = "LANGFUSE_SDK_WARNINGS_TEST_CLOSED_STDERR";

/// Runs in the child whose stderr is closed: a configuration warning, the debug line of
/// every export and an SDK warning are all written to it, and nothing panics.
#[test]
fn child_writes_its_lines_to_a_closed_stderr() {
    if std::env::var_os(CLOSED_STDERR_ENV).is_none() {
        return;
    }
    let receiver = Receiver::start();
    std::env::set_var("LANGFUSE_PUBLIC_KEY", "pk-lf-test");
    std::env::set_var("LANGFUSE_SECRET_KEY", "sk-lf-test");
    std::env::set_var("LANGFUSE_BASE_URL", receiver.base_url());
    // Lower-cased as the server stores it, with a warning.
    std::env::set_var("LANGFUSE_TRACING_ENVIRONMENT", "Production");
    std::env::set_var("LANGFUSE_DEBUG", "true");
    let guard = langfuse_tracing::init().expect("init");
    update_current_span(SpanUpdate::new().output(&"nothing current: a warning"));
    drop(tracing::info_span!("delivered", langfuse.observation.type = "span"));
    guard.handle().flush().expect("flush");
    assert_eq!(receiver.wait_for_spans(1, Duration::from_secs(10)).len(), 1);
    drop(guard);
}

#[test]
fn a_closed_stderr_panics_nothing() {
    if std::env::var_os(CHILD_ENV).is_some() || std::env::var_os(CLOSED_STDERR_ENV).is_some() {
        return;
    }
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_writes_its_lines_to_a_closed_stderr",
            // Uncaptured: the lines go to the real (closed) stderr.
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CLOSED_STDERR_ENV, "1")
        .env("RUST_BACKTRACE", "0")
        .env_remove("LANGFUSE_BASE_URL")
        .env_remove("LANGFUSE_HOST")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the test binary again");
    // The read end closes: every write to the child's stderr fails (EPIPE).
    drop(child.stderr.take());
    let out = child.wait_with_output().expect("the child ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("1 passed"), "{stdout}");
}
