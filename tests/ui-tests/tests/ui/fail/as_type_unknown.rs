use langfuse_tracing_core::observe;

#[observe(as_type = "llm")]
fn f() {}

#[observe(as_type = "Generation")]
fn g() {}

fn main() {
    f();
    g();
}
