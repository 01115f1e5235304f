//! The score queue of one layer: validated scores (see [`langfuse_tracing_core::score`]) are
//! batched on their own worker thread and sent as `POST {base}/api/public/scores`
//! with a JSON array, as the reference SDK 5.0.4 sends them (reference §7).
//!
//! * A batch holds at most 15 scores or what arrived within 1 s, and at most
//!   1,000,000 bytes of JSON; a single larger score is refused when it is created.
//! * 2xx: sent. 207: the rejected items are reported once each and not retried; the
//!   others are sent. 429 (after `Retry-After`), 5xx and network errors are retried
//!   (three tries within the timeout). 401/403 and other 4xx are not retried: one
//!   message with the server's answer.
//! * A server older than the batch form answers 400/404/405/422 to an array: the batch
//!   is sent again one object per request, and once one of those is accepted the
//!   single-object form is used for that base URL for the rest of the process.
//! * A score whose trace is sampled out is not sent (reference §6.5: the same
//!   trace-id rule as spans); it is counted in [`ScoreCounts::sampled_out`].
//! * Without credentials (console mode) each score is printed on stderr instead.
//! * Accounting: after `flush()`/`shutdown()` returns, `sent + dropped = created`.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use http::Method;
use langfuse_tracing_core::score::{Score, ScoreError, ScoreHook, ScoreRecord, ScoreSink};

use crate::config::{ConfigError, LangfuseConfig};
use crate::export::{ExportError, LangfuseHandle};
use crate::rest::{Answer, RestClient};

/// Scores per request (`flush_at` of the reference's score queue).
pub(crate) const SCORE_BATCH: usize = 15;
/// How long a score waits for others to fill a batch.
pub(crate) const SCORE_INTERVAL: Duration = Duration::from_secs(1);
/// The largest request body.
pub(crate) const MAX_BATCH_BYTES: usize = 1_000_000;
/// Scores waiting to be sent, and their bytes; more are dropped (and counted).
const QUEUE_CAPACITY: usize = 100_000;
const QUEUE_MAX_BYTES: usize = 64 << 20;
const SCORES_PATH: &str = "api/public/scores";

/// How many scores one layer handled.
///
/// ```
/// let layer = langfuse_tracing::LangfuseLayer::builder().console(false).build().unwrap();
/// let counts = layer.handle().score_counts();
/// assert_eq!(counts.created, counts.sent + counts.dropped);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScoreCounts {
    /// Accepted by `create_score` and friends (queued, or printed on the console).
    pub created: u64,
    /// Accepted by the server (or printed on the console).
    pub sent: u64,
    /// Lost: rejected by the server, failed after retries, queue full, or still
    /// queued when `shutdown()` gave up.
    pub dropped: u64,
    /// Not sent because their trace was sampled out (not part of `created`).
    pub sampled_out: u64,
}

/// The base URLs that took only the single-object form: remembered for the process.
static SINGLE_FORM: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Every live score queue, for the global `flush()` / `shutdown()`.
static QUEUES: Mutex<Vec<Weak<Inner>>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

enum Mode {
    /// Tracing disabled: scores are accepted and ignored (as the reference does).
    Disabled,
    /// No credentials, console off: nowhere to send.
    Nowhere,
    /// No credentials: printed on stderr.
    Console,
    /// Sent to the Langfuse API.
    Rest,
}

struct Item {
    id: String,
    json: Vec<u8>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Item>,
    /// The bytes of the scores in `queue`.
    queued_bytes: usize,
    /// Scores ever queued, and settled (sent or dropped) in queue order.
    pushed: u64,
    settled: u64,
    counts: ScoreCounts,
    flush_requested: bool,
    shut_down: bool,
    /// `shutdown()` gave up waiting: it counted what the worker holds.
    abandoned: bool,
    in_hand: usize,
    worker_done: bool,
}

pub(crate) struct Inner {
    mode: Mode,
    state: Mutex<State>,
    /// Wakes the worker.
    wake: Condvar,
    /// Wakes those waiting in `flush()`.
    settled: Condvar,
    sample_below: Option<u64>,
    environment: Option<String>,
    timeout: Duration,
    debug: bool,
    worker: Mutex<Option<JoinHandle<()>>>,
    shutdown_once: crate::export::shutdown_once::ShutdownOnce,
}

/// The score side of a [`LangfuseHandle`]: the queue and the hook the layer exposes.
#[derive(Clone)]
pub(crate) struct Scores {
    inner: Arc<Inner>,
    hook: ScoreHook,
    /// Shared by the layer and every handle: when the last of them is gone, the queue
    /// shuts down (its worker holds `inner`, so `inner` alone would never drop).
    _last_user: Arc<ShutDownWhenUnused>,
}

struct ShutDownWhenUnused(Arc<Inner>);

impl Drop for ShutDownWhenUnused {
    fn drop(&mut self) {
        // Sends what is queued (bounded by the timeout) and stops the worker thread.
        let _ = self.0.shutdown();
    }
}

impl std::fmt::Debug for Scores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scores")
            .field("counts", &self.inner.counts())
            .finish_non_exhaustive()
    }
}

impl Scores {
    /// The score queue of a layer built from `config` (its worker thread starts only
    /// when scores go over the network).
    pub(crate) fn start(
        config: &LangfuseConfig,
        sample_below: Option<u64>,
    ) -> Result<Scores, ConfigError> {
        let mode = if !config.enabled {
            Mode::Disabled
        } else if config.has_credentials() {
            Mode::Rest
        } else if config.console_enabled() {
            Mode::Console
        } else {
            Mode::Nowhere
        };
        let inner = Arc::new(Inner {
            mode,
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            settled: Condvar::new(),
            sample_below,
            environment: config.environment.clone(),
            timeout: config.timeout,
            debug: config.debug,
            worker: Mutex::new(None),
            shutdown_once: Default::default(),
        });
        if matches!(inner.mode, Mode::Rest) {
            let worker_inner = inner.clone();
            let handle =
                crate::rest::spawn_with_client("langfuse-scores", config, move |client| {
                    Worker::new(client).run(&worker_inner)
                })?;
            *lock(&inner.worker) = Some(handle);
        }
        let sink: Arc<dyn ScoreSink> = inner.clone();
        if !matches!(inner.mode, Mode::Disabled) {
            langfuse_tracing_core::score::register_default_sink(&sink);
        }
        {
            let mut all = lock(&QUEUES);
            all.retain(|w| w.strong_count() > 0);
            all.push(Arc::downgrade(&inner));
        }
        Ok(Scores {
            _last_user: Arc::new(ShutDownWhenUnused(inner.clone())),
            inner,
            hook: ScoreHook(sink),
        })
    }

    /// What the layer answers to `downcast_raw(TypeId::of::<ScoreHook>())`.
    pub(crate) fn hook(&self) -> &ScoreHook {
        &self.hook
    }

    pub(crate) fn flush(&self) -> Result<(), ExportError> {
        self.inner.flush()
    }

    pub(crate) fn shutdown(&self) -> Result<(), ExportError> {
        self.inner.shutdown()
    }
}

/// Flushes every score queue of the process (the global `flush()`).
pub(crate) fn flush_all() -> Result<(), ExportError> {
    each_queue(Inner::flush)
}

/// Shuts down every score queue of the process (the global `shutdown()`).
pub(crate) fn shutdown_all() -> Result<(), ExportError> {
    each_queue(Inner::shutdown)
}

fn each_queue(f: fn(&Inner) -> Result<(), ExportError>) -> Result<(), ExportError> {
    let queues: Vec<Arc<Inner>> = lock(&QUEUES).iter().filter_map(Weak::upgrade).collect();
    let mut result = Ok(());
    for q in queues {
        if let Err(e) = f(&q) {
            result = Err(e);
        }
    }
    result
}

impl ScoreSink for Inner {
    fn submit(&self, mut score: ScoreRecord) -> Result<(), ScoreError> {
        match self.mode {
            Mode::Disabled => return Ok(()),
            Mode::Nowhere => return Err(ScoreError::NoDestination),
            Mode::Console | Mode::Rest => {}
        }
        if let (Some(below), Some(trace)) = (self.sample_below, score.trace_id()) {
            if (trace.to_u128() as u64) >= below {
                lock(&self.state).counts.sampled_out += 1;
                return Ok(());
            }
        }
        score.set_default_environment(self.environment.as_deref());
        if matches!(self.mode, Mode::Console) {
            let mut st = lock(&self.state);
            if st.shut_down {
                return Err(ScoreError::ShutDown);
            }
            stderr_line!("langfuse: score {}", score.summary());
            st.counts.created += 1;
            st.counts.sent += 1;
            return Ok(());
        }
        // Two bytes for the array's brackets.
        let json = serde_json::to_vec(&score).map_err(|_| ScoreError::MetadataNotObject)?;
        if json.len() + 2 > MAX_BATCH_BYTES {
            return Err(ScoreError::TooLarge {
                bytes: json.len(),
                max: MAX_BATCH_BYTES,
            });
        }
        let mut st = lock(&self.state);
        if st.shut_down || st.worker_done {
            return Err(ScoreError::ShutDown);
        }
        st.counts.created += 1;
        if st.queue.len() >= QUEUE_CAPACITY || st.queued_bytes + json.len() > QUEUE_MAX_BYTES {
            st.counts.dropped += 1;
            drop(st);
            warn_once("queue full", || {
                format!(
                    "the score queue is full ({QUEUE_CAPACITY} scores or {QUEUE_MAX_BYTES} \
                     bytes waiting); scores are dropped and counted in score_counts()"
                )
            });
            return Err(ScoreError::QueueFull);
        }
        st.queued_bytes += json.len();
        st.queue.push_back(Item {
            id: score.id().to_owned(),
            json,
        });
        st.pushed += 1;
        if st.queue.len() >= SCORE_BATCH {
            self.wake.notify_one();
        }
        Ok(())
    }
}

impl Inner {
    fn counts(&self) -> ScoreCounts {
        lock(&self.state).counts
    }

    /// Waits until every score queued before the call is sent or dropped.
    fn flush(&self) -> Result<(), ExportError> {
        if !matches!(self.mode, Mode::Rest) {
            return Ok(());
        }
        let mut st = lock(&self.state);
        let target = st.pushed;
        if st.settled >= target {
            return Ok(());
        }
        st.flush_requested = true;
        self.wake.notify_one();
        // Each batch ahead may take the whole timeout (its retries included).
        let batches = (target - st.settled).div_ceil(SCORE_BATCH as u64) as u32;
        let deadline =
            Instant::now() + self.timeout * batches.clamp(1, 20) + Duration::from_secs(1);
        while st.settled < target && !st.worker_done {
            let now = Instant::now();
            if now >= deadline {
                return Err(ExportError::Timeout);
            }
            st = match self.settled.wait_timeout(st, deadline - now) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        Ok(())
    }

    /// Refuses later scores, flushes, and stops the worker. If the flush times out,
    /// what is still queued or in the worker's hands is counted as dropped.
    fn shutdown(&self) -> Result<(), ExportError> {
        self.shutdown_once.run(|| {
            lock(&self.state).shut_down = true;
            self.shut_down_now()
        })
    }

    fn shut_down_now(&self) -> Result<(), ExportError> {
        let result = self.flush();
        {
            let mut st = lock(&self.state);
            if result.is_err() {
                st.abandoned = true;
                let lost = st.in_hand + st.queue.len();
                st.counts.dropped += lost as u64;
                st.settled += lost as u64;
                st.queue.clear();
                st.queued_bytes = 0;
                st.in_hand = 0;
            }
            self.wake.notify_all();
        }
        if result.is_ok() {
            if let Some(handle) = lock(&self.worker).take() {
                let _ = handle.join();
            }
        }
        result
    }
}

/// Reports a message once per kind for the process.
/// The distinct failures reported on stderr; beyond, the counts still tell.
const MAX_REPORTED: usize = 64;

fn warn_once(kind: &str, message: impl FnOnce() -> String) {
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut seen = lock(&SEEN);
    if seen
        .get_or_insert_with(HashSet::new)
        .insert(kind.to_owned())
    {
        stderr_line!("langfuse: {}", message());
    }
}

struct Worker {
    client: RestClient,
    /// The failures already reported (one line per kind, digits ignored).
    reported: HashSet<String>,
}

/// What happened to one batch.
struct Outcome {
    sent: usize,
    dropped: usize,
}

impl Worker {
    fn new(client: RestClient) -> Worker {
        Worker {
            client,
            reported: HashSet::new(),
        }
    }

    fn run(mut self, inner: &Inner) {
        let mut deadline = Instant::now() + SCORE_INTERVAL;
        loop {
            let batch = {
                let mut st = lock(&inner.state);
                loop {
                    let now = Instant::now();
                    let due = !st.queue.is_empty()
                        && (st.queue.len() >= SCORE_BATCH
                            || st.flush_requested
                            || st.shut_down
                            || now >= deadline);
                    if due {
                        break;
                    }
                    if st.queue.is_empty() {
                        st.flush_requested = false;
                        if st.shut_down {
                            st.worker_done = true;
                            inner.settled.notify_all();
                            return;
                        }
                    }
                    let wait = if st.queue.is_empty() {
                        SCORE_INTERVAL
                    } else {
                        deadline.saturating_duration_since(now)
                    };
                    st = match inner.wake.wait_timeout(st, wait) {
                        Ok((g, _)) => g,
                        Err(poisoned) => poisoned.into_inner().0,
                    };
                }
                let batch = take_batch(&mut st.queue);
                let bytes: usize = batch.iter().map(|item| item.json.len()).sum();
                st.queued_bytes = st.queued_bytes.saturating_sub(bytes);
                st.in_hand = batch.len();
                batch
            };
            let n = batch.len();
            let outcome = self.send(&batch, inner.debug);
            {
                let mut st = lock(&inner.state);
                if !st.abandoned {
                    st.counts.sent += outcome.sent as u64;
                    st.counts.dropped += outcome.dropped as u64;
                    st.settled += n as u64;
                    st.in_hand = 0;
                }
                inner.settled.notify_all();
            }
            deadline = Instant::now() + SCORE_INTERVAL;
        }
    }

    fn single_form(&self) -> bool {
        lock(&SINGLE_FORM).iter().any(|b| b == self.client.base())
    }

    fn send(&mut self, batch: &[Item], debug: bool) -> Outcome {
        if self.single_form() {
            return self.send_singly(batch);
        }
        let url = self.client.api_url(SCORES_PATH);
        let mut body =
            Vec::with_capacity(batch.iter().map(|i| i.json.len() + 1).sum::<usize>() + 2);
        body.push(b'[');
        for (i, item) in batch.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&item.json);
        }
        body.push(b']');
        let n = batch.len();
        match self.client.api(Method::POST, SCORES_PATH, Some(body)) {
            Err(network) => self.fail(n, network),
            Ok(answer) if answer.status == 207 => self.partial(batch, &url, &answer),
            Ok(answer) if answer.is_success() => {
                if debug {
                    stderr_line!("langfuse: sent {n} scores");
                }
                Outcome {
                    sent: n,
                    dropped: 0,
                }
            }
            Ok(answer) if matches!(answer.status, 400 | 404 | 405 | 415 | 422) => {
                // Perhaps a server older than the batch form: try one object per request.
                let outcome = self.send_singly(batch);
                if outcome.sent > 0 {
                    let base = self.client.base().to_owned();
                    lock(&SINGLE_FORM).push(base);
                    stderr_line!(
                        "langfuse: {url} does not take a batch of scores (status {}); sending \
                         one score per request from now on",
                        answer.status
                    );
                }
                outcome
            }
            Ok(answer) => {
                let message = self.client.refusal(&url, &answer);
                self.fail(n, message)
            }
        }
    }

    /// One object per request (the form of the OpenAPI file, answered 200 `{id}`).
    fn send_singly(&mut self, batch: &[Item]) -> Outcome {
        let url = self.client.api_url(SCORES_PATH);
        let mut outcome = Outcome {
            sent: 0,
            dropped: 0,
        };
        for item in batch {
            match self
                .client
                .api(Method::POST, SCORES_PATH, Some(item.json.clone()))
            {
                Ok(answer) if answer.is_success() => outcome.sent += 1,
                Ok(answer) => {
                    let message = self.client.refusal(&url, &answer);
                    outcome.dropped += self.fail(1, message).dropped;
                }
                Err(network) => outcome.dropped += self.fail(1, network).dropped,
            }
        }
        outcome
    }

    /// A 207: the rejected items are reported once each and dropped, not retried.
    fn partial(&mut self, batch: &[Item], url: &str, answer: &Answer) -> Outcome {
        let n = batch.len();
        let rejected = rejected_items(&answer.body, batch);
        match rejected {
            Some(mut rejected) => {
                // The server's list can be any length and say anything: the batch's own
                // ids are shown, each once, escaped and short; the others are counted
                // (a rejection that names no score of the batch still is one).
                let listed = rejected.len();
                rejected.retain(|(id, _)| batch.iter().any(|item| item.id == *id));
                let unnamed = listed - rejected.len();
                rejected.sort();
                rejected.dedup_by(|a, b| a.0 == b.0);
                for (id, why) in &rejected {
                    let why: String = why.chars().take(200).collect();
                    stderr_line!(
                        "langfuse: score {id:?} was rejected by {}: {why:?}",
                        crate::rest::display_url(url)
                    );
                }
                if unnamed > 0 {
                    self.report(format!(
                        "{} rejected {unnamed} more score(s) without naming one of the batch",
                        crate::rest::display_url(url)
                    ));
                }
                let dropped = (rejected.len() + unnamed).min(n);
                Outcome {
                    sent: n - dropped,
                    dropped,
                }
            }
            None => {
                self.report(format!(
                    "{} answered 207 without saying which scores it rejected: {}",
                    crate::rest::display_url(url),
                    answer.text()
                ));
                Outcome {
                    sent: n,
                    dropped: 0,
                }
            }
        }
    }

    fn fail(&mut self, n: usize, message: String) -> Outcome {
        self.report(format!("{n} score(s) not sent: {message}"));
        Outcome {
            sent: 0,
            dropped: n,
        }
    }

    fn report(&mut self, message: String) {
        let kind: String = message.chars().filter(|c| !c.is_ascii_digit()).collect();
        // Bounded: a server whose error texts differ each time (request ids) would
        // otherwise grow the set, and stderr, without end.
        if self.reported.len() < MAX_REPORTED && self.reported.insert(kind) {
            stderr_line!("langfuse: {message}");
        }
    }
}

/// Up to [`SCORE_BATCH`] scores whose array fits in [`MAX_BATCH_BYTES`].
fn take_batch(queue: &mut VecDeque<Item>) -> Vec<Item> {
    let mut bytes = 2;
    let mut batch = Vec::new();
    while let Some(item) = queue.front() {
        let add = item.json.len() + usize::from(!batch.is_empty());
        if batch.len() >= SCORE_BATCH || (!batch.is_empty() && bytes + add > MAX_BATCH_BYTES) {
            break;
        }
        bytes += add;
        if let Some(item) = queue.pop_front() {
            batch.push(item);
        }
    }
    batch
}

/// The rejected items of a 207 answer as (id, reason): the ingestion form
/// `{"errors":[{"id","status","message"}]}` or `{"rejected":[...]}` with ids or
/// indexes; `None` when the answer says neither.
fn rejected_items(body: &[u8], batch: &[Item]) -> Option<Vec<(String, String)>> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let list = json
        .get("errors")
        .or_else(|| json.get("rejected"))
        .and_then(|v| v.as_array())?;
    Some(
        list.iter()
            .map(|e| {
                let id = e
                    .get("id")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
                    .or_else(|| {
                        e.get("index")
                            .and_then(|v| v.as_u64())
                            .and_then(|i| batch.get(i as usize))
                            .map(|item| item.id.clone())
                    })
                    .unwrap_or_else(|| "(unknown id)".to_owned());
                let why = ["message", "error", "reason"]
                    .iter()
                    .find_map(|k| e.get(*k).filter(|v| !v.is_null()))
                    .map(|v| match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .unwrap_or_else(|| {
                        e.get("status")
                            .map(|s| format!("status {s}"))
                            .unwrap_or_else(|| "rejected".to_owned())
                    });
                (id, crate::otlp::transport::server_answer(why.as_bytes()))
            })
            .collect(),
    )
}

impl LangfuseHandle {
    /// Creates (or, with an existing id, updates) a score through this layer, whatever
    /// the current subscriber; returns its id. See [`langfuse_tracing_core::score`].
    ///
    /// ```
    /// use langfuse_tracing::{LangfuseLayer, Score};
    /// let handle = LangfuseLayer::builder().build().unwrap().handle(); // console mode
    /// let trace_id = langfuse_tracing::create_trace_id(Some("request-7"));
    /// let id = handle.create_score(Score::new("helpful", true).trace_id(trace_id)).unwrap();
    /// assert_eq!(id.len(), 16);
    /// handle.shutdown().unwrap();
    /// assert_eq!(handle.score_counts().sent, 1);
    /// ```
    pub fn create_score(&self, score: Score) -> Result<String, ScoreError> {
        let record = score.validate()?;
        let id = record.id().to_owned();
        match &self.scores {
            Some(scores) => scores.inner.submit(record)?,
            None => return Err(ScoreError::NoLayer),
        }
        Ok(id)
    }

    /// The score counters of this layer (`sent + dropped = created` once `flush()`
    /// or `shutdown()` has returned).
    ///
    /// ```
    /// let handle = langfuse_tracing::LangfuseLayer::builder().console(false).build().unwrap().handle();
    /// assert_eq!(handle.score_counts().created, 0);
    /// ```
    pub fn score_counts(&self) -> ScoreCounts {
        self.scores
            .as_ref()
            .map_or_else(ScoreCounts::default, |s| s.inner.counts())
    }

    /// How many scores were lost (see [`ScoreCounts::dropped`]).
    ///
    /// ```
    /// let handle = langfuse_tracing::LangfuseLayer::builder().console(false).build().unwrap().handle();
    /// assert_eq!(handle.dropped_scores(), 0);
    /// ```
    pub fn dropped_scores(&self) -> u64 {
        self.score_counts().dropped
    }

    /// Adds the score queue (the layer does, when it is built).
    pub(crate) fn with_scores(mut self, scores: Scores) -> Self {
        self.scores = Some(scores);
        self
    }

    /// The hook the layer exposes to `langfuse_tracing_core::score`.
    pub(crate) fn score_hook(&self) -> Option<&ScoreHook> {
        self.scores.as_ref().map(Scores::hook)
    }

    /// Waits for the scores (the second half of `flush()`).
    /// (Media uploads are waited for first, since a score may follow an upload.)
    pub(crate) fn flush_scores(&self) -> Result<(), ExportError> {
        self.flush_media_bounded()?;
        self.scores.as_ref().map_or(Ok(()), Scores::flush)
    }

    fn flush_media_bounded(&self) -> Result<(), ExportError> {
        let timeout = self
            .scores
            .as_ref()
            .map_or(Duration::from_secs(5), |s| s.inner.timeout * 3);
        if self.flush_media(timeout) {
            Ok(())
        } else {
            Err(ExportError::Timeout)
        }
    }

    /// Stops the score queue (the second half of `shutdown()`).
    pub(crate) fn shutdown_scores(&self) -> Result<(), ExportError> {
        let media = self.flush_media_bounded();
        self.scores
            .as_ref()
            .map_or(Ok(()), Scores::shutdown)
            .and(media)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, len: usize) -> Item {
        Item {
            id: id.to_owned(),
            json: vec![b'x'; len],
        }
    }

    #[test]
    fn batches_hold_fifteen_scores_and_a_million_bytes() {
        let mut q: VecDeque<Item> = (0..40).map(|i| item(&i.to_string(), 10)).collect();
        assert_eq!(take_batch(&mut q).len(), 15);
        let mut q: VecDeque<Item> = (0..5).map(|i| item(&i.to_string(), 400_000)).collect();
        assert_eq!(take_batch(&mut q).len(), 2);
        assert_eq!(q.len(), 3);
    }

    #[test]
    fn rejected_items_of_a_207_are_found_by_id_or_index() {
        let batch = [item("a", 1), item("b", 1)];
        let r = rejected_items(
            br#"{"successes":[{"id":"a","status":201}],"errors":[{"id":"b","status":400,"message":"bad value"}]}"#,
            &batch,
        )
        .unwrap();
        assert_eq!(r, [("b".to_owned(), "bad value".to_owned())]);
        let r = rejected_items(br#"{"rejected":[{"index":0,"error":"x"}]}"#, &batch).unwrap();
        assert_eq!(r, [("a".to_owned(), "x".to_owned())]);
        assert!(rejected_items(b"{\"accepted\":2}", &batch).is_none());
    }
}
