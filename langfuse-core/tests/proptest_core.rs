//! Property tests (issue 17) of the JSON encoders, id parsing and W3C
//! `traceparent` / `baggage` extraction, through the public API.
//!
//! Oracles: `serde_json` where the styles agree (the metadata style is `serde_json`'s
//! compact output for values without floats), a `serde_json` formatter configured as
//! Python's `json.dumps` defaults for the IO style, and parsing back what was written.
//!
//! Case counts (kept modest for CI): `JSON_CASES` per JSON property, `CASES` per
//! other property. Run: `cargo test -p langfuse-tracing-core --test proptest_core`.

use std::io;

use langfuse_tracing_core::encoding::{
    encode_io, encode_metadata, write_json, write_json_str, JsonStyle,
};
use langfuse_tracing_core::propagation::{
    current_baggage, current_traceparent, extract_trace_headers, RemoteContext,
};
use langfuse_tracing_core::{ObservationId, TraceId};
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

const JSON_CASES: u32 = 128;
const CASES: u32 = 256;
const MAX_SAFE: u64 = 9_007_199_254_740_991;

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

/// Any string, control characters, quotes, backslashes, DEL and astral characters
/// included (proptest's default `String` strategy leaves out control characters).
fn any_text() -> impl Strategy<Value = String> {
    let special = prop_oneof![
        Just('"'),
        Just('\\'),
        Just('\u{7f}'),
        Just('\u{0}'),
        Just('\n'),
        Just('é'),
        Just('😀'),
        Just('\u{2028}'),
        Just('/'),
    ];
    let ch = prop_oneof![3 => any::<char>(), 1 => special, 2 => proptest::char::range('a', 'z')];
    proptest::collection::vec(ch, 0..24).prop_map(String::from_iter)
}

fn int_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-(MAX_SAFE as i64) - 2..=(MAX_SAFE as i64) + 2).prop_map(Value::from),
        (-1000i64..1000).prop_map(Value::from),
    ]
}

fn finite_float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
        (-1e6f64..1e6),
        Just(0.0),
        Just(-0.0),
        Just(1e16),
        Just(1e-5),
        Just(0.1),
        Just(123456789012345680.0),
    ]
}

/// JSON values; `floats` decides whether floats appear.
fn json(floats: bool) -> impl Strategy<Value = Value> {
    let float = finite_float().prop_map(|f| Value::Number(Number::from_f64(f).expect("finite")));
    let base = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        int_number(),
        any_text().prop_map(Value::String),
    ];
    let leaf: BoxedStrategy<Value> = if floats {
        prop_oneof![4 => base, 1 => float].boxed()
    } else {
        base.boxed()
    };
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((any_text(), inner), 0..6)
                .prop_map(|kvs| Value::Object(kvs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

// ---------------------------------------------------------------------------
// Oracles
// ---------------------------------------------------------------------------

/// What the Langfuse encoders mean to write for `v`: integers beyond ±(2^53 − 1) as
/// strings (the shared rule of both styles).
fn expected(v: &Value) -> Value {
    match v {
        Value::Number(n) => {
            let big = match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => i.unsigned_abs() > MAX_SAFE,
                (None, Some(u)) => u > MAX_SAFE,
                _ => false,
            };
            if big {
                Value::String(n.to_string())
            } else {
                v.clone()
            }
        }
        Value::Array(a) => Value::Array(a.iter().map(expected).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), expected(v))).collect())
        }
        other => other.clone(),
    }
}

/// `json.dumps` defaults: `", "` / `": "` and `ensure_ascii=True` (lowercase `\uXXXX`,
/// UTF-16 surrogate pairs, DEL escaped too).
struct PythonDefaults;

impl serde_json::ser::Formatter for PythonDefaults {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        for c in fragment.chars() {
            if (' '..='~').contains(&c) {
                write!(w, "{c}")?;
            } else {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(w, "\\u{u:04x}")?;
                }
            }
        }
        Ok(())
    }
}

fn python_dumps(v: &Value) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonDefaults);
    serde::Serialize::serialize(v, &mut ser).expect("serializes");
    String::from_utf8(out).expect("ASCII")
}

fn has_float(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.is_f64(),
        Value::Array(a) => a.iter().any(has_float),
        Value::Object(o) => o.values().any(has_float),
        _ => false,
    }
}

/// Equality with floats compared to within 2 ulp (serde_json's default float parser is
/// not always correctly rounded; the written text is checked exactly elsewhere).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            // serde_json's default parser may be one unit in the last place off, and
            // for subnormals one unit is far more than a relative 4.5e-16: compare units.
            let units_apart = (x.to_bits() as i64).abs_diff(y.to_bits() as i64);
            x == y || (x.is_sign_negative() == y.is_sign_negative() && units_apart <= 2)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        }
        _ => a == b,
    }
}

fn io_json(v: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, v, JsonStyle::Io);
    out
}

/// Percent-encodes all but ASCII letters, digits and `-._~`.
fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// JSON encoders
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(JSON_CASES))]

    /// Without floats, the metadata style is exactly serde_json's compact output.
    #[test]
    fn metadata_style_is_serde_json_compact(v in json(false)) {
        prop_assert_eq!(encode_metadata(&v), serde_json::to_string(&expected(&v)).unwrap());
    }

    /// Without floats, the IO style is exactly Python's `json.dumps` defaults (top-level
    /// strings aside, which `encode_io` writes verbatim).
    #[test]
    fn io_style_is_python_json_dumps(v in json(false)) {
        let want = python_dumps(&expected(&v));
        let got = io_json(&v);
        prop_assert!(got.is_ascii());
        prop_assert_eq!(&got, &want);
        match &v {
            Value::String(s) => prop_assert_eq!(encode_io(&v), s.clone()),
            _ => prop_assert_eq!(encode_io(&v), want),
        }
    }

    /// With floats, both styles parse back to the value (big integers as strings).
    #[test]
    fn both_styles_parse_back(v in json(true)) {
        let want = expected(&v);
        let meta: Value = serde_json::from_str(&encode_metadata(&v)).unwrap();
        prop_assert!(same(&meta, &want), "{} vs {}", meta, want);
        let io: Value = serde_json::from_str(&io_json(&v)).unwrap();
        prop_assert!(same(&io, &want), "{} vs {}", io, want);
        if !has_float(&v) {
            prop_assert_eq!(meta, want);
        }
    }

    /// A float is written as Python's `repr`: the shortest text that reads back exactly,
    /// always marked as a float, in exponent form exactly when the exponent is below -4
    /// or at least 16 (`1e-05`, `1e+16`).
    #[test]
    fn floats_are_python_repr(f in finite_float()) {
        let s = encode_metadata(&f);
        prop_assert_eq!(s.parse::<f64>().unwrap().to_bits(), f.to_bits(), "{}", s);
        prop_assert!(s.contains('.') || s.contains('e'), "{}", s);
        let a = f.abs();
        let exponent_form = a != 0.0 && !(1e-4..1e16).contains(&a);
        prop_assert_eq!(s.contains('e'), exponent_form, "{}", s);
        if let Some((_, exp)) = s.split_once('e') {
            prop_assert!(exp.starts_with('+') || exp.starts_with('-'), "{}", s);
            prop_assert!(exp.len() >= 3, "two exponent digits at least: {}", s);
        }
        prop_assert_eq!(encode_io(&f), s);
    }

    #[test]
    fn non_finite_floats_become_strings(f in prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY), any::<f64>()]) {
        let s = encode_metadata(&f);
        if f.is_nan() {
            prop_assert_eq!(s, "\"NaN\"");
        } else if f == f64::INFINITY {
            prop_assert_eq!(s, "\"Infinity\"");
        } else if f == f64::NEG_INFINITY {
            prop_assert_eq!(s, "\"-Infinity\"");
        } else {
            prop_assert_eq!(s.parse::<f64>().unwrap().to_bits(), f.to_bits());
        }
    }

    /// Integers of every width: beyond ±(2^53 − 1) as strings, else as numbers.
    #[test]
    fn integers_of_every_width(i in any::<i64>(), u in any::<u64>(), wide in any::<i128>(), uwide in any::<u128>()) {
        fn want<T: std::fmt::Display>(v: T, big: bool) -> String {
            if big { format!("\"{v}\"") } else { v.to_string() }
        }
        prop_assert_eq!(encode_metadata(&i), want(i, i.unsigned_abs() > MAX_SAFE));
        prop_assert_eq!(encode_metadata(&u), want(u, u > MAX_SAFE));
        prop_assert_eq!(encode_metadata(&wide), want(wide, wide.unsigned_abs() > u128::from(MAX_SAFE)));
        prop_assert_eq!(encode_metadata(&uwide), want(uwide, uwide > u128::from(MAX_SAFE)));
        let small = i % 1000;
        prop_assert_eq!(encode_io(&small), small.to_string());
    }

    /// Strings: the metadata style is serde_json's escaping; the IO style is ASCII,
    /// Python's escaping, and both read back to the same string.
    #[test]
    fn strings_escape_and_read_back(s in any_text()) {
        let mut meta = String::new();
        write_json_str(&mut meta, &s, JsonStyle::Metadata);
        prop_assert_eq!(&meta, &serde_json::to_string(&s).unwrap());
        let mut io = String::new();
        write_json_str(&mut io, &s, JsonStyle::Io);
        prop_assert!(io.is_ascii());
        prop_assert_eq!(&io, &python_dumps(&Value::String(s.clone())));
        prop_assert_eq!(serde_json::from_str::<String>(&io).unwrap(), s.clone());
        prop_assert_eq!(encode_io(&s), s.clone());
        prop_assert_eq!(encode_metadata(&s), meta);
    }
}

// ---------------------------------------------------------------------------
// Ids
// ---------------------------------------------------------------------------

/// Strings near the id format: hex of both cases around the right lengths, and others.
fn id_like(len: usize) -> impl Strategy<Value = String> {
    let hexish = proptest::collection::vec(
        prop_oneof![
            8 => proptest::char::range('0', '9'),
            8 => proptest::char::range('a', 'f'),
            1 => proptest::char::range('A', 'F'),
            1 => Just('g'),
            1 => Just('0'),
            1 => any::<char>(),
        ],
        len - 2..=len + 2,
    )
    .prop_map(String::from_iter);
    prop_oneof![4 => hexish, 1 => any_text(), 1 => Just("0".repeat(len))]
}

fn valid_id(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && s.bytes().any(|b| b != b'0')
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn trace_ids_round_trip(v in 1u128..) {
        let id = TraceId::from_u128(v).unwrap();
        let s = id.to_string();
        prop_assert_eq!(s.len(), 32);
        prop_assert_eq!(&s, &format!("{v:032x}"));
        prop_assert_eq!(s.parse::<TraceId>().unwrap(), id);
    }

    #[test]
    fn observation_ids_round_trip(v in 1u64..) {
        let id = ObservationId::from_u64(v).unwrap();
        let s = id.to_string();
        prop_assert_eq!(&s, &format!("{v:016x}"));
        prop_assert_eq!(s.parse::<ObservationId>().unwrap(), id);
    }

    /// Parsing accepts exactly the lowercase hex of the right length that is not all
    /// zeros, and what it accepts prints back unchanged; errors are bounded.
    #[test]
    fn trace_id_parsing_accepts_exactly_the_valid_form(s in id_like(32)) {
        match s.parse::<TraceId>() {
            Ok(id) => {
                prop_assert!(valid_id(&s, 32), "accepted {:?}", s);
                prop_assert_eq!(id.to_string(), s);
            }
            Err(e) => {
                prop_assert!(!valid_id(&s, 32), "rejected {:?}: {}", s, e);
                prop_assert!(e.to_string().chars().count() < 400);
            }
        }
    }

    #[test]
    fn observation_id_parsing_accepts_exactly_the_valid_form(s in id_like(16)) {
        match s.parse::<ObservationId>() {
            Ok(id) => {
                prop_assert!(valid_id(&s, 16), "accepted {:?}", s);
                prop_assert_eq!(id.to_string(), s);
            }
            Err(_) => prop_assert!(!valid_id(&s, 16), "rejected {:?}", s),
        }
    }
}

// ---------------------------------------------------------------------------
// traceparent / baggage
// ---------------------------------------------------------------------------

fn ows() -> impl Strategy<Value = String> {
    proptest::collection::vec(prop_oneof![Just(' '), Just('\t')], 0..3).prop_map(String::from_iter)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// A valid version-00 traceparent (with optional surrounding whitespace) gives its
    /// ids and sampled flag; the same header with any hex letter upper-cased is refused.
    #[test]
    fn valid_traceparents_are_read_exactly(trace in 1u128.., span in 1u64.., flags in any::<u8>(), pre in ows(), post in ows()) {
        let tp = format!("00-{trace:032x}-{span:016x}-{flags:02x}");
        let cx = RemoteContext::from_w3c(Some(&format!("{pre}{tp}{post}")), None).unwrap();
        prop_assert_eq!(cx.trace_id().unwrap().to_u128(), trace);
        prop_assert_eq!(cx.parent_observation_id().unwrap().to_u64(), span);
        prop_assert_eq!(cx.sampled(), Some(flags & 1 == 1));
        // Passed on unchanged (ids; the flag is always sent as sampled, see the docs).
        let out = cx.run(current_traceparent).unwrap();
        prop_assert_eq!(&out[..53], &tp[..53]);
        let upper = tp.to_ascii_uppercase();
        if upper != tp {
            prop_assert!(RemoteContext::from_w3c(Some(&upper), None).is_err());
        }
        // The header form reads the same.
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", tp.parse().unwrap());
        prop_assert_eq!(extract_trace_headers(&headers).unwrap(), cx);
    }

    /// Any one character of a valid traceparent replaced by a non-hex character (or a
    /// dash by anything else) makes it invalid; all-zero ids are invalid.
    #[test]
    fn corrupted_traceparents_are_refused(trace in 1u128.., span in 1u64.., at in 0usize..55, c in any::<char>()) {
        let tp = format!("00-{trace:032x}-{span:016x}-01");
        let original = tp.as_bytes()[at] as char;
        let is_hex = |c: char| matches!(c, '0'..='9' | 'a'..='f');
        let breaks = if original == '-' { c != '-' } else { !is_hex(c) };
        prop_assume!(breaks && !c.is_whitespace());
        let mut bad: Vec<char> = tp.chars().collect();
        bad[at] = c;
        let bad: String = bad.into_iter().collect();
        prop_assert!(RemoteContext::from_w3c(Some(&bad), None).is_err(), "{:?}", bad);
        let zero_trace = format!("00-{}-{span:016x}-01", "0".repeat(32));
        prop_assert!(RemoteContext::from_w3c(Some(&zero_trace), None).is_err());
        let zero_span = format!("00-{trace:032x}-{}-01", "0".repeat(16));
        prop_assert!(RemoteContext::from_w3c(Some(&zero_span), None).is_err());
    }

    /// Arbitrary header values never panic.
    #[test]
    fn arbitrary_headers_never_panic(tp in proptest::option::of(any_text()), baggage in proptest::option::of(any_text())) {
        let _ = RemoteContext::from_w3c(tp.as_deref(), baggage.as_deref());
    }

    /// A percent-encoded `langfuse_user_id` / `langfuse_session_id` reads back as sent
    /// (at most 200 characters; longer values are dropped), among other members.
    #[test]
    fn baggage_values_read_back(user in any_text(), session in "[ -~]{1,260}", other in "[a-z]{1,8}") {
        prop_assume!(!user.is_empty());
        let baggage = format!(
            "other={other},langfuse_user_id={};prop=1, langfuse_session_id={}",
            percent_encode(&user),
            percent_encode(&session),
        );
        let cx = RemoteContext::from_w3c(None, Some(&baggage)).unwrap();
        let attrs = cx.attributes().cloned().unwrap_or_default();
        let fits = |s: &str| s.chars().count() <= 200;
        prop_assert_eq!(attrs.user_id.as_deref(), fits(&user).then_some(user.as_str()));
        prop_assert_eq!(attrs.session_id.as_deref(), fits(&session).then_some(session.as_str()));
        // What is passed on reads back to the same attributes.
        let out = cx.run(current_baggage);
        let again = RemoteContext::from_w3c(None, out.as_deref()).unwrap();
        prop_assert_eq!(again.attributes().cloned().unwrap_or_default().user_id, attrs.user_id.clone());
        prop_assert_eq!(again.attributes().cloned().unwrap_or_default().session_id, attrs.session_id.clone());
    }
}
