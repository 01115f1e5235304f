//! Capture never adds bounds: Serialize, Debug-only, opaque and generic values all compile.
use langfuse_tracing_core::observe;
use serde::Serialize;

#[derive(Serialize)]
struct Query {
    text: String,
    k: u32,
}

#[derive(Debug)]
struct DebugOnly(u32);

struct Opaque;

#[observe]
fn serialize(q: Query, d: DebugOnly, o: Opaque) -> (u32, DebugOnly) {
    let _ = o;
    (q.k, d)
}

#[observe]
fn returns_opaque() -> Opaque {
    Opaque
}

#[observe]
fn generic_serialize<T: Serialize>(t: T) -> T {
    t
}

#[observe]
fn generic_debug<T>(t: T) -> Option<T>
where
    T: std::fmt::Debug,
{
    Some(t)
}

#[observe]
fn generic_nothing<T, F: FnOnce() -> T>(f: F) -> T {
    f()
}

#[observe]
fn unsized_refs(s: &str, b: &[u8], d: &dyn std::fmt::Debug) -> usize {
    let _ = d;
    s.len() + b.len()
}

#[observe]
fn closures(f: impl Fn(u32) -> u32, g: Box<dyn Fn() -> u32>) -> u32 {
    f(g())
}

pub fn main() {
    let (k, _) = serialize(
        Query {
            text: "t".into(),
            k: 2,
        },
        DebugOnly(1),
        Opaque,
    );
    assert_eq!(k, 2);
    let _ = returns_opaque();
    assert_eq!(generic_serialize(3), 3);
    assert_eq!(generic_debug(3), Some(3));
    let _: Opaque = generic_nothing(|| Opaque);
    assert_eq!(unsized_refs("ab", &[1], &1), 3);
    assert_eq!(closures(|x| x + 1, Box::new(|| 1)), 2);
}
