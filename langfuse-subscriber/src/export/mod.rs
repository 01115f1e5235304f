//! The export pipeline: a bounded in-memory queue, one worker thread, and a destination
//! (Langfuse over OTLP/HTTP, any OpenTelemetry `SpanExporter`, or the console).
//!
//! Closing a span moves its state into the [`Outbox`] under a byte budget; the worker
//! sleeps until a batch is full, the flush interval passes or a flush is asked for, so
//! producers never pay for a wake-up per observation. Everything else (grouping, OTLP
//! encoding, gzip, HTTP, retries) happens on the worker thread. The worker owns a
//! blocking HTTP client, so export works the same from a plain `main`, a multi-thread
//! Tokio runtime or a current-thread one.
//!
//! Along the data path: [`Pipeline::submit`] (here: the byte budget, drop accounting,
//! flush and shutdown requests, the registry of every pipeline) → [`outbox`] →
//! [`worker`] → a [`destination`]. [`handle`] is what the user holds.

pub(crate) mod destination;
mod error;
mod handle;
mod outbox;
pub(crate) mod shutdown_once;
mod worker;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use langfuse_tracing_core::__layer::state::ObservationState;
use opentelemetry_sdk::Resource;

use crate::config::{ConfigError, LangfuseConfig};
use crate::console::ConsoleDestination;
use crate::convert::Converter;
use crate::otlp::OtlpDestination;
use destination::Tee;
use outbox::Outbox;
use worker::{lock, lose_queued, InHand, Msg, Worker};

/// The layer hands a custom destination to [`Pipeline::start`].
pub(crate) use destination::BoxedDestination;
pub use error::ExportError;
pub use handle::{flush, shutdown, LangfuseHandle};

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
    /// Observations started and not yet finished (submitted or discarded): at shutdown,
    /// these can no longer be sent, and the user is told how many.
    open: AtomicUsize,
    shutdown_once: shutdown_once::ShutdownOnce,
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

/// Every pipeline of the process, for the global [`flush`] and [`shutdown`].
static PIPELINES: Mutex<Vec<Weak<Pipeline>>> = Mutex::new(Vec::new());

impl Pipeline {
    /// Builds the destination on a new worker thread and starts it.
    pub(crate) fn start(
        config: &LangfuseConfig,
        custom: Option<BoxedDestination>,
        media: Option<Arc<crate::media::Uploader>>,
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
                    media,
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
            open: AtomicUsize::new(0),
            shutdown_once: shutdown_once::ShutdownOnce::default(),
            timeout: config.timeout,
            worker: Mutex::new(Some(worker)),
        });
        if let Ok(mut all) = PIPELINES.lock() {
            all.retain(|w| w.strong_count() > 0);
            all.push(Arc::downgrade(&pipeline));
        }
        Ok(pipeline)
    }

    /// Counts an observation started (`state.counted_open` records it).
    #[inline]
    pub(crate) fn opened(&self, state: &mut ObservationState) {
        self.open.fetch_add(1, Ordering::Relaxed);
        state.counted_open = true;
    }

    /// Takes an observation out of the open count, once (submitted or discarded).
    #[inline]
    pub(crate) fn finished(&self, state: &mut ObservationState) {
        if std::mem::take(&mut state.counted_open) {
            self.open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Observations started and not finished.
    pub(crate) fn open_observations(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Queues one finished observation, or drops and counts it when the byte budget is spent.
    #[inline]
    pub(crate) fn submit(&self, mut state: Box<ObservationState>, size: usize) {
        self.finished(&mut state);
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
        // Counted before the push: the worker may take the observation and subtract it
        // before this thread runs again, and the count must never go below zero.
        let pending = self.pending.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if !self.outbox.push(state, size) {
            self.pending.fetch_sub(1, Ordering::Relaxed);
            self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            self.drop_one(DropReason::Stopped, size);
            return;
        }
        // The worker sleeps until a batch is full, the flush interval passes, or a
        // flush is requested: no wake-up (a futex syscall) per observation.
        if pending == self.flush_at {
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
            DropReason::ShutDown => "the exporter is shut down (was the guard of `init()` or \
                `layer()` dropped early, as `let _ = init()` does? keep it in a named binding \
                until the end of `main`)"
                .to_owned(),
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
        stderr_line!("langfuse: dropping observations: {why}; the count is in LangfuseHandle::dropped_observations()");
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
        self.shutdown_once.run(|| {
            self.shut_down.store(true, Ordering::SeqCst);
            let result = self.shut_down_now();
            let open = self.open_observations();
            if open > 0 {
                stderr_line!(
                    "langfuse: {open} observation(s) were still open at shutdown (a span or \
                     handle not yet closed or ended, for example in a task still running): \
                     they are not sent; LangfuseHandle::open_observations() tells"
                );
            }
            result
        })
    }

    fn shut_down_now(&self) -> Result<(), ExportError> {
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
        // The layer and every handle are gone, so no `shutdown()` can reach this
        // pipeline any more (the global one included): shut it down here, bounded by
        // the timeout, so that what was observed is delivered or counted, as dropping
        // an OpenTelemetry tracer provider does. Not on the export thread itself (a
        // destination holding the last handle), which would wait for itself.
        if std::thread::current().id() != self.worker_thread.id() {
            let _ = self.shutdown();
        } else {
            self.worker_thread.unpark();
        }
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

/// Runs `f` on every pipeline of the process (for the global [`flush`] and
/// [`shutdown`]); the last error wins.
fn for_each_pipeline(f: fn(&Pipeline) -> Result<(), ExportError>) -> Result<(), ExportError> {
    let pipelines: Vec<Arc<Pipeline>> = match PIPELINES.lock() {
        Ok(all) => all.iter().filter_map(Weak::upgrade).collect(),
        Err(_) => Vec::new(),
    };
    let mut result = Ok(());
    for p in pipelines {
        // One being shut down (by its handle, on another thread): wait for that
        // shutdown and take its result, rather than return before its counts are final.
        let r = if p.shut_down.load(Ordering::SeqCst) {
            p.shutdown()
        } else {
            f(&p)
        };
        if let Err(e) = r {
            result = Err(e);
        }
    }
    result
}

/// The destination of one pipeline: the console, a custom exporter or Langfuse, or
/// the console and one of the others through a [`Tee`]. Runs on the worker thread.
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
        parts.push(Box::new(OtlpDestination::new(config, &resource)?));
    }
    Ok(match parts.len() {
        1 => parts.pop().unwrap_or_else(|| Box::new(Tee(Vec::new()))),
        _ => Box::new(Tee(parts)),
    })
}

/// The OpenTelemetry resource every destination sends: environment and release.
pub(crate) fn resource(config: &LangfuseConfig) -> Resource {
    use opentelemetry::KeyValue;
    let mut attrs = Vec::new();
    if let Some(env) = &config.environment {
        attrs.push(KeyValue::new(
            langfuse_tracing_core::attributes::ENVIRONMENT,
            env.clone(),
        ));
    }
    if let Some(release) = &config.release {
        attrs.push(KeyValue::new(
            langfuse_tracing_core::attributes::RELEASE,
            release.clone(),
        ));
    }
    Resource::builder().with_attributes(attrs).build()
}
