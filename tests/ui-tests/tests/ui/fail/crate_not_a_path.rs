use langfuse_tracing_core::observe;

#[observe(crate = 5)]
fn f() {}

fn main() {
    f();
}
