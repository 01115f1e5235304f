//! Methods: every receiver, impl blocks, trait default methods and trait impls.
use langfuse_tracing_core::observe;
use std::pin::Pin;
use std::sync::Arc;

#[derive(Debug, Clone)]
struct Counter {
    n: u32,
}

impl Counter {
    #[observe]
    fn new(n: u32) -> Self {
        Counter { n }
    }

    #[observe]
    fn get(&self) -> u32 {
        self.n
    }

    #[observe]
    fn bump(&mut self, by: u32) -> u32 {
        self.n += by;
        self.n
    }

    #[observe]
    fn field_mut(&mut self) -> &mut u32 {
        &mut self.n
    }

    #[observe]
    fn name<'a>(&'a self, prefix: &'a str) -> &'a str {
        if self.n > 0 {
            prefix
        } else {
            ""
        }
    }

    #[observe]
    fn into_inner(self) -> u32 {
        self.n
    }

    #[observe]
    fn shared(self: Arc<Self>) -> u32 {
        self.n
    }

    #[observe]
    fn pinned(self: Pin<&mut Self>) -> u32 {
        self.n
    }

    #[observe]
    fn uses_self_type(other: Self) -> Self {
        Self { n: other.n + 1 }
    }
}

trait Greeter {
    fn name(&self) -> String;

    #[observe(as_type = "agent")]
    fn greet(&self, greeting: &str) -> String {
        format!("{greeting}, {}", self.name())
    }

    #[observe]
    fn consume(self) -> String
    where
        Self: Sized,
    {
        self.name()
    }
}

struct World;

impl Greeter for World {
    #[observe(name = "world-name")]
    fn name(&self) -> String {
        "world".to_owned()
    }
}

struct Generic<T>(T);

impl<T: Clone + std::fmt::Debug> Generic<T> {
    #[observe]
    fn get(&self, times: usize) -> Vec<T> {
        vec![self.0.clone(); times]
    }
}

pub fn main() {
    let mut c = Counter::new(1);
    assert_eq!(c.get(), 1);
    assert_eq!(c.bump(2), 3);
    *c.field_mut() = 7;
    assert_eq!(c.name("p"), "p");
    assert_eq!(Counter::uses_self_type(c.clone()).n, 8);
    let mut pinned = c.clone();
    assert_eq!(Pin::new(&mut pinned).pinned(), 7);
    assert_eq!(Arc::new(c.clone()).shared(), 7);
    assert_eq!(c.into_inner(), 7);
    assert_eq!(World.greet("hi"), "hi, world");
    assert_eq!(World.consume(), "world");
    assert_eq!(Generic(1u8).get(2), [1, 1]);
}
