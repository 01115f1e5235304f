use langfuse_tracing_core::observe;

#[observe(name = my_name)]
fn f() {}

fn main() {
    f();
}
