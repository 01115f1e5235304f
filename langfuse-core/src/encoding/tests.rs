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
