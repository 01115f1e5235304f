//! The encoded values of one builder or update, and how they reach an observation's
//! state: masked first (the mask is user code, so before the state's lock), then moved
//! in field by field.

use std::borrow::Cow;

use serde::Serialize;
use tracing::Span;

use crate::__layer::hooks::{with_current_state, with_span_state};
use crate::__layer::mask_lookup::mask_for;
use crate::__layer::state::{KeyIndex, ObservationState};
use crate::encoding::{encode_io, encode_metadata};
use crate::mask::{finish_values, json_io, mask_installed};
use crate::types::{Level, ObservationType};

/// The encoded values of one update; shared by builders and update types (their setters
/// write the fields directly).
#[derive(Clone, Debug, Default)]
pub(super) struct Fields {
    pub(super) name: Option<String>,
    pub(super) input: Option<String>,
    pub(super) output: Option<String>,
    pub(super) metadata: Vec<(String, String)>,
    /// Keeps merging many metadata keys into one update linear.
    pub(super) metadata_index: KeyIndex,
    pub(super) metadata_value: Option<String>,
    pub(super) level: Option<Level>,
    pub(super) status_message: Option<String>,
    pub(super) version: Option<String>,
    pub(super) environment: Option<String>,
    pub(super) release: Option<String>,
    pub(super) model: Option<String>,
    pub(super) model_parameters: Option<String>,
    pub(super) usage_details: Option<String>,
    pub(super) cost_details: Option<String>,
    pub(super) completion_start_time: Option<String>,
    pub(super) prompt: Option<(String, i64)>,
    /// A mask exists in this process: input and output are JSON and nothing is masked
    /// yet; [`finish_raw`] finishes them once the observation is known.
    raw: bool,
}

thread_local! {
    /// An emptied `Fields` box from this thread's last `update_current_*`, for the next
    /// update builder: no allocation, zeroing and freeing of ~400 bytes per update.
    static SPARE_FIELDS: std::cell::Cell<Option<Box<Fields>>> = const { std::cell::Cell::new(None) };
}

impl Fields {
    /// Empty values for a builder.
    pub(super) fn new() -> Fields {
        Fields {
            raw: mask_installed(),
            ..Fields::default()
        }
    }

    /// An empty box for an update: this thread's spare, or a new one.
    #[inline]
    pub(super) fn spare() -> Box<Fields> {
        let mut fields: Box<Fields> = SPARE_FIELDS
            .try_with(std::cell::Cell::take)
            .ok()
            .flatten()
            .unwrap_or_default();
        fields.raw = mask_installed();
        fields
    }

    /// IO encoding, or JSON while a mask may still apply.
    #[inline]
    pub(super) fn io<T: Serialize + ?Sized>(&self, value: &T) -> String {
        io(self.raw, value)
    }

    /// Splits an object into top-level metadata keys; anything else is one value.
    pub(super) fn add_metadata_value<T: Serialize + ?Sized>(&mut self, value: &T) {
        match serde_json::to_value(value) {
            Ok(serde_json::Value::Object(map)) => {
                // A null value is written as `null`, as the metadata docs show
                // (`{"step": 2, "status": "started", "error": null}`).
                for (k, v) in map {
                    self.metadata_index
                        .merge(&mut self.metadata, k, encode_metadata(&v));
                }
            }
            Ok(serde_json::Value::Null) => {}
            _ => self.metadata_value = Some(encode_metadata(value)),
        }
    }

    /// Masks the values and moves them into the observation of `span`; `what` names the
    /// call in the warning given when generation fields go to an observation that is not
    /// generation-like.
    pub(super) fn apply_to_span(mut self, span: &Span, what: &str) {
        self.mask_for(Some(span));
        let mut fields = Some(self);
        let mut ignored = None;
        with_span_state(span, |s| {
            if let Some(mut f) = fields.take() {
                ignored = f.apply_to(s);
            }
        });
        if let Some(as_type) = ignored {
            warn_generation_fields(what, as_type);
        }
    }

    /// Masks the values and moves them into this thread's current observation, keeping
    /// the emptied box as this thread's spare; false if no observation is current.
    pub(super) fn apply_to_current(mut self: Box<Self>, what: &str) -> bool {
        self.mask_for(None);
        let mut ignored = None;
        let found = with_current_state(|s| ignored = self.apply_to(s));
        self.give_back();
        if let Some(as_type) = ignored {
            warn_generation_fields(what, as_type);
        }
        found
    }

    /// Masks and encodes values kept raw (see [`finish_raw`]).
    #[inline]
    fn mask_for(&mut self, span: Option<&Span>) {
        let Fields {
            raw,
            input,
            output,
            metadata,
            metadata_value,
            ..
        } = self;
        finish_raw(raw, span, input, output, metadata, Some(metadata_value));
    }

    /// Keeps an applied box as this thread's spare if it is empty (an update applied to
    /// a sampled-out observation or to none keeps its values and is dropped instead).
    #[inline]
    fn give_back(self: Box<Self>) {
        let empty = self.name.is_none()
            && self.input.is_none()
            && self.output.is_none()
            && self.metadata.is_empty()
            && self.metadata_value.is_none()
            && self.level.is_none()
            && self.status_message.is_none()
            && self.version.is_none()
            && self.environment.is_none()
            && self.release.is_none()
            && self.model.is_none()
            && self.model_parameters.is_none()
            && self.usage_details.is_none()
            && self.cost_details.is_none()
            && self.completion_start_time.is_none()
            && self.prompt.is_none();
        if empty {
            let _ = SPARE_FIELDS.try_with(|spare| spare.set(Some(self)));
        }
    }

    /// Moves the set fields into `s`, leaving `self` empty (no move of the whole,
    /// ~400-byte struct on the hot path). Returns the observation's type when the update
    /// set generation fields on an observation that is not generation-like (they are
    /// kept, but not exported): the caller warns once the state's lock is released.
    fn apply_to(&mut self, s: &mut ObservationState) -> Option<ObservationType> {
        if !s.sampled || s.ended {
            return None;
        }
        if let Some(name) = self.name.take() {
            s.name = Some(Cow::Owned(name));
        }
        macro_rules! set {
            ($($f:ident),*) => {$( if self.$f.is_some() { s.$f = self.$f.take(); } )*};
        }
        set!(
            input,
            output,
            metadata_value,
            level,
            status_message,
            version,
            environment,
            release
        );
        self.metadata_index = KeyIndex::EMPTY;
        for (k, v) in std::mem::take(&mut self.metadata) {
            s.merge_metadata(k, v);
        }
        if self.model.is_some()
            || self.model_parameters.is_some()
            || self.usage_details.is_some()
            || self.cost_details.is_some()
            || self.completion_start_time.is_some()
            || self.prompt.is_some()
        {
            let model = self.model.take();
            let g = s.generation_mut();
            if model.is_some() {
                g.model = model;
            }
            macro_rules! gen {
                ($($f:ident),*) => {$( if self.$f.is_some() { g.$f = self.$f.take(); } )*};
            }
            gen!(
                model_parameters,
                usage_details,
                cost_details,
                completion_start_time,
                prompt
            );
            if !s.as_type.is_generation_like() {
                return Some(s.as_type);
            }
        }
        None
    }
}

/// Masks and encodes the values a builder or update kept raw (`raw`: a mask exists in
/// this process), with the mask of the layer that records `span` (or, without a span,
/// of the current subscriber's layer), and clears `raw`. `metadata_value` is `None` for
/// trace metadata, which has no single value. Before the state's lock: the mask is user
/// code.
#[inline]
pub(super) fn finish_raw(
    raw: &mut bool,
    span: Option<&Span>,
    input: &mut Option<String>,
    output: &mut Option<String>,
    metadata: &mut Vec<(String, String)>,
    metadata_value: Option<&mut Option<String>>,
) {
    if std::mem::take(raw) {
        finish_values(
            mask_for(span).as_ref(),
            input,
            output,
            metadata,
            metadata_value,
        );
    }
}

/// The IO encoding of an input or output, or, while a mask may still apply (`raw`), the
/// JSON that masking finishes (see [`crate::mask`]).
#[inline]
pub(super) fn io<T: Serialize + ?Sized>(raw: bool, value: &T) -> String {
    if raw {
        json_io(value)
    } else {
        encode_io(value)
    }
}

/// Generation fields were set on an observation that is not generation-like: kept, but
/// the exporter does not send them (see `span_attributes.rs` in the subscriber).
#[cold]
fn warn_generation_fields(what: &str, as_type: ObservationType) {
    crate::__layer::warn::emit(&crate::__layer::warn::generation_fields_not_exported(
        what, as_type,
    ));
}
