//! Langfuse over OTLP/HTTP: encodes a batch of finished observations as one
//! `ExportTraceServiceRequest` and POSTs it, gzip-compressed, to the Langfuse endpoint.
//!
//! The protobuf is written by hand straight from the observations into buffers reused
//! across batches: no OpenTelemetry `SpanData`, no generated structs, no allocation per
//! span. The resource and scope are encoded once. Field numbers and field order are
//! those of opentelemetry-proto (prost writes fields in tag order), so the bytes are the
//! ones the SDK exporter would send.
//!
//! Along the data path: [`encode`] (with the protobuf primitives of [`wire`]) →
//! [`gzip`] → [`transport`] (HTTP and retries); this module joins them into the
//! destination and splits a request the endpoint finds too large.

pub(crate) mod encode;
pub(crate) mod gzip;
pub(crate) mod transport;
pub(crate) mod wire;

use std::fmt;

use langfuse_tracing_core::__layer::state::Batch;
use opentelemetry_sdk::Resource;

use crate::config::{Compression, ConfigError, LangfuseConfig};
use crate::export::destination::{Destination, Undelivered};
use crate::span_attributes::Defaults;
use encode::RequestEncoder;
use gzip::{Gzip, GZIP_LEVEL};
use transport::{PostError, Transport};

/// Langfuse's OTLP endpoint as an export destination.
pub(crate) struct OtlpDestination {
    encoder: RequestEncoder,
    gzip: Option<Gzip>,
    transport: Transport,
    max_request_bytes: usize,
}

impl fmt::Debug for OtlpDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No headers (they hold the secret key), no user info of the URL.
        let mut endpoint = self.transport.endpoint.clone();
        let _ = endpoint.set_username("");
        let _ = endpoint.set_password(None);
        f.debug_struct("OtlpDestination")
            .field("endpoint", &endpoint.as_str())
            .field("gzip", &self.gzip.is_some())
            .field("timeout", &self.transport.timeout)
            .field("max_request_bytes", &self.max_request_bytes)
            .finish_non_exhaustive()
    }
}

impl OtlpDestination {
    pub(crate) fn new(config: &LangfuseConfig, resource: &Resource) -> Result<Self, ConfigError> {
        let defaults = Defaults {
            environment: config.environment.clone(),
            release: config.release.clone(),
        };
        Ok(OtlpDestination {
            encoder: RequestEncoder::new(resource, config.public_key.as_deref(), defaults),
            gzip: (config.compression == Compression::Gzip)
                .then(|| Gzip::new(flate2::Compression::new(GZIP_LEVEL))),
            transport: Transport::new(config)?,
            max_request_bytes: config.max_request_bytes,
        })
    }

    /// The body of the request holding spans `spans`: gzip-compressed, or the pieces
    /// joined.
    fn body(&mut self, spans: std::ops::Range<usize>) -> Result<Vec<u8>, PostError> {
        let pieces = self.encoder.request(self.encoder.byte_range(spans));
        match &mut self.gzip {
            Some(gzip) => gzip.compress(&pieces).map_err(PostError::new),
            None => Ok(pieces.concat()),
        }
    }

    /// Sends spans `spans` in one request; when the endpoint answers 413 the part is
    /// split in halves and each half sent, down to single observations, so one large
    /// observation costs only itself. Adds what could not be delivered to `failure`.
    fn send_part(&mut self, spans: std::ops::Range<usize>, failure: &mut Option<Undelivered>) {
        let sent = self
            .body(spans.clone())
            .and_then(|body| self.transport.post(body, self.gzip.is_some()));
        let Err(error) = sent else {
            return;
        };
        if error.too_large && spans.len() > 1 {
            let mid = spans.start + spans.len() / 2;
            self.send_part(spans.start..mid, failure);
            self.send_part(mid..spans.end, failure);
            return;
        }
        let reason = if error.too_large {
            format!(
                "{}; an observation of {} bytes was too large for the endpoint on its own \
                 and was dropped (max_request_bytes is {} bytes)",
                error.message,
                self.encoder.span_len(spans.start),
                self.max_request_bytes
            )
        } else {
            error.message
        };
        let lost = failure.as_ref().map_or(0, |f| f.lost) + spans.len();
        *failure = Some(Undelivered { lost, reason });
    }
}

impl Destination for OtlpDestination {
    fn export(&mut self, batch: &mut Batch) -> Result<(), Undelivered> {
        self.encoder.encode_spans(batch);
        // The states are encoded: give them and their buffers back for new
        // observations before the network wait (see `recycle`).
        langfuse_tracing_core::__layer::recycle::give_back_observations(batch);
        let (parts, oversized) = self.encoder.parts(self.max_request_bytes);
        let mut failure: Option<Undelivered> = None;
        if !oversized.is_empty() {
            failure = Some(Undelivered {
                lost: oversized.len(),
                reason: format!(
                    "{} observation(s) not sent: the largest is {} bytes, more than \
                     max_request_bytes ({} bytes)",
                    oversized.len(),
                    oversized
                        .iter()
                        .map(|&i| self.encoder.span_len(i))
                        .max()
                        .unwrap_or(0),
                    self.max_request_bytes
                ),
            });
        }
        for spans in parts {
            self.send_part(spans, &mut failure);
        }
        failure.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests;
