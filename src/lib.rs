//! Examples and integration tests of the Langfuse Rust toolkit.
#![forbid(unsafe_code)]

/// The Rust blocks of the README, compiled as doc tests (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
