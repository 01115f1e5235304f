// A span-like handle takes a SpanUpdate, not a GenerationUpdate.
use langfuse_tracing_core::observation::{span, GenerationUpdate};

fn main() {
    let s = span("step").start();
    s.update(GenerationUpdate::new().model("gpt-4o"));
}
