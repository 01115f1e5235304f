// `#[track_caller]` cannot reach through the observation: a clear error, not a
// `Location::caller()` that silently names the wrong place.
use langfuse_tracing_core::observe;

#[track_caller]
#[observe]
fn caller() -> &'static std::panic::Location<'static> {
    std::panic::Location::caller()
}

fn main() {
    let _ = caller();
}
