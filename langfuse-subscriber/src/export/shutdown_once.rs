//! [`ShutdownOnce`]: one shutdown per queue, whoever asks (the handle, a signal handler,
//! the global `shutdown()`, a drop) and however many times.

use std::sync::{Mutex, PoisonError};

use super::ExportError;

/// The result of the one shutdown, held under a lock while it runs: a second caller
/// waits for the first and gets the same result, so none returns before the counts are
/// final (an early `Ok` let a process exit with observations in flight).
#[derive(Debug, Default)]
pub(crate) struct ShutdownOnce(Mutex<Option<Result<(), ExportError>>>);

impl ShutdownOnce {
    /// Runs `shut_down` the first time; every call returns its result.
    pub(crate) fn run(
        &self,
        shut_down: impl FnOnce() -> Result<(), ExportError>,
    ) -> Result<(), ExportError> {
        let mut outcome = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        outcome.get_or_insert_with(shut_down).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_once_and_every_caller_gets_its_result() {
        let once = ShutdownOnce::default();
        assert_eq!(
            once.run(|| Err(ExportError::Timeout)),
            Err(ExportError::Timeout)
        );
        assert_eq!(
            once.run(|| unreachable!("a second shutdown")),
            Err(ExportError::Timeout)
        );
    }
}
