// Type errors in the body point at the user's code, not at the macro.
use langfuse_tracing_core::observe;

#[observe]
fn f(x: u32) -> String {
    x
}

#[observe]
async fn g(x: u32) -> String {
    x
}

fn main() {
    f(1);
    let _ = g(1);
}
