//! The lock around one open observation's state, released with a plain store.
//!
//! An observed call takes its observation's lock three to four times (input, output,
//! model, close), nearly always on the thread that opened it and uncontended: only an
//! observation handle used from another thread at the same moment waits. `std`'s
//! `Mutex` releases with an atomic swap (it must see whether a waiter sleeps), and on
//! x86 every locked instruction waits for the core's pending stores; those swaps were
//! a measurable share of the calling thread. This lock never sleeps, so releasing it
//! is an ordinary release store. A waiter spins briefly, then yields its time slice:
//! the critical sections are a few field moves (values are encoded before the lock is
//! taken), so a wait is short unless the holder was preempted.

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

/// A value behind a lock whose release costs a plain store (see the module docs).
pub(crate) struct StoreReleaseLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a guard, and at most one guard exists at a
// time (the `locked` flag, acquired with `Acquire` and released with `Release`), so
// the value moves between threads as it would through a `Mutex`.
unsafe impl<T: Send> Sync for StoreReleaseLock<T> {}

impl<T> StoreReleaseLock<T> {
    /// How many times a waiter checks the flag before it yields its time slice.
    const SPINS: u32 = 100;

    pub(crate) const fn new(value: T) -> Self {
        StoreReleaseLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    #[inline]
    pub(crate) fn lock(&self) -> Guard<'_, T> {
        if self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.wait();
        }
        Guard {
            lock: self,
            _not_send_or_sync: PhantomData,
        }
    }

    #[cold]
    fn wait(&self) {
        let mut spins = 0;
        loop {
            while self.locked.load(Ordering::Relaxed) {
                if spins < Self::SPINS {
                    spins += 1;
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }
}

/// Access to the locked value; dropping it (also while unwinding from a panic in the
/// caller's closure) releases the lock. There is no poisoning: every update is a plain
/// field write, so the value is consistent whenever a guard is dropped.
pub(crate) struct Guard<'a, T> {
    lock: &'a StoreReleaseLock<T>,
    /// Neither `Send` nor `Sync` by default (as `std`'s `MutexGuard`): shared, a guard
    /// hands out `&T`, which is only shareable when `T: Sync` (below).
    _not_send_or_sync: PhantomData<*const ()>,
}

// SAFETY: `&Guard` only gives `&T`, shareable between threads exactly when `T: Sync`.
unsafe impl<T: Sync> Sync for Guard<'_, T> {}

impl<T> Deref for Guard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: this guard is the only one (see `StoreReleaseLock`'s `Sync`).
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for Guard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard is the only one (see `StoreReleaseLock`'s `Sync`).
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn threads_never_hold_it_at_once() {
        // Non-atomic read-modify-write under the lock: a lost update means two
        // threads were inside at once.
        let lock = Arc::new(StoreReleaseLock::new((0u64, false)));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let lock = Arc::clone(&lock);
                std::thread::spawn(move || {
                    for _ in 0..50_000 {
                        let mut g = lock.lock();
                        assert!(!g.1, "another thread is inside");
                        g.1 = true;
                        let n = g.0;
                        std::hint::black_box(&mut *g);
                        g.0 = n + 1;
                        g.1 = false;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(lock.lock().0, 200_000);
    }

    #[test]
    fn a_panic_under_the_lock_releases_it() {
        let lock = Arc::new(StoreReleaseLock::new(1));
        let l = Arc::clone(&lock);
        let panicked = std::thread::spawn(move || {
            let mut g = l.lock();
            *g = 2;
            panic!("in an update");
        })
        .join();
        assert!(panicked.is_err());
        assert_eq!(*lock.lock(), 2);
    }
}
