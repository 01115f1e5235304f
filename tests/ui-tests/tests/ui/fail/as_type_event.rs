use langfuse_tracing_core::observe;

#[observe(as_type = "event")]
fn f() {}

fn main() {
    f();
}
