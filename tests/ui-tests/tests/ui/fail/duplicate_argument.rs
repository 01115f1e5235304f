use langfuse_tracing_core::observe;

#[observe(name = "first", as_type = "tool", name = "second")]
fn f() {}

fn main() {
    f();
}
