//! Examples and integration tests of the Langfuse Rust toolkit.
