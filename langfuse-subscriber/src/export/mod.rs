//! The export pipeline: a bounded in-memory queue, one worker thread, and a destination
//! (Langfuse over OTLP/HTTP, any OpenTelemetry `SpanExporter`, or the console).
//!
//! Closing a span moves its state into the [`Outbox`] under a byte budget; the worker
//! sleeps until a batch is full, the flush interval passes or a flush is asked for, so
//! producers never pay for a wake-up per observation. Everything else (grouping, OTLP
//! encoding, gzip, HTTP, retries) happens on the worker thread. The worker owns a
//! blocking HTTP client, so export works the same from a plain `main`, a multi-thread
//! Tokio runtime or a current-thread one.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use langfuse_core::state::{Batch, ObservationState};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

use crate::config::{ConfigError, LangfuseConfig};
use crate::console::ConsoleDestination;
use crate::convert::Converter;
use crate::otlp::OtlpDestination;
use crate::outbox::Outbox;

/// Why a flush or shutdown did not complete.
///
/// ```
/// let e = langfuse_subscriber::ExportError::Timeout;
/// assert!(e.to_string().contains("timed out"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportError {
    /// The export did not finish within the configured timeout.
    Timeout,
    /// The collector rejected or failed the export (the message names the reason).
    Failed(String),
    /// The pipeline was already shut down.
    ShutDown,
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Timeout => f.write_str("langfuse export timed out"),
            ExportError::Failed(m) => write!(f, "langfuse export failed: {m}"),
            ExportError::ShutDown => f.write_str("langfuse export was already shut down"),
        }
    }
}

impl std::error::Error for ExportError {}

/// What a destination could not deliver of one batch: how many observations, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Undelivered {
    pub(crate) lost: usize,
    pub(crate) reason: String,
}

/// Where finished observations go; runs on the worker thread only.
pub(crate) trait Destination: Send + fmt::Debug {
    /// Sends one batch; on failure, says how much of it was lost (a destination that
    /// sends a batch in parts may lose only some). What it leaves in `batch` goes back
    /// to `recycle`, and the worker reuses the vector.
    fn export(&mut self, batch: &mut Batch) -> Result<(), Undelivered>;
    /// Called after the last export.
    fn shutdown(&mut self) {}
    /// The exporter-backed destination, to give it the scope and resource.
    fn configurable(&mut self) -> Option<&mut dyn ConfigureDestination> {
        None
    }
}

pub(crate) type BoxedDestination = Box<dyn Destination>;

/// Any OpenTelemetry `SpanExporter` (a user's; Langfuse itself goes through `otlp.rs`).
pub(crate) struct ExporterDestination<E> {
    exporter: E,
    converter: Option<Converter>,
}

impl<E> fmt::Debug for ExporterDestination<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ExporterDestination")
    }
}

impl<E: SpanExporter> ExporterDestination<E> {
    pub(crate) fn new(exporter: E) -> Self {
        ExporterDestination {
            exporter,
            converter: None,
        }
    }
}

/// Type-erased access to set up the converter once the config is known.
pub(crate) trait ConfigureDestination {
    fn configure(&mut self, converter: Converter, resource: &Resource);
}

impl<E: SpanExporter> ConfigureDestination for ExporterDestination<E> {
    fn configure(&mut self, converter: Converter, resource: &Resource) {
        self.exporter.set_resource(resource);
        self.converter = Some(converter);
    }
}

impl<E: SpanExporter + 'static> Destination for ExporterDestination<E> {
    fn export(&mut self, batch: &mut Batch) -> Result<(), Undelivered> {
        let converter = self.converter.get_or_insert_with(Converter::default);
        let lost = batch.len();
        // The attributes are copies: the states and their buffers go back to
        // `recycle` for new observations instead of being freed here.
        let spans: Vec<SpanData> = batch.iter_mut().map(|s| converter.convert(s)).collect();
        langfuse_core::recycle::give_back_observations(batch);
        futures_executor::block_on(self.exporter.export(spans)).map_err(|e| Undelivered {
            lost,
            reason: e.to_string(),
        })
    }

    fn shutdown(&mut self) {
        let _ = self.exporter.shutdown();
    }

    fn configurable(&mut self) -> Option<&mut dyn ConfigureDestination> {
        Some(self)
    }
}

/// Sends to several destinations (console and Langfuse at once).
#[derive(Debug)]
struct Tee(Vec<BoxedDestination>);

impl Destination for Tee {
    fn export(&mut self, batch: &mut Batch) -> Result<(), Undelivered> {
        let mut result: Result<(), Undelivered> = Ok(());
        let n = self.0.len();
        for (i, d) in self.0.iter_mut().enumerate() {
            // The last destination takes the batch; the others get a copy.
            let sent = if i + 1 == n {
                d.export(batch)
            } else {
                d.export(&mut batch.clone())
            };
            if let Err(e) = sent {
                // Lost is what the worst destination lost.
                let lost = result.as_ref().err().map_or(0, |r| r.lost).max(e.lost);
                result = Err(Undelivered { lost, ..e });
            }
        }
        result
    }
    fn shutdown(&mut self) {
        for d in &mut self.0 {
            d.shutdown();
        }
    }
}

/// The observations the export thread has taken from the queue and not yet settled
/// (delivered, or counted as dropped). When `shutdown()` gives up waiting, it counts
/// them as dropped and marks the pipeline abandoned, so the export thread, still busy
/// with its request, does not count them a second time: after `shutdown()` returns,
/// delivered + dropped = created, whatever the endpoint does.
#[derive(Debug, Default)]
struct InHand {
    count: usize,
    abandoned: bool,
}

/// Requests to the worker (observations go through the [`Outbox`]).
enum Msg {
    Flush(SyncSender<Result<(), ExportError>>),
    Shutdown(SyncSender<Result<(), ExportError>>),
}

/// The queue and the worker thread behind one layer.
pub(crate) struct Pipeline {
    tx: Mutex<Option<Sender<Msg>>>,
    outbox: Arc<Outbox>,
    queued_bytes: Arc<AtomicUsize>,
    /// Spans sent but not yet taken by the worker; reaching `flush_at` wakes it.
    pending: Arc<AtomicUsize>,
    flush_at: usize,
    worker_thread: std::thread::Thread,
    max_queue_bytes: usize,
    /// How long `submit` waits for room in a full queue (zero: it drops at once).
    queue_full_wait: Duration,
    dropped: Arc<AtomicU64>,
    in_hand: Arc<Mutex<InHand>>,
    /// The reasons already reported on stderr (one line each, not one per observation).
    warned: Mutex<Vec<&'static str>>,
    shut_down: AtomicBool,
    timeout: Duration,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("queued_bytes", &self.queued_bytes.load(Ordering::Relaxed))
            .field("dropped", &self.dropped.load(Ordering::Relaxed))
            .finish()
    }
}

static PIPELINES: Mutex<Vec<Weak<Pipeline>>> = Mutex::new(Vec::new());

impl Pipeline {
    /// Builds the destination on a new worker thread and starts it.
    pub(crate) fn start(
        config: &LangfuseConfig,
        custom: Option<BoxedDestination>,
    ) -> Result<Arc<Pipeline>, ConfigError> {
        let (tx, rx) = mpsc::channel::<Msg>();
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<(), ConfigError>>(1);
        let worker_config = config.clone();
        let worker_queued = queued_bytes.clone();
        let pending = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicU64::new(0));
        let worker_dropped = dropped.clone();
        let in_hand = Arc::new(Mutex::new(InHand::default()));
        let worker_in_hand = in_hand.clone();
        let worker_pending = pending.clone();
        let outbox = Arc::new(Outbox::for_this_machine());
        let worker_outbox = outbox.clone();
        let worker = std::thread::Builder::new()
            .name("langfuse-export".into())
            .spawn(move || {
                let destination = match build_destination(&worker_config, custom) {
                    Ok(d) => {
                        let _ = ready_tx.send(Ok(()));
                        d
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                Worker {
                    rx,
                    outbox: worker_outbox,
                    destination,
                    queued_bytes: worker_queued,
                    pending: worker_pending,
                    dropped: worker_dropped,
                    in_hand: worker_in_hand,
                    failed_since_reply: None,
                    flush_at: worker_config.flush_at,
                    flush_interval: worker_config.flush_interval,
                    max_request_bytes: worker_config.max_request_bytes,
                    debug: worker_config.debug,
                }
                .run();
            })
            .map_err(|e| {
                ConfigError::other("export", format!("cannot start the export thread: {e}"))
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(ConfigError::other(
                    "export",
                    "the export thread stopped while starting",
                ))
            }
        }
        let worker_thread = worker.thread().clone();
        let pipeline = Arc::new(Pipeline {
            tx: Mutex::new(Some(tx)),
            outbox,
            queued_bytes,
            pending,
            flush_at: config.flush_at,
            worker_thread,
            max_queue_bytes: config.max_queue_bytes,
            queue_full_wait: config.queue_full_wait,
            dropped,
            in_hand,
            warned: Mutex::new(Vec::new()),
            shut_down: AtomicBool::new(false),
            timeout: config.timeout,
            worker: Mutex::new(Some(worker)),
        });
        if let Ok(mut all) = PIPELINES.lock() {
            all.retain(|w| w.strong_count() > 0);
            all.push(Arc::downgrade(&pipeline));
        }
        Ok(pipeline)
    }

    /// Queues one finished observation, or drops and counts it when the byte budget is spent.
    #[inline]
    pub(crate) fn submit(&self, state: Box<ObservationState>, size: usize) {
        if self.shut_down.load(Ordering::Relaxed) {
            self.drop_one(DropReason::ShutDown, size);
            return;
        }
        if size > self.max_queue_bytes {
            self.drop_one(DropReason::TooLarge, size);
            return;
        }
        if !self.reserve(size) && !self.wait_for_room(size) {
            self.drop_one(DropReason::QueueFull, size);
            return;
        }
        if !self.outbox.push(state, size) {
            self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            self.drop_one(DropReason::Stopped, size);
            return;
        }
        // The worker sleeps until a batch is full, the flush interval passes, or a
        // flush is requested: no wake-up (a futex syscall) per observation.
        if self.pending.fetch_add(1, Ordering::Relaxed) + 1 == self.flush_at {
            self.worker_thread.unpark();
        }
    }

    /// Counts `size` bytes against the queue's budget; false (and nothing counted)
    /// when they do not fit.
    #[inline]
    fn reserve(&self, size: usize) -> bool {
        let before = self.queued_bytes.fetch_add(size, Ordering::Relaxed);
        if before + size > self.max_queue_bytes {
            self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// The queue is full: with a `queue_full_wait`, wakes the export thread and waits
    /// up to that long for `size` bytes of room; true once they are reserved.
    #[cold]
    fn wait_for_room(&self, size: usize) -> bool {
        if self.queue_full_wait.is_zero() || std::thread::current().id() == self.worker_thread.id()
        {
            return false;
        }
        // `None`: longer than `Instant` can count, so as long as the worker runs.
        let deadline = Instant::now().checked_add(self.queue_full_wait);
        let mut pause = Duration::from_micros(20);
        loop {
            // The worker frees the budget as it takes observations from the queue,
            // before it sends them.
            self.worker_thread.unpark();
            std::thread::sleep(pause);
            if self.shut_down.load(Ordering::Relaxed) || self.worker_finished() {
                return false;
            }
            if self.reserve(size) {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            pause = (pause * 2).min(Duration::from_millis(5));
        }
    }

    /// True once the export thread has stopped (for example after a panic in a custom
    /// exporter): nothing will make room any more. Never waits for the lock: a
    /// `shutdown()` holding it while it joins the thread has set `shut_down` first.
    fn worker_finished(&self) -> bool {
        match self.worker.try_lock() {
            Ok(worker) => worker.as_ref().is_none_or(|w| w.is_finished()),
            Err(std::sync::TryLockError::WouldBlock) => false,
            Err(std::sync::TryLockError::Poisoned(_)) => true,
        }
    }

    #[cold]
    fn drop_one(&self, why: DropReason, size: usize) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        let key = why.key();
        let mut warned = match self.warned.lock() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        };
        if warned.contains(&key) {
            return;
        }
        warned.push(key);
        drop(warned);
        let why = match why {
            DropReason::ShutDown => "the exporter is shut down".to_owned(),
            DropReason::QueueFull => "the export queue is full (raise max_queue_bytes, or set \
                queue_full_wait to wait for room)"
                .to_owned(),
            DropReason::TooLarge => format!(
                "an observation of {size} bytes is larger than the whole export queue \
                 (max_queue_bytes is {} bytes); trim its input, output or metadata",
                self.max_queue_bytes
            ),
            DropReason::Stopped => "the export thread has stopped".to_owned(),
        };
        eprintln!("langfuse: dropping observations: {why}; the count is in LangfuseHandle::dropped_observations()");
    }

    fn request(
        &self,
        make: fn(SyncSender<Result<(), ExportError>>) -> Msg,
    ) -> Result<(), ExportError> {
        let tx = match self.tx.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let Some(tx) = tx else {
            return Err(ExportError::ShutDown);
        };
        let (reply_tx, reply_rx) = mpsc::sync_channel(1);
        if tx.send(make(reply_tx)).is_err() {
            return Err(ExportError::ShutDown);
        }
        self.worker_thread.unpark();
        // The worker bounds each HTTP request by `timeout`; allow a little for the rest.
        match reply_rx.recv_timeout(self.timeout + Duration::from_millis(500)) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => Err(ExportError::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(ExportError::ShutDown),
        }
    }

    pub(crate) fn flush(&self) -> Result<(), ExportError> {
        self.request(Msg::Flush)
    }

    pub(crate) fn shutdown(&self) -> Result<(), ExportError> {
        if self.shut_down.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let result = self.request(Msg::Shutdown);
        if result == Err(ExportError::Timeout) {
            // What the export thread holds will not be confirmed before the process
            // ends: count it as lost now (the thread, when its request returns, counts
            // nothing more). Whatever still waits in the queue is taken out (so the
            // worker cannot count it again) and counted too, rather than lost silently.
            {
                let mut in_hand = lock(&self.in_hand);
                in_hand.abandoned = true;
                let n = std::mem::take(&mut in_hand.count);
                self.dropped.fetch_add(n as u64, Ordering::Relaxed);
            }
            lose_queued(
                &self.outbox,
                &self.dropped,
                &self.pending,
                &self.queued_bytes,
            );
        }
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        // Join only if the worker is done; never hang shutdown on a stuck export.
        if result.is_ok() {
            if let Ok(mut worker) = self.worker.lock() {
                if let Some(handle) = worker.take() {
                    let _ = handle.join();
                }
            }
        }
        result
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        // The sender goes away with us: let the worker see it now, export what is
        // left and stop, instead of at the end of its flush interval.
        self.worker_thread.unpark();
    }
}

/// Why `submit` dropped an observation (each reason is reported once).
#[derive(Clone, Copy)]
enum DropReason {
    ShutDown,
    QueueFull,
    TooLarge,
    Stopped,
}

impl DropReason {
    fn key(self) -> &'static str {
        match self {
            DropReason::ShutDown => "shut down",
            DropReason::QueueFull => "queue full",
            DropReason::TooLarge => "too large",
            DropReason::Stopped => "stopped",
        }
    }
}

/// A lock that a panic elsewhere cannot make unusable (the data are plain counters).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Closes the outbox and counts what it still holds as lost.
fn lose_queued(
    outbox: &Outbox,
    dropped: &AtomicU64,
    pending: &AtomicUsize,
    queued_bytes: &AtomicUsize,
) {
    let mut bytes = 0;
    let n = outbox.take_each(&mut VecDeque::new(), usize::MAX, true, |states| {
        bytes += states.drain(..).map(|(_, size)| size).sum::<usize>();
    });
    if n > 0 {
        dropped.fetch_add(n as u64, Ordering::Relaxed);
        pending.fetch_sub(n, Ordering::Relaxed);
        queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }
}

struct Worker {
    rx: Receiver<Msg>,
    outbox: Arc<Outbox>,
    destination: BoxedDestination,
    queued_bytes: Arc<AtomicUsize>,
    pending: Arc<AtomicUsize>,
    /// Observations in batches the destination failed to take (counted as dropped).
    dropped: Arc<AtomicU64>,
    in_hand: Arc<Mutex<InHand>>,
    /// The first export failure since the last `flush()` or `shutdown()` was answered:
    /// a batch sent because it was full can fail before the flush is asked for, and
    /// the flush must still report it.
    failed_since_reply: Option<String>,
    flush_at: usize,
    flush_interval: Duration,
    max_request_bytes: usize,
    debug: bool,
}

impl Drop for Worker {
    fn drop(&mut self) {
        // After a normal stop the outbox is closed and empty. After a panic in a
        // destination, what is left is counted as lost and later observations are
        // refused (and counted) instead of piling up; so is the batch it held.
        {
            let mut in_hand = lock(&self.in_hand);
            if !in_hand.abandoned {
                let n = std::mem::take(&mut in_hand.count);
                self.dropped.fetch_add(n as u64, Ordering::Relaxed);
                in_hand.abandoned = true;
            }
        }
        lose_queued(
            &self.outbox,
            &self.dropped,
            &self.pending,
            &self.queued_bytes,
        );
    }
}

impl Worker {
    /// The answer to a flush or shutdown: `result` of its own send, or the first
    /// failure since the previous answer.
    fn since_last_reply(&mut self, result: Result<(), ExportError>) -> Result<(), ExportError> {
        let earlier = self.failed_since_reply.take();
        result.and(earlier.map_or(Ok(()), |reason| Err(ExportError::Failed(reason))))
    }

    fn run(mut self) {
        let mut batch: Batch = Vec::new();
        let mut batch_bytes = 0usize;
        let mut spare = VecDeque::new();
        let outbox = Arc::clone(&self.outbox);
        let mut deadline = Instant::now() + self.flush_interval;
        let mut last_error: Option<String> = None;
        loop {
            // The request first, then the observations: a flush then covers every
            // observation closed before it was asked for.
            let msg = self.rx.try_recv();
            let stop = matches!(msg, Ok(Msg::Shutdown(_)) | Err(TryRecvError::Disconnected));
            let mut sent = false;
            outbox.take_each(&mut spare, self.flush_at, stop, |states| {
                // Out of the queue's budget now, before the sends below: producers
                // are not refused while the export thread waits on the network.
                let chunk_bytes: usize = states.iter().map(|(_, size)| size).sum();
                self.queued_bytes.fetch_sub(chunk_bytes, Ordering::Relaxed);
                self.pending.fetch_sub(states.len(), Ordering::Relaxed);
                {
                    let mut in_hand = lock(&self.in_hand);
                    if in_hand.abandoned {
                        // `shutdown()` gave up on this thread: nothing more is sent.
                        self.dropped
                            .fetch_add(states.len() as u64, Ordering::Relaxed);
                        states.clear();
                        return;
                    }
                    in_hand.count += states.len();
                }
                for (state, size) in states.drain(..) {
                    batch_bytes += size;
                    batch.push(state);
                    if batch.len() >= self.flush_at || batch_bytes >= self.max_request_bytes {
                        let _ = self.send(&mut batch, &mut last_error);
                        batch_bytes = 0;
                        deadline = Instant::now() + self.flush_interval;
                        sent = true;
                    }
                }
            });
            match msg {
                Ok(Msg::Flush(reply)) => {
                    let r = self.send(&mut batch, &mut last_error);
                    batch_bytes = 0;
                    let _ = reply.send(self.since_last_reply(r));
                    continue;
                }
                Ok(Msg::Shutdown(reply)) => {
                    let r = self.send(&mut batch, &mut last_error);
                    let r = self.since_last_reply(r);
                    self.destination.shutdown();
                    let _ = reply.send(r);
                    return;
                }
                Err(TryRecvError::Disconnected) => {
                    let _ = self.send(&mut batch, &mut last_error);
                    self.destination.shutdown();
                    return;
                }
                Err(TryRecvError::Empty) => {}
            }
            if sent {
                // The HTTP client parks this thread while it waits, which can swallow
                // a wake-up meant for the loop: look for requests again before sleeping.
                continue;
            }
            let now = Instant::now();
            if now >= deadline {
                let _ = self.send(&mut batch, &mut last_error);
                batch_bytes = 0;
                deadline = now + self.flush_interval;
                continue;
            }
            std::thread::park_timeout(deadline - now);
        }
    }

    fn send(
        &mut self,
        batch: &mut Batch,
        last_error: &mut Option<String>,
    ) -> Result<(), ExportError> {
        if batch.is_empty() {
            return Ok(());
        }
        let n = batch.len();
        let result = self.destination.export(batch);
        let abandoned = {
            let mut in_hand = lock(&self.in_hand);
            in_hand.count = in_hand.count.saturating_sub(n);
            in_hand.abandoned
        };
        // Whatever a destination left is not sent again; the states are reused.
        langfuse_core::recycle::give_back_observations(batch);
        if batch.capacity() > 4 * self.flush_at.max(64) {
            // One large flush does not pin its memory for the rest of the process.
            batch.shrink_to(self.flush_at);
        }
        match result {
            Ok(()) => {
                if self.debug {
                    eprintln!("langfuse: exported {n} observations");
                }
                *last_error = None;
                Ok(())
            }
            Err(Undelivered { lost, reason }) => {
                if !abandoned {
                    // Once abandoned, `shutdown()` counted this batch already.
                    self.dropped.fetch_add(lost as u64, Ordering::Relaxed);
                }
                // One line per kind of failure, not one per batch: two failures differing
                // only in their figures (sizes, counts) are the same kind.
                let kind: String = reason.chars().filter(|c| !c.is_ascii_digit()).collect();
                if self.debug || last_error.as_deref() != Some(kind.as_str()) {
                    eprintln!("langfuse: export of {lost} of {n} observations failed: {reason}");
                }
                *last_error = Some(kind);
                if self.failed_since_reply.is_none() {
                    self.failed_since_reply = Some(reason.clone());
                }
                Err(ExportError::Failed(reason))
            }
        }
    }
}

fn build_destination(
    config: &LangfuseConfig,
    custom: Option<BoxedDestination>,
) -> Result<BoxedDestination, ConfigError> {
    let resource = resource(config);
    let mut parts: Vec<BoxedDestination> = Vec::new();
    if config.console_enabled() {
        parts.push(Box::new(ConsoleDestination::new(
            config.environment.clone(),
        )));
    }
    if let Some(mut custom) = custom {
        // Custom exporters get the same scope and resource as the OTLP one.
        if let Some(c) = custom.configurable() {
            c.configure(Converter::new(config), &resource);
        }
        parts.push(custom);
    } else if config.has_credentials() {
        parts.push(Box::new(otlp_destination(config, &resource)?));
    }
    Ok(match parts.len() {
        1 => parts.pop().unwrap_or_else(|| Box::new(Tee(Vec::new()))),
        _ => Box::new(Tee(parts)),
    })
}

pub(crate) fn resource(config: &LangfuseConfig) -> Resource {
    use opentelemetry::KeyValue;
    let mut attrs = Vec::new();
    if let Some(env) = &config.environment {
        attrs.push(KeyValue::new(
            langfuse_core::attributes::ENVIRONMENT,
            env.clone(),
        ));
    }
    if let Some(release) = &config.release {
        attrs.push(KeyValue::new(
            langfuse_core::attributes::RELEASE,
            release.clone(),
        ));
    }
    Resource::builder().with_attributes(attrs).build()
}

fn otlp_destination(
    config: &LangfuseConfig,
    resource: &Resource,
) -> Result<OtlpDestination, ConfigError> {
    OtlpDestination::new(config, resource)
}

/// Flushes and shuts down one layer's export. Cheap to clone; all clones share the
/// pipeline.
///
/// ```
/// let layer = langfuse_subscriber::LangfuseLayer::builder().console(false).build().unwrap();
/// let handle = layer.handle();
/// assert_eq!(handle.dropped_observations(), 0);
/// handle.shutdown().unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct LangfuseHandle {
    pipeline: Option<Arc<Pipeline>>,
    /// The score queue (see `scores.rs`).
    pub(crate) scores: Option<crate::scores::Scores>,
    /// The media uploader (see `media.rs`).
    pub(crate) media: Option<Arc<crate::media::Uploader>>,
}

impl LangfuseHandle {
    pub(crate) fn new(pipeline: Option<Arc<Pipeline>>) -> Self {
        LangfuseHandle {
            pipeline,
            scores: None,
            media: None,
        }
    }

    /// Blocks until every observation that ended before this call is exported, or the
    /// configured timeout passes. An error also reports an export that failed since the
    /// previous `flush()` (a batch sent because it was full); the lost observations are
    /// counted in [`dropped_observations`](Self::dropped_observations).
    ///
    /// ```
    /// # let handle = langfuse_subscriber::LangfuseLayer::builder().console(false).build().unwrap().handle();
    /// handle.flush().unwrap();
    /// # handle.shutdown().unwrap();
    /// ```
    pub fn flush(&self) -> Result<(), ExportError> {
        let spans = match &self.pipeline {
            Some(p) => p.flush(),
            None => Ok(()),
        };
        spans.and(self.flush_scores())
    }

    /// Flushes, then stops the export thread. Later observations are dropped (and
    /// counted). Calling it again does nothing.
    ///
    /// ```
    /// # let handle = langfuse_subscriber::LangfuseLayer::builder().console(false).build().unwrap().handle();
    /// handle.shutdown().unwrap();
    /// handle.shutdown().unwrap();
    /// ```
    pub fn shutdown(&self) -> Result<(), ExportError> {
        let spans = match &self.pipeline {
            Some(p) => p.shutdown(),
            None => Ok(()),
        };
        spans.and(self.shutdown_scores())
    }

    /// How many observations were lost: the queue was full (and stayed full for the
    /// configured `queue_full_wait`, zero by default), export had stopped, or the
    /// collector failed the batch they were in (after the exporter's retries).
    ///
    /// ```
    /// # let handle = langfuse_subscriber::LangfuseLayer::builder().console(false).build().unwrap().handle();
    /// assert_eq!(handle.dropped_observations(), 0);
    /// # handle.shutdown().unwrap();
    /// ```
    pub fn dropped_observations(&self) -> u64 {
        self.pipeline
            .as_ref()
            .map_or(0, |p| p.dropped.load(Ordering::Relaxed))
    }
}

/// Flushes every Langfuse layer of this process (see [`LangfuseHandle::flush`]).
///
/// ```
/// langfuse_subscriber::flush().unwrap();
/// ```
pub fn flush() -> Result<(), ExportError> {
    for_each_pipeline(Pipeline::flush).and(crate::scores::flush_all())
}

/// Shuts down every Langfuse layer of this process (see [`LangfuseHandle::shutdown`]).
///
/// ```
/// langfuse_subscriber::shutdown().unwrap();
/// ```
pub fn shutdown() -> Result<(), ExportError> {
    for_each_pipeline(Pipeline::shutdown).and(crate::scores::shutdown_all())
}

fn for_each_pipeline(f: fn(&Pipeline) -> Result<(), ExportError>) -> Result<(), ExportError> {
    let pipelines: Vec<Arc<Pipeline>> = match PIPELINES.lock() {
        Ok(all) => all.iter().filter_map(Weak::upgrade).collect(),
        Err(_) => Vec::new(),
    };
    let mut result = Ok(());
    for p in pipelines {
        if p.shut_down.load(Ordering::Relaxed) {
            continue;
        }
        if let Err(e) = f(&p) {
            result = Err(e);
        }
    }
    result
}
