//! `crate = path` points the generated code at a re-export of langfuse-tracing-core.
mod telemetry {
    pub use langfuse_tracing_core::__private;
    pub use langfuse_tracing_core::observe;
}

#[telemetry::observe(crate = crate::telemetry)]
fn through_reexport(x: u32) -> u32 {
    x
}

#[langfuse_tracing_core::observe(crate = "::langfuse_tracing_core")]
fn string_path(x: u32) -> u32 {
    x
}

// The application-facing re-export `langfuse_tracing::observe` (paths through the
// subscriber crate only) is compiled by tests/observe_behaviour.rs: this package
// depends on langfuse-tracing-core alone, so trybuild builds no HTTP or TLS stack.

pub fn main() {
    assert_eq!(through_reexport(1), 1);
    assert_eq!(string_path(1), 1);
}
