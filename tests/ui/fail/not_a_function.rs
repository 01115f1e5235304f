use langfuse_core::observe;

#[observe]
struct NotAFunction;

fn main() {}
