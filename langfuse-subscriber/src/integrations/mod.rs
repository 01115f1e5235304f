//! Integrations with LLM client crates, each behind its own cargo feature.

#[cfg(feature = "async-openai")]
pub mod openai;
