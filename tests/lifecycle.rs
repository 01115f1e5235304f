//! flush / shutdown / guard in the three runtime shapes, and with a dead collector.

mod support;

use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use langfuse_tracing::{ExportError, LangfuseLayer};
use support::Receiver;
use tracing_subscriber::prelude::*;

fn layer_to(base_url: String, timeout: Duration) -> LangfuseLayer {
    support::layer_builder_to(base_url)
        .timeout(timeout)
        .build()
        .expect("valid config")
}

fn emit(n: usize) {
    for i in 0..n {
        let _s = tracing::info_span!("step", langfuse.observation.type = "span", index = i as i64)
            .entered();
    }
}

/// Runs `f` on another thread and fails the test if it does not return in `limit`
/// (a liveness check against deadlocks, not a performance assertion).
fn returns_within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).expect("the call hung (deadlock?)")
}

#[test]
fn plain_main_without_a_runtime_flushes_and_shuts_down() {
    let receiver = Receiver::start();
    let layer = layer_to(receiver.base_url(), Duration::from_secs(5));
    let handle = layer.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || emit(3));
    handle.flush().unwrap();
    assert_eq!(
        receiver.spans().len(),
        3,
        "flush returns after the export arrived"
    );
    tracing::subscriber::with_default(tracing_subscriber::registry(), || ());
    handle.shutdown().unwrap();
    handle.shutdown().unwrap();
    assert_eq!(handle.flush(), Err(ExportError::ShutDown));
}

#[test]
fn observations_after_shutdown_are_dropped_and_counted() {
    let receiver = Receiver::start();
    let layer = layer_to(receiver.base_url(), Duration::from_secs(5));
    let handle = layer.handle();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || emit(1));
    handle.shutdown().unwrap();
    tracing::dispatcher::with_default(&dispatch, || emit(2));
    assert_eq!(receiver.spans().len(), 1);
    assert_eq!(handle.dropped_observations(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_a_multi_thread_runtime() {
    let receiver = Receiver::start();
    let layer = layer_to(receiver.base_url(), Duration::from_secs(5));
    let handle = layer.handle();
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    emit(2);
    tokio::task::yield_now().await;
    handle.flush().unwrap();
    handle.shutdown().unwrap();
    assert_eq!(receiver.spans().len(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn inside_a_current_thread_runtime_building_and_dropping_the_layer_there() {
    let receiver = Receiver::start();
    let layer = layer_to(receiver.base_url(), Duration::from_secs(5));
    let handle = layer.handle();
    {
        let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
        emit(2);
        tokio::task::yield_now().await;
    } // the subscriber, and with it the layer, is dropped inside the runtime
    handle.shutdown().unwrap();
    assert_eq!(receiver.spans().len(), 2);
}

#[test]
fn an_unreachable_collector_does_not_hang_shutdown() {
    // A port with nothing listening: connections are refused at once.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let timeout = Duration::from_secs(1);
    let layer = layer_to(format!("http://127.0.0.1:{port}"), timeout);
    let handle = layer.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || emit(5));
    let started = Instant::now();
    let result = returns_within(Duration::from_secs(30), move || handle.shutdown());
    eprintln!(
        "shutdown with a refused collector returned {result:?} after {:?} (timeout {timeout:?})",
        started.elapsed()
    );
    assert!(
        matches!(
            result,
            Err(ExportError::Failed(_)) | Err(ExportError::Timeout)
        ),
        "{result:?}"
    );
}

#[test]
fn a_collector_that_never_answers_does_not_hang_shutdown() {
    // Accepts connections and never replies.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(16) {
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(60));
    });
    let timeout = Duration::from_secs(1);
    let layer = layer_to(format!("http://127.0.0.1:{port}"), timeout);
    let handle = layer.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || emit(3));
    let started = Instant::now();
    let result = returns_within(Duration::from_secs(30), move || handle.shutdown());
    eprintln!(
        "shutdown with a silent collector returned {result:?} after {:?} (timeout {timeout:?})",
        started.elapsed()
    );
    assert!(result.is_err(), "nothing could be delivered: {result:?}");
}

#[test]
fn a_rejecting_collector_reports_the_failure_on_flush() {
    let receiver = Receiver::start_with_status(401);
    let layer = layer_to(receiver.base_url(), Duration::from_secs(2));
    let handle = layer.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || emit(1));
    let err = handle.flush().unwrap_err();
    match &err {
        ExportError::Failed(message) => assert!(
            !message.contains("sk-lf-test"),
            "no secret in errors: {message}"
        ),
        other => panic!("expected a failed export, got {other:?}"),
    }
    assert_eq!(receiver.request_count(), 1);
    assert_eq!(
        handle.dropped_observations(),
        1,
        "a failed batch is counted as lost"
    );
    handle.shutdown().ok();
}

/// Flushing while the export thread is busy sending full batches: each flush must be
/// answered once its observations are sent, not at the next flush interval (the HTTP
/// client parks the export thread while it waits, which can swallow the wake-up that
/// announces the flush). With a one-minute interval and a 5 s timeout, a missed
/// wake-up makes `flush` fail with `Timeout`.
#[test]
fn flush_is_answered_while_full_batches_are_being_sent() {
    let receiver = Receiver::start();
    let layer = support::layer_builder(&receiver)
        .timeout(Duration::from_secs(5))
        .flush_at(7)
        .flush_interval(Duration::from_secs(60))
        .build()
        .expect("valid config");
    let handle = layer.handle();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    for round in 1..=20usize {
        tracing::dispatcher::with_default(&dispatch, || emit(50));
        assert_eq!(handle.flush(), Ok(()), "round {round}");
        assert_eq!(receiver.spans().len(), 50 * round, "round {round}");
    }
    handle.shutdown().unwrap();
}

/// A collector that accepts and never answers, with more observations than one batch:
/// when `shutdown()` gives up, the batch in flight and the rest the export thread took
/// are counted as dropped with what was still queued, so nothing is unaccounted for.
#[test]
fn after_a_shutdown_timeout_every_observation_is_delivered_or_counted() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(64) {
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(60));
    });
    let layer = support::layer_builder_to(format!("http://127.0.0.1:{port}"))
        .timeout(Duration::from_secs(1))
        .flush_at(10)
        .build()
        .expect("valid config");
    let handle = layer.handle();
    let created = 45;
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || emit(created));
    let h = handle.clone();
    let result = returns_within(Duration::from_secs(30), move || h.shutdown());
    assert!(result.is_err(), "nothing could be delivered: {result:?}");
    assert_eq!(handle.dropped_observations(), created as u64);
    // The export thread, still waiting on its request, counts nothing twice.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(handle.dropped_observations(), created as u64);
}

/// A batch sent because it was full fails before `flush()` is called: the flush still
/// reports the failure (and the loss is counted), instead of `Ok` after a loss.
#[test]
fn flush_reports_a_failure_of_a_full_batch_sent_before_it() {
    let receiver = Receiver::start_with_status(400);
    let layer = support::layer_builder(&receiver)
        .timeout(Duration::from_secs(5))
        .flush_at(5)
        .flush_interval(Duration::from_secs(60))
        .build()
        .expect("valid config");
    let handle = layer.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || emit(5));
    // The full batch goes out on its own; wait until the receiver answered it.
    receiver.wait_for_requests(1, Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(10);
    while handle.dropped_observations() < 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(handle.dropped_observations(), 5);
    assert!(matches!(handle.flush(), Err(ExportError::Failed(_))));
    // Reported once: the next flush has nothing new to report.
    assert_eq!(handle.flush(), Ok(()));
    handle.shutdown().ok();
}

/// Two shutdowns at once (say the application's and a signal handler's): the second
/// waits for the first and returns its result, so when either returns the counts are
/// final. (The second used to return `Ok` at once, with nothing counted yet.)
#[test]
fn a_second_shutdown_waits_for_the_first_and_returns_its_result() {
    // Every export fails with 400 (not retried), answered after 800 ms: the three
    // observations are counted as dropped only then.
    let receiver = Receiver::start_with_status_after(400, Duration::from_millis(800));
    let layer = layer_to(receiver.base_url(), Duration::from_secs(10));
    let handle = layer.handle();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || emit(3));
    let first = {
        let handle = handle.clone();
        std::thread::spawn(move || handle.shutdown())
    };
    receiver.wait_for_requests(1, Duration::from_secs(10)); // the first is under way
    let second = handle.shutdown();
    assert_eq!(
        handle.dropped_observations(),
        3,
        "final when the second returned"
    );
    assert_eq!(Some(second), first.join().ok());
    assert!(
        handle.shutdown().is_err(),
        "a later call gets the same failure"
    );
}

/// A layer dropped without `shutdown()` (no handle kept, no guard): nothing can reach
/// its pipeline any more, so the drop delivers what it observed before returning.
#[test]
fn dropping_the_layer_without_shutdown_delivers_what_it_observed() {
    let receiver = Receiver::start_with_delay(Duration::from_millis(300));
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry().with(layer_to(receiver.base_url(), Duration::from_secs(10))),
    );
    tracing::dispatcher::with_default(&dispatch, || emit(3));
    drop(dispatch);
    // No waiting: the drop has returned, so the export has been answered.
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(receiver.spans().len(), 3);
}

/// A shutdown that times out on a slow but healthy collector (several requests, each
/// in time, more than the timeout together): what the export thread held is counted
/// as dropped when `shutdown()` returns; nothing is sent after that, and the one
/// request in flight then, if the collector takes it after all, is taken out of the
/// count. So once it settles, received + dropped = created, exactly.
#[test]
fn a_timed_out_shutdown_never_counts_an_observation_twice() {
    let receiver = Receiver::start_with_delay(Duration::from_millis(400));
    let layer = support::layer_builder_to(receiver.base_url())
        .timeout(Duration::from_secs(1))
        .flush_at(5)
        .build()
        .expect("valid config");
    let handle = layer.handle();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || emit(30));
    assert_eq!(handle.shutdown(), Err(ExportError::Timeout));
    let at_return = receiver.spans().len() as u64 + handle.dropped_observations();
    assert!(
        at_return >= 30,
        "nothing unaccounted when shutdown returned: {at_return}"
    );
    // The request in flight ends within its 1 s timeout (waited for up to 10 s).
    let settled = Instant::now() + Duration::from_secs(10);
    while receiver.spans().len() as u64 + handle.dropped_observations() != 30
        && Instant::now() < settled
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Nothing more comes after that.
    std::thread::sleep(Duration::from_millis(500));
    let received = receiver.spans().len() as u64;
    assert_eq!(
        received + handle.dropped_observations(),
        30,
        "{received} received, {} dropped",
        handle.dropped_observations()
    );
}

const THREADS_CHILD_ENV: &str = "LANGFUSE_LIFECYCLE_THREADS_CHILD";

/// The export threads of this process, by name.
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(Result::ok)
                .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                .filter(|name| name.starts_with(prefix))
                .count()
        })
        .unwrap_or(0)
}

/// Runs in a child (alone in its process, so the thread count is its own): layers
/// with credentials built and dropped one after another leave no thread behind.
#[test]
fn child_builds_and_drops_layers() {
    if std::env::var_os(THREADS_CHILD_ENV).is_none() {
        return;
    }
    let receiver = Receiver::start();
    for _ in 0..20 {
        let layer = layer_to(receiver.base_url(), Duration::from_secs(5));
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        tracing::dispatcher::with_default(&dispatch, || emit(1));
    }
    let settled = Instant::now() + Duration::from_secs(10);
    while threads_named("langfuse-") > 0 && Instant::now() < settled {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(threads_named("langfuse-"), 0, "threads left behind");
    assert_eq!(receiver.spans().len(), 20);
}

/// A layer per tenant or per request, dropped when done: its export, score and media
/// threads end with it (the score thread used to run on for good, one per layer).
#[test]
fn dropped_layers_leave_no_threads_behind() {
    if std::env::var_os(THREADS_CHILD_ENV).is_some() || !cfg!(target_os = "linux") {
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_builds_and_drops_layers",
            "--test-threads=1",
        ])
        .env(THREADS_CHILD_ENV, "1")
        .output()
        .expect("run the test binary again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("1 passed"), "{stdout}");
}

/// Observations still open at shutdown (a span leaked, a handle never ended) cannot be
/// sent: `open_observations()` counts them, and everything else closes its count, by
/// any path: a span closed, a handle ended (then its span closed), an event, a trace
/// sampled out.
#[test]
fn open_observations_count_what_was_never_finished() {
    use langfuse_tracing::observation::{event, span};
    let receiver = Receiver::start();
    let layer = layer_to(receiver.base_url(), Duration::from_secs(10));
    let handle = layer.handle();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        emit(3);
        span("manual").start().end();
        event("happened").start();
        assert_eq!(handle.open_observations(), 0);
        let leaked = tracing::info_span!("leaked", langfuse.observation.type = "span");
        std::mem::forget(leaked);
        std::mem::forget(span("never-ended").start());
        assert_eq!(handle.open_observations(), 2);
    });
    handle.shutdown().expect("shutdown");
    assert_eq!(handle.open_observations(), 2, "told, not lost silently");
    assert_eq!(receiver.spans().len(), 5);

    // Sampled out: nothing open once it closes (while open it may count, when its
    // sampling is decided by an OpenTelemetry span at its close).
    let layer = support::layer_builder_to(receiver.base_url())
        .sample_rate(0.0)
        .build()
        .unwrap();
    let sampled_out = layer.handle();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        let _s = tracing::info_span!("out", langfuse.observation.type = "span").entered();
    });
    assert_eq!(sampled_out.open_observations(), 0);
    sampled_out.shutdown().unwrap();
}
