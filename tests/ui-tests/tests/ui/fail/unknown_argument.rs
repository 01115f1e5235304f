use langfuse_tracing_core::observe;

#[observe(nmae = "typo")]
fn f() {}

fn main() {
    f();
}
