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
fn short_type_name(full: &str) -> &str {
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

// ---------------------------------------------------------------------------
// String escaping
// ---------------------------------------------------------------------------

/// Table entry meaning: byte needs no escape.
const NO: u8 = 0;
/// Table entry meaning: control character written as `\u00XX`.
const UU: u8 = b'u';
/// Table entry meaning: non-ASCII lead byte, written as `\uXXXX` (IO only).
const NA: u8 = b'U';

const fn escape_table(escape_non_ascii: bool) -> [u8; 256] {
    let mut t = [NO; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = UU;
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    if escape_non_ascii {
        // Python's ASCII escaper keeps only ' '..='~' raw, so DEL is escaped.
        t[0x7f] = UU;
        let mut i = 0x80;
        while i < 0x100 {
            t[i] = NA;
            i += 1;
        }
    }
    t
}

static ESCAPE_IO: [u8; 256] = escape_table(true);
static ESCAPE_METADATA: [u8; 256] = escape_table(false);

const HEX: &[u8; 16] = b"0123456789abcdef";

#[inline]
fn push_u16_escape(out: &mut String, unit: u16) {
    out.push_str("\\u");
    out.push(HEX[usize::from(unit >> 12)] as char);
    out.push(HEX[usize::from((unit >> 8) & 0xf)] as char);
    out.push(HEX[usize::from((unit >> 4) & 0xf)] as char);
    out.push(HEX[usize::from(unit & 0xf)] as char);
}

/// True when none of the 8 bytes in `x` needs escaping: no control character, quote
/// or backslash, and for the IO style (ASCII output) no DEL and no non-ASCII byte.
#[inline(always)]
fn chunk_is_plain(x: u64, io: bool) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // Any byte of `v` zero / below `n` (exact as an "any" test for n <= 0x80).
    let has_zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    let below_0x20 = x.wrapping_sub(LO * 0x20) & !x & HI;
    let mut special =
        below_0x20 | has_zero(x ^ (LO * u64::from(b'"'))) | has_zero(x ^ (LO * u64::from(b'\\')));
    if io {
        special |= (x & HI) | has_zero(x ^ (LO * 0x7f));
    }
    special == 0
}

/// Appends the body of a JSON string (without quotes), escaped per `style`.
fn write_escaped(out: &mut String, s: &str, style: JsonStyle) {
    let table = match style {
        JsonStyle::Io => &ESCAPE_IO,
        JsonStyle::Metadata => &ESCAPE_METADATA,
    };
    let bytes = s.as_bytes();
    let io = style == JsonStyle::Io;
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Skip 8 plain bytes at a time; the table below handles the rest.
        if let Some(chunk) = bytes.get(i..i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            if chunk_is_plain(u64::from_le_bytes(word), io) {
                i += 8;
                continue;
            }
        }
        let esc = table[usize::from(bytes[i])];
        if esc == NO {
            i += 1;
            continue;
        }
        // `i` is always a char boundary here: escapes only start at ASCII
        // bytes or at the lead byte of a character skipped as a whole.
        out.push_str(s.get(start..i).unwrap_or_default());
        match esc {
            NA => match s.get(i..).and_then(|rest| rest.chars().next()) {
                Some(c) => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        push_u16_escape(out, *unit);
                    }
                    i += c.len_utf8();
                }
                None => i += 1,
            },
            UU => {
                push_u16_escape(out, u16::from(bytes[i]));
                i += 1;
            }
            short => {
                out.push('\\');
                out.push(short as char);
                i += 1;
            }
        }
        start = i;
    }
    out.push_str(s.get(start..).unwrap_or_default());
}

/// `fmt::Write` adapter escaping everything written through it
/// (for `collect_str`, so `Display` values need no temporary `String`).
struct EscapeWriter<'a> {
    out: &'a mut String,
    style: JsonStyle,
}

impl fmt::Write for EscapeWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_escaped(self.out, s, self.style);
        Ok(())
    }
}

fn write_display_str<D: Display + ?Sized>(
    out: &mut String,
    value: &D,
    style: JsonStyle,
) -> Result<(), Error> {
    out.push('"');
    let mut w = EscapeWriter {
        out: &mut *out,
        style,
    };
    write!(w, "{value}").map_err(|_| Error)?;
    out.push('"');
    Ok(())
}

// ---------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------

#[inline]
fn write_u64(out: &mut String, v: u64) {
    if v > MAX_SAFE_INTEGER {
        out.push('"');
        push_digits(out, v);
        out.push('"');
    } else {
        push_digits(out, v);
    }
}

/// The decimal digits of `v`, without going through `fmt` (a hot path: inputs are
/// often small integers).
#[inline]
fn push_digits(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        // `v % 10` is below 10: the cast cannot truncate.
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    out.push_str(core::str::from_utf8(&buf[i..]).unwrap_or_default());
}

#[inline]
fn write_i64(out: &mut String, v: i64) {
    let quoted = v.unsigned_abs() > MAX_SAFE_INTEGER;
    if quoted {
        out.push('"');
    }
    if v < 0 {
        out.push('-');
    }
    push_digits(out, v.unsigned_abs());
    if quoted {
        out.push('"');
    }
}

#[inline]
fn write_i128(out: &mut String, v: i128) {
    if v.unsigned_abs() > u128::from(MAX_SAFE_INTEGER) {
        let _ = write!(out, "\"{v}\"");
    } else {
        let _ = write!(out, "{v}");
    }
}

#[inline]
fn write_u128(out: &mut String, v: u128) {
    if v > u128::from(MAX_SAFE_INTEGER) {
        let _ = write!(out, "\"{v}\"");
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Small stack buffer for formatting one float without allocating.
struct StackBuf {
    buf: [u8; 64],
    len: usize,
}

impl StackBuf {
    const fn new() -> Self {
        StackBuf {
            buf: [0; 64],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        self.buf
            .get(..self.len)
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or_default()
    }
}

impl fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// A float as Python's `repr` writes it (non-finite values as the strings
/// `"NaN"`, `"Infinity"`, `"-Infinity"`, quotes included).
trait PyFloat: Copy + fmt::LowerExp + Display {
    fn is_nan(self) -> bool;
    fn is_infinite(self) -> bool;
    fn is_sign_negative(self) -> bool;
    fn abs(self) -> Self;
}

macro_rules! impl_py_float {
    ($($t:ty),*) => {$(
        impl PyFloat for $t {
            fn is_nan(self) -> bool { <$t>::is_nan(self) }
            fn is_infinite(self) -> bool { <$t>::is_infinite(self) }
            fn is_sign_negative(self) -> bool { <$t>::is_sign_negative(self) }
            fn abs(self) -> Self { <$t>::abs(self) }
        }
    )*};
}
impl_py_float!(f32, f64);

fn write_py_float<F: PyFloat>(out: &mut String, v: F) {
    if v.is_nan() {
        out.push_str("\"NaN\"");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v.is_sign_negative() {
            "\"-Infinity\""
        } else {
            "\"Infinity\""
        });
        return;
    }
    // Shortest round-trip digits in scientific form, e.g. `1.5e300`, `1e-7`.
    let mut buf = StackBuf::new();
    if write!(buf, "{:e}", v.abs()).is_err() {
        // Cannot happen (64 bytes are plenty); stay valid JSON regardless.
        let _ = write!(out, "{v}");
        return;
    }
    if v.is_sign_negative() {
        out.push('-');
    }
    layout_python_repr(out, buf.as_str());
}

/// Lays out `d[.ddd]e[-]X` (Rust `{:e}` of a non-negative finite float) the
/// way Python's `float.__repr__` does: fixed notation when
/// `-4 <= exponent < 16` (integral values get `.0`), otherwise
/// `d[.ddd]e±XX` with at least two exponent digits.
fn layout_python_repr(out: &mut String, sci: &str) {
    let (mantissa, exp_str) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp_str.parse().unwrap_or(0);
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let point = exp.unsigned_abs() as usize;
            out.push_str(int_part);
            match (frac_part.get(..point), frac_part.get(point..)) {
                (Some(before), Some(after)) if !after.is_empty() => {
                    out.push_str(before);
                    out.push('.');
                    out.push_str(after);
                }
                _ => {
                    out.push_str(frac_part);
                    for _ in frac_part.len()..point {
                        out.push('0');
                    }
                    out.push_str(".0");
                }
            }
        } else {
            out.push_str("0.");
            for _ in 1..exp.unsigned_abs() {
                out.push('0');
            }
            out.push_str(int_part);
            out.push_str(frac_part);
        }
    } else {
        out.push_str(mantissa);
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let abs = exp.unsigned_abs();
        if abs < 10 {
            out.push('0');
        }
        let _ = write!(out, "{abs}");
    }
}

// ---------------------------------------------------------------------------
// Value serializer
// ---------------------------------------------------------------------------

struct Ser<'a> {
    out: &'a mut String,
    style: JsonStyle,
    /// Number of containers currently open.
    depth: u32,
    /// IO top level: a string outside any container is written verbatim.
    raw_top: bool,
}

impl<'a> Ser<'a> {
    #[inline]
    fn raw_string_here(&self) -> bool {
        self.raw_top && self.depth == 0
    }

    #[inline]
    fn write_str_value(&mut self, s: &str) {
        if self.raw_string_here() {
            self.out.push_str(s);
        } else {
            write_json_str(self.out, s, self.style);
        }
    }

    /// Opens a container, or writes its depth-limit placeholder and returns
    /// `false` when it would nest deeper than [`MAX_DEPTH`].
    fn open(&mut self, kind: Kind) -> bool {
        if self.depth >= MAX_DEPTH {
            self.out.push_str(match kind {
                Kind::Map => "\"<dict>\"",
                Kind::Seq => "\"<list>\"",
            });
            false
        } else {
            self.depth += 1;
            self.out.push(match kind {
                Kind::Map => '{',
                Kind::Seq => '[',
            });
            true
        }
    }

    fn close(&mut self, kind: Kind) {
        self.depth = self.depth.saturating_sub(1);
        self.out.push(match kind {
            Kind::Map => '}',
            Kind::Seq => ']',
        });
    }

    fn compound(&mut self, kind: Kind) -> Compound<'_, 'a> {
        let state = if self.open(kind) {
            State::First
        } else {
            State::Skip
        };
        Compound {
            ser: self,
            state,
            kind,
            in_variant: false,
        }
    }

    /// `{"Variant": <container>` for tuple and struct variants.
    fn variant_compound(&mut self, variant: &str, kind: Kind) -> Compound<'_, 'a> {
        let mut state = State::Skip;
        let mut in_variant = false;
        if self.open(Kind::Map) {
            write_json_str(self.out, variant, self.style);
            self.out.push_str(self.style.key_sep());
            if self.open(kind) {
                state = State::First;
                in_variant = true;
            } else {
                self.close(Kind::Map);
            }
        }
        Compound {
            ser: self,
            state,
            kind,
            in_variant,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Map,
    Seq,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Over the depth limit: the placeholder is written, contents ignored.
    Skip,
    First,
    Rest,
}

struct Compound<'s, 'a> {
    ser: &'s mut Ser<'a>,
    state: State,
    kind: Kind,
    /// Also close the `{"Variant": ` wrapper on end.
    in_variant: bool,
}

impl Compound<'_, '_> {
    /// Writes the item separator if needed; `false` when contents are skipped.
    #[inline]
    fn begin_item(&mut self) -> bool {
        match self.state {
            State::Skip => false,
            State::First => {
                self.state = State::Rest;
                true
            }
            State::Rest => {
                self.ser.out.push_str(self.ser.style.item_sep());
                true
            }
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if self.begin_item() {
            value.serialize(&mut *self.ser)
        } else {
            Ok(())
        }
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Error> {
        if self.begin_item() {
            write_json_str(self.ser.out, key, self.ser.style);
            self.ser.out.push_str(self.ser.style.key_sep());
            value.serialize(&mut *self.ser)
        } else {
            Ok(())
        }
    }

    fn finish(self) -> Result<(), Error> {
        if self.state != State::Skip {
            self.ser.close(self.kind);
            if self.in_variant {
                self.ser.close(Kind::Map);
            }
        }
        Ok(())
    }
}

impl<'s, 'a> ser::Serializer for &'s mut Ser<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'s, 'a>;
    type SerializeTuple = Compound<'s, 'a>;
    type SerializeTupleStruct = Compound<'s, 'a>;
    type SerializeTupleVariant = Compound<'s, 'a>;
    type SerializeMap = Compound<'s, 'a>;
    type SerializeStruct = Compound<'s, 'a>;
    type SerializeStructVariant = Compound<'s, 'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        write_i64(self.out, i64::from(v));
        Ok(())
    }

    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        write_i64(self.out, i64::from(v));
        Ok(())
    }

    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        write_i64(self.out, i64::from(v));
        Ok(())
    }

    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        write_i64(self.out, v);
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        write_i128(self.out, v);
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        write_u64(self.out, u64::from(v));
        Ok(())
    }

    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        write_u64(self.out, u64::from(v));
        Ok(())
    }

    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        write_u64(self.out, u64::from(v));
        Ok(())
    }

    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        write_u64(self.out, v);
        Ok(())
    }

    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        write_u128(self.out, v);
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        write_py_float(self.out, v);
        Ok(())
    }

    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        write_py_float(self.out, v);
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        let mut buf = [0u8; 4];
        self.write_str_value(v.encode_utf8(&mut buf));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.write_str_value(v);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        // Like Python's `bytes.decode("utf-8")`; always a quoted JSON string.
        match core::str::from_utf8(v) {
            Ok(s) => write_json_str(self.out, s, self.style),
            Err(_) => self.out.push_str("\"<not serializable bytes>\""),
        }
        Ok(())
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.out.push_str("null");
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.out.push_str("null");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.out.push_str("null");
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        // An enum is not a plain string, so it is quoted even at IO top level.
        write_json_str(self.out, variant, self.style);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _variant_index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        if !self.open(Kind::Map) {
            return Ok(());
        }
        write_json_str(self.out, variant, self.style);
        self.out.push_str(self.style.key_sep());
        value.serialize(&mut *self)?;
        self.close(Kind::Map);
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'s, 'a>, Error> {
        Ok(self.compound(Kind::Seq))
    }

    fn serialize_tuple(self, _len: usize) -> Result<Compound<'s, 'a>, Error> {
        Ok(self.compound(Kind::Seq))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Compound<'s, 'a>, Error> {
        Ok(self.compound(Kind::Seq))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'s, 'a>, Error> {
        Ok(self.variant_compound(variant, Kind::Seq))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'s, 'a>, Error> {
        Ok(self.compound(Kind::Map))
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Compound<'s, 'a>, Error> {
        Ok(self.compound(Kind::Map))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'s, 'a>, Error> {
        Ok(self.variant_compound(variant, Kind::Map))
    }

    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<(), Error> {
        if self.raw_string_here() {
            write!(self.out, "{value}").map_err(|_| Error)
        } else {
            write_display_str(self.out, value, self.style)
        }
    }
}

impl SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl SerializeTupleVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        if self.begin_item() {
            key.serialize(KeySer {
                out: &mut *self.ser.out,
                style: self.ser.style,
            })?;
            self.ser.out.push_str(self.ser.style.key_sep());
        }
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if self.state == State::Skip {
            Ok(())
        } else {
            value.serialize(&mut *self.ser)
        }
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.field(key, value)
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.field(key, value)
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

// ---------------------------------------------------------------------------
// Map key serializer
// ---------------------------------------------------------------------------

/// Writes a map key as a quoted JSON string: strings as they are, integers,
/// booleans, chars and floats stringified (as Python's `json.dumps` and
/// `serde_json` do); any other key is an error.
struct KeySer<'a> {
    out: &'a mut String,
    style: JsonStyle,
}

impl KeySer<'_> {
    fn quoted<D: Display>(self, v: D) -> Result<(), Error> {
        let _ = write!(self.out, "\"{v}\"");
        Ok(())
    }

    fn float<F: PyFloat>(self, v: F) -> Result<(), Error> {
        if v.is_nan() || v.is_infinite() {
            // Already a quoted string.
            write_py_float(self.out, v);
        } else {
            self.out.push('"');
            write_py_float(self.out, v);
            self.out.push('"');
        }
        Ok(())
    }
}

impl ser::Serializer for KeySer<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.quoted(v)
    }

    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.quoted(v)
    }

    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.quoted(v)
    }

    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.quoted(v)
    }

    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.quoted(v)
    }

    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.quoted(v)
    }

    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.quoted(v)
    }

    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.quoted(v)
    }

    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.quoted(v)
    }

    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.quoted(v)
    }

    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.quoted(v)
    }

    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.float(v)
    }

    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.float(v)
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        let mut buf = [0u8; 4];
        write_json_str(self.out, v.encode_utf8(&mut buf), self.style);
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_json_str(self.out, v, self.style);
        Ok(())
    }

    fn serialize_bytes(self, _v: &[u8]) -> Result<(), Error> {
        Err(Error)
    }

    fn serialize_none(self) -> Result<(), Error> {
        Err(Error)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<(), Error> {
        Err(Error)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        Err(Error)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Err(Error)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        write_json_str(self.out, variant, self.style);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _variant_index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(Error)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(Error)
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(Error)
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(Error)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(Error)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(Error)
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Error> {
        Err(Error)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(Error)
    }

    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<(), Error> {
        write_display_str(self.out, value, self.style)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::ser::Error as _;
    use serde::Serialize;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn meta<T: Serialize + ?Sized>(v: &T) -> String {
        encode_metadata(v)
    }

    fn io_json<T: Serialize + ?Sized>(v: &T) -> String {
        let mut out = String::new();
        write_json(&mut out, v, JsonStyle::Io);
        out
    }

    #[derive(Serialize)]
    struct Query {
        query: &'static str,
        unicode: &'static str,
    }

    #[derive(Serialize)]
    struct Usage {
        input: u64,
        output: u64,
    }

    #[derive(Serialize)]
    struct Cost {
        input: f64,
        total: f64,
    }

    #[test]
    fn io_spec_examples() {
        let q = Query {
            query: "Tell me about AI",
            unicode: "h\u{e9}llo \u{2713}",
        };
        assert_eq!(
            encode_io(&q),
            r#"{"query": "Tell me about AI", "unicode": "h\u00e9llo \u2713"}"#
        );
        assert_eq!(
            encode_io(&Usage {
                input: 10,
                output: 50
            }),
            r#"{"input": 10, "output": 50}"#
        );
        assert_eq!(
            encode_io(&Cost {
                input: 0.0001,
                total: 0.0021
            }),
            r#"{"input": 0.0001, "total": 0.0021}"#
        );
        assert_eq!(encode_io(&json!({})), "{}");
        assert_eq!(encode_io(&json!([])), "[]");
        assert_eq!(encode_io(&Vec::<u8>::new()), "[]");
        assert_eq!(
            encode_io(&json!({"a": [1, {"b": null}], "c": true})),
            r#"{"a": [1, {"b": null}], "c": true}"#
        );
    }

    #[test]
    fn io_top_level_strings_are_verbatim() {
        assert_eq!(
            encode_io("plain \"text\"\n\u{e9}"),
            "plain \"text\"\n\u{e9}"
        );
        assert_eq!(encode_io(&String::from("s")), "s");
        assert_eq!(encode_io(&std::borrow::Cow::Borrowed("cow")), "cow");
        assert_eq!(encode_io(&Box::<str>::from("boxed")), "boxed");
        assert_eq!(encode_io(&Some("x")), "x");
        assert_eq!(encode_io(&'c'), "c");
        assert_eq!(encode_io(&json!("value str")), "value str");
        assert_eq!(encode_io(&format_args!("{}-{}", 1, "é")), "1-é");
        assert_eq!(encode_io(""), "");
        // Nested strings are quoted and escaped.
        assert_eq!(encode_io(&["x"]), r#"["x"]"#);
        assert_eq!(encode_io(&[format_args!("é")]), r#"["\u00e9"]"#);
        // write_json quotes top-level strings in both styles.
        assert_eq!(io_json("x"), r#""x""#);
        assert_eq!(io_json("\u{e9}"), r#""\u00e9""#);
        // Non-strings at top level.
        assert_eq!(encode_io(&6), "6");
        assert_eq!(encode_io(&None::<&str>), "null");
        assert_eq!(encode_io(&()), "null");
        assert_eq!(encode_io(&true), "true");
    }

    #[test]
    fn io_write_appends() {
        let mut out = String::from("prefix:");
        write_io(&mut out, "s");
        write_io(&mut out, &[1, 2]);
        assert_eq!(out, "prefix:s[1, 2]");
    }

    #[test]
    fn metadata_spec_examples() {
        assert_eq!(meta("api"), "\"api\"");
        assert_eq!(meta(&3), "3");
        assert_eq!(meta(&true), "true");
        assert_eq!(meta(&json!({"k": [1, 2]})), r#"{"k":[1,2]}"#);
        assert_eq!(meta("значение"), "\"значение\"");
        assert_eq!(
            meta(&json!({"extra": {"nested": [1, 2]}})),
            r#"{"extra":{"nested":[1,2]}}"#
        );
        assert_eq!(meta(&json!({"ключ": "😀"})), "{\"ключ\":\"😀\"}");
        assert_eq!(meta("a\"b\\c\n\u{1}"), r#""a\"b\\c\n\u0001""#);
    }

    #[test]
    fn separators() {
        assert_eq!(JsonStyle::Io.separators(), (", ", ": "));
        assert_eq!(JsonStyle::Metadata.separators(), (",", ":"));
    }

    #[test]
    fn big_integers_become_strings() {
        let max = 9_007_199_254_740_991_u64;
        assert_eq!(meta(&(1u64 << 60)), r#""1152921504606846976""#);
        assert_eq!(encode_io(&(1u64 << 60)), r#""1152921504606846976""#);
        assert_eq!(meta(&max), "9007199254740991");
        assert_eq!(meta(&(max + 1)), r#""9007199254740992""#);
        assert_eq!(meta(&-(max as i64)), "-9007199254740991");
        assert_eq!(meta(&(-(max as i64) - 1)), r#""-9007199254740992""#);
        assert_eq!(meta(&i64::MIN), r#""-9223372036854775808""#);
        assert_eq!(meta(&u64::MAX), r#""18446744073709551615""#);
        assert_eq!(meta(&(max as i128)), "9007199254740991");
        assert_eq!(
            meta(&(1i128 << 100)),
            r#""1267650600228229401496703205376""#
        );
        assert_eq!(
            meta(&i128::MIN),
            r#""-170141183460469231731687303715884105728""#
        );
        assert_eq!(
            meta(&u128::MAX),
            r#""340282366920938463463374607431768211455""#
        );
        assert_eq!(meta(&(max as u128)), "9007199254740991");
        assert_eq!(
            encode_io(&json!({"n": 1u64 << 60})),
            r#"{"n": "1152921504606846976"}"#
        );
        assert_eq!(meta(&[-1i8, 2]), "[-1,2]");
        assert_eq!(meta(&[u8::MAX]), "[255]");
    }

    #[test]
    fn non_finite_floats() {
        assert_eq!(meta(&f64::NAN), r#""NaN""#);
        assert_eq!(meta(&f64::INFINITY), r#""Infinity""#);
        assert_eq!(meta(&f64::NEG_INFINITY), r#""-Infinity""#);
        assert_eq!(encode_io(&f64::NAN), r#""NaN""#);
        assert_eq!(meta(&f32::NAN), r#""NaN""#);
        assert_eq!(meta(&f32::NEG_INFINITY), r#""-Infinity""#);
        assert_eq!(
            encode_io(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY]),
            r#"["NaN", "Infinity", "-Infinity"]"#
        );
    }

    #[test]
    fn python_float_repr() {
        let cases: &[(f64, &str)] = &[
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345.0, "123456789012345.0"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1.5e300, "1.5e+300"),
            (1.0, "1.0"),
            (2.0, "2.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (100.0, "100.0"),
            (0.0021, "0.0021"),
            (1e-7, "1e-07"),
            (1.25e-10, "1.25e-10"),
            (1e100, "1e+100"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (123.456, "123.456"),
            (1234567890123456.7, "1234567890123456.8"),
            (12345678901234567.0, "1.2345678901234568e+16"),
            (0.30000000000000004, "0.30000000000000004"),
            (-1e-5, "-1e-05"),
        ];
        for &(v, want) in cases {
            assert_eq!(meta(&v), want, "value {v:?}");
            assert_eq!(encode_io(&v), want, "value {v:?}");
        }
        assert_eq!(meta(&0.1f32), "0.1");
        assert_eq!(meta(&1f32), "1.0");
        assert_eq!(meta(&1e-5f32), "1e-05");
        assert_eq!(meta(&json!({"x": 2.0})), r#"{"x":2.0}"#);
    }

    #[test]
    fn ascii_escaping_and_surrogates() {
        assert_eq!(encode_io(&["😀"]), r#"["\ud83d\ude00"]"#);
        assert_eq!(io_json("a😀b"), r#""a\ud83d\ude00b""#);
        assert_eq!(io_json("\u{ffff}\u{10000}"), r#""\uffff\ud800\udc00""#);
        assert_eq!(io_json("中文"), r#""\u4e2d\u6587""#);
        // Python's ensure_ascii escapes DEL too; ensure_ascii=False does not.
        assert_eq!(io_json("a\u{7f}b\u{80}\u{ff}"), r#""a\u007fb\u0080\u00ff""#);
        assert_eq!(meta("a\u{7f}b"), "\"a\u{7f}b\"");
        assert_eq!(meta("😀"), "\"😀\"");
        assert_eq!(
            io_json("\"\\\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f}/"),
            "\"\\\"\\\\\\n\\r\\t\\b\\f\\u0000\\u001f\\u007f/\""
        );
        assert_eq!(
            meta("\"\\\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f}/"),
            "\"\\\"\\\\\\n\\r\\t\\b\\f\\u0000\\u001f\u{7f}/\""
        );
        let mut out = String::new();
        write_json_str(&mut out, "k\u{e9}", JsonStyle::Metadata);
        write_json_str(&mut out, "k\u{e9}", JsonStyle::Io);
        assert_eq!(out, "\"k\u{e9}\"\"k\\u00e9\"");
        // Escaped runs interleaved with plain runs.
        assert_eq!(io_json("ab\ncd\u{e9}ef\"gh"), r#""ab\ncd\u00e9ef\"gh""#);
    }

    fn nested_vec(levels: usize) -> serde_json::Value {
        let mut v = json!(1);
        for _ in 0..levels {
            v = json!([v]);
        }
        v
    }

    fn nested_map(levels: usize) -> serde_json::Value {
        let mut v = json!(1);
        for _ in 0..levels {
            v = json!({ "a": v });
        }
        v
    }

    #[test]
    fn depth_limit() {
        let twenty = format!("{}1{}", "[".repeat(20), "]".repeat(20));
        assert_eq!(meta(&nested_vec(20)), twenty);
        let cut = format!("{}\"<list>\"{}", "[".repeat(20), "]".repeat(20));
        assert_eq!(meta(&nested_vec(21)), cut);
        assert_eq!(meta(&nested_vec(30)), cut);

        let twenty = format!("{}1{}", "{\"a\":".repeat(20), "}".repeat(20));
        assert_eq!(meta(&nested_map(20)), twenty);
        let cut = format!("{}\"<dict>\"{}", "{\"a\":".repeat(20), "}".repeat(20));
        assert_eq!(meta(&nested_map(21)), cut);
        let io_cut = format!("{}\"<dict>\"{}", "{\"a\": ".repeat(20), "}".repeat(20));
        assert_eq!(encode_io(&nested_map(25)), io_cut);

        // Siblings after a cut container are still written.
        let v = json!([nested_vec(20), 2]);
        let want = format!("[{}\"<list>\"{},2]", "[".repeat(19), "]".repeat(19));
        assert_eq!(meta(&v), want);

        // Strings and scalars at depth 21 are not containers: kept.
        let deep_scalar = format!("{}\"s\"{}", "[".repeat(20), "]".repeat(20));
        let mut v = json!("s");
        for _ in 0..20 {
            v = json!([v]);
        }
        assert_eq!(meta(&v), deep_scalar);
    }

    #[derive(Serialize)]
    enum E {
        Unit,
        New(u8),
        Tup(u8, &'static str),
        Struct { a: u8 },
    }

    #[test]
    fn depth_limit_on_variants() {
        // 19 arrays + variant object (20) + inner list (21 -> cut).
        let want = format!("{}{{\"Tup\":\"<list>\"}}{}", "[".repeat(19), "]".repeat(19));
        assert_eq!(encode_metadata(&wrap19(&E::Tup(1, "x"))), want);
        let want = format!(
            "{}{{\"Struct\":\"<dict>\"}}{}",
            "[".repeat(19),
            "]".repeat(19)
        );
        assert_eq!(encode_metadata(&wrap19(&E::Struct { a: 1 })), want);
        let want = format!("{}{{\"New\":1}}{}", "[".repeat(19), "]".repeat(19));
        assert_eq!(encode_metadata(&wrap19(&E::New(1))), want);
        let want = format!("{}\"<dict>\"{}", "[".repeat(20), "]".repeat(20));
        assert_eq!(encode_metadata(&wrap20(&E::New(1))), want);
        assert_eq!(encode_metadata(&wrap20(&E::Struct { a: 1 })), want);
        assert_eq!(
            encode_metadata(&wrap20(&E::Unit)),
            format!("{}\"Unit\"{}", "[".repeat(20), "]".repeat(20))
        );
    }

    /// `v` inside `levels` one-element arrays.
    struct Nest<'a, T: ?Sized>(usize, &'a T);

    impl<T: Serialize + ?Sized> Serialize for Nest<'_, T> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match self.0.checked_sub(1) {
                None => self.1.serialize(s),
                Some(inner) => [Nest(inner, self.1)].serialize(s),
            }
        }
    }

    fn wrap19<T: Serialize + ?Sized>(v: &T) -> Nest<'_, T> {
        Nest(19, v)
    }

    fn wrap20<T: Serialize + ?Sized>(v: &T) -> Nest<'_, T> {
        Nest(20, v)
    }

    #[test]
    fn enums_units_and_newtypes() {
        #[derive(Serialize)]
        struct UnitStruct;
        #[derive(Serialize)]
        struct Wrapper(&'static str);
        #[derive(Serialize)]
        struct Pair(u8, u8);

        assert_eq!(meta(&E::Unit), r#""Unit""#);
        assert_eq!(encode_io(&E::Unit), r#""Unit""#);
        assert_eq!(meta(&E::New(5)), r#"{"New":5}"#);
        assert_eq!(meta(&E::Tup(1, "é")), r#"{"Tup":[1,"é"]}"#);
        assert_eq!(encode_io(&E::Tup(1, "é")), r#"{"Tup": [1, "\u00e9"]}"#);
        assert_eq!(meta(&E::Struct { a: 7 }), r#"{"Struct":{"a":7}}"#);
        assert_eq!(encode_io(&E::Struct { a: 7 }), r#"{"Struct": {"a": 7}}"#);
        assert_eq!(meta(&UnitStruct), "null");
        assert_eq!(meta(&()), "null");
        assert_eq!(meta(&None::<u8>), "null");
        assert_eq!(meta(&Some(4)), "4");
        assert_eq!(meta(&Wrapper("w")), r#""w""#);
        assert_eq!(encode_io(&Wrapper("w")), "w");
        assert_eq!(meta(&Pair(1, 2)), "[1,2]");
        assert_eq!(meta(&(1, "a", 2.5)), r#"[1,"a",2.5]"#);
        assert_eq!(meta(&'x'), r#""x""#);
        assert_eq!(meta(&vec![Some(1), None]), "[1,null]");
    }

    struct Bytes<'a>(&'a [u8]);

    impl Serialize for Bytes<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }

    #[test]
    fn bytes() {
        assert_eq!(meta(&Bytes(b"hi\n")), r#""hi\n""#);
        assert_eq!(encode_io(&Bytes("é".as_bytes())), r#""\u00e9""#);
        assert_eq!(meta(&Bytes(&[0xff, 0xfe])), r#""<not serializable bytes>""#);
        assert_eq!(
            encode_io(&[Bytes(&[0xc3])]),
            r#"["<not serializable bytes>"]"#
        );
    }

    #[test]
    fn map_keys() {
        let mut m = BTreeMap::new();
        m.insert(1u64 << 60, "big");
        m.insert(2, "two");
        assert_eq!(meta(&m), r#"{"2":"two","1152921504606846976":"big"}"#);
        let mut m = BTreeMap::new();
        m.insert(-3i32, 1);
        assert_eq!(encode_io(&m), r#"{"-3": 1}"#);
        let mut m = BTreeMap::new();
        m.insert(true, 1);
        m.insert(false, 0);
        assert_eq!(meta(&m), r#"{"false":0,"true":1}"#);
        let mut m = BTreeMap::new();
        m.insert('é', 1);
        assert_eq!(encode_io(&m), r#"{"\u00e9": 1}"#);
        assert_eq!(meta(&m), r#"{"é":1}"#);
        let mut m = BTreeMap::new();
        m.insert("k\"ey", 1);
        assert_eq!(meta(&m), r#"{"k\"ey":1}"#);

        #[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
        enum K {
            Alpha,
        }
        let mut m = BTreeMap::new();
        m.insert(K::Alpha, 1);
        assert_eq!(meta(&m), r#"{"Alpha":1}"#);

        struct FloatKeys;
        impl Serialize for FloatKeys {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap as _;
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry(&1.5f64, &1)?;
                m.serialize_entry(&f64::NAN, &2)?;
                m.serialize_key(&2.0f32)?;
                m.serialize_value(&3)?;
                m.end()
            }
        }
        assert_eq!(meta(&FloatKeys), r#"{"1.5":1,"NaN":2,"2.0":3}"#);

        // Unsupported key type: the whole value falls back.
        let mut m = BTreeMap::new();
        m.insert(vec![1], 1);
        assert_eq!(meta(&m), r#""<not serializable object of type: BTreeMap>""#);
    }

    struct Failing;

    impl Serialize for Failing {
        fn serialize<S: serde::Serializer>(&self, _s: S) -> Result<S::Ok, S::Error> {
            Err(S::Error::custom("nope"))
        }
    }

    #[derive(Serialize)]
    struct HasFailing {
        ok: u8,
        bad: Failing,
    }

    #[test]
    fn error_fallback() {
        assert_eq!(
            meta(&Failing),
            r#""<not serializable object of type: Failing>""#
        );
        assert_eq!(
            encode_io(&Failing),
            r#""<not serializable object of type: Failing>""#
        );
        assert_eq!(
            encode_io(&HasFailing {
                ok: 1,
                bad: Failing
            }),
            r#""<not serializable object of type: HasFailing>""#
        );
        assert_eq!(
            encode_io(&vec![HasFailing {
                ok: 1,
                bad: Failing
            }]),
            r#""<not serializable object of type: Vec>""#
        );
        // Output written before the failing call is kept; partial output is removed.
        let mut out = String::from("{\"a\": ");
        write_json(
            &mut out,
            &HasFailing {
                ok: 1,
                bad: Failing,
            },
            JsonStyle::Io,
        );
        assert_eq!(
            out,
            r#"{"a": "<not serializable object of type: HasFailing>""#
        );
        let mut out = String::from("x=");
        write_io(&mut out, &[Failing]);
        assert_eq!(out, r#"x="<not serializable object of type: Failing>""#);
        // The type name is found through arrays and references too.
        assert_eq!(
            meta(&[[&Failing; 1]; 2]),
            r#""<not serializable object of type: Failing>""#
        );
        // Content inside a container beyond the depth limit is never visited.
        assert_eq!(
            meta(&wrap20(&[Failing])),
            format!("{}\"<list>\"{}", "[".repeat(20), "]".repeat(20))
        );
    }

    #[test]
    fn short_type_names() {
        assert_eq!(short_type_name("alloc::vec::Vec<my::Item>"), "Vec");
        assert_eq!(short_type_name("my_crate::module::Thing"), "Thing");
        assert_eq!(short_type_name("&str"), "str");
        assert_eq!(short_type_name("Plain"), "Plain");
        assert_eq!(short_type_name("()"), "tuple");
        assert_eq!(short_type_name("(i32, my::X)"), "tuple");
        assert_eq!(short_type_name("[[&my::Failing; 1]; 1]"), "Failing");
        assert_eq!(short_type_name("&mut [my::Y]"), "Y");
        assert_eq!(short_type_name("*const u8"), "u8");
        assert_eq!(short_type_name("dyn my::Tr"), "Tr");
    }

    #[test]
    fn serde_json_values() {
        assert_eq!(meta(&json!(5u64)), "5");
        assert_eq!(meta(&json!(-5i64)), "-5");
        assert_eq!(meta(&json!(u64::MAX)), r#""18446744073709551615""#);
        assert_eq!(meta(&json!(i64::MIN)), r#""-9223372036854775808""#);
        assert_eq!(meta(&json!(2.5)), "2.5");
        assert_eq!(meta(&json!(3.0)), "3.0");
        assert_eq!(meta(&json!(1e-7)), "1e-07");
        assert_eq!(meta(&json!(null)), "null");
        assert_eq!(meta(&json!("s")), r#""s""#);
        assert_eq!(
            encode_io(&json!({"b": [1, 2.0, "x", null, false], "a": {"c": -1}})),
            r#"{"a": {"c": -1}, "b": [1, 2.0, "x", null, false]}"#
        );
        assert_eq!(
            meta(&json!({"b": [1, 2.0, "x", null, false], "a": {"c": -1}})),
            r#"{"a":{"c":-1},"b":[1,2.0,"x",null,false]}"#
        );
    }

    #[test]
    fn piecewise_object() {
        let style = JsonStyle::Io;
        let (item, key) = style.separators();
        let mut out = String::from("{");
        write_json_str(&mut out, "query", style);
        out.push_str(key);
        write_json(&mut out, "Tell me about AI", style);
        out.push_str(item);
        write_json_str(&mut out, "n", style);
        out.push_str(key);
        write_json(
            &mut out,
            &Usage {
                input: 10,
                output: 50,
            },
            style,
        );
        out.push('}');
        assert_eq!(
            out,
            r#"{"query": "Tell me about AI", "n": {"input": 10, "output": 50}}"#
        );
    }

    /// The 8-bytes-at-a-time skip must agree with a byte-by-byte reference on any input.
    #[test]
    fn fast_skip_matches_a_reference_escaper() {
        fn reference(s: &str, io: bool) -> String {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\u{8}' => out.push_str("\\b"),
                    '\u{c}' => out.push_str("\\f"),
                    c if (c as u32) < 0x20 || (io && (c as u32) >= 0x7f) => {
                        let mut units = [0u16; 2];
                        for u in c.encode_utf16(&mut units) {
                            out.push_str(&format!("\\u{:04x}", u));
                        }
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        let alphabet: Vec<char> = "abcXYZ019 _-/\"\\\n\t\u{1}\u{1f}\u{7f}é✓😀~{}"
            .chars()
            .collect();
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..5_000 {
            let len = rng.usize(0..48);
            let s: String = (0..len)
                .map(|_| alphabet[rng.usize(0..alphabet.len())])
                .collect();
            for (style, io) in [(JsonStyle::Io, true), (JsonStyle::Metadata, false)] {
                let mut out = String::new();
                write_json_str(&mut out, &s, style);
                assert_eq!(out, reference(&s, io), "{s:?} {style:?}");
            }
        }
    }
}
