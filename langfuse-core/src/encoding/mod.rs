//! The two JSON encodings of the Langfuse wire format.
//!
//! The Langfuse Python SDK (5.0.4) writes observation attributes in two styles,
//! and the server-side UI shows them exactly as written, so this module
//! reproduces both byte for byte:
//!
//! * **IO encoding** ([`JsonStyle::Io`], [`encode_io`]): used for input,
//!   output, usage and cost details, model parameters and the completion start
//!   time. A top-level plain string is written verbatim; anything else is JSON
//!   with Python's default separators (`", "` and `": "`) and
//!   `ensure_ascii=True` (non-ASCII as lowercase `\uXXXX`, astral characters as
//!   UTF-16 surrogate pairs).
//! * **Metadata encoding** ([`JsonStyle::Metadata`], [`encode_metadata`]):
//!   every value is JSON (strings included, so `"api"` keeps its quotes),
//!   compact separators and raw UTF-8.
//!
//! Shared rules, applied at any nesting level: integers outside
//! ±(2^53 − 1) are written as JSON strings (JavaScript would lose precision),
//! NaN and the infinities become the strings `"NaN"`, `"Infinity"` and
//! `"-Infinity"`, finite floats follow Python's `repr` (`1.0`, `1e-05`,
//! `1e+16`), containers nested deeper than 20 levels are replaced by the
//! strings `"<dict>"` / `"<list>"`, and a value whose `Serialize` impl fails is
//! replaced as a whole by `"<not serializable object of type: X>"`.
//!
//! The serializer writes straight into a `String`; it never builds an
//! intermediate `serde_json::Value` and does not allocate per node.

use core::fmt::{self, Display, Write as _};

use serde::ser::{
    self, Impossible, Serialize, SerializeMap, SerializeSeq, SerializeStruct,
    SerializeStructVariant, SerializeTuple, SerializeTupleStruct, SerializeTupleVariant,
};

/// Which of the two Langfuse JSON styles to write.
///
/// The style decides the separators and whether non-ASCII characters are
/// escaped; both styles share the number, depth and fallback rules.
///
/// ```
/// use langfuse_tracing_core::encoding::{write_json, JsonStyle};
///
/// let mut out = String::new();
/// write_json(&mut out, &[1, 2], JsonStyle::Io);
/// out.push(' ');
/// write_json(&mut out, &[1, 2], JsonStyle::Metadata);
/// assert_eq!(out, "[1, 2] [1,2]");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonStyle {
    /// Python `json.dumps` defaults: `", "` / `": "` separators, ASCII only.
    Io,
    /// Compact `,` / `:` separators, non-ASCII written as raw UTF-8.
    Metadata,
}

impl JsonStyle {
    /// Separators of the style, as `(item separator, key separator)`:
    /// `Io` gives `(", ", ": ")`, `Metadata` gives `(",", ":")`.
    ///
    /// Exposed so callers that build an object piecewise (the `#[observe]`
    /// input object) lay it out like the serializer does.
    ///
    /// ```
    /// use langfuse_tracing_core::encoding::JsonStyle;
    ///
    /// assert_eq!(JsonStyle::Io.separators(), (", ", ": "));
    /// assert_eq!(JsonStyle::Metadata.separators(), (",", ":"));
    /// ```
    #[must_use]
    pub const fn separators(self) -> (&'static str, &'static str) {
        match self {
            JsonStyle::Io => (", ", ": "),
            JsonStyle::Metadata => (",", ":"),
        }
    }

    #[inline]
    const fn item_sep(self) -> &'static str {
        self.separators().0
    }

    #[inline]
    const fn key_sep(self) -> &'static str {
        self.separators().1
    }
}

/// IO encoding of a whole value: top-level strings verbatim, else spaced ASCII JSON.
///
/// This is what Langfuse expects for observation input and output (and the
/// other IO attributes): a plain string shows as text, structured data as JSON.
///
/// ```
/// use langfuse_tracing_core::encoding::encode_io;
///
/// assert_eq!(encode_io("hello"), "hello");
/// assert_eq!(encode_io(&6), "6");
/// assert_eq!(encode_io(&vec!["é"]), r#"["\u00e9"]"#);
/// ```
#[must_use]
pub fn encode_io<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = crate::__layer::recycle::buffer(0);
    write_io(&mut out, value);
    out
}

/// Metadata encoding: always JSON, compact, raw UTF-8.
///
/// Langfuse metadata values are stored JSON-encoded one by one, so even a
/// string keeps its quotes.
///
/// ```
/// use langfuse_tracing_core::encoding::encode_metadata;
///
/// assert_eq!(encode_metadata("api"), r#""api""#);
/// assert_eq!(encode_metadata(&3), "3");
/// assert_eq!(encode_metadata("значение"), r#""значение""#);
/// ```
#[must_use]
pub fn encode_metadata<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = String::new();
    write_json(&mut out, value, JsonStyle::Metadata);
    out
}

/// Appends `value` as a JSON value (strings quoted) in the given style.
///
/// Used to build objects piecewise (the `#[observe]` input object) without an
/// intermediate map. If the value's `Serialize` impl fails, whatever was
/// appended is removed and the fallback string
/// `"<not serializable object of type: X>"` is appended instead.
///
/// ```
/// use langfuse_tracing_core::encoding::{write_json, write_json_str, JsonStyle};
///
/// let style = JsonStyle::Io;
/// let (item, key) = style.separators();
/// let mut out = String::from("{");
/// write_json_str(&mut out, "a", style);
/// out.push_str(key);
/// write_json(&mut out, "x", style);
/// out.push_str(item);
/// write_json_str(&mut out, "b", style);
/// out.push_str(key);
/// write_json(&mut out, &2.0, style);
/// out.push('}');
/// assert_eq!(out, r#"{"a": "x", "b": 2.0}"#);
/// ```
pub fn write_json<T: Serialize + ?Sized>(out: &mut String, value: &T, style: JsonStyle) {
    write_value(out, value, style, false);
}

/// Appends a quoted, escaped JSON string in the given style.
///
/// Escapes like Python's `json.dumps`: `\"`, `\\`, `\n`, `\r`, `\t`, `\b`,
/// `\f`, other control characters as `\u00XX`; in [`JsonStyle::Io`] also DEL
/// and every non-ASCII character as `\uXXXX` (like `ensure_ascii=True`).
///
/// ```
/// use langfuse_tracing_core::encoding::{write_json_str, JsonStyle};
///
/// let mut out = String::new();
/// write_json_str(&mut out, "h\u{e9}\n", JsonStyle::Io);
/// assert_eq!(out, r#""h\u00e9\n""#);
/// ```
pub fn write_json_str(out: &mut String, s: &str, style: JsonStyle) {
    // One reservation for the common case (nothing to escape).
    out.reserve(s.len() + 2);
    out.push('"');
    write_escaped(out, s, style);
    out.push('"');
}

/// Appends IO-style top-level: a string verbatim, anything else as JSON (spaced, ASCII).
///
/// The appending form of [`encode_io`], for callers that reuse a buffer.
///
/// ```
/// use langfuse_tracing_core::encoding::write_io;
///
/// let mut out = String::new();
/// write_io(&mut out, &Some("plain text"));
/// assert_eq!(out, "plain text");
/// out.clear();
/// write_io(&mut out, &("a", 1));
/// assert_eq!(out, r#"["a", 1]"#);
/// ```
pub fn write_io<T: Serialize + ?Sized>(out: &mut String, value: &T) {
    write_value(out, value, JsonStyle::Io, true);
}

// ---------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------

/// Containers may nest this deep; a deeper one becomes `"<dict>"`/`"<list>"`.
const MAX_DEPTH: u32 = 20;

/// Largest integer JavaScript represents exactly (2^53 − 1).
const MAX_SAFE_INTEGER: u64 = 9_007_199_254_740_991;

fn write_value<T: Serialize + ?Sized>(
    out: &mut String,
    value: &T,
    style: JsonStyle,
    raw_top: bool,
) {
    let start = out.len();
    let result = {
        let mut ser = Ser {
            out: &mut *out,
            style,
            depth: 0,
            raw_top,
        };
        value.serialize(&mut ser)
    };
    if result.is_err() {
        out.truncate(start);
        out.push('"');
        write_escaped(out, "<not serializable object of type: ", style);
        write_escaped(out, short_type_name(core::any::type_name::<T>()), style);
        out.push_str(">\"");
    }
}

/// `std::any::type_name` reduced to a bare name, like Python's
/// `type(obj).__name__`: module path and generics dropped
/// (`alloc::vec::Vec<my::Item>` becomes `Vec`), references, pointers and
/// arrays looked through (`[&my::Item; 2]` becomes `Item`), tuples `tuple`.
pub(crate) fn short_type_name(full: &str) -> &str {
    if full.starts_with('(') {
        return "tuple";
    }
    let mut rest = full;
    loop {
        let before = rest.len();
        for prefix in ["&", "[", "*const ", "*mut ", "mut ", "dyn ", " "] {
            rest = rest.strip_prefix(prefix).unwrap_or(rest);
        }
        if rest.len() == before {
            break;
        }
    }
    let path_len = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(rest.len());
    let path = rest.get(..path_len).unwrap_or(rest);
    match path.rsplit("::").next() {
        Some(name) if !name.is_empty() => name,
        _ => full,
    }
}

// ---------------------------------------------------------------------------
// Error
// ---------------------------------------------------------------------------

/// The value could not be serialized; the message is irrelevant because the
/// whole value is replaced by the fallback string.
#[derive(Debug)]
struct Error;

impl Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("value is not serializable")
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: Display>(_msg: T) -> Self {
        Error
    }
}

mod escape;
mod number;
#[cfg(test)]
mod tests;
mod value;

use escape::*;
use number::*;
use value::*;
