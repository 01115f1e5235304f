use langfuse_tracing_core::observe;

#[observe(skip(a, a))]
fn f(a: u32) {
    let _ = a;
}

fn main() {
    f(1);
}
