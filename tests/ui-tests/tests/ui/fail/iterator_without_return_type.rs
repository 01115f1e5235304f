use langfuse_tracing_core::observe;

#[observe(iterator)]
fn f() {}

fn main() {
    f();
}
