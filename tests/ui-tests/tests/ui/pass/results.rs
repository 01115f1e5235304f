//! Result detection works through aliases and never breaks on a user type named `Result`.
use langfuse_tracing_core::observe;

mod user {
    /// A user enum that happens to be called `Result`.
    #[derive(Debug, PartialEq)]
    pub enum Result {
        Good,
        Bad,
    }
}

#[derive(Debug)]
struct NoDisplay;

struct Neither;

#[observe]
fn anyhow_alias(x: u32) -> anyhow::Result<u32> {
    anyhow::ensure!(x > 0, "x must be positive");
    Ok(x)
}

#[observe]
fn io_alias(x: u32) -> std::io::Result<u32> {
    Ok(x)
}

#[observe]
fn user_result(good: bool) -> user::Result {
    if good {
        user::Result::Good
    } else {
        user::Result::Bad
    }
}

#[observe]
fn debug_error() -> Result<(), NoDisplay> {
    Err(NoDisplay)
}

#[observe]
fn opaque_error() -> Result<u32, Neither> {
    Err(Neither)
}

#[observe]
fn nested() -> Result<Result<u32, String>, String> {
    Ok(Err("inner".into()))
}

type MyResult<T> = Result<T, String>;

#[observe]
fn local_alias() -> MyResult<u32> {
    Ok(1)
}

#[observe]
async fn async_alias() -> anyhow::Result<()> {
    Ok(())
}

pub fn main() {
    assert!(anyhow_alias(0).is_err());
    assert_eq!(io_alias(1).unwrap(), 1);
    assert_eq!(user_result(true), user::Result::Good);
    assert!(debug_error().is_err());
    assert!(opaque_error().is_err());
    assert!(nested().unwrap().is_err());
    assert_eq!(local_alias(), Ok(1));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async { async_alias().await.unwrap() });
}
