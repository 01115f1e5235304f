use langfuse_tracing_core::observe;

#[observe(capture_input = "no", capture_output = 0)]
fn f() {}

fn main() {
    f();
}
