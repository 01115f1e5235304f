//! Reuses the text buffers of exported observations for new ones.
//!
//! An observation's input and output are written on the thread that makes the call and
//! freed on the export thread once sent. glibc's allocator handles that badly: every
//! such block comes from its slow path on the calling thread, and the export thread's
//! frees contend for the calling thread's arena. The OTLP exporter therefore hands the
//! emptied buffers back here, and new inputs and outputs are written into them: the
//! memory goes round instead of being freed and allocated again.
//!
//! Bounded: at most [`MAX_POOLED`] buffers of at most [`MAX_KEPT_CAPACITY`] bytes wait
//! in the shared pool (256 KiB), plus a few per thread; anything else is freed as usual.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// Larger buffers are freed rather than kept (they are rare and would inflate the
/// queue's byte count when reused for small values).
///
/// ```
/// use langfuse_core::recycle::{buffer, MAX_KEPT_CAPACITY};
/// assert!(buffer(0).capacity() <= MAX_KEPT_CAPACITY);
/// ```
pub const MAX_KEPT_CAPACITY: usize = 256;

/// At most this many buffers wait in the shared pool.
///
/// ```
/// use langfuse_core::recycle::{give_back, MAX_POOLED};
/// // Beyond the bound, buffers are simply freed.
/// give_back((0..2 * MAX_POOLED).map(|_| String::with_capacity(32)));
/// ```
pub const MAX_POOLED: usize = 1024;

/// How many buffers a thread takes from the shared pool at once.
const REFILL: usize = 32;

static POOL: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// How many buffers the pool holds, read without its lock: with nothing pooled (no
/// OTLP export, or everything is in use) a new buffer costs one relaxed load more.
static POOLED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static LOCAL: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// An empty string with room for at least `min_capacity` bytes, reusing a buffer
/// given back by the exporter when there is one.
///
/// ```
/// let s = langfuse_core::recycle::buffer(16);
/// assert!(s.is_empty() && s.capacity() >= 16);
/// ```
#[inline]
pub fn buffer(min_capacity: usize) -> String {
    let reused = LOCAL
        .try_with(|local| {
            let mut local = local.try_borrow_mut().ok()?;
            if local.is_empty() && POOLED.load(Ordering::Relaxed) > 0 {
                refill(&mut local);
            }
            local.pop()
        })
        .ok()
        .flatten();
    match reused {
        Some(mut s) => {
            s.reserve(min_capacity);
            s
        }
        None => String::with_capacity(min_capacity),
    }
}

/// Takes a few buffers from the shared pool; never waits for its lock (allocating
/// is cheaper than waiting).
#[cold]
fn refill(local: &mut Vec<String>) {
    if let Ok(mut pool) = POOL.try_lock() {
        let at = pool.len().saturating_sub(REFILL);
        local.extend(pool.drain(at..));
        POOLED.store(pool.len(), Ordering::Relaxed);
    }
}

/// Gives emptied-to-be buffers back for reuse (the exporter, after encoding a batch).
/// Buffers over [`MAX_KEPT_CAPACITY`], and any beyond [`MAX_POOLED`], are freed.
///
/// ```
/// use langfuse_core::recycle::{buffer, give_back};
/// give_back(vec![String::with_capacity(40)]);
/// assert!(buffer(8).capacity() >= 8);
/// ```
pub fn give_back(buffers: impl IntoIterator<Item = String>) {
    let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    for mut s in buffers {
        if pool.len() >= MAX_POOLED {
            break;
        }
        if (1..=MAX_KEPT_CAPACITY).contains(&s.capacity()) {
            s.clear();
            pool.push(s);
        }
    }
    POOLED.store(pool.len(), Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

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
            give_back((0..MAX_POOLED * 2).map(|_| String::with_capacity(32)));
            assert!(POOL.lock().unwrap().len() <= MAX_POOLED);
        })
        .join()
        .unwrap();
    }
}
