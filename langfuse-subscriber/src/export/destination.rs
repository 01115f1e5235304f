//! Where finished observations go: the [`Destination`] trait that the worker drives,
//! and the destinations that only combine or adapt others ([`Tee`], any OpenTelemetry
//! `SpanExporter`). The concrete ones (`console`, `otlp`) depend on this module, never
//! the other way round.

use std::fmt;

use langfuse_tracing_core::__layer::state::Batch;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

use crate::convert::Converter;

/// What a destination could not deliver of one batch: how many observations, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Undelivered {
    pub(crate) lost: usize,
    pub(crate) reason: String,
}

/// Where finished observations go; runs on the worker thread only.
pub(crate) trait Destination: Send + fmt::Debug {
    /// Sends one batch; on failure, says how much of it was lost (a destination that
    /// sends a batch in parts may lose only some). What it leaves in `batch` goes back
    /// to `recycle`, and the worker reuses the vector.
    fn export(&mut self, batch: &mut Batch) -> Result<(), Undelivered>;
    /// Called after the last export.
    fn shutdown(&mut self) {}
    /// What a successful export of `n` observations did, for `LANGFUSE_DEBUG`.
    fn exported(&self, n: usize) -> String {
        format!("exported {n} observation{}", if n == 1 { "" } else { "s" })
    }
    /// The exporter-backed destination, to give it the scope and resource.
    fn configurable(&mut self) -> Option<&mut dyn ConfigureDestination> {
        None
    }
}

pub(crate) type BoxedDestination = Box<dyn Destination>;

/// Any OpenTelemetry `SpanExporter` (a user's; Langfuse itself goes through `otlp/`).
pub(crate) struct ExporterDestination<E> {
    exporter: E,
    converter: Option<Converter>,
}

impl<E> fmt::Debug for ExporterDestination<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ExporterDestination")
    }
}

impl<E: SpanExporter> ExporterDestination<E> {
    pub(crate) fn new(exporter: E) -> Self {
        ExporterDestination {
            exporter,
            converter: None,
        }
    }
}

/// Type-erased access to set up the converter once the config is known.
pub(crate) trait ConfigureDestination {
    fn configure(&mut self, converter: Converter, resource: &Resource);
}

impl<E: SpanExporter> ConfigureDestination for ExporterDestination<E> {
    fn configure(&mut self, converter: Converter, resource: &Resource) {
        self.exporter.set_resource(resource);
        self.converter = Some(converter);
    }
}

impl<E: SpanExporter + 'static> Destination for ExporterDestination<E> {
    fn export(&mut self, batch: &mut Batch) -> Result<(), Undelivered> {
        let converter = self.converter.get_or_insert_with(Converter::default);
        let lost = batch.len();
        // The attributes are copies: the states and their buffers go back to
        // `recycle` for new observations instead of being freed here.
        let spans: Vec<SpanData> = batch.iter_mut().map(|s| converter.convert(s)).collect();
        langfuse_tracing_core::__layer::recycle::give_back_observations(batch);
        futures_executor::block_on(self.exporter.export(spans)).map_err(|e| Undelivered {
            lost,
            reason: e.to_string(),
        })
    }

    fn shutdown(&mut self) {
        let _ = self.exporter.shutdown();
    }

    fn configurable(&mut self) -> Option<&mut dyn ConfigureDestination> {
        Some(self)
    }
}

/// Sends to several destinations (console and Langfuse at once).
#[derive(Debug)]
pub(super) struct Tee(pub(super) Vec<BoxedDestination>);

impl Destination for Tee {
    fn export(&mut self, batch: &mut Batch) -> Result<(), Undelivered> {
        let mut result: Result<(), Undelivered> = Ok(());
        let n = self.0.len();
        for (i, d) in self.0.iter_mut().enumerate() {
            // The last destination takes the batch; the others get a copy.
            let sent = if i + 1 == n {
                d.export(batch)
            } else {
                d.export(&mut batch.clone())
            };
            if let Err(e) = sent {
                // Lost is what the worst destination lost.
                let lost = result.as_ref().err().map_or(0, |r| r.lost).max(e.lost);
                result = Err(Undelivered { lost, ..e });
            }
        }
        result
    }
    fn shutdown(&mut self) {
        for d in &mut self.0 {
            d.shutdown();
        }
    }
}
