use langfuse_tracing_core::observe;

fn join(items: &[u32]) -> String {
    format!("{items:?}")
}

#[observe(transform_to_string = join)]
fn f() -> Vec<u32> {
    vec![1]
}

fn main() {
    f();
}
