use langfuse_tracing_core::observe;

#[observe(stream)]
fn f() -> Vec<u32> {
    vec![1, 2]
}

fn main() {
    let _ = f();
}
