//! Async shapes: `async fn`, methods, `fn -> impl Future`, boxed futures.
use langfuse_tracing_core::observe;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

#[observe]
async fn plain(a: u32, b: String) -> String {
    format!("{a}{b}")
}

#[observe]
async fn no_return(_x: u32) {}

#[observe]
async fn question_mark(s: &str) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
    let n: u32 = s.parse()?;
    if n > 100 {
        return Err("too big".into());
    }
    Ok(n)
}

#[observe]
async fn borrows<'a>(x: &'a str, _y: &str) -> &'a str {
    x
}

#[observe]
async fn generic<T: Clone + Send + std::fmt::Debug>(t: T) -> Vec<T> {
    vec![t.clone(), t]
}

#[observe]
async fn awaits_inner(x: u32) -> u32 {
    plain(x, "b".into()).await.len() as u32
}

#[observe]
async fn impl_return(x: u32) -> impl std::fmt::Display {
    x
}

#[observe]
async fn patterns((a, b): (u32, u32)) -> u32 {
    a + b
}

#[observe]
fn returns_async_block(x: u32) -> impl Future<Output = u32> {
    let y = x + 1;
    async move { y * 2 }
}

#[observe]
fn returns_boxed_block(x: u32) -> Pin<Box<dyn Future<Output = u32> + Send>> {
    Box::pin(async move { x })
}

#[observe]
fn returns_other_future(x: u32) -> impl Future<Output = u32> + Send {
    std::future::ready(x)
}

#[observe]
fn returns_unpin_future(x: u32) -> impl Future<Output = Result<u32, String>> + Unpin {
    std::future::ready(Ok(x))
}

#[observe]
fn returns_future_borrowing<'a>(x: &'a str) -> impl Future<Output = &'a str> + 'a {
    async move { x }
}

// Parameters used before the `async` block must not be captured by it.
#[observe]
fn static_future_from_borrow(s: &str) -> impl Future<Output = usize> + 'static {
    let n = s.len();
    async move { n }
}

#[observe]
fn moved_before_block(s: String) -> Pin<Box<dyn Future<Output = usize> + Send>> {
    let owned = s;
    Box::pin(async move { owned.len() })
}

#[observe]
fn early_return_future(x: u32) -> Pin<Box<dyn Future<Output = u32> + Send>> {
    if x == 0 {
        return Box::pin(std::future::ready(0));
    }
    Box::pin(async move { x })
}

struct Service {
    n: u32,
}

impl Service {
    #[observe]
    async fn get(&self) -> u32 {
        self.n
    }

    #[observe]
    async fn set(&mut self, n: u32) {
        self.n = n;
    }

    #[observe]
    async fn into_n(self) -> u32 {
        self.n
    }

    #[observe]
    async fn shared(self: Arc<Self>) -> u32 {
        self.n
    }
}

trait Native {
    async fn call(&self, x: u32) -> u32;
}

impl Native for Service {
    #[observe(as_type = "tool")]
    async fn call(&self, x: u32) -> u32 {
        self.n + x
    }
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

pub fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(assert_send(plain(1, "a".into())).await, "1a");
        no_return(1).await;
        assert_eq!(question_mark("3").await.unwrap(), 3);
        assert!(question_mark("300").await.is_err());
        assert_eq!(borrows("a", "b").await, "a");
        assert_eq!(generic(1).await, [1, 1]);
        assert_eq!(assert_send(awaits_inner(1)).await, 2);
        assert_eq!(impl_return(5).await.to_string(), "5");
        assert_eq!(patterns((1, 2)).await, 3);
        assert_eq!(returns_async_block(1).await, 4);
        assert_eq!(returns_boxed_block(1).await, 1);
        assert_eq!(assert_send(returns_other_future(2)).await, 2);
        let unpin = returns_unpin_future(3);
        assert_eq!(Pin::new(&mut { unpin }).await, Ok(3));
        assert_eq!(returns_future_borrowing("z").await, "z");
        assert_eq!(static_future_from_borrow(&String::from("ab")).await, 2);
        assert_eq!(moved_before_block("abc".into()).await, 3);
        assert_eq!(early_return_future(0).await, 0);
        assert_eq!(early_return_future(2).await, 2);
        let mut s = Service { n: 1 };
        assert_eq!(s.get().await, 1);
        s.set(2).await;
        assert_eq!(s.call(1).await, 3);
        assert_eq!(Arc::new(Service { n: 4 }).shared().await, 4);
        assert_eq!(s.into_n().await, 2);
    });
}
