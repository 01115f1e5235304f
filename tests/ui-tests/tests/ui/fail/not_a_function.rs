use langfuse_tracing_core::observe;

#[observe]
struct NotAFunction;

fn main() {}
