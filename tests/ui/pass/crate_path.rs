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

// The application-facing re-export.
#[langfuse_tracing::observe]
fn through_subscriber(x: u32) -> u32 {
    x
}

// What `langfuse_tracing::observe` generates: paths through the subscriber crate only.
#[langfuse_tracing_core::observe(crate = ::langfuse_tracing)]
async fn subscriber_paths(x: u32) -> Result<u32, String> {
    Ok(x)
}

pub fn main() {
    assert_eq!(through_reexport(1), 1);
    assert_eq!(string_path(1), 1);
    assert_eq!(through_subscriber(1), 1);
    let _ = subscriber_paths(1);
}
