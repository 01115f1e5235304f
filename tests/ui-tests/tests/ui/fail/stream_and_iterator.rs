use langfuse_tracing_core::observe;

#[observe(stream, iterator)]
fn f() -> Box<dyn Iterator<Item = u32>> {
    Box::new(0..1)
}

fn main() {
    f();
}
