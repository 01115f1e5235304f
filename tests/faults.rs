//! The fault suite (issue 17): the real layer and exporter against a fault-injecting
//! loopback receiver (`support::faulty`).
//!
//! Each scenario runs in a child process (this test binary re-executed with
//! `LANGFUSE_FAULT_SCENARIO=<name>`, running only the `child` test), so its stderr can
//! be read and the SDK's lines counted. The child creates observations, flushes, shuts
//! down, and prints one `FAULT-REPORT {json}` line; the parent test asserts on it:
//!
//! * accounting: after `shutdown()` returns (and again once the export thread settled),
//!   delivered (unique spans the receiver accepted) + `dropped_observations()` equals
//!   the observations created, exactly; after a `flush()` that returned `Ok`, the same
//!   for the observations created before it;
//! * no span delivered twice, and no span delivered that was not created;
//! * `flush()` / `shutdown()` return within their timeout + 3 s (a liveness bound);
//! * no application call (creating and ending one observation) took 1 s or more;
//! * the SDK wrote at most one stderr line, and exactly one when anything was dropped;
//! * what the issue requires of each fault (retried, split, not followed, ...).
//!
//! Run: `cargo test --test faults` (add `-- --nocapture` to see each report).

mod support;

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use langfuse_tracing::{ExportError, LangfuseHandle, LangfuseLayer};
use serde::{Deserialize, Serialize};
use support::faulty::{self, Action, FaultyReceiver, RequestView};
use tracing_subscriber::prelude::*;

const SCENARIO_ENV: &str = "LANGFUSE_FAULT_SCENARIO";
const PK: &str = "pk-lf-fault-test";
const SK: &str = "sk-lf-fault-secret";
/// A child that takes longer than this is killed and the test fails.
const CHILD_LIMIT: Duration = Duration::from_secs(60);
/// `flush()` / `shutdown()` must return within their timeout plus this.
const LIVENESS_SLACK: Duration = Duration::from_secs(3);
/// Creating and ending one observation must take less than this.
const CALL_LIMIT: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------
// The report a child prints
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Tally {
    /// Created observations the receiver accepted (unique).
    delivered: usize,
    /// `LangfuseHandle::dropped_observations()`.
    dropped: u64,
    /// Spans the receiver accepted more than once.
    duplicates: usize,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct FlushReport {
    result: String,
    ok: bool,
    ms: u64,
    /// Observations created before this flush.
    created_before: usize,
    /// Right after it returned.
    tally: Tally,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Report {
    scenario: String,
    endpoint: String,
    timeout_ms: u64,
    created: usize,
    flushes: Vec<FlushReport>,
    shutdown: String,
    shutdown_ok: bool,
    shutdown_ms: u64,
    /// Right after `shutdown()` returned.
    at_shutdown: Tally,
    /// After waiting for the export thread to finish whatever it still had.
    settled: Tally,
    /// Observations the scenario requires to be delivered (created while the receiver
    /// was healthy), and how many of them were not.
    must_deliver: usize,
    must_deliver_missing: usize,
    /// Observations that must be dropped (too large on their own), and how many were
    /// delivered anyway.
    must_drop: usize,
    must_drop_delivered: usize,
    /// Spans delivered that the application did not create.
    unknown_delivered: usize,
    max_call_ms: u64,
    requests: usize,
    export_posts: usize,
    /// Requests on another path or with another method (a followed redirect).
    other_requests: usize,
    /// Spans in every export POST, whatever the answer.
    received_spans: usize,
    abandoned: usize,
    /// Receiver back up (or throttling over) until the first delivery after it.
    recovered_ms: Option<u64>,
    /// Time from the first (throttled) POST to the next one.
    retry_gap_ms: Option<u64>,
}

// ---------------------------------------------------------------------------
// Child side
// ---------------------------------------------------------------------------

type Id = (u128, u64);

struct Run<'a> {
    rx: &'a FaultyReceiver,
    handle: LangfuseHandle,
    dispatch: tracing::Dispatch,
    timeout: Duration,
    ids: Vec<Id>,
    must_deliver: Vec<Id>,
    must_drop: Vec<Id>,
    max_call: Duration,
    report: Report,
}

impl<'a> Run<'a> {
    fn new(scenario: &str, rx: &'a FaultyReceiver, timeout: Duration) -> Run<'a> {
        let layer = LangfuseLayer::builder()
            .public_key(PK)
            .secret_key(SK)
            .base_url(rx.base_url())
            .timeout(timeout)
            .flush_at(10)
            .flush_interval(Duration::from_millis(100))
            .console(false)
            .build()
            .expect("valid config");
        let handle = layer.handle();
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        Run {
            rx,
            handle,
            dispatch,
            timeout,
            ids: Vec::new(),
            must_deliver: Vec::new(),
            must_drop: Vec::new(),
            max_call: Duration::ZERO,
            report: Report {
                scenario: scenario.to_owned(),
                endpoint: rx.endpoint(),
                timeout_ms: timeout.as_millis() as u64,
                ..Report::default()
            },
        }
    }

    /// One observation (its own trace), with `input` if given; its ids.
    fn create_one(&mut self, index: usize, input: Option<&str>) -> Id {
        let started = Instant::now();
        let id = tracing::dispatcher::with_default(&self.dispatch, || {
            let span = match input {
                Some(input) => tracing::info_span!(
                    "fault-obs",
                    langfuse.observation.type = "span",
                    index = index as i64,
                    langfuse.observation.input = input
                ),
                None => tracing::info_span!(
                    "fault-obs",
                    langfuse.observation.type = "span",
                    index = index as i64
                ),
            };
            let _entered = span.enter();
            let trace = langfuse_tracing::get_current_trace_id().expect("current trace");
            let obs = langfuse_tracing::get_current_observation_id().expect("current obs");
            (trace.to_u128(), obs.to_u64())
        });
        self.max_call = self.max_call.max(started.elapsed());
        self.ids.push(id);
        id
    }

    fn create(&mut self, n: usize) -> Vec<Id> {
        (0..n)
            .map(|_| {
                let i = self.ids.len();
                self.create_one(i, None)
            })
            .collect()
    }

    fn tally(&self) -> Tally {
        Tally {
            delivered: self
                .ids
                .iter()
                .filter(|(t, s)| self.rx.is_delivered(*t, *s))
                .count(),
            dropped: self.handle.dropped_observations(),
            duplicates: self.rx.stats().duplicates,
        }
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        let started = Instant::now();
        let result = self.handle.flush();
        let ms = started.elapsed().as_millis() as u64;
        let tally = self.tally();
        self.report.flushes.push(FlushReport {
            result: format!("{result:?}"),
            ok: result.is_ok(),
            ms,
            created_before: self.ids.len(),
            tally,
        });
        result
    }

    fn finish(mut self) -> Report {
        let started = Instant::now();
        let result = self.handle.shutdown();
        self.report.shutdown_ms = started.elapsed().as_millis() as u64;
        self.report.at_shutdown = self.tally();
        self.report.shutdown = format!("{result:?}");
        self.report.shutdown_ok = result.is_ok();
        // The export thread may still finish a request it had started (a failed or
        // timed-out shutdown does not wait for it): give it its timeout, and then some.
        let settle = if result.is_ok() {
            Duration::from_millis(200)
        } else {
            self.timeout + Duration::from_millis(1500)
        };
        std::thread::sleep(settle);
        self.report.settled = self.tally();
        let created: std::collections::HashSet<Id> = self.ids.iter().copied().collect();
        let stats = self.rx.stats();
        let r = &mut self.report;
        r.created = self.ids.len();
        r.must_deliver = self.must_deliver.len();
        r.must_deliver_missing = self
            .must_deliver
            .iter()
            .filter(|(t, s)| !self.rx.is_delivered(*t, *s))
            .count();
        r.must_drop = self.must_drop.len();
        r.must_drop_delivered = self
            .must_drop
            .iter()
            .filter(|(t, s)| self.rx.is_delivered(*t, *s))
            .count();
        r.unknown_delivered = self
            .rx
            .delivered()
            .iter()
            .filter(|d| !created.contains(&(d.trace_id, d.span_id)))
            .count();
        r.max_call_ms = self.max_call.as_millis() as u64;
        r.requests = stats.requests;
        r.export_posts = stats.export_posts;
        r.other_requests = stats.other_requests;
        r.received_spans = stats.received_spans;
        r.abandoned = stats.abandoned;
        self.report
    }
}

const SECOND: Duration = Duration::from_secs(1);

/// The receiver comes back after `down_for`: what is created then must be delivered,
/// and the report says how long the first delivery took.
fn recover(mut run: Run<'_>, rx: &FaultyReceiver, down_for: Duration) -> Report {
    std::thread::sleep(down_for);
    let up_at = Instant::now();
    rx.up();
    let after = run.create(20);
    run.must_deliver.extend(after);
    let _ = run.flush();
    let mut report = run.finish();
    report.recovered_ms = rx
        .first_delivery_since(up_at)
        .map(|t| (t - up_at).as_millis() as u64);
    report
}

fn scenario(name: &str) -> Report {
    match name {
        "down_at_start_then_up" => {
            let rx = FaultyReceiver::down(faulty::always(Action::ok()));
            let mut run = Run::new(name, &rx, 2 * SECOND);
            run.create(20);
            recover(run, &rx, Duration::from_millis(500))
        }
        "down_mid_run" => {
            let rx = FaultyReceiver::start(faulty::always(Action::ok()));
            let mut run = Run::new(name, &rx, 2 * SECOND);
            let before = run.create(20);
            run.must_deliver.extend(before);
            let _ = run.flush();
            rx.stop();
            run.create(20);
            recover(run, &rx, Duration::from_millis(300))
        }
        "slow_2s_with_1s_timeout" => {
            let rx = FaultyReceiver::start(faulty::always(Action::ok().after(2 * SECOND)));
            let mut run = Run::new(name, &rx, SECOND);
            run.create(20);
            let _ = run.flush();
            run.finish()
        }
        "throttled_429_retry_after" => {
            let rx = FaultyReceiver::start(faulty::sequence(
                vec![Action::status(429).header("Retry-After", "1")],
                Action::ok(),
            ));
            let throttled_at = Instant::now();
            let mut run = Run::new(name, &rx, 3 * SECOND);
            let all = run.create(20);
            run.must_deliver.extend(all);
            let _ = run.flush();
            let mut report = run.finish();
            let log = rx.requests();
            if let (Some(a), Some(b)) = (log.first(), log.get(1)) {
                report.retry_gap_ms = Some((b.at - a.at).as_millis() as u64);
            }
            report.recovered_ms = rx
                .first_delivery()
                .map(|t| (t - throttled_at).as_millis() as u64);
            report
        }
        // 502, 503 and 504 are retried (as the OTLP exporter's policy); a 500 is not
        // (see "server_error_500").
        "server_errors_502_503_504" => {
            let burst = |codes: &[u16]| codes.iter().map(|c| Action::status(*c)).collect();
            let mut actions: Vec<Action> = burst(&[502, 503]);
            actions.extend([Action::ok(), Action::ok()]);
            actions.extend(burst(&[503, 504]));
            actions.push(Action::ok());
            actions.extend(burst(&[502]));
            let rx = FaultyReceiver::start(faulty::sequence(actions, Action::ok()));
            let mut run = Run::new(name, &rx, 3 * SECOND);
            let all = run.create(30);
            run.must_deliver.extend(all);
            let _ = run.flush();
            run.finish()
        }
        "bad_request_400" => status_always(name, 400),
        "server_error_500" => status_always(name, 500),
        "unauthorized_401" => status_always(name, 401),
        "forbidden_403" => status_always(name, 403),
        "too_large_413" => {
            // The collector takes at most 3 spans and 48 KiB per request.
            let rx = FaultyReceiver::start(Box::new(|r: &RequestView| {
                if r.is_export() && (r.spans > 3 || r.decoded_len > 48 << 10) {
                    Action::status(413)
                } else {
                    Action::ok()
                }
            }));
            let mut run = Run::new(name, &rx, 3 * SECOND);
            let small = run.create(10);
            run.must_deliver.extend(small);
            let huge = "x".repeat(100 << 10);
            let i = run.ids.len();
            let big = run.create_one(i, Some(&huge));
            run.must_drop.push(big);
            let small = run.create(10);
            run.must_deliver.extend(small);
            let _ = run.flush();
            run.finish()
        }
        "redirect_3xx" => {
            let rx = FaultyReceiver::down(faulty::always(Action::ok()));
            let location = format!("{}/moved-here", rx.base_url());
            let codes = [301u16, 302, 303, 307, 308];
            let mut n = 0usize;
            rx.set_script(Box::new(move |r: &RequestView| {
                if !r.is_export() {
                    // The page a followed redirect lands on (never counted as delivered).
                    return Action::ok();
                }
                let code = codes[n % codes.len()];
                n += 1;
                Action::status(code).header("Location", &location)
            }));
            rx.up();
            let mut run = Run::new(name, &rx, 2 * SECOND);
            run.create(50);
            let _ = run.flush();
            run.finish()
        }
        "accept_and_hang" => {
            let rx = FaultyReceiver::start(faulty::always(Action::Hang));
            let mut run = Run::new(name, &rx, SECOND);
            run.create(25);
            let _ = run.flush();
            run.finish()
        }
        "connection_reset_burst" => {
            let rx = FaultyReceiver::start(faulty::sequence(
                vec![Action::Reset, Action::Reset],
                Action::ok(),
            ));
            let mut run = Run::new(name, &rx, 3 * SECOND);
            let all = run.create(20);
            run.must_deliver.extend(all);
            let _ = run.flush();
            run.finish()
        }
        "connection_reset_always" => {
            let rx = FaultyReceiver::start(faulty::always(Action::Reset));
            let mut run = Run::new(name, &rx, 2 * SECOND);
            run.create(20);
            let _ = run.flush();
            run.finish()
        }
        other => panic!("unknown scenario {other:?}"),
    }
}

fn status_always(name: &str, status: u16) -> Report {
    let rx = FaultyReceiver::start(faulty::always(Action::status(status)));
    let mut run = Run::new(name, &rx, 2 * SECOND);
    run.create(20);
    let _ = run.flush();
    run.finish()
}

/// The child's entry point; does nothing in a normal test run.
#[test]
fn child() {
    let Ok(name) = std::env::var(SCENARIO_ENV) else {
        return;
    };
    let report = scenario(&name);
    // On a line of its own (the harness has written `test child ... ` already).
    println!(
        "\nFAULT-REPORT {}",
        serde_json::to_string(&report).expect("report is JSON")
    );
}

// ---------------------------------------------------------------------------
// Parent side
// ---------------------------------------------------------------------------

struct ChildRun {
    report: Report,
    /// The SDK's stderr lines (starting with `langfuse`).
    sdk_lines: Vec<String>,
    stderr: String,
}

fn run_child(name: &str) -> ChildRun {
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args(["child", "--exact", "--nocapture", "--test-threads", "1"])
        .env(SCENARIO_ENV, name)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("re-execute the test binary");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + CHILD_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    let Some(status) = status else {
        panic!(
            "scenario {name}: the child ran longer than {CHILD_LIMIT:?} (hung); stderr:\n{stderr}"
        );
    };
    let report = stdout
        .lines()
        .find_map(|l| l.split_once("FAULT-REPORT ").map(|(_, json)| json))
        .map(|json| serde_json::from_str::<Report>(json).expect("a valid report"));
    let Some(report) = report else {
        panic!("scenario {name}: no report (exit {status}); stdout:\n{stdout}\nstderr:\n{stderr}");
    };
    assert!(
        status.success(),
        "scenario {name}: child failed ({status}); stderr:\n{stderr}"
    );
    let sdk_lines = stderr
        .lines()
        .filter(|l| l.starts_with("langfuse"))
        .map(str::to_owned)
        .collect();
    println!("{name}: {report:?}\nstderr:\n{stderr}");
    ChildRun {
        report,
        sdk_lines,
        stderr,
    }
}

/// The checks every scenario must pass.
fn check_common(c: &ChildRun) {
    let r = &c.report;
    let name = &r.scenario;
    let ctx = || format!("scenario {name}: {r:#?}\nstderr:\n{}", c.stderr);
    // Liveness: flush and shutdown return within their timeout (plus slack).
    let bound = (Duration::from_millis(r.timeout_ms) + LIVENESS_SLACK).as_millis() as u64;
    for f in &r.flushes {
        assert!(
            f.ms <= bound,
            "flush took {} ms (> {bound}); {}",
            f.ms,
            ctx()
        );
    }
    assert!(
        r.shutdown_ms <= bound,
        "shutdown took {} ms (> {bound}); {}",
        r.shutdown_ms,
        ctx()
    );
    assert!(
        (r.max_call_ms as u128) < CALL_LIMIT.as_millis(),
        "an application call took {} ms; {}",
        r.max_call_ms,
        ctx()
    );
    // Nothing delivered twice, nothing delivered that was not created.
    assert_eq!(r.settled.duplicates, 0, "duplicates; {}", ctx());
    assert_eq!(r.unknown_delivered, 0, "unknown spans delivered; {}", ctx());
    // Accounting after a successful flush covers what was created before it.
    for (i, f) in r.flushes.iter().enumerate() {
        if f.ok {
            assert_eq!(
                f.tally.delivered as u64 + f.tally.dropped,
                f.created_before as u64,
                "after flush #{i} returned Ok: delivered {} + dropped {} != created {}; {}",
                f.tally.delivered,
                f.tally.dropped,
                f.created_before,
                ctx()
            );
        } else {
            assert!(
                f.tally.delivered as u64 + f.tally.dropped <= f.created_before as u64,
                "after flush #{i}: more delivered + dropped than created; {}",
                ctx()
            );
        }
    }
    // Accounting after shutdown: exact, at once and after the export thread settled.
    assert_eq!(
        r.at_shutdown.delivered as u64 + r.at_shutdown.dropped,
        r.created as u64,
        "when shutdown() returned ({}): delivered {} + dropped {} != created {}; {}",
        r.shutdown,
        r.at_shutdown.delivered,
        r.at_shutdown.dropped,
        r.created,
        ctx()
    );
    assert_eq!(
        r.settled.delivered as u64 + r.settled.dropped,
        r.created as u64,
        "after settling: delivered {} + dropped {} != created {}; {}",
        r.settled.delivered,
        r.settled.dropped,
        r.created,
        ctx()
    );
    assert_eq!(
        r.must_deliver_missing,
        0,
        "observations created while the receiver was healthy were lost; {}",
        ctx()
    );
    assert_eq!(
        r.must_drop_delivered,
        0,
        "observations the receiver rejected were counted delivered; {}",
        ctx()
    );
    // One clear line, not one per batch; and a line whenever something was lost.
    assert!(
        c.sdk_lines.len() <= 1,
        "{} SDK stderr lines (at most one expected); {}",
        c.sdk_lines.len(),
        ctx()
    );
    if r.settled.dropped > 0 {
        assert_eq!(
            c.sdk_lines.len(),
            1,
            "observations were dropped without one stderr line saying so; {}",
            ctx()
        );
    }
    assert!(
        !c.stderr.contains(SK),
        "the secret key reached stderr; {}",
        ctx()
    );
    assert_eq!(
        r.other_requests,
        0,
        "requests on other paths (a redirect was followed); {}",
        ctx()
    );
}

fn all_delivered(c: &ChildRun) {
    let r = &c.report;
    assert_eq!(
        (r.settled.delivered, r.settled.dropped),
        (r.created, 0),
        "scenario {}: everything should be delivered (retried within the timeout); {r:#?}\nstderr:\n{}",
        r.scenario,
        c.stderr
    );
}

fn all_dropped(c: &ChildRun) {
    let r = &c.report;
    assert_eq!(
        (r.settled.delivered, r.settled.dropped),
        (0, r.created as u64),
        "scenario {}: nothing can be delivered, everything must be counted; {r:#?}\nstderr:\n{}",
        r.scenario,
        c.stderr
    );
}

fn the_line(c: &ChildRun) -> &str {
    c.sdk_lines.first().map(String::as_str).unwrap_or("")
}

#[test]
fn down_at_start_then_up() {
    let c = run_child("down_at_start_then_up");
    check_common(&c);
    assert!(c.report.recovered_ms.is_some(), "never recovered");
}

#[test]
fn down_mid_run() {
    let c = run_child("down_mid_run");
    check_common(&c);
    assert!(c.report.recovered_ms.is_some(), "never recovered");
}

#[test]
fn slow_collector_2s_per_answer_with_a_1s_timeout() {
    let c = run_child("slow_2s_with_1s_timeout");
    check_common(&c);
    all_dropped(&c);
}

#[test]
fn throttled_429_with_retry_after_is_waited_for_and_retried() {
    let c = run_child("throttled_429_retry_after");
    check_common(&c);
    all_delivered(&c);
    let gap = c.report.retry_gap_ms.expect("a retry after the 429");
    assert!(
        gap >= 1000,
        "the retry came {gap} ms after the 429, before its Retry-After of 1 s"
    );
    assert!(c.sdk_lines.is_empty(), "recovered: no line expected");
}

#[test]
fn bursts_of_502_503_504_are_retried() {
    let c = run_child("server_errors_502_503_504");
    check_common(&c);
    all_delivered(&c);
}

#[test]
fn server_error_500_is_dropped_and_counted_not_retried() {
    let c = run_child("server_error_500");
    check_common(&c);
    all_dropped(&c);
    assert_eq!(
        c.report.received_spans, c.report.created,
        "a 500 is not retried (the OTLP exporter's policy): every span reached the receiver once"
    );
}

#[test]
fn bad_request_400_is_dropped_not_retried() {
    let c = run_child("bad_request_400");
    check_common(&c);
    all_dropped(&c);
    assert_eq!(
        c.report.received_spans, c.report.created,
        "a 400 is not retried: every span reached the receiver once"
    );
}

fn check_auth(c: &ChildRun) {
    check_common(c);
    all_dropped(c);
    let r = &c.report;
    assert_eq!(r.received_spans, r.created, "rejected keys are not retried");
    let line = the_line(c);
    assert!(
        line.contains("rejected"),
        "the line says the keys were rejected: {line:?}"
    );
    assert!(
        line.contains(&r.endpoint)
            || line.contains(r.endpoint.trim_end_matches(faulty::EXPORT_PATH)),
        "the line names the endpoint {}: {line:?}",
        r.endpoint
    );
    assert!(line.contains(PK), "the line shows the public key: {line:?}");
    // (The batches may have gone out before `flush()`, which then had nothing left to
    // send and returned Ok; when it reports the failure, it says the same.)
    let flush = &r.flushes[0];
    assert!(
        flush.ok || flush.result.contains("rejected"),
        "flush() says the keys were rejected: {}",
        flush.result
    );
}

#[test]
fn unauthorized_401_says_the_keys_were_rejected_once() {
    check_auth(&run_child("unauthorized_401"));
}

#[test]
fn forbidden_403_says_the_keys_were_rejected_once() {
    check_auth(&run_child("forbidden_403"));
}

#[test]
fn too_large_413_is_split_down_to_one_observation() {
    let c = run_child("too_large_413");
    check_common(&c);
    let r = &c.report;
    assert_eq!(
        (r.settled.delivered, r.settled.dropped),
        (r.created - 1, 1),
        "every small observation delivered, the huge one dropped and counted; {r:#?}\nstderr:\n{}",
        c.stderr
    );
    let line = the_line(&c);
    assert!(
        line.chars().any(|ch| ch.is_ascii_digit()) && !line.contains("queue is full"),
        "the line gives the size and the limit: {line:?}"
    );
}

#[test]
fn redirects_3xx_are_not_followed_and_count_as_dropped() {
    let c = run_child("redirect_3xx");
    check_common(&c);
    all_dropped(&c);
    let line = the_line(&c);
    assert!(
        line.contains("/moved-here"),
        "the line names the Location: {line:?}"
    );
}

#[test]
fn a_collector_that_accepts_and_never_answers() {
    let c = run_child("accept_and_hang");
    check_common(&c);
    all_dropped(&c);
}

#[test]
fn a_burst_of_connection_resets_is_retried() {
    let c = run_child("connection_reset_burst");
    check_common(&c);
    all_delivered(&c);
}

#[test]
fn connection_reset_on_every_request() {
    let c = run_child("connection_reset_always");
    check_common(&c);
    all_dropped(&c);
}
