use langfuse_tracing_core::observe;

#[observe(stream)]
async fn f() -> u32 {
    1
}

fn main() {
    let _ = f();
}
