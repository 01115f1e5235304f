use langfuse_core::observe;

#[observe(iterator)]
fn f() {}

fn main() {
    f();
}
