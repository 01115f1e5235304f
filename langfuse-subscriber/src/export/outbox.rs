//! Where closed observations wait for the export thread.
//!
//! Not a channel: a channel allocates on the sending thread and frees on the receiving
//! one, and the allocator then contends between them (the figures are in BENCHMARKS.md,
//! "Notes moved from code comments"). The outbox keeps one queue per shard behind its
//! own lock: a producer pushes under a lock nobody else usually holds (the queue keeps
//! its capacity, so nothing is allocated once it has grown), and the export thread
//! swaps each queue out in constant time, or takes a batch's worth from its front when
//! it has fallen behind.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use langfuse_tracing_core::__layer::state::ObservationState;

/// A closed observation and its size as counted against the queue's byte budget.
pub(crate) type Queued = (Box<ObservationState>, usize);

/// Closed observations waiting for the export thread, sharded by producer thread
/// (see the tests below for its use).
pub(crate) struct Outbox {
    shards: Box<[Shard]>,
}

/// One shard, on its own cache lines so producers on different shards do not share
/// them.
#[repr(align(128))]
struct Shard(Mutex<ShardInner>);

struct ShardInner {
    states: VecDeque<Queued>,
    /// Set when the export thread stops: later observations are refused.
    closed: bool,
}

thread_local! {
    /// This thread's shard number (`usize::MAX` until its first observation).
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Hands shard numbers to threads in turn.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

impl Outbox {
    /// An outbox with `shards` shards (at least one).
    pub(crate) fn new(shards: usize) -> Outbox {
        Outbox {
            shards: (0..shards.max(1))
                .map(|_| {
                    Shard(Mutex::new(ShardInner {
                        states: VecDeque::new(),
                        closed: false,
                    }))
                })
                .collect(),
        }
    }

    /// Enough shards that the threads of this machine rarely share one.
    pub(crate) fn for_this_machine() -> Outbox {
        let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
        Outbox::new((cores * 2).clamp(4, 64))
    }

    #[inline]
    fn shard(&self) -> MutexGuard<'_, ShardInner> {
        let n = SHARD
            .try_with(|s| {
                let mut n = s.get();
                if n == usize::MAX {
                    n = NEXT_SHARD.fetch_add(1, Ordering::Relaxed);
                    s.set(n);
                }
                n
            })
            .unwrap_or(0);
        lock(&self.shards[n % self.shards.len()])
    }

    /// Queues `state` of `size` bytes; false (and `state` dropped) once the export
    /// thread has stopped.
    #[inline]
    pub(crate) fn push(&self, state: Box<ObservationState>, size: usize) -> bool {
        let mut shard = self.shard();
        if shard.closed {
            return false;
        }
        let states = &mut shard.states;
        if states.len() == states.capacity() {
            // Grow by a quarter, not double: during a burst the queue holds up to
            // its whole byte budget, and doubling could add as much again in
            // capacity that the budget does not see.
            states.reserve_exact((states.capacity() / 4).max(64));
        }
        states.push_back((state, size));
        true
    }

    /// Hands the queued observations to `each`, at most `limit` at a time and
    /// oldest first within a shard, outside the shard's lock; returns how many.
    /// `spare` is an empty queue swapped with a shard's (its capacity goes back to a
    /// shard), and `each` must leave it empty. Taking at most `limit` at a time keeps
    /// what the caller holds, and could lose on a shutdown timeout, to one batch.
    /// With `close`, every later [`Outbox::push`] fails.
    pub(crate) fn take_each(
        &self,
        spare: &mut VecDeque<Queued>,
        limit: usize,
        close: bool,
        mut each: impl FnMut(&mut VecDeque<Queued>),
    ) -> usize {
        let limit = limit.max(1);
        let mut count = 0;
        for shard in self.shards.iter() {
            loop {
                {
                    let mut shard = lock(shard);
                    shard.closed |= close;
                    if shard.states.is_empty() {
                        break;
                    }
                    if shard.states.len() <= limit {
                        std::mem::swap(&mut shard.states, spare);
                    } else {
                        spare.extend(shard.states.drain(..limit));
                    }
                }
                count += spare.len();
                each(spare);
                spare.clear();
                if spare.capacity() > limit.saturating_mul(4).max(256) {
                    // A burst is over: its capacity goes back to the allocator
                    // instead of into a shard.
                    spare.shrink_to(limit.min(1024));
                }
            }
        }
        count
    }
}

/// A shard's lock; a panic elsewhere while it was held left the `Vec` consistent.
#[inline]
fn lock(shard: &Shard) -> MutexGuard<'_, ShardInner> {
    shard.0.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(span_id: u64) -> Box<ObservationState> {
        langfuse_tracing_core::__layer::recycle::new_state(1, span_id, None, true)
    }

    #[test]
    fn takes_everything_pushed_from_every_thread() {
        let outbox = Outbox::new(3);
        std::thread::scope(|scope| {
            for t in 0..6u64 {
                let outbox = &outbox;
                scope.spawn(move || {
                    for i in 0..100 {
                        assert!(outbox.push(state(t * 1000 + i), 10));
                    }
                });
            }
        });
        let (mut spare, mut taken) = (VecDeque::new(), Vec::new());
        let mut chunks = 0;
        let each = |states: &mut VecDeque<Queued>| {
            assert!(states.len() <= 64);
            chunks += 1;
            taken.extend(states.drain(..).map(|(s, size)| {
                assert_eq!(size, 10);
                s
            }));
        };
        assert_eq!(outbox.take_each(&mut spare, 64, false, each), 600);
        assert!(spare.is_empty());
        // 200 per shard, at most 64 at a time: 4 chunks per shard.
        assert_eq!(chunks, 12);
        let mut ids: Vec<u64> = taken.iter().map(|s| s.span_id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 600);
        // Per thread, the order of pushes is kept.
        for t in 0..6u64 {
            let mine: Vec<u64> = taken
                .iter()
                .map(|s| s.span_id)
                .filter(|id| id / 1000 == t)
                .collect();
            assert!(mine.windows(2).all(|w| w[0] < w[1]), "thread {t}: {mine:?}");
        }
        assert_eq!(outbox.take_each(&mut spare, 64, false, |_| {}), 0);
    }

    #[test]
    fn a_closed_outbox_refuses_observations() {
        let outbox = Outbox::new(2);
        assert!(outbox.push(state(1), 5));
        let mut spare = VecDeque::new();
        let mut taken = Vec::new();
        let each = |states: &mut VecDeque<Queued>| taken.extend(states.drain(..).map(|q| q.0));
        assert_eq!(outbox.take_each(&mut spare, 10, true, each), 1);
        assert_eq!(taken[0].span_id, 1);
        assert!(!outbox.push(state(2), 5));
        assert_eq!(outbox.take_each(&mut spare, 10, false, |_| {}), 0);
    }
}
