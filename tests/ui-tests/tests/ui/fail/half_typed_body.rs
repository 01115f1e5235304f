// A body that does not parse still expands: the only error is rustc's own, and the
// function stays visible to its callers (so rust-analyzer keeps working).
use langfuse_tracing_core::observe;

#[observe]
fn f(x: u32) -> u32 {
    let y = x.;
    y
}

fn main() {
    f(1);
}
