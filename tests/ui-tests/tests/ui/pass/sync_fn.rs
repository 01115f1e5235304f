//! Synchronous shapes: free functions, generics, lifetimes, patterns, early exits.
use langfuse_tracing_core::observe;
use std::fmt::Debug;

#[observe]
fn plain(a: u32, b: &str) -> String {
    format!("{a}{b}")
}

#[observe]
fn no_return_type(_x: u32) {}

#[observe]
fn unit_return() -> () {}

/// Docs stay on the function.
#[observe(name = "renamed", as_type = "tool")]
#[inline]
#[must_use]
pub fn with_attrs(x: u32) -> u32 {
    x + 1
}

#[observe]
fn early_return(x: u32) -> u32 {
    if x > 10 {
        return 10;
    }
    x
}

#[observe]
fn question_mark(s: &str) -> Result<u32, std::num::ParseIntError> {
    let n: u32 = s.parse()?;
    Ok(n * 2)
}

#[observe]
fn question_mark_converts(s: &str) -> Result<u32, Box<dyn std::error::Error>> {
    let n: u32 = s.parse()?;
    Ok(n)
}

#[observe]
fn generic<T: Debug + Clone, U>(t: T, u: U) -> T
where
    U: Into<String>,
{
    let _s: String = u.into();
    t.clone()
}

#[observe]
fn unbounded<T>(t: T) -> T {
    t
}

#[observe]
fn lifetimes<'a, 'b: 'a>(x: &'a str, _y: &'b str) -> &'a str {
    x
}

#[observe]
fn elided(x: &str) -> &str {
    &x[..1]
}

#[observe]
fn impl_trait_arg(items: impl IntoIterator<Item = u32>, f: impl Fn(u32) -> u32) -> u32 {
    items.into_iter().map(f).sum()
}

#[observe]
fn impl_trait_return(n: u32) -> impl std::fmt::Display {
    n * 2
}

#[observe]
fn impl_in_result(n: u32) -> Result<impl std::fmt::Display, String> {
    Ok(n)
}

#[observe]
fn patterns((a, b): (u32, u32), [c, _]: [u8; 2], Wrapper { inner }: Wrapper, _: u8) -> u32 {
    a + b + c as u32 + inner
}

struct Wrapper {
    inner: u32,
}

#[observe]
fn mutable(mut v: Vec<u32>, r#type: &str) -> usize {
    v.push(1);
    v.len() + r#type.len()
}

#[observe]
fn returns_mut(v: &mut Vec<u32>) -> &mut u32 {
    v.push(0);
    &mut v[0]
}

#[observe]
unsafe fn unsafe_fn(p: *const u32) -> u32 {
    *p
}

#[observe]
extern "C" fn extern_fn(x: u32) -> u32 {
    x
}

#[observe]
fn with_inner_attrs() -> u32 {
    #![allow(unused_variables)]
    let unused = 1;
    2
}

#[observe]
fn nested_items(x: u32) -> u32 {
    fn helper(y: u32) -> u32 {
        y * 2
    }
    struct Local(u32);
    impl Local {
        fn get(&self) -> u32 {
            self.0
        }
    }
    Local(helper(x)).get()
}

#[observe]
fn cfg_param(#[cfg(any())] hidden: u32, shown: u32) -> u32 {
    shown
}

#[observe]
fn panics_maybe(x: u32) -> u32 {
    if x == 1_000 {
        panic!("never");
    }
    x
}

#[observe]
fn never_returns() -> ! {
    panic!("diverges")
}

#[observe]
fn collect_infers() -> Vec<u32> {
    (0..3).collect()
}

#[observe]
fn into_infers() -> String {
    "x".into()
}

pub fn main() {
    assert_eq!(plain(1, "a"), "1a");
    no_return_type(1);
    unit_return();
    let _ = with_attrs(1);
    assert_eq!(early_return(11), 10);
    assert_eq!(question_mark("4").unwrap(), 8);
    assert!(question_mark("x").is_err());
    assert!(question_mark_converts("x").is_err());
    assert_eq!(generic(5u8, "s"), 5);
    assert_eq!(unbounded(3), 3);
    assert_eq!(lifetimes("a", "b"), "a");
    assert_eq!(elided("ab"), "a");
    assert_eq!(impl_trait_arg(vec![1, 2], |x| x * 2), 6);
    assert_eq!(impl_trait_return(2).to_string(), "4");
    assert_eq!(impl_in_result(2).unwrap().to_string(), "2");
    assert_eq!(patterns((1, 2), [3, 4], Wrapper { inner: 4 }, 0), 10);
    assert_eq!(mutable(vec![], "ab"), 3);
    let mut v = vec![];
    *returns_mut(&mut v) = 5;
    assert_eq!(v, [5]);
    assert_eq!(unsafe { unsafe_fn(&7) }, 7);
    assert_eq!(extern_fn(1), 1);
    assert_eq!(with_inner_attrs(), 2);
    assert_eq!(nested_items(2), 4);
    assert_eq!(cfg_param(3), 3);
    assert_eq!(panics_maybe(1), 1);
    assert_eq!(collect_infers(), [0, 1, 2]);
    assert_eq!(into_infers(), "x");
    let _: fn() -> ! = never_returns;
}
