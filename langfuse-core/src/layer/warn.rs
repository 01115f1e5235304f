//! The SDK's warnings (a value dropped by validation, an update with nothing current,
//! an unknown level, ...), all through [`emit`].
//!
//! Each one is a `tracing` event (target `langfuse`, level WARN) as before, and also a
//! `langfuse: ...` line on stderr: when the Langfuse layer is the only layer (as
//! `init()` sets it up) nothing prints `tracing` events, and the warning was lost.
//! The stderr lines are rate-limited per distinct message: the first is printed, then
//! at most one a minute, with the number left out in between.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// After its first line, a message is printed again at most this often.
pub const REPEAT_EVERY: Duration = Duration::from_secs(60);

/// Distinct messages tracked one by one; any further ones share one limit (messages
/// may name user-given keys, so their number is not bounded otherwise).
const MAX_DISTINCT: usize = 256;

/// Gives one SDK warning: a `tracing` event, and a rate-limited `langfuse: {message}`
/// line on stderr. The message must never contain a user's value.
///
/// ```
/// langfuse_tracing_core::__layer::warn::emit("propagate_attributes: `user_id` dropped: longer than 200 characters");
/// ```
pub fn emit(message: &str) {
    tracing::warn!(target: "langfuse", "{message}");
    let shown = LIMITER
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(Limiter::default)
        .check(message, Instant::now());
    if let Some(left_out) = shown {
        // Not `eprintln!`, which panics when stderr is closed.
        let _ = std::io::stderr().write_all(line(message, left_out).as_bytes());
    }
}

/// Writes one line to stderr and ignores a closed or broken stderr: `eprintln!` would
/// panic there, and these lines are written from drops, `on_close` and the export
/// thread, where a panic loses data or aborts.
///
/// ```
/// langfuse_tracing_core::__layer::warn::stderr_line(format_args!("langfuse: exported {} observations", 3));
/// ```
pub fn stderr_line(line: std::fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(line);
    let _ = err.write_all(b"\n");
}

static LIMITER: Mutex<Option<Limiter>> = Mutex::new(None);

/// The warning for generation fields (model, usage, cost, completion start time,
/// prompt) set on an observation that is not generation-like: the exporter only writes
/// them for `generation` and `embedding`, so they are not sent. `what` names the update.
///
/// ```
/// use langfuse_tracing_core::ObservationType;
/// let m = langfuse_tracing_core::__layer::warn::generation_fields_not_exported("update_current_generation", ObservationType::Span);
/// assert!(m.contains("only exported for generation-like observations") && m.contains("`span`"));
/// ```
#[doc(hidden)]
pub fn generation_fields_not_exported(what: &str, as_type: crate::ObservationType) -> String {
    format!(
        "{what}: model, usage, cost, completion start time and prompt are only exported for \
         generation-like observations (generation, embedding); not sent for this `{as_type}` \
         observation"
    )
}

/// The stderr line for a message shown after `left_out` were not.
fn line(message: &str, left_out: u64) -> String {
    match left_out {
        0 => format!("langfuse: {message}\n"),
        n => format!("langfuse: {message} ({n} more like this not shown)\n"),
    }
}

/// When each distinct message was last shown, and how many were left out since.
#[derive(Debug, Default)]
struct Limiter {
    seen: HashMap<String, Seen>,
}

#[derive(Debug)]
struct Seen {
    shown_at: Instant,
    left_out: u64,
}

impl Limiter {
    /// `Some(n)` when this occurrence is to be shown (`n` were left out since the last
    /// one shown), `None` when it is left out.
    fn check(&mut self, message: &str, now: Instant) -> Option<u64> {
        let key = if self.seen.len() < MAX_DISTINCT || self.seen.contains_key(message) {
            message
        } else {
            ""
        };
        match self.seen.get_mut(key) {
            None => {
                let seen = Seen {
                    shown_at: now,
                    left_out: 0,
                };
                self.seen.insert(key.to_owned(), seen);
                Some(0)
            }
            Some(seen) if now.saturating_duration_since(seen.shown_at) >= REPEAT_EVERY => {
                seen.shown_at = now;
                Some(std::mem::take(&mut seen.left_out))
            }
            Some(seen) => {
                seen.left_out += 1;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_shown_once_then_once_a_minute_with_the_count_left_out() {
        let mut limiter = Limiter::default();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(limiter.check("a", at(0)), Some(0));
        assert_eq!(limiter.check("a", at(1)), None);
        assert_eq!(limiter.check("a", at(59)), None);
        // Another message has its own limit.
        assert_eq!(limiter.check("b", at(2)), Some(0));
        assert_eq!(limiter.check("a", at(60)), Some(2));
        assert_eq!(limiter.check("a", at(61)), None);
        assert_eq!(limiter.check("a", at(200)), Some(1));
        assert_eq!(limiter.check("a", at(300)), Some(0));
        assert_eq!(
            line("x", 3),
            "langfuse: x (3 more like this not shown)\n",
            "the count says what was left out"
        );
        assert_eq!(line("x", 0), "langfuse: x\n");
    }

    #[test]
    fn distinct_messages_beyond_the_bound_share_one_limit() {
        let mut limiter = Limiter::default();
        let t0 = Instant::now();
        for i in 0..MAX_DISTINCT {
            assert_eq!(limiter.check(&format!("m{i}"), t0), Some(0));
        }
        assert_eq!(limiter.check("one more", t0), Some(0));
        assert_eq!(limiter.check("and another", t0), None);
        assert_eq!(
            limiter.check("m0", t0),
            None,
            "tracked ones keep their limit"
        );
        assert_eq!(limiter.seen.len(), MAX_DISTINCT + 1);
    }
}
