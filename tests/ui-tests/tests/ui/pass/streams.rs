//! Streams and iterators: `impl Stream`, `impl Iterator`, boxed ones with a flag.
use futures_core::Stream;
use futures_util::stream::{self, BoxStream, StreamExt};
use langfuse_tracing_core::observe;
use std::pin::Pin;

#[observe(as_type = "generation")]
fn tokens(prompt: &str) -> impl Stream<Item = String> + Send + '_ {
    stream::iter(prompt.split(' ').map(str::to_owned))
}

#[observe]
fn fallible(n: u32) -> impl Stream<Item = Result<u32, std::io::Error>> {
    stream::iter((0..n).map(Ok))
}

#[observe]
fn numbers(n: u32) -> impl Iterator<Item = u32> {
    0..n
}

#[observe]
fn words<'a>(s: &'a str) -> impl Iterator<Item = &'a str> + DoubleEndedIterator + 'a {
    s.split(' ')
}

#[observe]
fn exact(n: usize) -> impl ExactSizeIterator<Item = usize> + Iterator<Item = usize> {
    0..n
}

#[observe(stream)]
fn boxed(n: u32) -> Pin<Box<dyn Stream<Item = u32> + Send>> {
    Box::pin(stream::iter(0..n))
}

#[observe(stream, as_type = "embedding")]
fn boxed_alias(n: u32) -> BoxStream<'static, Vec<f32>> {
    stream::iter(0..n).map(|i| vec![i as f32]).boxed()
}

#[observe(iterator)]
fn boxed_iter(n: u32) -> Box<dyn Iterator<Item = String> + Send> {
    Box::new((0..n).map(|i| i.to_string()))
}

#[observe(stream = false)]
fn not_observed_as_stream(n: u32) -> impl Stream<Item = u32> {
    stream::iter(0..n)
}

struct NotDebug;

#[observe]
fn opaque_items() -> impl Iterator<Item = NotDebug> {
    std::iter::once(NotDebug)
}

pub fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(tokens("a b").collect::<Vec<_>>().await, ["a", "b"]);
        assert_eq!(fallible(2).count().await, 2);
        assert_eq!(boxed(3).collect::<Vec<_>>().await, [0, 1, 2]);
        assert_eq!(boxed_alias(1).collect::<Vec<_>>().await, [vec![0.0]]);
        assert_eq!(not_observed_as_stream(2).count().await, 2);
    });
    assert_eq!(numbers(3).sum::<u32>(), 3);
    assert_eq!(words("a b").rev().collect::<Vec<_>>(), ["b", "a"]);
    assert_eq!(exact(4).len(), 4);
    assert_eq!(boxed_iter(2).collect::<Vec<_>>(), ["0", "1"]);
    assert_eq!(opaque_items().count(), 1);
}
