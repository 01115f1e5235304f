//! The export thread: takes closed observations from the [`Outbox`], groups them into
//! batches of `flush_at` (or `max_request_bytes`), and hands each batch to the
//! destination when it is full, when the flush interval passes, or when a flush or
//! shutdown is asked for. It also settles the count of what could not be delivered.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use langfuse_tracing_core::__layer::state::Batch;

use super::destination::{BoxedDestination, Undelivered};
use super::error::ExportError;
use super::outbox::Outbox;

/// The observations the export thread has taken from the queue and not yet settled
/// (delivered, or counted as dropped). When `shutdown()` gives up waiting, it counts
/// them as dropped and marks the pipeline abandoned, so the export thread, still busy
/// with its request, does not count them a second time: after `shutdown()` returns,
/// delivered + dropped = created, whatever the endpoint does.
#[derive(Debug, Default)]
pub(super) struct InHand {
    pub(super) count: usize,
    pub(super) abandoned: bool,
}

/// Requests to the worker (observations go through the [`Outbox`]).
pub(super) enum Msg {
    Flush(SyncSender<Result<(), ExportError>>),
    Shutdown(SyncSender<Result<(), ExportError>>),
}

/// A lock that a panic elsewhere cannot make unusable (the data are plain counters).
pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Closes the outbox and counts what it still holds as lost.
pub(super) fn lose_queued(
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

/// The export thread's state; [`Worker::run`] is its whole life.
pub(super) struct Worker {
    pub(super) rx: Receiver<Msg>,
    pub(super) outbox: Arc<Outbox>,
    pub(super) destination: BoxedDestination,
    pub(super) queued_bytes: Arc<AtomicUsize>,
    pub(super) pending: Arc<AtomicUsize>,
    /// Observations in batches the destination failed to take (counted as dropped).
    pub(super) dropped: Arc<AtomicU64>,
    pub(super) in_hand: Arc<Mutex<InHand>>,
    /// The first export failure since the last `flush()` or `shutdown()` was answered:
    /// a batch sent because it was full can fail before the flush is asked for, and
    /// the flush must still report it.
    pub(super) failed_since_reply: Option<String>,
    pub(super) flush_at: usize,
    pub(super) flush_interval: Duration,
    pub(super) max_request_bytes: usize,
    pub(super) debug: bool,
    /// Replaces the media in each observation before it is sent (automatic media
    /// handling, when on): here rather than in the layer, so the application's
    /// threads never scan values for media.
    pub(super) media: Option<Arc<crate::media::Uploader>>,
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

    pub(super) fn run(mut self) {
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
                for (mut state, size) in states.drain(..) {
                    if let Some(uploader) = &self.media {
                        crate::media::replace_in_state(uploader, &mut state);
                    }
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
        if lock(&self.in_hand).abandoned {
            // `shutdown()` timed out and counted everything this thread held as
            // dropped: nothing more is sent, or it would be delivered and counted as
            // dropped both.
            langfuse_tracing_core::__layer::recycle::give_back_observations(batch);
            return Err(ExportError::ShutDown);
        }
        // A destination may be the user's exporter: a panic in it fails this batch
        // (counted) and leaves the export thread running, rather than ending it with
        // the counts and the answers to waiting flushes still unsettled.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.destination.export(batch)
        }))
        .unwrap_or_else(|_| {
            Err(Undelivered {
                lost: n,
                reason: "the exporter panicked".to_owned(),
            })
        });
        let abandoned = {
            let mut in_hand = lock(&self.in_hand);
            in_hand.count = in_hand.count.saturating_sub(n);
            in_hand.abandoned
        };
        // Whatever a destination left is not sent again; the states are reused.
        langfuse_tracing_core::__layer::recycle::give_back_observations(batch);
        if batch.capacity() > self.flush_at.max(64).saturating_mul(4) {
            // One large flush does not pin its memory for the rest of the process.
            batch.shrink_to(self.flush_at);
        }
        if abandoned {
            // Sent while `shutdown()` timed out, which counted this batch as dropped
            // then: what the destination took after all is taken out of that count,
            // so delivered + dropped stays exact.
            let lost = match &result {
                Ok(()) => 0,
                Err(Undelivered { lost, .. }) => *lost,
            };
            self.dropped
                .fetch_sub(n.saturating_sub(lost) as u64, Ordering::Relaxed);
        }
        match result {
            Ok(()) => {
                if self.debug {
                    stderr_line!("langfuse: {}", self.destination.exported(n));
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
                    stderr_line!("langfuse: export of {lost} of {n} observations failed: {reason}");
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
