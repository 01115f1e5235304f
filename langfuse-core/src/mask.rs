//! Masking: a user function that rewrites input, output and metadata before they are
//! stored (reference §8).
//!
//! A [`Mask`] is set on the layer (`LangfuseLayer::builder().mask(..)`). It is called on
//! the calling thread, before a value is stored in the observation, separately for the
//! input, the output and the metadata of one call (the metadata of one builder or update
//! as one object; a `tracing` field `langfuse.observation.metadata.<key>` as the object
//! `{key: value}`), at creation and on every update, for `#[observe]` capture too, and
//! for the trace input and output. It never sees propagated attributes, model
//! parameters, usage or cost.
//!
//! The mask receives the value as a [`serde_json::Value`] (a top-level string input is
//! a `Value::String`), after the Langfuse encoding rules applied (non-finite floats and
//! integers beyond ±(2^53 − 1) are strings, nesting is cut at 20 levels). Objects reach
//! it with their keys in sorted order, and a masked value keeps that order.
//!
//! A mask that panics, or a fallible mask ([`Mask::fallible`]) that returns an error,
//! yields [`FULLY_MASKED`] instead of the value (every key of a non-empty metadata
//! object gets it), and one warning is printed to stderr once per process. The warning
//! never contains the value nor the error. Note that a panic is still reported by the
//! process's panic hook (by default on stderr, with its message): a mask should not
//! panic with the value in its message.
//!
//! Without a mask nothing of this runs: builders and updates check one flag.
//!
//! ```
//! use langfuse_tracing_core::mask::{Mask, FULLY_MASKED};
//! use serde_json::{json, Value};
//!
//! let mask = Mask::new(|mut v: Value| {
//!     if let Some(card) = v.get_mut("card") {
//!         *card = json!("***");
//!     }
//!     v
//! });
//! assert_eq!(mask.apply(json!({"card": "4111", "n": 1})), Some(json!({"card": "***", "n": 1})));
//!
//! let failing = Mask::fallible(|_v: Value| Err::<Value, _>("no"));
//! assert_eq!(failing.apply(json!("x")), None);
//! assert_eq!(FULLY_MASKED, "<fully masked due to failed mask function>");
//! ```

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::encoding::{encode_io, encode_metadata};

/// What a value becomes when the mask panics or fails (reference §8).
pub const FULLY_MASKED: &str = "<fully masked due to failed mask function>";

type MaskFn = dyn Fn(Value) -> Option<Value> + Send + Sync;

/// A mask function, shared by the layer and the threads that write values.
///
/// ```
/// use langfuse_tracing_core::mask::Mask;
/// let redact = Mask::new(|v| match v {
///     serde_json::Value::String(s) => serde_json::Value::String(s.replace("secret", "***")),
///     other => other,
/// });
/// assert_eq!(redact.apply("my secret".into()), Some("my ***".into()));
/// ```
#[derive(Clone)]
pub struct Mask(Arc<MaskFn>);

impl fmt::Debug for Mask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Mask(..)")
    }
}

impl Mask {
    /// A mask from a function that returns the masked value.
    ///
    /// ```
    /// let m = langfuse_tracing_core::mask::Mask::new(|_| serde_json::Value::Null);
    /// # let _ = m;
    /// ```
    pub fn new<F>(f: F) -> Self
    where
        F: Fn(Value) -> Value + Send + Sync + 'static,
    {
        Mask(Arc::new(move |v| Some(f(v))))
    }

    /// A mask from a fallible function: an `Err` (whatever it holds; it is not printed)
    /// yields [`FULLY_MASKED`].
    ///
    /// ```
    /// use serde_json::Value;
    /// let m = langfuse_tracing_core::mask::Mask::fallible(|v: Value| {
    ///     if v.to_string().contains("ssn") { Err("cannot redact") } else { Ok(v) }
    /// });
    /// assert_eq!(m.apply("ok".into()), Some("ok".into()));
    /// assert_eq!(m.apply("ssn 1".into()), None);
    /// ```
    pub fn fallible<F, E>(f: F) -> Self
    where
        F: Fn(Value) -> Result<Value, E> + Send + Sync + 'static,
    {
        Mask(Arc::new(move |v| f(v).ok()))
    }

    /// Runs the mask; `None` when it panicked or failed (one warning per process).
    ///
    /// ```
    /// let m = langfuse_tracing_core::mask::Mask::new(|_| panic!("mask bug"));
    /// # let hook = std::panic::take_hook();
    /// # std::panic::set_hook(Box::new(|_| {}));
    /// assert_eq!(m.apply(serde_json::json!(1)), None);
    /// # std::panic::set_hook(hook);
    /// ```
    pub fn apply(&self, value: Value) -> Option<Value> {
        match catch_unwind(AssertUnwindSafe(|| (self.0)(value))) {
            Ok(Some(v)) => Some(v),
            Ok(None) => {
                warn_failed("returned an error");
                None
            }
            Err(_payload) => {
                // The payload is dropped unread: its message may hold the value.
                warn_failed("panicked");
                None
            }
        }
    }

    /// The IO encoding of a masked value ([`FULLY_MASKED`], verbatim, on failure).
    fn io(&self, value: Value) -> String {
        match self.apply(value) {
            Some(v) => encode_io(&v),
            None => FULLY_MASKED.to_owned(),
        }
    }

    /// The metadata encoding of a masked single (non-object) metadata value.
    fn metadata_value(&self, value: Value) -> String {
        match self.apply(value) {
            Some(v) => encode_metadata(&v),
            None => encode_metadata(FULLY_MASKED),
        }
    }

    /// Masks the metadata of one call, given as metadata-encoded pairs, as one object.
    ///
    /// Returns the masked pairs, and a single value when the mask turned the object into
    /// something else (written as `langfuse.observation.metadata`, reference §5.1).
    pub(crate) fn metadata_pairs(
        &self,
        pairs: Vec<(String, String)>,
    ) -> (Vec<(String, String)>, Option<String>) {
        if pairs.is_empty() {
            return (pairs, None);
        }
        let mut object = Map::new();
        for (k, v) in &pairs {
            object.insert(k.clone(), decode_json(v));
        }
        match self.apply(Value::Object(object)) {
            Some(Value::Object(map)) => (
                map.into_iter()
                    .map(|(k, v)| (k, encode_metadata(&v)))
                    .collect(),
                None,
            ),
            // Nothing left to write (as the SDK skips a None metadata).
            Some(Value::Null) => (Vec::new(), None),
            Some(other) => (Vec::new(), Some(encode_metadata(&other))),
            None => {
                let masked = encode_metadata(FULLY_MASKED);
                (
                    pairs
                        .into_iter()
                        .map(|(k, _)| (k, masked.clone()))
                        .collect(),
                    None,
                )
            }
        }
    }
}

fn warn_failed(how: &str) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        crate::__layer::warn::stderr_line(format_args!(
            "langfuse: the mask function {how}; the value was replaced by \
             \"{FULLY_MASKED}\" (this warning is shown once)"
        ));
    }
}

/// Set once any layer with a mask exists in this process; never cleared.
static MASK_INSTALLED: AtomicBool = AtomicBool::new(false);

/// True once a layer with a mask was built in this process: builders and updates then
/// keep their input, output and metadata as plain JSON until the observation they go to
/// (and so its layer's mask) is known. One relaxed load.
///
/// ```
/// let _ = langfuse_tracing_core::mask::mask_installed();
/// ```
#[inline]
pub fn mask_installed() -> bool {
    MASK_INSTALLED.load(Ordering::Relaxed)
}

/// Called by a layer that has a mask, before it is attached to a subscriber.
///
/// ```
/// langfuse_tracing_core::mask::note_mask_installed();
/// assert!(langfuse_tracing_core::mask::mask_installed());
/// ```
#[doc(hidden)]
pub fn note_mask_installed() {
    MASK_INSTALLED.store(true, Ordering::Relaxed);
}

/// Parses JSON text written by this crate's encoders; anything else (it should not
/// happen) is taken as a string.
fn decode_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// How an encoded value that is about to be stored reads back as a `Value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoded {
    /// JSON text (a string is quoted).
    Json,
    /// A plain string, verbatim.
    Text,
    /// IO encoding of an unknown value: JSON if it parses, else a string.
    Io,
}

impl Encoded {
    fn decode(self, text: String) -> Value {
        match self {
            Encoded::Text => Value::String(text),
            Encoded::Json => decode_json(&text),
            Encoded::Io => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }
}

/// The IO encoding of a value read as `kind`, masked by `mask` when there is one.
///
/// `Encoded::Json` text must be IO-style JSON: without a mask only a top-level string
/// changes (it loses its quotes).
pub(crate) fn finish_io(mask: Option<&Mask>, text: String, kind: Encoded) -> String {
    match (mask, kind) {
        (None, Encoded::Text | Encoded::Io) => text,
        (None, Encoded::Json) => {
            if text.starts_with('"') {
                if let Ok(s) = serde_json::from_str::<String>(&text) {
                    return s;
                }
            }
            text
        }
        (Some(mask), _) => mask.io(kind.decode(text)),
    }
}

/// The JSON text (IO style, strings quoted) builders and updates keep once a mask exists
/// in the process, until [`finish_values`] knows the mask.
pub(crate) fn json_io<T: serde::Serialize + ?Sized>(value: &T) -> String {
    let mut out = crate::__layer::recycle::buffer(0);
    crate::encoding::write_json(&mut out, value, crate::encoding::JsonStyle::Io);
    out
}

/// Finishes the values of one builder or update kept as JSON (see [`json_io`]): masks
/// input, output and the metadata (as one object) with `mask`, and IO-encodes input and
/// output. A single value the mask made of the metadata object goes to
/// `metadata_value`, or is dropped where there is none (trace metadata).
pub(crate) fn finish_values(
    mask: Option<&Mask>,
    input: &mut Option<String>,
    output: &mut Option<String>,
    metadata: &mut Vec<(String, String)>,
    metadata_value: Option<&mut Option<String>>,
) {
    for v in [input, output] {
        if let Some(text) = v.take() {
            *v = Some(finish_io(mask, text, Encoded::Json));
        }
    }
    let Some(mask) = mask else { return };
    let mut single = None;
    if let Some(value) = metadata_value {
        if let Some(encoded) = value.take() {
            *value = Some(mask.metadata_value(decode_json(&encoded)));
        }
        single = Some(value);
    }
    if !metadata.is_empty() {
        let (pairs, value) = mask.metadata_pairs(std::mem::take(metadata));
        *metadata = pairs;
        if let (Some(value), Some(slot)) = (value, single) {
            *slot = Some(value);
        }
    }
}

/// Masks an IO-encoded value the layer received in a `tracing` field (JSON if the text
/// parses as JSON, else a string).
///
/// ```
/// use langfuse_tracing_core::mask::{mask_field_io, Mask};
/// let m = Mask::new(|_| "***".into());
/// assert_eq!(mask_field_io(&m, "secret".into()), "***");
/// ```
#[doc(hidden)]
pub fn mask_field_io(mask: &Mask, text: String) -> String {
    mask.io(Encoded::Io.decode(text))
}

/// Masks metadata-encoded pairs the layer received in `tracing` fields, as one object;
/// see [`Mask`]. A non-object result is returned as the single metadata value.
///
/// ```
/// use langfuse_tracing_core::mask::{mask_field_metadata, Mask};
/// let m = Mask::new(|_| serde_json::json!({"k": "***"}));
/// let (pairs, single) = mask_field_metadata(&m, vec![("k".into(), "\"v\"".into())]);
/// assert_eq!(pairs, vec![("k".to_string(), "\"***\"".to_string())]);
/// assert!(single.is_none());
/// ```
#[doc(hidden)]
pub fn mask_field_metadata(
    mask: &Mask,
    pairs: Vec<(String, String)>,
) -> (Vec<(String, String)>, Option<String>) {
    mask.metadata_pairs(pairs)
}

/// Masks a single metadata-encoded value the layer received in a `tracing` field.
///
/// ```
/// use langfuse_tracing_core::mask::{mask_field_metadata_value, Mask};
/// let m = Mask::new(|_| "***".into());
/// assert_eq!(mask_field_metadata_value(&m, "[1]".into()), "\"***\"");
/// ```
#[doc(hidden)]
pub fn mask_field_metadata_value(mask: &Mask, encoded: String) -> String {
    mask.metadata_value(decode_json(&encoded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn io_text_and_json_round_trip_without_a_mask() {
        assert_eq!(finish_io(None, "plain".into(), Encoded::Text), "plain");
        assert_eq!(finish_io(None, "\"plain\"".into(), Encoded::Json), "plain");
        // IO-style JSON stays as written (key order included).
        let io = r#"{"b": [1, 2.0, "\u00e9"], "a": null}"#;
        assert_eq!(finish_io(None, io.into(), Encoded::Json), io);
        // With a mask, the value is re-encoded in the IO style.
        let id = Mask::new(|v| v);
        assert_eq!(
            finish_io(Some(&id), r#"{"a":[1,2.0,"é"]}"#.into(), Encoded::Json),
            r#"{"a": [1, 2.0, "\u00e9"]}"#
        );
        assert_eq!(finish_io(Some(&id), "42".into(), Encoded::Text), "42");
        assert_eq!(finish_io(Some(&id), "\"42\"".into(), Encoded::Json), "42");
        assert_eq!(
            finish_io(None, r#""NaN""#.into(), Encoded::Json),
            "NaN",
            "a string stays a string"
        );
    }

    #[test]
    fn a_failing_mask_gives_the_fully_masked_value() {
        let m = Mask::fallible(|_v: Value| Err::<Value, ()>(()));
        assert_eq!(finish_io(Some(&m), "x".into(), Encoded::Text), FULLY_MASKED);
        let (pairs, single) =
            m.metadata_pairs(vec![("a".into(), "1".into()), ("b".into(), "\"s\"".into())]);
        let q = format!("\"{FULLY_MASKED}\"");
        assert_eq!(
            pairs,
            vec![("a".into(), q.clone()), ("b".into(), q.clone())]
        );
        assert!(single.is_none());
        assert_eq!(m.metadata_value(json!([1])), q);
        let p = Mask::new(|_| panic!("expected in this test"));
        assert_eq!(finish_io(Some(&p), "1".into(), Encoded::Json), FULLY_MASKED);
    }

    #[test]
    fn metadata_is_masked_as_one_object() {
        let m = Mask::new(|v| {
            assert_eq!(v, json!({"password": "hunter2", "n": 1}));
            json!({"password": "***", "n": 1})
        });
        let (pairs, _) = m.metadata_pairs(vec![
            ("password".into(), "\"hunter2\"".into()),
            ("n".into(), "1".into()),
        ]);
        assert_eq!(
            pairs,
            vec![
                ("n".to_string(), "1".to_string()),
                ("password".to_string(), "\"***\"".to_string())
            ]
        );
        let to_list = Mask::new(|_| json!([1]));
        assert_eq!(
            to_list.metadata_pairs(vec![("a".into(), "1".into())]),
            (Vec::new(), Some("[1]".to_string()))
        );
    }
}
