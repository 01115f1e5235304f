// A crate that forbids the lints a fake return used to `allow`: `#[observe]` adds no
// `#[allow]` of them (an allow of a forbidden lint is error E0453), and a user type
// named `bool` does not capture the expansion's flags.
#![forbid(
    unknown_lints,
    unreachable_code,
    clippy::diverging_sub_expression,
    clippy::empty_loop,
    clippy::let_with_type_underscore,
    clippy::needless_return,
    clippy::unreachable
)]
#![allow(non_camel_case_types, dead_code)]

use langfuse_tracing_core::observe;

struct bool;

#[observe]
fn value(x: u32) -> u32 {
    x + 1
}

#[observe]
fn nothing(x: u32) {
    let _ = x;
}

#[observe]
fn fallible(s: &str) -> Result<u32, std::num::ParseIntError> {
    let n: u32 = s.parse()?;
    Ok(n)
}

#[observe]
async fn later(x: u32) -> u32 {
    x * 2
}

#[observe]
fn items(n: u32) -> impl Iterator<Item = u32> {
    0..n
}

fn main() {
    assert_eq!(value(1), 2);
    nothing(1);
    assert_eq!(fallible("7"), Ok(7));
    let _ = later(1);
    assert_eq!(items(3).count(), 3);
}
