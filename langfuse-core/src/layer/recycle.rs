//! Reuses the memory of exported observations for new ones.
//!
//! An observation is built on the thread that makes the call and freed on the export
//! thread once sent. glibc's allocator handles that badly: every such block comes from
//! its slow path on the calling thread, and the export thread's frees contend for the
//! calling thread's arena. The exporter therefore hands emptied observations and their
//! input and output buffers back here, and new observations are built in them: the
//! memory goes round instead of being freed and allocated again. Boxed states also
//! move as one pointer from the span to the export queue instead of being copied.
//!
//! Bounded: at most [`MAX_POOLED`] buffers of at most [`MAX_KEPT_CAPACITY`] bytes and
//! [`MAX_POOLED`] states wait in the shared pools (at most about 3 MiB), plus a few
//! per thread; anything else is freed as usual.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread::LocalKey;

use crate::__layer::state::{Batch, ObservationState};

/// Larger buffers are freed rather than kept (they are rare and would inflate the
/// queue's byte count when reused for small values).
///
/// ```
/// use langfuse_tracing_core::__layer::recycle::{buffer, MAX_KEPT_CAPACITY};
/// assert!(buffer(0).capacity() <= MAX_KEPT_CAPACITY);
/// ```
pub const MAX_KEPT_CAPACITY: usize = 256;

/// Smaller buffers (a model name) are freed rather than kept: an input or output
/// written into one would first be moved to a larger block.
///
/// ```
/// use langfuse_tracing_core::__layer::recycle::MIN_KEPT_CAPACITY;
/// assert!(MIN_KEPT_CAPACITY >= 32);
/// ```
pub const MIN_KEPT_CAPACITY: usize = 64;

/// At most this many buffers, and as many states, wait in the shared pools. Several
/// export batches' worth (a batch of 512 observations gives back 1,024 buffers): with
/// room for one only, the pool overflowed and ran dry in turn as batches came back
/// (`BENCHMARKS.md`, "Decisions taken on measurements").
///
/// ```
/// use langfuse_tracing_core::__layer::recycle::{give_back, MAX_POOLED, MIN_KEPT_CAPACITY};
/// // Beyond the bound, buffers are simply freed.
/// give_back((0..2 * MAX_POOLED).map(|_| String::with_capacity(MIN_KEPT_CAPACITY)));
/// ```
pub const MAX_POOLED: usize = 4096;

/// How many items a thread takes from a shared pool at once.
const REFILL: usize = 32;

/// One shared pool, and how many items it holds, read without its lock: with nothing
/// pooled (no export yet, or everything is in use) a new item costs one relaxed load
/// more.
struct Pool<T> {
    items: Mutex<Vec<T>>,
    len: AtomicUsize,
}

impl<T> Pool<T> {
    const fn new() -> Self {
        Pool {
            items: Mutex::new(Vec::new()),
            len: AtomicUsize::new(0),
        }
    }

    /// An item from this thread's cache, refilled from the shared pool when empty.
    #[inline]
    fn take(&'static self, local: &'static LocalKey<RefCell<Vec<T>>>) -> Option<T> {
        local
            .try_with(|local| {
                let mut local = local.try_borrow_mut().ok()?;
                if local.is_empty() && self.len.load(Ordering::Relaxed) > 0 {
                    self.refill(&mut local);
                }
                local.pop()
            })
            .ok()
            .flatten()
    }

    /// Takes a few items from the shared pool; never waits for its lock. A thread
    /// that finds it busy allocates instead, from its own cache-warm heap: faster than
    /// waiting, or than emptying the items outside the lock so that it is rarely busy
    /// (`BENCHMARKS.md`, "Decisions taken on measurements").
    #[cold]
    fn refill(&self, local: &mut Vec<T>) {
        if let Ok(mut items) = self.items.try_lock() {
            let at = items.len().saturating_sub(REFILL);
            local.extend(items.drain(at..));
            self.len.store(items.len(), Ordering::Relaxed);
        }
    }

    /// Keeps the items `keep` accepts (after emptying them), up to [`MAX_POOLED`];
    /// the others are freed.
    fn give_back(&self, items: impl IntoIterator<Item = T>, mut keep: impl FnMut(&mut T) -> bool) {
        let mut pool = self.items.lock().unwrap_or_else(PoisonError::into_inner);
        for mut item in items {
            if pool.len() >= MAX_POOLED {
                break;
            }
            if keep(&mut item) {
                pool.push(item);
            }
        }
        self.len.store(pool.len(), Ordering::Relaxed);
    }
}

static BUFFERS: Pool<String> = Pool::new();
static STATES: Pool<Box<ObservationState>> = Pool::new();

thread_local! {
    static LOCAL_BUFFERS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static LOCAL_STATES: RefCell<Batch> = const { RefCell::new(Vec::new()) };
}

/// An empty string with room for at least `min_capacity` bytes, reusing a buffer
/// given back by the exporter when there is one. A new one has room for at least
/// [`MIN_KEPT_CAPACITY`] bytes: a short value written into it neither grows it on the
/// way nor keeps it from being reused afterwards.
///
/// ```
/// use langfuse_tracing_core::__layer::recycle::{buffer, MIN_KEPT_CAPACITY};
/// let s = buffer(16);
/// assert!(s.is_empty() && s.capacity() >= MIN_KEPT_CAPACITY);
/// ```
#[inline]
pub fn buffer(min_capacity: usize) -> String {
    match BUFFERS.take(&LOCAL_BUFFERS) {
        Some(mut s) => {
            s.reserve(min_capacity);
            s
        }
        None => String::with_capacity(min_capacity.max(MIN_KEPT_CAPACITY)),
    }
}

/// Gives emptied-to-be buffers back for reuse (the exporter, after encoding a batch).
/// Buffers under [`MIN_KEPT_CAPACITY`] or over [`MAX_KEPT_CAPACITY`], and any beyond
/// [`MAX_POOLED`], are freed.
///
/// ```
/// use langfuse_tracing_core::__layer::recycle::{buffer, give_back};
/// give_back(vec![String::with_capacity(100), String::with_capacity(8)]);
/// // The 100-byte buffer is reused; the 8-byte one was too small to keep.
/// assert!(buffer(8).capacity() >= 100);
/// ```
pub fn give_back(buffers: impl IntoIterator<Item = String>) {
    BUFFERS.give_back(buffers, |s| {
        s.clear();
        (MIN_KEPT_CAPACITY..=MAX_KEPT_CAPACITY).contains(&s.capacity())
    });
}

/// A boxed, empty state ([`ObservationState::EMPTY`]), reusing one given back by the
/// exporter when there is one.
///
/// ```
/// let s = langfuse_tracing_core::__layer::recycle::state();
/// assert_eq!(s.span_id, 0);
/// assert!(s.input.is_none());
/// ```
#[inline]
pub fn state() -> Box<ObservationState> {
    STATES
        .take(&LOCAL_STATES)
        .unwrap_or_else(|| Box::new(ObservationState::EMPTY))
}

/// A fresh boxed state that starts now ([`ObservationState::begin`]), built in a box
/// given back by the exporter when there is one: the layer moves it to the export queue
/// as one pointer.
///
/// ```
/// let s = langfuse_tracing_core::__layer::recycle::new_state(7, 8, Some(9), true);
/// assert_eq!((s.trace_id, s.span_id, s.parent_span_id), (7, 8, Some(9)));
/// ```
#[inline]
pub fn new_state(
    trace_id: u128,
    span_id: u64,
    parent_span_id: Option<u64>,
    sampled: bool,
) -> Box<ObservationState> {
    let mut state = state();
    state.begin(trace_id, span_id, parent_span_id, sampled);
    state
}

/// Empties a batch of exported observations: their input and output buffers and the
/// states themselves go back for reuse (the exporter, once the batch is encoded or
/// converted). Whatever else they hold is freed here.
///
/// ```
/// use langfuse_tracing_core::__layer::recycle::{give_back_observations, state};
/// let mut batch = vec![state()];
/// batch[0].input = Some("\"q\"".to_string());
/// give_back_observations(&mut batch);
/// assert!(batch.is_empty());
/// assert!(state().input.is_none());
/// ```
pub fn give_back_observations(batch: &mut Batch) {
    give_back(
        batch
            .iter_mut()
            .flat_map(|s| [s.input.take(), s.output.take()].into_iter().flatten()),
    );
    STATES.give_back(batch.drain(..), |s| {
        **s = ObservationState::EMPTY;
        true
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_hands_out_each_item_once() {
        // A pool of its own: other tests' threads share the real ones.
        static POOL: Pool<u32> = Pool::new();
        thread_local! {
            static LOCAL: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
        }
        POOL.give_back([1, 2, 3], |_| true);
        let taken: Vec<Option<u32>> = (0..4).map(|_| POOL.take(&LOCAL)).collect();
        assert_eq!(taken, [Some(3), Some(2), Some(1), None]);
    }

    #[test]
    fn buffers_go_round_and_stay_bounded() {
        // A fresh thread, so its local cache starts empty.
        std::thread::spawn(|| {
            let used = |_| {
                let mut s = String::with_capacity(200);
                s.push_str("old contents");
                s
            };
            give_back(
                (0..64)
                    .map(used)
                    .chain([String::with_capacity(MAX_KEPT_CAPACITY + 1), String::new()]),
            );
            let taken: Vec<String> = (0..64).map(|_| buffer(10)).collect();
            assert!(taken.iter().all(|b| b.is_empty() && b.capacity() >= 10));
            assert!(
                taken.iter().any(|b| b.capacity() >= 200),
                "a buffer given back was reused"
            );
            assert!(taken.iter().all(|b| b.capacity() <= MAX_KEPT_CAPACITY));
            give_back((0..MAX_POOLED * 2).map(|_| String::with_capacity(MIN_KEPT_CAPACITY)));
            assert!(BUFFERS.items.lock().unwrap().len() <= MAX_POOLED);
        })
        .join()
        .unwrap();
    }
}
