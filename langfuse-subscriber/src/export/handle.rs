//! [`LangfuseHandle`], the user's grip on one layer's export (flush, shutdown, counts),
//! and [`flush`] / [`shutdown`] for every layer of the process.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::error::ExportError;
use super::{for_each_pipeline, Pipeline};

/// Flushes and shuts down one layer's export. Cheap to clone; all clones share the
/// pipeline.
///
/// ```
/// let layer = langfuse_tracing::LangfuseLayer::builder().console(false).build().unwrap();
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
    /// # let handle = langfuse_tracing::LangfuseLayer::builder().console(false).build().unwrap().handle();
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
    /// # let handle = langfuse_tracing::LangfuseLayer::builder().console(false).build().unwrap().handle();
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

    /// How many observations are started and not finished yet (their span not closed,
    /// their handle not ended). At shutdown they can no longer be sent: `shutdown()`
    /// says how many on stderr, and this still tells afterwards.
    ///
    /// ```
    /// use tracing_subscriber::prelude::*;
    /// let layer = langfuse_tracing::LangfuseLayer::builder().console(false).build().unwrap();
    /// let handle = layer.handle();
    /// let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    /// tracing::dispatcher::with_default(&dispatch, || {
    ///     let span = tracing::info_span!("work", langfuse.observation.type = "span");
    ///     assert_eq!(handle.open_observations(), 1);
    ///     drop(span);
    /// });
    /// assert_eq!(handle.open_observations(), 0);
    /// ```
    pub fn open_observations(&self) -> usize {
        self.pipeline.as_ref().map_or(0, |p| p.open_observations())
    }

    /// How many observations were lost: the queue was full (and stayed full for the
    /// configured `queue_full_wait`, zero by default), export had stopped, or the
    /// collector failed the batch they were in (after the exporter's retries).
    ///
    /// ```
    /// # let handle = langfuse_tracing::LangfuseLayer::builder().console(false).build().unwrap().handle();
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
/// langfuse_tracing::flush().unwrap();
/// ```
pub fn flush() -> Result<(), ExportError> {
    // The export thread queues the uploads of the observations it takes: media after
    // spans, and scores last (a score may follow an upload), as `LangfuseHandle::flush`.
    let spans = for_each_pipeline(Pipeline::flush);
    let media = crate::media::flush_all();
    spans.and(media).and(crate::scores::flush_all())
}

/// Shuts down every Langfuse layer of this process (see [`LangfuseHandle::shutdown`]).
///
/// ```
/// langfuse_tracing::shutdown().unwrap();
/// ```
pub fn shutdown() -> Result<(), ExportError> {
    let spans = for_each_pipeline(Pipeline::shutdown);
    let media = crate::media::flush_all();
    spans.and(media).and(crate::scores::shutdown_all())
}
