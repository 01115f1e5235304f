use langfuse_tracing_core::observe;

fn join(items: &[String]) -> String {
    items.join("")
}

#[observe(transform_to_string = join)]
fn f() -> impl Iterator<Item = u32> {
    0..1
}

fn main() {
    f();
}
