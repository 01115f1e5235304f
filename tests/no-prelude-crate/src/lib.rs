//! Built as its own crate with only `langfuse-tracing-core` as a dependency. The generated code names only `::core`, `::std` and `langfuse_tracing_core::__private` paths,
//! so it compiles in a crate without the prelude (and without naming `tracing` or
//! `serde` itself).
#![forbid(unsafe_code)]
#![no_implicit_prelude]

use ::langfuse_tracing_core::observe;

#[observe]
fn sync_fn(a: u32, b: &str) -> ::std::string::String {
    ::std::format!("{a}{b}")
}

#[observe(as_type = "tool", skip(b))]
fn fallible(a: u32, b: u32) -> ::core::result::Result<u32, ::std::string::String> {
    if a == 0 {
        return ::core::result::Result::Err(::std::borrow::ToOwned::to_owned("zero"));
    }
    ::core::result::Result::Ok(a + b)
}

#[observe]
fn unit((a, b): (u32, u32)) {
    let _ = a + b;
}

#[observe]
fn generic<T: ::core::fmt::Debug + ::core::clone::Clone>(t: &T) -> ::std::vec::Vec<T> {
    ::std::vec![::core::clone::Clone::clone(t)]
}

struct S {
    n: u32,
}

impl S {
    #[observe]
    fn get(&self) -> u32 {
        self.n
    }

    #[observe]
    async fn get_async(&mut self, add: u32) -> u32 {
        self.n += add;
        self.n
    }
}

#[observe(as_type = "generation")]
async fn async_fn(x: u32) -> ::core::result::Result<u32, ::std::io::Error> {
    ::core::result::Result::Ok(x)
}

#[observe]
fn future(x: u32) -> impl ::core::future::Future<Output = u32> {
    async move { x }
}

#[observe]
fn other_future(x: u32) -> impl ::core::future::Future<Output = u32> + ::core::marker::Send {
    ::core::future::ready(x)
}

#[observe(as_type = "generation")]
fn stream(n: u32) -> impl ::futures_core::Stream<Item = ::std::string::String> {
    ::futures_util::stream::iter(::core::iter::Iterator::map(0..n, |i| {
        ::std::string::ToString::to_string(&i)
    }))
}

#[observe(stream)]
fn boxed_stream(
    n: u32,
) -> ::core::pin::Pin<
    ::std::boxed::Box<dyn ::futures_core::Stream<Item = u32> + ::core::marker::Send>,
> {
    ::std::boxed::Box::pin(::futures_util::stream::iter(0..n))
}

#[observe]
fn iter(n: u32) -> impl ::core::iter::Iterator<Item = u32> {
    0..n
}

#[observe(iterator)]
fn boxed_iter(n: u32) -> ::std::boxed::Box<dyn ::core::iter::Iterator<Item = u32>> {
    ::std::boxed::Box::new(0..n)
}

#[observe]
fn panics() -> u32 {
    ::core::panic!("boom")
}

/// Calls every observed function once (run by this crate's unit test).
pub fn exercise() {
    ::core::assert_eq!(sync_fn(1, "a"), "1a");
    ::core::assert!(::core::result::Result::is_err(&fallible(0, 1)));
    unit((1, 2));
    ::core::assert_eq!(generic(&1).len(), 1);
    let mut s = S { n: 1 };
    ::core::assert_eq!(s.get(), 1);
    ::core::assert_eq!(::core::iter::Iterator::count(iter(3)), 3);
    ::core::assert_eq!(::core::iter::Iterator::count(boxed_iter(3)), 3);
    let _ = (
        stream(1),
        boxed_stream(1),
        future(1),
        other_future(1),
        async_fn(1),
        s.get_async(1),
    );
    let _: fn() -> u32 = panics;
}

#[cfg(test)]
mod tests {
    #[test]
    fn observed_functions_compile_and_run_without_the_prelude() {
        super::exercise();
    }
}
