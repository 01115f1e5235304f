// Model, usage and cost exist only on generation-like observations.
use langfuse_tracing_core::observation::{span, tool, SpanUpdate};

fn main() {
    let _ = span("retrieve").model("gpt-4o");
    let t = tool("search").start();
    t.update(SpanUpdate::new().usage_details(&1));
}
