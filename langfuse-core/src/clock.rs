//! Observation timestamps: the wall clock, read through the CPU's time-stamp counter
//! where that is safe.
//!
//! Every observation reads the clock twice (start and end). `SystemTime::now()` costs
//! ~40 ns on the project's 2-core VMs (a vDSO call), reading the time-stamp counter
//! ~11 ns: together about 8% of an observation's cost on the calling thread.
//!
//! Where the counter is the kernel's own clock source (x86-64 Linux whose
//! `current_clocksource` is `tsc`: the kernel checked it is invariant and synchronized
//! across cores), [`now`] extrapolates the wall clock from an anchor (counter, wall
//! clock) at most [`REANCHOR_NS`] old, at a rate measured against the system clock over
//! the life of the process. Re-anchoring keeps it on the system clock: NTP steps and
//! slewing show up within one interval, and between anchors a rate error of 500 ppm
//! (NTP's maximum slew) moves a timestamp by at most 50 µs. Everywhere else, and during
//! the first [`CALIBRATION_NS`] of the process, [`now`] is `SystemTime::now()`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long the counter's rate is measured before it is used.
///
/// ```
/// assert_eq!(langfuse_core::clock::CALIBRATION_NS, 20_000_000);
/// ```
pub const CALIBRATION_NS: u64 = 20_000_000;

/// How old an anchor may get before the next reading takes a fresh one.
///
/// ```
/// assert_eq!(langfuse_core::clock::REANCHOR_NS, 100_000_000);
/// ```
pub const REANCHOR_NS: u64 = 100_000_000;

/// The current wall-clock time, for observation start and end times.
///
/// ```
/// use std::time::SystemTime;
/// let before = SystemTime::now();
/// let t = langfuse_core::clock::now();
/// let after = SystemTime::now();
/// let slack = std::time::Duration::from_millis(5);
/// assert!(t + slack >= before && t <= after + slack);
/// ```
#[inline]
pub fn now() -> SystemTime {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    if let Some(nanos) = tsc::now_nanos() {
        return UNIX_EPOCH + Duration::from_nanos(nanos);
    }
    SystemTime::now()
}

/// Nanoseconds since the Unix epoch of `SystemTime::now()` (0 before 1970).
#[cfg_attr(
    not(all(target_arch = "x86_64", target_os = "linux")),
    allow(dead_code)
)]
fn system_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod tsc {
    use std::sync::atomic::{fence, AtomicU64, AtomicU8, Ordering};
    use std::sync::Mutex;

    use super::{system_nanos, CALIBRATION_NS, REANCHOR_NS};

    const UNKNOWN: u8 = 0;
    const CALIBRATING: u8 = 1;
    pub(super) const READY: u8 = 2;
    const UNSUPPORTED: u8 = 3;

    pub(super) static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

    // The anchor, published as a sequence lock: `SEQ` is odd while it is rewritten.
    static SEQ: AtomicU64 = AtomicU64::new(0);
    static ANCHOR_TSC: AtomicU64 = AtomicU64::new(0);
    static ANCHOR_NANOS: AtomicU64 = AtomicU64::new(0);
    /// Nanoseconds per counter tick, 32.32 fixed point.
    static SCALE: AtomicU64 = AtomicU64::new(0);
    /// Counter ticks in `REANCHOR_NS`.
    static REANCHOR_TICKS: AtomicU64 = AtomicU64::new(0);

    /// The first reading of the process (or after a clock step): the rate's baseline.
    struct Baseline {
        tsc: u64,
        nanos: u64,
    }

    static WRITER: Mutex<Option<Baseline>> = Mutex::new(None);

    #[inline]
    fn rdtsc() -> u64 {
        // SAFETY: `rdtsc` exists on every x86-64 CPU and has no memory effects.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    /// The extrapolated time, or `None` when the system clock must be read instead.
    #[inline]
    pub(super) fn now_nanos() -> Option<u64> {
        // Acquire: pairs with the release that made it `READY`, after the first anchor.
        if STATE.load(Ordering::Acquire) != READY {
            return not_ready();
        }
        let seq = SEQ.load(Ordering::Acquire);
        let anchor_tsc = ANCHOR_TSC.load(Ordering::Relaxed);
        let anchor_nanos = ANCHOR_NANOS.load(Ordering::Relaxed);
        let scale = SCALE.load(Ordering::Relaxed);
        let reanchor = REANCHOR_TICKS.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if seq & 1 == 1 || SEQ.load(Ordering::Relaxed) != seq {
            return None;
        }
        // Read after the anchor, so it is never older than it (a counter that still
        // went backwards wraps to a huge value and takes the slow path).
        let ticks = rdtsc().wrapping_sub(anchor_tsc);
        if ticks > reanchor {
            return reanchor_now();
        }
        Some(anchor_nanos + ((u128::from(ticks) * u128::from(scale)) >> 32) as u64)
    }

    #[cold]
    fn not_ready() -> Option<u64> {
        match STATE.load(Ordering::Relaxed) {
            UNSUPPORTED => None,
            UNKNOWN => {
                let mut writer = WRITER.try_lock().ok()?;
                if STATE.load(Ordering::Relaxed) == UNKNOWN {
                    if counter_is_the_clock_source() {
                        let (tsc, nanos) = reading();
                        *writer = Some(Baseline { tsc, nanos });
                        STATE.store(CALIBRATING, Ordering::Relaxed);
                    } else {
                        STATE.store(UNSUPPORTED, Ordering::Relaxed);
                    }
                }
                None
            }
            _ => {
                let mut writer = WRITER.try_lock().ok()?;
                if STATE.load(Ordering::Relaxed) != CALIBRATING {
                    return None;
                }
                let base = writer.as_ref()?;
                let (tsc, nanos) = reading();
                if nanos.saturating_sub(base.nanos) < CALIBRATION_NS {
                    // Still measuring: the system clock was just read, use it.
                    return Some(nanos);
                }
                match rate(base, tsc, nanos) {
                    Some(scale) => {
                        publish(tsc, nanos, scale);
                        STATE.store(READY, Ordering::Release);
                    }
                    None => {
                        *writer = None;
                        STATE.store(UNSUPPORTED, Ordering::Relaxed);
                    }
                }
                Some(nanos)
            }
        }
    }

    /// Takes a fresh anchor (one thread at a time; the others read the system clock
    /// meanwhile) and returns the current time.
    #[cold]
    fn reanchor_now() -> Option<u64> {
        let mut writer = WRITER.try_lock().ok()?;
        let (tsc, nanos) = reading();
        let predicted = {
            let ticks = tsc.wrapping_sub(ANCHOR_TSC.load(Ordering::Relaxed));
            let scale = SCALE.load(Ordering::Relaxed);
            ANCHOR_NANOS
                .load(Ordering::Relaxed)
                .wrapping_add(((u128::from(ticks) * u128::from(scale)) >> 32) as u64)
        };
        let base = writer.get_or_insert(Baseline { tsc, nanos });
        // More than 1 ms off: the system clock was stepped (or the machine slept). The
        // rate measured so far spans the step: measure it again from here.
        if predicted.abs_diff(nanos) > 1_000_000 {
            *base = Baseline { tsc, nanos };
        }
        let scale = rate(base, tsc, nanos).unwrap_or_else(|| SCALE.load(Ordering::Relaxed));
        publish(tsc, nanos, scale);
        Some(nanos)
    }

    /// The counter and the system clock read together (the counter at the midpoint).
    fn reading() -> (u64, u64) {
        let before = rdtsc();
        let nanos = system_nanos();
        let after = rdtsc();
        (before + after.wrapping_sub(before) / 2, nanos)
    }

    /// Nanoseconds per tick (32.32) since `base`, if the baseline is long enough and
    /// the rate plausible (a 10 MHz – 100 GHz counter).
    fn rate(base: &Baseline, tsc: u64, nanos: u64) -> Option<u64> {
        let ticks = tsc.checked_sub(base.tsc).filter(|&t| t > 0)?;
        let elapsed = nanos.checked_sub(base.nanos)?;
        if elapsed < CALIBRATION_NS {
            return None;
        }
        let scale = u64::try_from((u128::from(elapsed) << 32) / u128::from(ticks)).ok()?;
        ((1u64 << 32) / 100..=100u64 << 32)
            .contains(&scale)
            .then_some(scale)
    }

    fn publish(tsc: u64, nanos: u64, scale: u64) {
        let reanchor =
            u64::try_from((u128::from(REANCHOR_NS) << 32) / u128::from(scale)).unwrap_or(u64::MAX);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::Release);
        ANCHOR_TSC.store(tsc, Ordering::Relaxed);
        ANCHOR_NANOS.store(nanos, Ordering::Relaxed);
        SCALE.store(scale, Ordering::Relaxed);
        REANCHOR_TICKS.store(reanchor, Ordering::Relaxed);
        SEQ.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// Linux uses the counter as its clock only once it has checked that the counter
    /// is invariant and synchronized across cores; anything else (another clock
    /// source, no sysfs) keeps the system clock.
    pub(super) fn counter_is_the_clock_source() -> bool {
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .is_ok_and(|s| s.trim() == "tsc")
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_rate_of_a_3_ghz_counter_is_a_third_of_a_nanosecond_per_tick() {
            let base = Baseline {
                tsc: 1_000,
                nanos: 5_000_000_000,
            };
            let scale = rate(&base, 1_000 + 3_000_000_000, 6_000_000_000).unwrap();
            assert_eq!(scale, (1u64 << 32) / 3);
            assert_eq!(rate(&base, 1_000 + 3_000, 5_000_001_000), None, "too short");
            assert_eq!(rate(&base, 500, 6_000_000_000), None, "went backwards");
            assert_eq!(rate(&base, 1_001, 6_000_000_000), None, "implausible");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Readings stay between two system clock readings taken around them (within the
    /// extrapolation's slack), before, during and after calibration and across
    /// re-anchors.
    #[test]
    fn readings_track_the_system_clock() {
        let slack = Duration::from_millis(2);
        let started = SystemTime::now();
        let mut last = UNIX_EPOCH;
        let mut readings = 0u64;
        while started.elapsed().unwrap_or_default() < Duration::from_millis(300) {
            let before = SystemTime::now();
            let t = now();
            let after = SystemTime::now();
            assert!(
                t + slack >= before && t <= after + slack,
                "{t:?} not in [{before:?}, {after:?}]"
            );
            assert!(t + slack >= last, "went back: {last:?} then {t:?}");
            last = t;
            readings += 1;
            if readings.is_multiple_of(1_000) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        // Where the counter can be used, it was: calibrated within the loop above.
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        if tsc::counter_is_the_clock_source() {
            use std::sync::atomic::Ordering;
            assert_eq!(tsc::STATE.load(Ordering::Relaxed), tsc::READY);
        }
    }
}
