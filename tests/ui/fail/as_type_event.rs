use langfuse_core::observe;

#[observe(as_type = "event")]
fn f() {}

fn main() {
    f();
}
