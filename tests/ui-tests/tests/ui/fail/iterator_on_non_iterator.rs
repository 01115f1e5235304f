use langfuse_tracing_core::observe;

#[observe(iterator)]
fn f() -> u32 {
    1
}

fn main() {
    f();
}
