use langfuse_tracing_core::observe;

#[observe(name "x")]
fn f() {}

fn main() {
    f();
}
