use langfuse_tracing_core::observe;

#[observe]
const fn f(x: u32) -> u32 {
    x
}

fn main() {
    f(1);
}
